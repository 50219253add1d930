//! Snapshot, mutations and the events they append, replay, idempotency,
//! conflicts, transitions, roles and tenant isolation, over REST.

use crate::support::*;
use serde_json::{Value, json};

/// A booking for the first provider in the `n`th free ten minutes of
/// today after the demo day's schedule (which ends at 15:40, clinic time;
/// the demo's hours run to 18:00).
fn apt_body(d: &Demo, n: u32) -> Value {
    let zone: chrono_tz::Tz = clinic_server::demo::machine_zone().parse().unwrap();
    let local = chrono::Utc::now()
        .with_timezone(&zone)
        .date_naive()
        .and_hms_opt(16, 0, 0)
        .unwrap()
        + chrono::Duration::minutes(10 * i64::from(n));
    let start = local
        .and_local_timezone(zone)
        .earliest()
        .unwrap()
        .with_timezone(&chrono::Utc);
    json!({
        "patient": {"name": "Nora Quinn", "phone": "+1 555 0199"},
        "provider_id": d.clinic.providers[0],
        "start": start,
        "end": start + chrono::Duration::minutes(10),
        "reason": "Sore throat",
    })
}

/// Moves appointment `id` (at `version`) to start at `start`, 20 minutes long.
async fn move_appointment(
    d: &Demo,
    token: &str,
    id: &str,
    version: u64,
    start: chrono::DateTime<chrono::Utc>,
) {
    let (s, body) = d
        .patch(
            token,
            &format!("/api/appointments/{id}"),
            json!({"version": version, "start": start, "end": start + chrono::Duration::minutes(20)}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
}

async fn events_after(d: &Demo, token: &str, after: u64) -> Vec<Value> {
    let (s, page) = d
        .get(token, &format!("/api/events?after={after}&limit=1000"))
        .await;
    assert_eq!(s, 200, "{page}");
    page["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn snapshot_has_the_demo_day_and_only_my_threads() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await;
    let snap = d.snapshot(&r.access_token).await;
    assert_eq!(snap["seq"], 0);
    assert_eq!(snap["tenant"]["id"], "demo");
    assert_eq!(snap["appointments"].as_array().unwrap().len(), 24);
    assert_eq!(snap["providers"].as_array().unwrap().len(), 2);
    assert!(
        snap["queue"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["status"] == "waiting")
    );
    let statuses: std::collections::HashSet<&str> = snap["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    for s in [
        "booked",
        "confirmed",
        "arrived",
        "in_room",
        "completed",
        "cancelled",
        "no_show",
    ] {
        assert!(statuses.contains(s), "demo day has a {s} appointment");
    }
    assert_eq!(snap["threads"].as_array().unwrap().len(), 2);
    // doctor2 is only in the team thread.
    let d2 = d.login("doctor2").await;
    let snap2 = d.snapshot(&d2.access_token).await;
    assert_eq!(snap2["threads"].as_array().unwrap().len(), 1);
    assert!(
        snap2["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["thread_id"] == d.clinic.threads[1])
    );
}

#[tokio::test]
async fn every_mutation_appends_one_gap_free_event_per_change() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let doc = d.login("doctor").await.access_token;

    let (s, apt) = d.post(&r, "/api/appointments", apt_body(&d, 6)).await;
    assert_eq!(s, 201, "{apt}");
    assert_eq!(
        (apt["status"].as_str(), apt["version"].as_u64()),
        (Some("booked"), Some(1))
    );
    let id = apt["id"].as_str().unwrap().to_owned();

    // Reschedule to 16:00 clinic time (where `apt_body(_, 0)` starts).
    let new_start: chrono::DateTime<chrono::Utc> =
        apt_body(&d, 0)["start"].as_str().unwrap().parse().unwrap();
    let (s, apt) = d
        .patch(&r, &format!("/api/appointments/{id}"), json!({"version": 1, "start": new_start, "end": new_start + chrono::Duration::minutes(30)}))
        .await;
    assert_eq!((s, apt["version"].as_u64()), (200, Some(2)), "{apt}");

    // Check in: appointment arrived + ticket + notification for the doctor.
    let (s, checked) = d
        .post(&r, "/api/queue", json!({"appointment_id": id}))
        .await;
    assert_eq!(s, 201, "{checked}");
    assert_eq!(checked["appointment"]["status"], "arrived");
    let entry = checked["entry"].clone();
    assert!(entry["ticket"].as_str().unwrap().starts_with("A-"));

    // Walk-in for the other provider.
    let (s, walk) = d
        .post(&r, "/api/queue", json!({"provider_id": d.clinic.providers[1], "patient": {"name": "Walk In"}, "priority": 2}))
        .await;
    assert_eq!(s, 201, "{walk}");
    assert!(walk["appointment"].is_null());

    // The doctor calls next: highest priority first, then earliest arrival; demo
    // patients waiting since the morning come before our new one.
    let (s, called) = d
        .post(
            &doc,
            "/api/queue/call-next",
            json!({"provider_id": d.clinic.providers[0]}),
        )
        .await;
    assert_eq!(s, 200, "{called}");
    assert_eq!(called["status"], "called");
    assert_eq!(called["room_id"], d.clinic.rooms[0]);

    // In service, then done, moves the appointment along.
    let qid = called["id"].as_str().unwrap();
    let (s, q) = d
        .patch(
            &doc,
            &format!("/api/queue/{qid}"),
            json!({"version": called["version"], "status": "in_service"}),
        )
        .await;
    assert_eq!(s, 200, "{q}");
    let (s, q) = d
        .patch(
            &doc,
            &format!("/api/queue/{qid}"),
            json!({"version": q["version"], "status": "done"}),
        )
        .await;
    assert_eq!((s, q["status"].as_str()), (200, Some("done")));

    // Message and read marker.
    let thread = &d.clinic.threads[0];
    let (s, msg) = d
        .post(
            &r,
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "c-1", "body": "Mrs K. is here"}),
        )
        .await;
    assert_eq!(s, 201, "{msg}");
    let (s, _) = d
        .post(
            &doc,
            &format!("/api/threads/{thread}/read"),
            json!({"message_id": msg["id"]}),
        )
        .await;
    assert_eq!(s, 200);

    // Cancel the walk-in's... no: cancel a booked demo appointment.
    let snap = d.snapshot(&r).await;
    let booked = find_by(&snap, "appointments", |a| a["status"] == "booked");
    let (s, c) = d
        .patch(
            &r,
            &format!("/api/appointments/{}", booked["id"].as_str().unwrap()),
            json!({"version": booked["version"], "status": "cancelled"}),
        )
        .await;
    assert_eq!((s, c["status"].as_str()), (200, Some("cancelled")));

    let events = events_after(&d, &r, 0).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "appointment.created",
            "patient.created", // registered with the booking
            "appointment.updated",
            "appointment.updated", // check-in: arrived
            "queue.updated",
            "notification.created",
            "queue.updated",   // walk-in
            "patient.created", // registered with the walk-in
            "notification.created",
            "queue.called",
            "appointment.updated", // in_room
            "queue.updated",
            "appointment.updated", // completed
            "queue.updated",
            "message.created",
            "thread.read",
            "appointment.cancelled",
        ]
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e["seq"].as_u64().unwrap(),
            i as u64 + 1,
            "gap-free, in order"
        );
        assert_eq!(e["tenant"], "demo");
        assert!(e["id"].as_str().unwrap().len() >= 32);
    }
    // The receptionist sees her own message, but not the doctors' notifications.
    assert!(events[5]["redacted"].as_bool().unwrap() && events[5]["data"].is_null());
    assert_eq!(events[14]["data"]["body"], "Mrs K. is here");
    // The doctor sees her own notification in full.
    let doc_events = events_after(&d, &doc, 0).await;
    assert_eq!(doc_events[5]["data"]["kind"], "patient.arrived");
    assert_eq!(doc_events[5]["data"]["urgency"], "normal");
    assert_eq!(doc_events[5]["actor"], "system");

    // Snapshot reflects the same seq and the same records the events carry.
    let snap = d.snapshot(&r).await;
    assert_eq!(snap["seq"], 17);
    assert_eq!(find(&snap, "appointments", "id", &id)["status"], "arrived");
    let last = &events[16]["data"];
    assert_eq!(
        find(&snap, "appointments", "id", last["id"].as_str().unwrap()),
        last
    );
}

#[tokio::test]
async fn replay_pages_and_gone() {
    let d = demo_server(|c| c.event_retention = 100).await;
    let r = d.login("reception").await.access_token;
    let thread = &d.clinic.threads[0];
    for i in 0..40 {
        let (s, _) = d
            .post(
                &r,
                &format!("/api/threads/{thread}/messages"),
                json!({"client_id": format!("m{i}"), "body": format!("n{i}")}),
            )
            .await;
        assert_eq!(s, 201);
    }
    // Paging: limit 15 gives 15, 15, 10.
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let (s, page) = d
            .get(&r, &format!("/api/events?after={after}&limit=15"))
            .await;
        assert_eq!(s, 200);
        assert_eq!(page["latest_seq"], 40);
        let evs = page["events"].as_array().unwrap();
        if evs.is_empty() {
            break;
        }
        assert!(evs.len() <= 15);
        for e in evs {
            seen.push(e["seq"].as_u64().unwrap());
        }
        after = *seen.last().unwrap();
    }
    assert_eq!(seen, (1..=40).collect::<Vec<_>>());

    // Beyond the server's history: 410 (the client's cache is from another database).
    let (s, p) = d.get(&r, "/api/events?after=41").await;
    assert_eq!((s, p["type"].as_str()), (410, Some("replay-gone")));
    // The client's event `after` is checked when it says which it was: ours
    // replays, another history's (a server restored from a backup) is 410.
    let (_, page) = d.get(&r, "/api/events?after=19&limit=1").await;
    let id20 = page["events"][0]["id"].as_str().unwrap().to_owned();
    let (s, page) = d
        .get(
            &r,
            &format!("/api/events?after=20&after_id={id20}&limit=100"),
        )
        .await;
    assert_eq!((s, page["events"].as_array().unwrap().len()), (200, 20));
    let (s, p) = d
        .get(&r, "/api/events?after=20&after_id=not-this-history")
        .await;
    assert_eq!((s, p["type"].as_str()), (410, Some("replay-gone")));
    // The snapshot names its last event, for the next replay to send back.
    let snap = d.snapshot(&r).await;
    assert_eq!(snap["seq"], 40);
    let (_, page) = d.get(&r, "/api/events?after=39&limit=1").await;
    assert_eq!(snap["last_event_id"], page["events"][0]["id"]);
    // Malformed query.
    assert_eq!(d.get(&r, "/api/events?after=-1").await.0, 400);
    assert_eq!(d.get(&r, "/api/events").await.0, 400);

    // Push past retention (pruning runs every 256 events): early seqs are gone.
    for i in 40..300 {
        let (s, _) = d
            .post(
                &r,
                &format!("/api/threads/{thread}/messages"),
                json!({"client_id": format!("m{i}"), "body": "x"}),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (s, p) = d.get(&r, "/api/events?after=0").await;
    assert_eq!(
        (s, p["type"].as_str()),
        (410, Some("replay-gone")),
        "after=0 must be gone"
    );
    let (s, p) = d.get(&r, "/api/events?after=250&limit=1000").await;
    assert_eq!(s, 200);
    assert_eq!(p["events"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn idempotent_repeat_returns_the_first_answer_and_changes_nothing() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let body = apt_body(&d, 5);
    let (s1, a1) = d
        .send("POST", &r, "/api/appointments", body.clone(), Some("key-1"))
        .await;
    let (s2, a2) = d
        .send("POST", &r, "/api/appointments", body.clone(), Some("key-1"))
        .await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(a1, a2);
    // The booking and the patient it registered, once.
    assert_eq!(events_after(&d, &r, 0).await.len(), 2);
    let replayed = d
        .http
        .post(d.url("/api/appointments"))
        .bearer_auth(&r)
        .header("Idempotency-Key", "key-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");

    // Same key, different request: refused.
    let (s, p) = d
        .send(
            "POST",
            &r,
            "/api/appointments",
            apt_body(&d, 0),
            Some("key-1"),
        )
        .await;
    assert_eq!(
        (s, p["type"].as_str()),
        (422, Some("idempotency-key-reused"))
    );
    // Keys are per user: the admin may use the same key for their own request.
    let admin = d.login("admin").await.access_token;
    assert_eq!(
        d.send(
            "POST",
            &admin,
            "/api/appointments",
            apt_body(&d, 2),
            Some("key-1")
        )
        .await
        .0,
        201
    );
    // Bad keys.
    assert_eq!(
        d.send(
            "POST",
            &r,
            "/api/appointments",
            apt_body(&d, 0),
            Some("has space")
        )
        .await
        .0,
        400
    );

    // A message resent with the same client_id (no key) is stored once.
    let thread = &d.clinic.threads[0];
    let m = json!({"client_id": "dup", "body": "once"});
    let (_, m1) = d
        .post(&r, &format!("/api/threads/{thread}/messages"), m.clone())
        .await;
    let (_, m2) = d
        .post(&r, &format!("/api/threads/{thread}/messages"), m)
        .await;
    assert_eq!(m1["id"], m2["id"]);
    // Two bookings with their new patients, and the message once.
    assert_eq!(events_after(&d, &r, 0).await.len(), 5);
}

#[tokio::test]
async fn stale_version_gets_409_with_the_current_record() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let (_, apt) = d.post(&r, "/api/appointments", apt_body(&d, 4)).await;
    let id = apt["id"].as_str().unwrap();
    let (s, _) = d
        .patch(
            &r,
            &format!("/api/appointments/{id}"),
            json!({"version": 1, "status": "confirmed"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, p) = d
        .patch(
            &r,
            &format!("/api/appointments/{id}"),
            json!({"version": 1, "status": "cancelled"}),
        )
        .await;
    assert_eq!((s, p["type"].as_str()), (409, Some("conflict")));
    assert_eq!(p["current"]["status"], "confirmed");
    assert_eq!(p["current"]["version"], 2);
    // Queue entries too.
    let snap = d.snapshot(&r).await;
    let q = find_by(&snap, "queue", |q| q["status"] == "waiting");
    let (s, p) = d
        .patch(
            &r,
            &format!("/api/queue/{}", q["id"].as_str().unwrap()),
            json!({"version": 99, "priority": 3}),
        )
        .await;
    assert_eq!((s, p["current"]["id"].as_str()), (409, q["id"].as_str()));
    // Nothing was appended for the refusals (the booking, its new patient
    // and the confirmation are all there is).
    assert_eq!(events_after(&d, &r, 0).await.len(), 3);
}

#[tokio::test]
async fn invalid_input_and_transitions_are_clear_errors() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let snap = d.snapshot(&r).await;
    let done = find_by(&snap, "appointments", |a| a["status"] == "completed");
    let (s, p) = d
        .patch(
            &r,
            &format!("/api/appointments/{}", done["id"].as_str().unwrap()),
            json!({"version": done["version"], "status": "booked"}),
        )
        .await;
    assert_eq!((s, p["type"].as_str()), (422, Some("invalid-transition")));
    assert!(p["detail"].as_str().unwrap().contains("completed"));

    let mut bad = apt_body(&d, 1);
    bad["end"] = bad["start"].clone();
    let (s, p) = d.post(&r, "/api/appointments", bad).await;
    assert_eq!((s, p["type"].as_str()), (400, Some("invalid-input")), "{p}");

    let (s, _) = d
        .post(&r, "/api/appointments", json!({"provider_id": "nope"}))
        .await;
    assert_eq!(s, 400);
    let mut ghost = apt_body(&d, 1);
    ghost["provider_id"] = json!("prov_missing");
    assert_eq!(d.post(&r, "/api/appointments", ghost).await.0, 404);

    // Malformed JSON.
    let resp = d
        .http
        .post(d.url("/api/appointments"))
        .bearer_auth(&r)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Oversized body and message.
    let huge = "x".repeat(70 * 1024);
    let thread = &d.clinic.threads[0];
    let (s, p) = d
        .post(
            &r,
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "big", "body": huge}),
        )
        .await;
    assert_eq!((s, p["type"].as_str()), (413, Some("payload-too-large")));
    let (s, _) = d
        .post(
            &r,
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "big", "body": "y".repeat(4001)}),
        )
        .await;
    assert_eq!(s, 413);
    let (s, _) = d
        .post(
            &r,
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "e", "body": "   "}),
        )
        .await;
    assert_eq!(s, 400);

    // Calling next on an empty queue.
    let doc = d.login("doctor").await.access_token;
    loop {
        let (s, _) = d
            .post(
                &doc,
                "/api/queue/call-next",
                json!({"provider_id": d.clinic.providers[0]}),
            )
            .await;
        if s != 200 {
            assert_eq!(s, 404);
            break;
        }
    }
    assert_eq!(d.get(&r, "/api/nowhere").await.0, 404);
}

#[tokio::test]
async fn roles_allow_only_their_actions() {
    let d = demo_server(|_| {}).await;
    let doc = d.login("doctor").await.access_token;
    let admin = d.login("admin").await.access_token;
    let (s, p) = d.post(&doc, "/api/appointments", apt_body(&d, 2)).await;
    assert_eq!((s, p["type"].as_str()), (403, Some("forbidden")));
    // A doctor calls their own queue, not a colleague's.
    assert_eq!(
        d.post(
            &doc,
            "/api/queue/call-next",
            json!({"provider_id": d.clinic.providers[1]})
        )
        .await
        .0,
        403
    );
    assert_eq!(
        d.post(
            &doc,
            "/api/queue/call-next",
            json!({"provider_id": d.clinic.providers[0]})
        )
        .await
        .0,
        200
    );
    // A doctor may not reschedule or cancel.
    let snap = d.snapshot(&doc).await;
    let mine = find_by(&snap, "appointments", |a| {
        a["provider_id"] == d.clinic.providers[0] && a["status"] == "booked"
    });
    let path = format!("/api/appointments/{}", mine["id"].as_str().unwrap());
    assert_eq!(
        d.patch(
            &doc,
            &path,
            json!({"version": mine["version"], "status": "cancelled"})
        )
        .await
        .0,
        403
    );
    // Only admins create displays.
    let body = json!({"name": "Lobby", "provider_ids": [d.clinic.providers[0]]});
    assert_eq!(d.post(&doc, "/api/displays", body.clone()).await.0, 403);
    let (s, disp) = d.post(&admin, "/api/displays", body).await;
    assert_eq!(s, 201, "{disp}");
    let display_token = disp["token"].as_str().unwrap();
    // A display reads its board and nothing else.
    assert_eq!(d.get(display_token, "/api/snapshot").await.0, 403);
    assert_eq!(d.get(display_token, "/api/events?after=0").await.0, 403);
    assert_eq!(
        d.post(
            display_token,
            "/api/queue/call-next",
            json!({"provider_id": d.clinic.providers[0]})
        )
        .await
        .0,
        403
    );
    let (s, board) = d.get(display_token, "/api/board").await;
    assert_eq!(s, 200);
    assert!(!board["queue"].as_array().unwrap().is_empty());
    for q in board["queue"].as_array().unwrap() {
        assert_eq!(q["provider_id"], d.clinic.providers[0]);
        assert!(q.get("patient").is_none(), "board shows no patient: {q}");
        assert!(q["initials"].as_str().unwrap().ends_with('.'));
    }
    assert!(!board.to_string().contains("Kowalski"));
    // Staff may not read a board with their own token.
    assert_eq!(d.get(&admin, "/api/board").await.0, 403);
    // A display board with an unknown provider is refused.
    let (s, _) = d
        .post(
            &admin,
            "/api/displays",
            json!({"name": "X", "provider_ids": ["prov_x"]}),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn tenants_are_isolated() {
    let d = demo_server(|_| {}).await;
    let demo_r = d.login("reception").await.access_token;
    let other_r = d.login_to("other", "reception").await.access_token;
    let (_, apt) = d.post(&demo_r, "/api/appointments", apt_body(&d, 3)).await;
    let id = apt["id"].as_str().unwrap();
    // The other clinic cannot see, change or check in the demo's records.
    let other_snap = d.snapshot(&other_r).await;
    assert!(!other_snap.to_string().contains(id));
    assert_eq!(other_snap["seq"], 0);
    assert_eq!(
        d.patch(
            &other_r,
            &format!("/api/appointments/{id}"),
            json!({"version": 1, "status": "confirmed"})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        d.post(&other_r, "/api/queue", json!({"appointment_id": id}))
            .await
            .0,
        404
    );
    let thread = &d.clinic.threads[0];
    assert_eq!(
        d.post(
            &other_r,
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "x", "body": "hi"})
        )
        .await
        .0,
        404
    );
    let (s, page) = d.get(&other_r, "/api/events?after=0").await;
    assert_eq!((s, page["latest_seq"].as_u64()), (200, Some(0)));
    // Each tenant has its own seq.
    let other_thread = find_by(&other_snap, "threads", |_| true)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = d
        .post(
            &other_r,
            &format!("/api/threads/{other_thread}/messages"),
            json!({"client_id": "x", "body": "hi"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(events_after(&d, &other_r, 0).await[0]["seq"], 1);
}

#[tokio::test]
async fn updates_that_change_nothing_append_nothing() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let (_, apt) = d.post(&r, "/api/appointments", apt_body(&d, 4)).await;
    let path = format!("/api/appointments/{}", apt["id"].as_str().unwrap());
    let (s, same) = d
        .patch(
            &r,
            &path,
            json!({"version": 1, "status": "booked", "reason": "Sore throat"}),
        )
        .await;
    assert_eq!((s, same["version"].as_u64()), (200, Some(1)), "{same}");
    // A read marker never moves backwards.
    let thread = &d.clinic.threads[0];
    let (_, m1) = d
        .post(
            &r,
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "a", "body": "one"}),
        )
        .await;
    let (_, m2) = d
        .post(
            &r,
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "b", "body": "two"}),
        )
        .await;
    let (s, mark) = d
        .post(
            &r,
            &format!("/api/threads/{thread}/read"),
            json!({"message_id": m2["id"]}),
        )
        .await;
    assert_eq!((s, &mark["message_id"]), (200, &m2["id"]));
    let (s, mark) = d
        .post(
            &r,
            &format!("/api/threads/{thread}/read"),
            json!({"message_id": m1["id"]}),
        )
        .await;
    assert_eq!(
        (s, &mark["message_id"]),
        (200, &m2["id"]),
        "stays at the newer message"
    );
    let kinds: Vec<String> = events_after(&d, &r, 0)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "appointment.created",
            "patient.created",
            "message.created",
            "message.created",
            "thread.read"
        ]
    );
}

#[tokio::test]
async fn cancelling_a_checked_in_appointment_closes_its_ticket() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let (_, apt) = d.post(&r, "/api/appointments", apt_body(&d, 3)).await;
    let path = format!("/api/appointments/{}", apt["id"].as_str().unwrap());
    // Arriving happens through check-in, which also issues the ticket.
    let (s, p) = d
        .patch(&r, &path, json!({"version": 1, "status": "arrived"}))
        .await;
    assert_eq!((s, p["type"].as_str()), (422, Some("invalid-transition")));
    assert!(p["detail"].as_str().unwrap().contains("POST /api/queue"));
    let (_, checked) = d
        .post(&r, "/api/queue", json!({"appointment_id": apt["id"]}))
        .await;
    let version = checked["appointment"]["version"].clone();
    let (s, c) = d
        .patch(
            &r,
            &path,
            json!({"version": version, "status": "cancelled"}),
        )
        .await;
    assert_eq!((s, c["status"].as_str()), (200, Some("cancelled")));
    let events = events_after(&d, &r, 0).await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "queue.updated");
    assert_eq!(last["data"]["id"], checked["entry"]["id"]);
    assert_eq!(last["data"]["status"], "no_show");
    assert_eq!(events[events.len() - 2]["type"], "appointment.cancelled");
}

#[tokio::test]
async fn idempotency_ignores_json_formatting() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let thread = &d.clinic.threads[0];
    let url = d.url(&format!("/api/threads/{thread}/messages"));
    let mut ids = Vec::new();
    for raw in [
        r#"{"client_id":"f","body":"hi"}"#,
        r#"{ "body": "hi",  "client_id": "f" }"#,
    ] {
        let resp = d
            .http
            .post(&url)
            .bearer_auth(&r)
            .header("Idempotency-Key", "fmt-1")
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        ids.push(resp.json::<Value>().await.unwrap()["id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
}

#[tokio::test]
async fn a_snapshot_covers_the_sync_window_and_only_the_patients_it_names() {
    // 10:00 UTC on 2026-11-22 (the demo tenant's zone is the machine's; the
    // days below are far enough from midnight for any zone within ±9 h).
    let at: chrono::DateTime<chrono::Utc> = "2026-11-22T10:00:00Z".parse().unwrap();
    let clock = std::sync::Arc::new(clinic_server::clock::ManualClock::new(at));
    let server_clock = clock.clone();
    let d = demo_server(|c| c.clock = server_clock).await;
    let r = d.login("reception").await.access_token;
    let book = |days: i64, name: &str| {
        let start = at + chrono::Duration::days(days);
        json!({
            "patient": {"name": name},
            "provider_id": d.clinic.providers[0],
            "start": start,
            "end": start + chrono::Duration::minutes(20),
            "reason": "",
        })
    };
    for (days, name) in [
        (-8, "Too Early"),
        (-7, "First Day"),
        (30, "Last Day"),
        (31, "Too Late"),
    ] {
        let (s, body) = d.post(&r, "/api/appointments", book(days, name)).await;
        assert_eq!(s, 201, "{body}");
    }
    let snap = d.snapshot(&r).await;
    assert_eq!(snap["window"]["from"], "2026-11-15");
    assert_eq!(snap["window"]["to"], "2026-12-22");
    assert_eq!(
        snap["holds"]["from"], "2026-11-22",
        "the snapshot holds today"
    );
    assert_eq!(snap["holds"]["to"], "2026-11-22");
    assert_eq!(snap["tenant"]["window_days_back"], 7);
    assert_eq!(snap["tenant"]["window_days_ahead"], 30);
    let names = |v: &Value, key: &str, field: &dyn Fn(&Value) -> String| -> Vec<String> {
        v[key].as_array().unwrap().iter().map(field).collect()
    };
    let patient_name = |a: &Value| a["patient"]["name"].as_str().unwrap().to_owned();
    let name = |p: &Value| p["name"].as_str().unwrap().to_owned();
    assert_eq!(
        names(&snap, "appointments", &patient_name).len(),
        24,
        "the demo day"
    );
    assert_eq!(names(&snap, "patients", &name).len(), 24);
    // The rest of the window, on demand: exactly its edges, nothing outside.
    let (_, page) = d
        .get(
            &r,
            "/api/appointments?from=2026-11-15&to=2026-12-22&limit=1000",
        )
        .await;
    let booked = names(&page, "appointments", &patient_name);
    assert!(booked.contains(&"First Day".to_owned()) && booked.contains(&"Last Day".to_owned()));
    assert!(!booked.contains(&"Too Early".to_owned()) && !booked.contains(&"Too Late".to_owned()));
    assert_eq!(
        booked.len(),
        24 + 2,
        "the demo day and the two in the window"
    );
    assert_eq!(
        names(&page, "patients", &name).len(),
        24 + 2,
        "only the patients they name"
    );
    // A day later the window has moved on by a day.
    clock.advance(std::time::Duration::from_secs(24 * 3600));
    let r = d.login("reception").await.access_token;
    let snap = d.snapshot(&r).await;
    assert_eq!(snap["window"]["from"], "2026-11-16");
    assert_eq!(snap["window"]["to"], "2026-12-23");
    assert_eq!(snap["holds"]["from"], "2026-11-23");
}

#[tokio::test]
async fn events_about_appointments_outside_the_window_reach_desks_redacted() {
    let at: chrono::DateTime<chrono::Utc> = "2026-11-22T10:00:00Z".parse().unwrap();
    let clock = std::sync::Arc::new(clinic_server::clock::ManualClock::new(at));
    let server_clock = clock.clone();
    let d = demo_server(|c| c.clock = server_clock).await;
    let r = d.login("reception").await.access_token;
    let mut desk = d.socket(&r).await;
    let day = |n: i64| at + chrono::Duration::days(n);
    let start = day(1);
    let (s, a) = d
        .post(
            &r,
            "/api/appointments",
            json!({"patient": {"name": "Ida Window"}, "provider_id": d.clinic.providers[0],
                   "start": start, "end": start + chrono::Duration::minutes(20), "reason": ""}),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    let id = a["id"].as_str().unwrap().to_owned();
    let created = desk.expect("appointment.created").await;
    assert_eq!(
        created["data"]["patient"]["name"], "Ida Window",
        "inside: whole"
    );

    let mut version = 1;
    let mut move_to = async |n: i64| {
        move_appointment(&d, &r, &id, version, day(n)).await;
        version += 1;
        desk.expect("appointment.updated").await
    };
    // Out of the window (30 days ahead is the last day in it): redacted, and
    // the desks that held it are told to delete it.
    let left = move_to(40).await;
    assert_eq!(left["redacted"], true);
    assert!(left["data"].is_null(), "no patient data leaves the window");
    assert_eq!(left["evict"], json!({"kind": "appointment", "id": id}));
    // Moved again outside: nothing for anyone.
    let outside = move_to(41).await;
    assert_eq!(outside["redacted"], true);
    assert!(outside.get("evict").is_none());
    // Back in: whole again.
    let back = move_to(2).await;
    assert_eq!(back["data"]["patient"]["name"], "Ida Window");

    // A replay says the same, by the window of the moment it is asked (from
    // after the patient registered with the booking).
    let seq = created["seq"].as_u64().unwrap() + 1;
    let (_, page) = d
        .get(&r, &format!("/api/events?after={}&limit=10", seq))
        .await;
    let evs = page["events"].as_array().unwrap();
    assert_eq!(evs[0]["evict"]["id"], id);
    assert!(evs[1]["data"].is_null());
    assert_eq!(evs[2]["data"]["patient"]["name"], "Ida Window");
    // Half a year later the window has moved past all of these days:
    // replayed again, the same events are all redacted (a desk drops those
    // days by itself as its window moves).
    clock.advance(std::time::Duration::from_secs(200 * 24 * 3600));
    let r = d.login("reception").await.access_token;
    let (_, page) = d
        .get(&r, &format!("/api/events?after={}&limit=10", seq - 1))
        .await;
    let evs = page["events"].as_array().unwrap();
    assert!(evs.iter().all(|e| e["data"].is_null()), "{evs:?}");
}

#[tokio::test]
async fn any_day_is_read_on_demand_a_page_at_a_time_with_its_patients() {
    let at: chrono::DateTime<chrono::Utc> = "2026-11-22T10:00:00Z".parse().unwrap();
    let clock = std::sync::Arc::new(clinic_server::clock::ManualClock::new(at));
    let server_clock = clock.clone();
    let d = demo_server(|c| c.clock = server_clock).await;
    let r = d.login("reception").await.access_token;
    // Sixty days ahead, outside the window: five with the first provider, one
    // with the second.
    let day = at + chrono::Duration::days(60);
    for i in 0..6 {
        let provider = &d.clinic.providers[usize::from(i == 5)];
        let start = day + chrono::Duration::minutes(30 * i);
        let (s, b) = d
            .post(
                &r,
                "/api/appointments",
                json!({"patient": {"name": format!("Later {i}")}, "provider_id": provider,
                       "start": start, "end": start + chrono::Duration::minutes(20), "reason": ""}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let date = day.date_naive();
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let (s, page) = d
            .get(
                &r,
                &format!(
                    "/api/appointments?from={date}&to={date}&provider_id={}&limit=2{cursor}",
                    d.clinic.providers[0]
                ),
            )
            .await;
        assert_eq!(s, 200, "{page}");
        pages += 1;
        assert_eq!(page["seq"], 12, "six bookings, each with its new patient");
        for a in page["appointments"].as_array().unwrap() {
            seen.push(a["patient"]["name"].as_str().unwrap().to_owned());
        }
        // Each page names exactly its own patients.
        assert_eq!(
            page["patients"].as_array().unwrap().len(),
            page["appointments"].as_array().unwrap().len()
        );
        match page["next"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        ["Later 0", "Later 1", "Later 2", "Later 3", "Later 4"]
    );
    // All providers; a range of days; today's demo day too.
    let (_, page) = d
        .get(&r, &format!("/api/appointments?from={date}&to={date}"))
        .await;
    assert_eq!(page["appointments"].as_array().unwrap().len(), 6);
    let today = at.date_naive();
    let (_, page) = d
        .get(&r, &format!("/api/appointments?from={today}&to={today}"))
        .await;
    assert_eq!(page["appointments"].as_array().unwrap().len(), 24);
    // Clear refusals.
    for bad in [
        format!("/api/appointments?from={date}&to={today}"),
        format!("/api/appointments?from={today}&to=2027-12-31"),
        "/api/appointments?from=yesterday&to=today".to_owned(),
        format!("/api/appointments?from={today}&to={today}&cursor=nonsense"),
    ] {
        let (s, p) = d.get(&r, &bad).await;
        assert_eq!(
            (s, p["type"].as_str()),
            (400, Some("invalid-input")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_clinic_with_history_snapshots_only_its_window() {
    let d = demo_server_with_history(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let snap = d.snapshot(&r).await;
    // The snapshot: today's day only, however long the history.
    assert_eq!(snap["appointments"].as_array().unwrap().len(), 24);
    assert_eq!(snap["patients"].as_array().unwrap().len(), 24);
    let (from, to) = (
        snap["window"]["from"].as_str().unwrap().to_owned(),
        snap["window"]["to"].as_str().unwrap().to_owned(),
    );
    // The window's days, read a page at a time as a desk fills them.
    let mut appointments = Vec::new();
    let mut patients = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, page) = d
            .get(
                &r,
                &format!("/api/appointments?from={from}&to={to}&limit=500{cursor}"),
            )
            .await;
        assert_eq!(s, 200, "{page}");
        appointments.extend(page["appointments"].as_array().unwrap().clone());
        patients.extend(page["patients"].as_array().unwrap().clone());
        match page["next"].as_str() {
            Some(n) => cursor = format!("&cursor={n}"),
            None => break,
        }
    }
    assert!(
        appointments.len() > 24,
        "the window holds more than the demo day"
    );
    assert!(
        appointments.len() < 5_000 / 2,
        "but far from the clinic's history"
    );
    // Only the patients those name, out of a roll of thousands (one seen
    // twice in the window may be on two pages).
    let ids = |v: &[Value], f: &dyn Fn(&Value) -> &str| {
        let mut ids: Vec<String> = v.iter().map(|x| f(x).to_owned()).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let named = ids(&appointments, &|a| a["patient"]["id"].as_str().unwrap());
    let listed = ids(&patients, &|p| p["id"].as_str().unwrap());
    assert_eq!(listed, named);
    assert!(listed.len() < 3_000);
}

#[tokio::test]
async fn older_messages_are_read_back_a_page_at_a_time_by_members_only() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let thread = &d.clinic.threads[0]; // reception and doctor; 2 seeded
    for i in 0..120 {
        let (s, _) = d
            .post(
                &r,
                &format!("/api/threads/{thread}/messages"),
                json!({"client_id": format!("old-{i}"), "body": format!("note {i}")}),
            )
            .await;
        assert_eq!(s, 201);
    }
    // The snapshot carries the 50 most recent.
    let snap = d.snapshot(&r).await;
    let held: Vec<&Value> = snap["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["thread_id"] == thread.as_str())
        .collect();
    assert_eq!(held.len(), 50);
    assert_eq!(held[49]["body"], "note 119");
    // Scrolling back: the 50 before the oldest held, then the rest.
    let mut oldest = held[0]["id"].as_str().unwrap().to_owned();
    let mut bodies = Vec::new();
    loop {
        let (s, page) = d
            .get(
                &r,
                &format!("/api/threads/{thread}/messages?before={oldest}&limit=50"),
            )
            .await;
        assert_eq!(s, 200, "{page}");
        let msgs = page["messages"].as_array().unwrap();
        for m in msgs.iter().rev() {
            bodies.push(m["body"].as_str().unwrap().to_owned());
        }
        if page["more"] == false {
            break;
        }
        oldest = msgs[0]["id"].as_str().unwrap().to_owned();
    }
    assert_eq!(bodies.len(), 70 + 2, "the rest, and the two seeded");
    assert_eq!(bodies[0], "note 69");
    assert_eq!(bodies[69], "note 0");
    // Not a member: as if there were no such thread.
    let doctor2 = d.login("doctor2").await.access_token;
    let (s, _) = d
        .get(&doctor2, &format!("/api/threads/{thread}/messages"))
        .await;
    assert_eq!(s, 404);
    let (s, _) = d
        .get(
            &r,
            &format!("/api/threads/{thread}/messages?before=msg_unknown"),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn a_desk_watching_a_day_outside_the_window_gets_its_events_whole() {
    let at: chrono::DateTime<chrono::Utc> = "2026-11-22T10:00:00Z".parse().unwrap();
    let clock = std::sync::Arc::new(clinic_server::clock::ManualClock::new(at));
    let d = demo_server(|c| c.clock = clock).await;
    let r = d.login("reception").await.access_token;
    let zone: chrono_tz::Tz = d.snapshot(&r).await["tenant"]["time_zone"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let day = |n: i64| at + chrono::Duration::days(n);
    let local = |n: i64| day(n).with_timezone(&zone).date_naive().to_string();
    let mut watcher = d.socket(&r).await;
    let mut other = d.socket(&d.login("reception").await.access_token).await;
    let ack = watcher
        .emit_ack("watch", json!({"days": [local(40), local(41)]}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");

    let (s, a) = d
        .post(
            &r,
            "/api/appointments",
            json!({"patient": {"name": "Ivo Watched"}, "provider_id": d.clinic.providers[0],
                   "start": day(40), "end": day(40) + chrono::Duration::minutes(20), "reason": ""}),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    let id = a["id"].as_str().unwrap().to_owned();
    let seen = watcher.expect("appointment.created").await;
    assert_eq!(seen["data"]["patient"]["name"], "Ivo Watched", "{seen}");
    let scoped = other.expect("appointment.created").await;
    assert_eq!(scoped["redacted"], true, "not watching: redacted");
    assert_eq!(seen["seq"], scoped["seq"], "one event, two presentations");

    let mut version = 1;
    let mut move_to = async |n: i64| {
        move_appointment(&d, &r, &id, version, day(n)).await;
        version += 1;
    };
    async fn both(a: &mut SioClient, b: &mut SioClient) -> (Value, Value) {
        (
            a.expect("appointment.updated").await,
            b.expect("appointment.updated").await,
        )
    }
    // Moved within the watched days, into the window, and back out.
    move_to(41).await;
    let (seen, scoped) = both(&mut watcher, &mut other).await;
    assert_eq!(seen["data"]["start"], json!(day(41)));
    assert_eq!(scoped["redacted"], true);
    move_to(2).await;
    let (seen, scoped) = both(&mut watcher, &mut other).await;
    assert_eq!(seen["data"]["patient"]["name"], "Ivo Watched");
    assert_eq!(scoped["data"]["patient"]["name"], "Ivo Watched");
    move_to(40).await;
    let (seen, scoped) = both(&mut watcher, &mut other).await;
    assert_eq!(
        seen["data"]["start"],
        json!(day(40)),
        "the watcher keeps it"
    );
    assert!(seen.get("evict").is_none());
    assert_eq!(scoped["evict"]["id"], id, "the others delete it");

    // Stopped watching: redacted like everyone else.
    let ack = watcher.emit_ack("watch", json!({"days": []})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    move_to(41).await;
    let (seen, _) = both(&mut watcher, &mut other).await;
    assert_eq!(seen["redacted"], true, "{seen}");

    // More than a week, or not days: refused by name, nothing joined.
    let days: Vec<String> = (40..48).map(local).collect();
    let ack = watcher.emit_ack("watch", json!({ "days": days })).await;
    assert_eq!(ack["ok"], false);
    assert!(
        ack["error"].as_str().unwrap().contains("at most 7"),
        "{ack}"
    );
    let ack = watcher.emit_ack("watch", json!({"days": ["soon"]})).await;
    assert_eq!(ack["ok"], false);
    assert!(ack["error"].as_str().unwrap().contains("watch"), "{ack}");
    move_to(40).await;
    let (seen, _) = both(&mut watcher, &mut other).await;
    assert_eq!(seen["redacted"], true, "{seen}");
}

#[tokio::test]
async fn a_snapshot_carries_the_users_unread_notifications_only() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let doc = d.login("doctor").await.access_token;
    let mine = |snap: &Value, kind: &str| -> usize {
        snap["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == kind)
            .count()
    };
    // An urgent message from the doctor in their thread with reception.
    let thread = &d.clinic.threads[0];
    let (s, m) = d
        .post(
            &doc,
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "n1", "body": "Call the lab", "urgent": true}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    assert_eq!(mine(&d.snapshot(&r).await, "message.urgent"), 1, "unread");
    let (s, b) = d
        .post(
            &r,
            &format!("/api/threads/{thread}/read"),
            json!({"message_id": m["id"]}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        mine(&d.snapshot(&r).await, "message.urgent"),
        0,
        "read since"
    );

    // A walk-in for the doctor: unread while the patient waits.
    let (s, q) = d
        .post(
            &r,
            "/api/queue",
            json!({"provider_id": d.clinic.providers[0], "patient": {"name": "Noa Tify"}}),
        )
        .await;
    assert_eq!(s, 201, "{q}");
    let arrived = mine(&d.snapshot(&doc).await, "patient.arrived");
    assert!(arrived >= 1, "the arrival is unread");
    let (s, b) = d
        .patch(
            &r,
            &format!("/api/queue/{}", q["entry"]["id"].as_str().unwrap()),
            json!({"version": q["entry"]["version"], "status": "called"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        mine(&d.snapshot(&doc).await, "patient.arrived"),
        arrived - 1,
        "called in: no longer news"
    );
}
