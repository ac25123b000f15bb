//! What a printed page is made of: the framed page and every file it
//! embeds. A page is printed to PDF from its frame as it landed, so the
//! print's cache key must cover the page's bytes and each stylesheet,
//! script and image the browser loads for it; this finds them in the page.

use std::path::{Component, Path, PathBuf};

/// The MathJax entry script: MathJax loads its fonts and extensions from the
/// folder it lives in while it typesets, so that whole folder counts.
const MATHJAX_ENTRY: &str = "tex-chtml-full.js";

/// The files below `root` that the page at `page` embeds (`src`, `srcset`
/// and `<link href>`), each as (path from `root` with `/`, path on disk),
/// sorted and without repeats. References that leave `root`, name no file,
/// or are URLs (`data:`, `https:`) are left out: the printer loads nothing
/// outside the root.
pub fn embedded(page: &Path, html: &str, root: &Path) -> Vec<(String, PathBuf)> {
    let dir = page.parent().unwrap_or(page);
    let mut files = Vec::new();
    for reference in references(html) {
        let Some(rel) = decode(&reference) else { continue };
        let Some(path) = inside(root, &dir.join(rel)) else { continue };
        if !path.is_file() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == MATHJAX_ENTRY) {
            files.extend(crate::course::site::files_below(path.parent().unwrap_or(root)));
        }
        files.push(path);
    }
    let mut named: Vec<(String, PathBuf)> = files
        .into_iter()
        .filter_map(|p| Some((crate::course::home::slash_path(p.strip_prefix(root).ok()?), p)))
        .collect();
    named.sort();
    named.dedup();
    named
}

/// The raw values of the attributes that make a browser load a file.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in html.match_indices('<') {
        let tag_end = html[at..].find('>').map_or(html.len(), |end| at + end);
        let tag = &html[at..tag_end];
        let is_link = tag.len() > 5 && tag[1..5].eq_ignore_ascii_case("link");
        for attribute in [" src=\"", " srcset=\"", " href=\""] {
            if attribute == " href=\"" && !is_link {
                continue;
            }
            let Some(start) = tag.find(attribute).map(|s| s + attribute.len()) else { continue };
            let value = &tag[start..tag[start..].find('"').map_or(tag.len(), |end| start + end)];
            if attribute == " srcset=\"" {
                out.extend(value.split(',').filter_map(|c| c.split_whitespace().next()).map(str::to_owned));
            } else {
                out.push(value.to_owned());
            }
        }
    }
    out
}

/// An attribute value as a relative file path: entities and percent
/// escapes undone, query and fragment cut; `None` for URLs and absolute
/// paths.
fn decode(value: &str) -> Option<String> {
    let value = value.split(['?', '#']).next()?;
    if value.is_empty() || value.starts_with('/') || value.contains(':') {
        return None;
    }
    let value = crate::course::frame::unescape(value);
    percent_encoding::percent_decode_str(&value).decode_utf8().ok().map(|v| v.into_owned())
}

/// `path` with its `..` resolved lexically, when it stays below `root`.
fn inside(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.starts_with(root).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_embeds_its_stylesheets_images_and_the_whole_mathjax_folder_but_not_its_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("En/Course");
        let write = |rel: &str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, rel).unwrap();
        };
        for rel in [
            "_site/site.css",
            "_site/mathjax/tex-chtml-full.js",
            "_site/mathjax/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff",
            "Slides/Html/Completed/Week 1/img/a b.png",
            "Slides/Html/Completed/Week 1/02 Next.html",
            "secret.txt",
        ] {
            write(rel);
        }
        let page = root.join("Slides/Html/Completed/Week 1/01 Intro.html");
        let html = r#"<link rel="stylesheet" href="../../../../_site/site.css">
<script defer src="../../../../_site/mathjax/tex-chtml-full.js"></script>
<picture><source srcset="img/a%20b.png 3x"><img src="img/a%20b.png" alt=""></picture>
<img src="data:image/png;base64,AAAA"><img src="https://example.org/x.png">
<img src="../../../../../../secret.txt"><img src="img/missing.png">
<a href="02%20Next.html">next</a>"#;
        let found: Vec<String> = embedded(&page, html, &root).into_iter().map(|(rel, _)| rel).collect();
        assert_eq!(
            found,
            [
                "Slides/Html/Completed/Week 1/img/a b.png",
                "_site/mathjax/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff",
                "_site/mathjax/tex-chtml-full.js",
                "_site/site.css",
            ]
        );
    }

    #[test]
    fn a_file_name_the_frame_escaped_is_found_under_its_own_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("En/Course");
        let image = root.join("Slides/Html/Completed/Week 1/img/say \"hi\" <now>.png");
        std::fs::create_dir_all(image.parent().unwrap()).unwrap();
        std::fs::write(&image, "png").unwrap();
        let page = root.join("Slides/Html/Completed/Week 1/01 Intro.html");
        let html = r#"<img src="img/say%20&quot;hi&quot;%20&lt;now&gt;.png" alt="">"#;
        let found: Vec<String> = embedded(&page, html, &root).into_iter().map(|(rel, _)| rel).collect();
        assert_eq!(found, ["Slides/Html/Completed/Week 1/img/say \"hi\" <now>.png"]);
    }
}
