//! `schedule next`: the configured schedule's next runs, before the daemon does them
//! (needs no store). Computed by the daemon's own evaluator ([`lheo_feed::schedule`]), so
//! a DST night shows what will really happen.

use clap::{Args, Subcommand};
use lheo_feed::config::Config;
use lheo_feed::local_time;
use lheo_feed::schedule::Schedule;

use super::{bad_input, Failure};

/// Most runs `schedule next` lists.
const MAX_COUNT: usize = 1000;

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// Print the next runs of `[schedule] cron`, each in the schedule's zone with its
    /// offset and in UTC (as `systemd-analyze calendar` does).
    Next(NextArgs),
}

#[derive(Args)]
pub struct NextArgs {
    /// How many runs (1 to 1000).
    #[arg(long, default_value_t = 5)]
    count: usize,
    /// From the start of this day (YYYY-MM-DD) in the schedule's zone, instead of now.
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<String>,
    /// JSON: each run's `local` time (RFC 3339 with its offset) and `utc` time.
    #[arg(long)]
    json: bool,
}

/// One line of `schedule next` (and of `config check`'s next runs):
/// `2027-03-28 03:00 (+02:00)  2027-03-28 01:00 UTC`.
pub fn line(t: chrono::DateTime<chrono::Utc>, schedule: &Schedule) -> String {
    format!(
        "{}  {}",
        local_time::minutes(t, schedule.tz),
        local_time::utc_minutes(t)
    )
}

/// `schedule next`.
pub fn run(action: &ScheduleCommand, config: &Config) -> Result<(), Failure> {
    let ScheduleCommand::Next(args) = action;
    if args.count == 0 || args.count > MAX_COUNT {
        return Err(bad_input(format!(
            "--count {}: give a number of runs from 1 to {MAX_COUNT}",
            args.count
        )));
    }
    let schedule = config.schedule.schedule();
    let after = match &args.from {
        None => chrono::Utc::now(),
        Some(text) => {
            let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| {
                bad_input(format!(
                    "--from {text:?}: {e}; give a calendar day as YYYY-MM-DD"
                ))
            })?;
            schedule.start_of_day(day)
        }
    };
    let runs = schedule.upcoming(after, args.count);
    if args.json {
        let list: Vec<serde_json::Value> = runs
            .iter()
            .map(|t| {
                serde_json::json!({
                    "local": t.with_timezone(&schedule.tz).to_rfc3339(),
                    "utc": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                })
            })
            .collect();
        out_json!(serde_json::json!({
            "cron": schedule.cron.to_string(),
            "timezone": schedule.tz.name(),
            "runs": list,
        }));
        return Ok(());
    }
    if runs.is_empty() {
        outln!(
            "the schedule {:?} never fires again: fix `[schedule] cron`",
            schedule.cron.to_string()
        );
        return Ok(());
    }
    for t in &runs {
        outln!("{}", line(*t, &schedule));
    }
    Ok(())
}
