//! Human-readable output of the CLI: key/value blocks and aligned tables.

use std::borrow::Cow;

use serde_json::Value;

pub fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// A JSON value as plain text (`-` for null), safe for a terminal (see [`escape`]).
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => escape(s).into_owned(),
        other => other.to_string(),
    }
}

/// Server-provided text with its control characters (C0, DEL, C1) written as `\u{1b}`: an
/// object key or an old record holding an escape sequence must not retitle or repaint the
/// terminal of the admin who lists it. The API refuses control characters in free text, but
/// object keys may hold them (S3 allows it) and records may predate the rule.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

pub fn human_bytes(v: &Value) -> String {
    let Some(n) = v.as_u64() else {
        return text(v);
    };
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n as f64;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[unit])
    }
}

pub fn access(b: &Value) -> String {
    match (b["publicRead"].as_bool(), b["publicList"].as_bool()) {
        (Some(true), Some(true)) => "public-list".to_owned(),
        (Some(true), _) => "public-read".to_owned(),
        _ => "private".to_owned(),
    }
}

pub fn print_pairs(pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in pairs {
        println!("{k:<width$}  {v}");
    }
}

pub fn print_bucket(b: &Value) {
    let domains: Vec<String> = items(&b["domains"]).map(text).collect();
    let container = &b["container"];
    print_pairs(&[
        ("name", text(&b["name"])),
        ("owner", text(&b["owner"])),
        ("status", text(&b["status"])),
        ("status message", text(&b["statusMessage"])),
        ("backend", text(&b["backend"])),
        ("profile", text(&container["profile"])),
        ("container", text(&container["name"])),
        ("server address", text(&container["s3Address"])),
        ("console address", text(&container["consoleAddress"])),
        ("region", text(&b["region"])),
        ("description", text(&b["description"])),
        ("access", access(b)),
        ("objects", text(&b["usage"]["objects"])),
        ("size", human_bytes(&b["usage"]["bytes"])),
        ("quota size", human_bytes(&b["maxSizeBytes"])),
        ("quota objects", text(&b["maxObjects"])),
        ("domains", domains.join(", ")),
        ("domain status", domain_lines(&b["domainStatus"])),
        ("created", text(&b["createdAt"])),
    ]);
}

/// Each linked domain's state on one line: routing, what its ownership proof needs, and its
/// certificate.
fn domain_lines(statuses: &Value) -> String {
    let lines: Vec<String> = items(statuses)
        .map(|d| {
            let mut line = format!("{}: {}", text(&d["domain"]), text(&d["status"]));
            let v = &d["verification"];
            if v["verified"] == Value::Bool(false) {
                let what = if v["method"] == "dns" {
                    format!("publish TXT {} = {}", text(&v["record"]), text(&v["token"]))
                } else {
                    format!("{} must answer {}", text(&v["record"]), text(&v["token"]))
                };
                line.push_str(&format!(" ({what})"));
            }
            if !d["message"].is_null() {
                line.push_str(&format!(" - {}", text(&d["message"])));
            }
            let c = &d["certificate"];
            if !c.is_null() {
                line.push_str(&format!(", certificate {}", text(&c["state"])));
            }
            line
        })
        .collect();
    if lines.is_empty() {
        "-".to_owned()
    } else {
        lines.join("; ")
    }
}

pub fn print_stats(s: &Value) {
    print_pairs(&[
        ("bucket", text(&s["bucket"])),
        ("status", text(&s["status"])),
        ("objects", text(&s["objects"])),
        ("size", human_bytes(&s["bytes"])),
        ("pending", human_bytes(&s["pendingBytes"])),
        ("quota size", human_bytes(&s["maxSizeBytes"])),
        ("size used %", text(&s["sizeUsedPercent"])),
        ("quota objects", text(&s["maxObjects"])),
        ("objects used %", text(&s["objectsUsedPercent"])),
    ]);
}

pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.iter().map(|h| (*h).to_owned()).collect());
    for r in rows {
        line(r.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape("a\u{1b}]0;pwned\u{7}b\u{9b}c\u{7f}\n"),
            "a\\u{1b}]0;pwned\\u{7}b\\u{9b}c\\u{7f}\\u{a}"
        );
        assert!(matches!(escape("plain — ✓"), Cow::Borrowed(_)));
        assert_eq!(text(&Value::from("x\u{1b}[2J")), "x\\u{1b}[2J");
        assert_eq!(text(&Value::Null), "-");
    }
}
