//! Static websites: requests whose Host is a linked domain or `<bucket>.<website base domain>`
//! are answered from the bucket like an S3 website endpoint: GET/HEAD only, `/` and `dir/`
//! serve the index document, a missing key serves the error document with 404, and ranges and
//! conditional requests work as on the S3 API. A website needs public read access.

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use s3s::dto::{ETagCondition, GetObjectInput, GetObjectOutput, Range, Timestamp, TimestampFormat};
use s3s::{S3, S3ErrorCode};

use crate::gateway::Gateway;
use crate::meta::BucketRecord;
use crate::s3util::internal_request;

const DEFAULT_INDEX: &str = "index.html";

fn page(status: StatusCode, title: &str) -> Response<s3s::Body> {
    let body = format!(
        "<!doctype html><html><head><title>{code} {title}</title></head><body><h1>{code} {title}</h1></body></html>\n",
        code = status.as_u16()
    );
    let mut resp = Response::new(s3s::Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// Serves one website request for `bucket`.
pub async fn serve(
    gateway: &Gateway,
    bucket: &BucketRecord,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Response<s3s::Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut resp = page(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        resp.headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    if !bucket.public_read {
        return page(StatusCode::FORBIDDEN, "Forbidden");
    }
    let Ok(decoded) = percent_encoding::percent_decode_str(path).decode_utf8() else {
        return page(StatusCode::BAD_REQUEST, "Bad Request");
    };
    let index = bucket
        .website
        .as_ref()
        .map_or(DEFAULT_INDEX, |w| w.index_document.as_str());
    let mut key = decoded.trim_start_matches('/').to_owned();
    if key.is_empty() || key.ends_with('/') {
        key.push_str(index);
    }
    let is_head = method == Method::HEAD;
    match fetch(gateway, &bucket.name, &key, headers, true).await {
        Ok(out) => respond(StatusCode::OK, out, is_head),
        Err(code) if code == S3ErrorCode::NoSuchKey || code == S3ErrorCode::InvalidArgument => {
            // `dir` without its slash: S3 redirects to `dir/` when `dir/index.html` exists.
            let dir_index = format!("{}/{index}", key.trim_end_matches('/'));
            if !decoded.ends_with('/')
                && !decoded.is_empty()
                && fetch(gateway, &bucket.name, &dir_index, &HeaderMap::new(), false)
                    .await
                    .is_ok()
            {
                let mut resp = page(StatusCode::FOUND, "Found");
                if let Ok(v) = HeaderValue::from_str(&format!("{}/", path.trim_end_matches('/'))) {
                    resp.headers_mut().insert(http::header::LOCATION, v);
                }
                return resp;
            }
            let error_doc = bucket
                .website
                .as_ref()
                .and_then(|w| w.error_document.clone());
            if let Some(doc) = error_doc
                && let Ok(out) = fetch(gateway, &bucket.name, &doc, &HeaderMap::new(), false).await
            {
                return respond(StatusCode::NOT_FOUND, out, is_head);
            }
            page(StatusCode::NOT_FOUND, "Not Found")
        }
        Err(code) => match code.status_code() {
            Some(StatusCode::NOT_MODIFIED) => {
                let mut resp = Response::new(s3s::Body::empty());
                *resp.status_mut() = StatusCode::NOT_MODIFIED;
                resp
            }
            Some(StatusCode::PRECONDITION_FAILED) => {
                page(StatusCode::PRECONDITION_FAILED, "Precondition Failed")
            }
            Some(StatusCode::RANGE_NOT_SATISFIABLE) => {
                page(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable")
            }
            _ => page(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        },
    }
}

fn header_str(headers: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// GetObject through the gateway with the request's range and conditional headers.
async fn fetch(
    gateway: &Gateway,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
    conditional: bool,
) -> Result<GetObjectOutput, S3ErrorCode> {
    let mut b = GetObjectInput::builder()
        .bucket(bucket.to_owned())
        .key(key.to_owned());
    if conditional {
        let etag = |n| {
            header_str(headers, n).and_then(|v| ETagCondition::parse_http_header(v.as_bytes()).ok())
        };
        let date = |n| {
            header_str(headers, n).and_then(|v| Timestamp::parse(TimestampFormat::HttpDate, v).ok())
        };
        b = b
            .if_match(etag(http::header::IF_MATCH))
            .if_none_match(etag(http::header::IF_NONE_MATCH))
            .if_modified_since(date(http::header::IF_MODIFIED_SINCE))
            .if_unmodified_since(date(http::header::IF_UNMODIFIED_SINCE))
            .range(header_str(headers, http::header::RANGE).and_then(|v| Range::parse(v).ok()));
    }
    let input = b.build().map_err(|_| S3ErrorCode::InvalidArgument)?;
    if crate::s3util::validate_key(key).is_err() {
        return Err(S3ErrorCode::InvalidArgument);
    }
    match gateway
        .get_object(internal_request(input, Method::GET))
        .await
    {
        Ok(out) => Ok(out.output),
        Err(e) => Err(e.code().clone()),
    }
}

fn respond(status: StatusCode, out: GetObjectOutput, head: bool) -> Response<s3s::Body> {
    let status = if out.content_range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        status
    };
    let mut h = HeaderMap::new();
    let mut put = |name: http::header::HeaderName, v: Option<String>| {
        if let Some(v) = v.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(name, v);
        }
    };
    let fmt_date = |t: &Timestamp| {
        let mut buf = Vec::new();
        t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
        String::from_utf8(buf).ok()
    };
    put(http::header::CONTENT_TYPE, out.content_type.clone());
    put(
        http::header::CONTENT_LENGTH,
        out.content_length.map(|n| n.to_string()),
    );
    put(http::header::CONTENT_RANGE, out.content_range.clone());
    put(
        http::header::ETAG,
        out.e_tag.as_ref().map(|e| format!("\"{}\"", e.value())),
    );
    put(
        http::header::LAST_MODIFIED,
        out.last_modified.as_ref().and_then(fmt_date),
    );
    put(http::header::CACHE_CONTROL, out.cache_control.clone());
    put(http::header::CONTENT_ENCODING, out.content_encoding.clone());
    put(http::header::CONTENT_LANGUAGE, out.content_language.clone());
    put(
        http::header::CONTENT_DISPOSITION,
        out.content_disposition.clone(),
    );
    put(
        http::header::EXPIRES,
        out.expires.as_ref().and_then(fmt_date),
    );
    put(http::header::ACCEPT_RANGES, Some("bytes".to_owned()));
    let body = match (head, out.body) {
        (false, Some(b)) => s3s::Body::from(b),
        _ => s3s::Body::empty(),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = h;
    resp
}
