//! Stage 1: the whole deck is a Jinja template (minijinja).
//!
//! `# j2 …` / `// j2 …` lines are statements. A pre-pass rewrites them to
//! `{% … %}` and moves the newline they consume, plus every following blank
//! line, into a Jinja comment: the output loses those lines exactly as a
//! line statement would, while the template keeps its line count, so
//! minijinja's error lines are the deck's lines.

use minijinja::{Environment, UndefinedBehavior};

use crate::cell::CellType;
use crate::percent;

/// The filter a title line without a markdown marker above it runs through.
const TITLE_FILTER: &str = "clx_title_cell";

/// What the template sees.
pub struct Globals<'a> {
    pub is_notebook: bool,
    pub is_html: bool,
    pub lang: &'a str,
    pub byline: Byline<'a>,
}

/// What a deck's title cells name besides the title; `None` leaves a line
/// out (and keeps the built-in macros' placeholder logo), so a course
/// without them renders as it always has.
#[derive(Debug, Clone, Copy, Default)]
pub struct Byline<'a> {
    pub author: Option<&'a str>,
    pub organisation: Option<&'a str>,
    /// An image URI the `<img src>` of the title cell can carry as it is.
    pub logo: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub line: Option<u32>,
    pub message: String,
}

pub fn rewrite_line_statements(source: &str, comment: &str) -> String {
    let prefix = format!("{comment} j2");
    let mut out = String::with_capacity(source.len() + 64);
    let mut lines = source.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start_matches([' ', '\t']);
        let Some(rest) = trimmed.strip_prefix(&prefix) else {
            out.push_str(line);
            continue;
        };
        let statement = rest.trim_end_matches(['\n', '\r']).trim();
        out.push_str("{% ");
        out.push_str(statement.strip_suffix(':').unwrap_or(statement));
        out.push_str(" %}");
        let mut swallowed = String::new();
        if line.ends_with('\n') {
            swallowed.push('\n');
        }
        // Jinja2 ends a line statement with `\s*(\n|$)`: every following
        // whitespace-only line goes, including one at the very end.
        while let Some(next) = lines.peek() {
            if !next.trim().is_empty() {
                break;
            }
            if next.ends_with('\n') {
                swallowed.push('\n');
            }
            lines.next();
        }
        if !swallowed.is_empty() {
            out.push_str("{#");
            out.push_str(&swallowed);
            out.push_str("#}");
        }
    }
    out
}

/// `// {{ header("…", "…") }}`: the line that renders a deck's title cells.
fn is_title_line(line: &str, comment: &str) -> bool {
    let blank = [' ', '\t'];
    let Some(rest) = line.trim_start_matches(blank).strip_prefix(comment) else {
        return false;
    };
    let Some(call) = rest.trim_start_matches(blank).strip_prefix("{{") else {
        return false;
    };
    call.trim_start().strip_prefix("header").is_some_and(|r| r.trim_start().starts_with('('))
}

/// Title lines come in two shapes. Python's `header` macro opens the German
/// title cell itself, so the deck line stands alone; the C-family macros
/// leave that to a markdown marker the deck writes above the line, and
/// decks written for newer macros leave the marker out. Left alone, such a
/// deck would turn the German title into a code cell shared by both
/// languages. So a title line with no markdown marker above it (blank lines
/// and `j2` statements in between do not count) goes through a filter that
/// adds the German marker when the macro did not render one: both deck
/// shapes and both kinds of macros then give the same two title cells.
/// The rewrite stays on the line, so template errors keep their deck line.
pub fn wrap_bare_title_lines(source: &str, comment: &str) -> String {
    let statement = format!("{comment} j2");
    let mut out = String::with_capacity(source.len() + 64);
    let mut opened_by_markdown = false;
    for line in source.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        if is_title_line(body, comment) && !opened_by_markdown {
            out.push_str("{% filter ");
            out.push_str(TITLE_FILTER);
            out.push_str(" %}");
            out.push_str(body);
            out.push_str("{% endfilter %}");
            out.push_str(&line[body.len()..]);
        } else {
            out.push_str(line);
        }
        let trimmed = body.trim_start_matches([' ', '\t']);
        if !(trimmed.trim().is_empty() || trimmed.starts_with(&statement)) {
            opened_by_markdown = percent::marker_type(body, comment) == Some(CellType::Markdown);
        }
    }
    out
}

/// What [`TITLE_FILTER`] does to a rendered title line: a line the macro
/// already made a cell marker stays as it is; otherwise the German title
/// cell's marker goes above it, as a wrapped deck would have written it.
fn open_german_title_cell(rendered: String, comment: &str) -> String {
    let first = rendered.split('\n').next().unwrap_or_default();
    if percent::marker_type(first, comment).is_some() {
        rendered
    } else {
        format!("{comment} %% [markdown] lang=\"de\" tags=[\"slide\"]\n{rendered}")
    }
}

pub fn render(source: &str, comment: &str, macros: &str, globals: &Globals<'_>) -> Result<String, TemplateError> {
    let macros = rewrite_line_statements(macros, comment);
    let deck = rewrite_line_statements(&wrap_bare_title_lines(source, comment), comment);
    let mut env = Environment::new();
    let title_comment = comment.to_owned();
    env.add_filter(TITLE_FILTER, move |rendered: String| open_german_title_cell(rendered, &title_comment));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_template("macros.j2", &macros).map_err(to_error)?;
    env.add_global("is_notebook", globals.is_notebook);
    env.add_global("is_html", globals.is_html);
    env.add_global("lang", globals.lang);
    env.add_global("author", minijinja::Value::from(globals.byline.author));
    env.add_global("organisation", minijinja::Value::from(globals.byline.organisation));
    env.add_global("logo", minijinja::Value::from(globals.byline.logo));
    let template = env.template_from_named_str("deck", &deck).map_err(to_error)?;
    template.render(()).map_err(to_error)
}

fn to_error(e: minijinja::Error) -> TemplateError {
    use minijinja::ErrorKind;
    let mut message = e.detail().map(|d| format!("{}: {d}", e.kind())).unwrap_or_else(|| e.kind().to_string());
    let in_macros = e.name() == Some("macros.j2");
    if in_macros {
        match e.line() {
            Some(line) => message = format!("{message} (in macros.j2, line {line})"),
            None => message = format!("{message} (in macros.j2)"),
        }
    }
    let hint = match e.kind() {
        ErrorKind::UndefinedError | ErrorKind::UnknownFunction | ErrorKind::UnknownFilter | ErrorKind::UnknownTest => {
            "the template knows is_notebook, is_html, lang, author, organisation, logo and what `j2 from 'macros.j2' import …` imports; \
             check the name, or escape literal braces with {% raw %}…{% endraw %}"
        }
        ErrorKind::TemplateNotFound => "only macros.j2 can be imported or included",
        _ => "fix the Jinja syntax; literal `{{`, `{%` or `{#` in the deck must be escaped with {% raw %}…{% endraw %}",
    };
    TemplateError {
        line: if in_macros { None } else { e.line().and_then(|l| u32::try_from(l).ok()) },
        message: format!("template error: {message}; {hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g() -> Globals<'static> {
        Globals { is_notebook: true, is_html: false, lang: "de", byline: Byline::default() }
    }

    #[test]
    fn line_statements_swallow_following_blank_lines() {
        let out = render("A\n# j2 if true\n\n\nB\n# j2 endif\n\n\nC", "#", "", &g()).unwrap();
        assert_eq!(out, "A\nB\nC");
    }

    #[test]
    fn text_before_the_prefix_is_not_a_statement() {
        let out = render("x # j2 if true\n", "#", "", &g()).unwrap();
        assert_eq!(out, "x # j2 if true\n");
    }

    #[test]
    fn errors_carry_the_deck_line() {
        let err = render("# %%\n# j2 if true\n\n\n{{ nope }}\n# j2 endif\n", "#", "", &g()).unwrap_err();
        assert_eq!(err.line, Some(5), "{err:?}");
        assert!(err.message.contains("undefined"), "{err:?}");
        let err = render("# j2ee is not jinja\n", "#", "", &g()).unwrap_err();
        assert_eq!(err.line, Some(1));
    }

    #[test]
    fn globals_and_imported_macros_are_visible() {
        let macros = "{% macro hi(x) %}{{ x }}/{{ lang }}/{{ is_notebook }}{% endmacro %}";
        let out = render("// j2 from 'macros.j2' import hi\n{{ hi(1) }}\n", "//", macros, &g()).unwrap();
        // Jinja2 prints booleans as Python does.
        assert_eq!(out, "1/de/True\n");
    }

    #[test]
    fn indented_statements_with_a_colon_and_tabs_are_statements() {
        let out = render("  # j2 if true:\n\tA\n\t# j2 endif\n", "#", "", &g()).unwrap();
        assert_eq!(out, "\tA\n");
    }

    #[test]
    fn a_statement_on_the_last_line_without_newline_renders_nothing() {
        let out = render("A\n// j2 if false\nB\n// j2 endif", "//", "", &g()).unwrap();
        assert_eq!(out, "A\n");
    }

    #[test]
    fn blank_lines_with_spaces_are_swallowed_but_text_stops_it() {
        let out = render("# j2 set x = 1\n  \n\t\nX{{ x }}\n\nY\n", "#", "", &g()).unwrap();
        assert_eq!(out, "X1\n\nY\n");
    }

    #[test]
    fn the_other_languages_prefix_is_plain_text() {
        let out = render("// j2 if true\n", "#", "", &g()).unwrap();
        assert_eq!(out, "// j2 if true\n");
    }

    #[test]
    fn an_unclosed_jinja_comment_reports_its_line() {
        let err = render("a\nb\nx = \"{#\"\n", "#", "", &g()).unwrap_err();
        assert!(err.line.is_some_and(|l| l >= 3), "{err:?}");
    }

    #[test]
    fn errors_inside_macros_name_the_macros_file() {
        let err =
            render("# j2 from 'macros.j2' import m\n{{ m() }}\n", "#", "{% macro m() %}{{ nope }}{% endmacro %}", &g())
                .unwrap_err();
        assert!(err.message.contains("macros.j2"), "{err:?}");
    }

    /// A header macro in the C-family style: the deck opens the German cell.
    const BARE_MACRO: &str = "{% macro header(de, en) %}\n// <b>{{ de }}</b>\n\n// %% [markdown] lang=\"en\" tags=[\"slide\"]\n// <b>{{ en }}</b>\n{% endmacro %}";
    /// A header macro in the Python style: it opens the German cell itself.
    const OPENING_MACRO: &str = "{% macro header(de, en) %}%% [markdown] lang=\"de\" tags=[\"slide\"]\n// <b>{{ de }}</b>\n\n// %% [markdown] lang=\"en\" tags=[\"slide\"]\n// <b>{{ en }}</b>\n{% endmacro %}";
    const WRAPPED: &str = "// %% [markdown] lang=\"de\" tags=[\"slide\"]\n// j2 from 'macros.j2' import header\n// {{ header(\"T\", \"E\") }}\n\n// %%\nint x;\n";
    const UNWRAPPED: &str = "// j2 from 'macros.j2' import header\n// {{ header(\"T\", \"E\") }}\n\n// %%\nint x;\n";

    #[test]
    fn an_unwrapped_title_line_renders_like_a_wrapped_one() {
        let wrapped = render(WRAPPED, "//", BARE_MACRO, &g()).unwrap();
        assert!(wrapped.starts_with("// %% [markdown] lang=\"de\" tags=[\"slide\"]\n// \n// <b>T</b>\n"), "{wrapped}");
        assert_eq!(render(UNWRAPPED, "//", BARE_MACRO, &g()).unwrap(), wrapped);
        let coded = |deck: &str| format!("// -*- coding: utf-8 -*-\n{deck}");
        let wrapped = render(&coded(WRAPPED), "//", BARE_MACRO, &g()).unwrap();
        assert_eq!(render(&coded(UNWRAPPED), "//", BARE_MACRO, &g()).unwrap(), wrapped);
    }

    #[test]
    fn a_macro_that_opens_the_title_cell_gets_no_second_marker() {
        let out = render(UNWRAPPED, "//", OPENING_MACRO, &g()).unwrap();
        assert_eq!(out.matches("lang=\"de\"").count(), 1, "{out}");
        assert!(out.starts_with("// %% [markdown] lang=\"de\" tags=[\"slide\"]\n// <b>T</b>\n"), "{out}");
        let python = render(
            "# j2 from 'macros.j2' import header\n# {{ header(\"T\", \"E\") }}\n",
            "#",
            &OPENING_MACRO.replace("//", "#"),
            &g(),
        )
        .unwrap();
        assert!(python.starts_with("# %% [markdown] lang=\"de\" tags=[\"slide\"]\n# <b>T</b>\n"), "{python}");
    }

    #[test]
    fn only_a_markdown_marker_above_counts_as_the_wrapper() {
        let rewritten = wrap_bare_title_lines(WRAPPED, "//");
        assert_eq!(rewritten, WRAPPED);
        let after_code = "// %%\nint x;\n// {{ header(\"T\", \"E\") }}\n";
        assert!(wrap_bare_title_lines(after_code, "//").contains(TITLE_FILTER));
        let not_a_call = "// {{ headers }}\n// {{ title(\"x\") }}\n";
        assert_eq!(wrap_bare_title_lines(not_a_call, "//"), not_a_call);
    }

    #[test]
    fn an_error_in_an_unwrapped_title_line_keeps_its_deck_line() {
        let err = render("// -*- coding: utf-8 -*-\n// {{ header(\"T\", \"E\") }}\n", "//", "", &g()).unwrap_err();
        assert_eq!(err.line, Some(2), "{err:?}");
        assert!(err.message.contains("header"), "{err:?}");
        assert!(!err.message.contains(TITLE_FILTER), "{err:?}");
    }

    #[test]
    fn author_organisation_and_logo_are_null_or_text() {
        let probe = "{{ author is none }}/{{ organisation is none }}/{{ logo is none }}";
        assert_eq!(render(probe, "#", "", &g()).unwrap(), "True/True/True");
        let byline =
            Byline { author: Some("Ada"), organisation: Some("Academy"), logo: Some("data:image/png;base64,AA") };
        let globals = Globals { byline, ..g() };
        let out = render("{{ author }}/{{ organisation }}/{{ logo }}", "#", "", &globals).unwrap();
        assert_eq!(out, "Ada/Academy/data:image/png;base64,AA");
    }
}
