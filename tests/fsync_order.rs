//! Durability by system-call order, which `kill -9` tests cannot see (the page cache survives a
//! killed process; it does not survive a power cut). The real binary runs under `strace -f`;
//! one PUT, one multipart upload and one DELETE go through it, and the trace must show, for
//! each acknowledged write: the blob's bytes written and the file fsynced before its rename,
//! the directory holding it fsynced before the metadata commit, the commit (`meta.redb`)
//! fsynced before the HTTP response is written; and every directory created at start-up
//! fsynced in its parent before the server says it is ready.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::*;

/// The system calls traced: file creation and writes, syncs, renames, unlinks, directory
/// creation, and the ways a response reaches a socket.
const TRACED: &str = "trace=openat,write,writev,sendto,sendmsg,pwrite64,pwritev,fsync,fdatasync,\
                      rename,renameat,renameat2,mkdir,mkdirat,unlink,unlinkat";

/// Kills the traced server on drop: killing strace alone leaves its tracee running.
struct Tracee(u32);

impl Drop for Tracee {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

/// The pid of the process strace started (its only child).
fn tracee_of(strace_pid: u32) -> u32 {
    let children =
        std::fs::read_to_string(format!("/proc/{strace_pid}/task/{strace_pid}/children"))
            .expect("read strace's children");
    children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("strace {strace_pid} has no child: {children:?}"))
}

fn require_strace() {
    let out = std::process::Command::new("strace").arg("-V").output();
    match out {
        Ok(o) if o.status.success() => {}
        other => panic!(
            "this test needs strace (apt-get install strace; .ci/run installs it): {other:?}"
        ),
    }
}

/// One completed system call. `start`/`end` are the trace lines where it began and returned
/// (they differ when strace split it into `<unfinished ...>` and `<... resumed>`), so "A
/// happened before B" is `a.end < b.start`.
#[derive(Debug, Clone)]
struct Call {
    start: usize,
    end: usize,
    name: String,
    args: String,
    ret: i64,
}

impl Call {
    fn fd(&self) -> Option<i64> {
        self.args.split(',').next()?.trim().parse().ok()
    }
    /// The quoted strings among the arguments (paths, the head of written data).
    fn strings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut chars = self.args.chars();
        while let Some(c) = chars.next() {
            if c != '"' {
                continue;
            }
            let mut s = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        s.push('\\');
                        if let Some(n) = chars.next() {
                            s.push(n);
                        }
                    }
                    '"' => break,
                    c => s.push(c),
                }
            }
            out.push(s);
        }
        out
    }
    fn is_sync(&self) -> bool {
        self.name == "fsync" || self.name == "fdatasync"
    }
    fn is_write(&self) -> bool {
        matches!(
            self.name.as_str(),
            "write" | "pwrite64" | "writev" | "pwritev"
        )
    }
    fn is_rename(&self) -> bool {
        self.name.starts_with("rename")
    }
    /// A write to a socket or pipe that starts an HTTP response.
    fn is_http_response(&self) -> bool {
        matches!(
            self.name.as_str(),
            "write" | "writev" | "sendto" | "sendmsg"
        ) && self
            .strings()
            .first()
            .is_some_and(|s| s.starts_with("HTTP/1.1 ") && !s.starts_with("HTTP/1.1 100"))
    }
}

/// Parses `strace -f` output: `PID name(args) = RET`, joining split calls per pid.
fn parse(trace: &str) -> Vec<Call> {
    let mut pending: HashMap<&str, (usize, String)> = HashMap::new();
    let mut calls = Vec::new();
    for (i, line) in trace.lines().enumerate() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        let (start, text) = if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some((_, tail)) = resumed.split_once(" resumed>") else {
                continue;
            };
            let Some((start, head)) = pending.remove(pid) else {
                continue;
            };
            (start, format!("{head}{tail}"))
        } else if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, (i, head.to_owned()));
            continue;
        } else {
            (i, rest.to_owned())
        };
        let Some((call, ret)) = text.rsplit_once(" = ") else {
            continue; // signals, exits
        };
        let Some((name, args)) = call.split_once('(') else {
            continue;
        };
        let ret = ret.split_whitespace().next().unwrap_or("");
        let Ok(ret) = ret.parse::<i64>() else {
            continue; // `?` of calls cut short by the process's exit
        };
        calls.push(Call {
            start,
            end: i,
            name: name.trim().to_owned(),
            args: args.trim_end().trim_end_matches(')').to_owned(),
            ret,
        });
    }
    calls.sort_by_key(|c| c.end);
    calls
}

/// The trace with the file behind every descriptor at the time of each call.
struct Trace {
    calls: Vec<Call>,
    /// For each call (by index), the path its first argument's descriptor was opened as.
    fd_path: Vec<Option<String>>,
}

impl Trace {
    fn new(text: &str) -> Trace {
        let calls = parse(text);
        let mut open: HashMap<i64, String> = HashMap::new();
        let mut fd_path = Vec::with_capacity(calls.len());
        for c in &calls {
            fd_path.push(c.fd().and_then(|fd| open.get(&fd).cloned()));
            if c.name == "openat"
                && c.ret >= 0
                && let Some(p) = c.strings().first()
            {
                open.insert(c.ret, p.clone());
            }
        }
        Trace { calls, fd_path }
    }

    fn path_of(&self, i: usize) -> Option<&str> {
        self.fd_path[i].as_deref()
    }

    /// Indices of the calls that start HTTP responses, in order.
    fn responses(&self) -> Vec<usize> {
        (0..self.calls.len())
            .filter(|&i| self.calls[i].is_http_response())
            .collect()
    }

    fn show(&self, range: std::ops::Range<usize>) -> String {
        self.calls[range]
            .iter()
            .filter(|c| !(c.name == "write" && c.fd() == Some(2)))
            .map(|c| format!("{:>6} {}({}) = {}", c.end, c.name, c.args, c.ret))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Checks one request whose body became a blob file: written, fsynced, renamed, directory
/// fsynced, then committed (`meta.redb` written and synced), then answered. Returns the blob's
/// final path.
fn check_blob_write(t: &Trace, seg: std::ops::Range<usize>, data: &Path, len: u64) -> String {
    let ctx = || t.show(seg.clone());
    let tmp_dir = format!("{}/", data.join("tmp").display());
    let blobs_dir = format!("{}/", data.join("blobs").display());
    let meta = data.join("meta.redb").display().to_string();
    let created: Vec<usize> = seg
        .clone()
        .filter(|&i| {
            let c = &t.calls[i];
            c.name == "openat"
                && c.ret >= 0
                && c.args.contains("O_CREAT")
                && c.strings().first().is_some_and(|p| p.starts_with(&tmp_dir))
        })
        .collect();
    assert_eq!(created.len(), 1, "one temp blob created:\n{}", ctx());
    let open = created[0];
    let tmp_path = t.calls[open].strings()[0].clone();
    // The descriptor is the temp file's until the first sync on it (then it is closed).
    let sync = seg
        .clone()
        .find(|&i| i > open && t.calls[i].is_sync() && t.path_of(i) == Some(tmp_path.as_str()))
        .unwrap_or_else(|| panic!("the temp blob {tmp_path} is never fsynced:\n{}", ctx()));
    let written: i64 = (open + 1..sync)
        .filter(|&i| t.calls[i].is_write() && t.path_of(i) == Some(tmp_path.as_str()))
        .map(|i| t.calls[i].ret)
        .sum();
    assert_eq!(
        written,
        len as i64,
        "bytes written to {tmp_path} before its fsync:\n{}",
        ctx()
    );
    let rename = seg
        .clone()
        .find(|&i| t.calls[i].is_rename() && t.calls[i].strings().first() == Some(&tmp_path))
        .unwrap_or_else(|| panic!("{tmp_path} is never renamed:\n{}", ctx()));
    assert!(
        t.calls[sync].end < t.calls[rename].start,
        "fsync of the blob after its rename:\n{}",
        ctx()
    );
    let final_path = t.calls[rename].strings()[1].clone();
    assert!(final_path.starts_with(&blobs_dir), "{final_path}");
    let dir = Path::new(&final_path)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let dir_sync = seg
        .clone()
        .find(|&i| {
            i > rename
                && t.calls[i].is_sync()
                && t.path_of(i) == Some(dir.as_str())
                && t.calls[rename].end < t.calls[i].start
        })
        .unwrap_or_else(|| {
            panic!(
                "the directory {dir} is not fsynced after the rename into it:\n{}",
                ctx()
            )
        });
    let meta_write = seg
        .clone()
        .find(|&i| i > dir_sync && t.calls[i].is_write() && t.path_of(i) == Some(meta.as_str()))
        .unwrap_or_else(|| panic!("no metadata commit after the directory fsync:\n{}", ctx()));
    assert!(
        t.calls[dir_sync].end < t.calls[meta_write].start,
        "metadata written while the directory fsync ran:\n{}",
        ctx()
    );
    check_committed_before_answer(t, meta_write..seg.end, &meta, ctx);
    final_path
}

/// The last `meta.redb` sync of the range follows a write to it and ends before the response
/// (the last call of the range) starts.
fn check_committed_before_answer(
    t: &Trace,
    seg: std::ops::Range<usize>,
    meta: &str,
    ctx: impl Fn() -> String,
) {
    let response = seg.end;
    let last_write = seg
        .clone()
        .rev()
        .find(|&i| t.calls[i].is_write() && t.path_of(i) == Some(meta))
        .unwrap_or_else(|| panic!("no metadata write before the response:\n{}", ctx()));
    let sync = seg
        .clone()
        .rev()
        .find(|&i| t.calls[i].is_sync() && t.path_of(i) == Some(meta))
        .unwrap_or_else(|| panic!("meta.redb is not synced before the response:\n{}", ctx()));
    assert!(
        t.calls[last_write].end < t.calls[sync].start,
        "meta.redb written after its last sync before the response:\n{}",
        ctx()
    );
    assert!(
        t.calls[sync].end < t.calls[response].start,
        "the response is written before meta.redb's sync returned:\n{}",
        ctx()
    );
}

/// Every directory entry the server created before it said it was ready (directories, and
/// `meta.redb`) is made durable: its parent directory is fsynced after the creation.
fn check_startup_dirs(t: &Trace, data: &Path) {
    let ready = (0..t.calls.len())
        .find(|&i| {
            let c = &t.calls[i];
            c.name == "write"
                && c.fd() == Some(1)
                && c.strings()
                    .first()
                    .is_some_and(|s| s.starts_with("bucketgate ready"))
        })
        .expect("the ready line in the trace");
    let data = data.display().to_string();
    for i in 0..ready {
        let c = &t.calls[i];
        let created = match c.name.as_str() {
            "mkdir" | "mkdirat" => c.ret == 0,
            "openat" => c.ret >= 0 && c.args.contains("O_CREAT"),
            _ => false,
        };
        let Some(path) = c.strings().first().cloned() else {
            continue;
        };
        if !created || !path.starts_with(&data) {
            continue;
        }
        let parent = Path::new(&path).parent().unwrap().display().to_string();
        let synced = (i + 1..ready).any(|j| {
            t.calls[j].is_sync()
                && t.path_of(j) == Some(parent.as_str())
                && c.end < t.calls[j].start
        });
        assert!(
            synced,
            "{path} was created at start-up but {parent} is never fsynced before the ready \
             line (a power cut could lose it):\n{}",
            t.show(i..ready)
        );
    }
}

#[tokio::test]
async fn writes_are_synced_in_order_before_they_are_acknowledged() {
    require_strace();
    let dir = tempfile::tempdir().unwrap();
    let trace_file = dir.path().join("trace");
    let trace_arg = trace_file.display().to_string();
    // -s 64: enough of each buffer to recognise an HTTP status line and the ready line.
    let mut server = TestServer::start_wrapped(&[
        "strace", "-f", "-qq", "-s", "64", "-e", TRACED, "-o", &trace_arg, "--",
    ])
    .await;
    let tracee = Tracee(tracee_of(server.pid()));
    let data = server.data_dir();
    let bucket = bucket_name();

    // Sequential requests, one connection each: the n-th response in the trace is the n-th
    // request's.
    server
        .signed("PUT", &format!("/{bucket}"))
        .send()
        .await
        .assert_status(200);
    let big = pattern(1, 0, MIB);
    server
        .signed("PUT", &format!("/{bucket}/big"))
        .body(big.clone())
        .send()
        .await
        .assert_status(200);
    let s3 = server.client();
    let part = pattern(2, 0, 100 << 10);
    multipart_put(&s3, &bucket, "mp", vec![part.clone()]).await;
    assert_eq!(get_bytes(&s3, &bucket, "mp").await, part);
    server
        .signed("DELETE", &format!("/{bucket}/big"))
        .send()
        .await
        .assert_status(204);

    // Stop the server itself (strace then exits and has written the whole trace).
    let strace_pid = server.pid();
    std::process::Command::new("kill")
        .args(["-TERM", &tracee.0.to_string()])
        .status()
        .unwrap();
    let exit = server.terminate(std::time::Duration::from_secs(30));
    drop(tracee);
    let text = std::fs::read_to_string(&trace_file).expect("read the trace");
    let t = Trace::new(&text);
    assert!(
        t.calls.len() > 100,
        "strace {strace_pid} ({exit:?}) traced almost nothing:\n{text}"
    );

    check_startup_dirs(&t, &data);

    // Responses: CreateBucket, PUT, CreateMultipartUpload, UploadPart, Complete, GET, DELETE.
    let responses = t.responses();
    assert_eq!(
        responses.len(),
        7,
        "one response per request:\n{}",
        responses
            .iter()
            .map(|&i| format!("{:?}", t.calls[i]))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let seg = |n: usize| {
        let from = if n == 0 { 0 } else { responses[n - 1] + 1 };
        from..responses[n]
    };
    let meta = data.join("meta.redb").display().to_string();

    let put_blob = check_blob_write(&t, seg(1), &data, big.len() as u64);
    check_blob_write(&t, seg(3), &data, part.len() as u64);
    check_committed_before_answer(&t, seg(4), &meta, || t.show(seg(4)));
    check_committed_before_answer(&t, seg(6), &meta, || t.show(seg(6)));

    // The deleted object's blob is unlinked only after the commit that dropped it is synced.
    let delete_sync = seg(6)
        .rev()
        .find(|&i| t.calls[i].is_sync() && t.path_of(i) == Some(meta.as_str()))
        .unwrap();
    let unlink = (0..t.calls.len())
        .find(|&i| {
            t.calls[i].name.starts_with("unlink") && t.calls[i].strings().first() == Some(&put_blob)
        })
        .unwrap_or_else(|| panic!("the deleted blob {put_blob} is never unlinked"));
    assert!(
        t.calls[delete_sync].end < t.calls[unlink].start,
        "{put_blob} unlinked before the delete's commit was synced:\n{}",
        t.show(seg(6).start..unlink + 1)
    );
}

impl RawResponseExt for RawResponse {
    #[track_caller]
    fn assert_status(&self, status: u16) {
        assert_eq!(self.status, status, "{:?}\n{}", self.headers, self.text());
    }
}

trait RawResponseExt {
    fn assert_status(&self, status: u16);
}
