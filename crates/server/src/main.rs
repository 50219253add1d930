//! `clinic-server`: runs the reference clinic server.

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser};
use clinic_server::{Db, DbLocation, ServerConfig, config, demo, settings};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The Frontdesk reference clinic server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// A TOML file of settings (`key = value`, the keys listed below).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port); overrides the settings.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// SQLite database file (created if missing); overrides the settings.
    /// The signing secret is kept beside it as `<db>.secret` unless
    /// FRONTDESK_JWT_SECRET is set.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Seed the demo clinic (tenant `demo`, users reception/doctor/doctor2/admin, password `demo`).
    #[arg(long)]
    demo: bool,
    /// Open connections one client address may hold; overrides the settings.
    #[arg(long)]
    max_connections_per_address: Option<usize>,
    /// Open connections in all; overrides the settings.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Open sockets one user (or waiting-room board) may hold; overrides the settings.
    #[arg(long)]
    max_sockets_per_user: Option<usize>,
    #[command(subcommand)]
    command: Option<Tool>,
}

/// What else the binary does besides serving.
#[derive(clap::Subcommand, Debug)]
enum Tool {
    /// The audit trail of access to patient data.
    Audit {
        #[command(subcommand)]
        what: AuditTool,
    },
}

#[derive(clap::Subcommand, Debug)]
enum AuditTool {
    /// Recomputes the trail's hash chain: exits 0 if every row is as it was
    /// written and none is missing, 1 naming the first that is not.
    Verify,
}

/// The defaults, before the file, the environment and the flags.
fn defaults() -> ServerConfig {
    ServerConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 7420)),
        DbLocation::File("clinic.db".into()),
        Vec::new(),
    )
}

/// Defaults, then the `--config` file, then `FRONTDESK_*`, then the flags;
/// then the secret beside the database.
fn settings(args: &Args) -> anyhow::Result<ServerConfig> {
    let mut cfg = defaults();
    if let Some(path) = &args.config {
        settings::apply_file(&mut cfg, path)?;
    }
    settings::apply_env(&mut cfg, |name| std::env::var(name).ok())?;
    if let Some(listen) = args.listen {
        cfg.listen = listen;
    }
    if let Some(db) = &args.db {
        cfg.db = DbLocation::File(db.clone());
    }
    if let Some(n) = args.max_connections_per_address {
        cfg.max_connections_per_address = n;
    }
    if let Some(n) = args.max_connections {
        cfg.max_connections = n;
    }
    if let Some(n) = args.max_sockets_per_user {
        cfg.max_sockets_per_user = n;
    }
    let DbLocation::File(db) = &cfg.db else {
        anyhow::bail!("the server keeps its records in a file: set `db`");
    };
    let secret_path = PathBuf::from(format!("{}.secret", db.display()));
    cfg.secret = config::load_or_create_secret(&secret_path).context("loading the token secret")?;
    Ok(cfg)
}

/// `RUST_LOG` (default `clinic_server=info`) with the crates that log whole
/// frames ([`frontdesk_protocol::FRAME_LOGGERS`]) capped at `info`.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "clinic_server=info".into());
    for target in frontdesk_protocol::FRAME_LOGGERS {
        match format!("{target}=info").parse() {
            Ok(d) => filter = filter.add_directive(d),
            Err(e) => eprintln!("log filter for {target}: {e}"),
        }
    }
    filter
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .init();
    let command = Args::command().after_long_help(settings::help(&defaults()));
    let args = Args::from_arg_matches(&command.get_matches())?;
    let cfg = settings(&args)?;
    let db = Db::open(&cfg.db).context("opening the database")?;
    if let Some(Tool::Audit {
        what: AuditTool::Verify,
    }) = &args.command
    {
        let verdict = db.write_now(|c| clinic_server::store::audit::verify(c))?;
        match verdict {
            clinic_server::store::audit::Verdict::Intact { rows } => {
                println!("audit trail intact: {rows} rows");
                return Ok(());
            }
            clinic_server::store::audit::Verdict::Broken { seq, why } => {
                println!("audit trail BROKEN at row {seq}: {why}");
                std::process::exit(1);
            }
        }
    }
    if args.demo {
        let now = chrono::Utc::now();
        let zone = cfg.default_time_zone.clone();
        let settings = (
            cfg.default_lock_after_seconds,
            cfg.default_window_days_back,
            cfg.default_window_days_ahead,
        );
        db.write_now(|c| {
            if demo::seed_with_history(c, "demo", "Demo Family Clinic", &zone, now)?.is_some() {
                demo::apply_clinic_defaults(c, "demo", settings)?;
            }
            Ok(())
        })
        .context("seeding the demo clinic")?;
    }
    let server = clinic_server::start_with_db(cfg, db)
        .await
        .context("starting the server")?;
    // First line of output: where we listen (scripts and the app read it).
    // A reader that stops reading (closes the pipe) must not stop the server.
    {
        let mut out = std::io::stdout().lock();
        let mut say = |line: &str| {
            if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                tracing::info!("standard output is gone ({e}); serving on");
            }
        };
        say(&format!("clinic-server listening on {}", server.url()));
        if args.demo {
            say(
                "demo clinic: tenant `demo`, users reception / doctor / doctor2 / admin, password `demo`",
            );
        }
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("shutting down");
    server.shutdown().await;
    Ok(())
}
