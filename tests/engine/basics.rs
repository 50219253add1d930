//! Sign in, snapshot, live events, outbox, offline work, restarts.

use frontdesk_e2e::*;
use frontdesk_engine::cache::outbox::{DeskAction, OutboxState};
use frontdesk_engine::cache::{Cache, Kind};
use frontdesk_engine::engine::Update;
use frontdesk_engine::supervisor::ConnState;
use frontdesk_protocol::api::PostMessage;
use frontdesk_protocol::records::{Appointment, Message, QueueEntry};
use serde_json::json;

fn count(c: &Cache, kind: Kind) -> u64 {
    c.count(kind).unwrap()
}

#[tokio::test]
async fn signs_in_snapshots_and_follows_live_changes() {
    let clinic = Clinic::start(|_| {}).await;
    let mut me = Client::sign_in(&clinic.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("snapshot", |c| count(c, Kind::Appointment) == 24)
        .await;

    // Another desk checks a patient in: the engine applies it live.
    let other = Desk::login(&clinic.url(), "admin").await;
    let snap = other.get("/api/snapshot").await;
    let booked = snap["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["status"] == "booked")
        .unwrap()
        .clone();
    let (s, _) = other
        .post("/api/queue", json!({"appointment_id": booked["id"]}))
        .await;
    assert_eq!(s, 201);
    let id = booked["id"].as_str().unwrap().to_owned();
    me.wait_cache("check-in applied", |c| {
        c.get::<Appointment>(Kind::Appointment, &id)
            .unwrap()
            .is_some_and(|a| a.status.as_str() == "arrived")
    })
    .await;
    let c = me.handle.reader().unwrap();
    assert_eq!(
        c.last_seq().unwrap(),
        Some(3),
        "appointment.updated, queue.updated, notification.created"
    );
}

#[tokio::test]
async fn actions_go_through_the_outbox_and_apply_once() {
    let clinic = Clinic::start(|_| {}).await;
    let mut me = Client::sign_in(&clinic.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    let thread = clinic.clinic.threads[0].clone();
    let entry = me
        .handle
        .act(DeskAction::SendMessage {
            thread_id: thread.clone(),
            body: PostMessage {
                client_id: "c-1".into(),
                body: "Mrs K. is here".into(),
                urgent: false,
            },
        })
        .await
        .unwrap();
    assert_eq!(entry.state, OutboxState::Pending);
    me.wait_cache("message echoed into the cache and outbox empty", |c| {
        c.outbox_list().unwrap().is_empty()
            && c.list::<Message>(Kind::Message)
                .unwrap()
                .iter()
                .any(|m| m.client_id == "c-1")
    })
    .await;
}

#[tokio::test]
async fn offline_actions_are_kept_and_applied_exactly_once_after_reconnect() {
    let mut clinic = Clinic::start(|_| {}).await;
    let mut me = Client::sign_in(&clinic.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("snapshot", |c| count(c, Kind::Appointment) == 24)
        .await;
    clinic.stop().await;
    me.wait_state(ConnState::Reconnecting).await;

    let thread = clinic.clinic.threads[1].clone();
    for i in 0..100 {
        let e = me
            .handle
            .act(DeskAction::SendMessage {
                thread_id: thread.clone(),
                body: PostMessage {
                    client_id: format!("off-{i}"),
                    body: format!("offline {i}"),
                    urgent: false,
                },
            })
            .await
            .unwrap();
        assert_eq!(e.state, OutboxState::Pending);
    }
    // The cached day stays readable while offline, with the work pending.
    let c = me.handle.reader().unwrap();
    assert_eq!(count(&c, Kind::Appointment), 24);
    assert_eq!(c.outbox_list().unwrap().len(), 100);

    clinic.restart().await;
    me.handle.retry_now().unwrap();
    me.wait_state(ConnState::Live).await;
    me.wait_cache("all 100 sent and echoed", |c| {
        c.outbox_list().unwrap().is_empty()
            && c.list::<Message>(Kind::Message)
                .unwrap()
                .iter()
                .filter(|m| m.client_id.starts_with("off-"))
                .count()
                == 100
    })
    .await;
    // Exactly once on the server too, in the order they were taken.
    let desk = Desk::login(&clinic.url(), "reception").await;
    let page = desk.get("/api/events?after=0&limit=1000").await;
    let bodies: Vec<String> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "message.created")
        .map(|e| e["data"]["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        bodies,
        (0..100).map(|i| format!("offline {i}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_restarted_server_loses_nothing_mid_stream() {
    let mut clinic = Clinic::start(|_| {}).await;
    let mut me = Client::sign_in(&clinic.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    let thread = clinic.clinic.threads[1].clone();
    let desk = Desk::login(&clinic.url(), "doctor2").await;
    for i in 0..30 {
        desk.post(
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": format!("a{i}"), "body": "before"}),
        )
        .await;
    }
    clinic.restart().await;
    // Events committed while the engine is away are replayed, not lost.
    let desk = Desk::login(&clinic.url(), "doctor2").await;
    for i in 0..30 {
        desk.post(
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": format!("b{i}"), "body": "after"}),
        )
        .await;
    }
    me.handle.retry_now().unwrap();
    me.wait_state(ConnState::Live).await;
    me.wait_cache("all 60 messages", |c| c.last_seq().unwrap() == Some(60))
        .await;
    let c = me.handle.reader().unwrap();
    let mine: Vec<Message> = c.list(Kind::Message).unwrap();
    assert_eq!(
        mine.iter()
            .filter(|m| m.client_id.starts_with('a') || m.client_id.starts_with('b'))
            .count(),
        60
    );
}

#[tokio::test]
async fn a_conflict_is_kept_visible_with_both_versions() {
    let clinic = Clinic::start(|_| {}).await;
    let mut me = Client::sign_in(&clinic.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("snapshot", |c| count(c, Kind::Queue) > 0)
        .await;
    let c = me.handle.reader().unwrap();
    let waiting = c
        .list::<QueueEntry>(Kind::Queue)
        .unwrap()
        .into_iter()
        .find(|q| q.status.as_str() == "waiting")
        .unwrap();
    // Someone else changes the ticket first.
    let desk = Desk::login(&clinic.url(), "admin").await;
    let (s, _) = desk
        .post(
            "/api/queue/call-next",
            json!({"provider_id": waiting.provider_id}),
        )
        .await;
    assert_eq!(s, 200);
    // Our action still carries the old version.
    let stale = DeskAction::UpdateTicket {
        id: waiting.id.clone(),
        body: frontdesk_protocol::api::UpdateQueueEntry {
            version: waiting.version,
            priority: Some(5),
            ..Default::default()
        },
    };
    me.handle.act(stale).await.unwrap();
    me.wait_cache("conflict recorded", |c| {
        c.outbox_list()
            .unwrap()
            .first()
            .is_some_and(|e| e.state == OutboxState::Conflict)
    })
    .await;
    let e = me.handle.reader().unwrap().outbox_list().unwrap().remove(0);
    let both = e.conflict.unwrap();
    assert_eq!(both.mine["priority"], 5);
    assert_eq!(both.current.as_ref().unwrap()["status"], "called");
    assert!(e.error.unwrap().contains("conflict"));
}

#[tokio::test]
async fn an_app_restart_resumes_from_the_cache_and_replays() {
    let clinic = Clinic::start(|_| {}).await;
    let mut me = Client::sign_in(&clinic.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("snapshot", |c| count(c, Kind::Appointment) == 24)
        .await;
    me.handle.shutdown().await;
    let thread = clinic.clinic.threads[1].clone();
    let desk = Desk::login(&clinic.url(), "admin").await;
    for i in 0..5 {
        desk.post(
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": format!("x{i}"), "body": "while closed"}),
        )
        .await;
    }
    me.restart().await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("replayed the 5", |c| c.last_seq().unwrap() == Some(5))
        .await;
    let mut saw_resync = false;
    while let Ok(u) = me.updates.try_recv() {
        saw_resync |= matches!(u, Update::Resynced { .. });
    }
    assert!(!saw_resync, "a replay, not a new snapshot");
}

#[tokio::test]
async fn logout_revokes_and_wipes() {
    let clinic = Clinic::start(|_| {}).await;
    let mut me = Client::sign_in(&clinic.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    let path = me.config.cache_path();
    assert!(path.exists());
    me.handle.logout().await.unwrap();
    assert_eq!(me.handle.state(), ConnState::SignedOut);
    assert!(!path.exists(), "cache wiped");
    assert!(!frontdesk_engine::engine::has_session(&me.config, me.secrets.as_ref()).unwrap());
}

#[tokio::test]
async fn an_appointment_moved_out_of_the_window_leaves_the_desk_with_its_patient() {
    let clinic = Clinic::start(|_| {}).await;
    let mut me = Client::sign_in(&clinic.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("snapshot", |c| count(c, Kind::Appointment) == 24)
        .await;
    let other = Desk::login(&clinic.url(), "admin").await;
    // Inside the provider's hours whatever time the test runs.
    let start = crate::at(2, 10, 0);
    let (s, a) = other
        .post(
            "/api/appointments",
            json!({"patient": {"name": "Winona Edge"}, "provider_id": clinic.clinic.providers[0],
                   "start": start, "end": start + chrono::Duration::minutes(20), "reason": ""}),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    let id = a["id"].as_str().unwrap().to_owned();
    let patient = a["patient"]["id"].as_str().unwrap().to_owned();
    me.wait_cache("the booking", |c| count(c, Kind::Appointment) == 25)
        .await;
    assert!(
        me.handle
            .reader()
            .unwrap()
            .get::<serde_json::Value>(Kind::Patient, &patient)
            .unwrap()
            .is_some()
    );
    // Moved two months ahead by the other desk: out of this desk's window.
    let later = start + chrono::Duration::days(60);
    let (s, b) = other
        .patch(
            &format!("/api/appointments/{id}"),
            json!({"version": 1, "start": later, "end": later + chrono::Duration::minutes(20)}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    me.wait_cache("evicted", |c| count(c, Kind::Appointment) == 24)
        .await;
    let reader = me.handle.reader().unwrap();
    assert!(
        reader
            .get::<Appointment>(Kind::Appointment, &id)
            .unwrap()
            .is_none()
    );
    assert!(
        reader
            .get::<serde_json::Value>(Kind::Patient, &patient)
            .unwrap()
            .is_none(),
        "the patient is gone from the desk's file"
    );
    // The day is still there on demand, as of now.
    let day = later.date_naive();
    let page = other
        .get(&format!("/api/appointments?from={day}&to={day}"))
        .await;
    assert_eq!(page["appointments"][0]["id"], id);
}

#[tokio::test]
async fn a_desk_reads_a_thread_back_beyond_its_snapshot() {
    let clinic = Clinic::start(|_| {}).await;
    let doctor = Desk::login(&clinic.url(), "doctor").await;
    let thread = clinic.clinic.threads[0].clone();
    doctor
        .post_messages(&thread, 80, |i| format!("older {i}"))
        .await;
    let in_thread = |c: &Cache| {
        c.list::<Message>(Kind::Message)
            .unwrap()
            .into_iter()
            .filter(|m| m.thread_id == thread)
            .count()
    };
    let mut me = Client::sign_in(&clinic.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("the snapshot's 50", |c| in_thread(c) == 50)
        .await;
    me.handle.load_older(&thread).unwrap();
    me.wait_cache("the rest of the thread", |c| in_thread(c) == 82)
        .await;
    let got = loop {
        match me.updates.recv().await.unwrap() {
            Update::OlderMessages {
                thread: t,
                count,
                more,
            } if t == thread => break (count, more),
            _ => continue,
        }
    };
    assert_eq!(got, (32, false), "80 posted + 2 seeded, 50 already held");
}
