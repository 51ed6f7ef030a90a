//! The layers of docs/DESIGN.md ("Layout") as a test: each top-level module of `src/` belongs
//! to one layer and imports only from its own layer or earlier ones, no two top-level modules
//! import each other (directly or around a cycle), only the contracts, the dispatch module and
//! the simulator branch on the service, error codes are written once (src/codes.rs), and the
//! pieces stay small. The production code is read as text: everything from a file's
//! `#[cfg(test)] mod tests` on, and comment lines, are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use csbs_deleter::codes::ErrorCode;

/// The layers, earliest first (docs/DESIGN.md, "Layout").
const LAYERS: &[(&str, &[&str])] = &[
    ("utilities", &["json", "secret", "trace", "chaos"]),
    (
        "contracts",
        &[
            "ids",
            "service",
            "region",
            "codes",
            "request",
            "query",
            "task",
            "target",
            "selection",
            "outcome",
            "webhook",
        ],
    ),
    ("the cloud and the ports", &["cloud", "csbs", "cbr", "backups", "ports"]),
    ("adapters", &["adapters"]),
    (
        "workflows",
        &["failure", "submit", "poll", "select", "status", "metrics"],
    ),
    ("the composition root", &["config", "secrets", "wiring"]),
    ("edges", &["lambda", "cli", "local", "sim"]),
];

/// Where a branch on the service may be written: the contracts (their parsers), the one
/// dispatch module, and the simulator (it plays both services).
const MAY_BRANCH_ON_SERVICE: &[&str] = &["backups", "sim"];

const MAX_FILE_LINES: usize = 400;
const MAX_FN_LINES: usize = 60;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A source file's production text: its tests and comment lines left out.
fn production(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let cut = text.find("#[cfg(test)]\nmod tests {").unwrap_or(text.len());
    text[..cut]
        .lines()
        .map(|l| if l.trim_start().starts_with("//") { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every top-level module of the library with its files (`src/bin` is not one).
fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(src()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        if name == "lib" || name == "bin" {
            continue;
        }
        let mut files = Vec::new();
        if p.is_dir() {
            rust_files(&p, &mut files);
        } else {
            files.push(p);
        }
        out.insert(name, files);
    }
    out
}

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, ms))| ms.contains(&module))
        .map(|(i, (name, _))| (i, *name))
}

/// The top-level modules `text` names through `crate::`, including inside `use crate::{…}`.
fn imports(text: &str, known: &BTreeMap<String, Vec<PathBuf>>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end]
                .split(',')
                .map(|s| s.trim().split("::").next().unwrap_or("").trim())
                .collect()
        } else {
            vec![
                rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or(""),
            ]
        };
        out.extend(names.into_iter().filter(|n| known.contains_key(*n)).map(str::to_string));
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    mods.iter()
        .map(|(m, files)| {
            let mut deps = BTreeSet::new();
            for f in files {
                deps.extend(imports(&production(f), &mods));
            }
            deps.remove(m);
            (m.clone(), deps)
        })
        .collect()
}

#[test]
fn every_module_has_a_layer() {
    let mods = modules();
    let unplaced: Vec<&String> = mods.keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "modules without a layer (add them to LAYERS): {unplaced:?}"
    );
    let missing: Vec<&&str> = LAYERS
        .iter()
        .flat_map(|(_, ms)| ms.iter())
        .filter(|m| !mods.contains_key(**m))
        .collect();
    assert!(
        missing.is_empty(),
        "LAYERS names modules that do not exist: {missing:?}"
    );
}

#[test]
fn no_module_imports_from_a_later_layer() {
    let mut wrong = Vec::new();
    for (m, deps) in graph() {
        let (rank, layer) = layer_of(&m).unwrap();
        for d in deps {
            let (drank, dlayer) = layer_of(&d).unwrap();
            if drank > rank {
                wrong.push(format!("{m} ({layer}) imports {d} ({dlayer})"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports from a later layer:\n{}", wrong.join("\n"));
}

#[test]
fn no_cycle_between_top_level_modules() {
    let g = graph();
    // Depth-first search with the path on a stack: an edge back into the stack is a cycle.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for d in &g[m] {
            if let Some(c) = visit(d, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        if let Some(c) = visit(m, &g, &mut Vec::new(), &mut done) {
            panic!("a cycle between top-level modules: {}", c.join(" -> "));
        }
    }
}

#[test]
fn the_layer_test_sees_imports_cycles_and_later_layers() {
    // The checker itself: a grouped import, a path import, a comment that is not an import.
    let mods: BTreeMap<String, Vec<PathBuf>> = ["poll", "ports", "task"]
        .iter()
        .map(|m| (m.to_string(), vec![]))
        .collect();
    let found = imports(
        "use crate::{ports::pending::X, task::PendingTask};\nlet x = crate::poll::verdict;",
        &mods,
    );
    assert_eq!(found, ["poll", "ports", "task"].map(String::from).into());
    let dir = std::env::temp_dir().join(format!("layers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("x.rs");
    std::fs::write(
        &f,
        "// use crate::poll;\nuse crate::task;\n#[cfg(test)]\nmod tests {\n    use crate::ports;\n}\n",
    )
    .unwrap();
    assert_eq!(imports(&production(&f), &mods), ["task"].map(String::from).into());
    assert!(layer_of("ports").unwrap().0 < layer_of("poll").unwrap().0);
    assert!(layer_of("nothing").is_none());
}

/// Whether a line branches on a service variant (a match arm, a comparison, a pattern).
fn branches_on_service(line: &str) -> bool {
    let names = line.contains("Service::Csbs") || line.contains("Service::Cbr");
    names
        && (line.contains("=>")
            || line.contains("==")
            || line.contains("!=")
            || line.contains("matches!")
            || line.contains("if let"))
}

#[test]
fn only_the_contracts_and_the_dispatch_module_branch_on_the_service() {
    assert!(branches_on_service("            Service::Cbr => self.read(),"));
    assert!(branches_on_service("if task.service == Service::Cbr {"));
    assert!(!branches_on_service("    .call(Service::Cbr, project_id, method)"));
    let contracts = LAYERS[1].1;
    let mut wrong = Vec::new();
    for (m, files) in modules() {
        if contracts.contains(&m.as_str()) || MAY_BRANCH_ON_SERVICE.contains(&m.as_str()) {
            continue;
        }
        for f in files {
            for (i, line) in production(&f).lines().enumerate() {
                if branches_on_service(line) {
                    wrong.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "branches on the service outside the contracts and src/backups/:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn error_codes_are_written_once() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong = Vec::new();
    for f in files
        .iter()
        .filter(|f| !f.ends_with("codes.rs") && !f.ends_with("tests.rs"))
    {
        for (i, line) in production(f).lines().enumerate() {
            // A service's own vocabulary (`pub const TIMEOUT: &str = "timeout"`) is not ours.
            if line.trim_start().starts_with("pub const") {
                continue;
            }
            for c in ErrorCode::ALL {
                if line.contains(&format!("\"{}\"", c.as_str())) {
                    wrong.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "error codes written as literals (use csbs_deleter::codes::ErrorCode):\n{}",
        wrong.join("\n")
    );
}

/// Every function of `text` longer than `max` lines: (name, lines). A function runs from its
/// `fn` line to the closing brace at the same indentation.
fn long_functions(text: &str, max: usize) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut k = 0;
    while k < lines.len() {
        let line = lines[k];
        let head = line.trim_start();
        let indent = &line[..line.len() - head.len()];
        let is_fn = [
            "fn ",
            "pub fn ",
            "async fn ",
            "pub async fn ",
            "pub(crate) fn ",
            "pub(crate) async fn ",
            "const fn ",
            "pub const fn ",
        ]
        .iter()
        .any(|p| head.starts_with(p));
        if is_fn && !line.trim_end().ends_with(';') {
            let name = head
                .split("fn ")
                .nth(1)
                .unwrap_or("")
                .split(['(', '<'])
                .next()
                .unwrap_or("")
                .to_string();
            let close = format!("{indent}}}");
            let end = (k + 1..lines.len())
                .find(|&j| lines[j] == close)
                .unwrap_or(lines.len() - 1);
            if end - k + 1 > max {
                out.push((name, end - k + 1));
            }
            k = end;
        }
        k += 1;
    }
    out
}

#[test]
fn files_and_functions_stay_small() {
    assert_eq!(
        long_functions("fn a() {\n    x();\n    y();\n}\nfn b() {}\n", 3),
        vec![("a".to_string(), 4)]
    );
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong = Vec::new();
    // A `tests.rs` is a module's test table, all of it test code.
    for f in files.iter().filter(|f| !f.ends_with("tests.rs")) {
        let text = production(f);
        let n = text.lines().count();
        if n > MAX_FILE_LINES {
            wrong.push(format!(
                "{}: {n} lines before its tests (at most {MAX_FILE_LINES})",
                f.display()
            ));
        }
        for (name, len) in long_functions(&text, MAX_FN_LINES) {
            wrong.push(format!(
                "{}: fn {name} has {len} lines (at most {MAX_FN_LINES})",
                f.display()
            ));
        }
        if std::fs::read_to_string(f).unwrap().contains("too_many_arguments") {
            wrong.push(format!("{}: allows clippy::too_many_arguments", f.display()));
        }
    }
    assert!(wrong.is_empty(), "pieces too large:\n{}", wrong.join("\n"));
}
