//! The gzip twin of a generation's document, assembled from one deflate segment per offer.
//!
//! The feed serves partners that accept gzip a compressed twin of the snapshot
//! (`.NAME.generation-N.gz`, docs/feed.md). Compressing the whole 8 GB document again for a
//! night where 1 % of the offers changed cost as much as the rest of that export. So the
//! twin is one gzip member whose deflate stream is the concatenation of independent
//! segments: one per `<formation>` fragment (and one each for the document's head and
//! tail), each compressed from an empty dictionary and ended by a sync flush, so that it
//! ends on a byte boundary and any sequence of segments is a valid stream (the technique of
//! `pigz`). The member's CRC-32 is combined from the segments' CRC-32s. Any gzip reader
//! sees an ordinary single-member file.
//!
//! Beside the twin, an index (`.gz.idx`) records each offer's segment (where, how long, its
//! CRC-32 and plain length), so the next export copies the segments of the offers it does
//! not evaluate instead of compressing them again (their plain bytes come from the
//! database). The index ends with the twin's size and the document's SHA-256: an index
//! that does not match both is not used (the segments are then compressed again), and a
//! segment whose plain length is not the stored fragment's is not copied.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, FlushCompress, Status};

use super::direct::DirectReader;
use crate::digest::DocumentDigest;
use crate::model::ActionCode;

/// Compression level: flate2's level 1. Higher levels cost several times more CPU for a
/// few percent of size; the twin is written every generation.
const LEVEL: u32 = 1;

/// The gzip header: no file name, no modification time (the twin of the same document is
/// the same bytes), unknown OS.
pub const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// An empty final block with fixed codes: ends the deflate stream after the last segment.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// Bytes of an index record: formation and action numbers, offset, compressed length,
/// CRC-32, plain length.
const RECORD: usize = 8 + 8 + 8 + 4 + 4 + 4;
/// First bytes of an index, naming its format.
const MAGIC: &[u8; 8] = b"LHEOTWI1";
/// The index's trailer: twin size (8 bytes) and the document's SHA-256 (64 hex digits).
const TRAILER: usize = 8 + 64;

/// One compressed segment: raw deflate blocks ending on a byte boundary.
#[derive(Clone, Debug, Default)]
pub struct Segment {
    pub deflate: Vec<u8>,
    pub crc: u32,
    pub len: u32,
}

thread_local! {
    /// One compressor per thread, reset for every segment (making one allocates its
    /// tables, which a million offers would pay for again and again).
    static COMPRESSOR: RefCell<Compress> = RefCell::new(Compress::new(Compression::new(LEVEL), false));
}

/// Compresses `plain` as an independent segment.
pub fn segment(plain: &[u8]) -> Segment {
    let deflate = COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        c.reset();
        let mut out = Vec::with_capacity(plain.len() / 3 + 64);
        loop {
            let done = c.total_in() as usize;
            let status = c
                .compress_vec(&plain[done..], &mut out, FlushCompress::Sync)
                .expect("compressing to memory cannot fail");
            // The flush is complete once the input is consumed and the output was not
            // filled to the brim (zlib's rule for a sync flush).
            if c.total_in() as usize == plain.len()
                && out.len() < out.capacity()
                && status != Status::BufError
            {
                break;
            }
            out.reserve(out.capacity().max(1024));
        }
        out
    });
    Segment {
        deflate,
        crc: crc32(plain),
        len: plain.len() as u32,
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(bytes);
    h.finalize()
}

/// The index of a twin: `FILE.gz.idx`.
pub fn index_path(twin: &Path) -> PathBuf {
    let mut name = twin.file_name().unwrap_or_default().to_os_string();
    name.push(".idx");
    twin.with_file_name(name)
}

/// Builds a twin and its index as the document is written: what to append to each, in
/// chunks the caller writes out (see `export::Document`).
pub struct Assembler {
    crc: crc32fast::Hasher,
    /// Bytes of the twin so far (header included).
    offset: u64,
    /// Plain bytes so far.
    plain: u64,
}

impl Assembler {
    /// A new twin; `twin` and `index` receive the gzip header and the index's magic.
    pub fn new(twin: &mut Vec<u8>, index: &mut Vec<u8>) -> Assembler {
        twin.extend_from_slice(&HEADER);
        index.extend_from_slice(MAGIC);
        Assembler {
            crc: crc32fast::Hasher::new(),
            offset: HEADER.len() as u64,
            plain: 0,
        }
    }

    /// Appends a segment (for an offer when `numero` is given, else the document's head
    /// or tail).
    pub fn push(
        &mut self,
        seg: &Segment,
        numero: Option<ActionCode>,
        twin: &mut Vec<u8>,
        index: &mut Vec<u8>,
    ) {
        if let Some(n) = numero {
            index.extend_from_slice(&n.formation.to_le_bytes());
            index.extend_from_slice(&n.action.to_le_bytes());
            index.extend_from_slice(&self.offset.to_le_bytes());
            index.extend_from_slice(&(seg.deflate.len() as u32).to_le_bytes());
            index.extend_from_slice(&seg.crc.to_le_bytes());
            index.extend_from_slice(&seg.len.to_le_bytes());
        }
        twin.extend_from_slice(&seg.deflate);
        self.crc.combine(&crc32fast::Hasher::new_with_initial_len(
            seg.crc,
            u64::from(seg.len),
        ));
        self.offset += seg.deflate.len() as u64;
        self.plain += u64::from(seg.len);
    }

    /// Ends the twin (final block and gzip trailer); returns its size. The index is ended
    /// by [`index_trailer`] once the document's SHA-256 is known.
    pub fn finish(&mut self, twin: &mut Vec<u8>) -> u64 {
        twin.extend_from_slice(&FINAL_BLOCK);
        twin.extend_from_slice(&self.crc.clone().finalize().to_le_bytes());
        // ISIZE: the plain size modulo 2^32 (RFC 1952).
        twin.extend_from_slice(&(self.plain as u32).to_le_bytes());
        self.offset += (FINAL_BLOCK.len() + 8) as u64;
        self.offset
    }
}

/// The end of an index: the twin's size and the document's digest (its 64 hex digits,
/// whichever algorithm made it: the generation's record says which).
pub fn index_trailer(twin_size: u64, document: &DocumentDigest) -> Vec<u8> {
    let mut t = twin_size.to_le_bytes().to_vec();
    t.extend_from_slice(document.hex().as_bytes());
    t
}

/// Reads the segments of a previous twin in order, for the offers copied unchanged.
pub struct Reader {
    index: BufReader<File>,
    /// Past the page cache, as it was written (`super::direct`).
    twin: DirectReader,
    /// Records left.
    left: u64,
    /// Where the twin is read.
    at: u64,
    /// A record read ahead: the first one past the offer last asked for.
    peeked: Option<Record>,
}

impl Reader {
    /// The previous twin of the document `file`, if it and its index are there and match
    /// the document (its SHA-256) and each other (the twin's size). `None` otherwise: the
    /// caller compresses instead.
    pub fn open(twin: &Path, document: &DocumentDigest) -> Option<Reader> {
        let mut index = File::open(index_path(twin)).ok()?;
        let twin_file = DirectReader::open(twin).ok()?;
        let index_len = index.metadata().ok()?.len();
        let body = index_len.checked_sub((MAGIC.len() + TRAILER) as u64)?;
        if body % RECORD as u64 != 0 {
            return None;
        }
        let mut magic = [0u8; 8];
        index.read_exact(&mut magic).ok()?;
        index.seek(SeekFrom::End(-(TRAILER as i64))).ok()?;
        let mut trailer = [0u8; TRAILER];
        index.read_exact(&mut trailer).ok()?;
        let size = u64::from_le_bytes(trailer[..8].try_into().ok()?);
        if &magic != MAGIC
            || size != twin_file.metadata().ok()?.len()
            || trailer[8..] != *document.hex().as_bytes()
        {
            return None;
        }
        index.seek(SeekFrom::Start(MAGIC.len() as u64)).ok()?;
        Some(Reader {
            index: BufReader::with_capacity(1 << 16, index),
            twin: twin_file,
            left: body / RECORD as u64,
            at: 0,
            peeked: None,
        })
    }

    /// `numero`'s segment, if the previous twin has it. Offers are asked for in numeric
    /// order, as the index lists them; the index's offers not asked for (evaluated again,
    /// or withdrawn) are skipped.
    pub fn next(&mut self, numero: ActionCode) -> io::Result<Option<Segment>> {
        let key = (numero.formation, numero.action);
        loop {
            let r = match self.peeked.take() {
                Some(r) => r,
                None if self.left == 0 => return Ok(None),
                None => {
                    self.left -= 1;
                    let mut r = [0u8; RECORD];
                    self.index.read_exact(&mut r)?;
                    Record::parse(&r)
                }
            };
            if r.key < key {
                continue;
            }
            if r.key > key {
                self.peeked = Some(r);
                return Ok(None);
            }
            if r.offset != self.at {
                self.twin.seek(SeekFrom::Start(r.offset))?;
            }
            let mut deflate = vec![0u8; r.zlen as usize];
            self.twin.read_exact(&mut deflate)?;
            self.at = r.offset + u64::from(r.zlen);
            return Ok(Some(Segment {
                deflate,
                crc: r.crc,
                len: r.len,
            }));
        }
    }
}

/// One record of an index.
#[derive(Clone, Copy)]
struct Record {
    key: (u64, u64),
    offset: u64,
    zlen: u32,
    crc: u32,
    len: u32,
}

impl Record {
    fn parse(r: &[u8; RECORD]) -> Record {
        let u64_at = |i: usize| u64::from_le_bytes(r[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(r[i..i + 4].try_into().expect("4 bytes"));
        Record {
            key: (u64_at(0), u64_at(8)),
            offset: u64_at(16),
            zlen: u32_at(24),
            crc: u32_at(28),
            len: u32_at(32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A digest whose 64 hex digits are `digit`.
    fn digest(digit: &str) -> DocumentDigest {
        format!("blake3:{}", digit.repeat(64)).parse().unwrap()
    }
    use proptest::prelude::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("a valid gzip member");
        out
    }

    fn assemble(parts: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        let (mut twin, mut index) = (Vec::new(), Vec::new());
        let mut a = Assembler::new(&mut twin, &mut index);
        for (i, p) in parts.iter().enumerate() {
            let numero = ActionCode {
                formation: i as u64 + 1,
                action: 7,
            };
            a.push(&segment(p), Some(numero), &mut twin, &mut index);
        }
        let size = a.finish(&mut twin);
        assert_eq!(size, twin.len() as u64);
        index.extend_from_slice(&index_trailer(size, &digest("0")));
        (twin, index)
    }

    #[test]
    fn segments_concatenate_into_one_gzip_member() {
        let parts: Vec<Vec<u8>> = (0..50)
            .map(|i| {
                format!("<formation numero=\"{i}-1\">Électricité {i}</formation>\n")
                    .repeat(i % 7 + 1)
                    .into_bytes()
            })
            .collect();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let (twin, _) = assemble(&refs);
        assert_eq!(gunzip(&twin), parts.concat());
        // One member: the standard single-member decoder reads all of it.
        let mut d = flate2::read::GzDecoder::new(&twin[..]);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), parts.concat().len());
    }

    #[test]
    fn a_reused_segment_is_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let parts: [&[u8]; 3] = [b"<a>un</a>\n", b"<b>deux</b>\n", b"<c>trois</c>\n"];
        let (twin, index) = assemble(&parts);
        let twin_path = dir.path().join("doc.gz");
        std::fs::write(&twin_path, &twin).unwrap();
        std::fs::write(index_path(&twin_path), &index).unwrap();
        let sha = digest("0");
        let mut r = Reader::open(&twin_path, &sha).expect("a matching index");
        let first = r
            .next(ActionCode {
                formation: 1,
                action: 7,
            })
            .unwrap()
            .unwrap();
        assert_eq!(first.deflate, segment(parts[0]).deflate);
        assert_eq!(first.len, parts[0].len() as u32);
        // An offer the index does not have: none, and the next one is still found
        // (offer 2 is skipped: it was evaluated again).
        assert!(r
            .next(ActionCode {
                formation: 2,
                action: 8
            })
            .unwrap()
            .is_none());
        let third = r
            .next(ActionCode {
                formation: 3,
                action: 7,
            })
            .unwrap()
            .unwrap();
        assert_eq!(third.deflate, segment(parts[2]).deflate);
        assert!(r
            .next(ActionCode {
                formation: 9,
                action: 7
            })
            .unwrap()
            .is_none());

        // Another document, or a twin of another size: the index is not used.
        assert!(Reader::open(&twin_path, &digest("1")).is_none());
        std::fs::write(&twin_path, &twin[..twin.len() - 1]).unwrap();
        assert!(Reader::open(&twin_path, &sha).is_none());
    }

    proptest! {
        #[test]
        fn any_texts_round_trip(parts in proptest::collection::vec("\\PC{0,3000}", 0..20)) {
            let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
            let (twin, _) = assemble(&refs);
            prop_assert_eq!(gunzip(&twin), parts.concat().into_bytes());
        }
    }
}
