//! All plugins found on the search path, each job type with exactly one owner.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clx_plugin_api::JobTypeDecl;

use crate::course::{Classifier, JobClass};

use super::loader::{load, LoadError, LoadedPlugin};
use super::search::{Found, SearchDir, SearchOrigin, SearchPath};

#[derive(Debug)]
pub enum CandidateStatus {
    Ok,
    /// A plugin of the same name earlier in the search path wins.
    Shadowed {
        by: PathBuf,
    },
    /// Claims a job type another plugin already provides; none of its job
    /// types are used, so a build never depends on search-path accidents.
    Conflict {
        job_type: String,
        owner: String,
        owner_path: PathBuf,
    },
    Broken(LoadError),
    /// Never loaded: others could change the library (see `search`).
    Unsafe(String),
}

impl CandidateStatus {
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

#[derive(Debug)]
pub struct Candidate {
    pub path: PathBuf,
    pub origin: SearchOrigin,
    /// Who put its directory on the search path.
    pub added_by: String,
    pub status: CandidateStatus,
    pub plugin: Option<LoadedPlugin>,
}

/// What a job type is and who provides it.
#[derive(Debug, Clone)]
pub struct JobTypeEntry {
    pub decl: JobTypeDecl,
    /// Index into `Registry::candidates`.
    pub candidate: usize,
}

#[derive(Debug, Default)]
pub struct Registry {
    /// The search path, in order.
    pub dirs: Vec<SearchDir>,
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

/// The course model asks the loaded plugins what a file is.
impl Classifier for Registry {
    fn classify(&self, file_name: &str) -> Option<JobClass> {
        self.job_types().find(|(_, decl)| decl.claims(file_name)).map(|(plugin, decl)| JobClass {
            plugin: plugin.name().to_owned(),
            job_type: decl.name.to_string(),
            role: decl.role,
            formats: decl.formats.iter().map(|f| f.to_string()).collect(),
        })
    }
}
