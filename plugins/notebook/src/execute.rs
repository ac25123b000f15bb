//! HTML variants: executed once per job in a real Jupyter kernel (the
//! speaker cell set), completed HTML takes its outputs from that run by cell
//! id, code-along HTML never runs a kernel.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clx_kernel::KernelChoice;
use clx_plugin_api::{Host, Issue, Job, JobResult};
use serde_json::Value;
use sha3::{Digest, Sha3_224};

use crate::deck::{source_line, Variant};
use crate::kind::Kind;
use crate::lang::ProgLang;
use crate::shared_run::SharedRun;

/// How an issue that lies in the machine's setup (a kernel not installed,
/// a kernelspec that cannot start) begins: such a result says nothing about
/// the deck and must not be kept as its outcome.
pub const ENVIRONMENT_ERROR: &str = "environment error: ";

/// Stand-in for the kernels' versions in the cache key: per language, the
/// kernelspec chosen and its `kernel.json` (path and modification time), so
/// choosing or installing another kernel runs the decks again.
pub fn kernel_identity(env_prefixes: &[PathBuf], choice: &KernelChoice) -> String {
    let lines: Vec<String> = clx_kernel::survey(env_prefixes, choice)
        .into_iter()
        .map(|s| match s.found {
            Ok(file) => {
                format!("{}={} {} ({})", s.language.prog_lang, s.kernel, file.display(), kernel_fingerprint(&file))
            }
            // The install command, not the whole error with every path searched.
            Err(clx_kernel::KernelError::NoKernelspec { language: Some(l), .. }) => {
                format!("{}={} missing: install it with: {}", s.language.prog_lang, s.kernel, l.install)
            }
            Err(e) => format!("{}={} missing: {e}", s.language.prog_lang, s.kernel),
        })
        .collect();
    lines.join("; ")
}

/// What decides a kernel's behaviour besides the deck: its kernelspec (the
/// command that starts it) and, for a kernel started from a Python
/// environment, the packages installed there (their `*.dist-info` names carry
/// name and version, so an upgraded numpy changes the fingerprint).
fn kernel_fingerprint(kernel_json: &Path) -> String {
    use sha3::{Digest, Sha3_256};
    let mut hasher = Sha3_256::new();
    let spec = std::fs::read(kernel_json).unwrap_or_default();
    hasher.update(&spec);
    let argv0 =
        serde_json::from_slice::<Value>(&spec).ok().and_then(|v| v.get("argv")?.get(0)?.as_str().map(PathBuf::from));
    if let Some(prefix) = argv0.as_deref().and_then(Path::parent).and_then(Path::parent) {
        for lib in ["lib", "lib64"] {
            let Ok(pythons) = std::fs::read_dir(prefix.join(lib)) else { continue };
            for python in pythons.flatten() {
                let Ok(packages) = std::fs::read_dir(python.path().join("site-packages")) else { continue };
                let mut names: Vec<String> = packages
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.ends_with(".dist-info"))
                    .collect();
                names.sort();
                for name in names {
                    hasher.update(name.as_bytes());
                    hasher.update(b"\n");
                }
            }
        }
    }
    hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Where decks run: `$CLX_RUN_DIR`, else `run/` in clx's state dir
/// (`$CLX_HOME`, `$XDG_CACHE_HOME/clx`, `~/.cache/clx`), a path that is the
/// same on every build.
fn run_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("CLX_RUN_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    clx_plugin_api::state_dir().join("run")
}

/// The run directory's name: a hash of the course (when the host names it
/// in the job options), the deck's course-relative path and the language
/// of the page, so the German and English runs of a deck can go at once.
fn run_key(job: &Job, course: Option<&str>, lang: &str) -> String {
    let mut hasher = Sha3_224::new();
    for part in [course.unwrap_or(""), job.source_path.as_str(), lang] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().iter().take(10).map(|b| format!("{b:02x}")).collect()
}

fn seed(dir: &Path, job: &Job) -> Result<(), String> {
    for file in job.siblings.iter() {
        let rel = file.path.as_str();
        if rel.split('/').any(|c| c == ".." || c.is_empty()) {
            continue;
        }
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, file.bytes.as_slice()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

fn has_code(nb: &Value) -> bool {
    nb["cells"].as_array().is_some_and(|c| c.iter().any(|c| c["cell_type"] == "code"))
}

/// What a deck run needs beyond the notebook.
pub struct RunContext<'a> {
    pub job: &'a Job,
    pub prog_lang: ProgLang,
    /// The job's page language (`de`/`en`).
    pub lang: &'a str,
    /// The course's name as the host gives it (part of the run dir's key).
    pub course: Option<&'a str>,
    pub kernel: &'a str,
    pub timeout: Duration,
    /// The deck text, for mapping a failing cell back to its line.
    pub source: &'a str,
}

/// The deck line of a failing cell: the line of the statement the kernel
/// names when it says which one (Python's `Cell In[n], line L`, Deno's
/// `<anonymous>:L:C`, evcxr's `command_n:L:C`, the line jshell quotes),
/// else (a time-out names no statement) the cell's marker.
fn deck_line(speaker: &Variant, cell: usize, traceback: &str, source: &str) -> Option<u32> {
    let cell = speaker.cells.get(cell.checked_sub(1)?)?;
    let marker = cell.rendered_line;
    let marker_line = source_line(&speaker.rendered, marker, source);
    match line_in_cell(traceback, &cell.source) {
        Some(within) => source_line(&speaker.rendered, marker + within, source).or(marker_line),
        None => marker_line,
    }
}

/// The number of the deck cell that holds `line` (1-based): the cell markers
/// (`# %%`, `// %%`) at or above it. Text above the first marker counts as
/// cell 1, as it does in the notebook.
fn deck_cell(source: &str, line: u32, comment: &str) -> u32 {
    let marker = format!("{comment} %%");
    let markers = source.lines().take(line as usize).filter(|l| l.trim_start().starts_with(&marker)).count();
    u32::try_from(markers).unwrap_or(u32::MAX).max(1)
}

/// The 1-based line within the cell that `traceback` blames; 0 for the
/// cell as a whole.
fn line_in_cell(traceback: &str, cell_source: &str) -> Option<usize> {
    let number = |s: &str| {
        s.bytes()
            .take_while(u8::is_ascii_digit)
            .fold(None, |n: Option<usize>, b| Some(n.unwrap_or(0) * 10 + usize::from(b - b'0')))
    };
    // jshell (JJava) quotes the line of a snippet it rejects after `|   `;
    // an exception's frames name only jshell's own snippet numbers
    // (`at .(#16:1)`), which no cell line matches, so they blame the cell.
    if let Some(quoted) = traceback.lines().find_map(|l| l.strip_prefix("|   ")) {
        let quoted = quoted.trim();
        return cell_source.lines().position(|l| l.trim() == quoted).map(|i| i + 1).or(Some(0));
    }
    if traceback.contains("\tat .(#") {
        return Some(0);
    }
    // Deno lists the innermost frame first; the cell's own statement is the
    // outermost one.
    if let Some(at) = traceback.rfind("<anonymous>:") {
        return number(&traceback[at + "<anonymous>:".len()..]);
    }
    // evcxr's report marks the line in its source gutter (` 2 │ let …`);
    // the `command_n:L:C` header does not always point at it.
    if traceback.contains("command_") {
        let plain = clx_kernel::strip_ansi(traceback);
        return plain.lines().find_map(|l| {
            let (gutter, _) = l.split_once('│')?;
            number(gutter.trim()).filter(|_| !gutter.trim().is_empty())
        });
    }
    if let Some(at) = traceback.find("Cell In[") {
        let rest = &traceback[at..];
        let at = rest.find("], line ")?;
        return number(&rest[at + "], line ".len()..]);
    }
    None
}

/// Run the speaker notebook; one retry on a fresh kernel if the kernel died.
fn run(
    speaker: &Variant,
    ctx: &RunContext<'_>,
    executor: &clx_kernel::Executor,
    host: &Host<'_>,
) -> Result<Value, Issue> {
    let path = ctx.job.source_path.as_str();
    let at = |issue: Issue, line: Option<u32>| match line {
        Some(line) => issue.at_line(line),
        None => issue,
    };
    // Whatever stops the kernel rather than a cell (a kernelspec missing, a
    // kernel that cannot start, dies by a signal or `os._exit`, or is stopped
    // at the cell time-out) says nothing sure about the deck: the OOM killer
    // or a busy machine may be gone next build. An environment issue, never
    // cached; the setup errors among them say so in their message.
    let environment = |e: clx_kernel::KernelError| {
        let message = if e.is_environment() { format!("{ENVIRONMENT_ERROR}{e}") } else { e.to_string() };
        Issue::error(message).in_file(path).environment()
    };
    // The deck's own cell number, so the German and English runs (whose
    // notebooks hold different cells) report a failing cell alike.
    let place = |cell: usize, line: Option<u32>| match line {
        Some(line) => (deck_cell(ctx.source, line, ctx.prog_lang.comment()), Some(line)),
        None => (cell as u32, None),
    };
    let notebook = speaker.notebook();
    let key = run_key(ctx.job, ctx.course, ctx.lang);
    // The run dir as this job's pages show it, whether or not it runs.
    let run_dir = neutral_text(&run_root().join(&key));
    let shared = SharedRun::find(&notebook, ctx);
    // Held through this job's own run, so the other language waits for it.
    let _running = shared.as_ref().and_then(SharedRun::lock);
    if let Some((mut nb, other_dir)) = shared.as_ref().and_then(|s| s.take(&notebook)) {
        NeutralPaths { rewrites: vec![(other_dir, run_dir)] }.apply(&mut nb);
        return Ok(nb);
    }
    let dir = clx_kernel::RunDir::claim(&run_root(), &key).map_err(environment)?;
    seed(dir.path(), ctx.job).map_err(|m| Issue::error(m).in_file(path).environment())?;
    let mut last = None;
    for attempt in 0..2 {
        let mut nb = notebook.clone();
        let session = executor.session_for(ctx.prog_lang.name(), ctx.kernel, dir.path());
        for note in executor.take_notes() {
            if note.is_warning() {
                host.warn(&note.to_string());
            } else {
                host.info(&note.to_string());
            }
        }
        let mut session = session.map_err(environment)?;
        let neutral = NeutralPaths::for_run(dir.path(), session.started_in());
        match clx_kernel::execute_until(&mut nb, &mut session, ctx.timeout, &|| host.is_cancelled()) {
            Ok(()) => {
                neutral.apply(&mut nb);
                if let Some(shared) = &shared {
                    shared.keep(&nb, &run_dir);
                }
                return Ok(nb);
            }
            Err(e) if e.is_kernel_death() && attempt == 0 => {
                host.warn(&format!("{path}: {e}; retrying with a fresh kernel"));
                last = Some(e);
            }
            Err(clx_kernel::ExecuteError::CellFailed { cell, ename, evalue, excerpt, traceback }) => {
                let line = deck_line(speaker, cell, &traceback, ctx.source);
                let hint = if ename == "ModuleNotFoundError" {
                    let env = executor.kernelspec(ctx.kernel).ok().and_then(|s| s.env_prefix);
                    format!("\n{}", crate::env::missing_module_hint(env.as_deref()))
                } else {
                    String::new()
                };
                let (cell, line) = place(cell, line);
                let message = format!(
                    "raised {ename}: {evalue}{hint}\n--- cell {cell} ---\n{excerpt}\n--- traceback ---\n{traceback}\n\
                     (tag the cell `raises-exception` if the error is intended)"
                );
                return Err(at(Issue::error(message).in_file(path).at_cell(cell), line));
            }
            Err(clx_kernel::ExecuteError::Kernel { cell, source }) => {
                let (cell, line) = place(cell, deck_line(speaker, cell, "", ctx.source));
                let issue = Issue::error(format!("cell {cell}: {source}")).in_file(path).at_cell(cell).environment();
                return Err(at(issue, line));
            }
        }
    }
    let issue = Issue::error(last.map(|e| e.to_string()).unwrap_or_default()).in_file(path).environment();
    Err(issue)
}

/// What a deck can print that differs from build to build or machine to
/// machine, and what it reads as in the pages instead: the directory a JVM
/// started in (renamed to the deck's directory), the worker's private temp
/// dir (`/tmp`), the run root and the state dir (`$CLX_HOME`), and the
/// kernel's process id in ipykernel's cell file names
/// (`/tmp/ipykernel_<pid>/<hash>.py`, seen in warnings and tracebacks).
/// Rewriting the outputs keeps every path a deck uses real while it runs;
/// only what lands in the page is made the same everywhere.
struct NeutralPaths {
    /// Applied in order: more specific paths first.
    rewrites: Vec<(String, String)>,
}

/// The state dir as pages show it.
const STATE_DIR_PLACEHOLDER: &str = "$CLX_HOME";

impl NeutralPaths {
    fn for_run(run_dir: &Path, started_in: Option<&Path>) -> NeutralPaths {
        let mut rewrites = Vec::new();
        let text = |p: &Path| p.to_string_lossy().trim_end_matches('/').to_owned();
        if let Some(start) = started_in {
            rewrites.push((text(start), text(run_dir)));
        }
        let tmp = text(&std::env::temp_dir());
        if !tmp.is_empty() && tmp != "/tmp" {
            rewrites.push((tmp, "/tmp".to_owned()));
        }
        let state = text(&clx_plugin_api::state_dir());
        let root = text(&run_root());
        if root != format!("{state}/run") {
            rewrites.push((root, format!("{STATE_DIR_PLACEHOLDER}/run")));
        }
        rewrites.push((state, STATE_DIR_PLACEHOLDER.to_owned()));
        rewrites.retain(|(from, _)| !from.is_empty() && from != "/");
        NeutralPaths { rewrites }
    }

    /// Rewrite every string in the notebook's outputs.
    fn apply(&self, nb: &mut Value) {
        let Some(cells) = nb["cells"].as_array_mut() else { return };
        for cell in cells {
            if let Some(outputs) = cell.get_mut("outputs") {
                self.apply_to(outputs);
            }
        }
    }

    fn apply_to(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                for (from, to) in &self.rewrites {
                    if text.contains(from.as_str()) {
                        *text = text.replace(from.as_str(), to);
                    }
                }
                if text.contains(IPYKERNEL_CELL_DIR) {
                    *text = without_pids(text);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.apply_to(v)),
            Value::Object(fields) => fields.values_mut().for_each(|v| self.apply_to(v)),
            _ => {}
        }
    }
}

/// `run_dir` as the pages show it (see [`NeutralPaths`]).
fn neutral_text(run_dir: &Path) -> String {
    let mut text = Value::String(run_dir.to_string_lossy().into_owned());
    NeutralPaths::for_run(run_dir, None).apply_to(&mut text);
    text.as_str().unwrap_or_default().to_owned()
}

/// ipykernel names a cell's code `<tmp>/ipykernel_<pid>/<hash of the code>.py`.
const IPYKERNEL_CELL_DIR: &str = "ipykernel_";

/// `ipykernel_<pid>` -> `ipykernel`.
fn without_pids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(IPYKERNEL_CELL_DIR) {
        let after = &rest[at + IPYKERNEL_CELL_DIR.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            out.push_str(&rest[..at + IPYKERNEL_CELL_DIR.len()]);
        } else {
            out.push_str(&rest[..at]);
            out.push_str("ipykernel");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// Answer the HTML requests `(id, kind, notebook of that variant)` of a job.
/// The speaker notebook is executed once; executed kinds take its outputs.
/// Renders an executed notebook as a page: [`crate::html::render`] or
/// [`crate::slides::render`].
pub type Render = fn(&Value, ProgLang) -> String;

pub fn html_outputs(
    requests: Vec<(String, Kind, Value, Render)>,
    speaker: Option<Variant>,
    ctx: &RunContext<'_>,
    executor: Option<Result<&clx_kernel::Executor, Issue>>,
    host: &Host<'_>,
    result: &mut JobResult,
) {
    let wants_run = requests.iter().any(|(_, k, _, _)| *k != Kind::CodeAlong);
    let executed: Option<Result<Value, Issue>> = match (executor, speaker) {
        (Some(exec), Some(speaker)) if wants_run && has_code(&speaker.notebook()) => Some(match exec {
            Ok(exec) => run(&speaker, ctx, exec, host),
            Err(issue) => Err(issue),
        }),
        _ => None,
    };
    if let Some(Err(issue)) = &executed {
        result.issue(issue.clone());
    }
    for (id, kind, mut nb, render) in requests {
        if kind != Kind::CodeAlong {
            match &executed {
                Some(Ok(done)) => clx_kernel::copy_outputs(done, &mut nb),
                Some(Err(issue)) => {
                    result.failed_output(&id, issue.message.as_str());
                    continue;
                }
                None => {}
            }
        }
        result.output(&id, render(&nb, ctx.prog_lang).into_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernels_fingerprint_changes_with_its_spec_and_the_packages_of_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("venv");
        let site = env.join("lib/python3.11/site-packages");
        std::fs::create_dir_all(&site).unwrap();
        std::fs::create_dir_all(env.join("bin")).unwrap();
        std::fs::create_dir_all(site.join("numpy-2.0.0.dist-info")).unwrap();
        let spec = dir.path().join("kernel.json");
        let write_spec = |extra: &str| {
            let argv =
                format!(r#"{{"argv": ["{}", "-m", "ipykernel_launcher"{extra}]}}"#, env.join("bin/python").display());
            std::fs::write(&spec, argv).unwrap();
        };
        write_spec("");
        let first = kernel_fingerprint(&spec);
        assert_eq!(kernel_fingerprint(&spec), first, "stable while nothing changes");
        std::fs::rename(site.join("numpy-2.0.0.dist-info"), site.join("numpy-2.1.0.dist-info")).unwrap();
        let upgraded = kernel_fingerprint(&spec);
        assert_ne!(upgraded, first, "an upgraded package changes it");
        write_spec(r#", "-f", "{connection_file}""#);
        assert_ne!(kernel_fingerprint(&spec), upgraded, "a changed kernelspec changes it");
    }

    #[test]
    fn a_deck_cell_is_numbered_by_the_markers_above_its_line() {
        let deck = "# %% [markdown] lang=\"de\"\n# Hallo\n\n# %% [markdown] lang=\"en\"\n# Hi\n\n# %%\n1 / 0\n";
        assert_eq!(deck_cell(deck, 8, "#"), 3);
        assert_eq!(deck_cell(deck, 7, "#"), 3);
        assert_eq!(deck_cell(deck, 2, "#"), 1);
        assert_eq!(deck_cell("// j2 x\n// %%\nint x;\n", 3, "//"), 1);
    }

    #[test]
    fn the_failing_line_is_read_from_each_kernels_traceback() {
        assert_eq!(line_in_cell("ReferenceError: x is not defined\n    at <anonymous>:3:1", ""), Some(3));
        let evcxr = "[E0308] Error: mismatched types\n ╭─[ command_6:1:1 ]\n │\n 2 │ let s: i32 = \"x\";";
        assert_eq!(line_in_cell(evcxr, ""), Some(2));
        assert_eq!(line_in_cell("Cell In[4], line 7\n----> 7 1/0", ""), Some(7));
        assert_eq!(line_in_cell("Error: no location", ""), None);
        let jshell =
            "|   System.out.println(a + undefinedThing);\ncannot find symbol\n  symbol:   variable undefinedThing\n";
        let cell = "int a = 1;\nint b = 2;\n  System.out.println(a + undefinedThing);\n";
        assert_eq!(line_in_cell(jshell, cell), Some(3), "the line jshell quotes");
        let thrown = "java.lang.ArithmeticException: / by zero\n\tat .f(#17:3)\n\tat .(#18:1)";
        assert_eq!(line_in_cell(thrown, cell), Some(0), "jshell's snippet numbers blame the cell");
    }

    #[test]
    fn paths_that_differ_between_builds_read_alike_in_the_outputs() {
        let neutral = NeutralPaths {
            rewrites: vec![
                ("/s/tmp/w1/home-x".into(), "/s/run/ab".into()),
                ("/s/tmp/w1".into(), "/tmp".into()),
                ("/s".into(), "$CLX_HOME".into()),
            ],
        };
        let mut nb = serde_json::json!({"cells": [{"cell_type": "code", "outputs": [
            {"output_type": "stream", "text": "/s/tmp/w1/ipykernel_4711/123.py:3: DeprecationWarning: old\n"},
            {"output_type": "execute_result", "data": {"text/plain": ["'/s/run/ab'", "/s/tmp/w1/home-x/f"]}},
            {"output_type": "stream", "text": "ipykernel_ stays, ipykernel_launcher too"},
        ]}]});
        neutral.apply(&mut nb);
        let outputs = &nb["cells"][0]["outputs"];
        assert_eq!(outputs[0]["text"], "/tmp/ipykernel/123.py:3: DeprecationWarning: old\n");
        assert_eq!(outputs[1]["data"]["text/plain"], serde_json::json!(["'$CLX_HOME/run/ab'", "$CLX_HOME/run/ab/f"]));
        assert_eq!(outputs[2]["text"], "ipykernel_ stays, ipykernel_launcher too");
    }

    #[test]
    fn the_run_dir_depends_on_course_deck_and_language_only() {
        let job = |path: &str| Job::new("notebook", path, "x = 1\n");
        let a = run_key(&job("slides/m/t/slides_a.py"), Some("course"), "de");
        assert_eq!(a, run_key(&job("slides/m/t/slides_a.py"), Some("course"), "de"));
        assert_ne!(a, run_key(&job("slides/m/t/slides_a.py"), Some("other"), "de"));
        assert_ne!(a, run_key(&job("slides/m/t/slides_a.py"), Some("course"), "en"));
        assert_ne!(a, run_key(&job("slides/m/u/slides_a.py"), Some("course"), "de"));
    }
}
