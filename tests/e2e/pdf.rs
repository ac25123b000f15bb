//! PDF hand-outs: every deck's completed page printed by real Chromium, read
//! back with `pdfinfo` and `pdftotext` (poppler-utils).

use std::path::Path;
use std::process::Command;

use clx_e2e::*;

/// Math, a cell whose output exists only once the kernel ran it, and output
/// long enough to need a second sheet.
fn deck(word: &str) -> String {
    format!(
        "# j2 from 'macros.j2' import header\n# {{{{ header(\"Druck\", \"Printing\") }}}}\n\n\
         # %% [markdown] lang=\"de\"\n# ## Formel\n\n\
         # %% [markdown] lang=\"en\"\n# ## Formula\n# Pythagoras: $a^2 + b^2 = c^2$\n\n\
         # %%\nprint(\"{word}-\" + str(6 * 7))\n\n\
         # %%\nfor i in range(90):\n    print(f\"row {{i}}\")\n"
    )
}

fn pdf_text(pdf: &Path) -> String {
    let out =
        Command::new("pdftotext").arg(pdf).arg("-").output().expect("pdftotext (scripts/setup --tests installs it)");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn page_count(pdf: &Path) -> usize {
    let out = Command::new("pdfinfo").arg(pdf).output().expect("pdfinfo (scripts/setup --tests installs it)");
    let info = String::from_utf8_lossy(&out.stdout).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count: {info}"))
}

#[test]
fn pdf_prints_each_completed_page_with_its_outputs_and_a_footer_and_reuses_the_cache() {
    let env = Env::new();
    let course = TestCourse::new(&[("one", &[("slides_one.py", &deck("zebra"))])]);
    // Off by default: the layout stays as it is.
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!course.output_files().iter().any(|f| f.contains("/Pdf/") || f.ends_with(".pdf")));

    let out = env.clx().args(["build", "--pdf"]).arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    let pdfs: Vec<String> = course.output_files().into_iter().filter(|f| f.ends_with(".pdf")).collect();
    assert_eq!(
        pdfs,
        [
            "public/De/Testkurs/Folien/Pdf/Completed/Woche 1/01 Druck.pdf",
            "public/En/Test Course/Slides/Pdf/Completed/Week 1/01 Printing.pdf"
        ],
        "the completed page per language, beside Html"
    );
    let pdf = course.out().join(&pdfs[1]);
    let pages = page_count(&pdf);
    assert!(pages >= 2, "90 rows of output need a second sheet: {pages}");
    let text = pdf_text(&pdf);
    assert!(text.contains("zebra-42"), "the cell's output, as the kernel printed it: {text}");
    assert!(text.contains("row 89"), "the last row is printed: {text}");
    assert!(!text.contains("$a^2"), "the math is typeset, not printed as written: {text}");
    assert!(!text.contains("Search the course"), "the print stylesheet hides the site's header: {text}");
    // pdftotext ends each sheet with a form feed.
    let sheets: Vec<&str> = text.split('\u{c}').filter(|s| !s.trim().is_empty()).collect();
    assert_eq!(sheets.len(), pages, "{text}");
    for (i, sheet) in sheets.iter().enumerate() {
        assert!(sheet.contains("Test Course"), "the course title in sheet {}'s footer: {sheet}", i + 1);
        assert!(sheet.contains(&format!("Page {} of {pages}", i + 1)), "the page number in its footer: {sheet}");
    }
    let german = pdf_text(&course.out().join(&pdfs[0]));
    assert!(german.contains("Testkurs") && german.contains("Seite 1 von"), "German footer: {german}");
    let home = std::fs::read_to_string(course.out().join("public/En/Test Course/index.html")).expect("home");
    assert!(
        home.contains("<a href=\"Slides/Pdf/Completed/Week%201/01%20Printing.pdf\">PDF completed</a>"),
        "the home page links the PDF: {home}"
    );
    // The header of the deck's public pages leads to it; the speaker's pages do not.
    for kind in ["Code-Along", "Completed"] {
        let page = course.out().join(format!("public/En/Test Course/Slides/Html/{kind}/Week 1/01 Printing.html"));
        let html = std::fs::read_to_string(&page).expect("page");
        let link = html.split("<a class=\"clx-pdf\" href=\"").nth(1).and_then(|r| r.split('"').next());
        let target = page.parent().expect("dir").join(percent_decode(link.expect("a link to the PDF")));
        assert_eq!(target.canonicalize().ok(), pdf.canonicalize().ok());
    }
    let speaker = course.out().join("speaker/En/Test Course/Slides/Html/Speaker/Week 1/01 Printing.html");
    assert!(!std::fs::read_to_string(speaker).expect("speaker page").contains("clx-pdf"));

    // Nothing changed: nothing is printed again, the PDF stays as it was.
    let before = std::fs::read(&pdf).expect("pdf");
    let out = env.clx().args(["build", "--pdf"]).arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(" 0 built,"), "all from the cache: {}", stderr(&out));
    assert_eq!(std::fs::read(&pdf).expect("pdf"), before, "the PDF is left alone");

    // A changed deck is printed again.
    std::fs::write(course.root().join("slides/module_100_test/topic_100_one/slides_one.py"), deck("okapi"))
        .expect("edit the deck");
    let out = env.clx().args(["build", "--pdf"]).arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = pdf_text(&pdf);
    assert!(text.contains("okapi-42") && !text.contains("zebra-42"), "the new output is printed: {text}");

    // `[output] pdf` in clx.toml asks for them as `--pdf` does.
    std::fs::write(course.root().join("clx.toml"), "[output]\npdf = true\n").expect("clx.toml");
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(pdf.is_file(), "still printed");
    std::fs::write(course.root().join("clx.toml"), "[output]\npdfs = true\n").expect("clx.toml");
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(!out.status.success(), "a misspelt setting stops the build");
    assert!(stderr(&out).contains("`pdf`"), "did you mean: {}", stderr(&out));
}
