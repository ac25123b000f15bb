//! The house's invariants (ARCHITECTURE.md lists them), checked on its
//! sources: imports are read from syntax trees, not grepped, so a path in a
//! string or a comment is not an import and a grouped `use` is. Code under
//! `#[cfg(test)]` is left out: a test may reach anywhere, production code
//! may not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the host lives in the repository").to_owned()
}

/// Every `.rs` file below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if !matches!(name.to_str(), Some("target" | "node_modules" | ".git")) {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A source file of the host: its module path (`run::engine` for
/// `run/engine/mod.rs`) and what it names outside itself.
struct Source {
    /// Relative to the repository, for messages.
    file: String,
    module: Vec<String>,
    /// Paths into the crate it names, made absolute (`["store", "Queue"]`
    /// for `crate::store::Queue` or `super::Queue` in a store room).
    paths: Vec<Vec<String>>,
    /// Other paths of two or more segments, as written (`["rusqlite", …]`):
    /// other crates' items (a one-segment path is a local name).
    external: Vec<Vec<String>>,
    /// Paths as written, before resolution (to find names like `PgQueue`).
    idents: BTreeSet<String>,
    /// The code before its test module, comments removed.
    code: String,
}

impl Source {
    fn top(&self) -> &str {
        self.module.first().map(String::as_str).unwrap_or("")
    }

    fn in_wing(&self, wing: &str) -> bool {
        self.top() == wing
    }

    /// The host's own modules this source names (first segment).
    fn host_modules(&self) -> BTreeSet<&str> {
        self.paths.iter().filter_map(|p| p.first()).map(String::as_str).filter(|m| HOST_MODULES.contains(m)).collect()
    }
}

/// The host's top-level modules, library and binary.
const HOST_MODULES: &[&str] = &[
    "build", "config", "course", "plugin", "process", "report", "run", "signals", "store", "sys", "watch", "cli",
    "commands", "main",
];

fn host_sources() -> Vec<Source> {
    let src = repo().join("host/src");
    rust_files(&src)
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(&src).expect("below src");
            let mut module: Vec<String> =
                rel.with_extension("").iter().map(|c| c.to_string_lossy().into_owned()).collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut names =
                Names { module: module.clone(), paths: Vec::new(), external: Vec::new(), idents: BTreeSet::new() };
            names.visit_file(&file);
            Source {
                file: path.strip_prefix(repo()).unwrap_or(&path).display().to_string(),
                module,
                paths: names.paths,
                external: names.external,
                idents: names.idents,
                code: code_of(&text),
            }
        })
        .collect()
}

/// The text before the test module, without comments.
fn code_of(text: &str) -> String {
    text.lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .map(|l| if l.trim_start().starts_with("//") { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects the paths a file names outside its test items.
struct Names {
    module: Vec<String>,
    paths: Vec<Vec<String>>,
    external: Vec<Vec<String>>,
    idents: BTreeSet<String>,
}

impl Names {
    fn record(&mut self, segments: Vec<String>) {
        self.idents.extend(segments.iter().cloned());
        let mut absolute: Vec<String> = match segments.first().map(String::as_str) {
            Some("crate") => Vec::new(),
            Some("super") => {
                let mut m = self.module.clone();
                m.pop();
                m
            }
            Some("self") => self.module.clone(),
            _ => {
                if segments.len() > 1 {
                    self.external.push(segments);
                }
                return;
            }
        };
        let mut rest = segments.into_iter().skip(1).peekable();
        while rest.peek().is_some_and(|s| s == "super") {
            absolute.pop();
            rest.next();
        }
        absolute.extend(rest);
        self.paths.push(absolute);
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut path = prefix.clone();
                if n.ident != "self" {
                    path.push(n.ident.to_string());
                }
                self.record(path);
            }
            syn::UseTree::Rename(r) => {
                let mut path = prefix.clone();
                path.push(r.ident.to_string());
                self.record(path);
            }
            syn::UseTree::Glob(_) => self.record(prefix.clone()),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("cfg") && a.parse_args::<syn::Meta>().is_ok_and(|m| m.path().is_ident("test")))
}

impl<'ast> Visit<'ast> for Names {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            syn::Item::Const(c) => &c.attrs,
            _ => &Vec::new(),
        };
        if !is_test(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.record(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }
}

/// `file: names` for every source in `sources` that names one of `banned`.
fn naming(sources: &[&Source], banned: &[&str]) -> Vec<String> {
    sources
        .iter()
        .filter_map(|s| {
            let hits: Vec<&str> = s.host_modules().into_iter().filter(|m| banned.contains(m)).collect();
            (!hits.is_empty()).then(|| format!("{}: {}", s.file, hits.join(", ")))
        })
        .collect()
}

fn wing<'a>(sources: &'a [Source], name: &str) -> Vec<&'a Source> {
    sources.iter().filter(|s| s.in_wing(name)).collect()
}

#[test]
fn the_course_wing_reads_the_course_and_nothing_else() {
    let sources = host_sources();
    let hits = naming(&wing(&sources, "course"), &["store", "run", "plugin", "build", "watch", "config"]);
    assert!(hits.is_empty(), "course/ imports from store/, run/, plugin/, build, watch or config:\n{hits:#?}");
}

#[test]
fn the_store_depends_on_nothing_that_runs_or_reads_courses() {
    let sources = host_sources();
    let hits = naming(&wing(&sources, "store"), &["course", "run", "plugin", "build", "watch"]);
    assert!(hits.is_empty(), "store/ imports from course/, run/, plugin/, build or watch:\n{hits:#?}");
}

#[test]
fn the_library_never_imports_the_binary() {
    let sources = host_sources();
    let library: Vec<&Source> = sources.iter().filter(|s| !matches!(s.top(), "main" | "cli" | "commands")).collect();
    let hits = naming(&library, &["cli", "commands"]);
    assert!(hits.is_empty(), "the library imports the binary's cli or commands:\n{hits:#?}");
}

#[test]
fn only_the_store_speaks_sql() {
    let sql = regex::Regex::new(r"\b(SELECT|INSERT INTO|UPDATE [a-z_]+ SET|DELETE FROM|CREATE TABLE)\b").unwrap();
    let mut hits = Vec::new();
    for s in host_sources().iter().filter(|s| !s.in_wing("store")) {
        for client in ["rusqlite", "postgres"] {
            if s.external.iter().any(|p| p.first().is_some_and(|f| f == client)) {
                hits.push(format!("{}: names {client}", s.file));
            }
        }
        if let Some(m) = sql.find(&s.code) {
            hits.push(format!("{}: {}", s.file, m.as_str()));
        }
    }
    assert!(hits.is_empty(), "SQL outside store/:\n{hits:#?}");
}

#[test]
fn author_text_is_read_only_through_the_text_module() {
    // `read_to_string` keeps a byte-order mark and refuses legacy bytes
    // without a line; `clx_plugin_api::text` drops the one and places the other.
    let hits: Vec<String> = host_sources()
        .into_iter()
        .filter(|s| s.in_wing("course") || s.file == "host/src/config.rs")
        .filter(|s| s.code.contains("read_to_string"))
        .map(|s| s.file)
        .collect();
    assert!(hits.is_empty(), "author files read past clx_plugin_api::text:\n{hits:#?}");
}

#[test]
fn only_the_sys_crate_asks_what_only_some_systems_have() {
    // A call only Linux has, made anywhere else, breaks the build (prctl) or
    // the behaviour (/proc) on every other system; kept in one crate, each
    // has its fallback beside it.
    let os_only = regex::Regex::new(r#"\bprctl\b|"/proc|"bwrap"|PR_SET_"#).unwrap();
    let mut hits = Vec::new();
    for dir in ["host/src", "plugin-api/src", "plugins"] {
        for path in rust_files(&repo().join(dir)) {
            let rel = path.strip_prefix(repo()).unwrap_or(&path).display().to_string();
            if rel.starts_with("host/src/sys/") || rel.contains("/tests/") || rel.contains("/benches/") {
                continue;
            }
            let code = code_of(&std::fs::read_to_string(&path).expect("read source"));
            if let Some(m) = os_only.find(&code) {
                hits.push(format!("{rel}: {}", m.as_str()));
            }
        }
    }
    assert!(hits.is_empty(), "OS-specific calls outside the sys crate:\n{hits:#?}");
}

#[test]
fn the_run_wing_never_names_a_backend() {
    let sources = host_sources();
    let mut hits = Vec::new();
    for s in wing(&sources, "run") {
        let backend = |name: &str| {
            matches!(name, "pg" | "sqlite" | "postgres" | "rusqlite")
                || name.starts_with("Pg")
                || name.starts_with("Sqlite")
                || name.starts_with("Postgres")
        };
        let named: Vec<&String> = s.idents.iter().filter(|i| backend(i)).collect();
        if !named.is_empty() {
            hits.push(format!("{}: {named:?}", s.file));
        }
    }
    assert!(hits.is_empty(), "run/ names a store backend:\n{hits:#?}");
}

#[test]
fn only_landing_writes_into_the_output_tree() {
    let allowed = ["host/src/run/output.rs", "host/src/run/engine/landing.rs"];
    let hits: Vec<String> = host_sources()
        .iter()
        .filter(|s| !allowed.contains(&s.file.as_str()))
        .filter(|s| s.idents.contains("OutputTree") || s.idents.contains("write_if_changed"))
        .map(|s| s.file.clone())
        .collect();
    assert!(hits.is_empty(), "only the engine's Landing writes outputs; these name the output tree:\n{hits:#?}");
    // Inside landing.rs, only Landing's own methods write to the tree.
    let text = std::fs::read_to_string(repo().join(allowed[1])).unwrap();
    let file = syn::parse_file(&text).unwrap();
    for item in file.items.iter().filter(|i| !matches!(i, syn::Item::Mod(_))) {
        let landing = matches!(item, syn::Item::Impl(i) if matches!(&*i.self_ty, syn::Type::Path(p)
            if p.path.segments.last().is_some_and(|s| s.ident == "Landing")));
        if !landing {
            let mut calls = TreeCalls::default();
            calls.visit_item(item);
            assert!(calls.0.is_empty(), "landing.rs writes to the tree outside Landing: {:?}", calls.0);
        }
    }
}

/// Method calls `tree.write(…)` / `tree.copy(…)`.
#[derive(Default)]
struct TreeCalls(Vec<String>);

impl<'ast> Visit<'ast> for TreeCalls {
    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let on_tree =
            matches!(&*call.receiver, syn::Expr::Field(f) if matches!(&f.member, syn::Member::Named(n) if n == "tree"));
        if on_tree && (call.method == "write" || call.method == "copy") {
            self.0.push(call.method.to_string());
        }
        syn::visit::visit_expr_method_call(self, call);
    }
}

/// A cycle in `edges`, if there is one.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let start = path.iter().position(|p| p == next).unwrap_or(0);
                    let mut found = path[start..].to_vec();
                    found.push(next.clone());
                    return Some(found);
                }
                Some(_) => {}
                None => {
                    if let Some(found) = visit(next, edges, state, path) {
                        return Some(found);
                    }
                }
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if !state.contains_key(node.as_str()) {
            if let Some(found) = visit(node, edges, &mut state, &mut Vec::new()) {
                return Some(found);
            }
        }
    }
    None
}

/// Edges between the rooms `depth` segments down (top-level modules at
/// depth 1, a wing's rooms at depth 2 under `prefix`).
fn room_edges(sources: &[Source], prefix: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let depth = prefix.len();
    let rooms: BTreeSet<String> = sources
        .iter()
        .filter(|s| s.module.len() > depth && s.module.iter().zip(prefix).all(|(a, b)| a == b))
        .map(|s| s.module[depth].clone())
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in sources.iter().filter(|s| s.module.len() > depth && s.module.iter().zip(prefix).all(|(a, b)| a == b)) {
        let from = &s.module[depth];
        for path in &s.paths {
            let inside = path.len() > depth && path.iter().zip(prefix).all(|(a, b)| a == b);
            if inside && rooms.contains(&path[depth]) && &path[depth] != from {
                edges.entry(from.clone()).or_default().insert(path[depth].clone());
            }
        }
        edges.entry(from.clone()).or_default();
    }
    edges
}

#[test]
fn no_import_circle_between_the_hosts_modules_or_inside_any_wing() {
    let sources = host_sources();
    let library: Vec<Source> =
        sources.into_iter().filter(|s| !matches!(s.top(), "main" | "cli" | "commands" | "")).collect();
    for prefix in [&[][..], &["course"][..], &["store"][..], &["run"][..], &["plugin"][..]] {
        let edges = room_edges(&library, prefix);
        assert!(edges.len() > 1, "{prefix:?} has rooms");
        if let Some(found) = cycle(&edges) {
            panic!("import circle in {prefix:?}: {}", found.join(" -> "));
        }
    }
}

#[test]
fn plugins_depend_only_on_the_plugin_api() {
    let mut manifests: Vec<PathBuf> = Vec::new();
    for dir in std::fs::read_dir(repo().join("plugins")).unwrap().flatten() {
        manifests.push(dir.path().join("Cargo.toml"));
        for sub in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            manifests.push(sub.path().join("Cargo.toml"));
        }
    }
    let mut checked = 0;
    for manifest in manifests.iter().filter(|m| m.exists()) {
        let text = std::fs::read_to_string(manifest).unwrap();
        let value: toml::Table = text.parse().unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
            for (name, dep) in value.get(table).and_then(|t| t.as_table()).into_iter().flatten() {
                let path = dep.get("path").and_then(|p| p.as_str()).unwrap_or("");
                assert!(
                    name != "clx" && !path.trim_end_matches('/').ends_with("host"),
                    "{} depends on the host ({name})",
                    manifest.display()
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 4, "found the plugins' manifests");
}

#[test]
fn no_comment_cites_a_document_outside_the_repository() {
    let root = repo();
    let citation = regex::Regex::new(r"\bSPEC\b|§|\b[Ii]ssue\s+#?\d+|\breference/").unwrap();
    let document = regex::Regex::new(r"[A-Za-z0-9_./-]+\.md\b").unwrap();
    let mut markdown = BTreeSet::new();
    for dir in [&root, &root.join("examples"), &root.join("tests")] {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            markdown.insert(entry.file_name().to_string_lossy().into_owned());
        }
    }
    let mut hits = Vec::new();
    let mut files = 0;
    for dir in ["host", "plugin-api", "plugins", "tests", "fuzz"] {
        for path in rust_files(&root.join(dir)) {
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let Some(at) = line.find("//") else { continue };
                let comment = &line[at..];
                let cites = citation.is_match(comment)
                    || document.find_iter(comment).any(|m| {
                        let name = m.as_str().rsplit('/').next().unwrap_or("");
                        !root.join(m.as_str()).exists() && !markdown.contains(name)
                    });
                if cites {
                    hits.push(format!("{}:{}: {}", path.strip_prefix(&root).unwrap().display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(files > 100, "read the workspace's sources");
    assert!(hits.is_empty(), "comments cite documents outside the repository:\n{hits:#?}");
}

/// The long flags the binary's clap definitions declare.
fn cli_flags() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo().join("host/src/cli.rs")).unwrap();
    let file = syn::parse_file(&text).unwrap();
    let mut flags = BTreeSet::from(["help".to_owned(), "version".to_owned()]);
    let long = regex::Regex::new(r#"\blong\s*(?:=\s*"([^"]+)")?"#).unwrap();
    struct Fields<'a>(&'a regex::Regex, &'a mut BTreeSet<String>);
    impl<'ast> Visit<'ast> for Fields<'_> {
        fn visit_field(&mut self, field: &'ast syn::Field) {
            for attr in field.attrs.iter().filter(|a| a.path().is_ident("arg")) {
                let syn::Meta::List(list) = &attr.meta else { continue };
                let tokens = list.tokens.to_string();
                if let Some(m) = self.0.captures(&tokens) {
                    let name = match m.get(1) {
                        Some(explicit) => explicit.as_str().to_owned(),
                        None => field.ident.as_ref().map(|i| i.to_string().replace('_', "-")).unwrap_or_default(),
                    };
                    self.1.insert(name);
                }
            }
            syn::visit::visit_field(self, field);
        }
    }
    Fields(&long, &mut flags).visit_file(&file);
    flags
}

#[test]
fn every_cli_flag_the_architecture_names_exists() {
    let flags = cli_flags();
    assert!(flags.contains("job-type") && flags.contains("queue-db") && flags.contains("local-workers"), "{flags:?}");
    let text = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let named = regex::Regex::new(r"(?:^|[\s(`])--([a-z][a-z0-9-]*)").unwrap();
    let unknown: BTreeSet<&str> = named
        .captures_iter(&text)
        .filter_map(|c| c.get(1))
        .map(|m| m.as_str())
        .filter(|f| !flags.contains(*f))
        .collect();
    assert!(unknown.is_empty(), "ARCHITECTURE.md names flags clx does not have: {unknown:?}");
}
