//! Upstream connections that wake the gateway per chunk of a large response body, not per
//! packet.
//!
//! A slow S3 server trickles a large GET in small writes; every arrival wakes the reading task,
//! which reads a few kilobytes and writes them on to the client (measured here: 2.6 KB per read
//! from a container over the Docker bridge, 8 CPU-seconds per GiB relayed). While a response
//! body has much left to come, its connection's `SO_RCVLOWAT` is raised, so the kernel wakes us
//! only once that much is queued. It is safe because of when it is raised: only while the body
//! still has more than that plus everything hyper may hold in its buffers to deliver, so the
//! data that completes a wake-up is always still on its way. A write (the next request on a
//! pooled connection) puts it back to one byte first, as does the end of the body.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Most bytes queued before a wake-up while a body streams (measured here: 256 KiB costs less
/// CPU per GiB than 512 KiB with a 1 MiB read buffer, which misses caches).
pub const MAX_LOWAT: u32 = 256 << 10;

/// What hyper may hold of a response body without the socket (its read buffer, 8 KiB plus
/// 400 KiB at most by default, and a chunk in the body channel), with room to spare.
pub const HYPER_HELD: u64 = 1 << 20;

/// A connection's wanted low-water mark, shared with the response body reading from it.
#[derive(Clone, Debug, Default)]
pub struct Lowat(Arc<AtomicU32>);

impl Lowat {
    /// Sets the mark for a body with `remaining` bytes still to come.
    pub fn for_remaining(&self, remaining: u64) {
        let want = if remaining > HYPER_HELD + u64::from(MAX_LOWAT) {
            MAX_LOWAT
        } else {
            1
        };
        self.0.store(want, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        self.0.store(1, Ordering::Relaxed);
    }
}

/// hyper-util's connector, its connections wrapped in [`PacedIo`].
#[derive(Clone)]
pub struct PacedConnector(pub HttpConnector);

impl tower::Service<http::Uri> for PacedConnector {
    type Response = PacedIo;
    type Error = <HttpConnector as tower::Service<http::Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<PacedIo, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            Ok(PacedIo {
                io,
                want: Lowat::default(),
                applied: 1,
            })
        })
    }
}

/// A TCP connection whose receive low-water mark follows its [`Lowat`].
pub struct PacedIo {
    io: TokioIo<TcpStream>,
    want: Lowat,
    applied: u32,
}

impl PacedIo {
    fn apply(&mut self, want: u32) {
        if want == self.applied {
            return;
        }
        let value = libc::c_int::try_from(want).unwrap_or(1);
        let fd = std::os::fd::AsRawFd::as_raw_fd(self.io.inner());
        // SAFETY: `fd` is this connection's open socket for the duration of the call, and the
        // option value is a properly sized `c_int` on the stack.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                std::ptr::from_ref(&value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        // A refused option only costs wake-ups; remember it so as not to retry each read.
        self.applied = if rc == 0 {
            want
        } else {
            want.min(self.applied)
        };
    }
}

impl Read for PacedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let want = self.want.0.load(Ordering::Relaxed);
        self.apply(want);
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for PacedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        // A new request: its answer's head must wake us whatever its size.
        self.want.reset();
        self.apply(1);
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.want.reset();
        self.apply(1);
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Connection for PacedIo {
    fn connected(&self) -> Connected {
        self.io.connected().extra(self.want.clone())
    }
}
