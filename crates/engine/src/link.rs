//! One Socket.IO session on one WebSocket, as a pure state machine.
//!
//! Feed it every frame that arrives ([`Link::handle_text`],
//! [`Link::handle_binary`]) with the wall-clock time; it answers with
//! [`LinkEvent`]s: frames to send and things that happened. It never touches a
//! socket or reads a clock, so the driver in `connection.rs` stays thin and
//! every protocol path is tested here with plain strings.
//!
//! Liveness is judged on wall-clock time ([`Link::check_alive`]): a laptop
//! that slept through several ping intervals sees the gap the moment it wakes,
//! instead of waiting out a monotonic timer that was frozen during sleep.

use frontdesk_protocol::engineio::{EioPacket, check_frame_len};
use frontdesk_protocol::socketio::{Assembly, BinaryAssembler, BinaryLimits, SioKind, SioPacket};
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// The namespace Frontdesk uses.
pub const NAMESPACE: &str = "/";

/// How long to wait for the Engine.IO open packet and the CONNECT answer.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the server refused a CONNECT, decided once, here, from its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The credentials were not accepted (`unauthorized: …`): a fresh token
    /// may help, once.
    Unauthorized,
    /// The server could not take the session now (its own failure, or a
    /// reason we do not know): wait and try again, without a refresh.
    Unavailable,
}

/// A CONNECT refusal: its kind and the server's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
}

impl Refusal {
    /// Classifies the message of a CONNECT_ERROR (protocol §4.2: refusals of
    /// the credentials start with `unauthorized`).
    pub fn from_message(message: &str) -> Refusal {
        let kind = if message.starts_with("unauthorized") {
            RefusalKind::Unauthorized
        } else {
            RefusalKind::Unavailable
        };
        Refusal {
            kind,
            message: message.to_owned(),
        }
    }
}

/// Something the driver must do or should know.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    /// Send this text frame.
    Send(String),
    /// The server accepted our CONNECT.
    Connected { sid: String },
    /// The server refused our CONNECT (usually the token).
    Refused(Refusal),
    /// An event from the server; answer `ack` with [`Link::ack`] if present.
    Event {
        name: String,
        args: Vec<Value>,
        ack: Option<u64>,
    },
    /// The server answered one of our emits.
    Ack { id: u64, args: Vec<Value> },
    /// The session is over; close the socket and reconnect.
    Closed { reason: String },
    /// A frame we could not use; the session continues.
    Ignored { reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingOpen,
    AwaitingConnect,
    Connected,
    Closed,
}

/// Limits on what the server may send us.
#[derive(Debug, Clone, Copy)]
pub struct LinkLimits {
    /// Largest text or binary frame accepted.
    pub max_frame: usize,
    /// Binary attachments per packet and their size.
    pub binary: BinaryLimits,
    /// Whether this session answers pings itself. The engine's driver answers
    /// them in its reader task instead, and sets this to false.
    pub answer_pings: bool,
}

impl Default for LinkLimits {
    fn default() -> Self {
        LinkLimits {
            max_frame: 1024 * 1024,
            binary: BinaryLimits {
                max_attachments: 4,
                max_attachment_len: 1024 * 1024,
            },
            answer_pings: true,
        }
    }
}

/// One session's protocol state.
#[derive(Debug)]
pub struct Link {
    phase: Phase,
    auth: Value,
    limits: LinkLimits,
    ping_interval: Duration,
    ping_timeout: Duration,
    /// When we last heard from the server (any frame).
    last_heard: SystemTime,
    /// When the handshake began; CONNECT must be answered within
    /// [`HANDSHAKE_TIMEOUT`] of it, pings or not.
    started: SystemTime,
    next_ack_id: u64,
    binary: Option<BinaryAssembler>,
}

/// Why [`Link::check_alive`] gave up on the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dead {
    pub silent_for: Duration,
    pub allowed: Duration,
}

impl Link {
    /// A session that will CONNECT with `auth` once the server opens.
    pub fn new(auth: Value, limits: LinkLimits, now: SystemTime) -> Link {
        Link {
            phase: Phase::AwaitingOpen,
            auth,
            limits,
            ping_interval: Duration::ZERO,
            ping_timeout: HANDSHAKE_TIMEOUT,
            last_heard: now,
            started: now,
            next_ack_id: 0,
            binary: None,
        }
    }

    /// Whether CONNECT has been accepted and the session is still open.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// The longest silence tolerated now: the handshake timeout before the
    /// open packet, then one ping interval plus the ping timeout.
    pub fn allowed_silence(&self) -> Duration {
        match self.phase {
            Phase::AwaitingOpen => HANDSHAKE_TIMEOUT,
            _ => self.ping_interval + self.ping_timeout,
        }
    }

    /// When the session will be declared dead if nothing arrives.
    pub fn deadline(&self) -> SystemTime {
        let silence = self.last_heard + self.allowed_silence();
        if matches!(self.phase, Phase::AwaitingOpen | Phase::AwaitingConnect) {
            // CONNECT must be answered in time, pings or not.
            silence.min(self.started + HANDSHAKE_TIMEOUT + Duration::from_millis(1))
        } else {
            silence
        }
    }

    /// `Err` if the server has been silent for longer than allowed. A wall
    /// clock that jumped backwards counts as no silence.
    pub fn check_alive(&self, now: SystemTime) -> Result<(), Dead> {
        if matches!(self.phase, Phase::AwaitingOpen | Phase::AwaitingConnect) {
            let waiting = now.duration_since(self.started).unwrap_or(Duration::ZERO);
            if waiting > HANDSHAKE_TIMEOUT {
                return Err(Dead {
                    silent_for: waiting,
                    allowed: HANDSHAKE_TIMEOUT,
                });
            }
        }
        let silent_for = now
            .duration_since(self.last_heard)
            .unwrap_or(Duration::ZERO);
        let allowed = self.allowed_silence();
        if silent_for > allowed {
            Err(Dead {
                silent_for,
                allowed,
            })
        } else {
            Ok(())
        }
    }

    fn close(&mut self, reason: impl Into<String>) -> Vec<LinkEvent> {
        self.phase = Phase::Closed;
        vec![LinkEvent::Closed {
            reason: reason.into(),
        }]
    }

    /// Handles one text frame.
    pub fn handle_text(&mut self, frame: &str, now: SystemTime) -> Vec<LinkEvent> {
        if self.phase == Phase::Closed {
            return Vec::new();
        }
        self.last_heard = now;
        if let Err(e) = check_frame_len(frame.len(), self.limits.max_frame) {
            return self.close(format!("server sent an oversized frame: {e}"));
        }
        if self.binary.is_some() {
            return self.close("server sent text while binary attachments were due");
        }
        let packet = match EioPacket::decode(frame) {
            Ok(p) => p,
            Err(e) => return self.close(format!("malformed Engine.IO frame: {e}")),
        };
        match packet {
            EioPacket::Open(info) => {
                if self.phase != Phase::AwaitingOpen {
                    return self.close("unexpected second open packet");
                }
                self.ping_interval = Duration::from_millis(info.ping_interval);
                self.ping_timeout = Duration::from_millis(info.ping_timeout);
                self.phase = Phase::AwaitingConnect;
                let connect = SioPacket::connect(NAMESPACE, Some(self.auth.clone()));
                vec![LinkEvent::Send(
                    EioPacket::Message(connect.encode()).encode(),
                )]
            }
            // Answer pings in every phase: the first one may come before the CONNECT answer.
            EioPacket::Ping(data) if self.limits.answer_pings => {
                vec![LinkEvent::Send(EioPacket::Pong(data).encode())]
            }
            EioPacket::Ping(_) => Vec::new(),
            EioPacket::Close => self.close("server closed the session"),
            EioPacket::Message(text) => self.handle_sio(&text),
            EioPacket::Pong(_) | EioPacket::Noop | EioPacket::Upgrade => Vec::new(),
        }
    }

    /// Handles one binary frame (an attachment of a binary packet).
    pub fn handle_binary(&mut self, frame: Vec<u8>, now: SystemTime) -> Vec<LinkEvent> {
        if self.phase == Phase::Closed {
            return Vec::new();
        }
        self.last_heard = now;
        let Some(assembler) = self.binary.take() else {
            return self.close("server sent a binary frame nobody announced");
        };
        match assembler.push(frame) {
            Ok(Assembly::Pending(next)) => {
                self.binary = Some(next);
                Vec::new()
            }
            Ok(Assembly::Complete(p)) => vec![LinkEvent::Ignored {
                reason: format!(
                    "binary {} `{}` ignored: Frontdesk's protocol carries no binary data",
                    p.packet.kind.name(),
                    p.packet.event_name().unwrap_or("")
                ),
            }],
            Err(e) => self.close(format!("bad binary attachment: {e}")),
        }
    }

    fn handle_sio(&mut self, text: &str) -> Vec<LinkEvent> {
        let p = match SioPacket::decode(text) {
            Ok(p) => p,
            Err(e) => return self.close(format!("malformed Socket.IO packet: {e}")),
        };
        if p.nsp != NAMESPACE {
            return vec![LinkEvent::Ignored {
                reason: format!("packet for namespace {}", p.nsp),
            }];
        }
        match (self.phase, p.kind) {
            (Phase::AwaitingConnect, SioKind::Connect) => {
                self.phase = Phase::Connected;
                vec![LinkEvent::Connected {
                    sid: p.sid().unwrap_or_default().to_owned(),
                }]
            }
            (Phase::AwaitingConnect, SioKind::ConnectError) => {
                let message = p
                    .connect_error_message()
                    .unwrap_or("refused without a reason");
                self.phase = Phase::Closed;
                vec![LinkEvent::Refused(Refusal::from_message(message))]
            }
            (Phase::Connected, SioKind::Event) => vec![LinkEvent::Event {
                name: p.event_name().unwrap_or_default().to_owned(),
                args: p.event_args().to_vec(),
                ack: p.id,
            }],
            (Phase::Connected, SioKind::Ack) => match p.id {
                Some(id) => vec![LinkEvent::Ack {
                    id,
                    args: p.ack_args().to_vec(),
                }],
                None => vec![LinkEvent::Ignored {
                    reason: "ack without id".into(),
                }],
            },
            (Phase::Connected, SioKind::Disconnect) => self.close("server disconnected the socket"),
            (Phase::Connected, SioKind::BinaryEvent | SioKind::BinaryAck) => {
                match BinaryAssembler::start(p, self.limits.binary) {
                    Ok(Assembly::Pending(a)) => {
                        self.binary = Some(a);
                        Vec::new()
                    }
                    Ok(Assembly::Complete(_)) => {
                        vec![LinkEvent::Ignored {
                            reason: "binary packet ignored".into(),
                        }]
                    }
                    Err(e) => self.close(format!("bad binary packet: {e}")),
                }
            }
            (phase, kind) => vec![LinkEvent::Ignored {
                reason: format!("{} while {phase:?}", kind.name()),
            }],
        }
    }

    /// The frame for emitting `name(data)`; with `want_ack`, also the ack id
    /// the answer will carry.
    pub fn emit(&mut self, name: &str, data: Value, want_ack: bool) -> (Option<u64>, String) {
        let id = want_ack.then(|| {
            self.next_ack_id += 1;
            self.next_ack_id
        });
        let packet = SioPacket::event(NAMESPACE, name, vec![data], id);
        (id, EioPacket::Message(packet.encode()).encode())
    }

    /// The frame answering the server's event `id` with `args`.
    pub fn ack(&self, id: u64, args: Vec<Value>) -> String {
        EioPacket::Message(SioPacket::ack(NAMESPACE, id, args).encode()).encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OPEN: &str = r#"0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn connected() -> Link {
        let mut l = Link::new(json!({"token": "tok"}), LinkLimits::default(), t(0));
        l.handle_text(OPEN, t(0));
        l.handle_text(r#"40{"sid":"abc"}"#, t(0));
        assert!(l.is_connected());
        l
    }

    #[test]
    fn handshake_sends_connect_with_auth_and_reports_sid() {
        let mut l = Link::new(json!({"token": "tok"}), LinkLimits::default(), t(0));
        assert_eq!(
            l.handle_text(OPEN, t(0)),
            [LinkEvent::Send(r#"40{"token":"tok"}"#.into())]
        );
        // A ping before the CONNECT answer is answered, not dropped.
        assert_eq!(l.handle_text("2", t(0)), [LinkEvent::Send("3".into())]);
        assert_eq!(
            l.handle_text(r#"40{"sid":"abc"}"#, t(1)),
            [LinkEvent::Connected { sid: "abc".into() }]
        );
    }

    #[test]
    fn connect_error_is_a_refusal_with_the_message() {
        let mut l = Link::new(json!({}), LinkLimits::default(), t(0));
        l.handle_text(OPEN, t(0));
        assert_eq!(
            l.handle_text(r#"44{"message":"access token expired"}"#, t(0)),
            [LinkEvent::Refused(Refusal {
                kind: RefusalKind::Unavailable,
                message: "access token expired".into()
            })]
        );
        assert!(
            l.handle_text("2", t(0)).is_empty(),
            "a closed link says nothing more"
        );
        let mut l = Link::new(json!({}), LinkLimits::default(), t(0));
        l.handle_text(OPEN, t(0));
        assert_eq!(
            l.handle_text(
                r#"44{"message":"unauthorized: access token expired"}"#,
                t(0)
            ),
            [LinkEvent::Refused(Refusal {
                kind: RefusalKind::Unauthorized,
                message: "unauthorized: access token expired".into()
            })]
        );
    }

    #[test]
    fn events_acks_and_pings() {
        let mut l = connected();
        assert_eq!(
            l.handle_text(r#"42["queue.called",{"seq":3}]"#, t(1)),
            [LinkEvent::Event {
                name: "queue.called".into(),
                args: vec![json!({"seq":3})],
                ack: None
            }]
        );
        assert_eq!(
            l.handle_text(r#"425["ping?",1]"#, t(1)),
            [LinkEvent::Event {
                name: "ping?".into(),
                args: vec![json!(1)],
                ack: Some(5)
            }]
        );
        assert_eq!(l.ack(5, vec![json!("pong")]), r#"435["pong"]"#);
        let (id, frame) = l.emit("typing", json!({"thread": "t", "typing": true}), true);
        assert_eq!(
            (id, frame.as_str()),
            (Some(1), r#"421["typing",{"thread":"t","typing":true}]"#)
        );
        let (id, frame) = l.emit("viewing", json!({"patient": null}), false);
        assert_eq!(
            (id, frame.as_str()),
            (None, r#"42["viewing",{"patient":null}]"#)
        );
        assert_eq!(
            l.handle_text(r#"431[{"ok":true}]"#, t(2)),
            [LinkEvent::Ack {
                id: 1,
                args: vec![json!({"ok":true})]
            }]
        );
        assert_eq!(l.handle_text("2", t(3)), [LinkEvent::Send("3".into())]);
        assert!(l.handle_text("6", t(3)).is_empty());
    }

    #[test]
    fn malformed_frames_close_the_session_with_a_reason() {
        for bad in ["", "9", "4", "42[", "42{}", r#"0{"sid":1}"#, "43[]"] {
            let mut l = connected();
            let out = l.handle_text(bad, t(1));
            assert!(
                matches!(
                    out.as_slice(),
                    [LinkEvent::Closed { .. }] | [LinkEvent::Ignored { .. }]
                ),
                "{bad:?} -> {out:?}"
            );
        }
        let mut l = connected();
        assert!(matches!(
            l.handle_text("1", t(1)).as_slice(),
            [LinkEvent::Closed { .. }]
        ));
        let mut l = connected();
        assert!(matches!(
            l.handle_text("41", t(1)).as_slice(),
            [LinkEvent::Closed { .. }]
        ));
        let mut small = Link::new(
            json!({}),
            LinkLimits {
                max_frame: 10,
                ..LinkLimits::default()
            },
            t(0),
        );
        assert!(
            matches!(small.handle_text(OPEN, t(0)).as_slice(), [LinkEvent::Closed { reason }] if reason.contains("oversized"))
        );
    }

    #[test]
    fn binary_events_are_assembled_then_ignored_cleanly() {
        let mut l = connected();
        assert!(
            l.handle_text(r#"451-["file",{"_placeholder":true,"num":0}]"#, t(1))
                .is_empty()
        );
        let out = l.handle_binary(vec![1, 2, 3], t(1));
        assert!(
            matches!(out.as_slice(), [LinkEvent::Ignored { reason }] if reason.contains("file"))
        );
        // The stream continues normally afterwards.
        assert!(matches!(
            l.handle_text(r#"42["x",1]"#, t(1)).as_slice(),
            [LinkEvent::Event { .. }]
        ));
        // An unannounced binary frame ends the session.
        assert!(matches!(
            l.handle_binary(vec![0], t(1)).as_slice(),
            [LinkEvent::Closed { .. }]
        ));
    }

    #[test]
    fn connect_must_be_answered_in_time_even_with_pings() {
        let mut l = Link::new(json!({}), LinkLimits::default(), t(0));
        l.handle_text(OPEN, t(0));
        for s in 1..=10 {
            l.handle_text("2", t(s));
        }
        assert!(l.check_alive(t(10)).is_ok());
        assert!(
            l.check_alive(t(11)).is_err(),
            "pinging but never answering CONNECT is dead"
        );
        assert!(
            l.deadline() <= t(10) + Duration::from_millis(1),
            "the deadline a driver sleeps until is the handshake's"
        );
    }

    #[test]
    fn pings_can_be_left_to_the_driver() {
        let limits = LinkLimits {
            answer_pings: false,
            ..LinkLimits::default()
        };
        let mut l = Link::new(json!({}), limits, t(0));
        l.handle_text(OPEN, t(0));
        assert!(l.handle_text("2", t(1)).is_empty());
        assert!(
            l.check_alive(t(1)).is_ok(),
            "the ping still counts as hearing from the server"
        );
    }

    #[test]
    fn liveness_uses_wall_clock_gaps() {
        let mut l = Link::new(json!({}), LinkLimits::default(), t(0));
        assert!(l.check_alive(t(10)).is_ok());
        assert!(
            l.check_alive(t(11)).is_err(),
            "no open packet within the handshake timeout"
        );
        l.handle_text(OPEN, t(0));
        l.handle_text(r#"40{"sid":"abc"}"#, t(0));
        l.handle_text("2", t(25));
        assert!(
            l.check_alive(t(70)).is_ok(),
            "25 s interval + 20 s timeout after the last ping"
        );
        let dead = l.check_alive(t(71)).unwrap_err();
        assert_eq!(dead.allowed, Duration::from_secs(45));
        // A laptop waking from an hour's sleep notices at once.
        assert!(l.check_alive(t(25 + 3600)).is_err());
        // A clock stepped backwards is not silence.
        assert!(l.check_alive(t(0)).is_ok());
        assert_eq!(l.deadline(), t(70));
    }
}
