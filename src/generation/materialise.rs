//! A generation's document made again from the database, on a host that did not export it.
//!
//! Several hosts serve the feed from one PostgreSQL database (`deploy/two-hosts/`), but
//! only the host that exported a generation has its file. The others make it from what the
//! database holds: the generation's `horodatage-export`, and the live offers' fragments in
//! `published`, in numeric F-A order, between the header and the footer every document
//! has. That is how the export itself assembles the document, and the gzip twin is made
//! by the same code from the same fragments (one sync-flushed segment per offer,
//! `super::twin`), so its bytes, and therefore the ETags, are the same on every host.
//!
//! The document is written under a temporary name, hashed as it is written, and compared
//! with the SHA-256 and size the generation recorded; only a match is renamed to the
//! generation's own name (`.NAME.generation-N`, its twin beside it), so a host never
//! serves a half-written or different document. A mismatch means the database moved on
//! while the offers were read (the next generation committed): nothing is kept and the
//! caller tries again with the newer generation.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::files::{self, Document};
use crate::lheo::DOCUMENT_FOOTER;
use crate::model::ActionCode;
use crate::store::{GenerationRow, Store};

/// Offers read from the database per query.
const PAGE: u32 = 1000;

/// What [`materialise`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct Materialised {
    pub generation: i64,
    /// Document bytes (0 when the files were already there).
    pub bytes: u64,
    pub offers: u64,
    pub seconds: f64,
    /// False when the generation's files were already beside `out`.
    pub made: bool,
}

/// Makes generation `g`'s document and its gzip twin beside `out` (as
/// `files::generation_file(out, g.id)`), unless they are there; points `out` at it; then
/// deletes the documents of older generations beside `out` (a host keeps what it serves,
/// as the exporting host does).
pub async fn materialise(store: &Store, out: &Path, g: &GenerationRow) -> Result<Materialised> {
    let started = Instant::now();
    let target = files::generation_file(out, g.id);
    if target.exists() && files::gzip_twin(&target).exists() {
        return Ok(Materialised {
            generation: g.id,
            bytes: 0,
            offers: 0,
            seconds: 0.0,
            made: false,
        });
    }
    let mut doc = Document::create_tagged_with_twin(
        out,
        "materialise",
        &g.horodatage_export,
        g.file_digest.algorithm(),
    )?;
    let mut after: Option<ActionCode> = None;
    let mut offers = 0u64;
    loop {
        let page = store.published_page(after, PAGE, true).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.numero);
        offers += page.len() as u64;
        // Compressing the twin's segments is CPU work: off the runtime's threads.
        doc = tokio::task::spawn_blocking(move || -> Result<Document> {
            for row in page {
                let fragment = row
                    .fragment
                    .with_context(|| format!("offer {}: no fragment read", row.numero))?
                    .into_plain()?;
                doc.write_offer(row.numero, &fragment, None)?;
            }
            Ok(doc)
        })
        .await??;
    }
    let finished = tokio::task::spawn_blocking(move || doc.finish(DOCUMENT_FOOTER)).await??;
    let tmp = finished.tmp.clone();
    let discard = || {
        let _ = std::fs::remove_file(&tmp);
        for p in files::twin_paths(&tmp) {
            let _ = std::fs::remove_file(p);
        }
    };
    if finished.digest != g.file_digest || finished.bytes as i64 != g.file_bytes {
        discard();
        bail!(
            "generation {}: the document made from the database ({} bytes, {}) is not the one \
             the generation recorded ({} bytes, {}): a newer generation was \
             committed while its offers were read; the next attempt uses the newer one",
            g.id,
            finished.bytes,
            finished.digest,
            g.file_bytes,
            g.file_digest
        );
    }
    // The twin first: once the document has its name, the server may take it as complete.
    let placed = files::twin_into_place(&tmp, &target, false)
        .and_then(|_| files::rename_into_place(&tmp, &target));
    if let Err(e) = placed {
        discard();
        return Err(e);
    }
    files::link_into_place(&target, out)?;
    files::remove_generations_before(out, g.id);
    Ok(Materialised {
        generation: g.id,
        bytes: finished.bytes,
        offers,
        seconds: started.elapsed().as_secs_f64(),
        made: true,
    })
}
