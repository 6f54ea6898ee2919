//! The Java client's partitioner: murmur2 of the key for keyed records, so the same key lands on
//! the same partition as with the Java client; sticky partitioning (KIP-480) for the rest.

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`), seed `0x9747b28c`.
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = 0x9747_b28c ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The partition of a keyed record: `toPositive(murmur2(key)) % partitions`.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_java_partitioner() {
        // Reference values from kafka-python's murmur2, a port of the Java implementation.
        let cases: [(&[u8], u32, u32); 7] = [
            (b"", 275_646_681, 9),
            (b"a", 2_731_586_172, 4),
            (b"ab", 316_155_434, 2),
            (b"abc", 479_470_107, 3),
            (b"abcd", 2_971_317_748, 8),
            (b"key-1", 193_331_640, 0),
            (b"hello world", 1_221_641_059, 7),
        ];
        for (key, hash, partition) in cases {
            assert_eq!(murmur2(key), hash, "{key:?}");
            assert_eq!(partition_for_key(key, 12), partition, "{key:?}");
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(murmur2(&all), 2_346_620_022);
    }
}
