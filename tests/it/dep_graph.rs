//! Dependencies run one way (DESIGN §7): `store, rank, snapshot, formats, units <- layout
//! <- engine <- {cli, tui}`. This test reads every `src/**/*.rs`, collects the crate
//! modules each top-level module names (`crate::x`, `use crate::{x, y}`), and fails on
//! any edge the graph below does not allow, naming the file and line. A new top-level
//! module fails too until it is given its place here.

use std::path::{Path, PathBuf};

/// The allowed graph, as data: each top-level module of `src/` and what it may use.
/// `error` (the crate's `Error`/`Result`) may be used by every module.
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("units", &[]),
    ("rank", &[]),
    ("formats", &[]),
    ("store", &["rank"]),
    ("snapshot", &["rank", "store"]),
    ("disk", &["units"]),
    ("watch", &["disk"]),
    (
        "layout",
        &["store", "rank", "snapshot", "formats", "units", "disk"],
    ),
    (
        "engine",
        &[
            "layout", "store", "rank", "snapshot", "formats", "units", "disk", "watch",
        ],
    ),
    // The edge: shared by the CLI and the Python package (next steps, JSON views).
    (
        "hint",
        &[
            "engine", "layout", "store", "rank", "snapshot", "units", "disk",
        ],
    ),
    (
        "view",
        &[
            "engine", "layout", "store", "rank", "snapshot", "units", "disk",
        ],
    ),
    (
        "demo",
        &[
            "engine", "layout", "store", "rank", "snapshot", "units", "disk",
        ],
    ),
    (
        "tui",
        &[
            "engine", "layout", "store", "rank", "snapshot", "formats", "units", "disk", "watch",
            "view", "hint", "demo",
        ],
    ),
];

/// Files that are not a module of the library's graph: the crate root and the binary
/// (`main.rs` and `cli/` call everything through `ckpt::`).
fn outside_graph(rel: &Path) -> bool {
    rel == Path::new("lib.rs") || rel == Path::new("main.rs") || rel.starts_with("cli")
}

/// The top-level module a file under `src/` belongs to.
fn module_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

/// The crate modules a line of code names: `crate::x…` and `crate::{x, y::…}`.
pub fn modules_named(line: &str) -> Vec<String> {
    let code = match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        // `ckpt_crate::`, `my_crate::`: not this crate.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out.retain(|n| !n.is_empty() && n != "self");
    out
}

/// Everything below `dir` ending in `.rs`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every edge of `src` that [`ALLOWED`] does not allow: "file:line: a -> b".
pub fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap_or(&file).to_path_buf();
        if outside_graph(&rel) {
            continue;
        }
        let from = module_of(&rel);
        let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| *m == from) else {
            bad.push(format!(
                "{}: module `{from}` has no place in the dependency graph (tests/it/dep_graph.rs)",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            for to in modules_named(line) {
                // `crate::Error`, `crate::Result`: the error module, allowed everywhere.
                if to == from || to == "Error" || to == "Result" || to == "error" {
                    continue;
                }
                if !allowed.contains(&to.as_str()) {
                    bad.push(format!("src/{}:{}: {from} -> {to}", rel.display(), n + 1));
                }
            }
        }
    }
    bad
}

#[test]
fn lower_modules_never_import_higher_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(
        bad.is_empty(),
        "imports against the one-way graph (DESIGN §7):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_sees_every_spelling_of_an_import() {
    assert_eq!(modules_named("use crate::engine::Run;"), ["engine"]);
    assert_eq!(
        modules_named("use crate::{engine::Run, layout, Result};"),
        ["engine", "layout", "Result"]
    );
    assert_eq!(
        modules_named("    let r = crate::layout::scan(d, None); // crate::tui"),
        ["layout"]
    );
    assert!(modules_named("use ckpt_crate::x; // crate::engine").is_empty());
    // A back-import in a file of a lower module is reported with its place.
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("rank")).unwrap();
    std::fs::write(
        d.path().join("rank/mod.rs"),
        "use crate::engine::KeepReason;\n",
    )
    .unwrap();
    assert_eq!(violations(d.path()), ["src/rank/mod.rs:1: rank -> engine"]);
}
