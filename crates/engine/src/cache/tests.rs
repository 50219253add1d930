//! Cache tests on real SQLCipher files.

use super::outbox::{DeskAction, OutboxProblem, OutboxState};
use super::*;
use chrono::Utc;
use frontdesk_protocol::api::{PostMessage, Snapshot, UpdateQueueEntry};
use frontdesk_protocol::envelope::{Envelope, EventData};
use frontdesk_protocol::records::*;
use frontdesk_protocol::status::QueueStatus;
use serde_json::json;

fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().unwrap()
}

fn snapshot(seq: u64) -> Snapshot {
    Snapshot {
        seq,
        last_event_id: None,
        window: None,
        holds: None,
        tenant: Tenant {
            id: "demo".into(),
            name: "Demo".into(),
            time_zone: "UTC".into(),
            window_days_back: 7,
            window_days_ahead: 30,
            lock_after_seconds: 300,
        },
        me: UserSummary {
            id: "u1".into(),
            name: "Rosa".into(),
            role: Role::Receptionist,
        },
        users: vec![User {
            id: "u1".into(),
            username: "reception".into(),
            name: "Rosa".into(),
            role: Role::Receptionist,
        }],
        providers: vec![],
        rooms: vec![Room {
            id: "r1".into(),
            name: "Room 1".into(),
        }],
        patients: vec![],
        appointments: vec![],
        queue: vec![],
        threads: vec![],
        messages: vec![],
        read_markers: vec![],
        notifications: vec![],
        presence: vec![],
        hours: Vec::new(),
        appointment_types: Vec::new(),
    }
}

fn ticket(id: &str, version: u64, status: QueueStatus) -> QueueEntry {
    QueueEntry {
        id: id.into(),
        ticket: "A-001".into(),
        provider_id: "p1".into(),
        room_id: None,
        patient: Some(PatientRef {
            id: "pat1".into(),
            name: "Maria Kowalski".into(),
            initials: "M.K.".into(),
        }),
        initials: "M.K.".into(),
        appointment_id: None,
        status,
        priority: 0,
        arrived_at: t("2026-11-22T09:00:00Z"),
        called_at: None,
        version,
        updated_at: t("2026-11-22T09:00:00Z"),
    }
}

fn env(seq: u64, data: EventData) -> Envelope {
    Envelope {
        seq,
        id: format!("e{seq}"),
        kind: data.kind().into(),
        tenant: "demo".into(),
        at: t("2026-11-22T09:00:00Z"),
        actor: "u2".into(),
        data: data.to_value(),
        redacted: false,
        evict: None,
        patient: None,
    }
}

fn open_temp() -> (tempfile::TempDir, std::path::PathBuf, CacheKey, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let key = CacheKey::generate();
    let cache = Cache::open(&path, &key).unwrap();
    (dir, path, key, cache)
}

#[test]
fn key_hex_round_trips() {
    let k = CacheKey::generate();
    assert_eq!(CacheKey::from_hex(&k.to_hex()).unwrap().0, k.0);
    assert!(CacheKey::from_hex("zz").is_none());
    assert!(CacheKey::from_hex(&"g".repeat(64)).is_none());
    assert_eq!(format!("{k:?}"), "CacheKey(…)");
}

#[test]
fn encrypted_at_rest_and_refuses_the_wrong_key() {
    let (_dir, path, key, mut cache) = open_temp();
    let mut snap = snapshot(3);
    snap.queue.push(ticket("q1", 1, QueueStatus::Waiting));
    snap.patients.push(Patient {
        id: "pat1".into(),
        name: "Maria Kowalski".into(),
        initials: "M.K.".into(),
        birth_date: None,
        phone: None,
        version: 1,
    });
    cache.replace_with_snapshot(&snap, Utc::now()).unwrap();
    drop(cache);
    // Nothing readable on disk (the WAL included).
    for suffix in ["", "-wal"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(bytes) = std::fs::read(&p) {
            assert!(
                !bytes.windows(9).any(|w| w == b"Kowalski\""),
                "{suffix} holds plaintext"
            );
            assert!(!bytes.starts_with(b"SQLite format 3"));
        }
    }
    assert!(matches!(
        Cache::open(&path, &CacheKey::generate()),
        Err(EngineError::CacheKey)
    ));
    let cache = Cache::open(&path, &key).unwrap();
    assert_eq!(cache.last_seq().unwrap(), Some(3));
    let q: QueueEntry = cache.get(Kind::Queue, "q1").unwrap().unwrap();
    assert_eq!(q.initials, "M.K.");
}

#[test]
fn a_file_that_is_not_a_cache_is_refused_and_can_be_wiped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    assert!(matches!(
        Cache::open(&path, &CacheKey::generate()),
        Err(EngineError::CacheKey)
    ));
    Cache::wipe(&path).unwrap();
    assert!(!path.exists());
    Cache::wipe(&path).unwrap();
    let key = CacheKey::generate();
    let c = Cache::open(&path, &key).unwrap();
    assert_eq!(
        c.last_seq().unwrap(),
        None,
        "a fresh cache has never synced"
    );
}

#[test]
fn a_damaged_cache_is_reported_not_trusted() {
    let (_dir, path, key, mut cache) = open_temp();
    let mut snap = snapshot(1);
    for i in 0..300 {
        snap.queue
            .push(ticket(&format!("q{i}"), 1, QueueStatus::Waiting));
    }
    cache.replace_with_snapshot(&snap, Utc::now()).unwrap();
    drop(cache);
    // Fold the WAL into the file, then flip bytes in a data page.
    {
        let c = Cache::open(&path, &key).unwrap();
        c.conn
            .pragma_update(None, "journal_mode", "DELETE")
            .unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8192);
    for b in &mut bytes[5000..5100] {
        *b ^= 0xff;
    }
    std::fs::write(&path, bytes).unwrap();
    let err = Cache::open(&path, &key).err().expect("damage detected");
    assert!(
        matches!(err, EngineError::CacheCorrupt(_) | EngineError::CacheKey),
        "{err}"
    );
}

#[test]
fn events_apply_in_order_exactly_once_and_gaps_are_reported() {
    let (_dir, _path, _key, mut cache) = open_temp();
    cache
        .replace_with_snapshot(&snapshot(10), Utc::now())
        .unwrap();
    let e11 = env(
        11,
        EventData::QueueUpdated(ticket("q1", 1, QueueStatus::Waiting)),
    );
    let e12 = env(
        12,
        EventData::QueueCalled(ticket("q1", 2, QueueStatus::Called)),
    );
    let mut e13 = env(
        13,
        EventData::NotificationCreated(Notification {
            id: "n1".into(),
            user_id: "u9".into(),
            kind: "patient.arrived".into(),
            title: "x".into(),
            body: "y".into(),
            urgency: Urgency::Normal,
            subject: Subject {
                kind: "queue".into(),
                id: "q1".into(),
            },
            created_at: t("2026-11-22T09:00:00Z"),
        }),
    );
    e13 = e13.redact();
    let mut e14 = e11.clone();
    e14.seq = 14;
    e14.kind = "room.renamed".into(); // a type this build does not know

    let a = cache.apply_events(&[e11.clone(), e12.clone()]).unwrap();
    assert_eq!((a.applied.len(), a.skipped, a.gap), (2, 0, None));
    // Replaying an overlap applies nothing twice.
    let a = cache
        .apply_events(&[e11.clone(), e12.clone(), e13.clone()])
        .unwrap();
    assert_eq!((a.applied.len(), a.skipped), (1, 2));
    let q: QueueEntry = cache.get(Kind::Queue, "q1").unwrap().unwrap();
    assert_eq!((q.version, q.status), (2, QueueStatus::Called));
    assert_eq!(
        cache.count(Kind::Notification).unwrap(),
        0,
        "redacted events carry nothing"
    );
    // A gap: 16 after 14 stops the batch; 14 is applied, 16 is not.
    let mut e16 = e14.clone();
    e16.seq = 16;
    let a = cache.apply_events(&[e14, e16]).unwrap();
    assert_eq!(a.applied.len(), 1);
    assert_eq!(a.gap, Some((15, 16)));
    assert_eq!(cache.last_seq().unwrap(), Some(14));
    // The walk-in's patient is remembered from the ticket.
    let p: Patient = cache.get(Kind::Patient, "pat1").unwrap().unwrap();
    assert_eq!(p.name, "Maria Kowalski");
}

#[test]
fn a_snapshot_replaces_records_but_keeps_the_outbox() {
    let (_dir, _path, _key, mut cache) = open_temp();
    cache
        .replace_with_snapshot(&snapshot(5), Utc::now())
        .unwrap();
    cache
        .apply_events(&[env(
            6,
            EventData::QueueUpdated(ticket("old", 1, QueueStatus::Waiting)),
        )])
        .unwrap();
    let pending = cache
        .outbox_push(
            &DeskAction::SendMessage {
                thread_id: "t1".into(),
                body: PostMessage {
                    client_id: "c1".into(),
                    body: "hi".into(),
                    urgent: false,
                },
            },
            Utc::now(),
        )
        .unwrap();
    let mut fresh = snapshot(900);
    fresh.queue.push(ticket("new", 3, QueueStatus::Waiting));
    cache.replace_with_snapshot(&fresh, Utc::now()).unwrap();
    assert!(
        cache
            .get::<QueueEntry>(Kind::Queue, "old")
            .unwrap()
            .is_none()
    );
    assert!(
        cache
            .get::<QueueEntry>(Kind::Queue, "new")
            .unwrap()
            .is_some()
    );
    assert_eq!(cache.last_seq().unwrap(), Some(900));
    assert_eq!(cache.outbox_list().unwrap(), vec![pending]);
}

#[test]
fn outbox_keeps_order_keys_and_problems_across_reopen() {
    let (_dir, path, key, cache) = open_temp();
    let a1 = DeskAction::CheckIn {
        appointment_id: "apt1".into(),
        priority: 0,
    };
    let a2 = DeskAction::UpdateTicket {
        id: "q1".into(),
        body: UpdateQueueEntry {
            version: 3,
            status: Some(QueueStatus::Done),
            ..Default::default()
        },
    };
    let a3 = DeskAction::MarkRead {
        thread_id: "t1".into(),
        message_id: "m1".into(),
    };
    let e1 = cache.outbox_push(&a1, Utc::now()).unwrap();
    let e2 = cache.outbox_push(&a2, Utc::now()).unwrap();
    let e3 = cache.outbox_push(&a3, Utc::now()).unwrap();
    assert!(e1.n < e2.n && e2.n < e3.n);
    assert_ne!(e1.key, e2.key);
    assert_eq!(
        (e2.subject_kind.as_str(), e2.subject_id.as_str()),
        ("queue", "q1")
    );
    let r = a2.request().unwrap();
    assert_eq!((r.method, r.path.as_str()), ("PATCH", "/api/queue/q1"));
    assert_eq!(r.body, json!({"version": 3, "status": "done"}));
    drop(cache);

    // A crash here loses nothing.
    let cache = Cache::open(&path, &key).unwrap();
    assert_eq!(cache.outbox_next().unwrap().unwrap(), e1);
    cache.outbox_attempted(e1.n).unwrap();
    cache.outbox_done(e1.n).unwrap();
    let conflict = OutboxProblem {
        kind: "conflict".into(),
        mine: r.body.clone(),
        current: Some(json!({"version": 4})),
        ..OutboxProblem::default()
    };
    cache
        .outbox_set_problem(
            e2.n,
            OutboxState::Conflict,
            "changed elsewhere",
            Some(&conflict),
        )
        .unwrap();
    // Conflicts do not block what follows.
    assert_eq!(cache.outbox_next().unwrap().unwrap().n, e3.n);
    let list = cache.outbox_list().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].state, OutboxState::Conflict);
    let kept = list[0].conflict.as_ref().unwrap();
    assert_eq!(kept.current.as_ref().unwrap()["version"], 4);
    assert_eq!(kept.mine, r.body);
    // Resolving: resend with the current version under a new key.
    let fixed = DeskAction::UpdateTicket {
        id: "q1".into(),
        body: UpdateQueueEntry {
            version: 4,
            status: Some(QueueStatus::Done),
            ..Default::default()
        },
    };
    cache.outbox_resend(e2.n, &fixed).unwrap();
    let again = cache.outbox_next().unwrap().unwrap();
    assert_eq!(
        (again.n, again.state, again.action.clone()),
        (e2.n, OutboxState::Pending, fixed)
    );
    assert_ne!(again.key, e2.key);
    assert!(cache.outbox_dismiss(e3.n).unwrap());
    assert!(!cache.outbox_dismiss(e3.n).unwrap());
}

#[test]
fn an_unreadable_outbox_entry_is_named_and_does_not_hide_the_others() {
    let (_dir, _path, _key, cache) = open_temp();
    let good = DeskAction::MarkRead {
        thread_id: "t1".into(),
        message_id: "m1".into(),
    };
    let first = cache.outbox_push(&good, Utc::now()).unwrap();
    let second = cache.outbox_push(&good, Utc::now()).unwrap();
    // An action a newer build wrote, that this one cannot read.
    cache
        .conn
        .execute(
            "UPDATE outbox SET action = '{\"action\":\"from_the_future\"}' WHERE n = ?1",
            [first.n],
        )
        .unwrap();
    match cache.outbox_next() {
        Err(EngineError::OutboxEntryUnreadable { n, .. }) => assert_eq!(n, first.n),
        other => panic!("{other:?}"),
    }
    assert_eq!(cache.outbox_list().unwrap(), vec![second.clone()]);
    cache
        .outbox_set_problem(first.n, OutboxState::Refused, "unreadable", None)
        .unwrap();
    assert_eq!(cache.outbox_next().unwrap(), Some(second));
}

fn appointment(id: &str, start: &str) -> Appointment {
    Appointment {
        id: id.into(),
        patient: PatientRef {
            id: format!("pat_{id}"),
            name: format!("Patient {id}"),
            initials: "P.P.".into(),
        },
        provider_id: "p1".into(),
        room_id: None,
        start: t(start),
        end: t(start) + chrono::Duration::minutes(20),
        status: frontdesk_protocol::status::AppointmentStatus::Booked,
        reason: String::new(),
        version: 1,
        updated_at: t(start),
        type_id: None,
        overbook_reason: None,
    }
}

#[test]
fn a_fetched_day_replaces_what_was_held_on_it_and_outlives_the_windows_move() {
    let (_dir, _path, _key, mut c) = open_temp();
    let mut snap = snapshot(1);
    snap.holds = Some(frontdesk_protocol::window::SyncWindow {
        from: "2026-11-15".parse().unwrap(),
        to: "2026-12-22".parse().unwrap(),
    });
    c.replace_with_snapshot(&snap, t("2026-11-22T09:00:00Z"))
        .unwrap();
    let day: chrono::NaiveDate = "2026-10-01".parse().unwrap();
    let range = (t("2026-10-01T00:00:00Z"), t("2026-10-02T00:00:00Z"));
    let page = |apts: Vec<Appointment>| frontdesk_protocol::api::AppointmentsPage {
        seq: 1,
        patients: apts
            .iter()
            .map(|a| Patient {
                id: a.patient.id.clone(),
                name: a.patient.name.clone(),
                initials: a.patient.initials.clone(),
                birth_date: None,
                phone: None,
                version: 1,
            })
            .collect(),
        appointments: apts,
        next: None,
    };
    let (a, b) = (
        appointment("a", "2026-10-01T09:00:00Z"),
        appointment("b", "2026-10-01T10:00:00Z"),
    );
    c.store_fetched(&page(vec![a.clone(), b]), None).unwrap();
    let at = t("2026-11-22T09:42:00Z");
    c.finish_day(day, range, &["a".into(), "b".into()], at)
        .unwrap();
    assert_eq!(c.fetched_at(day).unwrap(), Some(at));
    assert_eq!(c.appointments_between(range.0, range.1).unwrap().len(), 2);

    // Fetched again after b moved away: b goes, its patient with it.
    c.store_fetched(&page(vec![a]), None).unwrap();
    c.finish_day(day, range, &["a".into()], at).unwrap();
    let held = c.appointments_between(range.0, range.1).unwrap();
    assert_eq!(
        held.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    assert!(c.get::<Patient>(Kind::Patient, "pat_b").unwrap().is_none());

    // The window moving on deletes what left it, not the day kept for the screen.
    let early = appointment("early", "2026-11-15T08:00:00Z");
    c.store_fetched(&page(vec![early]), None).unwrap();
    let gone = c
        .evict_before(t("2026-11-16T00:00:00Z"), "2026-11-16".parse().unwrap())
        .unwrap();
    assert_eq!(gone, 1);
    assert!(
        c.get::<Patient>(Kind::Patient, "pat_early")
            .unwrap()
            .is_none()
    );
    assert_eq!(c.appointments_between(range.0, range.1).unwrap().len(), 1);
    assert!(c.get::<Patient>(Kind::Patient, "pat_a").unwrap().is_some());
    // A snapshot starts over: no day outside the window is kept.
    c.replace_with_snapshot(&snap, at).unwrap();
    assert_eq!(c.fetched_at(day).unwrap(), None);
}

#[test]
fn a_patient_correction_reaches_the_records_that_name_them_and_no_stranger_is_stored() {
    let (_dir, _path, _key, mut cache) = open_temp();
    let mut snap = snapshot(0);
    let held = appointment("a", "2026-11-22T10:00:00Z");
    snap.patients.push(Patient {
        id: held.patient.id.clone(),
        name: held.patient.name.clone(),
        initials: held.patient.initials.clone(),
        birth_date: None,
        phone: None,
        version: 1,
    });
    snap.appointments.push(held.clone());
    let mut walk_in = ticket("q1", 1, QueueStatus::Waiting);
    walk_in.patient = Some(held.patient.clone());
    snap.queue.push(walk_in);
    cache.replace_with_snapshot(&snap, Utc::now()).unwrap();
    let corrected = Patient {
        id: held.patient.id.clone(),
        name: "Ana Souza".into(),
        initials: "A.S.".into(),
        birth_date: "1990-01-02".parse().ok(),
        phone: None,
        version: 2,
    };
    let stranger = Patient {
        id: "pat_new".into(),
        name: "Not Here".into(),
        initials: "N.H.".into(),
        birth_date: None,
        phone: None,
        version: 1,
    };
    let hours = frontdesk_protocol::schedule::ProviderHours {
        provider_id: "p1".into(),
        weekly: vec![],
        exceptions: vec![],
        version: 2,
    };
    cache
        .apply_events(&[
            env(1, EventData::PatientUpdated(corrected.clone())),
            env(2, EventData::PatientCreated(stranger.clone())),
            env(
                3,
                EventData::PatientUpdated(Patient {
                    id: "pat_other".into(),
                    ..stranger
                }),
            ),
            env(4, EventData::HoursUpdated(hours.clone())),
        ])
        .unwrap();
    assert_eq!(
        cache.get::<Patient>(Kind::Patient, &corrected.id).unwrap(),
        Some(corrected)
    );
    let a: Appointment = cache.get(Kind::Appointment, "a").unwrap().unwrap();
    assert_eq!(
        (a.patient.name.as_str(), a.patient.initials.as_str()),
        ("Ana Souza", "A.S.")
    );
    let q: QueueEntry = cache.get(Kind::Queue, "q1").unwrap().unwrap();
    assert_eq!(
        (q.patient.unwrap().name.as_str(), q.initials.as_str()),
        ("Ana Souza", "A.S.")
    );
    assert_eq!(
        cache.count(Kind::Patient).unwrap(),
        1,
        "no patient the desk does not hold"
    );
    assert_eq!(
        cache
            .list::<frontdesk_protocol::schedule::ProviderHours>(Kind::Hours)
            .unwrap(),
        vec![hours]
    );
    assert_eq!(cache.last_seq().unwrap(), Some(4));
}

#[test]
fn a_patient_registered_with_their_booking_is_held_whole_not_as_the_name_it_carried() {
    let (_dir, _path, _key, mut cache) = open_temp();
    cache
        .replace_with_snapshot(&snapshot(0), Utc::now())
        .unwrap();
    let booked = appointment("a", "2026-11-22T10:00:00Z");
    let registered = Patient {
        id: booked.patient.id.clone(),
        name: booked.patient.name.clone(),
        initials: booked.patient.initials.clone(),
        birth_date: "1980-03-12".parse().ok(),
        phone: Some("+44 20 7946 0958".into()),
        version: 1,
    };
    // The server sends the booking first, then the patient it registered.
    cache
        .apply_events(&[env(1, EventData::AppointmentCreated(booked.clone()))])
        .unwrap();
    let stub: Patient = cache.get(Kind::Patient, &registered.id).unwrap().unwrap();
    assert_eq!(
        (stub.phone, stub.version),
        (None, 0),
        "only the name so far"
    );
    cache
        .apply_events(&[env(2, EventData::PatientCreated(registered.clone()))])
        .unwrap();
    assert_eq!(
        cache.get::<Patient>(Kind::Patient, &registered.id).unwrap(),
        Some(registered)
    );
}

#[test]
fn a_week_asks_only_for_the_days_it_does_not_hold_and_files_each_answer_under_its_day() {
    let view = |day: &str, held: DayHeld| DayView {
        day: day.parse().unwrap(),
        start: t(&format!("{day}T00:00:00Z")),
        end: t(&format!("{day}T00:00:00Z")) + chrono::Duration::days(1),
        held,
        appointments: vec![],
    };
    let held = appointment("kept", "2026-12-30T09:00:00Z");
    let mut days = vec![
        view("2026-12-30", DayHeld::Window),
        view("2026-12-31", DayHeld::NotHeld),
        view(
            "2027-01-01",
            DayHeld::Fetched {
                at: t("2026-12-01T09:42:00Z"),
            },
        ),
        view("2027-01-02", DayHeld::NotHeld),
    ];
    days[0].appointments.push(held.clone());
    assert_eq!(
        day::not_held(&days),
        Some(("2026-12-31".parse().unwrap(), "2027-01-02".parse().unwrap()))
    );
    let found = [
        appointment("a", "2026-12-31T08:00:00Z"),
        appointment("b", "2026-12-31T23:59:00Z"),
        appointment("c", "2027-01-02T00:00:00Z"),
    ];
    let at = t("2026-12-01T10:00:00Z");
    day::fill_not_held(&mut days, &found, at);
    let ids = |d: &DayView| {
        d.appointments
            .iter()
            .map(|a| a.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&days[0]),
        ["kept"],
        "a held day keeps what the cache has"
    );
    assert_eq!(
        (ids(&days[1]), &days[1].held),
        (vec!["a".into(), "b".into()], &DayHeld::Asked { at })
    );
    assert!(
        ids(&days[2]).is_empty(),
        "a fetched day is the cache's, not asked again"
    );
    assert_eq!(ids(&days[3]), ["c"]);
    assert_eq!(day::not_held(&days), None, "nothing left to ask");
}

#[test]
fn a_patient_first_held_through_an_event_is_held_whole_and_never_older() {
    let (_dir, _path, _key, mut cache) = open_temp();
    cache
        .replace_with_snapshot(&snapshot(0), Utc::now())
        .unwrap();
    let booked = appointment("a", "2026-11-22T10:00:00Z");
    let whole = |version: u64, phone: &str| Patient {
        id: booked.patient.id.clone(),
        name: booked.patient.name.clone(),
        initials: booked.patient.initials.clone(),
        birth_date: "1961-07-04".parse().ok(),
        phone: Some(phone.into()),
        version,
    };
    let with_patient = |seq: u64, data: EventData, p: Option<Patient>| Envelope {
        patient: p,
        ..env(seq, data)
    };
    // Booked at another desk for a returning patient this desk did not hold.
    cache
        .apply_events(&[with_patient(
            1,
            EventData::AppointmentCreated(booked.clone()),
            Some(whole(3, "+1 555 0103")),
        )])
        .unwrap();
    let held = |c: &Cache| c.get::<Patient>(Kind::Patient, &booked.patient.id).unwrap();
    assert_eq!(held(&cache), Some(whole(3, "+1 555 0103")));
    // A later event without the record, or with an older one, keeps it.
    let mut moved = booked.clone();
    moved.version = 2;
    cache
        .apply_events(&[
            with_patient(2, EventData::AppointmentUpdated(moved.clone()), None),
            with_patient(
                3,
                EventData::AppointmentUpdated(moved),
                Some(whole(2, "+1 555 0102")),
            ),
        ])
        .unwrap();
    assert_eq!(held(&cache), Some(whole(3, "+1 555 0103")));
}

#[test]
fn a_weeks_answer_is_shown_again_for_the_same_days_for_thirty_seconds() {
    let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
    let at = t("2026-12-01T10:00:00Z");
    let answer = day::AskedWeek {
        from: day("2027-01-04"),
        to: day("2027-01-10"),
        at,
        found: vec![],
    };
    let same = (day("2027-01-04"), day("2027-01-10"));
    assert!(answer.serves(same, at));
    assert!(answer.serves(same, at + chrono::Duration::seconds(29)));
    assert!(!answer.serves(same, at + day::ASKED_FRESH));
    assert!(!answer.serves((day("2027-01-05"), day("2027-01-10")), at));
    assert!(
        !answer.serves(same, at - chrono::Duration::seconds(1)),
        "a clock set back asks again"
    );
}
