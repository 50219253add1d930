//! Bad input on the socket and over REST: clear refusals, nothing crashes,
//! nothing else is disturbed.

use crate::support::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn malformed_and_oversized_frames_close_only_that_socket() {
    let d = demo_server(|c| c.max_payload = 16 * 1024).await;
    let token = d.login("reception").await.access_token;
    let mut healthy = d.socket(&token).await;
    // Unparseable or oversized: the server drops that socket.
    let mut bad = Vec::new();
    for garbage in [
        "2[\"typing\"",
        "9nonsense",
        "42[]",
        "2[1,2]",
        "451-[\"x\",{\"_placeholder\":true,\"num\":7}]",
    ] {
        let s = d.socket(&token).await;
        s.send_raw(garbage);
        bad.push((garbage.to_owned(), s));
    }
    let big = d.socket(&token).await;
    big.send_raw(&format!("2[\"typing\",\"{}\"]", "x".repeat(40 * 1024)));
    bad.push(("a 40 KiB frame".to_owned(), big));
    for (what, mut s) in bad {
        assert!(s.closed_by_server().await, "{what} left its socket open");
    }
    // Well-formed but about a namespace it never joined: ignored, the socket
    // goes on working.
    let mut odd = d.socket(&token).await;
    odd.send_raw("2/admin");
    let thread = &d.clinic.threads[0];
    assert_eq!(
        odd.emit_ack("typing", json!({"thread": thread, "typing": false}))
            .await["ok"],
        true
    );
    // The healthy socket and the server are unaffected.
    assert_eq!(
        healthy
            .emit_ack("typing", json!({"thread": thread, "typing": false}))
            .await["ok"],
        true
    );
    let (s, _) = d
        .post(
            &token,
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "after", "body": "still here"}),
        )
        .await;
    assert_eq!(s, 201);
    healthy.expect("message.created").await;
}

#[tokio::test]
async fn binary_attachments_are_refused_at_once_not_buffered() {
    let d = demo_server(|_| {}).await;
    let token = d.login("reception").await.access_token;
    let mut healthy = d.socket(&token).await;
    // A well-formed event announcing two binary attachments, and one of
    // them sent (a peer parking buffers): the protocol has no binary, so the
    // socket is closed at the announcement instead of holding up to 10 MB
    // for up to a minute while it waits for the rest.
    let mut announced = d.socket(&token).await;
    announced.send_raw(
        "52-[\"typing\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
    );
    announced.send_binary(vec![7u8; 60 * 1024]);
    assert!(
        announced.closed_by_server().await,
        "a binary event left its socket open"
    );
    let thread = &d.clinic.threads[0];
    assert_eq!(
        healthy
            .emit_ack("typing", json!({"thread": thread, "typing": false}))
            .await["ok"],
        true,
        "the other sockets are untouched"
    );
}

#[tokio::test]
async fn socket_emits_are_rate_limited_with_a_clear_ack() {
    let d = demo_server(|c| {
        c.socket_event_burst = 5;
        c.socket_events_per_second = 1;
    })
    .await;
    let mut s = d.socket(&d.login("reception").await.access_token).await;
    let mut refused = 0;
    for _ in 0..8 {
        let ack = s.emit_ack("presence", json!({"state": "online"})).await;
        if ack["ok"] == false {
            assert!(ack["error"].as_str().unwrap().contains("rate-limited"));
            refused += 1;
        }
    }
    assert_eq!(refused, 3);
}

#[tokio::test]
async fn rest_mutations_are_rate_limited_per_user() {
    let d = demo_server(|c| {
        c.mutation_burst = 3;
        c.mutations_per_second = 1;
    })
    .await;
    let r = d.login("reception").await.access_token;
    let thread = &d.clinic.threads[0];
    let mut statuses = Vec::new();
    for i in 0..5 {
        let (s, p) = d
            .post(
                &r,
                &format!("/api/threads/{thread}/messages"),
                json!({"client_id": format!("r{i}"), "body": "hi"}),
            )
            .await;
        if s == 429 {
            assert_eq!(p["type"], "rate-limited");
        }
        statuses.push(s);
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429]);
    // Another user is not affected.
    let doc = d.login("doctor").await.access_token;
    assert_eq!(
        d.post(
            &doc,
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "d", "body": "hi"})
        )
        .await
        .0,
        201
    );
}

#[tokio::test]
async fn server_survives_restart_on_the_same_database_file() {
    let dir = std::env::temp_dir().join(format!("clinic-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("clinic.db");
    let d = demo_server(|c| c.db = clinic_server::DbLocation::File(path.clone())).await;
    let r = d.login("reception").await.access_token;
    let thread = d.clinic.threads[0].clone();
    let (s, _) = d
        .post(
            &r,
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "p", "body": "persisted"}),
        )
        .await;
    assert_eq!(s, 201);
    let secret = d.server.state.config.secret.clone();
    d.server.shutdown().await;

    let mut cfg = clinic_server::ServerConfig::for_tests();
    cfg.db = clinic_server::DbLocation::File(path.clone());
    cfg.secret = secret;
    let server = clinic_server::start(cfg).await.unwrap();
    let http = reqwest::Client::new();
    // The old access token still verifies (same secret), and the data is there.
    let snap: serde_json::Value = http
        .get(format!("{}/api/snapshot", server.url()))
        .bearer_auth(&r)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(snap["seq"], 1);
    assert!(
        snap["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["body"] == "persisted")
    );
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn server_pings_and_drops_a_client_that_stops_answering() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Ws;
    let d = demo_server(|c| {
        c.ping_interval = Duration::from_millis(200);
        c.ping_timeout = Duration::from_millis(1000);
    })
    .await;
    let token = d.login("reception").await.access_token;
    // A well-behaved client is pinged, answers, and stays connected.
    let mut good = d.socket(&token).await;
    assert!(!good.sid.is_empty());
    // Several ping intervals pass (well beyond the timeout), answered each time.
    let deadline = tokio::time::Instant::now() + WAIT;
    while *good.pings_answered.lock().unwrap() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "server pings every 200 ms"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        good.emit_ack("presence", json!({"state": "online"})).await["ok"],
        true
    );

    // A raw client that never answers pings is closed by the server.
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        d.server.url().replace("http", "ws")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let _open = ws.next().await;
    ws.send(Ws::text(format!("40{}", json!({"token": token}))))
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(m) = ws.next().await {
            if matches!(m, Ok(Ws::Close(_)) | Err(_)) {
                return true;
            }
        }
        true
    })
    .await;
    assert_eq!(closed, Ok(true), "silent client dropped after ping timeout");
}

#[tokio::test]
async fn invisible_control_and_direction_characters_are_refused_with_where_they_are() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let thread = &d.clinic.threads[0];
    let path = format!("/api/threads/{thread}/messages");
    let refused = [
        (
            &path,
            json!({"client_id": "ansi", "body": "call me \u{1b}[31mNOW"}),
            "message body contains a control character",
        ),
        (
            &path,
            json!({"client_id": "bidi", "body": "invoice\u{202e}fdp.exe"}),
            "text-direction control",
        ),
        (
            &"/api/patients".to_owned(),
            json!({"name": "\u{200b}\u{200b}"}),
            "patient name contains an invisible character",
        ),
        (
            &"/api/patients".to_owned(),
            json!({"name": "Ann\u{202e}ilE"}),
            "patient name contains a text-direction control (U+202E) at character 4",
        ),
        (
            &"/api/threads".to_owned(),
            json!({"title": "two\nlines", "members": []}),
            "title contains a control character",
        ),
    ];
    for (p, body, says) in refused {
        let (s, problem) = d.post(&r, p, body.clone()).await;
        assert_eq!(
            (s, problem["type"].as_str()),
            (400, Some("invalid-input")),
            "{body}: {problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{body}: {problem}"
        );
    }
    // What people really type passes: lines, accents, scripts that join, emoji.
    let (s, m) = d
        .post(
            &r,
            &path,
            json!({"client_id": "ok", "body": "Line one\nZoë 👩\u{200d}⚕️ می\u{200c}خواهم"}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    assert_eq!(
        d.post(&r, "/api/patients", json!({"name": "Zoë O'Brien-Núñez"}))
            .await
            .0,
        201
    );
}

/// A TCP connection to the server from the loopback address `ip`.
async fn tcp_from(ip: &str, server: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    socket.connect(server).await.unwrap()
}

/// Whether the server ends the connection within `within` (after at most
/// an error status line).
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 512];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {} // a status line (408) before the close
        }
    }
}

#[tokio::test]
async fn half_sent_requests_are_cut_off_and_one_address_cannot_hold_every_connection() {
    use tokio::io::AsyncWriteExt;
    let d = demo_server(|c| {
        c.header_timeout = Duration::from_millis(800);
        c.max_connections_per_address = 20;
    })
    .await;
    let server = d.server.addr;
    // Twenty requests from one host, each stuck halfway through its headers.
    let mut stuck = Vec::new();
    for _ in 0..20 {
        let mut s = tcp_from("127.0.0.8", server).await;
        s.write_all(b"GET /api/health HTTP/1.1\r\nHost: clinic\r\nX-Slow: ")
            .await
            .unwrap();
        stuck.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A twenty-first from that host is closed at once…
    let mut extra = tcp_from("127.0.0.8", server).await;
    assert!(
        closed_within(&mut extra, Duration::from_millis(500)).await,
        "over the per-address cap"
    );
    // …while another host is served as usual.
    let other = reqwest::Client::builder()
        .local_address("127.0.0.9".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let health = other.get(d.url("/api/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // The stuck ones are cut off once their headers are late.
    for s in &mut stuck {
        assert!(
            closed_within(s, Duration::from_secs(3)).await,
            "a half-sent request was kept"
        );
    }
    // Their slots are free again.
    let again = reqwest::Client::builder()
        .local_address("127.0.0.8".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    assert_eq!(
        again
            .get(d.url("/api/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn one_user_holds_a_bounded_number_of_sockets() {
    let d = demo_server(|c| c.max_sockets_per_user = 5).await;
    let token = d.login("reception").await.access_token;
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(d.socket(&token).await);
    }
    let refused = SioClient::connect(&d.server.url(), json!({"token": token})).await;
    assert!(
        refused.is_err_and(|e| e.starts_with("busy:")),
        "a sixth socket of one user"
    );
    // Another user is not held back, and a closed socket frees its place.
    let other = d.login("doctor").await.access_token;
    d.socket(&other).await;
    open.pop().unwrap().close();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while SioClient::connect(&d.server.url(), json!({"token": token}))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed socket's place came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn one_account_cannot_keep_the_readers_busy_and_sign_in_still_answers() {
    let d = demo_server(|c| {
        c.read_burst = 20;
        c.reads_per_second = 5;
    })
    .await;
    let flood = d.login("admin").await.access_token;
    // 100 snapshots at once from one account: its budget answers 20, the
    // rest are told to wait instead of queueing for the readers.
    let reads = (0..100).map(|_| d.get(&flood, "/api/snapshot"));
    let answers = futures_util::future::join_all(reads).await;
    let count = |status| answers.iter().filter(|(s, _)| *s == status).count();
    assert_eq!((count(200), count(429)), (20, 80));
    assert!(
        answers
            .iter()
            .filter(|(s, _)| *s == 429)
            .all(|(_, p)| p["type"] == "rate-limited")
    );
    // Others read and sign in as usual.
    let other = d.login("reception").await.access_token;
    assert_eq!(d.get(&other, "/api/snapshot").await.0, 200);
    d.socket(&other).await;
}

#[tokio::test]
async fn a_trickled_body_is_refused_in_time() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = demo_server(|c| c.body_timeout = Duration::from_millis(500)).await;
    let token = d.login("reception").await.access_token;
    let mut s = tcp_from("127.0.0.10", d.server.addr).await;
    let head = format!(
        "POST /api/patients HTTP/1.1\r\nHost: clinic\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"name\":"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // …and nothing more: the answer comes when the body is late, not never.
    let mut answer = vec![0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request-timeout"), "{text}");
}

#[tokio::test]
async fn requests_that_change_nothing_store_nothing_however_many_keys() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let snap = d.snapshot(&r).await;
    let apt = snap["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["status"] == "confirmed")
        .unwrap()
        .clone();
    let path = format!("/api/appointments/{}", apt["id"].as_str().unwrap());
    let rows = || async {
        d.server
            .state
            .db
            .read(|c| {
                Ok(c.query_row("SELECT count(*) FROM idempotency", [], |r| {
                    r.get::<_, i64>(0)
                })?)
            })
            .await
            .unwrap()
    };
    let before = rows().await;
    for i in 0..200 {
        let (s, same) = d
            .send(
                "PATCH",
                &r,
                &path,
                json!({"version": apt["version"], "status": "confirmed"}),
                Some(&format!("noop-{i}")),
            )
            .await;
        assert_eq!((s, &same["version"]), (200, &apt["version"]));
    }
    assert_eq!(rows().await, before, "no row for a change that was none");
    // A real change is still remembered, and its repeat answered from memory.
    let body = json!({"version": apt["version"], "status": "cancelled"});
    let first = d.send("PATCH", &r, &path, body.clone(), Some("real")).await;
    let again = d.send("PATCH", &r, &path, body, Some("real")).await;
    assert_eq!((first.0, again.0), (200, 200));
    assert_eq!(first.1, again.1);
    assert_eq!(rows().await, before + 1);
}
