//! Whether a linked host currently answers from this gateway: the host is resolved (with the
//! `[domains] resolver`) and asked over plain HTTP for `/.well-known/bucketgate/<token>`, a
//! path the S3 listener answers before any routing. The token is the host's: a hash of the
//! host name and a secret this process drew at random at start-up, so no other server
//! (another bucketgate included) knows it, and the token seen by one host's server (its owner
//! may run it) is no use on any other host.
//!
//! The check is asked for by bucket owners, so it must not become a way to make the gateway
//! fetch things for them: it runs only for hosts linked to the caller's bucket (checked by
//! `control`), only on the port the world reaches the S3 listener on (`[domains] http_port`,
//! 80 by default) and the S3 listener's own port, with a fixed path, no proxy, no redirect
//! followed, a short timeout and a cap on the answer read; the caller learns whether the token
//! came back and the status, never the body. A few checks run at once, gateway-wide.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Manager;

/// Path prefix of the gateway's own answer (the token follows).
pub const ANSWER_PATH: &str = "/.well-known/bucketgate/";
/// Longest wait for one port's answer, connection included.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Bytes read of an answer at most: the token is 32.
const MAX_ANSWER: usize = 256;
/// Addresses reported at most.
const MAX_ADDRESSES: usize = 8;
/// Checks running at once, gateway-wide (more wait their turn).
pub(super) const SLOTS: usize = 4;

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reachability {
    pub host: String,
    /// Some port answered with this gateway's token.
    pub answers: bool,
    /// What the host resolves to (the first one is asked).
    pub addresses: Vec<String>,
    /// One per port asked, in order.
    pub checks: Vec<PortCheck>,
    /// Why nothing was asked (the name does not resolve).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The answer of one port.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortCheck {
    pub port: u16,
    pub url: String,
    pub answers: bool,
    /// The HTTP status of the answer, when one came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it does not count as this gateway's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Manager {
    /// The token `host` answers with when it reaches this process.
    fn token_for(&self, host: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.gateway_secret);
        h.update(host.as_bytes());
        hex::encode(&h.finalize()[..16])
    }

    /// The answer to `GET /.well-known/bucketgate/<token>` with `Host: host`: the token, when
    /// it is this process's for that host.
    pub fn gateway_answer(&self, host: &str, token: &str) -> Option<String> {
        let ours = self.token_for(host);
        // Constant time: the token is what proves an answer came from here.
        let same = token.len() == ours.len()
            && token
                .bytes()
                .zip(ours.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same.then_some(ours)
    }

    /// Ports a check asks: the S3 listener as the world reaches it, then the listener's own.
    fn probe_ports(&self) -> Vec<u16> {
        let mut ports = vec![self.domains.http_port];
        if self.s3_port != 0 && self.s3_port != self.domains.http_port {
            ports.push(self.s3_port);
        }
        ports
    }

    /// Resolves `host` and asks each port for this gateway's token. `host` must be a linked,
    /// canonical host name (the caller checks).
    pub async fn reachability(&self, host: &str) -> Reachability {
        let mut out = Reachability {
            host: host.to_owned(),
            answers: false,
            addresses: Vec::new(),
            checks: Vec::new(),
            message: None,
        };
        // Closed only with the manager: acquiring cannot fail while it lives.
        let Ok(_slot) = self.probe_slots.acquire().await else {
            return out;
        };
        let ips = match resolve(self.domains.resolver, host).await {
            Ok(ips) => ips,
            Err(why) => {
                out.message = Some(why);
                return out;
            }
        };
        out.addresses = ips.iter().map(IpAddr::to_string).collect();
        let ip = ips[0];
        let token = self.token_for(host);
        let checks = self
            .probe_ports()
            .into_iter()
            .map(|port| ask(host, SocketAddr::new(ip, port), &token));
        out.checks = futures::future::join_all(checks).await;
        out.answers = out.checks.iter().any(|c| c.answers);
        out
    }
}

/// The addresses of `host` (at least one), with a reason when there are none.
async fn resolve(server: Option<SocketAddr>, host: &str) -> Result<Vec<IpAddr>, String> {
    let resolver = super::verify::resolver(server)?;
    let lookup = tokio::time::timeout(TIMEOUT, resolver.lookup_ip(format!("{host}.")))
        .await
        .map_err(|_| format!("{host}: the DNS look-up timed out"))?
        .map_err(|e| {
            // The resolver's text for a missing record spells out its whole query.
            let text = e.to_string();
            if text.contains("no records found") {
                format!("{host} does not resolve (no A or AAAA record)")
            } else {
                format!("{host} does not resolve: {text}")
            }
        })?;
    let ips: Vec<IpAddr> = lookup.iter().take(MAX_ADDRESSES).collect();
    if ips.is_empty() {
        return Err(format!("{host} has no address"));
    }
    Ok(ips)
}

/// `GET http://<host>:<port>/.well-known/bucketgate/<token>` sent to `addr`.
async fn ask(host: &str, addr: SocketAddr, token: &str) -> PortCheck {
    let url = format!("http://{host}:{}{ANSWER_PATH}{token}", addr.port());
    // Shown without the token: it is what makes the answer unforgeable.
    let shown = format!("http://{host}:{}{ANSWER_PATH}…", addr.port());
    let mut check = PortCheck {
        port: addr.port(),
        url: shown,
        answers: false,
        status: None,
        message: None,
    };
    match tokio::time::timeout(TIMEOUT, fetch(host, addr, &url)).await {
        Err(_) => check.message = Some(format!("no answer from {addr} within {TIMEOUT:?}")),
        Ok(Err(why)) => check.message = Some(why),
        Ok(Ok((status, body))) => {
            check.status = Some(status);
            check.answers = status == 200 && body.as_deref().map(str::trim) == Some(token);
            if !check.answers {
                check.message = Some(match (status, body) {
                    (300..=399, _) => {
                        format!("{addr} answered a redirect ({status}), not followed")
                    }
                    (_, None) => {
                        format!("{addr} answered more than {MAX_ANSWER} bytes: another server")
                    }
                    _ => format!(
                        "{addr} answered {status} without this gateway's token: another server"
                    ),
                });
            }
        }
    }
    check
}

/// The status and (when at most [`MAX_ANSWER`] bytes) the body of one GET.
async fn fetch(host: &str, addr: SocketAddr, url: &str) -> Result<(u16, Option<String>), String> {
    let client = reqwest::Client::builder()
        .resolve(host, addr)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(TIMEOUT)
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let mut resp = client.get(url).send().await.map_err(|e| {
        if e.is_connect() {
            format!("cannot connect to {addr}")
        } else {
            format!("no HTTP answer from {addr}")
        }
    })?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|_| format!("{addr} broke off its answer"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER {
            return Ok((status, None));
        }
    }
    Ok((status, Some(String::from_utf8_lossy(&body).into_owned())))
}

#[cfg(test)]
mod tests {
    use super::super::VerifyMethod;
    use super::super::tests::manager;

    #[test]
    fn only_this_processes_token_for_the_host_is_answered() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(dir.path(), false, VerifyMethod::None);
        let host = "site.example.test";
        let token = m.token_for(host);
        assert_eq!(token.len(), 32);
        assert_eq!(m.gateway_answer(host, &token), Some(token.clone()));
        assert_eq!(m.gateway_answer(host, ""), None);
        assert_eq!(m.gateway_answer(host, &token[..31]), None);
        assert_eq!(m.gateway_answer(host, &format!("{token}x")), None);
        assert_eq!(m.gateway_answer(host, &"0".repeat(32)), None);
        // One host's token is no use on another.
        assert_eq!(m.gateway_answer("other.example.test", &token), None);
        assert_ne!(m.token_for("other.example.test"), token);
        // Another manager (another process) draws another secret.
        let dir2 = tempfile::tempdir().unwrap();
        let other = manager(dir2.path(), false, VerifyMethod::None);
        assert_ne!(other.token_for(host), token);
        assert_eq!(other.gateway_answer(host, &token), None);
    }

    #[test]
    fn ports_are_the_public_one_and_the_listeners() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(dir.path(), false, VerifyMethod::None);
        // The test manager's S3 listener is on 9000.
        assert_eq!(m.probe_ports(), vec![80, 9000]);
    }
}
