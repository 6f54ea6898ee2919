//! A file's fingerprint: a CRC-64 of its first bytes. Device and inode say which file a path is
//! now; the fingerprint says whether its content is still what it was (not truncated and
//! rewritten, not a reused inode) and whether a new file is a copy of one already read.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use serde::{Deserialize, Serialize};

const CRC: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_ECMA_182);

/// The CRC-64 of a file's first `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// How many bytes it covers.
    pub len: u32,
    /// Their CRC-64 (ECMA-182).
    pub crc: u64,
}

/// The first `len` bytes of `file` (all of it if it is shorter).
pub(crate) fn head(file: &File, len: usize) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; len];
    let mut read = 0;
    while read < len {
        match file.read_at(&mut head[read..], read as u64) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(read);
    Ok(head)
}

/// Whether two files' first bytes agree as far as both go (and they have any).
pub(crate) fn same_start(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    n > 0 && a[..n] == b[..n]
}

impl Fingerprint {
    /// The fingerprint of `head`.
    pub(crate) fn of_bytes(head: &[u8]) -> Self {
        Self {
            len: u32::try_from(head.len()).unwrap_or(u32::MAX),
            crc: CRC.checksum(head),
        }
    }

    /// Whether a file starting with `head` starts with the bytes this fingerprint covers.
    pub(crate) fn matches(&self, head: &[u8]) -> bool {
        let len = self.len as usize;
        head.len() >= len && Self::of_bytes(&head[..len]) == *self
    }
}
