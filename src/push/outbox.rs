//! The outbox's SQL, written once for both engines (`migrations/*/0004_outbox.sql`).
//!
//! **Claims.** A pusher works on a consumer under a lease (`consumers.lease_owner`,
//! `lease_until`): it claims the consumer row (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so two
//! pushers never wait on each other and never take the same consumer; SQLite: inside a
//! `BEGIN IMMEDIATE` transaction, the database's one writer, so a second pusher process
//! waits for the lock and then finds the consumer leased). Only the lease holder forms the
//! consumer's batches and sends them, one at a time in id order, which keeps the
//! per-consumer order. A pusher killed with `kill -9` leaves its lease, which expires after
//! the consumer's timeout plus `[push].lease_margin`; the next pusher then re-sends the
//! batch it was sending, under the same `webhook-id`.
//!
//! **Forming** turns the consumer's pending outbox rows into batches in one write
//! transaction (PostgreSQL: REPEATABLE READ, so the pending rows and the published offers
//! are read as of one moment): the offers changed by those generations, each in its
//! latest state from `published` (an offer changed in several pending generations is sent
//! once), compared with what the consumer holds (`consumer_offres`) and its filter; the
//! bodies are stored with their `webhook-id` before anything is sent.

use std::collections::HashMap;

use anyhow::{Context, Result};
use sqlx::QueryBuilder;

use super::config::{
    ConsumerConfig, Filter, Mode, PushConfig, DEFAULT_MAX_BYTES, DEFAULT_MAX_OFFRES,
};
use super::wire::{self, BatchInfo, DOCUMENT_OVERHEAD, RETRAIT_BYTES};
use crate::model::ActionCode;
use crate::store::{fragments, in_tx, on_pool, restriction_allows, Store};

/// Offers read per statement while forming batches.
const PAGE: usize = 500;

/// Runs `$body` inside the pusher's write transaction, `$conn` bound to its connection:
/// `BEGIN IMMEDIATE` on SQLite (the write lock at once, not at the first write, so two
/// pushers never deadlock upgrading), `$pg_begin` on PostgreSQL (plain `BEGIN` unless given).
macro_rules! write_tx {
    ($store:expr, $conn:ident => $body:expr) => {
        write_tx!($store, "BEGIN", $conn => $body)
    };
    ($store:expr, $pg_begin:expr, $conn:ident => $body:expr) => {
        in_tx!(
            $store,
            "BEGIN IMMEDIATE",
            $pg_begin,
            "the pusher's write transaction",
            $conn => $body
        )
    };
}

/// Ends a query's `IN (VALUES ` with the offers' keys as bound `(formation, action)` pairs
/// and the closing parenthesis.
fn push_keys<'a, DB: sqlx::Database>(qb: &mut QueryBuilder<'a, DB>, keys: &[(i64, i64)])
where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut l = qb.separated(", ");
    for (f, a) in keys {
        l.push("(");
        l.push_bind_unseparated(*f);
        l.push_unseparated(", ");
        l.push_bind_unseparated(*a);
        l.push_unseparated(")");
    }
    qb.push(")");
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Registers the configured consumers (name, mode, filter, enabled). A new consumer, one
/// whose filter or mode changed, or one enabled again is marked for a resynchronisation:
/// its next batches compare every published offer with what it holds. Consumers no longer
/// configured are disabled (kept, with their history).
pub async fn sync_consumers(store: &Store, cfg: &PushConfig) -> Result<()> {
    let now = now_ms();
    write_tx!(store, conn => {
        for c in &cfg.consumers {
            sqlx::query(
                "INSERT INTO consumers (name, mode, filter, enabled, resync, registered_at) \
                 VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (name) DO UPDATE SET \
                 resync = CASE WHEN consumers.mode <> excluded.mode \
                   OR consumers.filter <> excluded.filter \
                   OR (consumers.enabled = 0 AND excluded.enabled = 1) THEN 1 \
                   ELSE consumers.resync END, \
                 mode = excluded.mode, filter = excluded.filter, enabled = excluded.enabled",
            )
            .bind(&c.name)
            .bind(c.mode().as_str())
            .bind(c.filter.canonical())
            .bind(i64::from(c.enabled))
            .bind(now)
            .execute(&mut *conn)
            .await
            .context("cannot register the consumers")?;
        }
        let mut qb = QueryBuilder::new("UPDATE consumers SET enabled = 0 WHERE enabled = 1");
        if !cfg.consumers.is_empty() {
            qb.push(" AND name NOT IN (");
            let mut l = qb.separated(", ");
            for c in &cfg.consumers {
                l.push_bind(c.name.as_str());
            }
            qb.push(")");
        }
        qb.build().execute(&mut *conn).await?;
    });
    Ok(())
}

/// Claims one consumer among `names` that has work and no live lease; returns its name.
pub async fn claim(
    store: &Store,
    names: &[String],
    owner: &str,
    lease_ms: &HashMap<String, i64>,
) -> Result<Option<String>> {
    if names.is_empty() {
        return Ok(None);
    }
    let now = now_ms();
    let skip_locked = matches!(store, Store::Postgres(_));
    let claimed: Option<String> = write_tx!(store, conn => {
        let mut qb = QueryBuilder::new(
            "SELECT name FROM consumers c WHERE enabled = 1 AND paused_at IS NULL \
             AND (lease_until IS NULL OR lease_until < ",
        );
        qb.push_bind(now);
        // Batches go in id order: only the oldest pending one's time says whether a batch
        // can be sent now. Any pending batch's (a later one, never tried, is due at once)
        // claimed a consumer whose head was waiting for its retry, so `push --once` spun,
        // reading that head's body, until the retry came (issue 20's harness, session 15).
        qb.push(") AND (resync = 1 OR EXISTS (SELECT 1 FROM deliveries d WHERE d.consumer = c.name \
                 AND d.batched_at IS NULL) OR (SELECT b.next_attempt_at FROM batches b WHERE \
                 b.consumer = c.name AND b.state = 'pending' ORDER BY b.id LIMIT 1) <= ");
        qb.push_bind(now);
        qb.push(") AND name IN (");
        let mut l = qb.separated(", ");
        for n in names {
            l.push_bind(n.as_str());
        }
        qb.push(") ORDER BY name LIMIT 1");
        if skip_locked {
            qb.push(" FOR UPDATE SKIP LOCKED");
        }
        let name: Option<String> = qb.build_query_scalar().fetch_optional(&mut *conn).await?;
        if let Some(n) = &name {
            let lease = lease_ms.get(n).copied().unwrap_or(60_000);
            sqlx::query("UPDATE consumers SET lease_owner = $1, lease_until = $2 WHERE name = $3")
                .bind(owner)
                .bind(now + lease)
                .bind(n)
                .execute(&mut *conn)
                .await?;
        }
        name
    });
    Ok(claimed)
}

/// Extends a lease; false when it was lost (expired and taken by another pusher).
pub async fn renew(store: &Store, name: &str, owner: &str, lease_ms: i64) -> Result<bool> {
    let n = on_pool!(store, pool => {
        sqlx::query("UPDATE consumers SET lease_until = $1 WHERE name = $2 AND lease_owner = $3")
            .bind(now_ms() + lease_ms)
            .bind(name)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(n == 1)
}

pub async fn release(store: &Store, name: &str, owner: &str) -> Result<()> {
    on_pool!(store, pool => {
        sqlx::query(
            "UPDATE consumers SET lease_owner = NULL, lease_until = NULL \
             WHERE name = $1 AND lease_owner = $2",
        )
        .bind(name)
        .bind(owner)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(())
}

/// What forming produced.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Formed {
    pub batches: u64,
    pub offres: u64,
    pub retraits: u64,
    /// Outbox rows closed (turned into batches, or with nothing for this consumer).
    pub deliveries: u64,
}

/// Which offers to look at.
enum Candidates {
    /// The offers changed by the pending generations (or all, on a resync / snapshot).
    Pending,
    /// These offers, sent in their latest state whatever the consumer holds (replay).
    Replay(Vec<ActionCode>),
}

/// One offer's latest state, as `published` has it.
struct Latest {
    live: bool,
    hash: String,
    programmes: String,
    departements: String,
    fragment: String,
}

impl Filter {
    fn matches(&self, l: &Latest) -> bool {
        let lots = || {
            self.dispositifs.is_empty()
                || lots_of(&l.fragment)
                    .iter()
                    .any(|lot| self.dispositifs.contains(lot))
        };
        restriction_allows(&self.programmes, &l.programmes)
            && restriction_allows(&self.departements, &l.departements)
            && lots()
    }
}

/// Whether a published offer (its `programmes` and `departements` JSON lists, as
/// `published` keeps them, and its fragment) passes `filter`: the same test as forming's,
/// for the SFTP deposits (`super::deposit`).
pub fn passes(
    filter: &Filter,
    programmes: String,
    departements: String,
    fragment: String,
) -> (bool, String) {
    let l = Latest {
        live: true,
        hash: String::new(),
        programmes,
        departements,
        fragment,
    };
    (filter.matches(&l), l.fragment)
}

/// The Region lots named in a fragment: `<extra info="numero-lot-cr">X</extra>` of its
/// sessions' `sofi-dispositif` extras (docs/mapping.md).
fn lots_of(fragment: &str) -> Vec<String> {
    const START: &str = "<extra info=\"numero-lot-cr\">";
    fragment
        .split(START)
        .skip(1)
        .filter_map(|t| t.split("</extra>").next())
        .map(|v| {
            v.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&amp;", "&")
        })
        .collect()
}

/// Batches being filled.
struct Batcher<'a> {
    consumer: &'a ConsumerConfig,
    kind: &'static str,
    first: i64,
    last: i64,
    horodatage: String,
    fragments: Vec<String>,
    numeros: Vec<String>,
    retraits: Vec<String>,
    bytes: usize,
    done: Vec<NewBatch>,
}

struct NewBatch {
    webhook_id: String,
    offres: i64,
    retraits: i64,
    numeros: String,
    raw_bytes: i64,
    encoding: Option<&'static str>,
    body: Vec<u8>,
}

impl<'a> Batcher<'a> {
    fn new(consumer: &'a ConsumerConfig, plan: &Plan) -> Batcher<'a> {
        Batcher {
            consumer,
            kind: plan.kind,
            first: plan.first,
            last: plan.last,
            horodatage: chrono::Local::now()
                .fixed_offset()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            fragments: Vec::new(),
            numeros: Vec::new(),
            retraits: Vec::new(),
            bytes: DOCUMENT_OVERHEAD,
            done: Vec::new(),
        }
    }
    fn fits(&self, more: usize) -> bool {
        let n = self.fragments.len() + self.retraits.len();
        let (max_offres, max_bytes) = self
            .consumer
            .http()
            .map_or((DEFAULT_MAX_OFFRES, DEFAULT_MAX_BYTES), |h| {
                (h.max_offres, h.max_bytes)
            });
        n == 0 || (n < max_offres && self.bytes + more <= max_bytes)
    }
    fn add_offre(&mut self, numero: String, fragment: String) {
        if !self.fits(fragment.len()) {
            self.flush();
        }
        self.bytes += fragment.len();
        self.numeros.push(numero);
        self.fragments.push(fragment);
    }
    fn add_retrait(&mut self, numero: String) {
        if !self.fits(RETRAIT_BYTES) {
            self.flush();
        }
        self.bytes += RETRAIT_BYTES;
        self.numeros.push(numero.clone());
        self.retraits.push(numero);
    }
    fn flush(&mut self) {
        if self.fragments.is_empty() && self.retraits.is_empty() {
            return;
        }
        let info = BatchInfo {
            consumer: &self.consumer.name,
            kind: self.kind,
            first_generation: self.first,
            last_generation: self.last,
            horodatage_export: &self.horodatage,
        };
        let frags: Vec<&str> = self.fragments.iter().map(String::as_str).collect();
        let (raw, _) = wire::document(&info, &frags, &self.retraits);
        let (body, encoding) = if self.consumer.gzip {
            (wire::gzip(&raw), Some("gzip"))
        } else {
            (raw.clone(), None)
        };
        self.done.push(NewBatch {
            webhook_id: wire::new_webhook_id(),
            offres: self.fragments.len() as i64,
            retraits: self.retraits.len() as i64,
            numeros: serde_json::to_string(&self.numeros).expect("serialisable"),
            raw_bytes: raw.len() as i64,
            encoding,
            body,
        });
        self.fragments.clear();
        self.retraits.clear();
        self.numeros.clear();
        self.bytes = DOCUMENT_OVERHEAD;
    }
}

/// Inserts one formed batch; a macro so that the same text serves both connections.
macro_rules! insert_batch_body {
    ($conn:expr, $c:expr, $nb:expr, $kind:expr, $first:expr, $last:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO batches (consumer, webhook_id, first_generation, last_generation, kind, \
             offres, retraits, numeros, raw_bytes, content_encoding, body, state, attempts, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             'pending', 0, $12, $12)",
        )
        .bind(&$c.name)
        .bind(&$nb.webhook_id)
        .bind($first)
        .bind($last)
        .bind($kind)
        .bind($nb.offres)
        .bind($nb.retraits)
        .bind(&$nb.numeros)
        .bind($nb.raw_bytes)
        .bind($nb.encoding)
        .bind(&$nb.body)
        .bind($now)
        .execute($conn)
        .await
        .context("cannot store a batch")?
    };
}

/// Marks the consumer's outbox rows up to generation `$upto` batched and cancels its
/// resynchronisation: it is caught up to `$upto` (by the batches just formed, or by a
/// baseline). Evaluates to the number of rows closed.
macro_rules! caught_up {
    ($conn:expr, $name:expr, $upto:expr, $now:expr) => {{
        let closed = sqlx::query(
            "UPDATE deliveries SET batched_at = $1 WHERE consumer = $2 AND batched_at IS NULL \
             AND generation <= $3",
        )
        .bind($now)
        .bind($name)
        .bind($upto)
        .execute(&mut *$conn)
        .await?
        .rows_affected();
        sqlx::query("UPDATE consumers SET resync = 0 WHERE name = $1")
            .bind($name)
            .execute(&mut *$conn)
            .await?;
        closed
    }};
}

/// The newest generation, `None` before the first export.
macro_rules! current_generation {
    ($conn:expr) => {{
        let current: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM generations")
            .fetch_one(&mut *$conn)
            .await?;
        current
    }};
}

/// Reads the consumer's outbox as an [`Outbox`]; `$lock` ends the pending rows' query
/// (PostgreSQL's row locks, or nothing).
macro_rules! read_outbox {
    ($conn:expr, $name:expr, $lock:expr) => {{
        let pending: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT generation FROM deliveries WHERE consumer = $1 AND batched_at IS NULL \
             ORDER BY generation{}",
            $lock
        ))
        .bind($name)
        .fetch_all(&mut *$conn)
        .await?;
        let resync: i64 = sqlx::query_scalar("SELECT resync FROM consumers WHERE name = $1")
            .bind($name)
            .fetch_optional(&mut *$conn)
            .await?
            .unwrap_or(0);
        Outbox {
            pending,
            resync: resync == 1,
            current: current_generation!($conn),
        }
    }};
}

/// A consumer's outbox as forming finds it.
struct Outbox {
    /// Its generations not yet batched, in order.
    pending: Vec<i64>,
    /// Whether it is to resynchronise (compare every published offer with what it holds).
    resync: bool,
    /// The newest generation.
    current: Option<i64>,
}

impl Outbox {
    /// The generations the next batches cover: the pending ones, or the newest alone when
    /// none is pending (a resynchronisation).
    fn span(&self, current: i64) -> (i64, i64) {
        let last = self.pending.last().copied().unwrap_or(current);
        (self.pending.first().copied().unwrap_or(last), last)
    }
}

/// What one forming is to do, decided from the outbox before any offer is read.
struct Plan {
    first: i64,
    last: i64,
    /// Every published offer is compared with what the consumer holds.
    full: bool,
    replay: bool,
    kind: &'static str,
    /// Offers are sent even when the consumer holds them as they are.
    send_all: bool,
}

impl Plan {
    /// `None`: nothing to form (no work, or nothing exported yet).
    fn new(c: &ConsumerConfig, which: &Candidates, outbox: &Outbox) -> Option<Plan> {
        let replay = matches!(which, Candidates::Replay(_));
        let snapshot = c.mode() == Mode::Snapshot;
        let full = outbox.resync || (snapshot && !outbox.pending.is_empty());
        if !(replay || full || !outbox.pending.is_empty()) {
            return None;
        }
        let current = outbox.current?;
        // A replay does not take the pending generations: they are formed after it.
        let (first, last) = if replay {
            (current, current)
        } else {
            outbox.span(current)
        };
        Some(Plan {
            first,
            last,
            full,
            replay,
            kind: if full && !replay { "snapshot" } else { "delta" },
            send_all: replay || snapshot,
        })
    }
}

/// The offers a forming looks at, in numeric order: the replayed ones, every offer
/// published or held on a full forming, else those changed by the pending generations.
macro_rules! candidate_keys {
    ($conn:expr, $name:expr, $which:expr, $full:expr) => {{
        let keys: Vec<(i64, i64)> = match $which {
            Candidates::Replay(list) => replay_keys(list),
            Candidates::Pending if $full => sqlx::query_as(
                "SELECT formation_no, action_no FROM published WHERE withdrawn_generation IS NULL \
                 UNION SELECT formation_no, action_no FROM consumer_offres WHERE consumer = $1 \
                 ORDER BY 1, 2",
            )
            .bind($name)
            .fetch_all(&mut *$conn)
            .await?,
            Candidates::Pending => {
                sqlx::query_as(
                    "SELECT DISTINCT formation_no, action_no FROM changes WHERE generation IN \
                 (SELECT generation FROM deliveries WHERE consumer = $1 AND batched_at IS NULL) \
                 ORDER BY 1, 2",
                )
                .bind($name)
                .fetch_all(&mut *$conn)
                .await?
            }
        };
        keys
    }};
}

fn replay_keys(list: &[ActionCode]) -> Vec<(i64, i64)> {
    let mut k: Vec<(i64, i64)> = list
        .iter()
        .map(|a| (a.formation as i64, a.action as i64))
        .collect();
    k.sort_unstable();
    k.dedup();
    k
}

/// A `published` row as forming reads it: key, hash, live, programmes, departements and
/// the fragment's two columns.
type LatestRow = (
    i64,
    i64,
    String,
    bool,
    String,
    String,
    Option<Vec<u8>>,
    Option<String>,
);

/// The latest state of the offers `$keys` (withdrawn ones included), by key.
macro_rules! latest_states {
    ($conn:expr, $keys:expr) => {{
        let mut qb = QueryBuilder::new(format!(
            "SELECT formation_no, action_no, hash, withdrawn_generation IS NULL, programmes, \
             departements, {} FROM published WHERE (formation_no, action_no) IN (VALUES ",
            fragments::select_columns("fragment", "TRUE")
        ));
        push_keys(&mut qb, $keys);
        let rows: Vec<LatestRow> = qb.build_query_as().fetch_all(&mut *$conn).await?;
        latest_by_key(rows)?
    }};
}

fn latest_by_key(rows: Vec<LatestRow>) -> Result<HashMap<(i64, i64), Latest>> {
    rows.into_iter()
        .map(|(f, a, hash, live, programmes, departements, lz4, plain)| {
            let fragment = fragments::decode_text(lz4, plain)?.unwrap_or_default();
            let latest = Latest {
                live,
                hash,
                programmes,
                departements,
                fragment,
            };
            Ok(((f, a), latest))
        })
        .collect()
}

/// The hashes the consumer `$name` holds of the offers `$keys`, by key.
macro_rules! held_hashes {
    ($conn:expr, $name:expr, $keys:expr) => {{
        let mut qb = QueryBuilder::new(
            "SELECT formation_no, action_no, hash FROM consumer_offres WHERE consumer = ",
        );
        qb.push_bind($name);
        qb.push(" AND (formation_no, action_no) IN (VALUES ");
        push_keys(&mut qb, $keys);
        let held: HashMap<(i64, i64), String> = qb
            .build_query_as::<(i64, i64, String)>()
            .fetch_all(&mut *$conn)
            .await?
            .into_iter()
            .map(|(f, a, h)| ((f, a), h))
            .collect();
        held
    }};
}

/// How a page of offers changes what the consumer holds, once its batches are sent.
#[derive(Default)]
struct Holding {
    /// Offers it holds from now on, in this state (hash).
    hold: Vec<((i64, i64), String)>,
    /// Offers it no longer holds.
    drop: Vec<(i64, i64)>,
}

/// Compares a page of offers (`keys`, their `latest` state, the `held` hashes) with what
/// the consumer should hold, adds the offers and withdrawals to send to `b`, counts them
/// in `formed`, and returns how the consumer's holding changes.
fn compare_page(
    b: &mut Batcher,
    formed: &mut Formed,
    plan: &Plan,
    keys: &[(i64, i64)],
    latest: &HashMap<(i64, i64), Latest>,
    held: &HashMap<(i64, i64), String>,
) -> Holding {
    let filter = &b.consumer.filter;
    let mut holding = Holding::default();
    for key in keys {
        let numero = format!("{}-{}", key.0, key.1);
        let want = latest.get(key).filter(|l| l.live && filter.matches(l));
        let had = held.get(key);
        match want {
            Some(l) => {
                if plan.send_all || had != Some(&l.hash) {
                    b.add_offre(numero, l.fragment.clone());
                    formed.offres += 1;
                    if had != Some(&l.hash) {
                        holding.hold.push((*key, l.hash.clone()));
                    }
                }
            }
            None => {
                if had.is_some() || plan.replay {
                    b.add_retrait(numero);
                    formed.retraits += 1;
                }
                if had.is_some() {
                    holding.drop.push(*key);
                }
            }
        }
    }
    holding
}

/// Records in `consumer_offres` what the consumer `$name` holds once the page's batches
/// are sent ([`Holding`]).
macro_rules! record_holding {
    ($conn:expr, $name:expr, $holding:expr) => {
        for (key, hash) in &$holding.hold {
            sqlx::query(
                "INSERT INTO consumer_offres (consumer, formation_no, action_no, hash) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (consumer, formation_no, action_no) \
                 DO UPDATE SET hash = excluded.hash",
            )
            .bind($name)
            .bind(key.0)
            .bind(key.1)
            .bind(hash)
            .execute(&mut *$conn)
            .await?;
        }
        for key in &$holding.drop {
            sqlx::query(
                "DELETE FROM consumer_offres WHERE consumer = $1 AND formation_no = $2 \
                 AND action_no = $3",
            )
            .bind($name)
            .bind(key.0)
            .bind(key.1)
            .execute(&mut *$conn)
            .await?;
        }
    };
}

/// Stores the batches the batcher `$b` has completed; evaluates to how many.
macro_rules! store_done {
    ($conn:expr, $b:expr, $now:expr) => {{
        let mut stored = 0_u64;
        for nb in $b.done.drain(..) {
            insert_batch_body!(
                &mut *$conn,
                $b.consumer,
                nb,
                $b.kind,
                $b.first,
                $b.last,
                $now
            );
            stored += 1;
        }
        stored
    }};
}

/// Turns the consumer's pending outbox rows into stored batches (see the module's docs).
pub async fn form(store: &Store, c: &ConsumerConfig) -> Result<Formed> {
    form_with(store, c, Candidates::Pending).await
}

async fn form_with(store: &Store, c: &ConsumerConfig, which: Candidates) -> Result<Formed> {
    let now = now_ms();
    let lock = match store {
        Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        Store::Sqlite(_) => "",
    };
    // REPEATABLE READ: the pending rows, the changes and the published offers as of one
    // moment (an export committing meanwhile is for the next batches).
    let formed = write_tx!(store, "BEGIN ISOLATION LEVEL REPEATABLE READ", conn => 'tx: {
        let outbox = read_outbox!(conn, &c.name, lock);
        let Some(plan) = Plan::new(c, &which, &outbox) else {
            break 'tx Formed::default();
        };
        let keys = candidate_keys!(conn, &c.name, &which, plan.full);
        let mut b = Batcher::new(c, &plan);
        let mut formed = Formed::default();
        for page in keys.chunks(PAGE) {
            let latest = latest_states!(conn, page);
            let held = held_hashes!(conn, &c.name, page);
            let holding = compare_page(&mut b, &mut formed, &plan, page, &latest, &held);
            record_holding!(conn, &c.name, holding);
            // Store what is complete, so memory holds one batch at a time.
            formed.batches += store_done!(conn, b, now);
        }
        b.flush();
        formed.batches += store_done!(conn, b, now);
        if !plan.replay {
            formed.deliveries = caught_up!(conn, &c.name, plan.last, now);
        }
        formed
    });
    Ok(formed)
}

/// Widens the waiting deposit `$id` to the generations `$first..=$last`.
macro_rules! extend_deposit {
    ($conn:expr, $id:expr, $first:expr, $last:expr, $kind:expr) => {{
        sqlx::query(
            "UPDATE batches SET first_generation = $1, last_generation = $2, kind = $3 \
             WHERE id = $4",
        )
        .bind($first)
        .bind($last)
        .bind($kind)
        .bind($id)
        .execute(&mut *$conn)
        .await?;
    }};
}

/// Stores a new deposit (a batch row without a body) of the generations `$first..=$last`.
macro_rules! insert_deposit {
    ($conn:expr, $name:expr, $first:expr, $last:expr, $kind:expr, $now:expr) => {{
        sqlx::query(
            "INSERT INTO batches (consumer, webhook_id, first_generation, last_generation, \
             kind, offres, retraits, numeros, raw_bytes, content_encoding, body, state, \
             attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 0, 0, '[]', \
             0, NULL, $6, 'pending', 0, $7, $7)",
        )
        .bind($name)
        .bind(wire::new_webhook_id())
        .bind($first)
        .bind($last)
        .bind($kind)
        .bind(Vec::<u8>::new())
        .bind($now)
        .execute(&mut *$conn)
        .await
        .context("cannot store a deposit")?;
    }};
}

/// An SFTP consumer's pending deposit, formed from its outbox rows: one batch row without
/// a body (the file is built when it is sent, `super::deposit`), covering the generations
/// `first_generation..=last_generation`. A deposit already waiting (failed, to be retried)
/// absorbs the newer rows, so a consumer behind gets one file of the newest generation, not
/// one per generation missed: it becomes a snapshot once it covers more than one
/// generation, after a resynchronisation, or when the consumer deposits snapshots.
/// Returns whether a deposit was created or extended.
pub async fn form_deposit(store: &Store, c: &ConsumerConfig) -> Result<bool> {
    let now = now_ms();
    let formed = write_tx!(store, conn => 'tx: {
        let outbox = read_outbox!(conn, &c.name, "");
        let (Some(current), true) = (outbox.current, outbox.resync || !outbox.pending.is_empty())
        else {
            break 'tx false;
        };
        let (first, last) = outbox.span(current);
        let waiting: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, first_generation FROM batches WHERE consumer = $1 AND state = 'pending' \
             ORDER BY id LIMIT 1",
        )
        .bind(&c.name)
        .fetch_optional(&mut *conn)
        .await?;
        let first = waiting.map_or(first, |(_, f)| f.min(first));
        let kind = if c.mode() == Mode::Snapshot || outbox.resync || first != last {
            "snapshot"
        } else {
            "delta"
        };
        match waiting {
            Some((id, _)) => extend_deposit!(conn, id, first, last, kind),
            None => insert_deposit!(conn, &c.name, first, last, kind, now),
        }
        caught_up!(conn, &c.name, last, now);
        true
    });
    Ok(formed)
}

/// Ends the consumer's failing spell (`failing_since`, which pauses it when too long): a
/// batch or a deposit of it got through.
macro_rules! no_longer_failing {
    ($conn:expr, $consumer:expr) => {
        sqlx::query("UPDATE consumers SET failing_since = NULL WHERE name = $1")
            .bind($consumer)
            .execute(&mut *$conn)
            .await?
    };
}

/// What a deposit put on the server, recorded on its batch row once it is in place.
#[derive(Clone, Debug, Default)]
pub struct DepositRecord {
    /// The generation deposited (a snapshot is always of the newest one).
    pub generation: i64,
    pub kind: &'static str,
    pub offres: i64,
    pub retraits: i64,
    /// The document's bytes before compression.
    pub raw_bytes: i64,
    /// The file name deposited (kept where an HTTP batch keeps its response).
    pub file: String,
}

pub async fn mark_deposited(
    store: &Store,
    consumer: &str,
    id: i64,
    d: &DepositRecord,
) -> Result<()> {
    let now = now_ms();
    write_tx!(store, conn => {
        sqlx::query(
            "UPDATE batches SET state = 'delivered', delivered_at = $1, attempts = attempts + 1, \
             last_status = NULL, last_error = NULL, last_generation = $2, kind = $3, offres = $4, \
             retraits = $5, raw_bytes = $6, last_response = $7 WHERE id = $8 AND state = 'pending'",
        )
        .bind(now)
        .bind(d.generation)
        .bind(d.kind)
        .bind(d.offres)
        .bind(d.retraits)
        .bind(d.raw_bytes)
        .bind(&d.file)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        no_longer_failing!(conn, consumer);
    });
    Ok(())
}

/// A stored batch, as the sender needs it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BatchRow {
    pub id: i64,
    pub webhook_id: String,
    /// `delta`, `snapshot` (or `baseline`, never pending).
    pub kind: String,
    pub first_generation: i64,
    pub last_generation: i64,
    pub offres: i64,
    pub retraits: i64,
    pub raw_bytes: i64,
    pub content_encoding: Option<String>,
    pub body: Vec<u8>,
    pub attempts: i64,
    pub next_attempt_at: i64,
}

/// The consumer's oldest undelivered batch (order is per consumer: nothing after it is
/// sent before it).
pub async fn head(store: &Store, consumer: &str) -> Result<Option<BatchRow>> {
    Ok(on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT id, webhook_id, kind, first_generation, last_generation, offres, retraits, \
             raw_bytes, content_encoding, body, attempts, next_attempt_at FROM batches \
             WHERE consumer = $1 AND state = 'pending' ORDER BY id LIMIT 1",
        )
        .bind(consumer)
        .fetch_optional(pool)
        .await?
    }))
}

pub async fn mark_delivered(store: &Store, consumer: &str, id: i64, status: u16) -> Result<()> {
    let now = now_ms();
    write_tx!(store, conn => {
        // The body is no longer needed once delivered; its size stays in raw_bytes.
        sqlx::query(
            "UPDATE batches SET state = 'delivered', delivered_at = $1, attempts = attempts + 1, \
             last_status = $2, last_error = NULL, body = $3 WHERE id = $4 AND state = 'pending'",
        )
        .bind(now)
        .bind(i64::from(status))
        .bind(Vec::<u8>::new())
        .bind(id)
        .execute(&mut *conn)
        .await?;
        no_longer_failing!(conn, consumer);
    });
    Ok(())
}

/// Records a failed attempt: the next one at `next_at`, or a dead letter when `next_at`
/// is `None`. Pauses the consumer when it has been failing for longer than `pause_after_ms`.
/// Returns whether the consumer is now paused.
#[allow(clippy::too_many_arguments)]
pub async fn mark_failed(
    store: &Store,
    consumer: &str,
    id: i64,
    status: Option<u16>,
    error: &str,
    response: &str,
    next_at: Option<i64>,
    pause_after_ms: i64,
) -> Result<bool> {
    let now = now_ms();
    let paused = write_tx!(store, conn => {
        match next_at {
            Some(at) => sqlx::query(
                "UPDATE batches SET attempts = attempts + 1, next_attempt_at = $1, last_status = $2, \
                 last_error = $3, last_response = $4 WHERE id = $5",
            )
            .bind(at),
            None => sqlx::query(
                "UPDATE batches SET attempts = attempts + 1, state = 'dead', dead_at = $1, \
                 last_status = $2, last_error = $3, last_response = $4 WHERE id = $5",
            )
            .bind(now),
        }
        .bind(status.map(i64::from))
        .bind(error)
        .bind(response)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        sqlx::query("UPDATE consumers SET failing_since = COALESCE(failing_since, $1) WHERE name = $2")
            .bind(now)
            .bind(consumer)
            .execute(&mut *conn)
            .await?;
        let n = sqlx::query(
            "UPDATE consumers SET paused_at = $1, paused_reason = $2 WHERE name = $3 \
             AND paused_at IS NULL AND failing_since <= $4",
        )
        .bind(now)
        .bind(format!("failing for longer than {} s: {error}", pause_after_ms / 1000))
        .bind(consumer)
        .bind(now - pause_after_ms)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        n > 0
    });
    Ok(paused)
}

/// When something of these consumers is next due: `Some(0)`-like values mean now.
/// `None`: nothing left but dead letters (or paused consumers).
pub async fn next_due(store: &Store, names: &[String]) -> Result<Option<i64>> {
    let mut best: Option<i64> = None;
    for n in names {
        let row: Option<(i64, i64, Option<i64>, Option<i64>)> = on_pool!(store, pool => {
            sqlx::query_as(
                "SELECT enabled, resync, paused_at, lease_until \
                 FROM consumers WHERE name = $1",
            )
            .bind(n)
            .fetch_optional(pool)
            .await?
        });
        let Some((enabled, resync, paused, lease_until)) = row else {
            continue;
        };
        if enabled == 0 || paused.is_some() {
            continue;
        }
        let (unbatched, next_batch): (i64, Option<i64>) = on_pool!(store, pool => {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM deliveries WHERE consumer = $1 AND batched_at IS NULL), \
                 (SELECT next_attempt_at FROM batches WHERE consumer = $1 AND state = 'pending' \
                 ORDER BY id LIMIT 1)",
            )
            .bind(n)
            .fetch_one(pool)
            .await?
        });
        let due = if resync == 1 || unbatched > 0 {
            Some(0)
        } else {
            next_batch
        };
        if let Some(d) = due {
            let d = d.max(lease_until.unwrap_or(0));
            best = Some(best.map_or(d, |b: i64| b.min(d)));
        }
    }
    Ok(best)
}

/// One consumer's outbox, for `lheo-feed deliveries`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ConsumerStatus {
    pub name: String,
    pub mode: String,
    pub enabled: bool,
    /// Its next batches compare every published offer with what it holds (first
    /// registered, or its filter or mode changed): until then it may lack any offer.
    pub resync: bool,
    pub paused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// Since when its attempts fail (RFC 3339), if they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// Generations not yet turned into batches.
    pub pending_generations: i64,
    /// Batches waiting to be sent (first attempt or retry).
    pub pending: i64,
    /// Of those, batches whose attempts failed so far.
    pub failed: i64,
    pub dead: i64,
    pub delivered: i64,
    pub offres_delivered: i64,
    pub bytes_delivered: i64,
    /// The newest generation whose changes it has received (its last delivered batch's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_generation: Option<i64>,
    /// The oldest generation whose changes it has not received: the first of its
    /// generations not yet batched, or of its batches pending or dead. `None`: nothing
    /// is waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_waiting_generation: Option<i64>,
    /// The last error of a batch still pending, if its last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub dead_letters: Vec<DeadLetter>,
}

#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: i64,
    pub webhook_id: String,
    pub offres: i64,
    pub retraits: i64,
    pub attempts: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub response: Option<String>,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

pub async fn status(store: &Store, only: Option<&str>) -> Result<Vec<ConsumerStatus>> {
    type Row = (
        String,
        String,
        i64,
        i64,
        Option<i64>,
        Option<String>,
        Option<i64>,
    );
    let rows: Vec<Row> = on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT name, mode, enabled, resync, paused_at, paused_reason, failing_since \
             FROM consumers ORDER BY name",
        )
        .fetch_all(pool)
        .await?
    });
    let mut out = Vec::new();
    for (name, mode, enabled, resync, paused_at, paused_reason, failing_since) in rows {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let counts: (i64, i64, i64, i64, i64, Option<i64>, Option<i64>) = on_pool!(store, pool => {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM deliveries WHERE consumer = $1 AND batched_at IS NULL), \
                 (SELECT COUNT(*) FROM batches WHERE consumer = $1 AND state = 'pending'), \
                 (SELECT COUNT(*) FROM batches WHERE consumer = $1 AND state = 'pending' AND attempts > 0), \
                 (SELECT COUNT(*) FROM batches WHERE consumer = $1 AND state = 'dead'), \
                 (SELECT COUNT(*) FROM batches WHERE consumer = $1 AND state = 'delivered'), \
                 (SELECT CAST(SUM(offres) AS BIGINT) FROM batches WHERE consumer = $1 AND state = 'delivered'), \
                 (SELECT CAST(SUM(raw_bytes) AS BIGINT) FROM batches WHERE consumer = $1 AND state = 'delivered')",
            )
            .bind(&name)
            .fetch_one(pool)
            .await?
        });
        let dead_letters: Vec<DeadLetter> = on_pool!(store, pool => {
            sqlx::query_as(
                "SELECT id, webhook_id, offres, retraits, attempts, last_status AS status, \
                 last_error AS error, last_response AS response FROM batches \
                 WHERE consumer = $1 AND state = 'dead' ORDER BY id",
            )
            .bind(&name)
            .fetch_all(pool)
            .await?
        });
        type Generations = (Option<i64>, Option<String>, Option<i64>, Option<i64>);
        let (delivered_generation, last_error, oldest_unbatched, oldest_unsent): Generations = on_pool!(store, pool => {
            sqlx::query_as(
                "SELECT (SELECT MAX(last_generation) FROM batches \
                         WHERE consumer = $1 AND state = 'delivered'), \
                        (SELECT last_error FROM batches \
                         WHERE consumer = $1 AND state = 'pending' AND last_error IS NOT NULL \
                         ORDER BY id LIMIT 1), \
                        (SELECT MIN(generation) FROM deliveries \
                         WHERE consumer = $1 AND batched_at IS NULL), \
                        (SELECT MIN(first_generation) FROM batches \
                         WHERE consumer = $1 AND state IN ('pending', 'dead'))",
            )
            .bind(&name)
            .fetch_one(pool)
            .await?
        });
        out.push(ConsumerStatus {
            name,
            mode,
            enabled: enabled == 1,
            resync: resync == 1,
            paused: paused_at.is_some(),
            paused_reason,
            failing_since: failing_since.map(rfc3339),
            pending_generations: counts.0,
            pending: counts.1,
            failed: counts.2,
            dead: counts.3,
            delivered: counts.4,
            offres_delivered: counts.5.unwrap_or(0),
            bytes_delivered: counts.6.unwrap_or(0),
            delivered_generation,
            oldest_waiting_generation: match (oldest_unbatched, oldest_unsent) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            last_error,
            dead_letters,
        });
    }
    Ok(out)
}

/// What a replay did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Replayed {
    pub dead_letters: u64,
    pub batches: u64,
    pub offres: u64,
    pub retraits: u64,
}

/// Sends dead letters again: by batch id, or all of a consumer's (which also resumes a
/// paused consumer). The dead batch's offers are queued again **in their latest state**, in
/// a new batch after everything already queued, so a replay never takes a consumer back to
/// an older state of an offer that a later batch already updated.
pub async fn replay(
    store: &Store,
    cfg: &PushConfig,
    id: Option<i64>,
    consumer: Option<&str>,
) -> Result<std::result::Result<Replayed, String>> {
    let rows: Vec<(i64, String, String)> = on_pool!(store, pool => {
        match (id, consumer) {
            (Some(id), _) => sqlx::query_as(
                "SELECT id, consumer, numeros FROM batches WHERE id = $1 AND state = 'dead'",
            )
            .bind(id)
            .fetch_all(pool)
            .await?,
            (None, Some(c)) => sqlx::query_as(
                "SELECT id, consumer, numeros FROM batches WHERE consumer = $1 AND state = 'dead' \
                 ORDER BY id",
            )
            .bind(c)
            .fetch_all(pool)
            .await?,
            (None, None) => Vec::new(),
        }
    });
    if let Some(id) = id {
        if rows.is_empty() {
            return Ok(Err(format!(
                "there is no dead letter {id}: see `lheo-feed deliveries` for their ids"
            )));
        }
    }
    let mut done = Replayed::default();
    let mut by_consumer: HashMap<String, (Vec<i64>, Vec<ActionCode>)> = HashMap::new();
    for (id, c, numeros) in rows {
        let list: Vec<String> = serde_json::from_str(&numeros).context("stored numeros")?;
        let e = by_consumer.entry(c).or_default();
        e.0.push(id);
        for n in list {
            e.1.push(ActionCode::parse(&n).map_err(|e| anyhow::anyhow!("stored numero: {e}"))?);
        }
    }
    if let Some(c) = consumer {
        by_consumer.entry(c.to_owned()).or_default();
    }
    for (name, (ids, numeros)) in by_consumer {
        let Some(cc) = cfg.consumer(&name) else {
            return Ok(Err(format!(
                "consumer {name} is not in the configuration: add it back (or give --config) to replay"
            )));
        };
        let sftp = cc.sftp().is_some();
        if sftp && !ids.is_empty() {
            // A deposit is a whole file: the replay is the next deposit, a snapshot of
            // the current generation (a resynchronisation), formed by the next push.
            on_pool!(store, pool => {
                sqlx::query("UPDATE consumers SET resync = 1 WHERE name = $1")
                    .bind(&name)
                    .execute(pool)
                    .await?
                    .rows_affected()
            });
            done.batches += 1;
        } else if !numeros.is_empty() {
            let f = form_with(store, cc, Candidates::Replay(numeros)).await?;
            done.batches += f.batches;
            done.offres += f.offres;
            done.retraits += f.retraits;
        }
        write_tx!(store, conn => {
            for id in &ids {
                sqlx::query("UPDATE batches SET state = 'replayed' WHERE id = $1 AND state = 'dead'")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            if consumer.is_some() {
                sqlx::query(
                    "UPDATE consumers SET paused_at = NULL, paused_reason = NULL, \
                     failing_since = NULL WHERE name = $1",
                )
                .bind(&name)
                .execute(&mut *conn)
                .await?;
            }
        });
        done.dead_letters += ids.len() as u64;
    }
    Ok(Ok(done))
}

/// What a baseline recorded.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Baselined {
    pub consumer: String,
    /// The generation the consumer loaded: its next batches carry the changes after it.
    pub generation: i64,
    /// Offers it now holds (the live offers of that generation passing its filter).
    pub offres: u64,
    /// Outbox rows closed without a request (generations up to the baseline).
    pub deliveries: u64,
}

/// Live offers read per statement by a filtered baseline, and rows per `INSERT`.
const BASELINE_PAGE: i64 = 2000;

/// Why the consumer cannot take a baseline now, from its row (`enabled`, `lease_owner`,
/// `lease_until`; `None`: not registered); `None` when it can.
fn consumer_refusal(
    name: &str,
    row: Option<(i64, Option<String>, Option<i64>)>,
    now: i64,
) -> Option<String> {
    let Some((enabled, owner, until)) = row else {
        return Some(format!(
            "consumer {name} is not registered yet: run this command with --config"
        ));
    };
    if enabled == 0 {
        return Some(format!(
            "consumer {name} is disabled: enable it in the configuration first (enabling it \
             later would start a resynchronisation and undo the baseline)"
        ));
    }
    match (owner, until) {
        (Some(owner), Some(until)) if until >= now => Some(format!(
            "a pusher ({owner}) is working on {name} until {}: stop the pushers (or the \
             daemon), then record the baseline",
            rfc3339(until)
        )),
        _ => None,
    }
}

/// Why `generation` cannot be a baseline, the newest being `current`; `None` when it can.
fn generation_refusal(current: Option<i64>, generation: i64) -> Option<String> {
    let Some(current) = current else {
        return Some("nothing exported yet: run `lheo-feed export` first".to_owned());
    };
    (current != generation).then(|| {
        format!(
            "generation {generation} is not the current one ({current}): load the current \
             snapshot (GET /feed/lheo.xml answers `Lheo-Feed-Generation: {current}`) and \
             record that generation"
        )
    })
}

/// Why the consumer cannot take a baseline while `waiting` batches (the oldest from
/// generation `first`) are still to be sent.
fn waiting_refusal(name: &str, waiting: i64, first: Option<i64>) -> Option<String> {
    (waiting > 0).then(|| {
        format!(
            "{name} has {waiting} batch(es) waiting to be sent (from generation {}): deliver \
             them first (`lheo-feed push --once --consumer {name}`), then record the baseline",
            first.unwrap_or(0)
        )
    })
}

/// Why the consumer `$c` cannot take `$generation` as its baseline now (see [`baseline`]);
/// `None` when it can. On PostgreSQL (`$pg`) its row stays locked until the transaction ends.
macro_rules! baseline_refusal {
    ($conn:expr, $c:expr, $generation:expr, $now:expr, $pg:expr) => {{
        let row: Option<(i64, Option<String>, Option<i64>)> = sqlx::query_as(&format!(
            "SELECT enabled, lease_owner, lease_until FROM consumers WHERE name = $1{}",
            if $pg { " FOR UPDATE" } else { "" }
        ))
        .bind(&$c.name)
        .fetch_optional(&mut *$conn)
        .await?;
        'refusal: {
            if let Some(refused) = consumer_refusal(&$c.name, row, $now) {
                break 'refusal Some(refused);
            }
            if let Some(refused) = generation_refusal(current_generation!($conn), $generation) {
                break 'refusal Some(refused);
            }
            let (waiting, first): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MIN(first_generation) FROM batches WHERE consumer = $1 \
                 AND state = 'pending'",
            )
            .bind(&$c.name)
            .fetch_one(&mut *$conn)
            .await?;
            waiting_refusal(&$c.name, waiting, first)
        }
    }};
}

/// A live `published` row as a filtered baseline reads it: key, hash, programmes,
/// departements and the fragment's two columns.
type BaselineRow = (
    i64,
    i64,
    String,
    String,
    String,
    Option<Vec<u8>>,
    Option<String>,
);

/// The keys and hashes of the rows that pass `f`.
fn passing(f: &Filter, rows: Vec<BaselineRow>) -> Result<Vec<(i64, i64, String)>> {
    let mut keep = Vec::with_capacity(rows.len());
    for (fo, ac, hash, programmes, departements, lz4, plain) in rows {
        let fragment = fragments::decode_text(lz4, plain)?.unwrap_or_default();
        let l = Latest {
            live: true,
            hash,
            programmes,
            departements,
            fragment,
        };
        if f.matches(&l) {
            keep.push((fo, ac, l.hash));
        }
    }
    Ok(keep)
}

/// Records that the consumer `$c` holds every live offer passing its filter, in its
/// published state; evaluates to how many. `consumer_offres` holds nothing of it before.
macro_rules! hold_live_offres {
    ($conn:expr, $c:expr) => {{
        let f = &$c.filter;
        if f.programmes.is_empty() && f.departements.is_empty() && f.dispositifs.is_empty() {
            // No filter: one statement, the database copies the live hashes itself.
            sqlx::query(
                "INSERT INTO consumer_offres (consumer, formation_no, action_no, hash) \
                 SELECT $1, formation_no, action_no, hash FROM published \
                 WHERE withdrawn_generation IS NULL",
            )
            .bind(&$c.name)
            .execute(&mut *$conn)
            .await?
            .rows_affected()
        } else {
            // The filter is applied here exactly as forming applies it; the fragment is read
            // only when the lots are asked for.
            let wanted = if f.dispositifs.is_empty() { "FALSE" } else { "TRUE" };
            let fragment = fragments::select_columns("fragment", wanted);
            let mut after = (-1_i64, -1_i64);
            let mut held = 0_u64;
            loop {
                let rows: Vec<BaselineRow> = sqlx::query_as(&format!(
                    "SELECT formation_no, action_no, hash, programmes, departements, {fragment} \
                     FROM published WHERE withdrawn_generation IS NULL AND (formation_no > $1 \
                     OR (formation_no = $1 AND action_no > $2)) ORDER BY formation_no, action_no \
                     LIMIT $3"
                ))
                .bind(after.0)
                .bind(after.1)
                .bind(BASELINE_PAGE)
                .fetch_all(&mut *$conn)
                .await?;
                let Some(last) = rows.last() else { break };
                after = (last.0, last.1);
                let keep = passing(f, rows)?;
                if keep.is_empty() {
                    continue;
                }
                held += keep.len() as u64;
                let mut qb = QueryBuilder::new(
                    "INSERT INTO consumer_offres (consumer, formation_no, action_no, hash) ",
                );
                qb.push_values(keep, |mut b, (fo, ac, hash)| {
                    b.push_bind(&$c.name).push_bind(fo).push_bind(ac).push_bind(hash);
                });
                qb.build().execute(&mut *$conn).await?;
            }
            held
        }
    }};
}

/// The record of a baseline, as a delivered batch of kind 'baseline' with no body:
/// `deliveries` and the status page then show the consumer at this generation.
macro_rules! record_baseline {
    ($conn:expr, $name:expr, $generation:expr, $offres:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO batches (consumer, webhook_id, first_generation, last_generation, kind, \
             offres, retraits, numeros, raw_bytes, content_encoding, body, state, attempts, \
             next_attempt_at, created_at, delivered_at) VALUES ($1, $2, $3, $3, 'baseline', $4, \
             0, '[]', 0, NULL, $5, 'delivered', 0, $6, $6, $6)",
        )
        .bind($name)
        .bind(wire::new_webhook_id())
        .bind($generation)
        .bind($offres as i64)
        .bind(Vec::<u8>::new())
        .bind($now)
        .execute(&mut *$conn)
        .await
        .context("cannot record the baseline")?
    };
}

/// Records that a consumer loaded the full snapshot of `generation` by other means (the
/// feed's `/feed/lheo.xml`, or the export's file): it now holds every live offer of that
/// generation that passes its filter, its outbox rows up to it are closed without a request,
/// and its resynchronisation is cancelled, so its next batches carry only what changes
/// after it. At national scale this replaces a first delivery of gigabytes through HTTP
/// batches (each stored before it is sent) by one file transfer.
///
/// Only the current generation can be a baseline: `published` holds each offer's latest
/// state, so what the consumer holds is known exactly only for it. Refused (with what to do)
/// while a pusher holds the consumer's lease or batches are waiting to be sent, since those
/// would then be sent on top of the baseline, or be lost from the record.
pub async fn baseline(
    store: &Store,
    cfg: &PushConfig,
    consumer: &str,
    generation: i64,
) -> Result<std::result::Result<Baselined, String>> {
    let Some(c) = cfg.consumer(consumer) else {
        return Ok(Err(format!(
            "consumer {consumer} is not in the configuration: add its [[consumers]] entry \
             (and give --config) before recording what it holds"
        )));
    };
    let now = now_ms();
    let pg = matches!(store, Store::Postgres(_));
    // REPEATABLE READ: the current generation and the published offers as of one moment
    // (an export committing meanwhile makes the check below fail rather than slip by).
    let out = write_tx!(store, "BEGIN ISOLATION LEVEL REPEATABLE READ", conn => 'tx: {
        if let Some(refused) = baseline_refusal!(conn, c, generation, now, pg) {
            break 'tx Err(refused);
        }
        sqlx::query("DELETE FROM consumer_offres WHERE consumer = $1")
            .bind(&c.name)
            .execute(&mut *conn)
            .await?;
        let offres = hold_live_offres!(conn, c);
        let deliveries = caught_up!(conn, &c.name, generation, now);
        record_baseline!(conn, &c.name, generation, offres, now);
        Ok(Baselined { consumer: c.name.clone(), generation, offres, deliveries })
    });
    Ok(out)
}
