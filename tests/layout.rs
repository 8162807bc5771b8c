//! The layout docs/ARCHITECTURE.md promises: no two modules of the library import each
//! other, at the top level (`crate::store` ↔ `crate::rules`) or inside a stage's folder
//! (`generation::commit` ↔ `generation::publish`). A cycle means a shared name that
//! belongs lower down; this test names the lines that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file below `src/`: `generation/commit.rs` → `[generation, commit]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The names that follow `prefix` in the code of `text` (comments left out).
fn referenced(text: &str, prefix: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push((i + 1, name));
            }
            rest = after;
        }
    }
    out
}

type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn cycles(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for (a, targets) in graph {
        for (b, where_a) in targets {
            if a < b {
                if let Some(where_b) = graph.get(b).and_then(|t| t.get(a)) {
                    found.push(format!("{a} ↔ {b}: {} / {}", where_a[0], where_b[0]));
                }
            }
        }
    }
    found
}

#[test]
fn no_two_modules_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let tops: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(&src).unwrap())[0].clone())
        .collect();
    let mut top_level: Graph = BTreeMap::new();
    let mut inside: BTreeMap<String, Graph> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = module_of(rel);
        // The binary (main.rs, cli/) sits above the library and uses all of it.
        if matches!(module[0].as_str(), "main" | "lib" | "cli") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let here = |line: usize| format!("{}:{line}", rel.display());
        for (line, name) in referenced(&text, "crate::") {
            if name != module[0] && tops.contains(&name) {
                top_level
                    .entry(module[0].clone())
                    .or_default()
                    .entry(name)
                    .or_default()
                    .push(here(line));
            }
        }
        // Inside a folder: `super::x` from a direct child, `crate::folder::x` from any.
        if module.len() >= 2 {
            let folder = &module[0];
            let me = &module[1];
            let siblings: BTreeSet<String> = files
                .iter()
                .map(|f| module_of(f.strip_prefix(&src).unwrap()))
                .filter(|m| m.len() >= 2 && m[0] == *folder)
                .map(|m| m[1].clone())
                .collect();
            let mut refs = referenced(&text, &format!("crate::{folder}::"));
            if module.len() == 2 {
                refs.extend(referenced(&text, "super::"));
            }
            for (line, name) in refs {
                if name != *me && siblings.contains(&name) {
                    inside
                        .entry(folder.clone())
                        .or_default()
                        .entry(me.clone())
                        .or_default()
                        .entry(name)
                        .or_default()
                        .push(here(line));
                }
            }
        }
    }
    let mut all = cycles(&top_level);
    for (folder, graph) in &inside {
        all.extend(
            cycles(graph)
                .into_iter()
                .map(|c| format!("in {folder}/: {c}")),
        );
    }
    // The check must see the graph it claims to check.
    assert!(
        top_level
            .get("generation")
            .is_some_and(|t| t.contains_key("store")),
        "the scan found no import of store from generation: it is not reading the code"
    );
    assert!(
        all.is_empty(),
        "modules that import each other:\n{}",
        all.join("\n")
    );
}
