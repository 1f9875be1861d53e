//! Fuzz target: arbitrary bytes through every parser, accessor and verifier
//! of the codec. Nothing may panic, and a message that parses must frame as
//! exactly itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stun::{next_frame, ChannelData, FrameKind, LongTermKey, Message};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let frame = next_frame(data).ok().flatten();
        assert!(matches!(frame, Some(f) if f.kind == FrameKind::Stun && f.len == data.len()));
        for a in m.attributes() {
            let _ = (a.attribute_type.name(), a.value.len(), a.offset);
        }
        let _ = m.unknown_comprehension_required().count();
        let _ = (
            m.xor_mapped_address(),
            m.xor_peer_addresses().count(),
            m.xor_relayed_addresses().count(),
        );
        let _ = (
            m.mapped_address(),
            m.username(),
            m.userhash(),
            m.realm(),
            m.nonce(),
            m.software(),
        );
        let _ = m.password_algorithms().map(|o| o.map(|i| i.count()));
        let _ = (
            m.password_algorithm(),
            m.error_code(),
            m.address_error_code(),
        );
        let _ = m.unknown_attributes().map(|o| o.map(|i| i.count()));
        let _ = (
            m.lifetime(),
            m.requested_transport(),
            m.requested_address_family(),
            m.additional_address_family(),
        );
        let _ = (
            m.even_port(),
            m.reservation_token(),
            m.dont_fragment(),
            m.data(),
            m.channel_number(),
        );
        let _ = (
            m.connection_id(),
            m.icmp(),
            m.fingerprint(),
            m.message_integrity(),
            m.message_integrity_sha256(),
        );
        let key = LongTermKey::md5("user", "realm", "pass");
        let _ = (
            m.verify_integrity(key.as_bytes()),
            m.verify_integrity_sha1(b"k"),
            m.verify_fingerprint(),
        );
    }
    if let Ok(cd) = ChannelData::decode(data) {
        assert!(cd.data.len() + 4 <= data.len());
    }
    let _ = next_frame(data);
});
