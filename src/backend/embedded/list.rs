//! Listing: a range scan over `(bucket, key)` in key order, folding keys into common prefixes
//! and skipping the rest of a folded prefix with a new range instead of walking it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use s3s::dto::*;
use s3s::{S3Request, S3Response};

use super::Embedded;
use super::intake::etag;
use crate::error::{Result, client_err};
use crate::meta::{OBJECTS, ObjectRecord};
use crate::s3util::{to_timestamp, url_encode};

/// One page of a listing.
struct Page {
    objects: Vec<(String, ObjectRecord)>,
    prefixes: Vec<String>,
    truncated: bool,
    /// The last key or common prefix returned: where the next page starts (exclusive).
    last: Option<String>,
}

/// Lists `bucket` after `after` (exclusive): keys under `prefix`, grouped by `delimiter`.
fn scan(
    txn: &redb::ReadTransaction,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max_keys: usize,
) -> Result<Page> {
    let table = txn.open_table(OBJECTS)?;
    let mut page = Page {
        objects: Vec::new(),
        prefixes: Vec::new(),
        truncated: false,
        last: None,
    };
    let mut start = match after {
        Some(a) if a > prefix => a.to_owned(),
        _ => prefix.to_owned(),
    };
    'outer: loop {
        for item in table.range((bucket, start.as_str())..)? {
            let (k, v) = item?;
            let (b, key) = k.value();
            if b != bucket || !key.starts_with(prefix) {
                break 'outer;
            }
            if after.is_some_and(|a| key <= a) {
                continue;
            }
            let folded = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                key[prefix.len()..]
                    .find(d)
                    .map(|i| &key[..prefix.len() + i + d.len()])
            });
            if let Some(cp) = folded
                && after.is_some_and(|a| cp <= a)
            {
                // The previous page ended inside this common prefix.
                start = format!("{cp}\u{10FFFF}");
                continue 'outer;
            }
            if let Some(cp) = folded
                && page.prefixes.last().is_some_and(|l| l == cp)
            {
                continue;
            }
            if page.objects.len() + page.prefixes.len() == max_keys {
                page.truncated = true;
                break 'outer;
            }
            match folded {
                Some(cp) => {
                    let cp = cp.to_owned();
                    start = format!("{cp}\u{10FFFF}");
                    page.last = Some(cp.clone());
                    page.prefixes.push(cp);
                    continue 'outer;
                }
                None => {
                    let rec: ObjectRecord = serde_json::from_slice(v.value())?;
                    page.last = Some(key.to_owned());
                    page.objects.push((key.to_owned(), rec));
                }
            }
        }
        break;
    }
    Ok(page)
}

/// `max-keys`: 0 to 1000 (larger asks are capped as S3 does); negative is an error.
pub(super) fn max_keys(v: Option<i32>) -> Result<usize> {
    let v = v.unwrap_or(1000);
    if v < 0 {
        return Err(client_err!(
            InvalidArgument,
            "max-keys must be a non-negative integer"
        ));
    }
    Ok(usize::try_from(v.min(1000)).unwrap_or(1000))
}

fn to_object(key: String, rec: &ObjectRecord, url: bool) -> Object {
    Object {
        key: Some(if url { url_encode(&key) } else { key }),
        e_tag: Some(etag(&rec.etag)),
        size: i64::try_from(rec.size).ok(),
        last_modified: Some(to_timestamp(rec.last_modified)),
        storage_class: Some(ObjectStorageClass::from(
            rec.storage_class
                .clone()
                .unwrap_or_else(|| "STANDARD".to_owned()),
        )),
        ..Default::default()
    }
}

pub(super) fn wants_url(e: Option<&EncodingType>) -> Result<bool> {
    match e.map(EncodingType::as_str) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(client_err!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request"
        )),
    }
}

impl Embedded {
    async fn scan_page(
        &self,
        bucket: &str,
        prefix: Option<&str>,
        delimiter: Option<&str>,
        after: Option<String>,
        max: usize,
    ) -> Result<Page> {
        let (bucket, prefix, delimiter) = (
            bucket.to_owned(),
            prefix.unwrap_or_default().to_owned(),
            delimiter.map(str::to_owned),
        );
        self.store()
            .read_blocking(move |txn| {
                scan(
                    txn,
                    &bucket,
                    &prefix,
                    delimiter.as_deref(),
                    after.as_deref(),
                    max,
                )
            })
            .await
    }

    pub(super) async fn list_objects_v2_impl(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let token_key = match &input.continuation_token {
            Some(t) => Some(
                B64.decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        client_err!(
                            InvalidArgument,
                            "The continuation token provided is incorrect"
                        )
                    })?,
            ),
            None => None,
        };
        let after = match (token_key, input.start_after.clone()) {
            (Some(t), _) => Some(t),
            (None, s) => s.filter(|s| !s.is_empty()),
        };
        let max = max_keys(input.max_keys)?;
        let page = self
            .scan_page(
                &input.bucket,
                input.prefix.as_deref(),
                input.delimiter.as_deref(),
                after,
                max,
            )
            .await?;
        let count = page.objects.len() + page.prefixes.len();
        let enc = |s: String| if url { url_encode(&s) } else { s };
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(input.prefix.unwrap_or_default())),
            delimiter: input.delimiter.map(enc),
            start_after: input.start_after.map(enc),
            max_keys: i32::try_from(max).ok(),
            key_count: i32::try_from(count).ok(),
            is_truncated: Some(page.truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page
                .truncated
                .then(|| page.last.as_ref().map(|l| B64.encode(l)))
                .flatten(),
            encoding_type: input.encoding_type,
            contents: Some(
                page.objects
                    .into_iter()
                    .map(|(k, r)| to_object(k, &r, url))
                    .collect(),
            ),
            common_prefixes: Some(
                page.prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(enc(p)),
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(super) async fn list_objects_impl(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        let after = input.marker.clone().filter(|m| !m.is_empty());
        let page = self
            .scan_page(
                &input.bucket,
                input.prefix.as_deref(),
                input.delimiter.as_deref(),
                after,
                max,
            )
            .await?;
        let enc = |s: String| if url { url_encode(&s) } else { s };
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(input.prefix.unwrap_or_default())),
            delimiter: input.delimiter.map(enc),
            marker: Some(enc(input.marker.unwrap_or_default())),
            max_keys: i32::try_from(max).ok(),
            is_truncated: Some(page.truncated),
            next_marker: page.truncated.then(|| page.last.clone().map(enc)).flatten(),
            encoding_type: input.encoding_type,
            contents: Some(
                page.objects
                    .into_iter()
                    .map(|(k, r)| to_object(k, &r, url))
                    .collect(),
            ),
            common_prefixes: Some(
                page.prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(enc(p)),
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}
