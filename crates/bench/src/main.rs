//! `server-bench`: how many connections clinic-server holds and at what memory
//! cost, how fast a broadcast reaches its clients, and how many events per
//! second it commits, with a minimal Node socket.io server measured the same
//! way beside it.
//!
//! Every byte of traffic goes to 127.0.0.1. See `docs/benchmarks.md` for the
//! method and the latest numbers, and `bench/run-server-bench.sh` to run it.

mod api;
mod client;
mod fanout;
mod report;
mod throughput;

use anyhow::{Context, bail};
use clap::Parser;
use fanout::{FanoutPlan, Target};
use frontdesk_bench::process;
use report::{Machine, Report};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;
use throughput::ThroughputPlan;

/// Benchmarks the Frontdesk clinic server (and a Node socket.io reference) on loopback.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Socket.IO connections to open and hold against each server.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Clients connected while measuring broadcast latency.
    #[arg(long, default_value_t = 1_000)]
    latency_clients: usize,
    /// Events measured per latency run (0 skips the latency runs).
    #[arg(long, default_value_t = 50)]
    events: usize,
    /// Seconds each committed-events run lasts.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Writers posting at once in the concurrent committed-events run.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Sockets listening during the committed-events runs.
    #[arg(long, default_value_t = 50)]
    listeners: usize,
    /// Loopback source addresses for the clients (127.0.0.2 onwards).
    #[arg(long, default_value_t = 8)]
    source_ips: u8,
    /// Socket.IO handshakes in flight at once.
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
    /// The clinic-server binary [default: `clinic-server` beside this binary].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// The Node executable.
    #[arg(long, default_value = "node")]
    node: String,
    /// Folder with `fanout-server.mjs` and its installed `node_modules`.
    #[arg(long, default_value = "bench/node")]
    node_dir: PathBuf,
    /// Skip the clinic-server child-process measurements.
    #[arg(long)]
    skip_rust: bool,
    /// Skip the Node comparison.
    #[arg(long)]
    skip_node: bool,
    /// Skip the committed-events runs.
    #[arg(long)]
    skip_throughput: bool,
    /// Replace the `server-bench` section of this Markdown file (e.g. docs/benchmarks.md).
    #[arg(long)]
    write: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.source_ips == 0 || args.source_ips > 250 {
        bail!("--source-ips must be between 1 and 250");
    }
    // Each side of every connection is a file descriptor; the server child
    // inherits the raised limit.
    let want = args.connections.max(args.listeners) as u64 + 4096;
    let nofile = process::raise_nofile(want)?;
    if nofile < args.connections as u64 + 256 {
        eprintln!(
            "warning: open-file limit is {nofile}, too low for {} connections",
            args.connections
        );
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("server-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let result = measure_all(&args, &scratch).await;
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&scratch);
    } else {
        eprintln!("server logs kept in {}", scratch.display());
    }
    let report = result?;
    let md = report.markdown();
    println!("{md}");
    if let Some(path) = &args.write {
        report.write_into(path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

async fn measure_all(args: &Args, scratch: &std::path::Path) -> anyhow::Result<Report> {
    let sources: Vec<Ipv4Addr> = (0..args.source_ips)
        .map(|i| Ipv4Addr::new(127, 0, 0, 2 + i))
        .collect();
    let mut plan = FanoutPlan {
        connections: args.connections,
        latency_clients: args.latency_clients.min(args.connections),
        events: args.events,
        sources: sources.clone(),
        in_flight: args.connect_concurrency,
        node_frame_bytes: 700,
        scratch: scratch.to_owned(),
    };
    let mut report = Report {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        machine: Machine::detect(),
        rust: None,
        node: None,
        node_label: "Node socket.io".into(),
        throughput: Vec::new(),
        command: command_line(),
    };

    if !args.skip_rust {
        let bin = match &args.server_bin {
            Some(b) => b.clone(),
            None => std::env::current_exe()?
                .parent()
                .context("this binary has no folder")?
                .join("clinic-server"),
        };
        if !bin.exists() {
            bail!(
                "{} not found: build it with `cargo build --release -p clinic-server` or pass --server-bin",
                bin.display()
            );
        }
        let r = fanout::run(&Target::Rust { bin }, &plan).await?;
        if r.latency.frame_bytes > 0 {
            plan.node_frame_bytes = r.latency.frame_bytes;
        }
        report.rust = Some(r);
    }

    if !args.skip_node {
        let dir = args.node_dir.clone();
        if !dir.join("node_modules/socket.io").exists() {
            bail!(
                "{}/node_modules is missing: run `npm ci` there (bench/run-server-bench.sh does), or pass --skip-node",
                dir.display()
            );
        }
        report.node_label = node_label(&args.node, &dir);
        let target = Target::Node {
            node: args.node.clone(),
            dir,
        };
        report.node = Some(fanout::run(&target, &plan).await?);
    }

    if !args.skip_throughput {
        let plan = ThroughputPlan {
            duration: Duration::from_secs_f64(args.seconds.max(0.1)),
            concurrency: args.concurrency,
            listeners: args.listeners,
            sources,
            scratch: scratch.to_owned(),
        };
        report.throughput = throughput::run(&plan).await?;
    }
    Ok(report)
}

/// `Node vX + socket.io Y`, from `node --version` and the installed package.
fn node_label(node: &str, dir: &std::path::Path) -> String {
    let version = std::process::Command::new(node)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "?".into());
    let sio = std::fs::read_to_string(dir.join("node_modules/socket.io/package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    format!("Node {version} + socket.io {sio}")
}

/// The command line, with the binary's path shortened to its name.
fn command_line() -> String {
    let mut args = std::env::args();
    let name = args
        .next()
        .map(|a| {
            PathBuf::from(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_else(|| "server-bench".into());
    std::iter::once(name)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}
