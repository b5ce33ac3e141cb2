//! The load generator: one keep-alive HTTP/1.1 connection per worker, requests prepared up
//! front (presigned for bucketgate, plain paths for the baselines), bodies generated on the fly
//! and received bodies counted, length-checked and sampled for content.
//!
//! Every object's content is its own: an 8-byte header holding a seed hashed from the object's
//! path, then the shared random pattern read from an offset that seed picks. Generating it is
//! still zero-copy (slices of the pattern), and a server that answers with another object's
//! bytes fails the content check.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, HeaderName, HeaderValue};
use http::{Method, Request};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rand::RngCore;
use tokio::net::TcpStream;

/// Length of the repeating byte pattern every PUT body is made of (and every GET body is checked against).
const PATTERN_LEN: usize = 1 << 20;
/// Size of one body frame sent by the client; a typical SDK/CLI write size.
const CHUNK: usize = 256 << 10;
/// A cell gives up after this many failed requests: numbers from a failing server mean nothing.
const MAX_ERRORS: usize = 5;

/// Bytes of the per-object header (the object's seed, little-endian).
const HEADER: u64 = 8;

/// Random bytes repeated to form object bodies; random so that no layer can compress them.
#[derive(Clone)]
pub struct Pattern(Bytes);

/// The seed of the object at `path` (`/bucket/key`, as sent): FNV-1a, then a SplitMix64
/// finaliser so that similar keys get unrelated seeds.
pub fn seed_of(path: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl Pattern {
    pub fn new() -> Self {
        let mut buf = vec![0u8; PATTERN_LEN];
        rand::thread_rng().fill_bytes(&mut buf);
        Self(Bytes::from(buf))
    }

    /// Where in the pattern the bytes after the header of the object with `seed` start.
    fn start(seed: u64) -> u64 {
        seed % PATTERN_LEN as u64
    }

    /// Whether `data`, found at byte `offset` of the object with `seed`, is what the generator
    /// wrote there.
    fn matches(&self, seed: u64, mut offset: u64, mut data: &[u8]) -> bool {
        let header = seed.to_le_bytes();
        while !data.is_empty() && offset < HEADER {
            if data[0] != header[offset as usize] {
                return false;
            }
            data = &data[1..];
            offset += 1;
        }
        while !data.is_empty() {
            let start = ((Self::start(seed) + offset) % PATTERN_LEN as u64) as usize;
            let n = data.len().min(PATTERN_LEN - start);
            if data[..n] != self.0[start..start + n] {
                return false;
            }
            data = &data[n..];
            offset += n as u64;
        }
        true
    }
}

/// A request body of `len` bytes: the object's header, then the pattern from the object's
/// offset, streamed and never held in memory as a whole.
pub struct GenBody {
    pattern: Bytes,
    seed: u64,
    sent: u64,
    len: u64,
}

impl GenBody {
    pub fn new(pattern: &Pattern, seed: u64, len: u64) -> Self {
        Self {
            pattern: pattern.0.clone(),
            seed,
            sent: 0,
            len,
        }
    }
}

impl Body for GenBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.sent >= this.len {
            return Poll::Ready(None);
        }
        if this.sent < HEADER {
            let end = HEADER.min(this.len);
            let header = this.seed.to_le_bytes();
            let frame = Bytes::copy_from_slice(&header[this.sent as usize..end as usize]);
            this.sent = end;
            return Poll::Ready(Some(Ok(Frame::data(frame))));
        }
        let start = ((Pattern::start(this.seed) + this.sent) % PATTERN_LEN as u64) as usize;
        let left = (this.len - this.sent).min(CHUNK as u64) as usize;
        let n = left.min(PATTERN_LEN - start);
        this.sent += n as u64;
        Poll::Ready(Some(Ok(Frame::data(this.pattern.slice(start..start + n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.len
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len - self.sent)
    }
}

/// One prepared request: everything but the body.
pub struct Req {
    pub path_and_query: String,
    pub host: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The object's seed ([`seed_of`] its path): what its body is made of.
    pub seed: u64,
}

impl Req {
    /// A plain request for the baselines: `/{bucket}/{key}` on `addr`.
    pub fn plain(addr: SocketAddr, bucket: &str, key: &str) -> Self {
        let path = format!("/{bucket}/{key}");
        Self {
            seed: seed_of(&path),
            path_and_query: path,
            host: addr.to_string(),
            headers: Vec::new(),
        }
    }

    /// A request from a presigned URL (`http://host:port/path?query`) plus the headers it requires.
    pub fn presigned<'a>(
        url: &str,
        headers: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("bad presigned url {url}: {e}"))?;
        let host = uri
            .authority()
            .ok_or_else(|| format!("no host in {url}"))?
            .to_string();
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let headers = headers
            .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
            .map(|(k, v)| {
                Ok((
                    HeaderName::try_from(k).map_err(|e| e.to_string())?,
                    HeaderValue::try_from(v).map_err(|e| e.to_string())?,
                ))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            seed: seed_of(uri.path()),
            path_and_query,
            host,
            headers,
        })
    }
}

/// What one cell runs: `n_ops` requests over `conc` connections, stopping early at `time_cap`.
pub struct CellSpec {
    pub method: Method,
    pub size: u64,
    pub conc: usize,
    /// Request `i` uses `reqs[i % reqs.len()]`.
    pub reqs: Arc<Vec<Req>>,
    pub n_ops: usize,
    pub time_cap: Duration,
    /// Every `verify_every`-th GET has its content compared with what was PUT under its key
    /// (all have their length checked); which ones rotates from cell to cell.
    pub verify_every: usize,
}

#[derive(Default)]
pub struct CellResult {
    pub ops: usize,
    pub elapsed: Duration,
    pub size: u64,
    pub latencies: Vec<Duration>,
    /// Time from sending each request to its response head (the first byte of the answer).
    pub first_bytes: Vec<Duration>,
    /// Indices of the requests that succeeded (for PUT: which keys now exist).
    pub done: Vec<usize>,
    pub errors: usize,
    pub first_error: Option<String>,
    /// Connections the server closed under us (keep-alive not honoured).
    pub reconnects: usize,
    pub capped: bool,
    /// CPU time the server process used during the cell, where it could be read.
    pub server_cpu: Option<Duration>,
}

impl CellResult {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn mib_per_sec(&self) -> f64 {
        self.ops_per_sec() * self.size as f64 / (1024.0 * 1024.0)
    }

    /// The `q`-quantile (0..=1) of request latency.
    pub fn latency(&self, q: f64) -> Option<Duration> {
        if self.latencies.is_empty() {
            return None;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        Some(self.latencies[i])
    }

    /// Adds another run of the same cell: ops, wall time and server CPU add up, latencies
    /// merge, so the rates stay totals over totals.
    pub fn absorb(&mut self, other: CellResult) {
        self.ops += other.ops;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.latencies.sort_unstable();
        self.first_bytes.extend(other.first_bytes);
        self.first_bytes.sort_unstable();
        self.done.extend(other.done);
        self.done.sort_unstable();
        self.done.dedup();
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.reconnects += other.reconnects;
        self.capped |= other.capped;
        self.server_cpu = match (self.server_cpu, other.server_cpu) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
}

struct Conn {
    sender: SendRequest<GenBody>,
}

async fn connect(addr: SocketAddr) -> Result<Conn, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake {addr}: {e}"))?;
    tokio::spawn(async move {
        // An error here shows up as a failed send on the worker side.
        let _ = conn.await;
    });
    Ok(Conn { sender })
}

/// Sends one request and drains the answer; returns when its response head arrived, counted
/// from `started`. `Err` on transport errors, non-2xx, or a body that is not the expected
/// object.
async fn one_request(
    conn: &mut Conn,
    req: &Req,
    spec: &CellSpec,
    pattern: &Pattern,
    verify: bool,
    started: Instant,
) -> Result<Duration, String> {
    let is_put = spec.method == Method::PUT;
    let body = GenBody::new(pattern, req.seed, if is_put { spec.size } else { 0 });
    let mut builder = Request::builder()
        .method(spec.method.clone())
        .uri(req.path_and_query.as_str())
        .header(HOST, req.host.as_str());
    if is_put {
        builder = builder.header(CONTENT_LENGTH, spec.size);
    }
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    let request = builder.body(body).map_err(|e| e.to_string())?;
    conn.sender
        .ready()
        .await
        .map_err(|e| format!("connection not ready: {e}"))?;
    let resp = conn
        .sender
        .send_request(request)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let first_byte = started.elapsed();
    let status = resp.status();
    let mut body = resp.into_body();
    let mut got = 0u64;
    let mut content_ok = true;
    let mut error_text = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("body after {got} bytes: {e}"))?;
        if let Ok(data) = frame.into_data() {
            if !status.is_success() && error_text.len() < 400 {
                error_text.extend_from_slice(&data[..data.len().min(400)]);
            } else if verify && content_ok {
                content_ok = pattern.matches(req.seed, got, &data);
            }
            got += data.len() as u64;
        }
    }
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&error_text)
        ));
    }
    if !is_put && got != spec.size {
        return Err(format!("GET body has {got} bytes, expected {}", spec.size));
    }
    if !content_ok {
        return Err("GET body content differs from what was PUT".into());
    }
    Ok(first_byte)
}

struct Shared {
    spec: CellSpec,
    pattern: Pattern,
    next: AtomicUsize,
    /// Requests `i` with `(i + verify_phase) % verify_every == 0` are content-checked: a
    /// random phase per cell, so every key gets checked over a run, not always the same ones.
    verify_phase: usize,
    stop: AtomicBool,
    errors: AtomicUsize,
}

struct WorkerOut {
    latencies: Vec<Duration>,
    first_bytes: Vec<Duration>,
    done: Vec<usize>,
    errors: Vec<String>,
    reconnects: usize,
    capped: bool,
}

async fn worker(
    addr: SocketAddr,
    shared: Arc<Shared>,
    start: Arc<tokio::sync::Barrier>,
    t0: Arc<std::sync::OnceLock<Instant>>,
) -> WorkerOut {
    let mut out = WorkerOut {
        latencies: Vec::new(),
        first_bytes: Vec::new(),
        done: Vec::new(),
        errors: Vec::new(),
        reconnects: 0,
        capped: false,
    };
    let mut conn = connect(addr).await;
    start.wait().await;
    let t0 = *t0.get_or_init(Instant::now);
    let spec = &shared.spec;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        if t0.elapsed() >= spec.time_cap {
            out.capped = true;
            break;
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= spec.n_ops {
            break;
        }
        let c = match &mut conn {
            Ok(c) if !c.sender.is_closed() => c,
            _ => {
                out.reconnects += usize::from(conn.is_ok());
                conn = connect(addr).await;
                match &mut conn {
                    Ok(c) => c,
                    Err(e) => {
                        out.errors.push(e.clone());
                        if shared.errors.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_ERRORS {
                            shared.stop.store(true, Ordering::Relaxed);
                        }
                        continue;
                    }
                }
            }
        };
        let req = &spec.reqs[i % spec.reqs.len()];
        let verify =
            spec.verify_every > 0 && (i + shared.verify_phase).is_multiple_of(spec.verify_every);
        let started = Instant::now();
        match one_request(c, req, spec, &shared.pattern, verify, started).await {
            Ok(first_byte) => {
                out.latencies.push(started.elapsed());
                out.first_bytes.push(first_byte);
                out.done.push(i);
            }
            Err(e) => {
                out.errors
                    .push(format!("{} {}: {e}", spec.method, req.path_and_query));
                if shared.errors.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_ERRORS {
                    shared.stop.store(true, Ordering::Relaxed);
                }
                // The connection state is unknown after an error: start afresh.
                conn = Err(String::new());
            }
        }
    }
    out
}

/// Runs one cell against `addr` and returns what it measured. Connections are opened before
/// the clock starts; the clock stops when the last worker is done.
pub async fn run_cell(addr: SocketAddr, spec: CellSpec, pattern: &Pattern) -> CellResult {
    let workers = spec.conc.min(spec.n_ops).max(1);
    let size = spec.size;
    let verify_phase = if spec.verify_every > 0 {
        rand::random::<u32>() as usize % spec.verify_every
    } else {
        0
    };
    let shared = Arc::new(Shared {
        spec,
        pattern: pattern.clone(),
        next: AtomicUsize::new(0),
        verify_phase,
        stop: AtomicBool::new(false),
        errors: AtomicUsize::new(0),
    });
    let start = Arc::new(tokio::sync::Barrier::new(workers));
    let t0 = Arc::new(std::sync::OnceLock::new());
    let handles: Vec<_> = (0..workers)
        .map(|_| tokio::spawn(worker(addr, shared.clone(), start.clone(), t0.clone())))
        .collect();
    let mut result = CellResult {
        size,
        ..Default::default()
    };
    for h in handles {
        match h.await {
            Ok(out) => {
                result.latencies.extend(out.latencies);
                result.first_bytes.extend(out.first_bytes);
                result.done.extend(out.done);
                result.errors += out.errors.len();
                if result.first_error.is_none() {
                    result.first_error = out.errors.into_iter().next();
                }
                result.reconnects += out.reconnects;
                result.capped |= out.capped;
            }
            Err(e) => {
                result.errors += 1;
                result
                    .first_error
                    .get_or_insert_with(|| format!("worker panicked: {e}"));
            }
        }
    }
    result.elapsed = t0.get().map(|t| t.elapsed()).unwrap_or_default();
    result.ops = result.done.len();
    result.latencies.sort_unstable();
    result.first_bytes.sort_unstable();
    result.done.sort_unstable();
    result
}
