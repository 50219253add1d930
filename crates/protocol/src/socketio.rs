//! Socket.IO v5 packet codec. Each packet travels as the text of one Engine.IO
//! `message` packet ([`crate::engineio::EioPacket::Message`]).
//!
//! ```text
//! packet      = type-digit [ attachments "-" ] [ nsp "," ] [ ack-id ] [ json ]
//! type-digit  = "0" CONNECT | "1" DISCONNECT | "2" EVENT | "3" ACK
//!             | "4" CONNECT_ERROR | "5" BINARY_EVENT | "6" BINARY_ACK
//! attachments = 1*DIGIT      ; only, and always, on BINARY_EVENT / BINARY_ACK
//! nsp         = "/" *(any char but ",")   ; omitted for the main namespace "/"
//! ack-id      = 1*DIGIT      ; must fit in u64
//! ```
//!
//! What each type may carry (checked by [`SioPacket::validate`], which
//! [`SioPacket::decode`] runs):
//!
//! | type          | ack id   | payload                                              |
//! |---------------|----------|------------------------------------------------------|
//! | CONNECT       | none     | optional object (client auth, or `{"sid":…}` reply)  |
//! | DISCONNECT    | none     | none                                                 |
//! | EVENT         | optional | non-empty array, first element the event name string |
//! | ACK           | required | array, possibly empty                                |
//! | CONNECT_ERROR | none     | `{"message":"…", …}`, or a bare string (older servers) |
//! | BINARY_EVENT  | optional | as EVENT, with placeholders                          |
//! | BINARY_ACK    | required | as ACK, with placeholders                            |
//!
//! Binary packets: the JSON holds `{"_placeholder":true,"num":n}` where each
//! binary value was, and the `attachments` binary WebSocket frames that follow
//! carry the bytes in `num` order. [`SioPacket::decode`] checks every
//! placeholder's `num` is below the announced count and every attachment is
//! referenced; [`BinaryAssembler`] then collects the frames into a
//! [`BinaryPacket`], which keeps the JSON as is (placeholders in place) and the
//! bytes in a `Vec<Vec<u8>>` indexed by `num`.
//!
//! Errors are [`CodecError`], defined in [`crate::engineio`] and re-exported
//! here, so one type covers a frame from the socket to the event.

use std::fmt::Write as _;

use serde_json::{Map, Value};

pub use crate::engineio::CodecError;

/// The seven Socket.IO packet types; the discriminant is the wire digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SioKind {
    /// Join a namespace (client), or accept the join (server).
    Connect = 0,
    /// Leave a namespace.
    Disconnect = 1,
    /// An emitted event, possibly asking for an ack.
    Event = 2,
    /// The answer to an event that asked for one.
    Ack = 3,
    /// The server refused the join.
    ConnectError = 4,
    /// An event whose arguments include binary attachments.
    BinaryEvent = 5,
    /// An ack whose arguments include binary attachments.
    BinaryAck = 6,
}

impl SioKind {
    /// The kind a wire digit stands for, if any.
    pub fn from_digit(digit: u8) -> Option<SioKind> {
        Some(match digit {
            b'0' => SioKind::Connect,
            b'1' => SioKind::Disconnect,
            b'2' => SioKind::Event,
            b'3' => SioKind::Ack,
            b'4' => SioKind::ConnectError,
            b'5' => SioKind::BinaryEvent,
            b'6' => SioKind::BinaryAck,
            _ => return None,
        })
    }

    /// The wire digit, first character of an encoded packet.
    pub fn digit(self) -> char {
        match self {
            SioKind::Connect => '0',
            SioKind::Disconnect => '1',
            SioKind::Event => '2',
            SioKind::Ack => '3',
            SioKind::ConnectError => '4',
            SioKind::BinaryEvent => '5',
            SioKind::BinaryAck => '6',
        }
    }

    /// The protocol document's name, used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            SioKind::Connect => "CONNECT",
            SioKind::Disconnect => "DISCONNECT",
            SioKind::Event => "EVENT",
            SioKind::Ack => "ACK",
            SioKind::ConnectError => "CONNECT_ERROR",
            SioKind::BinaryEvent => "BINARY_EVENT",
            SioKind::BinaryAck => "BINARY_ACK",
        }
    }

    /// Whether the packet is followed by binary attachment frames.
    pub fn is_binary(self) -> bool {
        matches!(self, SioKind::BinaryEvent | SioKind::BinaryAck)
    }

    /// EVENT or BINARY_EVENT: the payload starts with an event name.
    pub fn is_event(self) -> bool {
        matches!(self, SioKind::Event | SioKind::BinaryEvent)
    }

    /// ACK or BINARY_ACK: the packet answers an event and needs its id.
    pub fn is_ack(self) -> bool {
        matches!(self, SioKind::Ack | SioKind::BinaryAck)
    }
}

/// One Socket.IO packet: the fields every type shares, with the per-type rules
/// of the module docs checked by [`SioPacket::validate`].
///
/// A flat struct rather than an enum per type, so drivers can route on
/// `kind` and `nsp` without matching seven variants. Build packets with the
/// constructors; [`SioPacket::encode`] trusts its input, so a hand-built packet
/// that breaks the rules encodes to text that [`SioPacket::decode`] rejects.
#[derive(Debug, Clone, PartialEq)]
pub struct SioPacket {
    /// The packet type.
    pub kind: SioKind,
    /// Namespace, starting with `/`; `"/"` is the main namespace.
    pub nsp: String,
    /// Ack id: on an event, asks the peer to ack; on an ack, names the event.
    pub id: Option<u64>,
    /// The JSON payload, if the packet has one.
    pub data: Option<Value>,
    /// Number of binary frames that follow; 0 unless `kind.is_binary()`.
    pub attachments: usize,
}

impl SioPacket {
    fn new(kind: SioKind, nsp: impl Into<String>, id: Option<u64>, data: Option<Value>) -> Self {
        SioPacket {
            kind,
            nsp: nsp.into(),
            id,
            data,
            attachments: 0,
        }
    }

    /// CONNECT to `nsp`: from the client with optional auth data, or from the
    /// server with `{"sid": …}`.
    pub fn connect(nsp: impl Into<String>, auth: Option<Value>) -> Self {
        SioPacket::new(SioKind::Connect, nsp, None, auth)
    }

    /// CONNECT_ERROR refusing `nsp`, with `{"message": message}` as the
    /// current servers send it.
    pub fn connect_error(nsp: impl Into<String>, message: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("message".to_owned(), Value::String(message.into()));
        SioPacket::new(SioKind::ConnectError, nsp, None, Some(Value::Object(body)))
    }

    /// DISCONNECT from `nsp`.
    pub fn disconnect(nsp: impl Into<String>) -> Self {
        SioPacket::new(SioKind::Disconnect, nsp, None, None)
    }

    /// EVENT `name(args…)` on `nsp`; with `id`, the peer must answer with an
    /// ACK carrying the same id.
    pub fn event(
        nsp: impl Into<String>,
        name: impl Into<String>,
        args: Vec<Value>,
        id: Option<u64>,
    ) -> Self {
        let mut array = Vec::with_capacity(args.len() + 1);
        array.push(Value::String(name.into()));
        array.extend(args);
        SioPacket::new(SioKind::Event, nsp, id, Some(Value::Array(array)))
    }

    /// ACK answering event `id` on `nsp` with `args`.
    pub fn ack(nsp: impl Into<String>, id: u64, args: Vec<Value>) -> Self {
        SioPacket::new(SioKind::Ack, nsp, Some(id), Some(Value::Array(args)))
    }

    /// The event name of an EVENT / BINARY_EVENT, `None` for other types.
    pub fn event_name(&self) -> Option<&str> {
        if !self.kind.is_event() {
            return None;
        }
        self.array()?.first()?.as_str()
    }

    /// The arguments after the event name of an EVENT / BINARY_EVENT; empty
    /// for other types.
    pub fn event_args(&self) -> &[Value] {
        match self.array() {
            Some([_name, args @ ..]) if self.kind.is_event() => args,
            _ => &[],
        }
    }

    /// The arguments of an ACK / BINARY_ACK; empty for other types.
    pub fn ack_args(&self) -> &[Value] {
        match self.array() {
            Some(args) if self.kind.is_ack() => args,
            _ => &[],
        }
    }

    /// The refusal reason of a CONNECT_ERROR, in either the object or the
    /// older bare-string form.
    pub fn connect_error_message(&self) -> Option<&str> {
        if self.kind != SioKind::ConnectError {
            return None;
        }
        match self.data.as_ref()? {
            Value::String(message) => Some(message),
            Value::Object(body) => body.get("message")?.as_str(),
            _ => None,
        }
    }

    /// The socket id in the server's CONNECT reply (`{"sid": …}`).
    pub fn sid(&self) -> Option<&str> {
        if self.kind != SioKind::Connect {
            return None;
        }
        self.data.as_ref()?.get("sid")?.as_str()
    }

    fn array(&self) -> Option<&[Value]> {
        match self.data.as_ref()? {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Decodes the text of one Engine.IO `message` packet.
    ///
    /// For a BINARY_EVENT / BINARY_ACK this is the header only; feed it and
    /// the next `attachments` binary frames to [`BinaryAssembler`].
    pub fn decode(text: &str) -> Result<SioPacket, CodecError> {
        let Some(&digit) = text.as_bytes().first() else {
            return Err(CodecError::Empty { layer: "socket.io" });
        };
        let Some(kind) = SioKind::from_digit(digit) else {
            let found = text.chars().next().unwrap_or_default();
            return Err(CodecError::UnknownType {
                layer: "socket.io",
                found,
            });
        };
        // Every split below is just before or after an ASCII byte, so always
        // on a char boundary.
        let mut rest = &text[1..];

        let mut attachments = 0;
        if kind.is_binary() {
            let (digits, after) = split_digits(rest);
            let Some(after) = after.strip_prefix('-') else {
                return Err(CodecError::BadAttachmentCount);
            };
            if digits.is_empty() {
                return Err(CodecError::BadAttachmentCount);
            }
            let count = parse_u64(digits, "attachment count")?;
            attachments = usize::try_from(count).map_err(|_| CodecError::NumberOverflow {
                what: "attachment count",
            })?;
            rest = after;
        }

        let mut nsp = "/";
        if rest.starts_with('/') {
            let Some((name, after)) = rest.split_once(',') else {
                return Err(CodecError::UnterminatedNamespace);
            };
            nsp = name;
            rest = after;
        }

        let (digits, after) = split_digits(rest);
        let id = if digits.is_empty() {
            None
        } else {
            Some(parse_u64(digits, "ack id")?)
        };
        rest = after;

        let data = if rest.is_empty() {
            None
        } else {
            Some(serde_json::from_str(rest).map_err(CodecError::InvalidJson)?)
        };

        let packet = SioPacket {
            kind,
            nsp: nsp.to_owned(),
            id,
            data,
            attachments,
        };
        packet.validate()?;
        Ok(packet)
    }

    /// Encodes the packet as the text of one Engine.IO `message` packet. A
    /// binary packet's attachments are sent separately, after it.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        out.push(self.kind.digit());
        // Writing to a String cannot fail.
        if self.kind.is_binary() {
            let _ = write!(out, "{}-", self.attachments);
        }
        if self.nsp != "/" {
            out.push_str(&self.nsp);
            out.push(',');
        }
        if let Some(id) = self.id {
            let _ = write!(out, "{id}");
        }
        if let Some(data) = &self.data {
            let _ = write!(out, "{data}");
        }
        out
    }

    /// Checks the per-type rules of the module docs: namespace shape, which
    /// types may carry an ack id, attachments and payload, and for binary
    /// packets that the placeholders match the attachment count.
    pub fn validate(&self) -> Result<(), CodecError> {
        let kind = self.kind.name();
        if !self.nsp.starts_with('/') || self.nsp.contains(',') {
            return Err(CodecError::InvalidNamespace(self.nsp.clone()));
        }
        if !self.kind.is_binary() && self.attachments != 0 {
            return Err(CodecError::UnexpectedAttachments { kind });
        }
        let invalid = |reason| Err(CodecError::InvalidPayload { kind, reason });
        match self.kind {
            SioKind::Connect | SioKind::Disconnect | SioKind::ConnectError if self.id.is_some() => {
                return Err(CodecError::UnexpectedAckId { kind });
            }
            SioKind::Ack | SioKind::BinaryAck if self.id.is_none() => {
                return Err(CodecError::MissingAckId { kind });
            }
            _ => {}
        }
        match (self.kind, &self.data) {
            (SioKind::Connect, None | Some(Value::Object(_))) => {}
            (SioKind::Connect, Some(_)) => return invalid("expected a JSON object"),
            (SioKind::Disconnect, None) => {}
            (SioKind::Disconnect, Some(_)) => return Err(CodecError::UnexpectedData { kind }),
            (SioKind::ConnectError, Some(Value::String(_))) => {}
            (SioKind::ConnectError, Some(Value::Object(body))) => {
                if !body.get("message").is_some_and(Value::is_string) {
                    return invalid("expected a string \"message\" field");
                }
            }
            (SioKind::ConnectError, Some(_)) => {
                return invalid("expected {\"message\": …} or a string");
            }
            (SioKind::Event | SioKind::BinaryEvent, Some(Value::Array(items))) => {
                match items.first() {
                    Some(Value::String(_)) => {}
                    Some(_) => return invalid("the event name must be a string"),
                    None => return invalid("expected a non-empty array"),
                }
            }
            (SioKind::Event | SioKind::BinaryEvent, Some(_)) => {
                return invalid("expected a non-empty array");
            }
            (SioKind::Ack | SioKind::BinaryAck, Some(Value::Array(_))) => {}
            (SioKind::Ack | SioKind::BinaryAck, Some(_)) => return invalid("expected an array"),
            (_, None) => return Err(CodecError::MissingPayload { kind }),
        }
        if self.kind.is_binary() {
            check_placeholders(self.data.as_ref(), self.attachments)?;
        }
        Ok(())
    }
}

/// Splits a leading run of ASCII digits off `text`.
fn split_digits(text: &str) -> (&str, &str) {
    let end = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(end)
}

/// Parses ASCII digits into a u64, refusing overflow instead of wrapping.
fn parse_u64(digits: &str, what: &'static str) -> Result<u64, CodecError> {
    digits.bytes().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)
            .and_then(|acc| acc.checked_add(u64::from(b - b'0')))
            .ok_or(CodecError::NumberOverflow { what })
    })
}

/// The JSON that stands for binary attachment `num` in a binary packet.
pub fn placeholder(num: usize) -> Value {
    let mut object = Map::new();
    object.insert("_placeholder".to_owned(), Value::Bool(true));
    object.insert("num".to_owned(), Value::from(num));
    Value::Object(object)
}

/// The attachment index `value` refers to, if it is a placeholder: an object
/// whose `_placeholder` is `true` (other keys are ignored, as the reference
/// parser does). `Some(Err)` when it is one but has no usable `num`.
fn placeholder_num(value: &Value) -> Option<Result<u64, CodecError>> {
    let object = value.as_object()?;
    if object.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    Some(
        object
            .get("num")
            .and_then(Value::as_u64)
            .ok_or(CodecError::InvalidPlaceholder),
    )
}

/// Every placeholder's num is below `attachments`, and every attachment is
/// referenced at least once. Walks with an explicit stack, so hand-built deep
/// JSON cannot overflow the call stack.
fn check_placeholders(data: Option<&Value>, attachments: usize) -> Result<(), CodecError> {
    let mut used = Vec::new();
    let mut stack: Vec<&Value> = data.into_iter().collect();
    while let Some(value) = stack.pop() {
        if let Some(num) = placeholder_num(value) {
            let num = num?;
            if num >= attachments as u64 {
                return Err(CodecError::PlaceholderOutOfRange { num, attachments });
            }
            used.push(num);
            continue;
        }
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(object) => stack.extend(object.values()),
            _ => {}
        }
    }
    // The smallest unused index, without allocating `attachments` flags: the
    // count comes from the wire and may be huge.
    used.sort_unstable();
    used.dedup();
    let first_unused = used
        .iter()
        .zip(0u64..)
        .find(|(num, index)| *num != index)
        .map_or(used.len() as u64, |(_, index)| index);
    if first_unused < attachments as u64 {
        // Below `attachments`, so it fits in usize.
        return Err(CodecError::UnusedAttachment(first_unused as usize));
    }
    Ok(())
}

/// Caller-chosen bounds on what one binary packet may make us buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryLimits {
    /// Most attachments one packet may announce.
    pub max_attachments: usize,
    /// Largest single attachment frame, in bytes.
    pub max_attachment_len: usize,
}

/// A binary packet with its attachments collected.
///
/// The JSON keeps the `{"_placeholder":true,"num":n}` objects where the
/// binary values were; `attachments[n]` holds their bytes. Decoding checked
/// that every `num` indexes `attachments` and every attachment is referenced;
/// [`BinaryPacket::attachment`] resolves one placeholder.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryPacket {
    /// The BINARY_EVENT / BINARY_ACK header, placeholders in place.
    pub packet: SioPacket,
    /// Attachment bytes, indexed by placeholder `num`.
    pub attachments: Vec<Vec<u8>>,
}

impl BinaryPacket {
    /// The bytes a placeholder value (e.g. one of `packet.event_args()`)
    /// stands for; `None` if `value` is not a placeholder.
    pub fn attachment(&self, value: &Value) -> Option<&[u8]> {
        let num = placeholder_num(value)?.ok()?;
        let index = usize::try_from(num).ok()?;
        self.attachments.get(index).map(Vec::as_slice)
    }
}

/// Where an assembly stands after [`BinaryAssembler::start`] or
/// [`BinaryAssembler::push`].
#[derive(Debug)]
pub enum Assembly {
    /// More binary frames are needed; push the next one.
    Pending(BinaryAssembler),
    /// Every attachment arrived.
    Complete(BinaryPacket),
}

/// Collects the binary frames that follow a BINARY_EVENT / BINARY_ACK header.
///
/// Consumed by each step, so frames cannot be pushed past the announced count:
/// the next frame after [`Assembly::Complete`] is no longer an attachment. A
/// text frame arriving while one is pending is a protocol error the driver
/// should treat as such; this type does not see it.
#[derive(Debug)]
pub struct BinaryAssembler {
    header: SioPacket,
    limits: BinaryLimits,
    attachments: Vec<Vec<u8>>,
}

impl BinaryAssembler {
    /// Starts collecting for `header`, refusing it before any frame is
    /// buffered if it is not a valid binary packet or announces more than
    /// `limits.max_attachments`. A header with 0 attachments completes at once.
    pub fn start(header: SioPacket, limits: BinaryLimits) -> Result<Assembly, CodecError> {
        if !header.kind.is_binary() {
            return Err(CodecError::NotBinary {
                kind: header.kind.name(),
            });
        }
        if header.attachments > limits.max_attachments {
            return Err(CodecError::TooManyAttachments {
                count: header.attachments,
                max: limits.max_attachments,
            });
        }
        header.validate()?;
        let assembler = BinaryAssembler {
            attachments: Vec::with_capacity(header.attachments),
            header,
            limits,
        };
        Ok(assembler.check_complete())
    }

    /// Adds the next binary frame, refusing it if longer than
    /// `limits.max_attachment_len`.
    pub fn push(mut self, frame: Vec<u8>) -> Result<Assembly, CodecError> {
        if frame.len() > self.limits.max_attachment_len {
            return Err(CodecError::AttachmentTooLarge {
                len: frame.len(),
                max: self.limits.max_attachment_len,
            });
        }
        self.attachments.push(frame);
        Ok(self.check_complete())
    }

    /// How many binary frames are still expected.
    pub fn remaining(&self) -> usize {
        self.header
            .attachments
            .saturating_sub(self.attachments.len())
    }

    /// The header being completed.
    pub fn header(&self) -> &SioPacket {
        &self.header
    }

    fn check_complete(self) -> Assembly {
        if self.attachments.len() < self.header.attachments {
            Assembly::Pending(self)
        } else {
            Assembly::Complete(BinaryPacket {
                packet: self.header,
                attachments: self.attachments,
            })
        }
    }
}
