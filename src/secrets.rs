//! Key material: the master key that encrypts secrets at rest, and generated credentials.
//!
//! The master key comes from `BUCKETGATE_MASTER_KEY` (64 hex characters) or from
//! `<data-dir>/master.key`, generated on first start with mode 0600. Secrets stored in redb
//! are sealed with ChaCha20-Poly1305 under that key with a random nonce each.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::Rng;
use rand::distributions::Alphanumeric;

/// Seals and opens secrets with the server's master key.
pub struct MasterKey {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("BUCKETGATE_MASTER_KEY must be 64 hex characters (32 bytes)")]
    BadMasterKey,
    #[error("master key file {0} is not 64 hex characters")]
    BadKeyFile(String),
    #[error("cannot access key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("a stored secret cannot be decrypted (wrong master key?)")]
    Decrypt,
}

impl MasterKey {
    /// Loads the master key from the environment value if given, else from the key file in
    /// `data_dir`, creating the file with a fresh random key on first start.
    pub fn load(env_value: Option<&str>, data_dir: &Path) -> Result<Self, SecretError> {
        if let Some(v) = env_value {
            let bytes = decode_key(v).ok_or(SecretError::BadMasterKey)?;
            return Ok(Self::from_bytes(&bytes));
        }
        let path = data_dir.join("master.key");
        let io_err = |source| SecretError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = decode_key(text.trim())
                    .ok_or_else(|| SecretError::BadKeyFile(path.display().to_string()))?;
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes: [u8; 32] = rand::thread_rng().r#gen();
                write_private_file(&path, format!("{}\n", hex::encode(bytes)).as_bytes())
                    .map_err(io_err)?;
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) => Err(io_err(e)),
        }
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(bytes)),
        }
    }

    /// Encrypts `plain`; the result is base64 of nonce ‖ ciphertext.
    pub fn seal(&self, plain: &str) -> String {
        let nonce_bytes: [u8; 12] = rand::thread_rng().r#gen();
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), plain.as_bytes())
            .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    /// Decrypts a value made by [`MasterKey::seal`].
    pub fn open(&self, sealed: &str) -> Result<String, SecretError> {
        let raw = B64.decode(sealed).map_err(|_| SecretError::Decrypt)?;
        if raw.len() < 12 {
            return Err(SecretError::Decrypt);
        }
        let (nonce, ct) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| SecretError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| SecretError::Decrypt)
    }
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

/// A new access key id: 20 upper-case letters and digits, as AWS ones look.
pub fn new_access_key() -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(|c| char::from(c).to_ascii_uppercase())
        .collect();
    format!("BGK{tail}0")
}

/// A new secret key: 40 characters of letters and digits.
pub fn new_secret_key() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

/// Writes a file readable only by its owner (0600), durably.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    file.write_all(contents)?;
    file.sync_all()?;
    // A new file's directory entry is durable only once its directory is synced too.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips_and_nonces_differ() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let a = key.seal("secret");
        let b = key.seal("secret");
        assert_ne!(a, b);
        assert_eq!(key.open(&a).unwrap(), "secret");
        let other = MasterKey::from_bytes(&[8; 32]);
        assert!(other.open(&a).is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = MasterKey::load(None, dir.path()).unwrap();
        let sealed = k1.seal("x");
        let k2 = MasterKey::load(None, dir.path()).unwrap();
        assert_eq!(k2.open(&sealed).unwrap(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn env_key_must_be_32_bytes_hex() {
        let dir = tempfile::tempdir().unwrap();
        assert!(MasterKey::load(Some("abc"), dir.path()).is_err());
        assert!(MasterKey::load(Some(&"ab".repeat(32)), dir.path()).is_ok());
    }
}
