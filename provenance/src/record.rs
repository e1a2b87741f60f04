//! sha256 records of the inputs behind a result.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::path::Path;

/// One input behind a result: where it was read from and the sha256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    pub path: String,
    pub sha256: String,
}

impl InputRecord {
    /// Hash a whole byte slice (for inputs that are already in memory, e.g. bundled data).
    pub fn of_bytes(path: impl Into<String>, bytes: &[u8]) -> Self {
        InputRecord {
            path: path.into(),
            sha256: hex::encode(Sha256::digest(bytes)),
        }
    }
}

/// A reader that hashes every byte that passes through it.
///
/// Wrap the file, read it as usual (line by line, through a decoder, ...), then call
/// [`HashingReader::finish`]. Bytes the consumer never read are drained and hashed
/// too, so the record is always the hash of the whole file.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Number of bytes hashed so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Drain what is left, and return the record for `path`.
    pub fn finish(mut self, path: &Path) -> io::Result<InputRecord> {
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = self.read(&mut buf)?;
            if n == 0 {
                break;
            }
        }
        Ok(InputRecord {
            path: path.display().to_string(),
            sha256: hex::encode(self.hasher.finalize()),
        })
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // sha256("abc") from FIPS 180-2, appendix B.1.
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn hashes_what_was_read_plus_the_rest() {
        let mut r = HashingReader::new(&b"abc"[..]);
        let mut first = [0u8; 1];
        r.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"a");
        let rec = r.finish(Path::new("x.txt")).unwrap();
        assert_eq!(rec.sha256, ABC);
        assert_eq!(rec.path, "x.txt");
    }

    #[test]
    fn of_bytes_matches_streaming() {
        assert_eq!(InputRecord::of_bytes("b", b"abc").sha256, ABC);
        assert_ne!(InputRecord::of_bytes("b", b"abd").sha256, ABC);
    }
}
