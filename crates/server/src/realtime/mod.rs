//! The Socket.IO side: authentication at CONNECT, rooms, presence, typing and
//! viewing. Durable events are pushed by [`broadcast`]; sockets never write
//! records, they only carry the ephemeral signals.

pub mod broadcast;
pub mod presence;
pub mod rooms;

use crate::auth::Caller;
use crate::auth::rate_limit::TokenBucket;
use crate::state::AppState;
use crate::store::{directory, messages, sessions};
use frontdesk_protocol::envelope::{
    EmitAck, PresenceEmit, ReauthEmit, TypingEmit, TypingEvent, ViewingEmit, WATCH_MAX_DAYS,
    WatchEmit, ephemeral,
};
use frontdesk_protocol::records::{Presence, Role};
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Why a CONNECT was refused; its text is the `message` of the CONNECT_ERROR.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The day rooms a socket joined with `watch`, kept in its extensions.
#[derive(Clone, Default)]
struct Watching(Vec<String>);

/// Per-socket emit limiter, kept in the socket's extensions.
#[derive(Clone)]
struct EmitBudget(Arc<Mutex<TokenBucket>>);

/// Registers the `/` namespace.
pub fn attach(io: &SocketIo) {
    io.ns("/", on_connect.with(authenticate));
}

/// Checks the `token` of the CONNECT auth payload. Refusals become
/// `44{"message": …}` and the socket never joins anything.
///
/// On success the socket joins its rooms and gets its handlers here, before
/// the server answers CONNECT: an event committed, or an emit sent, right
/// after the client sees `40` is then neither missed nor left unanswered.
async fn authenticate(
    s: SocketRef,
    TryData(auth): TryData<Value>,
    State(st): State<AppState>,
) -> Result<(), Refused> {
    let auth = auth.unwrap_or(Value::Null);
    let token = auth.get("token").and_then(Value::as_str).ok_or_else(|| {
        Refused("unauthorized: missing auth token: send {\"token\": \"<access token>\"}".into())
    })?;
    let (mut caller, expires) = st
        .keys
        .verify_until(token, st.now())
        .map_err(|e| Refused(e.to_string()))?;
    caller.address = s
        .req_parts()
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(t) = auth.get("tenant").and_then(Value::as_str)
        && t != caller.tenant
    {
        return Err(Refused("unauthorized: token is for another tenant".into()));
    }
    let c = caller.clone();
    let found = st
        .db
        .read_auth(move |conn| {
            if c.role == Role::Display {
                Ok(directory::display(conn, &c.tenant, &c.id)?.map(|d| d.provider_ids))
            } else if let Some(login) = &c.login
                && !sessions::is_active(conn, login)?
            {
                Ok(None) // signed out, or revoked after a reused refresh token
            } else {
                Ok(directory::user(conn, &c.tenant, &c.id)?.map(|_| Vec::new()))
            }
        })
        .await
        .map_err(|e| {
            tracing::error!("checking a socket's credentials: {e}");
            Refused("server error; try again".into())
        })?;
    let Some(board_providers) = found else {
        return Err(Refused(
            "unauthorized: no such user or display in this tenant, or the login was revoked".into(),
        ));
    };
    let mine = if caller.role == Role::Display {
        rooms::display(&caller.tenant, &caller.id)
    } else {
        rooms::user(&caller.tenant, &caller.id)
    };
    let open = s.within(mine).sockets().len();
    if open >= st.config.max_sockets_per_user {
        return Err(Refused(format!(
            "busy: this user already has {open} connections open (at most {}); close one or try again later",
            st.config.max_sockets_per_user
        )));
    }
    if caller.role == Role::Display {
        let mut board_rooms: Vec<String> = if board_providers.is_empty() {
            vec![rooms::clinic_board(&caller.tenant)]
        } else {
            board_providers
                .iter()
                .map(|p| rooms::board(&caller.tenant, p))
                .collect()
        };
        board_rooms.push(rooms::display(&caller.tenant, &caller.id));
        s.join(board_rooms);
        s.on_fallback(async |ack: AckSender| {
            reply(ack, Err("a display board may not emit events".into()))
        });
    } else {
        s.join([
            rooms::tenant(&caller.tenant),
            rooms::user(&caller.tenant, &caller.id),
        ]);
        if let Some(login) = &caller.login {
            s.join(rooms::login(&caller.tenant, login));
        }
        s.on(ephemeral::TYPING, on_typing);
        s.on(ephemeral::REAUTH, on_reauth);
        s.on(ephemeral::PRESENCE, on_presence);
        s.on(ephemeral::VIEWING, on_viewing);
        s.on(ephemeral::WATCH, on_watch);
        s.on_fallback(async |ack: AckSender, Event(name): Event| {
            reply(ack, Err(format!("unknown event `{name}`")))
        });
    }
    let budget = TokenBucket::new(
        st.config.socket_event_burst,
        st.config.socket_events_per_second,
        st.instant(),
    );
    s.extensions
        .insert(EmitBudget(Arc::new(Mutex::new(budget))));
    s.extensions.insert(caller);
    let expiry = Expiry(Arc::new(Mutex::new(expires)));
    s.extensions.insert(expiry.clone());
    tokio::spawn(close_when_expired(s.clone(), st.clone(), expiry));
    Ok(())
}

/// When the socket's token expires (as last renewed with `reauth`).
#[derive(Clone)]
struct Expiry(Arc<Mutex<chrono::DateTime<chrono::Utc>>>);

impl Expiry {
    fn get(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.lock().ok().map(|e| *e)
    }
}

/// Closes a socket whose token ran out without a `reauth`: a socket is only
/// as good as the token it showed, and a sign-out ends the token's renewals.
async fn close_when_expired(s: SocketRef, st: AppState, expiry: Expiry) {
    loop {
        let Some(expires) = expiry.get() else { return };
        let left = expires - st.now();
        if left <= chrono::TimeDelta::zero() {
            break;
        }
        let nap = left.to_std().unwrap_or_default() + std::time::Duration::from_millis(50);
        tokio::time::sleep(nap).await;
        if !s.connected() {
            return;
        }
    }
    tracing::debug!(socket = %s.id, "access token expired without reauth: disconnecting");
    if let Err(e) = s.disconnect() {
        tracing::debug!("disconnecting an expired socket: {e}");
    }
}

/// `reauth {token}`: a fresher access token for this socket's user and
/// login; the socket lives until it expires. Anything else is refused and
/// the socket keeps its old deadline.
async fn on_reauth(
    s: SocketRef,
    TryData(data): TryData<ReauthEmit>,
    ack: AckSender,
    State(st): State<AppState>,
) {
    signal(
        &s,
        &st,
        data,
        "reauth",
        ack,
        async |caller, r: ReauthEmit| {
            let (fresh, expires) = st
                .keys
                .verify_until(&r.token, st.now())
                .map_err(|e| e.to_string())?;
            if (
                fresh.id.as_str(),
                fresh.tenant.as_str(),
                fresh.role,
                fresh.login.as_deref(),
            ) != (
                caller.id.as_str(),
                caller.tenant.as_str(),
                caller.role,
                caller.login.as_deref(),
            ) {
                return Err("unauthorized: the token is for another user or login".into());
            }
            if let Some(login) = fresh.login.clone() {
                let active = st
                    .db
                    .read_auth(move |conn| sessions::is_active(conn, &login))
                    .await
                    .map_err(|e| e.to_string())?;
                if !active {
                    return Err("unauthorized: the login was revoked".into());
                }
            }
            let expiry = s.extensions.get::<Expiry>().ok_or("not authenticated")?;
            let mut held = expiry.0.lock().map_err(|_| "server error".to_owned())?;
            *held = (*held).max(expires);
            Ok(())
        },
    )
    .await;
}

/// After CONNECT: staff sockets count towards their user's presence.
async fn on_connect(s: SocketRef, State(st): State<AppState>) {
    let Some(caller) = s.extensions.get::<Caller>() else {
        let _ = s.disconnect();
        return;
    };
    if caller.role == Role::Display {
        return;
    }
    s.on_disconnect(async |s: SocketRef, State(st): State<AppState>| {
        if let Some(c) = s.extensions.get::<Caller>()
            && let Ok(mut p) = st.presence.lock()
        {
            p.disconnect(&c.tenant, &c.id, &s.id.to_string(), st.instant());
        }
    });
    let socket = s.id.to_string();
    let (change, here) = match st.presence.lock() {
        Ok(mut p) => {
            let change = p.connect(&caller.tenant, &caller.id, &socket);
            // A socket that closed before its disconnect handler was in
            // place would otherwise hold its user online for good.
            if !s.connected() {
                p.disconnect(&caller.tenant, &caller.id, &socket, st.instant());
            }
            (change, p.snapshot(&caller.tenant))
        }
        Err(_) => (None, Vec::new()),
    };
    // Presence is not replayed: tell the new socket who is here now.
    for p in here.iter().filter(|p| p.user != caller.id) {
        let _ = s.emit(ephemeral::PRESENCE, p);
    }
    announce(&s, &caller.tenant, change).await;
}

/// Sends a presence change to the whole tenant (including the user's other sockets).
async fn announce(s: &SocketRef, tenant: &str, change: Option<Presence>) {
    if let Some(p) = change {
        let _ = s
            .within(rooms::tenant(tenant))
            .emit(ephemeral::PRESENCE, &p)
            .await;
    }
}

fn reply(ack: AckSender, result: Result<(), String>) {
    let body = match result {
        Ok(()) => EmitAck {
            ok: true,
            error: None,
        },
        Err(e) => EmitAck {
            ok: false,
            error: Some(e),
        },
    };
    let _ = ack.send(&body);
}

/// The caller, if the socket is within its emit budget at `now`.
fn admit(s: &SocketRef, now: Instant) -> Result<Caller, String> {
    let caller = s.extensions.get::<Caller>().ok_or("not authenticated")?;
    let budget = s
        .extensions
        .get::<EmitBudget>()
        .ok_or("not authenticated")?;
    let ok = budget
        .0
        .lock()
        .map(|mut b| b.try_take(now))
        .unwrap_or(false);
    if ok {
        Ok(caller)
    } else {
        Err("rate-limited: too many events; slow down".into())
    }
}

/// The one path of every client signal: admit the caller (authenticated,
/// within its emit budget), read the payload, do it, and answer the ack with
/// `{ok}` or `{ok: false, error}`.
async fn signal<T, E: std::fmt::Display>(
    s: &SocketRef,
    st: &AppState,
    data: Result<T, E>,
    what: &str,
    ack: AckSender,
    handle: impl AsyncFnOnce(Caller, T) -> Result<(), String>,
) {
    let result = async {
        let caller = admit(s, st.instant())?;
        let payload = data.map_err(|e| format!("invalid {what} payload: {e}"))?;
        handle(caller, payload).await
    }
    .await;
    reply(ack, result);
}

async fn on_typing(
    s: SocketRef,
    TryData(data): TryData<TypingEmit>,
    ack: AckSender,
    State(st): State<AppState>,
) {
    signal(
        &s,
        &st,
        data,
        "typing",
        ack,
        async |caller, t: TypingEmit| {
            if t.thread.len() > 100 {
                return Err("invalid thread id".to_owned());
            }
            let (tenant, user, thread) =
                (caller.tenant.clone(), caller.id.clone(), t.thread.clone());
            let members = st
                .db
                .read(move |c| messages::members_for(c, &tenant, &thread, &user))
                .await
                .map_err(|e| e.to_string())?;
            let others: Vec<String> = members
                .iter()
                .filter(|m| **m != caller.id)
                .map(|m| rooms::user(&caller.tenant, m))
                .collect();
            if !others.is_empty() {
                let ev = TypingEvent {
                    thread: t.thread,
                    user: caller.id.clone(),
                    typing: t.typing,
                };
                // A member who just left gets nothing: typing is not worth a retry.
                s.within(others).emit(ephemeral::TYPING, &ev).await.ok();
            }
            Ok(())
        },
    )
    .await;
}

async fn on_presence(
    s: SocketRef,
    TryData(data): TryData<PresenceEmit>,
    ack: AckSender,
    State(st): State<AppState>,
) {
    signal(
        &s,
        &st,
        data,
        "presence",
        ack,
        async |caller, p: PresenceEmit| {
            let change = st
                .presence
                .lock()
                .map_err(|_| "presence unavailable".to_owned())?
                .set_state(&caller.tenant, &caller.id, p.state);
            announce(&s, &caller.tenant, change).await;
            Ok(())
        },
    )
    .await;
}

async fn on_viewing(
    s: SocketRef,
    TryData(data): TryData<ViewingEmit>,
    ack: AckSender,
    State(st): State<AppState>,
) {
    signal(
        &s,
        &st,
        data,
        "viewing",
        ack,
        async |caller, v: ViewingEmit| {
            if v.patient.as_ref().is_some_and(|p| p.len() > 100) {
                return Err("invalid patient id".to_owned());
            }
            let opened = v.patient.clone();
            let change = st
                .presence
                .lock()
                .map_err(|_| "presence unavailable".to_owned())?
                .set_viewing(&caller.tenant, &caller.id, v.patient);
            // A record put on screen is an access to it (whatever presence
            // made of it: the socket may not be counted online yet).
            if let Some(patient) = opened {
                st.audit(
                    &caller,
                    crate::store::audit::Access::OnScreen,
                    vec![patient],
                    "viewing".into(),
                )
                .await
                .map_err(|e| e.to_string())?;
            }
            announce(&s, &caller.tenant, change).await;
            Ok(())
        },
    )
    .await;
}

/// The days on a desk's screen outside the sync window: the socket leaves
/// the day rooms it watched and joins these (§8.7a).
async fn on_watch(
    s: SocketRef,
    TryData(data): TryData<WatchEmit>,
    ack: AckSender,
    State(st): State<AppState>,
) {
    signal(&s, &st, data, "watch", ack, async |caller, w: WatchEmit| {
        if w.days.len() > WATCH_MAX_DAYS {
            return Err(format!(
                "too many days to watch: {} (at most {WATCH_MAX_DAYS})",
                w.days.len()
            ));
        }
        let before = s.extensions.get::<Watching>().unwrap_or_default();
        s.leave(before.0);
        let now: Vec<String> = w
            .days
            .iter()
            .map(|d| rooms::day(&caller.tenant, *d))
            .collect();
        s.join(now.clone());
        s.extensions.insert(Watching(now));
        Ok(())
    })
    .await;
}

/// Announces users whose grace ran out; runs until the server stops.
pub async fn expire_presence(io: SocketIo, st: AppState) {
    let tick = (st.config.presence_grace / 4).max(std::time::Duration::from_millis(50));
    let mut interval = tokio::time::interval(tick);
    loop {
        interval.tick().await;
        let gone = match st.presence.lock() {
            Ok(mut p) => p.expire(st.instant()),
            Err(_) => continue,
        };
        for (tenant, p) in gone {
            let _ = io
                .to(rooms::tenant(&tenant))
                .emit(ephemeral::PRESENCE, &p)
                .await;
        }
    }
}
