//! The full snapshot and single offers.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::changes::{Cursor, CursorKey};
use super::http::{self, error, internal};
use super::{auth::Caller, hosts, AppState};
use crate::generation::files::{self, FragmentReader};
use crate::lheo::{document_header, DOCUMENT_FOOTER};
use crate::model::ActionCode;
use crate::store::GenerationRow;

/// Read size when streaming a snapshot file (a scoped partner's filtered copy, and a full
/// snapshot whose file could not be mapped).
const STREAM_CHUNK: usize = 256 * 1024;
/// Size of the slices of a mapped snapshot handed to hyper: each is written into the socket
/// as far as its buffer takes it, and at a few MiB the per-slice costs (a poll of the body,
/// a frame) vanish beside the copy.
const MAPPED_CHUNK: usize = 4 * 1024 * 1024;
/// Attempts to open the current generation's file: an export may delete the previous
/// one between reading the generation and opening its file.
const OPEN_ATTEMPTS: usize = 3;

/// The generation's own snapshot file (never the stable name, which moves to the next
/// generation: the file and the generation number must agree).
fn generation_path(state: &AppState, g: &GenerationRow) -> PathBuf {
    match &state.config.out {
        Some(out) => files::generation_file(out, g.id),
        None => PathBuf::from(&g.file_path),
    }
}

fn no_generation() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_generation",
        "nothing has been published yet (no export generation): try again later",
    )
}

fn materialising() -> Response {
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "materialising",
        "this host is making the current generation's document from the database: try again \
         in a few seconds",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// `Lheo-Feed-Generation` and `Lheo-Feed-Cursor` (where the changes feed continues after
/// this snapshot).
fn generation_headers(h: &mut HeaderMap, g: i64, key: &CursorKey) {
    h.insert("lheo-feed-generation", HeaderValue::from(g));
    if let Ok(v) = HeaderValue::from_str(&Cursor::after_generation(g).encode(key)) {
        h.insert("lheo-feed-cursor", v);
    }
}

/// `GET /feed/lheo.xml`.
pub async fn snapshot(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    let key = match state.cursor_key().await {
        Ok(k) => k,
        Err(e) => return internal(e),
    };
    for _ in 0..OPEN_ATTEMPTS {
        // Kept between requests while its file is there (`current`): no query per request.
        let current = state
            .current
            .get(
                || hosts::serving_generation(&state),
                |g| generation_path(&state, g),
            )
            .await;
        let current = match current {
            Ok(Some(c)) => c,
            Ok(None) if state.materialiser.busy() => return materialising(),
            Ok(None) => return no_generation(),
            Err(e) => return internal(e),
        };
        let g = &current.row;
        let path = current.path.clone();
        let twin = files::gzip_twin(&path);
        let gz = http::accepts_gzip(&headers);
        let last_modified = g.finished_at;
        let file_digest = g.file_digest.short();
        let outcome = if caller.scope.is_all() {
            // A stat: microseconds, cheaper here than through the blocking pool (this is
            // the 304 path of every partner that accepts gzip).
            let use_twin = gz && std::fs::metadata(&twin).is_ok();
            let etag = http::etag_for(&format!("g{}-{file_digest}", g.id), use_twin);
            if http::not_modified(&headers, &etag, last_modified) {
                let mut r = http::not_modified_response(&etag, last_modified);
                generation_headers(r.headers_mut(), g.id, key);
                return r;
            }
            let file = if use_twin { twin } else { path };
            match state.mapped.body(file).await {
                Ok((body, len)) => {
                    let mut r = body.into_response();
                    let h = r.headers_mut();
                    http::document_headers(h, &etag, last_modified, http::XML, use_twin);
                    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                    Ok(r)
                }
                Err(e) => Err(e),
            }
        } else {
            let etag = http::etag_for(
                &format!("g{}-{file_digest}-s{}", g.id, caller.scope.digest()),
                gz,
            );
            if http::not_modified(&headers, &etag, last_modified) {
                let mut r = http::not_modified_response(&etag, last_modified);
                generation_headers(r.headers_mut(), g.id, key);
                return r;
            }
            match scoped(&state, &caller, g, path, gz).await {
                Ok(Ok(body)) => {
                    let mut r = body.into_response();
                    http::document_headers(r.headers_mut(), &etag, last_modified, http::XML, gz);
                    Ok(r)
                }
                Ok(Err(r)) => return r,
                Err(e) => Err(e),
            }
        };
        match outcome {
            Ok(mut r) => {
                generation_headers(r.headers_mut(), g.id, key);
                return r;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A newer generation replaced this one's file meanwhile: read again.
                tracing::debug!("generation {}'s file is gone: retrying", g.id);
                continue;
            }
            Err(e) => return internal(anyhow::Error::new(e).context("reading the snapshot")),
        }
    }
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "exports are replacing the snapshot faster than it can be opened: retry in a minute",
    )
}

/// The mappings of the snapshot files served last (the current generation's document and
/// its gzip twin), kept from one download to the next.
///
/// Mapping an 8 GB file costs little, but each download through a new mapping faults every
/// page into it and tears it all down at the end: a quarter of the server's CPU time in a
/// download, measured. Partners download the same generation's files many times, so a
/// mapping is kept while its file is among the last two served, and found again by the
/// file's path and [`files::fingerprint`] (a new file at the same path is mapped anew).
/// A mapping's pages are the page cache's, shared and reclaimable: they count in the
/// process's RSS (as file pages) but are not allocated memory.
///
/// A kept mapping also keeps its file's disk space after the file is unlinked, so
/// mappings whose path no longer names their file (renamed away by the next export, then
/// unlinked) are dropped every 10 s (`SWEEP_EVERY`) and whenever another file is mapped:
/// the previous generation's space comes back within that time once the downloads still
/// reading it end.
pub struct MappedFiles {
    /// Most recently used last.
    maps: std::sync::Mutex<Vec<MappedFile>>,
    sweeping: std::sync::atomic::AtomicBool,
    sweep_every: std::time::Duration,
}

impl Default for MappedFiles {
    fn default() -> MappedFiles {
        MappedFiles {
            maps: Default::default(),
            sweeping: Default::default(),
            sweep_every: SWEEP_EVERY,
        }
    }
}

struct MappedFile {
    path: PathBuf,
    fingerprint: String,
    bytes: Bytes,
}

/// How many mappings are kept: a generation's document and its gzip twin.
const KEPT_MAPPINGS: usize = 2;
/// How often kept mappings of unlinked or replaced files are dropped.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl MappedFiles {
    /// A whole snapshot file (the document or its gzip twin) as a body, and its length.
    ///
    /// The body is made of slices of the file's mapping: hyper writes them straight from
    /// the page cache into the socket, one copy as `cat` makes one, where reading the file
    /// (`tokio::fs`) cost a blocking-pool round trip and a copy into a buffer per chunk and
    /// served a third of `cat`'s rate. If the file cannot be mapped (a file system without
    /// `mmap`, no address space left), it is read in chunks as before.
    pub async fn body(self: &Arc<Self>, path: PathBuf) -> io::Result<(Body, u64)> {
        // stat, open and mmap are system calls that may wait for the disk: off the
        // runtime's threads, once per request.
        let this = self.clone();
        let opened = tokio::task::spawn_blocking(move || this.mapped(&path))
            .await
            .map_err(io::Error::other)??;
        if !self
            .sweeping
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tokio::spawn(sweep(Arc::downgrade(self)));
        }
        match opened {
            Ok(bytes) => {
                let len = bytes.len() as u64;
                Ok((mapped_body(bytes, MAPPED_CHUNK), len))
            }
            Err(file) => streamed_body(tokio::fs::File::from_std(file)).await,
        }
    }

    /// The file's mapping, kept or new; the open file when it cannot be mapped. A missing
    /// file is `NotFound` (the caller reads the generation again).
    fn mapped(&self, path: &std::path::Path) -> io::Result<Result<Bytes, std::fs::File>> {
        let fingerprint = files::fingerprint(path)?;
        if let Some(bytes) = self.find(path, &fingerprint) {
            return Ok(Ok(bytes));
        }
        let file = std::fs::File::open(path)?;
        // The open file's own fingerprint: the path may have changed files since.
        let fingerprint = files::fingerprint_of(&file.metadata()?)?;
        match map_file(&file) {
            Ok(bytes) => {
                self.keep(MappedFile {
                    path: path.to_path_buf(),
                    fingerprint,
                    bytes: bytes.clone(),
                });
                Ok(Ok(bytes))
            }
            Err(e) => {
                warn_unmapped(path, &e);
                Ok(Err(file))
            }
        }
    }

    fn find(&self, path: &std::path::Path, fingerprint: &str) -> Option<Bytes> {
        let mut maps = self.maps.lock().expect("not poisoned");
        let i = maps
            .iter()
            .position(|m| m.path == path && m.fingerprint == fingerprint)?;
        let m = maps.remove(i);
        let bytes = m.bytes.clone();
        maps.push(m);
        Some(bytes)
    }

    fn keep(&self, m: MappedFile) {
        self.drop_stale();
        let mut maps = self.maps.lock().expect("not poisoned");
        maps.retain(|old| old.path != m.path);
        maps.push(m);
        // The oldest goes: it is unmapped when the downloads still reading it end.
        while maps.len() > KEPT_MAPPINGS {
            maps.remove(0);
        }
    }

    /// Drops the mappings whose path no longer names their file (renamed away by the next
    /// export, unlinked, or replaced).
    fn drop_stale(&self) {
        let kept: Vec<(PathBuf, String)> = {
            let maps = self.maps.lock().expect("not poisoned");
            maps.iter()
                .map(|m| (m.path.clone(), m.fingerprint.clone()))
                .collect()
        };
        // stat without the lock: requests go on meanwhile.
        let stale: Vec<(PathBuf, String)> = kept
            .into_iter()
            .filter(|(path, fp)| files::fingerprint(path).ok().as_ref() != Some(fp))
            .collect();
        if !stale.is_empty() {
            let mut maps = self.maps.lock().expect("not poisoned");
            maps.retain(|m| {
                !stale
                    .iter()
                    .any(|(path, fp)| *path == m.path && *fp == m.fingerprint)
            });
        }
    }
}

/// Every [`SWEEP_EVERY`], [`MappedFiles::drop_stale`], until the server's state is gone.
async fn sweep(files: std::sync::Weak<MappedFiles>) {
    let Some(every) = files.upgrade().map(|f| f.sweep_every) else {
        return;
    };
    loop {
        tokio::time::sleep(every).await;
        let Some(files) = files.upgrade() else {
            return;
        };
        // A stat per kept file: may wait for the disk.
        let _ = tokio::task::spawn_blocking(move || files.drop_stale()).await;
    }
}

/// The whole file, mapped read-only, as one `Bytes` whose slices share the mapping (it is
/// unmapped when the last slice is dropped, after hyper has written it).
fn map_file(file: &std::fs::File) -> io::Result<Bytes> {
    // SAFETY: a mapping is only sound while nobody truncates or rewrites the file under it
    // (a read past a truncation is a SIGBUS, a write in place would change bytes already
    // promised by the ETag). Generation files are never modified in place: an export
    // writes a new document to a temporary file, renames it to its own
    // `.NAME.generation-N` (its gzip twin likewise, `.gz`), and after the next generation
    // commits, renames the previous one away and later unlinks it; a kept document gets a
    // second hard link, not a rewrite (`crate::generation`, its `files`). Unlinking leaves
    // the inode, and this mapping, intact until it is unmapped. Only someone editing the
    // export folder by hand could break this, which would break the recorded SHA-256 and
    // the ETags too.
    let map = unsafe { memmap2::Mmap::map(file)? };
    // Read ahead far and early when the pages are not in memory yet (a cold cache): the
    // copy into the socket faults them in. Advice only: a refusal changes nothing.
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Bytes::from_owner(map))
}

/// Slices of `all` of `chunk` bytes each (the last one shorter), without copying.
fn mapped_body(all: Bytes, chunk: usize) -> Body {
    let len = all.len();
    let slices = (0..len)
        .step_by(chunk.max(1))
        .map(move |at| Ok::<_, io::Error>(all.slice(at..len.min(at + chunk))));
    Body::from_stream(futures_util::stream::iter(slices))
}

/// The file read in chunks of [`STREAM_CHUNK`] on the blocking pool: the fallback when it
/// cannot be mapped.
async fn streamed_body(f: tokio::fs::File) -> io::Result<(Body, u64)> {
    let len = f.metadata().await?.len();
    let stream = tokio_util::io::ReaderStream::with_capacity(f, STREAM_CHUNK);
    Ok((Body::from_stream(stream), len))
}

/// Says once per process that snapshots are read instead of mapped (the slower path: the
/// operator may want to know why), then only at debug.
fn warn_unmapped(path: &std::path::Path, e: &io::Error) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(file = %path.display(), "cannot map the snapshot ({e}): reading it instead");
    } else {
        tracing::debug!(file = %path.display(), "cannot map the snapshot ({e}): reading it instead");
    }
}

/// A scoped partner's snapshot: the generation's file, streamed through a filter that
/// keeps the offers of its scope (and compressed on the way when asked).
async fn scoped(
    state: &AppState,
    caller: &Caller,
    g: &GenerationRow,
    path: PathBuf,
    gz: bool,
) -> io::Result<Result<Body, Response>> {
    let filters = match state.store.published_filters().await {
        Ok(f) => f,
        Err(e) => return Ok(Err(internal(e))),
    };
    let allowed: HashSet<ActionCode> = filters
        .into_iter()
        .filter(|(_, p, d)| caller.scope.allows(p, d))
        .map(|(k, _, _)| k)
        .collect();
    if allowed.is_empty() {
        return Ok(Err(error(
            StatusCode::NOT_FOUND,
            "empty_scope",
            "no published offer is in your scope at the moment (LHÉO cannot hold an empty \
             document); the operator can check your scope",
        )));
    }
    let reader = FragmentReader::open(&path)?;
    let header = document_header(&g.horodatage_export);
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
    tokio::task::spawn_blocking(move || {
        let sink = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(STREAM_CHUNK),
        };
        let result = if gz {
            let mut w = flate2::write::GzEncoder::new(sink, flate2::Compression::fast());
            filter_into(reader, &allowed, &header, &mut w).and_then(|()| w.finish()?.flush())
        } else {
            let mut w = sink;
            filter_into(reader, &allowed, &header, &mut w).and_then(|()| w.flush())
        };
        if let Err(e) = result {
            // The client went away, or the file broke: end the body with an error, so the
            // client sees a truncated transfer and not a short document.
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(Ok(Body::from_stream(stream)))
}

fn filter_into(
    mut reader: FragmentReader,
    allowed: &HashSet<ActionCode>,
    header: &str,
    w: &mut impl Write,
) -> io::Result<()> {
    w.write_all(header.as_bytes())?;
    while let Some((numero, bytes)) = reader.next_fragment()? {
        if allowed.contains(&numero) {
            w.write_all(bytes)?;
        }
    }
    w.write_all(DOCUMENT_FOOTER.as_bytes())
}

/// Bytes written on a blocking thread, sent in chunks to the response body.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= STREAM_CHUNK {
            self.flush()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(STREAM_CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

/// `GET /feed/offres/{numero}`: one offer as a LHÉO document.
pub async fn offer(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(numero): Path<String>,
    headers: HeaderMap,
) -> Response {
    let unknown = || {
        error(
            StatusCode::NOT_FOUND,
            "unknown_offer",
            format!("no published offer {numero}"),
        )
    };
    let Ok(code) = ActionCode::parse(&numero) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_numero",
            "an offer's numero is its SOFI action code F-A (two numbers and a hyphen)",
        );
    };
    let row = match state.store.published_offer(code).await {
        Ok(Some(r)) => r,
        Ok(None) => return unknown(),
        Err(e) => return internal(e),
    };
    // Out of scope: the same answer as an unknown offer, so that a partner learns nothing
    // of what it may not see.
    if !caller.scope.allows(&row.programmes, &row.departements) {
        return unknown();
    }
    if let Some(w) = row.withdrawn_generation {
        return error(
            StatusCode::GONE,
            "withdrawn",
            format!("offer {numero} was withdrawn from the feed by generation {w}"),
        );
    }
    let g = match state.store.generation(row.generation).await {
        Ok(Some(g)) => g,
        Ok(None) => return internal(anyhow::anyhow!("generation {} is missing", row.generation)),
        Err(e) => return internal(e),
    };
    let mut body = document_header(&g.horodatage_export).into_bytes();
    body.extend_from_slice(row.fragment.as_bytes());
    body.extend_from_slice(DOCUMENT_FOOTER.as_bytes());
    let base = format!(
        "o{}-{}",
        row.generation,
        &row.hash[..row.hash.len().min(16)]
    );
    http::document(&headers, &base, g.finished_at, http::XML, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(body: Body) -> Vec<u8> {
        axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("the body reads")
            .to_vec()
    }

    /// Bytes that show a misplaced or repeated slice (no period of a chunk's length).
    fn text(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[tokio::test]
    async fn a_mapping_is_sliced_into_the_whole_file() {
        // Lengths around the chunk size: shorter, equal, one more, several and a rest.
        for (len, chunk) in [(0, 4), (3, 4), (4, 4), (5, 4), (1000, 7), (1000, 1000)] {
            let bytes = text(len);
            let mut slices = 0;
            let body = mapped_body(Bytes::from(bytes.clone()), chunk);
            let mut stream = body.into_data_stream();
            let mut got = Vec::new();
            while let Some(s) = futures_util::StreamExt::next(&mut stream).await {
                let s = s.unwrap();
                assert!(
                    !s.is_empty() && s.len() <= chunk,
                    "{len}/{chunk}: {}",
                    s.len()
                );
                got.extend_from_slice(&s);
                slices += 1;
            }
            assert_eq!(got, bytes, "{len} bytes in slices of {chunk}");
            assert_eq!(slices, len.div_ceil(chunk), "{len}/{chunk}");
        }
    }

    #[tokio::test]
    async fn a_file_is_served_mapped_or_read_with_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lheo.xml.generation-1");
        let bytes = text(MAPPED_CHUNK * 2 + 12_345);
        std::fs::write(&path, &bytes).unwrap();

        let mapped = map_file(&std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(&mapped[..], &bytes[..]);
        let files = Arc::new(MappedFiles::default());
        let (body, len) = files.body(path.clone()).await.unwrap();
        assert_eq!(len, bytes.len() as u64);
        assert_eq!(collect(body).await, bytes);
        // The fallback, for a file that cannot be mapped.
        let f = tokio::fs::File::open(&path).await.unwrap();
        let (body, len) = streamed_body(f).await.unwrap();
        assert_eq!(len, bytes.len() as u64);
        assert_eq!(collect(body).await, bytes);

        // An empty file (no export writes one): an empty body either way.
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        let (body, len) = files.body(empty).await.unwrap();
        assert_eq!((len, collect(body).await), (0, Vec::new()));

        let missing = files.body(dir.path().join("gone")).await.err().unwrap();
        assert_eq!(
            missing.kind(),
            io::ErrorKind::NotFound,
            "the caller retries on this"
        );
    }

    /// What the mapping's safety rests on: the next export unlinks the previous generation's
    /// file, and a download in progress keeps reading the mapping, whole and unchanged.
    #[tokio::test]
    async fn an_unlinked_generation_file_is_still_served_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lheo.xml.generation-1");
        let bytes = text(MAPPED_CHUNK + 999);
        std::fs::write(&path, &bytes).unwrap();
        let files = Arc::new(MappedFiles::default());
        let (body, _) = files.body(path.clone()).await.unwrap();
        // The next generation: a new file renamed over the stable name, this one unlinked
        // (here a new file at the same path too, which a mapping must not see).
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"generation 2").unwrap();
        assert_eq!(collect(body).await, bytes);
        // The kept mapping is not the file at that path any more: the new file is served.
        let (body, len) = files.body(path.clone()).await.unwrap();
        assert_eq!((len, collect(body).await), (12, b"generation 2".to_vec()));
    }

    /// A file served again is served from the same mapping (no new faults nor teardown);
    /// a file replaced at its path, or pushed out by two others, is mapped anew.
    #[tokio::test]
    async fn mappings_are_kept_for_the_last_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            // As an export does: a new file renamed into place.
            let tmp = dir.path().join(format!("{name}.tmp"));
            std::fs::write(&tmp, bytes).unwrap();
            std::fs::rename(&tmp, &p).unwrap();
            p
        };
        let files = MappedFiles::default();
        let map = |p: &PathBuf| files.mapped(p).unwrap().unwrap();
        let doc = write(".lheo.xml.generation-1", b"document 1");
        let twin = write(".lheo.xml.generation-1.gz", b"twin 1");
        let (a, b) = (map(&doc), map(&twin));
        assert_eq!(map(&doc).as_ptr(), a.as_ptr(), "the same mapping");
        assert_eq!(map(&twin).as_ptr(), b.as_ptr(), "the same mapping");

        let doc_again = write(".lheo.xml.generation-1", b"document 1 bis");
        assert_eq!(doc_again, doc);
        let c = map(&doc);
        assert_eq!(&c[..], b"document 1 bis");
        assert_eq!(
            &a[..],
            b"document 1",
            "the old mapping still reads its file"
        );

        // A third file pushes out the least recently used (the twin).
        let next = write(".lheo.xml.generation-2", b"document 2");
        map(&next);
        let kept: Vec<PathBuf> = files
            .maps
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.path.clone())
            .collect();
        assert_eq!(kept, vec![doc.clone(), next.clone()]);
        assert_eq!(map(&doc).as_ptr(), c.as_ptr());
        assert_ne!(map(&twin).as_ptr(), b.as_ptr(), "mapped anew");
    }

    fn kept(files: &MappedFiles) -> usize {
        files.maps.lock().unwrap().len()
    }

    /// The previous generation's files, unlinked by the next export, are not kept mapped
    /// (which would keep their disk space): gone at the next sweep.
    #[tokio::test]
    async fn mappings_of_unlinked_files_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (doc, twin) = (dir.path().join("doc"), dir.path().join("doc.gz"));
        std::fs::write(&doc, b"document").unwrap();
        std::fs::write(&twin, b"twin").unwrap();
        let every = std::time::Duration::from_millis(50);
        let files = Arc::new(MappedFiles {
            sweep_every: every,
            ..MappedFiles::default()
        });
        for p in [&doc, &twin] {
            let (body, _) = files.body(p.clone()).await.unwrap();
            collect(body).await;
        }
        assert_eq!(kept(&files), 2);
        files.drop_stale();
        assert_eq!(kept(&files), 2, "both files are still there");

        std::fs::remove_file(&doc).unwrap();
        // The sweeper (started by the first download) drops it at its next round.
        let t0 = std::time::Instant::now();
        while kept(&files) == 2 {
            assert!(t0.elapsed() < every * 100, "still mapped");
            tokio::time::sleep(every / 5).await;
        }
        assert_eq!(files.maps.lock().unwrap()[0].path, twin);
    }
}
