//! The pusher: each generation's changes to the national consumers (Offre Info, Kairos,
//! Ouiform, any other configured), at least once, in order, nothing lost
//! (`docs/consumers.md`).
//!
//! - [`config`]: the consumers as configuration (`[push]`, `[[consumers]]`), secrets from
//!   the environment or files.
//! - The outbox ([`outbox`]): the generation's transaction writes one row per registered
//!   consumer; the pusher claims a consumer, turns its pending rows into batches (latest
//!   state of each changed offer, filter applied, split by offers and bytes), stores each
//!   batch with its `webhook-id` before the first send, then sends them in order.
//! - [`wire`]: the documents and the Standard Webhooks signature; [`client`]: one attempt
//!   and its classification; [`retry`]: the ladder, full jitter, `Retry-After`.
//! - SFTP consumers (`transport = "sftp"`): [`deposit`] turns their outbox rows into one
//!   file per deposit, built when it is sent; [`sftp`] puts it on the server (pinned host
//!   key, temporary name, checksum read back, rename, `.sha256`, retention).
//!
//! [`push_once`] drains what is due and returns; [`run_pusher`] loops until its shutdown
//! future resolves (for the daemon).

pub mod client;
pub mod config;
pub mod deposit;
pub mod outbox;
pub mod retry;
pub mod sftp;
pub mod wire;

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Result;

pub use config::{load_push_config, ConfigError, ConsumerConfig, PushConfig};
use outbox::now_ms;

use crate::store::Store;

/// What to push.
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// Only this consumer (default: every enabled one).
    pub consumer: Option<String>,
    /// `push_once` also waits for retries and other pushers' leases due within this.
    pub max_wait: Duration,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            consumer: None,
            max_wait: Duration::from_secs(60),
        }
    }
}

/// What one consumer got during a push.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ConsumerSummary {
    pub name: String,
    pub batches_formed: u64,
    pub batches_delivered: u64,
    pub offres_delivered: u64,
    pub retraits_delivered: u64,
    /// Bytes of the delivered documents, before and after compression.
    pub document_bytes: u64,
    pub body_bytes: u64,
    pub failed_attempts: u64,
    pub dead_letters: u64,
    pub paused: bool,
    /// SFTP: bytes an interrupted upload had left on the server that were not sent again.
    pub bytes_resumed: u64,
}

/// The summary of `push --once`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PushSummary {
    pub consumers: Vec<ConsumerSummary>,
    pub elapsed_ms: u64,
    /// Offers delivered (all consumers) per second of the push.
    pub offres_per_second: f64,
}

/// The resolved, ready-to-send form of the configuration.
struct Ctx<'a> {
    store: &'a Store,
    cfg: &'a PushConfig,
    names: Vec<String>,
    targets: HashMap<String, client::Target>,
    sftp_targets: HashMap<String, sftp::Target>,
    lease_ms: HashMap<String, i64>,
    owner: String,
    http: reqwest::Client,
}

fn ctx<'a>(store: &'a Store, cfg: &'a PushConfig, only: Option<&str>) -> Result<Ctx<'a>> {
    if let Some(o) = only {
        if cfg.consumer(o).is_none() {
            return Err(ConfigError(format!(
                "no consumer named {o} in the configuration (configured: {})",
                cfg.consumers
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
        }
    }
    let mut targets = HashMap::new();
    let mut sftp_targets = HashMap::new();
    let mut lease_ms = HashMap::new();
    let mut names = Vec::new();
    for c in cfg
        .consumers
        .iter()
        .filter(|c| c.enabled && only.is_none_or(|o| o == c.name))
    {
        if let Some(t) = sftp::target(c)? {
            sftp_targets.insert(c.name.clone(), t);
        }
        if let Some(h) = c.http() {
            targets.insert(
                c.name.clone(),
                client::Target {
                    name: c.name.clone(),
                    url: h.url.clone(),
                    timeout: c.timeout.0,
                    authorization: c.authorization()?,
                    keys: c.signing_keys()?,
                },
            );
        }
        lease_ms.insert(
            c.name.clone(),
            (c.timeout.0 + cfg.push.lease_margin.0).as_millis() as i64,
        );
        names.push(c.name.clone());
    }
    Ok(Ctx {
        store,
        cfg,
        names,
        targets,
        sftp_targets,
        lease_ms,
        owner: format!("pid-{}-{:08x}", std::process::id(), rand::random::<u32>()),
        http: client::http_client(),
    })
}

/// Serves one claimed consumer: forms its batches, then sends them in order until none
/// is due (or one fails and must wait).
async fn serve(ctx: &Ctx<'_>, name: &str) -> Result<ConsumerSummary> {
    let c = ctx
        .cfg
        .consumer(name)
        .expect("claimed among the configured");
    let result = match ctx.sftp_targets.get(name) {
        Some(target) => serve_sftp(ctx, c, target).await,
        None => serve_http(ctx, c).await,
    };
    // Release even after an error, so that the next pass need not wait for the lease.
    let released = outbox::release(ctx.store, name, &ctx.owner).await;
    let s = result?;
    released?;
    Ok(s)
}

/// An SFTP consumer: its deposits (`deposit`), told in the pusher's summary.
async fn serve_sftp(
    ctx: &Ctx<'_>,
    c: &ConsumerConfig,
    target: &sftp::Target,
) -> Result<ConsumerSummary> {
    let policy = ctx.cfg.policy(c);
    let lease = ctx.lease_ms[&c.name];
    let d = deposit::serve(ctx.store, c, target, &policy, &ctx.owner, lease).await?;
    Ok(ConsumerSummary {
        name: c.name.clone(),
        batches_formed: d.formed,
        batches_delivered: d.delivered,
        offres_delivered: d.offres,
        retraits_delivered: d.retraits,
        document_bytes: d.document_bytes,
        body_bytes: d.file_bytes,
        failed_attempts: d.failed_attempts,
        dead_letters: d.dead_letters,
        paused: d.paused,
        bytes_resumed: d.resumed,
    })
}

/// An HTTP consumer: forms its batches, then sends them in order until none is due.
async fn serve_http(ctx: &Ctx<'_>, c: &ConsumerConfig) -> Result<ConsumerSummary> {
    let name = c.name.as_str();
    let policy = ctx.cfg.policy(c);
    let target = &ctx.targets[name];
    let mut s = ConsumerSummary {
        name: name.to_owned(),
        ..Default::default()
    };
    s.batches_formed = outbox::form(ctx.store, c).await?.batches;
    while let Some(b) = due_head(ctx, name).await? {
        let failure = match send(ctx, target, &b).await {
            client::Outcome::Delivered { status } => {
                delivered(ctx.store, name, &b, status, &mut s).await?;
                continue;
            }
            client::Outcome::Retry {
                status,
                error,
                retry_after,
                response,
            } => {
                let (retry_at, error) =
                    next_attempt(name, &b, &policy, retry_after, error, "delivery");
                Failure {
                    status,
                    error,
                    response,
                    retry_at,
                }
            }
            client::Outcome::Dead { status, response } => refused(name, &b, status, response),
        };
        s.failed_attempts += 1;
        if failure.retry_at.is_none() {
            s.dead_letters += 1;
        }
        if record_failure(ctx.store, name, b.id, &policy, &failure).await? {
            s.paused = true;
            break;
        }
    }
    Ok(s)
}

/// The consumer's oldest batch if it is due now and the lease is still ours.
async fn due_head(ctx: &Ctx<'_>, name: &str) -> Result<Option<outbox::BatchRow>> {
    if !outbox::renew(ctx.store, name, &ctx.owner, ctx.lease_ms[name]).await? {
        tracing::warn!(consumer = name, "lease lost to another pusher");
        return Ok(None);
    }
    let head = outbox::head(ctx.store, name).await?;
    Ok(head.filter(|b| b.next_attempt_at <= now_ms()))
}

/// One attempt to deliver `b`.
async fn send(ctx: &Ctx<'_>, target: &client::Target, b: &outbox::BatchRow) -> client::Outcome {
    let out = client::Outgoing {
        webhook_id: &b.webhook_id,
        body: &b.body,
        content_encoding: b.content_encoding.as_deref(),
        lheo: b.offres > 0,
        first_generation: b.first_generation,
        last_generation: b.last_generation,
    };
    let outcome = client::send(&ctx.http, target, &out).await;
    test_pause("push_after_send").await;
    outcome
}

/// Records that `b` was delivered, and counts it in `s`.
async fn delivered(
    store: &Store,
    name: &str,
    b: &outbox::BatchRow,
    status: u16,
    s: &mut ConsumerSummary,
) -> Result<()> {
    outbox::mark_delivered(store, name, b.id, status).await?;
    // One line per request: the operator's record of what each consumer got, by the
    // webhook-id the consumer also sees.
    tracing::info!(
        consumer = name,
        batch = b.id,
        webhook_id = %b.webhook_id,
        generation = b.last_generation,
        offres = b.offres,
        retraits = b.retraits,
        bytes = b.body.len(),
        status,
        "batch delivered"
    );
    s.batches_delivered += 1;
    s.offres_delivered += b.offres as u64;
    s.retraits_delivered += b.retraits as u64;
    s.document_bytes += b.raw_bytes as u64;
    s.body_bytes += b.body.len() as u64;
    Ok(())
}

/// A batch the consumer refused (HTTP status `status`): a dead letter at once.
fn refused(name: &str, b: &outbox::BatchRow, status: u16, response: String) -> Failure {
    tracing::error!(
        consumer = name,
        batch = b.id,
        status,
        "refused by the consumer: dead letter"
    );
    Failure {
        status: Some(status),
        error: format!("HTTP {status}: refused, not retried"),
        response,
        retry_at: None,
    }
}

/// A failed attempt (a request or a deposit), as the outbox records it.
struct Failure {
    status: Option<u16>,
    error: String,
    response: String,
    /// When to try again; `None`: a dead letter.
    retry_at: Option<i64>,
}

/// When to try `b` again after its attempt failed with `error`: the policy's next step (no
/// sooner than the consumer's `Retry-After`), or `None` once the ladder is done, the error
/// then saying so. Logs the failure of the `what` ("delivery", "deposit").
fn next_attempt(
    name: &str,
    b: &outbox::BatchRow,
    policy: &config::Policy,
    retry_after: Option<Duration>,
    error: String,
    what: &str,
) -> (Option<i64>, String) {
    let attempts = u32::try_from(b.attempts + 1).unwrap_or(u32::MAX);
    let delay = retry::next_delay(
        &policy.schedule,
        attempts,
        retry_after,
        &mut rand::thread_rng(),
    );
    let error = match delay {
        Some(_) => error,
        None => format!("gave up after {attempts} attempts; last: {error}"),
    };
    tracing::warn!(
        consumer = name,
        batch = b.id,
        attempts,
        "{what} failed: {error}"
    );
    (delay.map(|d| now_ms() + d.as_millis() as i64), error)
}

/// Records a failed attempt of batch `id`; returns whether the consumer is now paused
/// (failing for longer than the policy allows).
async fn record_failure(
    store: &Store,
    name: &str,
    id: i64,
    policy: &config::Policy,
    f: &Failure,
) -> Result<bool> {
    let paused = outbox::mark_failed(
        store,
        name,
        id,
        f.status,
        &f.error,
        &f.response,
        f.retry_at,
        policy.pause_after.as_millis() as i64,
    )
    .await?;
    if paused {
        tracing::error!(consumer = name, "consumer paused: failing for too long");
    }
    Ok(paused)
}

/// Test hook (like the export's `LHEO_FEED_TEST_PAUSE_AT`): `push_after_send` pauses
/// after a batch was answered and before it is marked, so that a test can kill the
/// pusher there. Never set it in production.
async fn test_pause(point: &str) {
    if std::env::var(crate::generation::PAUSE_ENV).is_ok_and(|v| v == point) {
        eprintln!(
            "lheo-feed: test hook {}={point}: paused (pid {})",
            crate::generation::PAUSE_ENV,
            std::process::id()
        );
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
}

/// One pass: claims every consumer with due work (up to `[push].concurrency` at once) and
/// serves them concurrently; each consumer's own batches go one at a time, in order.
async fn pass(ctx: &Ctx<'_>, totals: &mut HashMap<String, ConsumerSummary>) -> Result<()> {
    loop {
        let mut claimed = Vec::new();
        while claimed.len() < ctx.cfg.push.concurrency {
            match outbox::claim(ctx.store, &ctx.names, &ctx.owner, &ctx.lease_ms).await? {
                Some(n) => claimed.push(n),
                None => break,
            }
        }
        if claimed.is_empty() {
            return Ok(());
        }
        let results = futures_util::future::join_all(claimed.iter().map(|n| serve(ctx, n))).await;
        for r in results {
            let s = r?;
            let t = totals
                .entry(s.name.clone())
                .or_insert_with(|| ConsumerSummary {
                    name: s.name.clone(),
                    ..Default::default()
                });
            t.batches_formed += s.batches_formed;
            t.batches_delivered += s.batches_delivered;
            t.offres_delivered += s.offres_delivered;
            t.retraits_delivered += s.retraits_delivered;
            t.document_bytes += s.document_bytes;
            t.body_bytes += s.body_bytes;
            t.failed_attempts += s.failed_attempts;
            t.dead_letters += s.dead_letters;
            t.paused |= s.paused;
            t.bytes_resumed += s.bytes_resumed;
        }
    }
}

/// Drains what is due: forms and sends every consumer's batches, waits for retries (and
/// other pushers' leases) due within `opts.max_wait`, and returns. Batches still waiting
/// for a later retry stay in the outbox (`lheo-feed deliveries`).
pub async fn push_once(store: &Store, cfg: &PushConfig, opts: &PushOptions) -> Result<PushSummary> {
    outbox::sync_consumers(store, cfg).await?;
    let ctx = ctx(store, cfg, opts.consumer.as_deref())?;
    let start = Instant::now();
    let mut totals = HashMap::new();
    loop {
        pass(&ctx, &mut totals).await?;
        let Some(due) = outbox::next_due(store, &ctx.names).await? else {
            break;
        };
        let wait = Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64);
        if wait > opts.max_wait {
            break;
        }
        tokio::time::sleep(wait.clamp(Duration::from_millis(10), Duration::from_millis(250))).await;
    }
    let elapsed = start.elapsed();
    let mut consumers: Vec<ConsumerSummary> = totals.into_values().collect();
    consumers.sort_by(|a, b| a.name.cmp(&b.name));
    let offres: u64 = consumers.iter().map(|c| c.offres_delivered).sum();
    Ok(PushSummary {
        consumers,
        elapsed_ms: elapsed.as_millis() as u64,
        offres_per_second: offres as f64 / elapsed.as_secs_f64().max(1e-6),
    })
}

/// Pushes until `shutdown` resolves: a pass, then a sleep until the next retry is due or
/// `[push].poll_interval` has passed (new generations). Shutdown is observed between passes,
/// so a send in flight is finished and recorded first.
pub async fn run_pusher(
    store: &Store,
    cfg: &PushConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    outbox::sync_consumers(store, cfg).await?;
    let ctx = ctx(store, cfg, None)?;
    let mut totals = HashMap::new();
    tokio::pin!(shutdown);
    loop {
        // A pass is not interrupted: its sends are bounded by the consumers' timeouts, and
        // stopping between passes leaves nothing half-recorded.
        if let Err(e) = pass(&ctx, &mut totals).await {
            // The database may be restarting: report and try again later.
            tracing::error!("push pass failed: {e:#}");
        }
        let poll = cfg.push.poll_interval.0;
        let wait = match outbox::next_due(store, &ctx.names).await {
            Ok(Some(due)) => {
                Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64).min(poll)
            }
            _ => poll,
        };
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
        }
    }
}
