//! Inactivity deadlines for streams: a request body that stops arriving, a server that stops
//! sending, a client that stops reading.
//!
//! One timer per stream, armed lazily: progress only records an `Instant` (no timer-wheel
//! work, no allocation per chunk); the timer is looked at only when the stream is waiting, and
//! when it fires early because progress was made meanwhile it is re-armed from the last
//! progress instead of failing.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Message of the error a stalled request body ends with. Consumers find it in the error text
/// (s3s wraps body errors in private types) and answer `RequestTimeout` (400), as AWS does.
pub const BODY_TIMEOUT: &str = "RequestTimeout: Your socket connection to the server was not read from or written to within the timeout period.";

/// True when an error (or its text) comes from a request body cut by [`IdleBody`].
pub fn is_body_timeout(text: &str) -> bool {
    text.contains(BODY_TIMEOUT)
}

/// The error [`IdleBody`] ends a stalled body with.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(BODY_TIMEOUT)
    }
}

impl std::error::Error for BodyTimeout {}

/// A deadline that moves with progress: expires when no progress was recorded for `timeout`.
pub struct IdleTimer {
    timeout: Duration,
    last: Instant,
    /// Created on the first wait, so a stream that never waits never touches the timer.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl IdleTimer {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            last: Instant::now(),
            timer: None,
        }
    }

    /// Records progress (a chunk arrived or left).
    pub fn progressed(&mut self) {
        self.last = Instant::now();
    }

    /// Called while the stream waits: `Ready` once nothing happened for the timeout; otherwise
    /// the task is woken when it may have expired.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let due = self.last + self.timeout;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        loop {
            match timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => {
                    let due = self.last + self.timeout;
                    if Instant::now() >= due {
                        return Poll::Ready(());
                    }
                    timer.as_mut().reset(due);
                }
            }
        }
    }
}

/// A request body that fails with [`BodyTimeout`] when no data arrives for the timeout, so a
/// client that declares a large body and stalls does not keep its connection, temp file and
/// quota reservation forever.
pub struct IdleBody<B> {
    inner: B,
    idle: IdleTimer,
}

impl<B> IdleBody<B> {
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            idle: IdleTimer::new(timeout),
        }
    }
}

impl<B> Body for IdleBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<s3s::StdError>,
{
    type Data = Bytes;
    type Error = s3s::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.idle.progressed();
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.idle.poll_expired(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    tracing::debug!("request body stalled; cutting it off");
                    Poll::Ready(Some(Err(Box::new(BodyTimeout))))
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body that sends one chunk, then nothing, forever.
    struct Stalls(bool);

    impl Body for Stalls {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if std::mem::replace(&mut self.0, true) {
                Poll::Pending
            } else {
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
            }
        }
    }

    #[tokio::test]
    async fn a_stalled_body_fails_with_the_timeout_error() {
        let mut body = IdleBody::new(Stalls(false), Duration::from_millis(50));
        assert!(body.frame().await.unwrap().is_ok());
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(is_body_timeout(&err.to_string()));
    }
}
