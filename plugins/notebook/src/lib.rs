//! Notebook converter: percent-format slide decks -> notebooks, code files and HTML.
//!
//! Stages: the deck is a Jinja template
//! ([`template`]), read like jupytext's percent format ([`percent`]),
//! filtered per kind and language ([`kind`]), then written as nbformat
//! ([`ipynb`]) or code ([`code`]). [`deck`] chains them; [`plugin`] answers
//! host jobs.

pub mod cell;
pub mod cell_id;
pub mod code;
pub mod deck;
pub mod env;
pub mod execute;
pub mod html;
pub mod ipynb;
pub mod kind;
pub mod lang;
pub mod percent;
mod plugin;
mod shared_run;
pub mod slides;
pub mod template;

pub use deck::{build_variant, deck_outputs, DeckError, DeckInput, Format, Variant};
pub use kind::Kind;
pub use lang::ProgLang;
pub use plugin::Notebook;
pub use template::Byline;

clx_plugin_api::export_plugin!(Notebook);
