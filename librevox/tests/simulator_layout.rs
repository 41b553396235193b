//! The simulator's layout stays what ARCHITECTURE.md shows: its modules
//! import each other without a cycle (a DAG, imports pointing down), and no
//! function of the simulator or of the protocol layer grows past about 80
//! lines. Both read the source files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `channel/apps/socket.rs` → `["channel", "apps", "socket"]`;
/// `channel/mod.rs` → `["channel"]`; `mod.rs` → `[]`.
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The `use` declarations of a file, each joined onto one line.
fn use_statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    // Unit tests (`#[cfg(test)] mod tests`, at the end of a file) import
    // their own parent; they are not part of the layout.
    for line in text.lines().take_while(|l| l.trim() != "#[cfg(test)]") {
        let t = line.trim();
        if current.is_none() {
            let rest = t
                .strip_prefix("pub(crate) use ")
                .or_else(|| t.strip_prefix("pub(super) use "))
                .or_else(|| t.strip_prefix("pub use "))
                .or_else(|| t.strip_prefix("use "));
            match rest {
                Some(r) => current = Some(r.to_owned()),
                None => continue,
            }
        } else if let Some(c) = current.as_mut() {
            c.push_str(t);
        }
        if current.as_ref().is_some_and(|c| c.ends_with(';')) {
            out.push(current.take().unwrap());
        }
    }
    out
}

/// The paths a `use` tree names: `a::{b, c::d}` → `a::b`, `a::c::d`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim().trim_end_matches(';');
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap().trim().to_owned()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |s| format!("{prefix}{s}")))
        .collect()
}

/// The simulator module a path points into (the longest known prefix), if
/// any; `from` is the importing module (`self::` is it, `super::` its
/// parent).
fn target(path: &str, from: &[String], known: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let segs: Vec<&str> = path.split("::").map(str::trim).collect();
    let mut base: Vec<String> = from.to_vec();
    let mut rest = &segs[..];
    match segs.first().copied() {
        Some("crate") if segs.get(1) == Some(&"simulator") => {
            base.clear();
            rest = &segs[2..];
        }
        Some("crate") => return None,
        Some("self") => rest = &segs[1..],
        Some("super") => {
            while rest.first() == Some(&"super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    let mut best = None;
    let mut m = base.clone();
    if known.contains(&m) {
        best = Some(m.clone());
    }
    for s in rest {
        m.push((*s).to_owned());
        if known.contains(&m) {
            best = Some(m.clone());
        }
    }
    best
}

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "simulator".to_owned()
    } else {
        m.join("::")
    }
}

/// Module → the modules it imports.
fn simulator_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = src().join("simulator");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let modules: Vec<(PathBuf, Vec<String>)> = files
        .iter()
        .map(|f| (f.clone(), module_of(&root, f)))
        .collect();
    let known: BTreeSet<Vec<String>> = modules.iter().map(|(_, m)| m.clone()).collect();
    let mut graph = BTreeMap::new();
    for (file, module) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        let mut deps = BTreeSet::new();
        for stmt in use_statements(&text) {
            for path in expand(&stmt) {
                if let Some(t) = target(&path, module, &known) {
                    if &t != module {
                        deps.insert(name(&t));
                    }
                }
            }
        }
        // A parent naming a child's items by path (`mod system;` then
        // `system::echo`) depends on it as much as through a `use`.
        for line in text.lines() {
            let decl = line
                .trim()
                .trim_start_matches("pub ")
                .trim_start_matches("pub(crate) ");
            if let Some(child) = decl.strip_prefix("mod ").and_then(|c| c.strip_suffix(';')) {
                let mut m = module.clone();
                m.push(child.to_owned());
                if text.contains(&format!("{child}::")) && known.contains(&m) {
                    deps.insert(name(&m));
                }
            }
        }
        graph.insert(name(module), deps);
    }
    graph
}

/// A cycle in the graph, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|s| s == n).unwrap();
                let mut cycle = stack[at..].to_vec();
                cycle.push(n.to_owned());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for d in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, graph, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn simulator_imports_form_a_dag() {
    let graph = simulator_graph();
    assert!(graph.len() > 20, "too few modules found: {graph:?}");
    assert!(
        graph["core"].contains("bus") && graph["esl"].contains("channel"),
        "the reader misses imports: {graph:#?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}\n{graph:#?}", cycle.join(" -> "));
    }
    // The lower layers know nothing of the ones above them.
    for (low, high) in [
        ("core", "channel"),
        ("core", "esl"),
        ("bus", "channel"),
        ("channel", "esl"),
    ] {
        let reach = reachable(&graph, low);
        assert!(
            !reach
                .iter()
                .any(|m| m == high || m.starts_with(&format!("{high}::"))),
            "{low} reaches {high}: {reach:?}"
        );
    }
}

fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_owned()];
    while let Some(n) = todo.pop() {
        for d in graph.get(&n).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    g.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    g.insert("c".to_owned(), BTreeSet::new());
    assert_eq!(find_cycle(&g), None);
    assert_eq!(
        expand("super::{bus::{Fired, Out}, core::Core};"),
        ["super::bus::Fired", "super::bus::Out", "super::core::Core"]
    );
}

/// Functions longer than `limit` lines (signature to closing brace).
fn long_functions(text: &str, limit: usize) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let head = ["pub(crate) ", "pub(super) ", "pub ", "async ", "const "]
            .iter()
            .fold(t, |s, p| s.strip_prefix(p).unwrap_or(s));
        let head = head.strip_prefix("async ").unwrap_or(head);
        if let Some(rest) = head.strip_prefix("fn ") {
            let fn_name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let (mut depth, mut started, mut j) = (0i32, false, i);
            while j < lines.len() {
                let code = lines[j].split("//").next().unwrap();
                for c in strip_literals(code).chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            started = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if (started && depth == 0) || (!started && code.trim_end().ends_with(';')) {
                    break;
                }
                j += 1;
            }
            let n = j - i + 1;
            if n > limit {
                out.push((fn_name, n));
            }
        }
        i += 1;
    }
    out
}

/// The line without the contents of string and char literals.
fn strip_literals(code: &str) -> String {
    let mut out = String::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(d) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == '"' {
                        break;
                    }
                }
            }
            '\'' if chars.clone().nth(1) == Some('\'') => {
                chars.next();
                chars.next();
            }
            '\'' if chars.peek() == Some(&'\\') => {
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[test]
fn no_long_functions_in_the_simulator_or_the_protocol() {
    let mut files = Vec::new();
    rust_files(&src().join("simulator"), &mut files);
    rust_files(&src().join("protocol"), &mut files);
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (name, n) in long_functions(&text, 80) {
            long.push(format!("{}: {name} ({n} lines)", f.display()));
        }
    }
    assert!(
        long.is_empty(),
        "split these functions:\n{}",
        long.join("\n")
    );
    let sample =
        "fn a() {\n    let s = \"{\";\n}\nfn b() {\n".to_owned() + &"    x();\n".repeat(90) + "}\n";
    assert_eq!(long_functions(&sample, 80), [("b".to_owned(), 92)]);
}
