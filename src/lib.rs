//! bucketgate: an S3-compatible object-storage gateway with per-bucket backends.
//!
//! The path of one S3 request: accept ([`server`]) → SigV4 and access checks ([`auth`], via
//! s3s) → bucket resolution and routing ([`gateway`]) → the bucket's backend: in process
//! ([`backend::embedded`]), or forwarded whole to the bucket's own S3 server container
//! ([`backend::container`]) or a remote endpoint ([`backend::remote`]) by
//! [`backend::forward`] → the response streamed back.
//!
//! Layers, each importing only those before it: `meta`, `error`, `s3util`, `request`,
//! `secrets`, `metrics`, `tls`, `hosts` → `registry`, `keys`, `policy` → `backend` → `gateway`
//! → [`acme`] (domain ownership proofs and ACME certificates) → `control` → `api` → `server`
//! → `main`.

pub mod acme;
pub mod api;
pub mod backend;
pub mod config;
pub mod conns;
pub mod control;
pub mod cors;
pub mod datadir;
pub mod error;
pub mod gateway;
pub mod hosts;
pub mod idle;
pub mod keys;
pub mod meta;
pub mod metrics;
pub mod policy;
pub mod presign;
pub mod registry;
pub mod request;
pub mod s3util;
pub mod secrets;
pub mod server;
pub mod settings;
pub mod tls;
pub mod website;
