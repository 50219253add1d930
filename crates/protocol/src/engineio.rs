//! Engine.IO v4 packet codec for the WebSocket transport, and the codec error
//! shared with [`crate::socketio`].
//!
//! On a WebSocket every text frame is exactly one packet (no `\x1e` payload
//! separator, no length prefix):
//!
//! ```text
//! packet  = type-digit [ data ]
//! open    = "0" json-object      ; handshake, see OpenInfo
//! close   = "1"
//! ping    = "2" [ text ]         ; "2probe" during the upgrade probe
//! pong    = "3" [ text ]         ; echoes the ping's text
//! message = "4" [ text ]         ; a Socket.IO packet, see crate::socketio
//! upgrade = "5"
//! noop    = "6"
//! ```
//!
//! A binary WebSocket frame carries a raw binary message with no type prefix.
//! In Socket.IO v5 that is always the next attachment of a pending
//! `BINARY_EVENT` / `BINARY_ACK`, so such frames are not decoded here: size-check
//! them with [`check_frame_len`] and hand the bytes to
//! [`crate::socketio::BinaryAssembler`]. [`Frame`] names the two cases for
//! drivers that want one type to route on.
//!
//! Decoding is strict where the reference parser is lax: `close`, `upgrade` and
//! `noop` must carry no data, and the `open` JSON must have every v4 field.
//! Nothing here panics on input; every malformed frame is a [`CodecError`].

use serde::{Deserialize, Serialize};

/// Everything that can be wrong with a frame, at either protocol layer.
///
/// One enum serves both codecs because a Socket.IO packet is only ever seen
/// inside an Engine.IO frame, and a driver reacts to both the same way: drop
/// the connection and say why. [`crate::socketio`] re-exports it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The frame (text or binary) is longer than the caller allows.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// Length of the refused frame in bytes.
        len: usize,
        /// The caller's limit.
        max: usize,
    },
    /// A text frame or packet had no bytes at all, so no packet type.
    #[error("empty {layer} packet")]
    Empty {
        /// `"engine.io"` or `"socket.io"`.
        layer: &'static str,
    },
    /// The first character is not a packet type of this layer.
    #[error("unknown {layer} packet type {found:?}")]
    UnknownType {
        /// `"engine.io"` or `"socket.io"`.
        layer: &'static str,
        /// The offending character.
        found: char,
    },
    /// A packet type that carries nothing was followed by data.
    #[error("{kind} packet must not carry data")]
    UnexpectedData {
        /// Name of the packet type.
        kind: &'static str,
    },
    /// The Engine.IO `open` handshake JSON is missing fields or malformed.
    #[error("invalid open handshake: {0}")]
    InvalidOpen(#[source] serde_json::Error),
    /// The binary attachment count of a `BINARY_*` packet is not `<digits>-`.
    #[error("binary packet attachment count must be decimal digits followed by '-'")]
    BadAttachmentCount,
    /// An attachment count or ack id does not fit in 64 bits.
    #[error("{what} overflows 64 bits")]
    NumberOverflow {
        /// `"ack id"` or `"attachment count"`.
        what: &'static str,
    },
    /// A namespace started with `/` but no `,` ended it.
    #[error("namespace is not terminated by ','")]
    UnterminatedNamespace,
    /// A namespace does not start with `/` or contains `,` (checked on packets
    /// built in code; decoding cannot produce one).
    #[error("namespace {0:?} must start with '/' and contain no ','")]
    InvalidNamespace(String),
    /// The payload after the header is not valid JSON (this includes trailing
    /// garbage after the JSON value).
    #[error("invalid JSON payload: {0}")]
    InvalidJson(#[source] serde_json::Error),
    /// The packet type requires a payload and none was given.
    #[error("{kind} packet requires a payload")]
    MissingPayload {
        /// Name of the packet type.
        kind: &'static str,
    },
    /// The payload is valid JSON of the wrong shape for the packet type.
    #[error("invalid {kind} payload: {reason}")]
    InvalidPayload {
        /// Name of the packet type.
        kind: &'static str,
        /// What shape was expected.
        reason: &'static str,
    },
    /// An ack id on a packet type that cannot be acknowledged.
    #[error("{kind} packet cannot carry an ack id")]
    UnexpectedAckId {
        /// Name of the packet type.
        kind: &'static str,
    },
    /// An `ACK` / `BINARY_ACK` without the id of the event it answers.
    #[error("{kind} packet requires an ack id")]
    MissingAckId {
        /// Name of the packet type.
        kind: &'static str,
    },
    /// A non-binary packet type claims binary attachments (packets built in code).
    #[error("{kind} packet cannot have binary attachments")]
    UnexpectedAttachments {
        /// Name of the packet type.
        kind: &'static str,
    },
    /// An object has `"_placeholder": true` but no valid `num`.
    #[error("binary placeholder has no non-negative integer \"num\"")]
    InvalidPlaceholder,
    /// A placeholder refers to an attachment the header did not announce.
    #[error("placeholder num {num} out of range for {attachments} attachments")]
    PlaceholderOutOfRange {
        /// The placeholder's `num`.
        num: u64,
        /// The header's attachment count.
        attachments: usize,
    },
    /// The header announces an attachment no placeholder refers to.
    #[error("attachment {0} is announced but never referenced by a placeholder")]
    UnusedAttachment(usize),
    /// A binary packet announces more attachments than the caller allows.
    #[error("{count} attachments exceed the limit of {max}")]
    TooManyAttachments {
        /// Announced attachment count.
        count: usize,
        /// The caller's limit.
        max: usize,
    },
    /// A binary attachment frame is larger than the caller allows.
    #[error("attachment of {len} bytes exceeds the {max}-byte limit")]
    AttachmentTooLarge {
        /// Length of the refused attachment.
        len: usize,
        /// The caller's limit.
        max: usize,
    },
    /// [`crate::socketio::BinaryAssembler`] was given a packet that is not
    /// `BINARY_EVENT` / `BINARY_ACK`.
    #[error("{kind} packet has no binary attachments to assemble")]
    NotBinary {
        /// Name of the packet type.
        kind: &'static str,
    },
}

/// Refuses a frame of `len` bytes when it is longer than `max_len`.
///
/// Call it with the length the WebSocket layer reports, before decoding or
/// copying the frame, so an oversized frame costs nothing more than the check.
/// It applies to text frames and binary attachment frames alike; a frame of
/// exactly `max_len` bytes is accepted. Engine.IO's `maxPayload` from
/// [`OpenInfo`] is the natural limit for a client.
pub fn check_frame_len(len: usize, max_len: usize) -> Result<(), CodecError> {
    if len > max_len {
        Err(CodecError::FrameTooLarge { len, max: max_len })
    } else {
        Ok(())
    }
}

/// The `open` handshake the server sends first, which fixes the session id and
/// the heartbeat timing the client must honour.
///
/// Durations are milliseconds, as on the wire. Unknown fields are ignored so a
/// newer server does not break the client; all five v4 fields are required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenInfo {
    /// Engine.IO session id (not the Socket.IO socket id).
    pub sid: String,
    /// Transports the client may upgrade to; empty once on WebSocket.
    pub upgrades: Vec<String>,
    /// How often the server sends `ping`, in milliseconds.
    pub ping_interval: u64,
    /// How long after a missed ping the connection counts as dead, in milliseconds.
    pub ping_timeout: u64,
    /// Largest frame the server accepts, in bytes.
    pub max_payload: u64,
}

/// One Engine.IO v4 packet, as carried by one WebSocket text frame.
///
/// Binary frames are not packets of this type; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioPacket {
    /// `0{…}`: the server's handshake.
    Open(OpenInfo),
    /// `1`: the peer is closing the session.
    Close,
    /// `2[text]`: heartbeat from the server, or the client's `probe` while
    /// upgrading; the text is empty for a plain heartbeat.
    Ping(String),
    /// `3[text]`: answer to a ping, echoing its text.
    Pong(String),
    /// `4text`: an application message, a Socket.IO packet for us.
    Message(String),
    /// `5`: the client switches to this transport.
    Upgrade,
    /// `6`: does nothing; used to flush a polling cycle.
    Noop,
}

impl EioPacket {
    /// Decodes one WebSocket text frame.
    ///
    /// Does not limit the length: call [`check_frame_len`] first, or use
    /// [`EioPacket::decode_limited`].
    pub fn decode(frame: &str) -> Result<EioPacket, CodecError> {
        let mut chars = frame.chars();
        let Some(kind) = chars.next() else {
            return Err(CodecError::Empty { layer: "engine.io" });
        };
        let data = chars.as_str();
        let no_data = |packet: EioPacket, kind: &'static str| {
            if data.is_empty() {
                Ok(packet)
            } else {
                Err(CodecError::UnexpectedData { kind })
            }
        };
        match kind {
            '0' => serde_json::from_str(data)
                .map(EioPacket::Open)
                .map_err(CodecError::InvalidOpen),
            '1' => no_data(EioPacket::Close, "close"),
            '2' => Ok(EioPacket::Ping(data.to_owned())),
            '3' => Ok(EioPacket::Pong(data.to_owned())),
            '4' => Ok(EioPacket::Message(data.to_owned())),
            '5' => no_data(EioPacket::Upgrade, "upgrade"),
            '6' => no_data(EioPacket::Noop, "noop"),
            found => Err(CodecError::UnknownType {
                layer: "engine.io",
                found,
            }),
        }
    }

    /// [`check_frame_len`] then [`EioPacket::decode`]: the one call a driver
    /// needs for an inbound text frame.
    pub fn decode_limited(frame: &str, max_len: usize) -> Result<EioPacket, CodecError> {
        check_frame_len(frame.len(), max_len)?;
        EioPacket::decode(frame)
    }

    /// Encodes the packet as the text of one WebSocket frame.
    pub fn encode(&self) -> String {
        match self {
            EioPacket::Open(info) => {
                // A struct of strings and integers always serialises; this is
                // not derived from input.
                let json = serde_json::to_string(info).expect("OpenInfo serialises to JSON");
                format!("0{json}")
            }
            EioPacket::Close => "1".to_owned(),
            EioPacket::Ping(text) => format!("2{text}"),
            EioPacket::Pong(text) => format!("3{text}"),
            EioPacket::Message(text) => format!("4{text}"),
            EioPacket::Upgrade => "5".to_owned(),
            EioPacket::Noop => "6".to_owned(),
        }
    }
}

/// One WebSocket message in Engine.IO v4 terms, for drivers that want a single
/// type to route inbound and outbound frames on.
///
/// Text frames hold one [`EioPacket`]; binary frames hold one raw attachment
/// of a Socket.IO binary packet, with no prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame: one encoded [`EioPacket`].
    Text(String),
    /// A binary frame: raw message bytes.
    Binary(Vec<u8>),
}

impl Frame {
    /// Length in bytes, the number [`check_frame_len`] limits.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(bytes) => bytes.len(),
        }
    }

    /// Whether the frame has no bytes (an empty text frame is malformed).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`check_frame_len`] applied to this frame.
    pub fn check_len(&self, max_len: usize) -> Result<(), CodecError> {
        check_frame_len(self.len(), max_len)
    }
}

impl From<&EioPacket> for Frame {
    fn from(packet: &EioPacket) -> Self {
        Frame::Text(packet.encode())
    }
}
