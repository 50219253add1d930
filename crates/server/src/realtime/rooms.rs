//! Socket.IO room names. Every staff socket joins its tenant's room and its
//! user's room; a display socket joins one room per provider on its board.

/// All staff sockets of a tenant.
pub fn tenant(tenant: &str) -> String {
    format!("t:{tenant}")
}

/// All sockets of one user.
pub fn user(tenant: &str, user: &str) -> String {
    format!("u:{tenant}:{user}")
}

/// The sockets of one login (to disconnect them when it is revoked: sign-out,
/// a reused refresh token).
pub fn login(tenant: &str, login: &str) -> String {
    format!("l:{tenant}:{login}")
}

/// The sockets of one display board (to disconnect them when it is revoked).
pub fn display(tenant: &str, display: &str) -> String {
    format!("d:{tenant}:{display}")
}

/// Display boards showing the whole clinic's queue.
pub fn clinic_board(tenant: &str) -> String {
    format!("bc:{tenant}")
}

/// Display boards showing a provider's queue.
pub fn board(tenant: &str, provider: &str) -> String {
    format!("b:{tenant}:{provider}")
}

/// Staff sockets watching one clinic day outside the sync window (§8.7a).
pub fn day(tenant: &str, day: chrono::NaiveDate) -> String {
    format!("w:{tenant}:{day}")
}
