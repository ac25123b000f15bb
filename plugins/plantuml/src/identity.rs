//! The tool identity, read from files instead of asked of a JVM: the jar's
//! manifest version and content hash, the Java runtime's `release` file and
//! Graphviz's `dot -V`. `java -jar plantuml.jar -version` starts a JVM (a
//! fifth of a second and more CPU), and a cold build cannot key a single
//! diagram before its tool identity is known.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pipe::Tools;

/// `PlantUML <version> (<hash>); Java <runtime>; dot - graphviz version …`:
/// replacing the jar, the JVM or Graphviz renders the diagrams again.
pub fn identity(tools: &Tools) -> Result<String, String> {
    let plantuml = plantuml(&tools.jar)?;
    let java = java(&tools.java)?;
    let dot = Command::new("dot")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
        .unwrap_or_else(|_| "no dot".into());
    Ok(format!("{plantuml}; {java}; {dot}"))
}

/// The jar's `Implementation-Version` and the start of its BLAKE3 hash (two
/// builds of one version differ in bytes).
fn plantuml(jar: &Path) -> Result<String, String> {
    let not_plantuml =
        |why: &str| format!("{} is not a PlantUML jar ({why}); install PlantUML with scripts/setup", jar.display());
    let bytes = std::fs::read(jar)
        .map_err(|e| format!("cannot read the PlantUML jar {} ({e}); run scripts/setup", jar.display()))?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).map_err(|e| not_plantuml(&e.to_string()))?;
    let mut manifest = String::new();
    archive
        .by_name("META-INF/MANIFEST.MF")
        .map_err(|e| not_plantuml(&format!("META-INF/MANIFEST.MF: {e}")))?
        .read_to_string(&mut manifest)
        .map_err(|e| not_plantuml(&format!("META-INF/MANIFEST.MF: {e}")))?;
    if manifest_value(&manifest, "Main-Class").is_none_or(|main| !main.starts_with("net.sourceforge.plantuml.")) {
        return Err(not_plantuml("its manifest names another program"));
    }
    let version = manifest_value(&manifest, "Implementation-Version").unwrap_or("unknown version");
    let hash = blake3::hash(&bytes).to_hex();
    Ok(format!("PlantUML {version} ({})", &hash[..16]))
}

/// A main-section attribute of a jar manifest (`Name: value`, lines wrapped
/// at 72 bytes continue with a space).
fn manifest_value<'m>(manifest: &'m str, name: &str) -> Option<&'m str> {
    manifest
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// `Java <JAVA_RUNTIME_VERSION>` from the `release` file of the runtime that
/// `java` belongs to; a runtime without one is named by its path.
fn java(java: &Path) -> Result<String, String> {
    let found: PathBuf = if java.components().count() > 1 {
        java.to_owned()
    } else {
        which::which(java).map_err(|_| {
            format!("cannot find `{}` on PATH; install Java: scripts/setup (or set JAVA_HOME)", java.display())
        })?
    };
    let real = found
        .canonicalize()
        .map_err(|e| format!("cannot run `{}` ({e}); install Java: scripts/setup", found.display()))?;
    let release = real.parent().and_then(Path::parent).map(|home| home.join("release"));
    let text = release.and_then(|r| std::fs::read_to_string(r).ok()).unwrap_or_default();
    let value = |key: &str| {
        text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=')).map(|v| v.trim().trim_matches('"').to_owned())
    };
    Ok(match value("JAVA_RUNTIME_VERSION").or_else(|| value("JAVA_VERSION")) {
        Some(version) => format!("Java {version}"),
        None => format!("Java at {}", real.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_attribute_is_read_from_the_main_section_only() {
        let manifest = "Manifest-Version: 1.0\r\nMain-Class: net.sourceforge.plantuml.Run\r\n\
                        Implementation-Version: 1.2026.8\r\nClass-Path: a.jar b\r\n c.jar\r\n\r\n\
                        Name: other\r\nImplementation-Version: 9\r\n";
        assert_eq!(manifest_value(manifest, "Implementation-Version"), Some("1.2026.8"));
        assert_eq!(manifest_value(manifest, "Main-Class"), Some("net.sourceforge.plantuml.Run"));
        assert_eq!(manifest_value(manifest, "Name"), None);
    }

    #[test]
    fn a_file_that_is_not_a_plantuml_jar_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let jar = dir.path().join("plantuml.jar");
        std::fs::write(&jar, b"not a zip").unwrap();
        let err = plantuml(&jar).unwrap_err();
        assert!(err.starts_with(&format!("{} is not a PlantUML jar (", jar.display())), "{err}");
        assert!(err.ends_with("install PlantUML with scripts/setup"), "{err}");
    }

    #[test]
    fn java_missing_from_path_names_the_setup_command() {
        let err = java(Path::new("clx-no-such-java")).unwrap_err();
        assert_eq!(err, "cannot find `clx-no-such-java` on PATH; install Java: scripts/setup (or set JAVA_HOME)");
    }
}
