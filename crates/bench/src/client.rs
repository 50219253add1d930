//! A fleet of lightweight Socket.IO clients: one tokio task per WebSocket,
//! which answers pings and timestamps every event that carries a `seq`.
//!
//! The handshake uses the protocol crate's Engine.IO / Socket.IO codec. After
//! it, an incoming frame is timestamped before anything else is done with it,
//! and an event's `seq` is found by a substring scan instead of a full JSON
//! decode, so that the client side adds as little as possible to what is
//! measured on a machine whose cores it shares with the server.

use anyhow::{Context, bail};
use frontdesk_protocol::engineio::EioPacket;
use frontdesk_protocol::socketio::{SioKind, SioPacket};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The client side of one connection.
type Stream = WebSocketStream<TcpStream>;

/// One event received by one connection.
#[derive(Debug, Clone, Copy)]
pub struct Receipt {
    /// Index of the connection in its fleet.
    pub conn: u32,
    /// The event's `seq`.
    pub seq: u64,
    /// When the frame came off the socket.
    pub at: Instant,
    /// Length of the WebSocket text frame, in bytes.
    pub len: u32,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ConnectPlan {
    /// The server's listening address (always loopback).
    pub server: SocketAddr,
    /// The access token sent in the Socket.IO CONNECT (`{"token": …}`).
    pub token: String,
    /// Loopback source addresses, used round-robin so that no single one runs
    /// out of ephemeral ports.
    pub sources: Vec<Ipv4Addr>,
    /// Handshakes in flight at once.
    pub in_flight: usize,
    /// Longest a single handshake may take.
    pub timeout: Duration,
}

/// Open connections and the events they receive.
pub struct Fleet {
    handles: Vec<JoinHandle<()>>,
    ok: Vec<bool>,
    receipts: mpsc::UnboundedReceiver<Receipt>,
    alive: Arc<AtomicUsize>,
    /// Connections that completed the Socket.IO CONNECT.
    pub established: usize,
    /// Connections that did not.
    pub failed: usize,
    /// Distinct failure reasons with their counts.
    pub errors: HashMap<String, usize>,
    /// Wall time from the first attempt to the last answer.
    pub elapsed: Duration,
}

impl Fleet {
    /// Opens `n` connections as `plan` says, `plan.in_flight` at a time, and
    /// returns once every one has either connected or failed.
    pub async fn connect(plan: &ConnectPlan, n: usize) -> Fleet {
        let plan = Arc::new(plan.clone());
        let connect_frame = Arc::<str>::from(
            EioPacket::Message(
                SioPacket::connect("/", Some(json!({"token": plan.token}))).encode(),
            )
            .encode(),
        );
        let gate = Arc::new(Semaphore::new(plan.in_flight.max(1)));
        let alive = Arc::new(AtomicUsize::new(0));
        let (receipt_tx, receipts) = mpsc::unbounded_channel();
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<(usize, Result<(), String>)>();
        let started = Instant::now();
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let (plan, frame, gate, alive) = (
                plan.clone(),
                connect_frame.clone(),
                gate.clone(),
                alive.clone(),
            );
            let (receipt_tx, ready_tx) = (receipt_tx.clone(), ready_tx.clone());
            handles.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await;
                let result = tokio::time::timeout(plan.timeout, handshake(&plan, i, &frame)).await;
                drop(permit);
                let ws = match result {
                    Ok(Ok(ws)) => ws,
                    Ok(Err(e)) => {
                        let _ = ready_tx.send((i, Err(format!("{e:#}"))));
                        return;
                    }
                    Err(_) => {
                        let _ = ready_tx.send((i, Err("handshake timed out".into())));
                        return;
                    }
                };
                let _guard = AliveGuard::new(alive);
                let _ = ready_tx.send((i, Ok(())));
                drop(ready_tx);
                serve(ws, i as u32, receipt_tx).await;
            }));
        }
        drop(ready_tx);
        let mut ok = vec![false; n];
        let (mut established, mut failed) = (0, 0);
        let mut errors = HashMap::new();
        while let Some((i, result)) = ready_rx.recv().await {
            match result {
                Ok(()) => {
                    ok[i] = true;
                    established += 1;
                }
                Err(e) => {
                    failed += 1;
                    *errors.entry(shorten(&e)).or_insert(0) += 1;
                }
            }
        }
        Fleet {
            handles,
            ok,
            receipts,
            alive,
            established,
            failed,
            errors,
            elapsed: started.elapsed(),
        }
    }

    /// Connections still open (the server has not closed them).
    pub fn alive(&self) -> usize {
        self.alive.load(Ordering::Relaxed)
    }

    /// Closes all but the first `keep` established connections.
    pub fn truncate(&mut self, keep: usize) {
        let mut kept = 0;
        for (h, ok) in self.handles.iter().zip(self.ok.iter_mut()) {
            if *ok && kept < keep {
                kept += 1;
            } else {
                h.abort();
                *ok = false;
            }
        }
        self.established = kept;
    }

    /// Throws away every receipt received so far.
    pub fn discard_receipts(&mut self) {
        while self.receipts.try_recv().is_ok() {}
    }

    /// Receipts of event `seq` until `expected` connections have it or `wait`
    /// has passed. Receipts of other events are dropped.
    pub async fn collect(&mut self, seq: u64, expected: usize, wait: Duration) -> Vec<Receipt> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut got = Vec::with_capacity(expected);
        while got.len() < expected {
            match tokio::time::timeout_at(deadline, self.receipts.recv()).await {
                Ok(Some(r)) if r.seq == seq => got.push(r),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        got
    }

    /// Waits until every open connection has received each event of
    /// `(after, upto]`, or `wait` has passed; returns how many connections
    /// got all of them and how many receipts were missing in total.
    pub async fn collect_range(&mut self, after: u64, upto: u64, wait: Duration) -> (usize, u64) {
        let want = upto.saturating_sub(after);
        let conns = self.established;
        let mut per_conn: HashMap<u32, u64> = HashMap::new();
        let mut complete = 0;
        let deadline = tokio::time::Instant::now() + wait;
        while complete < conns {
            match tokio::time::timeout_at(deadline, self.receipts.recv()).await {
                Ok(Some(r)) if r.seq > after && r.seq <= upto => {
                    let c = per_conn.entry(r.conn).or_insert(0);
                    *c += 1;
                    if *c == want {
                        complete += 1;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let received: u64 = per_conn.values().sum();
        (
            complete,
            want * conns as u64 - received.min(want * conns as u64),
        )
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// Counts a connection as alive for as long as its task runs (abort included).
struct AliveGuard(Arc<AtomicUsize>);

impl AliveGuard {
    fn new(counter: Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        AliveGuard(counter)
    }
}

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Keeps error texts short enough to count and print (the last part of a
/// context chain is the root cause; ports and addresses are dropped).
fn shorten(e: &str) -> String {
    let root = e.rsplit(": ").next().unwrap_or(e);
    root.chars().take(100).collect()
}

/// TCP connect from a chosen loopback source, WebSocket upgrade, Engine.IO
/// open, Socket.IO CONNECT with the token; the server's CONNECT answer ends it.
async fn handshake(plan: &ConnectPlan, i: usize, connect_frame: &str) -> anyhow::Result<Stream> {
    let source = plan.sources[i % plan.sources.len()];
    let socket = TcpSocket::new_v4().context("socket")?;
    socket.set_reuseaddr(true).context("SO_REUSEADDR")?;
    socket
        .bind(SocketAddr::from((source, 0)))
        .with_context(|| format!("bind {source}"))?;
    let tcp = socket.connect(plan.server).await.context("connect")?;
    tcp.set_nodelay(true).context("TCP_NODELAY")?;
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", plan.server);
    // tungstenite's default read buffer is 128 KiB per connection; the frames
    // here are well under 4 KiB.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
        .await
        .context("websocket upgrade")?;
    match EioPacket::decode(&next_text(&mut ws).await?).context("engine.io open")? {
        EioPacket::Open(_) => {}
        other => bail!("expected the engine.io open packet, got {other:?}"),
    }
    ws.send(Ws::text(connect_frame))
        .await
        .context("send CONNECT")?;
    loop {
        match EioPacket::decode(&next_text(&mut ws).await?).context("engine.io packet")? {
            EioPacket::Message(m) => {
                let p = SioPacket::decode(&m).context("socket.io packet")?;
                match p.kind {
                    SioKind::Connect => return Ok(ws),
                    SioKind::ConnectError => {
                        bail!(
                            "CONNECT refused: {}",
                            p.connect_error_message().unwrap_or_default()
                        )
                    }
                    _ => {}
                }
            }
            EioPacket::Ping(p) => ws
                .send(Ws::text(EioPacket::Pong(p).encode()))
                .await
                .context("send pong")?,
            EioPacket::Close => bail!("server closed the session during the handshake"),
            _ => {}
        }
    }
}

/// The next text frame; WebSocket control frames are handled by tungstenite.
async fn next_text(ws: &mut Stream) -> anyhow::Result<String> {
    while let Some(msg) = ws.next().await {
        match msg.context("websocket read")? {
            Ws::Text(t) => return Ok(t.to_string()),
            Ws::Close(_) => bail!("websocket closed"),
            _ => continue,
        }
    }
    bail!("websocket ended")
}

/// Runs one established connection until either side closes it: answers
/// Engine.IO pings and reports every event that carries a `seq`.
async fn serve(mut ws: Stream, conn: u32, receipts: mpsc::UnboundedSender<Receipt>) {
    while let Some(msg) = ws.next().await {
        let at = Instant::now();
        let text = match msg {
            Ok(Ws::Text(t)) => t,
            Ok(Ws::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        // `42…` is an Engine.IO message holding a Socket.IO EVENT.
        if text.starts_with("42") {
            if let Some(seq) = scan_seq(&text) {
                let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
                let _ = receipts.send(Receipt { conn, seq, at, len });
            }
            continue;
        }
        match EioPacket::decode(&text) {
            Ok(EioPacket::Ping(p)) => {
                if ws
                    .send(Ws::text(EioPacket::Pong(p).encode()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            // `41`: the server disconnected this socket from the namespace.
            Ok(EioPacket::Message(m)) if m.starts_with('1') => break,
            Ok(EioPacket::Close) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// The number after the first `"seq":` in an event frame. Envelopes put `seq`
/// first, so this never reaches into the record the event carries.
pub fn scan_seq(frame: &str) -> Option<u64> {
    let start = frame.find("\"seq\":")? + 6;
    let digits: &str = frame[start..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?;
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::scan_seq;

    #[test]
    fn finds_the_seq_of_an_envelope() {
        let f = r#"42["appointment.updated",{"seq":1042,"id":"x","data":{"seq":7}}]"#;
        assert_eq!(scan_seq(f), Some(1042));
        assert_eq!(scan_seq(r#"42["presence",{"user":"u"}]"#), None);
        assert_eq!(scan_seq(r#"42["x",{"seq": 5}]"#), Some(5));
    }
}
