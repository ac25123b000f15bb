//! Executed HTML pages as a browser shows them: a deck built by the real
//! `clx` with a real kernel, opened in headless Chromium over the DevTools
//! protocol, checked by computed styles and text (not pixels). The
//! screenshot is kept in target/tmp for a look.

use std::path::Path;

use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, Page};
use clx_e2e::browser::browser_config;
use clx_e2e::*;
use futures::StreamExt;
use serde_json::Value;

const DECK: &str = r#"# %% [markdown]
# # Pages
#
# The rate is $\frac{a_1 * b_2}{c}$ and `len()` counts.
#
# $$(a^b - c)\, da\, db\, dc \\ x_1 * y_2$$
#
# Also \( z_* \) inline.

# %%
import pandas as pd
df = pd.DataFrame({"name": ["ant", "bee", "cat"], "weight": [1.5, 22.25, 3.0]})
print(len(df))
df

# %%

# %% tags=["raises-exception"]
def f(x):
    return 1 / x

f(0)
"#;

const DISPLAY_TEX: &str = r"$$(a^b - c)\, da\, db\, dc \\ x_1 * y_2$$";

/// Everything the checks need, read in one go from the page's DOM and
/// computed styles.
const PROBE: &str = r#"(() => {
  const css = (el, prop) => el ? getComputedStyle(el)[prop] : null;
  const text = el => el ? el.textContent.replace(/\u00a0/g, ' ') : null;
  const df = document.querySelector('table.dataframe');
  const rows = df ? df.querySelectorAll('tbody tr') : [];
  const td = df ? df.querySelector('tbody td') : null;
  const cells = [...document.querySelectorAll('.code_cell')].map(c => ({
    prompt: text(c.querySelector('.input_prompt')),
    source: text(c.querySelector('.input_area')),
  }));
  const failing = [...document.querySelectorAll('.output_error .tb-failing-line')];
  const red = document.querySelector('.output_error .ansi-red-fg');
  const keyword = [...document.querySelectorAll('.output_error span[style]')].find(s => s.textContent === 'return');
  const code = document.querySelector('.text_cell_render p code');
  const kn = document.querySelector('.highlight .kn');
  const nb = document.querySelector('.highlight .nb');
  const nn = document.querySelector('.highlight .nn');
  const box = document.querySelector('#notebook-container').getBoundingClientRect();
  return {
    df: df && {
      tdBorder: css(td, 'borderTopStyle'), tableBorder: css(df, 'borderTopStyle'),
      tdAlign: css(td, 'textAlign'), thAlign: css(df.querySelector('thead th'), 'textAlign'),
      headWeight: css(df.querySelector('thead th:nth-child(2)'), 'fontWeight'),
      indexWeight: css(df.querySelector('tbody th'), 'fontWeight'),
      odd: css(rows[0], 'backgroundColor'), even: css(rows[1], 'backgroundColor'),
      cells: [...df.querySelectorAll('tbody td')].map(text),
    },
    inlineMath: [...document.querySelectorAll('.math-inline')].map(m => ({
      rendered: !!m.querySelector('mjx-container:not([display="true"]) mjx-math'), text: text(m) })),
    displayMath: [...document.querySelectorAll('.math-display')].map(m => ({
      rendered: !!m.querySelector('mjx-container[display="true"] mjx-math'), text: text(m) })),
    cells,
    failing: failing.map(f => ({ text: text(f), background: css(f, 'backgroundColor') })),
    red: css(red, 'color'),
    keyword: keyword ? { color: css(keyword, 'color'), weight: css(keyword, 'fontWeight') } : null,
    inlineCode: css(code, 'backgroundColor'),
    kn: { text: text(kn), color: css(kn, 'color'), weight: css(kn, 'fontWeight') },
    nb: { text: text(nb), color: css(nb, 'color') },
    nn: { text: text(nn), color: css(nn, 'color') },
    column: { left: box.left, right: innerWidth - box.right, width: box.width },
  };
})()"#;

/// Open `page` at 1400x1000 with the network cut off (so MathJax from its
/// CDN never loads and the math text stays as written), return the probe's
/// answer and a full-page screenshot.
fn probe(page: &Path) -> (Value, Vec<u8>) {
    let profile = tempfile::tempdir().expect("profile dir");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let config = browser_config(profile.path());
    let url = format!("file://{}", page.display());
    rt.block_on(async {
        let (mut browser, mut handler) =
            Browser::launch(config).await.expect("Chromium starts (scripts/setup installs it)");
        let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
        let tab: Page = browser.new_page(url).await.expect("page opens");
        tab.wait_for_navigation().await.expect("page loads");
        // MathJax typesets after the page loaded; wait for it to finish.
        let typeset = EvaluateParams::builder()
            .expression("window.MathJax && MathJax.startup ? MathJax.startup.promise.then(() => true) : false")
            .await_promise(true)
            .return_by_value(true)
            .build()
            .expect("evaluate params");
        let typeset = tab.evaluate_expression(typeset).await.expect("MathJax runs");
        assert_eq!(typeset.value(), Some(&Value::Bool(true)), "MathJax loaded from the course's assets folder");
        let params =
            EvaluateParams::builder().expression(PROBE).return_by_value(true).build().expect("evaluate params");
        let answer = tab.evaluate_expression(params).await.expect("probe runs");
        let answer = answer.value().cloned().unwrap_or(Value::Null);
        let shot = tab.screenshot(ScreenshotParams::builder().full_page(true).build()).await.expect("screenshot");
        browser.close().await.expect("Chromium closes");
        browser.wait().await.expect("Chromium exits");
        events.abort();
        (answer, shot)
    })
}

#[test]
fn executed_page_shows_dataframe_math_empty_cell_and_traceback_as_jupyter_does() {
    let env = Env::new();
    let course = TestCourse::new(&[("pages", &[("slides_pages.py", DECK)])]);
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    let page = course
        .outputs_ending("slides_pages.html")
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/En/") && p.to_string_lossy().contains("/Completed/"))
        .unwrap_or_else(|| panic!("completed English page: {:#?}", course.output_files()));

    let (v, shot) = probe(&page);
    let shot_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("executed-page.png");
    std::fs::write(&shot_path, &shot).expect("keep the screenshot");
    let (w, h) = png_size(&shot);
    assert!(w == 1400 && h > 600, "{w}x{h}");

    // The DataFrame the kernel produced, in Jupyter's table style.
    let df = &v["df"];
    assert_eq!(df["cells"], serde_json::json!(["ant", "1.50", "bee", "22.25", "cat", "3.00"]), "{v:#}");
    assert_eq!(df["tdBorder"], "none", "no grid, despite pandas' border=1: {v:#}");
    assert_eq!(df["tableBorder"], "none", "{v:#}");
    assert_eq!(df["tdAlign"], "right", "{v:#}");
    assert_eq!(df["thAlign"], "right", "{v:#}");
    assert_eq!(df["headWeight"], "700", "{v:#}");
    assert_eq!(df["indexWeight"], "700", "{v:#}");
    assert_eq!(df["odd"], "rgb(245, 245, 245)", "striped: {v:#}");
    assert_eq!(df["even"], "rgba(0, 0, 0, 0)", "{v:#}");

    // Math exactly as written, for MathJax: `\,` `_` `*` `\\` survive markdown.
    // Math typeset offline by the MathJax in the course's assets folder; the
    // file itself keeps the TeX as written, for a reader without scripts.
    let math = |key: &str| v[key].as_array().map(|m| m.iter().map(|m| m["rendered"] == true).collect::<Vec<_>>());
    assert_eq!(math("displayMath"), Some(vec![true]), "{v:#}");
    assert_eq!(math("inlineMath"), Some(vec![true, true]), "{v:#}");
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.contains(DISPLAY_TEX), "display TeX as written: {html}");
    assert!(html.contains(r"$\frac{a_1 * b_2}{c}$") && html.contains(r"$z_*$"), "inline TeX as written");
    assert!(!html.contains("src=\"http"), "the page loads nothing from the network");

    // Prompts: numbered in order, the empty cell blank.
    let cells = v["cells"].as_array().expect("code cells");
    let prompts: Vec<&str> = cells.iter().filter_map(|c| c["prompt"].as_str()).collect();
    assert_eq!(prompts, ["In [1]:", "In [ ]:", "In [2]:"], "{v:#}");
    assert_eq!(cells[1]["source"].as_str().map(str::trim), Some(""), "{v:#}");

    // The traceback keeps the kernel's colours; the lines it points at stand out.
    assert_eq!(v["red"], "rgb(231, 92, 88)", "{v:#}");
    assert_eq!(v["keyword"]["color"], "rgb(0, 135, 0)", "IPython's keyword colour: {v:#}");
    assert_eq!(v["keyword"]["weight"], "700", "{v:#}");
    let failing = v["failing"].as_array().expect("failing lines");
    assert_eq!(failing.len(), 2, "the cell's line and the function's: {v:#}");
    assert!(failing[0]["text"].as_str().is_some_and(|t| t.contains("----> ") && t.contains("f(0)")), "{v:#}");
    assert!(failing[1]["text"].as_str().is_some_and(|t| t.contains("return 1 / x")), "{v:#}");
    assert!(failing.iter().all(|f| f["background"] == "rgb(255, 240, 194)"), "{v:#}");

    // Inline code on a background; code coloured as in JupyterLab.
    assert_eq!(v["inlineCode"], "rgb(239, 240, 241)", "{v:#}");
    assert_eq!(v["kn"]["text"], "import", "{v:#}");
    assert_eq!(v["kn"]["color"], "rgb(0, 128, 0)", "{v:#}");
    assert_eq!(v["kn"]["weight"], "700", "{v:#}");
    assert_eq!(v["nb"]["text"], "print", "{v:#}");
    assert_eq!(v["nb"]["color"], "rgb(0, 128, 0)", "builtins green: {v:#}");
    assert_eq!(v["nn"]["text"], "pandas", "{v:#}");
    assert_eq!(v["nn"]["color"], "rgb(33, 33, 33)", "imported names in the variable colour: {v:#}");

    // One centred column.
    let col = &v["column"];
    let (left, right, width) =
        (col["left"].as_f64().unwrap_or(-1.0), col["right"].as_f64().unwrap_or(-1.0), col["width"].as_f64());
    assert!(left > 100.0 && (left - right).abs() <= 1.0, "{v:#}");
    assert_eq!(width, Some(1140.0), "{v:#}");
}
