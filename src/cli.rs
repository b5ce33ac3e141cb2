//! The command-line client of the control-plane API (`bucketgate bucket create …`). It only
//! talks to the admin listener's `/api`; it never opens the data dir.

use anyhow::{Context, Result, anyhow, bail};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

mod args;
mod download;
mod object;
mod output;
mod transfer;
mod upload;

pub use args::*;

use output::{access, human_bytes, items, print_bucket, print_pairs, print_stats, table, text};

/// Parses `10GiB`, `500MB`, `1k`, `42`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s:?}"))
}

/// `"none"` → JSON null (remove the limit), else a size.
fn optional_limit(v: &str) -> Result<Value> {
    if v.eq_ignore_ascii_case("none") {
        Ok(Value::Null)
    } else {
        Ok(json!(parse_size(v).map_err(|e| anyhow!(e))?))
    }
}

/// A connection to the API.
struct Client {
    http: reqwest::Client,
    base: String,
    auth: String,
    json: bool,
}

impl Client {
    fn new(g: &GlobalArgs) -> Result<Self> {
        let auth = match (&g.token, &g.access_key, &g.secret_key) {
            (_, Some(ak), Some(sk)) => format!("Bearer {ak}:{sk}"),
            (Some(t), _, _) => format!("Bearer {t}"),
            (None, Some(_), None) | (None, None, Some(_)) => {
                bail!("--access-key and --secret-key go together")
            }
            (None, None, None) => bail!(
                "no credentials: pass --token (BUCKETGATE_ADMIN_TOKEN) or --access-key/--secret-key"
            ),
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base: g.api.trim_end_matches('/').to_owned(),
            auth,
            json: g.json,
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::AUTHORIZATION, &self.auth)
    }

    /// Sends and returns the JSON answer (null for 204), or the API's error.
    async fn call(&self, req: RequestBuilder) -> Result<Value> {
        let resp = checked(req.send().await.context("cannot reach the API")?).await?;
        if resp.status() == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        resp.json().await.context("reading the API's answer")
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.call(self.request(Method::GET, path)).await
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.call(req).await
    }
}

/// Turns a non-2xx answer into an error carrying the API's code and message.
async fn checked(resp: Response) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = resp.text().await.unwrap_or_default();
    let (code, message) = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            Some((
                e.get("code")?.as_str()?.to_owned(),
                e.get("message")?.as_str()?.to_owned(),
            ))
        })
        .unwrap_or_else(|| (status.to_string(), text));
    bail!("{}: {}", output::escape(&code), output::escape(&message))
}

/// Percent-encodes one path segment.
fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Percent-encodes a key, keeping its `/`.
fn key_path(key: &str) -> String {
    key.split('/').map(seg).collect::<Vec<_>>().join("/")
}

/// Runs one client command.
pub async fn run(cmd: Command) -> Result<()> {
    let c = Client::new(cmd.global())?;
    match cmd {
        Command::Bucket(b) => bucket(&c, b.cmd).await,
        Command::Object(o) => object::object(&c, o.cmd).await,
        Command::Presign(p) => {
            let (kind, a) = match p.cmd {
                PresignCmd::Get(a) => ("download", a),
                PresignCmd::Put(a) => ("upload", a),
            };
            let body = json!({"key": a.key, "expiresIn": a.expires_in});
            let v = c
                .send(
                    Method::POST,
                    &format!("/api/buckets/{}/presigned-{kind}", seg(&a.bucket)),
                    Some(body),
                )
                .await?;
            output(&c, &v, |v| println!("{}", text(&v["url"])));
            Ok(())
        }
        Command::Domain(d) => {
            let v = match d.cmd {
                DomainCmd::Link { bucket, domain } => {
                    let path = format!("/api/buckets/{}/domain", seg(&bucket));
                    c.send(Method::POST, &path, Some(json!({ "domain": domain })))
                        .await?
                }
                DomainCmd::Unlink { bucket, domain } => {
                    let path = format!("/api/buckets/{}/domain", seg(&bucket));
                    let body = domain.map(|d| json!({ "domain": d }));
                    c.send(Method::DELETE, &path, body).await?
                }
            };
            output(&c, &v, print_bucket);
            Ok(())
        }
        Command::User(u) => user(&c, u.cmd).await,
        Command::Key(k) => key(&c, k.cmd).await,
    }
}

fn output(c: &Client, v: &Value, human: impl FnOnce(&Value)) {
    if c.json {
        println!(
            "{}",
            serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
        );
    } else {
        human(v);
    }
}

async fn bucket(c: &Client, cmd: BucketCmd) -> Result<()> {
    let path = |name: &str, tail: &str| format!("/api/buckets/{}{tail}", seg(name));
    match cmd {
        BucketCmd::Create(a) => {
            let mut body = json!({"name": a.name});
            let opt = [
                ("owner", a.owner.map(Value::from)),
                ("description", a.description.map(Value::from)),
                ("team", a.team.map(Value::from)),
                ("workspace", a.workspace.map(Value::from)),
                ("maxSizeBytes", a.max_size.map(Value::from)),
                ("maxObjects", a.max_objects.map(Value::from)),
                ("publicRead", a.public_read.then_some(Value::Bool(true))),
                ("publicList", a.public_list.then_some(Value::Bool(true))),
                ("versioning", a.versioning.then_some(Value::Bool(true))),
                ("backend", a.backend.map(Value::from)),
                ("profile", a.profile.map(Value::from)),
            ];
            for (k, v) in opt {
                if let Some(v) = v {
                    body[k] = v;
                }
            }
            let v = c.send(Method::POST, "/api/buckets", Some(body)).await?;
            output(c, &v, |v| {
                print_bucket(&v["bucket"]);
                let conn = &v["connection"];
                println!();
                print_pairs(&[
                    ("endpoint", text(&conn["endpoint"])),
                    ("region", text(&conn["region"])),
                    ("bucket", text(&conn["bucket"])),
                    ("access key", text(&conn["accessKey"])),
                    (
                        "secret key",
                        conn.get("secretKey")
                            .map_or("(your existing secret)".to_owned(), |s| {
                                format!("{}  (shown once)", text(s))
                            }),
                    ),
                    ("path style", text(&conn["pathStyle"])),
                ]);
            });
        }
        BucketCmd::List => {
            let v = c.get("/api/buckets").await?;
            output(c, &v, |v| {
                let rows: Vec<Vec<String>> = items(&v["buckets"])
                    .map(|b| {
                        vec![
                            text(&b["name"]),
                            text(&b["owner"]),
                            text(&b["status"]),
                            text(&b["usage"]["objects"]),
                            human_bytes(&b["usage"]["bytes"]),
                            human_bytes(&b["maxSizeBytes"]),
                            access(b),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "NAME", "OWNER", "STATUS", "OBJECTS", "SIZE", "QUOTA", "ACCESS",
                    ],
                    &rows,
                );
            });
        }
        BucketCmd::Show { name } => {
            let v = c.get(&path(&name, "")).await?;
            output(c, &v, print_bucket);
        }
        BucketCmd::Update(a) => {
            let mut body = json!({});
            if let Some(d) = a.description {
                body["description"] = json!(d);
            }
            if let Some(s) = a.max_size {
                body["maxSizeBytes"] = optional_limit(&s)?;
            }
            if let Some(n) = a.max_objects {
                body["maxObjects"] = if n.eq_ignore_ascii_case("none") {
                    Value::Null
                } else {
                    json!(n.parse::<u64>().context("--max-objects")?)
                };
            }
            for (k, v) in [
                ("publicRead", a.public_read),
                ("publicList", a.public_list),
                ("versioning", a.versioning),
            ] {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            let v = c
                .send(Method::PATCH, &path(&a.name, ""), Some(body))
                .await?;
            output(c, &v, print_bucket);
        }
        BucketCmd::Delete { name, keep_volume } => {
            let tail = if keep_volume { "?keepVolume=true" } else { "" };
            c.send(Method::DELETE, &path(&name, tail), None).await?;
            if !c.json {
                println!("deleted bucket {name}");
            }
        }
        BucketCmd::Start { name } => {
            let v = c.send(Method::POST, &path(&name, "/start"), None).await?;
            output(c, &v, |v| {
                println!("{}: {}", text(&v["name"]), text(&v["status"]))
            });
        }
        BucketCmd::Stop { name } => {
            let v = c.send(Method::POST, &path(&name, "/stop"), None).await?;
            output(c, &v, |v| {
                println!("{}: {}", text(&v["name"]), text(&v["status"]))
            });
        }
        BucketCmd::Stats { name } => {
            let v = c.get(&path(&name, "/stats")).await?;
            output(c, &v, print_stats);
        }
        BucketCmd::Sync { name } => {
            let v = c.send(Method::POST, &path(&name, "/sync"), None).await?;
            output(c, &v, print_stats);
        }
    }
    Ok(())
}

async fn user(c: &Client, cmd: UserCmd) -> Result<()> {
    let print_user = |v: &Value| {
        print_pairs(&[
            ("id", text(&v["id"])),
            ("name", text(&v["name"])),
            ("team", text(&v["team"])),
            ("created", text(&v["createdAt"])),
        ]);
    };
    match cmd {
        UserCmd::Create { id, name, team } => {
            let mut body = json!({ "id": id });
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            if let Some(t) = team {
                body["team"] = json!(t);
            }
            let v = c.send(Method::POST, "/api/users", Some(body)).await?;
            output(c, &v, print_user);
        }
        UserCmd::List => {
            let v = c.get("/api/users").await?;
            output(c, &v, |v| {
                let rows: Vec<Vec<String>> = items(&v["users"])
                    .map(|u| {
                        vec![
                            text(&u["id"]),
                            text(&u["name"]),
                            text(&u["team"]),
                            text(&u["createdAt"]),
                        ]
                    })
                    .collect();
                table(&["ID", "NAME", "TEAM", "CREATED"], &rows);
            });
        }
        UserCmd::Show { id } => {
            let v = c.get(&format!("/api/users/{}", seg(&id))).await?;
            output(c, &v, print_user);
        }
        UserCmd::Delete { id } => {
            c.send(Method::DELETE, &format!("/api/users/{}", seg(&id)), None)
                .await?;
            if !c.json {
                println!("deleted user {id}");
            }
        }
    }
    Ok(())
}

async fn key(c: &Client, cmd: KeyCmd) -> Result<()> {
    let keys = |user: &str| format!("/api/users/{}/keys", seg(user));
    let one = |user: &str, k: &str| format!("/api/users/{}/keys/{}", seg(user), seg(k));
    match cmd {
        KeyCmd::Create { user } => {
            let v = c.send(Method::POST, &keys(&user), None).await?;
            output(c, &v, |v| {
                print_pairs(&[
                    ("user", text(&v["userId"])),
                    ("access key", text(&v["accessKey"])),
                    (
                        "secret key",
                        format!("{}  (shown once)", text(&v["secretKey"])),
                    ),
                ]);
            });
        }
        KeyCmd::List { user } => {
            let v = c.get(&keys(&user)).await?;
            output(c, &v, |v| {
                let rows: Vec<Vec<String>> = items(&v["keys"])
                    .map(|k| {
                        vec![
                            text(&k["accessKey"]),
                            text(&k["userId"]),
                            if k["disabled"] == Value::Bool(true) {
                                "disabled".to_owned()
                            } else {
                                "enabled".to_owned()
                            },
                            text(&k["createdAt"]),
                        ]
                    })
                    .collect();
                table(&["ACCESS KEY", "USER", "STATE", "CREATED"], &rows);
            });
        }
        KeyCmd::Disable { user, access_key } => {
            set_disabled(c, &one(&user, &access_key), true).await?;
        }
        KeyCmd::Enable { user, access_key } => {
            set_disabled(c, &one(&user, &access_key), false).await?;
        }
        KeyCmd::Delete { user, access_key } => {
            c.send(Method::DELETE, &one(&user, &access_key), None)
                .await?;
            if !c.json {
                println!("deleted key {access_key}");
            }
        }
    }
    Ok(())
}

async fn set_disabled(c: &Client, path: &str, disabled: bool) -> Result<()> {
    let v = c
        .send(Method::PATCH, path, Some(json!({ "disabled": disabled })))
        .await?;
    output(c, &v, |v| {
        let state = if disabled { "disabled" } else { "enabled" };
        println!("{} {state}", text(&v["accessKey"]));
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("42"), Ok(42));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
        assert!(parse_size("1XB").is_err());
        assert!(parse_size("MB").is_err());
    }

    #[test]
    fn keys_keep_their_slashes() {
        assert_eq!(key_path("a b/c+d"), "a%20b/c%2Bd");
        assert_eq!(human_bytes(&json!(1536)), "1.5 KiB");
    }
}
