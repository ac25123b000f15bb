//! What one draw.io diagram adds to a cold build: a small course (two
//! Python decks) built cold with and without one `.drawio` file, fresh state
//! dir and empty output each time, the two kinds taking turns so load drifts
//! hit both alike. Chromium's start (about 2 s) should overlap the probes,
//! the kernels and the decks instead of following them.
//!
//! Run: `cargo build --release --workspace && CLX_TARGET_DIR=$PWD/target/release cargo bench -p clx-e2e --bench drawio`
//! (`CLX_BENCH_RUNS=N`, default 5). Prints medians, every run and the load
//! average before and after; compare medians, the machine is noisy.

use std::time::{Duration, Instant};

use clx_e2e::*;

const DIAGRAM: &str = r#"<mxfile><diagram id="p1" name="Seite 1"><mxGraphModel><root><mxCell id="0"/><mxCell id="1" parent="0"/><mxCell id="2" value="Eingabe" style="rounded=1;whiteSpace=wrap;html=1;" vertex="1" parent="1"><mxGeometry x="20" y="20" width="120" height="60" as="geometry"/></mxCell><mxCell id="3" value="Ausgabe" style="ellipse;whiteSpace=wrap;html=1;" vertex="1" parent="1"><mxGeometry x="220" y="20" width="120" height="60" as="geometry"/></mxCell><mxCell id="4" edge="1" parent="1" source="2" target="3"><mxGeometry relative="1" as="geometry"/></mxCell></root></mxGraphModel></diagram></mxfile>"#;

fn deck(title: &str) -> String {
    format!(
        "# %% [markdown] lang=\"de\" tags=[\"slide\"]\n#\n# ## {title}\n\n\
         # %% [markdown] lang=\"en\" tags=[\"slide\"]\n#\n# ## {title}\n\n\
         # %%\nvalues = [n * n for n in range(10)]\nsum(values)\n\n\
         # %%\nsorted(set(\"{title} python kurs course\".split()))\n"
    )
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(v: &[Duration]) -> String {
    v.iter().map(|d| format!("{:.2}", d.as_secs_f64())).collect::<Vec<_>>().join(" ")
}

fn main() {
    let runs: usize = std::env::var("CLX_BENCH_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(5);
    let (one, two) = (deck("Eins"), deck("Zwei"));
    let plain =
        TestCourse::new(&[("one", &[("slides_one.py", one.as_str())]), ("two", &[("slides_two.py", two.as_str())])]);
    let with_drawio = TestCourse::new(&[
        ("one", &[("slides_one.py", one.as_str()), ("drawio/flow.drawio", DIAGRAM)]),
        ("two", &[("slides_two.py", two.as_str())]),
    ]);
    let cold = |course: &TestCourse| {
        let env = Env::new();
        let _ = std::fs::remove_dir_all(course.out());
        let started = Instant::now();
        let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
        let took = started.elapsed();
        assert!(out.status.success(), "{}", stderr(&out));
        took
    };
    println!("load average before: {}", load());
    // One untimed build each: the page cache then holds Chromium, the JVM-free
    // plugins and the kernel's Python alike for every timed run.
    cold(&plain);
    cold(&with_drawio);
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        without.push(cold(&plain));
        with.push(cold(&with_drawio));
    }
    assert!(!with_drawio.outputs_ending("img/flow.png").is_empty(), "{:#?}", with_drawio.output_files());
    let (a, b) = (median(without.clone()), median(with.clone()));
    println!("cold build, 2 Python decks:                  median {:.2} s  ({})", a.as_secs_f64(), secs(&without));
    println!("cold build, 2 Python decks + 1 draw.io file: median {:.2} s  ({})", b.as_secs_f64(), secs(&with));
    println!("the draw.io diagram adds {:+.2} s (medians of {runs})", b.as_secs_f64() - a.as_secs_f64());
    println!("load average after: {}", load());
}
