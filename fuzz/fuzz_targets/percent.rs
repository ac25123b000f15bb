//! The percent reader and the code writer round-trip: reading what the code
//! writer wrote gives back the same cells (type and source), for every deck
//! the format can express.
#![no_main]

use clx_plugin_notebook::{code, percent, ProgLang};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, &str)| {
    let (python, text) = input;
    let lang = if python { ProgLang::Python } else { ProgLang::Cpp };
    let comment = lang.comment();
    // Carriage returns are line ends only before a newline (CRLF); a lone
    // one stays in the line, where the code writer's final newline can turn
    // it into a CRLF. Decks come from editors, which write no lone CRs.
    if text.contains('\r') {
        return;
    }
    let deck = percent::read(text, comment, python);
    let written = code::to_bytes(&deck.cells, lang, deck.encoding.as_deref());
    let written = String::from_utf8(written).expect("the code writer writes UTF-8");
    if deck.cells.is_empty() {
        // The one asymmetry: no cells write "\n", and a
        // blank-only text reads as one empty code cell.
        assert!(written == "\n" || deck.encoding.is_some(), "{written:?}");
        return;
    }
    // A markdown line that itself starts with `%%` (after blanks) is written as `# %%…`,
    // a cell marker: the percent format (like jupytext) cannot say it.
    let says_marker = |c: &clx_plugin_notebook::cell::Cell| {
        c.cell_type != clx_plugin_notebook::cell::CellType::Code && c.source.lines().any(|l| l.trim_start().starts_with("%%"))
    };
    // An empty cell right before a cell of its type writes the same marker
    // twice, which the reader takes as one cell by design (a C-family header
    // macro emits the marker its author also wrote).
    let merges = deck.cells.windows(2).any(|w| {
        w[0].source.is_empty()
            && w[0].cell_type == w[1].cell_type
            && w[0].metadata.get("lines_to_next_cell").and_then(|v| v.as_u64()) == Some(0)
    });
    if merges || deck.cells.iter().any(says_marker) {
        return;
    }
    let again = percent::read(&written, comment, python);
    // Trailing blank (or whitespace-only) lines are where the reader and
    // the writer, like jupytext's, disagree on whose they are: the cell's or
    // the separator's. They are never content.
    let shape = |d: &percent::Deck| {
        d.cells.iter().map(|c| (c.cell_type, c.source.trim_end().to_owned())).collect::<Vec<_>>()
    };
    assert_eq!(shape(&deck), shape(&again), "code file:\n{written}");
});
