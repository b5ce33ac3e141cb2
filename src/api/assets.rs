//! The console's assets as served: each file's bytes with its references to other assets
//! pointing at content-versioned URLs (`/console/app.css?v=<version>`), so that a versioned URL
//! can be cached for a year as immutable while the page itself is revalidated.
//!
//! References rewritten: in `index.html`, `src="/console/…"` and `href="/console/…"`; in ES
//! modules, relative specifiers (`./x.js`, `../x.js`) after `from` or `import` (static and
//! dynamic imports, re-exports). A file's version hashes the raw bytes of every asset it
//! reaches through such references (itself included), so it changes exactly when the bytes
//! served under its URL can change. Import cycles (a page importing `app.js`, which imports the
//! page) are fine: the reach is a set. Every importer of a module names the same URL, so the
//! browser keeps one instance of each module.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::HeaderValue;
use sha2::{Digest, Sha256};

#[derive(rust_embed::RustEmbed)]
#[folder = "console/"]
struct Assets;

/// One asset ready to send.
pub struct Prepared {
    /// The `v` of its versioned URL.
    pub version: String,
    /// The hash of the bytes served (after rewriting).
    pub etag: HeaderValue,
    pub content_type: HeaderValue,
    pub raw: bytes::Bytes,
    /// The gzip of `raw`, when smaller.
    pub gzip: Option<bytes::Bytes>,
}

/// Every asset prepared, for one state of the folder.
struct Manifest {
    /// Hash over every (path, content hash): a changed, added or removed file changes it.
    fingerprint: [u8; 32],
    files: HashMap<String, Arc<Prepared>>,
}

/// The prepared assets, rebuilt when the folder's content changes (debug builds read the
/// folder from disk, so it may change while the server runs).
#[derive(Default)]
pub struct AssetCache {
    current: Mutex<Option<Arc<Manifest>>>,
}

impl AssetCache {
    /// The asset at `path` (relative to `console/`), prepared.
    pub fn get(&self, path: &str) -> Option<Arc<Prepared>> {
        self.manifest().files.get(path).cloned()
    }

    fn manifest(&self) -> Arc<Manifest> {
        let mut listing: Vec<(String, [u8; 32])> = Assets::iter()
            .filter_map(|p| Assets::get(&p).map(|f| (p.into_owned(), f.metadata.sha256_hash())))
            .collect();
        listing.sort();
        let mut h = Sha256::new();
        for (path, hash) in &listing {
            h.update(path.as_bytes());
            h.update([0]);
            h.update(hash);
        }
        let fingerprint: [u8; 32] = h.finalize().into();
        if let Some(m) = self
            .lock()
            .as_ref()
            .filter(|m| m.fingerprint == fingerprint)
        {
            return m.clone();
        }
        // Built outside the lock: a race builds the same manifest twice, harmlessly.
        let files: Vec<(String, Vec<u8>)> = listing
            .into_iter()
            .filter_map(|(p, _)| Assets::get(&p).map(|f| (p, f.data.into_owned())))
            .collect();
        let manifest = Arc::new(Manifest {
            fingerprint,
            files: prepare_all(files),
        });
        *self.lock() = Some(manifest.clone());
        manifest
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<Manifest>>> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One reference found in a file: the byte range of the path to extend with `?v=…`, and the
/// asset it names.
struct Reference {
    end: usize,
    target: String,
}

/// Rewrites and prepares every file.
fn prepare_all(files: Vec<(String, Vec<u8>)>) -> HashMap<String, Arc<Prepared>> {
    let raw_hash: HashMap<&str, [u8; 32]> = files
        .iter()
        .map(|(p, data)| (p.as_str(), Sha256::digest(data).into()))
        .collect();
    let refs: HashMap<&str, Vec<Reference>> = files
        .iter()
        .map(|(p, data)| {
            let found = references(p, data)
                .into_iter()
                .filter(|r| raw_hash.contains_key(r.target.as_str()))
                .collect();
            (p.as_str(), found)
        })
        .collect();
    let versions: HashMap<&str, String> = files
        .iter()
        .map(|(p, _)| (p.as_str(), version(p, &refs, &raw_hash)))
        .collect();
    files
        .iter()
        .map(|(path, data)| {
            let body = rewrite(data, &refs[path.as_str()], &versions);
            let prepared = prepare(path, versions[path.as_str()].clone(), body);
            (path.clone(), Arc::new(prepared))
        })
        .collect()
}

/// The hash of the raw bytes of every asset `path` reaches, itself included.
fn version(
    path: &str,
    refs: &HashMap<&str, Vec<Reference>>,
    raw_hash: &HashMap<&str, [u8; 32]>,
) -> String {
    let mut reach = BTreeSet::new();
    let mut todo = vec![path.to_owned()];
    while let Some(p) = todo.pop() {
        if !reach.insert(p.clone()) {
            continue;
        }
        for r in refs.get(p.as_str()).into_iter().flatten() {
            todo.push(r.target.clone());
        }
    }
    let mut h = Sha256::new();
    for p in &reach {
        h.update(p.as_bytes());
        h.update([0]);
        h.update(raw_hash.get(p.as_str()).copied().unwrap_or_default());
    }
    hex::encode(&h.finalize()[..10])
}

/// `data` with `?v=<version>` after each reference.
fn rewrite(data: &[u8], refs: &[Reference], versions: &HashMap<&str, String>) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + refs.len() * 24);
    let mut at = 0;
    for r in refs {
        out.extend_from_slice(&data[at..r.end]);
        out.extend_from_slice(b"?v=");
        out.extend_from_slice(versions[r.target.as_str()].as_bytes());
        at = r.end;
    }
    out.extend_from_slice(&data[at..]);
    out
}

/// The references of one file, in order.
fn references(path: &str, data: &[u8]) -> Vec<Reference> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Vec::new();
    };
    if path.ends_with(".html") {
        html_references(text)
    } else if path.ends_with(".js") || path.ends_with(".mjs") {
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        module_references(dir, text)
    } else {
        Vec::new()
    }
}

/// `src="/console/…"` and `href="/console/…"` attributes.
fn html_references(text: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    for attr in ["src=\"/console/", "href=\"/console/"] {
        for (i, _) in text.match_indices(attr) {
            let start = i + attr.len();
            let Some(len) = text[start..].find('"') else {
                continue;
            };
            let target = &text[start..start + len];
            if !target.contains(['?', '#']) {
                out.push(Reference {
                    end: start + len,
                    target: target.to_owned(),
                });
            }
        }
    }
    out.sort_by_key(|r| r.end);
    out
}

/// Relative module specifiers after `from` or `import` (`import('./x.js')` too), resolved
/// against the module's folder `dir`.
fn module_references(dir: &str, text: &str) -> Vec<Reference> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for keyword in ["from", "import"] {
        for (i, _) in text.match_indices(keyword) {
            let before = i.checked_sub(1).map(|j| bytes[j]);
            if before.is_some_and(|b| b.is_ascii_alphanumeric() || b"_$.".contains(&b)) {
                continue;
            }
            let mut j = i + keyword.len();
            let skip_ws = |j: &mut usize| {
                while *j < bytes.len() && bytes[*j].is_ascii_whitespace() {
                    *j += 1;
                }
            };
            skip_ws(&mut j);
            if keyword == "import" && bytes.get(j) == Some(&b'(') {
                j += 1;
                skip_ws(&mut j);
            }
            let Some(&quote) = bytes.get(j).filter(|q| **q == b'\'' || **q == b'"') else {
                continue;
            };
            let start = j + 1;
            let Some(len) = text[start..].find(quote as char) else {
                continue;
            };
            let spec = &text[start..start + len];
            if let Some(target) = resolve(dir, spec) {
                out.push(Reference {
                    end: start + len,
                    target,
                });
            }
        }
    }
    out.sort_by_key(|r| r.end);
    out.dedup_by_key(|r| r.end);
    out
}

/// A relative specifier (`./`, `../`) resolved against `dir`; `None` for anything else (bare
/// names, absolute URLs, specifiers with a query) or one leaving the folder.
fn resolve(dir: &str, spec: &str) -> Option<String> {
    if !(spec.starts_with("./") || spec.starts_with("../")) || spec.contains(['?', '#', '\n']) {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    for seg in spec.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

fn prepare(path: &str, version: String, raw: Vec<u8>) -> Prepared {
    let hash = Sha256::digest(&raw);
    let etag = HeaderValue::from_str(&format!("\"{}\"", hex::encode(&hash[..16])))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    // Kept only when smaller (tiny files grow by gzip's header).
    let gzip = gzip(&raw)
        .filter(|z| z.len() < raw.len())
        .map(bytes::Bytes::from);
    Prepared {
        version,
        etag,
        content_type: content_type(path),
        raw: bytes::Bytes::from(raw),
        gzip,
    }
}

fn gzip(raw: &[u8]) -> Option<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(raw).ok()?;
    enc.finish().ok()
}

fn content_type(path: &str) -> HeaderValue {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    HeaderValue::from_static(match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(files: &[(&str, &str)]) -> HashMap<String, Arc<Prepared>> {
        prepare_all(
            files
                .iter()
                .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
                .collect(),
        )
    }

    fn text(m: &HashMap<String, Arc<Prepared>>, p: &str) -> String {
        String::from_utf8(m[p].raw.to_vec()).unwrap()
    }

    const INDEX: &str = "<link rel=\"stylesheet\" href=\"/console/app.css\">\n\
        <script type=\"module\" src=\"/console/js/app.js\"></script>\n\
        <a href=\"/console/missing.js\">";
    const APP: &str = "import { a } from './api.js';\nimport {x} from \"./pages/p.js\";\n\
        const s = `import boto3\nfrom botocore import Config`; // from 'elsewhere'\n\
        const later = () => import( '../js/api.js');\nexport * from './api.js';\n";
    const PAGE: &str = "import { a } from '../api.js';\nimport { b } from '../app.js';\n";

    #[test]
    fn references_get_the_version_of_what_they_name() {
        let m = site(&[
            ("index.html", INDEX),
            ("app.css", "body{}"),
            ("js/app.js", APP),
            ("js/api.js", "export const a = 1;"),
            ("js/pages/p.js", PAGE),
        ]);
        let v = |p: &str| m[p].version.clone();
        let index = text(&m, "index.html");
        assert!(index.contains(&format!("href=\"/console/app.css?v={}\"", v("app.css"))));
        assert!(index.contains(&format!("src=\"/console/js/app.js?v={}\"", v("js/app.js"))));
        // A reference to no asset is left alone.
        assert!(index.contains("href=\"/console/missing.js\""));
        let app = text(&m, "js/app.js");
        let api = v("js/api.js");
        assert!(app.contains(&format!("from './api.js?v={api}'")), "{app}");
        assert!(app.contains(&format!("from \"./pages/p.js?v={}\"", v("js/pages/p.js"))));
        assert!(
            app.contains(&format!("import( '../js/api.js?v={api}')")),
            "{app}"
        );
        assert!(
            app.contains(&format!("export * from './api.js?v={api}'")),
            "{app}"
        );
        // Text that only looks like an import keeps its words.
        assert!(app.contains("from botocore import Config`; // from 'elsewhere'"));
        let page = text(&m, "js/pages/p.js");
        assert!(
            page.contains(&format!("from '../api.js?v={api}'")),
            "{page}"
        );
        assert!(page.contains(&format!("from '../app.js?v={}'", v("js/app.js"))));
        assert_eq!(v("js/app.js").len(), 20);
    }

    #[test]
    fn a_version_changes_with_what_its_file_reaches_and_nothing_else() {
        let base = [
            ("index.html", INDEX),
            ("app.css", "body{}"),
            ("js/app.js", APP),
            ("js/api.js", "export const a = 1;"),
            ("js/pages/p.js", PAGE),
            ("js/lone.js", "export const z = 0;"),
        ];
        let before = site(&base);
        let mut changed = base;
        changed[3].1 = "export const a = 2;";
        let after = site(&changed);
        let same = |p: &str| before[p].version == after[p].version;
        // api.js changed: it, its importers (through the app.js ↔ page cycle) and the page.
        for p in ["js/api.js", "js/app.js", "js/pages/p.js", "index.html"] {
            assert!(!same(p), "{p} kept its version");
        }
        assert!(same("app.css") && same("js/lone.js"));
        assert_ne!(before["index.html"].etag, after["index.html"].etag);
        assert_eq!(before["app.css"].etag, after["app.css"].etag);
    }

    #[test]
    fn specifiers_resolve_inside_the_folder_only() {
        assert_eq!(
            resolve("js/pages", "../api.js").as_deref(),
            Some("js/api.js")
        );
        assert_eq!(resolve("js", "./a/./b.js").as_deref(), Some("js/a/b.js"));
        assert_eq!(resolve("js", "../../etc.js"), None);
        assert_eq!(resolve("js", "/console/x.js"), None);
        assert_eq!(resolve("js", "lodash"), None);
        assert_eq!(resolve("js", "./x.js?v=1"), None);
        assert_eq!(resolve("", "./x.js").as_deref(), Some("x.js"));
    }

    #[test]
    fn unterminated_and_binary_files_are_left_alone() {
        let m = site(&[
            ("js/a.js", "import x from './b.js"),
            ("js/b.js", "x"),
            ("logo.png", "\u{0}from './b.js'"),
        ]);
        assert_eq!(text(&m, "js/a.js"), "import x from './b.js");
        assert_eq!(text(&m, "logo.png"), "\u{0}from './b.js'");
    }
}
