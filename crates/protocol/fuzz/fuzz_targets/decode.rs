//! Feeds arbitrary bytes to both decoders.
//!
//! The bytes go in as lossy UTF-8 text, as an Engine.IO frame whose message is
//! then decoded as Socket.IO, and as binary attachment frames for any binary
//! header that decodes. Nothing may panic, and every packet that decodes must
//! encode to text that decodes to an equal packet.

#![no_main]

use frontdesk_protocol::engineio::{EioPacket, check_frame_len};
use frontdesk_protocol::socketio::{Assembly, BinaryAssembler, BinaryLimits, SioPacket};
use libfuzzer_sys::fuzz_target;

const MAX_FRAME: usize = 64 * 1024;

fn engineio(text: &str) -> Option<EioPacket> {
    let packet = EioPacket::decode_limited(text, MAX_FRAME).ok()?;
    let again = EioPacket::decode(&packet.encode()).expect("re-encoded engine.io packet decodes");
    assert_eq!(again, packet, "engine.io round trip of {text:?}");
    Some(packet)
}

fn socketio(text: &str, binary: &[u8]) {
    let Ok(packet) = SioPacket::decode(text) else {
        return;
    };
    let encoded = packet.encode();
    let again = SioPacket::decode(&encoded)
        .unwrap_or_else(|e| panic!("re-encoded {encoded:?} of {text:?} fails: {e}"));
    assert_eq!(again, packet, "socket.io round trip of {text:?}");
    let _ = (
        packet.event_name(),
        packet.event_args(),
        packet.ack_args(),
        packet.connect_error_message(),
        packet.sid(),
    );

    if packet.kind.is_binary() {
        // The fuzz input, cut in pieces, stands in for the attachment frames.
        let limits = BinaryLimits {
            max_attachments: 8,
            max_attachment_len: 32,
        };
        let mut chunks = binary.chunks(7);
        let mut state = BinaryAssembler::start(packet, limits);
        while let Ok(Assembly::Pending(asm)) = state {
            let frame = chunks.next().unwrap_or_default().to_vec();
            if check_frame_len(frame.len(), MAX_FRAME).is_err() {
                return;
            }
            state = asm.push(frame);
        }
        if let Ok(Assembly::Complete(done)) = state {
            assert_eq!(done.attachments.len(), done.packet.attachments);
            for value in done
                .packet
                .event_args()
                .iter()
                .chain(done.packet.ack_args())
            {
                let _ = done.attachment(value);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The whole input as a Socket.IO packet, and as an Engine.IO frame whose
    // message (if it is one) is a Socket.IO packet.
    socketio(&text, data);
    if let Some(EioPacket::Message(inner)) = engineio(&text) {
        socketio(&inner, data);
    }
    // A binary WebSocket frame is only ever size-checked at this layer.
    let _ = check_frame_len(data.len(), MAX_FRAME);
});
