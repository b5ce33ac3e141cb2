//! Backends: `embedded` serves buckets in-process (an `s3s::S3`); `remote` and `container`
//! buckets live on another S3 server, reached through an [`upstream::Upstream`] by the
//! forwarding route ([`forward`]) and, for the gateway's own calls, by [`forwarded`].

pub mod container;
pub mod copy;
pub mod embedded;
pub mod forward;
pub mod forwarded;
mod forwarded_multipart;
pub mod paced;
pub mod remote;
pub mod upstream;
