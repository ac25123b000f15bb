//! The plugin-api version a plugin declares, and whether a host can use it.
//!
//! `abi_stable` checks versions too, but it accepts a library built against a
//! *newer* 0.x minor and then fails on the layout, with a report that never
//! names either version. A plain C symbol the host reads before `abi_stable`
//! looks at anything lets it say which version the plugin was built against
//! and what to rebuild against.

use std::ffi::{c_char, CStr};

/// Name of the plain C function every plugin built with
/// [`export_plugin!`](crate::export_plugin) exports. It has the type
/// [`ApiVersionFn`] and returns [`API_VERSION`](crate::API_VERSION) of the
/// plugin-api the plugin was compiled against.
///
/// Unlike the `abi_stable` root module, reading it needs no layout agreement,
/// so a host can read it from a plugin of any plugin-api version. Plugins
/// built before the symbol existed do not export it; for them the host has only
/// `abi_stable`'s own check.
pub const API_VERSION_SYMBOL: &str = "clx_plugin_api_version";

/// Type of the function named by [`API_VERSION_SYMBOL`]: it returns a pointer
/// to a NUL-terminated ASCII version string that lives as long as the library
/// stays loaded.
pub type ApiVersionFn = extern "C" fn() -> *const c_char;

/// [`API_VERSION`](crate::API_VERSION) with a trailing NUL, in static memory
/// of whichever library links this crate; what `clx_plugin_api_version`
/// returns.
#[doc(hidden)]
pub static API_VERSION_C: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
    Ok(version) => version,
    Err(_) => panic!("the crate version contains a NUL byte"),
};

/// A version as `major.minor.patch`, with pre-release and build suffixes
/// ignored: compatibility is decided by the numbers alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
}

impl Version {
    /// `1.2.3`, `1.2.3-rc.1`, `1.2.3+build` and `1.2` (patch 0) parse.
    fn parse(text: &str) -> Option<Version> {
        let core = text.trim().split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let number = |part: Option<&str>| -> Option<u64> {
            let part = part?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        let patch = match parts.next() {
            None => 0,
            some => number(some)?,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Version { major, minor, patch })
    }

    /// The release line this version belongs to, as a plugin author would
    /// name it in `Cargo.toml`: `0.1` for 0.x, `1` for 1.x and later.
    fn line(self) -> String {
        if self.major == 0 {
            format!("0.{}", self.minor)
        } else {
            self.major.to_string()
        }
    }
}

/// Whether a plugin built against plugin-api `plugin` can be loaded by a host
/// that implements plugin-api `host`; `Err` holds the message to show, naming
/// both versions and what to rebuild against.
///
/// Cargo's semver rules apply: for 0.x a new minor version is breaking, so the
/// minors must match; from 1.0 on the majors must match and the plugin must not
/// be newer than the host (it may use items the host does not have). Patch
/// versions never matter.
///
/// ```
/// use clx_plugin_api::check_api_version;
///
/// assert!(check_api_version("0.1.0", "0.1.4").is_ok());
/// assert_eq!(
///     check_api_version("0.2.0", "0.1.0").unwrap_err(),
///     "built against plugin-api 0.2.0; this clx speaks 0.1.x: rebuild against 0.1",
/// );
/// ```
pub fn check_api_version(plugin: &str, host: &str) -> Result<(), String> {
    let Some(theirs) = Version::parse(plugin) else {
        let shown: String = plugin.chars().take(40).collect();
        return Err(match Version::parse(host) {
            Some(ours) => format!(
                "declares plugin-api version {shown:?}, which is not a version: rebuild against {}",
                ours.line()
            ),
            None => format!("declares plugin-api version {shown:?}, which is not a version"),
        });
    };
    let Some(ours) = Version::parse(host) else {
        return Err(format!(
            "built against plugin-api {plugin}; this clx's own plugin-api version {host:?} is unreadable"
        ));
    };
    let compatible = if ours.major == 0 {
        theirs.major == 0 && theirs.minor == ours.minor
    } else {
        theirs.major == ours.major && theirs.minor <= ours.minor
    };
    if compatible {
        return Ok(());
    }
    let speaks = if ours.major == 0 {
        format!("0.{}.x", ours.minor)
    } else {
        format!("{}.0 to {}.{}.x", ours.major, ours.major, ours.minor)
    };
    let rebuild = if ours.major == 0 { ours.line() } else { format!("{}.{}", ours.major, ours.minor) };
    Err(format!("built against plugin-api {plugin}; this clx speaks {speaks}: rebuild against {rebuild}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_zero_minor_names_both_versions_and_the_line_to_rebuild_against() {
        assert_eq!(
            check_api_version("0.2.0", "0.1.0").unwrap_err(),
            "built against plugin-api 0.2.0; this clx speaks 0.1.x: rebuild against 0.1"
        );
    }

    #[test]
    fn an_older_zero_minor_is_refused_too() {
        assert_eq!(
            check_api_version("0.0.3", "0.1.2").unwrap_err(),
            "built against plugin-api 0.0.3; this clx speaks 0.1.x: rebuild against 0.1"
        );
    }

    #[test]
    fn patch_versions_never_matter() {
        assert_eq!(check_api_version("0.1.0", "0.1.9"), Ok(()));
        assert_eq!(check_api_version("0.1.9", "0.1.0"), Ok(()));
        assert_eq!(check_api_version("1.2.7", "1.2.0"), Ok(()));
    }

    #[test]
    fn from_one_on_an_older_minor_loads_and_a_newer_one_does_not() {
        assert_eq!(check_api_version("1.0.0", "1.3.0"), Ok(()));
        assert_eq!(
            check_api_version("1.4.0", "1.3.2").unwrap_err(),
            "built against plugin-api 1.4.0; this clx speaks 1.0 to 1.3.x: rebuild against 1.3"
        );
        assert_eq!(
            check_api_version("2.0.0", "1.3.2").unwrap_err(),
            "built against plugin-api 2.0.0; this clx speaks 1.0 to 1.3.x: rebuild against 1.3"
        );
    }

    #[test]
    fn zero_and_one_are_different_lines() {
        assert!(check_api_version("0.1.0", "1.0.0").is_err());
        assert!(check_api_version("1.0.0", "0.1.0").is_err());
    }

    #[test]
    fn pre_release_and_build_suffixes_are_ignored() {
        assert_eq!(check_api_version("0.1.0-rc.1", "0.1.0"), Ok(()));
        assert_eq!(check_api_version("0.1.0+abc", "0.1.0"), Ok(()));
    }

    #[test]
    fn a_version_that_is_not_one_is_refused_with_what_to_rebuild_against() {
        for bad in ["", "x", "0.", "0.1.", "0.1.2.3", "0.x.1", "-1.0.0"] {
            let message = check_api_version(bad, "0.1.0").unwrap_err();
            assert!(message.contains("which is not a version: rebuild against 0.1"), "{bad:?}: {message}");
        }
    }

    #[test]
    fn an_absurdly_long_version_is_cut_in_the_message() {
        let message = check_api_version(&"9".repeat(500), "0.1.0").unwrap_err();
        assert!(message.len() < 120, "{message}");
    }

    #[test]
    fn the_exported_version_string_is_this_crates_version() {
        assert_eq!(API_VERSION_C.to_str(), Ok(crate::API_VERSION));
        assert_eq!(check_api_version(crate::API_VERSION, crate::API_VERSION), Ok(()));
    }
}
