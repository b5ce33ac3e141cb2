//! The CLI's commands and flags (clap).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::parse_size;

/// Where the API is and how to authenticate (flags or environment). Only client commands take
/// them (`global` within each client command group), under their own help heading, so that
/// `bucketgate serve --help` lists the server's flags alone.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Client options")]
pub struct GlobalArgs {
    /// Admin API base URL.
    #[arg(
        long,
        global = true,
        env = "BUCKETGATE_API",
        default_value = "http://127.0.0.1:9001"
    )]
    pub api: String,
    /// Admin token.
    #[arg(
        long,
        global = true,
        env = "BUCKETGATE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// A user's access key (with --secret-key) instead of the admin token.
    #[arg(long, global = true, env = "BUCKETGATE_ACCESS_KEY")]
    pub access_key: Option<String>,
    /// The secret of --access-key.
    #[arg(
        long,
        global = true,
        env = "BUCKETGATE_SECRET_KEY",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A client command group with the client flags, which its subcommands inherit.
#[derive(Args, Debug)]
pub struct Group<T: Subcommand> {
    #[command(flatten)]
    pub g: GlobalArgs,
    #[command(subcommand)]
    pub cmd: T,
}

/// The client subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Buckets: create, list, show, update, delete, start, stop, stats, sync.
    Bucket(Group<BucketCmd>),
    /// Objects: put, get, ls, rm.
    Object(Group<ObjectCmd>),
    /// Presigned S3 URLs.
    Presign(Group<PresignCmd>),
    /// Domains linked to a bucket (served as a website).
    Domain(Group<DomainCmd>),
    /// Users (admin).
    User(Group<UserCmd>),
    /// A user's access keys.
    Key(Group<KeyCmd>),
}

impl Command {
    /// The client flags given with the command.
    pub fn global(&self) -> &GlobalArgs {
        match self {
            Self::Bucket(x) => &x.g,
            Self::Object(x) => &x.g,
            Self::Presign(x) => &x.g,
            Self::Domain(x) => &x.g,
            Self::User(x) => &x.g,
            Self::Key(x) => &x.g,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum BucketCmd {
    /// Create a bucket and print how to connect to it.
    Create(BucketCreateArgs),
    /// List buckets with their usage.
    List,
    /// Show one bucket.
    Show { name: String },
    /// Change a bucket's settings.
    Update(BucketUpdateArgs),
    /// Delete an empty bucket.
    Delete {
        name: String,
        /// Keep a container bucket's volume (its data) after the bucket is gone.
        #[arg(long)]
        keep_volume: bool,
    },
    /// Start a bucket's backend.
    Start { name: String },
    /// Stop a bucket's backend.
    Stop { name: String },
    /// Usage and limits.
    Stats { name: String },
    /// Recompute usage from what the backend stores.
    Sync { name: String },
}

#[derive(Args, Debug)]
pub struct BucketCreateArgs {
    pub name: String,
    /// Owner user id (admin only).
    #[arg(long)]
    pub owner: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[arg(long)]
    pub team: Option<String>,
    #[arg(long)]
    pub workspace: Option<String>,
    /// Storage quota, e.g. 10GiB, 500MB or a number of bytes.
    #[arg(long, value_parser = parse_size)]
    pub max_size: Option<u64>,
    #[arg(long)]
    pub max_objects: Option<u64>,
    /// Anyone may download objects.
    #[arg(long)]
    pub public_read: bool,
    /// Anyone may list objects (with --public-read).
    #[arg(long)]
    pub public_list: bool,
    #[arg(long)]
    pub versioning: bool,
    /// Backend: embedded, container (an S3 server container of its own) or remote [default:
    /// the gateway's default backend].
    #[arg(long, value_parser = ["embedded", "container", "remote"])]
    pub backend: Option<String>,
    /// Backend profile of a container bucket (minio, rustfs, s3s-fs-test, or a configured one).
    #[arg(long)]
    pub profile: Option<String>,
}

#[derive(Args, Debug)]
pub struct BucketUpdateArgs {
    pub name: String,
    #[arg(long)]
    pub description: Option<String>,
    /// New storage quota ("none" removes it).
    #[arg(long)]
    pub max_size: Option<String>,
    /// New object-count quota ("none" removes it).
    #[arg(long)]
    pub max_objects: Option<String>,
    #[arg(long)]
    pub public_read: Option<bool>,
    #[arg(long)]
    pub public_list: Option<bool>,
    #[arg(long)]
    pub versioning: Option<bool>,
}

#[derive(Subcommand, Debug)]
pub enum ObjectCmd {
    /// Upload a file (streamed; 16 MiB and more as a multipart upload with parts in parallel,
    /// straight to the S3 listener, with a progress bar on a terminal).
    Put {
        bucket: String,
        file: PathBuf,
        /// Key [default: the file name].
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        content_type: Option<String>,
        /// Parts sent at once by a multipart upload (files of 16 MiB and more).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallel: u16,
        /// Continue this file's interrupted multipart upload, skipping the parts already sent.
        #[arg(long)]
        resume: bool,
    },
    /// Download an object to a file, or to stdout with `-` (the default). Objects of 16 MiB
    /// and more are fetched to a file in ranges in parallel, straight from the S3 listener.
    Get {
        bucket: String,
        key: String,
        /// File to write, `-` for stdout [default: -].
        #[arg(conflicts_with = "output")]
        file: Option<String>,
        /// Same as FILE.
        #[arg(long, short)]
        output: Option<String>,
        /// Ranges fetched at once (objects of 16 MiB and more).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallel: u16,
        /// Continue this file's interrupted download, skipping the ranges already fetched
        /// (starts over if the object changed since).
        #[arg(long)]
        resume: bool,
    },
    /// List objects.
    Ls {
        bucket: String,
        #[arg(long)]
        prefix: Option<String>,
        #[arg(long)]
        delimiter: Option<String>,
    },
    /// Delete an object.
    Rm { bucket: String, key: String },
}

#[derive(Subcommand, Debug)]
pub enum PresignCmd {
    /// A download URL.
    Get(PresignArgs),
    /// An upload URL (HTTP PUT).
    Put(PresignArgs),
}

#[derive(Args, Debug)]
pub struct PresignArgs {
    pub bucket: String,
    pub key: String,
    /// Validity in seconds (at most 604800).
    #[arg(long, default_value_t = 3600)]
    pub expires_in: u64,
}

#[derive(Subcommand, Debug)]
pub enum DomainCmd {
    Link {
        bucket: String,
        domain: String,
    },
    /// Unlink one domain, or all of them.
    Unlink {
        bucket: String,
        domain: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    Create {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        team: Option<String>,
    },
    List,
    Show {
        id: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// Create a key; its secret is printed this once.
    Create {
        user: String,
    },
    List {
        user: String,
    },
    Disable {
        user: String,
        access_key: String,
    },
    Enable {
        user: String,
        access_key: String,
    },
    Delete {
        user: String,
        access_key: String,
    },
}
