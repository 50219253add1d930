//! Shared fixtures for the end-to-end suites: a demo clinic server on
//! loopback whose database survives restarts, engine set-up helpers, and
//! [`desktop`], the real app on a private X display (also used by the app
//! benchmark).

pub mod desktop;

use clinic_server::demo::{self, DemoClinic};
use clinic_server::{ApiError, Db, DbLocation, RunningServer, ServerConfig};
use frontdesk_engine::clock::{Clock, Now, SystemClock};
use frontdesk_engine::engine::{self, EngineConfig, EngineHandle, Update};
use frontdesk_engine::notify::Silent;
use frontdesk_engine::secrets::{MemoryStore, SecretStore};
use frontdesk_engine::supervisor::ConnState;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// The longest any single wait may take before a test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// A demo clinic server whose database is a file, so it can be restarted.
pub struct Clinic {
    pub dir: tempfile::TempDir,
    pub server: Option<RunningServer>,
    pub addr: SocketAddr,
    pub clinic: DemoClinic,
    secret: Vec<u8>,
    tweak: fn(&mut ServerConfig),
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("clinic.db")
}

impl Clinic {
    /// Starts a seeded server on a free loopback port.
    pub async fn start(tweak: fn(&mut ServerConfig)) -> Clinic {
        Clinic::start_seeded(tweak, |c| demo::seed(c, "demo", "Demo Family Clinic")).await
    }

    /// Starts the demo clinic with `span` of history and `messages` more
    /// messages in its first thread (from the admin): a clinic after months
    /// or a year of use, for benchmarks.
    pub async fn start_with_history(
        span: clinic_server::demo_history::Span,
        messages: usize,
    ) -> Clinic {
        Clinic::start_seeded(
            |_| {},
            move |c| {
                let now = chrono::Utc::now();
                let zone = demo::machine_zone();
                let seeded =
                    demo::seed_with_span(c, "demo", "Demo Family Clinic", &zone, now, span)?;
                if let Some(clinic) = &seeded {
                    let tx = c.transaction()?;
                    demo::post_history_messages(
                        &tx,
                        "demo",
                        &clinic.threads[0],
                        &clinic.admin,
                        messages,
                        now,
                    )?;
                    tx.commit()?;
                }
                Ok(seeded)
            },
        )
        .await
    }

    async fn start_seeded(
        tweak: fn(&mut ServerConfig),
        seed: impl FnOnce(&mut rusqlite::Connection) -> Result<Option<DemoClinic>, ApiError>,
    ) -> Clinic {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ServerConfig::for_tests();
        cfg.db = DbLocation::File(db_path(&dir));
        cfg.presence_grace = Duration::from_millis(300);
        cfg.mutations_per_second = 100_000;
        cfg.mutation_burst = 100_000;
        tweak(&mut cfg);
        let db = Db::open(&cfg.db).unwrap();
        let clinic = db.write_now(seed).unwrap().unwrap();
        let secret = cfg.secret.clone();
        let server = clinic_server::start_with_db(cfg, db).await.unwrap();
        let addr = server.addr;
        Clinic {
            dir,
            server: Some(server),
            addr,
            clinic,
            secret,
            tweak,
        }
    }

    /// The clinic's database file.
    pub fn db_file(&self) -> PathBuf {
        db_path(&self.dir)
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server (all sockets close).
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    /// Starts it again on the same address and database.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut cfg = ServerConfig::for_tests();
        cfg.listen = self.addr;
        cfg.db = DbLocation::File(db_path(&self.dir));
        cfg.secret = self.secret.clone();
        cfg.presence_grace = Duration::from_millis(300);
        cfg.mutations_per_second = 100_000;
        cfg.mutation_burst = 100_000;
        (self.tweak)(&mut cfg);
        // The port was just released; retry briefly if the OS still holds it.
        for _ in 0..50 {
            match clinic_server::start(cfg.clone()).await {
                Ok(s) => {
                    self.server = Some(s);
                    return;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("server did not restart on {}", self.addr);
    }
}

/// A REST client acting as another desk.
pub struct Desk {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Desk {
    /// Logs `username` in to `demo`.
    pub async fn login(base: &str, username: &str) -> Desk {
        Desk::login_with(reqwest::Client::new(), base, username).await
    }

    /// Logs `username` in to `demo` through `http` (one that trusts a
    /// clinic's own CA, say).
    pub async fn login_with(http: reqwest::Client, base: &str, username: &str) -> Desk {
        let r: Value = http
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"tenant": "demo", "username": username, "password": "demo"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Desk {
            http,
            base: base.to_owned(),
            token: r["access_token"].as_str().unwrap().to_owned(),
        }
    }

    /// POST and return (status, body).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// Posts `count` messages to `thread`, the i-th saying `body(i)`.
    pub async fn post_messages(&self, thread: &str, count: usize, body: impl Fn(usize) -> String) {
        for i in 0..count {
            let (status, answer) = self
                .post(
                    &format!("/api/threads/{thread}/messages"),
                    json!({"client_id": format!("{}-{i}", body(0)), "body": body(i)}),
                )
                .await;
            assert_eq!(status, 201, "{answer}");
        }
    }

    /// PATCH and return (status, body).
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, body).await
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// GET and return the body.
    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// An engine signed in as `username`, with its own data folder and secrets.
pub struct Client {
    pub handle: EngineHandle,
    pub updates: broadcast::Receiver<Update>,
    pub config: EngineConfig,
    pub secrets: Arc<dyn SecretStore>,
    pub data: tempfile::TempDir,
}

/// A desk's clocks whose wall clock a test can move forward, as a laptop's
/// does when it wakes from sleep (the monotonic clock stays the machine's:
/// the engine's timers sleep on it).
#[derive(Debug, Default)]
pub struct MovableClock {
    ahead_ms: std::sync::atomic::AtomicU64,
}

impl MovableClock {
    /// The wall clock jumps forward by `d`.
    pub fn jump(&self, d: Duration) {
        self.ahead_ms
            .fetch_add(d.as_millis() as u64, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for MovableClock {
    fn now(&self) -> Now {
        let real = SystemClock.now();
        let ahead = Duration::from_millis(self.ahead_ms.load(std::sync::atomic::Ordering::SeqCst));
        Now {
            wall: real.wall + ahead,
            ..real
        }
    }
}

impl Client {
    /// Signs in with the password and starts the engine.
    pub async fn sign_in(server: &str, username: &str) -> Client {
        Client::sign_in_with(server, username, |_| {}).await
    }

    /// Like [`Client::sign_in`], with the engine's config changed by `tweak`.
    pub async fn sign_in_with(
        server: &str,
        username: &str,
        tweak: impl FnOnce(&mut EngineConfig),
    ) -> Client {
        let data = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::new(server, "demo", username, data.path().to_path_buf());
        config.backoff_base = Duration::from_millis(100);
        config.backoff_cap = Duration::from_secs(2);
        tweak(&mut config);
        let secrets: Arc<dyn SecretStore> = Arc::new(MemoryStore::default());
        let tokens = engine::sign_in(&config, "demo", secrets.as_ref())
            .await
            .unwrap();
        let handle = engine::start(
            config.clone(),
            secrets.clone(),
            Arc::new(Silent),
            Some(tokens),
        )
        .await
        .unwrap();
        let updates = handle.subscribe();
        Client {
            handle,
            updates,
            config,
            secrets,
            data,
        }
    }

    /// Restarts the engine on the same data folder and secrets (an app restart).
    pub async fn restart(&mut self) {
        self.handle.shutdown().await;
        self.handle = engine::start(
            self.config.clone(),
            self.secrets.clone(),
            Arc::new(Silent),
            None,
        )
        .await
        .unwrap();
        self.updates = self.handle.subscribe();
    }

    /// Waits for a connection state.
    pub async fn wait_state(&mut self, want: ConnState) {
        if self.handle.state() == want {
            return;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.updates.recv()).await {
                Ok(Ok(Update::Connection { state, .. })) if state == want => return,
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    if self.handle.state() == want {
                        return;
                    }
                }
                Ok(Err(e)) => panic!("updates closed: {e}"),
                Err(_) => panic!(
                    "state {want:?} not reached within {WAIT:?} (now {:?})",
                    self.handle.state()
                ),
            }
        }
    }

    /// Waits until `cond` holds on a fresh reader of the cache (polling).
    pub async fn wait_cache(
        &self,
        what: &str,
        cond: impl Fn(&frontdesk_engine::cache::Cache) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(c) = self.handle.reader()
                && cond(&c)
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "cache never reached: {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A private D-Bus session bus with an unlocked gnome-keyring (the real Secret
/// Service) in a throwaway home, for child processes that keep secrets in the
/// OS keyring. Both daemons stop when this is dropped.
pub struct KeyringSession {
    bus: std::process::Child,
    keyring: std::process::Child,
    address: String,
    _home: tempfile::TempDir,
}

impl KeyringSession {
    /// Starts `dbus-daemon --session` and `gnome-keyring-daemon --unlock`, and
    /// waits until the keyring owns the Secret Service name.
    pub fn start() -> KeyringSession {
        use std::io::{BufRead, BufReader, Write};
        use std::process::{Command, Stdio};
        let home = tempfile::tempdir().unwrap();
        let runtime = home.path().join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (package dbus) is installed");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon printed {address:?}"
        );
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon (package gnome-keyring) is installed");
        // The password of the fresh login keyring; closing stdin ends the input.
        keyring
            .stdin
            .take()
            .unwrap()
            .write_all(b"frontdesk-test")
            .unwrap();
        let session = KeyringSession {
            bus,
            keyring,
            address,
            _home: home,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !session.secret_service_ready() {
            assert!(
                std::time::Instant::now() < deadline,
                "gnome-keyring never took org.freedesktop.secrets"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        session
    }

    fn secret_service_ready(&self) -> bool {
        std::process::Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
            .unwrap_or(false)
    }

    /// Environment for a child process to use this keyring.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("DBUS_SESSION_BUS_ADDRESS".into(), self.address.clone())]
    }
}

impl Drop for KeyringSession {
    fn drop(&mut self) {
        let _ = self.keyring.kill();
        let _ = self.keyring.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

/// The `frontdesk-cli` binary built for these tests.
pub fn cli_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/engine-… → target/debug/frontdesk-cli
    exe.parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("frontdesk-cli")
}

/// `frontdesk-cli` signed in as `reception` of `demo` on `server`, keeping its
/// cache in `data`, with the password in its environment.
pub fn cli_command(server: &str, data: &std::path::Path, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(cli_path());
    c.args([
        "--server",
        server,
        "--tenant",
        "demo",
        "--user",
        "reception",
        "--data-dir",
    ])
    .arg(data)
    .args(args)
    .env("FRONTDESK_PASSWORD", "demo");
    c
}

/// `frontdesk-cli` processes of one desk PC: a data folder and a real
/// keyring (gnome-keyring on a private bus), signed in as `reception`.
pub struct KeyringCli {
    pub keyring: KeyringSession,
    pub data: tempfile::TempDir,
    server: String,
}

impl KeyringCli {
    /// Signs in once with `frontdesk-cli login` and checks the session went
    /// to the keyring (not the memory-only fallback).
    pub async fn signed_in(server: &str) -> KeyringCli {
        let cli = KeyringCli {
            keyring: KeyringSession::start(),
            data: tempfile::tempdir().unwrap(),
            server: server.to_owned(),
        };
        let login = cli.command(&["login"]).output().await.unwrap();
        let err = String::from_utf8_lossy(&login.stderr).to_string();
        assert!(login.status.success(), "{err}");
        assert!(!err.contains("memory only"), "{err}");
        cli
    }

    /// A `frontdesk-cli` command of this PC.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = cli_command(&self.server, self.data.path(), args);
        c.envs(self.keyring.env());
        c
    }
}

/// A TCP proxy on loopback that forwards to `target` and can cut every
/// connection through it on demand, or at random, to inject faults.
pub struct FaultyProxy {
    pub addr: SocketAddr,
    cut: tokio::sync::watch::Sender<u64>,
    blocked: Arc<std::sync::atomic::AtomicBool>,
    stalled: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// Copies bytes one way, holding them back while `stalled` is set.
async fn pump(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    stalled: Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                // A close does not get through a stall either.
                while stalled.load(std::sync::atomic::Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                return;
            }
            Ok(n) => n,
        };
        while stalled.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl FaultyProxy {
    /// Starts forwarding to `target`.
    pub async fn start(target: SocketAddr) -> FaultyProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, cut_rx) = tokio::sync::watch::channel(0u64);
        let blocked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let is_blocked = blocked.clone();
        let stalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let is_stalled = stalled.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if is_blocked.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped at once: as if the network were down
                }
                let mut cut_rx = cut_rx.clone();
                cut_rx.mark_unchanged();
                let stalled = is_stalled.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (in_read, in_write) = inbound.split();
                    let (out_read, out_write) = outbound.into_split();
                    tokio::select! {
                        _ = pump(in_read, out_write, stalled.clone()) => {}
                        _ = pump(out_read, in_write, stalled) => {}
                        _ = cut_rx.changed() => {}
                    }
                    // Dropping both streams resets the connection mid-whatever.
                });
            }
        });
        FaultyProxy {
            addr,
            cut,
            blocked,
            stalled,
            task,
        }
    }

    /// While stalled, connections stay open but nothing gets through in either
    /// direction (a Wi-Fi that hangs, or a laptop asleep): only missed pings
    /// can tell.
    pub fn set_stalled(&self, stalled: bool) {
        self.stalled
            .store(stalled, std::sync::atomic::Ordering::SeqCst);
    }

    /// While blocked, every connection through the proxy is cut and new ones
    /// are dropped at once (the clinic's network is down for this client).
    pub fn set_blocked(&self, blocked: bool) {
        self.blocked
            .store(blocked, std::sync::atomic::Ordering::SeqCst);
        if blocked {
            self.cut_all();
        }
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts every connection currently open through the proxy.
    pub fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
