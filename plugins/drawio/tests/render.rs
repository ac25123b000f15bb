//! With Debian's Chromium and the draw.io web app from `scripts/setup`.

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clx_plugin_api::abi_stable::std_types::RResult;
use clx_plugin_api::{Host, Job, JobResult, Plugin, Severity};
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
    assert!(result.issues.is_empty(), "a plain diagram needs nothing from outside: {:?}", result.issues);
}

fn with_images(urls: &[&str]) -> String {
    let cells: String = urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            format!(
                r#"<mxCell id="i{i}" value="" style="shape=image;imageAspect=0;image={url};" vertex="1" parent="1"><mxGeometry x="{}" y="140" width="80" height="80" as="geometry"/></mxCell>"#,
                40 + 100 * i
            )
        })
        .collect();
    BOX.replace("</root>", &format!("{cells}</root>"))
}

/// Counts the connections made to a loopback port.
fn loopback_witness() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            count.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut s) = stream {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let _ = s.read(&mut [0; 512]);
            }
        }
    });
    (port, seen)
}

#[test]
fn outside_images_are_refused_and_named_in_warnings() {
    let (port, connections) = loopback_witness();
    let remote = format!("http://127.0.0.1:{port}/x.png");
    let xml = with_images(&["file:///etc/hostname", &remote]);
    let plugin = Drawio::new("{}").unwrap();
    let result = run(&plugin, &job(&xml, &[("png", "png", "{}"), ("svg", "svg", "{}")]));
    size(&bytes(&result, "png"));
    let svg = String::from_utf8(bytes(&result, "svg")).unwrap();
    assert!(svg.contains("Größe"), "{svg}");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the page reached the loopback server");
    let warnings: Vec<&str> =
        result.issues.iter().filter(|i| i.severity == Severity::Warning).map(|i| i.message.as_str()).collect();
    for url in ["file:///etc/hostname", remote.as_str()] {
        assert_eq!(warnings.iter().filter(|w| w.contains(url)).count(), 1, "one warning names {url}: {warnings:?}");
    }
}

#[test]
fn a_converter_asked_only_for_its_tool_starts_no_browser() {
    let plugin = Drawio::new("{}").unwrap();
    plugin.tool_identity("drawio").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(plugin.start_times().is_none(), "a browser was started");
}

#[test]
fn a_fresh_converter_starts_its_browser_before_the_first_job() {
    let plugin = Drawio::new("{}").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let times = plugin.start_times().expect("the browser started on its own");
    assert!(times.launch > Duration::ZERO && times.app > Duration::ZERO, "{times:?}");
    for _ in 0..2 {
        size(&bytes(&run(&plugin, &job(BOX, &[("png", "png", "{}")])), "png"));
        let now = plugin.start_times().expect("the browser still runs");
        assert_eq!((now.launch, now.app), (times.launch, times.app), "the jobs started a browser of their own");
    }
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

/// An AWS stencil, an Azure icon (an image path relative to the app) and a
/// formula: each comes from the app's own folders (stencils, shapes, img,
/// math), none from draw.io's servers.
const LIBRARIES: &str = r#"<mxfile><diagram id="p1" name="p"><mxGraphModel math="1"><root><mxCell id="0"/><mxCell id="1" parent="0"/><mxCell id="2" value="EC2" style="fillColor=#ED7100;strokeColor=#ffffff;verticalLabelPosition=bottom;html=1;shape=mxgraph.aws4.resourceIcon;resIcon=mxgraph.aws4.ec2;" vertex="1" parent="1"><mxGeometry x="20" y="20" width="78" height="78" as="geometry"/></mxCell><mxCell id="3" value="VM" style="aspect=fixed;html=1;image;image=img/lib/azure2/compute/Virtual_Machine.svg;" vertex="1" parent="1"><mxGeometry x="140" y="20" width="64" height="64" as="geometry"/></mxCell><mxCell id="4" value="$$x^2$$" style="text;html=1;" vertex="1" parent="1"><mxGeometry x="240" y="20" width="80" height="40" as="geometry"/></mxCell></root></mxGraphModel></diagram></mxfile>"#;

#[test]
fn stencils_icon_images_and_math_load_from_the_apps_own_folders() {
    let plugin = Drawio::new("{}").unwrap();
    let result = run(&plugin, &job(LIBRARIES, &[("png", "png", "{}"), ("svg", "svg", "{}")]));
    assert!(result.issues.is_empty(), "nothing refused, nothing fetched from a server: {:?}", result.issues);
    let svg = String::from_utf8(bytes(&result, "svg")).unwrap();
    assert!(svg.contains("href=\"data:image/svg+xml;base64,"), "the Azure icon is embedded: {svg}");
    assert!(svg.contains("<path"), "the AWS stencil is drawn: {svg}");
    assert!(size(&bytes(&result, "png")).0 > 3 * 300, "all three shapes are in the picture");
}

/// A fraction in TeX, in a diagram with math on or off.
fn formula(math: bool) -> String {
    format!(
        r#"<mxfile><diagram id="f" name="f"><mxGraphModel math="{}"><root><mxCell id="0"/><mxCell id="1" parent="0"/><mxCell id="2" value="$$\frac{{a+b}}{{2}}$$" style="text;html=1;" vertex="1" parent="1"><mxGeometry x="20" y="20" width="120" height="60" as="geometry"/></mxCell></root></mxGraphModel></diagram></mxfile>"#,
        u8::from(math)
    )
}

/// MathJax is loaded with the first formula, not with the page: a formula
/// in a browser's first diagram and one after a plain diagram come out the
/// same, and typeset (unlike the TeX shown as text when math is off).
#[test]
fn formulas_are_typeset_whether_the_first_diagram_or_a_later_one_loads_mathjax() {
    let png = |plugin: &Drawio, xml: &str| bytes(&run(plugin, &job(xml, &[("png", "png", "{}")])), "png");
    let first = Drawio::new("{}").unwrap();
    let typeset_first = png(&first, &formula(true));
    let as_text = png(&first, &formula(false));
    let later = Drawio::new("{}").unwrap();
    png(&later, BOX);
    let typeset_later = png(&later, &formula(true));
    assert_ne!(typeset_first, as_text, "the formula is typeset, not shown as TeX");
    assert_eq!(typeset_first, typeset_later, "the same picture whichever diagram loaded MathJax");
}
