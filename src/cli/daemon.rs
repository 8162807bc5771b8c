//! `run` (the daemon: scheduled, caught-up and on-demand exports, the feed server and the
//! pusher beside them) and `runs` (its runs, or a request for one).

use clap::{Args, Subcommand};
use lheo_feed::daemon::RunSettings;
use lheo_feed::local_time;

use super::{Ctx, Failure};

/// `lheo-feed runs`.
#[derive(Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    action: Option<RunsCommand>,
    /// How many.
    #[arg(long, default_value_t = 20)]
    limit: i64,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum RunsCommand {
    /// Queue an on-demand export for the running daemon(s); prints the run's id.
    Request,
}

/// `lheo-feed run`: until SIGTERM or SIGINT.
pub async fn run(ctx: &Ctx<'_>) -> Result<(), Failure> {
    let settings = RunSettings {
        config: ctx.config.clone(),
        rules: ctx.opts.rules.clone(),
        instance: lheo_feed::daemon::instance_name(),
    };
    let shutdown = lheo_feed::daemon::shutdown_on_signals()?;
    lheo_feed::daemon::run(ctx.store.clone(), settings, shutdown).await?;
    Ok(())
}

/// `lheo-feed runs [request]`.
pub async fn runs(args: &RunsArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    if let Some(RunsCommand::Request) = args.action {
        let id = ctx.store.request_run("cli").await?;
        if args.json {
            outln!("{}", serde_json::json!({ "run": id }));
        } else {
            outln!("run {id} queued: a running `lheo-feed run` picks it up");
        }
        return Ok(());
    }
    let rows = ctx.store.runs(args.limit).await?;
    if args.json {
        out_json!(rows);
        return Ok(());
    }
    if rows.is_empty() {
        outln!("no run yet: start `lheo-feed run`, or queue one with `lheo-feed runs request`");
        return Ok(());
    }
    outln!(
        "{:>5}  {:<9}  {:<28}  {:<11}  {:>3}  {:>5}  {:<20}  progress / error",
        "run",
        "kind",
        "slot",
        "state",
        "try",
        "gen",
        "instance"
    );
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    for r in &rows {
        outln!(
            "{:>5}  {:<9}  {:<28}  {:<11}  {:>3}  {:>5}  {:<20}  {}",
            r.id,
            r.kind,
            // People read local time with its offset; `--json` keeps UTC.
            or_dash(
                r.scheduled_for
                    .map(|t| local_time::seconds(t, ctx.config.schedule.timezone.0))
            ),
            r.state,
            r.attempts,
            or_dash(r.generation_id.map(|g| g.to_string())),
            r.instance.as_deref().unwrap_or("-"),
            r.error.as_deref().or(r.progress.as_deref()).unwrap_or("")
        );
    }
    Ok(())
}
