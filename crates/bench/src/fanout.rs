//! Connections held and broadcast latency, against a server running as a
//! child process (clinic-server or the Node reference), so that its memory
//! can be read from /proc without the clients' memory mixed in.

use crate::api::{Api, NodeEmitter};
use crate::client::{ConnectPlan, Fleet};
use anyhow::{Context, bail};
use frontdesk_bench::cpu::{self, CpuSample};
use frontdesk_bench::process::{Memory, ServerProcess};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::Command;

/// Pause between two broadcast events, so each one meets an idle server.
const PACE: Duration = Duration::from_millis(25);
/// Events sent before measuring, to warm caches and connection pools.
const WARMUP_EVENTS: usize = 3;

/// Which server to run.
#[derive(Debug, Clone)]
pub enum Target {
    /// The clinic-server binary, started with `--demo` on a temporary database.
    Rust {
        /// Path of the `clinic-server` binary.
        bin: PathBuf,
    },
    /// `bench/node/fanout-server.mjs` under Node.
    Node {
        /// The `node` executable.
        node: String,
        /// The folder holding `fanout-server.mjs` and its `node_modules`.
        dir: PathBuf,
    },
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct FanoutPlan {
    /// Connections to open and hold.
    pub connections: usize,
    /// Clients connected while measuring broadcast latency.
    pub latency_clients: usize,
    /// Events measured per latency run.
    pub events: usize,
    /// Loopback source addresses for the clients.
    pub sources: Vec<Ipv4Addr>,
    /// Handshakes in flight at once.
    pub in_flight: usize,
    /// Frame size the Node events are padded to (to match clinic-server's).
    pub node_frame_bytes: usize,
    /// Scratch folder for databases and logs.
    pub scratch: PathBuf,
}

/// Broadcast latency of one run: from just before the HTTP request that
/// causes an event to each client's receipt of it.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    /// Clients connected.
    pub clients: usize,
    /// Events measured.
    pub events: usize,
    /// Every receipt's latency in microseconds, sorted.
    pub receipts_us: Vec<u64>,
    /// Receipts that did not arrive within 10 s.
    pub missed: usize,
    /// Round trip of the triggering HTTP request, microseconds, sorted.
    pub trigger_us: Vec<u64>,
    /// Mean size of the event's WebSocket frame, in bytes.
    pub frame_bytes: usize,
    /// CPU time the server used per event (trigger request and fan-out), ms.
    pub server_cpu_ms: f64,
    /// The part of `server_cpu_ms` spent in the kernel (on loopback that
    /// includes delivering each frame to the client's socket), ms.
    pub server_sys_ms: f64,
    /// CPU time the benchmark used per event (its clients reading), ms.
    pub client_cpu_ms: f64,
}

impl Latency {
    /// The `p`-th percentile (nearest rank) of the receipt latencies.
    pub fn pct(&self, p: f64) -> Duration {
        percentile(&self.receipts_us, p)
    }
}

/// The `p`-th percentile (nearest rank) of sorted microsecond samples.
pub fn percentile(sorted_us: &[u64], p: f64) -> Duration {
    if sorted_us.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    Duration::from_micros(sorted_us[rank.clamp(1, sorted_us.len()) - 1])
}

/// Everything measured against one server.
#[derive(Debug, Clone)]
pub struct FanoutResult {
    /// Connections requested.
    pub requested: usize,
    /// Connections that completed the Socket.IO CONNECT.
    pub established: usize,
    /// Connections that failed, and why.
    pub failed: usize,
    /// Failure reasons with counts.
    pub errors: HashMap<String, usize>,
    /// Connections still open after settling (the server closed none).
    pub still_open: usize,
    /// Time to establish all of them.
    pub connect_time: Duration,
    /// Server memory before the first connection.
    pub before: Memory,
    /// Server memory with all connections open.
    pub after: Memory,
    /// Server memory with all connections open, after the broadcasts to all
    /// of them (only if that latency run happened).
    pub after_broadcasts: Option<Memory>,
    /// Cores other processes on the machine kept busy, on average, meanwhile.
    pub other_cores: f64,
    /// Latency with every connection open (only if that is more than
    /// `latency_clients`).
    pub latency_all: Option<Latency>,
    /// Latency with `latency_clients` connections.
    pub latency: Latency,
}

impl FanoutResult {
    /// Server RSS growth per established connection, in bytes.
    pub fn rss_per_conn(&self) -> f64 {
        per_conn(self.before.rss_kib, self.after.rss_kib, self.established)
    }

    /// Server PSS growth per established connection, in bytes.
    pub fn pss_per_conn(&self) -> f64 {
        per_conn(self.before.pss_kib, self.after.pss_kib, self.established)
    }

    /// Server RSS growth per connection once every connection has carried
    /// broadcasts, in bytes.
    pub fn rss_per_conn_after_broadcasts(&self) -> Option<f64> {
        self.after_broadcasts
            .map(|m| per_conn(self.before.rss_kib, m.rss_kib, self.established))
    }
}

fn per_conn(before_kib: u64, after_kib: u64, n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    (after_kib as f64 - before_kib as f64) * 1024.0 / n as f64
}

/// What makes the server under test broadcast one event.
enum Trigger {
    /// A clinic-server `PATCH /api/appointments/{id}`: one SQLite transaction
    /// and one `appointment.updated` to the whole tenant.
    Rust {
        api: Api,
        appointment: String,
        version: u64,
        seq: u64,
    },
    /// The Node server's `POST /emit` with an envelope-shaped payload.
    Node {
        emitter: NodeEmitter,
        pad: String,
        seq: u64,
    },
}

impl Trigger {
    /// Causes event number `k`; returns the `seq` the clients will see.
    async fn fire(&mut self, k: usize) -> anyhow::Result<u64> {
        match self {
            Trigger::Rust {
                api,
                appointment,
                version,
                seq,
            } => {
                *version = api
                    .set_reason(appointment, *version, &format!("Benchmark {k}"))
                    .await?;
                *seq += 1;
                Ok(*seq)
            }
            Trigger::Node { emitter, pad, seq } => {
                *seq += 1;
                emitter
                    .emit("appointment.updated", &node_envelope(*seq, pad))
                    .await?;
                Ok(*seq)
            }
        }
    }
}

/// An event payload shaped like clinic-server's envelope, padded with `pad`.
fn node_envelope(seq: u64, pad: &str) -> Value {
    json!({
        "seq": seq,
        "id": "00000000-0000-4000-8000-000000000000",
        "type": "appointment.updated",
        "tenant": "demo",
        "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "actor": "u_bench",
        "data": {"pad": pad},
    })
}

/// Padding that makes Node's event frame about `frame_bytes` long.
fn node_pad(frame_bytes: usize) -> String {
    let bare = format!(
        "42[\"appointment.updated\",{}]",
        node_envelope(1_000_000, "")
    );
    "x".repeat(frame_bytes.saturating_sub(bare.len()))
}

/// Runs the connections-held and broadcast-latency measurements against `target`.
pub async fn run(target: &Target, plan: &FanoutPlan) -> anyhow::Result<FanoutResult> {
    let (server, mut trigger, token, node) = start(target, plan).await?;
    let base = format!("http://{}", server.addr);
    let label = match target {
        Target::Rust { .. } => "clinic-server",
        Target::Node { .. } => "node",
    };

    let cpu_start = CpuSample::now(&[server.pid]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    if let Some(n) = &node {
        n.gc().await?;
    }
    let before = server.memory()?;
    eprintln!(
        "[{label}] {base}: RSS {} KiB; opening {} connections…",
        before.rss_kib, plan.connections
    );
    let connect = ConnectPlan {
        server: server.addr,
        token,
        sources: plan.sources.clone(),
        in_flight: plan.in_flight,
        timeout: Duration::from_secs(60),
    };
    let mut fleet = Fleet::connect(&connect, plan.connections).await;
    eprintln!(
        "[{label}] {} established, {} failed in {:.1} s {:?}",
        fleet.established,
        fleet.failed,
        fleet.elapsed.as_secs_f64(),
        fleet.errors
    );
    if fleet.established == 0 {
        bail!(
            "{label}: no connection could be established: {:?}",
            fleet.errors
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    if let Some(n) = &node {
        n.gc().await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let after = server.memory()?;
    let still_open = fleet.alive();
    eprintln!(
        "[{label}] RSS {} KiB with {} open",
        after.rss_kib, still_open
    );
    let mut result = FanoutResult {
        requested: plan.connections,
        established: fleet.established,
        failed: fleet.failed,
        errors: fleet.errors.clone(),
        still_open,
        connect_time: fleet.elapsed,
        before,
        after,
        after_broadcasts: None,
        other_cores: 0.0,
        latency_all: None,
        latency: Latency::default(),
    };

    if plan.events > 0 {
        if fleet.established > plan.latency_clients {
            let l = measure(&mut fleet, &mut trigger, plan.events, server.pid).await?;
            eprintln!(
                "[{label}] broadcast to {}: p50 {:?} p99 {:?} max {:?}",
                l.clients,
                l.pct(50.0),
                l.pct(99.0),
                l.pct(100.0)
            );
            result.latency_all = Some(l);
            if let Some(n) = &node {
                n.gc().await?;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            result.after_broadcasts = Some(server.memory()?);
            fleet.truncate(plan.latency_clients);
            tokio::time::sleep(Duration::from_millis(500)).await;
            cpu::wait_idle(server.pid, Duration::from_secs(20)).await;
        }
        let l = measure(&mut fleet, &mut trigger, plan.events, server.pid).await?;
        eprintln!(
            "[{label}] broadcast to {}: p50 {:?} p99 {:?} max {:?}",
            l.clients,
            l.pct(50.0),
            l.pct(99.0),
            l.pct(100.0)
        );
        result.latency = l;
    }
    result.other_cores = cpu_start.others_since(&CpuSample::now(&[server.pid]));
    drop(fleet);
    server.stop().await;
    Ok(result)
}

/// Starts the server and prepares its trigger and the token clients send.
async fn start(
    target: &Target,
    plan: &FanoutPlan,
) -> anyhow::Result<(ServerProcess, Trigger, String, Option<NodeEmitter>)> {
    match target {
        Target::Rust { bin } => {
            let db = plan.scratch.join("clinic.db");
            let mut cmd = Command::new(bin);
            cmd.arg("--listen")
                .arg("127.0.0.1:0")
                .arg("--db")
                .arg(&db)
                .arg("--demo")
                // Thousands of clients from a few loopback addresses: a
                // capacity figure, not the production caps.
                .arg("--max-connections")
                .arg("1000000")
                .arg("--max-connections-per-address")
                .arg("1000000")
                .arg("--max-sockets-per-user")
                .arg("1000000")
                .env_remove("FRONTDESK_JWT_SECRET")
                .env_remove("FRONTDESK_LISTEN")
                .env_remove("FRONTDESK_DB");
            let server = ServerProcess::spawn(cmd, &log_path(&plan.scratch, "clinic-server"))
                .await
                .context("starting clinic-server")?;
            let base = format!("http://{}", server.addr);
            let api = Api::login(&base, "reception").await?;
            let (appointment, version) = api.some_appointment().await?;
            let seq = api.latest_seq(0).await?;
            let token = api.token.clone();
            let trigger = Trigger::Rust {
                api,
                appointment,
                version,
                seq,
            };
            Ok((server, trigger, token, None))
        }
        Target::Node { node, dir } => {
            let mut cmd = Command::new(node);
            cmd.arg("--expose-gc")
                .arg("fanout-server.mjs")
                .arg("--port")
                .arg("0")
                .current_dir(dir);
            let server = ServerProcess::spawn(cmd, &log_path(&plan.scratch, "node"))
                .await
                .context("starting the Node fan-out server")?;
            let emitter = NodeEmitter::new(&format!("http://{}", server.addr))?;
            let trigger = Trigger::Node {
                emitter: emitter.clone(),
                pad: node_pad(plan.node_frame_bytes),
                seq: 0,
            };
            Ok((server, trigger, "benchmark".into(), Some(emitter)))
        }
    }
}

fn log_path(scratch: &Path, name: &str) -> PathBuf {
    scratch.join(format!("{name}.log"))
}

/// Sends `WARMUP_EVENTS + events` events one at a time, each once the
/// previous one has reached every client, and times every receipt.
async fn measure(
    fleet: &mut Fleet,
    trigger: &mut Trigger,
    events: usize,
    server_pid: u32,
) -> anyhow::Result<Latency> {
    let clients = fleet.established;
    let mut out = Latency {
        clients,
        events,
        receipts_us: Vec::with_capacity(clients * events),
        ..Latency::default()
    };
    let (mut bytes, mut frames) = (0u64, 0u64);
    let (mut server_cpu, mut client_cpu) = ((0.0, 0.0), 0.0);
    for k in 0..WARMUP_EVENTS + events {
        if k == WARMUP_EVENTS {
            server_cpu = cpu::process_cpu_split_ms(server_pid);
            client_cpu = cpu::process_cpu_ms(std::process::id());
        }
        fleet.discard_receipts();
        let t0 = Instant::now();
        let seq = trigger.fire(k).await?;
        let answered = t0.elapsed();
        let got = fleet.collect(seq, clients, Duration::from_secs(10)).await;
        if got.is_empty() {
            bail!("no client received the event with seq {seq}");
        }
        if k >= WARMUP_EVENTS {
            out.trigger_us.push(answered.as_micros() as u64);
            out.missed += clients - got.len();
            for r in &got {
                out.receipts_us
                    .push(r.at.saturating_duration_since(t0).as_micros() as u64);
                bytes += u64::from(r.len);
                frames += 1;
            }
        }
        tokio::time::sleep(PACE).await;
    }
    let n = events.max(1) as f64;
    let (user, sys) = cpu::process_cpu_split_ms(server_pid);
    out.server_cpu_ms = (user + sys - server_cpu.0 - server_cpu.1) / n;
    out.server_sys_ms = (sys - server_cpu.1) / n;
    out.client_cpu_ms = (cpu::process_cpu_ms(std::process::id()) - client_cpu) / n;
    out.receipts_us.sort_unstable();
    out.trigger_us.sort_unstable();
    out.frame_bytes = (bytes / frames.max(1)) as usize;
    Ok(out)
}
