//! `clx plugins list|info|new|install`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clx::plugin::{Candidate, Registry};
use serde_json::json;

use crate::cli::{GlobalArgs, PluginsCommand, ScaffoldRole};

pub fn run(global: &GlobalArgs, cmd: PluginsCommand) -> Result<ExitCode> {
    match cmd {
        PluginsCommand::New { name, dir, api_path, role, suffix } => {
            return scaffold(&name, dir, api_path, role, suffix.as_deref())
        }
        PluginsCommand::Install { path } => return install(global, &path),
        _ => {}
    }
    // The current folder's clx.toml counts, as it does for `clx build` there.
    let (registry, _) = super::discover_plugins(global, std::env::current_dir().ok().as_deref())?;
    match cmd {
        PluginsCommand::List { json: true } => {
            let list: Vec<_> = registry.candidates.iter().map(candidate_json).collect();
            let dirs: Vec<_> =
                registry.dirs.iter().map(|d| json!({ "path": d.path, "added_by": d.added_by })).collect();
            outln!("{}", serde_json::to_string_pretty(&json!({ "plugins": list, "directories": dirs }))?);
        }
        PluginsCommand::List { json: false } => {
            print_table(&registry)?;
            outln!("");
            super::print_search_path(&registry)?;
        }
        PluginsCommand::Info { name } => {
            let Some(c) = registry.candidates.iter().find(|c| c.plugin.as_ref().is_some_and(|p| p.name() == name))
            else {
                bail!("no plugin named `{name}` found; `clx plugins list` shows what is installed");
            };
            print_info(c)?;
        }
        PluginsCommand::New { .. } | PluginsCommand::Install { .. } => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn job_types_json(c: &Candidate) -> Vec<serde_json::Value> {
    let Some(p) = &c.plugin else { return Vec::new() };
    p.manifest
        .job_types
        .iter()
        .map(|jt| {
            json!({
                "name": jt.name.as_str(),
                "role": jt.role.as_str(),
                "description": jt.description.as_str(),
                "suffixes": jt.suffixes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "name_prefixes": jt.name_prefixes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "formats": jt.formats.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect()
}

fn candidate_json(c: &Candidate) -> serde_json::Value {
    json!({
        "name": c.plugin.as_ref().map(|p| p.name()),
        "version": c.plugin.as_ref().map(|p| p.manifest.version.as_str()),
        "description": c.plugin.as_ref().map(|p| p.manifest.description.as_str()),
        "api_version": c.plugin.as_ref().map(|p| p.api_version.as_str()),
        "path": c.path,
        "found_via": c.origin,
        "added_by": c.added_by,
        "status": c.status.label(),
        "reason": c.status.reason(),
        "job_types": job_types_json(c),
    })
}

/// What files a job type claims, e.g. `slides_*|topic_* .py .cpp`.
fn claims(c: &Candidate) -> String {
    let Some(p) = &c.plugin else { return "-".into() };
    p.manifest
        .job_types
        .iter()
        .map(|jt| {
            let prefixes: Vec<_> = jt.name_prefixes.iter().map(|s| format!("{s}*")).collect();
            let suffixes: Vec<_> = jt.suffixes.iter().map(|s| s.as_str()).collect();
            let files = if jt.role == clx_plugin_api::Role::Print {
                // A printer claims no file: it prints pages the build writes.
                "pages".to_owned()
            } else if prefixes.is_empty() {
                suffixes.join(" ")
            } else {
                format!("{} {}", prefixes.join("|"), suffixes.join(" "))
            };
            format!("{} ({files})", jt.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_table(registry: &Registry) -> Result<()> {
    let rows: Vec<[String; 5]> = registry
        .candidates
        .iter()
        .map(|c| {
            let status = match c.status.reason() {
                Some(reason) => format!("{}: {reason}", c.status.label()),
                None => c.status.label().to_owned(),
            };
            [
                // A library whose manifest cannot be read goes by its file name.
                c.plugin.as_ref().map(|p| p.name().to_owned()).unwrap_or_else(|| file_name(&c.path)),
                c.plugin.as_ref().map(|p| p.manifest.version.to_string()).unwrap_or_else(|| "-".into()),
                claims(c),
                c.path.display().to_string(),
                status,
            ]
        })
        .collect();
    if rows.is_empty() {
        outln!(
            "no plugins found; put plugin libraries beside clx, in ~/.local/share/clx/plugins, or pass --plugin-dir"
        );
        return Ok(());
    }
    let header = ["NAME", "VERSION", "JOB TYPES (FILES)", "PATH", "STATUS"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| -> Result<()> {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == 4 {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        outln!("{}", s.trim_end());
        Ok(())
    };
    line(header)?;
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]])?;
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn print_info(c: &Candidate) -> Result<()> {
    let Some(p) = &c.plugin else { return Ok(()) };
    outln!("{} {}", p.name(), p.manifest.version);
    if !p.manifest.description.is_empty() {
        outln!("  {}", p.manifest.description);
    }
    outln!("  path:        {}", c.path.display());
    outln!("  plugin-api:  {}", p.api_version);
    match c.status.reason() {
        Some(reason) => outln!("  status:      {}: {reason}", c.status.label()),
        None => outln!("  status:      {}", c.status.label()),
    }
    for jt in p.manifest.job_types.iter() {
        outln!("  job type `{}` ({})", jt.name, jt.role.as_str());
        if !jt.description.is_empty() {
            outln!("    {}", jt.description);
        }
        let list = |v: &abi_stable::std_types::RVec<abi_stable::std_types::RString>| {
            v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
        };
        if jt.role == clx_plugin_api::Role::Print {
            outln!("    prints:        the completed page of every deck (`--pdf`)");
        } else {
            outln!("    suffixes:      {}", list(&jt.suffixes));
        }
        if !jt.name_prefixes.is_empty() {
            outln!("    name prefixes: {}", list(&jt.name_prefixes));
        }
        outln!("    formats:       {}", list(&jt.formats));
    }
    Ok(())
}

const TEMPLATE_CARGO: &str = include_str!("../../templates/plugin/Cargo.toml.tmpl");
const TEMPLATE_LIB: &str = include_str!("../../templates/plugin/src/lib.rs.tmpl");
const TEMPLATE_README: &str = include_str!("../../templates/plugin/README.md.tmpl");

/// Where `scripts/install` puts the plugin API's source, relative to the
/// installed binary: `PREFIX/bin/clx` -> `PREFIX/share/clx/plugin-api`.
fn installed_api_source() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    let prefix = exe.parent()?.parent()?;
    Some(prefix.join("share/clx/plugin-api")).filter(|p| p.join("Cargo.toml").is_file())
}

/// Where this clx's plugin-api source was when clx was built: only a clx run
/// from its own build tree has it.
fn own_api_source() -> Option<PathBuf> {
    Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api")).filter(|p| p.join("Cargo.toml").is_file())
}

/// The version requirement a plugin states: this clx's API version as
/// `MAJOR.MINOR` (for 0.x, a new minor is a new ABI, so `0.3` means 0.3.*).
fn api_requirement() -> String {
    let mut parts = clx_plugin_api::API_VERSION.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}"),
        _ => clx_plugin_api::API_VERSION.to_owned(),
    }
}

/// The scaffold's dependency on the API: by version, as once it is on
/// crates.io, with a `[patch.crates-io]` pointing at a local copy until
/// then. The copy is `--api-path`, else the one installed with this clx,
/// else (a clx run from its build tree) its own source.
fn api_dependency(api_path: Option<PathBuf>) -> Result<(String, String)> {
    let requirement = format!("clx-plugin-api = {}", toml_string(&api_requirement()));
    let path = match api_path {
        Some(p) => {
            let p = p.canonicalize().with_context(|| format!("--api-path {}: no such directory", p.display()))?;
            if !p.join("Cargo.toml").is_file() {
                bail!(
                    "--api-path {}: no Cargo.toml there; pass PREFIX/share/clx/plugin-api of an installed clx \
                     or the plugin-api directory of a clx checkout",
                    p.display()
                );
            }
            p
        }
        None => match installed_api_source().or_else(|| own_api_source().and_then(|p| p.canonicalize().ok())) {
            Some(p) => p,
            None => bail!(
                "no copy of clx-plugin-api found beside this clx (PREFIX/share/clx/plugin-api, which scripts/install \
                 puts there); pass --api-path <clx checkout>/plugin-api"
            ),
        },
    };
    let text = path.to_str().context("the plugin-api path is not valid UTF-8; pass --api-path")?;
    let patch = format!(
        "# clx-plugin-api is not on crates.io yet: use the copy installed with clx.\n\
         # Once it is published, delete this section. Another way is a git\n\
         # dependency on a release tag of the clx repository instead of the\n\
         # version above: clx-plugin-api = {{ git = \"<clx repository>\", tag = \"v{}\" }}\n\
         [patch.crates-io]\n\
         clx-plugin-api = {{ path = {} }}\n",
        clx_plugin_api::API_VERSION,
        toml_string(text)
    );
    Ok((requirement, patch))
}

fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// What the scaffold of each role declares and requests: the `Role`
/// constant, its format, where outputs land (for the docs), and the outputs
/// its test asks for, as the host asks for them.
fn role_parts(role: ScaffoldRole) -> (&'static str, &'static str, &'static str, &'static str) {
    match role {
        ScaffoldRole::Slides => (
            "Slides",
            "html",
            "as a deck (`Role::Slides`), writes an upper-cased HTML page per variant, numbered in its section",
            r##".with_output("html-completed", "html", r#"{"kind": "completed"}"#).with_output("html-speaker", "html", r#"{"kind": "speaker"}"#)"##,
        ),
        ScaffoldRole::Diagram => (
            "Diagram",
            "svg",
            "as a diagram (`Role::Diagram`), writes an upper-cased SVG image to the topic's `img/` folder",
            r#".with_output("svg", "svg", "{}")"#,
        ),
        ScaffoldRole::Page => (
            "Page",
            "html",
            "as a standalone page (`Role::Page`), writes an upper-cased HTML page per language to its \
             section's `Pages` folder (`Seiten` in German) of the public and the speaker tree",
            r##".with_output("de-html", "html", r#"{"lang": "de"}"#).with_output("en-html", "html", r#"{"lang": "en"}"#)"##,
        ),
    }
}

/// A suffix a job type can declare and Rust and TOML strings can hold.
fn valid_suffix(suffix: &str) -> bool {
    suffix.len() > 1
        && suffix.starts_with('.')
        && !suffix.ends_with('.')
        && suffix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// `clx plugins new NAME`: a crate that builds, tests and installs as it is.
fn scaffold(
    name: &str,
    dir: Option<PathBuf>,
    api_path: Option<PathBuf>,
    role: ScaffoldRole,
    suffix: Option<&str>,
) -> Result<ExitCode> {
    if !valid_name(name) {
        bail!("`{name}` is not a plugin name: use 1-64 characters of a-z, 0-9, `-`, `_`, starting with a letter");
    }
    let suffix = suffix.map_or_else(|| format!(".{name}"), str::to_owned);
    if !valid_suffix(&suffix) {
        bail!(
            "--suffix `{suffix}` is not a file suffix: start with a dot and use a-z, A-Z, 0-9, `.`, `-`, `_` \
             (e.g. `.handout.md`)"
        );
    }
    let (role_const, format, role_doc, test_outputs) = role_parts(role);
    let dir = dir.unwrap_or_else(|| PathBuf::from(format!("clx-plugin-{name}")));
    if dir.exists() && dir.read_dir().map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} already exists and is not empty; pick another --dir", dir.display());
    }
    let (dependency, patch) = api_dependency(api_path)?;
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{name_snake}}", &name.replace('-', "_"))
            .replace("{{api_dependency}}", &dependency)
            .replace("{{api_patch}}", &patch)
            .replace("{{role}}", role_const)
            .replace("{{role_doc}}", role_doc)
            .replace("{{format}}", format)
            .replace("{{suffix}}", &suffix)
            .replace("{{test_outputs}}", test_outputs)
    };
    let files = [
        ("Cargo.toml", fill(TEMPLATE_CARGO)),
        ("src/lib.rs", fill(TEMPLATE_LIB)),
        ("README.md", fill(TEMPLATE_README)),
        (".gitignore", "/target\n".to_owned()),
    ];
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    outln!("created plugin crate {} ({dependency})", dir.display());
    outln!("next: cd {} && cargo test && cargo build --release", dir.display());
    outln!("then: clx plugins install target/release/{}", library_file(name));
    Ok(ExitCode::SUCCESS)
}

fn library_file(name: &str) -> String {
    format!("{}clx_plugin_{}{}", std::env::consts::DLL_PREFIX, name.replace('-', "_"), std::env::consts::DLL_SUFFIX)
}

/// `clx plugins install PATH`: load the library (a plugin that cannot be
/// used is refused with the reason), then copy it into the user plugin dir
/// under its plugin's name, saying when it replaced one and warning when
/// another directory's copy of the plugin is the one clx will use.
fn install(global: &GlobalArgs, path: &Path) -> Result<ExitCode> {
    if !path.is_file() {
        bail!("{} is not a file; pass the built library, e.g. target/release/{}", path.display(), library_file("NAME"));
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.permissions();
        // Any user could have swapped the code that clx is about to run.
        if mode.mode() & 0o002 != 0 {
            bail!(
                "{} is writable by every user, so anyone could have replaced it; `chmod o-w {}` and install again",
                path.display(),
                path.display()
            );
        }
    }
    let plugin =
        clx::plugin::loader::load(path).map_err(|e| anyhow::anyhow!("{}: not installed: {e}", path.display()))?;
    let dir = clx::config::user_data_dir()
        .context("cannot tell the user plugin dir: set HOME or XDG_DATA_HOME")?
        .join("plugins");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let to = dir.join(library_file(plugin.name()));
    // Copy beside it, then rename: a build running now sees the old or the new
    // library, never half of one.
    let partial = dir.join(format!(".{}.partial", library_file(plugin.name())));
    std::fs::copy(path, &partial)
        .with_context(|| format!("cannot copy {} to {}", path.display(), partial.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        // Never writable by others: the search path refuses such libraries.
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot set the mode of {}", partial.display()))?;
    }
    let replaced = to.exists();
    std::fs::rename(&partial, &to).with_context(|| format!("cannot move the library to {}", to.display()))?;
    let verb = if replaced { "replaced" } else { "installed" };
    outln!("{verb} {} {} in {}", plugin.name(), plugin.manifest.version, to.display());
    let (registry, _) = super::discover_plugins(global, std::env::current_dir().ok().as_deref())?;
    let in_use = registry.plugin(plugin.name()).map(|p| p.path.clone());
    let same = |p: &Path| p.canonicalize().ok() == to.canonicalize().ok();
    if let Some(other) = in_use.filter(|p| !same(p)) {
        eprintln!(
            "warning: clx uses {} instead: its directory comes first on the plugin search path \
             (see `clx plugins list`); remove it to use the one installed now",
            other.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
