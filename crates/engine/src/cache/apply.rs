//! Putting server state into the cache: whole snapshots (swapped in one
//! transaction, so a screen is never empty) and events (in `seq` order,
//! exactly once).

use super::{
    Cache, Kind, META_LAST_EVENT_ID, META_LAST_SEQ, META_SYNCED_AT, META_WINDOW_FROM,
    META_WINDOW_TO, meta, row, run, set_meta, upsert,
};
use crate::error::Result;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use frontdesk_protocol::api::{AppointmentsPage, Snapshot};
use frontdesk_protocol::envelope::{Envelope, EnvelopeError, EventData, Evict};
use frontdesk_protocol::records::{Patient, PatientRef, ReadMarker};
use frontdesk_protocol::window::SyncWindow;
use rusqlite::{Connection, OptionalExtension};

/// What applying a batch of events did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Applied {
    /// Events applied now, in order.
    pub applied: Vec<Envelope>,
    /// Events already applied before (a replay overlap or a duplicate).
    pub skipped: usize,
    /// Set when the batch skipped ahead: `(expected, got)`. Events before the
    /// gap are applied; the caller must replay from `expected - 1`.
    pub gap: Option<(u64, u64)>,
}

/// Records the run of days whose appointments the cache holds.
fn set_covered(conn: &Connection, held: &SyncWindow) -> Result<()> {
    set_meta(conn, META_WINDOW_FROM, &held.from.to_string())?;
    set_meta(conn, META_WINDOW_TO, &held.to.to_string())
}

/// Days outside the window a desk keeps after showing them (the most
/// recently fetched); older ones are deleted with the patients only they name.
pub const FETCHED_DAYS_KEPT: usize = 7;

/// How a record's time is stored in `records.sort` (ordered as text).
pub(super) fn ts(t: &chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn marker_id(m: &ReadMarker) -> String {
    format!("{}/{}", m.thread_id, m.user_id)
}

/// Holds the patient a record names: their whole record when the event
/// brought it (`Envelope::patient`; an older copy is replaced, a newer one
/// kept), otherwise only the reference, if the cache has nothing of them.
fn remember_patient(conn: &Connection, p: &PatientRef, whole: Option<&Patient>) -> Result<()> {
    if let Some(whole) = whole.filter(|w| w.id == p.id) {
        run(
            conn,
            "INSERT INTO records (kind, id, sort, data) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (kind, id) DO UPDATE SET sort = excluded.sort, data = excluded.data
             WHERE json_extract(records.data, '$.version') <= json_extract(excluded.data, '$.version')",
            rusqlite::params![
                Kind::Patient.as_str(),
                whole.id,
                whole.name,
                serde_json::to_string(whole)?
            ],
        )?;
        return Ok(());
    }
    let patient = Patient {
        id: p.id.clone(),
        name: p.name.clone(),
        initials: p.initials.clone(),
        birth_date: None,
        phone: None,
        version: 0,
    };
    run(
        conn,
        "INSERT OR IGNORE INTO records (kind, id, sort, data) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![
            Kind::Patient.as_str(),
            p.id,
            p.name,
            serde_json::to_string(&patient)?
        ],
    )?;
    Ok(())
}

/// Deletes a record that left the sync window, and its patient unless
/// another record still names them: the cache holds the minimum PHI.
fn evict(conn: &Connection, evict: &Evict) -> Result<()> {
    let kind = match evict.kind.as_str() {
        "appointment" => Kind::Appointment,
        "queue" => Kind::Queue,
        _ => return Ok(()), // a kind this build does not keep
    };
    let held: Option<String> = row(
        conn,
        "SELECT data FROM records WHERE kind = ?1 AND id = ?2",
        rusqlite::params![kind.as_str(), evict.id],
        |r| r.get(0),
    )
    .optional()?;
    run(
        conn,
        "DELETE FROM records WHERE kind = ?1 AND id = ?2",
        rusqlite::params![kind.as_str(), evict.id],
    )?;
    let patient = held
        .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
        .and_then(|v| v["patient"]["id"].as_str().map(str::to_owned));
    if let Some(patient) = patient {
        run(
            conn,
            "DELETE FROM records WHERE kind = ?1 AND id = ?2 AND NOT EXISTS (
                 SELECT 1 FROM records WHERE kind IN (?3, ?4)
                 AND json_extract(data, '$.patient.id') = ?2)",
            rusqlite::params![
                Kind::Patient.as_str(),
                patient,
                Kind::Appointment.as_str(),
                Kind::Queue.as_str()
            ],
        )?;
    }
    Ok(())
}

/// Writes one event's record. Redacted events and types this build does not
/// know change nothing but still count as applied (their `seq` advances); a
/// redacted one that evicts a record deletes it.
fn write_event(conn: &Connection, env: &Envelope) -> Result<()> {
    if let Some(e) = &env.evict {
        return evict(conn, e);
    }
    let data = match env.decode() {
        Ok(d) => d,
        Err(EnvelopeError::Redacted { .. } | EnvelopeError::UnknownType(_)) => return Ok(()),
        // A record this build cannot read must not freeze the stream: its seq
        // still advances, and the next snapshot brings the record in whole.
        Err(e @ EnvelopeError::Malformed { .. }) => {
            tracing::warn!("event {} skipped: {e}", env.seq);
            return Ok(());
        }
    };
    match &data {
        EventData::AppointmentCreated(a)
        | EventData::AppointmentUpdated(a)
        | EventData::AppointmentCancelled(a) => {
            remember_patient(conn, &a.patient, env.patient.as_ref())?;
            upsert(conn, Kind::Appointment, &a.id, &ts(&a.start), a)
        }
        EventData::QueueUpdated(q) | EventData::QueueCalled(q) => {
            if let Some(p) = &q.patient {
                remember_patient(conn, p, env.patient.as_ref())?;
            }
            upsert(conn, Kind::Queue, &q.id, &ts(&q.arrived_at), q)
        }
        EventData::MessageCreated(m) => upsert(conn, Kind::Message, &m.id, &ts(&m.created_at), m),
        EventData::ThreadRead(m) => upsert(conn, Kind::ReadMarker, &marker_id(m), &m.thread_id, m),
        EventData::NotificationCreated(n) => {
            upsert(conn, Kind::Notification, &n.id, &ts(&n.created_at), n)
        }
        EventData::ThreadCreated(t) => upsert(conn, Kind::Thread, &t.id, &ts(&t.created_at), t),
        // Only a patient the desk holds is written: one registered with their
        // booking or walk-in (whose event follows it) gets their whole record
        // in place of the name it carried; anyone else stays off this desk
        // (minimum PHI).
        EventData::PatientCreated(p) | EventData::PatientUpdated(p) => correct_patient(conn, p),
        EventData::HoursUpdated(h) => upsert(conn, Kind::Hours, &h.provider_id, &h.provider_id, h),
        EventData::AppointmentTypeUpdated(t) => {
            upsert(conn, Kind::AppointmentType, &t.id, &t.name, t)
        }
        EventData::ClinicUpdated(t) => set_meta(conn, "tenant", &serde_json::to_string(t)?),
    }
}

/// A held patient's corrected details, in their record and in the
/// references the appointments and tickets held carry.
fn correct_patient(conn: &Connection, p: &Patient) -> Result<()> {
    // Never over a newer copy (one an appointment's or ticket's event
    // brought as it was when replayed).
    let held = run(
        conn,
        "UPDATE records SET sort = ?3, data = ?4 WHERE kind = ?1 AND id = ?2
           AND json_extract(data, '$.version') <= ?5",
        rusqlite::params![
            Kind::Patient.as_str(),
            p.id,
            p.name,
            serde_json::to_string(p)?,
            p.version
        ],
    )?;
    if held == 0 {
        return Ok(());
    }
    run(
        conn,
        "UPDATE records SET data = json_set(data, '$.patient.name', ?3, '$.patient.initials', ?4)
         WHERE kind IN (?1, ?2) AND json_extract(data, '$.patient.id') = ?5",
        rusqlite::params![
            Kind::Appointment.as_str(),
            Kind::Queue.as_str(),
            p.name,
            p.initials,
            p.id
        ],
    )?;
    run(
        conn,
        "UPDATE records SET data = json_set(data, '$.initials', ?2)
         WHERE kind = ?1 AND json_extract(data, '$.patient.id') = ?3",
        rusqlite::params![Kind::Queue.as_str(), p.initials, p.id],
    )?;
    Ok(())
}

impl Cache {
    /// Replaces everything the server owns with `snap`, in one transaction.
    /// The outbox is kept: pending work survives a resync.
    /// `at` is when it was fetched (shown as "as of" while offline).
    pub fn replace_with_snapshot(&mut self, snap: &Snapshot, at: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.transaction()?;
        run(&tx, "DELETE FROM records", [])?;
        run(&tx, "DELETE FROM fetched_days", [])?;
        for u in &snap.users {
            upsert(&tx, Kind::User, &u.id, &u.name, u)?;
        }
        for p in &snap.providers {
            upsert(&tx, Kind::Provider, &p.id, &p.name, p)?;
        }
        for r in &snap.rooms {
            upsert(&tx, Kind::Room, &r.id, &r.name, r)?;
        }
        for p in &snap.patients {
            upsert(&tx, Kind::Patient, &p.id, &p.name, p)?;
        }
        for a in &snap.appointments {
            upsert(&tx, Kind::Appointment, &a.id, &ts(&a.start), a)?;
        }
        for q in &snap.queue {
            upsert(&tx, Kind::Queue, &q.id, &ts(&q.arrived_at), q)?;
        }
        for t in &snap.threads {
            upsert(&tx, Kind::Thread, &t.id, &ts(&t.created_at), t)?;
        }
        for m in &snap.messages {
            upsert(&tx, Kind::Message, &m.id, &ts(&m.created_at), m)?;
        }
        for m in &snap.read_markers {
            upsert(&tx, Kind::ReadMarker, &marker_id(m), &m.thread_id, m)?;
        }
        for n in &snap.notifications {
            upsert(&tx, Kind::Notification, &n.id, &ts(&n.created_at), n)?;
        }
        for p in &snap.presence {
            upsert(&tx, Kind::Presence, &p.user, &p.user, p)?;
        }
        for h in &snap.hours {
            upsert(&tx, Kind::Hours, &h.provider_id, &h.provider_id, h)?;
        }
        for t in &snap.appointment_types {
            upsert(&tx, Kind::AppointmentType, &t.id, &t.name, t)?;
        }
        set_meta(&tx, "tenant", &serde_json::to_string(&snap.tenant)?)?;
        set_meta(&tx, "me", &serde_json::to_string(&snap.me)?)?;
        set_meta(&tx, META_LAST_SEQ, &snap.seq.to_string())?;
        if let Some(held) = snap.holds.as_ref().or(snap.window.as_ref()) {
            set_covered(&tx, held)?;
        }
        match &snap.last_event_id {
            Some(id) => set_meta(&tx, META_LAST_EVENT_ID, id)?,
            None => {
                run(&tx, "DELETE FROM meta WHERE key = ?1", [META_LAST_EVENT_ID])?;
            }
        }
        set_meta(&tx, META_SYNCED_AT, &ts(&at))?;
        tx.commit()?;
        Ok(())
    }

    /// Applies events in `seq` order in one transaction: already-applied ones
    /// are skipped, and the batch stops at the first gap (see [`Applied::gap`]).
    pub fn apply_events(&mut self, events: &[Envelope]) -> Result<Applied> {
        let mut last = self.last_seq()?.unwrap_or(0);
        let mut last_id = None;
        let mut out = Applied::default();
        let tx = self.conn.transaction()?;
        for env in events {
            if env.seq <= last {
                out.skipped += 1;
                continue;
            }
            if env.seq != last + 1 {
                out.gap = Some((last + 1, env.seq));
                break;
            }
            write_event(&tx, env)?;
            last = env.seq;
            last_id = Some(env.id.as_str());
            out.applied.push(env.clone());
        }
        if let Some(id) = last_id {
            set_meta(&tx, META_LAST_SEQ, &last.to_string())?;
            set_meta(&tx, META_LAST_EVENT_ID, id)?;
        }
        tx.commit()?;
        Ok(out)
    }

    /// Records that the cache matched the server at this moment (shown as
    /// "as of 09:42" while offline).
    pub fn mark_synced(&self, at: DateTime<Utc>) -> Result<()> {
        self.set_meta(META_SYNCED_AT, &ts(&at))
    }

    /// Forgets the applied position, so the next sync takes a snapshot. The
    /// records stay on screen until the snapshot replaces them.
    pub fn forget_position(&self) -> Result<()> {
        run(
            &self.conn,
            "DELETE FROM meta WHERE key = ?1",
            [META_LAST_SEQ],
        )?;
        Ok(())
    }

    /// Deletes the appointments that start before `start` (they left the
    /// sync window as it moved) and the patients no record names any more.
    /// Returns how many appointments went.
    pub fn evict_before(&self, start: DateTime<Utc>, first_day: NaiveDate) -> Result<usize> {
        if let Some(held) = self.covered()?
            && held.from < first_day
        {
            set_covered(
                &self.conn,
                &SyncWindow {
                    from: first_day,
                    to: held.to.max(first_day),
                },
            )?;
        }
        // Days kept outside the window (fetched for the screen) stay.
        let gone = run(&self.conn,
            "DELETE FROM records WHERE kind = ?1 AND sort < ?2 AND NOT EXISTS (
                 SELECT 1 FROM fetched_days f WHERE records.sort >= f.start AND records.sort < f.end)",
            rusqlite::params![Kind::Appointment.as_str(), ts(&start)],
        )?;
        delete_unreferenced_patients(&self.conn)?;
        Ok(gone)
    }

    /// A day outside the window was fetched whole (its pages stored with
    /// [`Cache::store_fetched`]): what the cache held on it that the server
    /// no longer has there goes, the day is remembered as fetched `at`, and
    /// only the [`FETCHED_DAYS_KEPT`] most recent such days are kept.
    pub fn finish_day(
        &mut self,
        day: NaiveDate,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        let ids = serde_json::to_string(ids)?;
        run(
            &tx,
            "DELETE FROM records WHERE kind = ?1 AND sort >= ?2 AND sort < ?3
             AND id NOT IN (SELECT value FROM json_each(?4))",
            rusqlite::params![Kind::Appointment.as_str(), ts(&start), ts(&end), ids],
        )?;
        run(
            &tx,
            "INSERT INTO fetched_days (day, start, end, fetched_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (day) DO UPDATE SET start = excluded.start, end = excluded.end,
             fetched_at = excluded.fetched_at",
            rusqlite::params![day.to_string(), ts(&start), ts(&end), ts(&at)],
        )?;
        let dropped: Vec<(String, String, String)> = {
            let mut stmt = tx.prepare(
                "SELECT day, start, end FROM fetched_days ORDER BY fetched_at DESC, day LIMIT -1 OFFSET ?1",
            )?;
            stmt.query_map([FETCHED_DAYS_KEPT as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        run(
            &tx,
            "DELETE FROM fetched_days WHERE day NOT IN (
                 SELECT day FROM fetched_days ORDER BY fetched_at DESC, day LIMIT ?1)",
            [FETCHED_DAYS_KEPT as i64],
        )?;
        let held = covered_in(&tx)?;
        for (day, from, to) in dropped {
            // A dropped day the window has reached since is the window's now.
            let inside = held
                .zip(day.parse::<NaiveDate>().ok())
                .is_some_and(|(w, d)| w.includes(d));
            if !inside {
                run(
                    &tx,
                    "DELETE FROM records WHERE kind = ?1 AND sort >= ?2 AND sort < ?3",
                    rusqlite::params![Kind::Appointment.as_str(), from, to],
                )?;
            }
        }
        delete_unreferenced_patients(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// When `day` (outside the window) was last fetched, if the cache keeps it.
    pub fn fetched_at(&self, day: NaiveDate) -> Result<Option<DateTime<Utc>>> {
        let at: Option<String> = row(
            &self.conn,
            "SELECT fetched_at FROM fetched_days WHERE day = ?1",
            [day.to_string()],
            |r| r.get(0),
        )
        .optional()?;
        Ok(at.and_then(|a| {
            DateTime::parse_from_rfc3339(&a)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        }))
    }
}

/// Deletes the patients no appointment or ticket names.
fn delete_unreferenced_patients(conn: &Connection) -> Result<()> {
    run(
        conn,
        "DELETE FROM records WHERE kind = ?1 AND id NOT IN (
                 SELECT json_extract(data, '$.patient.id') FROM records
                 WHERE kind IN (?2, ?3) AND json_extract(data, '$.patient.id') IS NOT NULL)",
        rusqlite::params![
            Kind::Patient.as_str(),
            Kind::Appointment.as_str(),
            Kind::Queue.as_str()
        ],
    )?;
    Ok(())
}

impl Cache {
    /// Forgets everyone's presence: after a reconnect the server sends who is
    /// here now, and what was seen before the drop may be stale.
    pub fn clear_presence(&self) -> Result<()> {
        run(
            &self.conn,
            "DELETE FROM records WHERE kind = ?1",
            [Kind::Presence.as_str()],
        )?;
        Ok(())
    }

    /// Stores a page of appointments fetched for some days (and the patients
    /// they name), keeping any copy the cache holds with a higher version;
    /// with `covered`, also records the run of days the cache now holds.
    /// One transaction.
    pub fn store_fetched(
        &mut self,
        page: &AppointmentsPage,
        covered: Option<SyncWindow>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        for a in &page.appointments {
            let held: Option<String> = row(
                &tx,
                "SELECT data FROM records WHERE kind = ?1 AND id = ?2",
                rusqlite::params![Kind::Appointment.as_str(), a.id],
                |r| r.get(0),
            )
            .optional()?;
            let newer_held = held
                .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
                .and_then(|v| v["version"].as_u64())
                .is_some_and(|v| v >= a.version);
            if !newer_held {
                upsert(&tx, Kind::Appointment, &a.id, &ts(&a.start), a)?;
            }
        }
        for p in &page.patients {
            upsert(&tx, Kind::Patient, &p.id, &p.name, p)?;
        }
        if let Some(held) = &covered {
            set_covered(&tx, held)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The oldest message of `thread` the cache holds.
    pub fn oldest_message(&self, thread: &str) -> Result<Option<String>> {
        Ok(row(
            &self.conn,
            "SELECT id FROM records WHERE kind = ?1 AND json_extract(data, '$.thread_id') = ?2
                 ORDER BY sort, id LIMIT 1",
            rusqlite::params![Kind::Message.as_str(), thread],
            |r| r.get(0),
        )
        .optional()?)
    }

    /// Keeps messages read back from a thread (one transaction).
    pub fn put_messages(
        &mut self,
        messages: &[frontdesk_protocol::records::Message],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        for m in messages {
            upsert(&tx, Kind::Message, &m.id, &ts(&m.created_at), m)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The run of days whose appointments the cache holds, if known.
    pub fn covered(&self) -> Result<Option<SyncWindow>> {
        covered_in(&self.conn)
    }

    /// Stores the server's current version of a record (from a `409`) if it
    /// is newer than what the cache holds, so a retry starts from it.
    pub fn put_current(&self, kind: Kind, record: &serde_json::Value) -> Result<bool> {
        let (Some(id), Some(version)) = (record["id"].as_str(), record["version"].as_u64()) else {
            return Ok(false);
        };
        let held: Option<serde_json::Value> = self.get(kind, id)?;
        if held
            .as_ref()
            .and_then(|h| h["version"].as_u64())
            .is_some_and(|v| v >= version)
        {
            return Ok(false);
        }
        let sort = match kind {
            Kind::Appointment => record["start"].as_str(),
            Kind::Queue => record["arrived_at"].as_str(),
            _ => None,
        }
        .unwrap_or(id)
        .to_owned();
        upsert(&self.conn, kind, id, &sort, record)?;
        Ok(true)
    }
}

/// The run of days whose appointments the cache holds, if known.
fn covered_in(conn: &Connection) -> Result<Option<SyncWindow>> {
    let day = |key: &str| -> Result<Option<NaiveDate>> {
        Ok(meta(conn, key)?.and_then(|d| d.parse().ok()))
    };
    Ok(match (day(META_WINDOW_FROM)?, day(META_WINDOW_TO)?) {
        (Some(from), Some(to)) => Some(SyncWindow { from, to }),
        _ => None,
    })
}
