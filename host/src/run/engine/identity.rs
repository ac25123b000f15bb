//! Tool identities: what a plugin's external tool is (a version, a hash),
//! part of every job's cache key. Plugins are asked in `clx worker --probe`
//! processes with a time-out (a plugin that aborts or hangs while starting
//! fails its jobs, not the build), and the answers are remembered in the
//! cache index, keyed by the plugin library, its settings, the environment
//! and the places tools are installed: an unchanged rebuild only hashes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::{Config, NO_SETTINGS};
use crate::course::plan::Plan;
use crate::plugin::Registry;
use crate::process::{Group, Waited};
use crate::run::protocol::Capability;
use crate::run::remote::{unserved_message, unserved_note, UNSERVED_GRACE, UNSERVED_NOTE};
use crate::run::worker::ProbeAnswer;
use crate::signals::Interrupt;
use crate::store::{requirement, Cache, ServerRecord, SharedQueue};

/// Why a job type has no tool identity, or a plugin no library hash: its
/// jobs fail with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The plugin is not among the loaded ones.
    #[error("plugin `{0}` is not loaded; see `clx plugins list`")]
    NotLoaded(String),
    /// The plugin library cannot be read (to hash it).
    #[error("cannot read plugin {}: {message}", path.display())]
    Library {
        /// The library file.
        path: PathBuf,
        /// What the system said.
        message: String,
    },
    /// No probe answered for the job type.
    #[error("{job_type}: the {plugin} plugin named no tool identity")]
    Missing {
        /// The job type.
        job_type: String,
        /// Its plugin.
        plugin: String,
    },
    /// The plugin's answer left the job type out.
    #[error("{job_type}: the {plugin} plugin named no tool identity for `{job_type}`")]
    Unnamed {
        /// The job type.
        job_type: String,
        /// Its plugin.
        plugin: String,
    },
    /// The plugin could not name the job type's tool (it is missing, say).
    #[error("{job_type}: {message}")]
    Tool {
        /// The job type.
        job_type: String,
        /// The plugin's words.
        message: String,
    },
    /// The probe process could not be started.
    #[error("cannot start the {plugin} plugin's probe: {message}")]
    Spawn {
        /// The plugin.
        plugin: String,
        /// What the system said.
        message: String,
    },
    /// Ctrl-C or SIGTERM stopped the probe.
    #[error("the {0} plugin's probe was interrupted")]
    Interrupted(String),
    /// The probe ran past its time-out.
    #[error(
        "the {plugin} plugin did not start within {secs} s: its new() or tool_identity() hangs ({})",
        path.display()
    )]
    Hangs {
        /// The plugin.
        plugin: String,
        /// The time-out.
        secs: u64,
        /// Its library.
        path: PathBuf,
    },
    /// The probe process died.
    #[error("the {plugin} plugin crashed while starting ({how}){detail} ({})", path.display())]
    Crashed {
        /// The plugin.
        plugin: String,
        /// How the process ended.
        how: String,
        /// `: ` and the last line it wrote on stderr, or nothing.
        detail: String,
        /// Its library.
        path: PathBuf,
    },
    /// The plugin loaded but refused to start.
    #[error("{0}")]
    CannotStart(String),
    /// The probe printed no answer clx can read.
    #[error("the {plugin} plugin's probe gave no answer ({message})")]
    NoAnswer {
        /// The plugin.
        plugin: String,
        /// What was wrong with the answer.
        message: String,
    },
    /// With no workers of its own, the build found no `clx worker serve`
    /// that serves the job type with this plugin library: the job type and
    /// what to do, as the build loop says it of jobs no worker takes.
    #[error("{message}")]
    NoServer {
        /// The job type.
        job_type: String,
        /// What to start or change.
        message: String,
    },
    /// The workers serving a job type name different tools: the build
    /// cannot key its jobs for both.
    #[error(
        "the workers serving `{job_type}` jobs have different tools: {first} has `{first_identity}`, {second} has \
         `{second_identity}`; install the same tools on every worker machine (scripts/setup with the same \
         arguments), or stop one of them"
    )]
    Disagree {
        /// The job type.
        job_type: String,
        /// One worker (id, machine, pid).
        first: String,
        /// Its tool identity.
        first_identity: String,
        /// A worker with another tool.
        second: String,
        /// Its tool identity.
        second_identity: String,
    },
    /// The thread that ran the probe failed.
    #[error("the probe of the {0} plugin failed")]
    ProbeFailed(String),
}

/// How long a plugin may take to start and name its tools (capped further
/// by `--job-timeout`).
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// A plugin's answer as the probe printed it: the tool identity, or the
/// plugin's reason there is none, per job type.
type Answer = BTreeMap<String, Result<String, String>>;

/// The tool identity of every job type and the library hash of every plugin
/// asked so far; one engine asks once.
#[derive(Debug, Default)]
pub(super) struct ToolIdentities {
    identities: HashMap<String, Result<String, IdentityError>>,
    libraries: HashMap<String, Result<String, IdentityError>>,
}

impl ToolIdentities {
    /// The tool identity of `job_type` (of `plugin`).
    pub(super) fn identity(&self, job_type: &str, plugin: &str) -> Result<String, IdentityError> {
        self.identities
            .get(job_type)
            .cloned()
            .unwrap_or_else(|| Err(IdentityError::Missing { job_type: job_type.to_owned(), plugin: plugin.to_owned() }))
    }

    /// The library hash of `plugin`.
    pub(super) fn library(&self, plugin: &str) -> Result<String, IdentityError> {
        self.libraries.get(plugin).cloned().unwrap_or_else(|| Err(IdentityError::NotLoaded(plugin.to_owned())))
    }

    /// Settle every plan job type not asked yet: from the cache index when
    /// remembered, else the probes this returns (to run with
    /// [`ToolIdentities::probe`]). A plugin that is not loaded or cannot be
    /// read settles its job types with that error.
    /// `remembered`: whether answers remembered in the cache index count
    /// (not when they must come from other machines' workers).
    pub(super) fn look_up(
        &mut self,
        plan: &Plan,
        registry: &Registry,
        config: &Config,
        cache: &dyn Cache,
        remembered: bool,
    ) -> Vec<Probe> {
        let mut wanted: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for job in plan.every_job() {
            if !self.identities.contains_key(&job.job_type) {
                let types = wanted.entry(job.plugin.as_str()).or_default();
                if !types.contains(&job.job_type) {
                    types.push(job.job_type.clone());
                }
            }
        }
        let mut probes: Vec<Probe> = Vec::new();
        // Stats every PATH and tools directory: once per build, not per plugin.
        let environment = if wanted.is_empty() { String::new() } else { environment_fingerprint() };
        for (plugin, job_types) in wanted {
            let Some(loaded) = registry.plugin(plugin) else {
                self.settle(&job_types, &IdentityError::NotLoaded(plugin.to_owned()));
                continue;
            };
            let library = library_hash(cache, &loaded.path);
            self.libraries.insert(plugin.to_owned(), library.clone());
            let library = match library {
                Ok(l) => l,
                Err(error) => {
                    self.settle(&job_types, &error);
                    continue;
                }
            };
            let probe =
                Probe::new(plugin, &loaded.path, config.converter_json(plugin), job_types, &library, &environment);
            match probe.remembered(cache).filter(|_| remembered) {
                Some(ids) => self.identities.extend(ids.into_iter().map(|(t, id)| (t, Ok(id)))),
                None => probes.push(probe),
            }
        }
        probes
    }

    /// Run `probes` side by side (a plugin may run its tool to learn its
    /// version, `chromium --version` a tenth of a second) and settle their job
    /// types; a complete answer is remembered in the cache index. Answers cut
    /// short by the interrupt are no answers: the next build asks again.
    pub(super) fn probe(&mut self, probes: &[Probe], run: &ProbeRun<'_>, cache: &dyn Cache) {
        let answers: Vec<(&Probe, Result<Answer, IdentityError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = probes.iter().map(|p| (p, scope.spawn(move || p.run(run)))).collect();
            handles
                .into_iter()
                .map(|(p, h)| (p, h.join().unwrap_or_else(|_| Err(IdentityError::ProbeFailed(p.plugin.clone())))))
                .collect()
        });
        if run.interrupt.is_set() {
            return;
        }
        for (probe, answer) in answers {
            match answer {
                Ok(ids) => {
                    probe.remember(&ids, cache);
                    for (t, id) in ids.iter().filter_map(|(t, id)| Some((t, id.as_ref().ok()?))) {
                        probe.remember_last(t, id, cache);
                    }
                    for t in &probe.job_types {
                        let id = match ids.get(t) {
                            Some(Ok(id)) => Ok(id.clone()),
                            Some(Err(message)) => {
                                Err(IdentityError::Tool { job_type: t.clone(), message: message.clone() })
                            }
                            None => Err(IdentityError::Unnamed { job_type: t.clone(), plugin: probe.plugin.clone() }),
                        };
                        self.identities.insert(t.clone(), id);
                    }
                }
                Err(error) => self.settle(&probe.job_types, &error),
            }
        }
    }

    /// Settle the job types of `probes` for plugins without settings from
    /// the tool identities the queue's live `clx worker serve` processes
    /// registered, so a build with no workers of its own runs no tool here.
    /// Every worker serving a job type must name the same tool; a job type
    /// no worker serves now takes the identity last named for it (by a
    /// worker or a machine's own probe, kept in the cache), else is waited
    /// for up to [`UNSERVED_GRACE`], with `note` told after three seconds. Returns the probes left to run here:
    /// plugins with settings, whose identity the workers cannot know.
    pub(super) fn ask_servers(
        &mut self,
        probes: Vec<Probe>,
        cache: &dyn Cache,
        shared: &dyn SharedQueue,
        queue: &str,
        interrupt: &Interrupt,
        note: &mut dyn FnMut(String),
    ) -> Vec<Probe> {
        let (remote, local): (Vec<Probe>, Vec<Probe>) = probes.into_iter().partition(|p| p.config == NO_SETTINGS);
        let mut open: Vec<(String, String, Option<String>)> = remote
            .iter()
            .flat_map(|p| p.job_types.iter().map(|t| (t.clone(), requirement(t, &p.library), p.last(t, cache))))
            .collect();
        let started = Instant::now();
        let mut noted = false;
        let mut first = true;
        while !open.is_empty() && !interrupt.is_set() {
            let servers = match shared.servers() {
                Ok(servers) => servers,
                Err(e) => {
                    for (job_type, _, _) in open.drain(..) {
                        let error = IdentityError::Tool { job_type: job_type.clone(), message: e.to_string() };
                        self.identities.insert(job_type, Err(error));
                    }
                    break;
                }
            };
            open.retain(|(job_type, requirement, last)| {
                let identity = match agreed(&servers, job_type, requirement) {
                    Some(identity) => identity,
                    // No worker serves it now: the tool the last machine to
                    // name one named keys the jobs, so results in the cache
                    // need no worker, and a worker that comes later and
                    // has another tool refuses the rest.
                    None if first => match last {
                        Some(last) => Ok(last.clone()),
                        None => return true,
                    },
                    None => return true,
                };
                if let Some(probe) = remote.iter().find(|p| p.job_types.contains(job_type)) {
                    if let Ok(id) = &identity {
                        probe.remember_last(job_type, id, cache);
                    }
                }
                self.identities.insert(job_type.clone(), identity);
                false
            });
            first = false;
            if open.is_empty() {
                break;
            }
            if !noted && started.elapsed() >= UNSERVED_NOTE {
                noted = true;
                for (job_type, _, _) in &open {
                    note(format!("`{job_type}` jobs {}", unserved_note(queue)));
                }
            }
            if started.elapsed() >= UNSERVED_GRACE {
                for (job_type, _, _) in open.drain(..) {
                    let message = unserved_message(queue, &job_type);
                    self.identities.insert(job_type.clone(), Err(IdentityError::NoServer { job_type, message }));
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        local
    }

    fn settle(&mut self, job_types: &[String], error: &IdentityError) {
        for t in job_types {
            self.identities.insert(t.clone(), Err(error.clone()));
        }
    }
}

/// How probes run: the executable, its log level, the time-out and the
/// interrupt that stops them.
pub(super) struct ProbeRun<'a> {
    pub(super) exe: &'a Path,
    pub(super) log_level: &'a str,
    pub(super) timeout: Duration,
    pub(super) interrupt: &'a Interrupt,
}

/// One plugin to ask for its tool identities.
#[derive(Debug)]
pub(super) struct Probe {
    plugin: String,
    path: PathBuf,
    config: String,
    pub(super) job_types: Vec<String>,
    /// The hash of its library.
    library: String,
    /// Where the answer is remembered in the cache index.
    memo_key: String,
}

impl Probe {
    fn new(
        plugin: &str,
        path: &Path,
        config: String,
        job_types: Vec<String>,
        library: &str,
        environment: &str,
    ) -> Probe {
        let probe = Probe {
            plugin: plugin.to_owned(),
            path: path.to_owned(),
            config,
            job_types,
            library: library.to_owned(),
            memo_key: String::new(),
        };
        Probe { memo_key: probe.memo_key(library, environment), ..probe }
    }

    /// The identities remembered for every one of its job types, if any.
    fn remembered(&self, cache: &dyn Cache) -> Option<BTreeMap<String, String>> {
        let json = cache.memo(&self.memo_key).ok().flatten()?;
        let ids = serde_json::from_str::<BTreeMap<String, String>>(&json).ok()?;
        self.job_types.iter().all(|t| ids.contains_key(t)).then_some(ids)
    }

    /// The last tool identity any machine named for `job_type` of this
    /// plugin library under these settings.
    fn last(&self, job_type: &str, cache: &dyn Cache) -> Option<String> {
        cache.memo(&self.last_key(job_type)).ok().flatten()
    }

    /// Remember `identity` as the last one named for `job_type`, for a
    /// build on a machine without tools while no worker is connected.
    fn remember_last(&self, job_type: &str, identity: &str, cache: &dyn Cache) {
        if self.last(job_type, cache).as_deref() != Some(identity) {
            let _ = cache.put_memo(&self.last_key(job_type), identity);
        }
    }

    /// Where [`Probe::last`] is kept: by library, settings and job type,
    /// whatever machine named it.
    fn last_key(&self, job_type: &str) -> String {
        memo_name("identity-last", &["last-tool-identity", &self.library, &self.config, job_type])
    }

    /// Remember a complete answer: a missing tool is looked for again next
    /// build.
    fn remember(&self, answer: &Answer, cache: &dyn Cache) {
        let all: Option<BTreeMap<&String, &String>> =
            answer.iter().map(|(t, id)| id.as_ref().ok().map(|id| (t, id))).collect();
        if let Some(json) = all.and_then(|all| serde_json::to_string(&all).ok()) {
            let _ = cache.put_memo(&self.memo_key, &json);
        }
    }

    /// The answer holds while the plugin library, its settings, the job types
    /// asked, the environment and the places tools live in stay the same.
    /// The host cannot know which files a plugin's tool consists of, so it
    /// fingerprints where tools get installed: every `PATH` directory, the
    /// tools dir and Jupyter's kernel dirs (installing or upgrading a package
    /// renames files there, which changes the directory's mtime), and the
    /// site-packages of Python environments in the tools dir. A tool changed
    /// elsewhere deeper down is noticed after `clx cache clear`.
    fn memo_key(&self, library: &str, environment: &str) -> String {
        memo_name(
            "identity",
            &[
                "tool-identity",
                env!("CARGO_PKG_VERSION"),
                &self.path.to_string_lossy(),
                library,
                &self.config,
                &self.job_types.join("\n"),
                environment,
            ],
        )
    }

    /// Run `clx worker --probe` in a process group of its own and wait up to
    /// the time-out: a plugin that aborts or hangs in `new()` or
    /// `tool_identity()` costs its own jobs, never the build.
    fn run(&self, run: &ProbeRun<'_>) -> Result<Answer, IdentityError> {
        use std::io::Read;
        use std::process::{Command, Stdio};
        let plugin = &self.plugin;
        let mut cmd = Command::new(run.exe);
        cmd.arg("--log-level").arg(run.log_level).arg("worker").arg("--probe").arg("--plugin").arg(&self.path);
        for t in &self.job_types {
            cmd.arg("--job-type").arg(t);
        }
        cmd.env("CLX_PLUGIN_CONFIG", &self.config).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = Group::spawn(&mut cmd)
            .map_err(|e| IdentityError::Spawn { plugin: plugin.clone(), message: e.to_string() })?;
        let read = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_string(&mut text);
                }
                text
            })
        };
        let stdout = read(child.take_stdout().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let stderr = read(child.take_stderr().map(|p| Box::new(p) as Box<dyn Read + Send>));
        // Whatever the plugin started in the probe's group goes with it.
        let status = match child.wait_until(Instant::now() + run.timeout, run.interrupt.flag()) {
            Waited::Exited(status) => status,
            Waited::Stopped => return Err(IdentityError::Interrupted(plugin.clone())),
            Waited::TimedOut => {
                return Err(IdentityError::Hangs {
                    plugin: plugin.clone(),
                    secs: run.timeout.as_secs(),
                    path: self.path.clone(),
                })
            }
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        if !status.success() {
            let how = crate::run::pool::describe_exit(&status).unwrap_or_else(|| "ended".to_owned());
            let detail = stderr.lines().rev().find(|l| !l.trim().is_empty()).map(|l| format!(": {}", l.trim()));
            return Err(IdentityError::Crashed {
                plugin: plugin.clone(),
                how,
                detail: detail.unwrap_or_default(),
                path: self.path.clone(),
            });
        }
        let answer = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
        match serde_json::from_str::<ProbeAnswer>(answer) {
            Ok(ProbeAnswer::Identities(ids)) => Ok(ids),
            Ok(ProbeAnswer::CannotStart(message)) => Err(IdentityError::CannotStart(message)),
            Err(e) => Err(IdentityError::NoAnswer { plugin: plugin.clone(), message: e.to_string() }),
        }
    }
}

/// A name in the cache index's memo: `prefix:` and the hash of `parts`,
/// each length-prefixed so no two lists of parts give the same bytes.
fn memo_name(prefix: &str, parts: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    for part in parts {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    format!("{prefix}:{}", h.finalize().to_hex())
}

/// The tool identity the live servers of `requirement` registered for
/// `job_type`: `None` while none has; an error when they name different
/// tools, or when none of them has the tool.
fn agreed(servers: &[ServerRecord], job_type: &str, requirement: &str) -> Option<Result<String, IdentityError>> {
    let answers: Vec<(String, Result<String, String>)> = servers
        .iter()
        .filter(|s| s.requirements.iter().any(|r| r == requirement))
        .flat_map(|s| {
            let who = format!("worker {} on {} (pid {})", s.id.0, s.host, s.pid);
            Capability::parse_all(&s.capabilities)
                .into_iter()
                .filter(|c| c.job_type == job_type)
                .map(move |c| (who.clone(), c.identity))
        })
        .collect();
    let mut found = answers.iter().filter_map(|(who, id)| Some((who, id.as_ref().ok()?)));
    let Some((first, first_identity)) = found.next() else {
        // Workers without the tool refuse such jobs; say why from the first.
        let (who, why) = answers.first()?;
        let message = format!("{who}: {}", why.as_ref().err()?);
        return Some(Err(IdentityError::Tool { job_type: job_type.to_owned(), message }));
    };
    if let Some((second, second_identity)) = found.find(|(_, id)| id != &first_identity) {
        return Some(Err(IdentityError::Disagree {
            job_type: job_type.to_owned(),
            first: first.clone(),
            first_identity: first_identity.clone(),
            second: second.clone(),
            second_identity: second_identity.clone(),
        }));
    }
    Some(Ok(first_identity.clone()))
}

/// Environment variables that change with every shell or terminal and that
/// no tool takes its version from.
const VOLATILE_VARS: &[&str] = &[
    "_",
    "PWD",
    "OLDPWD",
    "SHLVL",
    "COLUMNS",
    "LINES",
    "WINDOWID",
    "TERM_SESSION_ID",
    "SSH_CLIENT",
    "SSH_CONNECTION",
    "SSH_TTY",
    "SSH_AUTH_SOCK",
    "GPG_TTY",
    "TMUX",
    "TMUX_PANE",
    "STY",
    "XDG_SESSION_ID",
    "XDG_VTNR",
    "CLX_LOG",
];

/// What a tool's identity can depend on outside the plugin: the environment
/// and the modification times of the directories tools are installed into.
fn environment_fingerprint() -> String {
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .filter(|(k, _)| !VOLATILE_VARS.contains(&k.as_str()))
        .collect();
    vars.sort();
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(tools) = clx_plugin_api::tools_dir() {
        if let Ok(entries) = std::fs::read_dir(&tools) {
            for entry in entries.flatten() {
                // A Python environment in the tools dir (the kernels' venv):
                // installing or upgrading a package there changes its
                // site-packages directory, and kernels' identities with it.
                for lib in ["lib", "lib64"] {
                    if let Ok(pythons) = std::fs::read_dir(entry.path().join(lib)) {
                        dirs.extend(pythons.flatten().map(|p| p.path().join("site-packages")));
                    }
                }
                dirs.push(entry.path());
            }
        }
        dirs.push(tools);
    }
    if let Some(data) = crate::config::data_home() {
        dirs.push(data.join("jupyter/kernels"));
    }
    for jupyter in
        std::env::var_os("JUPYTER_PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default()
    {
        dirs.push(jupyter.join("kernels"));
    }
    dirs.push(PathBuf::from("/usr/local/share/jupyter/kernels"));
    dirs.push(PathBuf::from("/usr/share/jupyter/kernels"));
    let mut out = String::new();
    for (k, v) in vars {
        out.push_str(&format!("{k}={v}\n"));
    }
    for dir in dirs {
        let stamp = std::fs::metadata(&dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos());
        out.push_str(&format!("{}:{stamp:?}\n", dir.display()));
    }
    out
}

/// The BLAKE3 hash of a plugin library, remembered in the cache index by the
/// file's path, size, inode and times, so an unchanged rebuild does not read
/// libraries of tens of megabytes.
pub(crate) fn library_hash(cache: &dyn Cache, path: &Path) -> Result<String, IdentityError> {
    use std::os::unix::fs::MetadataExt;
    let unreadable = |e: std::io::Error| IdentityError::Library { path: path.to_owned(), message: e.to_string() };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    let key = format!(
        "library:{}:{}:{}:{}.{}:{}.{}",
        path.display(),
        meta.len(),
        meta.ino(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    );
    if let Ok(Some(hash)) = cache.memo(&key) {
        return Ok(hash);
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let _ = cache.put_memo(&key, &hash);
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::run::engine::tests::Fixture;
    use crate::store::WorkerId;

    /// A live `clx worker serve` of the notebook type that names `identity`.
    fn server(id: i64, library: &str, identity: Result<&str, &str>) -> ServerRecord {
        let capability = Capability {
            job_type: "notebook".into(),
            plugin: "notebook".into(),
            version: "0.1.0".into(),
            library: library.into(),
            identity: identity.map(str::to_owned).map_err(str::to_owned),
        };
        ServerRecord {
            id: WorkerId(id),
            host: format!("m{id}"),
            pid: 100 + id,
            requirements: vec![requirement("notebook", library)],
            capabilities: serde_json::to_string(&[capability]).unwrap(),
        }
    }

    #[test]
    fn workers_that_name_the_same_tool_give_it_to_the_build() {
        let servers = [server(1, "lib", Ok("python3 a")), server(2, "lib", Ok("python3 a"))];
        assert_eq!(agreed(&servers, "notebook", &requirement("notebook", "lib")), Some(Ok("python3 a".into())));
    }

    #[test]
    fn workers_of_another_plugin_library_are_not_asked() {
        let servers = [server(1, "other", Ok("python3 a"))];
        assert_eq!(agreed(&servers, "notebook", &requirement("notebook", "lib")), None);
    }

    #[test]
    fn workers_that_name_different_tools_are_an_error_naming_both() {
        let servers = [server(1, "lib", Ok("python3 a")), server(2, "lib", Ok("python3 b"))];
        let error = agreed(&servers, "notebook", &requirement("notebook", "lib")).unwrap().unwrap_err().to_string();
        for part in ["`notebook`", "worker 1 on m1 (pid 101)", "`python3 a`", "worker 2 on m2 (pid 102)", "`python3 b`"]
        {
            assert!(error.contains(part), "{part}: {error}");
        }
    }

    #[test]
    fn a_worker_without_the_tool_leaves_it_to_those_with_it_and_alone_says_why() {
        let without = server(1, "lib", Err("no kernel"));
        let with = server(2, "lib", Ok("python3 a"));
        let wanted = requirement("notebook", "lib");
        assert_eq!(agreed(&[without.clone(), with], "notebook", &wanted), Some(Ok("python3 a".into())));
        let error = agreed(&[without], "notebook", &wanted).unwrap().unwrap_err().to_string();
        assert!(error.contains("worker 1 on m1 (pid 101): no kernel"), "{error}");
    }

    impl Fixture {
        /// A stand-in for `clx worker --probe`: a script that ignores its
        /// arguments and does what `body` says.
        fn exe(&self, body: &str) -> PathBuf {
            use std::os::unix::fs::PermissionsExt;
            let path = self.dir.path().join("probe.sh");
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        }

        fn probe(&self, job_types: &[&str]) -> Probe {
            let types = job_types.iter().map(|t| (*t).to_owned()).collect();
            Probe::new("dot", &self.dir.path().join("libdot.so"), "{}".into(), types, "lib-hash", "env")
        }
    }

    fn ask(f: &Fixture, exe: &Path, probe: &Probe, timeout: Duration) -> ToolIdentities {
        let interrupt = Interrupt::unregistered();
        let run = ProbeRun { exe, log_level: "warn", timeout, interrupt: &interrupt };
        loop {
            let mut tools = ToolIdentities::default();
            tools.probe(std::slice::from_ref(probe), &run, &*f.cache);
            // A script just written can be busy while another test's child
            // still holds it open between fork and exec.
            let busy = probe.job_types.iter().any(|t| {
                matches!(tools.identity(t, "dot"), Err(IdentityError::Spawn { message, .. }) if message.contains("busy"))
            });
            if !busy {
                return tools;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_complete_answer_settles_every_type_and_is_remembered() {
        let f = Fixture::new();
        let exe = f.exe(r#"echo '{"identities":{"png":{"Ok":"dot 2.43"},"svg":{"Ok":"dot 2.43"}}}'"#);
        let probe = f.probe(&["png", "svg"]);
        let tools = ask(&f, &exe, &probe, Duration::from_secs(30));
        assert_eq!(tools.identity("png", "dot"), Ok("dot 2.43".to_owned()));
        assert_eq!(tools.identity("svg", "dot"), Ok("dot 2.43".to_owned()));
        let remembered = f.probe(&["png", "svg"]).remembered(&*f.cache).expect("remembered");
        assert_eq!(remembered.get("png").map(String::as_str), Some("dot 2.43"));
    }

    #[test]
    fn a_type_the_plugin_cannot_name_fails_alone_and_nothing_is_remembered() {
        let f = Fixture::new();
        let exe = f.exe(r#"echo '{"identities":{"png":{"Ok":"dot 2.43"},"svg":{"Err":"no svg renderer"}}}'"#);
        let probe = f.probe(&["png", "svg", "pdf"]);
        let tools = ask(&f, &exe, &probe, Duration::from_secs(30));
        assert_eq!(tools.identity("png", "dot"), Ok("dot 2.43".to_owned()));
        assert_eq!(tools.identity("svg", "dot").unwrap_err().to_string(), "svg: no svg renderer");
        assert_eq!(
            tools.identity("pdf", "dot").unwrap_err().to_string(),
            "pdf: the dot plugin named no tool identity for `pdf`"
        );
        assert!(probe.remembered(&*f.cache).is_none(), "a missing tool is looked for again next build");
    }

    #[test]
    fn a_crashing_probe_names_how_it_ended_and_its_last_words() {
        let f = Fixture::new();
        let exe = f.exe("echo 'loading' >&2; echo 'libfoo.so: not found' >&2; exit 3");
        let tools = ask(&f, &exe, &f.probe(&["png"]), Duration::from_secs(30));
        let message = tools.identity("png", "dot").unwrap_err().to_string();
        assert!(
            message.starts_with("the dot plugin crashed while starting (exited with code 3): libfoo.so: not found ("),
            "{message}"
        );
    }

    #[test]
    fn a_hanging_probe_is_killed_at_its_time_out() {
        let f = Fixture::new();
        let exe = f.exe("sleep 30");
        let started = Instant::now();
        let tools = ask(&f, &exe, &f.probe(&["png"]), Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(20));
        let error = tools.identity("png", "dot").unwrap_err();
        assert!(matches!(error, IdentityError::Hangs { .. }), "{error}");
    }

    #[test]
    fn a_plugin_that_cannot_start_fails_every_type_with_its_reason() {
        let f = Fixture::new();
        let exe = f.exe(r#"echo '{"cannot-start":"the dot plugin cannot start: no graphviz"}'"#);
        let tools = ask(&f, &exe, &f.probe(&["png", "svg"]), Duration::from_secs(30));
        for t in ["png", "svg"] {
            assert_eq!(tools.identity(t, "dot").unwrap_err().to_string(), "the dot plugin cannot start: no graphviz");
        }
    }

    #[test]
    fn a_type_never_asked_and_a_plugin_never_hashed_say_so() {
        let tools = ToolIdentities::default();
        assert_eq!(tools.identity("png", "dot").unwrap_err().to_string(), "png: the dot plugin named no tool identity");
        assert_eq!(tools.library("dot").unwrap_err().to_string(), "plugin `dot` is not loaded; see `clx plugins list`");
    }

    #[test]
    fn the_remembered_answer_changes_with_the_settings_the_library_and_the_environment() {
        let f = Fixture::new();
        let path = f.dir.path().join("libdot.so");
        let key = |config: &str, library: &str, environment: &str| {
            Probe::new("dot", &path, config.into(), vec!["png".into()], library, environment).memo_key
        };
        let base = key("{}", "h1", "e1");
        assert_eq!(base, key("{}", "h1", "e1"));
        assert_ne!(base, key("{\"dpi\":300}", "h1", "e1"));
        assert_ne!(base, key("{}", "h2", "e1"));
        assert_ne!(base, key("{}", "h1", "e2"));
    }
}
