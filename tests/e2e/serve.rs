//! `clx serve` as an author uses it: a real browser on a served deck page
//! while the deck is edited on disk.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clx_e2e::browser::{Serving, Tab};
use clx_e2e::*;

/// A deck whose English text the test edits; `MARK` is what changes.
pub const DECK: &str = "# %% [markdown] lang=\"de\"\n# # Vorschau\n#\n# Stand: MARK\n\n\
# %% [markdown] lang=\"en\"\n# # Preview\n#\n# State: MARK\n\n# %%\nprint(6 * 7)\n";

fn deck(mark: &str) -> String {
    DECK.replace("MARK", mark)
}

fn english_completed_page(course: &TestCourse) -> PathBuf {
    course
        .outputs_ending("slides_preview.html")
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/public/En/") && p.to_string_lossy().contains("/Completed/"))
        .unwrap_or_else(|| panic!("completed English page: {:#?}", course.output_files()))
}

fn body_contains(text: &str) -> String {
    format!("!!document.body && document.body.innerText.includes({text:?})")
}

/// One raw HTTP/1.1 GET: status line and body.
fn get(base: &str, path: &str) -> (String, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[test]
fn served_page_reloads_on_edit_shows_a_failing_deck_as_its_error_and_stops_on_ctrl_c() {
    let env = Env::new();
    let course = TestCourse::new(&[("preview", &[("slides_preview.py", &deck("alpha"))])]);
    let deck_path = course.root().join("slides/module_100_test/topic_100_preview/slides_preview.py");
    let serving = Serving::start(&env, &course.spec(), &[]);
    assert!(serving.base.starts_with("http://127.0.0.1:"), "loopback by default: {}", serving.base);
    let page = english_completed_page(&course);
    let built = std::fs::read_to_string(&page).expect("page");
    assert!(!built.contains("EventSource"), "the built file has no reload script");

    let tab = Tab::open(&serving.url_of(&course.out(), &page));
    let first = tab.wait_until(&body_contains("State: alpha"), Duration::from_secs(20));
    assert!(first.is_some(), "first page: {:?} {:?}", tab.eval("1 + 1"), tab.eval("document.body.innerText"));
    assert!(tab.wait_until(&body_contains("42"), Duration::from_secs(5)).is_some(), "executed output");
    let shot = target_dir().parent().expect("target").join("tmp/served-page.png");
    std::fs::create_dir_all(shot.parent().expect("target/tmp")).expect("target/tmp");
    std::fs::write(&shot, tab.screenshot()).expect("keep the screenshot");

    // An edit on disk: the open page shows the new text by itself.
    std::fs::write(&deck_path, deck("beta")).expect("edit deck");
    let took = tab.wait_until(&body_contains("State: beta"), Duration::from_secs(60));
    assert!(took.is_some(), "page did not reload; clx said:\n{}", serving.log_text());
    assert!(!std::fs::read_to_string(&page).expect("page").contains("EventSource"), "still none on disk");

    // A cell that raises: the page becomes the error, with file and traceback.
    std::fs::write(&deck_path, deck("gamma").replace("print(6 * 7)", "print(1 / 0)")).expect("break deck");
    let shown = tab.wait_until(&body_contains("ZeroDivisionError"), Duration::from_secs(60));
    assert!(shown.is_some(), "error not shown; clx said:\n{}", serving.log_text());
    let text = tab.eval("document.body.innerText").as_str().unwrap_or_default().to_owned();
    assert!(text.contains("slides_preview.py"), "names the deck: {text}");
    assert!(text.contains("failed to build"), "{text}");
    assert_eq!(tab.eval("!!document.querySelector('.clx-header .clx-home')"), true, "still in the course's frame");

    // The next good build replaces it.
    std::fs::write(&deck_path, deck("delta")).expect("fix deck");
    let fixed = tab.wait_until(&body_contains("State: delta"), Duration::from_secs(60));
    assert!(fixed.is_some(), "fixed page not shown; clx said:\n{}", serving.log_text());
    drop(tab);

    // Only the output folder: no way up, no symlink out.
    let (status, body) = get(&serving.base, "/public/../../course-specs/course.xml");
    assert!(!body.contains("<course>"), "{status}");
    let (status, _) = get(&serving.base, "/public/%2e%2e/%2e%2e/course-specs/course.xml");
    assert!(status.contains("403"), "{status}");
    std::os::unix::fs::symlink(course.spec(), course.out().join("public/spec.xml")).expect("symlink");
    let (status, body) = get(&serving.base, "/public/spec.xml");
    assert!(status.contains("403") && !body.contains("<course>"), "{status}");

    // Ctrl-C stops the server, its workers and their kernels.
    let mut serving = serving;
    let pid = serving.child.id();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    interrupt(pid);
    let deadline = Instant::now() + Duration::from_secs(30);
    while serving.child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "clx serve did not stop on Ctrl-C:\n{}", serving.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with_env("CLX_HOME", &env.state_dir()).is_empty() {
        assert!(Instant::now() < deadline, "left running: {:?}", processes_with_env("CLX_HOME", &env.state_dir()));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(TcpStream::connect(serving.base.trim_start_matches("http://")).is_err(), "nothing listens any more");
}

/// Ctrl-C, as a terminal sends it.
fn interrupt(pid: u32) {
    let status = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().expect("kill runs");
    assert!(status.success());
}
