//! Sockets: events reach the right people live, displays see redacted tickets,
//! presence spans sockets, typing reaches thread members only.

use crate::support::*;
use serde_json::json;
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn mutations_reach_every_socket_of_the_tenant_in_seq_order() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let doc = d.login("doctor").await.access_token;
    let other = d.login_to("other", "reception").await.access_token;
    let mut desk2 = d.socket(&d.login("admin").await.access_token).await;
    let mut doc_sock = d.socket(&doc).await;
    let mut other_sock = d.socket(&other).await;

    let snap = d.snapshot(&r).await;
    let booked = find_by(&snap, "appointments", |a| {
        a["status"] == "booked" && a["provider_id"] == d.clinic.providers[0]
    });
    let (s, _) = d
        .post(&r, "/api/queue", json!({"appointment_id": booked["id"]}))
        .await;
    assert_eq!(s, 201);
    // Two waiting for provider A now: the demo's and ours.
    for _ in 0..2 {
        let (s, _) = d
            .post(
                &doc,
                "/api/queue/call-next",
                json!({"provider_id": d.clinic.providers[0]}),
            )
            .await;
        assert_eq!(s, 200);
    }

    // The other desk sees all of it, in order, with whole records.
    let mut seqs = Vec::new();
    let mut kinds = Vec::new();
    for (name, env) in desk2.drain(QUIET).await {
        if name == "presence" {
            continue;
        }
        assert_eq!(
            name,
            env["type"].as_str().unwrap(),
            "event name equals envelope type"
        );
        seqs.push(env["seq"].as_u64().unwrap());
        kinds.push(name);
    }
    assert_eq!(seqs, (1..=5).collect::<Vec<_>>());
    assert_eq!(
        kinds[..3],
        [
            "appointment.updated",
            "queue.updated",
            "notification.created"
        ]
    );
    assert!(kinds[3..].iter().all(|k| k == "queue.called"));

    // The doctor gets the arrival notification in full.
    let n = doc_sock.expect("notification.created").await;
    assert_eq!(n["data"]["kind"], "patient.arrived");
    assert!(
        n["data"]["body"]
            .as_str()
            .unwrap()
            .contains(booked["patient"]["name"].as_str().unwrap())
    );

    // The other clinic hears nothing.
    let leaked: Vec<_> = other_sock
        .drain(QUIET)
        .await
        .into_iter()
        .filter(|(n, _)| n != "presence")
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}

#[tokio::test]
async fn messages_are_for_thread_members_and_redacted_for_others() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let mut doctor = d.socket(&d.login("doctor").await.access_token).await;
    let mut doctor2 = d.socket(&d.login("doctor2").await.access_token).await;
    // Thread 0 is reception + doctor; doctor2 is not a member.
    let thread = &d.clinic.threads[0];
    let (s, _) = d
        .post(
            &r,
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "u1", "body": "Lab result for Mrs K.", "urgent": true}),
        )
        .await;
    assert_eq!(s, 201);
    let m = doctor.expect("message.created").await;
    assert_eq!(m["data"]["body"], "Lab result for Mrs K.");
    let n = doctor.expect("notification.created").await;
    assert_eq!(
        (n["data"]["kind"].as_str(), n["data"]["urgency"].as_str()),
        (Some("message.urgent"), Some("critical"))
    );

    let m2 = doctor2.expect("message.created").await;
    assert_eq!(m2["seq"], m["seq"], "same place in the stream");
    assert_eq!(m2["redacted"], true);
    assert!(m2["data"].is_null());
    assert!(!m2.to_string().contains("Mrs K"));
}

#[tokio::test]
async fn display_boards_get_only_their_queue_redacted() {
    let d = demo_server(|_| {}).await;
    let admin = d.login("admin").await.access_token;
    let r = d.login("reception").await.access_token;
    let (_, disp) = d
        .post(
            &admin,
            "/api/displays",
            json!({"name": "Lobby A", "provider_ids": [d.clinic.providers[0]]}),
        )
        .await;
    let mut board = d.socket(disp["token"].as_str().unwrap()).await;

    // Walk-ins for both providers, then a call for each.
    for p in &d.clinic.providers {
        let (s, _) = d
            .post(
                &r,
                "/api/queue",
                json!({"provider_id": p, "patient": {"name": "Zofia Wiśniewska"}, "priority": 9}),
            )
            .await;
        assert_eq!(s, 201);
        let (s, _) = d
            .post(&r, "/api/queue/call-next", json!({"provider_id": p}))
            .await;
        assert_eq!(s, 200);
    }
    let got = board.drain(QUIET).await;
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["queue.updated", "queue.called"],
        "only provider A's queue events: {got:?}"
    );
    let called = &got[1].1;
    assert_eq!(called["data"]["initials"], "Z.W.");
    assert_eq!(called["data"]["room_id"], d.clinic.rooms[0]);
    assert!(called["data"]["ticket"].as_str().unwrap().starts_with("A-"));
    assert!(called["data"].get("patient").is_none());
    let text = format!("{got:?}");
    assert!(
        !text.contains("Wiśniewska") && !text.contains("Zofia"),
        "no names reach a board: {text}"
    );
    // A board's socket cannot emit staff signals.
    let ack = board.emit_ack("viewing", json!({"patient": "p"})).await;
    assert_eq!(ack["ok"], false);
}

#[tokio::test]
async fn presence_spans_sockets_and_goes_offline_after_grace() {
    let d = demo_server(|_| {}).await;
    let mut watcher = d.socket(&d.login("admin").await.access_token).await;
    let doc = d.login("doctor").await.access_token;
    let mut a = d.socket(&doc).await;
    let b = d.socket(&doc).await;
    let on = watcher
        .expect_where("presence", |p| p["user"] == d.clinic.doctor)
        .await;
    assert_eq!(on["state"], "online");
    // Second socket: no second announcement. Snapshot lists the doctor online.
    let snap = d.snapshot(&doc).await;
    assert_eq!(
        find(&snap, "presence", "user", &d.clinic.doctor)["state"],
        "online"
    );

    // dnd and viewing are announced to the tenant.
    assert_eq!(
        a.emit_ack("presence", json!({"state": "dnd"})).await["ok"],
        true
    );
    let p = watcher
        .expect_where("presence", |p| p["user"] == d.clinic.doctor)
        .await;
    assert_eq!(p["state"], "dnd");
    assert_eq!(
        a.emit_ack("viewing", json!({"patient": "pat_1"})).await["ok"],
        true
    );
    let p = watcher
        .expect_where("presence", |p| p["user"] == d.clinic.doctor)
        .await;
    assert_eq!(p["viewing"], "pat_1");
    let bad = a.emit_ack("presence", json!({"state": "sleeping"})).await;
    assert_eq!(bad["ok"], false);
    assert!(bad["error"].as_str().unwrap().contains("invalid presence"));

    // Closing one of two sockets changes nothing.
    b.close();
    let quiet: Vec<_> = watcher.drain(Duration::from_millis(700)).await;
    assert!(
        quiet.iter().all(|(_, p)| p["state"] != "offline"),
        "{quiet:?}"
    );
    // Closing the last one: offline after the grace (300 ms in tests).
    a.close();
    let off = watcher
        .expect_where("presence", |p| p["user"] == d.clinic.doctor)
        .await;
    assert_eq!(off["state"], "offline");
    assert!(off["viewing"].is_null());
}

#[tokio::test]
async fn typing_reaches_thread_members_only() {
    let d = demo_server(|_| {}).await;
    let mut rec = d.socket(&d.login("reception").await.access_token).await;
    let mut doc = d.socket(&d.login("doctor").await.access_token).await;
    let mut doc2 = d.socket(&d.login("doctor2").await.access_token).await;
    let thread = &d.clinic.threads[0]; // reception + doctor
    assert_eq!(
        rec.emit_ack("typing", json!({"thread": thread, "typing": true}))
            .await["ok"],
        true
    );
    let t = doc.expect("typing").await;
    assert_eq!(
        t,
        json!({"thread": thread, "user": d.clinic.reception, "typing": true})
    );
    assert!(doc2.drain(QUIET).await.iter().all(|(n, _)| n != "typing"));
    assert!(
        rec.drain(QUIET).await.iter().all(|(n, _)| n != "typing"),
        "no echo to the typist"
    );
    // Not a member: refused.
    let ack = doc2
        .emit_ack("typing", json!({"thread": thread, "typing": true}))
        .await;
    assert_eq!(ack["ok"], false);
    let ack = doc2.emit_ack("typing", json!({"thread": 5})).await;
    assert!(
        ack["error"]
            .as_str()
            .unwrap()
            .contains("invalid typing payload")
    );
    let ack = doc2.emit_ack("teleport", json!({})).await;
    assert_eq!(ack["error"], "unknown event `teleport`");
}

#[tokio::test]
async fn concurrent_writers_still_deliver_a_gap_free_ordered_stream() {
    let d = std::sync::Arc::new(demo_server(|_| {}).await);
    let mut watcher = d.socket(&d.login("admin").await.access_token).await;
    let thread = d.clinic.threads[1].clone(); // everyone is a member
    let mut writers = Vec::new();
    for user in ["reception", "doctor", "doctor2", "admin"] {
        let d = d.clone();
        let thread = thread.clone();
        writers.push(tokio::spawn(async move {
            let token = d.login(user).await.access_token;
            for i in 0..50 {
                let body =
                    json!({"client_id": format!("{user}-{i}"), "body": format!("{user} {i}")});
                let (s, _) = d
                    .post(&token, &format!("/api/threads/{thread}/messages"), body)
                    .await;
                assert_eq!(s, 201);
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let mut seqs = Vec::new();
    while seqs.len() < 200 {
        let (name, env) = watcher
            .next_within(WAIT)
            .await
            .expect("all 200 events arrive");
        if name == "message.created" {
            seqs.push(env["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(
        seqs,
        (1..=200).collect::<Vec<_>>(),
        "delivered in commit order, no gaps"
    );
}

#[tokio::test]
async fn new_threads_are_announced_to_their_members() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let mut doc = d.socket(&d.login("doctor").await.access_token).await;
    let mut doc2 = d.socket(&d.login("doctor2").await.access_token).await;
    let (s, t) = d
        .post(
            &r,
            "/api/threads",
            json!({"title": "Lab results", "members": [d.clinic.doctor]}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let ev = doc.expect("thread.created").await;
    assert_eq!(ev["data"]["title"], "Lab results");
    assert_eq!(ev["data"]["members"].as_array().unwrap().len(), 2);
    assert_eq!(doc2.expect("thread.created").await["redacted"], true);
    let (s, _) = d
        .post(
            &r,
            "/api/threads",
            json!({"title": "x", "members": ["u_nobody"]}),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn a_revoked_display_is_disconnected_and_refused() {
    let d = demo_server(|_| {}).await;
    let admin = d.login("admin").await.access_token;
    let (_, disp) = d
        .post(
            &admin,
            "/api/displays",
            json!({"name": "Lobby", "provider_ids": [d.clinic.providers[0]]}),
        )
        .await;
    let token = disp["token"].as_str().unwrap().to_owned();
    let id = disp["display"]["id"].as_str().unwrap().to_owned();
    let mut board = d.socket(&token).await;
    let doc = d.login("doctor").await.access_token;
    assert_eq!(
        d.send(
            "DELETE",
            &doc,
            &format!("/api/displays/{id}"),
            json!(null),
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        d.send(
            "DELETE",
            &admin,
            &format!("/api/displays/{id}"),
            json!(null),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        d.send(
            "DELETE",
            &admin,
            &format!("/api/displays/{id}"),
            json!(null),
            None
        )
        .await
        .0,
        404
    );
    // The open socket is closed by the server...
    assert!(board.closed_by_server().await);
    // ...and the token no longer connects or reads the board.
    let err = SioClient::connect(&d.server.url(), json!({"token": token}))
        .await
        .err()
        .unwrap();
    assert!(err.contains("no such user or display"), "{err}");
    assert_eq!(d.get(&token, "/api/board").await.0, 401);
}

/// Opens a WebSocket, asks to CONNECT with `token` and hangs up at once,
/// before the server has answered (a flaky Wi-Fi, a reloading page).
async fn connect_and_hang_up(base: &str, token: &str) {
    use futures_util::{SinkExt, StreamExt};
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        base.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let _open = ws.next().await;
    let connect =
        frontdesk_protocol::socketio::SioPacket::connect("/", Some(json!({"token": token})));
    let frame = frontdesk_protocol::engineio::EioPacket::Message(connect.encode()).encode();
    ws.send(tokio_tungstenite::tungstenite::Message::text(frame))
        .await
        .unwrap();
    drop(ws);
}

#[tokio::test]
async fn presence_goes_offline_after_rapid_connect_and_close_cycles() {
    let d = demo_server(|_| {}).await;
    let doctor = d.login("doctor").await.access_token;
    let reception = d.login("reception").await.access_token;
    for i in 0..60 {
        if i % 2 == 0 {
            connect_and_hang_up(&d.server.url(), &doctor).await;
        } else {
            d.socket(&doctor).await.close();
        }
    }
    // Past the grace (300 ms in tests), with every socket gone, the doctor is offline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let snap = d.snapshot(&reception).await;
        let online = snap["presence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["user"] == d.clinic.doctor);
        if !online {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the doctor is still shown online with no socket open"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_board_for_the_whole_clinic_shows_every_provider_and_admins_list_and_rename_boards() {
    let d = demo_server(|_| {}).await;
    let admin = d.login("admin").await.access_token;
    let r = d.login("reception").await.access_token;
    let (s, whole) = d
        .post(
            &admin,
            "/api/displays",
            json!({"name": "Waiting room", "provider_ids": []}),
        )
        .await;
    assert_eq!(s, 201, "{whole}");
    let token = whole["token"].as_str().unwrap();
    let mut board = d.socket(token).await;
    for p in &d.clinic.providers {
        let (s, _) = d
            .post(
                &r,
                "/api/queue",
                json!({"provider_id": p, "patient": {"name": "Whole Clinic"}}),
            )
            .await;
        assert_eq!(s, 201);
    }
    let got = board.drain(QUIET).await;
    let providers: std::collections::HashSet<&str> = got
        .iter()
        .filter(|(n, _)| n == "queue.updated")
        .map(|(_, e)| e["data"]["provider_id"].as_str().unwrap())
        .collect();
    assert_eq!(providers.len(), 2, "both providers' tickets: {got:?}");
    assert!(
        got.iter().all(|(_, e)| e["data"].get("patient").is_none()),
        "still without names"
    );
    let (_, shown) = d.get(token, "/api/board").await;
    let on_board: std::collections::HashSet<&str> = shown["queue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["provider_id"].as_str().unwrap())
        .collect();
    assert_eq!(on_board.len(), 2, "{shown}");
    // The admin's list, a rename, and only admins may.
    let id = whole["display"]["id"].as_str().unwrap();
    let (_, list) = d.get(&admin, "/api/displays").await;
    assert!(list.as_array().unwrap().iter().any(|b| b["id"] == id));
    assert_eq!(d.get(&r, "/api/displays").await.0, 403);
    let (s, renamed) = d
        .patch(
            &admin,
            &format!("/api/displays/{id}"),
            json!({"name": "Lobby"}),
        )
        .await;
    assert_eq!(
        (s, renamed["name"].as_str()),
        (200, Some("Lobby")),
        "{renamed}"
    );
    assert_eq!(
        d.patch(&admin, "/api/displays/nope", json!({"name": "X"}))
            .await
            .0,
        404
    );
    assert_eq!(
        d.patch(
            &admin,
            &format!("/api/displays/{id}"),
            json!({"name": "a\u{202e}b"})
        )
        .await
        .0,
        400
    );
}
