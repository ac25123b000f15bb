//! draw.io diagrams through the real `clx` binary, the drawio plugin, Debian's
//! Chromium and the draw.io web app from `scripts/setup`.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clx_e2e::*;

fn image_cell(id: u32, x: u32, url: &str) -> String {
    format!(
        r#"<mxCell id="{id}" value="" style="shape=image;verticalLabelPosition=bottom;verticalAlign=top;imageAspect=0;image={url};" vertex="1" parent="1"><mxGeometry x="{x}" y="120" width="80" height="80" as="geometry"/></mxCell>"#
    )
}

fn diagram(images: &[&str]) -> String {
    let cells: String =
        images.iter().enumerate().map(|(i, url)| image_cell(10 + i as u32, 20 + 100 * i as u32, url)).collect();
    format!(
        r#"<mxfile><diagram id="p1" name="Seite 1"><mxGraphModel><root><mxCell id="0"/><mxCell id="1" parent="0"/><mxCell id="2" value="Ablauf" style="rounded=0;whiteSpace=wrap;html=1;" vertex="1" parent="1"><mxGeometry x="20" y="20" width="120" height="60" as="geometry"/></mxCell>{cells}</root></mxGraphModel></diagram></mxfile>"#
    )
}

/// A loopback HTTP server that counts every connection made to it.
struct Witness {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Witness {
    fn start() -> Witness {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&connections);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                seen.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut stream) = stream {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                    let _ = stream.read(&mut [0; 1024]);
                }
            }
        });
        Witness { port, connections }
    }
}

/// Unpadded, so a file's encoding is found inside a longer stream too.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

fn short_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/tmp") else { return Vec::new() };
    entries.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("clx-drawio-")).map(|e| e.path()).collect()
}

fn build(env: &Env, course: &TestCourse, state: Option<&Path>) -> std::process::Output {
    let mut cmd = env.clx();
    if let Some(state) = state {
        cmd.env("CLX_HOME", state);
    }
    cmd.arg("build").arg(course.spec()).output().expect("run clx build")
}

#[test]
fn outside_images_are_not_loaded_and_each_gets_a_warning() {
    let env = Env::new();
    let witness = Witness::start();
    let secret_dir = tempfile::tempdir().expect("temp dir");
    let secret = secret_dir.path().join("secret.png");
    std::fs::write(&secret, "clx-e2e secret, never to appear in a diagram").expect("write secret");
    let remote = format!("http://127.0.0.1:{}/x.png", witness.port);
    let local = format!("file://{}", secret.display());
    let xml = diagram(&["file:///etc/hostname", &remote, &local]);
    let course = TestCourse::new(&[("flow", &[("drawio/flow.drawio", xml.as_str())])]);
    std::fs::write(course.root().join("clx.toml"), "diagram-formats = [\"png\", \"svg\"]\n").expect("clx.toml");

    let out = build(&env, &course, None);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(witness.connections.load(Ordering::SeqCst), 0, "the page connected to the loopback server");
    for url in ["file:///etc/hostname", remote.as_str(), local.as_str()] {
        assert!(err.lines().any(|l| l.contains("warning") && l.contains(url)), "no warning names {url}:\n{err}");
    }
    let pngs = course.outputs_ending("img/flow.png");
    assert!(!pngs.is_empty(), "{:#?}", course.output_files());
    let (w, h) = png_size(&std::fs::read(&pngs[0]).expect("png"));
    assert!(w >= 360 && h >= 180, "the box still renders: {w}x{h}");
    let svgs = course.outputs_ending("img/flow.svg");
    let svg = std::fs::read_to_string(&svgs[0]).expect("svg");
    assert!(svg.contains("Ablauf"), "{svg}");
    let leaked = std::fs::read(&secret).expect("secret");
    assert!(!svg.contains(&base64(&leaked)[..40]), "the secret file was embedded in the SVG");
    if let Ok(hostname) = std::fs::read("/etc/hostname") {
        assert!(hostname.len() < 3 || !svg.contains(&base64(&hostname)), "/etc/hostname was embedded in the SVG");
    }
}

#[test]
fn embedded_data_images_render_without_a_warning() {
    let env = Env::new();
    // A 1×1 red PNG.
    let red = "data:image/png,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
    let xml = diagram(&[red]);
    let course = TestCourse::new(&[("flow", &[("drawio/flow.drawio", xml.as_str())])]);
    let out = build(&env, &course, None);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("outside the diagram"), "{err}");
    assert!(!course.outputs_ending("img/flow.png").is_empty(), "{:#?}", course.output_files());
}

#[test]
fn a_deep_state_dir_still_renders_diagrams() {
    let env = Env::new();
    let mut state = env.home.path().join("state");
    while state.as_os_str().len() < 200 {
        state.push("a-rather-long-folder-name");
    }
    std::fs::create_dir_all(&state).expect("deep state dir");
    let before = short_dirs();
    let course = TestCourse::new(&[("flow", &[("drawio/flow.drawio", diagram(&[]).as_str())])]);

    let out = build(&env, &course, Some(&state));
    assert!(out.status.success(), "{}", stderr(&out));
    let pngs = course.outputs_ending("img/flow.png");
    assert!(!pngs.is_empty(), "{:#?}", course.output_files());
    png_size(&std::fs::read(&pngs[0]).expect("png"));
    let left: Vec<_> = short_dirs().into_iter().filter(|d| !before.contains(d)).collect();
    assert!(left.is_empty(), "Chromium's short temp dirs were left behind: {left:?}");
}

/// Every PNG and SVG the build wrote, by path, with its bytes.
fn images(course: &TestCourse) -> Vec<(String, Vec<u8>)> {
    course
        .output_files()
        .into_iter()
        .filter(|f| f.ends_with(".png") || f.ends_with(".svg"))
        .map(|f| {
            let bytes = std::fs::read(course.out().join(&f)).expect("read output");
            (f, bytes)
        })
        .collect()
}

#[test]
fn a_worker_started_before_its_job_renders_the_same_bytes_as_one_started_for_it() {
    let env = Env::new();
    let course = TestCourse::new(&[("flow", &[("drawio/flow.drawio", diagram(&[]).as_str())])]);
    // Fresh state: the plugin is probed, so its worker and browser start
    // before the job is in the queue.
    let out = build(&env, &course, None);
    assert!(out.status.success(), "{}", stderr(&out));
    let ahead = images(&course);
    assert!(!ahead.is_empty(), "{:#?}", course.output_files());
    std::fs::remove_dir_all(course.out()).expect("clear the output");
    // The identity is remembered now: the worker starts once the job is submitted.
    let out = env.clx().arg("build").arg(course.spec()).arg("--no-cache").output().expect("run clx build");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 built"), "{}", stderr(&out));
    assert_eq!(images(&course), ahead);
}

#[test]
fn a_rebuild_that_asks_the_tool_identity_again_lands_every_diagram_from_the_cache() {
    let env = Env::new();
    let course = TestCourse::new(&[("flow", &[("drawio/flow.drawio", diagram(&[]).as_str())])]);
    let out = build(&env, &course, None);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = images(&course);
    // Another environment: the remembered identity no longer holds, the
    // plugin is probed and its worker started ahead, but the job is cached.
    let out = env.clx().env("CLX_TEST_OTHER_ENVIRONMENT", "1").arg("build").arg(course.spec()).output().expect("run");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("0 built, 1 from cache"), "{err}");
    assert_eq!(images(&course), first);
    assert!(processes_with_env("CLX_HOME", &env.state_dir()).is_empty(), "a worker outlived the build");
}

/// Processes of this state dir that are a browser (not `chromium --version`).
fn browsers(env: &Env) -> Vec<u32> {
    processes_with_env("CLX_HOME", &env.state_dir())
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("--remote-debugging"))
        })
        .collect()
}

/// A one-diagram build can end in a few hundred milliseconds, Chromium's
/// start included, so the interrupt may come too late: the build is tried
/// again (a finished one must leave nothing either) until an interrupt
/// lands while it runs.
#[test]
fn a_build_interrupted_while_chromium_starts_leaves_no_process_and_no_scratch() {
    const ATTEMPTS: usize = 5;
    for attempt in 1..=ATTEMPTS {
        let env = Env::new();
        let course = TestCourse::new(&[("flow", &[("drawio/flow.drawio", diagram(&[]).as_str())])]);
        let mut child = env
            .clx()
            .arg("build")
            .arg(course.spec())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn clx build");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while browsers(&env).is_empty() {
            assert!(child.try_wait().expect("poll").is_none(), "the build ended before Chromium started");
            assert!(std::time::Instant::now() < deadline, "no Chromium started within 60 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = std::process::Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()) || attempt < ATTEMPTS, "kill -INT");
        let out = child.wait_with_output().expect("wait for clx");
        let err = stderr(&out);
        let interrupted = out.status.code() == Some(130);
        assert!(interrupted || out.status.code() == Some(0), "{err}");
        assert!(!interrupted || err.contains("interrupted"), "{err}");
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let left = processes_with_env("CLX_HOME", &env.state_dir());
            if left.is_empty() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "processes outlived the build by 15 s: {left:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let scratch: Vec<_> = std::fs::read_dir(env.state_dir().join("tmp"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        // Chromium's profile lives in its worker's scratch folder.
        assert!(scratch.is_empty(), "worker scratch left: {scratch:?}");
        if interrupted {
            return;
        }
        eprintln!("attempt {attempt}: the build finished before the interrupt; again");
    }
    panic!("no interrupt landed while the build ran in {ATTEMPTS} attempts");
}
