//! Host ports leased to bucket containers, kept in redb (`PORT_LEASES`: port → bucket).
//!
//! A lease is taken inside one metadata write job; all writes go through the single writer
//! thread, so two concurrent creates can never take the same port. A released port is free
//! for the next bucket.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, TcpListener};

use redb::ReadableTable;

use crate::error::{Result, client_err};
use crate::meta::{PORT_LEASES, Store};

/// Leases ports for `bucket`: the lowest free ones in `range` that are not in `skip`.
async fn lease_once(
    store: &Store,
    bucket: &str,
    count: usize,
    range: (u16, u16),
    skip: BTreeSet<u16>,
) -> Result<Vec<u16>> {
    let bucket = bucket.to_owned();
    store
        .write(move |txn| {
            let mut table = txn.open_table(PORT_LEASES)?;
            let mut taken = BTreeSet::new();
            for item in table.range(range.0..=range.1)? {
                taken.insert(item?.0.value());
            }
            let free: Vec<u16> = (range.0..=range.1)
                .filter(|p| !taken.contains(p) && !skip.contains(p))
                .take(count)
                .collect();
            if free.len() < count {
                return Err(client_err!(
                    ServiceUnavailable,
                    "No free host port is left in the container port range {}-{}",
                    range.0,
                    range.1
                ));
            }
            for p in &free {
                table.insert(*p, bucket.as_str())?;
            }
            Ok(free)
        })
        .await
}

/// Leases `count` ports for `bucket` that can also be bound on `bind` right now (another
/// program may hold a port in the range without a lease).
pub async fn lease(
    store: &Store,
    bucket: &str,
    count: usize,
    range: (u16, u16),
    bind: IpAddr,
    mut skip: BTreeSet<u16>,
) -> Result<Vec<u16>> {
    for _ in 0..32 {
        let ports = lease_once(store, bucket, count, range, skip.clone()).await?;
        let busy: Vec<u16> = ports
            .iter()
            .copied()
            .filter(|p| TcpListener::bind(SocketAddr::new(bind, *p)).is_err())
            .collect();
        if busy.is_empty() {
            return Ok(ports);
        }
        release(store, &ports).await?;
        skip.extend(busy);
    }
    Err(client_err!(
        ServiceUnavailable,
        "Could not find a free host port for the bucket's container"
    ))
}

/// Releases leased ports.
pub async fn release(store: &Store, ports: &[u16]) -> Result<()> {
    let ports = ports.to_vec();
    store
        .write(move |txn| {
            let mut table = txn.open_table(PORT_LEASES)?;
            for p in ports {
                table.remove(p)?;
            }
            Ok(())
        })
        .await
}

/// Releases every port leased to `bucket`, inside a caller's transaction (the bucket's
/// deletion).
pub fn release_in(txn: &redb::WriteTransaction, bucket: &str) -> Result<()> {
    let mut leases = txn.open_table(PORT_LEASES)?;
    let mine: Vec<u16> = leases
        .iter()?
        .filter_map(|item| item.ok())
        .filter(|(_, b)| b.value() == bucket)
        .map(|(p, _)| p.value())
        .collect();
    for p in mine {
        leases.remove(p)?;
    }
    Ok(())
}

/// Every lease, port → bucket (for reconciliation and tests).
pub fn leases(store: &Store) -> Result<Vec<(u16, String)>> {
    store.read(|txn| {
        let table = txn.open_table(PORT_LEASES)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            out.push((k.value(), v.value().to_owned()));
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_leases_are_distinct_and_released_ports_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let localhost = IpAddr::from([127, 0, 0, 1]);
        // A port held by another program is skipped.
        let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
        let held = squatter.local_addr().unwrap().port();
        let range = (held, held.saturating_add(40));
        let mut tasks = Vec::new();
        for i in 0..10 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                lease(
                    &store,
                    &format!("b{i}"),
                    2,
                    range,
                    localhost,
                    BTreeSet::new(),
                )
                .await
            }));
        }
        let mut all = BTreeSet::new();
        for t in tasks {
            for p in t.await.unwrap().unwrap() {
                assert!(all.insert(p), "port {p} leased twice");
            }
        }
        assert_eq!(all.len(), 20);
        assert!(!all.contains(&held));
        assert_eq!(leases(&store).unwrap().len(), 20);
        let first = *all.iter().next().unwrap();
        release(&store, &[first]).await.unwrap();
        let again = lease(&store, "new", 1, range, localhost, BTreeSet::new())
            .await
            .unwrap();
        assert_eq!(again, vec![first]);
    }
}
