//! Reading input files line by line, safely: plain or gzip (by magic bytes, not by
//! name), a hard cap on line length and on a gzip file's decompressed size, invalid
//! UTF-8 reported with its line.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;

/// Longest accepted line. One SOFI action with dozens of sessions and 3000-character
/// texts stays far below; a larger line is a broken file, not an offer.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Default of `[import] max_gunzipped_bytes`: 16 GiB, some ten times the largest
/// regional extract imaginable; a few kilobytes of gzip can otherwise expand to terabytes.
pub const DEFAULT_MAX_GUNZIPPED_BYTES: u64 = 16 << 30;

static MAX_GUNZIPPED_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_GUNZIPPED_BYTES);

/// Sets the decompressed size past which a gzipped input is refused (from the
/// configuration, once at start-up).
pub fn set_max_gunzipped_bytes(max: u64) {
    MAX_GUNZIPPED_BYTES.store(max.max(1), Ordering::Relaxed);
}

/// Opens `path`, transparently gunzipping it when it starts with the gzip magic bytes
/// (at most `[import] max_gunzipped_bytes` of decompressed content).
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    let mut file = BufReader::with_capacity(256 * 1024, File::open(path)?);
    let magic = file.fill_buf()?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            Capped {
                inner: MultiGzDecoder::new(file),
                left: MAX_GUNZIPPED_BYTES.load(Ordering::Relaxed),
                max: MAX_GUNZIPPED_BYTES.load(Ordering::Relaxed),
            },
        )))
    } else {
        Ok(Box::new(file))
    }
}

/// A reader that fails once more than `max` bytes came out of it.
struct Capped<R> {
    inner: R,
    left: u64,
    max: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte more than allowed tells "exactly at the bound" from "past it".
        let want = buf
            .len()
            .min(usize::try_from(self.left + 1).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the decompressed file exceeds {} bytes ([import] max_gunzipped_bytes): a \
                     damaged or hostile archive, or raise the bound if the file is genuine",
                    self.max
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// One line's outcome.
pub enum Line {
    Text(String),
    TooLong,
    BadUtf8 { valid_up_to: usize },
}

/// Iterates over lines (1-based numbers), never holding more than [`MAX_LINE_BYTES`] of one.
pub struct Lines<R> {
    reader: R,
    number: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R) -> Self {
        Lines {
            reader,
            number: 0,
            buf: Vec::new(),
        }
    }

    /// Skips the rest of an over-long line.
    fn skip_to_newline(&mut self) -> io::Result<()> {
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            if let Some(i) = chunk.iter().position(|&b| b == b'\n') {
                self.reader.consume(i + 1);
                return Ok(());
            }
            let n = chunk.len();
            self.reader.consume(n);
        }
    }

    pub fn next_line(&mut self) -> io::Result<Option<(u64, Line)>> {
        self.buf.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        if self.buf.last() != Some(&b'\n') && self.buf.len() > MAX_LINE_BYTES {
            self.skip_to_newline()?;
            return Ok(Some((self.number, Line::TooLong)));
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        // A UTF-8 byte-order mark at the start of a file is tolerated.
        let start = if self.number == 1 && self.buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            3
        } else {
            0
        };
        match std::str::from_utf8(&self.buf[start..]) {
            Ok(s) => Ok(Some((self.number, Line::Text(s.to_owned())))),
            Err(e) => Ok(Some((
                self.number,
                Line::BadUtf8 {
                    valid_up_to: e.valid_up_to() + start,
                },
            ))),
        }
    }
}

#[cfg(test)]
mod capped_tests {
    use super::*;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        io::Write::write_all(&mut e, bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_bound_with_its_line() {
        // 64 MiB of newlines compress to about 64 KiB.
        let bomb = gz(&vec![b'\n'; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        let reader = BufReader::new(Capped {
            inner: MultiGzDecoder::new(&bomb[..]),
            left: 1 << 20,
            max: 1 << 20,
        });
        let mut lines = Lines::new(reader);
        let mut count = 0u64;
        let err = loop {
            match lines.next_line() {
                Ok(Some(_)) => count += 1,
                Ok(None) => panic!("the whole bomb was read: {count} lines"),
                Err(e) => break e,
            }
        };
        assert_eq!(count, 1 << 20, "every byte up to the bound is read");
        assert!(err.to_string().contains("max_gunzipped_bytes"), "{err}");
    }

    #[test]
    fn exactly_the_bound_is_accepted() {
        let data = gz(b"a\nb\n");
        let mut out = Vec::new();
        Capped {
            inner: MultiGzDecoder::new(&data[..]),
            left: 4,
            max: 4,
        }
        .read_to_end(&mut out)
        .unwrap();
        assert_eq!(out, b"a\nb\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_lines_and_flags_bad_utf8() {
        let data: &[u8] = b"\xEF\xBB\xBFone\r\ntwo\n\xff\nfour";
        let mut l = Lines::new(data);
        let mut seen = Vec::new();
        while let Some((n, line)) = l.next_line().unwrap() {
            seen.push(match line {
                Line::Text(s) => format!("{n}:{s}"),
                Line::BadUtf8 { valid_up_to } => format!("{n}:bad@{valid_up_to}"),
                Line::TooLong => format!("{n}:long"),
            });
        }
        assert_eq!(seen, ["1:one", "2:two", "3:bad@0", "4:four"]);
    }

    #[test]
    fn over_long_line_is_skipped_not_buffered() {
        let mut data = vec![b'x'; MAX_LINE_BYTES + 10];
        data.extend_from_slice(b"\nnext\n");
        let mut l = Lines::new(&data[..]);
        assert!(matches!(l.next_line().unwrap(), Some((1, Line::TooLong))));
        assert!(matches!(l.next_line().unwrap(), Some((2, Line::Text(ref s))) if s == "next"));
    }
}
