//! Export generations: every export is a durable generation that knows which offers it
//! created, updated, withdrew or left unchanged since the previous one, and costs time in
//! proportion to what changed. `docs/generations.md` is the user's side of this module.
//!
//! # The hash
//!
//! An offer's hash is SHA-256 over [`FORMAT_VERSION`], a line feed, and its canonical LHÉO
//! fragment ([`crate::lheo::Fragment`]): the `<formation>` element, which holds no volatile
//! value (the export timestamp is only on `<lheo>`). Two exports of the same offer on the
//! same day therefore give the same hash, and a new format version changes every hash at
//! once (everything is re-sent once).
//!
//! # What an export does
//!
//! 1. **Read-only work.** It reads the last generation and the store revision, then walks,
//!    in numeric `F-A` order, the union of the previously published offers and the
//!    *candidates*: the offers it must evaluate again. Each candidate goes through the rules
//!    and the writer ([`pipeline::evaluate_offre`]); every other published offer is copied
//!    as it was, from the previous generation's file (read in step, trusted while its
//!    size, modification time and inode are those recorded, else checked against its
//!    SHA-256) or from the `published` table. The full snapshot is streamed to a temporary
//!    file as it goes (memory bounded by a page; a thread of its own hashes and writes),
//!    and the change set (created / updated / withdrawn, with the offsets of the new
//!    fragments in that file) is kept.
//! 2. **Guards.** Nothing to publish, or more withdrawals than the configured share of the
//!    published offers without `--force`: the export stops there, having written nothing
//!    but its temporary file, which it deletes.
//! 3. **One write transaction**: the generation row, the published offers (fragments read
//!    back from the temporary file), the tombstones, the change set, the evaluation state
//!    and the retention purge; the temporary file is renamed to the generation's own file
//!    and the delta file put in place; then the commit.
//! 4. **After the commit**, the stable output name is pointed at the generation's file (a
//!    hard link renamed over it) and the previous generation's file removed.
//!
//! A kill before the commit leaves the previous generation current, its file in place and
//! its tables untouched; a kill after it leaves the new generation current with its own
//! complete file, and the next export first points the output name at it. See
//! `docs/generations.md`, "Crash safety".
//!
//! # Candidates (incremental work)
//!
//! An offer's outcome and fragment depend on its record, the organismes it names, the
//! rules configuration, the writer, and the day. So a generation evaluates again:
//!
//! - the offers changed in the store since the previous generation's store revision
//!   ([`Store::offres_changed_since`]), in any state (an offer no longer validated is a
//!   withdrawal);
//! - the offers that name an organisme changed since then
//!   ([`Store::organismes_changed_since`], through `evaluation_organismes`);
//! - the offers whose `next_recheck` day has come: the day after a session ends or after
//!   an information collective takes place ([`next_recheck`]), the only ways the day
//!   changes an outcome or a fragment;
//!
//! An offer leaves the validated set only through a change of its record (a new revision):
//! the import never deletes an offer. Anything that did would have to give the next export
//! a full pass (`--full`), as a change of rules does.
//!
//! and everything when there is no previous generation, when [`FORMAT_VERSION`] or the
//! [`rules_hash`] (rules configuration and program version) differ from the previous
//! generation's, when the day is earlier than the previous generation's, or on `--full`.
//! Campaign years are configuration, not dates: they are in the rules hash.
//!
//! The totals of the rule outcome stay exact without re-evaluating everything: each
//! evaluated offer's share of [`PassCounts`] is stored with it, and a generation's totals
//! are the previous ones minus the old shares of the candidates plus their new ones.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context};
use chrono::{Datelike, SubsecRound, Utc};
use sha2::{Digest, Sha256};

use crate::export::{self, Document, Finished, FragmentReader};
use crate::lheo::{WriterContext, DOCUMENT_FOOTER, FORMAT_VERSION};
use crate::model::{ActionCode, Date, Departement, EtatWorkflow, FasCode, Offre, Organisme, Siret};
use crate::pipeline::{self, PassCounts, PassOptions};
use crate::rules::{self, Outcome, RuleContext, RulesConfig};
use crate::spill::Spill;
use crate::store::{
    fragments, ChangeRow, EvaluationWrite, GenerationRow, GenerationTx, NewGeneration,
    PublishedRow, PublishedWrite, Store,
};
use crate::twin;

/// Default of `--max-withdraw-share`: an export that would withdraw more than this share
/// of the published offers stops unless forced.
pub const DEFAULT_MAX_WITHDRAW_SHARE: f64 = 0.20;
/// Default of `--tombstone-retention-days`.
pub const DEFAULT_TOMBSTONE_RETENTION_DAYS: u32 = 90;
/// Test hook: when set to `mid_write`, `before_commit` or `after_commit`, the export
/// pauses there (for minutes) so that a test can kill it at a known point. Never set it in
/// production.
pub const PAUSE_ENV: &str = "LHEO_FEED_TEST_PAUSE_AT";

/// `info` of the delta document's extras listing withdrawn offers.
pub const EXTRAS_RETRAITS: &str = "lheo-feed-retraits";
/// `info` of the delta document's extras naming its generation.
pub const EXTRAS_GENERATION: &str = "lheo-feed-generation";

/// An offer's hash: SHA-256 (hex) over [`FORMAT_VERSION`], `\n`, then the fragment.
pub fn offre_hash(fragment_xml: &str) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT_VERSION.as_bytes());
    h.update(b"\n");
    h.update(fragment_xml.as_bytes());
    hex::encode(h.finalize())
}

/// What besides an offer's record decides its outcome, apart from the day: the rules
/// configuration, the rule registry and the program version. A generation made under
/// another value is not a basis for an incremental export.
pub fn rules_hash(config: &RulesConfig) -> String {
    let mut h = Sha256::new();
    h.update(b"rules-config\n");
    h.update(serde_json::to_vec(config).expect("serialisable"));
    h.update(b"\nprogram\n");
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\nregistry\n");
    for r in rules::registry() {
        h.update(r.code.as_bytes());
        h.update(b":");
        h.update(r.severity.as_str().as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// A day as the number `YYYYMMDD` (ordered like the days; readable in SQL).
pub fn day_number(d: Date) -> i64 {
    i64::from(d.0.year()) * 10_000 + i64::from(d.0.month()) * 100 + i64::from(d.0.day())
}

/// The first day after `today` on which the offer's outcome or fragment may change with
/// no change to its records: the day after one of its sessions ends (the session becomes
/// inactive) or after one of its information collectives (it leaves `date-information`).
/// `None`: never (everything has ended). Earlier than needed is harmless (an evaluation
/// that changes nothing); later would be a bug, which the property test looks for.
pub fn next_recheck(offre: &Offre, today: Date) -> Option<Date> {
    let mut days = Vec::new();
    for s in &offre.sessions {
        days.extend(s.date_fin);
        days.extend(s.informations_collectives.iter().filter_map(|ic| ic.date));
    }
    days.into_iter()
        .filter(|d| *d >= today)
        .min()
        .and_then(|d| d.0.succ_opt().map(Date))
}

/// Every organisme an offer names: its evaluation depends on them.
pub fn referenced_sirets(offre: &Offre) -> Vec<Siret> {
    let mut sirets: Vec<Siret> = Vec::with_capacity(2 + 2 * offre.sessions.len());
    sirets.push(offre.mandataire.clone());
    sirets.push(offre.action.site_dispensateur.siret.clone());
    for s in &offre.sessions {
        sirets.push(s.site_lieu.siret.clone());
        sirets.push(s.organisme_responsable.siret.clone());
    }
    sirets.sort();
    sirets.dedup();
    sirets
}

/// Programmes and départements of an offer's published sessions (JSON arrays), for the
/// consumers' filters of later issues.
fn filters(
    offre: &Offre,
    outcome: &Outcome,
    organismes: &HashMap<Siret, Organisme>,
) -> (String, String) {
    let mut programmes = BTreeSet::new();
    let mut departements = BTreeSet::new();
    for s in offre
        .sessions
        .iter()
        .filter(|s| outcome.accepted.contains(&s.code))
    {
        programmes.insert(s.dispositif.programme.as_str().to_owned());
        if let Some(site) = organismes
            .get(&s.site_lieu.siret)
            .and_then(|o| o.site(&s.site_lieu.site))
        {
            departements.insert(
                Departement::of_adresse(&site.adresse)
                    .map_or("", Departement::as_str)
                    .to_owned(),
            );
        }
    }
    (
        serde_json::to_string(&programmes).expect("serialisable"),
        serde_json::to_string(&departements).expect("serialisable"),
    )
}

/// An offer's share of the counts, as stored in `evaluations.counts`: a compact array.
fn encode_counts(c: &PassCounts) -> String {
    serde_json::to_string(&(
        c.offres_lues,
        c.formations,
        c.actions,
        c.sessions,
        c.offres_rejetees,
        c.offres_inactives,
        c.sessions_rejetees,
        c.sessions_inactives,
        &c.constats_par_regle,
    ))
    .expect("serialisable")
}

type CountsTuple = (
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    std::collections::BTreeMap<String, u64>,
);

fn decode_counts(s: &str) -> anyhow::Result<PassCounts> {
    let t: CountsTuple = serde_json::from_str(s)
        .with_context(|| format!("stored evaluation counts are unreadable: {s:?}"))?;
    Ok(PassCounts {
        offres_lues: t.0,
        formations: t.1,
        actions: t.2,
        sessions: t.3,
        offres_rejetees: t.4,
        offres_inactives: t.5,
        sessions_rejetees: t.6,
        sessions_inactives: t.7,
        constats_par_regle: t.8,
    })
}

/// How a generation was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every validated offer evaluated.
    Full,
    /// Only the candidates evaluated; the rest copied from the previous generation.
    Incremental,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
        }
    }
}

/// What an export needs.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub pass: PassOptions,
    /// The full snapshot's stable name.
    pub out: PathBuf,
    /// Where to write the changed offers as a LHÉO document, if wanted.
    pub delta_out: Option<PathBuf>,
    /// RFC 3339, written on `<lheo>`.
    pub horodatage_export: String,
    /// Publish even if more than `max_withdraw_share` of the offers would be withdrawn.
    pub force: bool,
    pub max_withdraw_share: f64,
    pub tombstone_retention_days: u32,
    /// Evaluate every offer, whatever the previous generation.
    pub full: bool,
}

impl ExportOptions {
    /// The defaults for everything but what identifies the run.
    pub fn new(pass: PassOptions, out: PathBuf, horodatage_export: String) -> ExportOptions {
        ExportOptions {
            pass,
            out,
            delta_out: None,
            horodatage_export,
            force: false,
            max_withdraw_share: DEFAULT_MAX_WITHDRAW_SHARE,
            tombstone_retention_days: DEFAULT_TOMBSTONE_RETENTION_DAYS,
            full: false,
        }
    }
}

/// What `--delta-out` wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeltaSummary {
    pub file: PathBuf,
    /// Whether a LHÉO file was written: not when no offer was created or updated (LHÉO
    /// cannot hold an empty `<offres>`).
    pub written: bool,
    /// Offers in it (created + updated).
    pub offres: u64,
    /// The withdrawn offers' numeros (also in the file's extras when it is written).
    pub retraits: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why no file was written, when none was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The summary of an export (`export --json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExportSummary {
    pub generation: i64,
    pub previous_generation: Option<i64>,
    pub mode: Mode,
    /// Why the pass was full, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_reason: Option<String>,
    /// Validated offers read and evaluated by this run (all of them on a full pass).
    pub offres_evaluees: u64,
    pub created: u64,
    pub updated: u64,
    pub withdrawn: u64,
    pub unchanged: u64,
    /// Offers in this generation's snapshot.
    pub published: u64,
    /// Tombstones kept after this generation, and those purged by it.
    pub tombstones: u64,
    pub tombstones_purged: u64,
    pub forced: bool,
    /// The stable name of the snapshot, as given.
    pub file: PathBuf,
    /// The generation's own file (the same bytes).
    pub generation_file: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub horodatage_export: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<DeltaSummary>,
    /// The rule outcome of the whole generation.
    #[serde(flatten)]
    pub counts: PassCounts,
}

/// Why an export published nothing.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "nothing to publish: none of the {offres} validated offers has an exportable session \
         ({rejetees} rejected, {inactives} with every session ended). LHÉO cannot hold an empty \
         <offres>, so no file was written and {file} was left as it was. Run `lheo-feed check` \
         to see why offers are rejected."
    )]
    Empty {
        offres: u64,
        rejetees: u64,
        inactives: u64,
        file: String,
    },
    #[error(
        "refusing to publish: this export would withdraw {withdrawn} of the {published} \
         published offers ({share:.1} %), more than the {max:.1} % allowed \
         (--max-withdraw-share {max_share}). A partial upstream extraction must not empty the \
         national feed, so nothing was published and generation {previous} stays current. \
         Check the last import (`lheo-feed status`, `lheo-feed check`); if these withdrawals \
         are real, run the export again with --force."
    )]
    TooManyWithdrawals {
        withdrawn: u64,
        published: u64,
        share: f64,
        max: f64,
        max_share: f64,
        previous: i64,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The test hook ([`PAUSE_ENV`]).
async fn pause_at(point: &str) {
    if std::env::var(PAUSE_ENV).is_ok_and(|v| v == point) {
        eprintln!(
            "lheo-feed: test hook {PAUSE_ENV}={point}: paused (pid {})",
            std::process::id()
        );
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
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
            "the rules configuration or the program version changed".into(),
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

/// The published offers of the previous generation, read page by page in numeric order;
/// the next page is read while the current one is used.
struct LiveCursor {
    store: Store,
    buf: VecDeque<PublishedRow>,
    next: Option<tokio::task::JoinHandle<anyhow::Result<Vec<PublishedRow>>>>,
    done: bool,
    page: u32,
    fragments: bool,
}

impl LiveCursor {
    fn new(store: &Store, page: u32, fragments: bool) -> LiveCursor {
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

    async fn front(&mut self) -> anyhow::Result<Option<ActionCode>> {
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

/// An offer to evaluate: its record if it is stored and validated, and its previous share
/// of the counts if it had been evaluated; evaluated as soon as its page is read.
struct Candidate {
    numero: ActionCode,
    offre: Option<Offre>,
    old_counts: Option<String>,
    /// `None` when the offer is not (or no longer) validated.
    evaluated: Option<Evaluated>,
}

/// What the rules and the writer made of a candidate: pure work on the offer and the
/// organismes, so the offers of a page are evaluated on every core (see
/// [`evaluate_page`]) while the walk stays in numeric order.
struct Evaluated {
    share: PassCounts,
    evaluation: EvaluationWrite,
    published: Option<Published>,
}

/// A candidate's published part: its fragment, its gzip twin segment, hash and filters.
struct Published {
    xml: String,
    segment: twin::Segment,
    hash: String,
    programmes: String,
    departements: String,
}

/// What evaluating a candidate needs besides the offer.
#[derive(Clone, Copy)]
struct EvalContext<'a> {
    rctx: &'a RuleContext<'a>,
    wctx: &'a WriterContext<'a>,
    organismes: &'a HashMap<Siret, Organisme>,
    revision: i64,
    today: Date,
}

fn evaluate_candidate(offre: &Offre, ctx: EvalContext<'_>) -> Evaluated {
    let (outcome, fragment) = pipeline::evaluate_offre(offre, ctx.rctx, ctx.wctx);
    let share = PassCounts::of_offre(&outcome, fragment.as_ref());
    let evaluation = EvaluationWrite {
        numero: offre.numero,
        revision: ctx.revision,
        next_recheck: next_recheck(offre, ctx.today).map(day_number),
        counts: encode_counts(&share),
        sirets: referenced_sirets(offre),
        findings: crate::rejections::encode(&outcome, ctx.organismes),
    };
    let published = fragment.map(|f| {
        let (programmes, departements) = filters(offre, &outcome, ctx.organismes);
        Published {
            hash: offre_hash(&f.xml),
            segment: twin::segment(f.xml.as_bytes()),
            xml: f.xml,
            programmes,
            departements,
        }
    });
    Evaluated {
        share,
        evaluation,
        published,
    }
}

/// Evaluates a page of candidates on every core: the export's main cost (rules, writer,
/// SHA-256 of each fragment) is independent per offer, and a full pass at a million
/// sessions spends most of its time here. Small pages are evaluated inline.
fn evaluate_page(page: &mut [Candidate], ctx: EvalContext<'_>) {
    crate::parallel::on_every_core(page, 16, |part| {
        for c in part {
            c.evaluated = c.offre.as_ref().map(|o| evaluate_candidate(o, ctx));
        }
    });
}

/// The candidates, read in numeric order: every validated offer (full pass), or the
/// listed keys (incremental).
struct CandidateCursor<'s> {
    store: &'s Store,
    eval: EvalContext<'s>,
    buf: VecDeque<Candidate>,
    page: u32,
    /// Full pass: the last key read, and whether the end was reached.
    after: Option<ActionCode>,
    done: bool,
    /// Full pass: the next page, read while this one is evaluated (reading and decoding
    /// a page of offers is a tenth of a full pass, on a core the evaluation leaves idle
    /// between pages).
    next: Option<tokio::task::JoinHandle<anyhow::Result<Vec<Offre>>>>,
    /// Incremental: the keys, sorted, and how many were read.
    keys: Option<Vec<ActionCode>>,
    pos: usize,
}

impl CandidateCursor<'_> {
    async fn front(&mut self) -> anyhow::Result<Option<ActionCode>> {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Op {
    Created,
    Updated,
    Withdrawn,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Created => "created",
            Op::Updated => "updated",
            Op::Withdrawn => "withdrawn",
        }
    }
}

/// One change, with where its new fragment lies in the snapshot's temporary file.
#[derive(serde::Serialize, serde::Deserialize)]
struct Change {
    numero: ActionCode,
    op: Op,
    hash: String,
    /// Offset and length in the snapshot (created and updated).
    at: Option<(u64, usize)>,
    programmes: String,
    departements: String,
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

/// What [`stream`] needs.
struct StreamContext<'a> {
    store: &'a Store,
    opts: &'a ExportOptions,
    out: &'a Path,
    mode: Mode,
    prev: Option<&'a GenerationRow>,
    rctx: &'a RuleContext<'a>,
    wctx: &'a WriterContext<'a>,
    organismes: &'a HashMap<Siret, Organisme>,
    revision: i64,
}

/// The previous generation's file, as recorded.
struct PrevFile {
    path: PathBuf,
    bytes: i64,
    sha256: String,
    fingerprint: String,
}

/// How many offers a generation created, updated and withdrew.
#[derive(Clone, Copy, Debug, Default)]
struct ChangeCounts {
    created: u64,
    updated: u64,
    withdrawn: u64,
}

/// The change set as it is found: spilled to disk, and counted.
struct ChangeLog {
    spill: Spill<Change>,
    counted: ChangeCounts,
}

impl ChangeLog {
    fn new() -> anyhow::Result<ChangeLog> {
        Ok(ChangeLog {
            spill: Spill::new().context("cannot create a temporary file")?,
            counted: ChangeCounts::default(),
        })
    }

    fn push(&mut self, c: Change) -> anyhow::Result<()> {
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
struct Streamed {
    /// `None` when nothing was streamed (the previous document is kept).
    snapshot: Option<Document>,
    /// One per offer at most: on disk, so that memory does not grow with the offer.
    changes: Spill<Change>,
    counted: ChangeCounts,
    evaluations: Spill<EvaluationWrite>,
    evaluated_keys: Vec<ActionCode>,
    totals: PassCounts,
    unchanged: u64,
    published: u64,
}

/// Walks the previous generation's published offers and the candidates in numeric order,
/// evaluating the candidates and streaming the snapshot. Unchanged offers' fragments come
/// from `prev_file` when given, else from the database; `Ok(Err(why))` when that file
/// turns out not to be what the database recorded (the caller then streams again from the
/// database). The file is hashed as it is read unless its fingerprint (size, modification
/// time, inode) is the one recorded when it was written.
async fn stream(
    ctx: &StreamContext<'_>,
    keys: Option<Vec<ActionCode>>,
    prev_file: Option<PrevFile>,
) -> anyhow::Result<Result<Streamed, String>> {
    let (store, opts, mode) = (ctx.store, ctx.opts, ctx.mode);
    let mut reader = match &prev_file {
        Some(f) => {
            let verify = export::fingerprint(&f.path).ok().as_ref() != Some(&f.fingerprint);
            tracing::debug!(
                file = %f.path.display(),
                verify,
                "unchanged offers copied from the previous generation's file"
            );
            match FragmentReader::open(&f.path, verify) {
                Ok(r) => Some(r),
                Err(e) => return Ok(Err(format!("{}: {e}", f.path.display()))),
            }
        }
        None => None,
    };
    // The previous document's gzip twin, read in step with it (src/twin.rs).
    let mut twin_reader = match (&reader, &prev_file) {
        (Some(_), Some(f)) => twin::Reader::open(&export::gzip_twin(&f.path), &f.sha256),
        _ => None,
    };
    let mut totals = match (ctx.prev, mode) {
        (Some(p), Mode::Incremental) => serde_json::from_str::<PassCounts>(&p.counts)
            .with_context(|| format!("generation {}: unreadable counts", p.id))?,
        _ => PassCounts::default(),
    };
    // A full pass only compares hashes; an incremental one copies the fragments of the
    // offers it does not evaluate (from the database when not from the file).
    let fragments = mode == Mode::Incremental && reader.is_none();
    let mut live = LiveCursor::new(store, opts.pass.page_size, fragments);
    let mut cands = CandidateCursor {
        store,
        eval: EvalContext {
            rctx: ctx.rctx,
            wctx: ctx.wctx,
            organismes: ctx.organismes,
            revision: ctx.revision,
            today: opts.pass.today,
        },
        buf: VecDeque::new(),
        page: opts.pass.page_size,
        after: None,
        done: false,
        next: None,
        keys,
        pos: 0,
    };

    // With its gzip twin, compressed as it is written (served to partners that accept
    // gzip).
    let mut snapshot = Document::create_with_twin(ctx.out, &opts.horodatage_export)?;
    let mut changes = ChangeLog::new()?;
    let mut evaluations: Spill<EvaluationWrite> = Spill::new()?;
    let mut evaluated_keys: Vec<ActionCode> = Vec::new();
    let (mut unchanged, mut published) = (0u64, 0u64);
    let mut paused = false;

    loop {
        let old_key = live.front().await?;
        let cand_key = cands.front().await?;
        let key = match (old_key, cand_key) {
            (None, None) => break,
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
        // The previous file holds the previous generation's offers in the same order.
        let mut old_bytes: Option<&[u8]> = None;
        if let (Some(r), Some(_)) = (&mut reader, &old) {
            match r.next_fragment() {
                Ok(Some((k, bytes))) if k == key => old_bytes = Some(bytes),
                Ok(other) => {
                    return Ok(Err(format!(
                        "expected offer {key}, found {:?}",
                        other.map(|(k, _)| k.to_string())
                    )))
                }
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
        let Some(cand) = cand else {
            // Not a candidate: published before, unchanged by construction (incremental),
            // or no longer validated (full pass).
            let old = old.expect("a key comes from one side at least");
            match (mode, old_bytes, old.fragment.as_deref()) {
                (Mode::Incremental, Some(bytes), _) | (Mode::Incremental, None, Some(bytes)) => {
                    // Its twin segment too, from the previous twin when it has it.
                    let segment = match twin_reader.as_mut().map(|t| t.next(key)) {
                        Some(Ok(Some(seg))) => Some(seg),
                        Some(Ok(None)) | Some(Err(_)) => {
                            tracing::debug!(numero = %key, "the previous twin's index no longer matches: compressing");
                            twin_reader = None;
                            None
                        }
                        None => None,
                    };
                    snapshot.write_offer(key, bytes, segment.as_ref())?;
                    unchanged += 1;
                    published += 1;
                }
                _ => changes.push(Change {
                    numero: key,
                    op: Op::Withdrawn,
                    hash: old.hash,
                    at: None,
                    programmes: String::new(),
                    departements: String::new(),
                })?,
            }
            continue;
        };

        // A candidate: evaluate it (if still validated), then compare with what was
        // published.
        evaluated_keys.push(key);
        if let Some(c) = &cand.old_counts {
            totals.subtract(&decode_counts(c)?);
        }
        let mut new: Option<Published> = None;
        if let Some(e) = cand.evaluated {
            totals.add(&e.share);
            evaluations.push(&e.evaluation)?;
            new = e.published;
        }
        match (new, old) {
            (
                Some(Published {
                    xml,
                    segment,
                    hash,
                    programmes,
                    departements,
                }),
                old,
            ) => {
                let at = snapshot.offset();
                let len = xml.len();
                snapshot.write_offer(key, xml.as_bytes(), Some(&segment))?;
                published += 1;
                let op = match old {
                    Some(o) if o.hash == hash => None,
                    Some(_) => Some(Op::Updated),
                    None => Some(Op::Created),
                };
                match op {
                    None => unchanged += 1,
                    Some(op) => changes.push(Change {
                        numero: key,
                        op,
                        hash,
                        at: Some((at, len)),
                        programmes,
                        departements,
                    })?,
                }
            }
            (None, Some(old)) => changes.push(Change {
                numero: key,
                op: Op::Withdrawn,
                hash: old.hash,
                at: None,
                programmes: String::new(),
                departements: String::new(),
            })?,
            (None, None) => {}
        }
        if !paused && published > 0 {
            paused = true;
            snapshot.flush()?;
            pause_at("mid_write").await;
        }
    }
    if let (Some(mut r), Some(f)) = (reader, prev_file) {
        match r.next_fragment() {
            Ok(None) => {}
            Ok(Some((k, _))) => {
                return Ok(Err(format!("{}: unexpected offer {k}", f.path.display())))
            }
            Err(e) => return Ok(Err(e.to_string())),
        }
        match r.finish() {
            Ok((b, sha)) if b == f.bytes as u64 && sha.as_ref().is_none_or(|s| *s == f.sha256) => {}
            Ok(_) => {
                return Ok(Err(format!(
                    "{} is not the file recorded (size or SHA-256)",
                    f.path.display()
                )))
            }
            Err(e) => return Ok(Err(e.to_string())),
        }
    }
    if !paused && published > 0 {
        snapshot.flush()?;
        pause_at("mid_write").await;
    }
    Ok(Ok(Streamed {
        snapshot: Some(snapshot),
        counted: changes.counted,
        changes: changes.spill,
        evaluations,
        evaluated_keys,
        totals,
        unchanged,
        published,
    }))
}

/// Runs an export: computes the next generation, and publishes it unless a guard stops
/// it. See the module documentation.
pub async fn export(store: &Store, opts: &ExportOptions) -> Result<ExportSummary, ExportError> {
    let started_at = Utc::now().trunc_subsecs(0);
    let clock = std::time::Instant::now();
    let phase = |what: &str| tracing::debug!(elapsed = ?clock.elapsed(), "export: {what}");
    let out = std::path::absolute(&opts.out)
        .with_context(|| format!("invalid output path {}", opts.out.display()))?;
    let prev = store.last_generation().await?;
    if let Some(p) = &prev {
        repair_output(p);
    }
    let analysed = store.refresh_statistics().await;
    if !analysed.is_empty() {
        tracing::info!(tables = ?analysed, "planner statistics refreshed (many rows changed since the last ANALYZE)");
    }
    // Read before any offer: whatever an import commits from now on is looked at again by
    // the next export (see Store::current_revision).
    let revision = store.current_revision().await?;
    let rules_hash = rules_hash(&opts.pass.rules);
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
    phase("candidates chosen");
    let needs_organismes = keys.as_ref().is_none_or(|k| !k.is_empty());
    let organismes: HashMap<Siret, Organisme> = if needs_organismes {
        store.organismes().await?
    } else {
        HashMap::new()
    };
    let rctx = RuleContext {
        today: opts.pass.today,
        config: &opts.pass.rules,
        organismes: &organismes,
    };
    let wctx = WriterContext {
        organismes: &organismes,
        today: opts.pass.today,
    };

    // Unchanged offers are copied from the previous generation's file when it is there
    // with its recorded size (and fingerprint, else its SHA-256 is checked as it is read);
    // otherwise, or if that check fails, from the database.
    let prev_file = prev
        .as_ref()
        .filter(|_| mode == Mode::Incremental)
        .map(|p| PrevFile {
            path: PathBuf::from(&p.file_path),
            bytes: p.file_bytes,
            sha256: p.file_sha256.clone(),
            fingerprint: p.file_fingerprint.clone(),
        })
        .filter(|f| std::fs::metadata(&f.path).is_ok_and(|m| m.len() == f.bytes as u64));
    let ctx = StreamContext {
        store,
        opts,
        out: &out,
        mode,
        prev: prev.as_ref(),
        rctx: &rctx,
        wctx: &wctx,
        organismes: &organismes,
        revision,
    };
    // The previous generation's document, when its file is the one recorded (size,
    // modification time and inode): kept as the new generation's document, byte for byte,
    // when no offer changed (see `kept`).
    let intact_prev = prev.as_ref().filter(|p| {
        mode == Mode::Incremental
            && export::fingerprint(Path::new(&p.file_path)).ok().as_deref()
                == Some(p.file_fingerprint.as_str())
    });
    let nothing_to_evaluate = keys.as_ref().is_some_and(|k| k.is_empty());
    let streamed = match (nothing_to_evaluate, intact_prev) {
        // No candidate: nothing can have changed, so the document is not even read.
        (true, Some(p)) => Streamed {
            snapshot: None,
            changes: Spill::new().context("cannot create a temporary file")?,
            counted: ChangeCounts::default(),
            evaluations: Spill::new().context("cannot create a temporary file")?,
            evaluated_keys: Vec::new(),
            totals: serde_json::from_str::<PassCounts>(&p.counts)
                .with_context(|| format!("generation {}: unreadable counts", p.id))?,
            unchanged: p.published.max(0) as u64,
            published: p.published.max(0) as u64,
        },
        _ => match stream(&ctx, keys.clone(), prev_file).await? {
            Ok(s) => s,
            Err(why) => {
                tracing::warn!(
                    "the previous generation's file cannot be reused ({why}): reading the \
                 published offers from the database"
                );
                match stream(&ctx, keys, None).await? {
                    Ok(s) => s,
                    Err(why) => return Err(anyhow!("cannot write the snapshot: {why}").into()),
                }
            }
        },
    };
    let Streamed {
        snapshot,
        changes,
        counted,
        evaluations,
        evaluated_keys,
        totals,
        unchanged,
        published,
    } = streamed;

    phase("offers evaluated and snapshot streamed");
    let ChangeCounts {
        created,
        updated,
        withdrawn,
    } = counted;
    let offres_evaluees = evaluations.len();
    if published == 0 {
        return Err(ExportError::Empty {
            offres: totals.offres_lues,
            rejetees: totals.offres_rejetees,
            inactives: totals.offres_inactives,
            file: opts.out.display().to_string(),
        });
    }
    let previously = prev.as_ref().map_or(0, |p| p.published.max(0) as u64);
    let forced = previously > 0 && withdrawn as f64 > opts.max_withdraw_share * previously as f64;
    if forced && !opts.force {
        return Err(ExportError::TooManyWithdrawals {
            withdrawn,
            published: previously,
            share: 100.0 * withdrawn as f64 / previously as f64,
            max: 100.0 * opts.max_withdraw_share,
            max_share: opts.max_withdraw_share,
            previous: prev.as_ref().map_or(0, |p| p.id),
        });
    }
    // When no offer changed, the previous document stays the document, byte for byte:
    // the same horodatage-export, SHA-256 and ETag, so that a partner or consumer that
    // holds it downloads nothing again, and an unchanged night costs no rewrite of the
    // whole snapshot (8 GB at a million sessions). Otherwise the new file is finished.
    let kept = match intact_prev {
        Some(p) if changes.is_empty() => Some(p),
        _ => None,
    };
    let snapshot: Snapshot = match (kept, snapshot) {
        (Some(p), s) => {
            drop(s); // deletes the temporary file, if one was streamed
            Snapshot {
                path: PathBuf::from(&p.file_path),
                bytes: p.file_bytes.max(0) as u64,
                sha256: p.file_sha256.clone(),
                fingerprint: p.file_fingerprint.clone(),
                horodatage_export: p.horodatage_export.clone(),
                kept: true,
            }
        }
        (None, Some(s)) => {
            let f = s.finish(DOCUMENT_FOOTER)?;
            Snapshot {
                fingerprint: export::fingerprint(&f.tmp)
                    .context("cannot read back the snapshot's metadata")?,
                path: f.tmp,
                bytes: f.bytes,
                sha256: f.sha256,
                horodatage_export: opts.horodatage_export.clone(),
                kept: false,
            }
        }
        (None, None) => unreachable!("a snapshot is streamed unless the previous one is kept"),
    };
    phase("snapshot synced");
    // From here until the commit, the files written are ours to delete on failure.
    // A new document's gzip twin was written with it; a kept document keeps its twin
    // too (made now, while the transaction writes, if it had none).
    let twin_kept = snapshot.kept && export::gzip_twin(&snapshot.path).exists();
    let mut guard = TempGuard(match (snapshot.kept, twin_kept) {
        (false, _) => [
            vec![snapshot.path.clone()],
            export::twin_paths(&snapshot.path).to_vec(),
        ]
        .concat(),
        (true, false) => vec![export::gzip_twin(&snapshot.path)],
        (true, true) => Vec::new(),
    });
    // Declared after the guard, so dropped, and joined, before it deletes the files.
    let twin_task =
        (snapshot.kept && !twin_kept).then(|| export::GzipTwinTask::start(&snapshot.path));

    // ----- The write transaction -----
    let finished_at = Utc::now().trunc_subsecs(0);
    let mut tx = store.begin_generation(prev.as_ref().map(|p| p.id)).await?;
    let id = tx
        .insert_generation(&NewGeneration {
            started_at,
            finished_at,
            horodatage_export: snapshot.horodatage_export.clone(),
            today: opts.pass.today.to_string(),
            format_version: FORMAT_VERSION.to_owned(),
            rules_hash,
            store_revision: revision,
            mode: mode.as_str().to_owned(),
            offres_evaluees: offres_evaluees as i64,
            created: created as i64,
            updated: updated as i64,
            withdrawn: withdrawn as i64,
            unchanged: unchanged as i64,
            published: published as i64,
            rejected: totals.offres_rejetees as i64,
            counts: serde_json::to_string(&totals).expect("serialisable"),
            forced,
            file_path: String::new(),
            out_path: out.display().to_string(),
            file_sha256: snapshot.sha256.clone(),
            file_bytes: snapshot.bytes as i64,
            file_fingerprint: snapshot.fingerprint.clone(),
        })
        .await?;
    let generation_file = export::generation_file(&out, id);
    tx.set_file_path(id, &generation_file.display().to_string())
        .await?;

    // Created and updated offers: their fragments, read back from the snapshot, go to the
    // published table and to the delta document.
    let delta_out = match &opts.delta_out {
        Some(p) => Some(
            std::path::absolute(p)
                .with_context(|| format!("invalid delta path {}", p.display()))?,
        ),
        None => None,
    };
    let mut delta = match &delta_out {
        Some(path) if created + updated > 0 => {
            Some(Document::create(path, &opts.horodatage_export)?)
        }
        _ => None,
    };
    let mut reader = File::open(&snapshot.path)
        .with_context(|| format!("cannot read back {}", snapshot.path.display()))?;
    // One pass over the change set, read back from its spill file: the change rows, the
    // created and updated offers' fragments (read back from the snapshot) for the
    // published table and the delta document, and the withdrawals.
    let any_change = !changes.is_empty();
    let records = changes
        .into_records()
        .context("cannot read back the change set")?;
    let mut batch: Vec<(Change, String)> = Vec::new();
    let mut rows: Vec<ChangeRow> = Vec::new();
    let mut withdrawals: Vec<ActionCode> = Vec::new();
    for c in records {
        let c = c.context("cannot read back the change set")?;
        rows.push(ChangeRow {
            generation: id,
            numero: c.numero,
            op: c.op.as_str().to_owned(),
            hash: c.hash.clone(),
        });
        if rows.len() >= 1000 {
            tx.insert_changes(&rows).await?;
            rows.clear();
        }
        if c.op == Op::Withdrawn {
            withdrawals.push(c.numero);
            continue;
        }
        let (at, len) = c.at.expect("created and updated offers have a fragment");
        let fragment = read_at(&mut reader, at, len)
            .with_context(|| format!("cannot read back {}", snapshot.path.display()))?;
        if let Some(d) = &mut delta {
            d.write(fragment.as_bytes())?;
        }
        batch.push((c, fragment));
        if batch.len() >= 200 {
            write_published(&mut tx, id, &mut batch).await?;
        }
    }
    write_published(&mut tx, id, &mut batch).await?;
    drop(batch);
    tx.insert_changes(&rows).await?;
    drop(rows);
    tx.withdraw(id, finished_at, &withdrawals).await?;
    if any_change {
        // The outbox (src/push): one row per registered consumer, committed with the rest.
        tx.enqueue_deliveries(id, finished_at.timestamp_millis())
            .await?;
    }
    match mode {
        Mode::Full => tx.clear_evaluations().await?,
        Mode::Incremental => tx.delete_evaluations(&evaluated_keys).await?,
    }
    let mut records = evaluations
        .into_records()
        .context("cannot read back the evaluations")?;
    loop {
        let batch = records
            .next_batch(1000)
            .context("cannot read back the evaluations")?;
        if batch.is_empty() {
            break;
        }
        tx.insert_evaluations(&batch).await?;
    }
    phase("published offers, changes and evaluations written");
    let retention = chrono::Duration::days(i64::from(opts.tombstone_retention_days));
    let tombstones_purged = tx.purge_tombstones(finished_at - retention).await?;
    let tombstones = tx.tombstones().await?;
    phase("tombstones purged and counted");

    let retraits: Vec<String> = withdrawals.iter().map(|k| k.to_string()).collect();
    let delta_file: Option<Finished> = match delta.take() {
        Some(mut d) => {
            d.write(b"</offres>\n")?;
            d.write(delta_extras(id, prev.as_ref().map(|p| p.id), &retraits).as_bytes())?;
            let f = d.finish("</lheo>\n")?;
            guard.0.push(f.tmp.clone());
            Some(f)
        }
        None => None,
    };
    let delta_summary = delta_out.as_ref().map(|path| DeltaSummary {
        file: opts.delta_out.clone().unwrap_or_else(|| path.clone()),
        written: delta_file.is_some(),
        offres: if delta_file.is_some() {
            created + updated
        } else {
            0
        },
        bytes: delta_file.as_ref().map(|f| f.bytes),
        sha256: delta_file.as_ref().map(|f| f.sha256.clone()),
        note: match (&delta_file, retraits.is_empty()) {
            (Some(_), _) => None,
            (None, true) => Some("no offer changed: no delta file was written".to_owned()),
            (None, false) => Some(format!(
                "only withdrawals ({}): LHÉO cannot hold an empty <offres>, so no delta file \
                 was written; the withdrawn numeros are listed in retraits",
                retraits.len()
            )),
        },
        retraits,
    });

    // Files: leftovers of killed runs, then this generation's file and the delta, then
    // the commit. The write lock is held, so no other export is between these steps.
    let keep: Vec<i64> = prev.iter().map(|p| p.id).chain([id]).collect();
    for removed in export::remove_leftovers(&out, &keep) {
        tracing::info!(file = %removed.display(), "removed a leftover of an interrupted export");
    }
    if let Some(d) = &delta_out {
        export::remove_leftovers(d, &[]);
    }
    if let Some(task) = twin_task {
        task.wait()?;
        phase("gzip twin written");
    }
    if snapshot.kept {
        // A second name for the previous document: the previous generation's name is
        // removed after the commit, this one stays.
        export::hard_link_into_place(&snapshot.path, &generation_file)?;
    } else {
        export::rename_into_place(&snapshot.path, &generation_file)?;
    }
    guard.0.push(generation_file.clone());
    guard.0.extend(export::twin_into_place(
        &snapshot.path,
        &generation_file,
        twin_kept,
    )?);
    if let (Some(f), Some(path)) = (&delta_file, &delta_out) {
        export::rename_into_place(&f.tmp, path)?;
        guard.0.push(path.clone());
    }
    phase("generation written");
    pause_at("before_commit").await;
    tx.commit().await?;
    guard.0.clear();
    pause_at("after_commit").await;

    phase("committed");
    export::link_into_place(&generation_file, &out)?;
    if let Some(p) = &prev {
        let old = PathBuf::from(&p.file_path);
        if old != generation_file {
            let _ = std::fs::remove_file(&old);
            for twin in export::twin_paths(&old) {
                let _ = std::fs::remove_file(twin);
            }
        }
    }

    phase("done");
    Ok(ExportSummary {
        generation: id,
        previous_generation: prev.as_ref().map(|p| p.id),
        mode,
        full_reason,
        offres_evaluees,
        created,
        updated,
        withdrawn,
        unchanged,
        published,
        tombstones,
        tombstones_purged,
        forced,
        file: opts.out.clone(),
        generation_file,
        bytes: snapshot.bytes,
        sha256: snapshot.sha256,
        horodatage_export: snapshot.horodatage_export,
        delta: delta_summary,
        counts: totals,
    })
}

/// The generation's document: a newly streamed file, or the previous generation's kept.
struct Snapshot {
    /// The temporary file (new) or the previous generation's file (kept).
    path: PathBuf,
    bytes: u64,
    sha256: String,
    fingerprint: String,
    /// The one written on the document.
    horodatage_export: String,
    kept: bool,
}

/// Deletes its files when dropped (an export that stops before its commit).
struct TempGuard(Vec<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Stores created and updated offers (`batch`, emptied), their fragments compressed on
/// every core first (src/store/fragments.rs).
async fn write_published(
    tx: &mut GenerationTx,
    id: i64,
    batch: &mut Vec<(Change, String)>,
) -> anyhow::Result<()> {
    let xmls: Vec<&[u8]> = batch.iter().map(|(_, x)| x.as_bytes()).collect();
    let stored = fragments::compress_all(&xmls);
    let rows: Vec<PublishedWrite> = batch
        .drain(..)
        .zip(stored)
        .map(|((c, _), fragment_lz4)| PublishedWrite {
            numero: c.numero,
            hash: c.hash,
            fragment_lz4,
            programmes: c.programmes,
            departements: c.departements,
        })
        .collect();
    tx.write_published(id, &rows).await
}

fn read_at(reader: &mut File, at: u64, len: usize) -> anyhow::Result<String> {
    reader.seek(SeekFrom::Start(at))?;
    let mut buf = vec![0; len];
    reader.read_exact(&mut buf)?;
    Ok(String::from_utf8(buf)?)
}

/// The extras that end a delta document: its generation, and the withdrawn offers.
fn delta_extras(id: i64, previous: Option<i64>, retraits: &[String]) -> String {
    let mut s =
        format!("<extras info=\"{EXTRAS_GENERATION}\">\n<extra info=\"generation\">{id}</extra>\n");
    if let Some(p) = previous {
        s.push_str(&format!(
            "<extra info=\"generation-precedente\">{p}</extra>\n"
        ));
    }
    s.push_str("</extras>\n");
    if !retraits.is_empty() {
        s.push_str(&format!("<extras info=\"{EXTRAS_RETRAITS}\">\n"));
        for n in retraits {
            // A numero is digits and a hyphen: nothing to escape.
            s.push_str(&format!("<extra info=\"retrait\" numero=\"{n}\"/>\n"));
        }
        s.push_str("</extras>\n");
    }
    s
}

/// Points the previous generation's output name at its file again, if a kill after its
/// commit left the name on an older document (or someone removed it).
fn repair_output(prev: &GenerationRow) {
    let file = Path::new(&prev.file_path);
    let out = Path::new(&prev.out_path);
    if file.as_os_str().is_empty() || !file.exists() || export::same_file(file, out) {
        return;
    }
    match export::link_into_place(file, out) {
        Ok(()) => tracing::warn!(
            generation = prev.id,
            file = %out.display(),
            "the output of generation {} was not in place (an interrupted export?): restored",
            prev.id
        ),
        Err(e) => tracing::warn!("cannot restore the output of generation {}: {e:#}", prev.id),
    }
}

/// The sessions the current generation publishes, read from its live fragments (ours,
/// canonical: each `<session` start tag carries `numero="F-A-S"`). Codes only, so memory
/// stays small at national scale (≈ 24 bytes a session).
pub async fn published_sessions(
    store: &Store,
) -> anyhow::Result<std::collections::HashSet<FasCode>> {
    let mut out = std::collections::HashSet::new();
    let mut after = None;
    loop {
        let page = store.published_page(after, 1000, true).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.numero);
        for row in &page {
            let Some(bytes) = &row.fragment else { continue };
            let xml = std::str::from_utf8(bytes).context("a published fragment is not UTF-8")?;
            for tail in xml.split("<session numero=\"").skip(1) {
                if let Some(code) = tail.split('"').next().and_then(|c| FasCode::parse(c).ok()) {
                    out.insert(code);
                }
            }
        }
    }
    Ok(out)
}

/// Created, updated and withdrawn offers between two generations.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Diff {
    pub from: i64,
    pub to: i64,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub withdrawn: Vec<String>,
}

/// The net change of each offer from generation `from` (0: before the first) to `to`:
/// created (not published in `from`, published in `to`), withdrawn (the other way round),
/// updated (published in both with different hashes). An offer changed and changed back
/// is not listed.
pub async fn diff(store: &Store, from: i64, to: i64) -> anyhow::Result<Diff> {
    let history = store.changes_history(from, to).await?;
    let mut d = Diff {
        from,
        to,
        ..Diff::default()
    };
    let mut i = 0;
    while i < history.len() {
        let numero = history[i].numero;
        // (published?, hash) as of `from`, then as of `to`.
        let mut at_from: Option<&str> = None;
        let mut at_to: Option<&str> = None;
        while i < history.len() && history[i].numero == numero {
            let c = &history[i];
            let state = (c.op != "withdrawn").then_some(c.hash.as_str());
            if c.generation <= from {
                at_from = state;
            }
            at_to = state;
            i += 1;
        }
        let n = numero.to_string();
        match (at_from, at_to) {
            (None, Some(_)) => d.created.push(n),
            (Some(_), None) => d.withdrawn.push(n),
            (Some(a), Some(b)) if a != b => d.updated.push(n),
            _ => {}
        }
    }
    Ok(d)
}

/// Checks a `diff` range: `from` (0 or a generation) before `to` (a generation).
pub async fn check_range(store: &Store, from: i64, to: i64) -> anyhow::Result<Result<(), String>> {
    if from < 0 || to <= from {
        return Ok(Err(format!(
            "diff A B needs 0 <= A < B (got {from} and {to}): A = 0 means before the first generation"
        )));
    }
    if from > 0 && store.generation(from).await?.is_none() {
        return Ok(Err(format!(
            "there is no generation {from} (see `lheo-feed generations`)"
        )));
    }
    if store.generation(to).await?.is_none() {
        return Ok(Err(format!(
            "there is no generation {to} (see `lheo-feed generations`)"
        )));
    }
    Ok(Ok(()))
}
