//! The store: imported organismes, offers and sessions, in SQLite (the default: one file,
//! nothing to run) or PostgreSQL (when several hosts or an operator's tools need it).
//!
//! # Design choices
//!
//! **Two backends, one set of queries, no `sqlx::Any`.** [`Store`] is an enum over the two
//! pools. Both engines accept `$1` placeholders, row values (`(a, b) > ($1, $2)`),
//! `INSERT … ON CONFLICT … DO UPDATE … WHERE` and `RETURNING`, so each query is written
//! once and the `on_pool!` / `on_tx!` / `read_tx!` macros run it on whichever pool or
//! transaction is there. `Any` would erase the types both drivers handle well and lose
//! backend-specific connection setup (WAL, advisory locks). Queries are built at run time
//! (`sqlx::query`, `QueryBuilder`): the `query!` macros would need a database at build
//! time.
//!
//! **Records are stored as JSON text.** A row holds the record's key columns, the few
//! columns queries filter on (`etat`, `revision`) and `doc`, the record as
//! `serde_json::to_string` wrote it. The model is rich and still moving; mapping every
//! field to columns would make each model change a migration, while the exporter only
//! ever needs whole records. `doc` is `TEXT` on both engines, not `jsonb`: jsonb reorders
//! keys, and change detection compares the serialised bytes (the model serialises
//! deterministically), so they must come back exactly as written. An offer's doc has an
//! empty session list; its sessions are rows of their own, so that one session line can
//! be upserted without rewriting its offer, and an offer's sessions are read in order by
//! key.
//!
//! **Numeric keys.** Offers are keyed by `(formation_no, action_no)` and sessions by
//! `(formation_no, action_no, session_no)`, as integers: the LHÉO output is in numeric
//! order (2-10 after 2-9, 10-1 after 9-99), which a text key would get wrong, and the one
//! primary-key index then serves uniqueness, upserts, paging and the sessions' foreign key.
//! The text forms (`numero`, `code`) are stored too, only for people reading the tables.
//!
//! **Revisions.** Each [`ImportTx`] takes a new number from the `revisions` table. A row's
//! `revision` is set only when its doc is created or actually changes (the upsert's
//! `WHERE doc <> excluded.doc`), and an offer's also when one of its sessions is created,
//! changed or deleted. Re-importing the same file therefore changes nothing, and an
//! incremental export can ask [`Store::offres_changed_since`]. For that answer to be
//! complete, revisions must become visible in the order they are numbered: imports are
//! serialised (SQLite: `BEGIN IMMEDIATE`, a single writer anyway; PostgreSQL: a
//! transaction-scoped advisory lock taken before the number), so a reader never sees
//! revision R+1 committed while R is still to come.
//!
//! **Keyset paging.** [`Store::offres_page`] reads offers strictly after the last key of
//! the previous page, by index range, then the sessions of that key range in one more
//! range query (of the page's keys, for a page of validated offers, so that the plan does
//! not depend on PostgreSQL's statistics being fresh): two indexed queries per page
//! whatever the page's position, and memory
//! bounded by the page size. `OFFSET` paging would re-read all previous rows for each page
//! (quadratic over 300 000 offers), and one big join would hold a cursor and a
//! transaction open for the whole export.
//!
//! **Bulk writes.** Upserts send multi-row `INSERT … ON CONFLICT` statements built with
//! `QueryBuilder::push_values`, sized under each engine's bind-parameter limit (SQLite
//! 32 766, PostgreSQL 65 535), and learn what they created or changed from `RETURNING`:
//! a few statements per batch instead of one round trip per row.

mod postgres;
mod sqlite;

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use sqlx::{
    Database, Encode, PgPool, Postgres, QueryBuilder, Sqlite, SqlitePool, Transaction, Type,
};

use crate::model::{
    ActionCode, Date, EtatWorkflow, FasCode, Offre, Organisme, Session, Siret, SiteCode, StoreDates,
};

pub(crate) use postgres::redact_url;

/// The store, on one of its two backends. Cheap to clone (the pools are shared).
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// How many records the store holds.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StoreCounts {
    pub organismes: u64,
    pub offres: u64,
    pub offres_validees: u64,
    pub sessions: u64,
}

/// What an upsert did, record by record: a record identical to the stored one is
/// `unchanged` (and its revision is left alone).
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct UpsertCounts {
    pub created: u64,
    pub changed: u64,
    pub unchanged: u64,
}

impl UpsertCounts {
    /// Records seen, whatever happened to them.
    pub fn total(&self) -> u64 {
        self.created + self.changed + self.unchanged
    }
}

impl std::ops::AddAssign for UpsertCounts {
    fn add_assign(&mut self, o: UpsertCounts) {
        self.created += o.created;
        self.changed += o.changed;
        self.unchanged += o.unchanged;
    }
}

/// One import: one database transaction and one revision number. Dropping it without
/// [`ImportTx::commit`] rolls everything back (sqlx rolls back a dropped transaction).
pub struct ImportTx {
    tx: Tx,
    revision: i64,
    /// The import's day in Europe/Paris (`YYYY-MM-DD`): the `created_on` / `changed_on`
    /// of the rows it creates or changes (LHÉO `datecrea` / `datemaj` without SOFI's).
    day: String,
}

enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever backend it is. The body
/// is compiled once per backend, so the same query text and code serve both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the import transaction's connection.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            Tx::Sqlite(t) => {
                let $conn: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            Tx::Postgres(t) => {
                let $conn: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}

/// Runs `$body` in a transaction begun with `$sqlite` on SQLite and `$pg` on PostgreSQL
/// (each backend's `BEGIN` statement), `$conn` bound to its connection, and commits it.
/// `$what` names the transaction in the error when it cannot start.
macro_rules! in_tx {
    ($store:expr, $sqlite:expr, $pg:expr, $what:expr, $conn:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(pool) => {
                let mut tx = pool
                    .begin_with($sqlite)
                    .await
                    .with_context(|| format!("cannot start {}", $what))?;
                let $conn: &mut sqlx::SqliteConnection = &mut *tx;
                let out = $body;
                tx.commit().await?;
                out
            }
            $crate::store::Store::Postgres(pool) => {
                let mut tx = pool
                    .begin_with($pg)
                    .await
                    .with_context(|| format!("cannot start {}", $what))?;
                let $conn: &mut sqlx::PgConnection = &mut *tx;
                let out = $body;
                tx.commit().await?;
                out
            }
        }
    };
}
// For the pusher's outbox (src/push/outbox.rs), which keeps its SQL beside its logic.
pub(crate) use in_tx;
pub(crate) use on_pool;

/// Runs `$body` in a read-only snapshot, so that the queries of one call (an offer and
/// its sessions) see the same committed imports. SQLite in WAL mode gives a deferred
/// transaction a snapshot at its first read; PostgreSQL's default (READ COMMITTED) would
/// take a new snapshot per statement, hence REPEATABLE READ.
macro_rules! read_tx {
    ($store:expr, $conn:ident => $body:expr) => {
        in_tx!(
            $store,
            "BEGIN",
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            "a read transaction",
            $conn => $body
        )
    };
}

// Declared after the macros above, which they use (macro_rules! scope is textual).
mod brouillons;
mod feed;
pub mod fragments;
mod generations;
mod referentiel;
mod runs;
pub use brouillons::BrouillonRow;
pub use feed::{restriction_allows, FeedRow, OfferRow, PartnerRow};
pub use generations::{
    ChangeRow, EvaluationRow, EvaluationWrite, GenerationRow, GenerationTx, NewGeneration,
    PublishedRow, PublishedWrite,
};
pub use referentiel::Lot;
pub use runs::{RunKind, RunRow};

/// Whether `e` (anywhere in its chain) is the database going away rather than a fault of
/// the work: the connection closed or refused, the server shutting down or restarting
/// (SQLSTATE class 08, 57P01-57P03), or no connection to be had. Work that failed so is
/// worth doing again once the database is back; anything else is not.
pub fn is_connection_lost(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|cause| match cause.downcast_ref::<sqlx::Error>() {
            Some(
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed,
            ) => true,
            Some(sqlx::Error::Database(d)) => d.code().is_some_and(|c| {
                c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
            }),
            Some(_) => false,
            None => cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                )
            }),
        })
}

// ----- Queries shared by both backends --------------------------------------------------

const INSERT_REVISION: &str = "INSERT INTO revisions (started_at) VALUES ($1) RETURNING id";
const FINISH_REVISION: &str = "UPDATE revisions SET finished_at = $1 WHERE id = $2";
const CURRENT_REVISION: &str = "SELECT COALESCE(MAX(id), 0) FROM revisions";

const ORGANISME_DOC: &str = "SELECT doc FROM organismes WHERE siret = $1";
const ALL_ORGANISMES: &str = "SELECT doc, created_on, changed_on FROM organismes";
const OFFRE_EXISTS: &str = "SELECT 1 FROM offres WHERE formation_no = $1 AND action_no = $2";
const OFFRE_DOC: &str = "SELECT doc, created_on, changed_on FROM offres \
     WHERE formation_no = $1 AND action_no = $2";
const SESSIONS_OF_OFFRE: &str = "SELECT doc, created_on, changed_on FROM sessions \
     WHERE formation_no = $1 AND action_no = $2 ORDER BY session_no";

const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM organismes), (SELECT COUNT(*) FROM offres), \
     (SELECT COUNT(*) FROM offres WHERE etat = $1), (SELECT COUNT(*) FROM sessions)";

// No ORDER BY: SQLite would then walk the primary key to avoid a sort, reading every
// offer, instead of the revision index's few entries. The caller sorts.
const OFFRES_CHANGED_SINCE: &str = "SELECT formation_no, action_no FROM offres WHERE revision > $1";
const ORGANISMES_CHANGED_SINCE: &str = "SELECT siret FROM organismes WHERE revision > $1";

// Keyset paging: the row-value comparison is an index range on both engines.
const PAGE_ALL: &str = "SELECT formation_no, action_no, doc, created_on, changed_on FROM offres \
     WHERE (formation_no, action_no) > ($1, $2) \
     ORDER BY formation_no, action_no LIMIT $3";
const PAGE_VALIDATED: &str = "SELECT formation_no, action_no, doc, created_on, changed_on \
     FROM offres \
     WHERE etat = $4 AND (formation_no, action_no) > ($1, $2) \
     ORDER BY formation_no, action_no LIMIT $3";
/// ANALYZE of the [`STATISTICS_TABLES`] with more changed rows than a tenth of the table
/// (autovacuum's own default threshold), and at least a thousand; returns them.
async fn analyse_stale(pool: &sqlx::PgPool) -> Result<Vec<String>> {
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_stat_user_tables WHERE relname = ANY($1) \
         AND n_mod_since_analyze > GREATEST(1000, n_live_tup / 10) ORDER BY relname",
    )
    .bind(&STATISTICS_TABLES[..])
    .fetch_all(pool)
    .await
    .context("cannot read the tables' statistics")?;
    for table in &stale {
        // The names come from the fixed list, never from input.
        sqlx::query(&format!("ANALYZE {table}"))
            .execute(pool)
            .await
            .with_context(|| format!("cannot analyse {table}"))?;
    }
    Ok(stale)
}

/// The tables an export reads by lists of keys, whose plans need statistics
/// ([`Store::refresh_statistics`]).
const STATISTICS_TABLES: [&str; 6] = [
    "offres",
    "sessions",
    "organismes",
    "published",
    "evaluations",
    "evaluation_organismes",
];
// The sessions of a page of all offers: the key range from its first to its last offer.
// (A page of validated offers reads its sessions by the page's keys instead.)
const PAGE_SESSIONS_ALL: &str = "SELECT formation_no, action_no, doc, created_on, changed_on \
     FROM sessions \
     WHERE (formation_no, action_no) >= ($1, $2) AND (formation_no, action_no) <= ($3, $4) \
     ORDER BY formation_no, action_no, session_no";

// Upserts: `WHERE … doc <> excluded.doc` leaves an identical row (and its revision)
// untouched, and RETURNING then names only the rows created or changed.
const UPSERT_ORGANISMES: (&str, &str) = (
    "INSERT INTO organismes (siret, doc, revision, created_on, changed_on) ",
    " ON CONFLICT (siret) DO UPDATE SET doc = excluded.doc, revision = excluded.revision, \
     changed_on = excluded.changed_on \
     WHERE organismes.doc <> excluded.doc RETURNING siret",
);
const UPSERT_OFFRES: (&str, &str) = (
    "INSERT INTO offres (formation_no, action_no, numero, etat, doc, revision, created_on, \
     changed_on) ",
    " ON CONFLICT (formation_no, action_no) DO UPDATE SET numero = excluded.numero, \
     etat = excluded.etat, doc = excluded.doc, revision = excluded.revision, \
     changed_on = excluded.changed_on \
     WHERE offres.doc <> excluded.doc RETURNING formation_no, action_no",
);
const UPSERT_SESSIONS: (&str, &str) = (
    "INSERT INTO sessions (formation_no, action_no, session_no, code, doc, revision, \
     created_on, changed_on) ",
    " ON CONFLICT (formation_no, action_no, session_no) DO UPDATE SET code = excluded.code, \
     doc = excluded.doc, revision = excluded.revision, changed_on = excluded.changed_on \
     WHERE sessions.doc <> excluded.doc RETURNING formation_no, action_no, session_no",
);

/// Bind-parameter limit of one statement: SQLite's SQLITE_MAX_VARIABLE_NUMBER (32 766
/// since 3.32, the bundled library) and PostgreSQL's protocol limit (a 16-bit count).
const MAX_BINDS_SQLITE: usize = 32_766;
const MAX_BINDS_POSTGRES: usize = 65_535;
/// Rows per statement even when the bind limit allows more: past a few hundred rows a
/// bigger statement saves no time and only holds more documents in memory at once.
const MAX_ROWS_PER_STATEMENT: usize = 1_000;

/// PostgreSQL advisory-lock key that serialises imports (the ASCII of "lheofeed").
const IMPORT_LOCK_KEY: i64 = 0x6c68_656f_6665_6564;

impl Store {
    /// Opens the store at `url` and brings its schema up to date.
    ///
    /// `postgres://…` or `postgresql://…` is PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or
    /// a plain file path is SQLite, the file being created on first use (WAL journal,
    /// foreign keys on, 30 s busy timeout). Errors say what the operator can do; they
    /// never show the URL's password.
    pub async fn open(url: &str) -> Result<Store> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Store::Postgres(postgres::open(url).await?)
        } else if url.starts_with("sqlite:") || !url.contains("://") {
            Store::Sqlite(sqlite::open(url).await?)
        } else {
            let scheme = url.split("://").next().unwrap_or_default();
            bail!(
                "unsupported database URL scheme {scheme:?}: use postgres://USER@HOST/DATABASE, \
                 sqlite://PATH or a file path (set --database-url / LHEO_FEED_DATABASE_URL)"
            );
        };
        tracing::debug!(backend = store.backend(), url = %redact_url(url), "store opened");
        Ok(store)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Starts an import: one transaction, one new revision number. Waits while another
    /// import is running (imports are serialised; see the module doc).
    pub async fn begin_import(&self) -> Result<ImportTx> {
        let mut tx = match self {
            // IMMEDIATE takes the write lock now, waiting up to the busy timeout, instead
            // of failing later at the first write if another import got there first.
            Store::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await.context(
                "cannot start an import: another import may hold the SQLite database \
                 (it has a single writer); wait for it to finish and retry",
            )?),
            Store::Postgres(pool) => {
                let mut tx = pool
                    .begin()
                    .await
                    .context("cannot start an import transaction")?;
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(IMPORT_LOCK_KEY)
                    .fetch_one(&mut *tx)
                    .await?;
                if !got {
                    tracing::info!(
                        "another import is running on this database; waiting for it to finish"
                    );
                    sqlx::query("SELECT pg_advisory_xact_lock($1)")
                        .bind(IMPORT_LOCK_KEY)
                        .execute(&mut *tx)
                        .await?;
                }
                Tx::Postgres(tx)
            }
        };
        let now = chrono::Utc::now();
        let revision: i64 = on_tx!(&mut tx, conn => {
            sqlx::query_scalar(INSERT_REVISION).bind(now).fetch_one(&mut *conn).await?
        });
        tracing::debug!(revision, "import started");
        let day = now
            .with_timezone(&chrono_tz::Europe::Paris)
            .format("%Y-%m-%d")
            .to_string();
        Ok(ImportTx { tx, revision, day })
    }

    /// All organismes, by SIRET (they are a few thousand: the exporter keeps them at hand).
    pub async fn organismes(&self) -> Result<HashMap<Siret, Organisme>> {
        let docs: Vec<DatedDoc> = on_pool!(self, pool => {
            sqlx::query_as(ALL_ORGANISMES).fetch_all(pool).await?
        });
        docs.iter()
            .map(|(doc, created, changed)| {
                let mut o: Organisme = parse_doc(doc, "an organisme")?;
                o.stocke = store_dates(created.as_deref(), changed.as_deref());
                Ok((o.siret.clone(), o))
            })
            .collect()
    }

    /// Offers strictly after `after` in numeric (formation, action) order, at most `limit`
    /// of them, each with all its sessions in session-number order. `only_validated`
    /// keeps the offers in state `validee`. Pass the last offer's `numero` as `after` to
    /// get the next page; an empty page is the end.
    pub async fn offres_page(
        &self,
        after: Option<ActionCode>,
        limit: u32,
        only_validated: bool,
    ) -> Result<Vec<Offre>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // SOFI numbers are positive, so (0, 0) is before every offer.
        let (f, a) = match after {
            Some(code) => action_key(code)?,
            None => (0, 0),
        };
        let validee = EtatWorkflow::Validee.as_str();
        let (heads, sessions): (Vec<KeyedDoc>, Vec<KeyedDoc>) = read_tx!(self, conn => {
            let heads: Vec<KeyedDoc> = if only_validated {
                sqlx::query_as(PAGE_VALIDATED)
                    .bind(f).bind(a).bind(i64::from(limit)).bind(validee)
                    .fetch_all(&mut *conn).await?
            } else {
                sqlx::query_as(PAGE_ALL)
                    .bind(f).bind(a).bind(i64::from(limit))
                    .fetch_all(&mut *conn).await?
            };
            let sessions: Vec<KeyedDoc> = match (heads.first(), heads.last()) {
                (Some(_), Some(_)) if only_validated => {
                    // By the page's keys: a key range would also cover the non-validated
                    // offers between them, and filtering those with EXISTS lets
                    // PostgreSQL, without fresh statistics after a bulk import, plan a
                    // probe of every validated offer per page (minutes at 100 000
                    // sessions instead of milliseconds).
                    let keys: Vec<[i64; 2]> = heads.iter().map(|h| [h.0, h.1]).collect();
                    let mut rows: Vec<KeyedDoc> = Vec::new();
                    for chunk in keys.chunks(MAX_ROWS_PER_STATEMENT) {
                        let mut qb = QueryBuilder::new(
                            "SELECT formation_no, action_no, doc, created_on, changed_on \
                             FROM sessions WHERE ",
                        );
                        push_key_list(&mut qb, "formation_no, action_no", chunk);
                        qb.push(" ORDER BY formation_no, action_no, session_no");
                        let part: Vec<KeyedDoc> =
                            qb.build_query_as().fetch_all(&mut *conn).await?;
                        rows.extend(part);
                    }
                    rows
                }
                (Some(first), Some(last)) => {
                    sqlx::query_as(PAGE_SESSIONS_ALL)
                        .bind(first.0).bind(first.1).bind(last.0).bind(last.1)
                        .fetch_all(&mut *conn).await?
                }
                _ => Vec::new(),
            };
            (heads, sessions)
        });
        assemble(heads, sessions)
    }

    /// One offer with its sessions (in session-number order), if stored.
    pub async fn offre(&self, numero: ActionCode) -> Result<Option<Offre>> {
        let (f, a) = action_key(numero)?;
        let (head, sessions): (Option<DatedDoc>, Vec<DatedDoc>) = read_tx!(self, conn => {
            let head: Option<DatedDoc> = sqlx::query_as(OFFRE_DOC)
                .bind(f).bind(a).fetch_optional(&mut *conn).await?;
            let sessions: Vec<DatedDoc> = match head {
                Some(_) => sqlx::query_as(SESSIONS_OF_OFFRE)
                    .bind(f).bind(a).fetch_all(&mut *conn).await?,
                None => Vec::new(),
            };
            (head, sessions)
        });
        let Some(head) = head else { return Ok(None) };
        let mut offre = parse_offre(&head, numero)?;
        offre.sessions = sessions
            .iter()
            .map(|row| parse_session(row, numero))
            .collect::<Result<_>>()?;
        Ok(Some(offre))
    }

    /// The offers with these keys that are stored, in any state, each with all its
    /// sessions; in numeric order, missing keys left out. For an incremental export, which
    /// reads a few scattered offers: one key-list query for the offers and one for their
    /// sessions per chunk, in one snapshot.
    pub async fn offres_in(&self, numeros: &[ActionCode]) -> Result<Vec<Offre>> {
        let keys = generations::key_list(numeros)?;
        let mut out = Vec::with_capacity(keys.len());
        // Two binds per key; well under both engines' limits.
        for chunk in keys.chunks(MAX_ROWS_PER_STATEMENT) {
            let (heads, sessions): (Vec<KeyedDoc>, Vec<KeyedDoc>) = read_tx!(self, conn => {
                let mut qb = QueryBuilder::new(
                    "SELECT formation_no, action_no, doc, created_on, changed_on \
                     FROM offres WHERE ",
                );
                push_key_list(&mut qb, "formation_no, action_no", chunk);
                qb.push(" ORDER BY formation_no, action_no");
                let heads: Vec<KeyedDoc> = qb.build_query_as().fetch_all(&mut *conn).await?;
                let mut qb = QueryBuilder::new(
                    "SELECT formation_no, action_no, doc, created_on, changed_on \
                     FROM sessions WHERE ",
                );
                push_key_list(&mut qb, "formation_no, action_no", chunk);
                qb.push(" ORDER BY formation_no, action_no, session_no");
                let sessions: Vec<KeyedDoc> = qb.build_query_as().fetch_all(&mut *conn).await?;
                (heads, sessions)
            });
            out.extend(assemble(heads, sessions)?);
        }
        Ok(out)
    }

    /// How many organismes, offers (all, and validated) and sessions are stored.
    pub async fn counts(&self) -> Result<StoreCounts> {
        let (organismes, offres, offres_validees, sessions): (i64, i64, i64, i64) = on_pool!(self, pool => {
            sqlx::query_as(COUNTS).bind(EtatWorkflow::Validee.as_str()).fetch_one(pool).await?
        });
        Ok(StoreCounts {
            organismes: organismes as u64,
            offres: offres as u64,
            offres_validees: offres_validees as u64,
            sessions: sessions as u64,
        })
    }

    /// The revision of the last committed import (0 for an empty store). An incremental
    /// exporter reads it *before* reading the offers it exports, then later asks
    /// [`Store::offres_changed_since`] that number: an import committing meanwhile is
    /// then exported again rather than missed.
    pub async fn current_revision(&self) -> Result<i64> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar(CURRENT_REVISION).fetch_one(pool).await?
        }))
    }

    /// Offers (in any state) created or changed, or whose sessions were, by an import
    /// after revision `rev`, in numeric order. Changes to organismes are not included
    /// here: see [`Store::organismes_changed_since`].
    pub async fn offres_changed_since(&self, rev: i64) -> Result<Vec<ActionCode>> {
        let mut keys: Vec<(i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(OFFRES_CHANGED_SINCE).bind(rev).fetch_all(pool).await?
        });
        keys.sort_unstable();
        keys.into_iter().map(|(f, a)| action_code(f, a)).collect()
    }

    /// Organismes created or changed by an import after revision `rev`. An offer's LHÉO
    /// output embeds its organismes, so an incremental exporter must also redo the offers
    /// that refer to these.
    pub async fn organismes_changed_since(&self, rev: i64) -> Result<Vec<Siret>> {
        let mut sirets: Vec<String> = on_pool!(self, pool => {
            sqlx::query_scalar(ORGANISMES_CHANGED_SINCE).bind(rev).fetch_all(pool).await?
        });
        sirets.sort_unstable();
        sirets
            .iter()
            .map(|s| Siret::parse(s).map_err(|e| anyhow!("stored SIRET {s:?} is invalid: {e}")))
            .collect()
    }

    /// PostgreSQL: refreshes the planner's statistics of the tables an export reads when
    /// many of their rows changed since they were last gathered; returns the tables
    /// analysed. Right after a bulk import autovacuum has not analysed yet, and without
    /// statistics the planner reads a page's sessions by a sequential scan of the whole
    /// table instead of index probes: at a million sessions 0.7 s per page of 1 000 offers
    /// instead of 22 ms, most of the full export's time (docs/BENCHMARKS.md). ANALYZE
    /// samples a bounded number of rows (0.6 s for offres and sessions at that size).
    /// SQLite plans these reads by primary key without statistics: nothing to do.
    ///
    /// An optimisation only: a failure is logged (with what to do) and the pass goes on
    /// with the plans it has.
    pub async fn refresh_statistics(&self) -> Vec<String> {
        let Store::Postgres(pool) = self else {
            return Vec::new();
        };
        match analyse_stale(pool).await {
            Ok(tables) => tables,
            Err(e) => {
                tracing::warn!(
                    "planner statistics not refreshed ({e:#}): reads by lists of keys may be \
                     slow until autovacuum analyses the tables; give the lheo-feed role \
                     ownership of its tables, or run ANALYZE after large imports"
                );
                Vec::new()
            }
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(self) {
        on_pool!(self, pool => pool.close().await)
    }
}

impl ImportTx {
    /// This import's revision number.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The site codes of an organisme as stored (including this import's own writes), or
    /// `None` if the organisme is unknown.
    pub async fn organisme_sites(&mut self, siret: &Siret) -> Result<Option<Vec<SiteCode>>> {
        let doc: Option<String> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(ORGANISME_DOC).bind(siret.as_str()).fetch_optional(&mut *conn).await?
        });
        let Some(doc) = doc else { return Ok(None) };
        let o: Organisme = parse_doc(&doc, format_args!("organisme {siret}"))?;
        Ok(Some(o.sites.into_iter().map(|s| s.code).collect()))
    }

    /// Whether the offer is stored (including this import's own writes).
    pub async fn offre_exists(&mut self, numero: ActionCode) -> Result<bool> {
        let (f, a) = action_key(numero)?;
        let found: Option<i32> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(OFFRE_EXISTS).bind(f).bind(a).fetch_optional(&mut *conn).await?
        });
        Ok(found.is_some())
    }

    /// Creates or replaces organismes. A repeated SIRET in `batch` is applied in order,
    /// as if upserted one after the other.
    pub async fn upsert_organismes(&mut self, batch: &[Organisme]) -> Result<UpsertCounts> {
        let mut counts = UpsertCounts::default();
        for run in distinct_runs(batch, |o| o.siret.clone()) {
            let rows = run
                .iter()
                .map(|o| Ok((o.siret.as_str(), to_doc(o)?)))
                .collect::<Result<Vec<_>>>()?;
            let sirets: Vec<&str> = rows.iter().map(|r| r.0).collect();
            let existing = self.existing_organismes(&sirets).await?;
            let written = self.write_organismes(&rows).await?;
            for siret in sirets {
                counts += classify(existing.contains(siret), written.contains(siret));
            }
        }
        Ok(counts)
    }

    /// Creates or replaces offers with their sessions. An offer line is the whole truth
    /// for its action: stored sessions it no longer lists are deleted. An offer counts as
    /// `changed` when its own fields or any of its sessions changed. Each listed session
    /// must belong to the offer's action, once.
    pub async fn upsert_offres(&mut self, batch: &[Offre]) -> Result<UpsertCounts> {
        let mut counts = UpsertCounts::default();
        for run in distinct_runs(batch, |o| o.numero) {
            counts += self.upsert_offres_run(run).await?;
        }
        Ok(counts)
    }

    /// Creates or replaces single sessions of offers already stored (the caller checks
    /// with [`ImportTx::offre_exists`]; a missing offer is an error). Counts are per
    /// session; the offers of created or changed sessions get this revision.
    pub async fn upsert_sessions(&mut self, batch: &[Session]) -> Result<UpsertCounts> {
        let mut counts = UpsertCounts::default();
        for run in distinct_runs(batch, |s| s.code) {
            let rows = run
                .iter()
                .map(SessionRow::new)
                .collect::<Result<Vec<_>>>()?;
            let keys: Vec<[i64; 3]> = rows.iter().map(SessionRow::key3).collect();
            let existing = self.existing_sessions(&keys).await?;
            let written = self.write_sessions(&rows).await?;
            let offers: HashSet<ActionCode> = written.iter().map(|k| k.action).collect();
            self.touch_offres(&offers).await?;
            for r in &rows {
                counts += classify(existing.contains(&r.code), written.contains(&r.code));
            }
        }
        Ok(counts)
    }

    /// Commits the import.
    pub async fn commit(mut self) -> Result<()> {
        let now = chrono::Utc::now();
        let revision = self.revision;
        on_tx!(&mut self.tx, conn => {
            sqlx::query(FINISH_REVISION).bind(now).bind(revision).execute(&mut *conn).await?;
        });
        match self.tx {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
        .context("cannot commit the import")?;
        tracing::debug!(revision, "import committed");
        Ok(())
    }

    async fn upsert_offres_run(&mut self, run: &[Offre]) -> Result<UpsertCounts> {
        let mut offres = Vec::with_capacity(run.len());
        let mut sessions = Vec::new();
        for o in run {
            offres.push(OffreRow::new(o)?);
            let mut seen = HashSet::with_capacity(o.sessions.len());
            for s in &o.sessions {
                if s.code.action != o.numero {
                    bail!(
                        "offer {} lists session {}, which belongs to action {}: \
                         a session must be listed in its own action's offer",
                        o.numero,
                        s.code,
                        s.code.action
                    );
                }
                if !seen.insert(s.code.session) {
                    bail!("offer {} lists session {} twice", o.numero, s.code);
                }
                sessions.push(SessionRow::new(s)?);
            }
        }
        let keys: Vec<[i64; 2]> = offres.iter().map(|r| [r.f, r.a]).collect();
        let existing = self.existing_offres(&keys).await?;
        let written = self.write_offres(&offres).await?;

        // Sessions stored for these offers but no longer listed are deleted. (A new offer
        // has none: the foreign key keeps sessions from outliving their offer.)
        let known: Vec<[i64; 2]> = offres
            .iter()
            .filter(|r| existing.contains(&r.code))
            .map(|r| [r.f, r.a])
            .collect();
        let listed: HashSet<FasCode> = sessions.iter().map(|s| s.code).collect();
        let gone: Vec<FasCode> = self
            .sessions_of(&known)
            .await?
            .into_iter()
            .filter(|k| !listed.contains(k))
            .collect();
        self.delete_sessions(&gone).await?;
        let written_sessions = self.write_sessions(&sessions).await?;

        // Offers whose sessions changed; their own revision must say so too.
        let session_changed: HashSet<ActionCode> = gone
            .iter()
            .chain(written_sessions.iter())
            .map(|k| k.action)
            .collect();
        let to_touch: HashSet<ActionCode> = session_changed
            .iter()
            .filter(|a| existing.contains(a) && !written.contains(a))
            .copied()
            .collect();
        self.touch_offres(&to_touch).await?;

        let mut counts = UpsertCounts::default();
        for r in &offres {
            counts += classify(
                existing.contains(&r.code),
                written.contains(&r.code) || session_changed.contains(&r.code),
            );
        }
        Ok(counts)
    }

    /// Rows per statement for rows of `binds` parameters on this backend.
    fn rows_per_statement(&self, binds: usize) -> usize {
        let limit = match self.tx {
            Tx::Sqlite(_) => MAX_BINDS_SQLITE,
            Tx::Postgres(_) => MAX_BINDS_POSTGRES,
        };
        (limit / binds).min(MAX_ROWS_PER_STATEMENT)
    }

    async fn existing_organismes(&mut self, sirets: &[&str]) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in sirets.chunks(self.rows_per_statement(1)) {
            let rows: Vec<String> = on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new("SELECT siret FROM organismes WHERE siret IN (");
                let mut list = qb.separated(", ");
                for s in chunk {
                    list.push_bind(*s);
                }
                qb.push(")");
                qb.build_query_scalar().fetch_all(&mut *conn).await?
            });
            found.extend(rows);
        }
        Ok(found)
    }

    async fn write_organismes(&mut self, rows: &[(&str, String)]) -> Result<HashSet<String>> {
        let rev = self.revision;
        let day = self.day.clone();
        let mut written = HashSet::new();
        for chunk in rows.chunks(self.rows_per_statement(5)) {
            let keys: Vec<String> = on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new(UPSERT_ORGANISMES.0);
                qb.push_values(chunk, |mut b, (siret, doc)| {
                    b.push_bind(*siret)
                        .push_bind(doc.as_str())
                        .push_bind(rev)
                        .push_bind(day.as_str())
                        .push_bind(day.as_str());
                });
                qb.push(UPSERT_ORGANISMES.1);
                qb.build_query_scalar().fetch_all(&mut *conn).await?
            });
            written.extend(keys);
        }
        Ok(written)
    }

    async fn existing_offres(&mut self, keys: &[[i64; 2]]) -> Result<HashSet<ActionCode>> {
        let mut found = HashSet::new();
        for chunk in keys.chunks(self.rows_per_statement(2)) {
            let rows: Vec<(i64, i64)> = on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new("SELECT formation_no, action_no FROM offres WHERE ");
                push_key_list(&mut qb, "formation_no, action_no", chunk);
                qb.build_query_as().fetch_all(&mut *conn).await?
            });
            for (f, a) in rows {
                found.insert(action_code(f, a)?);
            }
        }
        Ok(found)
    }

    async fn write_offres(&mut self, rows: &[OffreRow]) -> Result<HashSet<ActionCode>> {
        let rev = self.revision;
        let day = self.day.clone();
        let mut written = HashSet::new();
        for chunk in rows.chunks(self.rows_per_statement(8)) {
            let keys: Vec<(i64, i64)> = on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new(UPSERT_OFFRES.0);
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(r.f)
                        .push_bind(r.a)
                        .push_bind(r.numero.as_str())
                        .push_bind(r.etat)
                        .push_bind(r.doc.as_str())
                        .push_bind(rev)
                        .push_bind(day.as_str())
                        .push_bind(day.as_str());
                });
                qb.push(UPSERT_OFFRES.1);
                qb.build_query_as().fetch_all(&mut *conn).await?
            });
            for (f, a) in keys {
                written.insert(action_code(f, a)?);
            }
        }
        Ok(written)
    }

    /// The keys of all sessions stored for these offers.
    async fn sessions_of(&mut self, offers: &[[i64; 2]]) -> Result<Vec<FasCode>> {
        let mut found = Vec::new();
        for chunk in offers.chunks(self.rows_per_statement(2)) {
            let rows: Vec<(i64, i64, i64)> = on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new(
                    "SELECT formation_no, action_no, session_no FROM sessions WHERE ",
                );
                push_key_list(&mut qb, "formation_no, action_no", chunk);
                qb.build_query_as().fetch_all(&mut *conn).await?
            });
            for (f, a, s) in rows {
                found.push(fas_code(f, a, s)?);
            }
        }
        Ok(found)
    }

    async fn existing_sessions(&mut self, keys: &[[i64; 3]]) -> Result<HashSet<FasCode>> {
        let mut found = HashSet::new();
        for chunk in keys.chunks(self.rows_per_statement(3)) {
            let rows: Vec<(i64, i64, i64)> = on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new(
                    "SELECT formation_no, action_no, session_no FROM sessions WHERE ",
                );
                push_key_list(&mut qb, "formation_no, action_no, session_no", chunk);
                qb.build_query_as().fetch_all(&mut *conn).await?
            });
            for (f, a, s) in rows {
                found.insert(fas_code(f, a, s)?);
            }
        }
        Ok(found)
    }

    async fn write_sessions(&mut self, rows: &[SessionRow]) -> Result<HashSet<FasCode>> {
        let rev = self.revision;
        let day = self.day.clone();
        let mut written = HashSet::new();
        for chunk in rows.chunks(self.rows_per_statement(8)) {
            let keys: Vec<(i64, i64, i64)> = on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new(UPSERT_SESSIONS.0);
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(r.f)
                        .push_bind(r.a)
                        .push_bind(r.s)
                        .push_bind(r.code_text.as_str())
                        .push_bind(r.doc.as_str())
                        .push_bind(rev)
                        .push_bind(day.as_str())
                        .push_bind(day.as_str());
                });
                qb.push(UPSERT_SESSIONS.1);
                qb.build_query_as().fetch_all(&mut *conn).await.map_err(explain_session_write)?
            });
            for (f, a, s) in keys {
                written.insert(fas_code(f, a, s)?);
            }
        }
        Ok(written)
    }

    async fn delete_sessions(&mut self, keys: &[FasCode]) -> Result<()> {
        let keys = keys
            .iter()
            .map(|k| session_key(*k))
            .collect::<Result<Vec<_>>>()?;
        for chunk in keys.chunks(self.rows_per_statement(3)) {
            on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new("DELETE FROM sessions WHERE ");
                push_key_list(&mut qb, "formation_no, action_no, session_no", chunk);
                qb.build().execute(&mut *conn).await?;
            });
        }
        Ok(())
    }

    /// Sets this import's revision and day on offers whose sessions changed.
    async fn touch_offres(&mut self, offers: &HashSet<ActionCode>) -> Result<()> {
        let rev = self.revision;
        let day = self.day.clone();
        let mut keys = offers
            .iter()
            .map(|k| action_key(*k).map(|(f, a)| [f, a]))
            .collect::<Result<Vec<_>>>()?;
        // A stable order keeps the statements (and any lock order) deterministic.
        keys.sort_unstable();
        for chunk in keys.chunks(self.rows_per_statement(2)) {
            on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new("UPDATE offres SET revision = ");
                qb.push_bind(rev);
                qb.push(", changed_on = ");
                qb.push_bind(day.as_str());
                qb.push(" WHERE revision <> ");
                qb.push_bind(rev);
                qb.push(" AND ");
                push_key_list(&mut qb, "formation_no, action_no", chunk);
                qb.build().execute(&mut *conn).await?;
            });
        }
        Ok(())
    }
}

/// An offer as stored: its key and its doc without sessions.
struct OffreRow {
    code: ActionCode,
    f: i64,
    a: i64,
    numero: String,
    etat: &'static str,
    doc: String,
}

impl OffreRow {
    fn new(o: &Offre) -> Result<OffreRow> {
        let (f, a) = action_key(o.numero)?;
        // The offer's doc without its sessions, which are rows of their own. A struct
        // literal, not `..o.clone()`: cloning would copy every session only to drop it,
        // and a field added to Offre makes this fail to compile instead of being lost.
        let head = Offre {
            numero: o.numero,
            etat: o.etat,
            mandataire: o.mandataire.clone(),
            formation: o.formation.clone(),
            action: o.action.clone(),
            sessions: Vec::new(),
            cree_le: o.cree_le,
            modifie_le: o.modifie_le,
            stocke: o.stocke,
            extras_lheo: o.extras_lheo.clone(),
        };
        Ok(OffreRow {
            code: o.numero,
            f,
            a,
            numero: o.numero.to_string(),
            etat: o.etat.as_str(),
            doc: to_doc(&head)?,
        })
    }
}

/// A session as stored.
struct SessionRow {
    code: FasCode,
    f: i64,
    a: i64,
    s: i64,
    code_text: String,
    doc: String,
}

impl SessionRow {
    fn new(s: &Session) -> Result<SessionRow> {
        let [f, a, n] = session_key(s.code)?;
        Ok(SessionRow {
            code: s.code,
            f,
            a,
            s: n,
            code_text: s.code.to_string(),
            doc: to_doc(s)?,
        })
    }
    fn key3(&self) -> [i64; 3] {
        [self.f, self.a, self.s]
    }
}

/// Appends `(cols) IN (SELECT column1, … FROM (VALUES (…), …) AS k)`. Written as a
/// subquery rather than `(cols) IN (VALUES …)` because SQLite only uses the primary-key
/// index for the former (it scans the table for the latter); PostgreSQL plans both as
/// index probes. `column1…` are the names both engines give VALUES columns.
fn push_key_list<'a, DB, const N: usize>(
    qb: &mut QueryBuilder<'a, DB>,
    cols: &str,
    keys: &[[i64; N]],
) where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
{
    qb.push("(").push(cols).push(") IN (SELECT ");
    for i in 1..=N {
        if i > 1 {
            qb.push(", ");
        }
        qb.push(format_args!("column{i}"));
    }
    qb.push(" FROM (");
    qb.push_values(keys, |mut b, key| {
        for v in key {
            b.push_bind(*v);
        }
    });
    qb.push(") AS k)");
}

/// Splits `items` into consecutive runs without a repeated key. Each run is written with
/// multi-row statements, in which a key may appear only once (PostgreSQL refuses to
/// update a row twice in one INSERT … ON CONFLICT); running the runs in order keeps the
/// meaning of upserting the items one after the other. Repeats are rare, so this is
/// nearly always a single run.
fn distinct_runs<T, K: Hash + Eq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<&[T]> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let k = key(item);
        if seen.contains(&k) {
            runs.push(&items[start..i]);
            start = i;
            seen.clear();
        }
        seen.insert(k);
    }
    if start < items.len() {
        runs.push(&items[start..]);
    }
    runs
}

fn classify(existed: bool, written: bool) -> UpsertCounts {
    match (existed, written) {
        (false, _) => UpsertCounts {
            created: 1,
            ..Default::default()
        },
        (true, true) => UpsertCounts {
            changed: 1,
            ..Default::default()
        },
        (true, false) => UpsertCounts {
            unchanged: 1,
            ..Default::default()
        },
    }
}

/// A page row: (formation_no, action_no, doc).
/// Key, doc, `created_on`, `changed_on`.
type KeyedDoc = (i64, i64, String, Option<String>, Option<String>);
/// Doc, `created_on`, `changed_on`.
type DatedDoc = (String, Option<String>, Option<String>);

/// The store's dates of a row. A day that does not parse (nothing writes one) is unknown
/// rather than an error: the dates are a fallback for LHÉO, not the record.
fn store_dates(created: Option<&str>, changed: Option<&str>) -> StoreDates {
    let day = |d: Option<&str>| d.and_then(|d| Date::parse(d).ok());
    StoreDates {
        created: day(created),
        changed: day(changed),
    }
}

fn parse_offre((doc, created, changed): &DatedDoc, code: ActionCode) -> Result<Offre> {
    let mut o: Offre = parse_doc(doc, format_args!("offer {code}"))?;
    o.stocke = store_dates(created.as_deref(), changed.as_deref());
    Ok(o)
}

fn parse_session((doc, created, changed): &DatedDoc, code: ActionCode) -> Result<Session> {
    let mut s: Session = parse_doc(doc, format_args!("a session of offer {code}"))?;
    s.stocke = store_dates(created.as_deref(), changed.as_deref());
    Ok(s)
}

/// Joins page rows: offers in key order, sessions in (key, session number) order.
fn assemble(heads: Vec<KeyedDoc>, sessions: Vec<KeyedDoc>) -> Result<Vec<Offre>> {
    let mut offres: Vec<Offre> = Vec::with_capacity(heads.len());
    let mut index = HashMap::with_capacity(heads.len());
    for (f, a, doc, created, changed) in heads {
        let code = action_code(f, a)?;
        index.insert(code, offres.len());
        offres.push(parse_offre(&(doc, created, changed), code)?);
    }
    for (f, a, doc, created, changed) in sessions {
        let code = action_code(f, a)?;
        // Every row matches a page offer (same snapshot, same key range and filter).
        if let Some(&i) = index.get(&code) {
            offres[i]
                .sessions
                .push(parse_session(&(doc, created, changed), code)?);
        }
    }
    Ok(offres)
}

fn to_doc<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).context("cannot serialise a record to JSON")
}

fn parse_doc<T: DeserializeOwned>(doc: &str, what: impl std::fmt::Display) -> Result<T> {
    serde_json::from_str(doc).with_context(|| {
        format!(
            "stored {what} cannot be read by this version of lheo-feed; \
             re-import the FASD file into a new database"
        )
    })
}

/// SOFI numbers have at most 12 digits (see `model::ids`), far inside an i64; the check
/// only guards against a hand-built code.
fn db_no(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| anyhow!("SOFI number {n} is too large to store"))
}

fn action_key(code: ActionCode) -> Result<(i64, i64)> {
    Ok((db_no(code.formation)?, db_no(code.action)?))
}

fn session_key(code: FasCode) -> Result<[i64; 3]> {
    let (f, a) = action_key(code.action)?;
    Ok([f, a, db_no(code.session)?])
}

fn model_no(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| anyhow!("the store holds a negative SOFI number {n}"))
}

fn action_code(f: i64, a: i64) -> Result<ActionCode> {
    Ok(ActionCode {
        formation: model_no(f)?,
        action: model_no(a)?,
    })
}

fn fas_code(f: i64, a: i64, s: i64) -> Result<FasCode> {
    Ok(FasCode {
        action: action_code(f, a)?,
        session: model_no(s)?,
    })
}

/// A session upsert that breaks the foreign key names a missing offer: say so.
fn explain_session_write(e: sqlx::Error) -> anyhow::Error {
    let fk = e
        .as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation());
    let err = anyhow::Error::new(e);
    if fk {
        err.context(
            "a session's action is not in the store: its offer line must be imported first \
             (check with offre_exists before upserting single sessions)",
        )
    } else {
        err.context("cannot write sessions")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_runs_split_at_repeats_only() {
        let runs = distinct_runs(&[1, 2, 3, 2, 4, 1, 5], |x| *x);
        assert_eq!(runs, vec![&[1, 2, 3][..], &[2, 4, 1, 5][..]]);
        assert!(distinct_runs(&[] as &[u8], |x| *x).is_empty());
        assert_eq!(distinct_runs(&[7, 7, 7], |x| *x).len(), 3);
    }
}
