//! Batch compression codecs (gzip, snappy, lz4, zstd) with a cap on decompressed size, so that a
//! small hostile batch cannot inflate into gigabytes.

use std::borrow::Cow;
use std::io::Read;

use thiserror::Error;

use super::batch::{BatchHeader, Compression, HEADER_LEN};

/// Java clients frame snappy data this way (xerial snappy-java's stream format).
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

/// Compressing or decompressing failed.
#[derive(Debug, Error)]
pub enum CompressionError {
    /// The output would exceed the cap.
    #[error("{codec:?} data inflates past the limit of {limit} bytes")]
    TooLarge {
        /// Codec.
        codec: Compression,
        /// The cap.
        limit: usize,
    },
    /// The input is not valid for its codec.
    #[error("{codec:?} data is corrupt")]
    Corrupt {
        /// Codec.
        codec: Compression,
        /// The codec's reason.
        #[source]
        source: std::io::Error,
    },
}

fn corrupt(codec: Compression) -> impl FnOnce(std::io::Error) -> CompressionError {
    move |source| CompressionError::Corrupt { codec, source }
}

fn read_capped(codec: Compression, reader: impl Read, limit: usize) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(corrupt(codec))?;
    if out.len() > limit {
        return Err(CompressionError::TooLarge { codec, limit });
    }
    Ok(out)
}

fn snappy_raw(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CompressionError> {
    let codec = Compression::Snappy;
    let len = snap::raw::decompress_len(input).map_err(|e| corrupt(codec)(std::io::Error::other(e)))?;
    if out.len() + len > limit {
        return Err(CompressionError::TooLarge { codec, limit });
    }
    let start = out.len();
    out.resize(start + len, 0);
    snap::raw::Decoder::new()
        .decompress(input, &mut out[start..])
        .map_err(|e| corrupt(codec)(std::io::Error::other(e)))?;
    Ok(())
}

fn snappy(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    if !input.starts_with(XERIAL_MAGIC) {
        snappy_raw(input, &mut out, limit)?;
        return Ok(out);
    }
    let mut rest = input.get(XERIAL_HEADER_LEN..).unwrap_or_default();
    while !rest.is_empty() {
        let Some(len_bytes) = rest.get(..4) else {
            return Err(corrupt(Compression::Snappy)(std::io::ErrorKind::UnexpectedEof.into()));
        };
        let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        let Some(block) = rest.get(4..4 + len) else {
            return Err(corrupt(Compression::Snappy)(std::io::ErrorKind::UnexpectedEof.into()));
        };
        snappy_raw(block, &mut out, limit)?;
        rest = &rest[4 + len..];
    }
    Ok(out)
}

/// Decompresses `input`, refusing to produce more than `limit` bytes.
pub fn decompress(codec: Compression, input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(CompressionError::TooLarge { codec, limit });
            }
            Ok(input.to_vec())
        }
        Compression::Gzip => read_capped(codec, flate2::read::MultiGzDecoder::new(input), limit),
        Compression::Snappy => snappy(input, limit),
        Compression::Lz4 => read_capped(codec, lz4_flex::frame::FrameDecoder::new(input), limit),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(input).map_err(corrupt(codec))?;
            read_capped(codec, decoder, limit)
        }
    }
}

/// Compresses `input` the way Kafka clients do (snappy in xerial framing, as Java does).
pub fn compress(codec: Compression, input: &[u8]) -> Result<Vec<u8>, CompressionError> {
    use std::io::Write;
    match codec {
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(input).map_err(corrupt(codec))?;
            encoder.finish().map_err(corrupt(codec))
        }
        Compression::Snappy => {
            let mut out = Vec::with_capacity(input.len() / 2 + 64);
            out.extend_from_slice(XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut encoder = snap::raw::Encoder::new();
            for chunk in input.chunks(32 * 1024) {
                let block = encoder
                    .compress_vec(chunk)
                    .map_err(|e| corrupt(codec)(std::io::Error::other(e)))?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
            encoder.write_all(input).map_err(corrupt(codec))?;
            encoder.finish().map_err(|e| corrupt(codec)(std::io::Error::other(e)))
        }
        Compression::Zstd => zstd::stream::encode_all(input, 3).map_err(corrupt(codec)),
    }
}

/// The record area (bytes after the header) of a batch, decompressed if needed.
pub fn record_area<'a>(batch: &'a [u8], header: &BatchHeader, limit: usize) -> Result<Cow<'a, [u8]>, RecordAreaError> {
    let area = batch
        .get(HEADER_LEN..header.total_size())
        .ok_or(RecordAreaError::Truncated)?;
    match header.compression()? {
        Compression::None => Ok(Cow::Borrowed(area)),
        codec => Ok(Cow::Owned(decompress(codec, area, limit)?)),
    }
}

/// The record area of a batch could not be obtained.
#[derive(Debug, Error)]
pub enum RecordAreaError {
    /// The batch is shorter than its header says.
    #[error("batch shorter than its length field")]
    Truncated,
    /// The compression bits are invalid.
    #[error(transparent)]
    Batch(#[from] super::batch::BatchError),
    /// Decompression failed.
    #[error(transparent)]
    Compression(#[from] CompressionError),
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn every_codec_round_trips() {
        let input: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for codec in ALL {
            let packed = compress(codec, &input).expect("compress");
            assert_eq!(
                decompress(codec, &packed, input.len()).expect("decompress"),
                input,
                "{codec:?}"
            );
        }
    }

    #[test]
    fn raw_snappy_as_librdkafka_sends_it_is_accepted() {
        let packed = snap::raw::Encoder::new()
            .compress_vec(b"hello hello hello")
            .expect("compress");
        assert_eq!(
            decompress(Compression::Snappy, &packed, 100).expect("ok"),
            b"hello hello hello"
        );
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let zeros = vec![0u8; 10 << 20];
        for codec in ALL {
            let packed = compress(codec, &zeros).expect("compress");
            let err = decompress(codec, &packed, 1 << 20).expect_err("too large");
            assert!(matches!(err, CompressionError::TooLarge { .. }), "{codec:?}: {err}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in &ALL[1..] {
            assert!(
                decompress(*codec, b"\x82SNAPPY\x00garbage-garbage", 1000).is_err(),
                "{codec:?}"
            );
        }
    }
}
