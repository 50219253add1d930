//! `clinic-server`: runs the reference clinic server.

use anyhow::Context;
use clap::Parser;
use clinic_server::{Db, DbLocation, ServerConfig, config, demo};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The Frontdesk reference clinic server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:7420", env = "FRONTDESK_LISTEN")]
    listen: SocketAddr,
    /// SQLite database file (created if missing). The signing secret is kept
    /// beside it as `<db>.secret` unless FRONTDESK_JWT_SECRET is set.
    #[arg(long, default_value = "clinic.db", env = "FRONTDESK_DB")]
    db: PathBuf,
    /// Seed the demo clinic (tenant `demo`, users reception/doctor/doctor2/admin, password `demo`).
    #[arg(long)]
    demo: bool,
    /// Open connections one client address may hold (a clinic behind one
    /// NAT is one address).
    #[arg(
        long,
        default_value_t = 256,
        env = "FRONTDESK_MAX_CONNECTIONS_PER_ADDRESS"
    )]
    max_connections_per_address: usize,
    /// Open connections in all.
    #[arg(long, default_value_t = 8192, env = "FRONTDESK_MAX_CONNECTIONS")]
    max_connections: usize,
    /// Open sockets one user (or waiting-room board) may hold.
    #[arg(long, default_value_t = 20, env = "FRONTDESK_MAX_SOCKETS_PER_USER")]
    max_sockets_per_user: usize,
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
    let args = Args::parse();
    let secret_path = PathBuf::from(format!("{}.secret", args.db.display()));
    let secret = config::load_or_create_secret(&secret_path).context("loading the token secret")?;
    let mut cfg = ServerConfig::new(args.listen, DbLocation::File(args.db.clone()), secret);
    cfg.max_connections_per_address = args.max_connections_per_address;
    cfg.max_connections = args.max_connections;
    cfg.max_sockets_per_user = args.max_sockets_per_user;
    let db = Db::open(&cfg.db).with_context(|| format!("opening {}", args.db.display()))?;
    if args.demo {
        let (zone, now) = (demo::machine_zone(), chrono::Utc::now());
        db.write_now(|c| demo::seed_with_history(c, "demo", "Demo Family Clinic", &zone, now))
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
