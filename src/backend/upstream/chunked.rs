//! aws-chunked re-framing for the upstream: a client's body whose checksum came as a trailer
//! is sent on as `aws-chunked` with an unsigned trailer, so the server verifies and stores the
//! client's checksum; the gateway checks it too as the body passes.

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue};
use s3s::Body;

use super::TRAILER_MISMATCH;

/// Headers of an upstream request whose body is re-framed as aws-chunked with a trailer.
pub fn upstream_chunked_headers(h: &mut HeaderMap, names: &[&str], decoded: u64) {
    h.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
    );
    h.insert("x-amz-decoded-content-length", HeaderValue::from(decoded));
    if let Ok(v) = HeaderValue::from_str(&names.join(",")) {
        h.insert("x-amz-trailer", v);
    }
}

/// Size of the aws-chunked chunks a body with a trailer is re-framed into.
const REFRAME_CHUNK: u64 = 256 << 10;

/// Base64 length of each checksum a trailer may carry.
const TRAILER_CHECKSUMS: &[(&str, usize)] = &[
    ("x-amz-checksum-crc32", 8),
    ("x-amz-checksum-crc32c", 8),
    ("x-amz-checksum-crc64nvme", 12),
    ("x-amz-checksum-sha1", 28),
    ("x-amz-checksum-sha256", 44),
];

/// A body whose checksum came as an aws-chunked trailer, on its way to the server.
pub struct Reframed {
    pub body: Body,
    /// Bytes on the wire (`Content-Length` of the upstream request).
    pub framed_len: u64,
    /// The trailer names, as `x-amz-trailer` lists them.
    pub names: Vec<&'static str>,
}

/// Re-frames a decoded body as `aws-chunked` with an unsigned trailer, so the checksum the
/// client sent reaches the server (which verifies and stores it): fixed-size chunks, whose
/// framing is known before the first byte, so the length is too; data passes through as the
/// client's own buffers (no copy). The gateway checks the client's trailer itself too: the
/// trailer goes out only after the client's stream ended (which parses its trailer) and
/// matched, so hyper, which stops at `Content-Length`, cannot complete a bad upload; on a
/// mismatch the stream fails and the upstream request is aborted.
pub fn reframe_with_trailer(
    body: Body,
    trailers: s3s::TrailingHeaders,
    announced: &str,
    length: u64,
) -> Result<Reframed, Body> {
    let (hasher, names, trailer_len) = plan(announced);
    if names.is_empty() {
        // No checksum announced: nothing to carry, the body goes as it is.
        return Err(body);
    }
    let chunk_frame = |len: u64| format!("{len:x}").len() as u64 + 2 + len + 2;
    let full = length / REFRAME_CHUNK;
    let rest = length % REFRAME_CHUNK;
    let framed_len = full * chunk_frame(REFRAME_CHUNK)
        + if rest > 0 { chunk_frame(rest) } else { 0 }
        + 3
        + trailer_len
        + 2;
    let state = Reframer {
        body,
        hasher: Some(hasher),
        trailers,
        names: names.clone(),
        left: length,
        in_chunk: 0,
        queue: std::collections::VecDeque::new(),
        done: false,
    };
    let stream = futures::stream::unfold(state, Reframer::next);
    Ok(Reframed {
        body: Body::http_body_unsync(http_body_util::StreamBody::new(
            stream.map(|r: std::io::Result<Bytes>| r.map(hyper::body::Frame::data)),
        )),
        framed_len,
        names,
    })
}

/// The hasher for the checksums `announced` names, their trailer names, and the bytes their
/// trailer lines take.
fn plan(announced: &str) -> (s3s::checksum::ChecksumHasher, Vec<&'static str>, u64) {
    let mut hasher = s3s::checksum::ChecksumHasher::default();
    let mut names = Vec::new();
    let mut trailer_len = 0u64;
    for name in announced.split(',').map(str::trim) {
        let Some((n, b64_len)) = TRAILER_CHECKSUMS.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        match *n {
            "x-amz-checksum-crc32" => hasher.crc32 = Some(Default::default()),
            "x-amz-checksum-crc32c" => hasher.crc32c = Some(Default::default()),
            "x-amz-checksum-sha1" => hasher.sha1 = Some(Default::default()),
            "x-amz-checksum-sha256" => hasher.sha256 = Some(Default::default()),
            _ => hasher.crc64nvme = Some(Default::default()),
        }
        names.push(*n);
        trailer_len += (n.len() + 1 + b64_len + 2) as u64;
    }
    (hasher, names, trailer_len)
}

fn fail(msg: &str) -> std::io::Error {
    std::io::Error::other(msg.to_owned())
}

/// The re-framing stream's state.
struct Reframer {
    body: Body,
    hasher: Option<s3s::checksum::ChecksumHasher>,
    trailers: s3s::TrailingHeaders,
    names: Vec<&'static str>,
    /// Decoded bytes not yet sent.
    left: u64,
    /// Bytes left in the chunk being sent.
    in_chunk: u64,
    /// Frames ready to go out.
    queue: std::collections::VecDeque<Bytes>,
    done: bool,
}

impl Reframer {
    /// The next frame, and the state after it.
    async fn next(mut self) -> Option<(std::io::Result<Bytes>, Self)> {
        loop {
            if let Some(b) = self.queue.pop_front() {
                return Some((Ok(b), self));
            }
            if self.done {
                return None;
            }
            if self.left == 0 {
                let end = self.trailer().await;
                self.done = true;
                return Some((end, self));
            }
            let mut chunk = match self.body.next().await {
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    self.done = true;
                    return Some((Err(std::io::Error::other(e.to_string())), self));
                }
                None => {
                    self.done = true;
                    return Some((Err(fail("the body ended before its decoded length")), self));
                }
            };
            if chunk.len() as u64 > self.left {
                self.done = true;
                return Some((
                    Err(fail("the body is longer than its decoded length")),
                    self,
                ));
            }
            if let Some(h) = self.hasher.as_mut() {
                h.update(&chunk);
            }
            while !chunk.is_empty() {
                self.frame(&mut chunk);
            }
        }
    }

    /// Queues the head of `chunk`, up to the end of the current aws-chunked chunk.
    fn frame(&mut self, chunk: &mut Bytes) {
        if self.in_chunk == 0 {
            self.in_chunk = self.left.min(REFRAME_CHUNK);
            self.queue
                .push_back(Bytes::from(format!("{:x}\r\n", self.in_chunk)));
        }
        let take = usize::try_from(self.in_chunk)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        self.queue.push_back(chunk.split_to(take));
        self.in_chunk -= take as u64;
        self.left -= take as u64;
        if self.in_chunk == 0 {
            self.queue.push_back(Bytes::from_static(b"\r\n"));
        }
    }

    /// The last chunk and the trailer, once the client's own stream has ended (which parses
    /// its trailer) and its checksums match what passed.
    async fn trailer(&mut self) -> std::io::Result<Bytes> {
        while let Some(item) = self.body.next().await {
            if item.is_err() {
                return Err(fail("the client's body failed"));
            }
        }
        let Some(hasher) = self.hasher.take() else {
            return Err(fail("the trailer was already sent"));
        };
        let computed = crate::backend::embedded::checksums_of(hasher.finalize());
        if !trailer_matches_computed(&self.trailers, &computed) {
            return Err(fail(TRAILER_MISMATCH));
        }
        let mut end = String::from("0\r\n");
        for name in &self.names {
            let value = match *name {
                "x-amz-checksum-crc32" => computed.crc32.clone(),
                "x-amz-checksum-crc32c" => computed.crc32c.clone(),
                "x-amz-checksum-sha1" => computed.sha1.clone(),
                "x-amz-checksum-sha256" => computed.sha256.clone(),
                _ => computed.crc64nvme.clone(),
            };
            end.push_str(&format!("{name}:{}\r\n", value.unwrap_or_default()));
        }
        end.push_str("\r\n");
        Ok(Bytes::from(end))
    }
}

/// Whether every checksum the client's trailer carries equals the computed one (no trailer:
/// true; an algorithm that was not announced in `x-amz-trailer` was not computed).
fn trailer_matches_computed(
    trailers: &s3s::TrailingHeaders,
    computed: &crate::meta::Checksums,
) -> bool {
    trailers
        .read(|t| {
            let want = |n: &str| t.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
            [
                (want("x-amz-checksum-crc32"), &computed.crc32),
                (want("x-amz-checksum-crc32c"), &computed.crc32c),
                (want("x-amz-checksum-sha1"), &computed.sha1),
                (want("x-amz-checksum-sha256"), &computed.sha256),
                (want("x-amz-checksum-crc64nvme"), &computed.crc64nvme),
            ]
            .iter()
            .all(|(want, got)| match (want, got) {
                (Some(w), Some(g)) => w == g,
                _ => true,
            })
        })
        .unwrap_or(true)
}
