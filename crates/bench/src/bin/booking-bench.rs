//! `booking-bench`: what booking costs on a large clinic. Patient search on
//! the server over 100,000 patients (over HTTP on loopback) and the engine's
//! local search over the patients a desk caches; free slots for one
//! provider's month; the booking round trip. The server runs in this process
//! on loopback; numbers go to stdout and, with `--write`, into
//! docs/benchmarks.md.

use anyhow::Context;
use clap::Parser;
use clinic_server::{Db, DbLocation, ServerConfig, demo, demo_history};
use frontdesk_bench::machine::Machine;
use frontdesk_bench::markdown;
use frontdesk_engine::cache::{Cache, CacheKey};
use frontdesk_protocol::api::Snapshot;
use frontdesk_protocol::records::{Patient, Role, Tenant, UserSummary};
use frontdesk_protocol::search::Query;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const START: &str = "<!-- booking-bench:start -->";
const END: &str = "<!-- booking-bench:end -->";

/// Benchmarks patient search, free slots and booking against an in-process clinic server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Patients on the clinic's roll.
    #[arg(long, default_value_t = 100_000)]
    patients: usize,
    /// Searches timed (a fixed mix of what desks type).
    #[arg(long, default_value_t = 1_000)]
    searches: usize,
    /// Patients in the desk's cache for the local search.
    #[arg(long, default_value_t = 10_000)]
    cached: usize,
    /// Bookings timed.
    #[arg(long, default_value_t = 1_000)]
    bookings: usize,
    /// Write the results into this markdown file (between the booking-bench markers).
    #[arg(long)]
    write: Option<PathBuf>,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// What desks type, cycled: surname prefixes, first + last names in either
/// order, short prefixes, phone endings, birth dates, a miss.
fn queries(patients: &[Patient], n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0usize;
    while out.len() < n {
        let p = &patients[(i * 7_919) % patients.len()];
        let words: Vec<&str> = p.name.split_whitespace().collect();
        let (first, last) = (words[0], words[words.len() - 1]);
        let digits: String = p
            .phone
            .as_deref()
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        out.push(match i % 8 {
            0 => last.chars().take(4).collect(),
            1 => format!("{first} {last}"),
            2 => format!("{} {}", last.to_lowercase(), &first[..2]),
            3 => first.chars().take(2).collect(),
            4 => digits[digits.len().saturating_sub(4)..].to_owned(),
            5 => p
                .birth_date
                .map(|d| d.format("%d/%m/%Y").to_string())
                .unwrap_or_else(|| last.to_owned()),
            6 => format!(
                "{} {}",
                first,
                p.birth_date.map(|d| d.to_string()).unwrap_or_default()
            ),
            _ => "zzyzx".to_owned(),
        });
        i += 1;
    }
    out
}

struct Results {
    patients: i64,
    appointments: i64,
    seed: Duration,
    server_search: Vec<Duration>,
    server_hits: usize,
    local_small: Vec<Duration>,
    local_large: Vec<Duration>,
    window_patients: usize,
    cached: usize,
    slots_month: Vec<Duration>,
    slots_found: usize,
    booking: Vec<Duration>,
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<(u16, Value)> {
    let r = http.get(url).bearer_auth(token).send().await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await?))
}

/// A desk cache holding `patients` (and nothing else that search reads).
fn cache_with(patients: &[Patient]) -> anyhow::Result<(tempfile::TempDir, Cache)> {
    let dir = tempfile::tempdir()?;
    let mut cache = Cache::open(&dir.path().join("cache.db"), &CacheKey::generate())?;
    let snap = Snapshot {
        seq: 0,
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
            id: "u".into(),
            name: "U".into(),
            role: Role::Receptionist,
        },
        users: vec![],
        providers: vec![],
        rooms: vec![],
        patients: patients.to_vec(),
        appointments: vec![],
        queue: vec![],
        threads: vec![],
        messages: vec![],
        read_markers: vec![],
        notifications: vec![],
        presence: vec![],
        hours: vec![],
        appointment_types: vec![],
    };
    cache.replace_with_snapshot(&snap, chrono::Utc::now())?;
    Ok((dir, cache))
}

fn local_search(cache: &Cache, qs: &[String]) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(qs.len());
    for q in qs {
        let Some(parsed) = Query::parse(q) else {
            continue;
        };
        let t = Instant::now();
        cache.search_patients(&parsed, 0, 50)?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let machine = Machine::detect();
    let dir = tempfile::tempdir()?;
    let mut cfg = ServerConfig::for_tests();
    cfg.reads_per_second = 1_000_000;
    cfg.read_burst = 1_000_000;
    cfg.db = DbLocation::File(dir.path().join("clinic.db"));
    cfg.mutations_per_second = 100_000;
    cfg.mutation_burst = 100_000;
    let db = Db::open(&cfg.db)?;
    let now = chrono::Utc::now();
    let span = demo_history::Span {
        patients: args.patients,
        ..demo_history::Span::YEAR
    };
    println!("seeding a year-old clinic with {} patients…", args.patients);
    let t = Instant::now();
    let clinic = db
        .write_now(|c| demo::seed_with_span(c, "demo", "Demo", "UTC", now, span))?
        .context("fresh tenant")?;
    let seed = t.elapsed();
    let (patients, appointments) = db.write_now(|c| {
        let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0));
        Ok((
            count("SELECT count(*) FROM patients")?,
            count("SELECT count(*) FROM appointments")?,
        ))
    })?;
    println!("  {patients} patients, {appointments} appointments in {seed:.1?}");
    let server = clinic_server::start_with_db(cfg, db).await?;
    let base = server.url();
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"tenant": "demo", "username": "reception", "password": "demo"}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"].as_str().context("token")?.to_owned();

    // A sample of the roll to build queries from, read back through search.
    let mut roll: Vec<Patient> = Vec::new();
    for letter in ["ada", "ben", "carla", "dev", "eva", "farid", "gita", "hugo"] {
        let (_, page) = get(
            &http,
            &format!("{base}/api/patients?q={letter}&limit=50"),
            &token,
        )
        .await?;
        roll.extend(serde_json::from_value::<Vec<Patient>>(
            page["patients"].clone(),
        )?);
    }
    let qs = queries(&roll, args.searches);

    println!("server search, {} queries…", qs.len());
    let mut server_search = Vec::with_capacity(qs.len());
    let mut server_hits = 0;
    for q in &qs {
        let url =
            reqwest::Url::parse_with_params(&format!("{base}/api/patients"), &[("q", q.as_str())])?;
        let t = Instant::now();
        let (status, page) = get(&http, url.as_str(), &token).await?;
        server_search.push(t.elapsed());
        anyhow::ensure!(status == 200, "search {q:?}: {status} {page}");
        server_hits += page["patients"].as_array().map_or(0, Vec::len);
    }
    server_search.sort();
    println!(
        "  p50 {} p95 {}",
        ms(pct(&server_search, 0.5)),
        ms(pct(&server_search, 0.95))
    );

    // The engine's local search: over the patients a desk holds for the
    // window (about a thousand), and over ten times that.
    let (_, snap) = get(&http, &format!("{base}/api/snapshot"), &token).await?;
    let window = snap["window"].clone();
    let (from, to) = (
        window["from"].as_str().context("window")?,
        window["to"].as_str().context("window")?,
    );
    let mut held: Vec<Patient> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = reqwest::Url::parse_with_params(
            &format!("{base}/api/appointments"),
            &[("from", from), ("to", to), ("limit", "1000")],
        )?;
        if let Some(c) = &cursor {
            url.query_pairs_mut().append_pair("cursor", c);
        }
        let (_, page) = get(&http, url.as_str(), &token).await?;
        held.extend(serde_json::from_value::<Vec<Patient>>(
            page["patients"].clone(),
        )?);
        cursor = page["next"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    held.sort_by(|a, b| a.id.cmp(&b.id));
    held.dedup_by(|a, b| a.id == b.id);
    let window_patients = held.len();
    println!(
        "local search over the window's {window_patients} patients and over {}…",
        args.cached
    );
    let (_small_dir, small) = cache_with(&held)?;
    let local_small = local_search(&small, &qs)?;
    let mut large_roll = held.clone();
    let mut offset = 0;
    while large_roll.len() < args.cached {
        let (_, page) = get(
            &http,
            &format!("{base}/api/patients?q=a&offset={offset}&limit=50"),
            &token,
        )
        .await?;
        let more: Vec<Patient> = serde_json::from_value(page["patients"].clone())?;
        if more.is_empty() {
            break;
        }
        offset += more.len();
        large_roll.extend(more);
        if offset >= 10_000 {
            break;
        }
    }
    for (i, p) in roll.iter().cycle().enumerate() {
        if large_roll.len() >= args.cached {
            break;
        }
        large_roll.push(Patient {
            id: format!("pat_bench{i}"),
            ..p.clone()
        });
    }
    let cached = large_roll.len();
    let (_large_dir, large) = cache_with(&large_roll)?;
    let local_large = local_search(&large, &qs)?;
    println!(
        "  p95 {} ({window_patients}), {} ({cached})",
        ms(pct(&local_small, 0.95)),
        ms(pct(&local_large, 0.95))
    );

    // Slots for one provider's month (from today, 31 days), 200 times.
    let provider = &clinic.providers[0];
    let today = now.date_naive();
    let month_end = today + chrono::Duration::days(30);
    let slots_url =
        format!("{base}/api/slots?provider_id={provider}&from={today}&to={month_end}&length=20");
    let mut slots_month = Vec::new();
    let mut slots_found = 0;
    for _ in 0..200 {
        let t = Instant::now();
        let (status, answer) = get(&http, &slots_url, &token).await?;
        slots_month.push(t.elapsed());
        anyhow::ensure!(status == 200, "slots: {status} {answer}");
        slots_found = answer["slots"].as_array().map_or(0, Vec::len);
    }
    slots_month.sort();
    println!(
        "slots for a provider-month ({slots_found} free): p50 {} p95 {}",
        ms(pct(&slots_month, 0.5)),
        ms(pct(&slots_month, 0.95))
    );

    // Booking round trips into free ten-minute slots over the next weeks.
    let (_, free) = get(
        &http,
        &format!(
            "{base}/api/slots?provider_id={provider}&from={today}&to={}&length=10",
            today + chrono::Duration::days(61)
        ),
        &token,
    )
    .await?;
    let free = free["slots"].as_array().cloned().unwrap_or_default();
    let mut booking = Vec::new();
    for (i, s) in free.iter().take(args.bookings).enumerate() {
        let body = json!({
            "patient_id": roll[i % roll.len()].id,
            "provider_id": provider,
            "start": s["start"],
            "end": s["end"],
            "reason": "Benchmark",
        });
        let t = Instant::now();
        let r = http
            .post(format!("{base}/api/appointments"))
            .bearer_auth(&token)
            .header("Idempotency-Key", format!("bench-{i}"))
            .json(&body)
            .send()
            .await?;
        let status = r.status().as_u16();
        r.bytes().await?;
        booking.push(t.elapsed());
        anyhow::ensure!(status == 201, "booking {i}: {status}");
    }
    booking.sort();
    println!(
        "booking round trip ({}): p50 {} p99 {}",
        booking.len(),
        ms(pct(&booking, 0.5)),
        ms(pct(&booking, 0.99))
    );

    let r = Results {
        patients,
        appointments,
        seed,
        server_search,
        server_hits,
        local_small,
        local_large,
        window_patients,
        cached,
        slots_month,
        slots_found,
        booking,
    };
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    markdown::publish(
        &report(&r, &machine, &date),
        args.write.as_deref(),
        START,
        END,
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

fn report(r: &Results, machine: &Machine, date: &str) -> String {
    let mut md = markdown::section_head(
        START,
        "Booking benchmark (`booking-bench`)",
        &format!(
            "Measured {date} with `booking-bench --write docs/benchmarks.md` (release build; `bench/run-booking-bench.sh`)."
        ),
        &machine.describe(),
    );
    let p95 = |v: &[Duration]| pct(v, 0.95);
    let ok_ms = |d: Duration, limit: f64| d.as_secs_f64() * 1000.0 <= limit;
    let _ = writeln!(
        md,
        "| clinic: patients / appointments (seeded in {:.1} s) | {} / {} | |",
        r.seed.as_secs_f64(),
        r.patients,
        r.appointments
    );
    let _ = writeln!(
        md,
        "| patient search on the server, {} queries over HTTP, p50 / **p95** ({} patients answered) | {} / **{}** | ≤ 30 ms: {} |",
        r.server_search.len(),
        r.server_hits,
        ms(pct(&r.server_search, 0.5)),
        ms(p95(&r.server_search)),
        verdict(ok_ms(p95(&r.server_search), 30.0))
    );
    let _ = writeln!(
        md,
        "| the engine's local search over the {} patients a desk holds for its window, p50 / **p95** | {} / **{}** | ≤ 10 ms: {} |",
        r.window_patients,
        ms(pct(&r.local_small, 0.5)),
        ms(p95(&r.local_small)),
        verdict(ok_ms(p95(&r.local_small), 10.0))
    );
    let _ = writeln!(
        md,
        "| the same over {} cached patients, p50 / p95 | {} / {} | |",
        r.cached,
        ms(pct(&r.local_large, 0.5)),
        ms(p95(&r.local_large))
    );
    let _ = writeln!(
        md,
        "| free slots for one provider's month (31 days, 20 min; {} free), p50 / **p95** of 200 | {} / **{}** | ≤ 20 ms: {} |",
        r.slots_found,
        ms(pct(&r.slots_month, 0.5)),
        ms(p95(&r.slots_month)),
        verdict(ok_ms(p95(&r.slots_month), 20.0))
    );
    let _ = writeln!(
        md,
        "| booking round trip, {} bookings into free slots, p50 / **p99** | {} / **{}** | ≤ 30 ms: {} |",
        r.booking.len(),
        ms(pct(&r.booking, 0.5)),
        ms(pct(&r.booking, 0.99)),
        verdict(ok_ms(pct(&r.booking, 0.99), 30.0))
    );
    let _ = writeln!(
        md,
        "\nHow: the demo clinic with a year of weekdays back and a month ahead (18 appointments per provider per \
weekday) over a roll of {} patients (3,200 distinct names, so a full name has about 30 namesakes), the server \
in this process on loopback. Searches cycle through what desks type: four letters of a surname, first and last \
name, a surname and two letters, two letters, a phone's last four digits, a birth date `DD/MM/YYYY`, a first name \
and a birth date, a miss; each is one `GET /api/patients?q=` timed from request to parsed answer. The engine's \
search is `Cache::search_patients` on a real SQLCipher cache holding the patients of the desk's window (read from \
`GET /api/appointments` for the window) and on one holding {} patients. Slots: `GET /api/slots` for the first \
provider, today and the next 30 days. Bookings: `POST /api/appointments` with an idempotency key into the free \
ten-minute slots of the next two months, one after another (each checks the hours and overlaps in its \
transaction).\n",
        r.patients, r.cached
    );
    let _ = writeln!(md, "{END}");
    md
}
