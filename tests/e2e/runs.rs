//! How often a deck's code runs in one build: once when its German and
//! English pages run the same code cells (the English job renders from the
//! German run), once per language when they do not, or when the build is
//! asked to reuse nothing.

use clx_e2e::*;

/// Prints a value no two runs share, then the directory it runs in.
const SAME_CODE: &str = "# %% [markdown] lang=\"de\"\n# Hallo\n\n# %% [markdown] lang=\"en\"\n# Hello\n\n\
                         # %%\nimport os, uuid\nprint('run', uuid.uuid4().hex)\n\n# %%\nprint(os.getcwd())\n";

/// The same, with one code cell per language.
const CODE_PER_LANGUAGE: &str = "# %% [markdown] lang=\"de\"\n# Hallo\n\n# %% [markdown] lang=\"en\"\n# Hello\n\n\
                                 # %%\nimport uuid\nprint('run', uuid.uuid4().hex)\n\n\
                                 # %% lang=\"de\"\nprint('nur deutsch')\n\n# %% lang=\"en\"\nprint('english only')\n";

/// The completed page of `deck` in the language folder `lang` (`De`, `En`).
fn completed(course: &TestCourse, deck: &str, lang: &str) -> String {
    let pages = course.outputs_ending(&format!("{deck}.html"));
    let page = pages
        .iter()
        .find(|p| {
            let p = p.to_string_lossy();
            p.contains("/Completed/") && p.contains(&format!("/{lang}/"))
        })
        .unwrap_or_else(|| panic!("a completed {lang} page of {deck} among {pages:?}"));
    std::fs::read_to_string(page).expect("read page")
}

/// The 32 hex digits that follow `marker` in `page`.
fn after(page: &str, marker: &str) -> String {
    let at = page.find(marker).unwrap_or_else(|| panic!("{marker} in {page}")) + marker.len();
    page[at..].chars().take_while(char::is_ascii_hexdigit).collect()
}

fn build(env: &Env, course: &TestCourse, extra: &[&str]) -> String {
    let out = env.clx().arg("build").arg(course.spec()).args(extra).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    stderr(&out)
}

#[test]
fn a_deck_whose_languages_run_the_same_code_runs_once_per_build_unless_no_cache_is_asked() {
    let env = Env::new();
    let course = TestCourse::new(&[
        ("same", &[("slides_same.py", SAME_CODE)]),
        ("apart", &[("slides_apart.py", CODE_PER_LANGUAGE)]),
    ]);
    let summary = build(&env, &course, &[]);
    assert!(summary.contains("4 built, 0 from cache"), "a job per deck and language as before: {summary}");

    let (de, en) = (completed(&course, "slides_same", "De"), completed(&course, "slides_same", "En"));
    assert_eq!(after(&de, "run "), after(&en, "run "), "one run serves both languages");
    assert!(en.contains("Hello") && !en.contains("Hallo"), "the English page keeps its own prose: {en}");
    let (de_dir, en_dir) = (after(&de, "$CLX_HOME/run/"), after(&en, "$CLX_HOME/run/"));
    assert!(
        !de_dir.is_empty() && !en_dir.is_empty() && de_dir != en_dir,
        "each names its own run dir: {de_dir} {en_dir}"
    );

    let (de, en) = (completed(&course, "slides_apart", "De"), completed(&course, "slides_apart", "En"));
    assert_ne!(after(&de, "run "), after(&en, "run "), "code per language runs per language");
    assert!(de.contains("nur deutsch") && !de.contains("english only"), "{de}");
    assert!(en.contains("english only") && !en.contains("nur deutsch"), "{en}");

    let summary = build(&env, &course, &["--no-cache"]);
    assert!(summary.contains("4 built, 0 from cache"), "{summary}");
    let (de, en) = (completed(&course, "slides_same", "De"), completed(&course, "slides_same", "En"));
    assert_ne!(after(&de, "run "), after(&en, "run "), "--no-cache reuses nothing, not even within the build");
}

#[test]
fn a_deck_printing_a_set_of_strings_gives_the_same_page_on_every_build() {
    // Python orders a set of strings by their hashes, salted per process
    // unless the seed is fixed: eight words come out in one of 40320 orders.
    let deck = "# %% [markdown]\n# Sets\n\n# %%\nprint(list({'kurs', 'python', 'course', 'zahlen', 'numbers', \
                'listen', 'lists', 'mengen'}))\n";
    let env = Env::new();
    let course = TestCourse::new(&[("sets", &[("slides_sets.py", deck)])]);
    build(&env, &course, &[]);
    let first = completed(&course, "slides_sets", "En");
    assert!(first.contains("&#39;mengen&#39;"), "{first}");
    build(&env, &course, &["--no-cache"]);
    assert_eq!(completed(&course, "slides_sets", "En"), first, "the same order on a rebuild");
}
