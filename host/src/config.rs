//! `clx.toml`: defaults a course (or the user) sets once instead of passing
//! flags every time. The course root's file wins over the user's.
//!
//! ```toml
//! plugins = ["../my-plugins"]        # extra plugin directories
//! diagram-formats = ["png", "svg"]   # images per diagram (default: png)
//! requires-plugins = ["graphviz >= 0.1"]  # a build stops (exit 2) without them
//!
//! [workers]                          # workers per job type
//! notebook = 2
//!
//! [build]
//! strict = true                      # warnings fail the build (`--strict`)
//!
//! [output]
//! slides = true                      # reveal.js presentations too (`--slides`)
//! pdf = true                         # completed pages printed to PDF (`--pdf`)
//!
//! [converters.graphviz]              # handed to the plugin as JSON
//! dot = "/usr/bin/dot"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clx_plugin_api::suggest;
use serde::Deserialize;
use toml::de::{DeTable, DeValue};

/// Why the configuration could not be loaded: the file is unreadable, not TOML, or has a setting clx does not accept.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    /// A configuration file exists but could not be read.
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    /// A configuration problem that could not be placed at a key in the file.
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong and what to do about it.
        message: String,
    },
    /// A setting clx does not understand, at the key as the author wrote it.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Setting {
        /// The configuration file.
        path: PathBuf,
        /// 1-based line of the key.
        line: u32,
        /// 1-based column of the key.
        column: u32,
        /// What is wrong, with a "did you mean" where one fits.
        message: String,
    },
}

impl ConfigError {
    /// The file and, when known, the (line, column) of the problem.
    pub fn position(&self) -> (&Path, Option<(u32, u32)>) {
        match self {
            ConfigError::Read { path, .. } | ConfigError::Parse { path, .. } => (path, None),
            ConfigError::Setting { path, line, column, .. } => (path, Some((*line, *column))),
        }
    }

    /// The message without the file and position.
    pub fn message(&self) -> String {
        match self {
            ConfigError::Read { source, .. } => format!("cannot read the file: {source}"),
            ConfigError::Parse { message, .. } | ConfigError::Setting { message, .. } => message.clone(),
        }
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    plugins: Vec<PathBuf>,
    #[serde(default)]
    workers: BTreeMap<String, usize>,
    #[serde(default)]
    converters: BTreeMap<String, toml::Table>,
    #[serde(default, rename = "diagram-formats")]
    diagram_formats: Option<Vec<String>>,
    #[serde(default, rename = "requires-plugins")]
    requires_plugins: Vec<String>,
    #[serde(default)]
    queue: Option<QueueSection>,
    #[serde(default)]
    build: Option<BuildSection>,
    #[serde(default)]
    site: Option<crate::course::site::SiteSettings>,
    #[serde(default)]
    output: Option<OutputSection>,
}

/// `[output]`: outputs beyond the pages, notebooks and code every build writes.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputSection {
    /// Every deck also as a reveal.js presentation, as `--slides` asks.
    #[serde(default)]
    slides: Option<bool>,
    /// Every deck's completed page also printed to PDF, as `--pdf` asks.
    #[serde(default)]
    pdf: Option<bool>,
}

/// `[build]`: how builds of this course behave.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildSection {
    /// Every warning fails the build, as `--strict` does.
    #[serde(default)]
    strict: Option<bool>,
}

/// `[queue]`: where jobs and the cache live when not in the state dir.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueSection {
    url: Option<String>,
}

/// The merged configuration.
#[derive(Debug, Default, Clone)]
pub struct Config {
    /// Plugin directories, resolved against the file that named them.
    pub plugin_dirs: Vec<PathBuf>,
    /// `[workers]`: job type -> how many workers run it at once; a course file's entry wins over the user's.
    pub workers: BTreeMap<String, usize>,
    /// `[converters.<plugin>]`: plugin name -> the settings table handed to that plugin as JSON.
    pub converters: BTreeMap<String, toml::Table>,
    /// Image formats every diagram is rendered to (default: png).
    pub diagram_formats: Option<Vec<String>>,
    /// Plugins the course cannot be built without (`requires-plugins`).
    pub required_plugins: Vec<PluginRequirement>,
    /// `[queue] url`: a PostgreSQL database for the queue and the cache.
    pub queue_url: Option<String>,
    /// `[build] strict`: warnings fail the build.
    pub strict: bool,
    /// `[site]`: the published course's look and names.
    pub site: crate::course::site::SiteSettings,
    /// `[output] slides`: reveal.js presentations of every deck.
    pub slides: bool,
    /// `[output] pdf`: every deck's completed page printed to PDF.
    pub pdf: bool,
    /// The files that were read, for messages.
    pub sources: Vec<PathBuf>,
    /// Which file each `[converters.<plugin>]` table came from.
    pub converter_sources: BTreeMap<String, PathBuf>,
    /// Which file listed each of `plugin_dirs`: (dir, "course config <file>"
    /// or "user config <file>").
    pub plugin_dir_origins: Vec<(PathBuf, String)>,
}

impl Config {
    /// Read `<course_root>/clx.toml` (if given and present) over the user's
    /// `~/.config/clx/clx.toml`.
    pub fn load(course_root: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(user) = user_config_dir() {
            config.merge_file(&user.join("clx.toml"))?;
            config.name_plugin_dirs("user config");
        }
        if let Some(root) = course_root {
            config.merge_file(&root.join("clx.toml"))?;
            config.name_plugin_dirs("course config");
        }
        Ok(config)
    }

    /// Record `kind` and the last file read as the origin of plugin dirs
    /// that have none yet.
    fn name_plugin_dirs(&mut self, kind: &str) {
        let Some(file) = self.sources.last() else { return };
        for dir in &self.plugin_dirs {
            if !self.plugin_dir_origins.iter().any(|(d, _)| d == dir) {
                self.plugin_dir_origins.push((dir.clone(), format!("{kind} {}", file.display())));
            }
        }
    }

    fn merge_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(ConfigError::Read { path: path.to_owned(), source }),
        };
        let text = clx_plugin_api::text::decode_owned(bytes).map_err(|e| ConfigError::Setting {
            path: path.to_owned(),
            line: e.line,
            column: 1,
            message: format!("the file is not UTF-8 (byte {}); save it as UTF-8", e.offset),
        })?;
        let at_key = |keys: &[&str], message: String| {
            let (line, column) = key_position(&text, keys).unwrap_or((1, 1));
            ConfigError::Setting { path: path.to_owned(), line, column, message }
        };
        let file: ConfigFile = toml::from_str(&text).map_err(|e| setting_error(path, &text, &e))?;
        if let Some((job_type, _)) = file.workers.iter().find(|(_, n)| **n == 0) {
            return Err(at_key(
                &["workers", job_type],
                format!(
                    "[workers] {job_type} = 0: a job type needs at least one worker; remove the line for the default"
                ),
            ));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        // Later files are more specific, so their plugin dirs are searched first.
        let mut dirs: Vec<PathBuf> = file.plugins.iter().map(|p| base.join(expand_home(p))).collect();
        // A listed plugin directory that is missing is a typo more often than
        // not; saying so beats a later "no plugin handles …".
        if let Some(missing) = dirs.iter().find(|d| !d.is_dir()) {
            return Err(at_key(
                &["plugins"],
                format!(
                    "plugins: {} is not a directory; fix the path (relative paths start at this file's directory)",
                    missing.display()
                ),
            ));
        }
        for text in &file.requires_plugins {
            let req = PluginRequirement::parse(text)
                .map_err(|why| at_key(&["requires-plugins"], format!("requires-plugins: {why}")))?;
            if !self.required_plugins.contains(&req) {
                self.required_plugins.push(req);
            }
        }
        dirs.append(&mut self.plugin_dirs);
        self.plugin_dirs = dirs;
        self.workers.extend(file.workers);
        for plugin in file.converters.keys() {
            self.converter_sources.insert(plugin.clone(), path.to_owned());
        }
        self.converters.extend(file.converters);
        if file.diagram_formats.is_some() {
            self.diagram_formats = file.diagram_formats;
        }
        if let Some(strict) = file.build.and_then(|b| b.strict) {
            self.strict = strict;
        }
        if let Some(output) = file.output {
            self.slides = output.slides.unwrap_or(self.slides);
            self.pdf = output.pdf.unwrap_or(self.pdf);
        }
        if let Some(url) = file.queue.and_then(|q| q.url) {
            self.queue_url = Some(url);
        }
        if let Some(site) = file.site {
            self.site.merge(site, base);
        }
        self.sources.push(path.to_owned());
        Ok(())
    }

    /// An error about the setting at `keys` (`["workers", "notebok"]`), at
    /// its position in the last file read that sets it.
    pub fn error_at(&self, keys: &[&str], message: String) -> ConfigError {
        for path in self.sources.iter().rev() {
            let Some(text) = read_text(path) else { continue };
            if let Some((line, column)) = key_position(&text, keys) {
                return ConfigError::Setting { path: path.clone(), line, column, message };
            }
        }
        ConfigError::Parse { path: self.sources.last().cloned().unwrap_or_else(|| "clx.toml".into()), message }
    }

    /// When a plugin refused its `[converters.<plugin>]` table (its
    /// `new()` failed with serde's words for an unknown key or a wrong
    /// type), that refusal as one error at the key in clx.toml.
    pub fn converter_error(&self, plugin: &str, message: &str) -> Option<ConfigError> {
        let path = self.converter_sources.get(plugin)?;
        let table = self.converters.get(plugin)?;
        let text = read_text(path)?;
        if let Some(at) = message.find("missing field `") {
            let key = message[at + "missing field `".len()..].split('`').next()?;
            let what = format!("[converters.{plugin}] lacks the setting `{key}`; add it");
            let (line, column) = key_position(&text, &["converters", plugin]).unwrap_or((1, 1));
            return Some(ConfigError::Setting { path: path.clone(), line, column, message: what });
        }
        let (key, what) = if let Some(at) = message.find("unknown field `") {
            let rest = &message[at + "unknown field `".len()..];
            let key = rest.split('`').next()?.to_owned();
            let known: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
            let list = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
            let advice =
                suggest::advice(&key, known.iter().copied(), |n| format!("`{n}`"), &format!("it knows {list}"));
            let what = format!("unknown setting `{key}` in [converters.{plugin}]{advice}");
            (key, what)
        } else if let Some(at) = message.find("invalid type: ").or_else(|| message.find("invalid value: ")) {
            let rest = &message[at..];
            let (error, position) = rest.rsplit_once(" at line 1 column ")?;
            let column: usize = position.trim().parse().ok()?;
            let key = json_key_at(table, column)?;
            let detail = error.trim_start_matches("invalid type: ").trim_start_matches("invalid value: ");
            let (found, expected) = detail.split_once(", expected ")?;
            let what =
                format!("`converters.{plugin}.{key}` must be {}, not {}", in_words(expected), found_in_words(found));
            (key, what)
        } else {
            // Any other refusal through the API's typed configuration: at the
            // table, in the plugin's words.
            let at = message.find(clx_plugin_api::CONFIG_ERROR_PREFIX)?;
            let rest = &message[at + clx_plugin_api::CONFIG_ERROR_PREFIX.len()..];
            let rest = rest.rsplit_once(" at line ").map_or(rest, |(words, _)| words);
            let what = format!("[converters.{plugin}]: {rest}");
            let (line, column) = key_position(&text, &["converters", plugin]).unwrap_or((1, 1));
            return Some(ConfigError::Setting { path: path.clone(), line, column, message: what });
        };
        let (line, column) = key_position(&text, &["converters", plugin, &key]).unwrap_or((1, 1));
        Some(ConfigError::Setting { path: path.clone(), line, column, message: what })
    }

    /// A plugin's `[converters.<name>]` table as the JSON the plugin receives.
    pub fn converter_json(&self, plugin: &str) -> String {
        self.converters
            .get(plugin)
            .and_then(|t| serde_json::to_string(t).ok())
            .unwrap_or_else(|| NO_SETTINGS.to_owned())
    }
}

/// A plugin's settings as JSON when `clx.toml` has no `[converters.<plugin>]`
/// table for it.
pub const NO_SETTINGS: &str = "{}";

/// One entry of `requires-plugins`: a plugin name, optionally with a version
/// bound (`graphviz`, `graphviz >= 0.1`, `notebook = 0.1.0`, `x < 2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRequirement {
    /// The plugin's name as its manifest declares it.
    pub name: String,
    /// The version bound, when given: the operator and the version's numeric parts (`0.1` is `[0, 1]`).
    pub bound: Option<(VersionOp, Vec<u64>)>,
}

/// How a required plugin's version is compared with the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOp {
    /// `>=`: at least the bound.
    Ge,
    /// `>`: newer than the bound.
    Gt,
    /// `<=`: at most the bound.
    Le,
    /// `<`: older than the bound.
    Lt,
    /// `=`: exactly the bound.
    Eq,
}

impl VersionOp {
    fn as_str(self) -> &'static str {
        match self {
            VersionOp::Ge => ">=",
            VersionOp::Gt => ">",
            VersionOp::Le => "<=",
            VersionOp::Lt => "<",
            VersionOp::Eq => "=",
        }
    }
}

impl PluginRequirement {
    /// Parse one `requires-plugins` entry (`graphviz >= 0.1`); the error says what is wrong in words for the user.
    pub fn parse(text: &str) -> Result<PluginRequirement, String> {
        let text = text.trim();
        let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).unwrap_or(text.len());
        let (name, rest) = text.split_at(end);
        if name.is_empty() {
            return Err(format!("`{text}` names no plugin; write e.g. \"graphviz >= 0.1\""));
        }
        let rest = rest.trim();
        if rest.is_empty() {
            return Ok(PluginRequirement { name: name.to_owned(), bound: None });
        }
        let (op, version) = [
            (">=", VersionOp::Ge),
            ("<=", VersionOp::Le),
            ("==", VersionOp::Eq),
            (">", VersionOp::Gt),
            ("<", VersionOp::Lt),
            ("=", VersionOp::Eq),
        ]
        .into_iter()
        .find_map(|(sym, op)| rest.strip_prefix(sym).map(|v| (op, v.trim())))
        .ok_or_else(|| format!("`{text}`: expected `>=`, `>`, `<=`, `<` or `=` after the plugin name"))?;
        let version = parse_version(version)
            .ok_or_else(|| format!("`{text}`: `{version}` is not a version like 0.1 or 1.2.3"))?;
        Ok(PluginRequirement { name: name.to_owned(), bound: Some((op, version)) })
    }

    /// Whether a plugin's declared version satisfies the bound. Missing
    /// components count as 0 (`0.1` = `0.1.0`); a pre-release or build
    /// suffix is ignored. A version that does not parse never matches a bound.
    pub fn matches(&self, version: &str) -> bool {
        let Some((op, wanted)) = &self.bound else { return true };
        let core = version.split(['-', '+']).next().unwrap_or(version);
        let Some(have) = parse_version(core) else { return false };
        let len = have.len().max(wanted.len());
        let pad = |v: &[u64]| -> Vec<u64> { (0..len).map(|i| v.get(i).copied().unwrap_or(0)).collect() };
        let ord = pad(&have).cmp(&pad(wanted));
        match op {
            VersionOp::Ge => ord.is_ge(),
            VersionOp::Gt => ord.is_gt(),
            VersionOp::Le => ord.is_le(),
            VersionOp::Lt => ord.is_lt(),
            VersionOp::Eq => ord.is_eq(),
        }
    }
}

impl std::fmt::Display for PluginRequirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.bound {
            None => f.write_str(&self.name),
            Some((op, v)) => {
                let v: Vec<String> = v.iter().map(u64::to_string).collect();
                write!(f, "{} {} {}", self.name, op.as_str(), v.join("."))
            }
        }
    }
}

fn parse_version(text: &str) -> Option<Vec<u64>> {
    let parts: Option<Vec<u64>> = text.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty() && p.len() <= 3)
}

/// Every setting clx.toml knows, per table, for "did you mean".
const SETTINGS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "plugins",
            "workers",
            "converters",
            "diagram-formats",
            "requires-plugins",
            "queue",
            "build",
            "site",
            "output",
        ],
    ),
    ("queue", &["url"]),
    ("build", &["strict"]),
    ("output", &["slides", "pdf"]),
    ("site", &["stylesheet", "logo", "organisation", "author", "footer"]),
];

/// A TOML or setting error as one line at the key it is about, in the
/// author's words: `workers.notebook` must be a whole number, not the
/// string "3" (serde's `usize` and `invalid type` stay inside).
fn setting_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let raw = e.message().trim_end();
    let Some(span) = e.span() else {
        return ConfigError::Parse { path: path.to_owned(), message: format!("{raw}; fix the file (TOML syntax)") };
    };
    let (keys, key_at) = key_at(text, span.start).unwrap_or_default();
    let at = key_at.unwrap_or(span.start);
    let (line, column) = line_column(text, at);
    let key = keys.join(".");
    let message = if let Some(rest) = raw.strip_prefix("unknown field `") {
        let unknown = rest.split('`').next().unwrap_or_default();
        let table = keys[..keys.len().saturating_sub(1)].join(".");
        let known = SETTINGS.iter().find(|(t, _)| *t == table).map_or(&[][..], |(_, k)| *k);
        let place = if table.is_empty() { String::new() } else { format!(" in [{table}]") };
        let list = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        let advice =
            suggest::advice(unknown, known.iter().copied(), |n| format!("`{n}`"), &format!("the settings are {list}"));
        format!("unknown setting `{unknown}`{place}{advice}")
    } else if let Some(rest) = raw.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "another type"));
        format!("`{key}` must be {}, not {}", in_words(expected), found_in_words(found))
    } else if key.is_empty() {
        format!("{raw}; fix the file (TOML syntax)")
    } else {
        format!("`{key}`: {raw}")
    };
    ConfigError::Setting { path: path.to_owned(), line, column, message }
}

/// The top-level key of `table` whose value holds 1-based `column` of the
/// table's JSON (as `converter_json` writes it: compact, keys in order).
fn json_key_at(table: &toml::Table, column: usize) -> Option<String> {
    let mut at = 1; // `{`
    for (key, value) in table {
        let key_json = serde_json::to_string(key).ok()?;
        let value_json = serde_json::to_string(value).ok()?;
        let end = at + key_json.len() + 1 + value_json.len();
        if column <= end + 1 {
            return Some(key.clone());
        }
        at = end + 1; // `,`
    }
    None
}

/// serde's name for an expected type, as an author reads it.
fn in_words(expected: &str) -> &str {
    match expected {
        "usize" | "u64" | "u32" | "u16" | "u8" | "i64" | "i32" | "isize" | "an integer" => "a whole number",
        "a sequence" => "a list (`[…]`)",
        "a map" => "a table",
        "a boolean" => "true or false",
        e if e.starts_with("struct ") => "a table",
        e => e,
    }
}

/// serde's description of what was found (`string "3"`), as an author reads it.
fn found_in_words(found: &str) -> String {
    match found.split_once(' ') {
        Some(("string", value)) => format!("the string {value}"),
        Some(("integer" | "floating", value)) => format!("the number {}", value.trim_matches('`')),
        Some(("boolean", value)) => value.trim_matches('`').to_owned(),
        _ if found == "sequence" => "a list".to_owned(),
        _ if found == "map" => "a table".to_owned(),
        _ => found.to_owned(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, at: usize) -> (u32, u32) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(column).unwrap_or(u32::MAX))
}

/// The deepest key whose entry (key or value) holds byte `at`: its path
/// and where the key starts.
fn key_at(text: &str, at: usize) -> Option<(Vec<String>, Option<usize>)> {
    // A table's span may be its header only, so every table is searched.
    fn walk(table: &DeTable, at: usize, keys: &mut Vec<String>) -> Option<usize> {
        for (key, value) in table.iter() {
            keys.push(key.get_ref().to_string());
            if let DeValue::Table(inner) = value.get_ref() {
                if let Some(deeper) = walk(inner, at, keys) {
                    return Some(deeper);
                }
            }
            if key.span().contains(&at) || value.span().contains(&at) {
                return Some(key.span().start);
            }
            keys.pop();
        }
        None
    }
    let table = DeTable::parse(text).ok()?;
    let mut keys = Vec::new();
    let start = walk(table.get_ref(), at, &mut keys);
    Some((keys, start))
}

/// A configuration file's text as [`Config::load`] parsed it, for placing
/// a later error at its key.
fn read_text(path: &Path) -> Option<String> {
    clx_plugin_api::text::decode_owned(std::fs::read(path).ok()?).ok()
}

/// Where the key at `keys` (`["workers", "notebook"]`) is written.
fn key_position(text: &str, keys: &[&str]) -> Option<(u32, u32)> {
    let table = DeTable::parse(text).ok()?;
    let mut current = table.get_ref();
    let mut at = None;
    for (i, key) in keys.iter().enumerate() {
        let (k, v) = current.iter().find(|(k, _)| k.get_ref() == key)?;
        at = Some(k.span().start);
        match v.get_ref() {
            DeValue::Table(inner) if i + 1 < keys.len() => current = inner,
            _ => break,
        }
    }
    at.map(|at| line_column(text, at))
}

fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => p.to_owned(),
    }
}

/// `$HOME` when set and not empty: the base of `~` in configured paths and of the default config, data and state dirs.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

fn user_config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".config")))
        .map(|d| d.join("clx"))
}

/// `$XDG_DATA_HOME`, else `~/.local/share`: where Jupyter keeps the user's
/// kernelspecs and clx its own data.
pub fn data_home() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".local/share")))
}

/// `~/.local/share/clx` (or `$XDG_DATA_HOME/clx`): user plugins and tools.
pub fn user_data_dir() -> Option<PathBuf> {
    data_home().map(|d| d.join("clx"))
}

/// Where clx keeps its state: the queue, the cache and the workers' scratch
/// folders. `CLX_HOME`, else `$XDG_CACHE_HOME/clx`, else `~/.cache/clx`: one
/// place per user, so `clx status` works from anywhere and courses share
/// cached results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir(PathBuf);

impl StateDir {
    /// The state dir of this user (see the type's docs for the order).
    pub fn from_env() -> StateDir {
        StateDir(clx_plugin_api::state_dir())
    }

    /// The state dir itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The SQLite job queue.
    pub fn queue(&self) -> PathBuf {
        self.0.join("queue.db")
    }

    /// The content-addressed cache (index and blobs).
    pub fn cache(&self) -> PathBuf {
        self.0.join("cache")
    }

    /// Parent of the workers' private `TMPDIR`s.
    pub fn scratch(&self) -> PathBuf {
        self.0.join("tmp")
    }

    /// Where `clx build --timings` writes its report.
    pub fn timings(&self) -> PathBuf {
        self.0.join("timings")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_file_plugin_dirs_resolve_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("clx.toml"), "plugins = [\"extra\"]\n[workers]\nnotebook = 3\n").unwrap();
        std::fs::create_dir(dir.path().join("extra")).unwrap();
        let mut c = Config::default();
        c.merge_file(&dir.path().join("clx.toml")).unwrap();
        assert_eq!(c.plugin_dirs, vec![dir.path().join("extra")]);
        assert_eq!(c.workers.get("notebook"), Some(&3));
    }

    #[test]
    fn unknown_keys_are_reported_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("clx.toml"), "wrokers = 1\n").unwrap();
        let err = Config::default().merge_file(&dir.path().join("clx.toml")).unwrap_err();
        assert!(err.to_string().contains("clx.toml"), "{err}");
        assert!(err.to_string().contains("wrokers"), "{err}");
    }

    #[test]
    fn a_plugin_refusing_its_table_is_one_error_at_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clx.toml");
        std::fs::write(&file, "[converters.notebook]\nvenv = \"v\"\ncell_timeout = \"3\"\n").unwrap();
        let mut c = Config::default();
        c.merge_file(&file).unwrap();
        assert_eq!(c.converter_json("notebook"), r#"{"cell_timeout":"3","venv":"v"}"#);
        let refused =
            "invalid [converters.notebook] in clx.toml: invalid type: string \"3\", expected u64 at line 1 column 19";
        let e = c.converter_error("notebook", refused).unwrap();
        assert_eq!(e.position().1, Some((3, 1)));
        assert_eq!(e.message(), "`converters.notebook.cell_timeout` must be a whole number, not the string \"3\"");
        let unknown = "invalid: unknown field `venvv`, expected one of `cell_timeout`, `venv` at line 1 column 9";
        let e = c.converter_error("notebook", unknown).unwrap();
        assert_eq!(
            e.message(),
            "unknown setting `venvv` in [converters.notebook]; did you mean `venv`? It knows `cell_timeout`, `venv`"
        );
        assert!(c.converter_error("notebook", "java is missing").is_none());
        assert!(c.converter_error("plantuml", refused).is_none());
    }

    #[test]
    fn a_typed_configuration_the_plugin_refuses_is_one_error_at_its_table_or_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clx.toml");
        std::fs::write(&file, "diagram-formats = [\"png\"]\n\n[converters.handout]\ntodo_wrd = \"FIXME\"\n").unwrap();
        let c = Config::load(Some(dir.path())).unwrap();
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Settings {
            todo_word: String,
        }
        let refusal = |json: &str| clx_plugin_api::config::<Settings>(json).unwrap_err();
        let e = c.converter_error("handout", &format!("handout: {}", refusal(&c.converter_json("handout")))).unwrap();
        assert_eq!(e.position().1, Some((4, 1)));
        assert_eq!(
            e.message(),
            "unknown setting `todo_wrd` in [converters.handout]; did you mean `todo_word`? It knows `todo_word`"
        );
        let e = c.converter_error("handout", &refusal("{}")).unwrap();
        assert_eq!(e.position().1, Some((3, 13)));
        assert_eq!(e.message(), "[converters.handout] lacks the setting `todo_word`; add it");
        let e = c.converter_error("handout", &refusal("[]")).unwrap();
        assert_eq!(e.message(), "[converters.handout]: invalid length 0, expected struct Settings with 1 element");
    }

    #[test]
    fn required_plugins_are_parsed_with_their_version_bounds() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("clx.toml"), "requires-plugins = [\"graphviz >= 0.1\", \"notebook\"]\n")
            .unwrap();
        let mut c = Config::default();
        c.merge_file(&dir.path().join("clx.toml")).unwrap();
        let names: Vec<String> = c.required_plugins.iter().map(|r| r.to_string()).collect();
        assert_eq!(names, ["graphviz >= 0.1", "notebook"]);
        let graphviz = &c.required_plugins[0];
        assert!(graphviz.matches("0.1.0") && graphviz.matches("0.2.3") && graphviz.matches("1.0.0-rc1"));
        assert!(!graphviz.matches("0.0.9") && !graphviz.matches("garbage"));
        assert!(c.required_plugins[1].matches("anything"));
    }

    #[test]
    fn a_malformed_requirement_names_the_file_and_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("clx.toml"), "requires-plugins = [\"graphviz ~ 1\"]\n").unwrap();
        let err = Config::default().merge_file(&dir.path().join("clx.toml")).unwrap_err().to_string();
        assert!(err.contains("clx.toml") && err.contains("`graphviz ~ 1`"), "{err}");
        assert!(PluginRequirement::parse("graphviz >= x.1").is_err());
        assert!(PluginRequirement::parse(">= 1").is_err());
    }

    #[test]
    fn converter_section_reaches_the_plugin_as_json() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("clx.toml"), "[converters.graphviz]\ndot = \"/opt/dot\"\n").unwrap();
        let mut c = Config::default();
        c.merge_file(&dir.path().join("clx.toml")).unwrap();
        assert_eq!(c.converter_json("graphviz"), r#"{"dot":"/opt/dot"}"#);
        assert_eq!(c.converter_json("plantuml"), "{}");
    }
}
