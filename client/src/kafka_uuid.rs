//! How Kafka prints ids (cluster ids, topic ids): 16 bytes in URL-safe base64 without padding.

/// The 22-character form Kafka's tools print for a UUID (`TopicId: Hdn2Bz5LSaOyFwvWE5p2zg`).
pub fn kafka_uuid(id: &uuid::Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    let mut bits = 0u32;
    let mut acc = 0u32;
    for &b in id.as_bytes() {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_java_base64_url_encoder() {
        // java.util.Base64.getUrlEncoder().withoutPadding() of these bytes.
        let id = uuid::Uuid::from_bytes([
            0x1d, 0xd9, 0xf6, 0x07, 0x3e, 0x4b, 0x49, 0xa3, 0xb2, 0x17, 0x0b, 0xd6, 0x13, 0x9a, 0x76, 0xce,
        ]);
        assert_eq!(kafka_uuid(&id), "Hdn2Bz5LSaOyFwvWE5p2zg");
        assert_eq!(kafka_uuid(&uuid::Uuid::nil()), "AAAAAAAAAAAAAAAAAAAAAA");
    }
}
