//! Listings of multipart uploads in the embedded backend: the parts of one upload, and the
//! uploads in progress in a bucket.

use redb::ReadableTable;
use s3s::dto::*;
use s3s::{S3Request, S3Response};

use super::Embedded;
use super::intake::etag;
use crate::error::Result;
use crate::meta::{PARTS, PartRecord, UPLOADS, UploadRecord};
use crate::s3util::to_timestamp;

impl Embedded {
    pub(super) async fn list_parts_impl(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let upload = self.load_upload(&input.upload_id, &input.bucket, &input.key)?;
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000);
        let marker = input
            .part_number_marker
            .map(|m| u32::try_from(m.max(0)).unwrap_or(0))
            .unwrap_or(0);
        let id = input.upload_id.clone();
        let limit = usize::try_from(max).unwrap_or(1000);
        let (parts, truncated) = self
            .store()
            .read_blocking(move |txn| {
                let table = txn.open_table(PARTS)?;
                let mut out = Vec::new();
                let mut truncated = false;
                for item in table
                    .range((id.as_str(), marker.saturating_add(1))..=(id.as_str(), u32::MAX))?
                {
                    let (k, v) = item?;
                    if out.len() == limit {
                        truncated = true;
                        break;
                    }
                    let rec: PartRecord = serde_json::from_slice(v.value())?;
                    out.push((k.value().1, rec));
                }
                Ok((out, truncated))
            })
            .await?;
        let next = parts.last().map(|(n, _)| i32::try_from(*n).unwrap_or(0));
        let parts = parts
            .into_iter()
            .map(|(n, p)| Part {
                part_number: i32::try_from(n).ok(),
                e_tag: Some(etag(&p.etag)),
                size: i64::try_from(p.size).ok(),
                last_modified: Some(to_timestamp(p.last_modified)),
                checksum_crc32: p.checksums.crc32,
                checksum_crc32c: p.checksums.crc32c,
                checksum_sha1: p.checksums.sha1,
                checksum_sha256: p.checksums.sha256,
                checksum_crc64nvme: p.checksums.crc64nvme,
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(max),
            is_truncated: Some(truncated),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: if truncated { next } else { None },
            parts: Some(parts),
            checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
            storage_class: Some(StorageClass::from(
                upload
                    .storage_class
                    .unwrap_or_else(|| "STANDARD".to_owned()),
            )),
            ..Default::default()
        }))
    }

    pub(super) async fn list_multipart_uploads_impl(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let bucket = input.bucket.clone();
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut uploads = self
            .store()
            .read_blocking(move |txn| {
                let table = txn.open_table(UPLOADS)?;
                let mut out = Vec::new();
                for item in table.iter()? {
                    let (k, v) = item?;
                    let rec: UploadRecord = serde_json::from_slice(v.value())?;
                    if rec.bucket == bucket && rec.key.starts_with(&prefix) {
                        out.push((k.value().to_owned(), rec));
                    }
                }
                Ok(out)
            })
            .await?;
        uploads
            .sort_by(|a, b| (&a.1.key, a.1.initiated, &a.0).cmp(&(&b.1.key, b.1.initiated, &b.0)));
        if let Some(km) = &input.key_marker {
            let id_marker = input.upload_id_marker.clone();
            uploads.retain(|(id, u)| match &id_marker {
                Some(idm) => u.key > *km || (u.key == *km && id > idm),
                None => u.key > *km,
            });
        }
        let max = usize::try_from(input.max_uploads.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let page = fold_uploads(
            uploads,
            input.prefix.as_deref().map_or(0, str::len),
            delimiter.as_deref(),
            max,
        );
        let (truncated, common_prefixes, uploads) = (page.truncated, page.prefixes, page.uploads);
        let (next_key, next_id) = match (truncated, page.last) {
            (true, Some((key, id))) => (Some(key), id),
            _ => (None, None),
        };
        let list = uploads
            .into_iter()
            .map(|(id, u)| MultipartUpload {
                key: Some(u.key),
                upload_id: Some(id),
                initiated: Some(to_timestamp(u.initiated)),
                checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
                storage_class: Some(StorageClass::from(
                    u.storage_class.unwrap_or_else(|| "STANDARD".to_owned()),
                )),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            next_key_marker: next_key,
            next_upload_id_marker: next_id,
            max_uploads: i32::try_from(max).ok(),
            is_truncated: Some(truncated),
            uploads: Some(list),
            common_prefixes: (!common_prefixes.is_empty()).then(|| {
                common_prefixes
                    .into_iter()
                    .map(|p| CommonPrefix { prefix: Some(p) })
                    .collect()
            }),
            ..Default::default()
        }))
    }
}

/// One page of a ListMultipartUploads answer.
struct UploadsPage {
    uploads: Vec<(String, UploadRecord)>,
    prefixes: Vec<String>,
    truncated: bool,
    /// The last key (or common prefix) listed, and its upload id: the next page's markers.
    last: Option<(String, Option<String>)>,
}

/// Takes up to `max` entries of sorted uploads, keys under `delimiter` (after the prefix's
/// `prefix_len` bytes) folded into common prefixes, each prefix counted once.
fn fold_uploads(
    sorted: Vec<(String, UploadRecord)>,
    prefix_len: usize,
    delimiter: Option<&str>,
    max: usize,
) -> UploadsPage {
    let mut page = UploadsPage {
        uploads: Vec::new(),
        prefixes: Vec::new(),
        truncated: false,
        last: None,
    };
    for (id, u) in sorted {
        let folded = delimiter.and_then(|d| {
            u.key[prefix_len..]
                .find(d)
                .map(|i| u.key[..prefix_len + i + d.len()].to_owned())
        });
        if let Some(cp) = &folded
            && page.prefixes.last() == Some(cp)
        {
            continue;
        }
        if page.uploads.len() + page.prefixes.len() == max {
            page.truncated = true;
            break;
        }
        match folded {
            Some(cp) => {
                page.last = Some((cp.clone(), None));
                page.prefixes.push(cp);
            }
            None => {
                page.last = Some((u.key.clone(), Some(id.clone())));
                page.uploads.push((id, u));
            }
        }
    }
    page
}
