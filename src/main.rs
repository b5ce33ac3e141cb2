use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use bucketgate::config::Config;
use bucketgate::server::App;

mod cli;

/// bucketgate: an S3-compatible object-storage gateway.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the S3 and admin listeners.
    ///
    /// Root credentials come from BUCKETGATE_ROOT_ACCESS_KEY / BUCKETGATE_ROOT_SECRET_KEY, or are
    /// generated on first start and written to <data-dir>/root-credentials (mode 0600).
    /// BUCKETGATE_MASTER_KEY (64 hex characters) overrides <data-dir>/master.key, the key that
    /// encrypts stored secrets.
    Serve(ServeArgs),
    /// Client commands of the control-plane API (bucket, object, presign, domain, user, key).
    #[command(flatten)]
    Client(cli::Command),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file (see config/bucketgate.toml); flags override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Directory for metadata and object data [default: data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// S3 listener address [default: 127.0.0.1:9000]; port 0 picks a free port.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Admin listener address (/health, /metrics) [default: 127.0.0.1:9001].
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    /// Base domain for virtual-host-style requests (<bucket>.<base-domain>) [default: s3.localhost].
    #[arg(long)]
    base_domain: Option<String>,
    /// Region reported to clients [default: us-east-1].
    #[arg(long)]
    region: Option<String>,
    /// Backend of new buckets that do not choose one: embedded, container (one S3 server
    /// container per bucket, through Docker) or remote (needs [remote] in the config).
    #[arg(long, value_parser = ["embedded", "container", "remote"])]
    default_backend: Option<String>,
    /// Backend profile of new container buckets (minio, rustfs, s3s-fs-test, or one from
    /// [container.profiles] in the config) [default: minio].
    #[arg(long)]
    backend_profile: Option<String>,
    /// Print generated secrets (root secret key, admin token) on stdout even when it is not a
    /// terminal. By default they are printed only to a terminal: logs of services and
    /// containers keep stdout. They are always written to their 0600 files in the data dir.
    #[arg(long)]
    print_secrets: bool,
}

/// Errors end the process with one line on stderr and exit code 1: no `Error: {:?}` from
/// returning a `Result` from `main`, so no backtrace either, whatever `RUST_BACKTRACE` says.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let line = format!("{e:#}").replace(['\n', '\r'], " ");
            let _ = writeln!(std::io::stderr().lock(), "error: {line}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Client(cmd) => runtime.block_on(cli::run(cmd)),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let print_secrets = args.print_secrets || std::io::stdout().is_terminal();
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(v) = args.data_dir {
        config.data_dir = v;
    }
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = args.admin_listen {
        config.admin_listen = v;
    }
    if let Some(v) = args.base_domain {
        config.base_domain = v;
    }
    if let Some(v) = args.region {
        config.region = v;
    }
    if let Some(v) = args.default_backend {
        config.default_backend = match v.as_str() {
            "remote" => bucketgate::meta::BackendKind::Remote,
            "container" => bucketgate::meta::BackendKind::Container,
            _ => bucketgate::meta::BackendKind::Embedded,
        };
    }
    if let Some(v) = args.backend_profile {
        config.container.profile = v;
    }
    raise_fd_limit();

    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let root_env = (
        env("BUCKETGATE_ROOT_ACCESS_KEY"),
        env("BUCKETGATE_ROOT_SECRET_KEY"),
    );
    let master_env = env("BUCKETGATE_MASTER_KEY");
    let admin_token_env = env("BUCKETGATE_ADMIN_TOKEN");
    let s3 = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding S3 listener {}", config.listen))?;
    let admin = TcpListener::bind(config.admin_listen)
        .await
        .with_context(|| format!("binding admin listener {}", config.admin_listen))?;
    // Port 0 picks a free port: the API's connection details and presigned URLs need the bound one.
    config.listen = s3.local_addr()?;
    let tls = match &config.tls {
        Some(t) => Some(
            TcpListener::bind(t.listen)
                .await
                .with_context(|| format!("binding TLS listener {}", t.listen))?,
        ),
        None => None,
    };
    let tls_addr = tls.as_ref().map(TcpListener::local_addr).transpose()?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding metrics listener {addr}"))?,
        ),
        None => None,
    };
    let metrics_addr = metrics_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;
    let data_dir = config.data_dir.clone();
    let mut app = App::open(config, root_env, master_env, admin_token_env).await?;
    if let Some(l) = metrics_listener {
        app = app.with_metrics_listener(l);
    }

    let s3_addr = s3.local_addr()?;
    let admin_addr = admin.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "bucketgate {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(
        out,
        "  S3 endpoint:    http://{s3_addr}  (data in {})",
        data_dir.display()
    )?;
    writeln!(
        out,
        "  admin endpoint: http://{admin_addr}  (/api, /health, /metrics)"
    )?;
    if let Some(addr) = tls_addr {
        writeln!(out, "  S3 over TLS:    https://{addr}")?;
    }
    if let Some(addr) = metrics_addr {
        writeln!(
            out,
            "  metrics:        http://{addr}/metrics  (no authentication)"
        )?;
    }
    writeln!(out, "  root access key: {}", app.root.access_key)?;
    if app.root.generated {
        let file = data_dir.join("root-credentials");
        print_secret(
            &mut out,
            "root secret key",
            &app.root.secret_key,
            &file,
            print_secrets,
        )?;
    }
    if app.admin_token.1 {
        let file = data_dir.join("admin-token");
        print_secret(
            &mut out,
            "admin API token",
            &app.admin_token.0,
            &file,
            print_secrets,
        )?;
    }
    let metrics_field = metrics_addr
        .map(|a| format!(" metrics=http://{a}"))
        .unwrap_or_default();
    writeln!(
        out,
        "bucketgate ready s3=http://{s3_addr} admin=http://{admin_addr}{metrics_field}"
    )?;
    out.flush()?;
    drop(out);

    app.serve(s3, admin, tls, shutdown_signal()).await;
    Ok(())
}

/// Announces a secret generated by this start: its file always, the value itself only when
/// `show` (stdout is a terminal, or `--print-secrets`), so that it does not end up in journald
/// or `docker logs`.
fn print_secret(
    out: &mut impl Write,
    what: &str,
    secret: &str,
    file: &std::path::Path,
    show: bool,
) -> std::io::Result<()> {
    if show {
        writeln!(
            out,
            "  {what}: {secret}  (shown once; also in {})",
            file.display()
        )
    } else {
        writeln!(
            out,
            "  {what}: written to {} (mode 0600; --print-secrets shows it here)",
            file.display()
        )
    }
}

/// Logs to stderr at `RUST_LOG` (default `info`), minus the targets [`log_caps`] silences.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let env = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // Both filters must let an event through: RUST_LOG cannot lift the caps.
    tracing_subscriber::registry()
        .with(log_caps())
        .with(env)
        .with(fmt)
        .init();
}

/// Caps on libraries whose logs would leak secrets or let clients flood the error log,
/// whatever `RUST_LOG` asks for:
/// - `s3s` is silenced: at debug it prints whole request heads (presigned URLs with their
///   `X-Amz-Signature`, `Authorization` headers), the signature it expected on a mismatch (a
///   valid one for that request) and POST form fields; at error it reports every client error
///   twice (an anonymous caller floods the error log). The S3 listener logs each request
///   itself, without the query or headers (`server::finish_s3`): server faults at error, the
///   rest at debug.
/// - `bollard` stays at info: at debug it prints Docker API bodies, which hold the container
///   backends' root passwords.
fn log_caps() -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::LevelFilter;
    tracing_subscriber::filter::Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("s3s", LevelFilter::OFF)
        .with_target("bollard", LevelFilter::INFO)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Multipart objects keep one open file per part during a download: lift the soft limit on
/// open files to the hard limit.
fn raise_fd_limit() {
    #[cfg(unix)]
    if let Ok((_, hard)) = rlimit::Resource::NOFILE.get() {
        let _ = rlimit::Resource::NOFILE.set(hard, hard);
    }
}
