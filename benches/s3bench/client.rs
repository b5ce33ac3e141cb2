//! The load generator: one keep-alive HTTP/1.1 connection per worker, requests prepared up
//! front (presigned for bucketgate, plain paths for the baselines), bodies generated on the fly
//! and received bodies counted, length-checked and sampled for content.

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

/// Random bytes repeated to form object bodies; random so that no layer can compress them.
#[derive(Clone)]
pub struct Pattern(Bytes);

impl Pattern {
    pub fn new() -> Self {
        let mut buf = vec![0u8; PATTERN_LEN];
        rand::thread_rng().fill_bytes(&mut buf);
        Self(Bytes::from(buf))
    }

    /// Whether `data`, found at byte `offset` of an object, is what the generator wrote there.
    fn matches(&self, mut offset: u64, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            let start = (offset % PATTERN_LEN as u64) as usize;
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

/// A request body of `len` bytes streamed from the pattern, never held in memory as a whole.
pub struct GenBody {
    pattern: Bytes,
    sent: u64,
    len: u64,
}

impl GenBody {
    pub fn new(pattern: &Pattern, len: u64) -> Self {
        Self {
            pattern: pattern.0.clone(),
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
        let start = (this.sent % PATTERN_LEN as u64) as usize;
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
}

impl Req {
    /// A plain request for the baselines: `/{bucket}/{key}` on `addr`.
    pub fn plain(addr: SocketAddr, bucket: &str, key: &str) -> Self {
        Self {
            path_and_query: format!("/{bucket}/{key}"),
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
    /// Every `verify_every`-th GET has its content compared with the pattern (all have their length checked).
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
    let body = GenBody::new(pattern, if is_put { spec.size } else { 0 });
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
                content_ok = pattern.matches(got, &data);
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
        let verify = spec.verify_every > 0 && i.is_multiple_of(spec.verify_every);
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
    let shared = Arc::new(Shared {
        spec,
        pattern: pattern.clone(),
        next: AtomicUsize::new(0),
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
