//! The engine against a standard Node `socket.io` server (npm) emitting the
//! same events: connect, receive, answer acks and pings, reconnect after a restart.

use frontdesk_e2e::*;
use frontdesk_engine::cache::Kind;
use frontdesk_engine::supervisor::ConnState;
use frontdesk_protocol::records::QueueEntry;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

struct NodeClinic {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

impl NodeClinic {
    async fn start(port: u16, state: &Path) -> NodeClinic {
        assert!(
            js_dir().join("node_modules/socket.io").exists(),
            "run `npm ci` in tests/js (scripts/test.sh does)"
        );
        let mut child = Command::new("node")
            .arg(js_dir().join("fake-clinic.mjs"))
            .arg(port.to_string())
            .arg(state)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut n = NodeClinic { child, lines };
        n.expect(|v| v.get("listening").is_some()).await;
        n
    }

    /// Waits for a line of output matching `pred`.
    async fn expect(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let read = async {
            while let Ok(Some(line)) = self.lines.next_line().await {
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if pred(&v) {
                    return v;
                }
            }
            panic!("node server ended");
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("node said it in time")
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ticket(n: u64) -> Value {
    json!({
        "id": format!("q{n}"), "ticket": format!("A-{n:03}"), "provider_id": "p1", "room_id": null,
        "initials": "N.N.", "appointment_id": null, "status": "waiting", "priority": 0,
        "arrived_at": "2026-11-22T09:00:00.000Z", "called_at": null, "version": 1,
        "updated_at": "2026-11-22T09:00:00.000Z"
    })
}

async fn emit(base: &str, n: u64) {
    let r = reqwest::Client::new()
        .post(format!("{base}/emit"))
        .json(&json!({"type": "queue.updated", "data": ticket(n)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn talks_to_a_standard_node_socket_io_server_and_survives_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut node = NodeClinic::start(port, &state).await;

    let mut me = Client::sign_in(&base, "reception").await;
    let hello = node.expect(|v| v.get("connected").is_some()).await;
    assert_eq!(hello["auth"], json!(["tenant", "token"]));
    me.wait_state(ConnState::Live).await;
    node.expect(|v| v.get("presence").is_some()).await;

    for n in 1..=3 {
        emit(&base, n).await;
    }
    me.wait_cache("three tickets", |c| c.count(Kind::Queue).unwrap() == 3)
        .await;
    // Pings answered (the server would drop us otherwise) and acks answered.
    node.expect(|v| v.get("pongs").is_some()).await;
    let r: Value = reqwest::Client::new()
        .post(format!("{base}/ask"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["answers"],
        json!([{"ok": true}]),
        "the engine answered the server's ack request"
    );

    // The server goes away; events happen while it is down (in its log); it returns.
    node.stop().await;
    me.wait_state(ConnState::Reconnecting).await;
    let mut node = NodeClinic::start(port, &state).await;
    emit(&base, 4).await;
    emit(&base, 5).await;
    node.expect(|v| v.get("connected").is_some()).await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("all five after the restart", |c| {
        c.last_seq().unwrap() == Some(5)
    })
    .await;
    let c = me.handle.reader().unwrap();
    let q: Vec<QueueEntry> = c.list(Kind::Queue).unwrap();
    assert_eq!(
        q.iter().map(|e| e.ticket.as_str()).collect::<Vec<_>>(),
        ["A-001", "A-002", "A-003", "A-004", "A-005"]
    );
}
