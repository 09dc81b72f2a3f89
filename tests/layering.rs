//! The layering `src/lib.rs` promises, held to: each top-level module uses only those before it
//! in `LAYERS`, and within one, no two files use each other, directly or round about. Read off
//! the sources' paths (`crate::…`, `super::…`), tests left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom to top, as `src/lib.rs` lists them.
const LAYERS: [&str; 10] = [
    "error",
    "fingerprint",
    "data",
    "backend",
    "model",
    "load",
    "classifier",
    "train",
    "session",
    "wasm",
];

/// Every module of `src/` (`data::image`, `backend::gemm::select`) and its code, without tests
/// and comments.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            if path.is_dir() {
                if name != "bin" {
                    walk(&path, &[prefix, &[name]].concat(), out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") && name != "lib" {
                let module = match name.as_str() {
                    "mod" => prefix.join("::"),
                    _ => [prefix, &[name]].concat().join("::"),
                };
                let code = std::fs::read_to_string(&path).unwrap();
                let code = code.split("#[cfg(test)]\nmod tests").next().unwrap();
                // Comments may name any module; only code uses one.
                let code = code
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n");
                out.insert(module, code);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &[], &mut out);
    out
}

/// The paths a piece of code names after `crate::` or `super::` (braces expanded), each as its
/// segments from the crate root.
fn paths(module: &str, code: &str) -> Vec<Vec<String>> {
    fn expand(base: &[String], rest: &str, out: &mut Vec<Vec<String>>) {
        let mut path = base.to_vec();
        let mut chars = rest.trim_start();
        loop {
            if let Some(group) = chars.strip_prefix('{') {
                let mut depth = 1;
                let end = group
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '{' => 1,
                            '}' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map_or(group.len(), |(i, _)| i);
                let (mut start, mut depth) = (0, 0);
                let inner = &group[..end];
                for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            expand(&path, &inner[start..i], out);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            let len = chars
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(chars.len());
            if len == 0 {
                break;
            }
            path.push(chars[..len].to_string());
            match chars[len..].strip_prefix("::") {
                Some(next) => chars = next,
                None => break,
            }
        }
        out.push(path);
    }
    let own: Vec<String> = module.split("::").map(String::from).collect();
    let mut out = Vec::new();
    for (keyword, base) in [("crate::", Vec::new()), ("super::", own[..own.len() - 1].to_vec())] {
        for (i, _) in code.match_indices(keyword) {
            // A whole word: not `vit_wasm_crate::`.
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            expand(&base, &code[i + keyword.len()..], &mut out);
        }
    }
    out
}

/// Which module each module uses: the longest leading part of each path that is a module.
fn uses() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let mut graph = BTreeMap::new();
    for (module, code) in &modules {
        let mut used = BTreeSet::new();
        for path in paths(module, code) {
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| modules.contains_key(m));
            if let Some(target) = target.filter(|t| t != module) {
                used.insert(target);
            }
        }
        graph.insert(module.clone(), used);
    }
    graph
}

fn layer(module: &str) -> usize {
    let top = module.split("::").next().unwrap();
    LAYERS
        .iter()
        .position(|l| *l == top)
        .unwrap_or_else(|| panic!("src/lib.rs's layering has no place for {module}"))
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let graph = uses();
    assert!(graph.contains_key("session") && graph["wasm::model"].contains("session"));
    let upward: Vec<String> = graph
        .iter()
        .flat_map(|(from, to)| to.iter().map(move |to| (from, to)))
        .filter(|(from, to)| layer(to) > layer(from))
        .map(|(from, to)| format!("{from} uses {to}"))
        .collect();
    assert!(
        upward.is_empty(),
        "uses pointing up the layering:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_two_modules_use_each_other() {
    let graph = uses();
    // Depth-first, each module's path kept: a module met again on the path closes a cycle.
    fn visit<'a>(
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        module: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(start) = path.iter().position(|m| *m == module) {
            cycles.push([&path[start..], &[module]].concat().join(" → "));
            return;
        }
        if !done.insert(module) {
            return;
        }
        path.push(module);
        for next in &graph[module] {
            visit(graph, next, path, done, cycles);
        }
        path.pop();
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(&graph, module, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn paths_are_read_as_rust_names_them() {
    let found = paths(
        "data::preprocess",
        "use super::resize::{Interpolation, resize_rgb};\nuse crate::data::{image::{decode, RgbImage}, cifar::SIDE};\nlet x = crate::error::VitError::NoHead;",
    );
    let found: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        found,
        [
            "data::image::decode",
            "data::image::RgbImage",
            "data::cifar::SIDE",
            "error::VitError::NoHead",
            "data::resize::Interpolation",
            "data::resize::resize_rgb",
        ]
    );
}
