//! The layering that `src/lib.rs` describes, checked on the sources: a module imports only
//! modules of its own layer or of the layers listed above it, and no two modules import each
//! other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of each top-level module, read from the numbered list in `src/lib.rs`.
fn layers(root: &Path) -> BTreeMap<String, usize> {
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let mut out = BTreeMap::new();
    let mut current = None;
    for line in lib.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.trim();
        if let Some((n, _)) = doc.split_once(". ")
            && let Ok(n) = n.parse::<usize>()
        {
            current = Some(n);
        } else if doc.is_empty() || doc.starts_with('#') {
            current = None;
        }
        if let Some(n) = current {
            // Module names are the back-quoted words before a colon-free description.
            for (i, part) in doc.split('`').enumerate() {
                if i % 2 == 1
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    out.insert(part.to_owned(), n);
                }
            }
        }
    }
    out
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

/// Top-level modules each module's code (unit tests aside) names as `crate::<module>`.
fn imports(root: &Path, known: &BTreeMap<String, usize>) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(root.join("src")).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if !known.contains_key(&top) {
            continue; // lib.rs, main.rs, the CLI
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let mut names = vec![name];
            if rest.starts_with('{') {
                let group = &rest[1..rest.find('}').unwrap_or(1)];
                names = group
                    .split(',')
                    .map(|p| p.trim().split("::").next().unwrap_or("").to_owned())
                    .collect();
            }
            for n in names {
                if known.contains_key(&n) && n != top {
                    out.entry(top.clone()).or_default().insert(n);
                }
            }
        }
    }
    out
}

#[test]
fn modules_import_only_their_layer_and_the_layers_below() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers = layers(root);
    assert!(
        layers.len() >= 20 && layers.contains_key("backend") && layers.contains_key("server"),
        "the layer list in src/lib.rs was not understood: {layers:?}"
    );
    let mut wrong = Vec::new();
    let imports = imports(root, &layers);
    for (from, targets) in &imports {
        for to in targets {
            if layers[to] > layers[from] {
                wrong.push(format!(
                    "{from} (layer {}) imports {to} (layer {})",
                    layers[from], layers[to]
                ));
            }
            if imports.get(to).is_some_and(|t| t.contains(from)) {
                wrong.push(format!("{from} and {to} import each other"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_module_has_a_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers = layers(root);
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let missing: Vec<_> = declared
        .iter()
        .filter(|m| !layers.contains_key(**m))
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a layer in src/lib.rs: {missing:?}"
    );
}
