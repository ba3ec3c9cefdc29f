//! The project's layering, checked: no dependency cycle between the workspace's crates (normal,
//! build and dev dependencies), and no import cycle between the modules of a crate (the files of
//! each `src/` directory, and the files of `runtime/src/supervisor/`). A cycle means two files
//! must be read together; this test fails the build (through `scripts/test.sh`) when one appears.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ has a parent")
        .to_path_buf()
}

/// A cycle in `graph` (node -> the nodes it depends on), as the list of nodes on it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(n) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(n.to_string(), Mark::Open);
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(n.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

/// The source of a module file without its comments and without its `#[cfg(test)]` module (tests
/// may use anything).
fn code_of(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `code` refers to module `name` through one of `prefixes` (`crate::`, `super::`):
/// `prefix::name::…`, or `name` inside a `prefix::{…}` group.
fn refers_to(code: &str, prefixes: &[&str], name: &str) -> bool {
    prefixes.iter().any(|prefix| {
        let direct = code.match_indices(prefix).any(|(i, p)| {
            let rest = &code[i + p.len()..];
            rest.strip_prefix(name).is_some_and(|r| {
                r.starts_with("::")
                    || r.starts_with(';')
                    || r.starts_with(',')
                    || r.starts_with('}')
            })
        });
        let grouped = code.match_indices(&format!("{prefix}{{")).any(|(i, p)| {
            let rest = &code[i + p.len()..];
            let group = &rest[..rest.find('}').unwrap_or(rest.len())];
            group
                .split(',')
                .map(|item| item.trim().split("::").next().unwrap_or("").trim())
                .any(|item| item == name)
        });
        direct || grouped
    })
}

/// The import graph between the `.rs` files of `dir` (not `lib.rs`/`main.rs`/`mod.rs`, the
/// parent that declares them): file -> the sibling files it refers to through `prefixes`.
fn module_graph(dir: &Path, prefixes: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let files: BTreeMap<String, PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_string();
            (!matches!(stem.as_str(), "lib" | "main" | "mod")).then_some((stem, p))
        })
        .collect();
    files
        .iter()
        .map(|(name, path)| {
            let code = code_of(path);
            let deps = files
                .keys()
                .filter(|other| *other != name && refers_to(&code, prefixes, other))
                .cloned()
                .collect();
            (name.clone(), deps)
        })
        .collect()
}

#[test]
fn the_crates_do_not_depend_on_each_other_in_a_cycle() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let names: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect();
    assert!(
        names.contains("scrun-kernel") && names.contains("scrun"),
        "{names:?}"
    );
    let graph: BTreeMap<String, BTreeSet<String>> = packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.contains(*d))
                .map(String::from)
                .collect();
            (p["name"].as_str().unwrap_or_default().to_string(), deps)
        })
        .collect();
    assert_eq!(find_cycle(&graph), None, "crate graph: {graph:?}");
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let root = workspace_root();
    let mut dirs = vec![root.join("runtime/src")];
    for e in fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
    {
        dirs.push(e.path().join("src"));
    }
    for dir in dirs {
        let graph = module_graph(&dir, &["crate::"]);
        assert_eq!(
            find_cycle(&graph),
            None,
            "import cycle between the modules of {}",
            dir.display()
        );
    }
}

#[test]
fn no_two_supervisor_modules_import_each_other() {
    let dir = workspace_root().join("runtime/src/supervisor");
    let graph = module_graph(&dir, &["super::", "crate::supervisor::"]);
    // The split must stay split: the files are there and the worker reaches the exec path
    // (through the module that answers).
    let reaches = |from: &str, to: &str| {
        let (mut seen, mut todo) = (BTreeSet::new(), vec![from.to_string()]);
        while let Some(n) = todo.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n.clone()) {
                todo.extend(graph.get(&n).into_iter().flatten().cloned());
            }
        }
        false
    };
    assert!(
        graph.contains_key("exec") && reaches("worker", "exec"),
        "{graph:?}"
    );
    assert_eq!(
        find_cycle(&graph),
        None,
        "import cycle in runtime/src/supervisor"
    );
}

#[test]
fn a_cycle_is_found() {
    let g = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
        }
        g
    };
    assert_eq!(find_cycle(&g(&[("a", "b"), ("b", "c")])), None);
    assert!(find_cycle(&g(&[("a", "b"), ("b", "c"), ("c", "a")])).is_some());
    assert!(refers_to(
        "use super::{decide, exec};",
        &["super::"],
        "exec"
    ));
    assert!(refers_to(
        "x = super::gate::serve(s);",
        &["super::"],
        "gate"
    ));
    assert!(!refers_to(
        "x = super::gate_thing(s);",
        &["super::"],
        "gate"
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("a.rs"), "use super::b::X;\n").expect("write");
    fs::write(dir.path().join("b.rs"), "// super::a::Y\nuse super::{a};\n").expect("write");
    let graph = module_graph(dir.path(), &["super::"]);
    assert!(find_cycle(&graph).is_some(), "{graph:?}");
}

/// Every `#[error("…")]` message of the workspace with the variant it belongs to (up to the next
/// `#[error` or the end of the enum).
fn error_variants() -> Vec<(PathBuf, String)> {
    let root = workspace_root();
    let mut dirs = vec![root.join("runtime/src")];
    for e in fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
    {
        dirs.push(e.path().join("src"));
    }
    let mut out = Vec::new();
    while let Some(dir) = dirs.pop() {
        for e in fs::read_dir(&dir).expect("src dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let text = fs::read_to_string(&p).expect("read source");
            for (i, _) in text.match_indices("#[error(") {
                let rest = &text[i + 1..];
                let end = [rest.find("#[error("), rest.find("\n}")]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(rest.len());
                out.push((p.clone(), text[i..i + 1 + end].to_string()));
            }
        }
    }
    out
}

/// A cause is either in the message or the error's `source()`, never both: an error chain
/// (`{:#}`, anyhow's report) would print it twice.
#[test]
fn no_error_prints_its_cause_twice() {
    let variants = error_variants();
    assert!(
        variants.len() > 20,
        "{} error variants found",
        variants.len()
    );
    for (file, v) in variants {
        let message = &v[..v.find(")]").unwrap_or(v.len())];
        if message.contains("transparent") {
            continue;
        }
        let source_field = v.contains("#[source]") || v.contains("#[from]") || {
            let fields = &v[v.find(")]").unwrap_or(0)..];
            fields.contains(" source:") || fields.contains("{ source")
        };
        let cause_in_message = message.contains("{0")
            && (v.contains("#[source]") || v.contains("#[from]"))
            || message.contains("{source");
        assert!(
            !(source_field && cause_in_message),
            "{}: the cause is printed twice: {v}",
            file.display()
        );
    }
}
