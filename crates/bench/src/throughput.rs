//! Committed events per second: clinic-server started in-process (the
//! library, so its per-user mutation limit can be raised), with sockets
//! listening, and REST writers posting messages as fast as it answers.

use crate::api::Api;
use crate::client::{ConnectPlan, Fleet};
use anyhow::Context;
use clinic_server::{Db, DbLocation, ServerConfig, demo};
use frontdesk_bench::cpu::CpuSample;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Debug, Clone)]
pub struct ThroughputPlan {
    /// How long each run lasts.
    pub duration: Duration,
    /// Writers of the concurrent run (the first run has one).
    pub concurrency: usize,
    /// Sockets connected that must receive every event.
    pub listeners: usize,
    /// Loopback source addresses for the sockets.
    pub sources: Vec<Ipv4Addr>,
    /// Scratch folder for the database file.
    pub scratch: PathBuf,
}

/// One run's numbers.
#[derive(Debug, Clone)]
pub struct ThroughputRow {
    /// Which database the server used.
    pub database: &'static str,
    /// Writers posting at once.
    pub writers: usize,
    /// Events committed (the tenant's `seq` advanced by this much).
    pub events: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Requests that did not answer `201 Created`.
    pub failed_requests: u64,
    /// Listening sockets connected.
    pub listeners: usize,
    /// Listening sockets that received every event of the run.
    pub complete_listeners: usize,
    /// Event receipts missing over all listeners.
    pub missing: u64,
    /// Cores other processes on the machine kept busy, on average, meanwhile.
    pub other_cores: f64,
}

impl ThroughputRow {
    /// Events committed per second.
    pub fn per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs the sequential and the concurrent writers against a file database,
/// then against an in-memory one.
pub async fn run(plan: &ThroughputPlan) -> anyhow::Result<Vec<ThroughputRow>> {
    let mut rows = Vec::new();
    let dbs = [
        (
            "SQLite file (WAL)",
            DbLocation::File(plan.scratch.join("throughput.db")),
        ),
        ("SQLite in memory", DbLocation::Memory),
    ];
    for (database, location) in dbs {
        rows.extend(one_database(plan, database, location).await?);
    }
    Ok(rows)
}

async fn one_database(
    plan: &ThroughputPlan,
    database: &'static str,
    location: DbLocation,
) -> anyhow::Result<Vec<ThroughputRow>> {
    let mut cfg = ServerConfig::for_tests();
    cfg.reads_per_second = 1_000_000;
    cfg.read_burst = 1_000_000;
    cfg.db = location;
    // One user writes everything here; the per-user limit (50/s, burst 200 by
    // default) is a guard against a runaway client, not a capacity figure.
    cfg.mutations_per_second = 1_000_000;
    cfg.mutation_burst = 1_000_000;
    cfg.max_connections = 1_000_000;
    cfg.max_connections_per_address = 1_000_000;
    cfg.max_sockets_per_user = 1_000_000;
    // Room for a listener that falls behind for a moment during the burst.
    cfg.socket_buffer = 16_384;
    let db = Db::open(&cfg.db).context("opening the database")?;
    db.write_now(|c| demo::seed(c, "demo", "Demo Family Clinic"))
        .context("seeding the demo clinic")?;
    let server = clinic_server::start_with_db(cfg, db)
        .await
        .context("starting clinic-server in-process")?;
    let api = Api::login(&server.url(), "reception").await?;
    let thread = api.thread("Clinic team").await?;
    let mut fleet = Fleet::connect(
        &ConnectPlan {
            server: server.addr,
            token: api.token.clone(),
            sources: plan.sources.clone(),
            in_flight: 64,
            timeout: Duration::from_secs(30),
        },
        plan.listeners,
    )
    .await;
    let mut seq = api.latest_seq(0).await?;
    let mut rows = Vec::new();
    for writers in [1, plan.concurrency.max(1)] {
        fleet.discard_receipts();
        let before = seq;
        let failed = Arc::new(AtomicU64::new(0));
        let next = Arc::new(AtomicU64::new(0));
        let cpu_start = CpuSample::now(&[]);
        let started = Instant::now();
        let deadline = started + plan.duration;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..writers {
            let (api, thread, failed, next) =
                (api.clone(), thread.clone(), failed.clone(), next.clone());
            tasks.spawn(async move {
                while Instant::now() < deadline {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let key = format!("bench-{writers}-{k}");
                    let body = format!("Benchmark message {k}: room 2 is free.");
                    if !matches!(api.post_message(&thread, &key, &body).await, Ok(true)) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        let elapsed = started.elapsed();
        let other_cores = cpu_start.others_since(&CpuSample::now(&[]));
        seq = api.latest_seq(before).await?;
        let (complete, missing) = fleet
            .collect_range(before, seq, Duration::from_secs(10))
            .await;
        let row = ThroughputRow {
            database,
            writers,
            events: seq - before,
            elapsed,
            failed_requests: failed.load(Ordering::Relaxed),
            listeners: fleet.established,
            complete_listeners: complete,
            missing,
            other_cores,
        };
        eprintln!(
            "[throughput] {database}, {writers} writer(s): {} events in {:.2} s = {:.0}/s; {} failed; {}/{} listeners complete; other load {other_cores:.2} cores",
            row.events,
            elapsed.as_secs_f64(),
            row.per_second(),
            row.failed_requests,
            complete,
            fleet.established
        );
        rows.push(row);
    }
    drop(fleet);
    server.shutdown().await;
    Ok(rows)
}
