//! Shared helpers for the end-to-end tests: where the built `clx` binary and
//! plugin libraries are, and a command builder that isolates each test's
//! state (queue, cache, config) in a temp dir while keeping the real tools.

pub mod browser;
pub mod pg;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `target/<profile>`: the tests binary lives in `target/<profile>/deps`.
pub fn target_dir() -> PathBuf {
    // Benchmarks run from target/release but may measure another build.
    if let Some(dir) = std::env::var_os("CLX_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
    assert!(
        dir.join("clx").exists(),
        "{} has no clx binary: run `cargo build --workspace` before the tests (scripts/test does)",
        dir.display()
    );
    dir
}

pub fn clx_bin() -> PathBuf {
    target_dir().join("clx")
}

/// Path of a built library, by crate name (`clx-plugin-graphviz`).
pub fn library(crate_name: &str) -> PathBuf {
    let file =
        format!("{}{}{}", std::env::consts::DLL_PREFIX, crate_name.replace('-', "_"), std::env::consts::DLL_SUFFIX);
    let path = target_dir().join(file);
    assert!(path.exists(), "{} missing: run `cargo build --workspace`", path.display());
    path
}

/// The tools dir `scripts/setup` filled, resolved before tests move `HOME`-based dirs.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CLX_TOOLS_DIR") {
        return dir.into();
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".local/share"));
    data.join("clx/tools")
}

/// One isolated clx environment: its own state dir, config dir and user data dir.
pub struct Env {
    pub home: tempfile::TempDir,
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

impl Env {
    pub fn new() -> Env {
        let env = Env { home: tempfile::tempdir().expect("temp dir") };
        std::fs::create_dir(env.temp_dir()).expect("create the TMPDIR");
        env
    }

    pub fn state_dir(&self) -> PathBuf {
        self.home.path().join("state")
    }

    /// clx's `TMPDIR`, so a test can see what clx leaves in the temp dir.
    pub fn temp_dir(&self) -> PathBuf {
        self.home.path().join("tmp")
    }

    /// A `clx` command in this environment.
    pub fn clx(&self) -> Command {
        let mut cmd = Command::new(clx_bin());
        cmd.env("CLX_HOME", self.state_dir())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_DATA_HOME", self.home.path().join("data"))
            .env("CLX_TOOLS_DIR", tools_dir())
            .env("TMPDIR", self.temp_dir())
            .env_remove("CLX_PLUGIN_PATH")
            .env_remove("CLX_QUEUE_URL")
            .env_remove("CLX_LOG");
        cmd
    }

    /// Run `clx ARGS` and return its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.clx().args(args).output().expect("run clx")
    }

    /// `clx build` of `spec` through the PostgreSQL queue at `url` (given in
    /// the environment, as an administrator would), with no local workers:
    /// every job runs on a `clx worker serve` elsewhere.
    pub fn build_on_remote_workers(&self, url: &str, spec: &Path) -> Output {
        self.clx()
            .env("CLX_QUEUE_URL", url)
            .args(["build", "--local-workers", "0"])
            .arg(spec)
            .output()
            .expect("run clx")
    }
}

/// A relative URL's path with its `%XX` escapes decoded.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 link")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A page as headless Chromium builds it: its DOM (returned) and a
/// screenshot of `size` kept as `target/tmp/<screenshot>` for a look. The
/// network is cut off, as a participant opening the file from disk would
/// not need it.
pub fn render_in_chromium(page: &Path, screenshot: &str, size: (u32, u32)) -> String {
    let url = format!("file://{}", page.display());
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ];
    let profile = tempfile::tempdir().expect("profile dir");
    let chromium = |extra: &[String]| {
        Command::new("chromium")
            .args(flags)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs (scripts/setup installs it)")
    };
    let dom = String::from_utf8_lossy(&chromium(&["--dump-dom".to_owned()]).stdout).into_owned();
    let shot = target_dir().parent().unwrap_or(Path::new(".")).join("tmp").join(screenshot);
    let _ = std::fs::create_dir_all(shot.parent().expect("target/tmp"));
    let out = chromium(&[format!("--screenshot={}", shot.display()), format!("--window-size={},{}", size.0, size.1)]);
    assert!(out.status.success(), "chromium took no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(png_size(&std::fs::read(&shot).expect("screenshot written")), size);
    dom
}

/// A PNG's width and height, after checking its signature.
pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 24, "PNG too short: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "PNG does not start with IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// A course written into a temp dir: `slides/module_100_test/topic_NNN_<id>/…`,
/// one section listing every topic, spec at `course-specs/course.xml`.
pub struct TestCourse {
    pub dir: tempfile::TempDir,
}

impl TestCourse {
    /// `topics`: topic id and its files (path inside the topic, contents).
    pub fn new(topics: &[(&str, &[(&str, &str)])]) -> TestCourse {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut list = String::new();
        for (i, (id, files)) in topics.iter().enumerate() {
            let topic = dir.path().join(format!("slides/module_100_test/topic_{}_{id}", 100 + 10 * i));
            for (name, text) in files.iter() {
                let path = topic.join(name);
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(&path, text).expect("write course file");
            }
            list.push_str(&format!("        <topic>{id}</topic>\n"));
        }
        let spec = format!(
            "<course>\n  <name><de>Testkurs</de><en>Test Course</en></name>\n  <prog-lang>python</prog-lang>\n  \
             <description><de>d</de><en>d</en></description>\n  <certificate><de>c</de><en>c</en></certificate>\n  \
             <github><de>g</de><en>g</en></github>\n  <sections>\n    <section>\n      \
             <name><de>Woche 1</de><en>Week 1</en></name>\n      <topics>\n{list}      </topics>\n    </section>\n  \
             </sections>\n</course>\n"
        );
        std::fs::create_dir_all(dir.path().join("course-specs")).expect("mkdir");
        std::fs::write(dir.path().join("course-specs/course.xml"), spec).expect("write spec");
        TestCourse { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn spec(&self) -> PathBuf {
        self.dir.path().join("course-specs/course.xml")
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("output")
    }

    /// Every file under the output dir, relative and sorted.
    pub fn output_files(&self) -> Vec<String> {
        let mut files = Vec::new();
        collect(&self.out(), &self.out(), &mut files);
        files.sort();
        files
    }

    /// Output files whose relative path ends with `suffix`.
    pub fn outputs_ending(&self, suffix: &str) -> Vec<PathBuf> {
        self.output_files().iter().filter(|f| f.ends_with(suffix)).map(|f| self.out().join(f)).collect()
    }
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(rel) = path.strip_prefix(root) {
            files.push(rel.to_string_lossy().into_owned());
        }
    }
}

/// A plugin dir holding only the named fixture libraries (symlinks), so a
/// test loads exactly the plugins it means to.
pub fn plugin_dir(crates: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for c in crates {
        let lib = library(c);
        let name = lib.file_name().expect("file name");
        std::os::unix::fs::symlink(&lib, dir.path().join(name)).expect("symlink plugin");
    }
    dir
}

/// The fields of `/proc/PID/stat` after the command name (state, parent
/// pid, ...); the name is skipped whole because it may hold spaces.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit(')').next()?.split_whitespace().map(str::to_owned).collect())
}

/// Whether a process with this pid still exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().is_some_and(|state| state != "Z"))
}

/// The parent of a process, while it exists.
pub fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// Every live process but this one.
pub fn live_processes() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != std::process::id() && alive(pid))
        .collect()
}

/// The repository root (the tests crate lives in `<root>/tests`).
/// Build a scaffolded plugin crate as its author would (`cargo build
/// --offline`; the dependencies are already in cargo's cache) and return its
/// library. Every such crate shares `target/scaffold`, so the API and its
/// dependencies compile once across tests.
pub fn cargo_build_plugin(crate_dir: &Path, name: &str) -> PathBuf {
    let target = repo_root().join("target/scaffold");
    let built = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--offline", "--quiet"])
        .current_dir(crate_dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo build");
    assert!(built.status.success(), "cargo build of {} failed: {}", crate_dir.display(), stderr(&built));
    target.join("debug").join(format!(
        "{}clx_plugin_{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    ))
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

/// Every file under `root`, by its path relative to `root`, with its bytes.
pub fn file_tree(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, files: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, files);
            } else if let (Ok(rel), Ok(bytes)) = (path.strip_prefix(root), std::fs::read(&path)) {
                files.insert(rel.to_string_lossy().into_owned(), bytes);
            }
        }
    }
    let mut files = std::collections::BTreeMap::new();
    walk(root, root, &mut files);
    files
}

/// Copy a course tree (without its `output/`), so builds never write into the repo.
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("read course").flatten() {
        if e.file_name() == "output" {
            continue;
        }
        let (from, to) = (e.path(), dst.join(e.file_name()));
        if from.is_dir() {
            copy_tree(&from, &to);
        } else {
            std::fs::copy(&from, &to).expect("copy course file");
        }
    }
}

/// Live processes whose environment holds `var=value`, this process aside.
/// Everything a build starts (workers, Jupyter kernels, Java, Chromium)
/// inherits `CLX_HOME`, so this finds one test's processes among those of
/// tests running in parallel. Processes that vanish or deny access while
/// being read are skipped.
/// Where each thread of process `pid` waits, one line per thread: its
/// name, state and kernel wait channel, for a process that did not stop
/// when it should have.
pub fn thread_states(pid: u32) -> String {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return format!("process {pid} is gone") };
    let mut lines: Vec<String> = tasks
        .flatten()
        .map(|task| {
            let read = |file: &str| std::fs::read_to_string(task.path().join(file)).unwrap_or_default();
            let state = read("status").lines().find(|l| l.starts_with("State:")).unwrap_or_default().to_owned();
            format!(
                "thread {} {:?}: {}, waiting in {}",
                task.file_name().to_string_lossy(),
                read("comm").trim(),
                state.trim_start_matches("State:").trim(),
                read("wchan")
            )
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

pub fn processes_with_env(var: &str, value: &Path) -> Vec<u32> {
    use std::os::unix::ffi::OsStrExt;
    let mut wanted = format!("{var}=").into_bytes();
    wanted.extend_from_slice(value.as_os_str().as_bytes());
    live_processes()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|environ| environ.split(|&b| b == 0).any(|entry| entry == wanted.as_slice()))
        })
        .collect()
}
