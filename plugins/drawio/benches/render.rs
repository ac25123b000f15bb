//! 20 diagrams through one converter: the first pays for the browser start
//! and page load, the rest reuse the page.
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

fn main() {
    let plugin = Drawio::new("{}").expect("plugin");
    let mut times: Vec<Duration> = Vec::new();
    for i in 0..20 {
        let job = Job::new("drawio", &format!("d{i}.drawio"), diagram(i)).with_output("png", "png", "{}");
        let t = Instant::now();
        let result = Host::standalone(|h| plugin.convert(&job, h)).expect("converts");
        assert!(result.outputs[0].result.is_ok(), "{:?}", result.issues);
        times.push(t.elapsed());
    }
    let first = times[0];
    let mut rest = times[1..].to_vec();
    rest.sort();
    let median = rest[rest.len() / 2];
    println!(
        "20 draw.io diagrams through one browser: first {:.0} ms (browser start + page load), median of the rest {:.0} ms, ratio {:.1}x",
        first.as_secs_f64() * 1000.0,
        median.as_secs_f64() * 1000.0,
        first.as_secs_f64() / median.as_secs_f64()
    );
}
