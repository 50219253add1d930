//! `frontdesk-cli`: the engine without a window, for scripting the desk and for
//! checking a clinic PC's connection.
//!
//! Examples:
//!   FRONTDESK_PASSWORD=demo frontdesk-cli --server http://127.0.0.1:7420 --tenant demo --user reception login
//!   frontdesk-cli … status
//!   frontdesk-cli … tail --json
//!   frontdesk-cli … call-next --provider prov_…

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use frontdesk_engine::cache::outbox::DeskAction;
use frontdesk_engine::cache::{Cache, Kind, META_SYNCED_AT};
use frontdesk_engine::engine::{self, EngineConfig, EngineHandle, Update};
use frontdesk_engine::notify::Silent;
use frontdesk_engine::secrets::{self, SecretStore};
use frontdesk_engine::supervisor::ConnState;
use frontdesk_protocol::api::{NewPatient, PostMessage, UpdateAppointment, UpdateQueueEntry};
use frontdesk_protocol::records::{Appointment, QueueEntry};
use frontdesk_protocol::status::{AppointmentStatus, QueueStatus};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Frontdesk from the command line: sign in, watch, and act on the desk"
)]
struct Cli {
    /// Clinic server base URL.
    #[arg(
        long,
        env = "FRONTDESK_SERVER",
        default_value = "http://127.0.0.1:7420"
    )]
    server: String,
    /// Clinic (tenant) id.
    #[arg(long, env = "FRONTDESK_TENANT", default_value = "demo")]
    tenant: String,
    /// User name.
    #[arg(long, env = "FRONTDESK_USER")]
    user: String,
    /// Where the encrypted cache lives.
    #[arg(long, env = "FRONTDESK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Extra CA certificates (PEM) for a clinic server with its own certificate.
    #[arg(long, env = "FRONTDESK_CA_FILE")]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sign in; the password comes from FRONTDESK_PASSWORD or standard input.
    Login,
    /// Sign out: revoke the session and wipe the local cache.
    Logout,
    /// Connect, sync, and report the connection and cache state (exit 0 when live).
    Status {
        /// Seconds to wait for the connection.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Stay connected and print every state change and applied event.
    Tail {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// List the cached appointments.
    Appointments,
    /// List the cached queue.
    Queue,
    /// Check a booked patient in.
    CheckIn { appointment: String },
    /// Register a walk-in.
    WalkIn {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 0)]
        priority: i32,
    },
    /// Call the next patient of a provider.
    CallNext {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        room: Option<String>,
    },
    /// Change a ticket's status (called = recall, skipped, in_service, done, no_show, waiting).
    Ticket {
        id: String,
        #[arg(long)]
        status: String,
    },
    /// Move an appointment (RFC 3339 times).
    Reschedule {
        id: String,
        #[arg(long)]
        start: String,
        #[arg(long)]
        end: String,
    },
    /// Cancel an appointment.
    Cancel { id: String },
    /// Mark an appointment as a no-show.
    NoShow { id: String },
    /// Send a message to a thread.
    Send { thread: String, text: String },
}

fn config(cli: &Cli) -> anyhow::Result<EngineConfig> {
    let data_dir = match &cli.data_dir {
        Some(d) => d.clone(),
        None => {
            let home = std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?;
            PathBuf::from(home).join(".local/share/frontdesk")
        }
    };
    let mut c = EngineConfig::new(&cli.server, &cli.tenant, &cli.user, data_dir);
    c.ca_file = cli.ca_file.clone();
    Ok(c)
}

fn store() -> Arc<dyn SecretStore> {
    let (store, warning) = secrets::system_store("frontdesk");
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    Arc::from(store)
}

fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("FRONTDESK_PASSWORD") {
        return Ok(p);
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading the password from standard input")?;
    let p = s.trim_end_matches(['\n', '\r']).to_owned();
    if p.is_empty() {
        bail!("no password: set FRONTDESK_PASSWORD or pipe it on standard input");
    }
    Ok(p)
}

async fn start(cfg: &EngineConfig, secrets: Arc<dyn SecretStore>) -> anyhow::Result<EngineHandle> {
    if !engine::has_session(cfg, secrets.as_ref())? {
        bail!(
            "not signed in as {} on {} ({}): run `frontdesk-cli login` first",
            cfg.username,
            cfg.server,
            cfg.tenant
        );
    }
    let handle = engine::start(cfg.clone(), secrets, Arc::new(Silent), None).await?;
    for w in handle.startup_warnings() {
        eprintln!("warning: {w}");
    }
    Ok(handle)
}

/// Waits until live and synced, or gives up after `timeout`.
async fn wait_live(handle: &EngineHandle, timeout: Duration) -> ConnState {
    let mut updates = handle.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let state = handle.state();
        if state == ConnState::SignedOut || (state == ConnState::Live && handle.is_synced()) {
            return state;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() || tokio::time::timeout(left, updates.recv()).await.is_err() {
            return handle.state();
        }
    }
}

fn print_update(u: &Update, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(u)?);
        return Ok(());
    }
    match u {
        Update::Connection { state, detail } => println!("connection: {state:?} ({detail})"),
        Update::Applied {
            seq,
            event_type,
            actor,
            ..
        } => println!("#{seq} {event_type} by {actor}"),
        Update::Resynced { seq } => println!("resynced from a snapshot at #{seq}"),
        Update::Synced { seq, .. } => println!("up to date at #{seq}"),
        Update::Presence { presence } => {
            println!("presence: {} is {:?}", presence.user, presence.state)
        }
        Update::Typing {
            thread,
            user,
            typing,
        } => println!("typing: {user} in {thread}: {typing}"),
        Update::Outbox { pending, problems } => {
            println!("outbox: {pending} pending, {problems} need attention")
        }
        Update::Notified { notification } => {
            println!("notify: {} — {}", notification.title, notification.body)
        }
        Update::Warning { message } => println!("warning: {message}"),
        Update::DayChanged { day } => println!("the clinic's day is now {day}"),
        Update::DayFetched { day, at } => println!("{day} fetched (as of {at})"),
        Update::WindowFilled { from, to } => println!("the days {from}..{to} are in the cache"),
        Update::OlderMessages {
            thread,
            count,
            more,
        } => println!("{count} earlier messages of {thread} read (more: {more})"),
        Update::Locked { reason } => println!("locked ({reason:?})"),
        Update::Unlocked => println!("unlocked"),
    }
    Ok(())
}

/// Queues an action, waits until the outbox has sent it (or it needs attention).
async fn act(handle: &EngineHandle, action: DeskAction) -> anyhow::Result<()> {
    let state = wait_live(handle, Duration::from_secs(10)).await;
    let entry = handle.act(action).await?;
    if state != ConnState::Live {
        println!("queued (offline): it will be sent when the clinic server is reachable");
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reader = handle.reader()?;
        match reader.outbox_get(entry.n)? {
            None => {
                println!("done");
                return Ok(());
            }
            Some(e) if e.state != frontdesk_engine::cache::outbox::OutboxState::Pending => {
                bail!("{:?}: {}", e.state, e.error.unwrap_or_default());
            }
            Some(_) if tokio::time::Instant::now() > deadline => {
                println!("queued: still pending, it will be sent when possible");
                return Ok(());
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn current_appointment(handle: &EngineHandle, id: &str) -> anyhow::Result<Appointment> {
    handle
        .reader()?
        .get::<Appointment>(Kind::Appointment, id)?
        .with_context(|| format!("no appointment {id} in the cache"))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .with_context(|| format!("`{s}` is not a valid {what}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(frontdesk_engine::log_filter())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let cfg = config(&cli)?;
    let secrets = store();
    match &cli.command {
        Command::Login => {
            let pw = password()?;
            let tokens = engine::sign_in(&cfg, &pw, secrets.as_ref()).await?;
            let handle =
                engine::start(cfg.clone(), secrets, Arc::new(Silent), Some(tokens)).await?;
            let state = wait_live(&handle, Duration::from_secs(15)).await;
            handle.shutdown().await;
            println!("signed in as {} ({:?})", cfg.username, state);
        }
        Command::Logout => {
            let handle = start(&cfg, secrets).await?;
            handle.logout().await?;
            handle.shutdown().await;
            println!("signed out; local cache wiped");
        }
        Command::Status { timeout } => {
            let handle = start(&cfg, secrets).await?;
            let state = wait_live(&handle, Duration::from_secs(*timeout)).await;
            let reader: Cache = handle.reader()?;
            let outbox = reader.outbox_list()?;
            println!("server:     {}", cfg.server);
            println!("clinic:     {} as {}", cfg.tenant, cfg.username);
            println!("connection: {state:?}");
            println!(
                "last seq:   {}",
                reader
                    .last_seq()?
                    .map(|s| s.to_string())
                    .unwrap_or("never synced".into())
            );
            println!(
                "synced at:  {}",
                reader.meta(META_SYNCED_AT)?.unwrap_or("never".into())
            );
            println!(
                "cached:     {} appointments, {} tickets",
                reader.count(Kind::Appointment)?,
                reader.count(Kind::Queue)?
            );
            println!("outbox:     {} entries", outbox.len());
            handle.shutdown().await;
            if state != ConnState::Live {
                std::process::exit(2);
            }
        }
        Command::Tail { json } => {
            let handle = start(&cfg, secrets).await?;
            let mut updates = handle.subscribe();
            print_update(
                &Update::Connection {
                    state: handle.state(),
                    detail: "started".into(),
                },
                *json,
            )?;
            loop {
                tokio::select! {
                    u = updates.recv() => match u {
                        Ok(u) => print_update(&u, *json)?,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => eprintln!("warning: {n} updates dropped (output too slow)"),
                        Err(_) => break,
                    },
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
            handle.shutdown().await;
        }
        Command::Appointments | Command::Queue => {
            let handle = start(&cfg, secrets).await?;
            wait_live(&handle, Duration::from_secs(5)).await;
            let reader = handle.reader()?;
            if matches!(cli.command, Command::Appointments) {
                for a in reader.list::<Appointment>(Kind::Appointment)? {
                    println!(
                        "{}  {}  {:<10} {}  ({})",
                        a.start.format("%Y-%m-%d %H:%M"),
                        a.id,
                        a.status,
                        a.patient.name,
                        a.provider_id
                    );
                }
            } else {
                for q in reader.list::<QueueEntry>(Kind::Queue)? {
                    let who = q
                        .patient
                        .as_ref()
                        .map(|p| p.name.as_str())
                        .unwrap_or(&q.initials);
                    println!(
                        "{}  {}  {:<10} p{} {}  ({})",
                        q.ticket, q.id, q.status, q.priority, who, q.provider_id
                    );
                }
            }
            handle.shutdown().await;
        }
        other => {
            let handle = start(&cfg, secrets).await?;
            let action = match other {
                Command::CheckIn { appointment } => DeskAction::CheckIn {
                    appointment_id: appointment.clone(),
                    priority: 0,
                },
                Command::WalkIn {
                    provider,
                    name,
                    priority,
                } => DeskAction::WalkIn {
                    provider_id: provider.clone(),
                    patient: NewPatient {
                        name: name.clone(),
                        birth_date: None,
                        phone: None,
                        confirm_new: false,
                    },
                    priority: *priority,
                },
                Command::CallNext { provider, room } => DeskAction::CallNext {
                    provider_id: provider.clone(),
                    room_id: room.clone(),
                },
                Command::Ticket { id, status } => {
                    wait_live(&handle, Duration::from_secs(5)).await;
                    let q = handle
                        .reader()?
                        .get::<QueueEntry>(Kind::Queue, id)?
                        .with_context(|| format!("no ticket {id} in the cache"))?;
                    let status: QueueStatus = parse("ticket status", status)?;
                    DeskAction::UpdateTicket {
                        id: id.clone(),
                        body: UpdateQueueEntry {
                            version: q.version,
                            status: Some(status),
                            ..Default::default()
                        },
                    }
                }
                Command::Reschedule { id, start, end } => {
                    wait_live(&handle, Duration::from_secs(5)).await;
                    let a = current_appointment(&handle, id)?;
                    let body = UpdateAppointment {
                        version: a.version,
                        start: Some(start.parse().context("--start must be an RFC 3339 time")?),
                        end: Some(end.parse().context("--end must be an RFC 3339 time")?),
                        ..Default::default()
                    };
                    DeskAction::UpdateAppointment {
                        id: id.clone(),
                        body,
                    }
                }
                Command::Cancel { id } | Command::NoShow { id } => {
                    wait_live(&handle, Duration::from_secs(5)).await;
                    let a = current_appointment(&handle, id)?;
                    let status = if matches!(other, Command::Cancel { .. }) {
                        AppointmentStatus::Cancelled
                    } else {
                        AppointmentStatus::NoShow
                    };
                    DeskAction::UpdateAppointment {
                        id: id.clone(),
                        body: UpdateAppointment {
                            version: a.version,
                            status: Some(status),
                            ..Default::default()
                        },
                    }
                }
                Command::Send { thread, text } => DeskAction::SendMessage {
                    thread_id: thread.clone(),
                    body: PostMessage {
                        client_id: format!("cli-{}", uuid::Uuid::new_v4().simple()),
                        body: text.clone(),
                        urgent: false,
                    },
                },
                _ => unreachable!("handled above"),
            };
            let result = act(&handle, action).await;
            handle.shutdown().await;
            result?;
        }
    }
    Ok(())
}
