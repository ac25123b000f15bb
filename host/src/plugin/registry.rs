//! All plugins found on the search path, each job type with exactly one owner.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clx_plugin_api::JobTypeDecl;

use crate::config::PluginRequirement;
use crate::course::plan::UnusableClaim;
use crate::course::{Classifier, JobClass};

use super::loader::{load, LoadError, LoadedPlugin};
use super::search::{Found, SearchDir, SearchOrigin, SearchPath};

/// Whether a library on the search path is in use, and if not why.
#[derive(Debug)]
pub enum CandidateStatus {
    /// Loaded and in use: its job types are registered.
    Ok,
    /// A plugin of the same name earlier in the search path wins.
    Shadowed {
        /// The library file of the plugin that wins.
        by: PathBuf,
    },
    /// Claims a job type another plugin already provides; none of its job
    /// types are used, so a build never depends on search-path accidents.
    Conflict {
        /// The job type claimed twice.
        job_type: String,
        /// The name of the plugin that already provides it.
        owner: String,
        /// That plugin's library file.
        owner_path: PathBuf,
    },
    /// Could not be loaded as a plugin.
    Broken(LoadError),
    /// Never loaded: others could change the library (see `search`).
    Unsafe(String),
}

impl CandidateStatus {
    /// A short word for the status (`ok`, `shadowed`, `broken`, ...), as
    /// `clx plugins list` shows it.
    pub fn label(&self) -> &'static str {
        match self {
            CandidateStatus::Ok => "ok",
            CandidateStatus::Shadowed { .. } => "shadowed",
            CandidateStatus::Conflict { .. } => "conflict",
            CandidateStatus::Broken(LoadError::NotALibrary(_) | LoadError::NotAPlugin) => "not a plugin",
            CandidateStatus::Broken(LoadError::IncompatibleVersion(_) | LoadError::IncompatibleLayout(_)) => {
                "incompatible"
            }
            CandidateStatus::Broken(_) => "broken",
            CandidateStatus::Unsafe(_) => "unsafe",
        }
    }

    /// Why the candidate is not in use, as a sentence; `None` when it is.
    pub fn reason(&self) -> Option<String> {
        match self {
            CandidateStatus::Ok => None,
            CandidateStatus::Shadowed { by } => {
                Some(format!("a plugin of the same name is loaded from {}", by.display()))
            }
            CandidateStatus::Conflict { job_type, owner, owner_path } => {
                Some(format!("job type `{job_type}` already provided by {owner} ({})", owner_path.display()))
            }
            CandidateStatus::Broken(e) => Some(e.to_string()),
            CandidateStatus::Unsafe(why) => Some(why.clone()),
        }
    }
}

/// One library found on the search path, whatever became of it.
#[derive(Debug)]
pub struct Candidate {
    /// The library file.
    pub path: PathBuf,
    /// Which part of the search path it was found in.
    pub origin: SearchOrigin,
    /// Who put its directory on the search path.
    pub added_by: String,
    /// Whether it is in use, and if not why.
    pub status: CandidateStatus,
    /// The loaded plugin; `None` when it could not be (or must not be)
    /// loaded. Shadowed and conflicting plugins are loaded but unused.
    pub plugin: Option<LoadedPlugin>,
}

/// What a job type is and who provides it.
#[derive(Debug, Clone)]
pub struct JobTypeEntry {
    /// The job type as its plugin declares it (name, file suffixes it
    /// claims, output formats).
    pub decl: JobTypeDecl,
    /// Index into `Registry::candidates`.
    pub candidate: usize,
}

/// Every plugin found on the search path, and which one owns each job type.
#[derive(Debug, Default)]
pub struct Registry {
    /// The search path, in order.
    pub dirs: Vec<SearchDir>,
    /// Every library found, in search order, including unusable ones.
    pub candidates: Vec<Candidate>,
    job_types: BTreeMap<String, JobTypeEntry>,
    /// Job type names in registration order: classification asks them in
    /// this order, so it follows the search path.
    order: Vec<String>,
}

impl Registry {
    /// Load every candidate on the search path. Bad files become candidates
    /// with a `Broken` status; nothing here aborts.
    pub fn discover(search: &SearchPath) -> Registry {
        let mut registry = Registry { dirs: search.dirs.clone(), ..Registry::default() };
        for found in search.candidates() {
            if let Some(why) = found.refused {
                // Not even opened: loading runs the library's initialisers.
                let Found { path, origin, added_by, .. } = found;
                registry.candidates.push(Candidate {
                    path,
                    origin,
                    added_by,
                    status: CandidateStatus::Unsafe(why),
                    plugin: None,
                });
                continue;
            }
            let loaded = load(&found.path);
            registry.add(found, loaded);
        }
        registry
    }

    fn add(&mut self, found: Found, loaded: Result<LoadedPlugin, LoadError>) {
        let Found { path, origin, added_by, .. } = found;
        let index = self.candidates.len();
        let (status, plugin) = match loaded {
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "skipping plugin candidate");
                (CandidateStatus::Broken(e), None)
            }
            Ok(plugin) => {
                let status = self.admit(&plugin, index);
                (status, Some(plugin))
            }
        };
        self.candidates.push(Candidate { path, origin, added_by, status, plugin });
    }

    fn admit(&mut self, plugin: &LoadedPlugin, index: usize) -> CandidateStatus {
        if let Some(first) = self.ready().find(|c| c.plugin.as_ref().is_some_and(|p| p.name() == plugin.name())) {
            return CandidateStatus::Shadowed { by: first.path.clone() };
        }
        for jt in plugin.manifest.job_types.iter() {
            if let Some(entry) = self.job_types.get(jt.name.as_str()) {
                let owner = &self.candidates[entry.candidate];
                return CandidateStatus::Conflict {
                    job_type: jt.name.to_string(),
                    owner: owner.plugin.as_ref().map(|p| p.name().to_owned()).unwrap_or_default(),
                    owner_path: owner.path.clone(),
                };
            }
        }
        for jt in plugin.manifest.job_types.iter() {
            self.order.push(jt.name.to_string());
            self.job_types.insert(jt.name.to_string(), JobTypeEntry { decl: jt.clone(), candidate: index });
        }
        CandidateStatus::Ok
    }

    /// Candidates whose plugin is in use.
    pub fn ready(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates.iter().filter(|c| matches!(c.status, CandidateStatus::Ok))
    }

    /// The plugin in use under this name.
    pub fn plugin(&self, name: &str) -> Option<&LoadedPlugin> {
        self.ready().filter_map(|c| c.plugin.as_ref()).find(|p| p.name() == name)
    }

    /// The plugin that provides `job_type`, and its declaration.
    pub fn job_type(&self, job_type: &str) -> Option<(&LoadedPlugin, &JobTypeDecl)> {
        let entry = self.job_types.get(job_type)?;
        Some((self.candidates[entry.candidate].plugin.as_ref()?, &entry.decl))
    }

    /// Every job type in use, in registration order.
    pub fn job_types(&self) -> impl Iterator<Item = (&LoadedPlugin, &JobTypeDecl)> {
        self.order.iter().filter_map(|name| self.job_type(name))
    }
}

/// Why a build cannot start: a plugin the course's `clx.toml` requires is
/// missing, unusable or too old.
#[derive(Debug, thiserror::Error)]
pub enum RequirementError {
    #[error("clx.toml requires plugin `{wanted}`, but no plugin named `{name}` is installed; install it (`clx plugins install PATH`) or add its directory to `plugins` (see `clx plugins list`)")]
    /// No plugin of that name is in use.
    Missing {
        /// The requirement as written (name and version range).
        wanted: String,
        /// The plugin name looked for.
        name: String,
    },
    #[error(
        "clx.toml requires plugin `{wanted}`, but {path} is not usable ({label}: {reason}); see `clx plugins list`"
    )]
    /// A plugin of that name was found but is not in use.
    Unusable {
        /// The requirement as written (name and version range).
        wanted: String,
        /// The library file found.
        path: PathBuf,
        /// Its status word, as [`CandidateStatus::label`] gives it.
        label: &'static str,
        /// Why it is not in use, as [`CandidateStatus::reason`] gives it.
        reason: String,
    },
    #[error("clx.toml requires plugin `{wanted}`, but {path} is version {found}; install a matching version")]
    /// The plugin in use has a version outside the required range.
    Version {
        /// The requirement as written (name and version range).
        wanted: String,
        /// The library file of the plugin in use.
        path: PathBuf,
        /// The version that plugin reports.
        found: String,
    },
}

impl Registry {
    /// Check the course's `requires-plugins`: each must be loaded and in use
    /// with a matching version. The first that is not stops the build.
    pub fn check_requirements(&self, requirements: &[PluginRequirement]) -> Result<(), RequirementError> {
        match self.unmet_requirements(requirements).into_iter().next() {
            Some(unmet) => Err(unmet),
            None => Ok(()),
        }
    }

    /// Every requirement of `requires-plugins` that is not met, in order,
    /// each saying why (what `clx doctor` lists).
    pub fn unmet_requirements(&self, requirements: &[PluginRequirement]) -> Vec<RequirementError> {
        requirements.iter().filter_map(|req| self.unmet(req)).collect()
    }

    fn unmet(&self, req: &PluginRequirement) -> Option<RequirementError> {
        let wanted = req.to_string();
        if let Some(plugin) = self.plugin(&req.name) {
            return (!req.matches(plugin.manifest.version.as_str())).then(|| RequirementError::Version {
                wanted,
                path: plugin.path.clone(),
                found: plugin.manifest.version.to_string(),
            });
        }
        // Not in use: say why, naming a candidate with that name (or, for
        // one that could not even be read, any that is not usable).
        let named = self.candidates.iter().find(|c| c.plugin.as_ref().is_some_and(|p| p.name() == req.name));
        let unreadable = || self.candidates.iter().find(|c| c.plugin.is_none() && file_stem_names(&c.path, &req.name));
        Some(match named.or_else(unreadable) {
            Some(c) => RequirementError::Unusable {
                wanted,
                path: c.path.clone(),
                label: c.status.label(),
                reason: c.status.reason().unwrap_or_default(),
            },
            None => RequirementError::Missing { wanted, name: req.name.clone() },
        })
    }
}

/// Whether a library file is named for plugin `name` (`libclx_plugin_<name>.so`,
/// `lib<name>.so`, `<name>.dll`, …), for plugins whose manifest cannot be read.
fn file_stem_names(path: &std::path::Path, name: &str) -> bool {
    let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { return false };
    let stem = stem.strip_prefix("lib").unwrap_or(stem);
    let stem = stem.strip_prefix("clx_plugin_").unwrap_or(stem);
    stem.replace('-', "_") == name.replace('-', "_")
}

/// The course model asks the loaded plugins what a file is.
impl Classifier for Registry {
    fn classify(&self, file_name: &str) -> Option<JobClass> {
        self.job_types().find_map(|(plugin, decl)| {
            let suffix = decl.claimed_suffix(file_name)?;
            Some(JobClass {
                plugin: plugin.name().to_owned(),
                job_type: decl.name.to_string(),
                role: decl.role,
                formats: decl.formats.iter().map(|f| f.to_string()).collect(),
                numbered: decl.numbered,
                suffix: suffix.to_owned(),
                densities: decl.densities.iter().map(|d| (d.format.to_string(), d.density)).collect(),
            })
        })
    }

    fn suffixes(&self, role: clx_plugin_api::Role) -> Vec<String> {
        let mut suffixes: Vec<String> = self
            .job_types()
            .filter(|(_, decl)| decl.role == role)
            .flat_map(|(_, decl)| decl.suffixes.iter().map(|s| s.to_string()))
            .collect();
        suffixes.dedup();
        suffixes
    }

    fn claimed_by_unusable(&self, file_name: &str) -> Option<UnusableClaim> {
        // Only a shadowed or conflicting plugin has a manifest to ask; a job
        // type some usable plugin provides is not missing.
        self.candidates
            .iter()
            .filter(|c| matches!(c.status, CandidateStatus::Shadowed { .. } | CandidateStatus::Conflict { .. }))
            .find_map(|c| {
                let plugin = c.plugin.as_ref()?;
                let decl = plugin
                    .manifest
                    .job_types
                    .iter()
                    .find(|jt| !self.job_types.contains_key(jt.name.as_str()) && jt.claims(file_name))?;
                Some(UnusableClaim {
                    plugin: plugin.name().to_owned(),
                    path: c.path.clone(),
                    job_type: decl.name.to_string(),
                    reason: c.status.reason().unwrap_or_default(),
                })
            })
    }
}
