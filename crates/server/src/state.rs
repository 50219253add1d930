//! Shared server state handed to every request and socket handler.

use crate::auth::TokenKeys;
use crate::auth::rate_limit::{LoginGuard, TokenBucket};
use crate::config::ServerConfig;
use crate::db::Db;
use crate::realtime::broadcast::Broadcast;
use crate::realtime::presence::PresenceTracker;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
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
    pub mutation_buckets: Mutex<HashMap<String, TokenBucket>>,
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
            mutation_buckets: Mutex::new(HashMap::new()),
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
        let now = self.instant();
        let mut buckets = self
            .mutation_buckets
            .lock()
            .map_err(|_| crate::error::ApiError::internal("rate limiter lock poisoned"))?;
        let bucket = buckets.entry(user.to_owned()).or_insert_with(|| {
            TokenBucket::new(
                self.config.mutation_burst,
                self.config.mutations_per_second,
                now,
            )
        });
        let allowed = bucket.try_take(now);
        // Forget idle users now and then so the map stays small.
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| !b.is_idle(now));
        }
        if allowed {
            Ok(())
        } else {
            Err(crate::error::ApiError::RateLimited { retry_after: 1 })
        }
    }
}
