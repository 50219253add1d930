//! The demo clinic's past and future: about six months of weekdays back and
//! a month ahead for both providers (≥ 5,000 appointments), over a roll of
//! 3,200 patients, so the demo exercises the sync window the way a clinic's
//! year does. Deterministic: the same names, times and statuses every time
//! (ids included), relative to the day it is seeded.

use crate::error::ApiError;
use crate::store::{appointments, initials};
use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use frontdesk_protocol::records::{Appointment, PatientRef};
use frontdesk_protocol::status::AppointmentStatus;
use rusqlite::{Connection, params};

/// How much history to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Days of history before the demo day, and days booked after it.
    pub days_back: u64,
    pub days_ahead: u64,
    /// Patients on the clinic's roll.
    pub patients: usize,
    /// Appointments per provider per weekday (every 25 minutes from 08:00).
    pub per_day: u32,
}

impl Span {
    /// What `--demo` seeds: half a year back, a month ahead.
    pub const DEMO: Span = Span {
        days_back: 182,
        days_ahead: 31,
        patients: 3_200,
        per_day: 18,
    };

    /// A clinic after a year of use (the benchmarks).
    pub const YEAR: Span = Span {
        days_back: 365,
        days_ahead: 31,
        patients: 10_800,
        per_day: 18,
    };
}

const FIRST: [&str; 40] = [
    "Ada", "Ben", "Carla", "Dev", "Eva", "Farid", "Gita", "Hugo", "Iris", "Jonas", "Kira", "Leon",
    "Mira", "Nils", "Oona", "Pavel", "Quinn", "Rhea", "Sami", "Tara", "Umar", "Vera", "Wes",
    "Xenia", "Yara", "Zeno", "Alba", "Bruno", "Cleo", "Dario", "Elif", "Felix", "Greta", "Hana",
    "Ivo", "Jade", "Kofi", "Lena", "Milo", "Nora",
];
const LAST: [&str; 80] = [
    "Abbott",
    "Baker",
    "Castro",
    "Dahl",
    "Ekström",
    "Fischer",
    "Gallo",
    "Horvat",
    "Ibsen",
    "Jovanović",
    "Kaur",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Perez",
    "Quist",
    "Rinaldi",
    "Sato",
    "Tamm",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zielinski",
    "Alves",
    "Brandt",
    "Costa",
    "Dubois",
    "Engel",
    "Ferreira",
    "Gray",
    "Hughes",
    "Ivanova",
    "Jensen",
    "Keller",
    "Laine",
    "Meyer",
    "Novak",
    "Olsen",
    "Popescu",
    "Quigley",
    "Ruiz",
    "Schulz",
    "Torres",
    "Usman",
    "Vogel",
    "Walsh",
    "Young",
    "Zhou",
    "Amadi",
    "Bauer",
    "Cruz",
    "Diaz",
    "Evans",
    "Fox",
    "Greco",
    "Holm",
    "Iqbal",
    "Jung",
    "Kim",
    "Lopez",
    "Mendes",
    "Nowak",
    "Ortiz",
    "Park",
    "Reyes",
    "Silva",
    "Tan",
    "Unger",
    "Vidal",
    "Wong",
    "Yamada",
    "Zeller",
    "Arnaud",
    "Bianchi",
    "Chen",
    "Duarte",
    "Eze",
];
const REASONS: [&str; 8] = [
    "Annual check-up",
    "Blood pressure review",
    "Lab results",
    "Vaccination",
    "Follow-up",
    "Back pain",
    "Prescription renewal",
    "Skin check",
];

/// What was seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    pub patients: usize,
    pub appointments: usize,
}

/// Adds the history around the demo day `today` (clinic-local in `zone`) for
/// `providers`; the demo day itself is left as the main seed made it.
pub fn seed(
    tx: &Connection,
    tenant: &str,
    providers: &[String],
    (today, zone, now): (NaiveDate, Tz, DateTime<Utc>),
    span: Span,
) -> Result<History, ApiError> {
    let mut insert_patient = tx.prepare_cached(
        "INSERT INTO patients (id, tenant, name, initials, birth_date, phone) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut roll = Vec::with_capacity(span.patients);
    for i in 0..span.patients {
        let name = format!(
            "{} {}",
            FIRST[i % FIRST.len()],
            LAST[(i / FIRST.len()) % LAST.len()]
        );
        let id = format!("pat_h{i:05}");
        let birth = NaiveDate::from_ymd_opt(
            1940 + (i % 70) as i32,
            1 + (i % 12) as u32,
            1 + (i % 28) as u32,
        );
        insert_patient.execute(params![
            id,
            tenant,
            name,
            initials(&name),
            birth.map(|d| d.to_string()),
            format!("+1 555 {:04}", i % 10_000)
        ])?;
        roll.push(PatientRef {
            initials: initials(&name),
            id,
            name,
        });
    }
    drop(insert_patient);
    crate::store::patients::index_tenant(tx, tenant)?;
    let first = today
        .checked_sub_days(Days::new(span.days_back))
        .unwrap_or(today);
    let mut count = 0usize;
    let mut n = 0usize;
    let mut day = first;
    let last = today
        .checked_add_days(Days::new(span.days_ahead))
        .unwrap_or(today);
    while day <= last {
        let weekday = !matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        if weekday && day != today {
            for (p, provider) in providers.iter().enumerate() {
                for k in 0..span.per_day {
                    n += 1;
                    let local = day
                        .and_time(NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN))
                        + Duration::minutes(25 * i64::from(k));
                    let Some(start) = zone.from_local_datetime(&local).earliest() else {
                        continue;
                    };
                    let start = start.with_timezone(&Utc);
                    let status = if day < today {
                        match n % 17 {
                            0 => AppointmentStatus::NoShow,
                            5 => AppointmentStatus::Cancelled,
                            _ => AppointmentStatus::Completed,
                        }
                    } else if n.is_multiple_of(3) {
                        AppointmentStatus::Confirmed
                    } else {
                        AppointmentStatus::Booked
                    };
                    let a = Appointment {
                        id: format!("apt_h{}{p}{k:02}", day.format("%Y%m%d")),
                        patient: roll[(n * 7_919) % span.patients].clone(),
                        provider_id: provider.clone(),
                        room_id: None,
                        start,
                        end: start + Duration::minutes(20),
                        type_id: None,
                        overbook_reason: None,
                        status,
                        reason: REASONS[n % REASONS.len()].into(),
                        version: 1,
                        updated_at: now,
                    };
                    appointments::insert(tx, tenant, &a)?;
                    count += 1;
                }
            }
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    Ok(History {
        patients: span.patients,
        appointments: count,
    })
}

#[cfg(test)]
mod tests {
    use crate::demo;
    use rusqlite::Connection;

    fn seeded(now: &str) -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrations::migrate(&mut c).unwrap();
        demo::seed_with_history(
            &mut c,
            "demo",
            "Demo",
            "Europe/Berlin",
            now.parse().unwrap(),
        )
        .unwrap()
        .unwrap();
        c
    }

    fn count(c: &Connection, sql: &str) -> i64 {
        c.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn half_a_year_back_and_a_month_ahead_deterministically() {
        let c = seeded("2026-11-22T10:00:00Z");
        let appointments = count(&c, "SELECT count(*) FROM appointments");
        let patients = count(&c, "SELECT count(*) FROM patients");
        assert!(appointments >= 5_000, "{appointments}");
        assert!(patients >= 3_000, "{patients}");
        // The demo day is still the 24 the demo is known by.
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM appointments WHERE start >= '2026-11-21T23:00:00.000Z' AND start < '2026-11-22T23:00:00.000Z'"
            ),
            24
        );
        // Months back and weeks ahead are there.
        assert!(
            count(
                &c,
                "SELECT count(*) FROM appointments WHERE start < '2026-06-01'"
            ) > 0
        );
        assert!(
            count(
                &c,
                "SELECT count(*) FROM appointments WHERE start > '2026-12-20'"
            ) > 0
        );
        // The same every time, ids and all.
        let other = seeded("2026-11-22T10:00:00Z");
        let sig = |c: &Connection| {
            count(
                c,
                "SELECT count(*) FROM appointments a JOIN patients p ON p.id = a.patient_id WHERE a.id LIKE 'apt_h%' AND p.name LIKE 'A%'",
            )
        };
        assert_eq!(sig(&c), sig(&other));
    }
}
