//! The layering of `src/lib`, computed from the source (docs/architecture.md, "Module map").
//!
//! Each rule is its own test. The source is read as text: comments, string and character
//! literals and test-only items (`#[cfg(test)]`, files named `tests.rs` or `*_tests.rs`) are
//! dropped, then every `crate::…` path (with `use crate::{a, b::c}` groups) and every `super::…`
//! path that climbs to the crate root names a module the file depends on. Macros that build paths
//! out of pieces would escape this; the crate has none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::root;

/// The stages that take values and return values: no async runtime, no CLI, no terminal widget,
/// no `anyhow` (docs/architecture.md).
const PURE: [&str; 12] = [
    "source",
    "parse",
    "tree",
    "validate",
    "template",
    "fill",
    "plan",
    "convert",
    "upgrade",
    "diagnostic",
    "redact",
    "schemas",
];

/// The crates a pure stage must not use.
const IMPURE_CRATES: [&str; 4] = ["tokio", "clap", "indicatif", "anyhow"];

/// Modules that do the work of a run and are driven by the commands, never the other way round.
const ENGINE_SIDE: [&str; 5] = ["execute", "connector", "mount", "agency", "kiosk"];

/// The longest a non-test file of `src/lib` may be.
const MAX_LINES: usize = 700;

/// One `.rs` file of `src/lib`, with its code reduced to what the rules look at.
struct SourceFile {
    /// The path below `src/lib`, for messages.
    rel: String,
    /// Its module path: `execute/docker/run.rs` is `["execute", "docker", "run"]`.
    module: Vec<String>,
    /// A test-only file.
    test: bool,
    /// Its lines, as written.
    lines: usize,
    /// The code without comments, literals and test-only items.
    code: String,
}

impl SourceFile {
    fn top(&self) -> &str {
        &self.module[0]
    }

    /// Every module path this file names through `crate::` or `super::`, made absolute.
    fn paths(&self) -> Vec<Vec<String>> {
        paths_in(&self.code, &self.module)
    }
}

/// Every `.rs` file under `src/lib` except `lib.rs`, in a stable order.
fn lib_files() -> Vec<SourceFile> {
    let base = root().join("src/lib");
    let mut files = Vec::new();
    let mut pending = vec![base.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src/lib") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(&base).expect("below src/lib");
                if rel != Path::new("lib.rs") {
                    files.push(source_file(&path, rel));
                }
            }
        }
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    files
}

fn source_file(path: &Path, rel: &Path) -> SourceFile {
    let text = std::fs::read_to_string(path).expect("read a source file");
    parse_file(rel, &text)
}

/// A file at `rel` (below `src/lib`) holding `text`.
fn parse_file(rel: &Path, text: &str) -> SourceFile {
    let mut module: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if module.len() > 1 && module.last().is_some_and(|m| m == "mod") {
        module.pop();
    }
    let stem = module.last().cloned().unwrap_or_default();
    SourceFile {
        rel: rel.display().to_string(),
        test: stem == "tests" || stem.ends_with("_tests"),
        lines: text.lines().count(),
        code: strip_test_items(&strip_comments_and_literals(text)),
        module,
    }
}

/// The top-level modules of `src/lib`: every directory and every `.rs` file but `lib.rs`.
fn top_level_modules() -> BTreeSet<String> {
    std::fs::read_dir(root().join("src/lib"))
        .expect("read src/lib")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().expect("name").to_string_lossy().into_owned())
        .filter(|name| name != "lib")
        .collect()
}

/// The code of `text` with comments removed and string and character literals emptied (line
/// breaks kept). Lifetimes stay.
fn strip_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let ident_before = i > 0 && is_ident(chars[i - 1]);
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i = skip_block_comment(&chars, i, &mut out);
        } else if c == '"' {
            i = skip_string(&chars, i + 1, &mut out);
        } else if c == 'r' && !raw_prefix_blocked(&chars, i) && matches!(next, Some('"' | '#')) {
            match skip_raw_string(&chars, i + 1, &mut out) {
                Some(end) => i = end,
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else if c == '\'' && (!ident_before || byte_prefix(&chars, i)) {
            i = skip_char_literal(&chars, i, &mut out);
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether the quote at `i` opens a byte literal (`b'x'`).
fn byte_prefix(chars: &[char], i: usize) -> bool {
    i >= 1 && chars[i - 1] == 'b' && (i < 2 || !is_ident(chars[i - 2]))
}

/// Whether an `r` at `i` is inside an identifier (so not a raw string's prefix); `br"…"` is one.
fn raw_prefix_blocked(chars: &[char], i: usize) -> bool {
    match i.checked_sub(1).map(|p| chars[p]) {
        Some('b') => i >= 2 && is_ident(chars[i - 2]),
        Some(c) => is_ident(c),
        None => false,
    }
}

fn skip_block_comment(chars: &[char], mut i: usize, out: &mut String) -> usize {
    let mut depth = 0;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
            depth += 1;
            i += 2;
        } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            if chars[i] == '\n' {
                out.push('\n');
            }
            i += 1;
        }
    }
    i
}

/// Skip a `"…"` literal whose text starts at `i`; returns the index after its closing quote.
fn skip_string(chars: &[char], mut i: usize, out: &mut String) -> usize {
    out.push_str("\"\"");
    while i < chars.len() && chars[i] != '"' {
        if chars[i] == '\n' {
            out.push('\n');
        }
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// Skip `#…#"…"#…#` starting at `i` (after the `r`); `None` when it is not a raw string.
fn skip_raw_string(chars: &[char], mut i: usize, out: &mut String) -> Option<usize> {
    let mut hashes = 0;
    while chars.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    if chars.get(i) != Some(&'"') {
        return None;
    }
    i += 1;
    out.push_str("\"\"");
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return Some(i + 1 + hashes);
        }
        if chars[i] == '\n' {
            out.push('\n');
        }
        i += 1;
    }
    Some(i)
}

/// Skip a character literal at `i` (`'x'`, `'\n'`, `'\u{1F600}'`); a lifetime is copied.
fn skip_char_literal(chars: &[char], i: usize, out: &mut String) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let mut j = i + 3;
        while j < chars.len() && chars[j] != '\'' {
            j += 1;
        }
        out.push_str("' '");
        return j + 1;
    }
    if chars.get(i + 2) == Some(&'\'') {
        out.push_str("' '");
        return i + 3;
    }
    out.push('\'');
    i + 1
}

/// `code` without the items marked `#[cfg(test)]` (or `#[cfg(all(test, …))]`).
fn strip_test_items(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = find_test_attribute(rest) {
        out.push_str(&rest[..at.0]);
        rest = &rest[at.1..];
        rest = &rest[item_end(rest)..];
    }
    out.push_str(rest);
    out
}

/// The start and end of the next test-only `cfg` attribute in `code`.
fn find_test_attribute(code: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(found) = code[from..].find("#[") {
        let start = from + found;
        let end = start
            + code[start..]
                .find(']')
                .map_or(code.len() - start, |e| e + 1);
        let attribute: String = code[start..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if attribute == "#[cfg(test)]" || attribute.starts_with("#[cfg(all(test,") {
            return Some((start, end));
        }
        from = start + 2;
    }
    None
}

/// Where the item at the start of `code` ends: after its `;`, or after its `{…}` block.
fn item_end(code: &str) -> usize {
    let mut depth = 0_usize;
    for (i, c) in code.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            ';' if depth == 0 => return i + 1,
            _ => {}
        }
    }
    code.len()
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Path,
    Open,
    Close,
    Comma,
    Star,
    Other,
}

fn tokens(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_ident(c) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
            continue;
        }
        out.push(match c {
            ':' if chars.get(i + 1) == Some(&':') => {
                i += 1;
                Token::Path
            }
            '{' => Token::Open,
            '}' => Token::Close,
            ',' => Token::Comma,
            '*' => Token::Star,
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            _ => Token::Other,
        });
        i += 1;
    }
    out
}

/// Every absolute module path `code` names through `crate::` or through `super::` (resolved
/// against `module`, the path of the file's own module).
fn paths_in(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let tokens = tokens(code);
    let mut paths = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let after_path = i > 0 && tokens[i - 1] == Token::Path;
        let base = match &tokens[i] {
            Token::Ident(word) if word == "crate" && !after_path => Some((Vec::new(), i + 1)),
            Token::Ident(word) if word == "super" && !after_path => {
                let mut ups = 0;
                let mut j = i;
                while tokens.get(j) == Some(&Token::Ident("super".into()))
                    && tokens.get(j + 1) == Some(&Token::Path)
                {
                    ups += 1;
                    j += 2;
                }
                (ups > 0 && ups <= module.len())
                    .then(|| (module[..module.len() - ups].to_vec(), j - 1))
            }
            _ => None,
        };
        match base {
            Some((prefix, at)) if tokens.get(at) == Some(&Token::Path) => {
                i = use_tree(&tokens, at + 1, prefix, &mut paths);
            }
            _ => i += 1,
        }
    }
    paths.retain(|p| !p.is_empty());
    paths
}

/// Read the use tree (or expression path) starting at `i` under `prefix`; returns where it ends.
fn use_tree(
    tokens: &[Token],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        match tokens.get(i) {
            Some(Token::Ident(word)) => {
                if word != "self" {
                    prefix.push(word.clone());
                }
                i += 1;
                if word != "self" && tokens.get(i) == Some(&Token::Path) {
                    i += 1;
                    continue;
                }
                out.push(prefix);
                // `name as alias` names `name` only.
                if tokens.get(i) == Some(&Token::Ident("as".into())) {
                    i += 2;
                }
                return i;
            }
            Some(Token::Open) => {
                i += 1;
                while i < tokens.len() && tokens[i] != Token::Close {
                    if tokens[i] == Token::Comma {
                        i += 1;
                    } else {
                        i = use_tree(tokens, i, prefix.clone(), out);
                    }
                }
                return i + 1;
            }
            _ => {
                out.push(prefix);
                return i + 1;
            }
        }
    }
}

/// Whether `code` uses the crate `name` (`name::…` as the start of a path, or `use name`).
fn uses_crate(code: &str, name: &str) -> bool {
    let tokens = tokens(code);
    tokens.iter().enumerate().any(|(i, token)| {
        let starts_path = i == 0 || tokens[i - 1] != Token::Path;
        let is_name = matches!(token, Token::Ident(word) if word == name);
        let used = tokens.get(i + 1) == Some(&Token::Path)
            || (i > 0 && tokens[i - 1] == Token::Ident("use".into()));
        is_name && starts_path && used
    })
}

/// The graph of top-level modules: an edge `a → b` when non-test code of `a` names `crate::b`.
fn module_graph(
    files: &[SourceFile],
    modules: &BTreeSet<String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for file in files.iter().filter(|f| !f.test) {
        for path in file.paths() {
            if path[0] != file.top() && modules.contains(&path[0]) {
                graph
                    .entry(file.top().to_owned())
                    .or_default()
                    .insert(path[0].clone());
            }
        }
    }
    graph
}

/// Every cycle of `graph`, one per strongly connected component of more than one node (or a
/// node with an edge to itself), its nodes in order.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        components: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, node: &'a str) {
            let at = self.index.len();
            self.index.insert(node, at);
            self.low.insert(node, at);
            self.stack.push(node);
            for next in self.graph.get(node).into_iter().flatten() {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.stack.contains(&next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    component.push(top.to_owned());
                    if top == node {
                        break;
                    }
                }
                let looped = self.graph.get(node).is_some_and(|n| n.contains(node));
                if component.len() > 1 || looped {
                    component.sort();
                    self.components.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        components: Vec::new(),
    };
    for node in graph.keys() {
        if !tarjan.index.contains_key(node.as_str()) {
            tarjan.visit(node);
        }
    }
    tarjan.components.sort();
    tarjan.components
}

fn assert_none(violations: &[String], rule: &str) {
    assert!(
        violations.is_empty(),
        "{rule}:\n  {}",
        violations.join("\n  ")
    );
}

/// Files of a pure stage that use an impure crate.
fn impure_uses(files: &[SourceFile]) -> Vec<String> {
    let mut violations = Vec::new();
    for file in files.iter().filter(|f| PURE.contains(&f.top())) {
        for name in IMPURE_CRATES {
            if uses_crate(&file.code, name) {
                violations.push(format!("{} uses {name}", file.rel));
            }
        }
    }
    violations
}

/// Command modules that name another command module.
fn command_cross_imports(files: &[SourceFile]) -> Vec<String> {
    let commands: BTreeSet<&str> = files
        .iter()
        .filter(|f| f.top() == "commands" && f.module.len() >= 2)
        .map(|f| f.module[1].as_str())
        .collect();
    let mut violations = BTreeSet::new();
    for file in files.iter().filter(|f| f.top() == "commands" && !f.test) {
        let Some(own) = file.module.get(1) else {
            continue; // commands/mod.rs declares the commands
        };
        for path in file.paths() {
            if let ["commands", other, ..] = path.iter().map(String::as_str).collect::<Vec<_>>()[..]
                && other != own
                && commands.contains(other)
            {
                violations.insert(format!("{} uses commands::{other}", file.rel));
            }
        }
    }
    violations.into_iter().collect()
}

/// Engine-side files that name `commands` or `cli`.
fn engine_side_imports(files: &[SourceFile]) -> Vec<String> {
    let mut violations = BTreeSet::new();
    for file in files
        .iter()
        .filter(|f| ENGINE_SIDE.contains(&f.top()) && !f.test)
    {
        for path in file.paths() {
            if path[0] == "commands" || path[0] == "cli" {
                violations.insert(format!("{} uses {}", file.rel, path[0]));
            }
        }
    }
    violations.into_iter().collect()
}

/// Non-test files over [`MAX_LINES`] lines.
fn long_files(files: &[SourceFile]) -> Vec<String> {
    files
        .iter()
        .filter(|f| !f.test && f.lines > MAX_LINES)
        .map(|f| format!("{}: {} lines", f.rel, f.lines))
        .collect()
}

/// The cycles of the graph of `files`, one line each.
fn module_cycles(files: &[SourceFile], modules: &BTreeSet<String>) -> Vec<String> {
    cycles(&module_graph(files, modules))
        .iter()
        .map(|c| c.join(" ↔ "))
        .collect()
}

/// Edges of the graph of `files` that `map` does not allow.
fn outside_map(
    files: &[SourceFile],
    modules: &BTreeSet<String>,
    map: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut violations = Vec::new();
    for (module, uses) in module_graph(files, modules) {
        let allowed = map.get(&module).cloned().unwrap_or_default();
        for used in uses.difference(&allowed) {
            violations.push(format!("{module} imports {used}"));
        }
    }
    violations
}

/// The pure stages must not reach for the async runtime, the CLI, terminal widgets or `anyhow`.
#[test]
fn pure_stages_stay_pure() {
    assert_none(
        &impure_uses(&lib_files()),
        "a pure stage uses an impure crate",
    );
}

/// A command is one thin module: what two commands share lives in the library or in `cli`.
#[test]
fn no_command_imports_another() {
    assert_none(
        &command_cross_imports(&lib_files()),
        "a command module imports another command module",
    );
}

/// The engines, connectors and clients are driven by the commands, never the other way round.
#[test]
fn engine_side_never_imports_commands_or_cli() {
    assert_none(
        &engine_side_imports(&lib_files()),
        "engine-side code imports the command layer",
    );
}

/// No two top-level modules of `src/lib` depend on each other, directly or around a loop.
#[test]
fn no_cycles_between_top_level_modules() {
    assert_none(
        &module_cycles(&lib_files(), &top_level_modules()),
        "cycles between the top-level modules of src/lib",
    );
}

/// Every non-test file of `src/lib` is short enough to read whole.
#[test]
fn no_long_files() {
    assert_none(
        &long_files(&lib_files()),
        &format!("files over {MAX_LINES} lines"),
    );
}

/// One module layout: a module with children is `name/mod.rs`, never `name.rs` beside a
/// directory `name/`.
#[test]
fn one_module_layout() {
    let mut mixed = Vec::new();
    let mut pending = vec![root().join("src/lib")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/lib").flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.with_extension("rs").is_file() {
                    mixed.push(format!("{}.rs beside {}/", path.display(), path.display()));
                }
                pending.push(path);
            }
        }
    }
    assert_none(&mixed, "modules written both ways");
}

/// The module map of docs/architecture.md: module → the modules it may import.
fn module_map() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(root().join("docs/architecture.md")).expect("architecture");
    let section = text
        .split("\n## Module map")
        .nth(1)
        .expect("docs/architecture.md has a `## Module map` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let backticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let mut map = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with('|')).skip(2) {
        let cells: Vec<&str> = row.split('|').collect();
        assert!(cells.len() >= 5, "a module map row has three cells: {row}");
        let module = backticked(cells[1]);
        assert_eq!(module.len(), 1, "one module per row: {row}");
        let allowed = backticked(cells[3]).into_iter().collect();
        let previous = map.insert(module[0].clone(), allowed);
        assert!(previous.is_none(), "{} is in the map twice", module[0]);
    }
    map
}

/// The module map lists every top-level module of `src/lib`, and nothing else.
#[test]
fn module_map_lists_every_module() {
    let map = module_map();
    let modules = top_level_modules();
    let listed: BTreeSet<String> = map.keys().cloned().collect();
    let missing: Vec<&String> = modules.difference(&listed).collect();
    let gone: Vec<&String> = listed.difference(&modules).collect();
    assert!(
        missing.is_empty() && gone.is_empty(),
        "docs/architecture.md's module map is out of date: not listed {missing:?}, not in src/lib {gone:?}"
    );
    for (module, allowed) in &map {
        let unknown: Vec<&String> = allowed.difference(&modules).collect();
        assert!(
            unknown.is_empty(),
            "{module} may import {unknown:?}, which do not exist"
        );
    }
}

/// Every module imports only what the module map says it may.
#[test]
fn imports_stay_within_the_module_map() {
    assert_none(
        &outside_map(&lib_files(), &top_level_modules(), &module_map()),
        "imports outside docs/architecture.md's module map",
    );
}

mod helpers {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            graph
                .entry((*from).to_owned())
                .or_default()
                .insert((*to).to_owned());
            graph.entry((*to).to_owned()).or_default();
        }
        graph
    }

    fn module(path: &str) -> Vec<String> {
        path.split("::").map(str::to_owned).collect()
    }

    /// A fake `src/lib` of `(path, text)` files, and its top-level modules.
    fn fake(files: &[(&str, &str)]) -> (Vec<SourceFile>, BTreeSet<String>) {
        let files: Vec<SourceFile> = files
            .iter()
            .map(|(rel, text)| parse_file(Path::new(rel), text))
            .collect();
        let modules = files.iter().map(|f| f.top().to_owned()).collect();
        (files, modules)
    }

    #[test]
    fn each_rule_finds_its_violation() {
        let long = "fn f() {}\n".repeat(MAX_LINES + 1);
        let (files, modules) = fake(&[
            (
                "plan/mod.rs",
                "use crate::tree::Node; fn f() { tokio::spawn(g()); }",
            ),
            (
                "tree.rs",
                "use crate::plan::Plan; // crate::cli in a comment",
            ),
            (
                "commands/exec.rs",
                "use super::fill::SourceArgs; use crate::plan;",
            ),
            ("commands/fill.rs", "pub struct SourceArgs;"),
            ("commands/tests.rs", "use super::exec;"),
            (
                "execute/local/batch.rs",
                "fn f() { crate::cli::values::show_size(1); }",
            ),
            ("mount/fs.rs", &long),
            ("mount/tests.rs", &long),
            ("cli/mod.rs", "use crate::commands;"),
        ]);
        assert_eq!(impure_uses(&files), ["plan/mod.rs uses tokio"]);
        assert_eq!(
            command_cross_imports(&files),
            ["commands/exec.rs uses commands::fill"]
        );
        assert_eq!(
            engine_side_imports(&files),
            ["execute/local/batch.rs uses cli"]
        );
        assert_eq!(
            long_files(&files),
            [format!("mount/fs.rs: {} lines", MAX_LINES + 1)]
        );
        assert_eq!(module_cycles(&files, &modules), ["plan ↔ tree"]);
        let map = BTreeMap::from([
            ("plan".to_owned(), BTreeSet::from(["tree".to_owned()])),
            ("cli".to_owned(), BTreeSet::from(["commands".to_owned()])),
        ]);
        assert_eq!(
            outside_map(&files, &modules, &map),
            [
                "commands imports plan",
                "execute imports cli",
                "tree imports plan"
            ]
        );
    }

    #[test]
    fn a_clean_tree_passes_every_rule() {
        let (files, modules) = fake(&[
            ("tree.rs", "pub struct Node;"),
            (
                "plan/mod.rs",
                "use crate::tree::Node; fn f() -> &'static str { \"tokio::x\" }",
            ),
            ("commands/exec.rs", "use crate::plan; use super::Shared;"),
            ("commands/mod.rs", "pub mod exec; pub struct Shared;"),
        ]);
        assert!(impure_uses(&files).is_empty());
        assert!(command_cross_imports(&files).is_empty());
        assert!(module_cycles(&files, &modules).is_empty());
    }

    #[test]
    fn cycles_are_found_and_chains_are_not() {
        let chain = graph(&[("cli", "commands"), ("commands", "plan"), ("plan", "tree")]);
        assert!(cycles(&chain).is_empty());
        let tangled = graph(&[
            ("mount", "connector"),
            ("connector", "mount"),
            ("tree", "parse"),
            ("parse", "plan"),
            ("plan", "tree"),
            ("plan", "source"),
            ("gpus", "gpus"),
        ]);
        assert_eq!(
            cycles(&tangled),
            vec![
                vec!["connector".to_owned(), "mount".to_owned()],
                vec!["gpus".to_owned()],
                vec!["parse".to_owned(), "plan".to_owned(), "tree".to_owned()],
            ]
        );
    }

    #[test]
    fn paths_come_from_code_only() {
        let text = r##"
            //! Uses crate::doc_comment only in prose.
            use crate::{alpha, beta::{self as b, gamma, delta::Thing as T}};
            use crate::epsilon::*;
            /* crate::block /* nested crate::deep */ */
            fn f<'a>(x: &'a str) -> char {
                let _ = "crate::in_string";
                let _ = r#"crate::in_raw "quoted""#;
                let _ = crate::zeta::call(x);
                let _ = '"'; let _ = '\''; let _ = b'"'; crate::eta::Y
            }
            #[cfg(test)]
            mod tests {
                use crate::only_in_tests;
                fn g() { let _ = { crate::nested_in_tests }; }
            }
            #[cfg(all(test, unix))]
            use crate::unix_tests;
            use super::sibling;
            use super::super::top::Item;
        "##;
        let code = strip_test_items(&strip_comments_and_literals(text));
        let found: BTreeSet<String> = paths_in(&code, &module("plan::argv::inner"))
            .iter()
            .map(|p| p.join("::"))
            .collect();
        let expected: BTreeSet<String> = [
            "alpha",
            "beta",
            "beta::gamma",
            "beta::delta::Thing",
            "epsilon",
            "zeta::call",
            "eta::Y",
            "plan::argv::sibling",
            "plan::top::Item",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn super_climbs_to_the_crate_root() {
        let found = paths_in("use super::other::X;", &module("plan"));
        assert_eq!(found, vec![module("other::X")]);
    }

    #[test]
    fn crate_use_is_seen_only_in_code() {
        let code = strip_comments_and_literals(
            "// tokio::spawn\nlet _ = \"anyhow::anyhow!\";\nfn f() { my::tokio::x(); }\n",
        );
        assert!(!uses_crate(&code, "tokio"));
        assert!(!uses_crate(&code, "anyhow"));
        assert!(uses_crate("#[tokio::main] fn main() {}", "tokio"));
        assert!(uses_crate("use anyhow::Context;", "anyhow"));
        assert!(uses_crate("use clap;", "clap"));
    }

    #[test]
    fn a_command_importing_another_is_seen() {
        let found = paths_in(
            "use super::fill::{obtain, Report}; use crate::commands::exec;",
            &module("commands::submit"),
        );
        assert!(
            found.contains(&module("commands::fill::obtain")),
            "{found:?}"
        );
        assert!(found.contains(&module("commands::exec")), "{found:?}");
    }
}
