//! The notebook writers: the ipynb bytes are JSON that parses back to the
//! notebook, each cell's source lines join to the cell's source, and the
//! code file is UTF-8 - for any deck, kind and language.
#![no_main]

use clx_plugin_notebook::{build_variant, code, ipynb, Byline, DeckInput, Format, Kind, ProgLang};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &str)| {
    let (choice, text) = input;
    let prog_lang = [ProgLang::Python, ProgLang::Cpp, ProgLang::CSharp, ProgLang::Java, ProgLang::TypeScript]
        [usize::from(choice % 5)];
    let kind = [Kind::CodeAlong, Kind::Completed, Kind::Speaker][usize::from(choice / 5 % 3)];
    let lang = if choice & 0x80 == 0 { "de" } else { "en" };
    let input = DeckInput { text, lang, prog_lang, byline: Byline::default(), macros: None };
    let Ok(variant) = build_variant(&input, kind, Format::Ipynb) else { return };
    let notebook = variant.notebook();
    let bytes = ipynb::to_bytes(&notebook);
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).expect("the ipynb writer writes JSON");
    assert_eq!(parsed, notebook);
    for (cell, json) in variant.cells.iter().zip(parsed["cells"].as_array().expect("cells")) {
        let joined: String =
            json["source"].as_array().expect("source lines").iter().filter_map(|l| l.as_str()).collect();
        assert_eq!(joined, cell.source);
    }
    let code = code::to_bytes(&variant.cells, prog_lang, variant.meta.encoding.as_deref());
    assert!(String::from_utf8(code).is_ok());
});
