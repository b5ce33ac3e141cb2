//! Streaming an object's bytes (or a range of them) out of its segments.
//!
//! Every file the range touches is opened before the response starts, so an overwrite or
//! delete that unlinks a blob mid-transfer cannot cut the stream short (an open file outlives
//! its name). Chunks are read on demand as hyper polls the body: memory per download is one
//! chunk, whatever the object size.

use std::io::SeekFrom;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::blobs::BlobDirs;
use crate::error::{Error, Result};
use crate::meta::Segment;

/// One run of bytes to send.
pub enum Piece {
    Inline(Bytes),
    File {
        file: tokio::fs::File,
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
            let file = tokio::fs::File::open(dirs.blob_path(&s.blob))
                .await
                .map_err(Error::io("opening blob"))?;
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
    struct State {
        pieces: std::vec::IntoIter<Piece>,
        current: Option<(tokio::fs::File, u64)>,
        chunk: usize,
    }
    let state = State {
        pieces: pieces.into_iter(),
        current: None,
        chunk,
    };
    futures::stream::try_unfold(state, |mut st| async move {
        loop {
            if let Some((file, remaining)) = &mut st.current {
                if *remaining == 0 {
                    st.current = None;
                    continue;
                }
                let want = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(st.chunk);
                let mut buf = BytesMut::with_capacity(want);
                while buf.len() < want {
                    let n = file.read_buf(&mut buf).await?;
                    if n == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "blob is shorter than its record",
                        ));
                    }
                }
                *remaining -= buf.len() as u64;
                return Ok(Some((buf.freeze(), st)));
            }
            match st.pieces.next() {
                None => return Ok(None),
                Some(Piece::Inline(bytes)) => {
                    if bytes.is_empty() {
                        continue;
                    }
                    return Ok(Some((bytes, st)));
                }
                Some(Piece::File {
                    mut file,
                    offset,
                    len,
                }) => {
                    if offset > 0 {
                        file.seek(SeekFrom::Start(offset)).await?;
                    }
                    st.current = Some((file, len));
                }
            }
        }
    })
}
