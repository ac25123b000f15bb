//! The front end: reads the course and nothing else. It turns a spec and the
//! files below `slides/` into a [`plan::Plan`]; it knows no queue, cache,
//! worker or plugin library (plugins answer through [`Classifier`]).

pub mod deck_text;
pub mod frame;
pub mod home;
pub mod lang;
pub mod layout;
pub mod model;
pub mod paths;
pub mod plan;
pub mod planner;
pub mod present;
pub mod print;
pub mod scan;
pub mod site;
pub mod spec;
#[cfg(test)]
pub(crate) mod testing;
pub mod title;

pub use plan::{Classifier, JobClass};
