//! Lists that grow with the offer, kept on disk instead of in memory.
//!
//! An export gathers one change and one evaluation record per offer before its write
//! transaction; at national scale (a million sessions, ~285 000 offers, with each offer's
//! rule findings in French) holding them in memory took the peak well past 300 MB. A
//! [`Spill`] writes each record as a JSON line to an anonymous temporary file (deleted by
//! the system when closed, even after a kill) and reads them back in order, so the
//! export's memory no longer depends on the number of offers. [`Blobs`] does the same for
//! byte strings: the changed offers' stored (compressed) fragments, made while the offers
//! are evaluated and read back by the write transaction.
//!
//! Both are written and read past the page cache where the file system allows it
//! ([`DirectFile`]), like the document: each is read back once, and at a million sessions
//! they are about 2 GB that the kernel would otherwise copy into its cache and account on
//! the evaluating threads' time (`docs/BENCHMARKS.md`, session 10).

use std::io::{self, BufRead, BufReader, Read};
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::direct::{DirectFile, DirectReader, SPILL_BLOCK};

/// An anonymous temporary file of the system's temporary folder (deleted by the system
/// when closed, even after a kill), to be written past the page cache if possible.
fn spill_file() -> io::Result<DirectFile> {
    Ok(DirectFile::with_block(
        tempfile::tempfile()?,
        false,
        SPILL_BLOCK,
    ))
}

/// Records of type `T`, appended, then read back once in the same order.
pub struct Spill<T> {
    file: DirectFile,
    len: u64,
    _records: PhantomData<T>,
}

impl<T: Serialize + DeserializeOwned> Spill<T> {
    /// An empty list, in an anonymous file of the system's temporary folder.
    pub fn new() -> io::Result<Spill<T>> {
        Ok(Spill {
            file: spill_file()?,
            len: 0,
            _records: PhantomData,
        })
    }

    pub fn push(&mut self, record: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.file, record)?;
        self.file.write_all(b"\n")?;
        self.len += 1;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The records, in the order they were pushed.
    pub fn into_records(self) -> io::Result<Records<T>> {
        Ok(Records {
            // Lines are read from a small buffer over the reader's aligned block.
            lines: BufReader::with_capacity(64 * 1024, self.file.into_reader()?),
            line: String::new(),
            _records: PhantomData,
        })
    }
}

/// Reads a [`Spill`] back.
pub struct Records<T> {
    lines: BufReader<DirectReader>,
    line: String,
    _records: PhantomData<T>,
}

impl<T: DeserializeOwned> Records<T> {
    /// Up to `n` next records (none at the end).
    pub fn next_batch(&mut self, n: usize) -> io::Result<Vec<T>> {
        let mut out = Vec::with_capacity(n.min(4096));
        while out.len() < n {
            match self.next() {
                Some(r) => out.push(r?),
                None => break,
            }
        }
        Ok(out)
    }
}

impl<T: DeserializeOwned> Iterator for Records<T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<io::Result<T>> {
        self.line.clear();
        match self.lines.read_line(&mut self.line) {
            Ok(0) => None,
            Ok(_) => Some(serde_json::from_str(&self.line).map_err(io::Error::other)),
            Err(e) => Some(Err(e)),
        }
    }
}

/// Byte strings, appended, then read back once in the same order: each is its length (4
/// bytes, little endian) then its bytes, in an anonymous temporary file.
pub struct Blobs {
    file: DirectFile,
    len: u64,
}

impl Blobs {
    pub fn new() -> io::Result<Blobs> {
        Ok(Blobs {
            file: spill_file()?,
            len: 0,
        })
    }

    pub fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        let n = u32::try_from(bytes.len())
            .map_err(|_| io::Error::other("a byte string of 4 GiB or more"))?;
        self.file.write_all(&n.to_le_bytes())?;
        self.file.write_all(bytes)?;
        self.len += 1;
        Ok(())
    }

    /// Reads them back, first pushed first.
    pub fn into_reader(self) -> io::Result<BlobReader> {
        Ok(BlobReader {
            file: self.file.into_reader()?,
            left: self.len,
        })
    }
}

/// Reads [`Blobs`] back.
pub struct BlobReader {
    file: DirectReader,
    left: u64,
}

impl BlobReader {
    /// The next byte string; an error after the last one (the caller asked for more than
    /// it pushed, which is a bug, or the file was damaged).
    pub fn next_blob(&mut self) -> io::Result<Vec<u8>> {
        if self.left == 0 {
            return Err(io::Error::other("no byte string left in the spill file"));
        }
        let mut n = [0u8; 4];
        self.file.read_exact(&mut n)?;
        let mut bytes = vec![0; u32::from_le_bytes(n) as usize];
        self.file.read_exact(&mut bytes)?;
        self.left -= 1;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_strings_come_back_in_order_and_not_one_more() {
        let mut b = Blobs::new().unwrap();
        let strings: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| (0..(i * 7) % 5000).map(|j| (i ^ j) as u8).collect())
            .collect();
        for s in &strings {
            b.push(s).unwrap();
        }
        let mut r = b.into_reader().unwrap();
        for s in &strings {
            assert_eq!(&r.next_blob().unwrap(), s);
        }
        assert!(r.next_blob().is_err());
    }

    #[test]
    fn records_come_back_in_order_and_in_batches() {
        let mut s: Spill<(u32, String)> = Spill::new().unwrap();
        assert!(s.is_empty());
        for i in 0..2500u32 {
            s.push(&(i, format!("ligne {i} : « é »\n\"x\""))).unwrap();
        }
        assert_eq!(s.len(), 2500);
        let mut r = s.into_records().unwrap();
        let first = r.next_batch(1000).unwrap();
        assert_eq!(first.len(), 1000);
        assert_eq!(first[999], (999, "ligne 999 : « é »\n\"x\"".to_owned()));
        let rest: Vec<_> = r.map(|x| x.unwrap().0).collect();
        assert_eq!(rest, (1000..2500).collect::<Vec<_>>());
    }
}
