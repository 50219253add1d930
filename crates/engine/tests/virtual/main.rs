//! The desk core against an in-memory clinic on virtual time: every scenario
//! below covers minutes or hours of a clinic's day and runs in milliseconds.
//!
//! Writing a new one: build a [`Pair`] (`Pair::new(seed, tickets)`), `start`
//! it, drive it until something holds (`drive_bounded(limit, |p| …)`), inject
//! a fault (`silent`, `clinic.reachable`, `sleep`, `skew_secs`,
//! `fail_writes`, `drop_next_event`, the clinic's own switches), drive again,
//! and assert on what the desk published (`updates`), asked the clinic
//! (`clinic.counters`, `opens`) and holds in its real cache.

mod clinic;
mod pair;

use frontdesk_engine::cache::outbox::DeskAction;
use frontdesk_engine::cache::{FETCHED_DAYS_KEPT, Kind};
use frontdesk_engine::desk::Update;
use frontdesk_engine::screen_lock::LockReason;
use frontdesk_engine::supervisor::ConnState;
use frontdesk_protocol::api::UpdateQueueEntry;
use frontdesk_protocol::envelope::TypingEvent;
use frontdesk_protocol::records::Appointment;
use frontdesk_protocol::status::QueueStatus;
use pair::Pair;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// A desk that has connected and caught up.
fn synced_pair(seed: u64, tickets: usize) -> Pair {
    let mut p = Pair::new(seed, tickets);
    p.start();
    assert!(p.drive_bounded(5 * SECOND, Pair::synced), "not synced");
    p
}

fn connection_states(p: &Pair) -> Vec<ConnState> {
    p.updates
        .iter()
        .filter_map(|(_, u)| match u {
            Update::Connection { state, .. } => Some(*state),
            _ => None,
        })
        .collect()
}

#[test]
fn first_start_takes_a_snapshot_then_applies_live_events() {
    let mut p = synced_pair(1, 3);
    assert_eq!(p.clinic.counters.snapshots, 1);
    assert_eq!(p.cached_tickets(), ["t0", "t1", "t2"]);
    p.walk_in("t3");
    assert!(p.drive_bounded(SECOND, |p| p.last_seq() == Some(4)));
    assert_eq!(p.cached_tickets(), ["t0", "t1", "t2", "t3"]);
    assert_eq!(p.clinic.counters.pages, 0, "live events need no replay");
    // Presence and viewing were announced once connected.
    assert_eq!(p.announced_presence(), ["online"]);
    assert!(
        p.clinic
            .emits
            .iter()
            .any(|(n, d)| n == "viewing" && d["patient"].is_null())
    );
}

#[test]
fn a_silent_link_is_declared_dead_after_45_seconds() {
    let mut p = synced_pair(2, 1);
    // A ping arrives, then the network swallows everything.
    assert!(p.drive_bounded(MINUTE, |p| p.clinic.counters.connects == 1
        && p.t >= 25 * SECOND));
    let last_heard = p.t;
    p.silent = true;
    assert!(p.drive_bounded(2 * MINUTE, |p| p.state() == ConnState::Reconnecting));
    let silent_for = p.t - last_heard;
    assert!(
        silent_for > 45 * SECOND && silent_for < 46 * SECOND,
        "25 s ping interval + 20 s timeout, noticed within a second: {silent_for:?}"
    );
    // Back on the network: live again, nothing lost.
    p.silent = false;
    p.walk_in("t9");
    assert!(p.drive_bounded(MINUTE, |p| p.synced() && p.last_seq() == Some(2)));
}

#[test]
fn backoff_stays_fast_for_a_restart_then_spreads_up_to_its_cap() {
    let mut p = synced_pair(3, 1);
    p.clinic.reachable = false;
    p.clinic.drop_sockets();
    // Server gone for an hour: count the attempts and the gaps between them.
    p.silent = true; // the dead link is noticed by its missed pings
    assert!(p.drive_bounded(MINUTE, |p| p.state() == ConnState::Reconnecting));
    p.silent = false;
    // Each failed attempt (a socket refused, or once the token is stale a
    // refresh that cannot reach the server) publishes "reconnecting".
    let from = p.t;
    p.run_for(60 * MINUTE);
    let failures: Vec<Duration> = p
        .updates_where(|u| {
            matches!(
                u,
                Update::Connection {
                    state: ConnState::Reconnecting,
                    ..
                }
            )
        })
        .into_iter()
        .filter(|t| *t >= from)
        .collect();
    let gaps: Vec<f64> = failures
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    // Fast phase: the first 40 retries come within 1.5 s each.
    assert!(gaps.len() > 100, "{} attempts in an hour", gaps.len());
    assert!(
        gaps[..39].iter().all(|g| *g <= 1.5 + 1e-6),
        "{:?}",
        &gaps[..39]
    );
    // Then the ceiling doubles up to 30 s and stays random there: full
    // jitter over [0, 30], not a lockstep at the cap.
    let capped = &gaps[50..];
    assert!(capped.iter().all(|g| *g <= 30.0 + 1e-6));
    let mean = capped.iter().sum::<f64>() / capped.len() as f64;
    assert!((10.0..20.0).contains(&mean), "mean gap at the cap {mean}");
    let short = capped.iter().filter(|g| **g < 10.0).count();
    let long = capped.iter().filter(|g| **g > 20.0).count();
    assert!(
        short > capped.len() / 6 && long > capped.len() / 6,
        "{short} {long} of {}",
        capped.len()
    );
    // Back: live within one capped delay.
    p.clinic.reachable = true;
    assert!(p.drive_bounded(31 * SECOND, Pair::synced));
}

#[test]
fn two_desks_with_different_seeds_do_not_reconnect_in_lockstep() {
    let run = |seed| {
        let mut p = synced_pair(seed, 0);
        p.clinic.reachable = false;
        p.silent = true;
        p.drive_bounded(MINUTE, |p| p.state() == ConnState::Reconnecting);
        p.silent = false;
        p.run_for(10 * MINUTE);
        p.opens
    };
    assert_ne!(run(10), run(11));
}

#[test]
fn a_laptop_waking_after_hours_reconnects_at_once_with_a_renewed_token() {
    let mut p = synced_pair(4, 1);
    let refreshes = p.clinic.counters.refreshes;
    p.sleep(3 * 60 * MINUTE);
    // The monotonic clock stood still; the wall clock says 3 h passed: the
    // link is dead and the token stale the moment it wakes.
    assert!(p.drive_bounded(2 * SECOND, |p| p.state() == ConnState::Reconnecting));
    assert!(p.drive_bounded(5 * SECOND, Pair::synced));
    assert_eq!(p.clinic.counters.refreshes, refreshes + 1);
    assert_eq!(
        p.clinic.counters.refused_connects, 0,
        "never tried the expired token"
    );
}

fn stays_live_through_renewals(skew_secs: i64) {
    let mut p = Pair::new(5, 1);
    p.skew_secs = skew_secs;
    p.start();
    assert!(p.drive_bounded(5 * SECOND, Pair::synced));
    // Three hours of a 15-minute token: renewed ahead of expiry each time,
    // never refused, the link never dropped.
    p.run_for(3 * 60 * MINUTE);
    assert!(p.synced());
    assert_eq!(p.clinic.counters.refused_connects, 0);
    assert_eq!(p.clinic.counters.connects, 1, "one link all along");
    // An outbox action at the end is sent with a fresh token.
    let q = p.walk_in("t7");
    let _ = q;
    p.with_desk(|d, now| {
        d.act(
            DeskAction::UpdateTicket {
                id: "t7".into(),
                body: UpdateQueueEntry {
                    version: 1,
                    status: Some(QueueStatus::Called),
                    priority: None,
                    room_id: None,
                },
            },
            now,
        )
    })
    .expect("stored");
    assert!(p.drive_bounded(5 * SECOND, |p| p.clinic.counters.sends == 1));
    assert!(p.drive_bounded(SECOND, |p| matches!(
        p.updates.last(),
        Some((
            _,
            Update::Outbox {
                pending: 0,
                problems: 0
            }
        )) | Some((_, Update::Applied { .. }))
    )));
}

#[test]
fn a_client_clock_two_hours_fast_changes_nothing() {
    stays_live_through_renewals(2 * 3600);
}

#[test]
fn a_client_clock_two_hours_slow_changes_nothing() {
    stays_live_through_renewals(-2 * 3600);
}

#[test]
fn remote_typing_expires_after_six_seconds() {
    let mut p = synced_pair(6, 0);
    let start = p.t;
    p.broadcast(
        "typing",
        json!(TypingEvent {
            thread: "th1".into(),
            user: "u_doc".into(),
            typing: true
        }),
    );
    let typing = |on: bool| move |u: &Update| matches!(u, Update::Typing { user, typing, .. } if user == "u_doc" && *typing == on);
    assert!(p.drive_bounded(SECOND, |p| !p.updates_where(typing(true)).is_empty()));
    assert!(p.drive_bounded(10 * SECOND, |p| !p.updates_where(typing(false)).is_empty()));
    let stopped = p.updates_where(typing(false))[0] - start;
    assert!(
        stopped >= 6 * SECOND && stopped < 6 * SECOND + Duration::from_millis(10),
        "{stopped:?}"
    );
}

#[test]
fn own_typing_is_throttled_to_one_emit_per_three_seconds_and_stops_on_send() {
    let mut p = synced_pair(7, 0);
    for _ in 0..20 {
        p.with_desk(|d, now| d.typing("th1", true, now));
        p.run_for(Duration::from_millis(500));
    }
    let typing = |p: &Pair, on: bool| {
        p.clinic
            .emits
            .iter()
            .filter(|(n, d)| n == "typing" && d["typing"] == json!(on))
            .count()
    };
    assert_eq!(typing(&p, true), 4, "10 s of keystrokes: at 0, 3, 6, 9 s");
    p.with_desk(|d, now| {
        d.act(
            DeskAction::SendMessage {
                thread_id: "th1".into(),
                body: frontdesk_protocol::api::PostMessage {
                    client_id: "c1".into(),
                    body: "hi".into(),
                    urgent: false,
                },
            },
            now,
        )
    })
    .expect("stored");
    p.run_for(SECOND);
    assert_eq!(typing(&p, false), 1, "sending stops typing, once");
}

#[test]
fn away_after_five_idle_minutes_and_back_on_activity() {
    let mut p = synced_pair(8, 0);
    let start = p.t;
    assert!(p.drive_bounded(10 * MINUTE, |p| p.announced_presence().len() == 2));
    assert_eq!(p.announced_presence(), ["online", "away"]);
    let away_at = p.t - start;
    assert!(
        away_at >= 5 * MINUTE - SECOND && away_at <= 5 * MINUTE + SECOND,
        "{away_at:?}"
    );
    p.with_desk(|d, now| d.activity(now));
    p.run_for(SECOND);
    assert_eq!(p.announced_presence(), ["online", "away", "online"]);
    p.with_desk(|d, now| d.set_dnd(true, now));
    p.run_for(20 * MINUTE);
    assert_eq!(p.announced_presence(), ["online", "away", "online", "dnd"]);
}

fn call(p: &mut Pair, id: &str, version: u64) {
    p.with_desk(|d, now| {
        d.act(
            DeskAction::UpdateTicket {
                id: id.into(),
                body: UpdateQueueEntry {
                    version,
                    status: Some(QueueStatus::Called),
                    priority: None,
                    room_id: None,
                },
            },
            now,
        )
    })
    .expect("stored");
}

fn outbox(p: &Pair) -> (usize, usize) {
    p.desk.store().cache.outbox_counts().expect("readable")
}

#[test]
fn an_outbox_action_is_retried_after_a_server_error_and_applied_once() {
    let mut p = synced_pair(9, 1);
    p.clinic.fail_sends = 1;
    let asked = p.t;
    call(&mut p, "t0", 1);
    assert!(p.drive_bounded(30 * SECOND, |p| outbox(p) == (0, 0)));
    assert_eq!(p.clinic.counters.sends, 2, "the 503, then the retry");
    let took = p.t - asked;
    assert!(
        took >= 5 * SECOND && took < 6 * SECOND,
        "retried after 5 s: {took:?}"
    );
    // Applied exactly once: one queue.called on the server.
    assert_eq!(p.clinic.latest_seq(), 2);
    assert!(p.drive_bounded(SECOND, |p| p.last_seq() == Some(2)));
}

#[test]
fn actions_taken_offline_are_sent_in_order_once_synced() {
    let mut p = synced_pair(10, 3);
    p.clinic.reachable = false;
    p.silent = true;
    assert!(p.drive_bounded(MINUTE, |p| p.state() == ConnState::Reconnecting));
    for id in ["t0", "t1", "t2"] {
        call(&mut p, id, 1);
    }
    assert_eq!(outbox(&p), (3, 0));
    p.silent = false;
    p.clinic.reachable = true;
    assert!(p.drive_bounded(MINUTE, |p| outbox(p) == (0, 0)));
    assert_eq!(p.clinic.counters.sends, 3);
    assert!(p.drive_bounded(SECOND, |p| p.last_seq() == Some(6)));
}

#[test]
fn a_conflict_is_kept_with_the_servers_record_not_dropped() {
    let mut p = synced_pair(11, 1);
    call(&mut p, "t0", 7); // stale version
    assert!(p.drive_bounded(10 * SECOND, |p| outbox(p) == (0, 1)));
    let list = p.desk.store().cache.outbox_list().expect("readable");
    assert_eq!(
        list[0]
            .conflict
            .as_ref()
            .and_then(|c| c.current.as_ref())
            .expect("both kept")["version"],
        1
    );
}

#[test]
fn an_unauthorized_refusal_refreshes_once_and_never_loops() {
    let mut p = Pair::new(12, 0);
    p.clinic.refuse_connect = true;
    p.start();
    assert!(p.drive_bounded(10 * MINUTE, |p| p.state() == ConnState::SignedOut));
    p.run_for(60 * MINUTE);
    assert_eq!(
        p.clinic.counters.refused_connects, 2,
        "the first try and one after a refresh"
    );
    assert_eq!(
        p.clinic.counters.refreshes, 2,
        "the start's token and the one forced refresh"
    );
    assert_eq!(p.state(), ConnState::SignedOut);
}

#[test]
fn a_revoked_login_signs_out_without_retrying() {
    let mut p = synced_pair(13, 0);
    p.clinic.login_revoked = true;
    p.clinic.drop_sockets();
    p.silent = true;
    assert!(p.drive_bounded(MINUTE, |p| p.state() == ConnState::Reconnecting));
    p.silent = false;
    // The access token still has minutes to live, but CONNECT is refused;
    // the forced refresh is refused too: signed out, for good.
    assert!(p.drive_bounded(MINUTE, |p| p.state() == ConnState::SignedOut));
    let refreshes = p.clinic.counters.refreshes;
    p.run_for(30 * MINUTE);
    assert_eq!(p.clinic.counters.refreshes, refreshes);
}

#[test]
fn a_pruned_history_answers_410_and_a_snapshot_is_swapped_in_whole() {
    let mut p = synced_pair(14, 2);
    p.clinic.reachable = false;
    p.silent = true;
    assert!(p.drive_bounded(MINUTE, |p| p.state() == ConnState::Reconnecting));
    // While away, 20 walk-ins and the server prunes its log past our seq.
    p.silent = false;
    for i in 0..20 {
        p.walk_in(&format!("n{i:02}"));
    }
    p.clinic.prune_through(10);
    // The cached day stays on screen until the snapshot replaces it.
    assert_eq!(p.cached_tickets(), ["t0", "t1"]);
    p.clinic.reachable = true;
    assert!(p.drive_bounded(MINUTE, |p| p.synced()));
    assert_eq!(
        p.clinic.counters.snapshots, 2,
        "{:?} {:#?}",
        p.clinic.counters, p.updates
    );
    assert_eq!(p.cached_tickets().len(), 22);
    assert_eq!(p.last_seq(), Some(22));
    assert_eq!(
        p.updates_where(|u| matches!(u, Update::Resynced { .. }))
            .len(),
        2
    );
}

#[test]
fn a_lost_live_event_is_replayed_from_the_gap() {
    let mut p = synced_pair(15, 1);
    p.drop_next_event = true;
    p.walk_in("lost");
    p.walk_in("next");
    assert!(p.drive_bounded(5 * SECOND, |p| p.last_seq() == Some(3)));
    assert_eq!(p.cached_tickets(), ["lost", "next", "t0"]);
    assert_eq!(
        p.clinic.counters.pages, 1,
        "one replay page fetched the gap"
    );
    // Each event applied once, in order.
    let applied: Vec<u64> = p
        .updates
        .iter()
        .filter_map(|(_, u)| match u {
            Update::Applied { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(applied, [2, 3], "{:#?}", p.updates);
}

#[test]
fn a_server_restored_from_a_backup_behind_the_desk_is_resnapshotted() {
    let mut p = synced_pair(16, 3);
    for i in 0..5 {
        p.walk_in(&format!("late{i}"));
    }
    assert!(p.drive_bounded(5 * SECOND, |p| p.last_seq() == Some(8)));
    // The server's disk dies; it comes back from a backup taken at seq 3.
    // (A server that does not check the desk's position itself: the desk
    // notices that the history ends before its own.)
    p.clinic.checks_history = false;
    p.clinic.restore_backup(3);
    p.silent = true;
    assert!(p.drive_bounded(MINUTE, |p| p.state() == ConnState::Reconnecting));
    p.silent = false;
    assert!(p.drive_bounded(MINUTE, |p| p.synced()));
    assert_eq!(p.cached_tickets(), p.clinic.ticket_ids());
    assert_eq!(p.last_seq(), Some(3));
    assert!(
        p.updates.iter().any(|(_, u)| matches!(u, Update::Warning { message } if message.contains("restored from a backup"))),
        "the desk says why it resnapshotted"
    );
    // New events after the restore apply normally.
    p.walk_in("after");
    assert!(p.drive_bounded(5 * SECOND, |p| p.last_seq() == Some(4)));
}

#[test]
fn a_server_restored_from_a_backup_that_committed_past_the_desk_is_resnapshotted() {
    let mut p = synced_pair(20, 2);
    for i in 0..6 {
        p.walk_in(&format!("lost{i}"));
    }
    assert!(p.drive_bounded(5 * SECOND, |p| p.last_seq() == Some(8)));
    // The desk goes off; the server is restored to seq 2 and then commits
    // past the desk's position, so seq alone cannot tell.
    p.clinic.reachable = false;
    p.silent = true;
    assert!(p.drive_bounded(MINUTE, |p| p.state() == ConnState::Reconnecting));
    p.silent = false;
    p.clinic.restore_backup(2);
    for i in 0..10 {
        p.walk_in(&format!("other{i}"));
    }
    p.clinic.reachable = true;
    assert!(p.drive_bounded(MINUTE, |p| p.synced()));
    // The replay's after_id did not match: a snapshot, not events 9..12 of
    // another history.
    assert_eq!(p.last_seq(), Some(12));
    assert_eq!(p.cached_tickets(), p.clinic.ticket_ids());
    assert_eq!(p.clinic.counters.snapshots, 2);
}

#[test]
fn the_day_turns_at_the_clinics_midnight_in_its_own_zone() {
    // 23:59 in Berlin is 22:59 UTC: a desk counting days in UTC (or in the
    // PC's zone) would turn an hour late.
    let mut p = Pair::starting_at(21, 1, "2026-11-22T22:59:00Z", "Europe/Berlin");
    p.start();
    assert!(p.drive_bounded(5 * SECOND, Pair::synced));
    let turned = |u: &Update| matches!(u, Update::DayChanged { .. });
    assert!(
        p.updates_where(turned).is_empty(),
        "learning the zone is not a new day"
    );
    assert!(p.drive_bounded(2 * MINUTE, |p| !p.updates_where(turned).is_empty()));
    let at = p.updates_where(turned)[0];
    assert!(
        at >= MINUTE && at < MINUTE + Duration::from_millis(5),
        "at the clinic's midnight, not a tick later: {at:?}"
    );
    assert!(p.updates.iter().any(|(_, u)| matches!(
        u,
        Update::DayChanged { day } if day.to_string() == "2026-11-23"
    )));
    // Once a day: the next hour (UTC midnight included) turns nothing.
    p.run_for(70 * MINUTE);
    assert_eq!(p.updates_where(turned).len(), 1);
    assert!(p.synced(), "the link stayed up across midnight");
}

#[test]
fn an_appointment_moved_out_of_the_window_is_deleted_with_its_patient() {
    let mut p = synced_pair(22, 0);
    let now = p.server_time();
    let day = chrono::Duration::days(1);
    p.book("a1", now + day);
    p.book("a2", now + day * 2);
    assert!(p.drive_bounded(SECOND, |p| p.cached(Kind::Appointment).len() == 2));
    assert_eq!(p.cached(Kind::Patient), ["pat_a1", "pat_a2"]);
    // Another desk moves a1 to 40 days ahead: out of the window.
    p.book("a1", now + day * 40);
    assert!(p.drive_bounded(SECOND, |p| p.cached(Kind::Appointment) == ["a2"]));
    assert_eq!(p.cached(Kind::Patient), ["pat_a2"], "deleted, not hidden");
    // Moved again outside: nothing arrives that could bring it back.
    p.book("a1", now + day * 41);
    p.run_for(SECOND);
    assert_eq!(p.cached(Kind::Appointment), ["a2"]);
    // And back inside: whole again, with its patient.
    p.book("a1", now + day * 3);
    assert!(p.drive_bounded(SECOND, |p| p.cached(Kind::Appointment).len() == 2));
    assert_eq!(p.cached(Kind::Patient), ["pat_a1", "pat_a2"]);
    // No gap, no duplicate along the way.
    assert_eq!(p.last_seq(), Some(p.clinic.latest_seq()));
}

#[test]
fn at_the_clinics_midnight_the_day_that_left_the_window_is_deleted() {
    // 23:59:30 in Berlin; the desk holds an appointment seven days back (the
    // window's first day) and one tomorrow.
    let mut p = Pair::starting_at(23, 0, "2026-11-22T22:59:30Z", "Europe/Berlin");
    let now = p.server_time();
    p.clinic.book("old", now - chrono::Duration::days(7));
    p.clinic.book("soon", now + chrono::Duration::days(1));
    p.start();
    assert!(p.drive_bounded(5 * SECOND, Pair::synced));
    // The snapshot held today; the rest of the window came right after.
    assert!(p.drive_bounded(SECOND, |p| p.cached(Kind::Appointment) == ["old", "soon"]));
    assert!(p.drive_bounded(MINUTE, |p| p.cached(Kind::Appointment) == ["soon"]));
    assert!(p.t >= 30 * SECOND, "not before midnight: {:?}", p.t);
    assert_eq!(p.cached(Kind::Patient), ["pat_soon"]);
    assert!(p.synced(), "no resnapshot, no reconnect");
    assert_eq!(p.clinic.counters.snapshots, 1);
}

#[test]
fn the_window_moves_at_midnight_by_fetching_only_the_day_that_came_into_it() {
    let mut p = Pair::starting_at(24, 0, "2026-11-22T22:59:30Z", "Europe/Berlin");
    let now = p.server_time();
    let day = chrono::Duration::days(1);
    p.start();
    assert!(p.drive_bounded(5 * SECOND, Pair::synced));
    p.run_for(SECOND); // the window's other days filled
    let fetched = p.clinic.counters.day_fetches;
    // Booked by another desk for 31 days ahead (Berlin): outside the window,
    // so this desk only sees a redacted event. Three, so the fetch pages.
    for id in ["far1", "far2", "far3"] {
        p.book(id, now + day * 31);
    }
    p.run_for(SECOND);
    assert!(p.cached(Kind::Appointment).is_empty());
    // At midnight that day is the window's last: fetched, page by page.
    assert!(p.drive_bounded(MINUTE, |p| p.cached(Kind::Appointment).len() == 3));
    assert_eq!(
        p.cached(Kind::Patient),
        ["pat_far1", "pat_far2", "pat_far3"]
    );
    assert_eq!(
        p.clinic.counters.day_fetches - fetched,
        2,
        "two pages of one day"
    );
    assert_eq!(p.clinic.counters.snapshots, 1, "no new snapshot");
    // It does not fetch again once the cache holds the window.
    p.run_for(10 * MINUTE);
    assert_eq!(p.clinic.counters.day_fetches - fetched, 2);
}

#[test]
fn a_desk_offline_over_midnight_fills_the_new_days_when_it_is_back() {
    let mut p = Pair::starting_at(25, 0, "2026-11-22T22:00:00Z", "Europe/Berlin");
    let now = p.server_time();
    p.start();
    assert!(p.drive_bounded(5 * SECOND, Pair::synced));
    // Days 31 and 32 ahead are booked: outside the window, redacted here.
    p.book("d31", now + chrono::Duration::days(31));
    p.book("d32", now + chrono::Duration::days(32));
    p.run_for(SECOND);
    assert!(p.cached(Kind::Appointment).is_empty());
    let fetched = p.clinic.counters.day_fetches;
    p.clinic.reachable = false;
    p.silent = true;
    assert!(p.drive_bounded(MINUTE, |p| p.state() == ConnState::Reconnecting));
    p.silent = false;
    // Two midnights pass offline: both days come into the window meanwhile.
    p.run_for(50 * 60 * MINUTE);
    p.clinic.reachable = true;
    assert!(p.drive_bounded(2 * MINUTE, |p| p.cached(Kind::Appointment).len() == 2));
    assert_eq!(
        p.clinic.counters.day_fetches - fetched,
        1,
        "both days in one fetch"
    );
    assert_eq!(p.clinic.counters.snapshots, 1);
}

#[test]
fn a_fresh_desk_paints_today_from_the_snapshot_then_fills_its_window() {
    let mut p = Pair::starting_at(26, 0, "2026-11-22T09:00:00Z", "UTC");
    let now = p.server_time();
    let day = chrono::Duration::days(1);
    for (id, offset) in [
        ("past8", -8),
        ("past7", -7),
        ("today", 0),
        ("ahead30", 30),
        ("ahead31", 31),
    ] {
        p.clinic.book(id, now + day * offset);
    }
    p.start();
    assert!(p.drive_bounded(5 * SECOND, Pair::synced));
    // Synced with today's day on screen: the snapshot held only it.
    assert!(
        p.updates
            .iter()
            .any(|(_, u)| matches!(u, Update::Synced { .. }))
    );
    let at_sync = p.cached(Kind::Appointment);
    assert!(at_sync.len() <= 1 || at_sync == ["today"], "{at_sync:?}");
    // Then the window's other days, and nothing outside it.
    assert!(p.drive_bounded(SECOND, |p| p.cached(Kind::Appointment).len() == 3));
    assert_eq!(p.cached(Kind::Appointment), ["ahead30", "past7", "today"]);
    assert_eq!(
        p.cached(Kind::Patient),
        ["pat_ahead30", "pat_past7", "pat_today"]
    );
    assert_eq!(p.clinic.counters.day_fetches, 2, "ahead, then back");
}

#[test]
fn a_full_disk_backs_off_until_a_write_succeeds() {
    let mut p = synced_pair(17, 1);
    p.fail_writes.store(true, Ordering::SeqCst);
    p.walk_in("w1"); // cannot be applied
    let from = p.opens.len();
    p.run_for(10 * MINUTE);
    let attempts = p.opens.len() - from;
    // Not ~7 reconnects a second: the backoff keeps growing while every
    // connect fails to write.
    assert!(attempts < 80, "{attempts} reconnects in 10 minutes");
    let gaps: Vec<Duration> = p.opens[from..].windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().rev().take(5).any(|g| *g > 2 * SECOND),
        "{gaps:?}"
    );
    assert!(
        p.updates.iter().any(
            |(_, u)| matches!(u, Update::Warning { message } if message.contains("disk is full"))
        ),
        "the failure is shown"
    );
    assert_eq!(p.last_seq(), Some(1), "nothing half-applied");
    // Space freed: the next attempt catches up.
    p.fail_writes.store(false, Ordering::SeqCst);
    assert!(p.drive_bounded(MINUTE, |p| p.synced() && p.last_seq() == Some(2)));
}

#[test]
fn an_outbox_entry_that_cannot_be_updated_waits_instead_of_spinning() {
    let mut p = synced_pair(18, 1);
    call(&mut p, "t0", 7); // will conflict
    p.fail_writes.store(true, Ordering::SeqCst);
    // drive_bounded panics if the desk loops without time passing.
    p.run_for(MINUTE);
    let sends = p.clinic.counters.sends;
    assert!(sends <= 13, "one attempt per 5 s at most, got {sends}");
    p.fail_writes.store(false, Ordering::SeqCst);
    assert!(p.drive_bounded(MINUTE, |p| outbox(p) == (0, 1)));
}

#[test]
fn a_replay_after_a_short_drop_notifies_once_as_a_summary() {
    let mut p = synced_pair(19, 0);
    p.silent = true;
    assert!(p.drive_bounded(MINUTE, |p| p.state() == ConnState::Reconnecting));
    p.silent = false;
    assert!(p.drive_bounded(MINUTE, Pair::synced));
    assert_eq!(
        connection_states(&p),
        [
            ConnState::Connecting,
            ConnState::Live,
            ConnState::Reconnecting,
            ConnState::Live
        ]
    );
    assert_eq!(
        p.clinic.counters.snapshots, 1,
        "a replay, not a second snapshot"
    );
}

#[test]
fn a_refresh_that_keeps_failing_while_live_is_not_asked_again_at_once() {
    let mut p = synced_pair(27, 0);
    p.run_for(SECOND);
    // The refresh endpoint starts failing (a server error) while the socket
    // stays up; the access token goes stale after its 15 minutes.
    p.clinic.fail_refresh = true;
    let before = p.clinic.counters.refreshes;
    // Past the clinic's midnight (UTC here, 15 h away) the window moves and
    // its new day must be fetched, which needs a token.
    p.run_for(16 * 60 * MINUTE);
    let asked = p.clinic.counters.refreshes - before;
    // One attempt per retry interval after midnight, not a storm.
    assert!((1..=70).contains(&asked), "{asked} refresh attempts");
    assert!(p.synced(), "the link stayed up");
}

#[test]
fn a_send_refused_as_unauthorized_retries_once_per_interval_not_in_a_loop() {
    let mut p = synced_pair(28, 1);
    p.clinic.refuse_sends = true;
    let refreshes = p.clinic.counters.refreshes;
    call(&mut p, "t0", 1);
    p.run_for(MINUTE);
    let sends = p.clinic.counters.sends;
    // Each round: the send, one renewal, the send again; then 5 s of rest.
    assert!((2..=26).contains(&sends), "{sends} sends in a minute");
    assert!(p.clinic.counters.refreshes - refreshes <= 13);
    assert_eq!(outbox(&p), (1, 0), "still pending, not dropped");
    p.clinic.refuse_sends = false;
    assert!(p.drive_bounded(10 * SECOND, |p| outbox(p) == (0, 0)));
}

#[test]
fn a_day_outside_the_window_on_screen_is_fetched_kept_live_and_read_offline() {
    let mut p = synced_pair(31, 0);
    p.run_for(SECOND); // the window's days filled
    let now = p.server_time();
    let hour = chrono::Duration::hours(1);
    let far = now + chrono::Duration::days(60);
    let far_day = far.date_naive(); // the pair's clinic is on UTC
    p.book("f1", far);
    p.run_for(SECOND);
    assert!(p.cached(Kind::Appointment).is_empty(), "outside: not sent");
    let watches = |p: &Pair| -> Vec<Value> {
        p.clinic
            .emits
            .iter()
            .filter(|(n, _)| n == "watch")
            .map(|(_, d)| d["days"].clone())
            .collect()
    };

    // On screen: watched, then fetched whole with its patient.
    p.with_desk(|d, now| d.show_day(Some(far_day), now));
    assert!(p.drive_bounded(SECOND, |p| p.cached(Kind::Appointment) == ["f1"]));
    assert_eq!(watches(&p), [json!([far_day])]);
    assert_eq!(p.cached(Kind::Patient), ["pat_f1"]);
    let fetched =
        p.updates_where(|u| matches!(u, Update::DayFetched { day, .. } if *day == far_day));
    assert_eq!(fetched.len(), 1);
    // Another desk moves it within the day and books another there: live.
    p.book("f1", far + hour);
    p.book("f2", far + hour * 2);
    assert!(p.drive_bounded(SECOND, |p| p.cached(Kind::Appointment) == ["f1", "f2"]));
    let moved: Appointment = p
        .desk
        .store()
        .cache
        .get(Kind::Appointment, "f1")
        .unwrap()
        .unwrap();
    assert_eq!(moved.start, far + hour);
    assert_eq!(p.last_seq(), Some(p.clinic.latest_seq()), "no gap");

    // Offline the day is still there, as of its fetch.
    p.clinic.reachable = false;
    p.silent = true;
    assert!(p.drive_bounded(MINUTE, |p| p.state() == ConnState::Reconnecting));
    p.silent = false;
    let as_of = p.desk.store().cache.fetched_at(far_day).unwrap();
    assert!(as_of.is_some_and(|t| t <= p.server_time()), "{as_of:?}");
    assert_eq!(p.cached(Kind::Appointment), ["f1", "f2"]);
    // Booked meanwhile; back online the day is watched and fetched again.
    p.book("f3", far + hour * 3);
    p.clinic.reachable = true;
    assert!(p.drive_bounded(2 * MINUTE, |p| p.cached(Kind::Appointment).len() == 3));
    assert_eq!(watches(&p).len(), 2, "watched again on the new link");

    // Back to today: the watch ends; the day stays in the cache, as of then.
    let today = p.server_time().date_naive();
    p.with_desk(|d, now| d.show_day(Some(today), now));
    p.run_for(SECOND);
    assert_eq!(watches(&p).last(), Some(&json!([])));
    assert_eq!(p.cached(Kind::Appointment).len(), 3);
    // Seven more days looked at: the first one leaves the cache, patients too.
    for n in 1..=FETCHED_DAYS_KEPT as u64 {
        let other = far_day + chrono::Days::new(n);
        p.with_desk(|d, now| d.show_day(Some(other), now));
        assert!(p.drive_bounded(SECOND, |p| {
            p.desk.store().cache.fetched_at(other).unwrap().is_some()
        }));
    }
    assert!(
        p.cached(Kind::Appointment).is_empty(),
        "deleted, not hidden"
    );
    assert!(p.cached(Kind::Patient).is_empty());
    assert_eq!(p.desk.store().cache.fetched_at(far_day).unwrap(), None);
}

fn locks(p: &Pair) -> Vec<Duration> {
    p.updates_where(|u| matches!(u, Update::Locked { .. }))
}

#[test]
fn an_idle_desk_locks_after_five_minutes_hides_what_notifications_say_and_stays_live() {
    let mut p = synced_pair(31, 0);
    let start = p.t;
    p.tell_me_arrived("q1", "Maria Kowalski");
    p.run_for(2 * SECOND);
    let shown = p.notified.last().expect("a notification").clone();
    assert!(shown.body.contains("Maria Kowalski"), "{shown:?}");

    assert!(p.drive_bounded(10 * MINUTE, Pair::locked));
    let locked_at = locks(&p)[0] - start;
    assert!(
        locked_at >= 5 * MINUTE - SECOND && locked_at <= 5 * MINUTE + SECOND,
        "{locked_at:?}"
    );
    assert!(
        matches!(p.updates.last(), Some((_, Update::Locked { reason })) if *reason == LockReason::Idle)
    );
    assert!(p.synced(), "the desk stays live while locked");

    // The group of arrivals is replaced: still one notification, saying nothing.
    p.run_for(2 * SECOND);
    p.tell_me_arrived("q2", "Jan Novak");
    p.run_for(2 * SECOND);
    let hidden = p.notified.last().expect("a notification").clone();
    assert_eq!(hidden.title, "Frontdesk is locked");
    assert!(
        !hidden.body.contains("Jan") && !hidden.body.contains("Maria"),
        "{hidden:?}"
    );
    assert_eq!(
        hidden.group, shown.group,
        "it still replaces the one before"
    );
    assert_eq!(p.cached_tickets().len(), 0, "no tickets were touched");
    assert!(
        p.last_seq() >= Some(2),
        "the events were applied while locked"
    );

    // Input at the lock screen is not using the desk.
    p.with_desk(|d, now| d.activity(now));
    p.run_for(MINUTE);
    assert!(p.locked());

    p.with_desk(|d, now| d.unlock_screen(now));
    p.run_for(SECOND);
    assert!(!p.locked());
    assert!(matches!(p.updates.last(), Some((_, Update::Unlocked))));
    p.tell_me_arrived("q3", "Ola Berg");
    p.run_for(2 * SECOND);
    assert!(
        p.notified
            .iter()
            .any(|n| n.body.contains("Ola Berg") || n.title.contains("patients arrived")),
        "unlocked, notifications say what came again: {:?}",
        p.notified.last()
    );

    // Locked on demand, at once.
    p.with_desk(|d, _| d.lock_screen(LockReason::Asked));
    p.run_for(SECOND);
    assert!(matches!(p.desk.locked(), Some(LockReason::Asked)));
    assert_eq!(locks(&p).len(), 2);
}

#[test]
fn the_clinics_new_lock_time_applies_at_once_and_a_new_window_resnapshots() {
    let mut p = synced_pair(32, 0);
    p.run_for(30 * SECOND);
    p.change_clinic(60, 30);
    let changed = p.t;
    assert!(p.drive_bounded(5 * MINUTE, Pair::locked));
    let after = locks(&p)[0] - changed;
    assert!(
        after <= 30 * SECOND + SECOND,
        "{after:?}: 60 s from the last input"
    );
    assert_eq!(p.clinic.counters.snapshots, 1, "same window: no snapshot");
    assert_eq!(
        p.desk
            .store()
            .cache
            .tenant()
            .unwrap()
            .unwrap()
            .lock_after_seconds,
        60,
        "the cache holds the clinic's new settings"
    );

    p.change_clinic(60, 14);
    assert!(p.drive_bounded(MINUTE, |p| p.clinic.counters.snapshots == 2));
    assert!(p.drive_bounded(MINUTE, Pair::synced));
}
