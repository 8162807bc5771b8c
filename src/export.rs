//! The files of an export: LHÉO documents streamed to a temporary file beside their target,
//! hashed as they are written, synced, and only then moved into place.
//!
//! [`crate::generation`] decides what goes in them and when they move; this module only
//! knows files. The names it uses beside an export `DIR/NAME`:
//!
//! - `DIR/.NAME.tmp-PID`: a document being written by process PID;
//! - `DIR/.NAME.generation-N`: the complete document of generation N, recorded in the
//!   database (`generations.file_path`) and kept while N is the current generation;
//! - `DIR/NAME`: the stable name consumers read, a hard link to the current generation's
//!   file (a copy where the file system has no hard links), replaced by rename;
//! - `DIR/.NAME.link-PID`: that link, just before its rename.
//!
//! A kill leaves at worst a `.tmp-`, `.link-` or uncommitted `.generation-` file behind;
//! [`remove_leftovers`] deletes them on the next export.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::lheo::document_header;

/// Hashes and counts what goes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
    /// Bytes written so far (the offset of the next byte).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `DIR/.NAME.SUFFIX` for `DIR/NAME`.
fn sibling(out: &Path, suffix: &str) -> PathBuf {
    out.with_file_name(format!(".{}.{suffix}", file_name(out)))
}

fn file_name(out: &Path) -> String {
    out.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "lheo.xml".into())
}

/// The file of generation `id` beside `out`.
pub fn generation_file(out: &Path, id: i64) -> PathBuf {
    sibling(out, &format!("generation-{id}"))
}

/// A LHÉO document being written to a temporary file beside its target. Dropped without
/// [`Document::finish`], it deletes the temporary file.
pub struct Document {
    tmp: PathBuf,
    w: Option<HashingWriter<BufWriter<File>>>,
}

/// A complete, synced document in its temporary file.
#[derive(Debug)]
pub struct Finished {
    pub tmp: PathBuf,
    pub bytes: u64,
    pub sha256: String,
}

impl Document {
    /// Creates the temporary file for `out` and writes the document's header.
    pub fn create(out: &Path, horodatage_export: &str) -> Result<Document> {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
        }
        let tmp = sibling(out, &format!("tmp-{}", std::process::id()));
        let file = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        let mut doc = Document {
            tmp,
            w: Some(HashingWriter::new(BufWriter::with_capacity(1 << 20, file))),
        };
        doc.write(document_header(horodatage_export).as_bytes())?;
        Ok(doc)
    }

    /// Appends bytes (fragments, extras).
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let w = self.w.as_mut().expect("not finished");
        w.write_all(bytes)
            .with_context(|| format!("cannot write {}", self.tmp.display()))
    }

    /// The offset of the next byte.
    pub fn offset(&self) -> u64 {
        self.w.as_ref().map_or(0, HashingWriter::bytes)
    }

    /// Flushes what is buffered (so that the file on disk holds everything written).
    pub fn flush(&mut self) -> Result<()> {
        let w = self.w.as_mut().expect("not finished");
        w.flush().context("writing the export")
    }

    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Writes `tail` (the end of the document), flushes and syncs the file.
    pub fn finish(mut self, tail: &str) -> Result<Finished> {
        self.write(tail.as_bytes())?;
        let HashingWriter {
            inner,
            hasher,
            bytes,
        } = self.w.take().expect("not finished");
        let file = inner
            .into_inner()
            .map_err(|e| anyhow::anyhow!("writing the export: {}", e.error()))?;
        file.sync_all().context("syncing the export to disk")?;
        Ok(Finished {
            tmp: std::mem::take(&mut self.tmp),
            bytes,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

impl Drop for Document {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Syncs the folder holding `path`, so that a rename into it is durable.
pub fn sync_dir(path: &Path) {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d,
        None => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Moves `from` to `to` (same folder, atomic), durably.
pub fn rename_into_place(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).with_context(|| {
        format!(
            "cannot move {} into place at {}",
            from.display(),
            to.display()
        )
    })?;
    sync_dir(to);
    Ok(())
}

/// Whether two paths name the same file (the same inode, on Unix).
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (fs::metadata(a), fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// Makes `out` show the same bytes as `file` (a generation's file): a hard link (or, where
/// the file system has none, a synced copy) made under a temporary name, then renamed
/// over `out`, so that a reader of `out` sees the old document or the new one, whole.
pub fn link_into_place(file: &Path, out: &Path) -> Result<()> {
    let tmp = sibling(out, &format!("link-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    if fs::hard_link(file, &tmp).is_err() {
        fs::copy(file, &tmp)
            .with_context(|| format!("cannot copy {} to {}", file.display(), tmp.display()))?;
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
    }
    rename_into_place(&tmp, out)
}

/// Whether process `pid` is running (Linux: `/proc`); `true` when it cannot be known, so
/// that nothing of a live export is deleted.
fn process_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Deletes what killed exports left beside `out`: temporary files of processes that are no
/// longer running, and generation files other than those of `keep`. Call it only while
/// holding the generation write lock (no other export is then between renaming its
/// generation file and committing). Returns the paths deleted.
pub fn remove_leftovers(out: &Path, keep: &[i64]) -> Vec<PathBuf> {
    let dir = match out.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let prefix = format!(".{}.", file_name(out));
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(&dir) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let stale = if let Some(id) = rest.strip_prefix("generation-") {
            id.parse::<i64>().is_ok_and(|id| !keep.contains(&id))
        } else if let Some(pid) = rest
            .strip_prefix("tmp-")
            .or_else(|| rest.strip_prefix("link-"))
        {
            pid.parse::<u32>()
                .is_ok_and(|pid| pid != std::process::id() && !process_alive(pid))
        } else {
            false
        };
        if stale && fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

/// The SHA-256 (hex) and size of a file, read in full.
pub fn file_digest(path: &Path) -> Result<(String, u64)> {
    let mut f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = HashingWriter::new(io::sink());
    io::copy(&mut f, &mut h).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((hex::encode(h.hasher.finalize()), h.bytes))
}
