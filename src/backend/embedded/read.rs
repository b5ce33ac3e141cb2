//! Streaming an object's bytes (or a range of them) out of its segments.
//!
//! Every file the range touches is opened before the response starts, so an overwrite or
//! delete that unlinks a blob mid-transfer cannot cut the stream short (an open file outlives
//! its name). Chunks are read on demand as hyper polls the body, each with one positional read
//! on the blocking pool straight into the buffer that is sent: memory per download is one
//! chunk, whatever the object size.

use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;

use super::blobs::BlobDirs;
use crate::error::{Error, Result};
use crate::meta::Segment;

/// One run of bytes to send.
pub enum Piece {
    Inline(Bytes),
    File {
        file: Arc<std::fs::File>,
        offset: u64,
        len: u64,
    },
}

/// The pieces covering `range` of an object made of `segments`. `inline` resolves the bytes
/// of inline blobs (read in the same snapshot as the record).
pub async fn open_pieces(
    dirs: &BlobDirs,
    segments: &[Segment],
    range: Range<u64>,
    inline: impl Fn(&str) -> Option<Bytes>,
) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut pos = 0u64;
    for s in segments {
        let seg = pos..pos + s.len;
        pos += s.len;
        let start = range.start.max(seg.start);
        let end = range.end.min(seg.end);
        if start >= end {
            continue;
        }
        let offset = s.offset + (start - seg.start);
        let len = end - start;
        if s.inline {
            let bytes = inline(&s.blob).ok_or(Error::Bug("inline blob missing"))?;
            let from = usize::try_from(offset).map_err(|_| Error::Bug("offset overflow"))?;
            let to = usize::try_from(offset + len).map_err(|_| Error::Bug("offset overflow"))?;
            pieces.push(Piece::Inline(bytes.slice(from..to)));
        } else {
            let path = dirs.blob_path(&s.blob);
            let file = tokio::task::spawn_blocking(move || std::fs::File::open(path))
                .await
                .map_err(|_| Error::Bug("open task panicked"))?
                .map_err(Error::io("opening blob"))?;
            let file = Arc::new(file);
            pieces.push(Piece::File { file, offset, len });
        }
    }
    Ok(pieces)
}

/// The body stream over `pieces`, read in chunks of `chunk` bytes.
pub fn stream_pieces(
    pieces: Vec<Piece>,
    chunk: usize,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static {
    let state = (pieces.into_iter(), None::<(Arc<std::fs::File>, u64, u64)>);
    futures::stream::try_unfold(state, move |(mut pieces, mut current)| async move {
        loop {
            if let Some((file, offset, remaining)) = current.take() {
                if remaining == 0 {
                    continue;
                }
                let want = usize::try_from(remaining).unwrap_or(usize::MAX).min(chunk);
                let reader = file.clone();
                let buf = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                    let mut buf = vec![0u8; want];
                    reader.read_exact_at(&mut buf, offset)?;
                    Ok(buf)
                })
                .await
                .map_err(|_| std::io::Error::other("blob read task panicked"))?
                .map_err(|e| {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        std::io::Error::new(e.kind(), "blob is shorter than its record")
                    } else {
                        e
                    }
                })?;
                let n = buf.len() as u64;
                let next = (file, offset + n, remaining - n);
                return Ok(Some((Bytes::from(buf), (pieces, Some(next)))));
            }
            match pieces.next() {
                None => return Ok(None),
                Some(Piece::Inline(bytes)) => {
                    if bytes.is_empty() {
                        continue;
                    }
                    return Ok(Some((bytes, (pieces, None))));
                }
                Some(Piece::File { file, offset, len }) => current = Some((file, offset, len)),
            }
        }
    })
}
