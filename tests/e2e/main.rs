//! End-to-end tests: the built `clx` binary with the built plugin libraries.

mod engine;
mod plugins;
mod watch;
