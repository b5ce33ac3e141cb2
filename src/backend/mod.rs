//! Backends: each serves the buckets assigned to it and implements `s3s::S3`.

pub mod embedded;
pub mod remote;
