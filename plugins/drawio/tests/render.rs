//! With Debian's Chromium and the draw.io web app from `scripts/setup`.

use clx_plugin_api::abi_stable::std_types::RResult;
use clx_plugin_api::{Host, Job, JobResult, Plugin};
use clx_plugin_drawio::Drawio;

/// One 120×60 box at (40, 40) labelled with umlauts; draw.io's bounds of a
/// stroked box are one pixel larger.
const BOX: &str = r#"<mxfile><diagram id="p1" name="Seite 1"><mxGraphModel><root><mxCell id="0"/><mxCell id="1" parent="0"/><mxCell id="2" value="Größe" style="rounded=0;whiteSpace=wrap;html=1;" vertex="1" parent="1"><mxGeometry x="40" y="40" width="120" height="60" as="geometry"/></mxCell></root></mxGraphModel></diagram></mxfile>"#;

fn job(xml: &str, outputs: &[(&str, &str, &str)]) -> Job {
    outputs.iter().fold(Job::new("drawio", "topic/drawio/box.drawio", xml), |j, (id, f, p)| j.with_output(id, f, p))
}

fn run(plugin: &Drawio, j: &Job) -> JobResult {
    Host::standalone(|host| plugin.convert(j, host)).expect("job runs")
}

fn bytes(result: &JobResult, id: &str) -> Vec<u8> {
    match &result.outputs.iter().find(|o| o.id.as_str() == id).expect("answered").result {
        RResult::ROk(b) => b.to_vec(),
        RResult::RErr(e) => panic!("{id} failed: {e}"),
    }
}

fn size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()))
}

#[test]
fn png_is_the_diagram_bounds_times_three_and_svg_has_the_labels() {
    let plugin = Drawio::new("{}").unwrap();
    let result =
        run(&plugin, &job(BOX, &[("png", "png", "{}"), ("framed", "png", r#"{"border": 10}"#), ("svg", "svg", "{}")]));
    let (w, h) = size(&bytes(&result, "png"));
    // 3 × (120 + 1 px stroke) wide plus the desktop framing (+1 px and the half-pixel offset).
    assert!((363..=368).contains(&w) && (183..=188).contains(&h), "{w}x{h}");
    let (fw, fh) = size(&bytes(&result, "framed"));
    assert_eq!((fw - w, fh - h), (20, 20), "an even border on every side");
    let svg = String::from_utf8(bytes(&result, "svg")).unwrap();
    let options = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
    roxmltree::Document::parse_with_options(&svg, options).expect("well-formed SVG");
    assert!(svg.contains("Größe"), "{svg}");
}

#[test]
fn corrupt_file_is_a_clear_error_and_the_browser_is_reused() {
    let plugin = Drawio::new("{}").unwrap();
    let err =
        Host::standalone(|host| plugin.convert(&job("<mxfile><diagram>", &[("png", "png", "{}")]), host)).unwrap_err();
    assert!(err.message.contains("not valid draw.io XML"), "{err:?}");
    for _ in 0..3 {
        size(&bytes(&run(&plugin, &job(BOX, &[("png", "png", "{}")])), "png"));
    }
}

#[test]
fn missing_web_app_names_the_setup_command() {
    let plugin = Drawio::new(r#"{"app": "/nonexistent"}"#).unwrap();
    let err = plugin.tool_identity("drawio").unwrap_err();
    assert!(err.contains("scripts/setup"), "{err}");
}
