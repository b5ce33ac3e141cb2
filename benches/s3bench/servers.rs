//! The processes under test: bucketgate, the raw loopback+fsync baseline server (this bench
//! binary re-executed in another role), and nginx; plus the probes that read their memory and
//! the disk's single-writer fsync rate.

use std::convert::Infallible;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;

/// Env var that turns this binary into the baseline server (value: its data root).
pub const BASELINE_ROLE_ENV: &str = "S3BENCH_BASELINE_ROOT";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Files up to this size are read in one go by the baseline GET path.
const SMALL_FILE: usize = 256 << 10;
/// Read (and send) size of the baseline GET path for larger files.
const READ_CHUNK: usize = 1 << 20;

// ---------------------------------------------------------------- baseline (a) server

type RespBody = UnsyncBoxBody<Bytes, std::io::Error>;

fn respond(status: StatusCode, body: RespBody, len: Option<u64>) -> Response<RespBody> {
    let mut b = Response::builder().status(status);
    if let Some(len) = len {
        b = b.header(http::header::CONTENT_LENGTH, len);
    }
    b.body(body).expect("static response parts are valid")
}

fn empty() -> RespBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn error(status: StatusCode, msg: String) -> Response<RespBody> {
    let len = msg.len() as u64;
    respond(
        status,
        Full::new(Bytes::from(msg))
            .map_err(|never| match never {})
            .boxed_unsync(),
        Some(len),
    )
}

/// Maps `/bucket/key` to a file under `root`, refusing anything that could leave it.
fn file_for(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = path.trim_start_matches('/');
    let ok = !rel.is_empty()
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    ok.then(|| root.join(rel))
}

/// PUT: stream the body to a new file on a blocking thread (bounded channel), fsync, answer.
async fn put_file(path: PathBuf, mut body: Incoming) -> Response<RespBody> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut f = File::create(&path)?;
        while let Some(chunk) = rx.blocking_recv() {
            f.write_all(&chunk)?;
        }
        f.sync_all()
    });
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data()
                    && tx.send(data).await.is_err()
                {
                    break; // the writer failed; its error is reported below
                }
            }
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
        }
    }
    drop(tx);
    match writer.await {
        Ok(Ok(())) => respond(StatusCode::OK, empty(), Some(0)),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("write: {e}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("writer: {e}")),
    }
}

enum Opened {
    Small(Bytes),
    Large(File, u64),
}

/// Reads up to `want` bytes (fewer only at end of file) without zero-filling the buffer first.
fn read_chunk(f: &mut File, want: usize) -> std::io::Result<Bytes> {
    let mut buf = Vec::with_capacity(want);
    Read::by_ref(f).take(want as u64).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}

/// GET: small files are read whole in one blocking call; large ones are streamed from a
/// blocking thread through a channel of two chunks.
async fn get_file(path: PathBuf) -> Response<RespBody> {
    let opened = tokio::task::spawn_blocking(move || -> std::io::Result<Opened> {
        let mut f = File::open(&path)?;
        let len = f.metadata()?.len();
        if len <= SMALL_FILE as u64 {
            Ok(Opened::Small(read_chunk(&mut f, len as usize)?))
        } else {
            Ok(Opened::Large(f, len))
        }
    })
    .await;
    match opened {
        Ok(Ok(Opened::Small(data))) => {
            let len = data.len() as u64;
            respond(
                StatusCode::OK,
                Full::new(data)
                    .map_err(|never| match never {})
                    .boxed_unsync(),
                Some(len),
            )
        }
        Ok(Ok(Opened::Large(mut f, len))) => {
            let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
            tokio::task::spawn_blocking(move || {
                loop {
                    let chunk = read_chunk(&mut f, READ_CHUNK);
                    let last = !matches!(&chunk, Ok(c) if !c.is_empty());
                    if tx.blocking_send(chunk).is_err() || last {
                        break;
                    }
                }
            });
            let stream = futures::stream::unfold(rx, |mut rx| async move {
                match rx.recv().await {
                    Some(Ok(c)) if c.is_empty() => None,
                    Some(r) => Some((r.map(Frame::data), rx)),
                    None => None,
                }
            });
            respond(
                StatusCode::OK,
                StreamBody::new(stream).boxed_unsync(),
                Some(len),
            )
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            error(StatusCode::NOT_FOUND, "no such file".into())
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("read: {e}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("reader: {e}")),
    }
}

async fn handle(
    root: Arc<PathBuf>,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, Infallible> {
    let Some(path) = file_for(&root, req.uri().path()) else {
        return Ok(error(StatusCode::BAD_REQUEST, "bad path".into()));
    };
    Ok(match *req.method() {
        Method::PUT => put_file(path, req.into_body()).await,
        Method::GET => get_file(path).await,
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "PUT and GET only".into()),
    })
}

/// Entry point of the baseline role: serve `root` over plain HTTP/1.1 on a free loopback port,
/// announce it on stdout, run until killed.
pub fn baseline_server_main(root: PathBuf) -> ! {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind baseline");
        let addr = listener.local_addr().expect("local addr");
        println!("baseline ready http://{addr}");
        std::io::stdout().flush().expect("stdout");
        let root = Arc::new(root);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let root = root.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(root.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

// ---------------------------------------------------------------- child processes

/// A server process the bench started; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Returns how the stop went.
    pub fn stop(&mut self, grace: Duration) -> String {
        if let Ok(Some(st)) = self.child.try_wait() {
            return format!("{} had already exited ({st})", self.name);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < grace {
            if let Ok(Some(st)) = self.child.try_wait() {
                return format!(
                    "{} stopped on SIGTERM in {:.2}s ({st})",
                    self.name,
                    t0.elapsed().as_secs_f64()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        format!(
            "{} did not stop within {grace:?} of SIGTERM: killed",
            self.name
        )
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop(Duration::from_secs(5));
        }
    }
}

/// Spawns `cmd` (stderr to `log`), waits for a stdout line starting with `ready_prefix` and
/// returns it; stdout keeps being drained afterwards so the child never blocks on it.
fn spawn_and_wait(
    name: &'static str,
    mut cmd: Command,
    log: PathBuf,
    ready_prefix: &'static str,
) -> Result<(Proc, String), String> {
    let stderr = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("spawn {name}: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with(ready_prefix)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(line);
            }
        }
    });
    let proc = Proc { name, child, log };
    let t0 = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => return Ok((proc, line)),
            Err(mpsc::RecvTimeoutError::Timeout) if t0.elapsed() < READY_TIMEOUT => {}
            Err(_) => {
                let mut proc = proc;
                let how = match proc.child.try_wait() {
                    Ok(Some(st)) => format!("exited ({st})"),
                    _ => format!("printed no ready line within {READY_TIMEOUT:?}"),
                };
                let tail = proc.log_tail();
                proc.stop(Duration::from_secs(2));
                return Err(format!("{name} {how}; stderr tail:\n{tail}"));
            }
        }
    }
}

fn addr_of(url: &str) -> Result<SocketAddr, String> {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .map_err(|e| format!("bad address in {url}: {e}"))
}

pub struct Bucketgate {
    pub proc: Proc,
    pub s3_url: String,
    pub s3: SocketAddr,
    /// The admin listener (`/api`, `/health`), `http://ip:port`.
    pub admin_url: String,
}

/// Starts `bucketgate serve` on free loopback ports with a fresh data dir, and the
/// configuration file `config` when given.
pub fn start_bucketgate(
    data_dir: &Path,
    log: PathBuf,
    access_key: &str,
    secret_key: &str,
    config: Option<&Path>,
) -> Result<Bucketgate, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bucketgate"));
    cmd.arg("serve");
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .env("BUCKETGATE_ROOT_ACCESS_KEY", access_key)
        .env("BUCKETGATE_ROOT_SECRET_KEY", secret_key)
        .env_remove("AWS_CA_BUNDLE");
    // The server runs with its default log level unless the bench is told otherwise.
    match std::env::var("S3BENCH_SERVER_RUST_LOG") {
        Ok(v) => cmd.env("RUST_LOG", v),
        Err(_) => cmd.env_remove("RUST_LOG"),
    };
    let (proc, line) = spawn_and_wait("bucketgate", cmd, log, "bucketgate ready")?;
    let url = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(|u| u.trim_end_matches('/').to_string())
            .ok_or_else(|| format!("no {key} in ready line {line:?}"))
    };
    let s3_url = url("s3=")?;
    let admin_url = url("admin=")?;
    let s3 = addr_of(&s3_url)?;
    Ok(Bucketgate {
        proc,
        s3_url,
        s3,
        admin_url,
    })
}

/// Starts this binary as the baseline (a) server over `root`.
pub fn start_baseline(root: &Path, log: PathBuf) -> Result<(Proc, SocketAddr), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.env(BASELINE_ROLE_ENV, root);
    let (proc, line) = spawn_and_wait("baseline", cmd, log, "baseline ready")?;
    let url = line.trim_start_matches("baseline ready").trim();
    Ok((proc, addr_of(url)?))
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Finds nginx, or says why it cannot be used.
pub fn nginx_binary() -> Result<PathBuf, String> {
    let candidates = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| "nginx is not installed (apt-get install -y nginx)".to_string())
}

pub fn nginx_version(bin: &Path) -> String {
    Command::new(bin)
        .arg("-v")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .trim()
                .trim_start_matches("nginx version: ")
                .to_string()
        })
        .unwrap_or_default()
}

/// Starts nginx in the foreground under our control, serving `root` as static files, with
/// `workers` worker processes, and waits until it accepts connections.
pub fn start_nginx(
    bin: &Path,
    dir: &Path,
    root: &Path,
    workers: usize,
) -> Result<(Proc, SocketAddr), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let d = dir.display();
    let user = if is_root() { "user root;\n" } else { "" };
    let conf = format!(
        "{user}worker_processes {workers};\ndaemon off;\nmaster_process on;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  tcp_nodelay on;\n\
           keepalive_timeout 75s;\n  keepalive_requests 1000000;\n  default_type application/octet-stream;\n\
           client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
           uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           server {{\n    listen 127.0.0.1:{port};\n    root {root};\n    location / {{ }}\n  }}\n}}\n",
        root = root.display()
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
    let log = dir.join("stderr.log");
    let stderr = File::create(&log).map_err(|e| e.to_string())?;
    let child = Command::new(bin)
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("spawn nginx: {e}"))?;
    let mut proc = Proc {
        name: "nginx",
        child,
        log,
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(st)) = proc.child.try_wait() {
            let err = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            return Err(format!("nginx exited ({st}): {}{err}", proc.log_tail()));
        }
        if TcpStream::connect(addr).is_ok() {
            return Ok((proc, addr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    proc.stop(Duration::from_secs(2));
    Err("nginx did not listen within 10s".into())
}

// ---------------------------------------------------------------- probes

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the kernel's peak-RSS mark (VmHWM) of `pid`; false where the kernel refuses.
pub fn reset_hwm(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

pub fn hwm_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// Samples VmRSS of a process every 50 ms until stopped; keeps the maximum.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicU64::new(0));
        let (s, m) = (stop.clone(), max.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = status_kib(pid, "VmRSS:") {
                    m.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Self {
            stop,
            max,
            thread: Some(thread),
        }
    }

    /// Stops sampling; returns the largest VmRSS seen, in KiB.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.max.load(Ordering::Relaxed)
    }
}

/// CPU time (user + system) the process `pid` has used so far, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state);
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second of `/proc/PID/stat` times.
pub fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// One writer creating new files in `dir`: create, write 4 KiB, fsync, close, for `dur`.
/// Returns files per second: the disk's serial durable-write rate.
pub fn fsync_rate(dir: &Path, dur: Duration) -> std::io::Result<(f64, u64)> {
    std::fs::create_dir_all(dir)?;
    let block = [0x5au8; 4096];
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < dur {
        let mut f = File::create(dir.join(format!("f{n:07}")))?;
        f.write_all(&block)?;
        f.sync_all()?;
        n += 1;
    }
    Ok((n as f64 / t0.elapsed().as_secs_f64(), n))
}
