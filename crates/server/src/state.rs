//! Shared server state handed to every request and socket handler.

use crate::auth::TokenKeys;
use crate::auth::rate_limit::{Buckets, LoginGuard};
use crate::config::ServerConfig;
use crate::db::Db;
use crate::realtime::broadcast::Broadcast;
use crate::realtime::presence::PresenceTracker;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// Cheap to clone; everything inside is shared.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The parts of [`AppState`].
pub struct Inner {
    pub config: ServerConfig,
    pub db: Db,
    pub keys: TokenKeys,
    /// Login attempts per user and address, and per address.
    pub logins: Mutex<LoginGuard>,
    /// Mutation rate per user id.
    pub mutation_buckets: Mutex<Buckets>,
    /// Token refreshes per client address.
    pub refresh_buckets: Mutex<Buckets>,
    /// Reads (snapshots, pages, searches) per user.
    pub read_buckets: Mutex<Buckets>,
    pub presence: Mutex<PresenceTracker>,
    /// Committed events, in commit order, to the broadcaster task. Sent while
    /// the writer lock is held, so the channel order is the `seq` order.
    pub committed: UnboundedSender<Broadcast>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Assembles the state.
    pub fn new(config: ServerConfig, db: Db, committed: UnboundedSender<Broadcast>) -> AppState {
        let keys = TokenKeys::new(&config.secret);
        let presence = PresenceTracker::new(config.presence_grace);
        AppState(Arc::new(Inner {
            keys,
            db,
            logins: Mutex::new(LoginGuard::new(
                config.login_failures_per_user,
                config.login_failures_per_address,
                Duration::from_secs(1),
                config.login_window,
            )),
            mutation_buckets: Mutex::new(Buckets::new(
                config.mutation_burst,
                config.mutations_per_second,
            )),
            refresh_buckets: Mutex::new(Buckets::new(
                config.refresh_burst,
                config.refreshes_per_second,
            )),
            read_buckets: Mutex::new(Buckets::new(config.read_burst, config.reads_per_second)),
            presence: Mutex::new(presence),
            committed,
            config,
        }))
    }

    /// Now, from the configured clock, at the millisecond precision the
    /// database keeps (a record read back equals the one returned).
    pub fn now(&self) -> DateTime<Utc> {
        crate::store::to_millis(self.config.clock.now())
    }

    /// Now on the monotonic clock (rate limits, presence grace).
    pub fn instant(&self) -> Instant {
        self.config.clock.instant()
    }

    /// Takes one mutation token for `user`, or says how long to wait.
    pub fn take_mutation_token(&self, user: &str) -> Result<(), crate::error::ApiError> {
        take(&self.mutation_buckets, user, self.instant())
    }

    /// A read by `user` (a snapshot, a page, a search), unless they read
    /// faster than any desk does: one account cannot keep the readers busy.
    pub fn take_read_token(&self, user: &str) -> Result<(), crate::error::ApiError> {
        take(&self.read_buckets, user, self.instant())
    }

    /// A token refresh from `address`, unless it refreshes faster than any
    /// desk needs (each refresh stores a token row).
    pub fn take_refresh_token(&self, address: &str) -> Result<(), crate::error::ApiError> {
        take(&self.refresh_buckets, address, self.instant())
    }
}

fn take(buckets: &Mutex<Buckets>, key: &str, now: Instant) -> Result<(), crate::error::ApiError> {
    let allowed = buckets
        .lock()
        .map_err(|_| crate::error::ApiError::internal("rate limiter lock poisoned"))?
        .take(key, now);
    if allowed {
        Ok(())
    } else {
        Err(crate::error::ApiError::RateLimited { retry_after: 1 })
    }
}

impl AppState {
    /// Appends an access to patient data by `caller` from `address` to the
    /// audit trail, after the read it records. A trail that cannot be
    /// written fails the request: an unrecorded access is not served.
    pub async fn audit(
        &self,
        caller: &crate::auth::Caller,
        access: crate::store::audit::Access,
        patients: Vec<String>,
        detail: String,
    ) -> Result<(), crate::error::ApiError> {
        if patients.is_empty() {
            return Ok(());
        }
        let (tenant, user, login) = (
            caller.tenant.clone(),
            caller.id.clone(),
            caller.login.clone(),
        );
        let address = caller.address;
        let now = self.now();
        self.db
            .write(move |c| {
                let who = crate::store::audit::Who {
                    tenant: &tenant,
                    user: &user,
                    login: login.as_deref(),
                    address,
                };
                crate::store::audit::record(c, &who, access, &patients, &detail, now)
            })
            .await
    }
}
