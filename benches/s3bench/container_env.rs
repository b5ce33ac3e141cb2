//! What the container mode needs around the bench: the Docker engine (through its CLI, as
//! an operator would look) and bucketgate's admin API, to find a bucket's container, its
//! credentials and processes, and to remove what the run left.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Label bucketgate puts on its containers and volumes, naming its instance.
const LABEL_INSTANCE: &str = "io.bucketgate.instance";

pub fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("docker {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// This run's gateway instance: the containers and volumes labelled with it are removed by
/// [`Instance::cleanup`], or on drop (error paths, panics).
pub struct Instance {
    pub id: String,
    cleaned: bool,
}

impl Instance {
    pub fn new() -> Self {
        Self {
            id: format!("s3bench-{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff),
            cleaned: false,
        }
    }

    /// Removes the instance's containers and volumes; says what it did.
    pub fn cleanup(&mut self) -> String {
        self.cleaned = true;
        let filter = format!("label={LABEL_INSTANCE}={}", self.id);
        let mut said = Vec::new();
        let mut remove = |kind: &str, list: &[&str], rm: &[&str]| {
            let found = match docker(list) {
                Ok(out) => out
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
                Err(e) => return said.push(format!("listing {kind}s failed: {e}")),
            };
            if found.is_empty() {
                return;
            }
            let mut args = rm.to_vec();
            args.extend(found.iter().map(String::as_str));
            said.push(match docker(&args) {
                Ok(_) => format!("removed {} {kind}(s)", found.len()),
                Err(e) => format!("removing {kind}s failed: {e}"),
            });
        };
        // Containers first: a volume in use cannot be removed.
        remove(
            "container",
            &["ps", "-aq", "--filter", &filter],
            &["rm", "-f"],
        );
        remove(
            "volume",
            &["volume", "ls", "-q", "--filter", &filter],
            &["volume", "rm", "-f"],
        );
        if said.is_empty() {
            said.push("nothing to remove".into());
        }
        format!("cleanup of instance {}: {}", self.id, said.join("; "))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if !self.cleaned {
            eprintln!("s3bench: {}", self.cleanup());
        }
    }
}

/// The bucket's container as the admin API and `docker inspect` describe it.
pub struct Container {
    pub name: String,
    pub addr: std::net::SocketAddr,
    pub access_key: String,
    pub secret_key: String,
    /// Host pid of its S3 server (0 where it cannot be read).
    pub pid: u32,
    /// Host pid of Docker's userland proxy of its published port (0: none found).
    pub proxy_pid: u32,
    /// Its S3 port at its address on the Docker network, when it has one.
    pub bridge: Option<std::net::SocketAddr>,
}

/// The `docker-proxy` process forwarding host `port` (Docker's userland proxy: loopback
/// connections to a published port pass through it), or 0.
fn proxy_pid(port: u16) -> u32 {
    let port = port.to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let is_proxy = args.first().is_some_and(|a| a.ends_with(b"docker-proxy"));
        let serves = args
            .windows(2)
            .any(|w| w[0] == b"-host-port" && w[1] == port.as_bytes());
        if is_proxy && serves {
            return pid;
        }
    }
    0
}

/// The value following `flag` in a command line.
fn arg_after(cmd: &[Value], flag: &str) -> Option<String> {
    let i = cmd.iter().position(|a| a.as_str() == Some(flag))?;
    cmd.get(i + 1)?.as_str().map(str::to_owned)
}

pub fn inspect(name: &str) -> Result<Value, String> {
    let out = docker(&["inspect", "--type", "container", name])?;
    let v: Value = serde_json::from_str(&out).map_err(|e| format!("docker inspect: {e}"))?;
    v.get(0)
        .cloned()
        .ok_or_else(|| "docker inspect: empty".into())
}

pub struct Admin {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Admin {
    pub fn new(url: &str, data_dir: &Path) -> Result<Self, String> {
        let path = data_dir.join("admin-token");
        let token = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .trim()
            .to_owned();
        Ok(Self {
            url: url.to_owned(),
            token,
            http: reqwest::Client::new(),
        })
    }

    pub async fn call(&self, method: reqwest::Method, path: &str) -> Result<Value, String> {
        let resp = self
            .http
            .request(method.clone(), format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("{method} {path}: HTTP {status}: {body}"));
        }
        Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// Finds the bucket's container and the credentials of its S3 server.
    pub async fn container(&self, bucket: &str) -> Result<Container, String> {
        let view = self
            .call(reqwest::Method::GET, &format!("/api/buckets/{bucket}"))
            .await?;
        let c = &view["container"];
        let (Some(name), Some(addr)) = (c["name"].as_str(), c["s3Address"].as_str()) else {
            return Err(format!("bucket {bucket} has no container in {view}"));
        };
        let addr: std::net::SocketAddr = addr
            .parse()
            .map_err(|e| format!("container s3Address {addr}: {e}"))?;
        let info = inspect(name)?;
        let cmd = info["Config"]["Cmd"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let (Some(access_key), Some(secret_key)) = (
            arg_after(&cmd, "--access-key"),
            arg_after(&cmd, "--secret-key"),
        ) else {
            return Err(format!(
                "no --access-key/--secret-key in the command of {name}"
            ));
        };
        let pid = info["State"]["Pid"].as_u64().unwrap_or(0) as u32;
        let pid = if Path::new(&format!("/proc/{pid}/stat")).exists() {
            pid
        } else {
            0
        };
        // Behind Docker's init (the profile's `init = true`) the server is init's child.
        let pid = if info["HostConfig"]["Init"].as_bool() == Some(true) {
            first_child(pid).unwrap_or(0)
        } else {
            pid
        };
        Ok(Container {
            name: name.to_owned(),
            proxy_pid: proxy_pid(addr.port()),
            bridge: bridge_addr(&info, addr.port()),
            addr,
            access_key,
            secret_key,
            pid,
        })
    }
}

/// The container's own address and the S3 port inside it (the one published on `host_port`),
/// from `docker inspect`.
fn bridge_addr(info: &Value, host_port: u16) -> Option<std::net::SocketAddr> {
    let net = &info["NetworkSettings"];
    let ip: std::net::IpAddr = net["Networks"]
        .as_object()?
        .values()
        .find_map(|n| n["IPAddress"].as_str().filter(|s| !s.is_empty()))?
        .parse()
        .ok()?;
    let host = host_port.to_string();
    let inner = net["Ports"].as_object()?.iter().find_map(|(k, v)| {
        let published = v
            .as_array()?
            .iter()
            .any(|b| b["HostPort"].as_str() == Some(host.as_str()));
        published
            .then(|| k.split('/').next()?.parse::<u16>().ok())
            .flatten()
    })?;
    Some(std::net::SocketAddr::new(ip, inner))
}

/// The first child of process `pid` (from `/proc/PID/task/PID/children`).
fn first_child(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
