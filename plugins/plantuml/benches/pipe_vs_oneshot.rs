//! 50 small diagrams through one converter (one JVM in `-pipe` mode) versus
//! one `java -jar plantuml.jar` per diagram, as the older Python tool ran them.
//!
//! Run: `cargo bench -p clx-plugin-plantuml --bench pipe_vs_oneshot`

use std::time::{Duration, Instant};

use clx_plugin_api::{Host, Job, Plugin};
use clx_plugin_plantuml::PlantUml;

const N: usize = 50;

fn diagram(i: usize) -> String {
    format!("@startuml\nclass Kurs{i} {{\n  +name: String\n}}\nKurs{i} --> Thema{i} : hat\n@enduml\n")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let plugin = PlantUml::new("{}").expect("plugin");
    let started = Instant::now();
    let mut pipe = Vec::new();
    for i in 0..N {
        let job = Job::new("plantuml", &format!("d{i}.pu"), diagram(i)).with_output("png", "png", "{}");
        let t = Instant::now();
        let result = Host::standalone(|h| plugin.convert(&job, h)).expect("converts");
        assert!(result.outputs[0].result.is_ok());
        pipe.push(t.elapsed());
    }
    let pipe_total = started.elapsed();

    let jar = std::env::var("PLANTUML_JAR").unwrap_or_else(|_| {
        format!("{}/.local/share/clx/tools/plantuml/plantuml.jar", std::env::var("HOME").unwrap_or_default())
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let mut oneshot = Vec::new();
    for i in 0..N {
        let file = dir.path().join(format!("d{i}.pu"));
        std::fs::write(&file, diagram(i)).expect("write");
        let t = Instant::now();
        let status = std::process::Command::new("java")
            .args(["-DPLANTUML_LIMIT_SIZE=8192", "-jar", &jar, "-tpng", "-Sdpi=200", "-o"])
            .arg(dir.path())
            .arg(&file)
            .status()
            .expect("java runs");
        assert!(status.success());
        oneshot.push(t.elapsed());
    }
    let oneshot_total = started.elapsed();
    println!(
        "{N} diagrams: one JVM (pipe) {:.2} s total, median {:.0} ms/diagram; one JVM per diagram {:.2} s total, median {:.0} ms/diagram; ratio {:.1}x",
        pipe_total.as_secs_f64(),
        median(pipe).as_secs_f64() * 1000.0,
        oneshot_total.as_secs_f64(),
        median(oneshot).as_secs_f64() * 1000.0,
        oneshot_total.as_secs_f64() / pipe_total.as_secs_f64()
    );
}
