//! `clx init DIR`: a new course that builds at once, with one example of
//! everything an author touches first (spec, decks with both languages and
//! the common tags, a diagram, a data file, settings, the title macro).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::cli::{InitArgs, InitLang};

const COURSE_XML: &str = include_str!("../../templates/init/course.xml");
const CLX_TOML: &str = include_str!("../../templates/init/clx.toml");
const MACROS: &str = include_str!("../../templates/init/macros.j2");
const WELCOME: &str = include_str!("../../templates/init/slides_welcome.txt");
const NEXT_STEPS: &str = include_str!("../../templates/init/topic_next_steps.txt");
const DIAGRAM: &str = include_str!("../../templates/init/overview.pu");
const DATA: &str = include_str!("../../templates/init/numbers.csv");
const GITIGNORE: &str = include_str!("../../templates/init/gitignore");

/// What differs between the languages of a new course's decks.
struct LangParts {
    /// As in `<prog-lang>` and `templates/<name>/`.
    name: &'static str,
    ext: &'static str,
    comment: &'static str,
    /// A cell kept in code-along notebooks.
    keep: &'static str,
    /// A cell participants type along.
    code: &'static str,
    /// A greeting, needing nothing but the language.
    hello: &'static str,
}

fn parts(lang: InitLang) -> LangParts {
    match lang {
        InitLang::Python => LangParts {
            name: "python",
            ext: "py",
            comment: "#",
            keep: "import csv",
            code: "with open(\"data/numbers.csv\") as f:\n    rows = list(csv.DictReader(f))\nsum(int(r[\"value\"]) for r in rows)",
            hello: "print(\"Hello from clx!\")",
        },
        InitLang::Typescript => LangParts {
            name: "typescript",
            ext: "ts",
            comment: "//",
            keep: "const values: number[] = [1, 2, 3];",
            code: "const total = values.reduce((a, b) => a + b, 0);\nconsole.log(total);",
            hello: "console.log(\"Hello from clx!\");",
        },
        InitLang::Cpp => LangParts {
            name: "cpp",
            ext: "cpp",
            comment: "//",
            keep: "#include <iostream>",
            code: "int total = 1 + 2 + 3;\nstd::cout << total << \"\\n\";",
            hello: "std::cout << \"Hello from clx!\\n\";",
        },
        InitLang::Csharp => LangParts {
            name: "csharp",
            ext: "cs",
            comment: "//",
            keep: "var values = new[] { 1, 2, 3 };",
            code: "var total = values.Sum();\nConsole.WriteLine(total);",
            hello: "Console.WriteLine(\"Hello from clx!\");",
        },
        InitLang::Java => LangParts {
            name: "java",
            ext: "java",
            comment: "//",
            keep: "int[] values = {1, 2, 3};",
            code: "int total = java.util.Arrays.stream(values).sum();\nSystem.out.println(total);",
            hello: "System.out.println(\"Hello from clx!\");",
        },
        InitLang::Rust => LangParts {
            name: "rust",
            ext: "rs",
            comment: "//",
            keep: "let values = [1, 2, 3];",
            code: "let total: i32 = values.iter().sum();\nprintln!(\"{total}\");",
            hello: "println!(\"Hello from clx!\");",
        },
    }
}

pub fn run(args: InitArgs) -> Result<ExitCode> {
    let dir = &args.dir;
    if dir.exists() && !dir.is_dir() {
        bail!("{} exists and is not a directory", dir.display());
    }
    if !args.force && is_non_empty(dir)? {
        bail!("{} is not empty; pick a new directory or pass --force to write into it", dir.display());
    }
    let name = match &args.name {
        Some(n) if !n.trim().is_empty() => n.trim().to_owned(),
        Some(_) => bail!("--name is empty; give the course a name"),
        None => default_name(dir),
    };
    let files = course_files(&name, &parts(args.lang));
    for (rel, text) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let spec = dir.join("course-specs").join("course.xml");
    println!("created the course \"{name}\" in {} ({} files)", dir.display(), files.len());
    println!("build it with:\n  clx build {}", spec.display());
    Ok(ExitCode::SUCCESS)
}

fn is_non_empty(dir: &Path) -> Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

/// `my-course` -> `My Course`; a directory without a usable name gets a generic one.
fn default_name(dir: &Path) -> String {
    let base = dir
        .canonicalize()
        .ok()
        .or_else(|| Some(dir.to_path_buf()))
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let words: Vec<String> = base
        .split(['-', '_', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
        })
        .collect();
    if words.is_empty() {
        "My Course".to_owned()
    } else {
        words.join(" ")
    }
}

/// Every file of a new course, relative to its root.
fn course_files(name: &str, lang: &LangParts) -> Vec<(PathBuf, String)> {
    let deck = |template: &str| {
        template
            .replace("@KEEP@", lang.keep)
            .replace("@CODE@", lang.code)
            .replace("@HELLO@", lang.hello)
            .replace("@C@", lang.comment)
    };
    let module = Path::new("slides").join("module_100_intro");
    let topic = module.join("topic_100_welcome");
    vec![
        (
            PathBuf::from("course-specs/course.xml"),
            COURSE_XML.replace("@NAME@", &xml_escape(name)).replace("@LANG@", lang.name).replace("@EXT@", lang.ext),
        ),
        (PathBuf::from("clx.toml"), CLX_TOML.to_owned()),
        (PathBuf::from(".gitignore"), GITIGNORE.to_owned()),
        (Path::new("templates").join(lang.name).join("macros.j2"), MACROS.replace("@C@", lang.comment)),
        (topic.join(format!("slides_welcome.{}", lang.ext)), deck(WELCOME)),
        (topic.join("pu").join("overview.pu"), DIAGRAM.to_owned()),
        (topic.join("data").join("numbers.csv"), DATA.to_owned()),
        (module.join(format!("topic_110_next_steps.{}", lang.ext)), deck(NEXT_STEPS)),
    ]
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_become_course_names() {
        assert_eq!(default_name(Path::new("/tmp/my-new_course")), "My New Course");
        assert_eq!(default_name(Path::new("/")), "My Course");
    }

    #[test]
    fn decks_use_the_language_comment_and_leave_no_placeholder() {
        for lang in [InitLang::Python, InitLang::Typescript, InitLang::Cpp, InitLang::Csharp, InitLang::Java] {
            let parts = parts(lang);
            for (path, text) in course_files("A & B", &parts) {
                assert!(!text.contains('@') || path.ends_with("overview.pu"), "{}: {text}", path.display());
                if path.extension().is_some_and(|e| e == parts.ext) {
                    assert!(text.starts_with(&format!("{} j2 from", parts.comment)), "{text}");
                }
            }
        }
    }
}
