//! Serving the snapshot from a host that did not export it (several hosts on one
//! PostgreSQL database, `docs/feed.md` "Several hosts").
//!
//! With `materialise` on (`serve --materialise`, and always in the daemon), a host whose
//! output folder lacks the current generation's document makes it from the database
//! (`crate::generation::materialise`), in the background, one at a time. Meanwhile it
//! goes on serving the newest generation whose document it holds, so a partner gets a
//! whole, verified document and the cursor that continues after it, never an error
//! because another host exported. A host that holds no generation yet answers 503 with
//! `Retry-After` until its first document is made.
//!
//! A background task looks for a new generation every [`POLL`], so that a host has the
//! document within seconds of another host's export even if nobody asks; a request that
//! finds it missing starts the same work at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::AppState;
use crate::generation::files;
use crate::generation::materialise::{materialise, Materialised};
use crate::store::GenerationRow;

/// How often a materialising host reads the current generation when nobody asks.
pub const POLL: Duration = Duration::from_secs(2);

/// The state of the materialisation on this host (for `/metrics` and the handlers).
#[derive(Default)]
pub struct Materialiser {
    busy: AtomicBool,
    made: AtomicU64,
    failures: AtomicU64,
    last: Mutex<Option<Materialised>>,
}

impl Materialiser {
    /// Whether a document is being made now.
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst)
    }

    /// Documents made and attempts failed since the server started, and the last one made.
    pub fn counts(&self) -> (u64, u64, Option<Materialised>) {
        (
            self.made.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
            self.last.lock().expect("not poisoned").clone(),
        )
    }
}

/// Starts making `g`'s document in the background unless a materialisation is running.
fn start(state: &Arc<AppState>, g: GenerationRow) {
    let m = &state.materialiser;
    if m.busy.swap(true, Ordering::SeqCst) {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let out = state
            .config
            .out
            .clone()
            .expect("materialise needs an output folder");
        match materialise(&state.store, &out, &g).await {
            Ok(done) => {
                if done.made {
                    tracing::info!(
                        generation = done.generation,
                        bytes = done.bytes,
                        offers = done.offers,
                        seconds = done.seconds,
                        "materialised the current generation's document from the database"
                    );
                    state.materialiser.made.fetch_add(1, Ordering::Relaxed);
                    *state.materialiser.last.lock().expect("not poisoned") = Some(done);
                }
            }
            Err(e) => {
                state.materialiser.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    generation = g.id,
                    "cannot materialise the current generation (tried again in {} s): {e:#}",
                    POLL.as_secs()
                );
            }
        }
        state.materialiser.busy.store(false, Ordering::SeqCst);
    });
}

/// The generation whose snapshot this host serves: the last one when its document is
/// here (or when this host does not materialise); else the newest one it holds, while the
/// last one is made in the background; `None` before any generation, or while a host that
/// holds none makes its first.
pub async fn serving_generation(state: &Arc<AppState>) -> anyhow::Result<Option<GenerationRow>> {
    let Some(last) = state.store.last_generation().await? else {
        return Ok(None);
    };
    let out = match &state.config.out {
        Some(out) if state.config.materialise => out,
        _ => return Ok(Some(last)),
    };
    let file = files::generation_file(out, last.id);
    if file.exists() {
        if !files::gzip_twin(&file).exists() {
            // Served without compression until the twin is made again.
            start(state, last.clone());
        }
        return Ok(Some(last));
    }
    start(state, last.clone());
    let held = files::generations_held(out);
    match held.into_iter().rev().find(|&id| id < last.id) {
        Some(id) => state.store.generation(id).await,
        None => Ok(None),
    }
}

/// Every [`POLL`], makes the current generation's document if this host lacks it, until
/// the server's state is gone.
pub async fn keep_current(state: Weak<AppState>) {
    loop {
        let Some(s) = state.upgrade() else { return };
        if let Err(e) = serving_generation(&s).await {
            tracing::warn!("cannot read the current generation: {e:#}");
        }
        drop(s);
        tokio::time::sleep(POLL).await;
    }
}
