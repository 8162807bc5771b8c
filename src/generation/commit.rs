//! Step 3 of an export: the one write transaction. The generation row, the created and
//! updated offers (their stored fragments, compressed when they were evaluated) in
//! `published` and in the delta document, the change set, the withdrawals and their tombstones, the outbox rows,
//! the evaluation state, and the retention purge. Nothing here is visible before the
//! commit ([`super::publish`]).

use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, SubsecRound, Utc};

use super::candidates::Plan;
use super::files::{self, Document, Finished};
use super::stream::{Change, Op, Streamed};
use super::{
    DeltaSummary, ExportOptions, Mode, Phases, Snapshot, Tally, EXTRAS_GENERATION, EXTRAS_RETRAITS,
};
use crate::lheo::FORMAT_VERSION;
use crate::model::ActionCode;
use crate::store::{fragments, ChangeRow, GenerationTx, NewGeneration, PublishedWrite};

/// What the transaction recorded, for the files and the summary.
pub(super) struct Recorded {
    pub id: i64,
    /// The generation's own file name (the snapshot is moved there before the commit).
    pub generation_file: PathBuf,
    pub tombstones: u64,
    pub tombstones_purged: u64,
    /// `--delta-out`, absolute, and the delta document written under a temporary name.
    pub delta_out: Option<PathBuf>,
    pub delta_file: Option<Finished>,
    pub delta_summary: Option<DeltaSummary>,
}

/// Writes the generation in `tx` (not committed). `streamed` is consumed: its change set
/// and evaluations are read back from their spill files.
pub(super) async fn record(
    tx: &mut GenerationTx,
    plan: &Plan,
    opts: &ExportOptions,
    snapshot: &Snapshot,
    streamed: Streamed,
    tally: &Tally,
    phases: &Phases,
) -> anyhow::Result<Recorded> {
    let finished_at = Utc::now().trunc_subsecs(0);
    let id = tx
        .insert_generation(&NewGeneration {
            started_at: phases.started_at,
            finished_at,
            horodatage_export: snapshot.horodatage_export.clone(),
            today: opts.pass.today.to_string(),
            format_version: FORMAT_VERSION.to_owned(),
            rules_hash: plan.rules_hash.clone(),
            store_revision: plan.revision,
            mode: plan.mode.as_str().to_owned(),
            offres_evaluees: tally.offres_evaluees as i64,
            created: tally.created as i64,
            updated: tally.updated as i64,
            withdrawn: tally.withdrawn as i64,
            unchanged: tally.unchanged as i64,
            published: tally.published as i64,
            rejected: streamed.totals.offres_rejetees as i64,
            counts: serde_json::to_string(&streamed.totals).expect("serialisable"),
            forced: tally.forced,
            file_path: String::new(),
            out_path: plan.out.display().to_string(),
            file_digest: snapshot.digest,
            file_bytes: snapshot.bytes as i64,
            file_fingerprint: snapshot.fingerprint.clone(),
        })
        .await?;
    let generation_file = files::generation_file(&plan.out, id);
    tx.set_file_path(id, &generation_file.display().to_string())
        .await?;

    let delta_out = match &opts.delta_out {
        Some(p) => Some(
            std::path::absolute(p)
                .with_context(|| format!("invalid delta path {}", p.display()))?,
        ),
        None => None,
    };
    let mut delta = match &delta_out {
        Some(path) if tally.created + tally.updated > 0 => {
            Some(Document::create(path, &opts.horodatage_export)?)
        }
        _ => None,
    };
    let withdrawals = write_changes(
        tx,
        id,
        finished_at,
        streamed.changes,
        streamed.fragments,
        delta.as_mut(),
    )
    .await?;
    // (Its own line: which part of the write phase grows with N, docs/BENCHMARKS.md.)
    phases.done("published offers and changes written");
    if tally.created + tally.updated + tally.withdrawn > 0 {
        // The outbox (src/push): one row per registered consumer, committed with the rest.
        tx.enqueue_deliveries(id, finished_at.timestamp_millis())
            .await?;
    }
    match plan.mode {
        Mode::Full => tx.clear_evaluations().await?,
        Mode::Incremental => tx.delete_evaluations(&streamed.evaluated_keys).await?,
    }
    let mut records = streamed
        .evaluations
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
    phases.done("published offers, changes and evaluations written");
    let retention = chrono::Duration::days(i64::from(opts.tombstone_retention_days));
    let tombstones_purged = tx.purge_tombstones(finished_at - retention).await?;
    let tombstones = tx.tombstones().await?;
    phases.done("tombstones purged and counted");

    let retraits: Vec<String> = withdrawals.iter().map(|k| k.to_string()).collect();
    let delta_file: Option<Finished> = match delta.take() {
        Some(mut d) => {
            d.write(b"</offres>\n")?;
            d.write(delta_extras(id, plan.prev.as_ref().map(|p| p.id), &retraits).as_bytes())?;
            Some(d.finish("</lheo>\n")?)
        }
        None => None,
    };
    let delta_summary = delta_out
        .as_ref()
        .map(|path| delta_summary(opts, path, delta_file.as_ref(), tally, retraits));
    Ok(Recorded {
        id,
        generation_file,
        tombstones,
        tombstones_purged,
        delta_out,
        delta_file,
        delta_summary,
    })
}

/// One pass over the change set, read back from its spill files: the change rows, the
/// created and updated offers' stored fragments for the published table (and, plain, for
/// the delta document), and the withdrawals, which it returns.
async fn write_changes(
    tx: &mut GenerationTx,
    id: i64,
    finished_at: DateTime<Utc>,
    changes: super::spill::Spill<Change>,
    fragments: super::spill::Blobs,
    mut delta: Option<&mut Document>,
) -> anyhow::Result<Vec<ActionCode>> {
    let records = changes
        .into_records()
        .context("cannot read back the change set")?;
    let mut stored = fragments
        .into_reader()
        .context("cannot read back the changed fragments")?;
    let mut batch: Vec<PublishedWrite> = Vec::new();
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
        let fragment_compressed = stored
            .next_blob()
            .context("cannot read back the changed fragments")?;
        if let Some(d) = delta.as_deref_mut() {
            d.write(&fragments::decompress(&fragment_compressed)?)?;
        }
        batch.push(PublishedWrite {
            numero: c.numero,
            hash: c.hash,
            fragment_compressed,
            programmes: c.programmes,
            departements: c.departements,
        });
        if batch.len() >= 200 {
            tx.write_published(id, &batch).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        tx.write_published(id, &batch).await?;
    }
    tx.insert_changes(&rows).await?;
    tx.withdraw(id, finished_at, &withdrawals).await?;
    // After both: the runs of scope values follow the published rows just stamped.
    tx.record_scopes(id).await?;
    Ok(withdrawals)
}

/// What `--delta-out` wrote, or why it wrote nothing.
fn delta_summary(
    opts: &ExportOptions,
    path: &std::path::Path,
    delta_file: Option<&Finished>,
    tally: &Tally,
    retraits: Vec<String>,
) -> DeltaSummary {
    DeltaSummary {
        file: opts.delta_out.clone().unwrap_or_else(|| path.to_owned()),
        written: delta_file.is_some(),
        offres: if delta_file.is_some() {
            tally.created + tally.updated
        } else {
            0
        },
        bytes: delta_file.map(|f| f.bytes),
        digest: delta_file.map(|f| f.digest),
        note: match (delta_file, retraits.is_empty()) {
            (Some(_), _) => None,
            (None, true) => Some("no offer changed: no delta file was written".to_owned()),
            (None, false) => Some(format!(
                "only withdrawals ({}): LHÉO cannot hold an empty <offres>, so no delta file \
                 was written; the withdrawn numeros are listed in retraits",
                retraits.len()
            )),
        },
        retraits,
    }
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
