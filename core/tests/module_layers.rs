//! Keeps the module layers of `core/src` true (docs/ARCHITECTURE.md, "Module dependencies").
//!
//! Reads every `core/src/**.rs`, finds each `crate::x` path outside comments and `#[cfg(test)]` modules, and
//! fails, naming the file, line and text, when a module uses one in a higher layer. Modules of one layer may
//! use each other. A new module must be placed in [`LAYERS`], or the test fails too.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The layers, lowest first: a module may use its own layer and the ones before it, never a later one.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &["util", "redact", "budget", "credential"]),
    ("error", &["error", "credential_parse", "runtime", "caller"]),
    (
        "parts",
        &[
            "sse",
            "urls",
            "tls",
            "classify",
            "decide",
            "metrics",
            "jwt",
            "state_config",
            "conversations_config",
        ],
    ),
    ("config", &["config", "config_parse", "limits"]),
    ("transport", &["http", "oauth"]),
    (
        "client",
        &[
            "token",
            "client",
            "request",
            "stream",
            "ws",
            "blocking",
            "closing",
            "conversations",
            "route",
            "state",
        ],
    ),
    // The serialised forms of the client's results, which the bindings build from.
    ("forms", &["forms"]),
];

/// Files that are not a layer: the crate root, and unit tests included with `#[path]`.
const NOT_LAYERED: &[&str] = &["lib", "decide_tests"];

/// Modules declared inside another one with `#[path]` (`super::` in them means the parent).
const PARENT: &[(&str, &str)] = &[("stream", "client"), ("ws", "client")];

/// One `crate::x` use that goes up a layer.
#[derive(Debug, PartialEq)]
struct Violation {
    file: String,
    line: usize,
    text: String,
    from: String,
    to: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: `{}`: {} (layer {}) uses {} (layer {})",
            self.file,
            self.line,
            self.text,
            self.from,
            layer_name(&self.from),
            self.to,
            layer_name(&self.to)
        )
    }
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

fn layer_name(module: &str) -> &'static str {
    layer_of(module).map_or("?", |i| LAYERS[i].0)
}

/// The module a file belongs to: `x.rs` and `x/**.rs` are module `x`.
fn module_of(rel: &str) -> String {
    let rel = rel.trim_end_matches(".rs");
    rel.split('/').next().unwrap_or(rel).to_string()
}

/// The source with comments blanked (line numbers kept) and `#[cfg(test)]` modules removed.
fn code_lines(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut test_depth: Option<i64> = None;
    let mut pending_cfg_test = false;
    for line in src.lines() {
        let code = strip_comment(line);
        let trimmed = code.trim();
        if let Some(depth) = test_depth.as_mut() {
            *depth += brace_balance(&code);
            if *depth <= 0 {
                test_depth = None;
            }
            out.push(String::new());
            continue;
        }
        if trimmed == "#[cfg(test)]" {
            pending_cfg_test = true;
            out.push(String::new());
            continue;
        }
        if pending_cfg_test && !trimmed.starts_with("#[") {
            pending_cfg_test = false;
            if trimmed.starts_with("mod ") && trimmed.contains('{') {
                let depth = brace_balance(&code);
                if depth > 0 {
                    test_depth = Some(depth);
                }
                out.push(String::new());
                continue;
            }
            if trimmed.starts_with("mod ") {
                out.push(String::new());
                continue;
            }
        }
        out.push(code);
    }
    out
}

/// `line` without a `//` comment (doc comments included); `://` inside a URL is kept.
fn strip_comment(line: &str) -> String {
    let bytes = line.as_bytes();
    for i in 0..bytes.len().saturating_sub(1) {
        if bytes[i] == b'/' && bytes[i + 1] == b'/' && (i == 0 || bytes[i - 1] != b':') {
            return line[..i].to_string();
        }
    }
    line.to_string()
}

fn brace_balance(code: &str) -> i64 {
    code.chars().fold(0, |n, c| match c {
        '{' => n + 1,
        '}' => n - 1,
        _ => n,
    })
}

/// Every module a file names through `crate::`, with the line it is named on (1-based).
///
/// `crate::{a, b::c}` names `a` and `b`; `crate::Name` (a root re-export) names the module `lib.rs`
/// re-exports it from.
fn uses(lines: &[String], reexports: &HashMap<String, String>) -> Vec<(usize, String)> {
    let text = lines.join("\n");
    let line_at = |pos: usize| text[..pos].matches('\n').count() + 1;
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("crate::") {
        let start = from + i + "crate::".len();
        from = start;
        if text[..start - "crate::".len()]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue; // `$crate::` or `mycrate::`
        }
        if text[start..].starts_with('{') {
            for (pos, name) in group_heads(&text, start) {
                found.push((line_at(pos), name));
            }
        } else {
            let name = ident_at(&text, start);
            if !name.is_empty() {
                found.push((line_at(start), name));
            }
        }
    }
    found
        .into_iter()
        .map(|(line, name)| {
            let module = reexports.get(&name).cloned().unwrap_or(name);
            (line, module)
        })
        .collect()
}

fn ident_at(text: &str, at: usize) -> String {
    text[at..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The first name of each top-level item of the `{...}` group starting at `open`, with its position.
fn group_heads(text: &str, open: usize) -> Vec<(usize, String)> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    let mut i = open;
    while i < text.len() {
        let c = text[i..].chars().next().unwrap_or(' ');
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    expect_head = true;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect_head = true,
            c if depth == 1 && expect_head && (c.is_alphanumeric() || c == '_') => {
                let name = ident_at(text, i);
                i += name.len();
                heads.push((i - name.len(), name));
                expect_head = false;
                continue;
            }
            _ => {}
        }
        i += c.len_utf8();
    }
    heads
}

/// `Name -> module` for every `pub use module::...::{Name, ...}` in `lib.rs`.
fn root_reexports(lib: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let lines = code_lines(lib);
    let text = lines.join("\n");
    for stmt in text.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = ident_at(rest, 0);
        let names = match rest.find('{') {
            Some(open) => rest[open + 1..].trim_end_matches('}').to_string(),
            None => rest.rsplit("::").next().unwrap_or("").to_string(),
        };
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            map.insert(name.to_string(), module.clone());
        }
    }
    map
}

/// The up-layer uses in `files` (`relative path -> source`), plus the modules no layer names.
fn check(
    files: &BTreeMap<String, String>,
    reexports: &HashMap<String, String>,
) -> (Vec<Violation>, Vec<String>) {
    let mut violations = Vec::new();
    let mut unplaced = Vec::new();
    for (rel, src) in files {
        let module = module_of(rel);
        if NOT_LAYERED.contains(&module.as_str()) {
            continue;
        }
        let Some(layer) = layer_of(&module) else {
            unplaced.push(rel.clone());
            continue;
        };
        let lines = code_lines(src);
        for (line, used) in uses(&lines, reexports) {
            if used == module || used == "self" || used == "super" {
                continue;
            }
            let Some(used_layer) = layer_of(&used) else {
                if !NOT_LAYERED.contains(&used.as_str()) {
                    unplaced.push(format!(
                        "{rel}:{line} names crate::{used}, which no layer holds"
                    ));
                }
                continue;
            };
            if used_layer > layer {
                violations.push(Violation {
                    file: rel.clone(),
                    line,
                    text: src.lines().nth(line - 1).unwrap_or("").trim().to_string(),
                    from: module.clone(),
                    to: used,
                });
            }
        }
        if let Some(parent) = PARENT.iter().find(|(m, _)| *m == module).map(|(_, p)| *p) {
            assert!(
                layer_of(parent) == Some(layer),
                "{module} is declared inside {parent}: keep them in one layer"
            );
        }
    }
    (violations, unplaced)
}

fn read_tree(dir: &Path, root: &Path, files: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("read core/src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            read_tree(&path, root, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).expect("under src");
            let rel = rel.to_string_lossy().replace('\\', "/");
            files.insert(rel, std::fs::read_to_string(&path).expect("read source"));
        }
    }
}

#[test]
fn no_module_uses_a_higher_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    read_tree(&root, &root, &mut files);
    assert!(files.len() > 20, "read only {} files", files.len());
    let reexports = root_reexports(&files["lib.rs"]);
    let (violations, unplaced) = check(&files, &reexports);
    assert!(
        unplaced.is_empty(),
        "place these in a layer of core/tests/module_layers.rs and docs/ARCHITECTURE.md:\n{}",
        unplaced.join("\n")
    );
    let shown: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(
        violations.is_empty(),
        "a module uses a higher layer (docs/ARCHITECTURE.md, \"Module dependencies\"):\n{}",
        shown.join("\n")
    );
}

#[test]
fn an_upward_use_is_reported_with_its_line() {
    let reexports = root_reexports("pub use client::{Client, Reply};\npub use config::Config;\n");
    let files = BTreeMap::from([
        (
            "jwt.rs".to_string(),
            "//! Uses crate::config in a comment only.\nuse crate::error::Error;\n\
             use crate::{\n    redact::Secret,\n    config::CredentialConfig,\n};\n\
             fn f() { let _ = crate::Client::new; }\n\
             #[cfg(test)]\nmod tests {\n    use crate::client::Client;\n}\n"
                .to_string(),
        ),
        (
            "http.rs".to_string(),
            "use crate::config::Config;\nuse crate::oauth::OAuthApp;\n".to_string(),
        ),
    ]);
    let (violations, unplaced) = check(&files, &reexports);
    assert!(unplaced.is_empty(), "{unplaced:?}");
    let found: Vec<(String, usize, String)> = violations
        .iter()
        .map(|v| (v.file.clone(), v.line, v.to.clone()))
        .collect();
    assert_eq!(
        found,
        [
            ("jwt.rs".to_string(), 5, "config".to_string()),
            ("jwt.rs".to_string(), 7, "client".to_string()),
        ]
    );
    assert_eq!(
        violations[0].to_string(),
        "jwt.rs:5: `config::CredentialConfig,`: jwt (layer parts) uses config (layer config)"
    );
}

#[test]
fn a_module_in_no_layer_is_reported() {
    let files = BTreeMap::from([(
        "newthing.rs".to_string(),
        "use crate::error::Error;\n".to_string(),
    )]);
    let (violations, unplaced) = check(&files, &HashMap::new());
    assert!(violations.is_empty());
    assert_eq!(unplaced, ["newthing.rs"]);
}
