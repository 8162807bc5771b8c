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

use super::changes::Cursor;
use super::http::{self, error, internal};
use super::{auth::Caller, AppState};
use crate::export::{self, FragmentReader};
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
        Some(out) => export::generation_file(out, g.id),
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

/// `Lheo-Feed-Generation` and `Lheo-Feed-Cursor` (where the changes feed continues after
/// this snapshot).
fn generation_headers(h: &mut HeaderMap, g: i64) {
    h.insert("lheo-feed-generation", HeaderValue::from(g));
    if let Ok(v) = HeaderValue::from_str(&Cursor::after_generation(g).encode()) {
        h.insert("lheo-feed-cursor", v);
    }
}

/// `GET /feed/lheo.xml`.
pub async fn snapshot(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    for _ in 0..OPEN_ATTEMPTS {
        let g = match state.store.last_generation().await {
            Ok(Some(g)) => g,
            Ok(None) => return no_generation(),
            Err(e) => return internal(e),
        };
        let path = generation_path(&state, &g);
        let twin = export::gzip_twin(&path);
        let gz = http::accepts_gzip(&headers);
        let last_modified = g.finished_at;
        let sha = &g.file_sha256[..g.file_sha256.len().min(16)];
        let outcome = if caller.scope.is_all() {
            let use_twin = gz && tokio::fs::metadata(&twin).await.is_ok();
            let etag = http::etag_for(&format!("g{}-{sha}", g.id), use_twin);
            if http::not_modified(&headers, &etag, last_modified) {
                let mut r = http::not_modified_response(&etag, last_modified);
                generation_headers(r.headers_mut(), g.id);
                return r;
            }
            let file = if use_twin { twin } else { path };
            match file_body(file).await {
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
            let etag = http::etag_for(&format!("g{}-{sha}-s{}", g.id, caller.scope.digest()), gz);
            if http::not_modified(&headers, &etag, last_modified) {
                let mut r = http::not_modified_response(&etag, last_modified);
                generation_headers(r.headers_mut(), g.id);
                return r;
            }
            match scoped(&state, &caller, &g, path, gz).await {
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
                generation_headers(r.headers_mut(), g.id);
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

/// A whole snapshot file (the document or its gzip twin) as a body, and its length.
///
/// The file is mapped and the body is made of slices of the mapping: hyper writes them
/// straight from the page cache into the socket, one copy as `cat` makes one, where reading
/// it (`tokio::fs`) cost a blocking-pool round trip and a copy into a buffer per chunk and
/// served a third of `cat`'s rate. If the file cannot be mapped (a file system without
/// `mmap`, no address space left), it is read in chunks as before.
async fn file_body(path: PathBuf) -> io::Result<(Body, u64)> {
    // Opening and mapping are system calls that may wait for the disk: off the runtime's
    // threads, once per request.
    let opened = tokio::task::spawn_blocking(move || -> io::Result<_> {
        let file = std::fs::File::open(&path)?;
        let mapped = map_file(&file);
        if let Err(e) = &mapped {
            warn_unmapped(&path, e);
        }
        Ok((file, mapped))
    })
    .await
    .map_err(io::Error::other)??;
    match opened {
        (_, Ok(bytes)) => {
            let len = bytes.len() as u64;
            Ok((mapped_body(bytes, MAPPED_CHUNK), len))
        }
        (file, Err(_)) => streamed_body(tokio::fs::File::from_std(file)).await,
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
    // commits, unlinks the previous one; a kept document gets a second hard link, not a
    // rewrite (`crate::export`, `crate::generation`). Unlinking leaves the inode, and this
    // mapping, intact until it is unmapped. Only someone editing the export folder by hand
    // could break this, which would break the recorded SHA-256 and the ETags too.
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
    let reader = FragmentReader::open(&path, false)?;
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
        let (body, len) = file_body(path.clone()).await.unwrap();
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
        let (body, len) = file_body(empty).await.unwrap();
        assert_eq!((len, collect(body).await), (0, Vec::new()));

        let missing = file_body(dir.path().join("gone")).await.err().unwrap();
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
        let (body, _) = file_body(path.clone()).await.unwrap();
        // The next generation: a new file renamed over the stable name, this one unlinked
        // (here a new file at the same path too, which a mapping must not see).
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"generation 2").unwrap();
        assert_eq!(collect(body).await, bytes);
    }
}
