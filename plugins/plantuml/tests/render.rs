//! With the real PlantUML jar and Java from `scripts/setup`.

use clx_plugin_api::abi_stable::std_types::RResult;
use clx_plugin_api::{Host, Job, JobResult, Plugin};
use clx_plugin_plantuml::PlantUml;

fn job(source: &str, formats: &[&str]) -> Job {
    formats.iter().fold(Job::new("plantuml", "topic/pu/diagram.pu", source), |j, f| j.with_output(f, f, "{}"))
}

fn run(plugin: &PlantUml, source: &str, formats: &[&str]) -> JobResult {
    Host::standalone(|host| plugin.convert(&job(source, formats), host)).expect("job runs")
}

fn output(result: &JobResult, id: &str) -> Vec<u8> {
    match &result.outputs.iter().find(|o| o.id.as_str() == id).expect("answered").result {
        RResult::ROk(b) => b.to_vec(),
        RResult::RErr(e) => panic!("{id} failed: {e}; issues {:?}", result.issues),
    }
}

const DIAGRAM: &str = "@startuml\nclass Übung {\n  +lösen(): Ergebnis\n}\nÜbung --> Kurs : gehört zu\n@enduml\n";

#[test]
fn renders_png_and_svg_with_non_ascii_labels() {
    let plugin = PlantUml::new("{}").unwrap();
    let result = run(&plugin, DIAGRAM, &["png", "svg"]);
    let png = output(&result, "png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h) =
        (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    assert!(w > 100 && h > 100 && w < 4000 && h < 4000, "{w}x{h}");
    let svg = String::from_utf8(output(&result, "svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let text: String = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(text.contains("Übung") && text.contains("lösen"), "{text}");
}

#[test]
fn many_diagrams_share_one_jvm_and_a_dead_jvm_is_replaced() {
    let plugin = PlantUml::new("{}").unwrap();
    run(&plugin, DIAGRAM, &["png"]);
    let pid = plugin.jvm_pid("png").expect("a JVM runs");
    for i in 0..5 {
        output(&run(&plugin, &format!("@startuml\nA{i} -> B\n@enduml\n"), &["png"]), "png");
    }
    assert_eq!(plugin.jvm_pid("png"), Some(pid), "one JVM served every diagram");
    std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let png = output(&run(&plugin, DIAGRAM, &["png"]), "png");
    assert_eq!(&png[..4], b"\x89PNG");
    assert_ne!(plugin.jvm_pid("png"), Some(pid));
}

#[test]
fn syntax_error_reports_the_file_line_and_writes_no_image() {
    let plugin = PlantUml::new("{}").unwrap();
    let source = "' a comment\n@startuml\nA -> B\nthis is not plantuml ((\n@enduml\n";
    let result = run(&plugin, source, &["png"]);
    assert!(result.outputs[0].result.is_err(), "no error image as output");
    let issue = &result.issues[0];
    assert_eq!(issue.line.into_option(), Some(4), "{issue:?}");
    assert!(issue.message.contains("Syntax Error"), "PlantUML's own message: {issue:?}");
    assert_eq!(issue.file.as_ref().map(|f| f.as_str()).into_option(), Some("topic/pu/diagram.pu"));
    // The JVM survives a syntax error.
    output(&run(&plugin, DIAGRAM, &["png"]), "png");
}

#[test]
fn a_missing_jar_names_the_setup_command() {
    let plugin = PlantUml::new(r#"{"jar": "/nonexistent/plantuml.jar"}"#).unwrap();
    let err = plugin.tool_identity("plantuml").unwrap_err();
    assert!(err.contains("scripts/setup"), "{err}");
    let plugin = PlantUml::new("{}").unwrap();
    assert!(plugin.tool_identity("plantuml").unwrap().starts_with("PlantUML 1."));
}

/// A `java` that behaves like a JVM dying mid-diagram: it takes the request
/// and exits without answering, the first `deaths` times; then it is the
/// real Java.
fn flaky_java(dir: &std::path::Path, deaths: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("java");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nd=$(dirname \"$0\")\nn=$(ls \"$d\" | grep -c '^died')\n\
             if [ \"$n\" -lt {deaths} ]; then touch \"$d/died$n\"; head -c 1 >/dev/null; echo 'simulated JVM crash' >&2; exit 3; fi\n\
             exec java \"$@\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn a_jvm_dying_mid_diagram_is_restarted_and_the_diagram_retried_once() {
    let dir = tempfile::tempdir().unwrap();
    let java = flaky_java(dir.path(), 1);
    let plugin = PlantUml::new(&serde_json::json!({ "java": java }).to_string()).unwrap();
    let png = output(&run(&plugin, DIAGRAM, &["png"]), "png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(dir.path().join("died0").exists(), "the first JVM really died");
}

#[test]
fn a_jvm_dying_twice_fails_the_output_with_its_last_words() {
    let dir = tempfile::tempdir().unwrap();
    let java = flaky_java(dir.path(), 2);
    let plugin = PlantUml::new(&serde_json::json!({ "java": java }).to_string()).unwrap();
    let result = run(&plugin, DIAGRAM, &["png"]);
    let message = match &result.outputs[0].result {
        RResult::RErr(m) => m.to_string(),
        RResult::ROk(_) => panic!("a twice-dead JVM cannot have rendered"),
    };
    assert!(message.contains("exited unexpectedly") && message.contains("simulated JVM crash"), "{message}");
    assert!(dir.path().join("died1").exists(), "exactly one retry happened");
}

#[test]
fn missing_java_fails_the_output_and_names_the_setup_command() {
    let plugin = PlantUml::new(r#"{"java": "/nonexistent/bin/java"}"#).unwrap();
    let result = run(&plugin, DIAGRAM, &["svg"]);
    assert!(result.outputs[0].result.is_err());
    assert!(result.issues[0].message.contains("scripts/setup"), "{:?}", result.issues);
}

#[test]
fn svg_and_png_jvms_are_separate_and_each_is_reused() {
    let plugin = PlantUml::new("{}").unwrap();
    run(&plugin, DIAGRAM, &["png", "svg"]);
    let (png, svg) = (plugin.jvm_pid("png").unwrap(), plugin.jvm_pid("svg").unwrap());
    assert_ne!(png, svg);
    for i in 0..3 {
        let svg_text =
            String::from_utf8(output(&run(&plugin, &format!("@startuml\nÄrger{i} -> Öl\n@enduml\n"), &["svg"]), "svg"))
                .unwrap();
        assert!(svg_text.contains(&format!("Ärger{i}")), "{svg_text}");
    }
    assert_eq!((plugin.jvm_pid("png"), plugin.jvm_pid("svg")), (Some(png), Some(svg)));
}
