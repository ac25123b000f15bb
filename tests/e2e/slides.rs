//! Presentations: every deck's completed and speaker kinds as reveal.js
//! slides, opened in real Chromium and paged with the arrow keys.

use std::path::PathBuf;
use std::time::Duration;

use clx_e2e::browser::Tab;
use clx_e2e::*;

/// A title slide, a slide with math and a note, a sub-slide with code, its
/// output and a fragment, and a last slide: four slides, three across.
const DECK: &str = "# j2 from 'macros.j2' import header\n# {{ header(\"Folien\", \"Presenting\") }}\n\n\
# %% [markdown] lang=\"de\" tags=[\"slide\"]\n# ## Erste Folie\n\n\
# %% [markdown] lang=\"en\" tags=[\"slide\"]\n# ## First slide\n# Pythagoras: $a^2 + b^2 = c^2$\n\n\
# %% [markdown] lang=\"en\" tags=[\"notes\"]\n# Remember to mention the zebra.\n\n\
# %% tags=[\"subslide\"]\nfor i in range(2):\n    print(6 * 7 + i)\n\n\
# %% [markdown] lang=\"en\" tags=[\"fragment\"]\n# And one more thing\n\n\
# %% [markdown] lang=\"de\" tags=[\"slide\"]\n# ## Letzte Folie\n\n\
# %% [markdown] lang=\"en\" tags=[\"slide\"]\n# ## Last slide\n";

fn presentation(course: &TestCourse, tree: &str, kind: &str) -> PathBuf {
    course
        .output_files()
        .into_iter()
        .find(|f| f.starts_with(tree) && f.contains(&format!("/Presentations/{kind}/")) && f.ends_with(".html"))
        .map(|f| course.out().join(f))
        .unwrap_or_else(|| panic!("no {tree} {kind} presentation: {:#?}", course.output_files()))
}

fn open(file: &std::path::Path) -> Tab {
    let tab = Tab::open(&format!("file://{}", file.display()));
    let ready = tab.wait_until("!!(window.Reveal && Reveal.isReady())", Duration::from_secs(20));
    assert!(ready.is_some(), "reveal.js starts: {}", tab.eval("document.documentElement.outerHTML.slice(0, 3000)"));
    tab
}

fn indices(tab: &Tab) -> (i64, i64) {
    let at = tab.eval("Reveal.getIndices()");
    (at["h"].as_i64().unwrap_or(-1), at["v"].as_i64().unwrap_or(-1))
}

#[test]
fn slides_page_with_the_arrow_keys_and_only_the_speakers_version_has_notes() {
    let env = Env::new();
    let course = TestCourse::new(&[("one", &[("slides_one.py", DECK)])]);
    // Off by default: the layout stays as it is.
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!course.output_files().iter().any(|f| f.contains("Presentations") || f.contains("reveal")));

    let out = env.clx().args(["build", "--slides"]).arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    let files = course.output_files();
    let presentations: Vec<&String> = files.iter().filter(|f| f.contains("/Presentations/")).collect();
    assert_eq!(presentations.len(), 4, "completed and speaker, per language: {presentations:#?}");
    assert!(!presentations.iter().any(|f| f.contains("Code-Along")), "{presentations:#?}");
    assert!(
        files.iter().any(|f| f.starts_with("public/En") && f.ends_with("_site/reveal/dist/reveal.js")),
        "reveal.js copied into the assets folder: {files:#?}"
    );
    let home = std::fs::read_to_string(course.out().join("public/En/Test Course/index.html")).expect("home");
    assert!(home.contains(">Slides completed</a>"), "the home page lists the slides: {home}");

    let completed = presentation(&course, "public/En", "Completed");
    // Every page of the deck leads to its presentation.
    for (tree, kind, presented) in [("public/En", "Code-Along", "Completed"), ("speaker/En", "Speaker", "Speaker")] {
        let page = course
            .output_files()
            .into_iter()
            .find(|f| f.starts_with(tree) && f.contains(&format!("/Html/{kind}/")))
            .map(|f| course.out().join(f))
            .expect("the deck's page");
        let html = std::fs::read_to_string(&page).expect("page");
        let link = html.split("<a class=\"clx-slides\" href=\"").nth(1).and_then(|r| r.split('"').next());
        let target = page.parent().expect("dir").join(percent_decode(link.expect("a link to the slides")));
        assert_eq!(target.canonicalize().ok(), presentation(&course, tree, presented).canonicalize().ok());
    }
    let html = std::fs::read_to_string(&completed).expect("presentation");
    assert!(html.contains("<title>01 Presenting – Test Course</title>") && html.contains("<html lang=\"en\">"));
    assert!(!html.contains("://"), "nothing loaded from the network");
    let tab = open(&completed);
    assert_eq!(tab.eval("Reveal.getTotalSlides()"), 4, "title, first, its sub-slide, last");
    assert_eq!(tab.eval("Reveal.getHorizontalSlides().length"), 3);
    assert_eq!(indices(&tab), (0, 0));
    tab.press_key("ArrowRight");
    assert!(tab.wait_until("Reveal.getIndices().h === 1", Duration::from_secs(5)).is_some(), "right: next slide");
    let math = tab.wait_until("!!Reveal.getCurrentSlide().querySelector('mjx-container')", Duration::from_secs(20));
    assert!(math.is_some(), "MathJax typesets the slide's math");
    tab.press_key("ArrowDown");
    assert!(tab.wait_until("Reveal.getIndices().v === 1", Duration::from_secs(5)).is_some(), "down: the sub-slide");
    let slide = tab.eval(
        "(() => { const s = Reveal.getCurrentSlide(); return { text: s.innerText, \
           keyword: !!s.querySelector('.highlight .k'), scroll: getComputedStyle(s.querySelector('.input_area')).overflowY, \
           fragments: s.querySelectorAll('.fragment.visible').length }; })()",
    );
    let text = slide["text"].as_str().unwrap_or_default();
    assert!(text.contains("print(6 * 7 + i)") && text.contains("42\n43"), "code and its output: {slide}");
    assert_eq!(slide["keyword"], true, "highlighted code: {slide}");
    assert_eq!(slide["scroll"], "auto", "long code scrolls inside its slide: {slide}");
    assert_eq!(slide["fragments"], 0, "the fragment waits: {slide}");
    tab.press_key("ArrowRight");
    let shown = tab.wait_until(
        "Reveal.getCurrentSlide().querySelectorAll('.fragment.visible').length === 1",
        Duration::from_secs(5),
    );
    assert!(shown.is_some(), "right shows the fragment first");
    assert_eq!(indices(&tab), (1, 1), "still on the sub-slide");
    // The slide transition done, the sub-slide is what the README shows.
    std::thread::sleep(Duration::from_millis(1500));
    let shot = target_dir().parent().expect("target").join("tmp/slide.png");
    std::fs::create_dir_all(shot.parent().expect("target/tmp")).expect("target/tmp");
    std::fs::write(&shot, tab.screenshot()).expect("keep the screenshot");
    tab.press_key("ArrowRight");
    assert!(tab.wait_until("Reveal.getIndices().h === 2", Duration::from_secs(5)).is_some(), "then the last slide");
    assert!(tab.eval("Reveal.getCurrentSlide().textContent").as_str().unwrap_or_default().contains("Last slide"));
    tab.press_key("ArrowRight");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(indices(&tab).0, 2, "the last slide stays");
    assert_eq!(tab.eval("document.querySelectorAll('aside.notes').length"), 0, "no notes for the class");
    assert_eq!(tab.eval("typeof RevealNotes"), "undefined", "no speaker view for the class");
    tab.press_key("ArrowLeft");
    assert!(tab.wait_until("Reveal.getIndices().h === 1", Duration::from_secs(5)).is_some(), "left goes back");
    drop(tab);

    // The speaker's version: the note on its slide, in reveal's speaker view.
    let speaker = presentation(&course, "speaker/En", "Speaker");
    let tab = open(&speaker);
    assert_eq!(tab.eval("Reveal.getTotalSlides()"), 4, "notes are no slides");
    tab.press_key("ArrowRight");
    assert!(tab.wait_until("Reveal.getIndices().h === 1", Duration::from_secs(5)).is_some());
    let notes = tab.eval("Reveal.getSlideNotes()");
    assert!(notes.as_str().unwrap_or_default().contains("mention the zebra"), "the slide's notes: {notes}");
    assert!(!tab.eval("Reveal.getCurrentSlide().innerText").as_str().unwrap_or_default().contains("zebra"));
    tab.press_key("s");
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        seen = tab.eval_in_other_tabs(
            "(() => { const n = document.querySelector('.speaker-controls-notes'); return n ? n.innerText : null; })()",
        );
        if seen.iter().any(|v| v.as_str().is_some_and(|t| t.contains("mention the zebra"))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        seen.iter().any(|v| v.as_str().is_some_and(|t| t.contains("mention the zebra"))),
        "the speaker view shows the note: {seen:?}"
    );
    drop(tab);

    // `[output] slides` in clx.toml asks for them as `--slides` does.
    std::fs::write(course.root().join("clx.toml"), "[output]\nslides = true\n").expect("clx.toml");
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(speaker.is_file() && completed.is_file(), "still built");
    std::fs::write(course.root().join("clx.toml"), "[output]\nslide = true\n").expect("clx.toml");
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(!out.status.success(), "a misspelt setting stops the build");
    assert!(stderr(&out).contains("slides"), "did you mean: {}", stderr(&out));
}
