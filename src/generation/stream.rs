//! Step 1 of an export, the walk. The previous generation's published offers and the
//! candidates are merged in numeric `F-A` order; each candidate is compared with what was
//! published (created, updated, unchanged, withdrawn) and every published offer is
//! streamed to the new snapshot, unchanged ones copied from the database with their gzip
//! twin segments from the previous twin.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use anyhow::Context;

use super::candidates::{CandidateCursor, LiveCursor, Plan};
use super::evaluate::{decode_counts, Candidate, EvalContext, Published};
use super::files::{self, Document};
use super::spill::{Blobs, Spill};
use super::{pause_at, twin, ExportOptions, Mode};
use crate::lheo::WriterContext;
use crate::model::{ActionCode, Organisme, Siret};
use crate::pipeline::PassCounts;
use crate::rules::RuleContext;
use crate::store::{EvaluationWrite, GenerationRow, PublishedRow, Store};

/// Evaluates the candidates and streams the snapshot; when no candidate is left and the
/// previous document is intact, streams nothing (the document is kept). Unchanged offers
/// are copied from the database, where they are stored compressed: a fifth of the bytes
/// of the previous document, which is therefore not read at all. Their twin segments come
/// from the previous generation's gzip twin while its index matches.
pub(super) async fn evaluate_and_stream(
    store: &Store,
    opts: &ExportOptions,
    plan: &Plan,
    organismes: &HashMap<Siret, Organisme>,
) -> anyhow::Result<Streamed> {
    let rctx = RuleContext {
        today: opts.pass.today,
        config: &opts.pass.rules,
        referentiel: &plan.referentiel,
        organismes,
    };
    let wctx = WriterContext {
        organismes,
        today: opts.pass.today,
    };
    let ctx = StreamContext {
        store,
        opts,
        out: &plan.out,
        mode: plan.mode,
        prev: plan.prev.as_ref(),
        rctx: &rctx,
        wctx: &wctx,
        organismes,
        revision: plan.revision,
    };
    if let (true, Some(p)) = (plan.nothing_to_evaluate(), plan.intact_prev()) {
        // No candidate: nothing can have changed, so the document is not even read.
        return Ok(Streamed {
            snapshot: None,
            changes: Spill::new().context("cannot create a temporary file")?,
            fragments: Blobs::new().context("cannot create a temporary file")?,
            counted: ChangeCounts::default(),
            evaluations: Spill::new().context("cannot create a temporary file")?,
            evaluated_keys: Vec::new(),
            totals: serde_json::from_str::<PassCounts>(&p.counts)
                .with_context(|| format!("generation {}: unreadable counts", p.id))?,
            unchanged: p.published.max(0) as u64,
            published: p.published.max(0) as u64,
        });
    }
    let prev_twin = plan
        .prev
        .as_ref()
        .filter(|_| plan.mode == Mode::Incremental)
        .and_then(|p| {
            let path = files::gzip_twin(Path::new(&p.file_path));
            let twin = twin::Reader::open(&path, &p.file_digest);
            tracing::debug!(
                twin = %path.display(),
                usable = twin.is_some(),
                "unchanged offers copied from the database, their segments from the previous twin"
            );
            twin
        });
    stream(&ctx, plan.keys.clone(), prev_twin).await
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) enum Op {
    Created,
    Updated,
    Withdrawn,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Created => "created",
            Op::Updated => "updated",
            Op::Withdrawn => "withdrawn",
        }
    }
}

/// One change. A created or updated offer's stored fragment is the next one in the change
/// set's [`Blobs`], in the same order.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Change {
    pub numero: ActionCode,
    pub op: Op,
    pub hash: String,
    pub programmes: String,
    pub departements: String,
}

impl Change {
    /// A withdrawal: the offer keeps the hash it was last published with.
    fn withdrawn(numero: ActionCode, hash: String) -> Change {
        Change {
            numero,
            op: Op::Withdrawn,
            hash,
            programmes: String::new(),
            departements: String::new(),
        }
    }
}

/// What [`stream`] needs.
pub(super) struct StreamContext<'a> {
    pub store: &'a Store,
    pub opts: &'a ExportOptions,
    pub out: &'a Path,
    pub mode: Mode,
    pub prev: Option<&'a GenerationRow>,
    pub rctx: &'a RuleContext<'a>,
    pub wctx: &'a WriterContext<'a>,
    pub organismes: &'a HashMap<Siret, Organisme>,
    pub revision: i64,
}

/// How many offers a generation created, updated and withdrew.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ChangeCounts {
    pub created: u64,
    pub updated: u64,
    pub withdrawn: u64,
}

/// The change set as it is found: spilled to disk with the changed offers' stored
/// fragments, and counted.
pub(super) struct ChangeLog {
    pub spill: Spill<Change>,
    pub fragments: Blobs,
    pub counted: ChangeCounts,
}

impl ChangeLog {
    fn new() -> anyhow::Result<ChangeLog> {
        Ok(ChangeLog {
            spill: Spill::new().context("cannot create a temporary file")?,
            fragments: Blobs::new().context("cannot create a temporary file")?,
            counted: ChangeCounts::default(),
        })
    }

    /// A change; `stored` is the new stored fragment of a created or updated offer.
    fn push(&mut self, c: Change, stored: Option<&[u8]>) -> anyhow::Result<()> {
        debug_assert_eq!(stored.is_some(), c.op != Op::Withdrawn);
        if let Some(bytes) = stored {
            self.fragments
                .push(bytes)
                .context("cannot write the changed fragments to a temporary file")?;
        }
        match c.op {
            Op::Created => self.counted.created += 1,
            Op::Updated => self.counted.updated += 1,
            Op::Withdrawn => self.counted.withdrawn += 1,
        }
        self.spill
            .push(&c)
            .context("cannot write the change set to a temporary file")
    }
}

/// What [`stream`] produced: the snapshot (not yet finished) and the change set.
pub(super) struct Streamed {
    /// `None` when nothing was streamed (the previous document is kept).
    pub snapshot: Option<Document>,
    /// One per offer at most: on disk, so that memory does not grow with the offer.
    pub changes: Spill<Change>,
    /// The created and updated offers' stored fragments, in the order of `changes`.
    pub fragments: Blobs,
    pub counted: ChangeCounts,
    pub evaluations: Spill<EvaluationWrite>,
    pub evaluated_keys: Vec<ActionCode>,
    pub totals: PassCounts,
    pub unchanged: u64,
    pub published: u64,
}

/// Walks the previous generation's published offers and the candidates in numeric order,
/// evaluating the candidates and streaming the snapshot. Unchanged offers' fragments come
/// from the database (an incremental pass reads them with the published offers), their
/// twin segments from `prev_twin` when given.
async fn stream(
    ctx: &StreamContext<'_>,
    keys: Option<Vec<ActionCode>>,
    prev_twin: Option<twin::Reader>,
) -> anyhow::Result<Streamed> {
    let totals = previous_totals(ctx)?;
    // A full pass only compares hashes; an incremental one copies the fragments of the
    // offers it does not evaluate, kept compressed until the document's buffer (a page of
    // them is 7 MB, not 35).
    let fragments = ctx.mode == Mode::Incremental;
    let mut live = LiveCursor::new(ctx.store, ctx.opts.pass.page_size, fragments);
    let mut cands = candidates(ctx, keys);
    let mut walk = Walk::new(ctx, totals, prev_twin)?;
    let mut paused = false;

    while let Some((key, old, cand)) = next_pair(&mut live, &mut cands).await? {
        let Some(cand) = cand else {
            let old = old.expect("a key comes from one side at least");
            walk.not_a_candidate(ctx.mode, key, old)?;
            continue;
        };
        walk.candidate(key, cand, old)?;
        walk.pause_once(&mut paused).await?;
    }
    walk.pause_once(&mut paused).await?;
    Ok(walk.into_streamed())
}

/// The counts an incremental pass starts from (the previous generation's); zero for a
/// full pass.
fn previous_totals(ctx: &StreamContext<'_>) -> anyhow::Result<PassCounts> {
    Ok(match (ctx.prev, ctx.mode) {
        (Some(p), Mode::Incremental) => serde_json::from_str::<PassCounts>(&p.counts)
            .with_context(|| format!("generation {}: unreadable counts", p.id))?,
        _ => PassCounts::default(),
    })
}

/// The candidates in numeric order: `keys` for an incremental pass, else every one.
fn candidates<'s>(ctx: &StreamContext<'s>, keys: Option<Vec<ActionCode>>) -> CandidateCursor<'s> {
    CandidateCursor {
        store: ctx.store,
        eval: EvalContext {
            rctx: ctx.rctx,
            wctx: ctx.wctx,
            organismes: ctx.organismes,
            revision: ctx.revision,
            today: ctx.opts.pass.today,
        },
        buf: VecDeque::new(),
        page: ctx.opts.pass.page_size,
        after: None,
        done: false,
        next: None,
        keys,
        pos: 0,
    }
}

/// The next key of the merged walk, with the published offer and the candidate that have
/// it (one of them at least); `None` when both sides are done.
async fn next_pair(
    live: &mut LiveCursor,
    cands: &mut CandidateCursor<'_>,
) -> anyhow::Result<Option<(ActionCode, Option<PublishedRow>, Option<Candidate>)>> {
    let old_key = live.front().await?;
    let cand_key = cands.front().await?;
    let key = match (old_key, cand_key) {
        (None, None) => return Ok(None),
        (Some(o), None) => o,
        (None, Some(c)) => c,
        (Some(o), Some(c)) => o.min(c),
    };
    let old = if old_key == Some(key) {
        live.buf.pop_front()
    } else {
        None
    };
    let cand = if cand_key == Some(key) {
        cands.buf.pop_front()
    } else {
        None
    };
    Ok(Some((key, old, cand)))
}

/// The snapshot and the change set as the walk builds them.
struct Walk {
    snapshot: Document,
    changes: ChangeLog,
    evaluations: Spill<EvaluationWrite>,
    evaluated_keys: Vec<ActionCode>,
    totals: PassCounts,
    unchanged: u64,
    published: u64,
    /// The previous document's gzip twin, read in step with the published offers while
    /// its index matches.
    prev_twin: Option<twin::Reader>,
}

impl Walk {
    fn new(
        ctx: &StreamContext<'_>,
        totals: PassCounts,
        prev_twin: Option<twin::Reader>,
    ) -> anyhow::Result<Walk> {
        Ok(Walk {
            // With its gzip twin, compressed as it is written (served to partners that
            // accept gzip).
            snapshot: Document::create_with_twin(ctx.out, &ctx.opts.horodatage_export)?,
            changes: ChangeLog::new()?,
            evaluations: Spill::new()?,
            evaluated_keys: Vec::new(),
            totals,
            unchanged: 0,
            published: 0,
            prev_twin,
        })
    }

    /// Once something is published, the snapshot is flushed and the `mid_write` pause
    /// point (for the tests of an interrupted export) is passed, once.
    async fn pause_once(&mut self, paused: &mut bool) -> anyhow::Result<()> {
        if !*paused && self.published > 0 {
            *paused = true;
            self.snapshot.flush()?;
            pause_at("mid_write").await;
        }
        Ok(())
    }

    fn into_streamed(self) -> Streamed {
        Streamed {
            snapshot: Some(self.snapshot),
            counted: self.changes.counted,
            changes: self.changes.spill,
            fragments: self.changes.fragments,
            evaluations: self.evaluations,
            evaluated_keys: self.evaluated_keys,
            totals: self.totals,
            unchanged: self.unchanged,
            published: self.published,
        }
    }

    /// An offer published before that is not a candidate: unchanged by construction
    /// (incremental), copied with its twin segment; or no longer validated (a full pass
    /// has every validated offer as a candidate), withdrawn.
    fn not_a_candidate(
        &mut self,
        mode: Mode,
        key: ActionCode,
        old: PublishedRow,
    ) -> anyhow::Result<()> {
        match mode {
            Mode::Incremental => {
                let stored = old.fragment.with_context(|| {
                    format!("offer {key}: published, but the database holds no fragment for it")
                })?;
                let segment = match self.prev_twin.as_mut().map(|t| t.next(key)) {
                    Some(Ok(Some(seg))) => Some(seg),
                    Some(Ok(None)) | Some(Err(_)) => {
                        tracing::debug!(numero = %key, "the previous twin's index no longer matches: compressing");
                        self.prev_twin = None;
                        None
                    }
                    None => None,
                };
                self.snapshot
                    .write_stored_offer(key, stored, segment.as_ref())?;
                self.unchanged += 1;
                self.published += 1;
                Ok(())
            }
            Mode::Full => self.changes.push(Change::withdrawn(key, old.hash), None),
        }
    }

    /// A candidate: its share of the counts replaces its old one, and its new fragment,
    /// if it has one, is compared with what was published.
    fn candidate(
        &mut self,
        key: ActionCode,
        cand: Candidate,
        old: Option<PublishedRow>,
    ) -> anyhow::Result<()> {
        self.evaluated_keys.push(key);
        if let Some(c) = &cand.old_counts {
            self.totals.subtract(&decode_counts(c)?);
        }
        let mut new: Option<Published> = None;
        if let Some(e) = cand.evaluated {
            self.totals.add(&e.share);
            self.evaluations.push(&e.evaluation)?;
            new = e.published;
        }
        let Some(Published {
            xml,
            segment,
            stored,
            hash,
            programmes,
            departements,
        }) = new
        else {
            return match old {
                Some(old) => self.changes.push(Change::withdrawn(key, old.hash), None),
                None => Ok(()),
            };
        };
        self.snapshot
            .write_offer(key, xml.as_bytes(), Some(&segment))?;
        self.published += 1;
        let op = match old {
            Some(o) if o.hash == hash => {
                self.unchanged += 1;
                return Ok(());
            }
            Some(_) => Op::Updated,
            None => Op::Created,
        };
        self.changes.push(
            Change {
                numero: key,
                op,
                hash,
                programmes,
                departements,
            },
            Some(&stored),
        )
    }
}
