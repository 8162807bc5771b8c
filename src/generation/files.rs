//! The files of an export: LHÉO documents streamed to a temporary file beside their target,
//! hashed as they are written, synced, and only then moved into place.
//!
//! [`crate::generation`] decides what goes in them and when they move; this module only
//! knows files. The names it uses beside an export `DIR/NAME`:
//!
//! - `DIR/.NAME.tmp-PID`: a document being written by process PID;
//! - `DIR/.NAME.generation-N`: the complete document of generation N, recorded in the
//!   database (`generations.file_path`) and kept while N is the current generation;
//! - `DIR/.NAME.generation-N.gz` and `.gz.idx`: its gzip twin and the twin's index
//!   (`crate::generation::twin`), which go wherever the document goes;
//! - `DIR/NAME`: the stable name consumers read, a hard link to the current generation's
//!   file (a copy where the file system has no hard links), replaced by rename;
//! - `DIR/.NAME.link-PID`: that link, just before its rename.
//!
//! A kill leaves at worst a `.tmp-`, `.link-` or uncommitted `.generation-` file behind;
//! [`remove_leftovers`] deletes them on the next export.
//!
//! Anyone who can write the output folder can plant a symbolic link at one of those
//! names, hoping the export writes through it into the file it points to. So every file is
//! created by [`create_exclusive`] (`O_CREAT | O_EXCL | O_NOFOLLOW`: a new inode, or an
//! error, never an existing file), and every other name is given by `rename(2)` or
//! `link(2)`, which replace or refuse a link but never follow one.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{Context, Result};

use crate::digest::{Algorithm, DocumentDigest, DocumentHasher};
use crate::generation::direct::{chunk_start, DirectFile, DirectReader, ALIGN};
use crate::generation::twin;
use crate::generation::unpack::{Buffers, Made, Recipe, Unpackers};
use crate::lheo::document_header;
use crate::model::ActionCode;
use crate::store::fragments::StoredFragment;

/// Creates `path` as a new file, for writing: whatever had that name (a leftover of ours,
/// or a symbolic link someone planted) is unlinked first, never opened, and the open
/// itself refuses to follow a link or to reuse an existing file (`O_EXCL | O_NOFOLLOW`),
/// so a link planted between the two calls makes the export fail, not write through it.
pub fn create_exclusive(path: &Path) -> io::Result<File> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // create_new is O_CREAT | O_EXCL already (which does not follow a final link);
        // O_NOFOLLOW says so explicitly, and O_CLOEXEC keeps it from child processes.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    options.open(path)
}

/// A synced copy of `from` at `to`, created by [`create_exclusive`] (where the file
/// system has no hard links).
fn copy_exclusive(from: &Path, to: &Path) -> Result<()> {
    let copy = || -> io::Result<()> {
        let mut input = File::open(from)?;
        let mut out = create_exclusive(to)?;
        io::copy(&mut input, &mut out)?;
        out.sync_all()
    };
    copy().with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))
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

/// The name a superseded generation's document has until it is removed
/// ([`supersede`], [`remove_superseded`]).
fn superseded_file(out: &Path, id: i64) -> PathBuf {
    sibling(out, &format!("superseded-{id}"))
}

/// Takes the document `file` of generation `id` (with its twin and index) out of the
/// generation names, by renames beside `out`: instant, where unlinking a 9 GB file takes
/// seconds. A reader that holds it open keeps reading it; a reader that looks it up by its
/// name (the feed's current generation, its kept mappings) sees it gone, as if unlinked.
/// A file outside `out`'s directory (the output moved since) is unlinked at once: no sweep
/// would find it. Best effort: what stays is removed by the next export as a leftover.
pub fn supersede(out: &Path, file: &Path, id: i64) {
    let to = superseded_file(out, id);
    let moved = file.parent() == to.parent() && fs::rename(file, &to).is_ok();
    for (from, to) in twin_paths(file).into_iter().zip(twin_paths(&to)) {
        if !moved || fs::rename(&from, &to).is_err() {
            let _ = fs::remove_file(&from);
        }
    }
    if !moved {
        let _ = fs::remove_file(file);
    }
}

/// Unlinks what [`supersede`] renamed beside `out`, and the documents (with their twins)
/// of the generations before `current`: the costly part of replacing a document, done
/// where nothing waits on it (`crate::generation::publish::Sweep`, the daemon after its
/// commit). Only older generations: the current one is served, and a newer one could
/// only be an export's, staged before its commit. Returns the paths unlinked.
pub fn remove_superseded(out: &Path, current: i64) -> Vec<PathBuf> {
    let mut removed = remove_generations_before(out, current);
    let prefix = format!(".{}.superseded-", file_name(out));
    let dir = folder_of(out);
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let is_ours = entry.file_name().to_string_lossy().starts_with(&prefix);
        if is_ours && fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

/// The gzip twin of a file: `FILE.gz` beside it (`.NAME.generation-N.gz`), written once per
/// generation so that the feed serves compressed bytes without compressing per request.
pub fn gzip_twin(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".gz");
    file.with_file_name(name)
}

/// The gzip twin of a document and its index (`crate::generation::twin`); a twin made by
/// [`write_gzip_twin`] has no index.
pub fn twin_paths(file: &Path) -> [PathBuf; 2] {
    let twin = gzip_twin(file);
    let index = twin::index_path(&twin);
    [twin, index]
}

/// Gives document `from`'s twin, and its index when there is one, the names of document
/// `to`'s: renamed, or hard-linked when `link`. Returns the names given.
pub fn twin_into_place(from: &Path, to: &Path, link: bool) -> Result<Vec<PathBuf>> {
    let mut placed = Vec::new();
    let [twin, index] = twin_paths(from);
    let [to_twin, to_index] = twin_paths(to);
    for (a, b) in [(twin, to_twin), (index, to_index)] {
        if placed.len() == 1 && !a.exists() {
            // No index: none must be left under the new name either.
            let _ = fs::remove_file(&b);
            continue;
        }
        if link {
            hard_link_into_place(&a, &b)?;
        } else {
            rename_into_place(&a, &b)?;
        }
        placed.push(b);
    }
    Ok(placed)
}

/// Compression level of the twin: flate2's level 1. The export pays it once per
/// generation (≈ 0.1 s per 10 MB here, `docs/BENCHMARKS.md`); higher levels cost several
/// times more for a few percent.
const TWIN_LEVEL: u32 = 1;

/// Writes `gzip_twin(file)`, synced, and returns its path and size. The caller renames it
/// with the file it was made from.
pub fn write_gzip_twin(file: &Path) -> Result<(PathBuf, u64)> {
    let twin = gzip_twin(file);
    let mut input = File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let out =
        create_exclusive(&twin).with_context(|| format!("cannot write {}", twin.display()))?;
    let mut gz = flate2::write::GzEncoder::new(
        io::BufWriter::with_capacity(CHUNK, out),
        flate2::Compression::new(TWIN_LEVEL),
    );
    io::copy(&mut input, &mut gz).with_context(|| format!("cannot write {}", twin.display()))?;
    let out = gz
        .finish()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .with_context(|| format!("cannot write {}", twin.display()))?;
    out.sync_all()
        .with_context(|| format!("cannot sync {}", twin.display()))?;
    let bytes = out.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((twin, bytes))
}

/// [`write_gzip_twin`] on a thread of its own, so that the export compresses while its
/// transaction writes. Dropped before [`GzipTwinTask::wait`], it waits for the thread (so
/// that whoever deletes the twin next does not race it).
pub struct GzipTwinTask(Option<std::thread::JoinHandle<Result<(PathBuf, u64)>>>);

impl GzipTwinTask {
    pub fn start(file: &Path) -> GzipTwinTask {
        let file = file.to_path_buf();
        GzipTwinTask(Some(std::thread::spawn(move || write_gzip_twin(&file))))
    }

    /// The twin's path and size, once written.
    pub fn wait(mut self) -> Result<(PathBuf, u64)> {
        match self.0.take().map(|t| t.join()) {
            Some(Ok(done)) => done,
            _ => Err(anyhow::anyhow!("the gzip thread panicked")),
        }
    }
}

impl Drop for GzipTwinTask {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            let _ = t.join();
        }
    }
}

/// What the writing thread of a [`Document`] is told.
enum Msg {
    /// Bytes of the document, and of its twin and the twin's index when it has one.
    Chunk {
        plain: Body,
        twin: Vec<u8>,
        index: Vec<u8>,
    },
    /// A chunk could not be made (a stored offer that does not decompress): the writing
    /// thread stops with this reason.
    Failed(String),
    Flush(mpsc::SyncSender<io::Result<()>>),
    /// Sync, and return the size and digest; with a twin, first end its index. The
    /// producer gives the twin's size; the hashing thread fills in the document's digest.
    Finish {
        twin_size: Option<u64>,
        digest: Option<DocumentDigest>,
    },
}

/// A chunk's document bytes: gathered by the producer, or being made by the pool of
/// decompressing threads (`super::unpack`), in which case the hashing stage waits for them
/// in the chunks' order.
enum Body {
    /// The bytes are `buffer[start..]`; the writer may use the room before them.
    Ready(Vec<u8>, usize),
    Making(mpsc::Receiver<Made>),
}

/// Bytes gathered before they go to the writing thread: large writes, and buffers that
/// come back to be filled again, so that streaming a big document allocates nothing.
/// 4 MiB: a 1 % change at a million sessions writes 10.9 GB (document and twin), and on a
/// disk that bounds it, one 4 MiB write at a time went 35 % faster than 1 MiB ones (`fio`,
/// `O_DIRECT`) and the change took 6.2–6.6 s instead of 6.8–8.2 s (`docs/BENCHMARKS.md`,
/// session 17). Where the cores bound it instead, the size made no difference (session 16).
const CHUNK: usize = 4 << 20;
/// Chunks in flight between the producer and the writing thread: 16 MiB at four (8 MiB
/// before, eight of 1 MiB). The buffers kept for the channels, the hashing stage and the
/// pool cost about 50 MB more peak memory than with 1 MiB chunks (219–234 MB for the
/// change at a million sessions); 8 MiB chunks reached 300 MB.
const IN_FLIGHT: usize = 4;

/// A LHÉO document being written to a temporary file beside its target, by two threads of
/// its own, one hashing and one writing, while the caller reads and evaluates the next
/// offers (and, from the first unchanged offer copied from the database, a pool that
/// decompresses them, `super::unpack`); with
/// its gzip twin and the twin's index (`crate::generation::twin`) when made with
/// [`Document::create_with_twin`]. Dropped without [`Document::finish`], it deletes its
/// temporary files.
pub struct Document {
    tmp: PathBuf,
    tx: Option<mpsc::SyncSender<Msg>>,
    /// The chunks' buffers, shared with the pool and the writing thread (which empties
    /// them and gives them back).
    buffers: Buffers,
    /// The unchanged offers of the chunk being gathered, still compressed.
    recipe: Recipe,
    /// Started at the first unchanged offer copied from the database.
    unpackers: Option<Unpackers>,
    thread: Option<std::thread::JoinHandle<io::Result<(u64, DocumentDigest)>>>,
    /// The hashing stage in front of it ([`hash_loop`]).
    hashing: Option<std::thread::JoinHandle<()>>,
    /// The chunk being gathered: its bytes are `pending[pending_start..]`, after room for
    /// the writer (`super::direct::chunk_start`).
    pending: Vec<u8>,
    pending_start: usize,
    /// Where the chunk being gathered begins in the document.
    chunk_at: u64,
    twin: Option<TwinState>,
    offset: u64,
}

/// The twin being assembled on the producer's side.
struct TwinState {
    assembler: twin::Assembler,
    pending: Vec<u8>,
    index: Vec<u8>,
}

/// A complete, synced document in its temporary file.
#[derive(Debug)]
pub struct Finished {
    pub tmp: PathBuf,
    pub bytes: u64,
    pub digest: DocumentDigest,
}

/// The twin and index files a writing thread appends to.
struct TwinFiles {
    twin: DirectFile,
    index: File,
}

/// The hashing stage, between the producer and the writing thread: the document's digest
/// (`crate::digest`) on a core of its own. In the same thread as the writes it was the
/// critical path of a re-export that copies most offers (a 1 % change at a million
/// sessions: 8 GB hashed and written, `docs/BENCHMARKS.md`); here it runs while the
/// previous chunk is written.
fn hash_loop(rx: mpsc::Receiver<Msg>, tx: mpsc::SyncSender<Msg>, algorithm: Algorithm) {
    let mut hasher = Some(DocumentHasher::new(algorithm));
    for mut msg in rx {
        match &mut msg {
            Msg::Chunk { plain, .. } => {
                if let Body::Making(made) = plain {
                    match made.recv() {
                        Ok(Ok((bytes, start))) => *plain = Body::Ready(bytes, start),
                        Ok(Err(why)) => msg = Msg::Failed(why),
                        Err(_) => msg = Msg::Failed("a decompressing thread stopped".into()),
                    }
                }
                if let Msg::Chunk {
                    plain: Body::Ready(bytes, start),
                    ..
                } = &msg
                {
                    if let Some(h) = &mut hasher {
                        h.update(&bytes[*start..]);
                    }
                }
            }
            Msg::Flush(_) | Msg::Failed(_) => {}
            Msg::Finish { digest, .. } => *digest = hasher.take().map(DocumentHasher::finalize),
        }
        // The writing thread stopped (an error it reports itself): stop too.
        if tx.send(msg).is_err() {
            return;
        }
    }
}

fn write_loop(
    file: File,
    twin: Option<TwinFiles>,
    rx: mpsc::Receiver<Msg>,
    buffers: Buffers,
) -> io::Result<(u64, DocumentDigest)> {
    // Past the page cache (`direct`): only the next export reads these files back, once,
    // and past the cache too.
    let mut file = DirectFile::new(file);
    tracing::debug!(
        direct = file.is_direct(),
        "the document's writing thread started"
    );
    let mut twin = twin;
    for msg in rx {
        match msg {
            Msg::Chunk {
                plain: Body::Ready(mut b, start),
                twin: z,
                index,
            } => {
                file.write_with_room(&mut b, start)?;
                if let Some(t) = &mut twin {
                    t.twin.write_all(&z)?;
                    t.index.write_all(&index)?;
                }
                buffers.give(b);
            }
            Msg::Chunk {
                plain: Body::Making(_),
                ..
            } => return Err(io::Error::other("a chunk reached the writer unmade")),
            Msg::Failed(why) => return Err(io::Error::other(why)),
            Msg::Flush(ack) => {
                let _ = ack.send(file.flush());
            }
            Msg::Finish { twin_size, digest } => {
                let digest =
                    digest.ok_or_else(|| io::Error::other("the document was finished twice"))?;
                let in_place = file.written_in_place();
                let bytes = file.finish()?;
                tracing::debug!(bytes, in_place, "the document is written and synced");
                if let (Some(t), Some(size)) = (twin, twin_size) {
                    let mut index = t.index;
                    index.write_all(&twin::index_trailer(size, &digest))?;
                    t.twin.finish()?;
                    index.sync_all()?;
                }
                return Ok((bytes, digest));
            }
        }
    }
    Err(io::Error::other("the document was abandoned"))
}

impl Document {
    /// Creates the temporary file for `out` and writes the document's header.
    pub fn create(out: &Path, horodatage_export: &str) -> Result<Document> {
        Document::create_with(out, horodatage_export, false)
    }

    /// [`Document::create`], also writing the gzip twin (`gzip_twin` of the temporary
    /// file) and its index as the document is written (see [`Document::write_offer`]).
    pub fn create_with_twin(out: &Path, horodatage_export: &str) -> Result<Document> {
        Document::create_with(out, horodatage_export, true)
    }

    /// [`Document::create_with_twin`] under a temporary name of its own
    /// (`.NAME.tmp-PID-TAG`), for a second writer in the same process (a serving host
    /// making a generation's document while its daemon exports).
    /// Its digest is made with `algorithm`: the one the generation being made again was
    /// recorded with.
    pub fn create_tagged_with_twin(
        out: &Path,
        tag: &str,
        horodatage_export: &str,
        algorithm: Algorithm,
    ) -> Result<Document> {
        Document::create_named(out, &format!("-{tag}"), horodatage_export, true, algorithm)
    }

    fn create_with(out: &Path, horodatage_export: &str, with_twin: bool) -> Result<Document> {
        Document::create_named(out, "", horodatage_export, with_twin, Algorithm::WRITTEN)
    }

    fn create_named(
        out: &Path,
        tag: &str,
        horodatage_export: &str,
        with_twin: bool,
        algorithm: Algorithm,
    ) -> Result<Document> {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
        }
        let tmp = sibling(out, &format!("tmp-{}{tag}", std::process::id()));
        let file =
            create_exclusive(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        let (files, state) = if with_twin {
            let path = gzip_twin(&tmp);
            let twin = create_exclusive(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let index_path = twin::index_path(&path);
            let index = create_exclusive(&index_path)
                .with_context(|| format!("cannot write {}", index_path.display()))?;
            let (mut pending, mut idx) = (Vec::with_capacity(CHUNK / 4), Vec::new());
            let assembler = twin::Assembler::new(&mut pending, &mut idx);
            (
                Some(TwinFiles {
                    twin: DirectFile::new(twin),
                    index,
                }),
                Some(TwinState {
                    assembler,
                    pending,
                    index: idx,
                }),
            )
        } else {
            (None, None)
        };
        Document::start(tmp, file, files, state, horodatage_export, algorithm)
    }

    /// Starts the hashing and writing threads on opened files, and writes the header.
    fn start(
        tmp: PathBuf,
        file: File,
        files: Option<TwinFiles>,
        state: Option<TwinState>,
        horodatage_export: &str,
        algorithm: Algorithm,
    ) -> Result<Document> {
        let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
        let (hashed_tx, hashed_rx) = mpsc::sync_channel(IN_FLIGHT);
        // Chunks in the two channels, one being made, one gathered: buffers to keep.
        // A chunk is sent once it holds CHUNK bytes, so it is one offer over: room for that
        // and the writer's, so that it seldom moves (a moved buffer is written by copy).
        let buffers = Buffers::new(CHUNK + CHUNK / 8 + 2 * ALIGN, 2 * IN_FLIGHT + 4);
        let given_back = buffers.clone();
        let thread = std::thread::Builder::new()
            .name("lheo-feed-writer".into())
            .spawn(move || write_loop(file, files, hashed_rx, given_back))
            .context("cannot start the writing thread")?;
        let hashing = std::thread::Builder::new()
            .name("lheo-feed-hasher".into())
            .spawn(move || hash_loop(rx, hashed_tx, algorithm))
            .context("cannot start the hashing thread")?;
        let mut doc = Document {
            tmp,
            tx: Some(tx),
            pending: Vec::new(),
            pending_start: 0,
            chunk_at: 0,
            buffers,
            recipe: Recipe::default(),
            unpackers: None,
            thread: Some(thread),
            hashing: Some(hashing),
            twin: state,
            offset: 0,
        };
        doc.pending = doc.chunk_buffer();
        doc.write(document_header(horodatage_export).as_bytes())?;
        Ok(doc)
    }

    /// Waits for the hashing stage to end (once the producer's channel is closed, or after
    /// it forwarded Finish); it only stops early when the writing thread did.
    fn join_hashing(&mut self) {
        if let Some(h) = self.hashing.take() {
            let _ = h.join();
        }
    }

    /// The writing thread's error, once it has stopped.
    fn failure(&mut self) -> anyhow::Error {
        self.tx = None;
        self.join_hashing();
        let why = match self.thread.take().map(|t| t.join()) {
            Some(Ok(Err(e))) => e.to_string(),
            Some(Err(_)) => "the writing thread panicked".to_owned(),
            _ => "the writing thread stopped".to_owned(),
        };
        anyhow::anyhow!("cannot write {}: {why}", self.tmp.display())
    }

    /// A buffer for the chunk that begins at the current offset, with the room the writer
    /// needs before it (`pending_start` says where its bytes start).
    fn chunk_buffer(&mut self) -> Vec<u8> {
        let mut buffer = self.buffers.take();
        self.chunk_at = self.offset;
        self.pending_start = chunk_start(&buffer, self.chunk_at);
        buffer.resize(self.pending_start, 0);
        buffer
    }

    /// Bytes gathered in the chunk, with those its stored offers will add.
    fn gathered(&self) -> usize {
        self.pending.len() - self.pending_start + self.recipe.stored_len()
    }

    /// Hands what is gathered to the writing thread.
    fn send_pending(&mut self) -> Result<()> {
        if self.pending.len() == self.pending_start
            && self.recipe.is_empty()
            && self.twin.as_ref().is_none_or(|t| t.pending.is_empty())
        {
            return Ok(());
        }
        let (start, at) = (self.pending_start, self.chunk_at);
        let next = self.chunk_buffer();
        let plain = std::mem::replace(&mut self.pending, next);
        let plain = if self.recipe.is_empty() {
            Body::Ready(plain, start)
        } else {
            let recipe = std::mem::take(&mut self.recipe);
            let pool = match &self.unpackers {
                Some(pool) => pool,
                None => self
                    .unpackers
                    .insert(Unpackers::start(&self.buffers, IN_FLIGHT)?),
            };
            match pool.give(plain, start, recipe, at) {
                Some(made) => Body::Making(made),
                None => return Err(self.failure()),
            }
        };
        let (twin, index) = match &mut self.twin {
            Some(t) => (
                std::mem::replace(&mut t.pending, Vec::with_capacity(CHUNK / 4)),
                std::mem::take(&mut t.index),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let sent = self
            .tx
            .as_ref()
            .expect("not finished")
            .send(Msg::Chunk { plain, twin, index });
        if sent.is_err() {
            return Err(self.failure());
        }
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.append_with(|pending| {
            pending.extend_from_slice(bytes);
            Ok(())
        })
    }

    /// Lets `fill` append to the gathered bytes (an unchanged offer decompresses itself
    /// there), then hands them on once a chunk is gathered.
    fn append_with(&mut self, fill: impl FnOnce(&mut Vec<u8>) -> Result<()>) -> Result<()> {
        let before = self.pending.len();
        fill(&mut self.pending)?;
        self.offset += (self.pending.len() - before) as u64;
        if self.gathered() >= CHUNK {
            self.send_pending()?;
        }
        Ok(())
    }

    /// Appends bytes that are not an offer (the document's head and tail).
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if let Some(t) = &mut self.twin {
            t.assembler
                .push(&twin::segment(bytes), None, &mut t.pending, &mut t.index);
        }
        self.append(bytes)
    }

    /// Appends an offer's fragment, with its twin segment when the caller has it (else,
    /// with a twin, it is compressed here).
    pub fn write_offer(
        &mut self,
        numero: ActionCode,
        bytes: &[u8],
        segment: Option<&twin::Segment>,
    ) -> Result<()> {
        if let Some(t) = &mut self.twin {
            let made;
            let seg = match segment {
                Some(s) => s,
                None => {
                    made = twin::segment(bytes);
                    &made
                }
            };
            t.assembler
                .push(seg, Some(numero), &mut t.pending, &mut t.index);
        }
        self.append(bytes)
    }

    /// Appends an unchanged offer's fragment as the database holds it, with the twin
    /// segment the previous twin had for it. It is decompressed with the rest of its chunk
    /// by the pool of decompressing threads (`super::unpack`), straight into the chunk's
    /// buffer. A segment whose plain length is not the fragment's is not used (the
    /// fragment is compressed again, here): the twin must stay the document, compressed.
    pub fn write_stored_offer(
        &mut self,
        numero: ActionCode,
        stored: StoredFragment,
        segment: Option<&twin::Segment>,
    ) -> Result<()> {
        let len = stored
            .plain_len()
            .with_context(|| format!("offer {numero}"))?;
        match (&mut self.twin, segment) {
            (None, _) => {}
            (Some(t), Some(seg)) if seg.len as usize == len => {
                t.assembler
                    .push(seg, Some(numero), &mut t.pending, &mut t.index);
            }
            (Some(_), _) => {
                let bytes = stored
                    .into_plain()
                    .with_context(|| format!("offer {numero}"))?;
                return self.write_offer(numero, &bytes, None);
            }
        }
        let at = self.pending.len() - self.pending_start;
        self.recipe.push(at, numero, stored, len);
        self.offset += len as u64;
        if self.gathered() >= CHUNK {
            self.send_pending()?;
        }
        Ok(())
    }

    /// The offset of the next byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Waits until the file on disk holds everything written so far.
    pub fn flush(&mut self) -> Result<()> {
        self.send_pending()?;
        let (ack, done) = mpsc::sync_channel(1);
        let sent = self
            .tx
            .as_ref()
            .expect("not finished")
            .send(Msg::Flush(ack));
        match (sent, done.recv()) {
            (Ok(()), Ok(Ok(()))) => Ok(()),
            (Ok(()), Ok(Err(e))) => Err(anyhow::Error::new(e).context("writing the export")),
            _ => Err(self.failure()),
        }
    }

    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Writes `tail` (the end of the document), then has the files synced.
    pub fn finish(mut self, tail: &str) -> Result<Finished> {
        self.write(tail.as_bytes())?;
        let twin_size = self
            .twin
            .as_mut()
            .map(|t| t.assembler.finish(&mut t.pending));
        self.send_pending()?;
        if self
            .tx
            .take()
            .expect("not finished")
            .send(Msg::Finish {
                twin_size,
                digest: None,
            })
            .is_err()
        {
            return Err(self.failure());
        }
        self.join_hashing();
        let (bytes, digest) = match self.thread.take().map(|t| t.join()) {
            Some(Ok(Ok(done))) => done,
            Some(Ok(Err(e))) => {
                return Err(
                    anyhow::Error::new(e).context(format!("cannot write {}", self.tmp.display()))
                )
            }
            _ => return Err(anyhow::anyhow!("the writing thread panicked")),
        };
        Ok(Finished {
            tmp: std::mem::take(&mut self.tmp),
            bytes,
            digest,
        })
    }
}

impl Drop for Document {
    fn drop(&mut self) {
        // Closing the channel without Finish stops the threads without syncing.
        self.tx = None;
        self.join_hashing();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if !self.tmp.as_os_str().is_empty() {
            if self.twin.is_some() {
                let twin = gzip_twin(&self.tmp);
                let _ = fs::remove_file(twin::index_path(&twin));
                let _ = fs::remove_file(twin);
            }
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// The folder holding `path` (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d,
        None => Path::new("."),
    }
}

/// Syncs the folder holding `path`, so that a rename into it is durable.
pub fn sync_dir(path: &Path) {
    let dir = folder_of(path);
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

/// Gives `file` the second name `to` (a hard link, or a synced copy where the file system
/// has none), replacing whatever `to` named; durable.
pub fn hard_link_into_place(file: &Path, to: &Path) -> Result<()> {
    let _ = fs::remove_file(to);
    if fs::hard_link(file, to).is_err() {
        copy_exclusive(file, to)?;
    }
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
    // Already the same file (a generation that kept the previous document): rename(2)
    // between two names of one inode does nothing and would leave the temporary name.
    if same_file(file, out) {
        return Ok(());
    }
    let tmp = sibling(out, &format!("link-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    if fs::hard_link(file, &tmp).is_err() {
        copy_exclusive(file, &tmp)?;
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
    let dir = folder_of(out);
    let prefix = format!(".{}.", file_name(out));
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        // A file's gzip twin and the twin's index go with it.
        let rest = rest.strip_suffix(".gz.idx").unwrap_or(rest);
        let rest = rest.strip_suffix(".gz").unwrap_or(rest);
        let stale = if let Some(id) = rest.strip_prefix("generation-") {
            id.parse::<i64>().is_ok_and(|id| !keep.contains(&id))
        } else if rest.starts_with("superseded-") {
            true
        } else if let Some(pid) = rest
            .strip_prefix("tmp-")
            .or_else(|| rest.strip_prefix("link-"))
        {
            // `tmp-PID` or `tmp-PID-TAG` (Document::create_tagged_with_twin).
            let pid = pid.split('-').next().unwrap_or_default();
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

/// The generations whose document (`.NAME.generation-N`, the document itself, not its
/// twin) is beside `out`, in increasing order.
pub fn generations_held(out: &Path) -> Vec<i64> {
    let dir = folder_of(out);
    let prefix = format!(".{}.generation-", file_name(out));
    let mut ids: Vec<i64> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix(&prefix)?.parse::<i64>().ok()
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// Deletes the documents of the generations before `id` beside `out`, with their twins.
/// Only older ones: a newer one may be an export's, staged before its commit.
pub fn remove_generations_before(out: &Path, id: i64) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for old in generations_held(out).into_iter().filter(|&g| g < id) {
        let file = generation_file(out, old);
        let [twin, index] = twin_paths(&file);
        for path in [file, twin, index] {
            if fs::remove_file(&path).is_ok() {
                removed.push(path);
            }
        }
    }
    removed
}

/// Size, modification time (ns) and inode of a file: what changes when anything writes it.
/// Recorded for each generation's file; while it matches, the file is taken to hold the
/// bytes it was written with, as `make` and `git` take an unchanged file (a rename or a
/// hard link keeps all three).
pub fn fingerprint(path: &Path) -> io::Result<String> {
    fingerprint_of(&fs::metadata(path)?)
}

/// [`fingerprint`] from metadata already read (of a file held open, say).
pub fn fingerprint_of(m: &fs::Metadata) -> io::Result<String> {
    let mtime = m
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    let ino = {
        use std::os::unix::fs::MetadataExt;
        m.ino()
    };
    #[cfg(not(unix))]
    let ino = 0;
    Ok(format!("{}:{mtime}:{ino}", m.len()))
}

/// The `<formation>` fragments of a document this program wrote, read in order (a partner's
/// scoped snapshot, `crate::serve::feed`). Relies on the writer's layout:
/// each fragment starts a line with `<formation numero="F-A"` and ends with the line
/// `</formation>`; text content cannot hold either (`<` is escaped).
pub struct FragmentReader {
    /// Through the page cache: the document the feed serves is read again and again.
    file: DirectReader,
    /// `buf[pos..filled]` is read and not yet consumed.
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    eof: bool,
    end: memchr::memmem::Finder<'static>,
}

const FRAGMENT_START: &[u8] = b"<formation numero=\"";
const FRAGMENT_END: &[u8] = b"\n</formation>\n";
const OFFRES_START: &[u8] = b"<offres>\n";
/// Read size (the buffer grows only for a fragment larger than this).
const READ: usize = 4 << 20;

impl FragmentReader {
    /// Opens `path` and reads its header (through `<offres>`).
    pub fn open(path: &Path) -> io::Result<FragmentReader> {
        let mut r = FragmentReader {
            file: DirectReader::open_with(path, true)?,
            buf: vec![0; READ],
            pos: 0,
            filled: 0,
            eof: false,
            end: memchr::memmem::Finder::new(FRAGMENT_END),
        };
        r.fill()?;
        let Some(i) = memchr::memmem::find(&r.buf[..r.filled], OFFRES_START) else {
            return Err(io::Error::other(
                "no <offres> in the document's first bytes",
            ));
        };
        r.consume(i + OFFRES_START.len());
        Ok(r)
    }

    /// Reads more; false at the end of the file.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        // Keep the unconsumed bytes, at the start; grow only if they fill the buffer.
        self.buf.copy_within(self.pos..self.filled, 0);
        self.filled -= self.pos;
        self.pos = 0;
        if self.buf.len() - self.filled < READ / 2 {
            self.buf.resize(self.filled + READ, 0);
        }
        let n = loop {
            match self.file.read(&mut self.buf[self.filled..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.filled += n;
        self.eof = n == 0;
        Ok(n > 0)
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
    }

    /// The next fragment's `numero` and bytes, or None after the last one.
    pub fn next_fragment(&mut self) -> io::Result<Option<(ActionCode, &[u8])>> {
        loop {
            let rest = &self.buf[self.pos..self.filled];
            let k = rest.len().min(FRAGMENT_START.len());
            if rest[..k] != FRAGMENT_START[..k] {
                return Ok(None); // the footer
            }
            if let Some(i) = self.end.find(rest) {
                let len = i + FRAGMENT_END.len();
                let head = &rest[FRAGMENT_START.len()..];
                let numero = head
                    .iter()
                    .position(|b| *b == b'"')
                    .and_then(|q| std::str::from_utf8(&head[..q]).ok())
                    // An offer imported from a foreign LHÉO document keeps its numero;
                    // the key is the code the import derived from it.
                    .and_then(|s| quick_xml::escape::unescape(s).ok())
                    .and_then(|s| crate::lheo::import::action_code_of(&s))
                    .ok_or_else(|| io::Error::other("a fragment without a readable numero"))?;
                let start = self.pos;
                self.consume(len);
                return Ok(Some((numero, &self.buf[start..start + len])));
            }
            if !self.fill()? {
                return if self.filled > self.pos {
                    Err(io::Error::other("the document ends inside a fragment"))
                } else {
                    Ok(None)
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Links planted at every name the export writes, all pointing at one victim file.
    #[cfg(unix)]
    fn plant(victim: &Path, names: &[PathBuf]) {
        for name in names {
            std::os::unix::fs::symlink(victim, name).unwrap();
        }
    }

    #[cfg(unix)]
    fn assert_not_followed(victim: &Path, names: &[PathBuf]) {
        assert_eq!(
            fs::read(victim).unwrap(),
            b"precious",
            "the victim was written"
        );
        for name in names {
            let m = fs::symlink_metadata(name);
            assert!(
                m.as_ref().map_or(true, |m| !m.file_type().is_symlink()),
                "{} is still a link",
                name.display()
            );
        }
    }

    /// A link planted at the temporary document, its twin and index, the generation's
    /// names, the `.link-` name and the stable name: the export writes new files and leaves
    /// the file they point to alone.
    #[test]
    #[cfg(unix)]
    fn planted_links_are_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("lheo.xml");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let tmp = sibling(&out, &format!("tmp-{}", std::process::id()));
        let generation = generation_file(&out, 1);
        let mut names = vec![
            tmp.clone(),
            sibling(&out, &format!("link-{}", std::process::id())),
            generation.clone(),
            out.clone(),
        ];
        names.extend(twin_paths(&tmp));
        names.extend(twin_paths(&generation));
        plant(&victim, &names);

        let mut doc = Document::create_with_twin(&out, "2025-06-02T00:00:00Z").unwrap();
        doc.write(b"<formation/>\n").unwrap();
        let finished = doc.finish("</lheo>\n").unwrap();
        rename_into_place(&finished.tmp, &generation).unwrap();
        twin_into_place(&finished.tmp, &generation, false).unwrap();
        link_into_place(&generation, &out).unwrap();
        assert_not_followed(&victim, &names);
        let text = fs::read_to_string(&out).unwrap();
        assert!(text.ends_with("</lheo>\n"), "{text}");

        // The twin written apart (a generation that kept its document).
        let kept = dir.path().join(".lheo.xml.generation-2");
        fs::copy(&out, &kept).unwrap();
        plant(&victim, &[gzip_twin(&kept)]);
        let (twin, _) = write_gzip_twin(&kept).unwrap();
        assert_not_followed(&victim, &[twin]);

        // The copy made where hard links are missing.
        let copy = dir.path().join("copy");
        plant(&victim, std::slice::from_ref(&copy));
        copy_exclusive(&out, &copy).unwrap();
        assert_not_followed(&victim, std::slice::from_ref(&copy));
        assert_eq!(fs::read(&copy).unwrap(), fs::read(&out).unwrap());
    }

    /// A generation's three files, each holding its own name (to tell them apart).
    fn generation_at(file: &Path) -> Vec<PathBuf> {
        let names: Vec<PathBuf> = [file.to_path_buf()]
            .into_iter()
            .chain(twin_paths(file))
            .collect();
        for name in &names {
            fs::write(name, name.to_string_lossy().as_bytes()).unwrap();
        }
        names
    }

    /// Superseding renames a generation's files away at once, whole and still readable
    /// through a handle opened before; the sweep then unlinks them and older generations,
    /// never the current one or a newer one (another export's, staged); a document outside
    /// the output's directory is unlinked at once; and a killed export's superseded files
    /// are leftovers.
    #[test]
    fn superseded_files_are_renamed_at_once_and_unlinked_by_the_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("lheo.xml");
        let names = |ids: &[(&str, i64)]| -> BTreeSet<String> {
            ids.iter()
                .flat_map(|(kind, id)| {
                    let f = format!(".lheo.xml.{kind}-{id}");
                    [format!("{f}.gz.idx"), format!("{f}.gz"), f]
                })
                .collect()
        };
        let listed = || -> BTreeSet<String> {
            fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        let old = generation_at(&generation_file(&out, 1));
        for id in [2, 3, 4] {
            generation_at(&generation_file(&out, id));
        }
        let mut open = File::open(&old[0]).unwrap();

        supersede(&out, &old[0], 1);
        supersede(&out, &generation_file(&out, 2), 2);
        assert_eq!(
            listed(),
            names(&[
                ("superseded", 1),
                ("superseded", 2),
                ("generation", 3),
                ("generation", 4)
            ])
        );
        let renamed = superseded_file(&out, 1);
        for (before, after) in old
            .iter()
            .zip([renamed.clone()].into_iter().chain(twin_paths(&renamed)))
        {
            assert_eq!(
                fs::read(&after).unwrap(),
                before.to_string_lossy().as_bytes()
            );
        }
        let mut read = String::new();
        open.read_to_string(&mut read).unwrap();
        assert_eq!(read, old[0].to_string_lossy());

        // Generation 3 current, 4 staged by another export: only what is older goes.
        generation_at(&generation_file(&out, 0));
        let removed = remove_superseded(&out, 3);
        assert_eq!(removed.len(), 9, "{removed:?}");
        assert_eq!(listed(), names(&[("generation", 3), ("generation", 4)]));

        // A document recorded in another directory (the output moved) cannot wait for a
        // sweep that will not look there.
        let elsewhere = tempfile::tempdir().unwrap();
        let moved = generation_at(&elsewhere.path().join(".lheo.xml.generation-3"));
        supersede(&out, &moved[0], 3);
        assert!(moved.iter().all(|p| !p.exists()), "unlinked at once");
        assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);

        // A superseded file left by a killed export goes with the leftovers.
        supersede(&out, &generation_file(&out, 3), 3);
        let gone = remove_leftovers(&out, &[4]);
        assert_eq!(gone.len(), 3, "{gone:?}");
        assert_eq!(listed(), names(&[("generation", 4)]));
    }

    /// A failing disk stops both threads and reaches the producer as an error naming the
    /// file, instead of a hang (the hashing stage sits between the producer and the writes).
    #[test]
    #[cfg(target_os = "linux")]
    fn a_write_error_reaches_the_producer_through_the_hashing_stage() {
        let full = File::options().write(true).open("/dev/full").unwrap();
        // The name the errors give; never /dev/full itself, which drop would delete.
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("lheo.xml.tmp");
        let mut doc = Document::start(
            tmp.clone(),
            full,
            None,
            None,
            "2025-06-02T03:00:00+02:00",
            Algorithm::WRITTEN,
        )
        .unwrap();
        let fragment = vec![b'x'; 64 << 10];
        let mut error = None;
        // More than the chunks the channels can hold: the producer must see the failure.
        for _ in 0..(4 * IN_FLIGHT * CHUNK / fragment.len()) {
            if let Err(e) = doc.write(&fragment) {
                error = Some(e);
                break;
            }
        }
        let e = format!("{:#}", error.expect("the producer is told"));
        assert!(
            e.contains(&tmp.display().to_string()) && e.contains("space"),
            "{e}"
        );
        drop(doc);
    }

    /// The SHA-256 the hashing stage gives is the one of the bytes written.
    #[test]
    fn the_hash_is_of_the_bytes_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut doc =
            Document::create(&dir.path().join("d.xml"), "2025-06-02T03:00:00+02:00").unwrap();
        for i in 0..3000 {
            doc.write(format!("<!-- {i} {} -->\n", "é".repeat(i % 700)).as_bytes())
                .unwrap();
        }
        let f = doc.finish("</lheo>\n").unwrap();
        let bytes = fs::read(&f.tmp).unwrap();
        assert_eq!(f.bytes, bytes.len() as u64);
        assert_eq!(f.digest, DocumentDigest::of(Algorithm::WRITTEN, &bytes));
    }
}
