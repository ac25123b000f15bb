//! The host-facing side: job options in, one answer per requested output.

use clx_plugin_api::notebook::{NotebookOptions, NotebookOutput};
use clx_plugin_api::*;
use serde_json::Value;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::deck::{build_variant, source_line, DeckError, DeckInput, Format, Variant};
use crate::env::{self, Requirements};
use crate::kind::Kind;
use crate::lang::ProgLang;
use crate::template::Byline;
use crate::{code, execute, ipynb};

/// Set to `1` (by `clx worker serve --sandbox`): kernels run sandboxed
/// whatever the course's settings say.
const SANDBOX_VAR: &str = "CLX_SANDBOX";

/// `[converters.notebook]` in clx.toml.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Seconds a single cell may run (default 120).
    #[serde(default)]
    cell_timeout: Option<u64>,
    /// A Python environment whose kernelspecs come first.
    #[serde(default)]
    venv: Option<std::path::PathBuf>,
    /// Kernelspec per course language over the defaults
    /// (`[converters.notebook.kernels] cpp = "xcpp20"`): used in the
    /// notebooks' metadata and to run the decks.
    #[serde(default)]
    kernels: std::collections::BTreeMap<String, String>,
    /// The packages the decks import, in requirements.txt syntax, for a
    /// course that keeps them here rather than in `requirements.txt` at its
    /// root (which wins).
    #[serde(default)]
    requirements: Option<String>,
    /// When set, kernels see only these variables of clx's environment
    /// (`env = ["HOME", "PATH", "LANG"]`), so the shell's tokens and
    /// credentials stay out of the decks.
    #[serde(default)]
    env: Option<Vec<String>>,
    /// Python kernels fork from a pre-started server (default); `false`
    /// starts each one as its own process, as other languages do.
    #[serde(default, alias = "fork-server")]
    fork_server: Option<bool>,
    /// Modules the Python fork server imports once, so every deck finds
    /// them loaded (`preload = ["numpy", "pandas"]`).
    #[serde(default)]
    preload: Vec<String>,
    /// Run every kernel under bubblewrap: the system read-only, the home
    /// directory, clx's config and its queue and cache out of sight (the
    /// `CLX_SANDBOX=1` a `clx worker serve --sandbox` sets turns it on too).
    #[serde(default)]
    sandbox: Option<bool>,
    /// With `sandbox`: `false` gives kernels no network at all.
    #[serde(default)]
    network: Option<bool>,
}

impl Config {
    /// The sandbox kernels run in, if any; an error when `network = false`
    /// is asked for without one.
    fn sandbox(&self) -> Result<Option<clx_kernel::Sandbox>, String> {
        let forced = std::env::var_os(SANDBOX_VAR).is_some_and(|v| v == "1");
        if !self.sandbox.unwrap_or(forced) {
            if self.network == Some(false) {
                return Err("invalid [converters.notebook] in clx.toml: network = false needs sandbox = true".into());
            }
            return Ok(None);
        }
        let state = clx_plugin_api::state_dir();
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let hidden = [var("HOME"), var("XDG_CONFIG_HOME"), Some(state.clone())].into_iter().flatten().collect();
        let writable = vec![state.join("run"), std::env::temp_dir(), clx_plugin_api::tool_cache_dir("kernels")];
        let mut readable = vec![state.join("envs")];
        readable.extend(clx_plugin_api::tools_dir());
        readable.extend(self.venv.clone());
        Ok(Some(clx_kernel::Sandbox { hidden, writable, readable, network: self.network.unwrap_or(true) }))
    }

    fn fork(&self) -> clx_kernel::ForkOptions {
        clx_kernel::ForkOptions { enabled: self.fork_server.unwrap_or(true), preload: self.preload.clone() }
    }
}

/// A dotted Python module name (`numpy`, `matplotlib.pyplot`): the fork
/// server imports it by name, so nothing else may reach it.
fn is_module_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            part.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
}

pub struct Notebook {
    config: Config,
    kernels: clx_kernel::KernelChoice,
    /// Started on the first deck that needs a kernel; it keeps a warm
    /// kernel ready for the next deck.
    executor: OnceLock<Result<clx_kernel::Executor, String>>,
    /// One executor per course environment, its kernelspecs first; shared
    /// with the thread that starts one ahead.
    env_executors: EnvExecutors,
}

type EnvExecutors = Arc<Mutex<HashMap<PathBuf, Arc<clx_kernel::Executor>>>>;

/// The executor of `course_env` in `executors`, made (no kernel started
/// yet) when there is none: its kernelspecs come before `fallbacks`'.
fn executor_for(
    executors: &EnvExecutors,
    course_env: &env::CourseEnv,
    fallbacks: &[PathBuf],
    fork: clx_kernel::ForkOptions,
) -> Result<Arc<clx_kernel::Executor>, clx_kernel::KernelError> {
    let mut executors = executors.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(executor) = executors.get(&course_env.prefix) {
        return Ok(Arc::clone(executor));
    }
    let mut prefixes = vec![course_env.prefix.clone()];
    prefixes.extend_from_slice(fallbacks);
    let executor = Arc::new(clx_kernel::Executor::with_fork(&prefixes, fork)?);
    executors.insert(course_env.prefix.clone(), Arc::clone(&executor));
    Ok(executor)
}

impl Notebook {
    /// Environments whose kernelspecs come first: the configured venv, then
    /// the tools venv.
    fn env_prefixes(&self) -> Vec<std::path::PathBuf> {
        let mut prefixes: Vec<std::path::PathBuf> = self.config.venv.iter().cloned().collect();
        prefixes.push(env::tools_venv());
        prefixes
    }

    fn executor(&self) -> Result<&clx_kernel::Executor, String> {
        self.executor
            .get_or_init(|| {
                clx_kernel::Executor::with_fork(&self.env_prefixes(), self.config.fork()).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The course's package list: the job's `requirements.txt`, else the
    /// one in clx.toml.
    fn requirements(&self, options: &JobOptions) -> Option<Requirements> {
        options.requirements.clone().or_else(|| {
            self.config.requirements.as_ref().map(|text| Requirements {
                file: "clx.toml [converters.notebook] requirements".to_owned(),
                text: text.clone(),
                locked: false,
            })
        })
    }

    /// The executor whose Python kernel runs in the course environment for
    /// `requirements`, which is built first if need be.
    fn env_executor(
        &self,
        requirements: &Requirements,
        kernel: &str,
        host: &Host<'_>,
    ) -> Result<Arc<clx_kernel::Executor>, Issue> {
        let failed = |message: String| {
            Issue::error(format!("{}{message}", execute::ENVIRONMENT_ERROR))
                .in_file(requirements.file.as_str())
                .environment()
        };
        let (course_env, built) = env::provision(requirements).map_err(|e| failed(e.to_string()))?;
        if built {
            host.info(&format!(
                "course environment {} built from {}: {}",
                course_env.prefix.display(),
                requirements.file,
                course_env.key_versions(requirements).join(", ")
            ));
        }
        env::ensure_kernelspec(&course_env, kernel).map_err(|e| failed(e.to_string()))?;
        executor_for(&self.env_executors, &course_env, &self.env_prefixes(), self.config.fork())
            .map_err(|e| failed(format!("cannot start Jupyter kernels: {e}; run scripts/setup")))
    }

    /// A daemon's head start: the kernel servers of the course environment
    /// built last in this state dir start now, in the background, so the
    /// next build of that course forks its first kernels at once instead
    /// of waiting about a second for the environment's Python to import
    /// ipykernel. Only the kernelspecs a build already gave it; a build of
    /// another course pays for nothing but an idle server.
    fn start_latest_env_ahead(&self) {
        let Some(course_env) = env::latest() else { return };
        let names = env::kernelspec_names(&course_env);
        if names.is_empty() {
            return;
        }
        let (executors, fallbacks, fork) = (Arc::clone(&self.env_executors), self.env_prefixes(), self.config.fork());
        // Best effort: without the thread the first deck starts the server.
        let _ = std::thread::Builder::new().name("clx-env-ahead".into()).spawn(move || {
            if let Ok(executor) = executor_for(&executors, &course_env, &fallbacks, fork) {
                for name in &names {
                    executor.start_fork_server(name);
                }
            }
        });
    }
}

impl Plugin for Notebook {
    fn manifest() -> Manifest {
        Manifest::new("notebook", env!("CARGO_PKG_VERSION"))
            .description("Slide decks to Jupyter notebooks, code files, HTML pages and reveal.js slides")
            .job_type(
                JobTypeDecl::new("notebook", Role::Slides)
                    .description("percent-format deck -> .ipynb / code / HTML / slides per language and kind")
                    .suffixes(&[".py", ".cpp", ".cs", ".java", ".ts", ".rs"])
                    .name_prefixes(&["slides_", "topic_"])
                    .formats(&["ipynb", "code", "html", "slides"]),
            )
    }

    fn new(config: &str) -> Result<Self, String> {
        let config: Config =
            serde_json::from_str(config).map_err(|e| format!("invalid [converters.notebook] in clx.toml: {e}"))?;
        let kernels = clx_kernel::KernelChoice::new(config.kernels.clone())
            .map_err(|e| format!("invalid [converters.notebook.kernels] in clx.toml: {e}"))?;
        if let Some(bad) = config.preload.iter().find(|m| !is_module_name(m)) {
            return Err(format!(
                "invalid [converters.notebook] preload in clx.toml: `{bad}` is not a Python module name"
            ));
        }
        if let Some(names) = &config.env {
            clx_kernel::pass_only_env(names.clone());
        }
        clx_kernel::cache_without_home_in(clx_plugin_api::tool_cache_dir("kernels"));
        if let Some(sandbox) = config.sandbox()? {
            clx_kernel::run_kernels_sandboxed(sandbox)?;
        }
        let notebook = Notebook { config, kernels, executor: OnceLock::new(), env_executors: EnvExecutors::default() };
        if clx_plugin_api::serving() {
            notebook.start_latest_env_ahead();
        }
        Ok(notebook)
    }

    /// The course's Python environment: where `requirements.txt` puts it and
    /// whether it is built and current (its directory is named by the file's
    /// text and the Python version, so a built one is up to date).
    fn doctor(&self, course_root: &str) -> Vec<String> {
        let file = std::path::Path::new(course_root).join("requirements.txt");
        let text = match package_list(&file) {
            Some(text) => text,
            None if self.config.requirements.is_none() => {
                return vec!["course environment: none (no requirements.txt here); decks use the tools venv".into()]
            }
            None => self.config.requirements.clone().unwrap_or_default(),
        };
        let lock = std::path::Path::new(course_root).join("requirements.lock");
        let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if modified(&file).zip(modified(&lock)).is_some_and(|(file, lock)| file > lock) {
            return vec![
                "course environment: not built yet for the changed requirements.txt (newer than requirements.lock); \
                 the next build resolves it again"
                    .into(),
            ];
        }
        let requirements = match package_list(&lock) {
            Some(locked) => Requirements { file: "requirements.lock".into(), text: locked, locked: true },
            None => Requirements { file: "requirements.txt".into(), text, locked: false },
        };
        let packages = requirements.text.lines().filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#')).count();
        match env::env_dir(&requirements) {
            Ok(dir) => match env::existing(&dir) {
                Some(built) => vec![format!(
                    "course environment: {} (up to date: {} package(s) declared, {} installed)",
                    dir.display(),
                    packages,
                    built.freeze.lines().count()
                )],
                None => vec![format!(
                    "course environment: {} not built yet ({packages} package(s) declared); the next build creates it",
                    dir.display()
                )],
            },
            Err(e) => vec![format!("course environment: cannot tell ({e})")],
        }
    }

    fn tool_identity(&self, _job_type: &str) -> Result<String, String> {
        let kernels = execute::kernel_identity(&self.env_prefixes(), &self.kernels);
        // A `requirements.txt` reaches the cache key through the job options;
        // packages listed in clx.toml reach it here.
        Ok(match &self.config.requirements {
            Some(text) => format!("{kernels}; requirements {}", env::env_hash(text, "")),
            None => kernels,
        })
    }

    fn convert(&self, job: &Job, host: &Host<'_>) -> Result<JobResult, Issue> {
        let path = job.source_path.as_str();
        let text = job.source_text()?;
        let options = JobOptions::parse(&job.options).map_err(|m| Issue::error(m).in_file(path))?;
        let input = DeckInput {
            text,
            lang: &options.lang,
            prog_lang: options.prog_lang,
            byline: Byline {
                author: options.author.as_deref(),
                organisation: options.organisation.as_deref(),
                logo: options.logo.as_deref(),
            },
            macros: options.macros.as_deref(),
        };
        let kernel = self.kernels.kernel(options.prog_lang.name()).unwrap_or_default();
        // Only a chosen kernel touches the metadata: the defaults keep the
        // notebooks byte-identical to the older Python tool's.
        let kernelspec =
            self.kernels.is_overridden(options.prog_lang.name()).then(|| options.prog_lang.kernelspec_named(kernel));
        let notebook = |variant: &Variant| {
            let mut nb = variant.notebook();
            if let Some(spec) = &kernelspec {
                nb["metadata"]["kernelspec"] = spec.clone();
            }
            nb
        };
        let mut result = JobResult::new();
        let mut issues: Vec<Issue> = Vec::new();
        let mut html = Vec::new();
        for request in job.outputs.iter() {
            match convert_one(&input, request, &notebook) {
                Ok((bytes, variant)) => {
                    match bytes {
                        Some(bytes) => {
                            result.output(&request.id, bytes);
                        }
                        None => html.push((
                            request.id.to_string(),
                            variant_kind(request),
                            notebook(&variant),
                            renderer(request),
                        )),
                    }
                    for warning in &variant.warnings {
                        let mut issue = Issue::warning(warning.message.as_str()).in_file(path);
                        if let Some(line) = source_line(&variant.rendered, warning.rendered_line, text) {
                            issue = issue.at_line(line);
                        }
                        push_unique(&mut issues, issue);
                    }
                }
                Err(OutputError::Deck(e)) => {
                    result.failed_output(&request.id, e.message.as_str());
                    let mut issue = Issue::error(e.message).in_file(path);
                    if let Some(line) = e.line {
                        issue = issue.at_line(line);
                    }
                    push_unique(&mut issues, issue);
                }
                Err(OutputError::Request(message)) => {
                    result.failed_output(&request.id, message.as_str());
                    push_unique(&mut issues, Issue::error(message).in_file(path));
                }
            }
        }
        for issue in issues {
            result.issue(issue);
        }
        if !html.is_empty() {
            let speaker = build_variant(&input, Kind::Speaker, Format::Html).ok();
            let requirements = (options.prog_lang.name() == "python").then(|| self.requirements(&options)).flatten();
            let env_executor = match (&requirements, options.execute) {
                (Some(requirements), true) => Some(self.env_executor(requirements, kernel, host)),
                _ => None,
            };
            let executor = match &env_executor {
                Some(Ok(executor)) => Some(Ok(&**executor)),
                Some(Err(issue)) => Some(Err(issue.clone())),
                None => options.execute.then(|| {
                    self.executor().map_err(|e| {
                        Issue::error(format!(
                            "{}cannot start Jupyter kernels: {e}; run scripts/setup",
                            execute::ENVIRONMENT_ERROR
                        ))
                        .in_file(path)
                        .environment()
                    })
                }),
            };
            let context = execute::RunContext {
                job,
                prog_lang: options.prog_lang,
                lang: &options.lang,
                course: options.course.as_deref(),
                kernel,
                timeout: Duration::from_secs(self.config.cell_timeout.unwrap_or(120)),
                source: text,
            };
            execute::html_outputs(html, speaker, &context, executor, host, &mut result);
        }
        Ok(result)
    }
}

/// A package list as the build names its environment by: a byte-order mark
/// and CRLF line ends (a Windows checkout) change nothing, so the doctor
/// finds the environment the build made. `None` when it cannot be read.
fn package_list(path: &std::path::Path) -> Option<String> {
    let text = clx_plugin_api::text::decode_owned(std::fs::read(path).ok()?).ok()?;
    Some(clx_plugin_api::text::unix_newlines(&text).into_owned())
}

fn push_unique(issues: &mut Vec<Issue>, issue: Issue) {
    if !issues.contains(&issue) {
        issues.push(issue);
    }
}

enum OutputError {
    Deck(DeckError),
    /// The host asked for something this plugin does not make.
    Request(String),
}

/// How an executed notebook becomes the requested page.
fn renderer(request: &OutputRequest) -> execute::Render {
    match Format::parse(&request.format) {
        Some(Format::Slides) => crate::slides::render,
        _ => crate::html::render,
    }
}

fn variant_kind(request: &OutputRequest) -> Kind {
    serde_json::from_str::<NotebookOutput>(&request.params)
        .ok()
        .and_then(|p| Kind::parse(&p.kind))
        .unwrap_or(Kind::Completed)
}

/// ipynb and code bytes at once; `None` for HTML, which the job renders
/// after executing the deck.
fn convert_one(
    input: &DeckInput<'_>,
    request: &OutputRequest,
    notebook: &dyn Fn(&Variant) -> Value,
) -> Result<(Option<Vec<u8>>, Variant), OutputError> {
    let format = Format::parse(&request.format).ok_or_else(|| {
        OutputError::Request(format!(
            "the notebook plugin cannot produce format `{}` (ipynb, code, html, slides)",
            request.format
        ))
    })?;
    let params: NotebookOutput = serde_json::from_str(&request.params)
        .map_err(|e| OutputError::Request(format!("output {}: params are not JSON: {e}", request.id)))?;
    let kind_name = params.kind.as_str();
    let kind = Kind::parse(kind_name).ok_or_else(|| {
        OutputError::Request(format!(
            "output {}: unknown kind `{kind_name}` (completed, code-along, speaker)",
            request.id
        ))
    })?;
    let variant = build_variant(input, kind, format).map_err(OutputError::Deck)?;
    let bytes = match format {
        Format::Ipynb => Some(ipynb::to_bytes(&notebook(&variant))),
        Format::Code => Some(code::to_bytes(&variant.cells, input.prog_lang, variant.meta.encoding.as_deref())),
        Format::Html | Format::Slides => None,
    };
    Ok((bytes, variant))
}

struct JobOptions {
    lang: String,
    prog_lang: ProgLang,
    author: Option<String>,
    organisation: Option<String>,
    /// The logo as an image URI.
    logo: Option<String>,
    macros: Option<String>,
    /// Run completed and speaker HTML in a kernel.
    execute: bool,
    /// The course, as the host names it: part of the run directory's key.
    course: Option<String>,
    /// The course's `requirements.txt` (`{"path", "text"}`).
    requirements: Option<Requirements>,
}

impl JobOptions {
    fn parse(text: &str) -> Result<JobOptions, String> {
        let options: NotebookOptions =
            serde_json::from_str(text).map_err(|e| format!("notebook job options are not JSON: {e}"))?;
        let lang = options.lang.as_str();
        if lang != "de" && lang != "en" {
            return Err(format!("notebook job option `lang` must be \"de\" or \"en\", not `{lang}`"));
        }
        let prog_name = options.prog_lang.as_str();
        let prog_lang = ProgLang::parse(prog_name).ok_or_else(|| {
            format!(
                "unsupported programming language `{prog_name}`; decks must be python, cpp, csharp, java, typescript or rust"
            )
        })?;
        Ok(JobOptions {
            lang: lang.to_owned(),
            prog_lang,
            author: options.author,
            organisation: options.organisation,
            logo: options.logo,
            macros: options.macros,
            execute: options.execute,
            course: options.course,
            requirements: options.requirements.map(|r| Requirements { file: r.path, text: r.text, locked: r.locked }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_list_saved_on_windows_names_the_same_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requirements.lock");
        std::fs::write(&path, "\u{feff}six==1.16.0 \\\r\n    --hash=sha256:aa\r\n").unwrap();
        assert_eq!(package_list(&path).as_deref(), Some("six==1.16.0 \\\n    --hash=sha256:aa\n"));
        assert_eq!(package_list(&dir.path().join("missing.txt")), None);
    }
}
