//! An in-memory clinic server for virtual-time tests: it keeps an event log
//! with a gap-free `seq`, issues and rotates tokens on its own clock, answers
//! the desk's REST calls, and speaks Engine.IO / Socket.IO frames (built with
//! the protocol crate's codec) on its sockets.
//!
//! It is deliberately small: it models what the desk core decides on (seq,
//! history, tokens, refusals, idempotency, failures), not clinic rules, which
//! the real server's own tests cover.

use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use frontdesk_engine::cache::outbox::Request;
use frontdesk_engine::desk::{CallError, DeskAnswer, DeskCall};
use frontdesk_engine::rest::{Replay, SendOutcome};
use frontdesk_engine::session::{Grant, GrantError};
use frontdesk_protocol::api::{AppointmentsPage, EventsPage, Problem, Snapshot};
use frontdesk_protocol::engineio::{EioPacket, OpenInfo};
use frontdesk_protocol::envelope::{Envelope, EventData, Evict};
use frontdesk_protocol::records::{
    Appointment, Notification, PatientRef, QueueEntry, Role, Subject, Tenant, Urgency, User,
    UserSummary,
};
use frontdesk_protocol::socketio::{SioKind, SioPacket};
use frontdesk_protocol::status::AppointmentStatus;
use frontdesk_protocol::status::QueueStatus;
use frontdesk_protocol::window::{SyncWindow, clinic_day};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

pub const PING_INTERVAL: Duration = Duration::from_secs(25);
pub const PING_TIMEOUT: Duration = Duration::from_secs(20);
pub const ME: &str = "u_reception";

/// What the clinic did, for tests to count.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub refreshes: u32,
    pub refresh_refusals: u32,
    pub connects: u32,
    pub refused_connects: u32,
    pub snapshots: u32,
    pub pages: u32,
    pub sends: u32,
    pub day_fetches: u32,
}

struct Socket {
    connected: bool,
    next_ping: SystemTime,
    /// The days it asked to keep live with `watch`.
    watched: Vec<NaiveDate>,
}

/// The fake clinic.
pub struct FakeClinic {
    /// The server's own wall clock.
    pub now: SystemTime,
    /// Every event still kept, by seq.
    events: BTreeMap<u64, Envelope>,
    /// Oldest seq still kept (replay from before it answers 410).
    first_kept: u64,
    latest: u64,
    tickets: BTreeMap<String, QueueEntry>,
    appointments: BTreeMap<String, Appointment>,
    /// Access tokens and when they expire (server time).
    access: HashMap<String, SystemTime>,
    /// Refresh tokens: false once spent.
    refresh: HashMap<String, bool>,
    /// The login was revoked (reuse of a spent refresh token).
    pub login_revoked: bool,
    pub token_life: Duration,
    /// CONNECT is refused with `unauthorized` whatever the token (the user
    /// was removed from the tenant but refresh still works).
    pub refuse_connect: bool,
    /// Nothing answers: REST fails, sockets cannot be opened.
    pub reachable: bool,
    /// The next this many sends answer `503`.
    pub fail_sends: u32,
    /// The refresh endpoint fails (a server error), whatever the token.
    pub fail_refresh: bool,
    /// Sends answer `401` whatever the token (a misconfigured endpoint).
    pub refuse_sends: bool,
    idempotency: HashMap<String, Value>,
    sockets: HashMap<u64, Socket>,
    next_token: u64,
    pub counters: Counters,
    /// Every emit the desk made: (event name, data).
    pub emits: Vec<(String, Value)>,
    /// Committed events on their way to the connected sockets.
    broadcasts: Frames,
    /// Backups restored so far (event ids differ between histories).
    restores: u32,
    /// Replays check the desk's position against this history (`after`
    /// beyond it, or `after_id` not ours, answer 410). Off: a server that
    /// predates the check, so the desk's own defence is what is tested.
    pub checks_history: bool,
    /// The clinic's time zone (IANA), as its snapshot says.
    pub time_zone: String,
}

/// Frames the clinic sends on socket `generation`.
pub type Frames = Vec<(u64, String)>;

fn frame(p: EioPacket) -> String {
    p.encode()
}

fn sio(p: SioPacket) -> String {
    EioPacket::Message(p.encode()).encode()
}

impl FakeClinic {
    pub fn new(now: SystemTime) -> FakeClinic {
        FakeClinic {
            now,
            events: BTreeMap::new(),
            first_kept: 1,
            latest: 0,
            tickets: BTreeMap::new(),
            appointments: BTreeMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            login_revoked: false,
            token_life: Duration::from_secs(900),
            refuse_connect: false,
            reachable: true,
            fail_sends: 0,
            fail_refresh: false,
            refuse_sends: false,
            idempotency: HashMap::new(),
            sockets: HashMap::new(),
            next_token: 0,
            counters: Counters::default(),
            emits: Vec::new(),
            broadcasts: Vec::new(),
            restores: 0,
            checks_history: true,
            time_zone: "UTC".into(),
        }
    }

    /// Frames of events committed since the last call, for every socket
    /// that was connected when they committed.
    pub fn take_broadcasts(&mut self) -> Frames {
        std::mem::take(&mut self.broadcasts)
    }

    /// The newest seq.
    pub fn latest_seq(&self) -> u64 {
        self.latest
    }

    /// Ticket ids the clinic has, sorted.
    pub fn ticket_ids(&self) -> Vec<String> {
        self.tickets.keys().cloned().collect()
    }

    fn utc(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.now)
    }

    /// A first login: the refresh token for the desk's keyring.
    pub fn login(&mut self) -> String {
        self.new_refresh()
    }

    fn new_refresh(&mut self) -> String {
        self.next_token += 1;
        let t = format!("refresh-{}", self.next_token);
        self.refresh.insert(t.clone(), true);
        t
    }

    /// `POST /api/auth/refresh`: rotates; a spent token revokes the login.
    pub fn refresh(&mut self, token: &str) -> Result<(Grant, String), GrantError> {
        if !self.reachable {
            return Err(GrantError::Unavailable("connection refused".into()));
        }
        self.counters.refreshes += 1;
        if self.fail_refresh {
            return Err(GrantError::Unavailable("server error 500".into()));
        }
        let fresh = self.refresh.get(token).copied();
        if self.login_revoked || fresh != Some(true) {
            if fresh == Some(false) {
                self.login_revoked = true;
            }
            self.counters.refresh_refusals += 1;
            return Err(GrantError::Refused("refresh token not accepted".into()));
        }
        self.refresh.insert(token.to_owned(), false);
        self.next_token += 1;
        let access = format!("access-{}", self.next_token);
        self.access
            .insert(access.clone(), self.now + self.token_life);
        let grant = Grant {
            token: access,
            expires_in: Some(self.token_life.as_secs()),
        };
        Ok((grant, self.new_refresh()))
    }

    fn token_ok(&self, token: &str) -> bool {
        !self.login_revoked && self.access.get(token).is_some_and(|exp| *exp > self.now)
    }

    fn entry(&self, id: &str, version: u64, status: QueueStatus) -> QueueEntry {
        QueueEntry {
            id: id.to_owned(),
            ticket: format!("A-{:03}", self.tickets.len() + 1),
            provider_id: "prov_1".into(),
            room_id: None,
            patient: Some(PatientRef {
                id: format!("pat_{id}"),
                name: format!("Patient {id}"),
                initials: "P.P.".into(),
            }),
            initials: "P.P.".into(),
            appointment_id: None,
            status,
            priority: 0,
            arrived_at: self.utc(),
            called_at: None,
            version,
            updated_at: self.utc(),
        }
    }

    fn append(&mut self, data: EventData, actor: &str) -> Envelope {
        self.latest += 1;
        let env = Envelope {
            seq: self.latest,
            id: format!("ev-{}-{}", self.latest, self.restores),
            kind: data.kind().to_owned(),
            tenant: "demo".into(),
            at: self.utc(),
            actor: actor.to_owned(),
            data: data.to_value(),
            redacted: false,
            evict: None,
            patient: None,
        };
        self.events.insert(env.seq, env.clone());
        let frames = self.broadcast(&env.kind, json!(env));
        self.broadcasts.extend(frames);
        env
    }

    /// The server tells this desk's user that patient `name` arrived.
    pub fn tell_me_arrived(&mut self, id: &str, name: &str) -> Envelope {
        let n = Notification {
            id: format!("n-{id}"),
            user_id: ME.into(),
            kind: "patient.arrived".into(),
            title: "Patient arrived".into(),
            body: format!("{name} is waiting"),
            urgency: Urgency::Normal,
            subject: Subject {
                kind: "queue".into(),
                id: id.into(),
            },
            created_at: self.utc(),
        };
        self.append(EventData::NotificationCreated(n), "system")
    }

    /// An admin changes the clinic's settings (lock time, window).
    pub fn change_clinic(&mut self, lock_after_seconds: u32, window_days_ahead: u32) -> Envelope {
        let t = Tenant {
            id: "demo".into(),
            name: "Demo".into(),
            time_zone: self.time_zone.clone(),
            window_days_back: 7,
            window_days_ahead,
            lock_after_seconds,
        };
        self.append(EventData::ClinicUpdated(t), "u_admin")
    }

    /// Another desk checks a walk-in in: a new ticket and its event, which
    /// the clinic broadcasts on every connected socket.
    pub fn walk_in(&mut self, id: &str) -> Envelope {
        let entry = self.entry(id, 1, QueueStatus::Waiting);
        self.tickets.insert(id.to_owned(), entry.clone());
        self.append(EventData::QueueUpdated(entry), "u_other")
    }

    /// The clinic's sync window now.
    fn scope(&self) -> (SyncWindow, chrono_tz::Tz) {
        let zone: chrono_tz::Tz = self.time_zone.parse().unwrap_or(chrono_tz::Tz::UTC);
        let today = clinic_day(self.utc(), zone);
        (SyncWindow::around(today, 7, 30), zone)
    }

    /// Another desk books (`start` new) or moves an appointment for patient
    /// `pat_<id>`; desks get it whole inside the window, an evict when it
    /// moves out, nothing readable otherwise (as the real server scopes it).
    pub fn book(&mut self, id: &str, start: DateTime<Utc>) -> Envelope {
        let before = self.appointments.get(id).map(|a| a.start);
        let a = Appointment {
            id: id.to_owned(),
            patient: PatientRef {
                id: format!("pat_{id}"),
                name: format!("Patient {id}"),
                initials: "P.P.".into(),
            },
            provider_id: "prov_1".into(),
            room_id: None,
            start,
            end: start + chrono::Duration::minutes(20),
            status: AppointmentStatus::Booked,
            reason: String::new(),
            version: before.map_or(1, |_| self.appointments[id].version + 1),
            updated_at: self.utc(),
            type_id: None,
            overbook_reason: None,
        };
        self.appointments.insert(id.to_owned(), a.clone());
        let data = match before {
            None => EventData::AppointmentCreated(a),
            Some(_) => EventData::AppointmentUpdated(a),
        };
        let env = self.append(data, "u_other");
        let (window, zone) = self.scope();
        let shown = if window.contains(start, zone) {
            env.clone()
        } else if before.is_some_and(|b| window.contains(b, zone)) {
            env.evicting(Evict {
                kind: "appointment".into(),
                id: id.to_owned(),
            })
        } else {
            env.redact()
        };
        self.events.insert(shown.seq, shown.clone());
        // Replace what append queued with the scoped envelope; whole to the
        // sockets watching its days (before and after a move).
        self.broadcasts.clear();
        let days: Vec<NaiveDate> = std::iter::once(start)
            .chain(before)
            .map(|t| clinic_day(t, zone))
            .collect();
        let whole = sio(SioPacket::event("/", &env.kind, vec![json!(env)], None));
        let scoped = sio(SioPacket::event("/", &shown.kind, vec![json!(shown)], None));
        let frames: Frames = self
            .sockets
            .iter()
            .filter(|(_, s)| s.connected)
            .map(|(g, s)| {
                let watching = s.watched.iter().any(|d| days.contains(d));
                (
                    *g,
                    if watching {
                        whole.clone()
                    } else {
                        scoped.clone()
                    },
                )
            })
            .collect();
        self.broadcasts.extend(frames);
        shown
    }

    /// An ephemeral event to every connected socket.
    pub fn broadcast(&self, name: &str, data: Value) -> Frames {
        let f = sio(SioPacket::event("/", name, vec![data], None));
        self.sockets
            .iter()
            .filter(|(_, s)| s.connected)
            .map(|(g, _)| (*g, f.clone()))
            .collect()
    }

    /// Keeps only events after `seq` (older replays answer 410).
    pub fn prune_through(&mut self, seq: u64) {
        self.events.retain(|s, _| *s > seq);
        self.first_kept = seq + 1;
    }

    /// The database comes back from last night's backup, taken at `seq`:
    /// later events and the tickets they made never happened.
    pub fn restore_backup(&mut self, seq: u64) {
        self.events.retain(|s, _| *s <= seq);
        self.latest = seq;
        self.restores += 1;
        let kept: Vec<String> = self
            .events
            .values()
            .filter_map(|e| match e.decode() {
                Ok(EventData::QueueUpdated(q)) => Some(q.id),
                _ => None,
            })
            .collect();
        self.tickets.retain(|id, _| kept.contains(id));
        self.sockets.clear();
    }

    /// The server stopped (or the laptop slept): every socket is gone on
    /// this side; the desk notices by itself.
    pub fn drop_sockets(&mut self) {
        self.sockets.clear();
    }

    /// Answers a REST call.
    pub fn answer(&mut self, token: &str, call: &DeskCall) -> DeskAnswer {
        let unreachable = || CallError::Failed("connection refused".into());
        match call {
            DeskCall::Snapshot => DeskAnswer::Snapshot(if !self.reachable {
                Err(unreachable())
            } else if !self.token_ok(token) {
                Err(CallError::Unauthorized)
            } else {
                self.counters.snapshots += 1;
                Ok(Box::new(self.snapshot()))
            }),
            DeskCall::Events {
                after,
                after_id,
                limit,
            } => DeskAnswer::Events(if !self.reachable {
                Err(unreachable())
            } else if !self.token_ok(token) {
                Err(CallError::Unauthorized)
            } else if *after + 1 < self.first_kept
                || (self.checks_history
                    && (*after > self.latest || self.changed_history(*after, after_id.as_deref())))
            {
                Ok(Replay::Gone)
            } else {
                self.counters.pages += 1;
                let events = self
                    .events
                    .range(after + 1..)
                    .take(*limit as usize)
                    .map(|(_, e)| e.clone())
                    .collect();
                Ok(Replay::Page(EventsPage {
                    events,
                    latest_seq: self.latest,
                }))
            }),
            DeskCall::Send { request, key } => DeskAnswer::Sent(self.send(token, request, key)),
            // Messages are not modelled here (the real server's tests read
            // threads back); an empty page keeps the desk honest.
            DeskCall::OlderMessages { .. } => DeskAnswer::OlderMessages(if !self.reachable {
                Err(unreachable())
            } else {
                Ok(Box::new(frontdesk_protocol::api::MessagesPage {
                    messages: Vec::new(),
                    more: false,
                }))
            }),
            DeskCall::Appointments { from, to, cursor } => {
                DeskAnswer::Appointments(if !self.reachable {
                    Err(unreachable())
                } else if !self.token_ok(token) {
                    Err(CallError::Unauthorized)
                } else {
                    self.counters.day_fetches += 1;
                    Ok(Box::new(self.days(*from, *to, cursor.as_deref())))
                })
            }
        }
    }

    /// Whether the desk's event `after` is not ours (as a restored server
    /// finds after committing past the desk's position).
    fn changed_history(&self, after: u64, after_id: Option<&str>) -> bool {
        match (after_id, self.events.get(&after)) {
            (Some(theirs), Some(ours)) => theirs != ours.id,
            _ => false,
        }
    }

    /// Appointments of the clinic days `from..=to`, two a page (to exercise
    /// paging), after `cursor` (an appointment id).
    fn days(&self, from: NaiveDate, to: NaiveDate, cursor: Option<&str>) -> AppointmentsPage {
        let (_, zone) = self.scope();
        let mut all: Vec<&Appointment> = self
            .appointments
            .values()
            .filter(|a| (from..=to).contains(&clinic_day(a.start, zone)))
            .collect();
        all.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
        let start = cursor.map_or(0, |c| {
            all.iter().position(|a| a.id == c).map_or(0, |i| i + 1)
        });
        let page: Vec<Appointment> = all
            .iter()
            .skip(start)
            .take(2)
            .map(|a| (*a).clone())
            .collect();
        let next = (start + 2 < all.len())
            .then(|| page.last().map(|a| a.id.clone()))
            .flatten();
        AppointmentsPage {
            seq: self.latest,
            patients: page.iter().map(patient_of).collect(),
            appointments: page,
            next,
        }
    }

    fn send(&mut self, token: &str, request: &Request, key: &str) -> SendOutcome {
        if !self.reachable {
            return SendOutcome::Later("connection refused".into());
        }
        if !self.token_ok(token) {
            return SendOutcome::Unauthorized;
        }
        self.counters.sends += 1;
        if self.refuse_sends {
            return SendOutcome::Unauthorized;
        }
        if self.fail_sends > 0 {
            self.fail_sends -= 1;
            return SendOutcome::Later("server error 503 Service Unavailable".into());
        }
        if let Some(v) = self.idempotency.get(key) {
            return SendOutcome::Applied(v.clone());
        }
        let answer = match (request.method, request.path.as_str()) {
            ("POST", "/api/queue") => {
                let id = format!("q_{}", self.tickets.len() + 1);
                self.walk_in(&id).data
            }
            ("PATCH", p) if p.starts_with("/api/queue/") => {
                let id = p.trim_start_matches("/api/queue/").to_owned();
                let version = request.body["version"].as_u64().unwrap_or(0);
                let Some(held) = self.tickets.get(&id).cloned() else {
                    return SendOutcome::Refused(Box::new(problem(
                        404,
                        "not-found",
                        "no such ticket",
                    )));
                };
                if held.version != version {
                    let mut p = problem(409, "conflict", "the ticket changed meanwhile");
                    p.current = Some(json!(held));
                    return SendOutcome::Conflict {
                        current: p.current.clone(),
                        problem: Box::new(p),
                    };
                }
                let mut next = held.clone();
                next.version += 1;
                next.status = QueueStatus::Called;
                self.tickets.insert(id, next.clone());
                self.append(EventData::QueueCalled(next.clone()), ME);
                json!(next)
            }
            _ => {
                return SendOutcome::Refused(Box::new(problem(
                    400,
                    "invalid-input",
                    "not modelled",
                )));
            }
        };
        self.idempotency.insert(key.to_owned(), answer.clone());
        SendOutcome::Applied(answer)
    }

    fn snapshot(&self) -> Snapshot {
        let me = User {
            id: ME.into(),
            username: "reception".into(),
            name: "Rosa Reception".into(),
            role: Role::Receptionist,
        };
        // As the real server: the window's scope, today's appointments.
        let (window, zone) = self.scope();
        let holds = SyncWindow::around(clinic_day(self.utc(), zone), 0, 0);
        Snapshot {
            seq: self.latest,
            last_event_id: self.events.get(&self.latest).map(|e| e.id.clone()),
            window: Some(window),
            holds: Some(holds),
            tenant: Tenant {
                id: "demo".into(),
                name: "Demo".into(),
                time_zone: self.time_zone.clone(),
                window_days_back: 7,
                window_days_ahead: 30,
                lock_after_seconds: 300,
            },
            me: UserSummary {
                id: me.id.clone(),
                name: me.name.clone(),
                role: me.role,
            },
            users: vec![me],
            providers: vec![],
            rooms: vec![],
            patients: self
                .appointments
                .values()
                .filter(|a| holds.contains(a.start, zone))
                .map(patient_of)
                .collect(),
            appointments: self
                .appointments
                .values()
                .filter(|a| holds.contains(a.start, zone))
                .cloned()
                .collect(),
            queue: self.tickets.values().cloned().collect(),
            threads: vec![],
            messages: vec![],
            read_markers: vec![],
            notifications: vec![],
            presence: vec![],
            hours: Vec::new(),
            appointment_types: Vec::new(),
        }
    }

    /// The WebSocket of `generation` opened: the Engine.IO handshake.
    pub fn open(&mut self, generation: u64) -> Frames {
        self.sockets.insert(
            generation,
            Socket {
                connected: false,
                next_ping: self.now + PING_INTERVAL,
                watched: Vec::new(),
            },
        );
        let open = EioPacket::Open(OpenInfo {
            sid: format!("eio-{generation}"),
            upgrades: vec![],
            ping_interval: PING_INTERVAL.as_millis() as u64,
            ping_timeout: PING_TIMEOUT.as_millis() as u64,
            max_payload: 1_000_000,
        });
        vec![(generation, frame(open))]
    }

    /// The desk closed socket `generation`.
    pub fn close(&mut self, generation: u64) {
        self.sockets.remove(&generation);
    }

    /// A frame from the desk on `generation`.
    pub fn receive(&mut self, generation: u64, text: &str) -> Frames {
        if !self.sockets.contains_key(&generation) {
            return Vec::new();
        }
        let packet = EioPacket::decode(text).expect("the desk sends valid Engine.IO");
        let EioPacket::Message(m) = packet else {
            return Vec::new(); // pongs
        };
        let p = SioPacket::decode(&m).expect("the desk sends valid Socket.IO");
        match p.kind {
            SioKind::Connect => {
                let token = p
                    .data
                    .as_ref()
                    .and_then(|d| d["token"].as_str())
                    .unwrap_or("")
                    .to_owned();
                self.counters.connects += 1;
                if self.refuse_connect || !self.token_ok(&token) {
                    self.counters.refused_connects += 1;
                    self.sockets.remove(&generation);
                    let why = if self.refuse_connect {
                        "unauthorized: no such user in this tenant"
                    } else {
                        "unauthorized: access token expired or unknown"
                    };
                    return vec![(generation, sio(SioPacket::connect_error("/", why)))];
                }
                if let Some(s) = self.sockets.get_mut(&generation) {
                    s.connected = true;
                }
                vec![(
                    generation,
                    sio(SioPacket::connect(
                        "/",
                        Some(json!({"sid": format!("s{generation}")})),
                    )),
                )]
            }
            SioKind::Event => {
                let name = p.event_name().unwrap_or_default().to_owned();
                let data = p.event_args().first().cloned().unwrap_or(Value::Null);
                if name == "watch"
                    && let (Some(s), Ok(w)) = (
                        self.sockets.get_mut(&generation),
                        serde_json::from_value::<frontdesk_protocol::envelope::WatchEmit>(
                            data.clone(),
                        ),
                    )
                {
                    s.watched = w.days;
                }
                self.emits.push((name, data));
                match p.id {
                    Some(id) => vec![(
                        generation,
                        sio(SioPacket::ack("/", id, vec![json!({"ok": true})])),
                    )],
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// The next moment a socket is due a ping.
    pub fn next_deadline(&self) -> Option<SystemTime> {
        self.sockets.values().map(|s| s.next_ping).min()
    }

    /// Time passed: pings that are due.
    pub fn tick(&mut self) -> Frames {
        let now = self.now;
        let mut out = Vec::new();
        for (g, s) in &mut self.sockets {
            if s.next_ping <= now {
                s.next_ping = now + PING_INTERVAL;
                out.push((*g, frame(EioPacket::Ping(String::new()))));
            }
        }
        out
    }
}

fn patient_of(a: &Appointment) -> frontdesk_protocol::records::Patient {
    frontdesk_protocol::records::Patient {
        id: a.patient.id.clone(),
        name: a.patient.name.clone(),
        initials: a.patient.initials.clone(),
        birth_date: None,
        phone: None,
        version: 1,
    }
}

fn problem(status: u16, kind: &str, detail: &str) -> Problem {
    Problem {
        kind: kind.into(),
        title: kind.into(),
        status,
        detail: Some(detail.into()),
        current: None,
        retry_after: None,
        appointment: None,
        next_slots: None,
        candidates: None,
    }
}
