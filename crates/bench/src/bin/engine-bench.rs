//! `engine-bench`: how fast the client engine applies events into its
//! encrypted cache, catches up after a reconnect, delivers a committed event
//! to a subscriber, comes back after a server restart, and how much memory it
//! holds with a large cached day. Everything runs against the real server on
//! loopback; numbers go to stdout and, with `--write`, into docs/benchmarks.md.

use anyhow::{Context, bail};
use clap::Parser;
use clinic_server::{Db, DbLocation, RunningServer, ServerConfig, demo, demo_history};
use frontdesk_bench::machine::Machine;
use frontdesk_bench::markdown;
use frontdesk_bench::process::Memory;
use frontdesk_engine::cache::{Cache, CacheKey};
use frontdesk_engine::engine::{self, EngineConfig, EngineHandle, Update};
use frontdesk_engine::notify::Silent;
use frontdesk_engine::secrets::{MemoryStore, SecretStore};
use frontdesk_engine::supervisor::ConnState;
use frontdesk_protocol::api::Snapshot;
use frontdesk_protocol::envelope::{Envelope, EventData};
use frontdesk_protocol::records::{Message, PatientRef, QueueEntry, Role, Tenant, UserSummary};
use frontdesk_protocol::status::QueueStatus;
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const START: &str = "<!-- engine-bench:start -->";
const END: &str = "<!-- engine-bench:end -->";

/// Benchmarks the Frontdesk engine against an in-process clinic server on loopback.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Events applied in the cache-apply run.
    #[arg(long, default_value_t = 50_000)]
    apply_events: usize,
    /// Events missed while away, replayed on reconnect.
    #[arg(long, default_value_t = 10_000)]
    missed: usize,
    /// Events in the commit-to-subscriber run (sent at 100/s).
    #[arg(long, default_value_t = 1_000)]
    live_events: usize,
    /// Server restarts measured.
    #[arg(long, default_value_t = 10)]
    restarts: usize,
    /// Appointments in the cached day for the memory run.
    #[arg(long, default_value_t = 10_000)]
    appointments: usize,
    /// Replace the `engine-bench` section of this Markdown file.
    #[arg(long)]
    write: Option<PathBuf>,
    /// Internal: run as the memory-measurement child (server URL).
    #[arg(long, hide = true)]
    memory_child: Option<String>,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

/// A file-backed demo server with limits raised for load.
async fn server(
    dir: &Path,
    listen: Option<std::net::SocketAddr>,
    secret: Option<Vec<u8>>,
) -> anyhow::Result<RunningServer> {
    let mut cfg = ServerConfig::for_tests();
    cfg.reads_per_second = 1_000_000;
    cfg.read_burst = 1_000_000;
    if let Some(l) = listen {
        cfg.listen = l;
    }
    if let Some(s) = secret {
        cfg.secret = s;
    }
    cfg.db = DbLocation::File(dir.join("clinic.db"));
    cfg.mutations_per_second = 1_000_000;
    cfg.mutation_burst = 1_000_000;
    cfg.event_retention = 1_000_000;
    let db = Db::open(&cfg.db)?;
    db.write_now(|c| demo::seed(c, "demo", "Demo Family Clinic"))?;
    Ok(clinic_server::start_with_db(cfg, db).await?)
}

async fn engine_for(
    base: &str,
    data: &Path,
) -> anyhow::Result<(EngineHandle, Arc<dyn SecretStore>, EngineConfig)> {
    let config = EngineConfig::new(base, "demo", "reception", data.to_path_buf());
    let secrets: Arc<dyn SecretStore> = Arc::new(MemoryStore::default());
    let tokens = engine::sign_in(&config, "demo", secrets.as_ref()).await?;
    let handle = engine::start(
        config.clone(),
        secrets.clone(),
        Arc::new(Silent),
        Some(tokens),
    )
    .await?;
    Ok((handle, secrets, config))
}

async fn wait_synced(h: &EngineHandle, at_least: u64, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if h.is_synced() && h.reader()?.last_seq()?.unwrap_or(0) >= at_least {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("engine did not sync to {at_least} within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A REST writer as another desk.
struct Writer {
    http: reqwest::Client,
    base: String,
    token: String,
    thread: String,
}

impl Writer {
    async fn login(base: &str) -> anyhow::Result<Writer> {
        let http = reqwest::Client::new();
        let t: serde_json::Value = http
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"tenant": "demo", "username": "admin", "password": "demo"}))
            .send()
            .await?
            .json()
            .await?;
        let token = t["access_token"].as_str().context("no token")?.to_owned();
        let snap: serde_json::Value = http
            .get(format!("{base}/api/snapshot"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        let thread = snap["threads"]
            .as_array()
            .and_then(|a| a.iter().find(|t| t["title"] == "Clinic team"))
            .context("no team thread")?["id"]
            .as_str()
            .context("thread id")?
            .to_owned();
        Ok(Writer {
            http,
            base: base.to_owned(),
            token,
            thread,
        })
    }

    async fn message(&self, key: &str) -> anyhow::Result<()> {
        let r = self
            .http
            .post(format!(
                "{}/api/threads/{}/messages",
                self.base, self.thread
            ))
            .bearer_auth(&self.token)
            .json(&json!({"client_id": key, "body": format!("bench {key}")}))
            .send()
            .await?;
        if r.status() != 201 {
            bail!("post message: {}", r.status());
        }
        Ok(())
    }

    /// Books appointment `i`, a minute after the one before: they overlap
    /// and run through the night, so they are booked as overbookings (the
    /// booking rules are not what this measures).
    async fn appointment(&self, i: usize, provider: &str) -> anyhow::Result<()> {
        let start = chrono::Utc::now() + chrono::Duration::minutes(i as i64);
        let r = self
            .http
            .post(format!("{}/api/appointments", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"patient": {"name": format!("Patient {i}")}, "provider_id": provider, "start": start, "end": start + chrono::Duration::minutes(15), "reason": "bench", "overbook": true, "overbook_reason": "benchmark load"}))
            .send()
            .await?;
        if r.status() != 201 {
            bail!("post appointment: {}", r.status());
        }
        Ok(())
    }

    /// `n` messages from `writers` concurrent tasks.
    async fn burst(self: &Arc<Self>, n: usize, writers: usize, tag: &str) -> anyhow::Result<()> {
        let mut tasks = Vec::new();
        for w in 0..writers {
            let me = self.clone();
            let tag = tag.to_owned();
            tasks.push(tokio::spawn(async move {
                for i in (w..n).step_by(writers) {
                    me.message(&format!("{tag}-{i}")).await?;
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        Ok(())
    }
}

/// 1. Applying replay pages of 500 into an encrypted cache.
fn apply_throughput(n: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut cache = Cache::open(&dir.path().join("c.db"), &CacheKey::generate())?;
    let at: chrono::DateTime<chrono::Utc> = "2026-11-22T09:00:00.000Z".parse()?;
    cache.replace_with_snapshot(
        &Snapshot {
            seq: 0,
            last_event_id: None,
            window: None,
            holds: None,
            tenant: Tenant {
                id: "demo".into(),
                name: "Demo".into(),
                time_zone: "UTC".into(),
                window_days_back: 7,
                window_days_ahead: 30,
                lock_after_seconds: 300,
            },
            me: UserSummary {
                id: "u".into(),
                name: "U".into(),
                role: Role::Receptionist,
            },
            users: vec![],
            providers: vec![],
            rooms: vec![],
            patients: vec![],
            appointments: vec![],
            queue: vec![],
            threads: vec![],
            messages: vec![],
            read_markers: vec![],
            notifications: vec![],
            presence: vec![],
            hours: Vec::new(),
            appointment_types: Vec::new(),
        },
        at,
    )?;
    let events: Vec<Envelope> = (1..=n as u64)
        .map(|seq| {
            let data = if seq % 2 == 0 {
                EventData::MessageCreated(Message {
                    id: format!("m{seq}"),
                    thread_id: "t1".into(),
                    client_id: format!("c{seq}"),
                    author_id: "u2".into(),
                    body: "Mrs K. is asking about her lab result, can you call her after 11?"
                        .into(),
                    urgent: false,
                    created_at: at,
                })
            } else {
                EventData::QueueUpdated(QueueEntry {
                    id: format!("q{}", seq % 500),
                    ticket: format!("A-{:03}", seq % 500),
                    provider_id: "p1".into(),
                    room_id: None,
                    patient: Some(PatientRef {
                        id: format!("pat{}", seq % 500),
                        name: "Maria Kowalski".into(),
                        initials: "M.K.".into(),
                    }),
                    initials: "M.K.".into(),
                    appointment_id: None,
                    status: QueueStatus::Waiting,
                    priority: 0,
                    arrived_at: at,
                    called_at: None,
                    version: seq,
                    updated_at: at,
                })
            };
            Envelope {
                seq,
                id: format!("e{seq}"),
                kind: data.kind().into(),
                tenant: "demo".into(),
                at,
                actor: "u2".into(),
                data: data.to_value(),
                redacted: false,
                evict: None,
                patient: None,
            }
        })
        .collect();
    let started = Instant::now();
    for page in events.chunks(500) {
        let a = cache.apply_events(page)?;
        if a.applied.len() != page.len() {
            bail!("page not fully applied");
        }
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

#[derive(Default)]
struct Results {
    apply_per_sec: f64,
    apply_events: usize,
    missed: usize,
    resync: Duration,
    resync_to_live: Duration,
    live: Vec<Duration>,
    restarts: Vec<Duration>,
    memory: Option<(usize, Memory, Memory)>,
    /// The one-day demo clinic and a year-old one, side by side.
    sizes: Vec<ClinicSize>,
}

/// One clinic's numbers in the window comparison.
#[derive(Debug, Clone, Default)]
struct ClinicSize {
    label: &'static str,
    appointments: i64,
    patients: i64,
    messages: i64,
    snapshot_bytes: usize,
    fresh_synced: Duration,
    window_filled: Duration,
    cache_bytes: u64,
    cached_appointments: u64,
    cached_patients: u64,
}

/// The window comparison: a fresh desk on a clinic of `span` history (none:
/// the demo day) with `messages` more messages; what the snapshot weighs, how
/// soon the desk is live and synced, what its cache holds.
async fn clinic_size(
    label: &'static str,
    span: Option<demo_history::Span>,
    messages: usize,
) -> anyhow::Result<ClinicSize> {
    let dir = tempfile::tempdir()?;
    let mut cfg = ServerConfig::for_tests();
    cfg.reads_per_second = 1_000_000;
    cfg.read_burst = 1_000_000;
    cfg.db = DbLocation::File(dir.path().join("clinic.db"));
    let db = Db::open(&cfg.db)?;
    let (zone, now) = ("UTC", chrono::Utc::now());
    let clinic = db
        .write_now(|c| match span {
            Some(s) => demo::seed_with_span(c, "demo", "Demo", zone, now, s),
            None => demo::seed_at(c, "demo", "Demo", zone, now),
        })?
        .context("fresh tenant")?;
    let counts = db.write_now(|c| {
        let tx = c.transaction()?;
        demo::post_history_messages(
            &tx,
            "demo",
            &clinic.threads[1],
            &clinic.admin,
            messages,
            now,
        )?;
        let count = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0));
        let counts = (
            count("SELECT count(*) FROM appointments")?,
            count("SELECT count(*) FROM patients")?,
            count("SELECT count(*) FROM messages")?,
        );
        tx.commit()?;
        Ok(counts)
    })?;
    let server = clinic_server::start_with_db(cfg, db).await?;
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{}/api/auth/login", server.url()))
        .json(&json!({"tenant": "demo", "username": "reception", "password": "demo"}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"].as_str().context("token")?;
    let snapshot = http
        .get(format!("{}/api/snapshot", server.url()))
        .bearer_auth(token)
        .send()
        .await?
        .bytes()
        .await?;
    let snapshot_bytes = snapshot.len();
    let window: frontdesk_protocol::window::SyncWindow = serde_json::from_value(
        serde_json::from_slice::<serde_json::Value>(&snapshot)?["window"].clone(),
    )?;
    let data = tempfile::tempdir()?;
    let t0 = Instant::now();
    let (h, _, _) = engine_for(&server.url(), data.path()).await?;
    wait_synced(&h, 0, Duration::from_secs(60)).await?;
    let fresh_synced = t0.elapsed();
    // Then the rest of the window, filled in the background.
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.reader()?.covered()? != Some(window) {
        if Instant::now() > deadline {
            bail!("the desk never filled its window {window:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let window_filled = t0.elapsed();
    let reader = h.reader()?;
    let (cached_appointments, cached_patients) = (
        reader.count(frontdesk_engine::cache::Kind::Appointment)?,
        reader.count(frontdesk_engine::cache::Kind::Patient)?,
    );
    drop(reader);
    h.shutdown().await;
    let cache_bytes = std::fs::read_dir(data.path())?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    server.shutdown().await;
    Ok(ClinicSize {
        label,
        appointments: counts.0,
        patients: counts.1,
        messages: counts.2,
        snapshot_bytes,
        fresh_synced,
        window_filled,
        cache_bytes,
        cached_appointments,
        cached_patients,
    })
}

/// 2. Catching up on `missed` events after being away.
async fn resync(missed: usize, r: &mut Results) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = server(dir.path(), None, None).await?;
    let data = tempfile::tempdir()?;
    let (h, secrets, config) = engine_for(&server.url(), data.path()).await?;
    wait_synced(&h, 0, Duration::from_secs(20)).await?;
    h.shutdown().await;
    let writer = Arc::new(Writer::login(&server.url()).await?);
    writer.burst(missed, 8, "missed").await?;
    let latest = missed as u64;
    let started = Instant::now();
    let h = engine::start(config, secrets, Arc::new(Silent), None).await?;
    let mut updates = h.subscribe();
    let mut live_at = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(60), updates.recv())
            .await
            .context("resync timed out")?
        {
            Ok(Update::Connection {
                state: ConnState::Live,
                ..
            }) => live_at = Some(started.elapsed()),
            Ok(Update::Synced { seq, .. }) if seq >= latest => break,
            _ => {}
        }
    }
    r.resync = started.elapsed();
    r.resync_to_live = live_at.unwrap_or_default();
    r.missed = missed;
    h.shutdown().await;
    server.shutdown().await;
    Ok(())
}

/// 3. Server commit → engine cache commit → subscriber notified, at 100 events/s.
async fn live_latency(n: usize, r: &mut Results) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = server(dir.path(), None, None).await?;
    let data = tempfile::tempdir()?;
    let (h, _, _) = engine_for(&server.url(), data.path()).await?;
    wait_synced(&h, 0, Duration::from_secs(20)).await?;
    let mut updates = h.subscribe();
    let writer = Writer::login(&server.url()).await?;
    let send = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        for i in 0..n {
            tick.tick().await;
            writer.message(&format!("live-{i}")).await?;
        }
        anyhow::Ok(())
    });
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        match tokio::time::timeout(Duration::from_secs(30), updates.recv())
            .await
            .context("live event timed out")?
        {
            Ok(Update::Applied { at, .. }) => {
                // `at` is stamped by the server inside the committing transaction.
                let lag = chrono::Utc::now() - at;
                got.push(lag.to_std().unwrap_or_default());
            }
            Ok(_) => {}
            Err(e) => bail!("updates: {e}"),
        }
    }
    send.await??;
    got.sort();
    r.live = got;
    h.shutdown().await;
    server.shutdown().await;
    Ok(())
}

/// 4. A restarted server accepting again → the engine live again.
async fn restarts(n: usize, r: &mut Results) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut server = server(dir.path(), None, None).await?;
    let addr = server.addr;
    let secret = server.state.config.secret.clone();
    let data = tempfile::tempdir()?;
    let (h, _, _) = engine_for(&server.url(), data.path()).await?;
    wait_synced(&h, 0, Duration::from_secs(20)).await?;
    let mut updates = h.subscribe();
    for _ in 0..n {
        server.shutdown().await;
        // A clinic server restart: down for about two seconds.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut cfg = ServerConfig::for_tests();
        cfg.reads_per_second = 1_000_000;
        cfg.read_burst = 1_000_000;
        cfg.listen = addr;
        cfg.secret = secret.clone();
        cfg.db = DbLocation::File(dir.path().join("clinic.db"));
        server = loop {
            match clinic_server::start(cfg.clone()).await {
                Ok(s) => break s,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let accepting = Instant::now();
        loop {
            if let Ok(Update::Connection {
                state: ConnState::Live,
                ..
            }) = tokio::time::timeout(Duration::from_secs(60), updates.recv())
                .await
                .context("never live again")?
            {
                break;
            }
        }
        r.restarts.push(accepting.elapsed());
    }
    r.restarts.sort();
    h.shutdown().await;
    server.shutdown().await;
    Ok(())
}

/// 5. Engine memory with a large cached day, in a child process of its own.
async fn memory(appointments: usize, r: &mut Results) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = server(dir.path(), None, None).await?;
    let writer = Arc::new(Writer::login(&server.url()).await?);
    let snap: serde_json::Value = writer
        .http
        .get(format!("{}/api/snapshot", server.url()))
        .bearer_auth(&writer.token)
        .send()
        .await?
        .json()
        .await?;
    let provider = snap["providers"][0]["id"]
        .as_str()
        .context("provider")?
        .to_owned();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let writer = writer.clone();
        let provider = provider.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..appointments).step_by(8) {
                writer.appointment(i, &provider).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .args(["--memory-child", &server.url()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("child pid")?;
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
        child.stdout.take().context("stdout")?,
    ));
    let mut before = None;
    while let Some(line) = lines.next_line().await? {
        match line.as_str() {
            "started" => before = Some(Memory::of(pid)?),
            "synced" => break,
            _ => {}
        }
    }
    // Let it settle, then measure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = Memory::of(pid)?;
    r.memory = Some((
        appointments + 24,
        before.context("child never started")?,
        after,
    ));
    child.kill().await?;
    server.shutdown().await;
    Ok(())
}

/// The child of [`memory`]: an engine synced against `server`, idling.
async fn memory_child(server: &str) -> anyhow::Result<()> {
    println!("started");
    let data = tempfile::tempdir()?;
    let (h, _, _) = engine_for(server, data.path()).await?;
    wait_synced(&h, 0, Duration::from_secs(120)).await?;
    println!("synced");
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(())
}

fn markdown(r: &Results, m: &Machine, date: &str) -> String {
    let mut md = markdown::section_head(
        START,
        "Engine benchmark (`engine-bench`)",
        &format!(
            "Measured {date} with `engine-bench --write docs/benchmarks.md` (release build; `bench/run-engine-bench.sh`)."
        ),
        &format!("{}. Server and engine share these cores.", m.describe()),
    );
    let _ = writeln!(
        md,
        "| apply into the encrypted cache ({} events, pages of 500) | **{:.0} events/s** | ≥ 20,000/s: {} |",
        r.apply_events,
        r.apply_per_sec,
        verdict(r.apply_per_sec >= 20_000.0)
    );
    let _ = writeln!(
        md,
        "| resync of {} missed events: engine start → caught up (live after {}) | **{}** | ≤ 1 s: {} |",
        r.missed,
        ms(r.resync_to_live),
        ms(r.resync),
        verdict(r.resync <= Duration::from_secs(1))
    );
    let p99 = pct(&r.live, 0.99);
    let _ = writeln!(
        md,
        "| server commit → cache commit → subscriber, {} events at 100/s, p50 / p95 / p99 / max | {} / {} / **{}** / {} | p99 ≤ 10 ms: {} |",
        r.live.len(),
        ms(pct(&r.live, 0.5)),
        ms(pct(&r.live, 0.95)),
        ms(p99),
        ms(r.live.last().copied().unwrap_or_default()),
        verdict(p99 <= Duration::from_millis(10))
    );
    let worst = r.restarts.last().copied().unwrap_or_default();
    let _ = writeln!(
        md,
        "| restarted server accepting → engine live, {} restarts after ~2 s down, p50 / max | {} / **{}** | ≤ 1.5 s: {} |",
        r.restarts.len(),
        ms(pct(&r.restarts, 0.5)),
        ms(worst),
        verdict(worst <= Duration::from_millis(1500))
    );
    if let Some((n, before, after)) = &r.memory {
        let _ = writeln!(
            md,
            "| engine process memory with {n} cached appointments (RSS / PSS; {:.1} MiB RSS before signing in) | **{:.1} MiB** / {:.1} MiB | ≤ 30 MB: {} |",
            before.rss_kib as f64 / 1024.0,
            after.rss_kib as f64 / 1024.0,
            after.pss_kib as f64 / 1024.0,
            verdict((after.rss_kib as f64) * 1024.0 <= 30_000_000.0)
        );
    }
    if let [day, year] = r.sizes.as_slice() {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let snap = ratio(year.snapshot_bytes as f64, day.snapshot_bytes as f64);
        let fresh = ratio(
            year.fresh_synced.as_secs_f64(),
            day.fresh_synced.as_secs_f64(),
        );
        let _ = writeln!(
            md,
            "\n### The sync window: a year-old clinic beside the demo day (same run)\n\n\
| | {} | {} | target |\n|---|---:|---:|---|\n\
| appointments / patients / messages in the clinic | {} / {} / {} | {} / {} / {} | |\n\
| **`GET /api/snapshot` for reception** | {:.0} KiB | **{:.0} KiB** ({snap:.1}×) | ≤ 3×: {} |\n\
| **fresh desk: sign in → live and synced** (today on screen) | {} | **{}** ({fresh:.1}×) | ≤ 1.5×: {} |\n\
| fresh desk: sign in → the whole window filled (background) | {} | {} | |\n\
| appointments / patients cached on the desk | {} / {} | {} / {} | the window only |\n\
| cache files on the desk PC | {:.0} KiB | {:.0} KiB | |",
            day.label,
            year.label,
            day.appointments,
            day.patients,
            day.messages,
            year.appointments,
            year.patients,
            year.messages,
            day.snapshot_bytes as f64 / 1024.0,
            year.snapshot_bytes as f64 / 1024.0,
            verdict(snap <= 3.0),
            ms(day.fresh_synced),
            ms(year.fresh_synced),
            verdict(fresh <= 1.5),
            ms(day.window_filled),
            ms(year.window_filled),
            day.cached_appointments,
            day.cached_patients,
            year.cached_appointments,
            year.cached_patients,
            day.cache_bytes as f64 / 1024.0,
            year.cache_bytes as f64 / 1024.0,
        );
    }
    let _ = writeln!(
        md,
        "\nHow: apply = `Cache::apply_events` on a fresh SQLCipher file, alternating `queue.updated` and \
`message.created`, pages of 500 as replay delivers them. Resync = the engine stopped, 10,000 messages \
posted by another desk, the engine started again on its cache (token refresh, connect, replay in pages \
of 500, each one transaction). Live = a message posted every 10 ms; latency from the envelope's `at` \
(stamped in the server's committing transaction) to the engine's `Applied` update (published after its \
cache transaction commits), same machine clock, ms resolution. Restart = the in-process server shut down, \
2 s later started on the same port and database; time from it accepting to the engine's `Live`, with the \
engine's default backoff (full jitter from 0.25 s, capped at 1.5 s for the first 40 retries, then at 30 s). Memory = a separate `engine-bench` \
process running only the engine, synced, VmRSS and Pss from /proc. Window = two clinic servers seeded in the \
same run, the demo day alone and the demo day with a year of weekdays back and a month ahead (18 \
appointments per provider per weekday over a roll of 10,800 patients) plus 5,000 messages in one thread; \
the snapshot's body size as reception (it holds today and the 50 newest messages per thread); a new desk's \
`sign_in` + `start` until synced (live, today in its cache), then until its cache holds the whole window \
(filled with `GET /api/appointments` in pages of 500); the cache files' size after it stopped.\n"
    );
    let _ = writeln!(md, "{END}");
    md
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(server) = &args.memory_child {
        return memory_child(server).await;
    }
    let machine = Machine::detect();
    let mut r = Results {
        apply_events: args.apply_events,
        ..Results::default()
    };
    println!("apply throughput…");
    r.apply_per_sec = apply_throughput(args.apply_events)?;
    println!("  {:.0} events/s", r.apply_per_sec);
    println!("resync of {} missed events…", args.missed);
    resync(args.missed, &mut r).await?;
    println!("  {} (live after {})", ms(r.resync), ms(r.resync_to_live));
    println!("commit → subscriber at 100 events/s…");
    live_latency(args.live_events, &mut r).await?;
    println!(
        "  p50 {} p99 {} max {}",
        ms(pct(&r.live, 0.5)),
        ms(pct(&r.live, 0.99)),
        ms(r.live.last().copied().unwrap_or_default())
    );
    println!("server restarts…");
    restarts(args.restarts, &mut r).await?;
    println!(
        "  p50 {} max {}",
        ms(pct(&r.restarts, 0.5)),
        ms(r.restarts.last().copied().unwrap_or_default())
    );
    println!("memory with {} appointments…", args.appointments);
    memory(args.appointments, &mut r).await?;
    if let Some((_, _, after)) = &r.memory {
        println!(
            "  RSS {:.1} MiB, PSS {:.1} MiB",
            after.rss_kib as f64 / 1024.0,
            after.pss_kib as f64 / 1024.0
        );
    }
    println!("the sync window: the demo day beside a year-old clinic…");
    r.sizes = vec![
        clinic_size("demo day", None, 0).await?,
        clinic_size("after a year", Some(demo_history::Span::YEAR), 5_000).await?,
    ];
    for s in &r.sizes {
        println!(
            "  {}: snapshot {:.0} KiB, synced in {}, cache {:.0} KiB, {} appointments cached",
            s.label,
            s.snapshot_bytes as f64 / 1024.0,
            ms(s.fresh_synced),
            s.cache_bytes as f64 / 1024.0,
            s.cached_appointments
        );
    }
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let md = markdown(&r, &machine, &date);
    markdown::publish(&md, args.write.as_deref(), START, END)
}
