//! The crate's import graph, read from the source text: no circle between files anywhere in
//! `rust/` nor between its top-level modules (`base`, `kernels`, `layers`, ..), kernels import only
//! the ground (`crate::base`), other kernels and the error type, and the ground imports nothing
//! above itself.
//!
//! A small scanner, no parser dependency: comments and literals are skipped; every `use` tree
//! (`use crate::{a, b::{c, d as e, self}}`) and every inline path that starts with `crate::`,
//! `super::`, `self::`, a module the file declares or a name a `use` binds is resolved to the file
//! that defines the module it lands in. Inline `mod name { .. }` blocks are their own scopes
//! (`super` inside `mod tests` is the file itself). A path to a name that the landing module
//! only re-exports (`pub use op::Context;` in `layers/mod.rs`) is followed to where the name comes
//! from, so a facade `mod.rs` does not stand in for its children. `mod x;` declares a child, it
//! does not import it. Method calls (which name no module) are not seen.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// What a kernel may import: the ground, kernels, the error type.
const KERNEL_MAY_IMPORT: &[&str] = &["base", "kernels", "error"];
/// What the ground may import: itself and the error type.
const GROUND_MAY_IMPORT: &[&str] = &["base", "error"];

// ---------------------------------------------------------------------------------------------
// Lexing

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

/// Identifiers, `::` and single punctuation; comments, strings and char literals dropped.
fn lex(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                if i >= c.len() {
                    break;
                } else if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            if word == "r" || word == "br" {
                let mut j = i;
                while at(j) == '#' {
                    j += 1;
                }
                if at(j) == '"' {
                    // A raw string: ends at a quote followed by as many hashes as it opened with.
                    let hashes = j - i;
                    j += 1;
                    while j < c.len() && !(c[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#')) {
                        line += usize::from(c[j] == '\n');
                        j += 1;
                    }
                    i = j + 1 + hashes;
                    continue;
                }
            }
            if word == "b" && (at(i) == '"' || at(i) == '\'') {
                continue; // a byte string or byte char: the literal itself is skipped next
            }
            out.push(Token { tok: Tok::Ident(word), line });
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            i += 1;
        } else if ch == '\'' {
            if at(i + 1) == '\\' {
                i += 3; // the quote, the backslash and the escaped character ('\'' too)
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3; // a char literal such as '{'
            } else {
                i += 1; // a lifetime or label
            }
        } else if ch == ':' && at(i + 1) == ':' {
            out.push(Token { tok: Tok::Sep, line });
            i += 2;
        } else {
            out.push(Token { tok: Tok::Punct(ch), line });
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Use trees

/// One leaf of a `use` tree: the full path as written and the name it binds (None for a glob).
#[derive(Debug, Clone, PartialEq)]
struct UseItem {
    path: Vec<String>,
    binds: Option<String>,
}

fn ident(t: Option<&Token>) -> Option<&str> {
    match t.map(|t| &t.tok) {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

fn is(t: Option<&Token>, want: &Tok) -> bool {
    t.is_some_and(|t| &t.tok == want)
}

/// Parses the tree at `toks[*pos..]` (after `use`) into leaves, each prefixed by `prefix`.
fn parse_use_tree(toks: &[Token], pos: &mut usize, prefix: &[String], out: &mut Vec<UseItem>) {
    let mut path = prefix.to_vec();
    if is(toks.get(*pos), &Tok::Sep) {
        *pos += 1; // `use ::std::..`: an extern crate
        path.push("::".into());
    }
    loop {
        match toks.get(*pos).map(|t| &t.tok) {
            Some(Tok::Ident(name)) => {
                *pos += 1;
                let is_self_leaf = name == "self" && path.len() == prefix.len() && !prefix.is_empty();
                if !is_self_leaf {
                    path.push(name.clone());
                }
                if is(toks.get(*pos), &Tok::Sep) {
                    *pos += 1;
                    continue;
                }
                let mut binds = path.last().cloned();
                if ident(toks.get(*pos)) == Some("as") {
                    binds = ident(toks.get(*pos + 1)).map(str::to_string);
                    *pos += 2;
                }
                out.push(UseItem { path, binds });
                return;
            }
            Some(Tok::Punct('{')) => {
                *pos += 1;
                while let Some(t) = toks.get(*pos) {
                    match t.tok {
                        Tok::Punct('}') => {
                            *pos += 1;
                            break;
                        }
                        Tok::Punct(',') => *pos += 1,
                        _ => parse_use_tree(toks, pos, &path, out),
                    }
                }
                return;
            }
            Some(Tok::Punct('*')) => {
                *pos += 1;
                out.push(UseItem { path, binds: None });
                return;
            }
            _ => return, // malformed: stop at what was read
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The crate

type ModPath = Vec<String>;

/// A path as it appears in a file, not yet resolved.
#[derive(Debug, Clone)]
struct Written {
    scope: ModPath,
    path: Vec<String>,
    line: usize,
    /// A `use` leaf (else an inline path).
    in_use: bool,
}

#[derive(Debug, Default)]
struct SourceFile {
    name: String,
    /// `mod x;` and `mod x { .. }` per scope.
    children: HashMap<ModPath, BTreeSet<String>>,
    /// Names each scope's `use` items bind, with what they name (as written in that scope).
    bindings: HashMap<ModPath, HashMap<String, Vec<String>>>,
    /// Every `use` leaf and inline path.
    refs: Vec<Written>,
}

/// An import from one file to another, with where it was written.
#[derive(Debug, Clone)]
struct Edge {
    to: usize,
    line: usize,
    text: String,
}

struct Crate {
    files: Vec<SourceFile>,
    /// Module path (including inline modules) -> file index.
    modules: HashMap<ModPath, usize>,
}

/// `rust/layers/op.rs` -> `[layers, op]`; `rust/layers/mod.rs` -> `[layers]`; `rust/lib.rs` -> `[]`.
fn module_of(name: &str) -> ModPath {
    let rel = name.strip_prefix("rust/").unwrap_or(name).trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn scan_file(name: &str, src: &str) -> SourceFile {
    let toks = lex(src);
    let mut file = SourceFile { name: name.to_string(), ..SourceFile::default() };
    // (scope, brace depth at which it closes)
    let mut scopes: Vec<(ModPath, usize)> = vec![(module_of(name), usize::MAX)];
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let scope = scopes.last().expect("the file scope").0.clone();
        match &toks[i].tok {
            Tok::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if scopes.last().is_some_and(|s| s.1 == depth) {
                    scopes.pop();
                }
                i += 1;
            }
            Tok::Ident(w) if w == "mod" && !is(toks.get(i.wrapping_sub(1)), &Tok::Sep) => {
                let Some(name) = ident(toks.get(i + 1)).map(str::to_string) else {
                    i += 1;
                    continue;
                };
                file.children.entry(scope.clone()).or_default().insert(name.clone());
                if is(toks.get(i + 2), &Tok::Punct('{')) {
                    let mut inner = scope.clone();
                    inner.push(name);
                    scopes.push((inner, depth));
                    depth += 1;
                    i += 3;
                } else {
                    i += 2;
                }
            }
            Tok::Ident(w) if w == "use" && !is(toks.get(i.wrapping_sub(1)), &Tok::Sep) => {
                let line = toks[i].line;
                let mut pos = i + 1;
                let mut items = Vec::new();
                parse_use_tree(&toks, &mut pos, &[], &mut items);
                for item in items {
                    if let Some(b) = &item.binds {
                        if b != "_" {
                            file.bindings.entry(scope.clone()).or_default().insert(b.clone(), item.path.clone());
                        }
                    }
                    file.refs.push(Written { scope: scope.clone(), path: item.path, line, in_use: true });
                }
                while pos < toks.len() && !is(toks.get(pos), &Tok::Punct(';')) {
                    pos += 1;
                }
                i = pos + 1;
            }
            Tok::Ident(first) if is(toks.get(i + 1), &Tok::Sep) && !is(toks.get(i.wrapping_sub(1)), &Tok::Sep) => {
                // An inline path: kept whole, resolved (or found external) once every scope is known.
                let line = toks[i].line;
                let mut path = vec![first.clone()];
                let mut j = i + 1;
                while is(toks.get(j), &Tok::Sep) {
                    match ident(toks.get(j + 1)) {
                        Some(s) => path.push(s.to_string()),
                        None => break,
                    }
                    j += 2;
                }
                file.refs.push(Written { scope, path, line, in_use: false });
                i = j;
            }
            _ => i += 1,
        }
    }
    file
}

impl Crate {
    fn from_sources(sources: &[(String, String)]) -> Crate {
        let files: Vec<SourceFile> = sources.iter().map(|(name, src)| scan_file(name, src)).collect();
        let mut modules = HashMap::new();
        for (i, f) in files.iter().enumerate() {
            modules.insert(module_of(&f.name), i);
            let mut inline: Vec<ModPath> = Vec::new();
            for (scope, kids) in &f.children {
                inline.extend(kids.iter().map(|k| [scope.clone(), vec![k.clone()]].concat()));
            }
            for m in inline {
                // Inline modules are in this file; file modules get their own entry above.
                if !files.iter().any(|g| module_of(&g.name) == m) {
                    modules.insert(m, i);
                }
            }
        }
        Crate { files, modules }
    }

    fn scan(root: &Path) -> Crate {
        let mut sources = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("readable source folder") {
                let p = entry.expect("directory entry").path();
                if p.is_dir() {
                    // Integration tests are crates of their own.
                    if p.file_name().is_some_and(|n| n != "tests") || p.parent() != Some(root) {
                        stack.push(p);
                    }
                } else if p.extension().is_some_and(|e| e == "rs") {
                    let rel = p.strip_prefix(root.parent().expect("rust/ has a parent")).expect("under root");
                    let name = rel.to_string_lossy().replace('\\', "/");
                    sources.push((name, std::fs::read_to_string(&p).expect("UTF-8 source")));
                }
            }
        }
        sources.sort();
        Crate::from_sources(&sources)
    }

    /// The absolute module path a written path names, or None when it leaves the crate.
    fn absolute(&self, file: usize, scope: &[String], path: &[String], hops: usize) -> Option<Vec<String>> {
        let f = &self.files[file];
        let first = path.first()?;
        let rest = &path[1..];
        match first.as_str() {
            "crate" => Some(rest.to_vec()),
            "self" => Some([scope, rest].concat()),
            "super" => {
                let mut s = scope.to_vec();
                let mut k = 0;
                while path.get(k).map(String::as_str) == Some("super") {
                    s.pop()?;
                    k += 1;
                }
                Some([s.as_slice(), &path[k..]].concat())
            }
            _ if f.children.get(scope).is_some_and(|c| c.contains(first)) => {
                Some([scope, std::slice::from_ref(first), rest].concat())
            }
            _ => {
                let bound = f.bindings.get(scope)?.get(first)?;
                if hops > 8 || bound.as_slice() == path {
                    return None;
                }
                let target = self.absolute(file, scope, bound, hops + 1)?;
                Some([target.as_slice(), rest].concat())
            }
        }
    }

    /// The file a module path lands in, following re-exports of the name after the module.
    fn land(&self, abs: &[String], follow: bool, hops: usize) -> Option<usize> {
        let k = (0..=abs.len()).rev().find(|&k| self.modules.contains_key(&abs[..k]))?;
        let file = self.modules[&abs[..k]];
        if follow && k < abs.len() && hops < 8 {
            let scope = &abs[..k];
            if let Some(bound) = self.files[file].bindings.get(scope).and_then(|b| b.get(&abs[k])) {
                if let Some(target) = self.absolute(file, scope, bound, 0) {
                    let further = [target.as_slice(), &abs[k + 1..]].concat();
                    return self.land(&further, follow, hops + 1).or(Some(file));
                }
            }
        }
        Some(file)
    }

    /// Each file's imports of other files.
    fn edges(&self) -> Vec<Vec<Edge>> {
        (0..self.files.len())
            .map(|i| {
                let mut out = Vec::new();
                for r in &self.files[i].refs {
                    let Some(abs) = self.absolute(i, &r.scope, &r.path, 0) else { continue };
                    if let Some(to) = self.land(&abs, true, 0).filter(|&to| to != i) {
                        out.push(Edge { to, line: r.line, text: r.path.join("::") });
                    }
                }
                out
            })
            .collect()
    }

    /// Groups of files that import each other.
    fn circles(&self) -> Vec<BTreeSet<usize>> {
        let adj: Vec<Vec<usize>> = self.edges().iter().map(|es| es.iter().map(|e| e.to).collect()).collect();
        circles(&adj)
    }

    /// Groups of top-level modules (`layers`, `kernels`, ..; the crate root is left out) that import
    /// each other, by name.
    fn module_circles(&self) -> Vec<Vec<String>> {
        let top = |f: usize| module_of(&self.files[f].name).first().cloned();
        let names: Vec<String> = (0..self.files.len()).filter_map(top).collect::<BTreeSet<_>>().into_iter().collect();
        let at = |n: &str| names.iter().position(|m| m == n);
        let mut adj = vec![BTreeSet::new(); names.len()];
        for (from, es) in self.edges().iter().enumerate() {
            for e in es {
                if let (Some(a), Some(b)) = (top(from).and_then(|n| at(&n)), top(e.to).and_then(|n| at(&n))) {
                    if a != b {
                        adj[a].insert(b);
                    }
                }
            }
        }
        let adj: Vec<Vec<usize>> = adj.into_iter().map(|s| s.into_iter().collect()).collect();
        circles(&adj).iter().map(|g| g.iter().map(|&i| names[i].clone()).collect()).collect()
    }

    fn describe(&self, group: &BTreeSet<usize>) -> String {
        let edges = self.edges();
        let mut lines = BTreeMap::new();
        for &from in group {
            for e in edges[from].iter().filter(|e| group.contains(&e.to)) {
                let key = (self.files[from].name.as_str(), self.files[e.to].name.as_str());
                lines.entry(key).or_insert_with(|| format!("{}:{} uses {}", self.files[from].name, e.line, e.text));
            }
        }
        lines.into_values().collect::<Vec<_>>().join("\n    ")
    }

    /// Paths written in files under `folder` whose top-level module is not in `allowed`.
    fn imports_outside(&self, folder: &str, allowed: &[&str]) -> Vec<String> {
        let mut bad = Vec::new();
        for (i, f) in self.files.iter().enumerate().filter(|(_, f)| f.name.starts_with(folder)) {
            // An inline path through a name a `use` binds says nothing the `use` did not.
            for r in f.refs.iter().filter(|r| r.in_use || !self.through_binding(i, r)) {
                let Some(abs) = self.absolute(i, &r.scope, &r.path, 0) else { continue };
                if let Some(top) = self.top_module(&abs) {
                    if !allowed.contains(&top.as_str()) {
                        bad.push(format!("{}:{} uses {}", f.name, r.line, r.path.join("::")));
                    }
                }
            }
        }
        bad
    }

    fn through_binding(&self, file: usize, r: &Written) -> bool {
        let first = r.path[0].as_str();
        let declared = self.files[file].children.get(&r.scope).is_some_and(|c| c.contains(first));
        !matches!(first, "crate" | "super" | "self") && !declared
    }

    /// The top-level module a path is in, looking through the crate root's re-exports
    /// (`crate::Result` is `crate::error::Result`).
    fn top_module(&self, abs: &[String]) -> Option<String> {
        let first = abs.first()?;
        if self.modules.contains_key(std::slice::from_ref(first)) {
            return Some(first.clone());
        }
        let root = *self.modules.get(&Vec::new())?;
        let bound = self.files[root].bindings.get(&Vec::new())?.get(first)?;
        let target = self.absolute(root, &[], bound, 0)?;
        target.first().cloned()
    }
}

/// The strongly connected components of two or more nodes of a graph given by adjacency lists.
fn circles(edges: &[Vec<usize>]) -> Vec<BTreeSet<usize>> {
    let n = edges.len();
    // Tarjan's algorithm, iterative.
    let (mut index, mut low, mut on_stack) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
    let (mut stack, mut out, mut next) = (Vec::new(), Vec::new(), 0);
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        while let Some(&(v, e)) = work.last() {
            if e == 0 && index[v] == usize::MAX {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges[v].get(e) {
                work.last_mut().expect("v is on the work list").1 += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut group = BTreeSet::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    group.insert(w);
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    out.push(group);
                }
            }
        }
    }
    out
}

fn the_crate() -> Crate {
    let c = Crate::scan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rust"));
    // Guards against a scanner that silently sees nothing.
    assert!(c.files.len() > 100, "only {} files scanned", c.files.len());
    let edges: usize = c.edges().iter().map(Vec::len).sum();
    assert!(edges > 300, "only {edges} imports between files found");
    c
}

#[test]
fn no_import_circle_in_rust() {
    let c = the_crate();
    let circles: Vec<String> = c
        .circles()
        .into_iter()
        .map(|group| (group.iter().map(|&i| c.files[i].name.as_str()).collect::<BTreeSet<&str>>(), group))
        .map(|(names, group)| {
            let names: Vec<&str> = names.into_iter().collect();
            format!("{}\n    {}", names.join(" <-> "), c.describe(&group))
        })
        .collect();
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
}

#[test]
fn top_level_modules_import_each_other_in_one_direction() {
    let circles = the_crate().module_circles();
    assert!(circles.is_empty(), "top-level modules importing each other: {circles:?}");
}

#[test]
fn kernels_import_only_the_ground() {
    let bad = the_crate().imports_outside("rust/kernels/", KERNEL_MAY_IMPORT);
    assert!(bad.is_empty(), "kernels importing above the ground:\n{}", bad.join("\n"));
}

#[test]
fn the_ground_imports_nothing_above_itself() {
    let c = the_crate();
    assert!(c.files.iter().any(|f| f.name.starts_with("rust/base/")), "no ground module rust/base/");
    let bad = c.imports_outside("rust/base/", GROUND_MAY_IMPORT);
    assert!(bad.is_empty(), "the ground importing above itself:\n{}", bad.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The scanner on small made-up crates

fn made_up(files: &[(&str, &str)]) -> Crate {
    let sources: Vec<(String, String)> = files.iter().map(|(n, s)| (n.to_string(), s.to_string())).collect();
    Crate::from_sources(&sources)
}

fn names(c: &Crate) -> Vec<Vec<&str>> {
    c.circles().iter().map(|g| g.iter().map(|&i| c.files[i].name.as_str()).collect()).collect()
}

#[test]
fn nested_use_trees_expand_to_every_leaf() {
    let toks = lex("crate::{a, b::{c, d as e, self}, f::*};");
    let mut items = Vec::new();
    parse_use_tree(&toks, &mut 0, &[], &mut items);
    let got: Vec<(String, Option<&str>)> = items.iter().map(|u| (u.path.join("::"), u.binds.as_deref())).collect();
    let want = [
        ("crate::a", Some("a")),
        ("crate::b::c", Some("c")),
        ("crate::b::d", Some("e")),
        ("crate::b", Some("b")),
        ("crate::f", None),
    ];
    assert_eq!(got, want.map(|(p, b)| (p.to_string(), b)));
}

#[test]
fn comments_strings_and_chars_hide_nothing_and_invent_nothing() {
    let toks = lex("/* crate::x /* nested */ */ let s = \"super::y {\\\"\"; let c = '{'; let q = '\\''; let r = r#\"a\"b\"#; 'a: loop {}\n// crate::z\ncrate::w");
    let text: Vec<String> = toks
        .iter()
        .map(|t| match &t.tok {
            Tok::Ident(s) => s.clone(),
            Tok::Sep => "::".into(),
            Tok::Punct(p) => p.to_string(),
        })
        .collect();
    assert_eq!(text.concat(), "lets=;letc=;letq=;letr=;a:loop{}crate::w");
    assert_eq!(toks.last().map(|t| t.line), Some(3));
}

#[test]
fn a_circle_through_use_and_inline_paths_is_found() {
    let c = made_up(&[
        ("rust/lib.rs", "mod a; mod b; mod c;"),
        ("rust/a.rs", "use crate::{b::{X, Y}};"),
        ("rust/b.rs", "pub fn f() { super::c::g(); }"),
        ("rust/c.rs", "fn g() { let _ = crate::a::Z; }"),
    ]);
    assert_eq!(names(&c), vec![vec!["rust/a.rs", "rust/b.rs", "rust/c.rs"]]);
    assert_eq!(c.module_circles(), vec![vec!["a", "b", "c"]]);
}

#[test]
fn a_circle_between_folders_is_found_without_one_between_files() {
    let c = made_up(&[
        ("rust/lib.rs", "mod x; mod y;"),
        ("rust/x/mod.rs", "mod a; mod b;"),
        ("rust/x/a.rs", "use crate::y::c;"),
        ("rust/x/b.rs", ""),
        ("rust/y.rs", "mod c { use crate::x::b; }"),
    ]);
    assert!(names(&c).is_empty());
    assert_eq!(c.module_circles(), vec![vec!["x", "y"]]);
}

#[test]
fn re_exports_are_followed_and_inline_modules_are_their_own_scope() {
    // A facade mod.rs re-exporting the op interface and the registry: layer files importing
    // `super::Op` depend on op.rs, not on the registry that builds them.
    let c = made_up(&[
        ("rust/lib.rs", "pub mod layers;"),
        (
            "rust/layers/mod.rs",
            "pub mod conv; pub mod op; mod registry; pub use op::{Op, one}; pub use registry::build;",
        ),
        ("rust/layers/op.rs", "pub trait Op {}"),
        ("rust/layers/registry.rs", "use super::conv; fn build() { conv::build() }"),
        ("rust/layers/conv.rs", "use super::Op; fn f() { super::one(); }\n#[cfg(test)] mod tests { use super::*; }"),
    ]);
    assert!(names(&c).is_empty(), "{:?}", names(&c));
    // Without the split, mod.rs holding the registry is a circle with each layer.
    let c = made_up(&[
        ("rust/lib.rs", "pub mod layers;"),
        ("rust/layers/mod.rs", "pub mod conv; pub trait Op {} fn build() { conv::build() }"),
        ("rust/layers/conv.rs", "use super::Op;"),
    ]);
    assert_eq!(names(&c), vec![vec!["rust/layers/mod.rs", "rust/layers/conv.rs"]]);
}

#[test]
fn a_kernel_importing_a_layer_is_caught_even_through_a_binding() {
    let c = made_up(&[
        ("rust/lib.rs", "pub mod base; pub mod kernels; pub mod layers; pub mod error; pub use error::Result;"),
        ("rust/base.rs", "pub struct Tensor;"),
        ("rust/error.rs", "pub type Result = ();"),
        ("rust/layers.rs", "pub mod activation { pub enum Activation {} }"),
        (
            "rust/kernels.rs",
            "use crate::{base::Tensor, Result}; use crate::layers as l; fn f(_: l::activation::Activation) {}",
        ),
    ]);
    assert_eq!(c.imports_outside("rust/kernels", KERNEL_MAY_IMPORT), ["rust/kernels.rs:1 uses crate::layers"]);
}
