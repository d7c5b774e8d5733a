//! The house rules, checked on the source: no file in `src/` or `cli/src/` over 700
//! lines; no import cycle between the files of `src/` (two files naming
//! each other, directly or around a loop); and, in the library, every
//! arrow between top-level modules points down the layer list below, which
//! is the module map in `src/lib.rs`.
//!
//! A file "names" another when it uses a path into it: `crate::a::b`,
//! `super::x`, `self::x`, or a child module declared in the file
//! (`mod x;` ... `x::f()`). Paths resolve to the deepest module that has a
//! file of its own. Comments and string literals are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The library's top-level modules, lowest first. A module may import only
/// modules in layers below its own.
const LAYERS: &[&[&str]] = &[
    &["model"],
    &["sync", "clock", "endpoint", "priority"],
    &["rand"],
    &["propagation", "sampling", "proto"],
    &["codec"],
    &["fleet", "pool", "shed", "wake"],
    &["span_log"],
    &["stats"],
    &["shared"],
    &["record"],
    &["export"],
    &["retry", "metrics"],
    &["batch", "tls"],
    &["transport"],
    &["config"],
    &["receive"],
    &["pipeline"],
    &["tower", "tracing", "opentelemetry"],
    &["(crate root)"],
];

/// Arrows that the layers would allow but the house forbids.
const FORBIDDEN: &[(&str, &str, &str)] = &[(
    "receive",
    "transport",
    "the receiver shares the codec and tls with the exporter, never the client transport",
)];

const MAX_LINES: usize = 700;

struct Module {
    path: Vec<String>,
    file: PathBuf,
    children: Vec<String>,
    code: String,
}

/// Blanks out comments, string and char literals (keeping line structure),
/// so paths in docs and messages are not taken for imports.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == b'r' && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#')) {
            // Raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&b'#')) {
                    j += 1 + hashes;
                    break;
                }
                if b[j] == b'\n' {
                    out.push('\n');
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('a', '\n', '\''), or a lifetime ('a).
            let lit_end = if b.get(i + 1) == Some(&b'\\') {
                (i + 2..b.len().min(i + 12)).find(|&k| b[k] == b'\'')
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                // Multi-byte char literal, or a lifetime.
                let ch_len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + ch_len) == Some(&b'\'')).then_some(i + 1 + ch_len)
            };
            match lit_end {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = src[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `mod x;` declarations (not inline `mod x { ... }`, not `mod tests`).
fn child_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in code.lines() {
        let t = line.trim();
        // Any visibility: `pub`, `pub(crate)`, `pub(super)`, `pub(in path)`.
        let t = match t.strip_prefix("pub") {
            Some(rest) if rest.starts_with(' ') => rest.trim_start(),
            Some(rest) if rest.starts_with('(') => match rest.find(')') {
                Some(close) => rest[close + 1..].trim_start(),
                None => t,
            },
            _ => t,
        };
        if let Some(rest) = t.strip_prefix("mod ") {
            if let Some(name) = rest.strip_suffix(';') {
                out.push(name.trim().to_owned());
            }
        }
    }
    out
}

fn load(root: &Path, file: &Path, path: Vec<String>, out: &mut Vec<Module>) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let code = strip(&text);
    let children = child_modules(&code);
    let is_dir_module = matches!(
        file.file_name().and_then(|n| n.to_str()),
        Some("mod.rs" | "lib.rs" | "main.rs")
    );
    let dir = if is_dir_module {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    for c in &children {
        let a = dir.join(format!("{c}.rs"));
        let b = dir.join(c).join("mod.rs");
        let f = if a.exists() { a } else { b };
        assert!(f.exists(), "{}: mod {c} has no file", file.display());
        let mut p = path.clone();
        p.push(c.clone());
        load(root, &f, p, out);
    }
    out.push(Module {
        path,
        file: file.strip_prefix(root).unwrap().to_path_buf(),
        children,
        code,
    });
}

/// Expands the braces of a `use` tree into whole paths:
/// `a::{b, c::{d, self}}` -> `a::b`, `a::c::d`, `a::c`.
fn expand_use(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    match tree.find('{') {
        None => {
            let item = tree.split(" as ").next().unwrap_or(tree).trim();
            let full = if item == "self" {
                prefix.trim_end_matches("::").to_owned()
            } else {
                format!("{prefix}{item}")
            };
            out.push(full);
        }
        Some(open) => {
            let head = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut depth = 0;
            let mut start = 0;
            let new_prefix = format!("{prefix}{head}");
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand_use(&inner[start..i], &new_prefix, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand_use(&inner[start..], &new_prefix, out);
        }
    }
}

/// Every path the code names, as written (`crate::a::b`, `super::x`,
/// `child::f`, ...).
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    // `use` trees, braces expanded.
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let tail = &rest[at + 4..];
        if before.is_some_and(is_ident) {
            rest = tail;
            continue;
        }
        let end = tail.find(';').unwrap_or(tail.len());
        let tree: String = tail[..end].split_whitespace().collect::<Vec<_>>().join(" ");
        expand_use(&tree, "", &mut out);
        rest = &tail[end..];
    }
    // Paths in code: identifier (:: identifier)+.
    let chars: Vec<(usize, char)> = code.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        let prev = if i == 0 { ' ' } else { chars[i - 1].1 };
        if is_ident(c) && !is_ident(prev) && prev != ':' {
            let mut j = i;
            while j < chars.len() && (is_ident(chars[j].1) || chars[j].1 == ':') {
                j += 1;
            }
            let end = chars.get(j).map_or(code.len(), |x| x.0);
            let token = code[pos..end].trim_end_matches(':');
            // `pub(in crate::a)` names where an item is visible, not an
            // import.
            let visibility = code[..pos].trim_end().ends_with("(in");
            if token.contains("::") && !visibility {
                out.push(token.to_owned());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// The absolute module path `written` (from module `here`) names, or
/// `None` when it leaves the crate.
fn absolute(written: &str, here: &Module) -> Option<Vec<String>> {
    let segs: Vec<&str> = written.split("::").filter(|s| !s.is_empty()).collect();
    let first = *segs.first()?;
    let mut abs: Vec<String> = match first {
        "crate" => Vec::new(),
        "self" => here.path.clone(),
        "super" => {
            let mut p = here.path.clone();
            p.pop();
            p
        }
        c if here.children.iter().any(|x| x == c) => {
            let mut p = here.path.clone();
            p.push(c.to_owned());
            p
        }
        _ => return None,
    };
    let skip = if matches!(first, "crate" | "self" | "super") {
        1
    } else {
        0
    };
    let mut iter = segs.iter().skip(skip).peekable();
    while iter.peek() == Some(&&"super") {
        abs.pop();
        iter.next();
    }
    if first.starts_with(char::is_lowercase) && !matches!(first, "crate" | "self" | "super") {
        iter.next();
    }
    abs.extend(iter.map(|s| s.to_string()));
    Some(abs)
}

/// Splits out inline modules (`mod tests { ... }`): the code outside them,
/// and each one's name and code (where `super` means the file's module).
fn inline_modules(code: &str) -> (String, Vec<(String, String)>) {
    let mut outer = String::new();
    let mut inner = Vec::new();
    let mut rest = code;
    loop {
        let found = rest.match_indices("mod ").find(|(at, _)| {
            let before = rest[..*at].chars().last();
            let after = &rest[at + 4..];
            let name_len = after.find(|c: char| !is_ident(c)).unwrap_or(after.len());
            !before.is_some_and(is_ident) && after[name_len..].trim_start().starts_with('{')
        });
        let Some((at, _)) = found else {
            outer.push_str(rest);
            break;
        };
        let after = &rest[at + 4..];
        let name_len = after.find(|c: char| !is_ident(c)).unwrap_or(after.len());
        let name = after[..name_len].to_owned();
        let open = at + 4 + after.find('{').unwrap_or(0);
        let mut depth = 0;
        let mut close = rest.len();
        for (i, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        outer.push_str(&rest[..at]);
        inner.push((name, rest[open + 1..close.min(rest.len())].to_owned()));
        rest = rest.get(close + 1..).unwrap_or("");
    }
    (outer, inner)
}

fn graph(modules: &[Module]) -> BTreeMap<usize, BTreeSet<usize>> {
    let by_path: BTreeMap<&[String], usize> = modules
        .iter()
        .enumerate()
        .map(|(i, m)| (m.path.as_slice(), i))
        .collect();
    let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (i, m) in modules.iter().enumerate() {
        let (outer, inner) = inline_modules(&m.code);
        let mut named: Vec<Vec<String>> = paths(&outer)
            .iter()
            .filter_map(|p| absolute(p, m))
            .collect();
        for (name, code) in inner {
            let mut path = m.path.clone();
            path.push(name);
            let here = Module {
                path,
                file: m.file.clone(),
                children: Vec::new(),
                code: String::new(),
            };
            named.extend(paths(&code).iter().filter_map(|p| absolute(p, &here)));
        }
        for abs in named {
            // The deepest module with a file of its own.
            let target = (0..=abs.len())
                .rev()
                .find_map(|n| by_path.get(&abs[..n]).copied());
            if let Some(t) = target {
                if t != i {
                    edges.entry(i).or_default().insert(t);
                }
            }
        }
    }
    edges
}

/// A cycle through the graph, if there is one.
fn find_cycle(n: usize, edges: &BTreeMap<usize, BTreeSet<usize>>) -> Option<Vec<usize>> {
    // 0 = unseen, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; n];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        v: usize,
        edges: &BTreeMap<usize, BTreeSet<usize>>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[v] = 1;
        stack.push(v);
        for &w in edges.get(&v).into_iter().flatten() {
            if state[w] == 1 {
                let at = stack.iter().position(|&x| x == w).unwrap_or(0);
                let mut cycle = stack[at..].to_vec();
                cycle.push(w);
                return Some(cycle);
            }
            if state[w] == 0 {
                if let Some(c) = visit(w, edges, state, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        state[v] = 2;
        None
    }
    (0..n).find_map(|v| {
        if state[v] == 0 {
            visit(v, edges, &mut state, &mut stack)
        } else {
            None
        }
    })
}

fn crate_modules(root_file: &str) -> Vec<Module> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut modules = Vec::new();
    load(root, &root.join(root_file), Vec::new(), &mut modules);
    modules
}

fn describe(modules: &[Module], cycle: &[usize]) -> String {
    cycle
        .iter()
        .map(|&i| modules[i].file.display().to_string())
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// Every `.rs` file below `dirs` (relative to the package root).
fn rust_files(dirs: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = dirs.iter().map(|d| root.join(d)).collect();
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn no_file_in_src_is_over_700_lines() {
    let long: Vec<String> = rust_files(&["src", "cli/src"])
        .into_iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(&p).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}

/// Every file under src/ is a module the checker read: a declaration it
/// cannot parse must not hide a file from the checks above.
#[test]
fn the_checker_reads_every_file_of_the_library() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read: BTreeSet<PathBuf> = crate_modules("src/lib.rs")
        .into_iter()
        .map(|m| m.file)
        .collect();
    let mut missed: Vec<String> = rust_files(&["src"])
        .into_iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            (!read.contains(&rel) && !read.contains(&p)).then(|| rel.display().to_string())
        })
        .collect();
    missed.sort();
    assert!(
        missed.is_empty(),
        "files the checker never read: {missed:?}"
    );
}

#[test]
fn the_library_has_no_import_cycle() {
    let modules = crate_modules("src/lib.rs");
    assert!(modules.len() > 20, "found the modules");
    let edges = graph(&modules);
    if let Some(c) = find_cycle(modules.len(), &edges) {
        panic!("import cycle: {}", describe(&modules, &c));
    }
}

#[test]
fn the_command_has_no_import_cycle() {
    let modules = crate_modules("cli/src/main.rs");
    assert!(modules.len() > 5, "found the modules");
    let edges = graph(&modules);
    if let Some(c) = find_cycle(modules.len(), &edges) {
        panic!("import cycle: {}", describe(&modules, &c));
    }
}

/// The arrows between parts (named by `part`; a module in none is left
/// out) that do not point down `layer`'s order, or that `forbidden` names,
/// described.
fn up_arrows(
    modules: &[Module],
    part: impl Fn(&Module) -> Option<String>,
    layer: impl Fn(&str) -> usize,
    forbidden: &[(&str, &str, &str)],
) -> Vec<String> {
    let mut wrong = Vec::new();
    for (from, tos) in graph(modules) {
        let Some(a) = part(&modules[from]) else {
            continue;
        };
        for to in tos {
            let Some(b) = part(&modules[to]) else {
                continue;
            };
            if a == b {
                continue;
            }
            let (f, t) = (modules[from].file.display(), modules[to].file.display());
            if layer(&b) >= layer(&a) {
                wrong.push(format!("{f} imports {t} ({b} is not below {a})"));
            }
            if let Some((_, _, why)) = forbidden.iter().find(|(x, y, _)| *x == a && *y == b) {
                wrong.push(format!("{f} imports {t}: {why}"));
            }
        }
    }
    wrong
}

#[test]
fn arrows_between_top_level_modules_point_down() {
    let modules = crate_modules("src/lib.rs");
    let top = |m: &Module| {
        Some(
            m.path
                .first()
                .cloned()
                .unwrap_or_else(|| "(crate root)".into()),
        )
    };
    let layer = |name: &str| {
        LAYERS
            .iter()
            .position(|l| l.contains(&name))
            .unwrap_or_else(|| panic!("module {name} is not in LAYERS: place it in the house"))
    };
    let wrong = up_arrows(&modules, top, layer, FORBIDDEN);
    assert!(
        wrong.is_empty(),
        "arrows pointing up:\n{}",
        wrong.join("\n")
    );
}

/// Inside a module: its parts, lowest first, and the arrows between them
/// (a part imports only parts listed before it; its own children are
/// free).
const INNER_LAYERS: &[(&str, &[&[&str]])] = &[(
    "config",
    &[
        &["error", "shown"],
        &["syntax"],
        &["meaning"],
        &["display"],
        &["(root)"],
    ],
)];

#[test]
fn arrows_inside_a_module_point_down() {
    let modules = crate_modules("src/lib.rs");
    let mut wrong = Vec::new();
    for (outer, layers) in INNER_LAYERS {
        let part = |m: &Module| -> Option<String> {
            match m.path.as_slice() {
                [o, p, ..] if o == outer => Some(format!("{outer}::{p}")),
                [o] if o == outer => Some(format!("{outer}::(root)")),
                _ => None,
            }
        };
        let layer = |name: &str| {
            let name = name.rsplit("::").next().unwrap_or(name);
            layers
                .iter()
                .position(|l| l.contains(&name))
                .unwrap_or_else(|| panic!("{outer}::{name} is not in INNER_LAYERS: place it"))
        };
        wrong.extend(up_arrows(&modules, part, layer, &[]));
    }
    assert!(
        wrong.is_empty(),
        "arrows pointing up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_imports_and_cycles() {
    // The parser on its own: braces, `self`, children, comments, strings.
    let mut out = Vec::new();
    expand_use(
        "super::{env::{self, Env}, error::ConfigError}",
        "",
        &mut out,
    );
    assert_eq!(
        out,
        ["super::env", "super::env::Env", "super::error::ConfigError"]
    );
    let code = strip("// crate::a::b\nlet s = \"crate::c\"; crate::d::e(); let c = '\"';");
    let p = paths(&code);
    assert!(p.contains(&"crate::d::e".to_owned()), "{p:?}");
    assert!(!p
        .iter()
        .any(|x| x.contains("crate::a") || x.contains("crate::c")));
    // A two-node loop is a cycle; a chain is not.
    let mut e = BTreeMap::new();
    e.insert(0, BTreeSet::from([1]));
    e.insert(1, BTreeSet::from([2]));
    assert!(find_cycle(3, &e).is_none());
    e.insert(2, BTreeSet::from([0]));
    assert_eq!(find_cycle(3, &e), Some(vec![0, 1, 2, 0]));
}
