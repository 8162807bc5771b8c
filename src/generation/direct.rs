//! Writing the export's large files past the page cache (`O_DIRECT`).
//!
//! A million-session export writes a 9 GB document and its gzip twin. Through the page
//! cache, every byte was first copied into a cache page the kernel had to find, account
//! and later write back; past the dirty limits (a few GB) the writing thread did that
//! writeback itself. Measured on the benchmark machine (`docs/BENCHMARKS.md`, session 9),
//! 9 GB written and synced took 6.7–30 s of which 5–28 s of system time through the cache,
//! 5.3–7.5 s with about 1 s of system time past it: the cache's cost grows with what is
//! already cached, which is why the export's system time grew faster than the offers.
//! Nothing in the export reads its own document back, so caching it buys nothing.
//!
//! The next export reads the previous twin once, in order, to copy the segments of the
//! offers it does not evaluate again (their plain bytes come from the database). Written
//! past the cache it is not in it, and reading through it cost as much system time as
//! writing did (a 1 % change at a million sessions, when it read the previous document
//! too: 23 s, then 32 s once the writes went past the cache and the reads did not), so
//! [`DirectReader`] reads past it too.
//!
//! `O_DIRECT` needs aligned memory, offsets and lengths: [`DirectFile`] gathers bytes in an
//! aligned block and writes whole blocks at aligned offsets; the unaligned end is written
//! through the cache. [`DirectReader`] reads aligned blocks into an aligned buffer. Where
//! the file system refuses `O_DIRECT` (or the platform has none) both go through the cache
//! as before (writes with early writeback).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// Alignment of memory, offsets and lengths for `O_DIRECT` (the largest logical block
/// size in common use; a multiple of any smaller one).
pub const ALIGN: usize = 4096;

/// Where, in `buffer`, the bytes of a chunk that begins at `offset` in its file should
/// start for [`DirectFile::write_with_room`] to write them from there without copying
/// them: after room for the file's unaligned gathered bytes, so that those and the chunk
/// begin at an aligned address. Valid while `buffer` is not reallocated.
pub fn chunk_start(buffer: &[u8], offset: u64) -> usize {
    buffer.as_ptr().align_offset(ALIGN) + (offset % ALIGN as u64) as usize
}
/// Bytes gathered before a write: large writes keep the disk busy with one writer.
const BLOCK: usize = 4 << 20;
/// The block of the export's spill files (`super::spill`): three are open at once
/// during the stream, and they are far smaller than the document.
pub const SPILL_BLOCK: usize = 1 << 20;

/// A new file written sequentially, past the page cache where the file system allows it.
pub struct DirectFile {
    file: File,
    direct: bool,
    /// `storage[start..start + block]` is the aligned block.
    storage: Vec<u8>,
    start: usize,
    block: usize,
    /// Bytes gathered in the block, not yet written at `written`.
    len: usize,
    /// Bytes written to the file so far (a multiple of [`ALIGN`] while direct).
    written: u64,
    /// Of those, bytes written straight from the caller's buffer
    /// ([`DirectFile::write_with_room`]).
    in_place: u64,
}

impl DirectFile {
    /// Takes over `file` (new, empty, opened for writing), past the cache if possible.
    pub fn new(file: File) -> DirectFile {
        DirectFile::with_cache(file, false)
    }

    /// Takes over `file`, through the page cache (`cached`) or past it if possible.
    pub fn with_cache(file: File, cached: bool) -> DirectFile {
        DirectFile::with_block(file, cached, BLOCK)
    }

    /// Takes over `file` like [`DirectFile::with_cache`], gathering `block` bytes (a
    /// multiple of [`ALIGN`]) before each write.
    pub fn with_block(file: File, cached: bool, block: usize) -> DirectFile {
        let direct = !cached && set_direct(&file, true).is_ok();
        // Gathered through the cache too: a spill file takes its JSON lines in pieces of
        // a few bytes, one system call each if written as they come.
        let (storage, start) = aligned_block(block);
        DirectFile {
            file,
            direct,
            storage,
            start,
            block,
            len: 0,
            written: 0,
            in_place: 0,
        }
    }

    /// Bytes written straight from callers' buffers, without a copy.
    pub fn written_in_place(&self) -> u64 {
        self.in_place
    }

    /// Whether the file is written past the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Bytes taken so far.
    #[cfg(test)]
    fn taken(&self) -> u64 {
        self.written + self.len as u64
    }

    pub fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = (self.block - self.len).min(bytes.len());
            let at = self.start + self.len;
            self.storage[at..at + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
            if self.len == self.block {
                if self.direct {
                    self.write_block(self.block)?;
                } else {
                    self.write_gathered_cached()?;
                }
            }
        }
        Ok(())
    }

    /// Takes `buffer[start..]`, where `buffer[..start]` is room this file may write into.
    /// When the bytes gathered and not yet written are fewer than [`ALIGN`] and, copied
    /// into the room just before `start`, begin at an aligned address ([`chunk_start`]),
    /// the whole is written from the buffer past the cache: no copy of the chunk. The
    /// document's chunks are 4 MiB, 9 GB at a million sessions, and copying them into the
    /// block was most of the writing thread's CPU (`docs/BENCHMARKS.md`, session 15).
    /// Otherwise the bytes are gathered as by [`DirectFile::write_all`].
    pub fn write_with_room(&mut self, buffer: &mut [u8], start: usize) -> io::Result<()> {
        let gathered = self.len;
        if self.direct && gathered < ALIGN && gathered <= start {
            let from = start - gathered;
            let whole_len = buffer.len() - from;
            let n = whole_len / ALIGN * ALIGN;
            if n > 0 && buffer[from..].as_ptr().align_offset(ALIGN) == 0 {
                buffer[from..start].copy_from_slice(self.block(gathered));
                match write_at(&self.file, &buffer[from..from + n], self.written) {
                    Ok(()) => {
                        self.written += n as u64;
                        self.in_place += (n - gathered) as u64;
                        self.len = 0;
                        return self.write_all(&buffer[from + n..]);
                    }
                    // As in `write_block`: the gathered bytes are still in the block, and
                    // the rest goes through the cache after them.
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                        set_direct(&self.file, false)?;
                        self.direct = false;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.write_all(&buffer[start..])
    }

    /// Puts everything taken so far in the file (not necessarily on disk); the rest of
    /// the file is still written past the cache.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.direct {
            let aligned = self.len / ALIGN * ALIGN;
            self.write_block(aligned)?;
            if self.direct && self.len > 0 {
                // The unaligned end goes through the cache at its place, and stays in the
                // block: the next aligned write covers it again with the same bytes.
                set_direct(&self.file, false)?;
                write_at(&self.file, self.block(self.len), self.written)?;
                set_direct(&self.file, true)?;
            }
        } else {
            self.write_gathered_cached()?;
        }
        Ok(())
    }

    /// Writes what is left and makes the file durable (`fsync`). Returns its size.
    pub fn finish(mut self) -> io::Result<u64> {
        self.write_rest()?;
        self.file.sync_all()?;
        Ok(self.written)
    }

    /// Writes what is left (not durably: a temporary file) and reads the file again from
    /// its start, the same way it was written, with a block of the same size.
    pub fn into_reader(mut self) -> io::Result<DirectReader> {
        let cached = !self.direct;
        self.write_rest()?;
        // The tail went through the cache; a direct read of it sees it all the same (the
        // kernel writes cached pages of a range back before reading it directly).
        DirectReader::from_file(self.file, cached, self.block)
    }

    /// Writes the gathered bytes: the aligned part past the cache, the rest through it.
    fn write_rest(&mut self) -> io::Result<()> {
        if self.direct {
            let aligned = self.len / ALIGN * ALIGN;
            self.write_block(aligned)?;
            if self.direct && self.len > 0 {
                set_direct(&self.file, false)?;
                self.direct = false;
            }
        }
        if !self.direct {
            self.write_gathered_cached()?;
        }
        Ok(())
    }

    /// Writes everything gathered through the cache, with early writeback.
    fn write_gathered_cached(&mut self) -> io::Result<()> {
        let gathered = &self.storage[self.start..self.start + self.len];
        write_at(&self.file, gathered, self.written)?;
        start_writeback(&self.file, self.written, gathered.len());
        self.written += gathered.len() as u64;
        self.len = 0;
        Ok(())
    }

    fn block(&self, n: usize) -> &[u8] {
        &self.storage[self.start..self.start + n]
    }

    /// Writes the first `n` bytes of the block (a multiple of [`ALIGN`]) and moves the
    /// rest to its start. A file system that took the flag but refuses the write (`EINVAL`,
    /// before writing anything) gets the bytes through the cache, and the rest with them.
    fn write_block(&mut self, n: usize) -> io::Result<()> {
        debug_assert!(n.is_multiple_of(ALIGN) && n <= self.len);
        if n == 0 {
            return Ok(());
        }
        match write_at(&self.file, self.block(n), self.written) {
            Ok(()) => self.written += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                set_direct(&self.file, false)?;
                self.direct = false;
                return self.write_gathered_cached();
            }
            Err(e) => return Err(e),
        }
        self.storage
            .copy_within(self.start + n..self.start + self.len, self.start);
        self.len -= n;
        Ok(())
    }
}

/// For writers that take [`io::Write`] (a spill file's JSON lines).
impl io::Write for DirectFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        DirectFile::write_all(self, bytes)?;
        Ok(bytes.len())
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        DirectFile::write_all(self, bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        DirectFile::flush(self)
    }
}

/// Memory for a block of `block` bytes (a multiple of [`ALIGN`]) at an aligned address:
/// the storage and the offset of the block in it.
fn aligned_block(block: usize) -> (Vec<u8>, usize) {
    assert!(
        block > 0 && block.is_multiple_of(ALIGN),
        "an unaligned block"
    );
    let storage = vec![0u8; block + ALIGN];
    let start = storage.as_ptr().align_offset(ALIGN);
    (storage, start)
}

/// A file read in order (with forward and backward seeks), past the page cache where the
/// file system allows it, a block at a time.
pub struct DirectReader {
    file: File,
    direct: bool,
    /// `storage[start..start + block]` is the aligned block.
    storage: Vec<u8>,
    start: usize,
    block: usize,
    /// The file offset of the block's first byte (aligned).
    offset: u64,
    /// Bytes of the block read from the file, and the next one to give out.
    filled: usize,
    pos: usize,
    /// The block ends the file.
    eof: bool,
}

impl DirectReader {
    /// Opens `path` to be read past the cache if possible.
    pub fn open(path: &std::path::Path) -> io::Result<DirectReader> {
        DirectReader::open_with(path, false)
    }

    /// Opens `path` to be read through the page cache (`cached`: a file read again and
    /// again, such as a document the feed serves) or past it if possible.
    pub fn open_with(path: &std::path::Path, cached: bool) -> io::Result<DirectReader> {
        DirectReader::from_file(File::open(path)?, cached, BLOCK)
    }

    /// Reads `file` (open for reading) from its start, a `block` (a multiple of
    /// [`ALIGN`]) at a time.
    fn from_file(file: File, cached: bool, block: usize) -> io::Result<DirectReader> {
        let direct = !cached && set_direct(&file, true).is_ok();
        let (storage, start) = aligned_block(block);
        Ok(DirectReader {
            file,
            direct,
            storage,
            start,
            block,
            offset: 0,
            filled: 0,
            pos: 0,
            eof: false,
        })
    }

    /// The file's metadata.
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.file.metadata()
    }

    /// Reads the block after the current one; false at the end of the file.
    fn next_block(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.offset += self.filled as u64;
        self.filled = 0;
        self.pos = 0;
        self.read_block()
    }

    /// Reads the block at `self.offset` (aligned); false when it is past the end.
    fn read_block(&mut self) -> io::Result<bool> {
        let mut got = 0;
        while got < self.block {
            let at = self.offset + got as u64;
            let buf = &mut self.storage[self.start + got..self.start + self.block];
            match read_at(&self.file, buf, at) {
                Ok(0) => break,
                // A short read that is not the end would leave the next one unaligned:
                // the rest of the file goes through the cache.
                Ok(n) => {
                    got += n;
                    if self.direct && !got.is_multiple_of(ALIGN) {
                        set_direct(&self.file, false)?;
                        self.direct = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                    set_direct(&self.file, false)?;
                    self.direct = false;
                }
                Err(e) => return Err(e),
            }
        }
        self.filled = got;
        self.eof = got < self.block;
        Ok(got > 0)
    }
}

impl Read for DirectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.filled && !self.next_block()? {
            return Ok(0);
        }
        let n = out.len().min(self.filled - self.pos);
        let from = self.start + self.pos;
        out[..n].copy_from_slice(&self.storage[from..from + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Seek for DirectReader {
    /// Only `SeekFrom::Start` and `SeekFrom::Current`: the readers of a document move
    /// forward, and a twin's reader to a segment's offset.
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let here = self.offset + self.pos as u64;
        let to = match to {
            SeekFrom::Start(x) => x,
            SeekFrom::Current(d) => here
                .checked_add_signed(d)
                .ok_or_else(|| io::Error::other("a seek before the start of the file"))?,
            SeekFrom::End(_) => return Err(io::Error::other("no seek from the end here")),
        };
        if to >= self.offset && to <= self.offset + self.filled as u64 {
            self.pos = (to - self.offset) as usize;
            return Ok(to);
        }
        self.offset = to / ALIGN as u64 * ALIGN as u64;
        self.filled = 0;
        self.pos = 0;
        self.eof = false;
        self.read_block()?;
        self.pos = ((to - self.offset) as usize).min(self.filled);
        Ok(to)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, at)
}

#[cfg(not(unix))]
fn read_at(mut file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    file.seek(SeekFrom::Start(at))?;
    file.read(buf)
}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, at)
}

#[cfg(not(unix))]
fn write_at(mut file: &File, bytes: &[u8], at: u64) -> io::Result<()> {
    use std::io::Write;
    file.seek(SeekFrom::Start(at))?;
    file.write_all(bytes)
}

/// Sets or clears `O_DIRECT` on the open file; an error where the file system (or the
/// platform) has no direct I/O.
#[cfg(target_os = "linux")]
fn set_direct(file: &File, on: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor `file` keeps open, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if on {
        flags | libc::O_DIRECT
    } else {
        flags & !libc::O_DIRECT
    };
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn set_direct(_file: &File, on: bool) -> io::Result<()> {
    if on {
        Err(io::Error::other("no O_DIRECT here"))
    } else {
        Ok(())
    }
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to disk now, without
/// waiting for them. Without it, an 8 GB snapshot (a million sessions) sat in the page cache
/// until the final `fsync`, which then waited for most of it at the disk's pace; started as
/// the document streams, the disk works while the offers are evaluated. Only for files
/// written through the cache.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: usize) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range takes a descriptor and integers and touches no memory of
    // ours; `file` is open for the whole call. A failure only loses the early start (the
    // final sync_all still makes the file durable), so its result is not needed.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// Writes `chunks` (flushing after the chunk numbered `flush_after`, if any), checks
    /// what a reader sees at the flush and at the end.
    fn round_trip(chunks: &[Vec<u8>], cached: bool, flush_after: Option<usize>) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc");
        let file = File::create(&path).unwrap();
        let mut f = DirectFile::with_cache(file, cached);
        if cached {
            assert!(!f.is_direct());
        }
        let mut expected = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            f.write_all(c).unwrap();
            expected.extend_from_slice(c);
            assert_eq!(f.taken(), expected.len() as u64);
            if flush_after == Some(i) {
                f.flush().unwrap();
                assert_eq!(std::fs::read(&path).unwrap(), expected, "after the flush");
            }
        }
        let direct = f.is_direct();
        assert_eq!(f.finish().unwrap(), expected.len() as u64);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        direct
    }

    #[test]
    fn block_sized_and_unaligned_writes_come_back_whole() {
        let chunks = vec![
            bytes(BLOCK, 1),
            bytes(1, 2),
            bytes(BLOCK - 1, 3),
            bytes(ALIGN + 17, 4),
            bytes(3 * BLOCK + 5, 5),
        ];
        let direct = round_trip(&chunks, false, Some(3));
        // Said, so that a machine whose temporary folder refuses O_DIRECT shows which path
        // was tested.
        eprintln!("direct I/O in the temporary folder: {direct}");
        assert!(!round_trip(&chunks, true, Some(1)));
    }

    proptest! {
        /// Chunks laid out as a document lays them out ([`chunk_start`]), with a flush
        /// somewhere, come back whole; where the folder takes `O_DIRECT`, everything but
        /// each chunk's unaligned end is written from the chunks themselves.
        #[test]
        fn chunks_with_room_come_back_whole_and_mostly_uncopied(
            sizes in proptest::collection::vec(0usize..3 * ALIGN + 100, 1..12),
            flush_after in proptest::option::of(0usize..12),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("doc");
            let mut f = DirectFile::new(File::create(&path).unwrap());
            let mut expected = Vec::new();
            let mut tails = 0;
            for (i, &n) in sizes.iter().enumerate() {
                let mut buffer = Vec::with_capacity(n + 2 * ALIGN);
                let start = chunk_start(&buffer, expected.len() as u64);
                buffer.resize(start, 0xee);
                buffer.extend_from_slice(&bytes(n, i as u8));
                expected.extend_from_slice(&buffer[start..]);
                f.write_with_room(&mut buffer, start).unwrap();
                tails += ALIGN;
                if flush_after == Some(i) {
                    f.flush().unwrap();
                    prop_assert_eq!(std::fs::read(&path).unwrap(), expected.clone());
                }
            }
            let (direct, in_place) = (f.is_direct(), f.written_in_place());
            prop_assert_eq!(f.finish().unwrap(), expected.len() as u64);
            prop_assert_eq!(std::fs::read(&path).unwrap(), expected.clone());
            if direct {
                prop_assert!(in_place + tails as u64 >= expected.len() as u64,
                    "{} of {} bytes written in place", in_place, expected.len());
            } else {
                prop_assert_eq!(in_place, 0);
            }
        }
    }

    #[test]
    fn an_empty_file_stays_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        let f = DirectFile::new(File::create(&path).unwrap());
        assert_eq!(f.finish().unwrap(), 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn a_write_error_is_reported() {
        let full = File::options().write(true).open("/dev/full").unwrap();
        let mut f = DirectFile::new(full);
        let r = f
            .write_all(&bytes(2 * BLOCK, 0))
            .and_then(|()| f.finish().map(|_| ()));
        assert!(r.is_err());
    }

    /// Reads `path` with reads of `sizes` (in turn) and, before the read numbered `i`, a
    /// seek to `to` for each `(i, to)` of `seeks`; checks every byte against `expected`.
    fn read_back(
        path: &std::path::Path,
        expected: &[u8],
        cached: bool,
        sizes: &[usize],
        seeks: &[(usize, u64)],
    ) {
        let mut r = DirectReader::open_with(path, cached).unwrap();
        if cached {
            assert!(!r.direct);
        }
        let mut at = 0u64;
        let mut buf = vec![0u8; BLOCK + ALIGN];
        for i in 0.. {
            if let Some((_, to)) = seeks.iter().find(|(k, _)| *k == i) {
                assert_eq!(r.seek(SeekFrom::Start(*to)).unwrap(), *to);
                at = *to;
            }
            let want = sizes[i % sizes.len()].clamp(1, buf.len());
            let n = r.read(&mut buf[..want]).unwrap();
            let end = expected.len().min(at as usize + n);
            if at as usize >= expected.len() {
                assert_eq!(n, 0, "a read past the end");
                break;
            }
            assert!(n > 0, "a read before the end gave nothing");
            assert_eq!(&buf[..n], &expected[at as usize..end], "bytes at {at}");
            at += n as u64;
        }
    }

    #[test]
    fn a_file_reads_back_whole_with_seeks_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc");
        let expected = bytes(2 * BLOCK + 3 * ALIGN + 123, 9);
        std::fs::write(&path, &expected).unwrap();
        let seeks = [
            (3, 17),
            (5, BLOCK as u64 + 5),
            (7, 2 * BLOCK as u64 + 1),
            (9, 10),
        ];
        for cached in [false, true] {
            read_back(
                &path,
                &expected,
                cached,
                &[1 << 20, 7, ALIGN, 3 << 20],
                &seeks,
            );
            read_back(&path, &expected, cached, &[BLOCK + ALIGN], &[]);
        }
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        let mut r = DirectReader::open(&empty).unwrap();
        assert_eq!(r.read(&mut [0u8; 16]).unwrap(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_reads_and_seeks_give_the_file_s_bytes(
            len in 0usize..(2 * BLOCK + 2 * ALIGN),
            sizes in proptest::collection::vec(1usize..(BLOCK + 2 * ALIGN), 1..5),
            seeks in proptest::collection::vec((0usize..12, 0u64..(2 * BLOCK as u64 + 4 * ALIGN as u64)), 0..4),
            cached in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("doc");
            let expected = bytes(len, len as u8);
            std::fs::write(&path, &expected).unwrap();
            read_back(&path, &expected, cached, &sizes, &seeks);
        }

        #[test]
        fn any_sequence_of_writes_comes_back_whole(
            sizes in proptest::collection::vec(0usize..(BLOCK + 3 * ALIGN), 0..6),
            flush in proptest::option::of(0usize..6),
            cached in any::<bool>(),
        ) {
            let chunks: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(i, n)| bytes(*n, i as u8))
                .collect();
            round_trip(&chunks, cached, flush);
        }

        /// A spill file: written with a small block, then read again from the same handle
        /// (no path, no `fsync`), whatever the sizes.
        #[test]
        fn a_temporary_file_reads_back_what_was_written(
            sizes in proptest::collection::vec(0usize..(5 * ALIGN), 0..12),
            blocks in 1usize..4,
            cached in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let file = tempfile::tempfile_in(dir.path()).unwrap();
            let mut f = DirectFile::with_block(file, cached, blocks * ALIGN);
            let mut expected = Vec::new();
            for (i, n) in sizes.iter().enumerate() {
                let c = bytes(*n, i as u8);
                io::Write::write_all(&mut f, &c).unwrap();
                expected.extend_from_slice(&c);
            }
            let mut got = Vec::new();
            f.into_reader().unwrap().read_to_end(&mut got).unwrap();
            prop_assert_eq!(got, expected);
        }
    }
}
