//! Step 1 of an export begins here: what to evaluate. The [`Plan`] says whether the pass is full or
//! incremental (and why), which offers are candidates, and whether the previous
//! generation's file can be reused; the cursors walk the previously published offers and
//! the candidates in numeric order, reading the next page while this one is used.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};

use super::evaluate::{evaluate_page, Candidate, EvalContext};
use super::{day_number, files, publish, rules_hash, ExportOptions, Mode};
use crate::lheo::FORMAT_VERSION;
use crate::model::{ActionCode, Date, EtatWorkflow, Offre, Organisme, Siret};
use crate::rules::Referentiel;
use crate::store::{GenerationRow, PublishedRow, Store};

/// What an export will do, decided before any offer is read.
pub(super) struct Plan {
    /// The snapshot's stable name, absolute.
    pub out: PathBuf,
    pub prev: Option<GenerationRow>,
    /// The store revision read before any offer: whatever an import commits from then on
    /// is looked at again by the next export (see `Store::current_revision`).
    pub revision: i64,
    /// The Region referential (programmes, lots) the rules judge with.
    pub referentiel: Referentiel,
    pub rules_hash: String,
    pub mode: Mode,
    /// Why the pass is full, when it is.
    pub full_reason: Option<String>,
    /// Incremental: the offers to evaluate again, sorted; `None`: every validated offer.
    pub keys: Option<Vec<ActionCode>>,
    /// The previous generation's file is the one recorded (size, modification time and
    /// inode): it can be kept as the new document, byte for byte, if no offer changed.
    pub prev_intact: bool,
}

impl Plan {
    /// The previous generation, when its document is intact and the pass incremental.
    pub fn intact_prev(&self) -> Option<&GenerationRow> {
        self.prev.as_ref().filter(|_| self.prev_intact)
    }

    /// No candidate at all: nothing can have changed.
    pub fn nothing_to_evaluate(&self) -> bool {
        self.keys.as_ref().is_some_and(|k| k.is_empty())
    }

    /// The organismes the candidates may name (none are read when there is no candidate).
    pub async fn organismes(&self, store: &Store) -> anyhow::Result<HashMap<Siret, Organisme>> {
        if self.nothing_to_evaluate() {
            Ok(HashMap::new())
        } else {
            store.organismes().await
        }
    }
}

/// Reads the previous generation and the store revision, repairs the previous output name
/// if a kill left it behind, and decides the mode and the candidates.
pub(super) async fn plan(store: &Store, opts: &ExportOptions) -> anyhow::Result<Plan> {
    let out = std::path::absolute(&opts.out)
        .with_context(|| format!("invalid output path {}", opts.out.display()))?;
    let prev = store.last_generation().await?;
    if let Some(p) = &prev {
        publish::repair_output(p);
    }
    let analysed = store.refresh_statistics().await;
    if !analysed.is_empty() {
        tracing::info!(tables = ?analysed, "planner statistics refreshed (many rows changed since the last ANALYZE)");
    }
    let revision = store.current_revision().await?;
    let referentiel = crate::pipeline::referentiel(store).await?;
    let rules_hash = rules_hash(&opts.pass.rules, &referentiel);
    let full_reason = full_pass_reason(prev.as_ref(), opts, &rules_hash)?;
    let mode = if full_reason.is_some() {
        Mode::Full
    } else {
        Mode::Incremental
    };
    let keys = match (&prev, mode) {
        (Some(p), Mode::Incremental) => Some(candidates(store, p, opts.pass.today).await?),
        _ => None,
    };
    let prev_intact = prev.as_ref().is_some_and(|p| {
        mode == Mode::Incremental
            && files::fingerprint(Path::new(&p.file_path)).ok().as_deref()
                == Some(p.file_fingerprint.as_str())
    });
    Ok(Plan {
        out,
        prev,
        revision,
        referentiel,
        rules_hash,
        mode,
        full_reason,
        keys,
        prev_intact,
    })
}

/// Why this export must be a full pass, if it must.
fn full_pass_reason(
    prev: Option<&GenerationRow>,
    opts: &ExportOptions,
    rules_hash: &str,
) -> anyhow::Result<Option<String>> {
    let Some(prev) = prev else {
        return Ok(Some("first generation".into()));
    };
    if opts.full {
        return Ok(Some("--full".into()));
    }
    if prev.format_version != FORMAT_VERSION {
        return Ok(Some(format!(
            "the format version changed ({} → {FORMAT_VERSION}): every offer is re-sent once",
            prev.format_version
        )));
    }
    if prev.rules_hash != rules_hash {
        return Ok(Some(
            "the rules configuration, the Region referential or the program version changed".into(),
        ));
    }
    let prev_today =
        Date::parse(&prev.today).map_err(|e| anyhow!("generation {}: {e}", prev.id))?;
    if opts.pass.today < prev_today {
        return Ok(Some(format!(
            "--today {} is earlier than generation {}'s ({})",
            opts.pass.today, prev.id, prev.today
        )));
    }
    Ok(None)
}

/// The candidates of an incremental export, in numeric order.
async fn candidates(
    store: &Store,
    prev: &GenerationRow,
    today: Date,
) -> anyhow::Result<Vec<ActionCode>> {
    let mut keys: BTreeSet<ActionCode> = store
        .offres_changed_since(prev.store_revision)
        .await?
        .into_iter()
        .collect();
    let organismes = store.organismes_changed_since(prev.store_revision).await?;
    if !organismes.is_empty() {
        keys.extend(store.evaluations_referring_to(&organismes).await?);
    }
    keys.extend(store.evaluations_due(day_number(today)).await?);
    Ok(keys.into_iter().collect())
}

/// The published offers of the previous generation, read page by page in numeric order;
/// the next page is read while the current one is used.
pub(super) struct LiveCursor {
    pub store: Store,
    pub buf: VecDeque<PublishedRow>,
    pub next: Option<tokio::task::JoinHandle<anyhow::Result<Vec<PublishedRow>>>>,
    pub done: bool,
    pub page: u32,
    pub fragments: bool,
}

impl LiveCursor {
    pub fn new(store: &Store, page: u32, fragments: bool) -> LiveCursor {
        let mut c = LiveCursor {
            store: store.clone(),
            buf: VecDeque::new(),
            next: None,
            done: false,
            page,
            fragments,
        };
        c.prefetch(None);
        c
    }

    fn prefetch(&mut self, after: Option<ActionCode>) {
        let (store, page, fragments) = (self.store.clone(), self.page, self.fragments);
        self.next = Some(tokio::spawn(async move {
            store.published_page(after, page, fragments).await
        }));
    }

    pub async fn front(&mut self) -> anyhow::Result<Option<ActionCode>> {
        if self.buf.is_empty() && !self.done {
            let page = match self.next.take() {
                Some(task) => task.await.context("reading the published offers")??,
                None => Vec::new(),
            };
            match page.last() {
                Some(last) if page.len() >= self.page as usize => self.prefetch(Some(last.numero)),
                _ => self.done = true,
            }
            self.buf.extend(page);
        }
        Ok(self.buf.front().map(|r| r.numero))
    }
}

impl Drop for LiveCursor {
    fn drop(&mut self) {
        if let Some(task) = self.next.take() {
            task.abort();
        }
    }
}

impl Drop for CandidateCursor<'_> {
    fn drop(&mut self) {
        if let Some(task) = self.next.take() {
            task.abort();
        }
    }
}

/// The candidates, read in numeric order: every validated offer (full pass), or the
/// listed keys (incremental).
pub(super) struct CandidateCursor<'s> {
    pub store: &'s Store,
    pub eval: EvalContext<'s>,
    pub buf: VecDeque<Candidate>,
    pub page: u32,
    /// Full pass: the last key read, and whether the end was reached.
    pub after: Option<ActionCode>,
    pub done: bool,
    /// Full pass: the next page, read while this one is evaluated (reading and decoding
    /// a page of offers is a tenth of a full pass, on a core the evaluation leaves idle
    /// between pages).
    pub next: Option<tokio::task::JoinHandle<anyhow::Result<Vec<Offre>>>>,
    /// Incremental: the keys, sorted, and how many were read.
    pub keys: Option<Vec<ActionCode>>,
    pub pos: usize,
}

impl CandidateCursor<'_> {
    pub async fn front(&mut self) -> anyhow::Result<Option<ActionCode>> {
        if self.buf.is_empty() && !self.done {
            match &self.keys {
                None => {
                    let page = match self.next.take() {
                        Some(task) => task.await.context("reading the offers")??,
                        None => self.store.offres_page(self.after, self.page, true).await?,
                    };
                    match page.last() {
                        Some(last) => {
                            self.after = Some(last.numero);
                            let (store, after, limit) = (self.store.clone(), self.after, self.page);
                            self.next = Some(tokio::spawn(async move {
                                store.offres_page(after, limit, true).await
                            }));
                        }
                        None => self.done = true,
                    }
                    self.buf.extend(page.into_iter().map(|o| Candidate {
                        numero: o.numero,
                        offre: Some(o),
                        old_counts: None,
                        evaluated: None,
                    }));
                }
                Some(keys) => {
                    let end = (self.pos + self.page as usize).min(keys.len());
                    let chunk = &keys[self.pos..end];
                    self.pos = end;
                    if chunk.is_empty() {
                        self.done = true;
                    } else {
                        let mut offres: HashMap<ActionCode, Offre> = self
                            .store
                            .offres_in(chunk)
                            .await?
                            .into_iter()
                            .filter(|o| o.etat == EtatWorkflow::Validee)
                            .map(|o| (o.numero, o))
                            .collect();
                        let mut evals: HashMap<ActionCode, String> = self
                            .store
                            .evaluations_in(chunk)
                            .await?
                            .into_iter()
                            .map(|e| (e.numero, e.counts))
                            .collect();
                        self.buf.extend(chunk.iter().map(|k| Candidate {
                            numero: *k,
                            offre: offres.remove(k),
                            old_counts: evals.remove(k),
                            evaluated: None,
                        }));
                    }
                }
            }
            // The buffer was empty: it holds exactly the page just read.
            evaluate_page(self.buf.make_contiguous(), self.eval);
        }
        Ok(self.buf.front().map(|c| c.numero))
    }
}
