//! The container mode's markdown report: gateway vs direct throughput and latency, the
//! gateway's CPU per GiB and peak memory, cold starts, and a PASS/FAIL summary of the targets.

use std::fmt::Write as _;
use std::time::Duration;

use crate::container::{ContainerPlan, IMAGE};
use crate::report::{
    Check, MemRow, Outcome, Row, cell_notes, lat, mibs, ms, num, ops, pct, render_checks,
    render_memory, render_note_list, run_facts, size_label, usable,
};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
/// Gateway 64 MiB PUT/GET throughput as a share of direct.
const LARGE_RATIO_TARGET: f64 = 0.85;
/// Gateway 4 KiB GET ops/s at c16 as a share of direct.
const SMALL_RATIO_TARGET: f64 = 0.70;
/// Gateway p50 minus direct p50 of a 4 KiB GET at c1.
const ADDED_P50_TARGET_MS: f64 = 0.5;
/// Gateway CPU seconds per GiB streamed in the 64 MiB cells.
const CPU_PER_GIB_TARGET: f64 = 1.0;
/// Gateway peak RSS while streaming one large object.
const RSS_TARGET_MIB: f64 = 100.0;

/// CPU time of the processes on the way during one side's runs of a cell.
#[derive(Clone, Copy, Default)]
pub struct Cpu {
    pub gateway: Option<Duration>,
    /// The container's S3 server.
    pub server: Option<Duration>,
    /// Docker's userland proxy of the container's published port.
    pub proxy: Option<Duration>,
    /// The bench process (the load generator; its other threads are idle during a cell).
    pub client: Option<Duration>,
}

/// One cell on both sides: `row.bucketgate` went through the gateway, `row.baseline` straight
/// to the container.
pub struct Pair {
    pub row: Row,
    pub via_gateway: Cpu,
    pub direct: Cpu,
}

impl Pair {
    /// Gateway CPU seconds over the GiB the gateway side moved.
    fn cpu_per_gib(&self) -> Option<(f64, f64)> {
        let s = usable(&self.row.bucketgate)?;
        let gib = s.ops as f64 * s.size as f64 / GIB;
        Some((self.via_gateway.gateway?.as_secs_f64(), gib))
    }

    /// The gateway's CPU cost: seconds per GiB for large objects, µs per request for small.
    fn cost(&self) -> String {
        let Some((cpu, gib)) = self.cpu_per_gib() else {
            return "—".into();
        };
        match usable(&self.row.bucketgate) {
            Some(s) if s.size < 1 << 20 => format!("{:.0} µs/op", cpu * 1e6 / s.ops as f64),
            _ => format!("{:.2} s/GiB", cpu / gib),
        }
    }
}

/// CPU time over the wall time of the side's runs, as a share of one core.
fn share(o: &Outcome, cpu: Option<Duration>) -> String {
    match (usable(o), cpu) {
        (Some(s), Some(c)) => format!(
            "{:.0}%",
            100.0 * c.as_secs_f64() / s.elapsed.as_secs_f64().max(1e-9)
        ),
        _ => "—".into(),
    }
}

/// One stop of the bucket and the GET that started it again.
#[derive(Default)]
pub struct ColdStart {
    /// How long the admin API's stop took.
    pub stop: Duration,
    /// From sending the GET to the response head.
    pub first_byte: Option<Duration>,
    /// The whole GET, body included.
    pub total: Option<Duration>,
    /// The next GET's first byte, the container running again.
    pub warm_first_byte: Option<Duration>,
    pub error: Option<String>,
}

pub struct ContainerReport {
    pub quick: bool,
    pub time_cap: Duration,
    pub counts: String,
    pub rounds: usize,
    pub work_dir: String,
    pub instance: String,
    pub docker_version: String,
    /// Container name and address.
    pub container: String,
    /// bucketgate start plus the CreateBucket that made the container.
    pub setup: Option<Duration>,
    /// Docker's userland proxy was found on the container's port.
    pub proxy: bool,
    /// Which way each side reaches the container.
    pub paths: String,
    /// /proc/loadavg when the run started.
    pub load: String,
    pub pairs: Vec<Pair>,
    pub memory: Vec<MemRow>,
    pub cold: Vec<ColdStart>,
    /// The floor: the container started through the Docker API, until its port answers HTTP.
    pub cold_direct: Vec<ColdStart>,
    /// Why the measurements stopped early, when they did.
    pub failed: Option<String>,
    pub bucketgate_stop: String,
    pub cleanup: String,
    pub duration: Duration,
}

/// A ratio with one decimal, so that a value just under a target never reads as the target.
fn pct1(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn verdict(ok: bool) -> String {
    if ok { "PASS" } else { "FAIL" }.to_string()
}

fn median(mut v: Vec<Duration>) -> Option<Duration> {
    v.sort_unstable();
    v.get(v.len().checked_sub(1)? / 2).copied()
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews every number.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The median first byte of some cold starts, with their range; informational (no target).
fn cold_median(runs: &[ColdStart]) -> (String, String) {
    let firsts: Vec<Duration> = runs.iter().filter_map(|c| c.first_byte).collect();
    match median(firsts.clone()) {
        Some(m) => {
            let range = match (firsts.iter().min(), firsts.iter().max()) {
                (Some(a), Some(b)) if firsts.len() > 1 => {
                    format!(
                        " (of {}: {}–{} ms)",
                        firsts.len(),
                        ms(Some(*a)),
                        ms(Some(*b))
                    )
                }
                _ => String::new(),
            };
            (format!("{} ms{range}", ms(Some(m))), "— (no target)".into())
        }
        None if runs.iter().any(|c| c.error.is_some()) => {
            ("errors".into(), "FAIL (measurement failed)".into())
        }
        None => ("—".into(), "n/a (not run)".into()),
    }
}

impl ContainerReport {
    pub fn new(plan: &ContainerPlan) -> Self {
        Self {
            quick: plan.quick,
            time_cap: plan.time_cap,
            counts: plan.counts(),
            rounds: plan.rounds,
            work_dir: String::new(),
            instance: String::new(),
            docker_version: String::new(),
            container: String::new(),
            setup: None,
            proxy: false,
            paths: String::new(),
            load: load_average(),
            pairs: Vec::new(),
            memory: Vec::new(),
            cold: Vec::new(),
            cold_direct: Vec::new(),
            failed: None,
            bucketgate_stop: String::new(),
            cleanup: String::new(),
            duration: Duration::ZERO,
        }
    }

    fn pair(&self, op: &str, size: u64, conc: usize) -> Option<&Pair> {
        self.pairs
            .iter()
            .find(|p| p.row.op == op && p.row.size == size && p.row.conc == conc)
    }

    /// Whether something that should have worked did not (the process then exits 1).
    pub fn broken(&self) -> bool {
        let bad = |o: &Outcome| !matches!(o, Ok(s) if s.errors == 0 && s.ops > 0);
        self.failed.is_some()
            || self
                .pairs
                .iter()
                .any(|p| bad(&p.row.bucketgate) || bad(&p.row.baseline))
            || self.memory.iter().any(|m| bad(&m.put.0) || bad(&m.get.0))
            || self
                .cold
                .iter()
                .chain(&self.cold_direct)
                .any(|c| c.error.is_some())
    }

    fn checks(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let missing = |p: Option<&Pair>| {
            if p.is_some_and(|p| p.row.bucketgate.is_ok() && p.row.baseline.is_ok()) {
                (
                    "errors".to_string(),
                    "FAIL (measurement failed)".to_string(),
                )
            } else {
                ("—".to_string(), "n/a (not run)".to_string())
            }
        };
        let mut push = |name: String, v: (String, String)| {
            out.push(Check {
                name,
                measured: v.0,
                result: v.1,
            })
        };
        for conc in crate::CONCS {
            for op in ["GET", "PUT"] {
                let p = self.pair(op, 64 << 20, conc);
                let v = match p.and_then(|p| p.row.ratio()) {
                    Some(x) => (pct1(x), verdict(x >= LARGE_RATIO_TARGET)),
                    None => missing(p),
                };
                let target = pct(LARGE_RATIO_TARGET);
                push(format!("64 MiB {op} c{conc} MiB/s ≥ {target} of direct"), v);
            }
        }
        let p = self.pair("GET", 4 << 10, 16);
        let v = match p.and_then(|p| p.row.ratio()) {
            Some(x) => (pct1(x), verdict(x >= SMALL_RATIO_TARGET)),
            None => missing(p),
        };
        let target = pct(SMALL_RATIO_TARGET);
        push(format!("4 KiB GET c16 ops/s ≥ {target} of direct"), v);
        let p = self.pair("GET", 4 << 10, 1);
        let p50 = |o: &Outcome| usable(o).and_then(|s| s.p50);
        let v = match p.map(|p| (p50(&p.row.bucketgate), p50(&p.row.baseline))) {
            Some((Some(g), Some(d))) => {
                let added = (g.as_secs_f64() - d.as_secs_f64()) * 1000.0;
                (
                    format!("{added:+.3} ms ({} − {} ms)", ms(Some(g)), ms(Some(d))),
                    verdict(added <= ADDED_P50_TARGET_MS),
                )
            }
            _ => missing(p),
        };
        push(
            format!("4 KiB GET c1 added p50 latency ≤ {ADDED_P50_TARGET_MS} ms"),
            v,
        );
        for op in ["PUT", "GET"] {
            let cells: Vec<&Pair> = self
                .pairs
                .iter()
                .filter(|p| p.row.op == op && p.row.size == 64 << 20)
                .collect();
            let (mut cpu, mut gib) = (0.0, 0.0);
            let mut complete = !cells.is_empty();
            for p in &cells {
                match p.cpu_per_gib() {
                    Some((c, g)) => {
                        cpu += c;
                        gib += g;
                    }
                    None => complete = false,
                }
            }
            let v = if complete {
                let x = cpu / gib;
                (
                    format!("{x:.2} CPU-s/GiB ({cpu:.1} s for {gib:.1} GiB)"),
                    verdict(x <= CPU_PER_GIB_TARGET),
                )
            } else {
                missing(cells.first().copied())
            };
            push(
                format!("gateway CPU per GiB, 64 MiB {op} cells ≤ {CPU_PER_GIB_TARGET} s"),
                v,
            );
        }
        match self.memory.iter().find(|m| m.target == "gateway") {
            Some(m) => {
                for (op, p) in [("PUT", &m.put), ("GET", &m.get)] {
                    let v = match usable(&p.0) {
                        Some(_) => {
                            let peak = MemRow::peak_mib(p);
                            (format!("{peak:.1} MiB"), verdict(peak < RSS_TARGET_MIB))
                        }
                        None => ("—".into(), "FAIL (transfer failed)".into()),
                    };
                    let size = size_label(m.size);
                    push(
                        format!("gateway peak RSS during {size} {op} < {RSS_TARGET_MIB} MiB"),
                        v,
                    );
                }
            }
            None => push(
                format!("gateway peak RSS < {RSS_TARGET_MIB} MiB"),
                ("—".into(), "n/a (not run)".into()),
            ),
        }
        push(
            "cold start: GET on a stopped bucket, median time to first byte".into(),
            cold_median(&self.cold),
        );
        push(
            "(floor) Docker API start of the container until its port answers HTTP, median".into(),
            cold_median(&self.cold_direct),
        );
        out
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        self.render_header(&mut s);
        render_checks(&mut s, &self.checks());
        self.render_pairs(&mut s);
        render_memory(&mut s, &self.memory);
        self.render_cold(&mut s);
        self.render_notes(&mut s);
        s
    }

    fn render_header(&self, s: &mut String) {
        let (date, kernel, cores) = run_facts();
        let _ = writeln!(s, "### s3bench container run {date}\n");
        let mode = if self.quick {
            "QUICK (smoke test only — numbers mean nothing)"
        } else {
            "full"
        };
        let _ = writeln!(
            s,
            "- mode: {mode}; per-cell time cap {:.0} s; total {:.0} s; ops per cell and round (c1/c16): {}; {} rounds per cell and side, alternating which side goes first",
            self.time_cap.as_secs_f64(),
            self.duration.as_secs_f64(),
            self.counts,
            self.rounds
        );
        let _ = writeln!(
            s,
            "- machine: {cores} cores, Linux {kernel}, load average {} before the run; Docker {}; bucketgate data dir under {}",
            self.load, self.docker_version, self.work_dir
        );
        let setup = self
            .setup
            .map_or("—".into(), |d| format!("{:.2} s", d.as_secs_f64()));
        let _ = writeln!(
            s,
            "- container bucket: profile s3s-fs-test ({IMAGE}), {}; instance {}; bucketgate start + CreateBucket (container create, start, ready) {setup}",
            self.container, self.instance
        );
        let _ = writeln!(
            s,
            "- client: hyper 1 HTTP/1.1, one keep-alive TCP_NODELAY connection per worker, presigned URLs (UNSIGNED-PAYLOAD) on both sides: the gateway's with bucketgate's root key, direct ones with the container's own root key"
        );
        let _ = writeln!(s, "- paths: {}", self.paths);
        let _ = writeln!(
            s,
            "- CPU = process CPU time / wall time during the cell (100% = one core of {cores}), of bucketgate, the container's S3 server, {} and the client (this bench process), which all share the cores; the direct side has no bucketgate in the way. Gateway CPU cost = bucketgate CPU seconds per GiB moved (per op for 4 KiB)\n",
            if self.proxy {
                "Docker's userland proxy of the published port (docker-proxy: on the path of the side that uses the published port)"
            } else {
                "Docker's port forwarding"
            }
        );
        if let Some(e) = &self.failed {
            let _ = writeln!(
                s,
                "**measurements stopped early:** {}\n",
                e.lines().next().unwrap_or("")
            );
        }
    }

    fn render_pairs(&self, s: &mut String) {
        let _ = writeln!(s, "#### Gateway vs direct to the same container\n");
        let _ = writeln!(
            s,
            "| op | size | c | gateway ops/s | gateway MiB/s | gateway p50 / p99 ms | direct ops/s | direct MiB/s | direct p50 / p99 ms | gateway / direct | gateway CPU cost | CPU via gateway: bucketgate / server / proxy / client | CPU direct: server / proxy / client |"
        );
        let _ = writeln!(
            s,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for p in &self.pairs {
            let r = &p.row;
            let (g, d) = (&r.bucketgate, &r.baseline);
            let (v, w) = (&p.via_gateway, &p.direct);
            let via = [v.gateway, v.server, v.proxy, v.client].map(|c| share(g, c));
            let direct = [w.server, w.proxy, w.client].map(|c| share(d, c));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.op,
                size_label(r.size),
                r.conc,
                ops(g),
                mibs(g),
                lat(g),
                ops(d),
                mibs(d),
                lat(d),
                r.ratio().map_or("—".into(), pct),
                p.cost(),
                via.join(" / "),
                direct.join(" / "),
            );
        }
        s.push('\n');
    }

    fn render_cold(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "#### Cold start: the bucket stopped through the admin API, then …\n"
        );
        let _ = writeln!(
            s,
            "| # | stop took s | … one 4 KiB GET through the gateway: first byte ms | its total ms | next GET first byte ms | … (floor) Docker API start until the port answers HTTP ms | next GET through the gateway: first byte ms |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|");
        let first = |c: &ColdStart| match (&c.error, c.first_byte) {
            (Some(e), None) => format!("error: {}", e.lines().next().unwrap_or("")),
            (_, d) => ms(d),
        };
        for (i, c) in self.cold.iter().enumerate() {
            let (floor, after) = self
                .cold_direct
                .get(i)
                .map_or(("—".into(), "—".into()), |d| {
                    (first(d), ms(d.warm_first_byte))
                });
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {floor} | {after} |",
                i + 1,
                num(c.stop.as_secs_f64()),
                first(c),
                ms(c.total),
                ms(c.warm_first_byte)
            );
        }
        s.push('\n');
    }

    fn render_notes(&self, s: &mut String) {
        let mut notes = Vec::new();
        if let Some(e) = &self.failed {
            notes.push(format!("measurements stopped: {}", e.replace('\n', " ⏎ ")));
        }
        for p in &self.pairs {
            let r = &p.row;
            let cell = format!("{} {} c{}", r.op, size_label(r.size), r.conc);
            cell_notes(&mut notes, format!("gateway {cell}"), &r.bucketgate);
            cell_notes(&mut notes, format!("direct {cell}"), &r.baseline);
        }
        for m in &self.memory {
            let size = size_label(m.size);
            cell_notes(&mut notes, format!("{} PUT {size}", m.target), &m.put.0);
            cell_notes(&mut notes, format!("{} GET {size}", m.target), &m.get.0);
        }
        for (what, runs) in [
            ("cold start", &self.cold),
            ("direct start", &self.cold_direct),
        ] {
            for (i, c) in runs.iter().enumerate() {
                if let Some(e) = &c.error {
                    notes.push(format!("{what} {}: {}", i + 1, e.replace('\n', " ⏎ ")));
                }
            }
        }
        if !self.bucketgate_stop.is_empty() {
            notes.push(self.bucketgate_stop.clone());
        }
        if !self.cleanup.is_empty() {
            notes.push(self.cleanup.clone());
        }
        render_note_list(s, &notes);
    }
}
