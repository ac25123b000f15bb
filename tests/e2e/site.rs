//! The built course as a site: every deck page's title, language and header,
//! with every link in it resolving from disk.

use std::path::{Path, PathBuf};

use clx_e2e::*;

fn deck(de: &str, en: &str) -> String {
    format!(
        "# j2 from 'macros.j2' import header\n# {{{{ header(\"{de}\", \"{en}\") }}}}\n\n\
         # %% [markdown] lang=\"de\"\n# Text\n\n# %% [markdown] lang=\"en\"\n# Text\n\n# %%\nx = 1\n"
    )
}

/// The `href`s inside the page's header.
fn header_links(html: &str) -> Vec<String> {
    let start = html.find("<header class=\"clx-header\">").expect("a header");
    let end = start + html[start..].find("</header>").expect("header end");
    html[start..end].split("href=\"").skip(1).map(|r| r.split('"').next().unwrap_or_default().to_owned()).collect()
}

fn page(course: &TestCourse, tree: &str, kind: &str, name: &str) -> PathBuf {
    output(course, tree, "Html", kind, name)
}

fn output(course: &TestCourse, tree: &str, folder: &str, kind: &str, name: &str) -> PathBuf {
    course
        .output_files()
        .into_iter()
        .find(|f| f.starts_with(tree) && f.contains(&format!("/{folder}/{kind}/")) && f.ends_with(name))
        .map(|f| course.out().join(f))
        .unwrap_or_else(|| panic!("{tree} {kind} {name}: {:#?}", course.output_files()))
}

#[test]
fn deck_pages_carry_title_language_and_a_header_whose_links_all_resolve() {
    let env = Env::new();
    let first = deck("Erste Schritte", "First Steps");
    let second = deck("Zweite Schritte", "Second Steps");
    let course = TestCourse::new(&[
        ("one", &[("slides_one.py", first.as_str())]),
        ("two", &[("slides_two.py", second.as_str())]),
    ]);
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));

    let de = page(&course, "public/De", "Completed", "01 Erste Schritte.html");
    let html = std::fs::read_to_string(&de).expect("page");
    assert!(html.contains("<html lang=\"de\">"), "German page marked German");
    assert!(html.contains("<title>01 Erste Schritte – Testkurs</title>"), "deck and course in the title");
    assert!(html.contains("rel=\"next\""), "a next deck");
    assert!(!html.contains("rel=\"prev\""), "the first deck has no previous one");
    assert!(!html.contains("EventSource"), "no reload script in built files");

    for (tree, kind, name) in [
        ("public/De", "Completed", "01 Erste Schritte.html"),
        ("public/En", "Code-Along", "02 Second Steps.html"),
        ("speaker/En", "Speaker", "02 Second Steps.html"),
    ] {
        let file = page(&course, tree, kind, name);
        let html = std::fs::read_to_string(&file).expect("page");
        let links = header_links(&html);
        assert!(links.len() >= 5, "home, previous or next, kinds, notebook, language: {links:#?}");
        let top = course.out().join(tree.split('/').next().expect("top")).canonicalize().expect("tree");
        for href in &links {
            assert!(!href.contains("://") && !href.starts_with('/'), "{name}: not relative: {href}");
            let target = file.parent().expect("dir").join(percent_decode(href));
            assert!(target.is_file(), "{tree} {name}: {href} resolves to no file");
            let target = target.canonicalize().expect("target");
            if tree.starts_with("public") {
                assert!(target.starts_with(&top), "a public page links {href} outside the public tree");
            }
        }
        let stylesheet = file.parent().expect("dir").join(percent_decode(
            html.split("<link rel=\"stylesheet\" href=\"").nth(1).and_then(|r| r.split('"').next()).expect("css"),
        ));
        assert!(stylesheet.ends_with(Path::new("_site/site.css")) && stylesheet.is_file(), "{}", stylesheet.display());
    }
    let home = std::fs::read_to_string(course.out().join("public/En/Test Course/index.html")).expect("home");
    assert!(home.contains("href=\"_site/site.css\""), "the home page shares the stylesheet");

    // The output folder's own index lists the course in both languages.
    let index = std::fs::read_to_string(course.out().join("index.html")).expect("root index");
    for href in
        ["public/En/Test%20Course/index.html", "public/De/Testkurs/index.html", "speaker/En/Test%20Course/index.html"]
    {
        assert!(index.contains(&format!("href=\"{href}\"")), "{href} in {index}");
        assert!(course.out().join(percent_decode(href)).is_file(), "{href}");
    }
}

#[test]
fn site_settings_brand_every_page_and_its_title_cell_with_logo_organisation_author_footer_and_stylesheet() {
    let env = Env::new();
    let text = deck("Erste Schritte", "First Steps");
    let course = TestCourse::new(&[("one", &[("slides_one.py", text.as_str())])]);
    std::fs::create_dir_all(course.root().join("branding")).expect("mkdir");
    let logo = course.root().join("branding/logo.svg");
    std::fs::write(
        &logo,
        "<svg xmlns='http://www.w3.org/2000/svg' width='40' height='20'><rect width='40' height='20' fill='#c0392b'/></svg>",
    )
    .expect("logo");
    std::fs::write(course.root().join("branding/house.css"), ".clx-header{background:rgb(18, 52, 86)}").expect("css");
    std::fs::write(
        course.root().join("clx.toml"),
        "[site]\nlogo = \"branding/logo.svg\"\nstylesheet = \"branding/house.css\"\n\
         organisation = \"Example Academy\"\nauthor = \"Ada Author\"\nfooter = \"CC BY 4.0\"\n",
    )
    .expect("clx.toml");
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));

    let page = page(&course, "public/En", "Completed", "01 First Steps.html");
    let home = course.out().join("public/En/Test Course/index.html");
    for file in [&page, &home] {
        let html = std::fs::read_to_string(file).expect("page");
        assert!(html.contains("<span class=\"clx-organisation\">Example Academy</span>"), "{html}");
        assert!(html.contains("CC BY 4.0 · Ada Author · Example Academy</footer>"), "{html}");
        assert!(html.contains("<meta name=\"author\" content=\"Ada Author\">"), "{html}");
    }
    // The title cell carries the logo itself, so the notebook shows it
    // wherever it is opened; the organisation and author follow the title.
    let logo = format!("<img src=\"data:image/svg+xml;base64,{}\"", base64_of(&std::fs::read(&logo).expect("logo")));
    let notebook = output(&course, "public/En", "Notebooks", "Completed", "01 First Steps.ipynb");
    let notebook: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&notebook).expect("notebook")).expect("notebook JSON");
    let title_cell: String = notebook["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| c["cell_type"] == "markdown")
        .and_then(|c| c["source"].as_array())
        .expect("a title cell")
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert!(title_cell.contains(&logo), "the [site] logo embedded in the notebook's title cell:\n{title_cell}");
    let names = "<div style=\"text-align:center;\">Ada Author</div>\n<br/>\n\
                 <div style=\"text-align:center;\">Example Academy</div>";
    assert!(title_cell.contains(names), "author, then organisation:\n{title_cell}");
    assert!(
        !title_cell.contains("base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9"),
        "no placeholder"
    );
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.contains(&logo), "the page's title cell carries the same logo");

    let tab = clx_e2e::browser::Tab::open(&format!("file://{}", page.display()));
    let probe = tab.eval(
        "({ header: getComputedStyle(document.querySelector('.clx-header')).backgroundColor, \
           logo: document.querySelector('.clx-logo').naturalWidth, \
           footer: document.querySelector('.clx-footer').innerText, \
           titleLogo: document.querySelector('.text_cell_render img').naturalWidth, \
           title: document.querySelector('.text_cell_render').innerText })",
    );
    assert_eq!(probe["header"], "rgb(18, 52, 86)", "the author's stylesheet wins: {probe}");
    assert_eq!(probe["logo"], 40, "the logo loads from the assets folder: {probe}");
    assert_eq!(probe["titleLogo"], 40, "the title cell shows the [site] logo: {probe}");
    let title = probe["title"].as_str().unwrap_or_default();
    assert!(title.contains("First Steps") && title.contains("Ada Author"), "{probe}");
    assert!(title.contains("Example Academy"), "the title cell names the organisation: {probe}");
    let shot = target_dir().parent().expect("target").join("tmp/themed-page.png");
    std::fs::create_dir_all(shot.parent().expect("target/tmp")).expect("target/tmp");
    std::fs::write(&shot, tab.screenshot()).expect("keep the screenshot");

    // A logo that is not there is an error naming the setting; the rest is built.
    std::fs::write(course.root().join("clx.toml"), "[site]\nlogo = \"missing.png\"\n").expect("clx.toml");
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("[site] logo = "), "{}", stderr(&out));
    assert!(page.is_file(), "the pages are still there");
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Type `query` into the page's search box, as a reader would.
fn type_search(tab: &clx_e2e::browser::Tab, query: &str) {
    tab.eval(&format!(
        "(() => {{ const i = document.querySelector('input.clx-search'); i.value = {query:?}; \
           i.dispatchEvent(new Event('input')); return true; }})()"
    ));
}

#[test]
fn search_on_a_deck_page_finds_a_word_of_another_deck_and_opens_it_at_its_heading() {
    let env = Env::new();
    let first = deck("Erste Schritte", "First Steps");
    let second = "# j2 from 'macros.j2' import header\n# {{ header(\"Schleifen\", \"Loops\") }}\n\n\
                  # %% [markdown] lang=\"de\"\n# ## Wiederholen\n# Der Zebrafisch schwimmt.\n\n\
                  # %% [markdown] lang=\"en\"\n# ## Repeating things\n# The zebrafish swims.\n\n\
                  # %%\nfor fin in range(3):\n    print(fin)\n";
    let course =
        TestCourse::new(&[("one", &[("slides_one.py", first.as_str())]), ("two", &[("slides_two.py", second)])]);
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    let index = course.out().join("public/En/Test Course/_site/search-index.js");
    let text = std::fs::read_to_string(&index).expect("search index");
    assert!(text.contains("\"zebrafish\"") && !text.contains("zebrafisch"), "English words only: {text}");

    let page = page(&course, "public/En", "Completed", "01 First Steps.html");
    let tab = clx_e2e::browser::Tab::open(&format!("file://{}", page.display()));
    type_search(&tab, "zebra repeat");
    let listed = tab.wait_until(
        "[...document.querySelectorAll('.clx-results a')].some(a => a.textContent === '02 Loops')",
        std::time::Duration::from_secs(10),
    );
    assert!(listed.is_some(), "results: {}", tab.eval("document.querySelector('.clx-results').outerHTML"));
    assert_eq!(
        tab.eval("document.querySelector('.clx-results .clx-result-heading').textContent"),
        "Repeating things",
        "the matching heading is offered too"
    );
    tab.eval("document.querySelector('.clx-results a').click(); true");
    let opened = tab.wait_until("document.title.startsWith('02 Loops')", std::time::Duration::from_secs(10));
    assert!(opened.is_some(), "now on: {}", tab.eval("document.title"));
    // Code is searchable too, and the home page has the same box.
    let home = course.out().join("public/En/Test Course/index.html");
    tab.goto(&format!("file://{}", home.display()));
    type_search(&tab, "fin range");
    let listed = tab.wait_until(
        "[...document.querySelectorAll('.clx-results a')].some(a => a.textContent === '02 Loops')",
        std::time::Duration::from_secs(10),
    );
    assert!(listed.is_some(), "code search from the home page");
}

/// A draw.io diagram of one box `width` × 60 diagram units.
fn box_diagram(width: u32) -> String {
    format!(
        r#"<mxfile><diagram id="p1" name="Page 1"><mxGraphModel><root><mxCell id="0"/><mxCell id="1" parent="0"/><mxCell id="2" value="Box" style="rounded=0;whiteSpace=wrap;html=1;" vertex="1" parent="1"><mxGeometry x="20" y="20" width="{width}" height="60" as="geometry"/></mxCell></root></mxGraphModel></diagram></mxfile>"#
    )
}

#[test]
fn diagrams_show_at_their_drawn_size_and_big_images_fit_the_column() {
    let env = Env::new();
    let text = "# j2 from 'macros.j2' import header\n# {{ header(\"Bilder\", \"Pictures\") }}\n\n\
                # %% [markdown] lang=\"de\"\n# ![Ablauf](img/flow.png)\n# ![Breit](img/wide.png)\n\n\
                # %% [markdown] lang=\"en\"\n# ![Flow](img/flow.png)\n# ![Wide](img/wide.png)\n";
    let small = box_diagram(120);
    let wide = box_diagram(1600);
    let course = TestCourse::new(&[(
        "one",
        &[("slides_one.py", text), ("drawio/flow.drawio", small.as_str()), ("drawio/wide.drawio", wide.as_str())],
    )]);
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));

    let page = page(&course, "public/En", "Completed", "01 Pictures.html");
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.contains("<source srcset=\"img/flow.png 3x\">"), "the page knows the PNG's density: {html}");
    let tab = clx_e2e::browser::Tab::open(&format!("file://{}", page.display()));
    let loaded = tab.wait_until(
        "[...document.querySelectorAll('main img')].every(i => i.complete && i.naturalWidth > 0)",
        std::time::Duration::from_secs(10),
    );
    assert!(loaded.is_some(), "the diagrams load");
    let probe = tab.eval(
        "(() => { const m = i => ({ natural: i.naturalWidth, shown: i.getBoundingClientRect().width, \
           right: i.getBoundingClientRect().right }); \
           const col = document.querySelector('.text_cell_render').getBoundingClientRect(); \
           return { flow: m(document.querySelector('img[alt=Flow]')), wide: m(document.querySelector('img[alt=Wide]')), \
                    column: col.width, columnRight: col.right, pageWidth: document.documentElement.scrollWidth, \
                    viewport: window.innerWidth }; })()",
    );
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or_else(|| panic!("a number: {probe}"));
    let pixels = |name: &str| png_size(&std::fs::read(page.parent().expect("dir").join(name)).expect("png")).0 as f64;
    let (natural, shown) = (num(&probe["flow"]["natural"]), num(&probe["flow"]["shown"]));
    assert!(pixels("img/flow.png") >= 360.0, "drawn at scale 3: {probe}");
    assert!((natural - pixels("img/flow.png") / 3.0).abs() <= 1.0, "a third of its pixels: {probe}");
    assert!((shown - natural).abs() <= 1.0, "shown at that size: {probe}");
    assert!((120.0..=126.0).contains(&shown), "as wide as the 120-unit box it draws: {probe}");
    let (wide_natural, wide_shown) = (num(&probe["wide"]["natural"]), num(&probe["wide"]["shown"]));
    assert!(wide_natural > num(&probe["column"]), "the wide diagram is wider than the column: {probe}");
    assert!(wide_shown <= num(&probe["column"]) + 0.5, "scaled down to the column: {probe}");
    assert!(num(&probe["wide"]["right"]) <= num(&probe["columnRight"]) + 0.5, "inside the column: {probe}");
    assert!(num(&probe["pageWidth"]) <= num(&probe["viewport"]), "no horizontal scrolling: {probe}");
}

#[test]
fn a_dark_system_gets_a_dark_page_and_printing_gives_a_clean_hand_out() {
    let env = Env::new();
    let text = deck("Erste Schritte", "First Steps");
    let course = TestCourse::new(&[("one", &[("slides_one.py", text.as_str())])]);
    std::fs::write(course.root().join("clx.toml"), "[site]\nfooter = \"CC BY 4.0\"\n").expect("clx.toml");
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    let page = page(&course, "public/En", "Completed", "01 First Steps.html");
    let tab = clx_e2e::browser::Tab::open(&format!("file://{}", page.display()));
    let look = "(() => { const s = q => getComputedStyle(document.querySelector(q)); \
                 return { bg: s('body').backgroundColor, fg: s('.text_cell_render').color, \
                          code: s('.input_area').backgroundColor, link: s('.clx-header a').color, \
                          header: s('.clx-header').display, search: s('.clx-search-form').display, \
                          footer: s('.clx-footer').display, shadow: s('#notebook-container').boxShadow, \
                          prompt: s('.input_prompt').display }; })()";
    let shot_dir = target_dir().parent().expect("target").join("tmp");
    std::fs::create_dir_all(&shot_dir).expect("target/tmp");

    tab.emulate_media("screen", &[("prefers-color-scheme", "light")]);
    let light = tab.eval(look);
    tab.emulate_media("screen", &[("prefers-color-scheme", "dark")]);
    let dark = tab.eval(look);
    std::fs::write(shot_dir.join("dark-page.png"), tab.screenshot()).expect("keep the screenshot");
    let luminance = |colour: &serde_json::Value| -> f64 {
        let text = colour.as_str().unwrap_or_else(|| panic!("a colour: {colour}"));
        let rgb: Vec<f64> = text
            .trim_start_matches("rgba(")
            .trim_start_matches("rgb(")
            .trim_end_matches(')')
            .split(',')
            .take(3)
            .map(|c| c.trim().parse().unwrap_or_else(|_| panic!("rgb: {text}")))
            .collect();
        0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    };
    assert!(luminance(&light["bg"]) > 200.0 && luminance(&light["fg"]) < 80.0, "light: {light}");
    assert!(luminance(&dark["bg"]) < 60.0, "a dark background: {dark}");
    assert!(luminance(&dark["fg"]) > 180.0, "light text on it: {dark}");
    assert!(luminance(&dark["code"]) < 60.0, "code on dark too: {dark}");
    assert_ne!(light["link"], dark["link"], "links readable on dark");

    // Printed, even from a dark system: black on white, no navigation, no search.
    tab.emulate_media("print", &[("prefers-color-scheme", "dark")]);
    let print = tab.eval(look);
    std::fs::write(shot_dir.join("printed-page.png"), tab.screenshot()).expect("keep the screenshot");
    assert_eq!(print["header"], "none", "no header on paper: {print}");
    assert_eq!(print["search"], "none", "no search box on paper: {print}");
    assert_ne!(print["footer"], "none", "the footer (licence) is printed: {print}");
    assert_eq!(print["shadow"], "none", "{print}");
    assert!(luminance(&print["bg"]) > 250.0 && luminance(&print["fg"]) < 30.0, "black on white: {print}");
}
