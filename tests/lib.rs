//! Shared fixtures for the end-to-end suites: a demo clinic server on
//! loopback whose database survives restarts, and engine set-up helpers.

use clinic_server::demo::{self, DemoClinic};
use clinic_server::{Db, DbLocation, RunningServer, ServerConfig};
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
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ServerConfig::for_tests();
        cfg.db = DbLocation::File(db_path(&dir));
        cfg.presence_grace = Duration::from_millis(300);
        cfg.mutations_per_second = 100_000;
        cfg.mutation_burst = 100_000;
        tweak(&mut cfg);
        let db = Db::open(&cfg.db).unwrap();
        let clinic = db
            .write_now(|c| demo::seed(c, "demo", "Demo Family Clinic"))
            .unwrap()
            .unwrap();
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
        let http = reqwest::Client::new();
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
        let r = self
            .http
            .post(format!("{}{path}", self.base))
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

impl Client {
    /// Signs in with the password and starts the engine.
    pub async fn sign_in(server: &str, username: &str) -> Client {
        let data = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::new(server, "demo", username, data.path().to_path_buf());
        config.backoff_base = Duration::from_millis(100);
        config.backoff_cap = Duration::from_secs(2);
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
