//! The waiting-room board client against the real server: set-up as an
//! admin, live calls without names, outages, and a board that is removed.

use frontdesk_e2e::{Clinic, Desk, WAIT};
use frontdesk_engine::board_client::{self, BoardConfig, BoardHandle, BoardUpdate};
use frontdesk_engine::supervisor::ConnState;
use serde_json::json;
use tokio::sync::broadcast;

/// Waits for an update matching `want`, failing after [`WAIT`].
async fn wait_update(
    rx: &mut broadcast::Receiver<BoardUpdate>,
    what: &str,
    want: impl Fn(&BoardUpdate) -> bool,
) -> BoardUpdate {
    tokio::time::timeout(WAIT, async {
        loop {
            match rx.recv().await {
                Ok(u) if want(&u) => return u,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("board updates ended: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn is_state(u: &BoardUpdate, want: ConnState) -> bool {
    matches!(u, BoardUpdate::Connection { state, .. } if *state == want)
}

async fn board_for(clinic: &Clinic, saved: &std::path::Path) -> (BoardHandle, String) {
    let reg = board_client::register(&clinic.url(), "demo", "admin", "demo", "Lobby", None)
        .await
        .expect("an admin can register a board");
    assert!(
        reg.display.provider_ids.is_empty(),
        "the whole clinic by default (providers added later included)"
    );
    let board = board_client::start(
        BoardConfig::new(&clinic.url(), "demo", Some(saved.to_owned())),
        reg.token,
    )
    .unwrap();
    (board, reg.display.id)
}

#[tokio::test]
async fn registration_needs_an_admin() {
    let clinic = Clinic::start(|_| {}).await;
    let err = board_client::register(&clinic.url(), "demo", "reception", "demo", "Lobby", None)
        .await
        .expect_err("a receptionist cannot create boards");
    assert!(err.to_string().contains("forbidden"), "{err}");
    let err = board_client::register(&clinic.url(), "demo", "admin", "wrong", "Lobby", None)
        .await
        .expect_err("a wrong password is refused");
    assert!(err.to_string().contains("invalid-credentials"), "{err}");
}

#[tokio::test]
async fn a_board_follows_calls_without_names_survives_outages_and_stops_when_removed() {
    let mut clinic = Clinic::start(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("board.json");
    let (board, display_id) = board_for(&clinic, &saved).await;
    let mut rx = board.subscribe();
    wait_update(&mut rx, "the first board", |u| {
        matches!(u, BoardUpdate::Board { .. })
    })
    .await;
    assert_eq!(board.view().state, ConnState::Live);

    // A call: the chime update carries the ticket and room, and nothing on
    // the board (or in its saved file) names the patient.
    let admin = Desk::login(&clinic.url(), "admin").await;
    let provider = &clinic.clinic.providers[0];
    let (s, _) = admin
        .post(
            "/api/queue",
            json!({"provider_id": provider, "patient": {"name": "Quentin Privatename"}, "priority": 9}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, called) = admin
        .post(
            "/api/queue/call-next",
            json!({"provider_id": provider, "room_id": clinic.clinic.rooms[0]}),
        )
        .await;
    assert_eq!(s, 200, "{called}");
    let ticket = called["ticket"].as_str().unwrap().to_owned();
    let chime = wait_update(
        &mut rx,
        "the call",
        |u| matches!(u, BoardUpdate::Called { ticket: t, .. } if *t == ticket),
    )
    .await;
    assert!(matches!(chime, BoardUpdate::Called { room, .. } if !room.is_empty()));
    wait_update(&mut rx, "the board after the call", |u| {
        matches!(u, BoardUpdate::Board { board } if board.queue.first().is_some_and(|q| q.ticket == ticket))
    })
    .await;
    let text =
        serde_json::to_string(&board.view()).unwrap() + &std::fs::read_to_string(&saved).unwrap();
    assert!(!text.contains("Privatename") && !text.contains("Quentin"));

    // The server goes away: the board stays, marked by the state.
    clinic.stop().await;
    wait_update(&mut rx, "reconnecting", |u| {
        is_state(u, ConnState::Reconnecting)
    })
    .await;
    assert!(board.view().board.is_some(), "the last board stays up");
    // A call made while the board was away shows after it returns.
    clinic.restart().await;
    let admin = Desk::login(&clinic.url(), "admin").await;
    let (s, _) = admin
        .patch(
            &format!("/api/queue/{}", called["id"].as_str().unwrap()),
            json!({"version": called["version"], "status": "in_service"}),
        )
        .await;
    assert_eq!(s, 200);
    wait_update(&mut rx, "the board refetched with the ticket in service", |u| {
        matches!(u, BoardUpdate::Board { board } if board.queue.iter().any(|q| q.ticket == ticket && q.status == frontdesk_protocol::status::QueueStatus::InService))
    })
    .await;
    assert_eq!(board.view().state, ConnState::Live);

    // A fresh start (the screen rebooted, the server down) shows the saved board.
    let restarted = board_client::start(
        BoardConfig::new("http://127.0.0.1:9", "demo", Some(saved.clone())),
        "not-a-token".into(),
    )
    .unwrap();
    assert!(restarted.view().board.is_some());
    restarted.shutdown().await;

    // Removed by the admin: the board is told, stops, and says so.
    let r = admin
        .http
        .delete(format!("{}/api/displays/{display_id}", clinic.url()))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    wait_update(&mut rx, "signed out", |u| is_state(u, ConnState::SignedOut)).await;
    board.shutdown().await;
}
