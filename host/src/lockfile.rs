//! A course's Python packages, locked: `requirements.txt` at the course root
//! resolved by uv into `requirements.lock` beside it, every package pinned
//! with its hashes (ipykernel included, which every course environment
//! needs). Builds on any machine and remote workers install exactly the lock,
//! so a package released after the lock was made never reaches the pages.
//!
//! The lock's first line records a hash of the `requirements.txt` it was
//! resolved from: a build that finds the file changed resolves again,
//! keeping every pin the change allows (uv prefers the lock's versions);
//! `clx env update` resolves everything anew on purpose.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The course's loose package list.
pub const REQUIREMENTS: &str = "requirements.txt";
/// The resolution beside it.
pub const LOCK: &str = "requirements.lock";
/// How the lock's first line begins; the hash of `requirements.txt` follows.
const STAMP: &str = "# clx: resolved from requirements.txt ";
/// Packages every course environment needs besides the course's own.
const ALWAYS: &str = "ipykernel\n";
/// How many lines of uv's output an error shows.
const TAIL_LINES: usize = 15;

/// Why a course's packages could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{what} {}: {source}", path.display())]
    /// Reading or writing a file failed.
    Io {
        /// What was attempted, as the message's opening ("cannot read").
        what: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
    #[error("{file}:{line}: the file is not UTF-8 (byte {offset}); save it as UTF-8")]
    /// A package list holds a byte that is not UTF-8.
    NotUtf8 {
        /// The file's name in the course root.
        file: String,
        /// 1-based line of the first bad byte.
        line: u32,
        /// Byte offset of that byte in the file.
        offset: usize,
    },
    #[error("cannot run uv ({program}) to lock the course's Python packages: {source}; run scripts/setup")]
    /// uv could not be started (missing, or not executable).
    Spawn {
        /// The uv executable tried, as a path.
        program: String,
        /// The underlying failure.
        source: std::io::Error,
    },
    #[error("uv cannot resolve the course's Python packages; its output ends with:\n{tail}")]
    /// uv ran but could not resolve the packages.
    Resolve {
        /// The last lines of uv's output, where it says why.
        tail: String,
    },
}

/// One package whose pinned version a resolution changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The package's name as the lock spells it.
    pub package: String,
    /// `None`: newly pinned.
    pub from: Option<String>,
    /// `None`: no longer pinned.
    pub to: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.from, &self.to) {
            (Some(from), Some(to)) => write!(f, "{} {from} -> {to}", self.package),
            (None, Some(to)) => write!(f, "{} {to} (new)", self.package),
            (Some(from), None) => write!(f, "{} {from} (removed)", self.package),
            (None, None) => write!(f, "{}", self.package),
        }
    }
}

/// What making sure of a course's lock did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locked {
    /// The lock was made from the current `requirements.txt`: nothing done.
    Current,
    /// Resolved now (no lock yet, or `requirements.txt` changed since).
    Resolved {
        /// The packages the course names, with their pinned versions.
        direct: Vec<(String, String)>,
        /// Every package whose pin differs from the previous lock (all of
        /// them when there was none).
        changes: Vec<Change>,
        /// Whether a lock existed before.
        replaced: bool,
    },
}

/// Make sure the course at `root` has a lock made from its current
/// `requirements.txt`; `None` for a course without one.
pub fn ensure(root: &Path) -> Result<Option<Locked>, LockError> {
    let Some(requirements) = read_optional(&root.join(REQUIREMENTS))? else { return Ok(None) };
    let old = read_optional(&root.join(LOCK))?;
    if old.as_deref().and_then(|l| l.lines().next()) == Some(stamp(&requirements).as_str()) {
        return Ok(Some(Locked::Current));
    }
    resolve(root, &requirements, old, false).map(Some)
}

/// Resolve the course's packages anew, each at the newest version its
/// requirements allow; `None` for a course without `requirements.txt`.
pub fn update(root: &Path) -> Result<Option<Locked>, LockError> {
    let Some(requirements) = read_optional(&root.join(REQUIREMENTS))? else { return Ok(None) };
    let old = read_optional(&root.join(LOCK))?;
    resolve(root, &requirements, old, true).map(Some)
}

/// A package list's text with Unix line ends, so the stamp of a checkout
/// with Windows line ends matches the one the lock was made from.
fn read_optional(path: &Path) -> Result<Option<String>, LockError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LockError::Io { what: "cannot read", path: path.to_owned(), source }),
    };
    let text = clx_plugin_api::text::decode_owned(bytes).map_err(|at| LockError::NotUtf8 {
        file: file_name(path),
        line: at.line,
        offset: at.offset,
    })?;
    Ok(Some(clx_plugin_api::text::unix_newlines(&text).into_owned()))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn stamp(requirements: &str) -> String {
    format!("{STAMP}{}", &blake3::hash(requirements.as_bytes()).to_hex()[..32])
}

/// Run uv's resolver in the course root (so its notes name
/// `requirements.txt` as the author does), with the old lock as the
/// versions to prefer, and write the new lock atomically.
fn resolve(root: &Path, requirements: &str, old: Option<String>, upgrade: bool) -> Result<Locked, LockError> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| LockError::Io { what, path, source }
    };
    let lock = root.join(LOCK);
    // uv reads the versions to prefer from its output file.
    let scratch = tempfile::Builder::new()
        .prefix(".requirements.lock.")
        .tempfile_in(root)
        .map_err(io("cannot create a file in", root))?;
    if let Some(old) = &old {
        std::fs::write(scratch.path(), old).map_err(io("cannot write", scratch.path()))?;
    }
    let uv = uv();
    let mut cmd = Command::new(&uv);
    cmd.args(["pip", "compile", REQUIREMENTS, "-", "--generate-hashes", "--no-header", "--quiet"])
        .arg("--python")
        .arg(python())
        .arg("--output-file")
        .arg(scratch.path())
        .current_dir(root)
        .envs(clx_plugin_api::installer_cache_env())
        .env_remove("VIRTUAL_ENV")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if upgrade {
        cmd.arg("--upgrade");
    }
    let spawn = |source| LockError::Spawn { program: uv.display().to_string(), source };
    let mut child = cmd.spawn().map_err(spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(ALWAYS.as_bytes()).map_err(spawn)?;
    }
    let output = child.wait_with_output().map_err(spawn)?;
    if !output.status.success() {
        return Err(LockError::Resolve { tail: tail(&output) });
    }
    let resolved = std::fs::read_to_string(scratch.path()).map_err(io("cannot read", scratch.path()))?;
    let text = format!("{}\n{resolved}", stamp(requirements));
    std::fs::write(scratch.path(), &text).map_err(io("cannot write", scratch.path()))?;
    scratch.persist(&lock).map_err(|e| LockError::Io { what: "cannot write", path: lock.clone(), source: e.error })?;
    let (before, after) = (pins(old.as_deref().unwrap_or("")), pins(&text));
    Ok(Locked::Resolved { direct: direct(&text), changes: changes(&before, &after), replaced: old.is_some() })
}

/// `uv` from the tools venv, else from `PATH`.
fn uv() -> PathBuf {
    let tools = clx_plugin_api::tools_dir().map(|d| d.join("venv/bin/uv"));
    tools.filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from("uv"))
}

/// The Python course environments are made from (the tools venv's), so the
/// resolution fits the interpreter the packages are installed for.
fn python() -> PathBuf {
    let tools = clx_plugin_api::tools_dir().map(|d| d.join("venv/bin/python"));
    tools.filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from("python3"))
}

/// `name==version` lines of a lock.
fn pins(lock: &str) -> BTreeMap<String, String> {
    lock.lines()
        .filter(|l| !l.starts_with([' ', '#', '-']))
        .filter_map(|l| {
            let (name, version) = l.split_once("==")?;
            let version = version.split([' ', ';', '\\']).next()?.trim();
            Some((name.trim().to_ascii_lowercase(), version.to_owned()))
        })
        .collect()
}

/// The packages the course itself names (uv notes them `via -r
/// requirements.txt`) and ipykernel, with their versions.
fn direct(lock: &str) -> Vec<(String, String)> {
    let mut direct = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in lock.lines() {
        if let Some(pin) = pins(line).into_iter().next() {
            current = Some(pin);
        } else if line.trim_start().starts_with('#') && line.contains(&format!("-r {REQUIREMENTS}")) {
            if let Some(pin) = current.take() {
                direct.push(pin);
            }
        }
    }
    let ipykernel = pins(lock).remove_entry("ipykernel");
    direct.extend(ipykernel.filter(|k| !direct.contains(k)));
    direct
}

fn changes(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<Change> {
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|n| before.get(*n) != after.get(*n))
        .map(|n| Change { package: n.clone(), from: before.get(n).cloned(), to: after.get(n).cloned() })
        .collect()
}

fn tail(output: &std::process::Output) -> String {
    clx_plugin_api::output_tail(output, TAIL_LINES)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK_TEXT: &str = "# clx: resolved from requirements.txt abc\n\
        ipykernel==7.4.0 \\\n    --hash=sha256:aa\n    # via -r -\n\
        six==1.17.0 \\\n    --hash=sha256:bb\n    # via -r requirements.txt\n\
        traitlets==5.14.3 \\\n    --hash=sha256:cc\n    # via\n    #   ipykernel\n";

    #[test]
    fn the_course_packages_and_ipykernel_are_what_a_lock_names_as_key_versions() {
        assert_eq!(
            direct(LOCK_TEXT),
            [("six".to_owned(), "1.17.0".to_owned()), ("ipykernel".to_owned(), "7.4.0".to_owned())]
        );
        assert_eq!(pins(LOCK_TEXT).len(), 3);
    }

    #[test]
    fn changes_list_upgrades_additions_and_removals() {
        let before = pins(LOCK_TEXT);
        let after = pins("six==1.16.0 \\\nnumpy==2.1.0\nipykernel==7.4.0\n");
        let shown: Vec<String> = changes(&before, &after).iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["numpy 2.1.0 (new)", "six 1.17.0 -> 1.16.0", "traitlets 5.14.3 (removed)"]);
    }

    #[test]
    fn a_lock_is_current_only_for_the_requirements_it_was_made_from() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(ensure(root.path()).unwrap(), None, "no requirements.txt, no lock");
        std::fs::write(root.path().join(REQUIREMENTS), "six\n").unwrap();
        std::fs::write(root.path().join(LOCK), format!("{}\nsix==1.17.0\n", stamp("six\n"))).unwrap();
        assert_eq!(ensure(root.path()).unwrap(), Some(Locked::Current));
        assert_ne!(stamp("six\n"), stamp("six==1.16.0\n"));
    }
}
