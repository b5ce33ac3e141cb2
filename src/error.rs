//! One error type for the whole request path, saying where an error came from.
//!
//! - [`Error::Client`]: the request is wrong, not allowed, or conflicts with the state (4xx,
//!   409 included); the caller gets the S3 error as it is.
//! - [`Error::Upstream`]: a server the gateway depends on failed or is unavailable (a
//!   bucket's container, the remote endpoint, the Docker engine): 5xx, sent as it is, with
//!   `Retry-After` where known.
//! - [`Error::Io`], [`Error::Meta`], [`Error::Corrupt`], [`Error::Bug`]: failures of our own
//!   machinery. They are logged once, with their context, where they become `InternalError`
//!   (here, and [`internal`] for the S3 errors built in place), so no path, key material or
//!   internal detail leaks in a response.

use s3s::{S3Error, S3ErrorCode};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is wrong, not allowed, or conflicts with the state: sent as is (4xx).
    #[error("{0}")]
    Client(S3Error),
    /// A server the gateway depends on failed or is unavailable: sent as is (5xx).
    #[error("{0}")]
    Upstream(S3Error),
    /// A disk operation failed.
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The metadata database failed.
    #[error("metadata store: {0}")]
    Meta(#[from] redb::Error),
    /// Stored metadata could not be decoded.
    #[error("corrupt metadata record: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// An invariant did not hold: a bug.
    #[error("internal: {0}")]
    Bug(&'static str),
}

impl Error {
    /// An error with a code of our own (not one of S3's) and its HTTP status: the control
    /// plane's `409 DomainInUse`, `404 NoSuchUser` and the like.
    pub fn custom(code: &'static str, status: http::StatusCode, msg: impl Into<String>) -> Self {
        let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), msg.into());
        e.set_status_code(status);
        Self::Client(e)
    }

    /// Wraps an I/O error with what we were doing.
    pub fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { context, source }
    }
}

impl From<S3Error> for Error {
    /// An S3 error with a 5xx status is an upstream's failure, any other the caller's.
    fn from(e: S3Error) -> Self {
        if e.status_code().is_some_and(|s| s.is_server_error()) {
            Self::Upstream(e)
        } else {
            Self::Client(e)
        }
    }
}

impl From<S3ErrorCode> for Error {
    fn from(code: S3ErrorCode) -> Self {
        S3Error::new(code).into()
    }
}

/// An `InternalError` for the caller, logged here once with what went wrong.
pub fn internal(context: &str) -> S3Error {
    tracing::error!(context, "internal error");
    S3Error::with_message(
        S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    )
}

macro_rules! impl_from_redb {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Self::Meta(e.into())
            }
        }
    )*};
}
impl_from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<Error> for S3Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Client(e) | Error::Upstream(e) => e,
            other => {
                tracing::error!(error = %other, "request failed");
                S3Error::with_message(
                    S3ErrorCode::InternalError,
                    "We encountered an internal error. Please try again.",
                )
            }
        }
    }
}

/// Builds an `Error::Client` with a code and a message
/// (`Error::Upstream` when the code's status is 5xx, as `ServiceUnavailable`'s is).
macro_rules! client_err {
    ($code:ident, $($msg:tt)+) => {
        $crate::error::Error::from(s3s::S3Error::with_message(
            s3s::S3ErrorCode::$code,
            format!($($msg)+),
        ))
    };
    ($code:ident) => {
        $crate::error::Error::from(s3s::S3Error::new(s3s::S3ErrorCode::$code))
    };
}
pub(crate) use client_err;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_detail() {
        let e = Error::io("open /secret/path")(std::io::Error::other("boom"));
        let s3: S3Error = e.into();
        assert_eq!(s3.code(), &S3ErrorCode::InternalError);
        assert!(!s3.message().unwrap_or_default().contains("secret"));
    }

    #[test]
    fn errors_say_where_they_came_from() {
        let mut e = S3Error::new(S3ErrorCode::ServiceUnavailable);
        e.set_status_code(http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(matches!(Error::from(e), Error::Upstream(_)));
        let e = S3Error::new(S3ErrorCode::NoSuchKey);
        assert!(matches!(Error::from(e), Error::Client(_)));
        let mut e = S3Error::new(S3ErrorCode::Custom("DomainInUse".into()));
        e.set_status_code(http::StatusCode::CONFLICT);
        assert!(matches!(Error::from(e), Error::Client(_)));
        // Both reach the caller unchanged.
        let mut e = S3Error::new(S3ErrorCode::ServiceUnavailable);
        e.set_status_code(http::StatusCode::SERVICE_UNAVAILABLE);
        let back: S3Error = Error::from(e).into();
        assert_eq!(back.code(), &S3ErrorCode::ServiceUnavailable);
    }

    #[test]
    fn client_errors_pass_through() {
        let s3: S3Error = client_err!(NoSuchKey, "no {}", "x").into();
        assert_eq!(s3.code(), &S3ErrorCode::NoSuchKey);
        assert_eq!(s3.message(), Some("no x"));
    }
}
