//! bucketgate: an S3-compatible object-storage gateway with per-bucket backends.
//!
//! # One request
//! Accept ([`server`]: connection limits, the request's [`request::Target`] parsed once by
//! [`gateway::host`]) → s3s verifies SigV4 ([`keys`] holds the secrets) → the one access
//! decision ([`gateway::access`]) → for buckets served in process, the gateway's `s3s::S3`
//! ([`gateway`]: bucket operations from the [`registry`], writes admitted against the quota)
//! and the embedded backend ([`backend::embedded`]); for buckets on another S3 server (a
//! bucket's own container, [`backend::container`], or a remote endpoint, [`backend::remote`])
//! the pass-through route ([`gateway::passthrough`]) sends the request on whole → the answer
//! streams back.
//!
//! # Layers
//! Each layer imports only the layers above it in this list (and modules of its own layer,
//! never in a circle); `tests/layering.rs` checks it.
//! 1. Foundations: `error`, `meta`, `datadir`, `s3util`, `request`, `hosts`, `secrets`,
//!    `metrics`, `idle`, `conns`, `cors`, `settings`, `presign`, `tls`.
//! 2. State: `policy` (access rules, quota reservations), `registry` (bucket records, linked
//!    domains, usage), `keys` (access keys).
//! 3. Storage: `backend` (embedded, container, remote, and the [`backend::Backends`] handle
//!    over them).
//! 4. Front door: `gateway` (host map, access, admission, the `S3` implementation, the
//!    pass-through route, control-plane uploads).
//! 5. Services on the gateway: `acme` (domain ownership proofs and ACME certificates),
//!    `website`, `control`.
//! 6. Interfaces: `api` (REST API and console).
//! 7. Assembly: `config`, `server`.

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
