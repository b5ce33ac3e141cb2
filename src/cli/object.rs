//! `bucketgate object …`: list, put, get, delete and presign objects through the API.

use super::*;
use anyhow::{Context, Result, anyhow};
use output::{items, table, text};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

pub(super) async fn object(c: &Client, cmd: ObjectCmd) -> Result<()> {
    match cmd {
        ObjectCmd::Put {
            bucket,
            file,
            key,
            content_type,
            parallel,
            resume,
        } => {
            let f = tokio::fs::File::open(&file)
                .await
                .with_context(|| format!("opening {}", file.display()))?;
            let len = f.metadata().await?.len();
            let file_name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| anyhow!("{} has no file name", file.display()))?;
            let key = key.unwrap_or_else(|| file_name.clone());
            if resume || len >= transfer::MULTIPART_THRESHOLD {
                drop(f);
                let ct = content_type.or_else(|| {
                    mime_guess::from_path(&file_name)
                        .first()
                        .map(|m| m.to_string())
                });
                let done = upload::put(
                    c,
                    upload::Upload {
                        bucket: &bucket,
                        key: &key,
                        file: &file,
                        content_type: ct,
                        parallel: usize::from(parallel),
                        resume,
                    },
                )
                .await?;
                let v = json!({"bucket": bucket, "objects": [
                    {"key": key, "size": len, "etag": done["etag"], "versionId": done["versionId"]}
                ]});
                output(c, &v, |v| {
                    for o in items(&v["objects"]) {
                        println!(
                            "uploaded {}/{} ({} bytes, etag {})",
                            text(&v["bucket"]),
                            text(&o["key"]),
                            text(&o["size"]),
                            text(&o["etag"])
                        );
                    }
                });
                return Ok(());
            }
            let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(f));
            let mut part = reqwest::multipart::Part::stream_with_length(body, len)
                .file_name(file_name.clone());
            let ct = content_type.or_else(|| {
                mime_guess::from_path(&file_name)
                    .first()
                    .map(|m| m.to_string())
            });
            if let Some(ct) = ct {
                part = part.mime_str(&ct).context("--content-type")?;
            }
            // The key field comes first: the server stores each file under the key before it.
            let form = reqwest::multipart::Form::new()
                .text("key", key)
                .part("file", part);
            let path = format!("/api/buckets/{}/objects", seg(&bucket));
            let v = c
                .call(c.request(Method::POST, &path).multipart(form))
                .await?;
            output(c, &v, |v| {
                for o in items(&v["objects"]) {
                    println!(
                        "uploaded {}/{} ({} bytes, etag {})",
                        text(&v["bucket"]),
                        text(&o["key"]),
                        text(&o["size"]),
                        text(&o["etag"])
                    );
                }
            });
        }
        ObjectCmd::Get {
            bucket,
            key,
            file,
            output,
            parallel,
            resume,
        } => {
            let out = file.or(output).unwrap_or_else(|| "-".to_owned());
            if out != "-" {
                let fetched = download::get(
                    c,
                    download::Download {
                        bucket: &bucket,
                        key: &key,
                        file: std::path::Path::new(&out),
                        parallel: usize::from(parallel),
                        resume,
                    },
                )
                .await?;
                if fetched.is_some() {
                    return Ok(());
                }
            }
            let path = format!("/api/buckets/{}/objects/{}", seg(&bucket), key_path(&key));
            let resp = checked(
                c.request(Method::GET, &path)
                    .send()
                    .await
                    .context("cannot reach the API")?,
            )
            .await?;
            let mut stream = resp.bytes_stream();
            use futures::StreamExt;
            if out == "-" {
                let mut w = tokio::io::stdout();
                while let Some(chunk) = stream.next().await {
                    w.write_all(&chunk.context("downloading")?).await?;
                }
                w.flush().await?;
            } else {
                let mut w = tokio::fs::File::create(&out)
                    .await
                    .with_context(|| format!("creating {out}"))?;
                while let Some(chunk) = stream.next().await {
                    w.write_all(&chunk.context("downloading")?).await?;
                }
                w.flush().await?;
                w.sync_all().await?;
            }
        }
        ObjectCmd::Ls {
            bucket,
            prefix,
            delimiter,
        } => {
            let base = format!("/api/buckets/{}/objects", seg(&bucket));
            let mut objects = Vec::new();
            let mut prefixes = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut req = c.request(Method::GET, &base);
                let mut q: Vec<(&str, String)> = Vec::new();
                if let Some(p) = &prefix {
                    q.push(("prefix", p.clone()));
                }
                if let Some(d) = &delimiter {
                    q.push(("delimiter", d.clone()));
                }
                if let Some(t) = &token {
                    q.push(("continuationToken", t.clone()));
                }
                req = req.query(&q);
                let v = c.call(req).await?;
                objects.extend(items(&v["objects"]).cloned());
                prefixes.extend(items(&v["commonPrefixes"]).cloned());
                token = v["nextContinuationToken"].as_str().map(str::to_owned);
                if token.is_none() || v["isTruncated"] != Value::Bool(true) {
                    break;
                }
            }
            let v = json!({"bucket": bucket, "objects": objects, "commonPrefixes": prefixes});
            output(c, &v, |v| {
                let mut rows: Vec<Vec<String>> = items(&v["commonPrefixes"])
                    .map(|p| vec![text(p), "PRE".to_owned(), String::new()])
                    .collect();
                rows.extend(
                    items(&v["objects"])
                        .map(|o| vec![text(&o["key"]), text(&o["size"]), text(&o["lastModified"])]),
                );
                table(&["KEY", "SIZE", "LAST MODIFIED"], &rows);
            });
        }
        ObjectCmd::Rm { bucket, key } => {
            let path = format!("/api/buckets/{}/objects/{}", seg(&bucket), key_path(&key));
            c.send(Method::DELETE, &path, None).await?;
            if !c.json {
                println!("deleted {bucket}/{key}");
            }
        }
    }
    Ok(())
}
