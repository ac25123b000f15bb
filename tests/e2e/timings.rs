//! `clx build --timings`: a report of where the build's time went, opened in
//! real Chromium, holds every job of the build on its worker's lane, and a
//! rebuild answered from the cache lists every job as a cache hit.

use std::path::PathBuf;

use clx_e2e::browser::Tab;
use clx_e2e::*;

const DECK: &str = "# %% [markdown]\n# A deck\n\n# %%\nprint(6 * 7)\n";

fn build_with_timings(env: &Env, course: &TestCourse) -> PathBuf {
    let out = env.clx().arg("build").arg(course.spec()).arg("--timings").output().expect("run clx");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let line =
        err.lines().find_map(|l| l.strip_prefix("timings: ")).unwrap_or_else(|| panic!("no report named:\n{err}"));
    let html = PathBuf::from(line);
    assert!(html.starts_with(env.state_dir()), "the report lives in the state dir, not the output: {line}");
    assert!(html.with_file_name("timings.json").is_file(), "a JSON twin beside {line}");
    html
}

fn count(tab: &Tab, selector: &str) -> u64 {
    tab.eval(&format!("document.querySelectorAll('{selector}').length")).as_u64().unwrap_or(0)
}

#[test]
fn the_timings_report_shows_every_job_of_the_build_and_every_cache_hit_of_the_next() {
    let env = Env::new();
    let course = TestCourse::new(&[
        ("one", &[("slides_one.py", DECK)]),
        ("two", &[("slides_two.py", DECK)]),
        ("three", &[("slides_three.py", DECK)]),
    ]);
    let html = build_with_timings(&env, &course);
    let tab = Tab::open(&format!("file://{}", html.display()));
    // Three decks in two languages: six notebook jobs, each a row and a bar.
    assert_eq!(count(&tab, "#jobs .job-row"), 6);
    assert_eq!(count(&tab, ".lane .job"), 6, "every job on its worker's lane");
    for deck in ["slides_one.py", "slides_two.py", "slides_three.py"] {
        let bars = tab.eval(&format!("document.querySelectorAll('.job[data-source$=\"{deck}\"]').length"));
        assert_eq!(bars.as_u64(), Some(2), "{deck}: one bar per language");
    }
    let phases = tab.eval("[...document.querySelectorAll('.phase')].map(p => p.textContent).join(',')");
    for phase in ["plan", "hashing", "jobs", "sweep"] {
        assert!(phases.as_str().unwrap_or_default().contains(phase), "phase {phase} in {phases}");
    }
    let shot = target_dir().parent().unwrap_or(&target_dir()).join("tmp/timings-report.png");
    let _ = std::fs::create_dir_all(shot.parent().expect("target/tmp"));
    std::fs::write(&shot, tab.screenshot()).expect("keep the screenshot");

    let html = build_with_timings(&env, &course);
    tab.goto(&format!("file://{}", html.display()));
    assert_eq!(count(&tab, "#jobs .job-row"), 0, "nothing ran");
    assert_eq!(count(&tab, "#cached .cached-row"), 6, "every job answered from the cache");
}
