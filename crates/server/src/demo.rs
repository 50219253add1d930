//! The demo clinic: tenant `demo` with users `reception`, `doctor`, `admin`
//! (and `doctor2`), all with password `demo`, and a realistic day in progress:
//! two providers, three rooms, 24 appointments in mixed statuses, a queue, and
//! two message threads.
//!
//! Seeded records carry no events: a client's first snapshot (at `seq` 0)
//! contains them, and every change from then on is an event.

use crate::auth::password;
use crate::demo_history::Span;
use crate::error::ApiError;
use crate::store::directory::NewProvider;
use crate::store::{appointments, directory, hours, messages, new_id, patients};
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use frontdesk_protocol::api::{NewAppointmentType, NewException, NewPatient, PostMessage};
use frontdesk_protocol::records::{Appointment, PatientRef, Role};
use frontdesk_protocol::schedule::{
    ExceptionKind, Span as Stretch, TimeOfDay, Weekday, WorkingDay,
};
use frontdesk_protocol::status::{AppointmentStatus, QueueStatus};
use rusqlite::{Connection, params};

/// Password of every demo user.
pub const DEMO_PASSWORD: &str = "demo";

const PATIENTS: [&str; 24] = [
    "Maria Kowalski",
    "James O'Connor",
    "Aisha Rahman",
    "Tomás Silva",
    "Mei Lin Chen",
    "Peter Novak",
    "Fatima Haddad",
    "Lars Eriksson",
    "Grace Mensah",
    "Hiroshi Tanaka",
    "Elena Petrova",
    "David Cohen",
    "Sofia Rossi",
    "Kwame Boateng",
    "Anna Schmidt",
    "Luis Fernández",
    "Priya Sharma",
    "Olivia Brown",
    "Mateo García",
    "Ingrid Larsen",
    "Yusuf Demir",
    "Chloé Martin",
    "Noah Williams",
    "Zara Ahmed",
];

/// The demo clinic's kinds of visit (name, minutes).
const DEMO_TYPES: [(&str, u32); 4] = [
    ("Consultation", 20),
    ("Long consultation", 40),
    ("Follow-up", 10),
    ("Vaccination", 10),
];

/// The demo's providers work every day, 08:00–18:00, so that the demo can be
/// tried (and booked) whatever day it is started; `break_at` is a daily break.
fn demo_hours(break_at: Option<(&str, &str)>) -> Vec<WorkingDay> {
    let at = |s: &str| s.parse::<TimeOfDay>().ok();
    let breaks: Vec<Stretch> = break_at
        .and_then(|(s, e)| {
            Some(Stretch {
                start: at(s)?,
                end: at(e)?,
            })
        })
        .into_iter()
        .collect();
    let (Some(open), Some(close)) = (at("08:00"), at("18:00")) else {
        return Vec::new();
    };
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ]
    .into_iter()
    .map(|weekday| WorkingDay {
        weekday,
        open,
        close,
        breaks: breaks.clone(),
    })
    .collect()
}

const REASONS: [&str; 6] = [
    "Annual check-up",
    "Blood pressure review",
    "Lab results",
    "Vaccination",
    "Follow-up",
    "Back pain",
];

/// Ids of the seeded records tests and the simulator refer to.
#[derive(Debug, Clone)]
pub struct DemoClinic {
    pub tenant: String,
    pub reception: String,
    pub doctor: String,
    pub doctor2: String,
    pub admin: String,
    pub providers: [String; 2],
    pub rooms: Vec<String>,
    pub threads: Vec<String>,
}

/// Seeds tenant `tenant` unless it exists, its day being today on this
/// machine's clock and in this machine's time zone (the demo clinic is where
/// the person trying it is). Returns `None` if it already existed.
pub fn seed(
    conn: &mut Connection,
    tenant: &str,
    name: &str,
) -> Result<Option<DemoClinic>, ApiError> {
    seed_at(conn, tenant, name, &machine_zone(), Utc::now())
}

/// Seeds tenant `tenant` in time zone `zone` (IANA) with its day being the
/// clinic-local day of `now`: tests choose the time of day.
pub fn seed_at(
    conn: &mut Connection,
    tenant: &str,
    name: &str,
    zone: &str,
    now: DateTime<Utc>,
) -> Result<Option<DemoClinic>, ApiError> {
    seed_tx(conn, tenant, name, zone, now, None)
}

/// Like [`seed_at`], with half a year of history and a month booked ahead
/// around the demo day ([`crate::demo_history`]): what `--demo` runs.
pub fn seed_with_history(
    conn: &mut Connection,
    tenant: &str,
    name: &str,
    zone: &str,
    now: DateTime<Utc>,
) -> Result<Option<DemoClinic>, ApiError> {
    seed_tx(conn, tenant, name, zone, now, Some(Span::DEMO))
}

/// Like [`seed_with_history`] with a history of `span` (benchmarks seed a
/// year-old clinic this way).
pub fn seed_with_span(
    conn: &mut Connection,
    tenant: &str,
    name: &str,
    zone: &str,
    now: DateTime<Utc>,
    span: Span,
) -> Result<Option<DemoClinic>, ApiError> {
    seed_tx(conn, tenant, name, zone, now, Some(span))
}

/// Adds `count` messages from `author` to `thread` at `now` (a clinic's
/// chatter over months, for benchmarks and tests of a clinic with history).
pub fn post_history_messages(
    conn: &Connection,
    tenant: &str,
    thread: &str,
    author: &str,
    count: usize,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    for i in 0..count {
        let m = PostMessage {
            client_id: format!("history-{i}"),
            body: format!("Message {i} of the clinic's history"),
            urgent: false,
        };
        messages::post(conn, tenant, thread, author, &m, now)?;
    }
    Ok(())
}

fn seed_tx(
    conn: &mut Connection,
    tenant: &str,
    name: &str,
    zone: &str,
    now: DateTime<Utc>,
    history: Option<Span>,
) -> Result<Option<DemoClinic>, ApiError> {
    if directory::tenant(conn, tenant)?.is_some() {
        return Ok(None);
    }
    let tz: Tz = zone
        .parse()
        .map_err(|_| ApiError::invalid(format!("{zone:?} is not a time zone")))?;
    let hash = password::hash(DEMO_PASSWORD)?;
    let tx = conn.transaction()?;
    directory::create_tenant(&tx, tenant, name, zone)?;
    let now = crate::store::to_millis(now);
    let clinic = seed_in(&tx, tenant, &hash, day_start(tz, now), now, tz)?;
    if let Some(span) = history {
        let today = now.with_timezone(&tz).date_naive();
        crate::demo_history::seed(&tx, tenant, &clinic.providers, (today, tz, now), span)?;
    }
    tx.commit()?;
    Ok(Some(clinic))
}

/// Gives a clinic just created the lock time and sync window
/// (`(lock_after_seconds, days_back, days_ahead)`) the server's settings name.
pub fn apply_clinic_defaults(
    conn: &Connection,
    tenant: &str,
    (lock_after_seconds, window_days_back, window_days_ahead): (u32, u32, u32),
) -> Result<(), ApiError> {
    let t = directory::tenant(conn, tenant)?
        .ok_or_else(|| ApiError::NotFound(format!("tenant {tenant}")))?;
    directory::update_tenant(
        conn,
        &frontdesk_protocol::records::Tenant {
            lock_after_seconds,
            window_days_back,
            window_days_ahead,
            ..t
        },
    )
}

/// This machine's time zone as an IANA name, or UTC if it has none we know.
pub fn machine_zone() -> String {
    iana_time_zone::get_timezone()
        .ok()
        .filter(|z| z.parse::<Tz>().is_ok())
        .unwrap_or_else(|| "UTC".into())
}

/// 00:00 of `now`'s clinic-local day in `zone`, in UTC.
fn day_start(zone: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    let midnight = now
        .with_timezone(&zone)
        .date_naive()
        .and_time(NaiveTime::MIN);
    zone.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now)
}

fn seed_in(
    tx: &Connection,
    tenant: &str,
    hash: &str,
    day: DateTime<Utc>,
    now: DateTime<Utc>,
    zone: Tz,
) -> Result<DemoClinic, ApiError> {
    let reception = directory::create_user(
        tx,
        tenant,
        "reception",
        "Rosa Delgado",
        Role::Receptionist,
        hash,
    )?;
    let doctor = directory::create_user(
        tx,
        tenant,
        "doctor",
        "Dr. Elena Morales",
        Role::Doctor,
        hash,
    )?;
    let doctor2 =
        directory::create_user(tx, tenant, "doctor2", "Dr. Omar Haddad", Role::Doctor, hash)?;
    let admin = directory::create_user(tx, tenant, "admin", "Sam Okafor", Role::Admin, hash)?;
    let rooms: Vec<String> = ["Room 1", "Room 2", "Room 3"]
        .iter()
        .map(|r| directory::create_room(tx, tenant, r).map(|r| r.id))
        .collect::<Result<_, _>>()?;
    let p1 = directory::create_provider(
        tx,
        tenant,
        &NewProvider {
            name: "Dr. Elena Morales",
            user_id: Some(&doctor.id),
            ticket_prefix: "A",
            default_room_id: Some(&rooms[0]),
            weekly: &demo_hours(None),
        },
    )?;
    let p2 = directory::create_provider(
        tx,
        tenant,
        &NewProvider {
            name: "Dr. Omar Haddad",
            user_id: Some(&doctor2.id),
            ticket_prefix: "B",
            default_room_id: Some(&rooms[1]),
            weekly: &demo_hours(Some(("16:00", "16:30"))),
        },
    )?;
    let today = now.with_timezone(&zone).date_naive();
    hours::add_exception(
        tx,
        tenant,
        &p2.id,
        &NewException {
            day: today + Duration::days(14),
            kind: ExceptionKind::Leave,
            start: "12:00".parse().ok(),
            end: "18:00".parse().ok(),
            note: "Conference".into(),
        },
        today,
    )?;
    for (name, minutes) in DEMO_TYPES {
        hours::add_type(
            tx,
            tenant,
            &NewAppointmentType {
                name: name.into(),
                minutes,
            },
        )?;
    }

    let mut tickets = [0u32; 2];
    for (i, patient_name) in PATIENTS.iter().enumerate() {
        let patient = patients::create(
            tx,
            tenant,
            &NewPatient {
                name: (*patient_name).into(),
                birth_date: None,
                phone: Some(format!("+1 555 01{i:02}")),
                confirm_new: false,
            },
        )?;
        let which = i % 2;
        let provider = if which == 0 { &p1 } else { &p2 };
        // Each provider sees a patient every 40 minutes from 08:00 (the two interleave).
        let start = day + Duration::hours(8) + Duration::minutes(20 * (i / 2) as i64 * 2);
        let status = demo_status(i);
        let a = Appointment {
            id: new_id("apt"),
            patient: PatientRef {
                id: patient.id.clone(),
                name: patient.name.clone(),
                initials: patient.initials.clone(),
            },
            provider_id: provider.id.clone(),
            room_id: (status == AppointmentStatus::InRoom)
                .then(|| provider.default_room_id.clone())
                .flatten(),
            start,
            end: start + Duration::minutes(20),
            status,
            reason: REASONS[i % REASONS.len()].into(),
            type_id: None,
            overbook_reason: None,
            version: 1,
            updated_at: now,
        };
        appointments::insert(tx, tenant, &a)?;
        let queue_status = match status {
            AppointmentStatus::Arrived => Some(QueueStatus::Waiting),
            AppointmentStatus::InRoom => Some(QueueStatus::InService),
            AppointmentStatus::Completed => Some(QueueStatus::Done),
            _ => None,
        };
        if let Some(qs) = queue_status {
            tickets[which] += 1;
            let ticket = format!("{}-{:03}", provider.ticket_prefix, tickets[which]);
            let arrived = (start - Duration::minutes(10)).min(now);
            let room = matches!(qs, QueueStatus::InService | QueueStatus::Done)
                .then(|| provider.default_room_id.clone())
                .flatten();
            let called = room.as_ref().map(|_| crate::store::fmt_ts(&arrived));
            tx.execute(
                "INSERT INTO queue_entries (id, tenant, day, ticket, provider_id, room_id, patient_id, appointment_id, status, priority, arrived_at, called_at, version, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, ?11, 1, ?12)",
                params![
                    new_id("q"),
                    tenant,
                    crate::store::clinic_day(now, zone),
                    ticket,
                    provider.id,
                    room,
                    patient.id,
                    a.id,
                    qs.as_str(),
                    crate::store::fmt_ts(&arrived),
                    called,
                    crate::store::fmt_ts(&now)
                ],
            )?;
        }
    }

    let t1 = messages::create_thread(
        tx,
        tenant,
        ("Front desk ↔ Dr. Morales", &reception.id),
        &[reception.id.clone(), doctor.id.clone()],
        now,
    )?;
    let t2 = messages::create_thread(
        tx,
        tenant,
        ("Clinic team", &admin.id),
        &[
            reception.id.clone(),
            doctor.id.clone(),
            doctor2.id.clone(),
            admin.id.clone(),
        ],
        now,
    )?;
    let chat = [
        (
            &t1.id,
            &reception.id,
            "Mrs K. is asking about her lab result, can you call her after 11?",
        ),
        (
            &t1.id,
            &doctor.id,
            "Yes, put it on my list. Running 10 minutes late.",
        ),
        (
            &t2.id,
            &admin.id,
            "Reminder: fire drill at 15:00. Displays will show a notice.",
        ),
        (&t2.id, &doctor2.id, "Room 2 printer is out of toner again."),
        (&t2.id, &reception.id, "Ordered, arrives tomorrow."),
    ];
    for (n, (thread, author, body)) in chat.iter().enumerate() {
        let message = PostMessage {
            client_id: format!("seed-{n}"),
            body: (*body).into(),
            urgent: false,
        };
        messages::post(tx, tenant, thread, author, &message, now)?;
    }
    Ok(DemoClinic {
        tenant: tenant.into(),
        reception: reception.id,
        doctor: doctor.id,
        doctor2: doctor2.id,
        admin: admin.id,
        providers: [p1.id, p2.id],
        rooms,
        threads: vec![t1.id, t2.id],
    })
}

/// A plausible status for the i-th appointment: earlier ones done, a few
/// cancelled or missed, some arrived and waiting, later ones confirmed or
/// booked. By position only, never by the clock, so the demo day (and every
/// test on it) is the same whatever the time of day.
fn demo_status(i: usize) -> AppointmentStatus {
    use AppointmentStatus::*;
    match i {
        0..=3 => Completed,
        4 => NoShow,
        5 => InRoom,
        6 | 7 | 9 => Arrived,
        8 => Cancelled,
        10..=17 => Confirmed,
        _ => Booked,
    }
}
