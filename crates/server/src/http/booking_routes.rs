//! Booking's reads and writes: finding and registering patients, providers'
//! hours and exceptions, appointment types, and free slots. Mutations build
//! their [`crate::commands`] command and run it through
//! [`commands::execute`]; reads run on the reader connection.

use super::extract::Mutation;
use crate::auth::Caller;
use crate::commands::{self, execute};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{appointments, directory, hours, patients};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use frontdesk_protocol::api::{
    NewAppointmentType, NewException, NewPatient, PatientDetails, PatientsPage, SetHours,
    SlotsAnswer, UpdateAppointmentType, UpdatePatient,
};
use frontdesk_protocol::schedule::{AppointmentType, ProviderHours};
use frontdesk_protocol::search::{self, Query as Search};
use frontdesk_protocol::window::{clinic_day, day_start};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Appointments of each kind (upcoming, past) a patient's details list.
pub const PATIENT_APPOINTMENTS: u32 = 50;

fn query<T: DeserializeOwned>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::invalid(format!("query: {}", e.body_text())))
}

/// Query of `GET /api/patients`.
#[derive(Debug, Deserialize)]
pub struct PatientSearch {
    pub q: String,
    pub offset: Option<u32>,
    pub limit: Option<u32>,
}

/// `GET /api/patients?q=&offset=&limit=`: best match first, at most 50 a page.
pub async fn search_patients(
    State(st): State<AppState>,
    caller: Caller,
    q: Result<Query<PatientSearch>, QueryRejection>,
) -> Result<Json<PatientsPage>, ApiError> {
    caller.require_staff("search patients")?;
    st.take_read_token(&caller.id)?;
    let q = query(q)?;
    if q.q.chars().count() > 200 {
        return Err(ApiError::invalid("q must be at most 200 characters"));
    }
    let parsed = Search::parse(&q.q).ok_or_else(|| {
        ApiError::invalid(
            "q: type part of a name, at least three digits of a phone, or a birth date",
        )
    })?;
    let offset = q.offset.unwrap_or(0).min(10_000);
    let limit = q
        .limit
        .unwrap_or(search::PAGE_MAX as u32)
        .clamp(1, search::PAGE_MAX as u32);
    let page = st
        .db
        .read(move |conn| {
            let (found, more) = patients::search(
                conn,
                &caller.tenant,
                &parsed,
                offset as usize,
                limit as usize,
            )?;
            Ok(PatientsPage {
                patients: found,
                next_offset: more.then_some(offset + limit),
            })
        })
        .await?;
    Ok(Json(page))
}

/// `GET /api/patients/{id}`: the record with their upcoming and past appointments.
pub async fn get_patient(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PatientDetails>, ApiError> {
    caller.require_staff("read patients")?;
    st.take_read_token(&caller.id)?;
    let now = st.now();
    let tenant = caller.tenant.clone();
    let details = st
        .db
        .read(move |conn| {
            let tx = conn.transaction()?;
            let t = &tenant;
            let patient = patients::get(&tx, t, &id)?;
            let (upcoming, past) =
                appointments::of_patient(&tx, t, &patient.id, now, PATIENT_APPOINTMENTS)?;
            tx.commit()?;
            Ok(PatientDetails {
                patient,
                upcoming,
                past,
            })
        })
        .await?;
    let id = details.patient.id.clone();
    let detail = format!("GET /api/patients/{id}");
    st.audit(
        &caller,
        crate::store::audit::Access::RecordOpened,
        vec![id],
        detail,
    )
    .await?;
    Ok(Json(details))
}

/// `POST /api/patients`.
pub async fn register_patient(
    State(st): State<AppState>,
    m: Mutation<NewPatient>,
) -> Result<Response, ApiError> {
    execute(
        &st,
        m.caller,
        m.idempotency,
        commands::RegisterPatient(m.body),
    )
    .await
}

/// `PATCH /api/patients/{id}`.
pub async fn correct_patient(
    State(st): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<UpdatePatient>,
) -> Result<Response, ApiError> {
    let cmd = commands::CorrectPatient { id, change: m.body };
    execute(&st, m.caller, m.idempotency, cmd).await
}

/// `GET /api/providers/{id}/hours`.
pub async fn get_hours(
    State(st): State<AppState>,
    caller: Caller,
    Path(provider): Path<String>,
) -> Result<Json<ProviderHours>, ApiError> {
    caller.require_staff("read providers' hours")?;
    st.take_read_token(&caller.id)?;
    let now = st.now();
    let h = st
        .db
        .read(move |conn| {
            let zone = directory::zone(conn, &caller.tenant)?;
            hours::current(conn, &caller.tenant, &provider, clinic_day(now, zone))
        })
        .await?;
    Ok(Json(h))
}

/// `PUT /api/providers/{id}/hours` (admin).
pub async fn set_hours(
    State(st): State<AppState>,
    Path(provider): Path<String>,
    m: Mutation<SetHours>,
) -> Result<Response, ApiError> {
    let cmd = commands::SetWeeklyHours {
        provider,
        hours: m.body,
    };
    execute(&st, m.caller, m.idempotency, cmd).await
}

/// `POST /api/providers/{id}/exceptions` (admin).
pub async fn add_exception(
    State(st): State<AppState>,
    Path(provider): Path<String>,
    m: Mutation<NewException>,
) -> Result<Response, ApiError> {
    let cmd = commands::AddException {
        provider,
        exception: m.body,
    };
    execute(&st, m.caller, m.idempotency, cmd).await
}

/// `DELETE /api/providers/{id}/exceptions/{exception}` (admin).
pub async fn remove_exception(
    State(st): State<AppState>,
    Path((provider, exception)): Path<(String, String)>,
    m: Mutation<serde_json::Value>,
) -> Result<Response, ApiError> {
    let cmd = commands::RemoveException {
        provider,
        exception,
    };
    execute(&st, m.caller, m.idempotency, cmd).await
}

/// `GET /api/appointment-types`.
pub async fn list_types(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<AppointmentType>>, ApiError> {
    caller.require_staff("read appointment types")?;
    st.take_read_token(&caller.id)?;
    let types = st
        .db
        .read(move |conn| hours::types(conn, &caller.tenant))
        .await?;
    Ok(Json(types))
}

/// `POST /api/appointment-types` (admin).
pub async fn add_type(
    State(st): State<AppState>,
    m: Mutation<NewAppointmentType>,
) -> Result<Response, ApiError> {
    execute(
        &st,
        m.caller,
        m.idempotency,
        commands::AddAppointmentType(m.body),
    )
    .await
}

/// `PATCH /api/appointment-types/{id}` (admin).
pub async fn change_type(
    State(st): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<UpdateAppointmentType>,
) -> Result<Response, ApiError> {
    let cmd = commands::ChangeAppointmentType { id, change: m.body };
    execute(&st, m.caller, m.idempotency, cmd).await
}

/// The slot length asked for: `length` minutes, or the type's.
fn slot_length(
    conn: &rusqlite::Connection,
    tenant: &str,
    length: Option<u32>,
    type_id: Option<&str>,
) -> Result<Duration, ApiError> {
    let minutes = match (length, type_id) {
        (Some(m), _) => m,
        (None, Some(t)) => hours::appointment_type(conn, tenant, t)?.minutes,
        (None, None) => return Err(ApiError::invalid("give length (minutes) or type_id")),
    };
    if !(5..=720).contains(&minutes) {
        return Err(ApiError::invalid("length must be 5 to 720 minutes"));
    }
    Ok(Duration::minutes(i64::from(minutes)))
}

/// The providers asked about: one, or all of the tenant's.
fn providers_of(
    conn: &rusqlite::Connection,
    tenant: &str,
    one: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    match one {
        Some(p) => Ok(vec![directory::provider(conn, tenant, p)?.id]),
        None => Ok(directory::providers(conn, tenant)?
            .into_iter()
            .map(|p| p.id)
            .collect()),
    }
}

/// Query of `GET /api/slots`.
#[derive(Debug, Deserialize)]
pub struct SlotsQuery {
    /// One provider; absent: every provider.
    pub provider_id: Option<String>,
    /// First clinic-local day.
    pub from: NaiveDate,
    /// Last clinic-local day (included).
    pub to: NaiveDate,
    pub length: Option<u32>,
    pub type_id: Option<String>,
}

/// `GET /api/slots?provider_id=&from=&to=&length=|type_id=`: free slots on
/// those days from now on, by start then provider.
pub async fn get_slots(
    State(st): State<AppState>,
    caller: Caller,
    q: Result<Query<SlotsQuery>, QueryRejection>,
) -> Result<Json<SlotsAnswer>, ApiError> {
    caller.require_staff("read free slots")?;
    st.take_read_token(&caller.id)?;
    let q = query(q)?;
    if !(0..hours::SLOT_DAYS_MAX).contains(&(q.to - q.from).num_days()) {
        return Err(ApiError::invalid(format!(
            "`to` must be on or after `from`, at most {} days later",
            hours::SLOT_DAYS_MAX
        )));
    }
    let now = st.now();
    let answer = st
        .db
        .read(move |conn| {
            let t = &caller.tenant;
            let zone = directory::zone(conn, t)?;
            let length = slot_length(conn, t, q.length, q.type_id.as_deref())?;
            let end = q.to.succ_opt().unwrap_or(q.to);
            let range = (day_start(q.from, zone), day_start(end, zone));
            let mut slots = Vec::new();
            for p in providers_of(conn, t, q.provider_id.as_deref())? {
                slots.extend(hours::free_slots(conn, t, &p, range, length, now, zone)?);
            }
            slots.sort_by(|a, b| {
                a.start
                    .cmp(&b.start)
                    .then_with(|| a.provider_id.cmp(&b.provider_id))
            });
            Ok(SlotsAnswer { slots })
        })
        .await?;
    Ok(Json(answer))
}

/// Query of `GET /api/slots/next`.
#[derive(Debug, Deserialize)]
pub struct NextSlotsQuery {
    pub provider_id: Option<String>,
    pub length: Option<u32>,
    pub type_id: Option<String>,
    /// Not before this instant (default: now).
    pub after: Option<DateTime<Utc>>,
    /// How many (default 3, at most 20).
    pub limit: Option<u32>,
}

/// `GET /api/slots/next?type_id=|length=&provider_id=&after=&limit=`: the
/// earliest free slots across every provider (or one), up to 90 days ahead.
pub async fn next_slots(
    State(st): State<AppState>,
    caller: Caller,
    q: Result<Query<NextSlotsQuery>, QueryRejection>,
) -> Result<Json<SlotsAnswer>, ApiError> {
    caller.require_staff("read free slots")?;
    st.take_read_token(&caller.id)?;
    let q = query(q)?;
    let now = st.now();
    let after = q.after.unwrap_or(now).max(now);
    let limit = q.limit.unwrap_or(3).clamp(1, 20) as usize;
    let answer = st
        .db
        .read(move |conn| {
            let t = &caller.tenant;
            let zone = directory::zone(conn, t)?;
            let length = slot_length(conn, t, q.length, q.type_id.as_deref())?;
            let providers = providers_of(conn, t, q.provider_id.as_deref())?;
            let slots = hours::next_free(conn, t, &providers, after, length, limit, zone)?;
            Ok(SlotsAnswer { slots })
        })
        .await?;
    Ok(Json(answer))
}
