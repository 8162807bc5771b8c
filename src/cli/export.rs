//! `export` (the next generation), `generations` (the list) and `diff` (what changed
//! between two generations).

use std::path::PathBuf;

use clap::Args;
use lheo_feed::daemon::lock::ExportLock;
use lheo_feed::generation::{self, ExportError, ExportOptions, ExportSummary};
use lheo_feed::local_time;

use super::{bad_input, Ctx, Failure};

/// `lheo-feed export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Where to write the full document (replaced atomically). Default: `[export] out`,
    /// else out/lheo.xml.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the created and updated offers as a LHÉO document, withdrawals listed
    /// in its extras (docs/generations.md). Not written when only withdrawals exist.
    #[arg(long, value_name = "FILE")]
    delta_out: Option<PathBuf>,
    /// Publish even if more than --max-withdraw-share of the published offers would be
    /// withdrawn.
    #[arg(long)]
    force: bool,
    /// Largest share (0 to 1) of the published offers an export may withdraw without
    /// --force.
    /// (Default: `[export] max_withdraw_share`, else 0.2.)
    #[arg(long, value_name = "SHARE")]
    max_withdraw_share: Option<f64>,
    /// Days a withdrawn offer's tombstone is kept; older ones are purged by the export.
    /// (Default: `[export] tombstone_retention_days`, else 90.)
    #[arg(long, value_name = "DAYS")]
    tombstone_retention_days: Option<u32>,
    /// Evaluate every offer, not only those that may have changed (the result is the
    /// same; for checks and measurements).
    #[arg(long)]
    full: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// `lheo-feed generations`.
#[derive(Args)]
pub struct GenerationsArgs {
    /// How many.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    #[arg(long)]
    json: bool,
}

/// `lheo-feed diff A B`.
#[derive(Args)]
pub struct DiffArgs {
    from: i64,
    to: i64,
    #[arg(long)]
    json: bool,
}

/// The export's options: flags over the configuration.
fn options(args: &ExportArgs, ctx: &Ctx<'_>) -> Result<ExportOptions, Failure> {
    let config = &ctx.config.export;
    let max_withdraw_share = args
        .max_withdraw_share
        .unwrap_or(config.max_withdraw_share.0);
    if !(0.0..=1.0).contains(&max_withdraw_share) {
        return Err(bad_input(format!(
            "--max-withdraw-share must be between 0 and 1 (0.2 is 20 %), got {max_withdraw_share}"
        )));
    }
    let now = chrono::Local::now()
        .fixed_offset()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let out = args.out.clone().unwrap_or_else(|| config.out.clone());
    let mut options = ExportOptions::new(ctx.opts.clone(), out, now);
    options.delta_out = args.delta_out.clone().or(config.delta_out.clone());
    options.force = args.force;
    options.max_withdraw_share = max_withdraw_share;
    options.tombstone_retention_days = args
        .tombstone_retention_days
        .unwrap_or(config.tombstone_retention_days);
    options.full = args.full;
    Ok(options)
}

/// `lheo-feed export`: the next generation, under the same lock as the daemon's runs
/// (it waits behind one in progress).
pub async fn export(args: &ExportArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let options = options(args, ctx)?;
    let lock = ExportLock::acquire(ctx.store).await?;
    let export = generation::export(ctx.store, &options);
    let result = lheo_feed::progress::Step::around("exporting", export).await;
    lock.release().await;
    let summary = match result {
        Ok(summary) => summary,
        Err(e @ (ExportError::Empty { .. } | ExportError::TooManyWithdrawals { .. })) => {
            return Err(Failure::operational(e.to_string()))
        }
        Err(ExportError::Other(e)) => return Err(e.into()),
    };
    if args.json {
        out_json!(summary);
    } else {
        out!("{}", export_text(&summary));
    }
    Ok(())
}

/// The text summary of an export.
fn export_text(s: &ExportSummary) -> String {
    let c = &s.counts;
    let mut t = format!(
        "generation {} ({}{}; {} offres evaluated): {} created, {} updated, {} withdrawn, {} unchanged{}\n",
        s.generation,
        s.mode.as_str(),
        s.full_reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default(),
        s.offres_evaluees,
        s.created,
        s.updated,
        s.withdrawn,
        s.unchanged,
        if s.forced { " (forced)" } else { "" },
    );
    t.push_str(&format!(
        "exported {} formations, {} actions, {} sessions to {} ({} bytes, {})\n\
         left out: {} offres rejected, {} offres with every session ended; {} sessions rejected, {} ended\n",
        c.formations,
        c.actions,
        c.sessions,
        s.file.display(),
        s.bytes,
        s.digest,
        c.offres_rejetees,
        c.offres_inactives,
        c.sessions_rejetees,
        c.sessions_inactives,
    ));
    if s.tombstones > 0 || s.tombstones_purged > 0 {
        t.push_str(&format!(
            "tombstones: {} kept, {} purged\n",
            s.tombstones, s.tombstones_purged
        ));
    }
    if let Some(d) = &s.delta {
        match &d.note {
            None => t.push_str(&format!(
                "delta: {} offres and {} withdrawals to {}\n",
                d.offres,
                d.retraits.len(),
                d.file.display()
            )),
            Some(note) => {
                t.push_str(&format!("delta: {note}\n"));
                for n in &d.retraits {
                    t.push_str(&format!("withdrawn {n}\n"));
                }
            }
        }
    }
    t
}

/// `lheo-feed generations`: newest first.
pub async fn generations(args: &GenerationsArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let rows = ctx.store.generations(args.limit).await?;
    if args.json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|g| {
                let mut v = serde_json::to_value(g).expect("serialisable");
                v["counts"] = serde_json::from_str(&g.counts).unwrap_or_default();
                v
            })
            .collect();
        out_json!(list);
        return Ok(());
    }
    if rows.is_empty() {
        outln!("no generation yet: run `lheo-feed export`");
        return Ok(());
    }
    outln!(
        "{:>6}  {:<25}  {:<10}  {:<11}  {:>9}  {:>7}  {:>7}  {:>9}  {:>9}  file",
        "gen",
        "finished",
        "today",
        "mode",
        "published",
        "created",
        "updated",
        "withdrawn",
        "unchanged"
    );
    for g in &rows {
        outln!(
            "{:>6}  {:<25}  {:<10}  {:<11}  {:>9}  {:>7}  {:>7}  {:>9}  {:>9}  {}{}",
            g.id,
            // People read local time with its offset; `--json` keeps UTC.
            local_time::minutes(g.finished_at, ctx.config.schedule.timezone.0),
            g.today,
            g.mode,
            g.published,
            g.created,
            g.updated,
            g.withdrawn,
            g.unchanged,
            g.out_path,
            if g.forced { "  (forced)" } else { "" }
        );
    }
    Ok(())
}

/// `lheo-feed diff A B`: the net change of each offer over the range.
pub async fn diff(args: &DiffArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    if let Err(msg) = generation::check_range(ctx.store, args.from, args.to).await? {
        return Err(bad_input(msg));
    }
    let d = generation::diff(ctx.store, args.from, args.to).await?;
    if args.json {
        out_json!(d);
        return Ok(());
    }
    for (op, list) in [
        ("created", &d.created),
        ("updated", &d.updated),
        ("withdrawn", &d.withdrawn),
    ] {
        for n in list {
            outln!("{op:<9} {n}");
        }
    }
    outln!(
        "generation {} → {}: {} created, {} updated, {} withdrawn",
        d.from,
        d.to,
        d.created.len(),
        d.updated.len(),
        d.withdrawn.len()
    );
    Ok(())
}
