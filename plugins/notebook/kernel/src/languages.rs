//! The course languages and the Jupyter kernels they run in: one kernelspec
//! name per language, the same in notebook metadata and in execution, and
//! how to install each kernel.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::kernelspec;
use crate::KernelError;

/// A deck language and its default kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Language {
    /// The course spec's `prog-lang` (`python`, `cpp`, …).
    pub prog_lang: &'static str,
    /// Deck file suffix.
    pub suffix: &'static str,
    /// Human name, for messages.
    pub display: &'static str,
    /// The kernelspec name the language's usual installer writes.
    pub kernel: &'static str,
    /// The exact command that installs that kernelspec.
    pub install: &'static str,
}

pub const LANGUAGES: &[Language] = &[
    Language {
        prog_lang: "python",
        suffix: ".py",
        display: "Python",
        kernel: "python3",
        install: "scripts/setup (ipykernel from PyPI into the tools venv)",
    },
    Language {
        prog_lang: "cpp",
        suffix: ".cpp",
        display: "C++",
        kernel: "xcpp17",
        install:
            "micromamba create -n xeus-cpp -c conda-forge xeus-cpp, then add that env's share/jupyter to JUPYTER_PATH",
    },
    Language {
        prog_lang: "csharp",
        suffix: ".cs",
        display: "C#",
        kernel: ".net-csharp",
        install: "dotnet tool install -g Microsoft.dotnet-interactive && dotnet interactive jupyter install",
    },
    Language {
        prog_lang: "java",
        suffix: ".java",
        display: "Java",
        kernel: "java",
        install: "scripts/setup --kernels java (PyPI jjava into the tools venv, and a JDK with jshell from apt default-jdk-headless; or: pip install jjava)",
    },
    Language {
        prog_lang: "typescript",
        suffix: ".ts",
        display: "TypeScript",
        kernel: "deno",
        install: "scripts/setup --kernels typescript (or: pip install deno && deno jupyter --install)",
    },
    Language {
        prog_lang: "rust",
        suffix: ".rs",
        display: "Rust",
        kernel: "rust",
        install: "scripts/setup --kernels rust (or: cargo install --locked evcxr_jupyter && evcxr_jupyter --install)",
    },
];

/// The language of a course spec's `prog-lang` (`c` is C++'s alias).
pub fn language(prog_lang: &str) -> Option<&'static Language> {
    let prog_lang = if prog_lang == "c" { "cpp" } else { prog_lang };
    LANGUAGES.iter().find(|l| l.prog_lang == prog_lang)
}

/// The default kernelspec a course language runs in.
pub fn kernel_for(prog_lang: &str) -> Option<&'static str> {
    language(prog_lang).map(|l| l.kernel)
}

/// Per-language kernel names from `clx.toml` over the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelChoice {
    overrides: BTreeMap<String, String>,
}

impl KernelChoice {
    /// Checks that every key is a course language and every name is a
    /// plausible kernelspec directory name.
    pub fn new(overrides: BTreeMap<String, String>) -> Result<KernelChoice, String> {
        for (lang, name) in &overrides {
            if language(lang).is_none() {
                let known: Vec<&str> = LANGUAGES.iter().map(|l| l.prog_lang).collect();
                return Err(format!("no course language `{lang}` (known: {})", known.join(", ")));
            }
            if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
                return Err(format!("`{name}` is not a kernelspec name (language {lang})"));
            }
        }
        Ok(KernelChoice { overrides })
    }

    /// The kernelspec name for `prog_lang`, `None` for an unknown language.
    pub fn kernel(&self, prog_lang: &str) -> Option<&str> {
        let lang = language(prog_lang)?;
        Some(self.overrides.get(lang.prog_lang).map(String::as_str).unwrap_or(lang.kernel))
    }

    /// Whether `prog_lang` runs in a kernel other than its default.
    pub fn is_overridden(&self, prog_lang: &str) -> bool {
        language(prog_lang).is_some_and(|l| self.overrides.contains_key(l.prog_lang))
    }
}

/// One line of an environment report: a language, the kernelspec it runs
/// in, and where that was found or why not.
#[derive(Debug)]
pub struct LanguageStatus {
    pub language: &'static Language,
    pub kernel: String,
    /// The `kernel.json` in use, or the missing-kernel error with the paths
    /// searched and the install command.
    pub found: Result<PathBuf, KernelError>,
}

/// Every course language with its kernelspec, looked up the way a build
/// looks it up (`env_prefixes`: environments searched first, as for
/// [`crate::Executor::new`]). For a `doctor` command.
pub fn survey(env_prefixes: &[PathBuf], choice: &KernelChoice) -> Vec<LanguageStatus> {
    let dirs = kernelspec::data_dirs(env_prefixes);
    LANGUAGES
        .iter()
        .map(|language| {
            let kernel = choice.kernel(language.prog_lang).unwrap_or(language.kernel).to_owned();
            let found = kernelspec::find(&kernel, &dirs)
                .map(|spec| spec.dir.join("kernel.json"))
                .map_err(|e| e.for_language(language.prog_lang));
            LanguageStatus { language, kernel, found }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_names_the_installers_write() {
        let names: Vec<(&str, &str)> = LANGUAGES.iter().map(|l| (l.prog_lang, l.kernel)).collect();
        assert_eq!(
            names,
            [
                ("python", "python3"),
                ("cpp", "xcpp17"),
                ("csharp", ".net-csharp"),
                ("java", "java"),
                ("typescript", "deno"),
                ("rust", "rust")
            ]
        );
        assert_eq!(kernel_for("c"), Some("xcpp17"));
    }

    #[test]
    fn an_override_replaces_one_language_only() {
        let choice = KernelChoice::new([("cpp".to_owned(), "xcpp20".to_owned())].into()).unwrap();
        assert_eq!(choice.kernel("cpp"), Some("xcpp20"));
        assert_eq!(choice.kernel("c"), Some("xcpp20"));
        assert!(choice.is_overridden("cpp") && !choice.is_overridden("python"));
        assert_eq!(choice.kernel("python"), Some("python3"));
        assert_eq!(choice.kernel("cobol"), None);
    }

    #[test]
    fn overrides_for_unknown_languages_or_path_like_names_are_refused() {
        let err = KernelChoice::new([("cobol".to_owned(), "x".to_owned())].into()).unwrap_err();
        assert!(err.contains("cobol") && err.contains("typescript"), "{err}");
        assert!(KernelChoice::new([("cpp".to_owned(), "../x".to_owned())].into()).is_err());
    }

    #[test]
    fn a_missing_kernel_names_language_kernelspec_paths_and_install_command() {
        let empty = tempfile::tempdir().unwrap();
        let error = kernelspec::find("rust", &[empty.path().to_owned()]).unwrap_err().for_language("rust");
        assert!(error.is_environment());
        let text = error.to_string();
        for part in ["Rust", "`rust`", &empty.path().display().to_string(), "evcxr_jupyter --install"] {
            assert!(text.contains(part), "{part} missing from: {text}");
        }
    }
}
