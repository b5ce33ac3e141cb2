//! Inactivity watchdogs around forwarded bodies: a request body's progress (so a stalled
//! client is told from a dead server) and a response body that fails after a stall.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Frame;
use s3s::Body;

use super::Hold;

/// How far a forwarded request body has got, for the inactivity watchdog.
pub(super) struct Progress {
    pub(super) start: Instant,
    /// Nanoseconds after `start` of the last sign of life (start, a body chunk, the end).
    pub(super) last_nanos: AtomicU64,
    /// The body is waiting for the client to send more (a stall is the client's, not the
    /// server's).
    pub(super) client_pending: AtomicBool,
    /// The client's body failed (disconnect, bad chunk signature): not the server's fault.
    pub(super) client_failed: AtomicBool,
    /// The whole body has been handed to hyper.
    pub(super) done: AtomicBool,
}

impl Progress {
    pub(super) fn new(done: bool) -> Self {
        Self {
            start: Instant::now(),
            last_nanos: AtomicU64::new(0),
            client_pending: AtomicBool::new(false),
            client_failed: AtomicBool::new(false),
            done: AtomicBool::new(done),
        }
    }

    pub(super) fn touch(&self) {
        let n = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_nanos.store(n, Ordering::Release);
    }

    pub(super) fn last_progress(&self) -> Instant {
        self.start + Duration::from_nanos(self.last_nanos.load(Ordering::Acquire))
    }

    pub(super) fn waiting_on_client(&self) -> bool {
        !self.done.load(Ordering::Acquire) && self.client_pending.load(Ordering::Acquire)
    }
}

/// The client's body on its way upstream, reporting progress to the watchdog.
pub(super) struct WatchedRequestBody {
    pub(super) inner: Body,
    pub(super) progress: Arc<Progress>,
}

impl http_body::Body for WatchedRequestBody {
    type Data = Bytes;
    type Error = s3s::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let p = &self.progress;
        match &polled {
            Poll::Pending => p.client_pending.store(true, Ordering::Release),
            Poll::Ready(Some(Ok(_))) => {
                p.client_pending.store(false, Ordering::Release);
                p.touch();
            }
            Poll::Ready(Some(Err(_))) => {
                p.client_pending.store(false, Ordering::Release);
                p.client_failed.store(true, Ordering::Release);
            }
            Poll::Ready(None) => {
                p.client_pending.store(false, Ordering::Release);
                p.done.store(true, Ordering::Release);
                p.touch();
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The server's response body on its way to the client: fails (ending the client's response
/// early, as a dead server would) when no data comes for the timeout, and tells its connection
/// how much may queue before a wake-up ([`super::paced`]).
pub(super) struct WatchedResponseBody {
    pub(super) inner: hyper::body::Incoming,
    /// The inactivity watchdog (the same one that cuts off stalled client bodies).
    pub(super) idle: crate::idle::IdleTimer,
    pub(super) lowat: Option<crate::backend::paced::Lowat>,
    pub(super) hold: Option<Hold>,
}

impl WatchedResponseBody {
    pub(super) fn new(
        inner: hyper::body::Incoming,
        timeout: Duration,
        lowat: Option<crate::backend::paced::Lowat>,
        hold: Option<Hold>,
    ) -> Self {
        if let Some(l) = &lowat {
            l.for_remaining(http_body::Body::size_hint(&inner).lower());
        }
        Self {
            inner,
            idle: crate::idle::IdleTimer::new(timeout),
            lowat,
            hold,
        }
    }
}

impl Drop for WatchedResponseBody {
    fn drop(&mut self) {
        if let Some(l) = &self.lowat {
            l.reset();
        }
    }
}

impl http_body::Body for WatchedResponseBody {
    type Data = Bytes;
    type Error = s3s::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.hold.as_ref().is_some_and(|h| h.is_cut()) {
            return Poll::Ready(Some(Err("the bucket is being deleted".into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.idle.progressed();
                if let Some(l) = &this.lowat {
                    l.for_remaining(this.inner.size_hint().lower());
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.idle.poll_expired(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => Poll::Ready(Some(Err(
                    "the storage server stopped sending the response body".into(),
                ))),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
