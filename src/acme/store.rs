//! The rows `acme` keeps in redb: issued certificates (`ACME_CERTS`, key sealed with the
//! master key) and account credentials (`ACME_ACCOUNTS`, sealed). Short transactions only:
//! every network exchange happens before or after them.

use redb::ReadableTable;

use crate::error::Result;
use crate::meta::{ACME_ACCOUNTS, ACME_CERTS, IssuedCert, Store};

/// Every stored certificate, by host.
pub(super) fn load_certs(store: &Store) -> Result<Vec<(String, IssuedCert)>> {
    store.read(|txn| {
        let t = txn.open_table(ACME_CERTS)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (k, v) = item?;
            match serde_json::from_slice::<IssuedCert>(v.value()) {
                Ok(c) => out.push((k.value().to_owned(), c)),
                Err(e) => {
                    tracing::warn!(host = k.value(), error = %e, "unreadable stored certificate")
                }
            }
        }
        Ok(out)
    })
}

pub(super) async fn save_cert(store: &Store, host: &str, cert: &IssuedCert) -> Result<()> {
    let (host, bytes) = (host.to_owned(), serde_json::to_vec(cert)?);
    store
        .write(move |txn| {
            txn.open_table(ACME_CERTS)?
                .insert(host.as_str(), bytes.as_slice())?;
            Ok(())
        })
        .await
}

pub(super) async fn remove_cert(store: &Store, host: &str) -> Result<()> {
    let host = host.to_owned();
    store
        .write(move |txn| {
            txn.open_table(ACME_CERTS)?.remove(host.as_str())?;
            Ok(())
        })
        .await
}

/// The sealed credentials of the account on `directory`, if one was created.
pub(super) fn load_account(store: &Store, directory: &str) -> Result<Option<String>> {
    store.read(|txn| {
        let t = txn.open_table(ACME_ACCOUNTS)?;
        Ok(t.get(directory)?.map(|v| v.value().to_owned()))
    })
}

pub(super) async fn save_account(store: &Store, directory: &str, sealed: String) -> Result<()> {
    let directory = directory.to_owned();
    store
        .write(move |txn| {
            txn.open_table(ACME_ACCOUNTS)?
                .insert(directory.as_str(), sealed.as_str())?;
            Ok(())
        })
        .await
}

/// Validity (Unix seconds) and hex serial of the first certificate of a PEM chain.
pub(super) fn leaf_facts(chain_pem: &str) -> std::result::Result<(i64, i64, String), String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(chain_pem.as_bytes())
        .map_err(|e| format!("the issued chain is not PEM: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("the issued certificate does not parse: {e}"))?;
    let validity = cert.validity();
    Ok((
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
        cert.raw_serial_as_string().replace(':', ""),
    ))
}
