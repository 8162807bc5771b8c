//! Reading input files line by line, safely: plain or gzip (by magic bytes, not by
//! name), a hard cap on line length, invalid UTF-8 reported with its line.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

/// Longest accepted line. One SOFI action with dozens of sessions and 3000-character
/// texts stays far below; a larger line is a broken file, not an offer.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Opens `path`, transparently gunzipping it when it starts with the gzip magic bytes.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    let mut file = BufReader::with_capacity(256 * 1024, File::open(path)?);
    let magic = file.fill_buf()?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            MultiGzDecoder::new(file),
        )))
    } else {
        Ok(Box::new(file))
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
