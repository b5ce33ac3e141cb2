//! Small S3 conventions shared by the gateway and its backends.

use s3s::dto::Timestamp;

use crate::error::{Result, client_err};
use crate::meta::UnixMillis;

pub fn to_timestamp(ms: UnixMillis) -> Timestamp {
    let nanos = i128::from(ms) * 1_000_000;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

pub fn to_millis(ts: Timestamp) -> UnixMillis {
    let t: time::OffsetDateTime = ts.into();
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Whole seconds, the precision of HTTP dates used by conditional headers.
pub fn to_secs(ms: UnixMillis) -> i64 {
    ms.div_euclid(1000)
}

/// Rejects keys that would mean different things to different backends and tools: empty
/// keys, NUL, a leading `/`, and `.`/`..` path segments.
/// AWS itself stores such keys, but MinIO (a production backend of ours) refuses them and
/// file-based tools mangle them; refusing them everywhere keeps every backend alike.
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(client_err!(InvalidArgument, "Object key must not be empty"));
    }
    if key.len() > 1024 {
        return Err(client_err!(KeyTooLongError, "Your key is too long"));
    }
    // Other control characters are valid in S3 keys (listings URL-encode them on request).
    if key.contains('\0') {
        return Err(client_err!(
            InvalidArgument,
            "Object key must not contain NUL"
        ));
    }
    if key.starts_with('/') {
        return Err(client_err!(
            InvalidArgument,
            "Object key must not start with '/'"
        ));
    }
    if key.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(client_err!(
            InvalidArgument,
            "Object key must not contain '.' or '..' path segments"
        ));
    }
    Ok(())
}

/// [`validate_key`] plus the longest key the bucket's server can store (`max_bytes`, from a
/// container profile's `max_key_bytes`): servers that keep a key in a file name cannot take
/// S3's 1024 bytes, and would answer a longer one with a `500`, not the client error it is.
pub fn validate_key_within(key: &str, max_bytes: Option<usize>) -> Result<()> {
    validate_key(key)?;
    match max_bytes {
        Some(max) if key.len() > max => Err(client_err!(
            KeyTooLongError,
            "Your key is too long: this bucket's server stores keys of at most {max} bytes"
        )),
        _ => Ok(()),
    }
}

/// Removes `aws-chunked` from a stored `Content-Encoding`: it describes the upload's framing,
/// not the object (S3 drops it too). `None` when nothing else is left.
pub fn strip_aws_chunked(encoding: Option<String>) -> Option<String> {
    let e = encoding?;
    let rest: Vec<&str> = e
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!rest.is_empty()).then(|| rest.join(","))
}

/// The text of the first `<tag>…</tag>` in a small XML document (S3 error bodies).
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_owned())
}

/// Parses the `x-amz-tagging` header (a URL query string) into tags.
pub fn parse_tagging_header(s: &str) -> Result<Vec<(String, String)>> {
    let mut tags = Vec::new();
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        tags.push((form_decode(k)?, form_decode(v)?));
    }
    validate_tags(&tags)?;
    Ok(tags)
}

fn form_decode(s: &str) -> Result<String> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| client_err!(InvalidArgument, "The tagging header is not valid UTF-8"))
}

/// S3 limits: at most 10 tags per object, keys up to 128 and values up to 256 characters,
/// keys unique.
pub fn validate_tags(tags: &[(String, String)]) -> Result<()> {
    if tags.len() > 10 {
        return Err(client_err!(
            InvalidTag,
            "Object tags cannot be greater than 10"
        ));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(client_err!(
                InvalidTag,
                "The TagKey or TagValue you have provided is invalid"
            ));
        }
        if tags[..i].iter().any(|(k2, _)| k2 == k) {
            return Err(client_err!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    Ok(())
}

/// Most bytes of user-defined metadata an object may carry, as on AWS: the UTF-8 bytes of
/// every name (without `x-amz-meta-`) and value, summed.
pub const MAX_USER_METADATA_BYTES: u64 = 2048;

/// Header prefix of user-defined metadata.
const META_PREFIX: &str = "x-amz-meta-";

/// Bytes of user metadata in a request's `x-amz-meta-*` headers (names without the prefix).
pub fn metadata_header_bytes(headers: &http::HeaderMap) -> u64 {
    headers
        .iter()
        .filter_map(|(k, v)| {
            let name = k.as_str().strip_prefix(META_PREFIX)?;
            Some((name.len() + v.as_bytes().len()) as u64)
        })
        .sum()
}

/// Refuses user metadata over [`MAX_USER_METADATA_BYTES`]: 400 `MetadataTooLarge`.
pub fn check_metadata_bytes(bytes: u64) -> Result<()> {
    if bytes > MAX_USER_METADATA_BYTES {
        return Err(client_err!(
            MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size of {MAX_USER_METADATA_BYTES} bytes ({bytes} bytes given)"
        ));
    }
    Ok(())
}

/// Bytes of user metadata in parsed form (s3s strips the prefix).
pub fn metadata_bytes(m: Option<&s3s::dto::Metadata>) -> u64 {
    m.map_or(0, crate::meta::pairs_bytes)
}

/// An upper bound of the tag bytes an `x-amz-tagging` header stores (its encoded length:
/// decoding only shortens it).
pub fn tagging_header_bytes(h: Option<&str>) -> u64 {
    h.map_or(0, |t| t.len() as u64)
}

/// URL-encodes a key or prefix for `encoding-type=url` listings (everything but unreserved
/// characters and `/`).
pub fn url_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// Checks a bucket name against S3's DNS-compatible naming rules.
pub fn validate_bucket_name(name: &str) -> Result<()> {
    // Prefixes and suffixes AWS reserves for its own naming schemes.
    const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
    const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    let reserved = RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        || RESERVED_SUFFIXES.iter().any(|p| name.ends_with(p));
    if s3s::path::check_bucket_name(name) && !name.contains("..") && !reserved {
        Ok(())
    } else {
        Err(client_err!(
            InvalidBucketName,
            "name: 3-63 characters of lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, without AWS-reserved prefixes (xn--, sthree-) or suffixes (-s3alias, --ol-s3)"
        ))
    }
}

/// A request made by the gateway itself (control plane, copy-source checks).
pub fn internal_request<T>(input: T, method: http::Method) -> s3s::S3Request<T> {
    s3s::S3Request {
        input,
        method,
        uri: http::Uri::from_static("/"),
        headers: http::HeaderMap::new(),
        extensions: http::Extensions::new(),
        credentials: None,
        region: None,
        service: None,
        trailing_headers: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_escape_or_confuse_are_refused() {
        for bad in [
            "",
            "../x",
            "a/../../b",
            "./x",
            "/abs",
            "a/./b",
            "nul\0x",
            "x/..",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?} must be refused");
        }
        for good in [
            "a",
            "a/b/c",
            "..a",
            "a..",
            "dir/",
            "with space",
            "ünïcode",
            "a//b",
        ] {
            assert!(validate_key(good).is_ok(), "{good:?} must be accepted");
        }
        assert!(validate_key(&"k".repeat(1024)).is_ok());
        assert!(validate_key(&"k".repeat(1025)).is_err());
    }

    #[test]
    fn tagging_header_parses_and_limits() {
        let tags = parse_tagging_header("a=1&b=two%20words&c=x+y").unwrap();
        assert_eq!(
            tags,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "two words".into()),
                ("c".into(), "x y".into())
            ]
        );
        assert!(parse_tagging_header("a=1&a=2").is_err());
    }

    #[test]
    fn timestamps_round_trip_in_millis() {
        let ms = 1_700_000_000_123;
        assert_eq!(to_millis(to_timestamp(ms)), ms);
    }

    #[test]
    fn aws_chunked_is_not_a_stored_encoding() {
        assert_eq!(strip_aws_chunked(Some("aws-chunked".into())), None);
        assert_eq!(
            strip_aws_chunked(Some("aws-chunked, gzip".into())),
            Some("gzip".into())
        );
        assert_eq!(strip_aws_chunked(Some("gzip".into())), Some("gzip".into()));
        assert_eq!(strip_aws_chunked(None), None);
    }

    #[test]
    fn url_encoding_keeps_slashes() {
        assert_eq!(url_encode("a b/c+d"), "a%20b/c%2Bd");
    }
}
