//! The file-level import graph of the server's sources (`src/`, without the bench): no two files
//! import each other, directly or around a circle, and every file opens with a `//!` paragraph
//! saying what it owns. Paths count in code only (comments and strings are blanked): `crate::`,
//! `super::` and `self::` paths and child-module paths, each resolved to the longest prefix that
//! is a module file; a module's own file (`mod.rs`, `lib.rs`) using its children is the module
//! tree itself and does not count. The same rule as `shared/tools/structure-check.py`.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

/// The module path of a file relative to `src/` (`http/web/mod.rs` → `["http", "web"]`).
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// `text` with comments and string literals blanked.
fn code_only(text: &str) -> String {
    let block = Regex::new(r"(?s)/\*.*?\*/").unwrap();
    let line = Regex::new(r"//[^\n]*").unwrap();
    let raw = Regex::new(r##"r#*"(?s:.)*?"#*"##).unwrap();
    let plain = Regex::new(r#""(?:\\.|[^"\\])*""#).unwrap();
    let t = block.replace_all(text, " ");
    let t = line.replace_all(&t, " ");
    let t = raw.replace_all(&t, "\"\"");
    plain.replace_all(&t, "\"\"").into_owned()
}

/// Every module path `text` (a file of module `module`) names, made absolute; a use tree's
/// top-level names are each a path of their own.
fn named_paths(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let path = Regex::new(
        r"(?:^|[^A-Za-z0-9_:])((?:crate|super|self)(?:::super)*|[a-z_][a-z0-9_]*)((?:::[A-Za-z_][A-Za-z0-9_]*)+)(::\{)?",
    )
    .unwrap();
    let name = Regex::new(r"[A-Za-z_][A-Za-z0-9_]*").unwrap();
    let mut out = Vec::new();
    for m in path.captures_iter(text) {
        let head: Vec<&str> = m[1].split("::").collect();
        let rest: Vec<String> = m[2]
            .split("::")
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        let mut base: Vec<String> = match head[0] {
            "crate" => rest,
            "super" | "self" => {
                let mut cur = module.to_vec();
                for h in &head {
                    if *h == "super" {
                        cur.pop();
                    }
                }
                cur.extend(rest);
                cur
            }
            first => {
                let mut cur = module.to_vec();
                cur.push(first.to_owned());
                cur.extend(rest);
                cur
            }
        };
        base.retain(|b| !b.is_empty());
        if m.get(3).is_some() {
            // A use tree: its top-level entries, nested groups taken roughly.
            let start = m.get(0).unwrap().end();
            let bytes = text.as_bytes();
            let (mut depth, mut i) = (1, start);
            while i < bytes.len() && depth > 0 {
                match bytes[i] {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    _ => {}
                }
                i += 1;
            }
            let inner = &text[start..i.saturating_sub(1).max(start)];
            for part in split_top_level(inner) {
                let head = part.split('{').next().unwrap_or("");
                let mut p = base.clone();
                p.extend(name.find_iter(head).take(4).map(|n| n.as_str().to_owned()));
                out.push(p);
            }
        } else {
            out.push(base);
        }
    }
    out
}

/// `a, b::{c, d}, e` split at its top-level commas.
fn split_top_level(s: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The file-level import graph: file → the files it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let sources = crate::tidy::sources();
    let files: BTreeMap<Vec<String>, String> = sources
        .iter()
        .map(|(rel, _)| (module_of(rel), rel.clone()))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in &sources {
        let module = module_of(rel);
        let is_mod_file = ["mod.rs", "lib.rs", "main.rs"]
            .iter()
            .any(|f| rel == f || rel.ends_with(&format!("/{f}")));
        let out = edges.entry(rel.clone()).or_default();
        for path in named_paths(&code_only(text), &module) {
            for k in (1..=path.len()).rev() {
                let Some(target) = files.get(&path[..k]) else {
                    continue;
                };
                let own_child = is_mod_file && path[..k].starts_with(&module) && k > module.len();
                if target != rel && !own_child {
                    out.insert(target.clone());
                }
                break;
            }
        }
    }
    edges
}

/// The strongly connected components of more than one file (Tarjan's algorithm).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn strong<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on_stack.insert(v);
        for next in &w.edges[v] {
            let next = next.as_str();
            if !w.index.contains_key(next) {
                strong(w, next);
                let l = w.low[v].min(w.low[next]);
                w.low.insert(v, l);
            } else if w.on_stack.contains(next) {
                let l = w.low[v].min(w.index[next]);
                w.low.insert(v, l);
            }
        }
        if w.low[v] == w.index[v] {
            let mut comp = Vec::new();
            loop {
                let x = w.stack.pop().unwrap();
                w.on_stack.remove(x);
                comp.push(x.to_owned());
                if x == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                w.found.push(comp);
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v.as_str()) {
            strong(&mut walk, v);
        }
    }
    walk.found
}

#[test]
fn no_files_import_each_other() {
    let found = circles(&graph());
    assert!(
        found.is_empty(),
        "files that import each other (directly or around a circle): {found:#?}"
    );
}

#[test]
fn the_rule_sees_a_circle_and_ignores_a_module_using_its_children() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let text = "use crate::b::Thing;\nuse super::c::{x, y::z};\n// crate::d::Ignored\n";
    let paths = named_paths(&code_only(text), &["a".to_owned()]);
    assert!(paths.contains(&vec!["b".to_owned(), "Thing".to_owned()]));
    assert!(paths.contains(&vec!["c".to_owned(), "x".to_owned()]));
    assert!(paths.contains(&vec!["c".to_owned(), "y".to_owned(), "z".to_owned()]));
    assert!(!paths.iter().any(|p| p.first().is_some_and(|f| f == "d")));
    for (from, to) in [
        ("a.rs", "b.rs"),
        ("b.rs", "c.rs"),
        ("c.rs", "a.rs"),
        ("d.rs", "a.rs"),
    ] {
        edges.entry(from.into()).or_default().insert(to.into());
        edges.entry(to.into()).or_default();
    }
    assert_eq!(circles(&edges), vec![vec!["a.rs", "b.rs", "c.rs"]]);
    assert_eq!(module_of("http/web/mod.rs"), ["http", "web"]);
    assert_eq!(module_of("lib.rs"), Vec::<String>::new());
}

#[test]
fn every_file_opens_with_a_module_doc() {
    let missing: Vec<String> = crate::tidy::sources()
        .into_iter()
        .filter(|(_, text)| {
            !text
                .lines()
                .find(|l| !l.trim().is_empty() && !l.starts_with("#!["))
                .is_some_and(|l| l.starts_with("//!"))
        })
        .map(|(rel, _)| rel)
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! opening: {missing:?}"
    );
}
