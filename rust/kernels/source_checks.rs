//! What the compiler does not hold the kernels to, checked on their source: no `match` on a kernel
//! path or instruction set outside `dispatch.rs` (the one place that knows the paths), and no
//! import circle between the files of `rust/kernels` (SIMD files import downward, the drivers that
//! layers call sit on top). Both read the source as text, with comments and literals blanked; an
//! import is a `use` declaration or a `crate::kernels::`/`super::` path, resolved to the file of
//! the deepest module it names (so `use super::Epilogue` in a child depends on its `mod.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every `.rs` file under `rust/kernels`: (path relative to it, source).
fn kernel_sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("rust/kernels is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
                out.push((rel, std::fs::read_to_string(&path).expect("source is readable")));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("rust/kernels");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    assert!(out.len() > 20, "found only {} files under {}", out.len(), root.display());
    out
}

/// The source with comments, string and char literals blanked (newlines kept, lifetimes kept).
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied();
        let prev_ident = i > 0 && ident(c[i - 1]);
        if c[i] == '/' && at(i + 1) == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && at(i + 1) == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == Some('*') {
                    depth += 1;
                    i += 2;
                    out.push_str("  ");
                } else if c[i] == '*' && at(i + 1) == Some('/') {
                    depth -= 1;
                    i += 2;
                    out.push_str("  ");
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if !prev_ident && (c[i] == 'r' || (c[i] == 'b' && at(i + 1) == Some('r'))) && {
            let mut k = i + if c[i] == 'b' { 2 } else { 1 };
            while at(k) == Some('#') {
                k += 1;
            }
            at(k) == Some('"')
        } {
            // A raw string: r"…", r#"…"#, br"…".
            let start = i + if c[i] == 'b' { 2 } else { 1 };
            let mut k = start;
            while c[k] == '#' {
                k += 1;
            }
            let hashes = k - start;
            i = k + 1;
            while i < c.len() && !(c[i] == '"' && (0..hashes).all(|h| at(i + 1 + h) == Some('#'))) {
                blank(&mut out, c[i]);
                i += 1;
            }
            i = (i + 1 + hashes).min(c.len());
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            i += 1;
        } else if c[i] == '\'' && (at(i + 1) == Some('\\') || at(i + 2) == Some('\'')) {
            // A char literal ('x', '\n', '\u{..}'); a lifetime ('a) has no closing quote.
            i += 2;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Identifiers, `::`, and every other non-space character, one token each.
fn tokens(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut it = code.char_indices().peekable();
    while let Some((i, ch)) = it.next() {
        if ch.is_alphanumeric() || ch == '_' {
            let mut end = i + ch.len_utf8();
            while let Some(&(j, c)) = it.peek() {
                if !(c.is_alphanumeric() || c == '_') {
                    break;
                }
                end = j + c.len_utf8();
                it.next();
            }
            out.push(&code[i..end]);
        } else if ch == ':' && it.peek().is_some_and(|&(_, c)| c == ':') {
            it.next();
            out.push("::");
        } else if !ch.is_whitespace() {
            out.push(&code[i..i + ch.len_utf8()]);
        }
    }
    out
}

/// `match` expressions and `matches!` calls that dispatch on a kernel path: the scrutinee names a
/// path or ISA, or the arms name the old path enums or carry `cfg(target_arch)` (the shape of
/// the per-entry-point dispatch this design replaced). Returns the scrutinees found.
fn path_matches(code: &str) -> Vec<String> {
    let t = tokens(code);
    let mut found = Vec::new();
    for i in 0..t.len() {
        let is_macro = t[i] == "matches" && t.get(i + 1) == Some(&"!");
        if t[i] != "match" && !is_macro {
            continue;
        }
        // Scrutinee: up to the `{` of the arms (or the first `,` of matches!), outside brackets.
        let (mut k, mut depth) = (i + if is_macro { 3 } else { 1 }, 0i32);
        while k < t.len() {
            match t[k] {
                "(" | "[" => depth += 1,
                ")" | "]" => depth -= 1,
                "{" if depth == 0 && !is_macro => break,
                "," if depth == 0 && is_macro => break,
                _ => {}
            }
            k += 1;
        }
        let scrutinee = &t[i + 1..k.min(t.len())];
        let names_path =
            scrutinee.iter().any(|w| ["isa", "path"].contains(&w.to_ascii_lowercase().as_str()) || w.ends_with("Path"));
        // Arms: the brace block from `k`, or the rest of the matches! call.
        let open = if is_macro { i + 2 } else { k };
        let (mut end, mut depth) = (open, 0i32);
        while end < t.len() {
            match t[end] {
                "{" | "(" | "[" => depth += 1,
                "}" | ")" | "]" => depth -= 1,
                _ => {}
            }
            end += 1;
            if depth == 0 {
                break;
            }
        }
        let arms = &t[k..end.min(t.len())];
        let enum_arm = arms.windows(2).any(|w| ["Isa", "Path", "I8Path", "F32Path"].contains(&w[0]) && w[1] == "::");
        let arch_arm = arms.windows(3).any(|w| w == ["cfg", "(", "target_arch"]);
        if names_path || enum_arm || arch_arm {
            found.push(scrutinee.join(" "));
        }
    }
    found
}

#[test]
fn no_match_on_a_kernel_path_outside_dispatch() {
    let mut offenders = Vec::new();
    for (file, src) in kernel_sources() {
        if file != "dispatch.rs" {
            offenders.extend(path_matches(&code_only(&src)).into_iter().map(|m| format!("{file}: match {m}")));
        }
    }
    assert!(offenders.is_empty(), "only dispatch.rs may choose by path:\n{}", offenders.join("\n"));
}

#[test]
fn the_match_scan_finds_what_it_must() {
    let found = |src: &str| path_matches(&code_only(src)).len();
    assert_eq!(found("fn f(isa: Isa) -> u8 { match isa { Isa::Avx2 => 1, _ => 0 } }"), 1);
    assert_eq!(found("let d = match w.path { #[cfg(target_arch = \"x86_64\")] P::A => a, _ => b };"), 1);
    assert_eq!(found("let e = match chosen { #[cfg(target_arch = \"x86_64\")] X::A => a, _ => b };"), 1);
    assert_eq!(found("fn g(p: I8Path) -> bool { matches!(p, Path::Avx512Vnni | Path::AvxVnni) }"), 1);
    assert_eq!(found("match self.kernels().name() { _ => 0 }; match p.path() { _ => 1 }"), 1);
    assert_eq!(found("match method { Method::Max => a.max(b), Method::Avg => a + b }"), 0);
    assert_eq!(found("// match isa { Isa::Neon => 1 }\nlet s = \"match path {\"; let c = '{';"), 0);
    assert_eq!(found("/* match isa { } */ let r = r#\"match isa {\"#; fn h<'a>(x: &'a u8) {}"), 0);
}

/// A file's module path below `kernels`: `gemm_i8/x86.rs` → `[gemm_i8, x86]`, `pooling/mod.rs` →
/// [pooling], `mod.rs` → [].
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file.trim_end_matches(".rs").split('/').map(String::from).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The paths a `use` tree names, from `t[*i]` to its end (`;`, or the `,`/`}` closing a branch).
fn use_tree(t: &[&str], i: &mut usize, mut path: Vec<String>, out: &mut Vec<Vec<String>>) {
    while let Some(&tok) = t.get(*i) {
        match tok {
            "{" => {
                *i += 1;
                while t.get(*i).is_some_and(|&x| x != "}") {
                    use_tree(t, i, path.clone(), out);
                    if t.get(*i) == Some(&",") {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            "*" => {
                *i += 1;
                break;
            }
            "self" => *i += 1,
            "::" => *i += 1,
            "as" => *i += 2,
            ";" | "," | "}" => break,
            ident => {
                path.push(ident.to_string());
                *i += 1;
            }
        }
    }
    out.push(path);
}

fn is_ident(token: &str) -> bool {
    token.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// The file each import of `src` (the file `file`) names, among `modules` (module path → file).
fn imports(file: &str, src: &str, modules: &BTreeMap<Vec<String>, String>) -> BTreeSet<String> {
    let code = code_only(src);
    let t = tokens(&code);
    let file_module = module_of(file);
    // Inline `mod name { … }` blocks: (name, brace depth inside the block).
    let mut inline: Vec<(String, i32)> = Vec::new();
    let mut depth = 0;
    let mut found = BTreeSet::new();
    let resolve = |current: &[String], path: &[String], found: &mut BTreeSet<String>| {
        let mut base: Vec<String> = current.to_vec();
        let mut rest = path;
        match rest.first().map(String::as_str) {
            Some("crate") if rest.get(1).is_some_and(|s| s == "kernels") => {
                base.clear();
                rest = &rest[2..];
            }
            Some("crate") => return,
            Some("self") => rest = &rest[1..],
            Some("super") => {
                while rest.first().is_some_and(|s| s == "super") {
                    if base.pop().is_none() {
                        return; // above rust/kernels
                    }
                    rest = &rest[1..];
                }
            }
            Some(first) => {
                let mut child = base.clone();
                child.push(first.to_string());
                if !modules.contains_key(&child) {
                    return; // std, a dependency, or an item of this module
                }
            }
            None => {}
        }
        let mut full = base;
        full.extend(rest.iter().cloned());
        while !full.is_empty() && !modules.contains_key(&full) {
            full.pop();
        }
        if let Some(target) = modules.get(&full).filter(|&t| t != file) {
            found.insert(target.clone());
        }
    };
    let mut i = 0;
    while i < t.len() {
        let current: Vec<String> = file_module.iter().cloned().chain(inline.iter().map(|m| m.0.clone())).collect();
        match t[i] {
            "mod" if t.get(i + 2) == Some(&"{") => {
                inline.push((t[i + 1].to_string(), depth + 1));
                depth += 1;
                i += 3;
                continue;
            }
            "{" => depth += 1,
            "}" => {
                if inline.last().is_some_and(|m| m.1 == depth) {
                    inline.pop();
                }
                depth -= 1;
            }
            "use" if t.get(i + 1) != Some(&"<") => {
                let mut paths = Vec::new();
                i += 1;
                use_tree(&t, &mut i, Vec::new(), &mut paths);
                for p in paths {
                    resolve(&current, &p, &mut found);
                }
                continue;
            }
            // A path in code: `super::x::f()`, `crate::kernels::x::T`, `child::f()`.
            w if t.get(i + 1) == Some(&"::") && is_ident(w) && (i == 0 || t[i - 1] != "::") => {
                let mut path = vec![w.to_string()];
                let mut k = i + 1;
                while t.get(k) == Some(&"::") && t.get(k + 1).is_some_and(|s| is_ident(s)) {
                    path.push(t[k + 1].to_string());
                    k += 2;
                }
                resolve(&current, &path, &mut found);
                i = k;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// file → the files it imports.
fn import_graph(files: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeMap<Vec<String>, String> = files.iter().map(|(f, _)| (module_of(f), f.clone())).collect();
    files.iter().map(|(f, src)| (f.clone(), imports(f, src, &modules))).collect()
}

/// Every circle found by a depth-first walk, each as the files along it.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        out: &mut Vec<Vec<String>>,
    ) {
        state.insert(node, 1);
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|&n| n == next).expect("on the stack");
                    out.push(stack[from..].iter().map(ToString::to_string).chain([next.clone()]).collect());
                }
                Some(_) => {}
                None => visit(next, graph, state, stack, out),
            }
        }
        stack.pop();
        state.insert(node, 2);
    }
    let (mut state, mut out) = (BTreeMap::new(), Vec::new());
    for node in graph.keys() {
        if !state.contains_key(node.as_str()) {
            visit(node, graph, &mut state, &mut Vec::new(), &mut out);
        }
    }
    out
}

#[test]
fn no_import_circle_in_kernels() {
    let graph = import_graph(&kernel_sources());
    // The scan must see the imports that exist, or finding no circle proves nothing.
    for (from, to) in [
        ("gemm_i8/mod.rs", "dispatch.rs"),
        ("dispatch.rs", "gemm_i8/x86.rs"),
        ("dispatch.rs", "gemm_i8/aarch64.rs"),
        ("gemm_i8/x86.rs", "gemm_i8/tiling.rs"),
        ("dw_i8/mod.rs", "gemm_i8/mod.rs"),
        ("pooling/vector.rs", "simd.rs"),
    ] {
        assert!(graph[from].contains(to), "the scan missed {from} → {to}: {:?}", graph[from]);
    }
    let found = circles(&graph);
    let shown: Vec<String> = found.iter().map(|c| c.join(" → ")).collect();
    assert!(found.is_empty(), "import circles in rust/kernels:\n{}", shown.join("\n"));
}

#[test]
fn the_import_scan_finds_a_circle() {
    let files = |list: &[(&str, &str)]| list.iter().map(|(f, s)| (f.to_string(), s.to_string())).collect::<Vec<_>>();
    // A driver that dispatches to an ISA file which imports back from the driver.
    let circular = files(&[
        ("a/mod.rs", "mod x86;\npub use x86::f;\npub struct Src;"),
        ("a/x86.rs", "use super::{Src, other::{self as o}};\npub fn f() {}"),
        ("a/other.rs", "// use super::x86;\npub fn g() { let s = \"super::x86\"; }"),
        ("b.rs", "mod inner { use super::*; }\npub fn h() { crate::kernels::a::other::g() }"),
    ]);
    let graph = import_graph(&circular);
    assert_eq!(graph["a/x86.rs"], BTreeSet::from(["a/mod.rs", "a/other.rs"].map(String::from)));
    assert!(graph["a/other.rs"].is_empty(), "comments and strings are not imports");
    assert_eq!(graph["b.rs"], BTreeSet::from(["a/other.rs".to_string()]), "inline modules and inline paths");
    assert_eq!(circles(&graph), vec![vec!["a/mod.rs", "a/x86.rs", "a/mod.rs"]]);
    // The same with the shared type moved to a file of its own: no circle.
    let layered = files(&[
        ("a/mod.rs", "mod src;\nmod x86;\npub use x86::f;\npub use src::Src;"),
        ("a/src.rs", "pub struct Src;"),
        ("a/x86.rs", "use super::src::Src;\npub fn f() {}"),
    ]);
    assert!(circles(&import_graph(&layered)).is_empty());
    // A driver calling into a child by a relative path, the child importing the driver's type.
    let relative =
        files(&[("c/mod.rs", "mod r;\npub struct T;\npub fn g() { r::f() }"), ("c/r.rs", "pub fn f(_: super::T) {}")]);
    assert_eq!(circles(&import_graph(&relative)), vec![vec!["c/mod.rs", "c/r.rs", "c/mod.rs"]]);
}
