//! `S3BENCH_MODE=container`: a `container` bucket through bucketgate against the same
//! container's S3 port directly, with the same client, objects and run.
//!
//! bucketgate runs with `default_backend = "container"` and the `s3s-fs-test` profile, so the
//! bench's CreateBucket makes it start one s3s-fs container. The direct side signs with that
//! container's own root credentials, read from its command line with `docker inspect`. Every
//! cell runs on both sides `rounds` times in alternating order (gateway first, then direct
//! first, …) and each side's runs are summed, so drift during the run hits both alike. At the
//! end the bucket is stopped through the admin API a few times and one GET timed on it (cold
//! start), each time next to the floor: the container started with the same Docker API call
//! and its port polled until it answers. Containers and volumes labelled with this run's instance are removed on every way
//! out (end, error, panic, Ctrl-C).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::Value;

use crate::client::{self, CellResult, CellSpec};
use crate::container_env::{Admin, Container, Instance, docker, inspect};
use crate::container_report::{ColdStart, ContainerReport, Cpu, Pair};
use crate::report::{MemRow, Stat};
use crate::{BUCKET, Bench, MIB, Shape, Target, env_flag, keys_for, servers};

/// The image of the `s3s-fs-test` profile, built by `tests/docker/build-test-image.sh`.
pub const IMAGE: &str = "bucketgate-test/s3s-fs:0.14.1";
const SMALL: u64 = 4 << 10;
const LARGE: u64 = 64 * MIB;

pub struct ContainerPlan {
    pub quick: bool,
    pub time_cap: Duration,
    /// Size of the single object of the memory phase.
    pub big: u64,
    /// 64 MiB op counts per round, at concurrency 1 and 16.
    pub large_put: [usize; 2],
    pub large_get: [usize; 2],
    /// 4 KiB objects written (PUT at c16) and read back.
    pub small_keys: usize,
    /// 4 KiB GET op counts per round, at concurrency 1 and 16.
    pub small_get: [usize; 2],
    /// How often each cell runs on each side (alternating which side goes first).
    pub rounds: usize,
    pub cold_starts: usize,
    /// Host port range leased to the bucket's container.
    pub ports: (u16, u16),
    /// bucketgate's `container.connect` (how it reaches the container).
    pub connect: String,
    /// The direct side goes to the container's address on the Docker network, not to its
    /// published port.
    pub direct_bridge: bool,
    pub work_dir: Option<PathBuf>,
}

fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

impl ContainerPlan {
    fn from_env() -> Self {
        let quick = env_flag("S3BENCH_QUICK");
        let ports = std::env::var("S3BENCH_CONTAINER_PORTS")
            .ok()
            .and_then(|s| {
                let (a, b) = s.split_once('-')?;
                Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
            })
            .unwrap_or((45000, 45099));
        let secs: Option<f64> = env_num("S3BENCH_CELL_SECS");
        Self {
            quick,
            time_cap: Duration::from_secs_f64(secs.unwrap_or(if quick { 5.0 } else { 10.0 })),
            big: if quick { 64 * MIB } else { 1024 * MIB },
            large_put: if quick { [1, 2] } else { [8, 16] },
            large_get: if quick { [2, 4] } else { [16, 32] },
            small_keys: if quick { 64 } else { 2000 },
            small_get: if quick { [100, 200] } else { [10000, 30000] },
            rounds: env_num("S3BENCH_ROUNDS").unwrap_or(2).max(1),
            cold_starts: env_num("S3BENCH_COLD_STARTS")
                .unwrap_or(if quick { 1 } else { 5 })
                .max(1),
            ports,
            connect: std::env::var("S3BENCH_CONNECT").unwrap_or_else(|_| "auto".into()),
            direct_bridge: std::env::var("S3BENCH_DIRECT").is_ok_and(|v| v == "bridge"),
            work_dir: std::env::var_os("S3BENCH_DIR").map(PathBuf::from),
        }
    }

    /// The op counts, for the report's header.
    pub fn counts(&self) -> String {
        format!(
            "64 MiB: PUT {}/{}, GET {}/{}; 4 KiB: PUT c16 {}, GET {}/{}",
            self.large_put[0],
            self.large_put[1],
            self.large_get[0],
            self.large_get[1],
            self.small_keys,
            self.small_get[0],
            self.small_get[1]
        )
    }
}

fn write_config(path: &Path, plan: &ContainerPlan, instance: &str) -> Result<(), String> {
    // The profile runs s3s-fs behind Docker's init, so a stop is quick; a 1 s grace bounds it
    // anyway and keeps the cold-start phase short (only the start is measured).
    let text = format!(
        "default_backend = \"container\"\n\n[container]\nprofile = \"s3s-fs-test\"\n\
         instance = \"{instance}\"\nport_min = {}\nport_max = {}\nstop_grace_secs = 1\n\
         connect = \"{}\"\n",
        plan.ports.0, plan.ports.1, plan.connect
    );
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------- the run

/// Runs the container mode; returns the report's text, whether the harness could run, and
/// whether a measurement failed.
pub async fn main() -> (String, Result<(), String>, bool) {
    let plan = ContainerPlan::from_env();
    let mut report = ContainerReport::new(&plan);
    let mut instance = Instance::new();
    report.instance = instance.id.clone();
    let started = Instant::now();
    // On Ctrl-C the run is dropped (bucketgate gets SIGTERM), then the cleanup below runs.
    let result = tokio::select! {
        r = run(&plan, &instance.id, &mut report) => r,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
    };
    report.cleanup = instance.cleanup();
    report.duration = started.elapsed();
    let broken = report.broken();
    (report.render(), result, broken)
}

/// The harness part: Docker and the image must be there (else `Err`, exit 2). Failures of
/// bucketgate or its container from then on are measurements that failed.
async fn run(
    plan: &ContainerPlan,
    instance: &str,
    report: &mut ContainerReport,
) -> Result<(), String> {
    report.docker_version = docker(&["info", "--format", "{{.ServerVersion}}"])
        .map_err(|e| format!("no Docker engine: {e}"))?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/docker/build-test-image.sh"
    );
    let built = Command::new("bash")
        .arg(script)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{script}: {e}"))?;
    if !built.success() {
        return Err(format!(
            "{script} failed ({built}): the test image {IMAGE} is missing"
        ));
    }
    let base = crate::temp_base(plan.work_dir.as_deref())?;
    report.work_dir = base.path().display().to_string();
    if let Err(e) = measure(plan, instance, base.path(), report).await {
        eprintln!("s3bench: container mode failed: {e}");
        report.failed = Some(e);
    }
    if env_flag("S3BENCH_KEEP_DIR") {
        eprintln!("s3bench: kept {}", base.keep().display());
    }
    Ok(())
}

async fn measure(
    plan: &ContainerPlan,
    instance: &str,
    base: &Path,
    report: &mut ContainerReport,
) -> Result<(), String> {
    let config = base.join("bucketgate.toml");
    write_config(&config, plan, instance)?;
    let t0 = Instant::now();
    let mut bg = crate::start_bucketgate(base, Some(&config)).await?;
    report.setup = Some(t0.elapsed());
    let admin = Admin::new(&bg.admin_url, &base.join("bucketgate"))?;
    let ct = admin.container(BUCKET).await?;
    eprintln!(
        "s3bench: bucketgate at {} (pid {}), container {} at {} (pid {}, docker-proxy pid {})",
        bg.s3_url,
        bg.proc.pid(),
        ct.name,
        ct.addr,
        ct.pid,
        ct.proxy_pid
    );
    report.container = format!("{} at {}", ct.name, ct.addr);
    report.proxy = ct.proxy_pid != 0;
    let direct_addr = if plan.direct_bridge {
        ct.bridge
            .ok_or("S3BENCH_DIRECT=bridge: the container has no address on a Docker network")?
    } else {
        ct.addr
    };
    report.paths = format!(
        "gateway to the container with `connect = \"{}\"`; direct side to {direct_addr} ({})",
        plan.connect,
        if plan.direct_bridge {
            "its address on the Docker bridge"
        } else {
            "its published port"
        }
    );
    let gateway = Target {
        name: "gateway",
        addr: bg.s3,
        presigner: Some(crate::s3_client(&bg.s3_url)),
        pid: bg.proc.pid(),
    };
    let direct = Target {
        name: "direct",
        addr: direct_addr,
        presigner: Some(crate::s3_client_as(
            &format!("http://{direct_addr}"),
            &ct.access_key,
            &ct.secret_key,
        )),
        pid: ct.pid,
    };
    let bench = Bench {
        pattern: client::Pattern::new(),
        time_cap: plan.time_cap,
        clk_tck: servers::clk_tck(),
    };
    let sides = Sides {
        bench: &bench,
        gateway: &gateway,
        direct: &direct,
        pids: [bg.proc.pid(), ct.pid, ct.proxy_pid, std::process::id()],
        rounds: plan.rounds,
    };

    eprintln!(
        "s3bench: memory phase ({} single object)",
        crate::report::size_label(plan.big)
    );
    for t in [&gateway, &direct] {
        report.memory.push(bench.memory_phase(t, plan.big).await);
    }
    if let Some(m) = report.memory.first()
        && !memory_ok(m)
    {
        return Err(format!(
            "the {} transfers through the gateway failed; server log tail:\n{}",
            crate::report::size_label(plan.big),
            bg.proc.log_tail()
        ));
    }

    let small = throughput(&sides, plan, report).await;
    let key = small
        .first()
        .ok_or("no 4 KiB object was written for the cold-start GETs")?;
    cold_starts(&sides, &admin, &ct, key, plan.cold_starts, report).await?;
    report.bucketgate_stop = bg.proc.stop(Duration::from_secs(20));
    Ok(())
}

/// The 64 MiB and 4 KiB cells on both sides; returns the 4 KiB keys that were written.
async fn throughput(
    sides: &Sides<'_>,
    plan: &ContainerPlan,
    report: &mut ContainerReport,
) -> Vec<String> {
    eprintln!("s3bench: 64 MiB objects");
    let mut large = Vec::new();
    for (ci, conc) in crate::CONCS.into_iter().enumerate() {
        let keys = keys_for("64 MiB", conc, plan.large_put[ci]);
        let (pair, written) = sides.pair(Method::PUT, LARGE, conc, &keys).await;
        report.pairs.push(pair);
        large.extend(written.into_iter().map(|i| keys[i].clone()));
    }
    for (ci, conc) in crate::CONCS.into_iter().enumerate() {
        let n = plan.large_get[ci];
        let pair = sides.pair_n(Method::GET, LARGE, conc, &large, n).await;
        report.pairs.push(pair);
    }
    eprintln!("s3bench: 4 KiB objects");
    let keys = keys_for("4 KiB", 16, plan.small_keys);
    let (pair, written) = sides.pair(Method::PUT, SMALL, 16, &keys).await;
    report.pairs.push(pair);
    let small: Vec<String> = written.into_iter().map(|i| keys[i].clone()).collect();
    for (ci, conc) in crate::CONCS.into_iter().enumerate() {
        let n = plan.small_get[ci];
        let pair = sides.pair_n(Method::GET, SMALL, conc, &small, n).await;
        report.pairs.push(pair);
    }
    small
}

/// Each side of a pair has keys of its own (`gateway/…`, `direct/…`) in the one bucket: a GET
/// through the gateway cannot be answered with what the direct side wrote, and the other way
/// round, without failing the content check.
fn side_key(t: &Target, key: &str) -> String {
    format!("{}/{key}", t.name)
}

/// `n` cold starts through the gateway, each followed by one started directly (the floor).
async fn cold_starts(
    sides: &Sides<'_>,
    admin: &Admin,
    ct: &Container,
    key: &str,
    n: usize,
    report: &mut ContainerReport,
) -> Result<(), String> {
    eprintln!("s3bench: cold starts");
    let engine = bollard::Docker::connect_with_defaults()
        .map_err(|e| format!("Docker API: {e}"))?
        .negotiate_version()
        .await
        .map_err(|e| format!("Docker API: {e}"))?;
    let show = |c: &ColdStart| {
        c.first_byte
            .map_or_else(|| c.error.clone().unwrap_or_default(), |d| format!("{d:?}"))
    };
    let (bench, gateway) = (sides.bench, sides.gateway);
    let key = &side_key(gateway, key);
    for i in 0..n {
        let c = cold_start(bench, gateway, admin, &ct.name, key).await;
        let d = direct_start(bench, gateway, admin, &engine, ct, key).await;
        eprintln!(
            "  cold start {}: gateway GET first byte {}; direct start to first answer {}",
            i + 1,
            show(&c),
            show(&d)
        );
        let failed = c.error.is_some() || d.error.is_some();
        report.cold.push(c);
        report.cold_direct.push(d);
        if failed {
            break;
        }
    }
    Ok(())
}

fn memory_ok(m: &MemRow) -> bool {
    let ok = |o: &crate::report::Outcome| matches!(o, Ok(s) if s.errors == 0 && s.ops > 0);
    ok(&m.put.0) && ok(&m.get.0)
}

/// The two ways to the same container and how often each cell runs on each.
struct Sides<'a> {
    bench: &'a Bench,
    gateway: &'a Target,
    direct: &'a Target,
    /// Whose CPU time is read around every run: gateway, container server, docker-proxy,
    /// and this process (the client).
    pids: [u32; 4],
    rounds: usize,
}

/// One side of a cell: its runs merged (or why it did not run) and the CPU ticks of
/// [`Sides::pids`] during them.
#[derive(Default)]
struct Side {
    result: Option<Result<CellResult, String>>,
    ticks: [Option<u64>; 4],
}

impl Side {
    fn add(&mut self, r: Result<CellResult, String>, ticks: [Option<u64>; 4]) {
        self.result = Some(match (self.result.take(), r) {
            (Some(Ok(mut acc)), Ok(r)) => {
                acc.absorb(r);
                Ok(acc)
            }
            (_, r) => r,
        });
        for (sum, t) in self.ticks.iter_mut().zip(ticks) {
            *sum = match (*sum, t) {
                (None, t) => t,
                (Some(a), Some(b)) => Some(a + b),
                (Some(_), None) => None,
            };
        }
    }

    fn cpu(&self, clk_tck: f64) -> Cpu {
        let d = |t: Option<u64>| t.map(|t| Duration::from_secs_f64(t as f64 / clk_tck));
        Cpu {
            gateway: d(self.ticks[0]),
            server: d(self.ticks[1]),
            proxy: d(self.ticks[2]),
            client: d(self.ticks[3]),
        }
    }
}

impl Sides<'_> {
    fn ticks(&self) -> [Option<u64>; 4] {
        self.pids
            .map(|pid| servers::cpu_ticks(pid).filter(|_| pid != 0))
    }

    /// One op per key on both sides; also returns the indices of the keys that now exist.
    async fn pair(
        &self,
        method: Method,
        size: u64,
        conc: usize,
        keys: &[String],
    ) -> (Pair, Vec<usize>) {
        self.run(method, size, conc, keys, keys.len()).await
    }

    /// `n` ops over `keys` on both sides.
    async fn pair_n(
        &self,
        method: Method,
        size: u64,
        conc: usize,
        keys: &[String],
        n: usize,
    ) -> Pair {
        self.run(method, size, conc, keys, n).await.0
    }

    async fn run(
        &self,
        method: Method,
        size: u64,
        conc: usize,
        keys: &[String],
        n_ops: usize,
    ) -> (Pair, Vec<usize>) {
        let mut sides = [Side::default(), Side::default()];
        for round in 0..self.rounds {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                if matches!(sides[i].result, Some(Err(_))) {
                    continue;
                }
                let t = if i == 0 { self.gateway } else { self.direct };
                let side_keys: Vec<String> = keys.iter().map(|k| side_key(t, k)).collect();
                let shape = Shape {
                    method: method.clone(),
                    size,
                    conc,
                    n_ops,
                };
                let before = self.ticks();
                let r = self
                    .bench
                    .cell(t, shape, &side_keys, self.bench.time_cap)
                    .await;
                let after = self.ticks();
                let used = std::array::from_fn(|k| match (before[k], after[k]) {
                    (Some(b), Some(a)) => Some(a.saturating_sub(b)),
                    _ => None,
                });
                sides[i].add(r, used);
            }
        }
        // Each side reads back only what it wrote itself: the keys both sides have.
        let mut done = sides.iter().filter_map(|s| match &s.result {
            Some(Ok(r)) => Some(&r.done),
            _ => None,
        });
        let mut written: Vec<usize> = done.next().cloned().unwrap_or_default();
        for other in done {
            written.retain(|i| other.binary_search(i).is_ok());
        }
        let clk = self.bench.clk_tck;
        let [gw, dr] = sides;
        let (gw_cpu, dr_cpu) = (gw.cpu(clk), dr.cpu(clk));
        let outcome = |r: Option<Result<CellResult, String>>| {
            r.unwrap_or_else(|| Err("not run".into()))
                .map(|r| Stat::from(&r))
        };
        let pair = Pair {
            row: crate::report::Row {
                op: if method == Method::PUT { "PUT" } else { "GET" },
                size,
                conc,
                bucketgate: outcome(gw.result),
                baseline: outcome(dr.result),
            },
            via_gateway: gw_cpu,
            direct: dr_cpu,
        };
        (pair, written)
    }
}

/// Stops the bucket through the admin API and checks that its container is down.
async fn stop_bucket(admin: &Admin, container: &str, c: &mut ColdStart) -> bool {
    let t0 = Instant::now();
    let path = format!("/api/buckets/{BUCKET}/stop");
    let stopped = admin.call(reqwest::Method::POST, &path).await;
    c.stop = t0.elapsed();
    c.error = match (stopped, inspect(container)) {
        (Err(e), _) => Some(format!("stop: {e}")),
        (Ok(_), Ok(v)) if v["State"]["Running"] == Value::Bool(false) => None,
        (Ok(_), Ok(_)) => Some("the container still runs after the stop".into()),
        (Ok(_), Err(e)) => Some(e),
    };
    c.error.is_none()
}

/// Stops the bucket through the admin API, then times one GET through the gateway (from
/// sending it to its first response byte), then one more GET on the running container.
async fn cold_start(
    bench: &Bench,
    gateway: &Target,
    admin: &Admin,
    container: &str,
    key: &str,
) -> ColdStart {
    let mut c = ColdStart::default();
    if stop_bucket(admin, container, &mut c).await {
        gateway_gets(bench, gateway, key, &mut c).await;
    }
    c
}

/// The floor of a cold start: stops the bucket, starts its container with the Docker API call
/// bucketgate makes, and polls the S3 port every 2 ms until it answers HTTP. A GET through
/// the gateway afterwards lets bucketgate see the container running again.
async fn direct_start(
    bench: &Bench,
    gateway: &Target,
    admin: &Admin,
    engine: &bollard::Docker,
    ct: &Container,
    key: &str,
) -> ColdStart {
    let mut c = ColdStart::default();
    if !stop_bucket(admin, &ct.name, &mut c).await {
        return c;
    }
    let t0 = Instant::now();
    if let Err(e) = engine.start_container(&ct.name, None).await {
        c.error = Some(format!("docker start: {e}"));
        return c;
    }
    while !http_answers(ct.addr).await {
        if t0.elapsed() > Duration::from_secs(60) {
            c.error = Some("the container did not answer within 60 s of its start".into());
            return c;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    c.first_byte = Some(t0.elapsed());
    let mut after = ColdStart::default();
    gateway_gets(bench, gateway, key, &mut after).await;
    c.warm_first_byte = after.first_byte;
    c.error = after.error;
    c
}

/// Whether an HTTP server answers on `addr` (Docker's proxy accepts connections before the
/// server in the container listens, so a connect alone proves nothing).
async fn http_answers(addr: std::net::SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = b"GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n";
        s.write_all(req).await.ok()?;
        let mut head = [0u8; 8];
        s.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1."))
    };
    let answer = tokio::time::timeout(Duration::from_secs(1), probe).await;
    matches!(answer, Ok(Some(true)))
}

/// One GET of `key` through the gateway (its first byte and total time go into `c`), then
/// one more (its first byte is `c.warm_first_byte`).
async fn gateway_gets(bench: &Bench, gateway: &Target, key: &str, c: &mut ColdStart) {
    let keys = [key.to_string()];
    for cold in [true, false] {
        let reqs = match gateway.reqs(&Method::GET, &keys).await {
            Ok(r) => r,
            Err(e) => {
                c.error = Some(e);
                return;
            }
        };
        let spec = CellSpec {
            method: Method::GET,
            size: SMALL,
            conc: 1,
            reqs: Arc::new(reqs),
            n_ops: 1,
            time_cap: Duration::from_secs(120),
            verify_every: 1,
        };
        let r = client::run_cell(gateway.addr, spec, &bench.pattern).await;
        if r.errors > 0 || r.ops != 1 {
            c.error = Some(r.first_error.unwrap_or_else(|| "no answer".into()));
            return;
        }
        if cold {
            c.first_byte = r.first_bytes.first().copied();
            c.total = r.latencies.first().copied();
        } else {
            c.warm_first_byte = r.first_bytes.first().copied();
        }
    }
}
