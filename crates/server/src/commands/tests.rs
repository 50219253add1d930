//! The clinic's rules, tested on the commands themselves against a real
//! SQLite database seeded with the demo clinic, at a time of day the test
//! chooses: no server, no HTTP.

use super::*;
use crate::demo::{self, DemoClinic};
use frontdesk_protocol::api::{
    CallNext, CreateQueueEntry, NewPatient, PostMessage, UpdateAppointment,
};
use frontdesk_protocol::envelope::EventData;
use frontdesk_protocol::records::Urgency;
use frontdesk_protocol::status::AppointmentStatus;

/// 10:00 on 2026-11-22 in Auckland (21:00 UTC the day before).
fn morning() -> DateTime<Utc> {
    "2026-11-21T21:00:00Z".parse().unwrap()
}

fn clinic(now: DateTime<Utc>) -> (Connection, DemoClinic) {
    let mut conn = Connection::open_in_memory().unwrap();
    crate::db::migrations::migrate(&mut conn).unwrap();
    let clinic = demo::seed_at(&mut conn, "demo", "Demo", "Pacific/Auckland", now)
        .unwrap()
        .unwrap();
    (conn, clinic)
}

fn staff(id: &str, role: Role) -> Caller {
    Caller {
        id: id.to_owned(),
        tenant: "demo".into(),
        role,
        name: format!("{role:?}"),
        login: None,
        address: None,
    }
}

/// Runs `cmd` as `caller` at `now` in one transaction, as `execute` would.
fn run<C: Command>(
    conn: &mut Connection,
    caller: &Caller,
    now: DateTime<Utc>,
    cmd: C,
) -> Result<(C::Answer, Vec<Outgoing>), ApiError> {
    caller.require(C::ROLES, C::WHAT)?;
    cmd.check(caller)?;
    let tx = conn.transaction().unwrap();
    let out = cmd.run(&tx, &Ctx { caller, now })?;
    tx.commit().unwrap();
    Ok(out)
}

fn walk_in(provider: &str, priority: i32) -> Enqueue {
    Enqueue(CreateQueueEntry::WalkIn {
        provider_id: provider.to_owned(),
        patient_id: None,
        patient: Some(NewPatient {
            name: "Nora Quinn".into(),
            birth_date: None,
            phone: None,
            confirm_new: false,
        }),
        priority,
    })
}

fn notifications(out: &[Outgoing]) -> Vec<(String, Urgency)> {
    out.iter()
        .filter_map(|o| match o.envelope.decode() {
            Ok(EventData::NotificationCreated(n)) => Some((n.user_id, n.urgency)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_arrival_tells_the_providers_doctor_urgently_from_priority_five() {
    let (mut conn, c) = clinic(morning());
    let reception = staff(&c.reception, Role::Receptionist);
    let (_, out) = run(
        &mut conn,
        &reception,
        morning(),
        walk_in(&c.providers[0], 0),
    )
    .unwrap();
    // The ticket for the tenant, the patient registered with it (for the
    // desks that hold them), then the notice for the doctor alone.
    let kinds: Vec<&str> = out.iter().map(|o| o.envelope.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["queue.updated", "patient.created", "notification.created"]
    );
    assert!(out[0].audience.is_none());
    assert_eq!(notifications(&out), [(c.doctor.clone(), Urgency::Normal)]);
    assert_eq!(out[2].audience.as_deref(), Some(&[c.doctor.clone()][..]));
    let (_, out) = run(
        &mut conn,
        &reception,
        morning(),
        walk_in(&c.providers[1], 5),
    )
    .unwrap();
    assert_eq!(
        notifications(&out),
        [(c.doctor2.clone(), Urgency::Critical)]
    );
    // Seqs are gap-free and in order within the transaction.
    assert!(
        out.windows(2)
            .all(|w| w[1].envelope.seq == w[0].envelope.seq + 1)
    );
}

#[test]
fn a_doctor_works_only_their_own_queue_and_cannot_reschedule() {
    let (mut conn, c) = clinic(morning());
    let doctor = staff(&c.doctor, Role::Doctor);
    // Walk-ins are the desk's.
    let refused = run(&mut conn, &doctor, morning(), walk_in(&c.providers[0], 0));
    assert!(matches!(refused, Err(ApiError::Forbidden(_))));
    // Another provider's queue: refused; their own: called.
    let other = CallNextTicket(CallNext {
        provider_id: c.providers[1].clone(),
        room_id: None,
    });
    assert!(matches!(
        run(&mut conn, &doctor, morning(), other),
        Err(ApiError::Forbidden(_))
    ));
    let own = CallNextTicket(CallNext {
        provider_id: c.providers[0].clone(),
        room_id: None,
    });
    let (called, out) = run(&mut conn, &doctor, morning(), own).unwrap();
    assert!(out.iter().any(|o| o.envelope.kind == "queue.called"));
    assert_eq!(called.provider_id, c.providers[0]);
    // Rescheduling or cancelling is refused before the database is touched.
    let move_it = ChangeAppointment {
        id: "any".into(),
        change: UpdateAppointment {
            version: 1,
            start: Some(morning()),
            end: None,
            status: None,
            room_id: None,
            reason: None,
            ..UpdateAppointment::default()
        },
    };
    assert!(matches!(
        move_it.check(&doctor),
        Err(ApiError::Forbidden(_))
    ));
    let cancel = ChangeAppointment {
        id: "any".into(),
        change: UpdateAppointment {
            version: 1,
            start: None,
            end: None,
            status: Some(AppointmentStatus::Cancelled),
            room_id: None,
            reason: None,
            ..UpdateAppointment::default()
        },
    };
    assert!(matches!(cancel.check(&doctor), Err(ApiError::Forbidden(_))));
    assert!(
        cancel
            .check(&staff(&c.reception, Role::Receptionist))
            .is_ok()
    );
}

#[test]
fn an_urgent_message_notifies_every_other_member_critically() {
    let (mut conn, c) = clinic(morning());
    let reception = staff(&c.reception, Role::Receptionist);
    let post = |urgent| Post {
        thread: c.threads[1].clone(), // the clinic team: all four
        message: PostMessage {
            client_id: format!("c-{urgent}"),
            body: "Fire alarm test in 5 minutes".into(),
            urgent,
        },
    };
    let (_, out) = run(&mut conn, &reception, morning(), post(true)).unwrap();
    let mut told = notifications(&out);
    told.sort_by(|a, b| a.0.cmp(&b.0));
    let mut others = vec![
        (c.doctor.clone(), Urgency::Critical),
        (c.doctor2.clone(), Urgency::Critical),
        (c.admin.clone(), Urgency::Critical),
    ];
    others.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(told, others, "never the author");
    let (_, out) = run(&mut conn, &reception, morning(), post(false)).unwrap();
    assert!(notifications(&out).is_empty());
    assert_eq!(out.len(), 1, "a plain message is only its own event");
}

#[test]
fn tickets_start_again_at_the_clinics_midnight_not_the_servers() {
    // 23:59 in Auckland is 10:59 UTC: the server's UTC day is the same on both
    // sides of the clinic's midnight, so only the tenant's zone can tell.
    let before: DateTime<Utc> = "2026-11-22T10:59:00Z".parse().unwrap();
    let after = before + chrono::Duration::minutes(2);
    let (mut conn, c) = clinic(before);
    let reception = staff(&c.reception, Role::Receptionist);
    let (late, _) = run(&mut conn, &reception, before, walk_in(&c.providers[0], 0)).unwrap();
    let (early, _) = run(&mut conn, &reception, after, walk_in(&c.providers[0], 0)).unwrap();
    assert_ne!(
        late.entry.ticket, "A-001",
        "the seeded day already has tickets"
    );
    assert_eq!(early.entry.ticket, "A-001", "a new clinic day");
}

#[test]
fn one_user_may_start_fifty_conversations_a_day() {
    let (mut conn, c) = clinic(morning());
    let reception = staff(&c.reception, Role::Receptionist);
    let start = |i: u32| {
        StartThread(NewThread {
            title: format!("Topic {i}"),
            members: vec![c.doctor.clone()],
        })
    };
    // The demo seeded one of reception's conversations this morning: 49 more.
    for i in 1..messages::THREADS_PER_DAY {
        run(&mut conn, &reception, morning(), start(i)).unwrap();
    }
    let an_hour_on = morning() + chrono::Duration::hours(1);
    match run(&mut conn, &reception, an_hour_on, start(99)) {
        Err(ApiError::RateLimited { retry_after }) => assert_eq!(retry_after, 23 * 3600),
        other => panic!("expected a limit, got {:?}", other.map(|(t, _)| t.title)),
    }
    // Someone else is not held back, and the next day the desk may again.
    run(
        &mut conn,
        &staff(&c.admin, Role::Admin),
        an_hour_on,
        start(100),
    )
    .unwrap();
    let tomorrow = morning() + chrono::Duration::hours(24);
    run(&mut conn, &reception, tomorrow, start(101)).unwrap();
}

#[test]
fn changes_to_a_patients_care_are_in_the_audit_trail() {
    let (mut conn, c) = clinic(morning());
    let reception = staff(&c.reception, Role::Receptionist);
    let (entry, _) = run(
        &mut conn,
        &reception,
        morning(),
        walk_in(&c.providers[0], 0),
    )
    .unwrap();
    let patient = entry.entry.patient.clone().unwrap().id;
    let called = CallNextTicket(CallNext {
        provider_id: c.providers[0].clone(),
        room_id: None,
    });
    run(&mut conn, &reception, morning(), called).unwrap();
    let all = (
        "2000-01-01T00:00:00Z".parse().unwrap(),
        "2100-01-01T00:00:00Z".parse().unwrap(),
    );
    let rows = crate::store::audit::query(&conn, "demo", Some(&patient), all, 100).unwrap();
    let details: Vec<&str> = rows.iter().map(|r| r.detail.as_str()).collect();
    assert!(
        details.iter().any(|d| d.starts_with("POST /api/queue (")),
        "{details:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r.access == "changed" && r.user_id == c.reception)
    );
    assert!(matches!(
        crate::store::audit::verify(&conn).unwrap(),
        crate::store::audit::Verdict::Intact { .. }
    ));
}
