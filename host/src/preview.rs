//! `clx serve`: the output directory over HTTP, with live reload.
//!
//! The server only reads: it serves files below the output directory (a
//! `..` segment, or a symlink that leads outside, is refused) and adds one
//! small script to the HTML it sends, never to the files on disk. That script
//! opens a server-sent-events stream naming the page and the version it was
//! served at; after every build the stream compares the page's version now
//! (a hash of its bytes, or of its build error) and tells the browser to
//! reload when it differs. A page whose deck failed in the last build is
//! served as that error (file, line, traceback) until a good build replaces it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::Stream;
use percent_encoding::percent_decode_str;
use tokio::sync::watch;

use crate::course::frame::esc;
use crate::course::plan::Plan;
use crate::report::{Diagnostic, Level, Report};

/// Where the live-reload stream is served; no course file can have this path
/// (output folders never start with `__`).
const EVENTS_PATH: &str = "/__clx/events";

/// Why the preview server could not start.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The address could not be bound (port in use, no permission).
    #[error("cannot serve on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// The output directory could not be resolved (missing, unreadable).
    #[error("cannot serve {}: {source}", dir.display())]
    Root {
        /// The output directory as given.
        dir: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// The async runtime or the server thread could not be created.
    #[error("cannot start the preview server: {0}")]
    Runtime(std::io::Error),
}

/// What the last build said about pages that should exist but failed: the
/// page's path below the output directory -> the error shown in its place.
#[derive(Debug, Default)]
struct Snapshot {
    failures: HashMap<PathBuf, String>,
}

struct Shared {
    /// The output directory, symlinks resolved.
    root: PathBuf,
    snapshot: watch::Sender<Arc<Snapshot>>,
}

/// A running preview server. Dropping it does not stop the server; the
/// process ending does (it holds no file or child process).
pub struct Preview {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Preview {
    /// Bind `addr` (port 0: a free one) and serve `out_dir` from a thread of
    /// its own.
    pub fn start(out_dir: &Path, addr: SocketAddr) -> Result<Preview, PreviewError> {
        let root = out_dir.canonicalize().map_err(|source| PreviewError::Root { dir: out_dir.to_owned(), source })?;
        let listener = TcpListener::bind(addr).map_err(|source| PreviewError::Bind { addr, source })?;
        listener.set_nonblocking(true).map_err(|source| PreviewError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| PreviewError::Bind { addr, source })?;
        let (snapshot, _) = watch::channel(Arc::new(Snapshot::default()));
        let shared = Arc::new(Shared { root, snapshot });
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(PreviewError::Runtime)?;
        let app = Router::new().route(EVENTS_PATH, get(events)).fallback(get(file)).with_state(Arc::clone(&shared));
        std::thread::Builder::new()
            .name("clx-serve".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            if let Err(e) = axum::serve(listener, app).await {
                                tracing::error!("preview server stopped: {e}");
                            }
                        }
                        Err(e) => tracing::error!("preview server cannot listen: {e}"),
                    }
                })
            })
            .map_err(PreviewError::Runtime)?;
        Ok(Preview { addr, shared })
    }

    /// The address actually bound (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of a path below the output directory.
    pub fn url(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.shared.root).unwrap_or(path);
        let mut url = format!("http://{}/", self.addr);
        let parts: Vec<String> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => {
                    Some(percent_encoding::utf8_percent_encode(&s.to_string_lossy(), SEGMENT).to_string())
                }
                _ => None,
            })
            .collect();
        url.push_str(&parts.join("/"));
        url
    }

    /// A build finished: remember which of its pages failed, and wake every
    /// open page so it can check whether it changed.
    pub fn built(&self, plan: &Plan, report: &Report) {
        let snapshot = Snapshot { failures: failures(plan, report, &self.shared.root) };
        self.shared.snapshot.send_replace(Arc::new(snapshot));
    }
}

/// Characters escaped in a URL path segment.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// HTML pages the plan meant to write that are missing because their job
/// failed, each with the job's errors as a page.
fn failures(plan: &Plan, report: &Report, root: &Path) -> HashMap<PathBuf, String> {
    let mut out = HashMap::new();
    for job in &plan.jobs {
        let errors: Vec<&Diagnostic> =
            report.diagnostics.iter().filter(|d| d.level == Level::Error && d.file == job.display).collect();
        if errors.is_empty() {
            continue;
        }
        for dest in job.outputs.iter().flat_map(|o| &o.destinations) {
            if dest.extension().is_some_and(|e| e == "html") && !dest.exists() {
                let rel = dest.canonicalize().unwrap_or_else(|_| resolve_missing(dest));
                if let Ok(rel) = rel.strip_prefix(root) {
                    // In the page's own frame: the reader can still move around the course.
                    let page = error_page(&job.display, &errors);
                    let page = match plan.frames.get(dest) {
                        Some(frame) => String::from_utf8_lossy(&frame.apply(page.as_bytes())).into_owned(),
                        None => page,
                    };
                    out.insert(rel.to_owned(), page);
                }
            }
        }
    }
    out
}

/// A path that does not exist (yet), with its longest existing ancestor's
/// symlinks resolved, so it compares with canonical paths.
fn resolve_missing(path: &Path) -> PathBuf {
    let mut tail = Vec::new();
    let mut head = path;
    while let Some(parent) = head.parent() {
        if let Some(name) = head.file_name() {
            tail.push(name.to_owned());
        }
        if let Ok(canonical) = parent.canonicalize() {
            let mut out = canonical;
            out.extend(tail.iter().rev());
            return out;
        }
        head = parent;
    }
    path.to_owned()
}

fn error_page(source: &str, errors: &[&Diagnostic]) -> String {
    let mut text = String::new();
    for e in errors {
        text.push_str(&e.to_string());
        text.push('\n');
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Build failed: {}</title>\n\
         <style>main{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem}}\
         h1{{color:#b42318}}pre{{background:#fdf2f2;color:#1f2933;border:1px solid #f3c5c5;padding:1rem;\
         white-space:pre-wrap;overflow-x:auto}}</style>\n</head>\n<body>\n<main>\n\
         <h1 class=\"clx-build-error\">This page failed to build</h1>\n\
         <p>Fix <code>{}</code>; the page reloads when the next build succeeds.</p>\n<pre class=\"clx-errors\">{}</pre>\n\
         </main>\n</body>\n</html>\n",
        esc(source),
        esc(source),
        esc(&text)
    )
}

/// What a request path names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// An existing file (canonical path).
    File(PathBuf),
    /// Nothing there (yet): the path below the root it would have.
    Missing(PathBuf),
    /// A directory asked for without its trailing slash: relative links
    /// inside its index page need one.
    Redirect(String),
    /// Outside the root, or not a path at all.
    Refused,
}

impl Shared {
    fn resolve(&self, url_path: &str) -> Target {
        let Ok(decoded) = percent_decode_str(url_path).decode_utf8() else { return Target::Refused };
        let mut rel = PathBuf::new();
        for segment in decoded.split('/') {
            match segment {
                "" | "." => {}
                ".." => return Target::Refused,
                s if s.contains('\\') || s.contains('\0') => return Target::Refused,
                s => rel.push(s),
            }
        }
        let path = self.root.join(&rel);
        match path.canonicalize() {
            Ok(found) if !found.starts_with(&self.root) => Target::Refused,
            Ok(found) if found.is_dir() => {
                if !decoded.ends_with('/') {
                    return Target::Redirect(format!("{url_path}/"));
                }
                let index = found.join("index.html");
                match index.canonicalize() {
                    Ok(file) if file.starts_with(&self.root) => Target::File(file),
                    Ok(_) => Target::Refused,
                    Err(_) => Target::Missing(rel.join("index.html")),
                }
            }
            Ok(found) => Target::File(found),
            // A symlink whose target is gone is refused like one leading out.
            Err(_) if path.symlink_metadata().is_ok() => Target::Refused,
            Err(_) => Target::Missing(rel),
        }
    }

    /// The version of the page at `url_path` now: its build error, its
    /// bytes, or its absence.
    fn version(&self, url_path: &str) -> String {
        let snapshot = self.snapshot.borrow().clone();
        match self.resolve(url_path) {
            Target::File(file) => match file.strip_prefix(&self.root).ok().and_then(|r| snapshot.failures.get(r)) {
                Some(error) => version_of(error.as_bytes(), 'e'),
                None => std::fs::read(&file).map(|b| version_of(&b, 'f')).unwrap_or_else(|_| "missing".to_owned()),
            },
            Target::Missing(rel) => match snapshot.failures.get(&rel) {
                Some(error) => version_of(error.as_bytes(), 'e'),
                None => "missing".to_owned(),
            },
            Target::Redirect(_) | Target::Refused => "none".to_owned(),
        }
    }
}

fn version_of(bytes: &[u8], kind: char) -> String {
    let hash = blake3::hash(bytes).to_hex();
    format!("{kind}{}", &hash.as_str()[..16])
}

/// The script every served HTML page gets: reload when the stream says so.
/// Only a visible page keeps its stream open (a hidden one opens it again
/// when shown, and reloads then if it changed meanwhile): a browser allows
/// six connections to one server, and a stream per background tab would
/// use them all.
fn reload_script(version: &str) -> String {
    format!(
        "<script>/* clx serve: live reload */(function(){{var s=null;function open(){{if(s)return;\
         s=new EventSource(\"{EVENTS_PATH}?path=\"+encodeURIComponent(location.pathname)+\"&v={version}\");\
         s.addEventListener(\"reload\",function(){{s.close();location.reload()}})}}\
         document.addEventListener(\"visibilitychange\",function(){{if(document.hidden){{if(s){{s.close();s=null}}}}\
         else open()}});if(!document.hidden)open()}})();</script>"
    )
}

/// `page` with the reload script before its closing body tag.
fn inject(page: &str, version: &str) -> String {
    let script = reload_script(version);
    match page.rfind("</body>") {
        Some(at) => format!("{}{script}{}", &page[..at], &page[at..]),
        None => format!("{page}{script}"),
    }
}

fn html_response(status: StatusCode, page: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], page)
        .into_response()
}

async fn file(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let path = uri.path();
    let snapshot = shared.snapshot.borrow().clone();
    match shared.resolve(path) {
        Target::Refused => (StatusCode::FORBIDDEN, "outside the served folder\n").into_response(),
        Target::Redirect(to) => (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, to)]).into_response(),
        Target::Missing(rel) => match snapshot.failures.get(&rel) {
            Some(error) => {
                html_response(StatusCode::INTERNAL_SERVER_ERROR, inject(error, &version_of(error.as_bytes(), 'e')))
            }
            None => {
                let page = format!(
                    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Not found</title></head><body>\
                     <p>Not found: <code>{}</code>. This page reloads when a build writes it.</p></body></html>\n",
                    esc(&rel.display().to_string())
                );
                html_response(StatusCode::NOT_FOUND, inject(&page, "missing"))
            }
        },
        Target::File(file) => {
            if let Some(error) = file.strip_prefix(&shared.root).ok().and_then(|r| snapshot.failures.get(r)) {
                return html_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    inject(error, &version_of(error.as_bytes(), 'e')),
                );
            }
            let bytes = match tokio::fs::read(&file).await {
                Ok(bytes) => bytes,
                Err(e) => return (StatusCode::NOT_FOUND, format!("cannot read the file: {e}\n")).into_response(),
            };
            if file.extension().is_some_and(|e| e == "html" || e == "htm") {
                let version = version_of(&bytes, 'f');
                return html_response(StatusCode::OK, inject(&String::from_utf8_lossy(&bytes), &version));
            }
            let mime = mime_guess::from_path(&file).first_or_octet_stream();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, mime.to_string()), (header::CACHE_CONTROL, "no-cache".to_owned())],
                bytes,
            )
                .into_response()
        }
    }
}

#[derive(serde::Deserialize)]
struct EventsQuery {
    path: String,
    v: String,
}

/// One open page's stream: a `reload` event as soon as its version differs
/// from the one it was served at (checked at once and after every build).
async fn events(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<EventsQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let updates = shared.snapshot.subscribe();
    let stream = futures_util::stream::unfold(Some((updates, shared, query)), |state| async move {
        let (mut updates, shared, query) = state?;
        loop {
            updates.borrow_and_update();
            if shared.version(&query.path) != query.v {
                return Some((Ok(Event::default().event("reload").data("changed")), None));
            }
            if updates.changed().await.is_err() {
                return None;
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(root: &Path) -> Shared {
        let (snapshot, _) = watch::channel(Arc::new(Snapshot::default()));
        Shared { root: root.canonicalize().unwrap(), snapshot }
    }

    #[test]
    fn parent_segments_and_symlinks_out_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join("public")).unwrap();
        std::fs::write(dir.path().join("secret.txt"), "x").unwrap();
        std::fs::write(out.join("public/page.html"), "<body></body>").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), out.join("public/link.txt")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone"), out.join("public/dangling")).unwrap();
        let s = shared(&out);
        assert_eq!(s.resolve("/public/../../secret.txt"), Target::Refused);
        assert_eq!(s.resolve("/public/%2e%2e/%2e%2e/secret.txt"), Target::Refused);
        assert_eq!(s.resolve("/public/link.txt"), Target::Refused);
        assert_eq!(s.resolve("/public/dangling"), Target::Refused);
        assert_eq!(s.resolve("/public/page.html"), Target::File(s.root.join("public/page.html")));
        assert_eq!(s.resolve("/public"), Target::Redirect("/public/".to_owned()));
        assert_eq!(s.resolve("/public/new%20page.html"), Target::Missing(PathBuf::from("public/new page.html")));
    }

    #[test]
    fn the_reload_script_goes_before_the_closing_body_tag_only_in_what_is_served() {
        let page = "<html><body><p>x</p></body></html>";
        let served = inject(page, "f123");
        assert!(served.starts_with("<html><body><p>x</p><script>"), "{served}");
        assert!(served.ends_with("</script></body></html>"), "{served}");
        assert!(served.contains("&v=f123"), "{served}");
    }
}
