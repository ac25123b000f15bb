//! The golden decks through the real worker path (`clx build`, queue,
//! worker, cache, output tree): every notebook and code file equals what the
//! notebook plugin's pipeline produces, which its own tests pin byte for
//! byte to the golden files.

use std::path::{Path, PathBuf};

use clx_e2e::*;
use clx_plugin_notebook::{deck_outputs, Byline, DeckInput, Format, Kind, ProgLang};

const DECKS: [&str; 6] = [
    "slides_a_topic_from_test_2.py",
    "slides_simple_notebook.py",
    "slides_some_topic_from_test_1.py",
    "slides_tags_demo.py",
    "topic_100_slides_in_test_3.py",
    "topic_110_another_topic_from_test_1.py",
];

fn golden() -> PathBuf {
    repo_root().join("plugins/notebook/tests/golden")
}

/// The only deck output (`NN Title.ext`) with this extension in `dir`.
fn single(dir: &Path, ext: &str) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("01 ")))
        .collect();
    assert_eq!(files.len(), 1, "{}: {files:?}", dir.display());
    files[0].clone()
}

#[test]
fn golden_decks_come_out_of_the_worker_path_unchanged() {
    let macros = std::fs::read_to_string(golden().join("macros/python.j2")).unwrap();
    let mut files: Vec<(String, String)> = Vec::new();
    let mut topics = Vec::new();
    for (i, deck) in DECKS.iter().enumerate() {
        let text = std::fs::read_to_string(golden().join("inputs").join(deck)).unwrap();
        files.push((format!("d{i}/{deck}"), text));
        topics.push(format!("d{i}"));
    }
    files.push(("d4/include_me.py".into(), std::fs::read_to_string(golden().join("inputs/include_me.py")).unwrap()));
    // One section per deck, so each section folder holds exactly one deck.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut sections = String::new();
    for (i, topic) in topics.iter().enumerate() {
        sections.push_str(&format!(
            "<section><name><de>S{i}</de><en>S{i}</en></name><topics><topic>{topic}</topic></topics></section>"
        ));
    }
    for (rel, text) in &files {
        let (topic, name) = rel.split_once('/').unwrap();
        let path = root.join(format!(
            "slides/module_100_golden/topic_{}_{topic}/{name}",
            100 + topic[1..].parse::<usize>().unwrap()
        ));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::create_dir_all(root.join("templates/python")).unwrap();
    std::fs::write(root.join("templates/python/macros.j2"), &macros).unwrap();
    std::fs::create_dir_all(root.join("course-specs")).unwrap();
    let spec = root.join("course-specs/golden.xml");
    std::fs::write(
        &spec,
        format!(
            "<course><name><de>Golden</de><en>Golden</en></name><prog-lang>python</prog-lang>\
             <description><de>d</de><en>d</en></description><certificate><de>c</de><en>c</en></certificate>\
             <github><de>g</de><en>g</en></github><author>Dr. Matthias Hölzl</author>\
             <sections>{sections}</sections></course>"
        ),
    )
    .unwrap();
    let env = Env::new();
    let out = env.clx().arg("build").arg(&spec).output().unwrap();
    let err = stderr(&out);
    // All six decks also run in a kernel for their HTML pages.
    assert!(out.status.success(), "{err}");

    let mut checked = 0;
    for (i, deck) in DECKS.iter().enumerate() {
        let text = std::fs::read_to_string(golden().join("inputs").join(deck)).unwrap();
        for (lang, top_lang, slides) in [("de", "De", "Folien"), ("en", "En", "Slides")] {
            let input = DeckInput {
                text: &text,
                lang,
                prog_lang: ProgLang::Python,
                byline: Byline { author: Some("Dr. Matthias Hölzl"), ..Byline::default() },
                macros: Some(&macros),
            };
            for (kind, kind_dir, top, format, folder, ext) in [
                (Kind::Completed, "Completed", "public", Format::Ipynb, "Notebooks", "ipynb"),
                (Kind::CodeAlong, "Code-Along", "public", Format::Ipynb, "Notebooks", "ipynb"),
                (Kind::Speaker, "Speaker", "speaker", Format::Ipynb, "Notebooks", "ipynb"),
                (Kind::Completed, "Completed", "public", Format::Code, "Python", "py"),
            ] {
                let dir = root.join(format!("output/{top}/{top_lang}/Golden/{slides}/{folder}/{kind_dir}/S{i}"));
                let built = std::fs::read(single(&dir, ext)).unwrap();
                let direct = deck_outputs(&input, kind, format).unwrap();
                assert!(built == direct, "{deck} {lang} {kind_dir} {ext} differs from the plugin's own pipeline");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 48);
}
