//! Test peers: the real server in-process on loopback, a REST client, and a
//! minimal Socket.IO client built on the protocol crate's codec.

use clinic_server::demo::{self, DemoClinic};
use clinic_server::{Db, RunningServer, ServerConfig};
use frontdesk_protocol::api::{IDEMPOTENCY_KEY_HEADER, TokenResponse};
use frontdesk_protocol::engineio::EioPacket;
use frontdesk_protocol::socketio::{SioKind, SioPacket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as Ws;

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running demo server and the ids of its seeded records.
pub struct Demo {
    pub server: RunningServer,
    pub clinic: DemoClinic,
    pub http: reqwest::Client,
}

/// Starts a server seeded with tenant `demo` (and `other`, a second clinic for
/// isolation tests), with `tweak` applied to the test config.
pub async fn demo_server(tweak: impl FnOnce(&mut ServerConfig)) -> Demo {
    start_demo(tweak, false).await
}

/// Like [`demo_server`], with the demo's half year of history and month
/// ahead (what `--demo` seeds).
pub async fn demo_server_with_history(tweak: impl FnOnce(&mut ServerConfig)) -> Demo {
    start_demo(tweak, true).await
}

async fn start_demo(tweak: impl FnOnce(&mut ServerConfig), history: bool) -> Demo {
    let mut cfg = ServerConfig::for_tests();
    cfg.presence_grace = Duration::from_millis(300);
    cfg.mutations_per_second = 10_000;
    cfg.mutation_burst = 10_000;
    tweak(&mut cfg);
    let db = Db::open(&cfg.db).expect("open db");
    // The demo day is the day of the server's own clock (a test's clock may
    // be set to any time).
    let (zone, now) = (demo::machine_zone(), cfg.clock.now());
    let clinic = db
        .write_now(|c| {
            let other = demo::seed_at(c, "other", "Other Clinic", &zone, now)?;
            assert!(other.is_some());
            if history {
                demo::seed_with_history(c, "demo", "Demo Family Clinic", &zone, now)
            } else {
                demo::seed_at(c, "demo", "Demo Family Clinic", &zone, now)
            }
        })
        .expect("seed")
        .expect("fresh tenant");
    let server = clinic_server::start_with_db(cfg, db).await.expect("start");
    Demo {
        server,
        clinic,
        http: reqwest::Client::new(),
    }
}

impl Demo {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url(), path)
    }

    /// Logs in to `demo` and returns the token answer.
    pub async fn login(&self, username: &str) -> TokenResponse {
        self.login_to("demo", username).await
    }

    pub async fn login_to(&self, tenant: &str, username: &str) -> TokenResponse {
        let r = self
            .http
            .post(self.url("/api/auth/login"))
            .json(&json!({"tenant": tenant, "username": username, "password": "demo"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "login {username}: {}",
            r.text().await.unwrap()
        );
        r.json().await.unwrap()
    }

    /// GET with a bearer token; returns status and JSON body.
    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        split(r).await
    }

    /// POST/PATCH with a bearer token and optional idempotency key.
    pub async fn send(
        &self,
        method: &str,
        token: &str,
        path: &str,
        body: Value,
        key: Option<&str>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(m, self.url(path))
            .bearer_auth(token)
            .json(&body);
        if let Some(k) = key {
            req = req.header(IDEMPOTENCY_KEY_HEADER, k);
        }
        split(req.send().await.unwrap()).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", token, path, body, None).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.send("PATCH", token, path, body, None).await
    }

    /// A staff snapshot.
    pub async fn snapshot(&self, token: &str) -> Value {
        let (s, v) = self.get(token, "/api/snapshot").await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Connects a socket with `{"token": token}`.
    pub async fn socket(&self, token: &str) -> SioClient {
        SioClient::connect(&self.server.url(), json!({"token": token}))
            .await
            .expect("socket connects")
    }
}

async fn split(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = r.text().await.unwrap();
    if status >= 400 {
        assert_eq!(
            ctype, "application/problem+json",
            "errors are problem+json: {text}"
        );
    }
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

type AckMap = Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<Value>>>>>;

/// A minimal Socket.IO v5 client over a WebSocket, for tests only (the real
/// client is the engine's).
pub struct SioClient {
    out: mpsc::UnboundedSender<Ws>,
    events: mpsc::UnboundedReceiver<(String, Value)>,
    acks: AckMap,
    next_ack: u64,
    pub sid: String,
    pub pings_answered: Arc<Mutex<u32>>,
}

impl SioClient {
    /// Connects and sends CONNECT with `auth`; `Err(message)` on CONNECT_ERROR.
    pub async fn connect(base: &str, auth: Value) -> Result<SioClient, String> {
        let url = format!(
            "{}/socket.io/?EIO=4&transport=websocket",
            base.replace("http://", "ws://")
        );
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sink, mut stream) = ws.split();
        let open = next_text(&mut stream).await.ok_or("no open packet")?;
        match EioPacket::decode(&open).map_err(|e| e.to_string())? {
            EioPacket::Open(_) => {}
            other => return Err(format!("expected open, got {other:?}")),
        }
        let connect = SioPacket::connect("/", Some(auth));
        sink.send(Ws::text(EioPacket::Message(connect.encode()).encode()))
            .await
            .map_err(|e| e.to_string())?;
        let pings = Arc::new(Mutex::new(0));
        let sid = loop {
            let text = next_text(&mut stream)
                .await
                .ok_or("closed before CONNECT answer")?;
            match EioPacket::decode(&text).map_err(|e| e.to_string())? {
                // The server's first ping can arrive before the CONNECT answer.
                EioPacket::Ping(p) => {
                    *pings.lock().unwrap() += 1;
                    let pong = Ws::text(EioPacket::Pong(p).encode());
                    sink.send(pong).await.map_err(|e| e.to_string())?;
                }
                EioPacket::Message(m) => {
                    let p = SioPacket::decode(&m).map_err(|e| e.to_string())?;
                    match p.kind {
                        SioKind::Connect => break p.sid().unwrap_or_default().to_owned(),
                        SioKind::ConnectError => {
                            return Err(p.connect_error_message().unwrap_or_default().to_owned());
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        };
        let (out, mut out_rx) = mpsc::unbounded_channel::<Ws>();
        let (ev_tx, events) = mpsc::unbounded_channel();
        let acks: AckMap = Arc::default();
        let out2 = out.clone();
        let acks2 = acks.clone();
        let pings2 = pings.clone();
        tokio::spawn(async move {
            while let Some(frame) = out_rx.recv().await {
                if sink.send(frame).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        tokio::spawn(async move {
            while let Some(text) = next_text(&mut stream).await {
                match EioPacket::decode(&text) {
                    Ok(EioPacket::Ping(p)) => {
                        *pings2.lock().unwrap() += 1;
                        let _ = out2.send(Ws::text(EioPacket::Pong(p).encode()));
                    }
                    Ok(EioPacket::Message(m)) => {
                        let Ok(p) = SioPacket::decode(&m) else {
                            continue;
                        };
                        match p.kind {
                            SioKind::Event => {
                                let name = p.event_name().unwrap_or_default().to_owned();
                                let arg = p.event_args().first().cloned().unwrap_or(Value::Null);
                                let _ = ev_tx.send((name, arg));
                            }
                            SioKind::Ack => {
                                if let Some(tx) =
                                    p.id.and_then(|id| acks2.lock().unwrap().remove(&id))
                                {
                                    let _ = tx.send(p.ack_args().to_vec());
                                }
                            }
                            SioKind::Disconnect => break,
                            _ => {}
                        }
                    }
                    Ok(EioPacket::Close) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        });
        Ok(SioClient {
            out,
            events,
            acks,
            next_ack: 0,
            sid,
            pings_answered: pings,
        })
    }

    /// Emits `name(data)` and waits for the ack's first argument.
    pub async fn emit_ack(&mut self, name: &str, data: Value) -> Value {
        self.next_ack += 1;
        let id = self.next_ack;
        let (tx, rx) = oneshot::channel();
        self.acks.lock().unwrap().insert(id, tx);
        self.send_raw(&SioPacket::event("/", name, vec![data], Some(id)).encode());
        let args = tokio::time::timeout(WAIT, rx)
            .await
            .expect("ack in time")
            .expect("ack");
        args.into_iter().next().unwrap_or(Value::Null)
    }

    /// Sends a raw Engine.IO message payload (a Socket.IO packet as text).
    pub fn send_raw(&self, sio_text: &str) {
        let _ = self
            .out
            .send(Ws::text(EioPacket::Message(sio_text.to_owned()).encode()));
    }

    /// Sends a binary WebSocket frame (a Socket.IO binary attachment).
    pub fn send_binary(&self, bytes: Vec<u8>) {
        let _ = self.out.send(Ws::binary(bytes));
    }

    /// The next event, or `None` if none arrives within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<(String, Value)> {
        tokio::time::timeout(within, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits for the next event named `name`, skipping others.
    pub async fn expect(&mut self, name: &str) -> Value {
        self.expect_where(name, |_| true).await
    }

    /// Waits for the next event named `name` whose payload satisfies `pred`.
    pub async fn expect_where(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some((n, v)) if n == name && pred(&v) => return v,
                Some(_) => continue,
                None => panic!("no `{name}` event within {WAIT:?}"),
            }
        }
    }

    /// Every event that arrives within `within`.
    pub async fn drain(&mut self, within: Duration) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        while let Some(e) = self.next_within(within).await {
            out.push(e);
        }
        out
    }

    /// Whether the server closes this socket within [`WAIT`] (events still
    /// queued are skipped).
    pub async fn closed_by_server(&mut self) -> bool {
        tokio::time::timeout(WAIT, async { while self.events.recv().await.is_some() {} })
            .await
            .is_ok()
    }

    /// Closes the socket.
    pub fn close(self) {
        let _ = self.out.send(Ws::text(EioPacket::Close.encode()));
    }
}

async fn next_text<S>(stream: &mut S) -> Option<String>
where
    S: futures_util::Stream<Item = Result<Ws, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(Ws::Text(t)) => return Some(t.to_string()),
            Ok(Ws::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
    None
}

/// The first element of `v[key]` whose `field` equals `value`.
pub fn find<'a>(v: &'a Value, key: &str, field: &str, value: &str) -> &'a Value {
    v[key]
        .as_array()
        .and_then(|a| a.iter().find(|x| x[field] == value))
        .unwrap_or_else(|| panic!("no {key} with {field} = {value}"))
}

/// The first element of `v[key]` matching `pred`.
pub fn find_by<'a>(v: &'a Value, key: &str, pred: impl Fn(&Value) -> bool) -> &'a Value {
    v[key]
        .as_array()
        .and_then(|a| a.iter().find(|x| pred(x)))
        .unwrap_or_else(|| panic!("no matching {key}"))
}
