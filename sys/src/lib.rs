//! What clx and its bundled plugins ask of the operating system, in one
//! place: every call that only some systems have (`prctl`, `/proc`) lives
//! in this crate, behind a function named for what it achieves, with the
//! fallback other systems get written beside it. Nothing else in the
//! workspace calls `prctl` or reads `/proc`; a tidy test in the host pins
//! that.
//!
//! Linux is the system clx is built and tested on. The fallbacks keep the
//! rest of the workspace compiling and working on other Unix systems
//! (macOS), with the protection the function documents as missing.

pub mod net;
pub mod process;
pub mod sandbox;
