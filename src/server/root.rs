//! Root credentials (from the environment, the data dir, or generated once) and the admin
//! token of the control-plane API.

use super::{RootCredentials, StartError};
use crate::keys::KeyStore;
use crate::keys::ROOT_USER;
use crate::secrets::{self};
use std::path::Path;

/// The file holding generated root credentials (mode 0600).
const ROOT_FILE: &str = "root-credentials";

pub(super) async fn bootstrap_root(
    keys: &KeyStore,
    dir: &Path,
    root_env: (Option<String>, Option<String>),
) -> Result<RootCredentials, StartError> {
    let file = dir.join(ROOT_FILE);
    let creds = match root_env {
        (Some(access_key), Some(secret_key)) => RootCredentials {
            access_key,
            secret_key,
            generated: false,
        },
        (None, None) => match std::fs::read_to_string(&file) {
            Ok(text) => parse_root_file(&text).ok_or_else(|| {
                StartError::RootFile(std::io::Error::other(format!(
                    "{} is malformed",
                    file.display()
                )))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let creds = RootCredentials {
                    access_key: secrets::new_access_key(),
                    secret_key: secrets::new_secret_key(),
                    generated: true,
                };
                let text = format!(
                    "# bucketgate root credentials, generated on first start\naccess_key = \"{}\"\nsecret_key = \"{}\"\n",
                    creds.access_key, creds.secret_key
                );
                secrets::write_private_file(&file, text.as_bytes())
                    .map_err(StartError::RootFile)?;
                creds
            }
            Err(e) => return Err(StartError::RootFile(e)),
        },
        _ => return Err(StartError::HalfRootKey),
    };
    keys.put_key(&creds.access_key, &creds.secret_key, ROOT_USER)
        .await?;
    Ok(creds)
}

/// The admin token: from config or `BUCKETGATE_ADMIN_TOKEN`, else `<data-dir>/admin-token`,
/// generated (0600) on first start. The flag says whether it was generated now.
pub(super) fn load_admin_token(
    configured: Option<String>,
    env: Option<String>,
    dir: &Path,
) -> Result<(String, bool), StartError> {
    if let Some(t) = env.or(configured) {
        return Ok((t, false));
    }
    let file = dir.join("admin-token");
    match std::fs::read_to_string(&file) {
        Ok(t) if !t.trim().is_empty() => Ok((t.trim().to_owned(), false)),
        Ok(_) | Err(_) => {
            let token = format!("bgt_{}", secrets::new_secret_key());
            secrets::write_private_file(&file, format!("{token}\n").as_bytes())
                .map_err(StartError::RootFile)?;
            Ok((token, true))
        }
    }
}

fn parse_root_file(text: &str) -> Option<RootCredentials> {
    let value = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"').to_owned())
        })
    };
    Some(RootCredentials {
        access_key: value("access_key")?,
        secret_key: value("secret_key")?,
        generated: false,
    })
}
