//! `clx serve` live reload: from saving a markdown edit to the new text
//! being visible in the open page (headless Chromium over CDP), with warm
//! workers and kernel. Debounce, rebuild, the deck's kernel run, the
//! server-sent event and the page's reload are all in the figure.
//!
//! Run: `cargo build --workspace && CLX_TARGET_DIR=$PWD/target/debug cargo bench --profile dev -p clx-e2e --bench serve`
//! (the dev profile: the figure is the clx binary's, and the bench needs no release build of the CDP client)

use std::time::Duration;

use clx_e2e::browser::{Serving, Tab};
use clx_e2e::*;

const DECK: &str = "# %% [markdown] lang=\"de\"\n# # Vorschau\n#\n# Stand: MARK\n\n\
# %% [markdown] lang=\"en\"\n# # Preview\n#\n# State: MARK\n\n# %%\nprint(6 * 7)\n";

fn main() {
    let env = Env::new();
    let course = TestCourse::new(&[("preview", &[("slides_preview.py", &DECK.replace("MARK", "start"))])]);
    let deck = course.root().join("slides/module_100_test/topic_100_preview/slides_preview.py");
    let serving = Serving::start(&env, &course.spec(), &[]);
    let page = course
        .outputs_ending("slides_preview.html")
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/public/En/") && p.to_string_lossy().contains("/Completed/"))
        .expect("completed English page");
    let tab = Tab::open(&serving.url_of(&course.out(), &page));
    tab.wait_until("document.body.innerText.includes('State: start')", Duration::from_secs(30)).expect("first page");
    let mut times = Vec::new();
    for i in 0..9 {
        let mark = format!("edit {i}");
        std::fs::write(&deck, DECK.replace("MARK", &mark)).expect("edit deck");
        let condition = format!("!!document.body && document.body.innerText.includes('State: {mark}')");
        times.push(tab.wait_until(&condition, Duration::from_secs(60)).expect("page reloads"));
        std::thread::sleep(Duration::from_millis(300));
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "serve: save a markdown edit -> new text visible in the browser: median {:.0} ms over {} edits (min {:.0}, max {:.0}; load {})",
        ms(times[times.len() / 2]),
        times.len(),
        ms(times[0]),
        ms(times[times.len() - 1]),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').next().unwrap_or("?"),
    );
}
