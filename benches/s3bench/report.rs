//! Turns measurements into the markdown report: throughput vs (a), 4 KiB GET vs nginx, 4 KiB
//! PUT vs the disk's fsync rate, peak memory, and a PASS/MISS summary of the targets.

use std::fmt::Write as _;
use std::time::Duration;

use crate::Plan;
use crate::client::CellResult;

const MIB: f64 = 1024.0 * 1024.0;
/// bucketgate's 64 MiB PUT/GET throughput must reach this share of baseline (a).
const BIG_RATIO_TARGET: f64 = 0.60;
/// bucketgate's 4 KiB GET ops/s at c16 must reach this share of nginx.
const NGINX_RATIO_TARGET: f64 = 0.25;
/// bucketgate's 4 KiB PUT ops/s at c16 must reach this multiple of the single-writer fsync rate.
const FSYNC_MULTIPLE_TARGET: f64 = 2.0;
/// bucketgate's peak RSS while streaming one large object must stay below this.
const RSS_TARGET_MIB: f64 = 100.0;

/// What one cell measured, without the per-request detail.
#[derive(Clone)]
pub struct Stat {
    pub ops: usize,
    pub size: u64,
    pub elapsed: Duration,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    pub errors: usize,
    pub first_error: Option<String>,
    pub reconnects: usize,
    pub capped: bool,
    pub server_cpu: Option<Duration>,
}

impl Stat {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn mib_per_sec(&self) -> f64 {
        self.ops_per_sec() * self.size as f64 / MIB
    }
}

impl From<&CellResult> for Stat {
    fn from(r: &CellResult) -> Self {
        Self {
            ops: r.ops,
            size: r.size,
            elapsed: r.elapsed,
            p50: r.latency(0.5),
            p99: r.latency(0.99),
            errors: r.errors,
            first_error: r.first_error.clone(),
            reconnects: r.reconnects,
            capped: r.capped,
            server_cpu: r.server_cpu,
        }
    }
}

/// `Err` means the cell did not run (the reason); a run that failed is `Ok` with `errors > 0`.
pub type Outcome = Result<Stat, String>;

pub fn usable(o: &Outcome) -> Option<&Stat> {
    o.as_ref().ok().filter(|s| s.errors == 0 && s.ops > 0)
}

pub struct Row {
    pub op: &'static str,
    pub size: u64,
    pub conc: usize,
    pub bucketgate: Outcome,
    pub baseline: Outcome,
}

pub struct GetVsNginx {
    pub conc: usize,
    pub bucketgate: Outcome,
    pub baseline: Outcome,
    pub nginx: Outcome,
}

/// One large-object PUT+GET: outcome, VmHWM after the phase (KiB; `None` if it could not be
/// reset first) and the largest sampled VmRSS (KiB).
pub struct MemRow {
    pub target: &'static str,
    pub size: u64,
    pub put: (Outcome, Option<u64>, u64),
    pub get: (Outcome, Option<u64>, u64),
}

impl MemRow {
    pub fn peak_mib(p: &(Outcome, Option<u64>, u64)) -> f64 {
        p.1.unwrap_or(0).max(p.2) as f64 / 1024.0
    }
}

pub struct Report {
    pub quick: bool,
    pub time_cap: Duration,
    pub counts: String,
    pub nginx_workers: usize,
    pub nginx_version: String,
    pub work_dir: String,
    /// Single-writer fsync probes (files/s, files), taken around the 4 KiB PUT cells.
    pub fsync: Vec<(f64, u64)>,
    /// `Err` holds why bucketgate was not measured.
    pub bucketgate: Result<(), String>,
    pub bucketgate_stop: String,
    pub baselines_only: bool,
    pub rows: Vec<Row>,
    pub nginx: Vec<GetVsNginx>,
    pub memory: Vec<MemRow>,
    pub duration: Duration,
}

pub fn size_label(size: u64) -> String {
    match size {
        s if s >= 1 << 30 && s % (1 << 30) == 0 => format!("{} GiB", s >> 30),
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

pub fn num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

pub fn ms(d: Option<Duration>) -> String {
    d.map_or("—".into(), |d| num(d.as_secs_f64() * 1000.0))
}

pub fn ops(o: &Outcome) -> String {
    match o {
        Ok(s) if s.errors > 0 => format!("ERR×{}", s.errors),
        Ok(s) => num(s.ops_per_sec()),
        Err(_) => "—".into(),
    }
}

pub fn mibs(o: &Outcome) -> String {
    match o {
        Ok(s) if s.errors == 0 => num(s.mib_per_sec()),
        _ => "—".into(),
    }
}

pub fn lat(o: &Outcome) -> String {
    match o {
        Ok(s) if s.errors == 0 => format!("{} / {}", ms(s.p50), ms(s.p99)),
        _ => "—".into(),
    }
}

/// Server CPU time over wall time of a cell, as a percentage of one core.
pub fn cpu(o: &Outcome) -> String {
    match o {
        Ok(Stat {
            server_cpu: Some(c),
            elapsed,
            errors: 0,
            ..
        }) => format!(
            "{:.0}%",
            100.0 * c.as_secs_f64() / elapsed.as_secs_f64().max(1e-9)
        ),
        _ => "—".into(),
    }
}

pub fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

impl Row {
    /// `outcomes` holds bucketgate's outcome first when it was measured, then baseline (a)'s.
    pub fn new(
        op: &'static str,
        size: u64,
        conc: usize,
        mut outcomes: Vec<Outcome>,
        has_bucketgate: bool,
    ) -> Self {
        let baseline = outcomes.pop().unwrap_or_else(|| Err("not run".into()));
        let bucketgate = if has_bucketgate {
            outcomes.pop().unwrap_or_else(|| Err("not run".into()))
        } else {
            Err("bucketgate not measured".into())
        };
        Self {
            op,
            size,
            conc,
            bucketgate,
            baseline,
        }
    }

    /// bucketgate's ops/s over the baseline's, when both cells worked.
    pub fn ratio(&self) -> Option<f64> {
        Some(usable(&self.bucketgate)?.ops_per_sec() / usable(&self.baseline)?.ops_per_sec())
    }
}

/// A target's measured value and verdict: (measured text, PASS/MISS/n/a).
pub struct Check {
    pub name: String,
    pub measured: String,
    pub result: String,
}

/// The summary table of the targets.
pub fn render_checks(s: &mut String, checks: &[Check]) {
    let _ = writeln!(s, "| target | measured | result |\n|---|---:|---|");
    for c in checks {
        let _ = writeln!(s, "| {} | {} | {} |", c.name, c.measured, c.result);
    }
    s.push('\n');
}

impl Report {
    pub fn new(plan: &Plan) -> Self {
        let counts = plan
            .sizes
            .iter()
            .map(|s| {
                format!(
                    "{}: PUT {}/{}, GET {}/{}",
                    s.label, s.put[0], s.put[1], s.get[0], s.get[1]
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            quick: plan.quick,
            time_cap: plan.time_cap,
            counts,
            nginx_workers: plan.nginx_workers,
            nginx_version: String::new(),
            work_dir: String::new(),
            fsync: Vec::new(),
            bucketgate: Ok(()),
            bucketgate_stop: String::new(),
            baselines_only: plan.baselines_only,
            rows: Vec::new(),
            nginx: Vec::new(),
            memory: Vec::new(),
            duration: Duration::ZERO,
        }
    }

    /// The mean of the fsync probes (files/s); 0 when none ran.
    fn fsync_rate(&self) -> f64 {
        if self.fsync.is_empty() {
            return 0.0;
        }
        self.fsync.iter().map(|p| p.0).sum::<f64>() / self.fsync.len() as f64
    }

    fn row(&self, op: &str, size: u64, conc: usize) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.op == op && r.size == size && r.conc == conc)
    }

    /// Whether something that should have worked did not (the process then exits non-zero).
    pub fn broken(&self) -> bool {
        let failed = |o: &Outcome| matches!(o, Ok(s) if s.errors > 0 || s.ops == 0);
        let bg_measured = self.bucketgate.is_ok();
        (!self.baselines_only && !bg_measured)
            || self.rows.iter().any(|r| {
                failed(&r.baseline)
                    || r.baseline.is_err()
                    || (bg_measured && (failed(&r.bucketgate) || r.bucketgate.is_err()))
            })
            || self.nginx.iter().any(|n| failed(&n.nginx))
            || self.memory.iter().any(|m| {
                failed(&m.put.0) || failed(&m.get.0) || m.put.0.is_err() || m.get.0.is_err()
            })
    }

    fn checks(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let na = |why: &str| format!("n/a ({why})");
        for op in ["PUT", "GET"] {
            for conc in crate::CONCS {
                let name = format!(
                    "64 MiB {op} c{conc} MiB/s ≥ {} of (a)",
                    pct(BIG_RATIO_TARGET)
                );
                let (measured, result) = match self.row(op, 64 << 20, conc) {
                    Some(r) => match r.ratio() {
                        Some(x) => (pct(x), verdict(x >= BIG_RATIO_TARGET).to_string()),
                        None if matches!(&r.bucketgate, Ok(s) if s.errors > 0) => {
                            ("errors".into(), "FAIL".into())
                        }
                        None => ("—".into(), na("not measured")),
                    },
                    None => ("—".into(), na("not run")),
                };
                out.push(Check {
                    name,
                    measured,
                    result,
                });
            }
        }
        let name = format!("4 KiB GET c16 ops/s ≥ {} of nginx", pct(NGINX_RATIO_TARGET));
        let (measured, result) = match self.nginx.iter().find(|n| n.conc == 16) {
            Some(n) => match (usable(&n.bucketgate), &n.nginx) {
                (Some(b), Ok(ng)) if ng.errors == 0 && ng.ops > 0 => {
                    let x = b.ops_per_sec() / ng.ops_per_sec();
                    (pct(x), verdict(x >= NGINX_RATIO_TARGET).to_string())
                }
                (_, Err(e)) => ("—".into(), na(e)),
                _ => ("—".into(), na("bucketgate not measured")),
            },
            None => ("—".into(), na("not run")),
        };
        out.push(Check {
            name,
            measured,
            result,
        });
        let name =
            format!("4 KiB PUT c16 ops/s ≥ {FSYNC_MULTIPLE_TARGET}× single-writer fsync rate");
        let (measured, result) = match self
            .row("PUT", 4 << 10, 16)
            .and_then(|r| usable(&r.bucketgate))
        {
            Some(b) if self.fsync_rate() > 0.0 => {
                let x = b.ops_per_sec() / self.fsync_rate();
                (
                    format!("{x:.2}×"),
                    verdict(x >= FSYNC_MULTIPLE_TARGET).to_string(),
                )
            }
            _ => ("—".into(), na("bucketgate not measured")),
        };
        out.push(Check {
            name,
            measured,
            result,
        });
        if let Some(m) = self.memory.iter().find(|m| m.target == "bucketgate") {
            for (op, p) in [("PUT", &m.put), ("GET", &m.get)] {
                let name = format!(
                    "peak RSS during {} {op} < {RSS_TARGET_MIB} MiB",
                    size_label(m.size)
                );
                let (measured, result) = match usable(&p.0) {
                    Some(_) => {
                        let peak = MemRow::peak_mib(p);
                        (
                            format!("{peak:.1} MiB"),
                            verdict(peak < RSS_TARGET_MIB).to_string(),
                        )
                    }
                    None => ("—".into(), "FAIL (transfer failed)".into()),
                };
                out.push(Check {
                    name,
                    measured,
                    result,
                });
            }
        } else {
            out.push(Check {
                name: format!("peak RSS < {RSS_TARGET_MIB} MiB"),
                measured: "—".into(),
                result: na("bucketgate not measured"),
            });
        }
        out
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        self.render_header(&mut s);
        self.render_checks(&mut s);
        self.render_throughput(&mut s);
        self.render_small(&mut s);
        self.render_memory(&mut s);
        self.render_notes(&mut s);
        s
    }

    fn render_header(&self, s: &mut String) {
        let (date, kernel, cores) = run_facts();
        let _ = writeln!(s, "### s3bench run {date}\n");
        let _ = writeln!(
            s,
            "- mode: {}; per-cell time cap {:.0} s; total {:.0} s; ops per cell (c1/c16): {}",
            if self.quick {
                "QUICK (smoke test only — numbers mean nothing)"
            } else {
                "full"
            },
            self.time_cap.as_secs_f64(),
            self.duration.as_secs_f64(),
            self.counts
        );
        let _ = writeln!(
            s,
            "- machine: {cores} cores, Linux {kernel}; all data dirs under {}",
            self.work_dir
        );
        let _ = writeln!(
            s,
            "- client: hyper 1 HTTP/1.1, one keep-alive TCP_NODELAY connection per worker; bucketgate via presigned URLs (UNSIGNED-PAYLOAD), baselines via plain URLs"
        );
        let _ = writeln!(
            s,
            "- (a) raw = in-bench HTTP/1.1 server streaming bodies to new fsync'd files and back; (b) nginx {} with worker_processes {}, sendfile, serving (a)'s files",
            if self.nginx_version.is_empty() {
                "(not installed)"
            } else {
                &self.nginx_version
            },
            self.nginx_workers
        );
        let probes: Vec<String> = self.fsync.iter().map(|p| num(p.0)).collect();
        let _ = writeln!(
            s,
            "- single-writer fsync rate (create + write 4 KiB + fsync + close, probed before and after the 4 KiB PUTs): {} files/s (probes: {})",
            num(self.fsync_rate()),
            probes.join(", ")
        );
        let _ = writeln!(
            s,
            "- CPU = server process CPU time / wall time during the cell (100% = one core of {cores}); client and server share the cores\n"
        );
        if let Err(e) = &self.bucketgate {
            let _ = writeln!(
                s,
                "**bucketgate was not measured:** {}\n",
                e.lines().next().unwrap_or("")
            );
        }
    }

    fn render_checks(&self, s: &mut String) {
        render_checks(s, &self.checks());
    }

    fn render_throughput(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "#### Throughput: bucketgate vs (a) raw loopback + fsync server\n"
        );
        let _ = writeln!(
            s,
            "| op | size | c | bucketgate ops/s | bucketgate MiB/s | bucketgate p50 / p99 ms | bucketgate CPU | (a) ops/s | (a) MiB/s | (a) p50 / p99 ms | (a) CPU | bucketgate / (a) |"
        );
        let _ = writeln!(
            s,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &self.rows {
            let ratio = r.ratio().map_or("—".into(), pct);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.op,
                size_label(r.size),
                r.conc,
                ops(&r.bucketgate),
                mibs(&r.bucketgate),
                lat(&r.bucketgate),
                cpu(&r.bucketgate),
                ops(&r.baseline),
                mibs(&r.baseline),
                lat(&r.baseline),
                cpu(&r.baseline),
                ratio
            );
        }
        s.push('\n');
    }

    fn render_small(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "#### 4 KiB GET vs (b) nginx, 4 KiB PUT vs the disk's fsync rate\n"
        );
        let _ = writeln!(
            s,
            "| op | c | bucketgate ops/s | (b) nginx ops/s | (a) ops/s | bucketgate / nginx | nginx p50 / p99 ms |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
        for n in &self.nginx {
            let ratio = match (usable(&n.bucketgate), usable(&n.nginx)) {
                (Some(b), Some(g)) => pct(b.ops_per_sec() / g.ops_per_sec()),
                _ => "—".into(),
            };
            let ng = match &n.nginx {
                Err(e) => e.clone(),
                o => ops(o),
            };
            let _ = writeln!(
                s,
                "| GET | {} | {} | {} | {} | {} | {} |",
                n.conc,
                ops(&n.bucketgate),
                ng,
                ops(&n.baseline),
                ratio,
                lat(&n.nginx)
            );
        }
        for conc in crate::CONCS {
            if let Some(r) = self.row("PUT", 4 << 10, conc) {
                let x = usable(&r.bucketgate).map_or("—".into(), |b| {
                    format!(
                        "{:.2}× fsync",
                        b.ops_per_sec() / self.fsync_rate().max(1e-9)
                    )
                });
                let _ = writeln!(
                    s,
                    "| PUT | {conc} | {} | fsync {} files/s | {} | {x} | — |",
                    ops(&r.bucketgate),
                    num(self.fsync_rate()),
                    ops(&r.baseline)
                );
            }
        }
        s.push('\n');
    }

    fn render_memory(&self, s: &mut String) {
        render_memory(s, &self.memory);
    }

    fn render_notes(&self, s: &mut String) {
        let mut notes = Vec::new();
        if let Err(e) = &self.bucketgate {
            notes.push(format!(
                "bucketgate not measured: {}",
                e.replace('\n', " ⏎ ")
            ));
        }
        for r in &self.rows {
            let cell = format!("{} {} c{}", r.op, size_label(r.size), r.conc);
            cell_notes(&mut notes, format!("bucketgate {cell}"), &r.bucketgate);
            cell_notes(&mut notes, format!("(a) {cell}"), &r.baseline);
        }
        for n in &self.nginx {
            cell_notes(&mut notes, format!("nginx GET 4 KiB c{}", n.conc), &n.nginx);
        }
        for m in &self.memory {
            let size = size_label(m.size);
            cell_notes(&mut notes, format!("{} PUT {size}", m.target), &m.put.0);
            cell_notes(&mut notes, format!("{} GET {size}", m.target), &m.get.0);
        }
        if !self.bucketgate_stop.is_empty() {
            notes.push(self.bucketgate_stop.clone());
        }
        render_note_list(s, &notes);
    }
}

/// The run's date (RFC 3339, UTC), the kernel release and the number of cores.
pub fn run_facts() -> (String, String, usize) {
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    (date, kernel.trim().to_string(), cores)
}

/// The peak-RSS table of the memory phases.
pub fn render_memory(s: &mut String, memory: &[MemRow]) {
    let _ = writeln!(s, "#### Peak RSS while streaming one large object (c1)\n");
    let _ = writeln!(
        s,
        "| server | object | PUT MiB/s | PUT CPU | PUT peak RSS MiB | GET MiB/s | GET CPU | GET peak RSS MiB |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for m in memory {
        let rss = |p: &(Outcome, Option<u64>, u64)| match p.1 {
            Some(hwm) => format!(
                "{:.1} (VmHWM; sampled {:.1})",
                hwm as f64 / 1024.0,
                p.2 as f64 / 1024.0
            ),
            None => format!("{:.1} (sampled VmRSS)", p.2 as f64 / 1024.0),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            m.target,
            size_label(m.size),
            mibs(&m.put.0),
            cpu(&m.put.0),
            rss(&m.put),
            mibs(&m.get.0),
            cpu(&m.get.0),
            rss(&m.get)
        );
    }
    s.push('\n');
}

/// What a reader must know about one cell's outcome (errors, reconnects, the time cap, why it
/// did not run), appended to `notes`.
pub fn cell_notes(notes: &mut Vec<String>, what: String, o: &Outcome) {
    match o {
        Ok(st) => {
            if st.errors > 0 {
                notes.push(format!(
                    "{what}: {} errors, first: {}",
                    st.errors,
                    st.first_error.clone().unwrap_or_default()
                ));
            }
            if st.reconnects > 0 {
                notes.push(format!(
                    "{what}: server closed {} keep-alive connections",
                    st.reconnects
                ));
            }
            if st.capped {
                notes.push(format!(
                    "{what}: stopped by the time cap after {} ops",
                    st.ops
                ));
            }
        }
        Err(e) if !e.starts_with("bucketgate not measured") && !e.starts_with("skipped") => {
            notes.push(format!("{what}: not run: {e}"))
        }
        Err(_) => {}
    }
}

pub fn render_note_list(s: &mut String, notes: &[String]) {
    if !notes.is_empty() {
        let _ = writeln!(s, "Notes:");
        for n in notes {
            let _ = writeln!(s, "- {n}");
        }
    }
}
