//! `ListObjectVersions`: the current objects (`OBJECTS`) and the other versions
//! (`VERSIONS`) merged in key order, newest first per key, folded into common prefixes.
//! A page starts with a range look-up at its markers, so its cost does not depend on how
//! far into the bucket it is.

use redb::{ReadOnlyTable, ReadTransaction};
use s3s::dto::*;
use s3s::{S3Request, S3Response};

use super::Embedded;
use super::intake::etag;
use super::list::{max_keys, wants_url};
use super::versions::{VersionRef, find_noncurrent, shown_id};
use crate::error::Result;
use crate::meta::{OBJECTS, ObjectRecord, VERSIONS};
use crate::s3util::{to_timestamp, url_encode};

/// One version in a page.
struct Entry {
    key: String,
    rec: ObjectRecord,
    latest: bool,
}

#[derive(Default)]
struct Page {
    entries: Vec<Entry>,
    prefixes: Vec<String>,
    truncated: bool,
    /// Key and version id of the last version returned (the version id is `None` when the
    /// page ended on a common prefix).
    next: Option<(String, Option<String>)>,
}

/// Where a page starts: the key markers as the client sent them.
struct Start<'a> {
    key_marker: Option<&'a str>,
    version_marker: Option<VersionRef>,
}

/// The two tables a listing merges, opened once per page.
struct Tables {
    objects: ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
    versions: ReadOnlyTable<(&'static str, &'static str, u64), &'static [u8]>,
}

/// The smallest key of `bucket` at or after `from` in either table, under `prefix`.
fn next_key(t: &Tables, bucket: &str, prefix: &str, from: &str) -> Result<Option<String>> {
    let (objects, versions) = (&t.objects, &t.versions);
    let a = match objects.range((bucket, from)..)?.next() {
        Some(item) => {
            let (k, _) = item?;
            let (b, key) = k.value();
            (b == bucket).then(|| key.to_owned())
        }
        None => None,
    };
    let b = match versions.range((bucket, from, 0)..)?.next() {
        Some(item) => {
            let (k, _) = item?;
            let (b, key, _) = k.value();
            (b == bucket).then(|| key.to_owned())
        }
        None => None,
    };
    let next = match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(next.filter(|k| k.starts_with(prefix)))
}

/// The versions of `key`, newest first, after the version `after` names (all when `None`).
fn key_versions(
    t: &Tables,
    bucket: &str,
    key: &str,
    after: Option<&VersionRef>,
) -> Result<Vec<(ObjectRecord, bool)>> {
    let (objects, versions) = (&t.objects, &t.versions);
    let mut all = Vec::new();
    if let Some(v) = objects.get((bucket, key))? {
        all.push(serde_json::from_slice::<ObjectRecord>(v.value())?);
    }
    let newest_is_current = !all.is_empty();
    // Where to resume among the noncurrent rows.
    let mut from_seq = 0;
    let mut skip_current = false;
    if let Some(w) = after {
        skip_current = true;
        if !all.first().is_some_and(|c| w.names(c)) {
            match find_noncurrent(versions, bucket, key, w)? {
                Some((s, _)) => from_seq = s.saturating_add(1),
                // A marker that names no version: the key is done.
                None => return Ok(Vec::new()),
            }
        }
    }
    for item in versions.range((bucket, key, from_seq)..=(bucket, key, u64::MAX))? {
        let (_, v) = item?;
        all.push(serde_json::from_slice(v.value())?);
    }
    // The newest version is the first of the key's, whatever the resume point.
    let first_noncurrent_latest = !newest_is_current && from_seq == 0;
    let mut out = Vec::with_capacity(all.len());
    for (i, rec) in all.into_iter().enumerate() {
        let latest = if newest_is_current {
            i == 0 && !skip_current
        } else {
            i == 0 && first_noncurrent_latest
        };
        if newest_is_current && skip_current && i == 0 {
            continue;
        }
        out.push((rec, latest));
    }
    Ok(out)
}

fn scan(
    txn: &ReadTransaction,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    start: &Start<'_>,
    max: usize,
) -> Result<Page> {
    let t = Tables {
        objects: txn.open_table(OBJECTS)?,
        versions: txn.open_table(VERSIONS)?,
    };
    let mut page = Page::default();
    let mut resume: Option<(String, VersionRef)> = None;
    let mut from = prefix.to_owned();
    if let Some(km) = start.key_marker.filter(|k| !k.is_empty()) {
        match &start.version_marker {
            Some(v) if km >= prefix => {
                resume = Some((km.to_owned(), v.clone()));
                from = km.to_owned();
            }
            // Strictly after the marker (keys hold no NUL).
            _ if km >= prefix => from = format!("{km}\0"),
            _ => {}
        }
    }
    let mut count = 0;
    while let Some(key) = next_key(&t, bucket, prefix, &from)? {
        let folded = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            key[prefix.len()..]
                .find(d)
                .map(|i| key[..prefix.len() + i + d.len()].to_owned())
        });
        if let Some(cp) = folded {
            from = format!("{cp}\u{10FFFF}");
            if start.key_marker.is_some_and(|m| cp.as_str() <= m) {
                continue;
            }
            if count == max {
                page.truncated = true;
                break;
            }
            count += 1;
            page.next = Some((cp.clone(), None));
            page.prefixes.push(cp);
            continue;
        }
        let after = resume.as_ref().filter(|(k, _)| *k == key).map(|(_, v)| v);
        for (rec, latest) in key_versions(&t, bucket, &key, after)? {
            if count == max {
                page.truncated = true;
                return Ok(page);
            }
            count += 1;
            page.next = Some((key.clone(), Some(shown_id(&rec))));
            page.entries.push(Entry {
                key: key.clone(),
                rec,
                latest,
            });
        }
        from = format!("{key}\0");
    }
    Ok(page)
}

impl Embedded {
    pub(super) async fn list_object_versions_impl(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        let version_marker = input
            .version_id_marker
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(VersionRef::parse)
            .transpose()?;
        if version_marker.is_some() && input.key_marker.as_deref().is_none_or(str::is_empty) {
            return Err(crate::error::client_err!(
                InvalidArgument,
                "A version-id marker cannot be specified without a key marker."
            ));
        }
        let (bucket, prefix, delimiter, key_marker) = (
            input.bucket.clone(),
            input.prefix.clone().unwrap_or_default(),
            input.delimiter.clone(),
            input.key_marker.clone(),
        );
        let page = self
            .store()
            .read_blocking(move |txn| {
                let start = Start {
                    key_marker: key_marker.as_deref(),
                    version_marker,
                };
                scan(txn, &bucket, &prefix, delimiter.as_deref(), &start, max)
            })
            .await?;
        Ok(S3Response::new(answer(input, page, max, url)))
    }
}

fn answer(
    input: ListObjectVersionsInput,
    page: Page,
    max: usize,
    url: bool,
) -> ListObjectVersionsOutput {
    let enc = |s: String| if url { url_encode(&s) } else { s };
    let mut versions = Vec::new();
    let mut markers = Vec::new();
    for e in page.entries {
        let key = Some(enc(e.key));
        let version_id = Some(shown_id(&e.rec));
        let last_modified = Some(to_timestamp(e.rec.last_modified));
        if e.rec.delete_marker {
            markers.push(DeleteMarkerEntry {
                is_latest: Some(e.latest),
                key,
                last_modified,
                owner: None,
                version_id,
            });
        } else {
            versions.push(ObjectVersion {
                e_tag: Some(etag(&e.rec.etag)),
                is_latest: Some(e.latest),
                key,
                last_modified,
                size: i64::try_from(e.rec.size).ok(),
                storage_class: Some(ObjectVersionStorageClass::from(
                    e.rec.storage_class.unwrap_or_else(|| "STANDARD".to_owned()),
                )),
                version_id,
                ..Default::default()
            });
        }
    }
    let (next_key, next_version) = match (page.truncated, page.next) {
        (true, Some((k, v))) => (Some(enc(k)), v),
        _ => (None, None),
    };
    ListObjectVersionsOutput {
        common_prefixes: Some(
            page.prefixes
                .into_iter()
                .map(|p| CommonPrefix {
                    prefix: Some(enc(p)),
                })
                .collect(),
        ),
        delete_markers: Some(markers),
        delimiter: input.delimiter.map(enc),
        encoding_type: input.encoding_type,
        is_truncated: Some(page.truncated),
        key_marker: Some(enc(input.key_marker.unwrap_or_default())),
        max_keys: i32::try_from(max).ok(),
        name: Some(input.bucket),
        next_key_marker: next_key,
        next_version_id_marker: next_version,
        prefix: Some(enc(input.prefix.unwrap_or_default())),
        version_id_marker: input.version_id_marker,
        versions: Some(versions),
        ..Default::default()
    }
}
