//! The engine's one error type.

use frontdesk_protocol::api::Problem;

/// Anything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The cache file exists but the key does not open it (or it is not a
    /// database at all). The caller may wipe it and resync.
    #[error("the local cache cannot be opened with this key (wrong key or not a cache file)")]
    CacheKey,
    /// One outbox entry cannot be read (an action this build does not know,
    /// or a damaged row); the others can.
    #[error("outbox entry {n} cannot be read: {why}")]
    OutboxEntryUnreadable { n: i64, why: String },
    /// The cache opened but its contents are damaged.
    #[error("the local cache is damaged: {0}")]
    CacheCorrupt(String),
    /// The cache was written by a newer version of Frontdesk.
    #[error(
        "the local cache was written by a newer Frontdesk (schema {found}, this build knows {known})"
    )]
    CacheTooNew { found: i64, known: i64 },
    #[error("local cache: {0}")]
    Cache(#[from] rusqlite::Error),
    /// An event skipped ahead: events between were missed and must be replayed.
    #[error("event {got} arrived but {expected} was next")]
    Gap { expected: u64, got: u64 },
    /// The server answered with a problem document.
    #[error("server refused: {} ({})", .0.detail.as_deref().unwrap_or(&.0.title), .0.kind)]
    Server(Box<Problem>),
    /// The server could not be reached or the connection failed.
    #[error("network: {0}")]
    Network(String),
    /// The session is over: sign in again.
    #[error("signed out: {0}")]
    SignedOut(String),
    /// A wrong password at the lock screen.
    #[error("that is not the password of {0}")]
    WrongPassword(String),
    /// Too many wrong passwords at the lock screen: the next try must wait.
    #[error("too many wrong passwords: try again in {0} s")]
    UnlockWait(u64),
    /// The OS keyring failed.
    #[error("keyring: {0}")]
    Keyring(String),
    #[error("invalid data: {0}")]
    Invalid(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<serde_json::Error> for EngineError {
    fn from(e: serde_json::Error) -> Self {
        EngineError::Invalid(e.to_string())
    }
}

/// The engine's result type.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
