//! The Jinja pre-pass keeps the line count (so minijinja's error lines are
//! the deck's lines), and rendering never panics.
#![no_main]

use clx_plugin_notebook::template::{self, Byline, Globals};
use clx_plugin_notebook::ProgLang;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, &str)| {
    let (python, text) = input;
    let lang = if python { ProgLang::Python } else { ProgLang::Cpp };
    let comment = lang.comment();
    let rewritten = template::rewrite_line_statements(text, comment);
    assert_eq!(
        rewritten.matches('\n').count(),
        text.matches('\n').count(),
        "the pre-pass changed the line count:\n{rewritten}"
    );
    let globals = Globals { is_notebook: python, is_html: false, lang: "de", byline: Byline::default() };
    if let Err(err) = template::render(text, comment, lang.builtin_macros(), &globals) {
        if let Some(line) = err.line {
            assert!(line >= 1 && line as usize <= text.matches('\n').count() + 1, "{err:?}");
        }
    }
});
