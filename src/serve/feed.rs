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

/// Read size when streaming a snapshot file.
const STREAM_CHUNK: usize = 256 * 1024;
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
            let file = if use_twin { &twin } else { &path };
            match tokio::fs::File::open(file).await {
                Ok(f) => {
                    let len = f.metadata().await.map(|m| m.len()).ok();
                    let stream = tokio_util::io::ReaderStream::with_capacity(f, STREAM_CHUNK);
                    let mut r = Body::from_stream(stream).into_response();
                    let h = r.headers_mut();
                    http::document_headers(h, &etag, last_modified, http::XML, use_twin);
                    if let Some(len) = len {
                        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                    }
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
