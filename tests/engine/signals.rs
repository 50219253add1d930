//! Sign-out, 410 resnapshot, refusals, presence and typing between two engines.

use frontdesk_e2e::*;
use frontdesk_engine::cache::Kind;
use frontdesk_engine::cache::outbox::{DeskAction, OutboxState};
use frontdesk_engine::engine::Update;
use frontdesk_engine::supervisor::ConnState;
use frontdesk_protocol::api::{PostMessage, UpdateAppointment};
use frontdesk_protocol::records::{Appointment, PresenceState};
use frontdesk_protocol::status::AppointmentStatus;
use serde_json::json;
use std::time::Duration;

async fn next_where(me: &mut Client, what: &str, pred: impl Fn(&Update) -> bool) -> Update {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, me.updates.recv()).await {
            Ok(Ok(u)) if pred(&u) => return u,
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("no {what} within {WAIT:?}"),
        }
    }
}

#[tokio::test]
async fn a_revoked_login_signs_the_engine_out() {
    let mut clinic = Clinic::start(|_| {}).await;
    let clock = std::sync::Arc::new(MovableClock::default());
    let desk_clock = clock.clone();
    let mut me = Client::sign_in_with(&clinic.url(), "reception", |c| c.clock = desk_clock).await;
    me.wait_state(ConnState::Live).await;
    // Someone replays our refresh token elsewhere: the server revokes the login.
    let name = format!("refresh-token:{}", me.config.identity());
    let stolen = me.secrets.get(&name).unwrap().unwrap();
    let http = reqwest::Client::new();
    // (The engine may have rotated it already; either way the second use is a reuse.)
    let _ = http
        .post(format!("{}/api/auth/refresh", clinic.url()))
        .json(&json!({"refresh_token": stolen}))
        .send()
        .await
        .unwrap();
    let r = http
        .post(format!("{}/api/auth/refresh", clinic.url()))
        .json(&json!({"refresh_token": stolen}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "reuse detected, login revoked");
    // The laptop sleeps through the server's restart and wakes an hour later:
    // its access token is stale, the refresh is refused, and it is signed
    // out with no retry loop (the loop itself is ruled out on virtual time,
    // crates/engine/tests/virtual).
    clinic.stop().await;
    clock.jump(Duration::from_secs(3600));
    clinic.restart().await;
    me.handle.retry_now().unwrap();
    me.wait_state(ConnState::SignedOut).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(me.handle.state(), ConnState::SignedOut);
}

#[tokio::test]
async fn replay_from_too_far_back_takes_a_snapshot_without_emptying_the_screen() {
    let clinic = Clinic::start(|c| c.event_retention = 50).await;
    let proxy = FaultyProxy::start(clinic.addr).await;
    let mut me = Client::sign_in(&proxy.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("snapshot", |c| c.count(Kind::Appointment).unwrap() == 24)
        .await;
    // This desk's network goes down while the clinic carries on.
    proxy.set_blocked(true);
    me.wait_state(ConnState::Reconnecting).await;
    let desk = Desk::login(&clinic.url(), "admin").await;
    let team = clinic.clinic.threads[1].clone();
    for i in 0..300 {
        desk.post(
            &format!("/api/threads/{team}/messages"),
            json!({"client_id": format!("g{i}"), "body": "while away"}),
        )
        .await;
    }
    // The server kept only the last 50: the engine takes a snapshot instead.
    let c = me.handle.reader().unwrap();
    assert_eq!(
        c.count(Kind::Appointment).unwrap(),
        24,
        "the cached day is still there while offline"
    );
    proxy.set_blocked(false);
    me.handle.retry_now().unwrap();
    let u = next_where(
        &mut me,
        "a resync",
        |u| matches!(u, Update::Resynced { seq } if *seq > 0),
    )
    .await;
    assert!(matches!(u, Update::Resynced { seq: 300 }), "{u:?}");
    let c = me.handle.reader().unwrap();
    assert_eq!(c.last_seq().unwrap(), Some(300));
    assert_eq!(c.count(Kind::Appointment).unwrap(), 24);
}

#[tokio::test]
async fn a_refused_action_stays_visible_with_the_reason() {
    let clinic = Clinic::start(|_| {}).await;
    let mut me = Client::sign_in(&clinic.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("snapshot", |c| c.count(Kind::Appointment).unwrap() == 24)
        .await;
    let done = me
        .handle
        .reader()
        .unwrap()
        .list::<Appointment>(Kind::Appointment)
        .unwrap()
        .into_iter()
        .find(|a| a.status == AppointmentStatus::Completed)
        .unwrap();
    let action = DeskAction::UpdateAppointment {
        id: done.id.clone(),
        body: UpdateAppointment {
            version: done.version,
            status: Some(AppointmentStatus::Cancelled),
            ..Default::default()
        },
    };
    me.handle.act(action).await.unwrap();
    me.wait_cache("refusal recorded", |c| {
        c.outbox_list()
            .unwrap()
            .first()
            .is_some_and(|e| e.state == OutboxState::Refused)
    })
    .await;
    let e = me.handle.reader().unwrap().outbox_list().unwrap().remove(0);
    assert!(
        e.error
            .unwrap()
            .contains("cannot go from completed to cancelled")
    );
    // It does not block what comes after it.
    let thread = clinic.clinic.threads[0].clone();
    me.handle
        .act(DeskAction::SendMessage {
            thread_id: thread,
            body: PostMessage {
                client_id: "after".into(),
                body: "next".into(),
                urgent: false,
            },
        })
        .await
        .unwrap();
    me.wait_cache("the next one went", |c| c.outbox_list().unwrap().len() == 1)
        .await;
}

#[tokio::test]
async fn presence_typing_and_viewing_flow_between_two_desks() {
    let clinic = Clinic::start(|_| {}).await;
    let mut rosa = Client::sign_in(&clinic.url(), "reception").await;
    let mut elena = Client::sign_in(&clinic.url(), "doctor").await;
    rosa.wait_state(ConnState::Live).await;
    elena.wait_state(ConnState::Live).await;
    let doctor = clinic.clinic.doctor.clone();
    let reception = clinic.clinic.reception.clone();

    elena.handle.set_dnd(true).unwrap();
    next_where(&mut rosa, "dnd", |u| matches!(u, Update::Presence { presence } if presence.user == doctor && presence.state == PresenceState::Dnd)).await;
    elena.handle.viewing(Some("pat_42".into())).unwrap();
    next_where(&mut rosa, "viewing", |u| matches!(u, Update::Presence { presence } if presence.viewing.as_deref() == Some("pat_42"))).await;

    let thread = clinic.clinic.threads[0].clone();
    rosa.handle.typing(&thread, true).unwrap();
    next_where(
        &mut elena,
        "typing",
        |u| matches!(u, Update::Typing { user, typing: true, .. } if *user == reception),
    )
    .await;
    // Sending ends the typing indicator at once.
    rosa.handle
        .act(DeskAction::SendMessage {
            thread_id: thread.clone(),
            body: PostMessage {
                client_id: "t1".into(),
                body: "hello".into(),
                urgent: false,
            },
        })
        .await
        .unwrap();
    next_where(
        &mut elena,
        "typing stopped",
        |u| matches!(u, Update::Typing { user, typing: false, .. } if *user == reception),
    )
    .await;
    // Typing without sending expires by itself after 6 s.
    rosa.handle.typing(&thread, true).unwrap();
    next_where(&mut elena, "typing again", |u| {
        matches!(u, Update::Typing { typing: true, .. })
    })
    .await;
    let started = tokio::time::Instant::now();
    next_where(&mut elena, "typing expired", |u| {
        matches!(u, Update::Typing { typing: false, .. })
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "expired after about 6 s, not at once"
    );
}

#[tokio::test]
async fn a_live_desk_shows_the_server_a_renewed_token_and_outlives_the_first() {
    // Ten-second tokens: the engine renews 7.5 s in and sends `reauth`.
    let clinic = Clinic::start(|c| c.access_ttl = Duration::from_secs(10)).await;
    let mut me = Client::sign_in(&clinic.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    let lost = {
        let mut updates = me.handle.subscribe();
        tokio::spawn(async move {
            let mut lost = 0;
            let until = tokio::time::Instant::now() + Duration::from_secs(13);
            while let Ok(Ok(u)) = tokio::time::timeout_at(until, updates.recv()).await {
                if matches!(u, Update::Connection { state, .. } if state != ConnState::Live) {
                    lost += 1;
                }
            }
            lost
        })
    };
    tokio::time::sleep(Duration::from_secs(12)).await;
    // Past the first token's expiry, still the same live link, still fed.
    let desk = Desk::login(&clinic.url(), "admin").await;
    let (s, _) = desk
        .post(
            "/api/queue",
            json!({"provider_id": clinic.clinic.providers[0], "patient": {"name": "Past Expiry"}}),
        )
        .await;
    assert_eq!(s, 201);
    me.wait_cache("the walk-in after the first token expired", |c| {
        c.list::<frontdesk_protocol::records::QueueEntry>(Kind::Queue)
            .unwrap()
            .iter()
            .any(|q| q.patient.as_ref().is_some_and(|p| p.name == "Past Expiry"))
    })
    .await;
    assert_eq!(lost.await.unwrap(), 0, "the link never dropped");
}
