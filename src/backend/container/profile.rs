//! Backend profiles: which S3 server image a bucket container runs and how to talk to it.
//!
//! Three profiles ship inside the binary (the files under `config/profiles/`): `minio`, the
//! default, `rustfs`, and `s3s-fs-test` for the locally built test image. More are config only:
//! a `[container.profiles.NAME]` table with the same fields adds one or replaces a shipped one.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One S3 server image and how to run it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// What the profile is, for people.
    #[serde(default)]
    pub description: String,
    /// Image reference, pinned by exact tag (or digest).
    pub image: String,
    /// Arguments after the image's entrypoint; placeholders are filled in (see `env`).
    #[serde(default)]
    pub command: Vec<String>,
    /// Replaces the image's entrypoint when set.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// Port the server listens on inside the container for the S3 API.
    pub s3_port: u16,
    /// Port of the server's web console inside the container, when it has one; it gets a host
    /// port of its own, on the same loopback address.
    #[serde(default)]
    pub console_port: Option<u16>,
    /// Where the bucket's volume is mounted.
    #[serde(default = "default_data_path")]
    pub data_path: String,
    /// Environment of the server. Values may hold `{access_key}`, `{secret_key}`, `{region}`
    /// and `{bucket}`, replaced per bucket.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How to tell that the server accepts requests.
    pub ready: ReadyProbe,
    /// Run Docker's init (tini) as PID 1 in front of the server: for servers that ignore
    /// SIGTERM as PID 1, whose every stop would otherwise last the whole grace period.
    #[serde(default)]
    pub init: bool,
    /// Longest object key, in bytes, the server can store (servers that keep a key in a file
    /// name cannot take S3's 1024); longer keys are refused with `KeyTooLongError` at the
    /// gateway instead of failing inside the server. Unset: S3's limit.
    #[serde(default)]
    pub max_key_bytes: Option<usize>,
}

/// An HTTP GET on the S3 port that answers with one of `status` once the server is ready.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadyProbe {
    pub path: String,
    /// Accepted status codes; empty means any HTTP answer.
    #[serde(default)]
    pub status: Vec<u16>,
}

impl ReadyProbe {
    pub fn accepts(&self, status: u16) -> bool {
        self.status.is_empty() || self.status.contains(&status)
    }
}

fn default_data_path() -> String {
    "/data".to_owned()
}

/// Per-bucket values the placeholders of a profile stand for.
pub struct Placeholders<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
    pub bucket: &'a str,
}

impl Placeholders<'_> {
    pub fn fill(&self, template: &str) -> String {
        template
            .replace("{access_key}", self.access_key)
            .replace("{secret_key}", self.secret_key)
            .replace("{region}", self.region)
            .replace("{bucket}", self.bucket)
    }
}

/// The profiles compiled into the binary, from `config/profiles/`.
const SHIPPED: &[(&str, &str)] = &[
    ("minio", include_str!("../../../config/profiles/minio.toml")),
    (
        "rustfs",
        include_str!("../../../config/profiles/rustfs.toml"),
    ),
    (
        "s3s-fs-test",
        include_str!("../../../config/profiles/s3s-fs-test.toml"),
    ),
];

/// The shipped profiles, then the configured ones (which win on a name clash).
pub fn all(configured: &BTreeMap<String, Profile>) -> Result<BTreeMap<String, Profile>, String> {
    let mut out = BTreeMap::new();
    for (name, text) in SHIPPED {
        let p: Profile =
            toml::from_str(text).map_err(|e| format!("shipped profile {name}: {e}"))?;
        out.insert((*name).to_owned(), p);
    }
    for (name, p) in configured {
        out.insert(name.clone(), p.clone());
    }
    for (name, p) in &out {
        if p.image.trim().is_empty() {
            return Err(format!("profile {name}: image is empty"));
        }
        if p.s3_port == 0 {
            return Err(format!("profile {name}: s3_port must be set"));
        }
        if !p.data_path.starts_with('/') {
            return Err(format!("profile {name}: data_path must be absolute"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_profiles_parse_and_configured_ones_win() {
        let mut configured = BTreeMap::new();
        configured.insert(
            "minio".to_owned(),
            toml::from_str::<Profile>(
                "image = \"example/minio:1\"\ns3_port = 9000\n[ready]\npath = \"/\"\n",
            )
            .unwrap(),
        );
        let all = all(&configured).unwrap();
        assert_eq!(all["minio"].image, "example/minio:1");
        assert_eq!(all["minio"].data_path, "/data");
        assert!(all["rustfs"].image.starts_with("docker.io/rustfs/rustfs:"));
        assert_eq!(all["s3s-fs-test"].ready.status, vec![403]);
        let shipped = super::all(&BTreeMap::new()).unwrap();
        // Pinned by exact tag: never a moving `latest`.
        for p in shipped.values() {
            let tag = p.image.rsplit(':').next().unwrap();
            assert!(!tag.is_empty() && tag != "latest", "{}", p.image);
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let p = Placeholders {
            access_key: "AK",
            secret_key: "SK",
            region: "eu-west-1",
            bucket: "photos",
        };
        assert_eq!(
            p.fill("--key={access_key}:{secret_key}@{region}/{bucket}"),
            "--key=AK:SK@eu-west-1/photos"
        );
    }
}
