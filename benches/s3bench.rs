//! `cargo bench --bench s3bench`: bucketgate against the physical limits of this machine.
//!
//! Every number is measured in the same run as its baseline and only ratios are judged:
//! (a) a raw HTTP/1.1 server that streams bodies to fsync'd files and back (this binary,
//! re-executed in the baseline role), (b) nginx serving the same small files, and the disk's
//! single-writer fsync rate. See `benches/README.md`.
//!
//! `S3BENCH_MODE=container` runs the other mode instead ([`container`]): a container bucket
//! through bucketgate against the same container's S3 port directly.

#[path = "s3bench/client.rs"]
mod client;
#[path = "s3bench/container.rs"]
mod container;
#[path = "s3bench/container_env.rs"]
mod container_env;
#[path = "s3bench/container_report.rs"]
mod container_report;
#[path = "s3bench/report.rs"]
mod report;
#[path = "s3bench/servers.rs"]
mod servers;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::presigning::PresigningConfig;
use http::Method;

use client::{CellResult, CellSpec, Pattern, Req};
use report::{GetVsNginx, MemRow, Outcome, Report, Row, Stat};

const BUCKET: &str = "bench";
const MIB: u64 = 1 << 20;
const ACCESS_KEY: &str = "s3benchroot";
const SECRET_KEY: &str = "s3bench-secret-key-0123456789abcdef";
pub const CONCS: [usize; 2] = [1, 16];
/// Time cap of the single large-object transfers of the memory phase.
const BIG_TIME_CAP: Duration = Duration::from_secs(600);

/// Operation counts of one object size: PUT and GET, each at concurrency 1 and 16.
pub struct SizePlan {
    pub label: &'static str,
    pub size: u64,
    pub put: [usize; 2],
    pub get: [usize; 2],
}

pub struct Plan {
    pub quick: bool,
    pub time_cap: Duration,
    pub sizes: Vec<SizePlan>,
    pub big: u64,
    pub fsync_probe: Duration,
    pub nginx_workers: usize,
    pub baselines_only: bool,
    pub work_dir: Option<PathBuf>,
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

impl Plan {
    fn from_env() -> Self {
        let quick = env_flag("S3BENCH_QUICK");
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let sp = |label, size, put, get| SizePlan {
            label,
            size,
            put,
            get,
        };
        let sizes = if quick {
            vec![
                sp("4 KiB", 4 << 10, [20, 64], [40, 128]),
                sp("1 MiB", MIB, [4, 16], [8, 32]),
                sp("64 MiB", 64 * MIB, [1, 2], [1, 4]),
            ]
        } else {
            vec![
                sp("4 KiB", 4 << 10, [2000, 8000], [20000, 60000]),
                sp("1 MiB", MIB, [200, 640], [1000, 3000]),
                sp("64 MiB", 64 * MIB, [16, 16], [16, 64]),
            ]
        };
        let secs = std::env::var("S3BENCH_CELL_SECS")
            .ok()
            .and_then(|s| s.parse().ok());
        Self {
            quick,
            time_cap: Duration::from_secs_f64(secs.unwrap_or(if quick { 5.0 } else { 10.0 })),
            sizes,
            big: if quick { 64 * MIB } else { 1024 * MIB },
            fsync_probe: Duration::from_millis(if quick { 300 } else { 2000 }),
            nginx_workers: std::env::var("S3BENCH_NGINX_WORKERS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(cores),
            baselines_only: env_flag("S3BENCH_BASELINES_ONLY"),
            work_dir: std::env::var_os("S3BENCH_DIR").map(PathBuf::from),
        }
    }
}

/// How requests for one server are made: presigned S3 URLs or plain paths.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    presigner: Option<aws_sdk_s3::Client>,
    pid: u32,
}

impl Target {
    /// Prepares one request per key; presigning happens here, before any clock runs.
    async fn reqs(&self, method: &Method, keys: &[String]) -> Result<Vec<Req>, String> {
        let Some(client) = &self.presigner else {
            return Ok(keys
                .iter()
                .map(|k| Req::plain(self.addr, BUCKET, k))
                .collect());
        };
        let cfg = PresigningConfig::expires_in(Duration::from_secs(4 * 3600))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let err = |e: &dyn std::fmt::Display| format!("presign {method} {key}: {e}");
            let p = if *method == Method::PUT {
                let op = client.put_object().bucket(BUCKET).key(key);
                op.presigned(cfg.clone()).await.map_err(|e| err(&e))?
            } else {
                let op = client.get_object().bucket(BUCKET).key(key);
                op.presigned(cfg.clone()).await.map_err(|e| err(&e))?
            };
            out.push(Req::presigned(p.uri(), p.headers())?);
        }
        Ok(out)
    }
}

fn s3_client(url: &str) -> aws_sdk_s3::Client {
    s3_client_as(url, ACCESS_KEY, SECRET_KEY)
}

/// An S3 client (and presigner) of `url` signing with the given credentials.
fn s3_client_as(url: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new(
            access_key, secret_key, None, None, "s3bench",
        ))
        .force_path_style(true)
        // Presigned PUTs carry UNSIGNED-PAYLOAD and no checksum: the body is streamed as is.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// The shape of one cell.
struct Shape {
    method: Method,
    size: u64,
    conc: usize,
    n_ops: usize,
}

/// What every cell shares: the body pattern and the time cap.
struct Bench {
    pattern: Pattern,
    time_cap: Duration,
    /// Clock ticks per second of `/proc/PID/stat`.
    clk_tck: f64,
}

impl Bench {
    /// Runs one cell: prepares the requests, runs them, reports progress on stderr.
    async fn cell(
        &self,
        t: &Target,
        shape: Shape,
        keys: &[String],
        time_cap: Duration,
    ) -> Result<CellResult, String> {
        let Shape {
            method,
            size,
            conc,
            n_ops,
        } = shape;
        let prep = Instant::now();
        let reqs = t.reqs(&method, keys).await?;
        let prep = prep.elapsed();
        let spec = CellSpec {
            method: method.clone(),
            size,
            conc,
            reqs: Arc::new(reqs),
            n_ops,
            time_cap,
            verify_every: 8,
        };
        let cpu_before = servers::cpu_ticks(t.pid).filter(|_| t.pid != 0);
        let mut r = client::run_cell(t.addr, spec, &self.pattern).await;
        if let (Some(before), Some(after)) = (cpu_before, servers::cpu_ticks(t.pid)) {
            let secs = after.saturating_sub(before) as f64 / self.clk_tck;
            r.server_cpu = Some(Duration::from_secs_f64(secs));
        }
        let errors = match (&r.first_error, r.errors) {
            (_, 0) => String::new(),
            (e, n) => format!(" ERRORS {n}: {}", e.as_deref().unwrap_or("")),
        };
        eprintln!(
            "  {:<10} {method:<3} {:>6} c{conc:<2}: {:>6} ops in {:>6.2}s = {:>9.1} ops/s {:>8.1} MiB/s{errors}{} (prep {:.2}s)",
            t.name,
            report::size_label(size),
            r.ops,
            r.elapsed.as_secs_f64(),
            r.ops_per_sec(),
            r.mib_per_sec(),
            if r.capped { " (time cap)" } else { "" },
            prep.as_secs_f64(),
        );
        Ok(r)
    }

    async fn stat(&self, t: &Target, shape: Shape, keys: &[String]) -> Outcome {
        self.cell(t, shape, keys, self.time_cap)
            .await
            .map(|r| Stat::from(&r))
    }

    /// One PUT and one GET of a single `size`-byte object on one connection, measuring the
    /// server's peak RSS during each.
    async fn memory_phase(&self, t: &Target, size: u64) -> MemRow {
        let keys = ["big-object".to_string()];
        let mut phases = Vec::new();
        for method in [Method::PUT, Method::GET] {
            let hwm_reset = servers::reset_hwm(t.pid);
            let sampler = servers::RssSampler::start(t.pid);
            let shape = Shape {
                method,
                size,
                conc: 1,
                n_ops: 1,
            };
            let r = self
                .cell(t, shape, &keys, BIG_TIME_CAP)
                .await
                .map(|r| Stat::from(&r));
            let sampled = sampler.finish();
            let hwm = if hwm_reset {
                servers::hwm_kib(t.pid)
            } else {
                None
            };
            phases.push((r, hwm, sampled));
        }
        let get = phases.pop().expect("two phases");
        let put = phases.pop().expect("two phases");
        MemRow {
            target: t.name,
            size,
            put,
            get,
        }
    }
}

fn keys_for(label: &str, conc: usize, n: usize) -> Vec<String> {
    let label = label.replace(' ', "").to_lowercase();
    (0..n).map(|i| format!("{label}-c{conc}-{i:06}")).collect()
}

async fn create_bucket(url: &str) -> Result<(), String> {
    match s3_client(url).create_bucket().bucket(BUCKET).send().await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "CreateBucket: {}",
            aws_sdk_s3::error::DisplayErrorContext(e)
        )),
    }
}

/// Starts bucketgate with a fresh data dir (and `config`, when given) and creates the bench
/// bucket.
async fn start_bucketgate(
    base: &Path,
    config: Option<&Path>,
) -> Result<servers::Bucketgate, String> {
    let data = base.join("bucketgate");
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let log = base.join("bucketgate.log");
    let bg = servers::start_bucketgate(&data, log, ACCESS_KEY, SECRET_KEY, config)?;
    match create_bucket(&bg.s3_url).await {
        Ok(()) => Ok(bg),
        Err(e) => Err(format!("{e}\nserver log tail:\n{}", bg.proc.log_tail())),
    }
}

/// A fresh temp dir for one run's data dirs and logs, under `dir` when given.
fn temp_base(dir: Option<&Path>) -> Result<tempfile::TempDir, String> {
    let mut b = tempfile::Builder::new();
    b.prefix("s3bench-");
    match dir {
        Some(d) => b.tempdir_in(d),
        None => b.tempdir(),
    }
    .map_err(|e| format!("temp dir: {e}"))
}

/// Single-writer fsync rate in a fresh directory under `base`: (files/s, files).
fn fsync_probe(base: &Path, plan: &Plan, n: usize) -> Result<(f64, u64), String> {
    let dir = base.join(format!("fsync-probe-{n}"));
    let r = servers::fsync_rate(&dir, plan.fsync_probe).map_err(|e| format!("fsync probe: {e}"))?;
    eprintln!(
        "  fsync probe {n}: {:.0} files/s ({} files in {:?})",
        r.0, r.1, plan.fsync_probe
    );
    Ok(r)
}

async fn run(plan: &Plan, report: &mut Report) -> Result<(), String> {
    let base = temp_base(plan.work_dir.as_deref())?;
    let base_path = base.path().to_path_buf();
    report.work_dir = base_path.display().to_string();
    let bench = Bench {
        pattern: Pattern::new(),
        time_cap: plan.time_cap,
        clk_tck: servers::clk_tck(),
    };

    let baseline_root = base_path.join("baseline");
    std::fs::create_dir_all(baseline_root.join(BUCKET)).map_err(|e| e.to_string())?;
    let (mut baseline_proc, baseline_addr) =
        servers::start_baseline(&baseline_root, base_path.join("baseline.log"))?;
    let baseline = Target {
        name: "(a) raw",
        addr: baseline_addr,
        presigner: None,
        pid: baseline_proc.pid(),
    };

    let bucketgate = if plan.baselines_only {
        report.bucketgate = Err("skipped: S3BENCH_BASELINES_ONLY is set".into());
        None
    } else {
        match start_bucketgate(&base_path, None).await {
            Ok(bg) => {
                eprintln!(
                    "s3bench: bucketgate ready at {} (pid {})",
                    bg.s3_url,
                    bg.proc.pid()
                );
                Some(bg)
            }
            Err(e) => {
                eprintln!("s3bench: bucketgate not measured: {e}");
                report.bucketgate = Err(e);
                None
            }
        }
    };
    let bg_target = bucketgate.as_ref().map(|bg| Target {
        name: "bucketgate",
        addr: bg.s3,
        presigner: Some(s3_client(&bg.s3_url)),
        pid: bg.proc.pid(),
    });
    let has_bg = bg_target.is_some();
    let targets: Vec<&Target> = bg_target.iter().chain([&baseline]).collect();

    eprintln!(
        "s3bench: memory phase ({} single object)",
        report::size_label(plan.big)
    );
    for t in &targets {
        report.memory.push(bench.memory_phase(t, plan.big).await);
    }

    let nginx_bin = servers::nginx_binary();
    if let Ok(bin) = &nginx_bin {
        report.nginx_version = servers::nginx_version(bin);
    }
    for sp in &plan.sizes {
        eprintln!("s3bench: {} objects", sp.label);
        // Keys each target holds after the PUT cells; the GET cells read them back.
        let mut written: Vec<Vec<String>> = vec![Vec::new(); targets.len()];
        // The disk's fsync rate drifts with whatever else the machine does: probe it right
        // before and right after the small PUTs it is compared with.
        let probe_fsync = sp.size == 4 << 10;
        if probe_fsync {
            report.fsync.push(fsync_probe(&base_path, plan, 1)?);
        }
        for (ci, &conc) in CONCS.iter().enumerate() {
            let keys = keys_for(sp.label, conc, sp.put[ci]);
            let mut outcomes = Vec::new();
            for (ti, t) in targets.iter().enumerate() {
                let shape = Shape {
                    method: Method::PUT,
                    size: sp.size,
                    conc,
                    n_ops: keys.len(),
                };
                let r = bench.cell(t, shape, &keys, plan.time_cap).await;
                if let Ok(r) = &r {
                    written[ti].extend(r.done.iter().map(|&i| keys[i].clone()));
                }
                outcomes.push(r.map(|r| Stat::from(&r)));
            }
            report
                .rows
                .push(Row::new("PUT", sp.size, conc, outcomes, has_bg));
        }
        if probe_fsync {
            report.fsync.push(fsync_probe(&base_path, plan, 2)?);
        }
        // nginx serves (a)'s files, so it runs only while they exist and only for small objects.
        let nginx = (sp.size <= 4 << 10).then(|| {
            let dir = base_path.join("nginx");
            nginx_bin.clone().and_then(|bin| {
                servers::start_nginx(&bin, &dir, &baseline_root, plan.nginx_workers)
            })
        });
        for (ci, &conc) in CONCS.iter().enumerate() {
            let shape = || Shape {
                method: Method::GET,
                size: sp.size,
                conc,
                n_ops: sp.get[ci],
            };
            let mut outcomes = Vec::new();
            for (ti, t) in targets.iter().enumerate() {
                outcomes.push(if written[ti].is_empty() {
                    Err("nothing was written by the PUT cells".to_string())
                } else {
                    bench.stat(t, shape(), &written[ti]).await
                });
            }
            let row = Row::new("GET", sp.size, conc, outcomes, has_bg);
            if let Some(nginx) = &nginx {
                let ng = match nginx {
                    Ok((_, addr)) => {
                        let t = Target {
                            name: "(b) nginx",
                            addr: *addr,
                            presigner: None,
                            pid: 0,
                        };
                        bench
                            .stat(&t, shape(), written.last().expect("baseline is a target"))
                            .await
                    }
                    Err(e) => Err(format!("skipped: {e}")),
                };
                let (bucketgate, baseline) = (row.bucketgate.clone(), row.baseline.clone());
                report.nginx.push(GetVsNginx {
                    conc,
                    bucketgate,
                    baseline,
                    nginx: ng,
                });
            }
            report.rows.push(row);
        }
        if let Some(Ok((mut proc, _))) = nginx {
            proc.stop(Duration::from_secs(5));
        }
    }

    if let Some(mut bg) = bucketgate {
        report.bucketgate_stop = bg.proc.stop(Duration::from_secs(20));
    }
    baseline_proc.stop(Duration::from_secs(2));
    if env_flag("S3BENCH_KEEP_DIR") {
        eprintln!("s3bench: kept {}", base.keep().display());
    }
    Ok(())
}

/// Prints the report, writes it to `target/{file}`, and exits as the README says: 2 when the
/// harness could not run, 1 when a measurement failed.
fn finish(text: &str, file: &str, result: Result<(), String>, broken: bool) {
    println!("\n{text}");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join(file);
    match std::fs::create_dir_all(&target).and_then(|_| std::fs::write(&path, text)) {
        Ok(()) => eprintln!("s3bench: report written to {}", path.display()),
        Err(e) => eprintln!("s3bench: could not write {}: {e}", path.display()),
    }
    if let Err(e) = result {
        eprintln!("s3bench: aborted: {e}");
        std::process::exit(2);
    }
    if broken {
        eprintln!("s3bench: some measurement failed (see Notes in the report)");
        std::process::exit(1);
    }
}

fn main() {
    if let Some(root) = std::env::var_os(servers::BASELINE_ROLE_ENV) {
        servers::baseline_server_main(root.into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match std::env::var("S3BENCH_MODE").as_deref() {
        Ok("container") => {
            let (text, result, broken) = rt.block_on(container::main());
            return finish(&text, "s3bench-container-report.md", result, broken);
        }
        Ok("" | "local") | Err(_) => {}
        Ok(other) => {
            eprintln!("s3bench: unknown S3BENCH_MODE={other} (known: local, container)");
            std::process::exit(2);
        }
    }
    let plan = Plan::from_env();
    let mut report = Report::new(&plan);
    let started = Instant::now();
    let result = rt.block_on(run(&plan, &mut report));
    report.duration = started.elapsed();
    finish(
        &report.render(),
        "s3bench-report.md",
        result,
        report.broken(),
    );
}
