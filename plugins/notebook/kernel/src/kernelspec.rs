//! Finding kernelspecs the way Jupyter does, plus the project's tools venv.
//!
//! `jupyter-zmq-client`'s own discovery misses `{sys.prefix}/share/jupyter`
//! and treats `JUPYTER_PATH` as one path, so a venv kernel is not found;
//! the search order here follows jupyter_core's `jupyter_path()`.

use std::path::{Path, PathBuf};

use jupyter_protocol::JupyterKernelspec;

use crate::KernelError;

/// A kernelspec found on disk.
#[derive(Debug, Clone)]
pub struct Kernelspec {
    pub name: String,
    /// The directory holding `kernel.json` (`{resource_dir}`).
    pub dir: PathBuf,
    pub spec: JupyterKernelspec,
    /// The Python env the spec belongs to (`<prefix>/share/jupyter/kernels/…`),
    /// whose interpreter replaces a bare `python` in argv.
    pub env_prefix: Option<PathBuf>,
}

/// The data dirs searched for `kernels/<name>/kernel.json`, first match wins.
pub fn data_dirs(extra_prefixes: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(paths) = std::env::var_os("JUPYTER_PATH") {
        dirs.extend(std::env::split_paths(&paths).filter(|p| !p.as_os_str().is_empty()));
    }
    // Environments we were told about (the project's tools venv) come before
    // the user dir, as jupyter_core does when it runs inside a venv.
    dirs.extend(extra_prefixes.iter().map(|p| p.join("share/jupyter")));
    if let Some(d) = std::env::var_os("JUPYTER_DATA_DIR") {
        dirs.push(PathBuf::from(d));
    } else if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(d).join("jupyter"));
    } else if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".local/share/jupyter"));
    }
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        dirs.push(PathBuf::from(venv).join("share/jupyter"));
    }
    dirs.push(PathBuf::from("/usr/local/share/jupyter"));
    dirs.push(PathBuf::from("/usr/share/jupyter"));
    dirs
}

/// Find kernelspec `name` in `dirs`.
pub fn find(name: &str, dirs: &[PathBuf]) -> Result<Kernelspec, KernelError> {
    for data in dirs {
        let dir = data.join("kernels").join(name);
        let file = dir.join("kernel.json");
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let spec: JupyterKernelspec = serde_json::from_str(&text)
            .map_err(|e| KernelError::BadKernelspec { path: file.clone(), message: e.to_string() })?;
        if spec.argv.is_empty() {
            return Err(KernelError::BadKernelspec { path: file, message: "argv is empty".into() });
        }
        let env_prefix = env_prefix_of(data);
        return Ok(Kernelspec { name: name.to_owned(), dir, spec, env_prefix });
    }
    Err(KernelError::NoKernelspec { name: name.to_owned(), searched: dirs.to_vec(), language: None })
}

/// `<prefix>/share/jupyter` -> `<prefix>` when that prefix has a Python.
fn env_prefix_of(data_dir: &Path) -> Option<PathBuf> {
    let prefix = data_dir.parent()?.parent()?;
    prefix.join("bin/python").exists().then(|| prefix.to_owned())
}

/// IPython's option that keeps a kernel's input history in memory only.
const NO_HISTORY: &str = "--HistoryManager.enabled=False";

impl Kernelspec {
    /// argv with `{connection_file}` and `{resource_dir}` filled in and a bare
    /// `python` replaced by the spec's own interpreter (otherwise `PATH`
    /// decides, and a Python without ipykernel dies at start).
    pub fn argv(&self, connection_file: &Path) -> Vec<String> {
        let mut argv: Vec<String> = self
            .spec
            .argv
            .iter()
            .map(|a| {
                a.replace("{connection_file}", &connection_file.to_string_lossy())
                    .replace("{resource_dir}", &self.dir.to_string_lossy())
            })
            .collect();
        if let (Some(first), Some(prefix)) = (argv.first_mut(), &self.env_prefix) {
            if matches!(first.as_str(), "python" | "python3") || first.starts_with("python3.") {
                *first = prefix.join("bin/python").to_string_lossy().into_owned();
            }
        }
        if self.spec.language.eq_ignore_ascii_case("java")
            && argv.first().is_some_and(|java| Path::new(java).file_name().is_some_and(|n| n == "java"))
        {
            let options = crate::launch::jvm_options();
            argv.splice(1..1, options.split_whitespace().map(str::to_owned));
        }
        // A deck's run is never looked up again: IPython's input history
        // would only cost each kernel an SQLite file (with a commit at start)
        // in the shared IPython dir and a thread to save it.
        if argv.iter().any(|a| a.starts_with("ipykernel")) {
            argv.push(NO_HISTORY.to_owned());
        }
        argv
    }

    pub fn interrupt_by_message(&self) -> bool {
        self.spec.interrupt_mode.as_deref() == Some("message")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_in(data: &Path, name: &str, json: &str) -> Kernelspec {
        let dir = data.join("kernels").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("kernel.json"), json).unwrap();
        find(name, &[data.to_owned()]).unwrap()
    }

    #[test]
    fn a_java_kernelspec_running_java_gets_the_deck_jvm_options_right_after_java() {
        let data = tempfile::tempdir().unwrap();
        let direct = spec_in(
            data.path(),
            "java",
            r#"{"argv": ["java", "--add-opens", "jdk.jshell/jdk.jshell=ALL-UNNAMED", "-jar",
                "{resource_dir}/jjava.jar", "{connection_file}"], "display_name": "Java", "language": "java"}"#,
        );
        let argv = direct.argv(Path::new("/c.json"));
        let options: Vec<String> = crate::launch::jvm_options().split_whitespace().map(str::to_owned).collect();
        assert!(!options.is_empty());
        assert_eq!(argv[0], "java");
        assert_eq!(argv[1..=options.len()], options[..], "{argv:?}");
        assert_eq!(argv[options.len() + 1..options.len() + 3], ["--add-opens", "jdk.jshell/jdk.jshell=ALL-UNNAMED"]);
        assert_eq!(argv.last().map(String::as_str), Some("/c.json"));
        let other = spec_in(
            data.path(),
            "kotlin",
            r#"{"argv": ["java", "-jar", "kotlin.jar", "{connection_file}"], "display_name": "K", "language": "kotlin"}"#,
        );
        assert_eq!(
            other.argv(Path::new("/c.json")),
            ["java", "-jar", "kotlin.jar", "/c.json"],
            "only Java decks' JVMs"
        );
    }
}
