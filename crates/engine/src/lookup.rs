//! What a desk looks up while booking: patients, a patient's appointments,
//! free slots. Asked of the server while the desk is live; otherwise (or
//! when the server cannot answer) answered from the cache with the same
//! search ranking and slot arithmetic, and marked as such, so the screen can
//! say it covers only what this desk holds.

use crate::cache::{Cache, Kind};
use crate::error::{EngineError, Result};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use frontdesk_protocol::api::{NewPatient, PatientDetails, PatientsPage, SlotsAnswer};
use frontdesk_protocol::records::{Appointment, Patient};
use frontdesk_protocol::schedule::{ProviderHours, Slot};
use frontdesk_protocol::search::{PAGE_MAX, Query};
use frontdesk_protocol::status::AppointmentStatus;
use frontdesk_protocol::window::day_start;
use serde::Serialize;

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The clinic server: every patient, every booking.
    Server,
    /// This desk's cache (offline): only the patients and days it holds.
    Cache,
}

/// Patients answering a search, best first.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct PatientMatches {
    pub patients: Vec<Patient>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub next_offset: Option<u32>,
    pub source: Source,
}

/// A patient with their upcoming and past appointments.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct PatientRecord {
    pub details: PatientDetails,
    pub source: Source,
}

/// Free slots, by start.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct FreeSlots {
    pub slots: Vec<Slot>,
    pub source: Source,
}

/// What registering a patient came to.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Registered {
    Created {
        patient: Patient,
    },
    /// Someone with the same name and birth date is registered: pick one,
    /// or register again with `confirm_new`.
    PossibleDuplicate {
        candidates: Vec<Patient>,
    },
}

/// Statuses whose time is taken (as the server counts them).
fn occupies(a: &Appointment) -> bool {
    !matches!(
        a.status,
        AppointmentStatus::Cancelled | AppointmentStatus::NoShow
    )
}

impl Cache {
    /// The cached patients answering `q`, best first, a page at a time.
    pub fn search_patients(
        &self,
        q: &Query,
        offset: usize,
        limit: usize,
    ) -> Result<PatientMatches> {
        let held: Vec<Patient> = self.list(Kind::Patient)?;
        let ranked = q.rank(&held);
        let more = ranked.len() > offset + limit;
        Ok(PatientMatches {
            patients: ranked
                .into_iter()
                .skip(offset)
                .take(limit)
                .cloned()
                .collect(),
            next_offset: more.then_some((offset + limit) as u32),
            source: Source::Cache,
        })
    }

    /// A cached patient and the appointments this desk holds for them.
    pub fn patient_record(&self, id: &str, now: DateTime<Utc>) -> Result<Option<PatientRecord>> {
        let Some(patient) = self.get::<Patient>(Kind::Patient, id)? else {
            return Ok(None);
        };
        let mut theirs: Vec<Appointment> = self.records(
            "SELECT data FROM records WHERE kind = ?1 AND json_extract(data, '$.patient.id') = ?2
             ORDER BY sort, id",
            rusqlite::params![Kind::Appointment.as_str(), id],
        )?;
        let split = theirs.partition_point(|a| a.start < now);
        let upcoming = theirs.split_off(split);
        theirs.reverse();
        Ok(Some(PatientRecord {
            details: PatientDetails {
                patient,
                upcoming,
                past: theirs,
            },
            source: Source::Cache,
        }))
    }

    /// Free slots from the cached hours and appointments, for the days the
    /// cache holds of `[first, last]` (a day it does not hold has none here).
    pub fn free_slots(
        &self,
        provider: Option<&str>,
        (first, last): (NaiveDate, NaiveDate),
        length: Duration,
        now: DateTime<Utc>,
    ) -> Result<FreeSlots> {
        let zone: Tz = self.zone()?;
        let hours: Vec<ProviderHours> = self.list(Kind::Hours)?;
        let mut slots = Vec::new();
        for day in first.iter_days().take_while(|d| *d <= last) {
            let view = self.day(day)?;
            if view.held == crate::cache::DayHeld::NotHeld {
                continue;
            }
            let range = (day_start(day, zone), view.end);
            for h in hours
                .iter()
                .filter(|h| provider.is_none_or(|p| p == h.provider_id))
            {
                let busy: Vec<_> = view
                    .appointments
                    .iter()
                    .filter(|a| a.provider_id == h.provider_id && occupies(a))
                    .map(|a| (a.start, a.end))
                    .collect();
                slots.extend(h.free_slots(zone, &busy, range, length, now));
            }
        }
        slots.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then_with(|| a.provider_id.cmp(&b.provider_id))
        });
        Ok(FreeSlots {
            slots,
            source: Source::Cache,
        })
    }
}

/// Why the server's answer is not used: it could not be asked or did not
/// answer (use the cache), or it refused the question (say so).
pub enum Asked<T> {
    Answer(T),
    Unavailable,
    Refused(EngineError),
}

impl<T> Asked<T> {
    /// From a REST result: network trouble and server errors mean "ask the
    /// cache"; a problem document about the question is the answer.
    pub fn from_result(r: Result<T>) -> Asked<T> {
        match r {
            Ok(v) => Asked::Answer(v),
            Err(EngineError::Server(p)) if p.status >= 500 => Asked::Unavailable,
            Err(EngineError::Server(p)) if p.status == 401 => Asked::Unavailable,
            Err(e @ EngineError::Server(_)) => Asked::Refused(e),
            Err(_) => Asked::Unavailable,
        }
    }
}

/// Search from the server's page.
pub fn from_server(page: PatientsPage) -> PatientMatches {
    PatientMatches {
        patients: page.patients,
        next_offset: page.next_offset,
        source: Source::Server,
    }
}

/// Slots from the server's answer.
pub fn slots_from_server(a: SlotsAnswer) -> FreeSlots {
    FreeSlots {
        slots: a.slots,
        source: Source::Server,
    }
}

/// A search query as typed, refused when there is nothing to search by.
pub fn parse_query(q: &str) -> Result<Query> {
    if q.chars().count() > 200 {
        return Err(EngineError::Invalid(
            "a search is at most 200 characters".into(),
        ));
    }
    Query::parse(q).ok_or_else(|| {
        EngineError::Invalid(
            "type part of a name, at least three digits of a phone, or a birth date".into(),
        )
    })
}

/// How far ahead the next free slot is looked for offline (the sync
/// window's days ahead; beyond it the desk holds nothing).
pub const OFFLINE_SLOT_DAYS: i64 = 31;

/// The page size of a search.
pub const SEARCH_PAGE: usize = PAGE_MAX;

/// Checks a patient to register before it goes anywhere.
pub fn check_new_patient(p: &NewPatient) -> Result<()> {
    if frontdesk_protocol::search::name_words(&p.name).is_empty() {
        return Err(EngineError::Invalid("give the patient's name".into()));
    }
    Ok(())
}
