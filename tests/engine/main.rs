//! The engine against the real clinic server on loopback.

mod basics;
mod board;
mod booking;
mod faults;
mod node_server;
mod processes;
mod signals;
mod tls;

/// The demo clinic's zone (this machine's).
pub(crate) fn zone() -> chrono_tz::Tz {
    clinic_server::demo::machine_zone().parse().unwrap()
}

/// The clinic day `days` from today.
pub(crate) fn day(days: i64) -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&zone()).date_naive() + chrono::Duration::days(days)
}

/// `hh:mm` clinic time, `days` from today.
pub(crate) fn at(days: i64, hh: u32, mm: u32) -> chrono::DateTime<chrono::Utc> {
    day(days)
        .and_hms_opt(hh, mm, 0)
        .unwrap()
        .and_local_timezone(zone())
        .earliest()
        .unwrap()
        .with_timezone(&chrono::Utc)
}
