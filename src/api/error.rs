//! The API's error answer: `{"error": {"code", "message"}}` with the status the code calls for,
//! and the JSON body extractor whose failures name the offending field.
//!
//! Client mistakes keep their S3 code (`NoSuchBucket`, `InvalidBucketName`, `BucketNotEmpty`,
//! `QuotaExceeded`, …) and its status; failures of our own machinery are logged and reach the
//! caller only as `InternalError`.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::Error;

/// Largest JSON request body the API reads.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// The request field the error is about, when one is (`{"error": {…, "field"}}`).
    pub field: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            field: None,
        }
    }

    /// 400 naming the field at fault.
    pub fn invalid(field: &str, message: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            format!("{field}: {message}"),
        )
        .on_field(field)
    }

    /// The same error, about request field `field`.
    pub fn on_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    pub fn forbidden(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    pub fn not_found(code: &str, message: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &str, message: &str) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Client(e) | Error::Upstream(e) => e.into(),
            other => {
                tracing::error!(error = %other, "api request failed");
                Self::internal()
            }
        }
    }
}

impl From<s3s::S3Error> for ApiError {
    fn from(e: s3s::S3Error) -> Self {
        let code = e.code().as_str().to_owned();
        let status = match code.as_str() {
            // S3 answers these with 403/400; a REST client expects a conflict.
            "BucketAlreadyExists" | "BucketAlreadyOwnedByYou" | "BucketNotEmpty" => {
                StatusCode::CONFLICT
            }
            "InvalidAccessKeyId" | "SignatureDoesNotMatch" => StatusCode::UNAUTHORIZED,
            _ => e.status_code().unwrap_or(StatusCode::BAD_REQUEST),
        };
        if status.is_server_error() {
            tracing::error!(code = %code, message = ?e.message(), "backend failed on an api request");
            let mut out = Self::internal();
            if status != StatusCode::INTERNAL_SERVER_ERROR {
                // 501/503 from a backend: keep the status and code, they are meaningful.
                out.status = status;
                out.code = code;
            }
            return out;
        }
        let message = e.message().map_or_else(|| code.clone(), str::to_owned);
        Self {
            status,
            code,
            message,
            field: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        let body = json!({ "error": error });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"bucketgate\""),
            );
        }
        resp
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidPath", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidQuery", r.body_text())
    }
}

impl From<axum::extract::multipart::MultipartError> for ApiError {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        // A form whose body stalled was cut off by the listener's body idle timeout: the
        // client's doing (400), not a server fault.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if crate::idle::is_body_timeout(&err.to_string()) {
                return Self::new(
                    StatusCode::BAD_REQUEST,
                    "RequestTimeout",
                    "Your socket connection to the server was not read from or written to within the timeout period.".to_owned(),
                );
            }
            source = err.source();
        }
        Self::new(
            e.status(),
            "InvalidMultipart",
            format!("multipart form: {}", e.body_text()),
        )
    }
}

impl From<axum::extract::multipart::MultipartRejection> for ApiError {
    fn from(e: axum::extract::multipart::MultipartRejection) -> Self {
        Self::new(
            e.status(),
            "InvalidMultipart",
            format!("multipart form: {}", e.body_text()),
        )
    }
}

/// `axum::extract::Path` answering bad paths with an API error.
pub struct PathArgs<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(v) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(v))
    }
}

/// `axum::extract::Query` answering bad query strings with an API error naming the field.
pub struct QueryArgs<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(v) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(v))
    }
}

/// A JSON body of at most [`MAX_JSON_BODY`] bytes. Decoding errors name the field
/// (`maxSizeBytes: invalid type …`, `unknown field …`); an empty body reads as `{}` so that
/// bodies whose fields are all optional may be left out.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_JSON_BODY)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLarge",
                    format!("the JSON body exceeds {MAX_JSON_BODY} bytes"),
                )
            })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        parse_json(text).map(Json)
    }
}

/// Decodes `bytes`, naming the field at fault on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." || path == "?" {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidJson",
                format!("body: {inner}"),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidJson",
                format!("{path}: {inner}"),
            )
            .on_field(&path)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::BucketCreate;

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<BucketCreate>(br#"{"name": "b", "maxSizeBytes": "x"}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("maxSizeBytes:"), "{}", e.message);
        let e = parse_json::<BucketCreate>(br#"{"name": "b", "bogus": 1}"#).unwrap_err();
        assert!(e.message.contains("bogus"), "{}", e.message);
        let e = parse_json::<BucketCreate>(b"{").unwrap_err();
        assert!(e.message.starts_with("body:"), "{}", e.message);
    }

    #[test]
    fn s3_codes_map_to_rest_statuses() {
        let cases = [
            (crate::error::client_err!(NoSuchBucket, "x"), 404),
            (crate::error::client_err!(BucketNotEmpty, "x"), 409),
            (crate::error::client_err!(InvalidBucketName, "x"), 400),
            (crate::error::Error::Bug("boom"), 500),
        ];
        for (e, status) in cases {
            assert_eq!(ApiError::from(e).status.as_u16(), status);
        }
        let q: ApiError = crate::policy::quota_exceeded("full".into()).into();
        assert_eq!((q.status.as_u16(), q.code.as_str()), (403, "QuotaExceeded"));
    }
}
