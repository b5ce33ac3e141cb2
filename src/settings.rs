//! Bucket website and CORS settings: their checks, shared by the S3 operations
//! (`PutBucketWebsite`, `PutBucketCors`) and the admin API's bucket PATCH so both refuse the
//! same inputs, and the API's camelCase form of the stored records.

use serde::{Deserialize, Serialize};

use crate::meta::{CorsRule, Website};

/// Most rules one bucket's CORS configuration may hold (as in S3).
pub const MAX_CORS_RULES: usize = 100;
/// Longest preflight cache lifetime a rule may ask for.
pub const MAX_CORS_AGE_SECONDS: i64 = 86_400;
/// Methods a CORS rule may allow (as in S3).
pub const CORS_METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE", "HEAD"];
/// Longest S3 object key, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// Which S3 error a refused setting maps to on the S3 listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Kind {
    MalformedXml,
    InvalidRequest,
    InvalidArgument,
}

/// A refused setting: the field at fault (the API's camelCase path, e.g.
/// `cors[0].allowedOrigins[1]`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub field: String,
    pub message: String,
    pub s3: S3Kind,
}

fn refuse(field: impl Into<String>, message: impl Into<String>, s3: S3Kind) -> SettingError {
    SettingError {
        field: field.into(),
        message: message.into(),
        s3,
    }
}

/// An S3 key: 1 to 1024 bytes, no control characters.
fn check_key(field: &str, key: &str) -> Result<(), SettingError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(refuse(
            field,
            "must be 1 to 1024 bytes long",
            S3Kind::InvalidArgument,
        ));
    }
    if key.chars().any(char::is_control) {
        return Err(refuse(
            field,
            "control characters are not allowed",
            S3Kind::InvalidArgument,
        ));
    }
    Ok(())
}

/// Checks a website configuration: the index document is a key suffix without `/`, the error
/// document an S3 key.
pub fn check_website(w: &Website) -> Result<(), SettingError> {
    check_key("website.indexDocument", &w.index_document)?;
    if w.index_document.contains('/') {
        return Err(refuse(
            "website.indexDocument",
            "must not contain '/'",
            S3Kind::InvalidArgument,
        ));
    }
    if let Some(e) = &w.error_document {
        check_key("website.errorDocument", e)?;
    }
    Ok(())
}

/// `*`, or `scheme://host[:port]` where host may hold one `*` wildcard.
fn origin_ok(origin: &str) -> bool {
    if origin == "*" {
        return true;
    }
    if origin.matches('*').count() > 1 {
        return false;
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.*".contains(c));
    let port_ok = port.is_none_or(|p| {
        p == "*" || (!p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok_and(|n| n > 0))
    });
    scheme_ok && host_ok && port_ok
}

/// An HTTP header name, or (`wildcard`) a pattern with at most one `*`.
fn header_ok(name: &str, wildcard: bool) -> bool {
    !name.is_empty()
        && name.matches('*').count() <= usize::from(wildcard)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+.^_`|~-".contains(c))
}

/// Checks one CORS rule (`i` is its index, for the field name).
fn check_rule(i: usize, r: &CorsRule) -> Result<(), SettingError> {
    let field = |name: &str| format!("cors[{i}].{name}");
    if r.allowed_origins.is_empty() {
        return Err(refuse(
            field("allowedOrigins"),
            "at least one origin is required",
            S3Kind::MalformedXml,
        ));
    }
    if r.allowed_methods.is_empty() {
        return Err(refuse(
            field("allowedMethods"),
            "at least one method is required",
            S3Kind::MalformedXml,
        ));
    }
    for (j, o) in r.allowed_origins.iter().enumerate() {
        if !origin_ok(o) {
            return Err(refuse(
                format!("cors[{i}].allowedOrigins[{j}]"),
                "must be * or scheme://host[:port] with at most one *",
                S3Kind::InvalidRequest,
            ));
        }
    }
    for (j, m) in r.allowed_methods.iter().enumerate() {
        if !CORS_METHODS.contains(&m.as_str()) {
            return Err(refuse(
                format!("cors[{i}].allowedMethods[{j}]"),
                format!("unsupported method {m:?}: one of GET, PUT, POST, DELETE, HEAD"),
                S3Kind::InvalidRequest,
            ));
        }
    }
    for (j, h) in r.allowed_headers.iter().enumerate() {
        if !header_ok(h, true) {
            return Err(refuse(
                format!("cors[{i}].allowedHeaders[{j}]"),
                "must be a header name, with at most one *",
                S3Kind::InvalidRequest,
            ));
        }
    }
    for (j, h) in r.expose_headers.iter().enumerate() {
        if !header_ok(h, false) {
            return Err(refuse(
                format!("cors[{i}].exposeHeaders[{j}]"),
                "must be a header name",
                S3Kind::InvalidRequest,
            ));
        }
    }
    Ok(())
}

/// Checks a CORS configuration: 1 to 100 rules, each valid. `max_ages` are the rules'
/// requested lifetimes before narrowing to the stored `u32` (`None` when absent).
pub fn check_cors(rules: &[CorsRule], max_ages: &[Option<i64>]) -> Result<(), SettingError> {
    if rules.is_empty() || rules.len() > MAX_CORS_RULES {
        return Err(refuse(
            "cors",
            "a CORS configuration holds 1 to 100 rules",
            S3Kind::MalformedXml,
        ));
    }
    for (i, r) in rules.iter().enumerate() {
        check_rule(i, r)?;
        if let Some(Some(age)) = max_ages.get(i)
            && !(0..=MAX_CORS_AGE_SECONDS).contains(age)
        {
            return Err(refuse(
                format!("cors[{i}].maxAgeSeconds"),
                "must be 0 to 86400",
                S3Kind::InvalidRequest,
            ));
        }
    }
    Ok(())
}

/// The stored rule for a checked lifetime (`check_cors` bounds it to fit `u32`).
pub fn max_age(age: Option<i64>) -> Option<u32> {
    age.and_then(|a| u32::try_from(a).ok())
}

/// A bucket's website settings as the admin API reads and shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebsiteSettings {
    pub index_document: String,
    #[serde(default)]
    pub error_document: Option<String>,
}

impl From<WebsiteSettings> for Website {
    fn from(w: WebsiteSettings) -> Self {
        Website {
            index_document: w.index_document,
            error_document: w.error_document,
        }
    }
}

impl From<&Website> for WebsiteSettings {
    fn from(w: &Website) -> Self {
        WebsiteSettings {
            index_document: w.index_document.clone(),
            error_document: w.error_document.clone(),
        }
    }
}

/// One CORS rule as the admin API reads and shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CorsRuleSettings {
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default)]
    pub max_age_seconds: Option<i64>,
}

impl From<&CorsRule> for CorsRuleSettings {
    fn from(r: &CorsRule) -> Self {
        CorsRuleSettings {
            allowed_origins: r.allowed_origins.clone(),
            allowed_methods: r.allowed_methods.clone(),
            allowed_headers: r.allowed_headers.clone(),
            expose_headers: r.expose_headers.clone(),
            max_age_seconds: r.max_age_seconds.map(i64::from),
        }
    }
}

/// Checks the API's rules and turns them into stored ones.
pub fn cors_from_settings(rules: Vec<CorsRuleSettings>) -> Result<Vec<CorsRule>, SettingError> {
    let ages: Vec<Option<i64>> = rules.iter().map(|r| r.max_age_seconds).collect();
    let stored: Vec<CorsRule> = rules
        .into_iter()
        .map(|r| CorsRule {
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: r.allowed_headers,
            expose_headers: r.expose_headers,
            max_age_seconds: max_age(r.max_age_seconds),
        })
        .collect();
    check_cors(&stored, &ages)?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for ok in [
            "*",
            "https://app.example.com",
            "http://*.example.com",
            "http://localhost:8080",
            "https://x.com:*",
        ] {
            assert!(origin_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "example.com",
            "https://*.*.example.com",
            "https://a.com/path",
            "https://:80",
            "https://a.com:0",
            "ftp ://a",
            "https://a.com:99999",
        ] {
            assert!(!origin_ok(bad), "{bad}");
        }
    }

    #[test]
    fn cors_fields() {
        let rule = |o: &str, m: &str, age: Option<i64>| CorsRuleSettings {
            allowed_origins: vec![o.into()],
            allowed_methods: vec![m.into()],
            max_age_seconds: age,
            ..Default::default()
        };
        assert!(cors_from_settings(vec![rule("*", "GET", Some(86_400))]).is_ok());
        let e =
            cors_from_settings(vec![rule("*", "GET", None), rule("*", "PATCH", None)]).unwrap_err();
        assert_eq!(e.field, "cors[1].allowedMethods[0]");
        let e = cors_from_settings(vec![rule("*", "GET", Some(86_401))]).unwrap_err();
        assert_eq!(e.field, "cors[0].maxAgeSeconds");
        assert_eq!(cors_from_settings(vec![]).unwrap_err().field, "cors");
        let many = vec![rule("*", "GET", None); 101];
        assert_eq!(cors_from_settings(many).unwrap_err().field, "cors");
    }

    #[test]
    fn website_documents() {
        let w = |i: &str, e: Option<&str>| Website {
            index_document: i.into(),
            error_document: e.map(Into::into),
        };
        assert!(check_website(&w("index.html", Some("errors/404.html"))).is_ok());
        assert_eq!(
            check_website(&w("", None)).unwrap_err().field,
            "website.indexDocument"
        );
        assert_eq!(
            check_website(&w("a/b.html", None)).unwrap_err().field,
            "website.indexDocument"
        );
        assert_eq!(
            check_website(&w("i.html", Some("x\ny"))).unwrap_err().field,
            "website.errorDocument"
        );
    }
}
