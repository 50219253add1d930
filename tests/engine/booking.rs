//! Booking from a desk: looking patients and slots up on the server while
//! live and in the cache while not, and an offline booking that turns out
//! to conflict kept with the next free slots and rebooked into one.

use crate::{at, day};
use frontdesk_e2e::*;
use frontdesk_engine::cache::outbox::{DeskAction, OutboxState};
use frontdesk_engine::cache::{Cache, DayHeld, Kind};
use frontdesk_engine::lookup::{Registered, Source};
use frontdesk_engine::supervisor::ConnState;
use frontdesk_protocol::api::{CreateAppointment, NewPatient};
use frontdesk_protocol::records::{Appointment, Patient};
use serde_json::json;

fn appointments(c: &Cache) -> Vec<Appointment> {
    c.list::<Appointment>(Kind::Appointment).unwrap()
}

#[tokio::test]
async fn lookups_ask_the_server_when_live_and_the_cache_when_not() {
    let clinic = Clinic::start(|_| {}).await;
    let proxy = FaultyProxy::start(clinic.addr).await;
    let mut me = Client::sign_in(&proxy.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("snapshot", |c| c.count(Kind::Patient).unwrap() == 24)
        .await;
    // A patient registered elsewhere, with no appointment this desk holds.
    let desk = Desk::login(&clinic.url(), "admin").await;
    let (s, _) = desk
        .post(
            "/api/patients",
            json!({"name": "Ingrid Solberg", "birth_date": "1970-05-06"}),
        )
        .await;
    assert_eq!(s, 201);
    let tomorrow = day(1);
    me.wait_cache("the window filled", |c| {
        c.day(tomorrow).unwrap().held == DayHeld::Window
    })
    .await;

    let online = me.handle.search_patients("solb", 0).await.unwrap();
    assert_eq!(online.source, Source::Server);
    assert_eq!(online.patients.len(), 1);
    // Registering the same person again is caught, and the candidate offered.
    let again = NewPatient {
        name: "solberg ingrid".into(),
        birth_date: "1970-05-06".parse().ok(),
        phone: None,
        confirm_new: false,
    };
    match me.handle.register_patient(again).await.unwrap() {
        Registered::PossibleDuplicate { candidates } => {
            assert_eq!(candidates[0].name, "Ingrid Solberg")
        }
        other => panic!("expected a possible duplicate: {other:?}"),
    }
    let slots = me
        .handle
        .slots(None, (tomorrow, tomorrow), 20)
        .await
        .unwrap();
    assert_eq!(slots.source, Source::Server);
    assert!(!slots.slots.is_empty());

    // Offline: the cache answers, and says so; the server-only patient is not in it.
    proxy.set_blocked(true);
    me.wait_state(ConnState::Reconnecting).await;
    let offline = me.handle.search_patients("solb", 0).await.unwrap();
    assert_eq!((offline.source, offline.patients.len()), (Source::Cache, 0));
    let cached_name = me
        .handle
        .reader()
        .unwrap()
        .list::<Patient>(Kind::Patient)
        .unwrap()[0]
        .name
        .clone();
    let word = cached_name
        .split_whitespace()
        .last()
        .unwrap()
        .to_lowercase();
    let found = me.handle.search_patients(&word, 0).await.unwrap();
    assert_eq!(found.source, Source::Cache);
    assert!(
        found.patients.iter().any(|p| p.name == cached_name),
        "{word}: {found:?}"
    );
    let local = me
        .handle
        .slots(None, (tomorrow, tomorrow), 20)
        .await
        .unwrap();
    assert_eq!(local.source, Source::Cache);
    assert_eq!(
        local.slots, slots.slots,
        "the same slots from the cache as from the server"
    );
    let id = found.patients[0].id.clone();
    let record = me
        .handle
        .patient(&id)
        .await
        .unwrap()
        .expect("a cached patient");
    assert_eq!(record.source, Source::Cache);
    assert!(record.details.upcoming.len() + record.details.past.len() >= 1);
    let new = NewPatient {
        name: "Offline Person".into(),
        birth_date: None,
        phone: None,
        confirm_new: false,
    };
    assert!(
        me.handle.register_patient(new).await.is_err(),
        "registering needs the server"
    );
    assert!(me.handle.search_patients(" ", 0).await.is_err());
}

#[tokio::test]
async fn an_offline_booking_that_meets_a_taken_slot_is_kept_with_three_free_slots_and_rebooked() {
    let clinic = Clinic::start(|_| {}).await;
    let proxy = FaultyProxy::start(clinic.addr).await;
    let mut me = Client::sign_in(&proxy.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("snapshot", |c| c.count(Kind::Patient).unwrap() == 24)
        .await;
    let provider = clinic.clinic.providers[0].clone();
    let patient = me
        .handle
        .reader()
        .unwrap()
        .list::<Patient>(Kind::Patient)
        .unwrap()[0]
        .clone();

    let tomorrow = day(1);
    me.wait_cache("the window filled", |c| {
        c.day(tomorrow).unwrap().held == DayHeld::Window
    })
    .await;
    // Offline, the desk books 10:00 tomorrow, which looks free from here…
    proxy.set_blocked(true);
    me.wait_state(ConnState::Reconnecting).await;
    let free = me
        .handle
        .slots(Some(&provider), (tomorrow, tomorrow), 20)
        .await
        .unwrap();
    assert!(free.slots.iter().any(|s| s.start == at(1, 10, 0)));
    let mine = CreateAppointment {
        patient_id: Some(patient.id.clone()),
        patient: None,
        provider_id: provider.clone(),
        room_id: None,
        start: at(1, 10, 0),
        end: at(1, 10, 20),
        reason: "Booked offline".into(),
        type_id: None,
        overbook: false,
        overbook_reason: None,
    };
    let entry = me
        .handle
        .act(DeskAction::Book { body: mine.clone() })
        .await
        .unwrap();
    assert_eq!(entry.state, OutboxState::Pending);
    // …while another desk books 10:10 on the server.
    let desk = Desk::login(&clinic.url(), "admin").await;
    let (s, theirs) = desk
        .post(
            "/api/appointments",
            json!({"patient": {"name": "Walk Up"}, "provider_id": provider, "start": at(1, 10, 10), "end": at(1, 10, 30)}),
        )
        .await;
    assert_eq!(s, 201, "{theirs}");

    // Back online: the booking is refused as a conflict, kept, with what is
    // in the way and the next three free slots.
    proxy.set_blocked(false);
    me.handle.retry_now().unwrap();
    me.wait_state(ConnState::Live).await;
    me.wait_cache("the booking met the taken slot", |c| {
        c.outbox_list()
            .unwrap()
            .first()
            .is_some_and(|e| e.state == OutboxState::Conflict)
    })
    .await;
    let kept = me.handle.reader().unwrap().outbox_list().unwrap().remove(0);
    assert_eq!(kept.n, entry.n);
    let problem = kept.conflict.expect("the server's answer is kept");
    assert_eq!(problem.kind, "slot-taken");
    assert_eq!(
        problem.appointment.as_ref().map(|a| a.id.as_str()),
        theirs["id"].as_str()
    );
    assert_eq!(problem.next_slots.len(), 3);
    assert_eq!(problem.next_slots[0].start, at(1, 10, 30));
    assert_eq!(problem.mine["reason"], "Booked offline");
    // Nothing was dropped: the desk's own booking is still there to choose for.
    let slot = problem.next_slots[0].clone();
    let rebook = CreateAppointment {
        start: slot.start,
        end: slot.end,
        ..mine
    };
    me.handle
        .resend(kept.n, DeskAction::Book { body: rebook })
        .await
        .unwrap();
    me.wait_cache("rebooked into the offered slot", |c| {
        c.outbox_list().unwrap().is_empty()
            && appointments(c).iter().any(|a| {
                a.start == slot.start && a.patient.id == patient.id && a.reason == "Booked offline"
            })
    })
    .await;
}

/// The reception desk signed in through a proxy (to be cut off later), live,
/// with its whole sync window filled (the demo's 30 days ahead).
async fn desk_with_its_window() -> (Clinic, FaultyProxy, Client) {
    let clinic = Clinic::start(|_| {}).await;
    let proxy = FaultyProxy::start(clinic.addr).await;
    let mut me = Client::sign_in(&proxy.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    let last_of_window = day(30);
    me.wait_cache("the window filled", |c| {
        c.day(last_of_window).unwrap().held == DayHeld::Window
    })
    .await;
    (clinic, proxy, me)
}

#[tokio::test]
async fn a_week_outside_the_window_is_read_from_the_clinic_while_live_and_not_kept() {
    let (clinic, proxy, mut me) = desk_with_its_window().await;
    let last_of_window = day(30);
    // Another desk books two days past the window's end, for a new patient.
    let admin = Desk::login(&clinic.url(), "admin").await;
    let (s, far) = admin
        .post(
            "/api/appointments",
            json!({
                "patient": {"name": "Farrah Week", "phone": "+1 555 0177"},
                "provider_id": clinic.clinic.providers[0],
                "start": at(32, 10, 0),
                "end": at(32, 10, 20),
                "reason": "Review",
            }),
        )
        .await;
    assert_eq!(s, 201, "{far}");

    // A week from the window's last day: that day from the cache, the rest asked.
    let week = me.handle.week(last_of_window).await.unwrap();
    assert_eq!(week.len(), 7);
    assert_eq!(week[0].held, DayHeld::Window);
    assert!(
        week[1..]
            .iter()
            .all(|d| matches!(d.held, DayHeld::Asked { .. })),
        "{:?}",
        week.iter().map(|d| &d.held).collect::<Vec<_>>()
    );
    let shown: Vec<&str> = week[2].appointments.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        shown,
        [far["id"].as_str().unwrap()],
        "the day of the booking"
    );
    assert!(week[1].appointments.iter().all(|a| a.start < week[1].end));
    // Read again at once (as the view does at every schedule change): the same
    // answer, not another read of the clinic (one day fetch in the audit trail).
    let again = me.handle.week(last_of_window).await.unwrap();
    assert_eq!(again, week);
    let report = admin
        .get(&format!(
            "/api/audit?patient_id={}",
            far["patient"]["id"].as_str().unwrap()
        ))
        .await;
    let fetches = report
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["access"] == "day_fetch")
        .count();
    assert_eq!(fetches, 1, "{report}");
    // …and not kept: neither the appointment nor its patient is on this PC.
    let cache = me.handle.reader().unwrap();
    assert!(!appointments(&cache).iter().any(|a| a.id == far["id"]));
    assert!(
        !cache
            .list::<Patient>(Kind::Patient)
            .unwrap()
            .iter()
            .any(|p| p.name == "Farrah Week")
    );

    // Offline those days are not available, and say so.
    proxy.set_blocked(true);
    me.wait_state(ConnState::Reconnecting).await;
    let week = me.handle.week(last_of_window).await.unwrap();
    assert_eq!(week[0].held, DayHeld::Window);
    assert!(week[1..].iter().all(|d| d.held == DayHeld::NotHeld));
    assert!(week[2].appointments.is_empty());
}

#[tokio::test]
async fn a_returning_patient_booked_at_another_desk_is_found_offline_by_phone_and_birth_date() {
    let (clinic, proxy, mut me) = desk_with_its_window().await;
    // Registered long ago, held by no desk; today booked from another desk.
    let other = Desk::login(&clinic.url(), "admin").await;
    let (s, ruth) = other
        .post(
            "/api/patients",
            json!({"name": "Ruth Returning", "phone": "+1 555 0199", "birth_date": "1950-02-03"}),
        )
        .await;
    assert_eq!(s, 201, "{ruth}");
    let (s, a) = other
        .post(
            "/api/appointments",
            json!({"patient_id": ruth["id"], "provider_id": clinic.clinic.providers[0],
                   "start": at(2, 10, 0), "end": at(2, 10, 20), "reason": "Follow-up"}),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    let id = ruth["id"].as_str().unwrap().to_owned();
    me.wait_cache("the patient held whole", move |c| {
        c.get::<Patient>(Kind::Patient, &id)
            .unwrap()
            .is_some_and(|p| p.phone.as_deref() == Some("+1 555 0199"))
    })
    .await;

    // Offline, the desk still finds her by what callers give.
    proxy.set_blocked(true);
    me.wait_state(ConnState::Reconnecting).await;
    for typed in ["0199", "03/02/1950", "returning 3 Feb 1950"] {
        let found = me.handle.search_patients(typed, 0).await.unwrap();
        assert_eq!(found.source, Source::Cache);
        assert!(
            found.patients.iter().any(|p| p.name == "Ruth Returning"),
            "{typed}: {found:?}"
        );
    }
}
