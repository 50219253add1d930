//! Server settings, with defaults fit for a clinic and a constructor for tests.

use crate::clock::{Clock, SystemClock};
use crate::db::DbLocation;
use crate::error::ApiError;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Environment variable that supplies the token-signing secret.
pub const SECRET_ENV: &str = "FRONTDESK_JWT_SECRET";

/// Everything the server needs to start. Build with [`ServerConfig::new`] and
/// adjust fields; every field has a sensible default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind; port 0 picks a free one (see `RunningServer::addr`).
    pub listen: SocketAddr,
    pub db: DbLocation,
    /// HS256 signing secret, at least 32 bytes.
    pub secret: Vec<u8>,
    /// Lifetime of a staff access token.
    pub access_ttl: Duration,
    /// Lifetime of a refresh token (each refresh issues a new one).
    pub refresh_ttl: Duration,
    /// Lifetime of a display-board token.
    pub display_ttl: Duration,
    /// Events kept per tenant for replay; older replays get `410`.
    pub event_retention: u64,
    /// Largest `limit` accepted by `/api/events`.
    pub max_page: u32,
    /// How long a user stays "online" after their last socket closes.
    pub presence_grace: Duration,
    /// Engine.IO ping interval and timeout.
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// Largest Socket.IO packet and largest REST body, in bytes.
    pub max_payload: u64,
    /// Packets buffered per socket before emits to it fail.
    pub socket_buffer: usize,
    /// Login attempts per user from one address before they back off
    /// (1 s, doubling, up to `login_window`), and failed logins per client
    /// address within `login_window`.
    pub login_failures_per_user: u32,
    pub login_failures_per_address: u32,
    pub login_window: Duration,
    /// Mutations per second per user (sustained) and burst.
    pub mutations_per_second: u32,
    pub mutation_burst: u32,
    /// Open connections one client address may hold, and in all: past
    /// them a new connection is closed at once.
    pub max_connections_per_address: usize,
    pub max_connections: usize,
    /// How long a peer may take to send a request's headers, and its body.
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// Open sockets one user (or board) may hold; past it CONNECT is refused.
    pub max_sockets_per_user: usize,
    /// Reads (snapshots, pages, searches) per user (sustained) and burst.
    pub reads_per_second: u32,
    pub read_burst: u32,
    /// Token refreshes per client address (sustained) and burst.
    pub refreshes_per_second: u32,
    pub refresh_burst: u32,
    /// Client socket emits per second per socket (sustained) and burst.
    pub socket_events_per_second: u32,
    pub socket_event_burst: u32,
    /// What a clinic this server creates (the demo clinic) starts with:
    /// its time zone (IANA name; this machine's by default), lock time and
    /// sync window. A clinic's admin changes its own afterwards
    /// (`PATCH /api/admin/clinic`).
    pub default_time_zone: String,
    pub default_lock_after_seconds: u32,
    pub default_window_days_back: u32,
    pub default_window_days_ahead: u32,
    /// Serve `https://` and `wss://` with this certificate chain and key
    /// (PEM files); both or neither.
    pub tls_certificate: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Where the server reads the time (the machine's; tests set their own).
    pub clock: Arc<dyn Clock>,
}

impl ServerConfig {
    /// Defaults for a real clinic.
    pub fn new(listen: SocketAddr, db: DbLocation, secret: Vec<u8>) -> ServerConfig {
        ServerConfig {
            listen,
            db,
            secret,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            display_ttl: Duration::from_secs(365 * 24 * 3600),
            event_retention: 100_000,
            max_page: 1000,
            presence_grace: Duration::from_secs(10),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 64 * 1024,
            socket_buffer: 1024,
            login_failures_per_user: 5,
            login_failures_per_address: 30,
            login_window: Duration::from_secs(15 * 60),
            mutations_per_second: 50,
            mutation_burst: 200,
            reads_per_second: 20,
            read_burst: 60,
            refreshes_per_second: 2,
            refresh_burst: 30,
            max_connections_per_address: 256,
            max_connections: 8192,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(20),
            max_sockets_per_user: 20,
            socket_events_per_second: 20,
            socket_event_burst: 40,
            default_time_zone: crate::demo::machine_zone(),
            default_lock_after_seconds: 300,
            default_window_days_back: 7,
            default_window_days_ahead: 30,
            tls_certificate: None,
            tls_key: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// A loopback server on a free port with an in-memory database and a random secret.
    pub fn for_tests() -> ServerConfig {
        let secret: [u8; 32] = rand::random();
        ServerConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            DbLocation::Memory,
            secret.to_vec(),
        )
    }

    /// Refuses settings the server cannot run safely with.
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.secret.len() < 32 {
            return Err(ApiError::internal(
                "the token secret must be at least 32 bytes",
            ));
        }
        if self.default_time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ApiError::internal(format!(
                "{:?} is not a time zone (give an IANA name such as Europe/Berlin)",
                self.default_time_zone
            )));
        }
        if self.tls_certificate.is_some() != self.tls_key.is_some() {
            return Err(ApiError::internal(
                "TLS needs both tls_certificate and tls_key (PEM files), or neither",
            ));
        }
        if self.event_retention == 0 || self.max_page == 0 {
            return Err(ApiError::internal(
                "event_retention and max_page must be positive",
            ));
        }
        Ok(())
    }
}

/// The signing secret: from [`SECRET_ENV`] if set, else read from `path`, else
/// generated and written to `path` (owner-only) so tokens survive restarts.
pub fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, ApiError> {
    if let Ok(s) = std::env::var(SECRET_ENV) {
        if s.len() < 32 {
            return Err(ApiError::internal(format!(
                "{SECRET_ENV} must be at least 32 characters"
            )));
        }
        return Ok(s.into_bytes());
    }
    check_private(
        path,
        "forge sign-in tokens (replacing it signs every user out)",
    )?;
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() >= 32 => return Ok(bytes),
        Ok(_) => {
            return Err(ApiError::internal(format!(
                "{} holds a secret shorter than 32 bytes",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ApiError::internal(format!(
                "reading {}: {e}",
                path.display()
            )));
        }
    }
    let secret: [u8; 48] = rand::random();
    write_private(path, &secret)
        .map_err(|e| ApiError::internal(format!("writing {}: {e}", path.display())))?;
    Ok(secret.to_vec())
}

/// Refuses a secret file that others can read: anyone who read it can
/// `what` (sign in as anyone; pose as the server). It is not tightened
/// silently: it may have leaked already.
pub(crate) fn check_private(path: &Path, what: &str) -> Result<(), ApiError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(ApiError::internal(format!(
                    "{} is readable by others (mode {mode:o}): anyone who read it can {what}. \
                     Replace it, or if it cannot have leaked: chmod 600 {}",
                    path.display(),
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_secret_file_others_can_read_is_refused_and_a_new_one_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("clinic-secret-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("clinic.db.secret");
        let made = load_or_create_secret(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            load_or_create_secret(&path).unwrap(),
            made,
            "kept across restarts"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = load_or_create_secret(&path).unwrap_err().to_string();
        assert!(
            refused.contains("readable by others") && refused.contains("chmod 600"),
            "{refused}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
