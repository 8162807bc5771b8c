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
//! [`export`] runs these steps, one module each: `candidates` (the plan), `evaluate`
//! and `stream` (step 1), the guards (step 2, here), `commit` (the transaction of
//! step 3) and `publish` (the files, before and after the commit). [`files`] and
//! [`twin`] hold the mechanics of the documents (`direct` writes them past the page
//! cache, `unpack` decompresses the unchanged offers on every core), [`spill`] the
//! per-offer lists kept on disk, [`rejections`] the findings kept for the status page,
//! `history` the reading of past generations (`diff`).
//!
//! 1. **Read-only work.** It reads the last generation and the store revision, then walks,
//!    in numeric `F-A` order, the union of the previously published offers and the
//!    *candidates*: the offers it must evaluate again. Each candidate goes through the rules
//!    and the writer ([`crate::pipeline::evaluate_offre`]); every other published offer is copied
//!    as it was from the `published` table, where it is stored compressed (the previous
//!    document is not read), with its twin segment from the previous twin. The full
//!    snapshot is streamed to a temporary
//!    file as it goes (memory bounded by a page; a pool of threads decompresses the
//!    unchanged offers, one thread hashes, one writes),
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
//!    hard link renamed over it). The previous generation's file is removed by the next
//!    export while it streams, or by the daemon in the background (`publish::Sweep`).
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
//! [`rules_hash`] (rules configuration, Region referential and program version) differ
//! from the previous generation's, when the day is earlier than the previous generation's,
//! or on `--full`. Campaign years are configuration and referential, not dates: they are
//! in the rules hash.
//!
//! The totals of the rule outcome stay exact without re-evaluating everything: each
//! evaluated offer's share of [`PassCounts`] is stored with it, and a generation's totals
//! are the previous ones minus the old shares of the candidates plus their new ones.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, SubsecRound, Utc};
use sha2::{Digest, Sha256};

use crate::digest::DocumentDigest;
use crate::lheo::FORMAT_VERSION;
use crate::model::{Date, Offre, Siret};
use crate::pipeline::{PassCounts, PassOptions};
use crate::rules::{self, Referentiel, RulesConfig};
use crate::store::Store;

mod candidates;
mod commit;
mod direct;
mod evaluate;
pub mod files;
mod history;
pub mod materialise;
mod publish;
pub mod rejections;
pub mod spill;
mod stream;
pub mod twin;
mod unpack;

pub use history::{check_range, diff, published_sessions, Diff};

/// Default of `--max-withdraw-share`: an export that would withdraw more than this share
/// of the published offers stops unless forced.
pub const DEFAULT_MAX_WITHDRAW_SHARE: f64 = 0.20;
/// Default of `--tombstone-retention-days`.
pub const DEFAULT_TOMBSTONE_RETENTION_DAYS: u32 = 90;
/// Test hook: when set to `mid_write`, `before_commit` or `after_commit`, the export
/// pauses there (for minutes) so that a test can kill it at a known point. Never set it in
/// production.
pub const PAUSE_ENV: &str = "LHEO_FEED_TEST_PAUSE_AT";
/// Test hook: how long [`PAUSE_ENV`] pauses, in seconds (600 unless set), for a test that
/// does something to the database during the pause and lets the export go on.
pub const PAUSE_SECONDS_ENV: &str = "LHEO_FEED_TEST_PAUSE_SECONDS";

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
/// configuration, the Region referential (programmes, lots), the rule registry and the
/// program version. A generation made under another value is not a basis for an
/// incremental export: a new Region file re-judges every offer.
pub fn rules_hash(config: &RulesConfig, referentiel: &Referentiel) -> String {
    let mut h = Sha256::new();
    h.update(b"rules-config\n");
    h.update(serde_json::to_vec(config).expect("serialisable"));
    h.update(b"\nreferentiel\n");
    h.update(serde_json::to_vec(referentiel).expect("serialisable"));
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
/// inactive) or after one of its information collectives (it leaves `date-information`,
/// and may leave the session with past ones only: IC_PASSEES), or the day a session
/// starts (IC_PASSEES no longer applies).
/// `None`: never (everything has ended). Earlier than needed is harmless (an evaluation
/// that changes nothing); later would be a bug, which the property test looks for.
pub fn next_recheck(offre: &Offre, today: Date) -> Option<Date> {
    let mut days = Vec::new();
    for s in &offre.sessions {
        days.extend(s.date_fin);
        days.extend(s.informations_collectives.iter().filter_map(|ic| ic.date));
        // The eve of the start, so that the start day itself is a recheck.
        days.extend(s.date_debut.and_then(|d| d.0.pred_opt()).map(Date));
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
    /// `blake3:…` (`crate::digest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<DocumentDigest>,
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
    /// `blake3:…`, or `sha256:…` for a document kept from a generation written before
    /// migration 0015 (`crate::digest`).
    pub digest: DocumentDigest,
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
        let seconds = std::env::var(PAUSE_SECONDS_ENV)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(600);
        tokio::time::sleep(Duration::from_secs(seconds)).await;
    }
}

/// Runs an export: computes the next generation, and publishes it unless a guard stops
/// it. See the module documentation.
pub async fn export(store: &Store, opts: &ExportOptions) -> Result<ExportSummary, ExportError> {
    let phases = Phases::start();
    let plan = candidates::plan(store, opts).await?;
    phases.done("candidates chosen");
    let sweep = publish::Sweep::start(&plan);

    let organismes = plan.organismes(store).await?;
    let mut streamed = stream::evaluate_and_stream(store, opts, &plan, &organismes).await?;
    drop(organismes);
    phases.done("offers evaluated and snapshot streamed");

    let forced = guards(&plan, opts, &streamed)?;
    let tally = Tally {
        offres_evaluees: streamed.evaluations.len(),
        created: streamed.counted.created,
        updated: streamed.counted.updated,
        withdrawn: streamed.counted.withdrawn,
        unchanged: streamed.unchanged,
        published: streamed.published,
        forced,
    };
    let totals = streamed.totals.clone();
    let snapshot = publish::finish_snapshot(&plan, opts, &mut streamed)?;
    phases.done("snapshot synced");
    // From here until the commit, the files written are ours to delete on failure.
    let mut staged = publish::Staged::new(&snapshot);

    let mut tx = store
        .begin_generation(plan.prev.as_ref().map(|p| p.id))
        .await?;
    let recorded =
        commit::record(&mut tx, &plan, opts, &snapshot, streamed, &tally, &phases).await?;
    if let Some(f) = &recorded.delta_file {
        staged.delete_on_failure(f.tmp.clone());
    }
    publish::commit(tx, staged, &plan, &snapshot, &recorded, sweep, &phases).await?;
    phases.done("done");

    Ok(ExportSummary {
        generation: recorded.id,
        previous_generation: plan.prev.as_ref().map(|p| p.id),
        mode: plan.mode,
        full_reason: plan.full_reason,
        offres_evaluees: tally.offres_evaluees,
        created: tally.created,
        updated: tally.updated,
        withdrawn: tally.withdrawn,
        unchanged: tally.unchanged,
        published: tally.published,
        tombstones: recorded.tombstones,
        tombstones_purged: recorded.tombstones_purged,
        forced,
        file: opts.out.clone(),
        generation_file: recorded.generation_file,
        bytes: snapshot.bytes,
        digest: snapshot.digest,
        horodatage_export: snapshot.horodatage_export,
        delta: recorded.delta_summary,
        counts: totals,
    })
}

/// The generation's document: a newly streamed file, or the previous generation's kept.
struct Snapshot {
    /// The temporary file (new) or the previous generation's file (kept).
    pub path: PathBuf,
    pub bytes: u64,
    pub digest: DocumentDigest,
    pub fingerprint: String,
    /// The one written on the document.
    pub horodatage_export: String,
    pub kept: bool,
}

/// When the export started, and debug lines with the time each step took.
struct Phases {
    started_at: DateTime<Utc>,
    clock: Instant,
}

impl Phases {
    fn start() -> Phases {
        Phases {
            started_at: Utc::now().trunc_subsecs(0),
            clock: Instant::now(),
        }
    }

    fn done(&self, what: &str) {
        tracing::debug!(elapsed = ?self.clock.elapsed(), "export: {what}");
    }
}

/// What the walk found, as the generation row and the summary count it.
struct Tally {
    offres_evaluees: u64,
    created: u64,
    updated: u64,
    withdrawn: u64,
    unchanged: u64,
    published: u64,
    /// More withdrawals than the allowed share, published with `--force`.
    forced: bool,
}

/// Step 2, the guards: nothing to publish, or more withdrawals than the configured share of the
/// published offers without `--force`, stops the export here, having written nothing but
/// its temporary file (deleted with `streamed`). Whether the export is forced otherwise.
fn guards(
    plan: &candidates::Plan,
    opts: &ExportOptions,
    streamed: &stream::Streamed,
) -> Result<bool, ExportError> {
    let totals = &streamed.totals;
    if streamed.published == 0 {
        return Err(ExportError::Empty {
            offres: totals.offres_lues,
            rejetees: totals.offres_rejetees,
            inactives: totals.offres_inactives,
            file: opts.out.display().to_string(),
        });
    }
    let withdrawn = streamed.counted.withdrawn;
    let previously = plan.prev.as_ref().map_or(0, |p| p.published.max(0) as u64);
    let forced = previously > 0 && withdrawn as f64 > opts.max_withdraw_share * previously as f64;
    if forced && !opts.force {
        return Err(ExportError::TooManyWithdrawals {
            withdrawn,
            published: previously,
            share: 100.0 * withdrawn as f64 / previously as f64,
            max: 100.0 * opts.max_withdraw_share,
            max_share: opts.max_withdraw_share,
            previous: plan.prev.as_ref().map_or(0, |p| p.id),
        });
    }
    Ok(forced)
}
