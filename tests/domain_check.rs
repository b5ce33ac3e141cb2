//! `GET /api/buckets/{name}/domain/check?host=`: whether a linked host currently answers from
//! this gateway. A DNS server in the test (`[domains] resolver`) gives each test host its
//! address; a plain HTTP server in the test on 127.0.0.2 (`[domains] http_port`) plays the other
//! servers a host may reach: one that answers something else, one that redirects, one whose
//! answer is too long. Only hosts linked to the bucket are checked.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A DNS server answering A queries for `names` (anything else: NXDOMAIN; AAAA: no record).
async fn dns_server(names: &'static [(&'static str, Ipv4Addr)]) -> SocketAddr {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            if let Some(answer) = dns_answer(&buf[..n], names) {
                let _ = sock.send_to(&answer, peer).await;
            }
        }
    });
    addr
}

/// The reply to one DNS query (RFC 1035 §4.1), `None` for what is not one.
fn dns_answer(q: &[u8], names: &[(&str, Ipv4Addr)]) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*q.get(at)?, *q.get(at + 1)?]);
    let question = q.get(12..at + 4)?;
    let name = labels.join(".");
    let ip = names.iter().find(|(n, _)| *n == name).map(|(_, ip)| *ip);
    let a = ip.filter(|_| qtype == 1);
    let mut out = Vec::new();
    out.extend_from_slice(&q[..2]);
    // QR, the query's opcode and RD, AA; RA; NXDOMAIN for unknown names.
    out.push(0x84 | (q[2] & 0x79));
    out.push(0x80 | if ip.is_none() { 3 } else { 0 });
    out.extend_from_slice(&[0, 1, 0, u8::from(a.is_some()), 0, 0, 0, 0]);
    out.extend_from_slice(question);
    if let Some(ip) = a {
        out.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4]);
        out.extend_from_slice(&ip.octets());
    }
    Some(out)
}

/// The requests the other server got: (Host without port, path).
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// The other server, on 127.0.0.2: by Host, `redirect.test` redirects to a path of its own
/// that would answer the token, `big.test` answers the token padded past the cap, and any
/// other answers "hello".
async fn other_server() -> (u16, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                let host = head
                    .lines()
                    .find_map(|l| l.strip_prefix("host: ").or(l.strip_prefix("Host: ")))
                    .unwrap_or("")
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let token = path.rsplit('/').next().unwrap_or("").to_owned();
                log.lock().unwrap().push((host.clone(), path.clone()));
                let resp = match (host.as_str(), path.starts_with("/echo/")) {
                    (_, true) => ok(&token),
                    ("redirect.test", false) => format!(
                        "HTTP/1.1 302 Found\r\nLocation: http://redirect.test:{port}/echo/{token}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    ),
                    ("big.test", false) => ok(&format!("{token}{}", " ".repeat(1000))),
                    _ => ok("hello"),
                };
                let _ = conn.write_all(resp.as_bytes()).await;
            });
        }
    });
    (port, seen)
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

const NAMES: &[(&str, Ipv4Addr)] = &[
    ("site.test", Ipv4Addr::new(127, 0, 0, 1)),
    ("other.test", Ipv4Addr::new(127, 0, 0, 2)),
    ("redirect.test", Ipv4Addr::new(127, 0, 0, 2)),
    ("big.test", Ipv4Addr::new(127, 0, 0, 2)),
    ("down.test", Ipv4Addr::new(127, 0, 0, 3)),
    ("legacy.test", Ipv4Addr::new(127, 0, 0, 1)),
];

struct Env {
    server: TestServer,
    token: String,
    http: reqwest::Client,
}

impl Env {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.token.clone(), method, path, body).await
    }

    async fn call_as(
        &self,
        auth: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.server.admin_endpoint))
            .bearer_auth(auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn check(&self, bucket: &str, host: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &format!("/api/buckets/{bucket}/domain/check?host={host}"),
            None,
        )
        .await
    }
}

fn config(dns: SocketAddr, http_port: u16, extra: &str) -> String {
    format!("{extra}[domains]\nresolver = \"{dns}\"\nhttp_port = {http_port}\n")
}

#[tokio::test]
async fn a_linked_host_answers_from_this_gateway_or_says_why_not() {
    let dns = dns_server(NAMES).await;
    let (other_port, seen) = other_server().await;
    let server = TestServer::start_with_config(&config(dns, other_port, "")).await;
    let env = Env {
        token: server.admin_token(),
        server,
        http: http_client(),
    };
    let s3_port = env.server.s3_addr.port();
    assert_eq!(
        env.call(Method::POST, "/api/buckets", Some(json!({"name": "site"})))
            .await
            .0,
        201
    );
    for host in [
        "site.test",
        "other.test",
        "redirect.test",
        "big.test",
        "down.test",
        "nowhere.test",
    ] {
        let (s, v) = env
            .call(
                Method::POST,
                "/api/buckets/site/domain",
                Some(json!({"domain": host})),
            )
            .await;
        assert_eq!(s, 200, "{host}: {v}");
    }

    // Resolves to 127.0.0.1: the S3 listener's port answers (nothing on 127.0.0.1:http_port).
    let (s, v) = env.check("site", "SITE.test").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["host"], "site.test");
    assert_eq!(v["answers"], true, "{v}");
    assert_eq!(v["addresses"], json!(["127.0.0.1"]));
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{v}");
    assert_eq!(checks[0]["port"], other_port);
    assert_eq!(checks[0]["answers"], false);
    assert!(
        checks[0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{v}"
    );
    assert_eq!(
        (checks[1]["port"].as_u64(), &checks[1]["answers"]),
        (Some(u64::from(s3_port)), &json!(true))
    );
    assert_eq!(checks[1]["status"], 200);
    // The URL shown keeps the token to itself.
    assert_eq!(
        checks[1]["url"],
        format!("http://site.test:{s3_port}/.well-known/bucketgate/…")
    );

    // Another server: it answers, but not with this gateway's token.
    let (_, v) = env.check("site", "other.test").await;
    assert_eq!(v["answers"], false, "{v}");
    assert_eq!(v["checks"][0]["status"], 200, "{v}");
    assert!(
        v["checks"][0]["message"]
            .as_str()
            .unwrap()
            .contains("another server"),
        "{v}"
    );
    assert!(
        v["checks"][1]["message"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{v}"
    );
    // A redirect (to a URL that would answer the token) is not followed.
    let (_, v) = env.check("site", "redirect.test").await;
    assert_eq!(v["answers"], false, "{v}");
    assert_eq!(v["checks"][0]["status"], 302, "{v}");
    assert!(
        v["checks"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not followed"),
        "{v}"
    );
    // An answer longer than the cap is not read to its end.
    let (_, v) = env.check("site", "big.test").await;
    assert_eq!(v["answers"], false, "{v}");
    assert!(
        v["checks"][0]["message"]
            .as_str()
            .unwrap()
            .contains("more than 256 bytes"),
        "{v}"
    );
    // Nothing listens at the address; the name does not resolve.
    let (_, v) = env.check("site", "down.test").await;
    assert_eq!(
        (&v["answers"], &v["addresses"]),
        (&json!(false), &json!(["127.0.0.3"])),
        "{v}"
    );
    let (_, v) = env.check("site", "nowhere.test").await;
    assert_eq!(v["answers"], false, "{v}");
    assert_eq!(v["checks"], json!([]), "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("does not resolve"),
        "{v}"
    );

    // The token the other server was sent is that host's: the gateway answers it for that
    // Host only (and it is what a server that echoes it back would need).
    let (host, asked) = seen
        .lock()
        .unwrap()
        .iter()
        .find(|(h, _)| h == "other.test")
        .cloned()
        .unwrap();
    let token = asked
        .strip_prefix("/.well-known/bucketgate/")
        .unwrap()
        .to_owned();
    assert_eq!(token.len(), 32);
    let path = format!("/.well-known/bucketgate/{token}");
    let answer = env
        .server
        .raw("GET", &path)
        .header("host", &host)
        .send()
        .await;
    assert_eq!((answer.status, answer.text()), (200, token.clone()));
    // Any other token, Host or method is an ordinary request: the website of the bucket
    // (public here) serves its objects under that prefix, and never the token.
    let (s, v) = env
        .call(
            Method::PATCH,
            "/api/buckets/site",
            Some(json!({"publicRead": true})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    env.server
        .client()
        .put_object()
        .bucket("site")
        .key(".well-known/bucketgate/notes.txt")
        .body(b"an object".to_vec().into())
        .send()
        .await
        .unwrap();
    let object = env
        .server
        .raw("GET", "/.well-known/bucketgate/notes.txt")
        .header("host", "site.test")
        .send()
        .await;
    assert_eq!(
        (object.status, object.text()),
        (200, "an object".to_owned())
    );
    for (method, target, host) in [
        ("GET", path.as_str(), "site.test"),
        ("GET", "/.well-known/bucketgate/0123", host.as_str()),
        ("POST", path.as_str(), host.as_str()),
    ] {
        let r = env
            .server
            .raw(method, target)
            .header("host", host)
            .send()
            .await;
        assert!(
            r.status >= 400 && !r.text().contains(&token),
            "{method} {target} on {host}: {} {}",
            r.status,
            r.text()
        );
    }
    // The redirect was never followed: the other server saw no request on its echo path.
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().any(|(h, _)| h == "redirect.test"), "{seen:?}");
    assert!(
        seen.iter()
            .all(|(_, p)| p.starts_with("/.well-known/bucketgate/")),
        "{seen:?}"
    );
    env.server.assert_no_panics();
}

#[tokio::test]
async fn only_hosts_linked_to_the_callers_bucket_are_checked() {
    let dns = dns_server(NAMES).await;
    let (other_port, seen) = other_server().await;
    let server = TestServer::start_with_config(&config(dns, other_port, "")).await;
    let token = server.admin_token();
    let env = Env {
        token,
        server,
        http: http_client(),
    };
    for name in ["mine", "theirs"] {
        assert_eq!(
            env.call(Method::POST, "/api/buckets", Some(json!({"name": name})))
                .await
                .0,
            201
        );
    }
    for (b, host) in [
        ("mine", "site.test"),
        ("theirs", "other.test"),
        ("mine", "legacy.test"),
    ] {
        assert_eq!(
            env.call(
                Method::POST,
                &format!("/api/buckets/{b}/domain"),
                Some(json!({"domain": host}))
            )
            .await
            .0,
            200
        );
    }
    // Another bucket's host, a host linked nowhere, an address, names that are no host
    // names: never asked.
    for host in [
        "other.test",
        "big.test",
        "example.com",
        "127.0.0.2",
        "localhost",
        "not%20a%20host",
        "site.test%2Fx",
    ] {
        let (s, v) = env.check("mine", host).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some("NoSuchDomain")),
            "{host}: {v}"
        );
    }
    for (host, code) in [("b%C3%BCcher.test", "InvalidDomain")] {
        let (s, v) = env.check("mine", host).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some(code)),
            "{host}: {v}"
        );
    }
    let (s, v) = env
        .call(Method::GET, "/api/buckets/mine/domain/check", None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str(), v["error"]["field"].as_str()),
        (400, Some("InvalidArgument"), Some("host")),
        "{v}"
    );
    let (s, v) = env
        .call(
            Method::GET,
            "/api/buckets/mine/domain/check?host=site.test&port=22",
            None,
        )
        .await;
    assert_eq!(s, 400, "unknown parameters are refused: {v}");
    let (s, _) = env.check("nosuch", "site.test").await;
    assert_eq!(s, 404);
    assert!(
        seen.lock().unwrap().is_empty(),
        "a refused check reached the network: {:?}",
        seen.lock().unwrap()
    );

    // A user sees only their own buckets: another's is not found, its host not checked.
    assert_eq!(
        env.call(Method::POST, "/api/users", Some(json!({"id": "eve"})))
            .await
            .0,
        201
    );
    let (_, key) = env.call(Method::POST, "/api/users/eve/keys", None).await;
    let eve = format!(
        "{}:{}",
        key["accessKey"].as_str().unwrap(),
        key["secretKey"].as_str().unwrap()
    );
    let (s, v) = env
        .call_as(
            &eve,
            Method::GET,
            "/api/buckets/theirs/domain/check?host=other.test",
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("NoSuchBucket")),
        "{v}"
    );
    assert!(seen.lock().unwrap().is_empty());
    let (s, v) = env
        .call_as(
            "nope",
            Method::GET,
            "/api/buckets/theirs/domain/check?host=other.test",
            None,
        )
        .await;
    assert_eq!(s, 401, "{v}");

    // A link whose name became reserved after it was made never routes: not checked either.
    let Env {
        mut server,
        token,
        http,
    } = env;
    server.rewrite_config(&config(
        dns,
        other_port,
        "reserved_hosts = [\"legacy.test\"]\n",
    ));
    server.restart().await;
    let env = Env {
        server,
        token,
        http,
    };
    let (s, v) = env.check("mine", "legacy.test").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("ReservedDomain")),
        "{v}"
    );
    let (s, v) = env.check("mine", "site.test").await;
    assert_eq!((s, &v["answers"]), (200, &json!(true)), "{v}");
    env.server.assert_no_panics();
}
