//! Presigned S3 URLs (SigV4 query authentication), issued by the control plane on a user's
//! behalf and verified by the S3 door like any client's.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;

use crate::error::{Error, Result, client_err};

/// Longest validity SigV4 allows for a presigned URL: seven days.
pub const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// What to presign.
pub struct Presign<'a> {
    /// `GET` (download) or `PUT` (upload).
    pub method: &'a str,
    /// Full URL of the object, e.g. `http://127.0.0.1:9000/bucket/key` (key percent-encoded).
    pub url: &'a str,
    pub region: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub expires_in: Duration,
}

/// Returns the presigned URL and the time it expires.
pub fn presign(p: &Presign<'_>, now: SystemTime) -> Result<(String, SystemTime)> {
    if p.expires_in.is_zero() || p.expires_in > MAX_EXPIRY {
        return Err(client_err!(
            InvalidArgument,
            "expiresIn: must be between 1 second and 7 days"
        ));
    }
    let identity = aws_credential_types::Credentials::new(
        p.access_key,
        p.secret_key,
        None,
        None,
        "bucketgate",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(p.expires_in);
    // S3 signs the path as sent: encoded once, never normalized (keys may hold `%`, `//`).
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(p.region)
        .name("s3")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|_| Error::Bug("SigV4 signing parameters"))?
        .into();
    let uri: http::Uri = p
        .url
        .parse()
        .map_err(|_| client_err!(InvalidArgument, "key: cannot form a URL from it"))?;
    let host = uri
        .authority()
        .ok_or(Error::Bug("presign URL without host"))?
        .as_str()
        .to_owned();
    let signable = SignableRequest::new(
        p.method,
        p.url,
        std::iter::once(("host", host.as_str())),
        SignableBody::UnsignedPayload,
    )
    .map_err(|_| Error::Bug("presign request"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|_| Error::Bug("SigV4 signing"))?
        .into_parts();
    let mut req = http::Request::builder()
        .method(p.method)
        .uri(uri)
        .body(())
        .map_err(|_| Error::Bug("presign request"))?;
    instructions.apply_to_request_http1x(&mut req);
    Ok((req.uri().to_string(), now + p.expires_in))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_sigv4_query_parameters() {
        let p = Presign {
            method: "GET",
            url: "http://127.0.0.1:9000/b/some%20key",
            region: "us-east-1",
            access_key: "AK",
            secret_key: "SK",
            expires_in: Duration::from_secs(60),
        };
        let (url, _) = presign(
            &p,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        assert!(url.starts_with("http://127.0.0.1:9000/b/some%20key?"));
        for q in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Expires=60",
            "X-Amz-Signature=",
            "X-Amz-Credential=AK%2F",
        ] {
            assert!(url.contains(q), "{url} lacks {q}");
        }
        let too_long = Presign {
            expires_in: MAX_EXPIRY + Duration::from_secs(1),
            ..p
        };
        assert!(presign(&too_long, SystemTime::now()).is_err());
    }
}
