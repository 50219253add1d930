//! Engine.IO v4 and Socket.IO v5 codecs: encode/decode pairs (including every
//! example in the two protocol READMEs), reject cases for each malformed
//! shape, binary assembly, and a deterministic no-panic property test.

use frontdesk_protocol::engineio::{CodecError, EioPacket, Frame, OpenInfo, check_frame_len};
use frontdesk_protocol::socketio::{
    Assembly, BinaryAssembler, BinaryLimits, BinaryPacket, SioKind, SioPacket, placeholder,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------- helpers

/// Decodes `text`, checks it equals `expected`, and that encoding gives `text` back.
#[track_caller]
fn eio_pair(text: &str, expected: EioPacket) {
    let decoded = EioPacket::decode(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(decoded, expected, "decode {text:?}");
    assert_eq!(expected.encode(), text, "encode {expected:?}");
}

#[track_caller]
fn sio_pair(text: &str, expected: SioPacket) {
    let decoded = SioPacket::decode(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(decoded, expected, "decode {text:?}");
    assert_eq!(expected.encode(), text, "encode {expected:?}");
}

/// A full wire frame `4<socket.io packet>` through both layers.
#[track_caller]
fn wire_pair(frame: &str, expected: SioPacket) {
    let EioPacket::Message(text) = EioPacket::decode(frame).expect("engine.io decode") else {
        panic!("{frame:?} is not a message packet");
    };
    sio_pair(&text, expected.clone());
    assert_eq!(EioPacket::Message(expected.encode()).encode(), frame);
}

#[track_caller]
fn sio_err(text: &str) -> CodecError {
    match SioPacket::decode(text) {
        Ok(packet) => panic!("{text:?} decoded to {packet:?}, expected an error"),
        Err(e) => e,
    }
}

#[track_caller]
fn eio_err(text: &str) -> CodecError {
    match EioPacket::decode(text) {
        Ok(packet) => panic!("{text:?} decoded to {packet:?}, expected an error"),
        Err(e) => e,
    }
}

fn packet(
    kind: SioKind,
    nsp: &str,
    id: Option<u64>,
    data: Option<Value>,
    attachments: usize,
) -> SioPacket {
    SioPacket {
        kind,
        nsp: nsp.to_owned(),
        id,
        data,
        attachments,
    }
}

fn limits() -> BinaryLimits {
    BinaryLimits {
        max_attachments: 4,
        max_attachment_len: 16,
    }
}

// ------------------------------------------------------- engine.io pairs

#[test]
fn eio_open_handshake_from_the_docs() {
    let info = OpenInfo {
        sid: "lv_VI97HAXpY6yYWAAAC".into(),
        upgrades: vec!["websocket".into()],
        ping_interval: 25000,
        ping_timeout: 20000,
        max_payload: 1_000_000,
    };
    eio_pair(
        r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        EioPacket::Open(info.clone()),
    );
    // The socket.io README's sample session uses a 5 s timeout.
    eio_pair(
        r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}"#,
        EioPacket::Open(OpenInfo {
            ping_timeout: 5000,
            ..info
        }),
    );
}

#[test]
fn eio_open_ignores_unknown_fields_and_accepts_empty_upgrades() {
    let packet = EioPacket::decode(
        r#"0{"sid":"s","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":3,"extra":true}"#,
    )
    .unwrap();
    assert_eq!(
        packet,
        EioPacket::Open(OpenInfo {
            sid: "s".into(),
            upgrades: vec![],
            ping_interval: 1,
            ping_timeout: 2,
            max_payload: 3,
        })
    );
}

#[test]
fn eio_control_packets() {
    eio_pair("1", EioPacket::Close);
    eio_pair("2", EioPacket::Ping(String::new()));
    eio_pair("3", EioPacket::Pong(String::new()));
    eio_pair("2probe", EioPacket::Ping("probe".into()));
    eio_pair("3probe", EioPacket::Pong("probe".into()));
    eio_pair("5", EioPacket::Upgrade);
    eio_pair("6", EioPacket::Noop);
}

#[test]
fn eio_message_packets() {
    eio_pair("4hello", EioPacket::Message("hello".into()));
    eio_pair("4HelloWorld", EioPacket::Message("HelloWorld".into()));
    eio_pair("4", EioPacket::Message(String::new()));
    eio_pair("4héllo ✓ 🦀", EioPacket::Message("héllo ✓ 🦀".into()));
    eio_pair("42[\"foo\"]", EioPacket::Message("2[\"foo\"]".into()));
}

// ------------------------------------------------------- engine.io rejects

#[test]
fn eio_rejects_empty_and_unknown_types() {
    assert!(matches!(
        eio_err(""),
        CodecError::Empty { layer: "engine.io" }
    ));
    for (text, found) in [
        ("7", '7'),
        ("9x", '9'),
        ("a", 'a'),
        ("é4", 'é'),
        (" 4", ' '),
    ] {
        match eio_err(text) {
            CodecError::UnknownType {
                layer: "engine.io",
                found: f,
            } => assert_eq!(f, found),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn eio_rejects_data_on_dataless_packets() {
    for (text, kind) in [
        ("1x", "close"),
        ("1 ", "close"),
        ("5probe", "upgrade"),
        ("6\n", "noop"),
    ] {
        match eio_err(text) {
            CodecError::UnexpectedData { kind: k } => assert_eq!(k, kind),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn eio_rejects_bad_open_handshakes() {
    for text in [
        "0",
        "0{}",
        "0[]",
        "0{\"sid\":\"s\"}",
        r#"0{"sid":1,"upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":3}"#,
        r#"0{"sid":"s","upgrades":[],"pingInterval":-1,"pingTimeout":2,"maxPayload":3}"#,
        r#"0{"sid":"s","upgrades":[],"pingInterval":1.5,"pingTimeout":2,"maxPayload":3}"#,
        r#"0{"sid":"s","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":3}x"#,
        r#"0{"sid":"s","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":3"#,
    ] {
        assert!(
            matches!(eio_err(text), CodecError::InvalidOpen(_)),
            "{text:?}"
        );
    }
}

#[test]
fn frame_length_limit() {
    assert!(check_frame_len(0, 0).is_ok());
    assert!(check_frame_len(10, 10).is_ok());
    match check_frame_len(11, 10) {
        Err(CodecError::FrameTooLarge { len: 11, max: 10 }) => {}
        other => panic!("{other:?}"),
    }
    let err = check_frame_len(usize::MAX, 1).unwrap_err();
    assert!(err.to_string().contains("exceeds"), "{err}");

    assert_eq!(
        EioPacket::decode_limited("4hello", 6).unwrap(),
        EioPacket::Message("hello".into())
    );
    assert!(matches!(
        EioPacket::decode_limited("4hello!", 6),
        Err(CodecError::FrameTooLarge { len: 7, max: 6 })
    ));
    // The limit is checked before parsing: an oversized malformed frame is
    // "too large", not "unknown type".
    assert!(matches!(
        EioPacket::decode_limited("zzzz", 2),
        Err(CodecError::FrameTooLarge { .. })
    ));
    // Bytes, not chars.
    assert!(EioPacket::decode_limited("4é", 2).is_err());
}

#[test]
fn frame_enum() {
    let text = Frame::from(&EioPacket::Ping("probe".into()));
    assert_eq!(text, Frame::Text("2probe".into()));
    assert_eq!(text.len(), 6);
    assert!(text.check_len(6).is_ok());
    assert!(text.check_len(5).is_err());
    let binary = Frame::Binary(vec![1, 2, 3]);
    assert_eq!(binary.len(), 3);
    assert!(!binary.is_empty());
    assert!(matches!(
        binary.check_len(2),
        Err(CodecError::FrameTooLarge { len: 3, max: 2 })
    ));
    assert!(Frame::Text(String::new()).is_empty());
}

// ------------------------------------------------------- socket.io pairs

#[test]
fn sio_readme_connect_examples() {
    sio_pair("0", SioPacket::connect("/", None));
    sio_pair(
        r#"0{"sid":"wZX3oN0bSVIhsaknAAAI"}"#,
        SioPacket::connect("/", Some(json!({"sid": "wZX3oN0bSVIhsaknAAAI"}))),
    );
    sio_pair("0/admin,", SioPacket::connect("/admin", None));
    sio_pair(
        r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
        SioPacket::connect("/admin", Some(json!({"sid": "oSO0OpakMV_3jnilAAAA"}))),
    );
    sio_pair(
        r#"0/admin,{"token":"123"}"#,
        SioPacket::connect("/admin", Some(json!({"token": "123"}))),
    );
    sio_pair(
        r#"4{"message":"Not authorized"}"#,
        SioPacket::connect_error("/", "Not authorized"),
    );
}

#[test]
fn sio_readme_event_examples() {
    sio_pair(r#"2["foo"]"#, SioPacket::event("/", "foo", vec![], None));
    sio_pair(
        r#"2/admin,["bar"]"#,
        SioPacket::event("/admin", "bar", vec![], None),
    );
    sio_pair(
        r#"2["hey","Jude"]"#,
        SioPacket::event("/", "hey", vec![json!("Jude")], None),
    );
    sio_pair(
        r#"51-["baz",{"_placeholder":true,"num":0}]"#,
        packet(
            SioKind::BinaryEvent,
            "/",
            None,
            Some(json!(["baz", placeholder(0)])),
            1,
        ),
    );
    sio_pair(
        r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        packet(
            SioKind::BinaryEvent,
            "/admin",
            None,
            Some(json!(["baz", placeholder(0), placeholder(1)])),
            2,
        ),
    );
}

#[test]
fn sio_readme_ack_examples() {
    sio_pair(
        r#"212["foo"]"#,
        SioPacket::event("/", "foo", vec![], Some(12)),
    );
    sio_pair("312[]", SioPacket::ack("/", 12, vec![]));
    sio_pair(
        r#"2/admin,13["foo"]"#,
        SioPacket::event("/admin", "foo", vec![], Some(13)),
    );
    sio_pair(
        r#"3/admin,13["bar"]"#,
        SioPacket::ack("/admin", 13, vec![json!("bar")]),
    );
    sio_pair(
        r#"51-14["foo",{"_placeholder":true,"num":0}]"#,
        packet(
            SioKind::BinaryEvent,
            "/",
            Some(14),
            Some(json!(["foo", placeholder(0)])),
            1,
        ),
    );
    sio_pair(r#"314["bar"]"#, SioPacket::ack("/", 14, vec![json!("bar")]));
    sio_pair(
        r#"215["foo"]"#,
        SioPacket::event("/", "foo", vec![], Some(15)),
    );
    sio_pair(
        r#"61-15["bar",{"_placeholder":true,"num":0}]"#,
        packet(
            SioKind::BinaryAck,
            "/",
            Some(15),
            Some(json!(["bar", placeholder(0)])),
            1,
        ),
    );
}

#[test]
fn sio_readme_disconnect_examples() {
    sio_pair("1", SioPacket::disconnect("/"));
    sio_pair("1/admin,", SioPacket::disconnect("/admin"));
}

#[test]
fn full_wire_frames_from_the_docs() {
    wire_pair("40", SioPacket::connect("/", None));
    wire_pair(
        r#"40{"sid":"wZX3oN0bSVIhsaknAAAI"}"#,
        SioPacket::connect("/", Some(json!({"sid": "wZX3oN0bSVIhsaknAAAI"}))),
    );
    wire_pair("40/admin,", SioPacket::connect("/admin", None));
    wire_pair(
        r#"40/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
        SioPacket::connect("/admin", Some(json!({"sid": "oSO0OpakMV_3jnilAAAA"}))),
    );
    wire_pair(
        r#"40/admin,{"sid":"-G5j-67EZFp-q59rADQM"}"#,
        SioPacket::connect("/admin", Some(json!({"sid": "-G5j-67EZFp-q59rADQM"}))),
    );
    wire_pair(
        r#"44{"message":"Not authorized"}"#,
        SioPacket::connect_error("/", "Not authorized"),
    );
    wire_pair(r#"42["foo"]"#, SioPacket::event("/", "foo", vec![], None));
    wire_pair(
        r#"42["hello"]"#,
        SioPacket::event("/", "hello", vec![], None),
    );
    wire_pair(
        r#"42/admin,13["project:delete",123]"#,
        SioPacket::event("/admin", "project:delete", vec![json!(123)], Some(13)),
    );
    wire_pair(
        r#"42/admin,1["tellme"]"#,
        SioPacket::event("/admin", "tellme", vec![], Some(1)),
    );
    wire_pair("43/admin,13[]", SioPacket::ack("/admin", 13, vec![]));
    wire_pair(
        r#"451-["hello",{"_placeholder":true,"num":0}]"#,
        packet(
            SioKind::BinaryEvent,
            "/",
            None,
            Some(json!(["hello", placeholder(0)])),
            1,
        ),
    );
    wire_pair(
        r#"461-/admin,13[{"_placeholder":true,"num":0}]"#,
        packet(
            SioKind::BinaryAck,
            "/admin",
            Some(13),
            Some(json!([placeholder(0)])),
            1,
        ),
    );
    wire_pair(
        r#"461-/admin,1[{"_placeholder":true,"num":0}]"#,
        packet(
            SioKind::BinaryAck,
            "/admin",
            Some(1),
            Some(json!([placeholder(0)])),
            1,
        ),
    );
    wire_pair("41", SioPacket::disconnect("/"));
    wire_pair("41/admin,", SioPacket::disconnect("/admin"));
}

#[test]
fn sio_every_kind_round_trips_with_and_without_namespace() {
    let samples = [
        SioPacket::connect("/", None),
        SioPacket::connect("/", Some(json!({"token": "abc", "n": [1, 2.5, null]}))),
        SioPacket::disconnect("/"),
        SioPacket::event(
            "/",
            "chat:message",
            vec![json!({"body": "hi"}), json!(null)],
            None,
        ),
        SioPacket::event("/", "typing", vec![], Some(u64::MAX)),
        SioPacket::ack("/", 0, vec![]),
        SioPacket::ack("/", 7, vec![json!({"ok": true}), json!([1, "two"])]),
        SioPacket::connect_error("/", "token expired"),
        packet(SioKind::ConnectError, "/", None, Some(json!("legacy")), 0),
        packet(
            SioKind::BinaryEvent,
            "/",
            Some(3),
            Some(json!(["upload", {"file": placeholder(1), "thumb": placeholder(0)}])),
            2,
        ),
        packet(
            SioKind::BinaryAck,
            "/",
            Some(4),
            Some(json!([placeholder(0)])),
            1,
        ),
        packet(SioKind::BinaryEvent, "/", None, Some(json!(["empty"])), 0),
    ];
    for sample in samples {
        for nsp in ["/", "/admin", "/clinic/front-desk", "/é🦀", "/"] {
            let mut sample = sample.clone();
            sample.nsp = nsp.to_owned();
            let text = sample.encode();
            assert_eq!(
                SioPacket::decode(&text).unwrap_or_else(|e| panic!("{text:?}: {e}")),
                sample,
                "{text:?}"
            );
        }
    }
}

#[test]
fn sio_lenient_forms_decode_to_canonical_packets() {
    // Explicit main namespace, leading zeros and JSON whitespace are accepted
    // and re-encode canonically.
    let cases = [
        (r#"2/,["a"]"#, r#"2["a"]"#),
        ("0/,", "0"),
        (r#"2007["a"]"#, r#"27["a"]"#),
        (
            r#"501-["a",{"_placeholder":true,"num":0}]"#,
            r#"51-["a",{"_placeholder":true,"num":0}]"#,
        ),
        (r#"2 [ "a" , 1 ] "#, r#"2["a",1]"#),
        (r#"0{"b":1,"a":2}"#, r#"0{"a":2,"b":1}"#),
    ];
    for (lenient, canonical) in cases {
        let decoded = SioPacket::decode(lenient).unwrap_or_else(|e| panic!("{lenient:?}: {e}"));
        assert_eq!(decoded.encode(), canonical);
        assert_eq!(SioPacket::decode(canonical).unwrap(), decoded);
    }
}

#[test]
fn sio_ack_id_bounds() {
    let max = format!("2{}[\"a\"]", u64::MAX);
    assert_eq!(SioPacket::decode(&max).unwrap().id, Some(u64::MAX));
    assert_eq!(SioPacket::decode("30[]").unwrap().id, Some(0));
}

// ------------------------------------------------------- accessors

#[test]
fn sio_accessors() {
    let event = SioPacket::decode(r#"2/admin,13["project:delete",123,{"x":1}]"#).unwrap();
    assert_eq!(event.event_name(), Some("project:delete"));
    assert_eq!(event.event_args(), &[json!(123), json!({"x": 1})]);
    assert_eq!(event.ack_args(), &[] as &[Value]);
    assert_eq!(event.id, Some(13));
    assert_eq!(event.nsp, "/admin");

    let bare = SioPacket::decode(r#"2["ping"]"#).unwrap();
    assert_eq!(bare.event_name(), Some("ping"));
    assert!(bare.event_args().is_empty());

    let ack = SioPacket::decode(r#"3/admin,13["bar",1]"#).unwrap();
    assert_eq!(ack.event_name(), None);
    assert!(ack.event_args().is_empty());
    assert_eq!(ack.ack_args(), &[json!("bar"), json!(1)]);

    let binary = SioPacket::decode(r#"51-["up",{"_placeholder":true,"num":0}]"#).unwrap();
    assert_eq!(binary.event_name(), Some("up"));
    assert_eq!(binary.event_args(), &[placeholder(0)]);

    let connected = SioPacket::decode(r#"0{"sid":"abc"}"#).unwrap();
    assert_eq!(connected.sid(), Some("abc"));
    assert_eq!(connected.event_name(), None);
    assert_eq!(SioPacket::connect("/", None).sid(), None);

    assert_eq!(
        SioPacket::decode(r#"4{"message":"Not authorized","data":{"code":401}}"#)
            .unwrap()
            .connect_error_message(),
        Some("Not authorized")
    );
    assert_eq!(
        SioPacket::decode(r#"4"Invalid namespace""#)
            .unwrap()
            .connect_error_message(),
        Some("Invalid namespace")
    );
    assert_eq!(SioPacket::connect("/", None).connect_error_message(), None);
}

#[test]
fn sio_kind_digits_and_names() {
    let all = [
        SioKind::Connect,
        SioKind::Disconnect,
        SioKind::Event,
        SioKind::Ack,
        SioKind::ConnectError,
        SioKind::BinaryEvent,
        SioKind::BinaryAck,
    ];
    for (n, kind) in all.into_iter().enumerate() {
        assert_eq!(kind as usize, n);
        assert_eq!(kind.digit().to_digit(10), Some(n as u32));
        assert_eq!(SioKind::from_digit(kind.digit() as u8), Some(kind));
        assert!(!kind.name().is_empty());
    }
    assert_eq!(SioKind::from_digit(b'7'), None);
    assert_eq!(SioKind::from_digit(b'a'), None);
}

// ------------------------------------------------------- socket.io rejects

#[test]
fn sio_rejects_empty_and_unknown_types() {
    assert!(matches!(
        sio_err(""),
        CodecError::Empty { layer: "socket.io" }
    ));
    for (text, found) in [
        ("7", '7'),
        ("9[]", '9'),
        ("a", 'a'),
        ("é", 'é'),
        ("-1", '-'),
    ] {
        match sio_err(text) {
            CodecError::UnknownType {
                layer: "socket.io",
                found: f,
            } => assert_eq!(f, found, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn sio_rejects_bad_attachment_counts() {
    for text in [
        "5",
        r#"5["a"]"#,
        r#"5-["a"]"#,
        r#"51["a"]"#,
        r#"5x-["a"]"#,
        r#"5 1-["a"]"#,
        r#"5/admin,1-["a"]"#,
        "6",
        r#"61[]"#,
        "61",
    ] {
        assert!(
            matches!(sio_err(text), CodecError::BadAttachmentCount),
            "{text:?}"
        );
    }
    assert!(matches!(
        sio_err(r#"599999999999999999999999-["a"]"#),
        CodecError::NumberOverflow {
            what: "attachment count"
        }
    ));
}

#[test]
fn sio_rejects_ack_id_overflow() {
    for text in [
        r#"218446744073709551616["a"]"#,
        r#"299999999999999999999999999999["a"]"#,
        "3/admin,18446744073709551616[]",
        &format!("3{}[]", "9".repeat(10_000)),
    ] {
        assert!(
            matches!(sio_err(text), CodecError::NumberOverflow { what: "ack id" }),
            "{text:?}"
        );
    }
}

#[test]
fn sio_rejects_unterminated_namespace() {
    for text in [
        "0/admin",
        "1/admin",
        r#"2/admin["a"]"#,
        "3/admin13[]",
        "51-/admin",
        "0/",
    ] {
        assert!(
            matches!(sio_err(text), CodecError::UnterminatedNamespace),
            "{text:?}"
        );
    }
}

#[test]
fn sio_rejects_invalid_json_and_trailing_garbage() {
    for text in [
        r#"2["a""#,
        r#"2["a"]x"#,
        r#"2["a"]]"#,
        r#"2["a"],"#,
        r#"2["a"]["b"]"#,
        "0{",
        "0{sid:1}",
        r#"0{"sid":"a"}}"#,
        "3/admin,13[]junk",
        r#"4{"message":"x"}!"#,
        r#"2['a']"#,
        "2x",
        "2/admin,x",
        r#"2/admin,1x["a"]"#,
        r#"2["\ud800"]"#,
        "2[1e999]",
    ] {
        assert!(
            matches!(sio_err(text), CodecError::InvalidJson(_)),
            "{text:?}: {:?}",
            SioPacket::decode(text)
        );
    }
}

#[test]
fn sio_deep_json_is_an_error_not_a_stack_overflow() {
    let deep = format!("2{}", "[".repeat(100_000));
    assert!(matches!(sio_err(&deep), CodecError::InvalidJson(_)));
    let deep_closed = format!("2[\"a\",{}{}]", "[".repeat(5_000), "]".repeat(5_000));
    assert!(matches!(sio_err(&deep_closed), CodecError::InvalidJson(_)));
}

#[test]
fn sio_rejects_missing_payloads() {
    for (text, kind) in [
        ("2", "EVENT"),
        ("2/admin,", "EVENT"),
        ("212", "EVENT"),
        ("31", "ACK"),
        ("3/admin,13", "ACK"),
        ("4", "CONNECT_ERROR"),
        ("4/admin,", "CONNECT_ERROR"),
        ("50-", "BINARY_EVENT"),
        ("60-1", "BINARY_ACK"),
    ] {
        match sio_err(text) {
            CodecError::MissingPayload { kind: k } => assert_eq!(k, kind, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn sio_rejects_wrong_payload_shapes() {
    for (text, kind) in [
        ("0[]", "CONNECT"),
        (r#"0"auth""#, "CONNECT"),
        ("0null", "CONNECT"),
        ("0/admin,true", "CONNECT"),
        ("2[]", "EVENT"),
        ("2[1]", "EVENT"),
        ("2[null,\"a\"]", "EVENT"),
        (r#"2[["a"]]"#, "EVENT"),
        (r#"2{"a":1}"#, "EVENT"),
        (r#"2"foo""#, "EVENT"),
        ("2null", "EVENT"),
        ("31{}", "ACK"),
        (r#"31"a""#, "ACK"),
        ("31null", "ACK"),
        ("4[]", "CONNECT_ERROR"),
        ("4{}", "CONNECT_ERROR"),
        (r#"4{"message":1}"#, "CONNECT_ERROR"),
        (r#"4{"msg":"x"}"#, "CONNECT_ERROR"),
        ("4null", "CONNECT_ERROR"),
        ("4true", "CONNECT_ERROR"),
        ("50-[]", "BINARY_EVENT"),
        ("50-{}", "BINARY_EVENT"),
        ("50-[7]", "BINARY_EVENT"),
        ("60-1{}", "BINARY_ACK"),
    ] {
        match sio_err(text) {
            CodecError::InvalidPayload { kind: k, .. } => assert_eq!(k, kind, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
    for text in ["1{}", "1[]", "1/admin,null", r#"1"bye""#] {
        assert!(
            matches!(
                sio_err(text),
                CodecError::UnexpectedData { kind: "DISCONNECT" }
            ),
            "{text:?}"
        );
    }
}

#[test]
fn sio_rejects_ack_ids_where_they_do_not_belong() {
    for (text, kind) in [
        ("01", "CONNECT"),
        (r#"0/admin,5{"token":"x"}"#, "CONNECT"),
        ("11", "DISCONNECT"),
        ("1/admin,2", "DISCONNECT"),
        (r#"41{"message":"x"}"#, "CONNECT_ERROR"),
        // A number payload reads as an ack id, then is refused as one.
        ("45", "CONNECT_ERROR"),
    ] {
        match sio_err(text) {
            CodecError::UnexpectedAckId { kind: k } => assert_eq!(k, kind, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
    for (text, kind) in [
        ("3[]", "ACK"),
        ("3/admin,[]", "ACK"),
        ("3", "ACK"),
        (r#"61-[{"_placeholder":true,"num":0}]"#, "BINARY_ACK"),
    ] {
        match sio_err(text) {
            CodecError::MissingAckId { kind: k } => assert_eq!(k, kind, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn sio_rejects_bad_placeholders() {
    assert!(matches!(
        sio_err(r#"51-["a"]"#),
        CodecError::UnusedAttachment(0)
    ));
    assert!(matches!(
        sio_err(r#"52-["a",{"_placeholder":true,"num":0}]"#),
        CodecError::UnusedAttachment(1)
    ));
    assert!(matches!(
        sio_err(r#"53-["a",{"_placeholder":true,"num":2},{"_placeholder":true,"num":0}]"#),
        CodecError::UnusedAttachment(1)
    ));
    // A huge announced count is refused by counting placeholders, without
    // allocating a flag per announced attachment.
    assert!(matches!(
        sio_err(r#"518446744073709551615-["a",{"_placeholder":true,"num":0}]"#),
        CodecError::UnusedAttachment(1)
    ));
    // `_placeholder` other than `true` is ordinary data.
    assert!(matches!(
        sio_err(r#"51-["a",{"_placeholder":false,"num":0}]"#),
        CodecError::UnusedAttachment(0)
    ));
    match sio_err(r#"51-["a",{"_placeholder":true,"num":1}]"#) {
        CodecError::PlaceholderOutOfRange {
            num: 1,
            attachments: 1,
        } => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        sio_err(r#"50-["a",{"_placeholder":true,"num":0}]"#),
        CodecError::PlaceholderOutOfRange {
            num: 0,
            attachments: 0
        }
    ));
    for num in [r#""0""#, "-1", "0.5", "null", "[0]", "1e2"] {
        let text = format!(r#"51-["a",{{"_placeholder":true,"num":{num}}}]"#);
        assert!(
            matches!(sio_err(&text), CodecError::InvalidPlaceholder),
            "{text:?}"
        );
    }
    assert!(matches!(
        sio_err(r#"51-["a",{"_placeholder":true}]"#),
        CodecError::InvalidPlaceholder
    ));
}

#[test]
fn sio_accepts_nested_and_repeated_placeholders() {
    let text = r#"62-9[{"a":[{"b":{"_placeholder":true,"num":1}}]},{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    let decoded = SioPacket::decode(text).unwrap();
    assert_eq!(decoded.attachments, 2);
    assert_eq!(decoded.encode(), text);
    // Placeholders in a non-binary packet are just data.
    let plain = SioPacket::decode(r#"2["a",{"_placeholder":true,"num":5}]"#).unwrap();
    assert_eq!(plain.attachments, 0);
}

#[test]
fn validate_catches_hand_built_mistakes() {
    let mut bad_nsp = SioPacket::event("admin", "x", vec![], None);
    assert!(matches!(
        bad_nsp.validate(),
        Err(CodecError::InvalidNamespace(n)) if n == "admin"
    ));
    bad_nsp.nsp = "/a,b".into();
    assert!(matches!(
        bad_nsp.validate(),
        Err(CodecError::InvalidNamespace(_))
    ));
    bad_nsp.nsp = String::new();
    assert!(bad_nsp.validate().is_err());

    let mut attached = SioPacket::event("/", "x", vec![], None);
    attached.attachments = 1;
    assert!(matches!(
        attached.validate(),
        Err(CodecError::UnexpectedAttachments { kind: "EVENT" })
    ));

    let mut disconnect = SioPacket::disconnect("/");
    disconnect.id = Some(1);
    assert!(matches!(
        disconnect.validate(),
        Err(CodecError::UnexpectedAckId { .. })
    ));

    for ok in [
        SioPacket::connect("/", None),
        SioPacket::connect("/a", Some(json!({}))),
        SioPacket::disconnect("/"),
        SioPacket::event("/", "x", vec![json!(1)], Some(1)),
        SioPacket::ack("/", 1, vec![]),
        SioPacket::connect_error("/", "no"),
    ] {
        assert!(ok.validate().is_ok(), "{ok:?}");
    }
}

#[test]
fn errors_have_readable_messages() {
    let cases = [
        ("", "empty socket.io packet"),
        ("9", "unknown socket.io packet type '9'"),
        ("0/admin", "namespace is not terminated"),
        ("2[]", "invalid EVENT payload: expected a non-empty array"),
        ("3[]", "ACK packet requires an ack id"),
        (r#"218446744073709551616["a"]"#, "ack id overflows 64 bits"),
        (r#"2["a"]x"#, "invalid JSON payload"),
        (
            r#"51-["a"]"#,
            "attachment 0 is announced but never referenced",
        ),
    ];
    for (text, message) in cases {
        let err = sio_err(text).to_string();
        assert!(err.contains(message), "{text:?}: {err:?}");
    }
}

// ------------------------------------------------------- binary assembly

#[test]
fn assembler_collects_attachments_in_order() {
    let header = SioPacket::decode(
        r#"52-/admin,7["scan",{"front":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":1}]"#,
    )
    .unwrap();
    let Assembly::Pending(asm) = BinaryAssembler::start(header.clone(), limits()).unwrap() else {
        panic!("two attachments are pending");
    };
    assert_eq!(asm.remaining(), 2);
    assert_eq!(asm.header(), &header);
    let Assembly::Pending(asm) = asm.push(vec![1, 2]).unwrap() else {
        panic!("one attachment is pending");
    };
    assert_eq!(asm.remaining(), 1);
    let Assembly::Complete(done) = asm.push(vec![3, 4, 5]).unwrap() else {
        panic!("complete after two");
    };
    assert_eq!(
        done,
        BinaryPacket {
            packet: header,
            attachments: vec![vec![1, 2], vec![3, 4, 5]],
        }
    );
    let args = done.packet.event_args();
    assert_eq!(done.attachment(&args[0]["front"]), Some(&[1u8, 2][..]));
    assert_eq!(done.attachment(&args[1]), Some(&[3u8, 4, 5][..]));
    assert_eq!(done.attachment(&args[0]), None);
    assert_eq!(done.attachment(&json!("scan")), None);
    assert_eq!(done.attachment(&placeholder(2)), None);
}

#[test]
fn assembler_binary_ack_and_empty_attachment() {
    let header = SioPacket::decode(r#"61-15["bar",{"_placeholder":true,"num":0}]"#).unwrap();
    let Assembly::Pending(asm) = BinaryAssembler::start(header, limits()).unwrap() else {
        panic!("pending");
    };
    let Assembly::Complete(done) = asm.push(Vec::new()).unwrap() else {
        panic!("complete");
    };
    assert_eq!(done.packet.ack_args()[0], json!("bar"));
    assert_eq!(done.attachment(&done.packet.ack_args()[1]), Some(&[][..]));
}

#[test]
fn assembler_completes_at_once_without_attachments() {
    let header = SioPacket::decode(r#"50-["nothing"]"#).unwrap();
    match BinaryAssembler::start(header.clone(), limits()).unwrap() {
        Assembly::Complete(done) => {
            assert_eq!(done.packet, header);
            assert!(done.attachments.is_empty());
        }
        Assembly::Pending(_) => panic!("nothing to wait for"),
    }
}

#[test]
fn assembler_enforces_limits() {
    let five = SioPacket::decode(&format!(
        r#"55-["a",{}]"#,
        (0..5)
            .map(|n| placeholder(n).to_string())
            .collect::<Vec<_>>()
            .join(",")
    ))
    .unwrap();
    assert!(matches!(
        BinaryAssembler::start(five, limits()),
        Err(CodecError::TooManyAttachments { count: 5, max: 4 })
    ));

    let header = SioPacket::decode(r#"51-["a",{"_placeholder":true,"num":0}]"#).unwrap();
    let Ok(Assembly::Pending(asm)) = BinaryAssembler::start(header.clone(), limits()) else {
        panic!("pending");
    };
    assert!(matches!(
        asm.push(vec![0; 17]),
        Err(CodecError::AttachmentTooLarge { len: 17, max: 16 })
    ));
    let Ok(Assembly::Pending(asm)) = BinaryAssembler::start(header, limits()) else {
        panic!("pending");
    };
    assert!(matches!(asm.push(vec![0; 16]), Ok(Assembly::Complete(_))));

    let none = BinaryLimits {
        max_attachments: 0,
        max_attachment_len: 0,
    };
    let header = SioPacket::decode(r#"51-["a",{"_placeholder":true,"num":0}]"#).unwrap();
    assert!(matches!(
        BinaryAssembler::start(header, none),
        Err(CodecError::TooManyAttachments { count: 1, max: 0 })
    ));
}

#[test]
fn assembler_refuses_non_binary_and_invalid_headers() {
    assert!(matches!(
        BinaryAssembler::start(SioPacket::event("/", "a", vec![], None), limits()),
        Err(CodecError::NotBinary { kind: "EVENT" })
    ));
    assert!(matches!(
        BinaryAssembler::start(SioPacket::ack("/", 1, vec![]), limits()),
        Err(CodecError::NotBinary { kind: "ACK" })
    ));
    // Built in code, not decoded: the assembler still validates it.
    let hand_built = packet(
        SioKind::BinaryEvent,
        "/",
        None,
        Some(json!(["a", placeholder(3)])),
        1,
    );
    assert!(matches!(
        BinaryAssembler::start(hand_built, limits()),
        Err(CodecError::PlaceholderOutOfRange { num: 3, .. })
    ));
}

// ------------------------------------------------------- property test

/// xorshift64*: deterministic, so a failure reproduces from the printed input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SEEDS: &[&str] = &[
    r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
    "40",
    r#"40/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
    r#"44{"message":"Not authorized"}"#,
    r#"42["foo"]"#,
    r#"42/admin,13["project:delete",123]"#,
    "43/admin,13[]",
    r#"451-["hello",{"_placeholder":true,"num":0}]"#,
    r#"461-/admin,13[{"_placeholder":true,"num":0}]"#,
    r#"452-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    "41",
    "41/admin,",
    "2probe",
    "3probe",
    "5",
    "6",
    "4hello",
    r#"44"legacy""#,
];

const PIECES: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "9",
    "-",
    "/",
    ",",
    "[",
    "]",
    "{",
    "}",
    "\"",
    ":",
    "/admin,",
    "\"_placeholder\"",
    "true",
    "\"num\"",
    "null",
    "é",
    "🦀",
    "\\",
    "\\u0000",
    " ",
    "18446744073709551615",
    "18446744073709551616",
    "{\"_placeholder\":true,\"num\":0}",
];

/// Decodes `text` at both layers; whatever decodes must re-encode to an equal
/// packet, and binary headers must go through the assembler.
fn check_no_panic_and_round_trip(text: &str, rng: &mut Rng) {
    if let Ok(packet) = EioPacket::decode(text) {
        let again = EioPacket::decode(&packet.encode());
        assert_eq!(again.ok().as_ref(), Some(&packet), "engine.io {text:?}");
    }
    if let Ok(packet) = SioPacket::decode(text) {
        let again = SioPacket::decode(&packet.encode());
        assert_eq!(again.ok().as_ref(), Some(&packet), "socket.io {text:?}");
        // Accessors never panic either.
        packet_accessors(&packet);
        if packet.kind.is_binary() {
            let mut state = BinaryAssembler::start(packet, limits());
            while let Ok(Assembly::Pending(asm)) = state {
                let len = rng.below(20);
                state = asm.push(vec![0xAB; len]);
            }
        }
    }
}

fn packet_accessors(packet: &SioPacket) -> usize {
    packet.event_name().map_or(0, str::len)
        + packet.event_args().len()
        + packet.ack_args().len()
        + packet.connect_error_message().map_or(0, str::len)
        + packet.sid().map_or(0, str::len)
}

fn mutate(rng: &mut Rng, seed: &str) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for _ in 0..=rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(6) {
            0 if at < chars.len() => {
                chars.remove(at);
            }
            1 if at < chars.len() => {
                chars[at] = *rng.pick(&['0', '9', '-', '/', ',', '[', '"', 'é'])
            }
            2 => {
                for (i, c) in rng.pick(PIECES).chars().enumerate() {
                    chars.insert(at + i, c);
                }
            }
            3 => chars.truncate(at),
            4 if at < chars.len() => {
                // Duplicate a span.
                let end = (at + rng.below(8)).min(chars.len());
                let span: Vec<char> = chars[at..end].to_vec();
                for (i, c) in span.into_iter().enumerate() {
                    chars.insert(end + i, c);
                }
            }
            _ => {
                let c = char::from_u32(rng.next() as u32 % 0x800).unwrap_or('\u{fffd}');
                chars.insert(at, c);
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn decoders_never_panic_on_mutated_or_random_input() {
    let mut rng = Rng(0x5EED_F00D_D00D_FEED);
    let mut decoded = 0usize;
    for _ in 0..20_000 {
        let seed = *rng.pick(SEEDS);
        let text = mutate(&mut rng, seed);
        // Each seed is a wire frame; also try its socket.io part alone.
        check_no_panic_and_round_trip(&text, &mut rng);
        if let Some(inner) = text.strip_prefix('4') {
            check_no_panic_and_round_trip(inner, &mut rng);
            decoded += usize::from(SioPacket::decode(inner).is_ok());
        }
    }
    for _ in 0..20_000 {
        let text: String = (0..rng.below(12)).map(|_| *rng.pick(PIECES)).collect();
        check_no_panic_and_round_trip(&text, &mut rng);
        decoded += usize::from(SioPacket::decode(&text).is_ok());
    }
    // The generator must reach the success paths too, or the round-trip half
    // of the property tests nothing.
    assert!(decoded > 1_000, "only {decoded} inputs decoded");
}
