//! 20 diagrams through one converter: the first pays for the browser start
//! and page load, the rest reuse the page. Then the same first job on a
//! converter whose browser started in the background before the job came,
//! as in a worker started ahead of its first job.
//!
//! Run: `cargo bench -p clx-plugin-drawio --bench render`

use std::time::{Duration, Instant};

use clx_plugin_api::{Host, Job, Plugin};
use clx_plugin_drawio::Drawio;

fn diagram(i: usize) -> String {
    format!(
        r#"<mxfile><diagram id="d{i}" name="p"><mxGraphModel><root><mxCell id="0"/><mxCell id="1" parent="0"/><mxCell id="2" value="Schritt {i}" style="rounded=1;whiteSpace=wrap;html=1;" vertex="1" parent="1"><mxGeometry x="20" y="20" width="140" height="60" as="geometry"/></mxCell><mxCell id="3" value="Ergebnis" style="ellipse;whiteSpace=wrap;html=1;" vertex="1" parent="1"><mxGeometry x="240" y="20" width="120" height="60" as="geometry"/></mxCell><mxCell id="4" edge="1" parent="1" source="2" target="3"><mxGeometry relative="1" as="geometry"/></mxCell></root></mxGraphModel></diagram></mxfile>"#
    )
}

fn convert(plugin: &Drawio, i: usize) -> Duration {
    let job = Job::new("drawio", &format!("d{i}.drawio"), diagram(i)).with_output("png", "png", "{}");
    let t = Instant::now();
    let result = Host::standalone(|h| plugin.convert(&job, h)).expect("converts");
    assert!(result.outputs[0].result.is_ok(), "{:?}", result.issues);
    t.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let plugin = Drawio::new("{}").expect("plugin");
    let times: Vec<Duration> = (0..20).map(|i| convert(&plugin, i)).collect();
    let first = times[0];
    let rest = median(times[1..].to_vec());
    println!(
        "20 draw.io diagrams through one browser: first {:.0} ms (browser start + page load), median of the rest {:.0} ms, ratio {:.1}x",
        ms(first),
        ms(rest),
        first.as_secs_f64() / rest.as_secs_f64()
    );
    drop(plugin);

    // Where the start goes, and what a head start saves: three fresh
    // converters each, the first job right away vs after the browser is up.
    let (mut launch, mut page, mut app, mut cold, mut warm) = (vec![], vec![], vec![], vec![], vec![]);
    for round in 0..3 {
        let plugin = Drawio::new("{}").expect("plugin");
        cold.push(convert(&plugin, round));
        let started = plugin.start_times().expect("a browser runs");
        launch.push(started.launch);
        page.push(started.page);
        app.push(started.app);
        drop(plugin);
        let plugin = Drawio::new("{}").expect("plugin");
        plugin.warm_up();
        plugin.start_times().expect("a browser runs");
        warm.push(convert(&plugin, round));
    }
    println!(
        "browser start (median of 3): Chromium launch {:.0} ms, page with request filter {:.0} ms, draw.io app load {:.0} ms",
        ms(median(launch)),
        ms(median(page)),
        ms(median(app))
    );
    println!(
        "first job on a fresh converter (median of 3): {:.0} ms when it starts the browser, {:.0} ms when the browser started before the job",
        ms(median(cold)),
        ms(median(warm))
    );
}
