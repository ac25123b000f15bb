//! Course kernel environments: a course that lists the Python packages its
//! decks import gets a venv of its own, built once per distinct package list
//! and Python version under clx's state dir and shared by every build.
//!
//! An environment is complete only once its marker file exists, and the
//! marker is written last, under a lock: a build killed mid-install leaves a
//! directory without a marker, which the next build removes and builds
//! again. The venv is built in place rather than renamed into place because
//! a venv's scripts carry absolute paths.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use sha3::{Digest, Sha3_224};

/// Written last: its presence means the environment is complete.
const MARKER: &str = "clx-env.json";
/// `pip freeze` of the finished environment, for people and `clx doctor`.
const FREEZE: &str = "freeze.txt";
/// How many lines of a failing installer's output an error shows.
const TAIL_LINES: usize = 15;

/// The package list a course declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    /// Where the author wrote it, as they know it (`requirements.txt`), or
    /// the lock made from it (`requirements.lock`).
    pub file: String,
    pub text: String,
    /// `text` is a lock: every package pinned with its hashes, ipykernel
    /// included, installed exactly as it stands.
    pub locked: bool,
}

/// A finished course environment.
#[derive(Debug, Clone)]
pub struct CourseEnv {
    /// The venv's prefix; its `share/jupyter` holds the kernelspecs.
    pub prefix: PathBuf,
    /// `pip freeze` of the venv.
    pub freeze: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("cannot run {program} to build the course's Python environment: {source}")]
    Spawn { program: String, source: std::io::Error },
    /// Shown at the requirements file, so it does not name it again.
    #[error("cannot install the course's Python packages into {}: `{step}` failed; its output ends with:\n{tail}",
        env.display())]
    Install { env: PathBuf, step: String, tail: String },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EnvError {
    let path = path.to_owned();
    move |source| EnvError::Io { what, path, source }
}

/// The project's tools venv (`scripts/setup`), where the kernelspecs live.
pub fn tools_venv() -> PathBuf {
    clx_plugin_api::tools_dir().unwrap_or_else(|| PathBuf::from(".")).join("venv")
}

/// The interpreter course environments are made from: the tools venv's
/// (the one the default Python kernel runs), else `python3` on `PATH`.
pub fn base_python() -> PathBuf {
    let tools = tools_venv().join("bin/python");
    if tools.exists() {
        tools
    } else {
        PathBuf::from("python3")
    }
}

/// `uv` when it is installed (tools venv first, then `PATH`).
fn uv() -> Option<PathBuf> {
    static UV: OnceLock<Option<PathBuf>> = OnceLock::new();
    UV.get_or_init(|| {
        let tools = tools_venv().join("bin/uv");
        [tools, PathBuf::from("uv")]
            .into_iter()
            .find(|uv| Command::new(uv).arg("--version").output().map(|o| o.status.success()).unwrap_or(false))
    })
    .clone()
}

/// The full version string of `python` (`3.11.7 (main, …) [GCC …]`),
/// asked once per interpreter.
fn python_version(python: &Path) -> Result<String, EnvError> {
    static SEEN: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, v)) = seen.iter().find(|(p, _)| p == python) {
        return Ok(v.clone());
    }
    let output = Command::new(python)
        .args(["-c", "import sys; print(sys.version)"])
        .output()
        .map_err(|source| EnvError::Spawn { program: python.display().to_string(), source })?;
    if !output.status.success() {
        return Err(EnvError::Spawn {
            program: python.display().to_string(),
            source: std::io::Error::other(tail(&output)),
        });
    }
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    seen.push((python.to_owned(), version.clone()));
    Ok(version)
}

/// The environment's name: the package list and the Python it runs on.
pub fn env_hash(requirements: &str, python_version: &str) -> String {
    let mut hasher = Sha3_224::new();
    for part in [requirements, python_version] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Where the environment for `requirements` lives, whether or not it exists.
pub fn env_dir(requirements: &Requirements) -> Result<PathBuf, EnvError> {
    let version = python_version(&base_python())?;
    Ok(clx_plugin_api::state_dir().join("envs").join(env_hash(&requirements.text, &version)))
}

/// The finished environment at `dir`, if there is one.
pub fn existing(dir: &Path) -> Option<CourseEnv> {
    dir.join(MARKER).is_file().then_some(())?;
    let freeze = std::fs::read_to_string(dir.join(FREEZE)).ok()?;
    Some(CourseEnv { prefix: dir.to_owned(), freeze })
}

/// The finished environment in this state dir built last, if any.
pub fn latest() -> Option<CourseEnv> {
    let envs = std::fs::read_dir(clx_plugin_api::state_dir().join("envs")).ok()?;
    let built = |dir: &Path| std::fs::metadata(dir.join(MARKER)).and_then(|m| m.modified()).ok();
    // Only the newest environment's freeze list is read.
    envs.flatten()
        .filter_map(|entry| {
            let dir = entry.path();
            Some((built(&dir)?, dir))
        })
        .max_by_key(|(built, _)| *built)
        .and_then(|(_, dir)| existing(&dir))
}

/// The kernelspecs the environment has been given ([`ensure_kernelspec`]).
pub fn kernelspec_names(env: &CourseEnv) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(env.prefix.join("share/jupyter/kernels")) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("kernel.json").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

impl CourseEnv {
    /// The installed versions of the packages the course names (a lock
    /// notes them `# via -r requirements.txt`) and of ipykernel.
    pub fn key_versions(&self, requirements: &Requirements) -> Vec<String> {
        let mut names = vec!["ipykernel".to_owned()];
        let mut last = None;
        for line in requirements.text.lines() {
            if let Some((name, _)) = line.split_once("==").filter(|_| !line.starts_with([' ', '#'])) {
                last = Some(name.trim().to_ascii_lowercase());
            } else if line.trim_start().starts_with('#') && line.contains("-r requirements.txt") {
                names.extend(last.take());
            }
        }
        self.freeze
            .lines()
            .filter(|l| l.split_once("==").is_some_and(|(n, _)| names.contains(&n.trim().to_ascii_lowercase())))
            .map(str::to_owned)
            .collect()
    }
}

/// The environment for `requirements`, built now unless a finished one
/// exists (`true`: built now). Concurrent builds of the same environment
/// wait for each other.
pub fn provision(requirements: &Requirements) -> Result<(CourseEnv, bool), EnvError> {
    let dir = env_dir(requirements)?;
    if let Some(env) = existing(&dir) {
        return Ok((env, false));
    }
    let envs = dir.parent().map(Path::to_owned).unwrap_or_else(clx_plugin_api::state_dir);
    std::fs::create_dir_all(&envs).map_err(io("cannot create", &envs))?;
    let _lock = lock(&dir.with_extension("lock"))?;
    if let Some(env) = existing(&dir) {
        return Ok((env, false));
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io("cannot remove the unfinished environment", &dir))?;
    }
    build(requirements, &dir)?;
    existing(&dir).map(|env| (env, true)).ok_or_else(|| EnvError::Io {
        what: "the environment was built but its marker is unreadable in",
        path: dir.clone(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })
}

fn build(requirements: &Requirements, dir: &Path) -> Result<(), EnvError> {
    let base = base_python();
    // Beside the venv, not in it: `uv venv` wants a directory of its own.
    let req_file = dir.with_extension("requirements.txt");
    std::fs::write(&req_file, &requirements.text).map_err(io("cannot write", &req_file))?;
    let python = dir.join("bin/python");
    let (python_arg, dir_arg, req_arg) =
        (python.to_string_lossy().into_owned(), dir.to_string_lossy().into_owned(), req_file.to_string_lossy());
    // An installer outlives a worker killed mid-install unless told not to,
    // and would go on writing into the directory the next build replaces;
    // `--clear` covers what such a straggler wrote before it died.
    let run = |program: &Path, args: &[&str]| -> Result<String, EnvError> {
        let mut cmd = Command::new(program);
        clx_sys::process::dying_with_parent(&mut cmd);
        let output = cmd
            .args(args)
            .envs(clx_plugin_api::installer_cache_env())
            .env_remove("VIRTUAL_ENV")
            .env_remove("PYTHONPATH")
            .output()
            .map_err(|source| EnvError::Spawn { program: program.display().to_string(), source })?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let step = std::iter::once(program.display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .collect::<Vec<_>>()
            .join(" ");
        Err(EnvError::Install { env: dir.to_owned(), step, tail: tail(&output) })
    };
    let base_arg = base.to_string_lossy();
    let freeze = match uv() {
        // A lock is installed exactly: its hashes checked, nothing added.
        Some(uv) if requirements.locked => {
            run(&uv, &["venv", "--quiet", "--clear", "--python", &base_arg, &dir_arg])?;
            let sync = ["pip", "sync", "--quiet", "--require-hashes", "--python", &python_arg, &req_arg];
            match run(&uv, &sync) {
                // Just after a release the index can answer one request with
                // it and the next without: the lock names a version uv's
                // cached index page does not list yet. Asked again past the
                // cache, it does; any other failure repeats and is reported.
                Err(EnvError::Install { .. }) => {
                    run(&uv, &[&sync[..], &["--refresh"]].concat())?;
                }
                other => {
                    other?;
                }
            }
            run(&uv, &["pip", "freeze", "--python", &python_arg])?
        }
        Some(uv) => {
            run(&uv, &["venv", "--quiet", "--clear", "--python", &base_arg, &dir_arg])?;
            run(&uv, &["pip", "install", "--quiet", "--python", &python_arg, "-r", &req_arg, "ipykernel"])?;
            run(&uv, &["pip", "freeze", "--python", &python_arg])?
        }
        None => {
            run(&base, &["-m", "venv", "--clear", &dir_arg])?;
            let mut pip = vec!["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", &req_arg];
            pip.extend(if requirements.locked { ["--require-hashes", "--no-deps"] } else { ["ipykernel", ""] });
            pip.retain(|a| !a.is_empty());
            run(&python, &pip)?;
            run(&python, &["-m", "pip", "freeze", "--disable-pip-version-check"])?
        }
    };
    let kept = dir.join("requirements.txt");
    std::fs::rename(&req_file, &kept).map_err(io("cannot write", &kept))?;
    write_atomically(&dir.join(FREEZE), freeze.as_bytes())?;
    let marker = serde_json::json!({
        "requirements": requirements.file,
        "python": python_version(&base)?,
        "installer": if uv().is_some() { "uv" } else { "pip" },
    });
    write_atomically(&dir.join(MARKER), marker.to_string().as_bytes())
}

/// Make sure the environment has kernelspec `name` running its own Python,
/// so kernelspec discovery with the environment first finds it.
pub fn ensure_kernelspec(env: &CourseEnv, name: &str) -> Result<(), EnvError> {
    let dir = env.prefix.join("share/jupyter/kernels").join(name);
    let file = dir.join("kernel.json");
    let spec = serde_json::json!({
        "argv": [env.prefix.join("bin/python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (course environment)",
        "language": "python",
    });
    let text = serde_json::to_string_pretty(&spec).unwrap_or_default();
    if std::fs::read_to_string(&file).is_ok_and(|t| t == text) {
        return Ok(());
    }
    std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
    write_atomically(&file, text.as_bytes())
}

/// Write through a temporary file of this writer's own: the converters of a
/// `clx worker serve` run side by side in one process, and two jobs may make
/// sure of the same environment's kernelspec at once.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), EnvError> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}.{n}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io("cannot write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("cannot write", path))
}

/// An exclusive `flock` on `path`, held until the file is dropped; the kernel
/// releases it when this process dies.
fn lock(path: &Path) -> Result<std::fs::File, EnvError> {
    clx_kernel::rundir::lock_exclusive(path).map_err(io("cannot lock", path))
}

/// The last lines of a process's output, stderr after stdout.
fn tail(output: &std::process::Output) -> String {
    clx_plugin_api::output_tail(output, TAIL_LINES)
}

/// The hint for a module the kernel could not import.
pub fn missing_module_hint(env: Option<&Path>) -> String {
    let place = match env {
        Some(env) => format!("the kernel ran in {}", env.display()),
        None => "the kernel ran outside any known Python environment".to_owned(),
    };
    format!("{place}; declare the package in requirements.txt at the course root")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_name_changes_with_the_packages_and_the_python() {
        let a = env_hash("six==1.16.0\n", "3.11.7");
        assert_eq!(a, env_hash("six==1.16.0\n", "3.11.7"));
        assert_ne!(a, env_hash("six==1.17.0\n", "3.11.7"));
        assert_ne!(a, env_hash("six==1.16.0\n", "3.12.1"));
        assert_eq!(a.len(), 24);
    }

    #[test]
    fn a_directory_without_its_marker_is_not_an_environment() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(FREEZE), "six==1.16.0\n").unwrap();
        assert!(existing(tmp.path()).is_none(), "a half-built env must not count");
        std::fs::write(tmp.path().join(MARKER), "{}").unwrap();
        assert_eq!(existing(tmp.path()).map(|e| e.freeze), Some("six==1.16.0\n".to_owned()));
    }

    #[test]
    fn the_kernelspec_runs_the_environments_own_python() {
        let tmp = tempfile::tempdir().unwrap();
        let env = CourseEnv { prefix: tmp.path().to_owned(), freeze: String::new() };
        ensure_kernelspec(&env, "python3").unwrap();
        let text = std::fs::read_to_string(tmp.path().join("share/jupyter/kernels/python3/kernel.json")).unwrap();
        let spec: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(spec["argv"][0], tmp.path().join("bin/python").to_string_lossy().as_ref());
        assert_eq!(spec["language"], "python");
    }

    #[test]
    fn jobs_side_by_side_in_one_process_make_sure_of_the_same_kernelspec_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let env = CourseEnv { prefix: tmp.path().to_owned(), freeze: String::new() };
        // A stale spec, so every thread writes.
        let dir = tmp.path().join("share/jupyter/kernels/python3");
        std::fs::create_dir_all(&dir).unwrap();
        for _ in 0..20 {
            std::fs::write(dir.join("kernel.json"), "{}").unwrap();
            let failures: Vec<String> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..8).map(|_| scope.spawn(|| ensure_kernelspec(&env, "python3"))).collect();
                handles.into_iter().filter_map(|h| h.join().unwrap().err().map(|e| e.to_string())).collect()
            });
            assert!(failures.is_empty(), "{failures:?}");
        }
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, ["kernel.json"], "no temporary file left");
    }

    #[test]
    fn an_installer_failure_ends_with_the_last_lines_of_its_output() {
        let output = std::process::Command::new("sh")
            .args([
                "-c",
                "for i in $(seq 1 30); do echo line$i; done; echo 'ERROR: No matching distribution' >&2; exit 1",
            ])
            .output()
            .unwrap();
        let e = EnvError::Install { env: PathBuf::from("/e"), step: "pip install".into(), tail: tail(&output) };
        let message = e.to_string();
        assert!(message.contains("`pip install` failed"), "{message}");
        assert!(message.ends_with("ERROR: No matching distribution"), "{message}");
        assert!(!message.contains("line16\n"), "only the last lines: {message}");
    }

    #[test]
    fn an_installer_failure_without_output_says_so_and_how_it_ended() {
        let output = std::process::Command::new("sh").args(["-c", "exit 3"]).output().unwrap();
        let e = EnvError::Install { env: PathBuf::from("/e"), step: "uv venv".into(), tail: tail(&output) };
        assert!(e.to_string().ends_with("its output ends with:\n(it printed nothing; exit status: 3)"), "{e}");
    }
}
