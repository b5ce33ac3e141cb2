//! The accept loops: connection slots, per-address limits, idle reclaim, and serving each
//! connection until it ends or the server stops.

use super::App;
use super::admin::{handle_admin, handle_metrics};
use super::front::handle_s3;
use crate::conns::{ConnIo, ConnTable};
use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

#[derive(Clone, Copy, Debug)]
pub(super) enum Listener {
    S3,
    Admin,
    /// `metrics_listen`: `/metrics` only, unauthenticated.
    Metrics,
}

pub(super) async fn accept_loop(
    app: Arc<App>,
    listener: TcpListener,
    kind: Listener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let limits = &app.config.limits;
    let max = limits.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max));
    let table = Arc::new(ConnTable::new(limits.max_connections_per_ip));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs.max(1)));
    let handshake_timeout = Duration::from_secs(limits.header_read_timeout_secs.max(1));
    let body_idle = Duration::from_secs(limits.body_idle_timeout_secs.max(1));
    let secure = tls.is_some();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let Some(registered) = table.open(peer.ip()) else {
            tracing::debug!(%peer, "connection refused: too many from this address");
            continue;
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => match wait_for_slot(&permits, &table, &mut stop).await {
                Some(p) => p,
                None => break,
            },
        };
        // Without TCP_NODELAY a keep-alive client's second request waits ~40 ms (Nagle meets
        // delayed ACK).
        let _ = stream.set_nodelay(true);
        let app2 = app.clone();
        let conn = registered.conn.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            let app = app2.clone();
            let busy = conn.busy();
            async move {
                let _busy = busy;
                Ok::<_, Infallible>(match kind {
                    Listener::S3 => handle_s3(&app, req, secure).await,
                    Listener::Admin => handle_admin(&app, req).await,
                    Listener::Metrics => handle_metrics(&app, &req, false),
                })
            }
        });
        let builder = builder.clone();
        let tls = tls.clone();
        let conn_stop = stop.clone();
        let metrics = app.metrics.clone();
        metrics.connection_opened();
        tokio::spawn(async move {
            let close = &registered.conn.close;
            let served = match tls {
                None => {
                    let io = ConnIo::new(stream, handshake_timeout, body_idle);
                    let conn = builder
                        .serve_connection(TokioIo::new(io), service)
                        .into_owned();
                    drive(conn, |c| c.graceful_shutdown(), close, conn_stop).await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream))
                            if tls_stream.get_ref().1.alpn_protocol()
                                == Some(crate::tls::ACME_TLS_ALPN) =>
                        {
                            // A TLS-ALPN-01 validation ends with the handshake (RFC 8737).
                            Ok(())
                        }
                        Ok(Ok(tls_stream)) => {
                            let io = ConnIo::new(tls_stream, handshake_timeout, body_idle);
                            let conn = builder
                                .serve_connection(TokioIo::new(io), service)
                                .into_owned();
                            drive(conn, |c| c.graceful_shutdown(), close, conn_stop).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            Ok(())
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            metrics.connection_closed();
            drop(registered);
            drop(permit);
        });
    }
    // Refuse new connections at once (clients retry elsewhere) while in-flight ones finish:
    // every connection holds a permit until it ends.
    drop(listener);
    let grace = Duration::from_secs(limits.shutdown_grace_secs);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(?kind, "grace period over; closing remaining connections");
    }
}

/// Every slot is taken: rather than keep a new client waiting, asks the connection idle the
/// longest to close, again while none is idle (silent connections end within the header
/// timeout anyway). `None` when the server stops meanwhile.
async fn wait_for_slot(
    permits: &Arc<Semaphore>,
    table: &ConnTable,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    loop {
        table.reclaim_idle();
        tokio::select! {
            p = permits.clone().acquire_owned() => return Some(p.expect("semaphore is never closed")),
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => return None,
        }
    }
}

/// Serves one connection until it ends. Asked to close (server shutdown, or its slot is
/// wanted by a new client), it finishes the request in progress, if any, then closes.
async fn drive<C, E>(
    conn: C,
    graceful_shutdown: impl FnOnce(std::pin::Pin<&mut C>),
    close: &tokio::sync::Notify,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => return r,
        () = close.notified() => {}
        _ = stop.wait_for(|stopping| *stopping) => {}
    }
    graceful_shutdown(conn.as_mut());
    conn.await
}
