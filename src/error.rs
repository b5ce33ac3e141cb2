//! One error type for the whole request path.
//!
//! Client mistakes carry their S3 error and reach the caller as they are. Failures of our own
//! machinery (disk, metadata database, bugs) are logged with their context and reach the caller
//! only as `InternalError`, so no path, key material or internal detail leaks in a response.

use s3s::{S3Error, S3ErrorCode};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is wrong or not allowed: sent to the client as is (4xx).
    #[error("{0}")]
    Client(S3Error),
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
    fn from(e: S3Error) -> Self {
        Self::Client(e)
    }
}

impl From<S3ErrorCode> for Error {
    fn from(code: S3ErrorCode) -> Self {
        Self::Client(S3Error::new(code))
    }
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
            Error::Client(e) => e,
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

/// Builds an `Error::Client` with a code and a message.
macro_rules! client_err {
    ($code:ident, $($msg:tt)+) => {
        $crate::error::Error::Client(s3s::S3Error::with_message(
            s3s::S3ErrorCode::$code,
            format!($($msg)+),
        ))
    };
    ($code:ident) => {
        $crate::error::Error::Client(s3s::S3Error::new(s3s::S3ErrorCode::$code))
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
    fn client_errors_pass_through() {
        let s3: S3Error = client_err!(NoSuchKey, "no {}", "x").into();
        assert_eq!(s3.code(), &S3ErrorCode::NoSuchKey);
        assert_eq!(s3.message(), Some("no x"));
    }
}
