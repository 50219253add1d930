//! The JavaScript `socket.io-client` from the npm registry talks to our server:
//! any standard client works, not just ours.

use crate::support::*;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/js")
}

#[tokio::test]
async fn javascript_socket_io_client_connects_emits_and_receives() {
    let dir = js_dir();
    assert!(
        dir.join("node_modules/socket.io-client").exists(),
        "run `npm ci` in tests/js first (scripts/test.sh does)"
    );
    let d = demo_server(|_| {}).await;
    let token = d.login("reception").await.access_token;
    let bad = "not-a-token";
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join("client-smoke.mjs"))
        .arg(d.server.url())
        .arg(&token)
        .arg(bad)
        .arg(&d.clinic.threads[0])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
            seen.push(v);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), run)
        .await
        .expect("node client finishes");
    let status = child.wait().await.unwrap();
    let steps: Vec<&str> = seen.iter().filter_map(|v| v["step"].as_str()).collect();
    assert!(
        status.success(),
        "node client failed after {steps:?}: {seen:?}"
    );
    assert_eq!(
        steps,
        ["refused", "connected", "ack", "event", "done"],
        "{seen:?}"
    );
    assert!(seen[0]["message"].as_str().unwrap().contains("invalid"));
    assert_eq!(seen[3]["type"], "message.created");
    assert_eq!(seen[3]["body"], "hello from socket.io-client");
}
