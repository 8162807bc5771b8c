//! `lheo-feed run`: the daemon. The scheduler, the export of each run under the export
//! lock, the record of runs, and a clean stop on SIGTERM/SIGINT; the feed server and the
//! pusher run beside the scheduler in the same process ([`run`]). `docs/scheduling.md` is
//! the operator's side; `tests/daemon_e2e.rs` drives all three together.
//!
//! # One loop, every instance alike
//!
//! Each instance, every `poll_seconds` (or at the next slot, whichever is first):
//!
//! 1. records the schedule slot that came due, if any (`runs.scheduled_for` is unique, so
//!    of several instances that see the same slot one records it);
//! 2. if a run is queued, interrupted, or running, tries the export lock; the instance
//!    that gets it first marks the `running` runs `interrupted` (their runner died: a
//!    runner holds the lock throughout) and then does every pending run, oldest first,
//!    each claimed by a conditional update. So exactly one instance runs a given run, and
//!    a run whose instance was killed is finished by another (or by the same after a
//!    restart).
//!
//! A run resumed after a kill first looks for a generation newer than the one current when
//! it first started: the lock guarantees that one is its own, committed just before the
//! kill, so it is recorded instead of being made again.
//!
//! At start-up, with `catch_up`, the last slot within `catch_up_window_hours` that has no
//! run is recorded as a `catch_up` run and so runs at once. Only the last: one export
//! publishes everything, there is nothing to gain from replaying several nights.

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use tokio::sync::watch;
use tracing::Instrument;

use crate::config::Config;
use crate::generation::{self, ExportError, ExportOptions, ExportSummary};
use crate::model::Date;
use crate::pipeline::PassOptions;
use crate::rules::RulesConfig;
use crate::store::{RunKind, RunRow, Store};

pub mod lock;

use lock::{ExportLock, InstanceLock};

/// Who this process is, in the `runs` table: `HOST:PID`.
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// A receiver that turns `true` on the first SIGTERM or SIGINT.
pub fn shutdown_on_signals() -> Result<watch::Receiver<bool>> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = watch::channel(false);
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
        }
        let _ = tx.send(true);
    });
    Ok(rx)
}

/// Resolves when shutdown is asked (or the sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// What every run's export needs besides the store.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub config: Config,
    pub rules: RulesConfig,
    pub instance: String,
}

impl RunSettings {
    /// The export's options for a run starting now: the day is the schedule zone's
    /// (unless `export.today` fixes it), and a run never forces past the withdrawal guard.
    pub fn export_options(&self) -> ExportOptions {
        let tz = self.config.schedule.timezone.0;
        let now = Utc::now().with_timezone(&tz);
        let today = match &self.config.export.today {
            Some(d) => d.date(),
            None => Date(now.date_naive()),
        };
        let pass = PassOptions {
            today,
            rules: self.rules.clone(),
            page_size: crate::pipeline::PAGE_SIZE,
        };
        let horodatage = now
            .fixed_offset()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        let e = &self.config.export;
        let mut o = ExportOptions::new(pass, e.out.clone(), horodatage);
        o.delta_out = e.delta_out.clone();
        o.max_withdraw_share = e.max_withdraw_share.0;
        o.tombstone_retention_days = e.tombstone_retention_days;
        o
    }
}

/// Called after each committed generation of a run, and again for a generation found
/// committed when an interrupted run is resumed. Nothing to enqueue here: the export's own
/// transaction wrote the generation's outbox rows (`src/push`), and the pusher loop that
/// runs beside the scheduler picks them up; this only tells the log where they went.
pub async fn after_export(store: &Store, config: &Config, generation: i64) -> Result<()> {
    let _ = store;
    let consumers = config
        .consumers
        .as_ref()
        .and_then(|c| c.as_array())
        .map_or(0, |a| a.len());
    tracing::info!(
        generation,
        consumers,
        "generation committed: its changes are in the outbox for the pusher"
    );
    Ok(())
}

/// The feed server's configuration from `[serve]` (the admin key read from its variable
/// or file, never from the configuration itself).
pub fn serve_config(config: &Config) -> Result<crate::serve::ServeConfig> {
    let mut s = crate::serve::ServeConfig::new(config.serve.listen);
    s.out = Some(config.export.out.clone());
    // Every instance of the daemon is a host: one that did not export the current
    // generation makes its document from the database (serve::hosts).
    s.materialise = true;
    s.schedule = config.schedule.schedule();
    s.admin_key = config
        .serve
        .admin_key()
        .map_err(anyhow::Error::msg)?
        .map(|k| k.expose().to_owned())
        .filter(|k| !k.is_empty());
    if s.admin_key.as_ref().is_some_and(|k| k.len() < 16) {
        anyhow::bail!(
            "the admin key must have at least 16 characters (e.g. `openssl rand -hex 32`)"
        );
    }
    Ok(s)
}

/// Completes when `shutdown` turns true (an owned receiver, for futures that outlive a
/// borrow).
async fn when_stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The daemon: runs until SIGTERM/SIGINT (or `shutdown` turns true).
pub async fn run(
    store: Store,
    settings: RunSettings,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    // On SQLite, one daemon per database; refused before anything else happens.
    let _instance_lock = InstanceLock::acquire(&store)?;
    tracing::info!(
        instance = %settings.instance,
        backend = store.backend(),
        schedule = %settings.config.schedule.cron,
        timezone = settings.config.schedule.timezone.0.name(),
        "lheo-feed run: started"
    );

    let scheduler = scheduler(store.clone(), settings.clone(), shutdown.clone())
        .instrument(tracing::info_span!("scheduler"));
    // Beside the scheduler, in the same process: the feed server (every instance serves)
    // and the pusher (instances share the outbox: a consumer is claimed under a lease).
    // All three stop when `shutdown` turns true; the server lets requests in flight
    // finish. An error of one (a port already taken, a lost database) stops the daemon.
    let push_config = crate::push::config::from_raw(
        settings.config.push.as_ref(),
        settings.config.consumers.as_ref(),
    )
    .map_err(|e| anyhow::anyhow!("configuration: {e}"))?
    .filter(|c| !c.consumers.is_empty());
    if let Some(cfg) = &push_config {
        // Registered before the first export, so that it fills their outbox.
        crate::push::outbox::sync_consumers(&store, cfg).await?;
    }
    let serve_config = serve_config(&settings.config)?;
    if serve_config.admin_key.is_none() {
        tracing::warn!("no admin key ([serve] admin_key_env / admin_key_file): the status page and POST /admin/runs are off");
    }
    let server = crate::serve::serve(store.clone(), serve_config, when_stopped(shutdown.clone()))
        .instrument(tracing::info_span!("serve"));
    let pusher = {
        let (store, shutdown) = (store.clone(), shutdown.clone());
        async move {
            match &push_config {
                Some(cfg) => crate::push::run_pusher(&store, cfg, when_stopped(shutdown)).await,
                None => {
                    tracing::info!("no [[consumers]] configured: nothing to push");
                    Ok(())
                }
            }
        }
        .instrument(tracing::info_span!("push"))
    };
    tokio::try_join!(scheduler, server, pusher)?;
    tracing::info!("lheo-feed run: stopped");
    Ok(())
}

async fn scheduler(
    store: Store,
    settings: RunSettings,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let sc = &settings.config.schedule;
    let schedule = sc.schedule();
    let poll = Duration::from_secs(u64::from(sc.poll_seconds));
    // A slot in a log line: local time with its offset for people (human format), UTC for
    // log pipelines (JSON), as everywhere else.
    let json_logs = crate::logging::json_logs(&settings.config.log, true);
    let show = |t: chrono::DateTime<Utc>| {
        if json_logs {
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        } else {
            crate::local_time::seconds(t, schedule.tz)
        }
    };
    let now = Utc::now();
    if sc.catch_up {
        let window = chrono::Duration::hours(i64::from(sc.catch_up_window_hours));
        if let Some(slot) = schedule.last_at_or_before(now, window) {
            if let Some(id) = store
                .record_slot(slot, RunKind::CatchUp, &settings.instance)
                .await?
            {
                tracing::info!(run = id, slot = %show(slot), "catching up the slot missed while stopped");
            }
        }
    }
    let mut next = schedule.next_after(now);
    if let Some(n) = next {
        tracing::info!(next = %show(n), "next scheduled run");
    }
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        // 1. The slot that came due, if any (only the last one if several passed, e.g.
        //    after a suspend: one export covers them).
        let now = Utc::now();
        let mut due = None;
        while let Some(slot) = next.filter(|s| *s <= now) {
            due = Some(slot);
            next = schedule.next_after(slot);
        }
        let step = async {
            if let Some(slot) = due {
                if let Some(id) = store
                    .record_slot(slot, RunKind::Scheduled, &settings.instance)
                    .await?
                {
                    tracing::info!(run = id, slot = %show(slot), "scheduled run queued");
                }
            }
            // 2. Work, if there is any and the lock is free.
            if store.runs_to_look_at().await? {
                if let Some(mut lock) = ExportLock::try_acquire(&store).await? {
                    let outcome = work(&store, &settings, &mut shutdown.clone(), &mut lock).await;
                    lock.release().await;
                    outcome?;
                }
            }
            anyhow::Ok(())
        };
        // A database that went away for a moment must not end the daemon: say it and try
        // again at the next poll (a slot not recorded now is caught up then, as the
        // `runs` row is what counts).
        if let Err(e) = step.await {
            tracing::error!(error = %format!("{e:#}"), "scheduler step failed; retrying at the next poll");
            if let Some(slot) = due {
                // Not recorded: look at it again next time.
                next = Some(next.map_or(slot, |n| n.min(slot)));
            }
        }
        // 3. Sleep until the next slot or poll, or a stop.
        let until_next = next
            .map(|n| (n - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(poll);
        tokio::select! {
            _ = stopped(&mut shutdown) => return Ok(()),
            _ = tokio::time::sleep(poll.min(until_next)) => {}
        }
    }
}

/// With the export lock held: every pending run, oldest first, until none is left or a
/// stop is asked.
async fn work(
    store: &Store,
    settings: &RunSettings,
    shutdown: &mut watch::Receiver<bool>,
    lock: &mut ExportLock,
) -> Result<()> {
    for id in store.interrupt_orphaned_runs().await? {
        tracing::warn!(
            run = id,
            "run left running by a stopped instance: resuming it"
        );
    }
    while !*shutdown.borrow() {
        // On PostgreSQL the lock lives in a session the database may cut (a restart,
        // pg_terminate_backend): then another instance may hold it now, and the runs are
        // its to do.
        if !lock.still_held().await {
            tracing::warn!("the export lock's database session was lost: leaving the runs to the instance that holds it now");
            return Ok(());
        }
        let Some(run) = store.next_pending_run().await? else {
            return Ok(());
        };
        // 0: no generation yet.
        let current = store.last_generation().await?.map_or(0, |g| g.id);
        if !store.claim_run(run.id, &settings.instance, current).await? {
            continue;
        }
        let span = tracing::info_span!("run", id = run.id, kind = %run.kind);
        execute(store, settings, &run, current, shutdown)
            .instrument(span)
            .await?;
    }
    Ok(())
}

/// Attempts of a run whose export keeps losing its database connection before it is
/// recorded as failed (one per poll: a database down for longer fails the run, which the
/// next slot or `runs request` makes again).
const MAX_ATTEMPTS: i64 = 10;

/// One claimed run.
async fn execute(
    store: &Store,
    settings: &RunSettings,
    run: &RunRow,
    current: i64,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    if run.attempts > 0 && resume_committed(store, settings, run, current).await? {
        return Ok(());
    }
    store.set_run_progress(run.id, "export").await?;
    tracing::info!("export started");
    let started = std::time::Instant::now();
    let result = export_unless_stopped(store, settings, shutdown).await;
    record_outcome(store, settings, run, result, started).await
}

/// A run interrupted after its commit: the generation is there, do not make another;
/// pushes it and records the run. `false` when the run had committed nothing.
async fn resume_committed(
    store: &Store,
    settings: &RunSettings,
    run: &RunRow,
    current: i64,
) -> Result<bool> {
    if let Some(base) = run.base_generation {
        if current > base {
            let now = current;
            tracing::info!(
                generation = now,
                "the interrupted run had committed its generation: recording it"
            );
            store.set_run_progress(run.id, "push").await?;
            after_export(store, &settings.config, now).await?;
            store
                .finish_run(
                    run.id,
                    "succeeded",
                    Some(now),
                    None,
                    "done (committed before the interruption)",
                )
                .await?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// Runs the export; asked to stop, lets it finish within the shutdown grace. `None`: it
/// was abandoned (and rolled back).
async fn export_unless_stopped(
    store: &Store,
    settings: &RunSettings,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Result<ExportSummary, ExportError>> {
    let options = settings.export_options();
    let grace = Duration::from_secs(u64::from(settings.config.schedule.shutdown_grace_seconds));
    // The export future lives in this function only: when it is abandoned it is dropped
    // here, which rolls its transaction back, before the run is recorded (on SQLite the
    // record would otherwise wait for the abandoned transaction's write lock).
    let export = async { generation::export(store, &options).await }
        .instrument(tracing::info_span!("export"));
    tokio::pin!(export);
    tokio::select! {
        r = &mut export => Some(r),
        _ = stopped(shutdown) => {
            tracing::warn!(grace = ?grace, "stop asked during an export: letting it finish");
            tokio::time::timeout(grace, &mut export).await.ok()
        }
    }
}

/// A committed export: logged, pushed, and the run recorded as succeeded.
async fn push_committed(
    store: &Store,
    settings: &RunSettings,
    run: &RunRow,
    summary: &ExportSummary,
    started: std::time::Instant,
) -> Result<()> {
    tracing::info!(
        generation = summary.generation,
        created = summary.created,
        updated = summary.updated,
        withdrawn = summary.withdrawn,
        published = summary.published,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "export committed"
    );
    // The previous generation's document is no longer served: removed beside the push
    // instead of at the next export's start, so that a daemon holds one document between
    // runs. A failure leaves it to that next export.
    let out = summary.file.clone();
    let current = summary.generation;
    tokio::task::spawn_blocking(move || {
        for removed in generation::files::remove_superseded(&out, current) {
            tracing::debug!(file = %removed.display(), "removed a superseded generation's file");
        }
    });
    store.set_run_progress(run.id, "push").await?;
    after_export(store, &settings.config, summary.generation)
        .instrument(tracing::info_span!("push"))
        .await?;
    store
        .finish_run(run.id, "succeeded", Some(summary.generation), None, "done")
        .await?;
    Ok(())
}

/// Records what the export did: pushed and succeeded, interrupted (at shutdown, or by a
/// lost connection, retried), or failed.
async fn record_outcome(
    store: &Store,
    settings: &RunSettings,
    run: &RunRow,
    result: Option<Result<ExportSummary, ExportError>>,
    started: std::time::Instant,
) -> Result<()> {
    match result {
        None => {
            // Dropping the export rolls its transaction back; the run resumes next time.
            tracing::warn!("export abandoned at shutdown: rolled back, resumes at the next start");
            store
                .finish_run(
                    run.id,
                    "interrupted",
                    None,
                    Some("stopped before the export finished; it resumes at the next start"),
                    "interrupted at shutdown",
                )
                .await?;
        }
        Some(Ok(summary)) => push_committed(store, settings, run, &summary, started).await?,
        Some(Err(ExportError::Other(e)))
            if crate::store::is_connection_lost(&e) && run.attempts < MAX_ATTEMPTS =>
        {
            // The database went away (a restart, a killed session): the transaction rolled
            // back with it, so the run is done again at the next poll, by whichever
            // instance then holds the lock. Recording that may fail too while the database
            // is down: then the run stays `running`, and the next holder of the lock marks
            // it interrupted (`interrupt_orphaned_runs`), with the same outcome.
            let message = format!("{e:#}");
            tracing::warn!(
                error = %message,
                attempt = run.attempts,
                "export lost its database connection: retried at the next poll"
            );
            store
                .finish_run(
                    run.id,
                    "interrupted",
                    None,
                    Some(&message),
                    "interrupted: the database connection was lost; retried",
                )
                .await?;
        }
        Some(Err(e)) => {
            let message = match &e {
                ExportError::Other(e) => format!("{e:#}"),
                e => e.to_string(),
            };
            tracing::error!(error = %message, "export failed");
            store
                .finish_run(run.id, "failed", None, Some(&message), "failed")
                .await?;
        }
    }
    Ok(())
}
