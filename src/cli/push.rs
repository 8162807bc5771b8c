//! `push` (the generations' changes to the configured consumers) and `deliveries` (the
//! outbox per consumer: status, replay of dead letters, baseline).

use clap::{Args, Subcommand};
use lheo_feed::push::{self, outbox, ConfigError, PushConfig, PushOptions};
use lheo_feed::store::Store;

use super::{bad_input, Failure};

/// `lheo-feed push`.
#[derive(Args)]
pub struct PushArgs {
    /// Only this consumer.
    #[arg(long, value_name = "NAME")]
    consumer: Option<String>,
    /// Send what is due, wait for retries due within --max-wait, and exit.
    #[arg(long)]
    once: bool,
    /// With --once: how long to wait for retries and other pushers' leases.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    max_wait: std::time::Duration,
    /// Print the --once summary as JSON.
    #[arg(long)]
    json: bool,
}

/// `lheo-feed deliveries`.
#[derive(Args)]
pub struct DeliveriesArgs {
    #[command(subcommand)]
    action: Option<DeliveriesAction>,
    /// Only this consumer.
    #[arg(long, value_name = "NAME")]
    consumer: Option<String>,
    /// JSON output (also after `replay` and `baseline`).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum DeliveriesAction {
    /// Queue dead letters again (their offers in their latest state); `--consumer NAME`
    /// replays all of that consumer's and resumes it if it was paused.
    Replay {
        /// The dead letter's id (see `lheo-feed deliveries`).
        #[arg(required_unless_present = "consumer", conflicts_with = "consumer")]
        id: Option<i64>,
        #[arg(long, value_name = "NAME")]
        consumer: Option<String>,
    },
    /// Record that a consumer loaded the current generation's full snapshot by other means
    /// (`GET /feed/lheo.xml`, or the export's file): its next batches then carry only what
    /// changes after it, instead of a first delivery of every offer through HTTP batches.
    Baseline {
        #[arg(long, value_name = "NAME")]
        consumer: String,
        /// The generation it loaded (the feed's `Lheo-Feed-Generation` header, or
        /// `lheo-feed generations`); must be the current one.
        #[arg(long, value_name = "N")]
        generation: i64,
    },
}

/// A configuration error is bad input (exit 2); anything else is operational.
fn failure(e: anyhow::Error) -> Failure {
    match e.downcast_ref::<ConfigError>() {
        Some(c) => bad_input(c.to_string()),
        None => e.into(),
    }
}

/// `lheo-feed push`: `--once` drains and exits; otherwise the pusher runs until Ctrl-C.
pub async fn push(args: &PushArgs, store: &Store, cfg: &PushConfig) -> Result<(), Failure> {
    if cfg.consumers.is_empty() {
        return Err(bad_input(
            "no consumer configured: give --config FILE (or LHEO_FEED_CONFIG) with \
             [[consumers]] (see deploy/lheo-feed.example.toml)"
                .to_owned(),
        ));
    }
    if !args.once {
        if args.consumer.is_some() {
            return Err(bad_input(
                "--consumer is for --once; the long-running pusher serves every consumer"
                    .to_owned(),
            ));
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        return push::run_pusher(store, cfg, shutdown)
            .await
            .map_err(failure);
    }
    let opts = PushOptions {
        consumer: args.consumer.clone(),
        max_wait: args.max_wait,
    };
    let s = push::push_once(store, cfg, &opts).await.map_err(failure)?;
    if args.json {
        out_json!(s);
        return Ok(());
    }
    for c in &s.consumers {
        outln!(
            "{}: {} batches delivered ({} offres, {} retraits, {} bytes sent), \
             {} failed attempts, {} dead letters{}",
            c.name,
            c.batches_delivered,
            c.offres_delivered,
            c.retraits_delivered,
            c.body_bytes,
            c.failed_attempts,
            c.dead_letters,
            if c.paused { ", PAUSED" } else { "" }
        );
    }
    outln!(
        "{} ms, {:.0} offres/s; `lheo-feed deliveries` shows what is left",
        s.elapsed_ms,
        s.offres_per_second
    );
    Ok(())
}

/// `lheo-feed deliveries [replay | baseline]`.
/// `tz`: the zone of the times people read (`[schedule] timezone`).
pub async fn deliveries(
    args: &DeliveriesArgs,
    store: &Store,
    cfg: &PushConfig,
    tz: chrono_tz::Tz,
) -> Result<(), Failure> {
    if !cfg.consumers.is_empty() {
        outbox::sync_consumers(store, cfg).await?;
    }
    match &args.action {
        Some(DeliveriesAction::Replay { id, consumer }) => {
            let r = outbox::replay(store, cfg, *id, consumer.as_deref())
                .await?
                .map_err(bad_input)?;
            if args.json {
                out_json!(r);
            } else {
                outln!(
                    "replayed {} dead letter(s): {} batch(es) queued ({} offres, {} \
                     retraits in their latest state); run `lheo-feed push --once` to send",
                    r.dead_letters,
                    r.batches,
                    r.offres,
                    r.retraits
                );
            }
        }
        Some(DeliveriesAction::Baseline {
            consumer,
            generation,
        }) => {
            let b = outbox::baseline(store, cfg, consumer, *generation)
                .await?
                .map_err(bad_input)?;
            if args.json {
                out_json!(b);
            } else {
                outln!(
                    "{}: baseline at generation {}: holds {} offres, {} outbox row(s) \
                     closed without a request; its next batches carry what changes after it",
                    b.consumer,
                    b.generation,
                    b.offres,
                    b.deliveries
                );
            }
        }
        None => status(store, args.consumer.as_deref(), args.json, tz).await?,
    }
    Ok(())
}

/// The outbox per consumer, with its dead letters and why it is paused.
async fn status(
    store: &Store,
    consumer: Option<&str>,
    json: bool,
    tz: chrono_tz::Tz,
) -> Result<(), Failure> {
    let list = outbox::status(store, consumer).await?;
    if json {
        out_json!(list);
        return Ok(());
    }
    if list.is_empty() {
        outln!("no consumer registered: run `lheo-feed --config FILE push`");
    }
    for c in &list {
        outln!(
            "{} ({}{}{}): {} generations to batch, {} batches pending ({} failed so far), {} dead, {} delivered ({} offres)",
            c.name,
            c.mode,
            if c.enabled { "" } else { ", disabled" },
            if c.paused { ", PAUSED" } else { "" },
            c.pending_generations,
            c.pending,
            c.failed,
            c.dead,
            c.delivered,
            c.offres_delivered
        );
        // Local time with its offset for people; `--json` keeps the RFC 3339 UTC text.
        if let Some(since) = c
            .failing_since
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            outln!(
                "  failing since {}",
                lheo_feed::local_time::minutes(since.with_timezone(&chrono::Utc), tz)
            );
        }
        if let Some(r) = &c.paused_reason {
            outln!(
                "  paused: {r}; fix the receiver, then `lheo-feed deliveries replay --consumer {}`",
                c.name
            );
        }
        for d in &c.dead_letters {
            outln!(
                "  dead letter {}: {} offres, {} retraits, {} attempts, status {}, {}; response: {}",
                d.id,
                d.offres,
                d.retraits,
                d.attempts,
                d.status.map_or("-".to_owned(), |s| s.to_string()),
                d.error.as_deref().unwrap_or(""),
                d.response
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect::<String>()
            );
        }
    }
    Ok(())
}
