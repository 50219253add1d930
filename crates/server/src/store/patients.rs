//! Patients: registration with duplicate detection, versioned corrections,
//! and search.
//!
//! Search runs on an index of terms (`patient_terms`): each folded word of a
//! patient's name, and each ending of their phone's digits from three digits
//! up, marked with `#`. A query word is a prefix range over that index, and
//! a phone fragment is a prefix of some ending, so both are index scans
//! however many patients the clinic has. The candidates are then ranked by
//! `frontdesk_protocol::search`, the same ranking a desk uses offline.

use super::new_id;
use crate::error::ApiError;
use frontdesk_protocol::api::{NewPatient, UpdatePatient};
use frontdesk_protocol::records::{Patient, PatientRef};
use frontdesk_protocol::search::{self, Query};
use frontdesk_protocol::text::{self, Lines};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

/// Most candidates a query ranks: of a query matching more (two letters in a
/// large clinic), the first this many in the index's order (by the matching
/// word, so whole words before longer ones) are ranked; typing more narrows it.
pub const CANDIDATES_MAX: usize = 2000;

const COLUMNS: &str = "id, name, initials, birth_date, phone, version";

fn row(r: &Row<'_>) -> rusqlite::Result<Patient> {
    let birth: Option<String> = r.get(3)?;
    Ok(Patient {
        id: r.get(0)?,
        name: r.get(1)?,
        initials: r.get(2)?,
        birth_date: birth.and_then(|b| b.parse().ok()),
        phone: r.get(4)?,
        version: r.get(5)?,
    })
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    text::check("patient name", name, Lines::One)?;
    if search::name_words(name).is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid(
            "patient name must be 1 to 200 characters and contain a letter or digit",
        ));
    }
    Ok(name.to_owned())
}

fn check_phone(phone: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(phone) = phone.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    if phone.chars().count() > 40 {
        return Err(ApiError::invalid("phone must be at most 40 characters"));
    }
    text::check("phone", phone, Lines::One)?;
    Ok(Some(phone.to_owned()))
}

/// The search terms of a patient (see the module doc).
fn terms(p: &Patient) -> Vec<String> {
    let mut out = search::name_words(&p.name);
    let digits = search::phone_digits(p.phone.as_deref().unwrap_or_default());
    for i in 0..digits.len().saturating_sub(2) {
        out.push(format!("#{}", &digits[i..]));
    }
    out.sort();
    out.dedup();
    out
}

/// Writes a patient's name key and search terms (after insert or change).
fn index(conn: &Connection, tenant: &str, p: &Patient) -> Result<(), ApiError> {
    super::exec(
        conn,
        "DELETE FROM patient_terms WHERE patient_id = ?1",
        [&p.id],
    )?;
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO patient_terms (tenant, term, patient_id) VALUES (?1, ?2, ?3)",
    )?;
    for term in terms(p) {
        stmt.execute(params![tenant, term, p.id])?;
    }
    super::exec(
        conn,
        "UPDATE patients SET name_key = ?2 WHERE id = ?1",
        params![p.id, search::name_key(&p.name)],
    )?;
    Ok(())
}

/// Indexes every patient of every tenant (the migration that added search).
pub fn index_all(conn: &Connection) -> Result<(), ApiError> {
    index_each(conn, None)
}

/// Indexes every patient of `tenant` (seeding that inserts rows directly).
pub fn index_tenant(conn: &Connection, tenant: &str) -> Result<(), ApiError> {
    index_each(conn, Some(tenant))
}

fn index_each(conn: &Connection, tenant: Option<&str>) -> Result<(), ApiError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT tenant, {COLUMNS} FROM patients WHERE ?1 IS NULL OR tenant = ?1"
    ))?;
    let all: Vec<(String, Patient)> = stmt
        .query_map([tenant], |r| {
            let tenant: String = r.get(0)?;
            let birth: Option<String> = r.get(4)?;
            Ok((
                tenant,
                Patient {
                    id: r.get(1)?,
                    name: r.get(2)?,
                    initials: r.get(3)?,
                    birth_date: birth.and_then(|b| b.parse().ok()),
                    phone: r.get(5)?,
                    version: r.get(6)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    for (tenant, p) in &all {
        index(conn, tenant, p)?;
    }
    Ok(())
}

/// Patients with the same name (words in any order, case and accents
/// aside) and birth date as `p`.
pub fn duplicates_of(
    conn: &Connection,
    tenant: &str,
    name: &str,
    birth: Option<chrono::NaiveDate>,
) -> Result<Vec<Patient>, ApiError> {
    let Some(birth) = birth else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM patients WHERE tenant = ?1 AND name_key = ?2 AND birth_date = ?3 ORDER BY id"
    ))?;
    let rows = stmt.query_map(
        params![tenant, search::name_key(name), birth.to_string()],
        row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Validates and stores a new patient. The same name and birth date as an
/// existing patient answers `possible-duplicate` unless `confirm_new`.
pub fn create(conn: &Connection, tenant: &str, p: &NewPatient) -> Result<Patient, ApiError> {
    let name = check_name(&p.name)?;
    let phone = check_phone(p.phone.as_deref())?;
    if !p.confirm_new {
        let candidates = duplicates_of(conn, tenant, &name, p.birth_date)?;
        if !candidates.is_empty() {
            return Err(ApiError::PossibleDuplicate { candidates });
        }
    }
    let patient = Patient {
        id: new_id("pat"),
        initials: super::initials(&name),
        name,
        birth_date: p.birth_date,
        phone,
        version: 1,
    };
    super::exec(
        conn,
        "INSERT INTO patients (id, tenant, name, initials, birth_date, phone, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)",
        params![
            patient.id,
            tenant,
            patient.name,
            patient.initials,
            patient.birth_date.map(|d| d.to_string()),
            patient.phone
        ],
    )?;
    index(conn, tenant, &patient)?;
    Ok(patient)
}

/// Applies a correction after checking `version`. Returns the record and
/// whether anything changed (no change keeps the version).
pub fn update(
    conn: &Connection,
    tenant: &str,
    id: &str,
    req: &UpdatePatient,
) -> Result<(Patient, bool), ApiError> {
    let before = get(conn, tenant, id)?;
    if before.version != req.version {
        return Err(ApiError::Conflict {
            current: serde_json::to_value(&before)?,
        });
    }
    let mut p = before.clone();
    if let Some(name) = &req.name {
        p.name = check_name(name)?;
        p.initials = super::initials(&p.name);
    }
    if let Some(phone) = &req.phone {
        p.phone = check_phone(Some(phone))?;
    }
    if let Some(birth) = req.birth_date {
        p.birth_date = Some(birth);
    }
    if p == before {
        return Ok((p, false));
    }
    p.version += 1;
    super::exec(
        conn,
        "UPDATE patients SET name = ?3, initials = ?4, birth_date = ?5, phone = ?6, version = ?7
         WHERE tenant = ?1 AND id = ?2",
        params![
            tenant,
            p.id,
            p.name,
            p.initials,
            p.birth_date.map(|d| d.to_string()),
            p.phone,
            p.version
        ],
    )?;
    index(conn, tenant, &p)?;
    Ok((p, true))
}

/// One patient of a tenant, or `NotFound`.
pub fn get(conn: &Connection, tenant: &str, id: &str) -> Result<Patient, ApiError> {
    find(conn, tenant, id)?.ok_or_else(|| ApiError::NotFound(format!("patient {id}")))
}

/// A patient of a tenant, if there is one with this id.
pub fn find(conn: &Connection, tenant: &str, id: &str) -> Result<Option<Patient>, ApiError> {
    Ok(super::one(
        conn,
        &format!("SELECT {COLUMNS} FROM patients WHERE tenant = ?1 AND id = ?2"),
        params![tenant, id],
        row,
    )
    .optional()?)
}

/// The patients of a tenant with these ids (unknown ids are skipped), by name.
pub fn by_id(conn: &Connection, tenant: &str, ids: &[String]) -> Result<Vec<Patient>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM patients WHERE tenant = ?1 AND id = ?2"
    ))?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(p) = stmt.query_row(params![tenant, id], row).optional()? {
            out.push(p);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// An existing patient by id, or a new one from `new`; exactly one must be
/// given. The whole record comes back too when it is new, for the
/// `patient.created` event that announces it.
pub fn existing_or_new(
    conn: &Connection,
    tenant: &str,
    id: Option<&str>,
    new: Option<&NewPatient>,
) -> Result<(PatientRef, Option<Patient>), ApiError> {
    let (p, created) = match (id, new) {
        (Some(id), None) => (get(conn, tenant, id)?, false),
        (None, Some(new)) => (create(conn, tenant, new)?, true),
        _ => {
            return Err(ApiError::invalid(
                "give exactly one of patient_id and patient",
            ));
        }
    };
    let reference = PatientRef {
        id: p.id.clone(),
        name: p.name.clone(),
        initials: p.initials.clone(),
    };
    Ok((reference, created.then_some(p)))
}

/// The upper end of a prefix range over terms.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// Patients answering `q`, best first: `limit` of them from `offset`, and
/// whether more follow.
pub fn search(
    conn: &Connection,
    tenant: &str,
    q: &Query,
    offset: usize,
    limit: usize,
) -> Result<(Vec<Patient>, bool), ApiError> {
    let mut prefixes: Vec<String> = q.words.clone();
    if let Some(digits) = &q.phone {
        prefixes.push(format!("#{digits}"));
    }
    // The candidates: one index range per term, intersected, never a scan
    // of the register (no ORDER BY over it: the ranking orders them).
    let mut sets: Vec<String> = Vec::new();
    let mut args: Vec<String> = Vec::new();
    for p in &prefixes {
        sets.push(
            "SELECT patient_id FROM patient_terms WHERE tenant = ? AND term >= ? AND term < ?"
                .into(),
        );
        args.extend([tenant.to_owned(), p.clone(), prefix_end(p)]);
    }
    if !q.birth.is_empty() {
        let marks = vec!["?"; q.birth.len()].join(", ");
        sets.push(format!(
            "SELECT id FROM patients WHERE tenant = ? AND birth_date IN ({marks})"
        ));
        args.push(tenant.to_owned());
        args.extend(q.birth.iter().map(|d| d.to_string()));
    }
    let sql = format!(
        "WITH hits(id) AS ({} LIMIT {CANDIDATES_MAX})
         SELECT {COLUMNS} FROM patients WHERE id IN (SELECT id FROM hits)",
        sets.join(" INTERSECT ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let candidates: Vec<Patient> = stmt
        .query_map(params_from_iter(args), row)?
        .collect::<Result<_, _>>()?;
    let ranked = q.rank(&candidates);
    let more = ranked.len() > offset + limit;
    let page = ranked
        .into_iter()
        .skip(offset)
        .take(limit)
        .cloned()
        .collect();
    Ok((page, more))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clinic() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrations::migrate(&mut c).unwrap();
        super::super::directory::create_tenant(&c, "t", "T", "UTC").unwrap();
        super::super::directory::create_tenant(&c, "other", "O", "UTC").unwrap();
        c
    }

    fn new(name: &str, birth: Option<&str>, phone: Option<&str>) -> NewPatient {
        NewPatient {
            name: name.into(),
            birth_date: birth.map(|b| b.parse().unwrap()),
            phone: phone.map(str::to_owned),
            confirm_new: false,
        }
    }

    fn names(c: &Connection, tenant: &str, q: &str) -> Vec<String> {
        let q = Query::parse(q).unwrap();
        search(c, tenant, &q, 0, 50)
            .unwrap()
            .0
            .into_iter()
            .map(|p| p.name)
            .collect()
    }

    #[test]
    fn search_finds_by_words_phone_and_birth_date_within_the_tenant() {
        let c = clinic();
        create(
            &c,
            "t",
            &new("Zoë Núñez", Some("1980-03-12"), Some("+1 555 0123")),
        )
        .unwrap();
        create(
            &c,
            "t",
            &new("Sam Okafor", Some("1975-12-03"), Some("555-0199")),
        )
        .unwrap();
        create(&c, "t", &new("Samantha O'Brien", None, None)).unwrap();
        create(
            &c,
            "other",
            &new("Sam Other-Tenant", None, Some("555 0123")),
        )
        .unwrap();
        assert_eq!(names(&c, "t", "nunez zo"), ["Zoë Núñez"]);
        assert_eq!(names(&c, "t", "sam"), ["Sam Okafor", "Samantha O'Brien"]);
        assert_eq!(names(&c, "t", "obrien"), ["Samantha O'Brien"]);
        assert_eq!(names(&c, "t", "0123"), ["Zoë Núñez"]);
        assert_eq!(names(&c, "t", "555"), ["Sam Okafor", "Zoë Núñez"]);
        assert_eq!(names(&c, "t", "12/03/1980"), ["Zoë Núñez"]);
        assert_eq!(names(&c, "t", "3/12/1975"), ["Sam Okafor"]);
        assert_eq!(names(&c, "t", "12 March 1980"), ["Zoë Núñez"]);
        assert_eq!(names(&c, "t", "sam 03.12.1975"), ["Sam Okafor"]);
        assert!(names(&c, "t", "other").is_empty());
        assert_eq!(names(&c, "other", "sam"), ["Sam Other-Tenant"]);
    }

    #[test]
    fn pages_follow_the_ranking() {
        let c = clinic();
        for i in 0..7 {
            create(&c, "t", &new(&format!("Kim Lee{i}"), None, None)).unwrap();
        }
        let q = Query::parse("kim").unwrap();
        let (first, more) = search(&c, "t", &q, 0, 3).unwrap();
        assert!(more);
        let (last, more) = search(&c, "t", &q, 6, 3).unwrap();
        assert!(!more);
        assert_eq!(first[0].name, "Kim Lee0");
        assert_eq!(
            last.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["Kim Lee6"]
        );
    }

    #[test]
    fn the_same_name_and_birth_date_is_a_possible_duplicate_until_confirmed() {
        let c = clinic();
        let first = create(&c, "t", &new("José Núñez", Some("1980-03-12"), None)).unwrap();
        let again = create(&c, "t", &new("nunez  JOSE", Some("1980-03-12"), None));
        match again {
            Err(ApiError::PossibleDuplicate { candidates }) => {
                assert_eq!(candidates, std::slice::from_ref(&first));
            }
            other => panic!("expected a possible duplicate, got {other:?}"),
        }
        // Another birth date, no birth date, or another tenant: a new person.
        create(&c, "t", &new("José Núñez", Some("1981-03-12"), None)).unwrap();
        create(&c, "t", &new("José Núñez", None, None)).unwrap();
        create(&c, "other", &new("José Núñez", Some("1980-03-12"), None)).unwrap();
        let confirmed = NewPatient {
            confirm_new: true,
            ..new("Jose Nunez", Some("1980-03-12"), None)
        };
        let twin = create(&c, "t", &confirmed).unwrap();
        assert_ne!(twin.id, first.id);
        assert_eq!(
            duplicates_of(&c, "t", "Núñez José", first.birth_date)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn a_correction_is_version_checked_and_reindexed() {
        let c = clinic();
        let p = create(&c, "t", &new("Ana Lima", None, Some("555 1000"))).unwrap();
        let change = UpdatePatient {
            version: 1,
            name: Some("Ana Souza".into()),
            phone: Some(String::new()),
            birth_date: Some("1990-01-02".parse().unwrap()),
        };
        let (after, changed) = update(&c, "t", &p.id, &change).unwrap();
        assert!(changed);
        assert_eq!(
            (
                after.version,
                after.initials.as_str(),
                after.phone.as_deref()
            ),
            (2, "A.S.", None)
        );
        assert!(names(&c, "t", "lima").is_empty());
        assert!(names(&c, "t", "1000").is_empty());
        assert_eq!(names(&c, "t", "souza"), ["Ana Souza"]);
        // The same change again at the old version: a conflict with the record as it is.
        assert!(matches!(
            update(&c, "t", &p.id, &change),
            Err(ApiError::Conflict { .. })
        ));
        // Nothing new: no version bump.
        let same = UpdatePatient {
            version: 2,
            name: Some("Ana Souza".into()),
            ..UpdatePatient::default()
        };
        assert_eq!(update(&c, "t", &p.id, &same).unwrap(), (after, false));
        let blank = UpdatePatient {
            version: 2,
            name: Some(" \u{200b} ".into()),
            ..UpdatePatient::default()
        };
        assert!(matches!(
            update(&c, "t", &p.id, &blank),
            Err(ApiError::InvalidInput(_))
        ));
        assert!(matches!(
            update(&c, "other", &p.id, &same),
            Err(ApiError::NotFound(_))
        ));
    }
}
