//! Client connections of one listener: who holds how many, which are idle, and the socket
//! deadlines hyper does not have.
//!
//! A flood of connections must not lock out other clients:
//! - a connection must send its first bytes within the header timeout ([`ConnIo`]): hyper-util's
//!   auto builder reads the protocol preface with no deadline, and hyper's own header timeout
//!   only starts after it;
//! - one peer address holds at most `max_connections_per_ip` connections ([`ConnTable::open`]);
//! - when every slot is taken, the connection idle the longest is asked to close (a keep-alive
//!   connection between requests) so a new client is served now ([`ConnTable::reclaim_idle`]);
//!   a connection that has not finished a request yet is never picked: it may be the client
//!   waiting for the slot, or one whose first request is on its way, and closing it would
//!   reset that request; silent ones are the first-bytes deadline's job;
//! - a client that stops reading a response is cut off after the body idle timeout, so a
//!   stalled download cannot hold its connection (and what the request holds) forever.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// `idle_since` of a connection that has not finished a request: not reclaimable.
const NEVER_SERVED: u64 = u64::MAX;

/// The connections of one listener.
pub struct ConnTable {
    per_ip_limit: usize,
    start: Instant,
    next_id: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    per_ip: HashMap<IpAddr, usize>,
    conns: HashMap<u64, Arc<Conn>>,
}

/// One open connection, as the table and its requests see it.
pub struct Conn {
    /// Requests being served (their service future has not finished).
    active: AtomicUsize,
    /// Milliseconds after the table's start when the connection last went idle;
    /// [`NEVER_SERVED`] until its first request has finished.
    idle_since: AtomicU64,
    /// Set once the connection was asked to close, so it is not picked twice.
    reclaimed: AtomicBool,
    /// Woken to ask the connection to close gracefully.
    pub close: Notify,
    table_start: Instant,
}

/// A connection's place in the table; leaving the table when dropped.
pub struct Registered {
    table: Arc<ConnTable>,
    id: u64,
    ip: IpAddr,
    pub conn: Arc<Conn>,
}

impl ConnTable {
    pub fn new(per_ip_limit: usize) -> Self {
        Self {
            per_ip_limit: per_ip_limit.max(1),
            start: Instant::now(),
            next_id: AtomicU64::new(0),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Registers a new connection from `ip`; `None` when that address already holds its
    /// share of connections (the caller closes the socket).
    pub fn open(self: &Arc<Self>, ip: IpAddr) -> Option<Registered> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let held = inner.per_ip.entry(ip).or_insert(0);
        if *held >= self.per_ip_limit {
            return None;
        }
        *held += 1;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            active: AtomicUsize::new(0),
            idle_since: AtomicU64::new(NEVER_SERVED),
            reclaimed: AtomicBool::new(false),
            close: Notify::new(),
            table_start: self.start,
        });
        inner.conns.insert(id, conn.clone());
        Some(Registered {
            table: self.clone(),
            id,
            ip,
            conn,
        })
    }

    /// Asks the connection idle the longest (between requests) to close; false when none
    /// is.
    pub fn reclaim_idle(&self) -> bool {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        // A linear scan, only when every slot is taken: cheaper than keeping an idle list
        // ordered on every request.
        let oldest = inner
            .conns
            .values()
            .filter(|c| {
                c.active.load(Ordering::Acquire) == 0
                    && !c.reclaimed.load(Ordering::Relaxed)
                    && c.idle_since.load(Ordering::Relaxed) != NEVER_SERVED
            })
            .min_by_key(|c| c.idle_since.load(Ordering::Relaxed));
        match oldest {
            Some(c) => {
                c.reclaimed.store(true, Ordering::Relaxed);
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut inner = self
            .table
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        inner.conns.remove(&self.id);
        if let Some(n) = inner.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                inner.per_ip.remove(&self.ip);
            }
        }
    }
}

impl Conn {
    /// Marks a request in progress until the guard is dropped.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.active.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }
}

/// A request in progress on a connection.
pub struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        let ms =
            u64::try_from(self.0.table_start.elapsed().as_millis()).unwrap_or(NEVER_SERVED - 1);
        self.0.idle_since.store(ms, Ordering::Relaxed);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Bytes a connection must send before its protocol is known: the HTTP/2 preface is 24 bytes;
/// anything not starting like it is HTTP/1, whose header timeout hyper runs itself.
const PREFACE_LEN: usize = 24;

/// A client socket with two deadlines hyper lacks: the first bytes (protocol detection) must
/// arrive within `first_bytes`, and a write that cannot progress for `write_stall` (a client
/// that stopped reading) fails the connection.
pub struct ConnIo<T> {
    inner: T,
    /// Shared by both deadlines: detection is over before anything is written.
    timer: Pin<Box<Sleep>>,
    /// Preface bytes still expected before the first-bytes deadline is lifted; 0 once lifted.
    detecting: usize,
    write_stall: Duration,
    /// The timer currently runs for a pending write.
    write_armed: bool,
}

impl<T> ConnIo<T> {
    pub fn new(inner: T, first_bytes: Duration, write_stall: Duration) -> Self {
        Self {
            inner,
            timer: Box::pin(tokio::time::sleep(first_bytes)),
            detecting: PREFACE_LEN,
            write_stall,
            write_armed: false,
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

impl<T: AsyncRead + Unpin> AsyncRead for ConnIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.detecting == 0 {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        // Only these reads (the first few of a connection) pay for the check.
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let got = &buf.filled()[before..];
                if this.detecting == PREFACE_LEN && got.first().is_some_and(|b| *b != b'P') {
                    this.detecting = 0;
                } else {
                    this.detecting = this.detecting.saturating_sub(got.len());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Err(timed_out("no request within the header timeout")))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> ConnIo<T> {
    /// Runs the stall deadline around one write-side poll.
    fn guard_write<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Ready(r) => {
                self.write_armed = false;
                Poll::Ready(r)
            }
            Poll::Pending => {
                if !self.write_armed {
                    self.write_armed = true;
                    let due = Instant::now() + self.write_stall;
                    self.timer.as_mut().reset(due);
                }
                match self.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(timed_out("the client stopped reading"))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ConnIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.guard_write(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.guard_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.guard_write(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_cap_and_release() {
        let table = Arc::new(ConnTable::new(2));
        let ip: IpAddr = [127, 0, 0, 1].into();
        let a = table.open(ip).unwrap();
        let _b = table.open(ip).unwrap();
        assert!(table.open(ip).is_none());
        assert!(table.open([127, 0, 0, 2].into()).is_some());
        drop(a);
        assert!(table.open(ip).is_some());
    }

    #[tokio::test]
    async fn reclaim_picks_an_idle_connection_only() {
        let table = Arc::new(ConnTable::new(8));
        let busy = table.open([127, 0, 0, 1].into()).unwrap();
        let _request = busy.conn.busy();
        assert!(!table.reclaim_idle());
        let idle = table.open([127, 0, 0, 1].into()).unwrap();
        // Not picked before it has served a request: it may be the client waiting for the
        // slot, or its first request may be on its way.
        assert!(!table.reclaim_idle());
        drop(idle.conn.busy());
        assert!(table.reclaim_idle());
        // The permit stored by notify_one completes at once.
        idle.conn.close.notified().await;
        assert!(!table.reclaim_idle(), "already asked");
    }
}
