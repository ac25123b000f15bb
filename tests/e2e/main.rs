//! End-to-end tests: the built `clx` binary with the built plugin libraries.

mod bad_inputs;
mod course;
mod drawio;
mod engine;
mod envs;
mod failures;
mod faults;
mod golden;
mod install;
mod isolation;
mod languages;
mod messages;
mod pages;
mod pdf;
mod platform;
mod plugins;
mod postgres;
mod reach;
mod runs;
mod serve;
mod site;
mod slides;
mod timings;
mod watch;
mod windows_text;
