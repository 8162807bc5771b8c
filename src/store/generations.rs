//! The export generations' tables (`migrations/*/0002_generations.sql`): reads for the
//! exporter and the `generations` / `diff` commands, and [`GenerationTx`], the one write
//! transaction that commits a generation.
//!
//! The logic (what to evaluate, hashing, the change set, files) is in `crate::generation`;
//! this module only holds the SQL, written once for both engines like the rest of the store.
//!
//! Concurrency: exports may run beside imports (they only read the store's tables, and the
//! store revision they record makes the next export pick up whatever an import commits
//! meanwhile). Two exports are serialised at their write transaction (SQLite: `BEGIN
//! IMMEDIATE`, the single writer; PostgreSQL: a transaction-scoped advisory lock), and the
//! later one then finds that the generation it started from is no longer the last and
//! gives up without writing: see [`Store::begin_generation`].

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::{
    action_code, action_key, fragments, push_key_list, Store, Tx, MAX_BINDS_POSTGRES,
    MAX_BINDS_SQLITE,
};
use crate::digest::DocumentDigest;
use crate::model::{ActionCode, Siret};

/// PostgreSQL advisory-lock key that serialises the write transactions of exports (the
/// ASCII of "lheogens"; imports use another key).
const GENERATION_LOCK_KEY: i64 = 0x6c68_656f_6765_6e73;

/// Rows per statement for the published fragments: a few kilobytes each, so fewer rows
/// than other upserts keep each statement to a megabyte or so.
const PUBLISHED_ROWS_PER_STATEMENT: usize = 200;
/// Rows per statement elsewhere.
const ROWS_PER_STATEMENT: usize = 1_000;

const GENERATION_COLUMNS: &str = "id, started_at, finished_at, horodatage_export, today, \
     format_version, rules_hash, store_revision, mode, offres_evaluees, created, updated, \
     withdrawn, unchanged, published, rejected, counts, forced, file_path, out_path, \
     file_digest, file_bytes, file_fingerprint";

/// One committed generation, as the `generations` table holds it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct GenerationRow {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub horodatage_export: String,
    /// `YYYY-MM-DD`.
    pub today: String,
    pub format_version: String,
    pub rules_hash: String,
    pub store_revision: i64,
    /// `full` or `incremental`.
    pub mode: String,
    pub offres_evaluees: i64,
    pub created: i64,
    pub updated: i64,
    pub withdrawn: i64,
    pub unchanged: i64,
    pub published: i64,
    pub rejected: i64,
    /// `pipeline::PassCounts` as JSON text.
    #[serde(skip)]
    pub counts: String,
    pub forced: bool,
    pub file_path: String,
    pub out_path: String,
    /// `blake3:…`, or `sha256:…` before migration 0015 (`crate::digest`).
    #[sqlx(try_from = "String")]
    pub file_digest: DocumentDigest,
    pub file_bytes: i64,
    /// Size, modification time and inode of the file as written (`export::fingerprint`).
    pub file_fingerprint: String,
}

/// A generation to insert (its id comes from the database).
#[derive(Clone, Debug)]
pub struct NewGeneration {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub horodatage_export: String,
    pub today: String,
    pub format_version: String,
    pub rules_hash: String,
    pub store_revision: i64,
    pub mode: String,
    pub offres_evaluees: i64,
    pub created: i64,
    pub updated: i64,
    pub withdrawn: i64,
    pub unchanged: i64,
    pub published: i64,
    pub rejected: i64,
    pub counts: String,
    pub forced: bool,
    pub file_path: String,
    pub out_path: String,
    /// `blake3:…`, or `sha256:…` before migration 0015 (`crate::digest`).
    pub file_digest: DocumentDigest,
    pub file_bytes: i64,
    /// Size, modification time and inode of the file as written (`export::fingerprint`).
    pub file_fingerprint: String,
}

/// A live published offer, read in numeric order.
#[derive(Clone, Debug)]
pub struct PublishedRow {
    pub numero: ActionCode,
    pub hash: String,
    /// Read only when asked for; as stored (UTF-8 once decompressed), since it is only
    /// copied.
    pub fragment: Option<fragments::StoredFragment>,
}

/// An offer created or updated by a generation.
#[derive(Clone, Debug)]
pub struct PublishedWrite {
    pub numero: ActionCode,
    pub hash: String,
    /// The fragment as stored: [`super::fragments::compress`].
    pub fragment_compressed: Vec<u8>,
    /// JSON arrays.
    pub programmes: String,
    pub departements: String,
}

/// One row of the `changes` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRow {
    pub generation: i64,
    pub numero: ActionCode,
    /// `created`, `updated` or `withdrawn`.
    pub op: String,
    pub hash: String,
}

/// The evaluation state of one offer, as stored.
#[derive(Clone, Debug)]
pub struct EvaluationRow {
    pub numero: ActionCode,
    pub revision: i64,
    pub next_recheck: Option<i64>,
    pub counts: String,
}

/// The evaluation state of one offer, to write.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct EvaluationWrite {
    pub numero: ActionCode,
    pub revision: i64,
    /// `YYYYMMDD` as a number.
    pub next_recheck: Option<i64>,
    pub counts: String,
    pub sirets: Vec<Siret>,
    /// The offer's rule findings for the status page (`crate::generation::rejections`), if
    /// any, as stored: their JSON compressed ([`super::fragments::compress`]). In the
    /// export's spill file (JSON lines) they are base64, which needs no escaping either way.
    #[serde(with = "base64_bytes")]
    pub findings_compressed: Option<Vec<u8>>,
}

/// `Option<Vec<u8>>` as an optional base64 string, for [`EvaluationWrite`]'s spill file.
mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_some(&STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| STANDARD.decode(t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

type Key2 = (i64, i64);

fn codes(keys: Vec<Key2>) -> Result<Vec<ActionCode>> {
    keys.into_iter().map(|(f, a)| action_code(f, a)).collect()
}

/// The offers' keys as `[formation, action]` pairs, sorted and without duplicates: what
/// the key-list queries bind.
pub(super) fn key_list(numeros: &[ActionCode]) -> Result<Vec<[i64; 2]>> {
    let mut keys = numeros
        .iter()
        .map(|k| action_key(*k).map(|(f, a)| [f, a]))
        .collect::<Result<Vec<_>>>()?;
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

impl Store {
    /// The last committed generation, if any.
    pub async fn last_generation(&self) -> Result<Option<GenerationRow>> {
        let sql = format!("SELECT {GENERATION_COLUMNS} FROM generations ORDER BY id DESC LIMIT 1");
        Ok(on_pool!(self, pool => {
            sqlx::query_as(&sql).fetch_optional(pool).await?
        }))
    }

    /// One generation by id.
    pub async fn generation(&self, id: i64) -> Result<Option<GenerationRow>> {
        let sql = format!("SELECT {GENERATION_COLUMNS} FROM generations WHERE id = $1");
        Ok(on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        }))
    }

    /// The last `limit` generations, newest first.
    pub async fn generations(&self, limit: i64) -> Result<Vec<GenerationRow>> {
        let sql = format!("SELECT {GENERATION_COLUMNS} FROM generations ORDER BY id DESC LIMIT $1");
        Ok(on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?
        }))
    }

    /// Live published offers (tombstones left out) strictly after `after`, in numeric
    /// order, at most `limit`; with their fragments when `fragments`.
    pub async fn published_page(
        &self,
        after: Option<ActionCode>,
        limit: u32,
        fragments: bool,
    ) -> Result<Vec<PublishedRow>> {
        let (f, a) = match after {
            Some(code) => action_key(code)?,
            None => (0, 0),
        };
        // Fragments come back as bytes: no UTF-8 check nor terminator copy for what is only
        // copied to a file. SQLite hands TEXT out as a blob; PostgreSQL converts (a copy in
        // a UTF-8 database).
        let plain = match self {
            Store::Sqlite(_) => "fragment",
            Store::Postgres(_) => "convert_to(fragment, 'UTF8')",
        };
        let columns = fragments::select_columns(plain, if fragments { "TRUE" } else { "FALSE" });
        let sql = format!(
            "SELECT formation_no, action_no, hash, {columns} FROM published \
             WHERE withdrawn_generation IS NULL AND (formation_no, action_no) > ($1, $2) \
             ORDER BY formation_no, action_no LIMIT $3"
        );
        type Row = (i64, i64, String, Option<Vec<u8>>, Option<Vec<u8>>);
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(f).bind(a).bind(i64::from(limit)).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(f, a, hash, lz4, plain)| {
                Ok(PublishedRow {
                    numero: action_code(f, a)?,
                    hash,
                    fragment: fragments::StoredFragment::from_columns(lz4, plain),
                })
            })
            .collect()
    }

    /// The offers whose evaluation is due by `day` (`YYYYMMDD`): a session ended or an
    /// information collective passed since they were evaluated.
    pub async fn evaluations_due(&self, day: i64) -> Result<Vec<ActionCode>> {
        let keys: Vec<Key2> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT formation_no, action_no FROM evaluations WHERE next_recheck <= $1",
            )
            .bind(day)
            .fetch_all(pool)
            .await?
        });
        codes(keys)
    }

    /// The evaluated offers that refer to one of these organismes.
    pub async fn evaluations_referring_to(&self, sirets: &[Siret]) -> Result<Vec<ActionCode>> {
        let mut out = Vec::new();
        for chunk in sirets.chunks(ROWS_PER_STATEMENT) {
            let keys: Vec<Key2> = on_pool!(self, pool => {
                let mut qb = QueryBuilder::new(
                    "SELECT DISTINCT formation_no, action_no FROM evaluation_organismes \
                     WHERE siret IN (",
                );
                let mut list = qb.separated(", ");
                for s in chunk {
                    list.push_bind(s.as_str());
                }
                qb.push(")");
                qb.build_query_as().fetch_all(pool).await?
            });
            out.extend(codes(keys)?);
        }
        Ok(out)
    }

    /// The stored evaluations of these offers (those that have one), in numeric order.
    pub async fn evaluations_in(&self, numeros: &[ActionCode]) -> Result<Vec<EvaluationRow>> {
        let keys = key_list(numeros)?;
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<(i64, i64, i64, Option<i64>, String)> = on_pool!(self, pool => {
                let mut qb = QueryBuilder::new(
                    "SELECT formation_no, action_no, revision, next_recheck, counts \
                     FROM evaluations WHERE ",
                );
                push_key_list(&mut qb, "formation_no, action_no", chunk);
                qb.push(" ORDER BY formation_no, action_no");
                qb.build_query_as().fetch_all(pool).await?
            });
            for (f, a, revision, next_recheck, counts) in rows {
                out.push(EvaluationRow {
                    numero: action_code(f, a)?,
                    revision,
                    next_recheck,
                    counts,
                });
            }
        }
        Ok(out)
    }

    /// The history, up to generation `to`, of every offer that changed in a generation
    /// after `from` and up to `to`: per offer in numeric order, by generation.
    pub async fn changes_history(&self, from: i64, to: i64) -> Result<Vec<ChangeRow>> {
        let rows: Vec<(i64, i64, i64, String, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT generation, formation_no, action_no, op, hash FROM changes \
                 WHERE generation <= $2 AND (formation_no, action_no) IN \
                 (SELECT formation_no, action_no FROM changes \
                  WHERE generation > $1 AND generation <= $2) \
                 ORDER BY formation_no, action_no, generation",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(generation, f, a, op, hash)| {
                Ok(ChangeRow {
                    generation,
                    numero: action_code(f, a)?,
                    op,
                    hash,
                })
            })
            .collect()
    }

    /// Starts the write transaction of a new generation, after `expected_last` (None: the
    /// first). Waits for another export's write transaction to end, then fails if a
    /// generation was committed after `expected_last` meanwhile: the caller computed its
    /// change set against a generation that is no longer the last.
    pub async fn begin_generation(&self, expected_last: Option<i64>) -> Result<GenerationTx> {
        let mut tx = match self {
            Store::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await.context(
                "cannot start the export's write transaction: an import may hold the SQLite \
                 database (it has a single writer); wait for it to finish and retry",
            )?),
            Store::Postgres(pool) => {
                let mut tx = pool
                    .begin()
                    .await
                    .context("cannot start the export's write transaction")?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(GENERATION_LOCK_KEY)
                    .execute(&mut *tx)
                    .await?;
                Tx::Postgres(tx)
            }
        };
        let last: Option<i64> = on_tx!(&mut tx, conn => {
            sqlx::query_scalar("SELECT MAX(id) FROM generations").fetch_one(&mut *conn).await?
        });
        if last != expected_last {
            bail!(
                "another export committed generation {} while this one ran (it started from {}); \
                 nothing was published by this run: run the export again",
                last.unwrap_or(0),
                expected_last.map_or_else(|| "none".to_owned(), |g| g.to_string())
            );
        }
        Ok(GenerationTx { tx })
    }
}

/// The write transaction of one generation. Dropping it without [`GenerationTx::commit`]
/// rolls everything back.
pub struct GenerationTx {
    tx: Tx,
}

impl GenerationTx {
    fn rows_per_statement(&self, binds: usize, cap: usize) -> usize {
        let limit = match self.tx {
            Tx::Sqlite(_) => MAX_BINDS_SQLITE,
            Tx::Postgres(_) => MAX_BINDS_POSTGRES,
        };
        (limit / binds).min(cap)
    }

    /// Inserts the generation row and returns its id.
    pub async fn insert_generation(&mut self, g: &NewGeneration) -> Result<i64> {
        let id: i64 = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(
                "INSERT INTO generations (started_at, finished_at, horodatage_export, today, \
                 format_version, rules_hash, store_revision, mode, offres_evaluees, created, \
                 updated, withdrawn, unchanged, published, rejected, counts, forced, file_path, \
                 out_path, file_digest, file_bytes, file_fingerprint) VALUES ($1, $2, $3, $4, $5, \
                 $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) \
                 RETURNING id",
            )
            .bind(g.started_at)
            .bind(g.finished_at)
            .bind(&g.horodatage_export)
            .bind(&g.today)
            .bind(&g.format_version)
            .bind(&g.rules_hash)
            .bind(g.store_revision)
            .bind(&g.mode)
            .bind(g.offres_evaluees)
            .bind(g.created)
            .bind(g.updated)
            .bind(g.withdrawn)
            .bind(g.unchanged)
            .bind(g.published)
            .bind(g.rejected)
            .bind(&g.counts)
            .bind(g.forced)
            .bind(&g.file_path)
            .bind(&g.out_path)
            .bind(g.file_digest.to_string())
            .bind(g.file_bytes)
            .bind(&g.file_fingerprint)
            .fetch_one(&mut *conn)
            .await
            .context("cannot record the generation")?
        });
        Ok(id)
    }

    /// Sets the path of the generation's own file (known once its id is).
    pub async fn set_file_path(&mut self, id: i64, path: &str) -> Result<()> {
        on_tx!(&mut self.tx, conn => {
            sqlx::query("UPDATE generations SET file_path = $1 WHERE id = $2")
                .bind(path)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }

    /// Creates or replaces published offers (a tombstone comes back to life).
    pub async fn write_published(
        &mut self,
        generation: i64,
        rows: &[PublishedWrite],
    ) -> Result<()> {
        let keyed = rows
            .iter()
            .map(|r| action_key(r.numero).map(|k| (k, r)))
            .collect::<Result<Vec<_>>>()?;
        let per = self.rows_per_statement(9, PUBLISHED_ROWS_PER_STATEMENT);
        for chunk in keyed.chunks(per) {
            on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO published (formation_no, action_no, numero, hash, fragment, \
                     fragment_compressed, generation, programmes, departements) ",
                );
                qb.push_values(chunk, |mut b, ((f, a), r)| {
                    b.push_bind(*f)
                        .push_bind(*a)
                        .push_bind(r.numero.to_string())
                        .push_bind(r.hash.as_str())
                        .push_bind("")
                        .push_bind(r.fragment_compressed.as_slice())
                        .push_bind(generation)
                        .push_bind(r.programmes.as_str())
                        .push_bind(r.departements.as_str());
                });
                qb.push(
                    " ON CONFLICT (formation_no, action_no) DO UPDATE SET numero = excluded.numero, \
                     hash = excluded.hash, fragment = excluded.fragment, \
                     fragment_compressed = excluded.fragment_compressed, \
                     generation = excluded.generation, withdrawn_generation = NULL, \
                     withdrawn_at = NULL, programmes = excluded.programmes, \
                     departements = excluded.departements",
                );
                qb.build().execute(&mut *conn).await.context("cannot write published offers")?;
            });
        }
        Ok(())
    }

    /// Turns published offers into tombstones of this generation.
    pub async fn withdraw(
        &mut self,
        generation: i64,
        at: DateTime<Utc>,
        numeros: &[ActionCode],
    ) -> Result<()> {
        let keys = key_list(numeros)?;
        let per = self.rows_per_statement(2, ROWS_PER_STATEMENT);
        for chunk in keys.chunks(per) {
            on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new("UPDATE published SET withdrawn_generation = ");
                qb.push_bind(generation);
                qb.push(", generation = ");
                qb.push_bind(generation);
                qb.push(", withdrawn_at = ");
                qb.push_bind(at);
                qb.push(" WHERE ");
                push_key_list(&mut qb, "formation_no, action_no", chunk);
                qb.build().execute(&mut *conn).await.context("cannot record withdrawals")?;
            });
        }
        Ok(())
    }

    /// Records the change set.
    pub async fn insert_changes(&mut self, rows: &[ChangeRow]) -> Result<()> {
        let keyed = rows
            .iter()
            .map(|r| action_key(r.numero).map(|k| (k, r)))
            .collect::<Result<Vec<_>>>()?;
        let per = self.rows_per_statement(6, ROWS_PER_STATEMENT);
        for chunk in keyed.chunks(per) {
            on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO changes (generation, formation_no, action_no, numero, op, hash) ",
                );
                qb.push_values(chunk, |mut b, ((f, a), r)| {
                    b.push_bind(r.generation)
                        .push_bind(*f)
                        .push_bind(*a)
                        .push_bind(r.numero.to_string())
                        .push_bind(r.op.as_str())
                        .push_bind(r.hash.as_str());
                });
                qb.build().execute(&mut *conn).await.context("cannot record the change set")?;
            });
        }
        Ok(())
    }

    /// Forgets every evaluation (before a full pass writes them all again).
    pub async fn clear_evaluations(&mut self) -> Result<()> {
        on_tx!(&mut self.tx, conn => {
            sqlx::query("DELETE FROM evaluation_organismes").execute(&mut *conn).await?;
            sqlx::query("DELETE FROM evaluations").execute(&mut *conn).await?;
        });
        Ok(())
    }

    /// Forgets the evaluations of these offers (before writing the new ones).
    pub async fn delete_evaluations(&mut self, numeros: &[ActionCode]) -> Result<()> {
        let keys = key_list(numeros)?;
        let per = self.rows_per_statement(2, ROWS_PER_STATEMENT);
        for chunk in keys.chunks(per) {
            on_tx!(&mut self.tx, conn => {
                for table in ["evaluation_organismes", "evaluations"] {
                    let mut qb = QueryBuilder::new(format!("DELETE FROM {table} WHERE "));
                    push_key_list(&mut qb, "formation_no, action_no", chunk);
                    qb.build().execute(&mut *conn).await?;
                }
            });
        }
        Ok(())
    }

    /// Writes evaluations (of offers that have none: delete first).
    pub async fn insert_evaluations(&mut self, rows: &[EvaluationWrite]) -> Result<()> {
        let keyed = rows
            .iter()
            .map(|r| action_key(r.numero).map(|k| (k, r)))
            .collect::<Result<Vec<_>>>()?;
        let per = self.rows_per_statement(6, ROWS_PER_STATEMENT);
        for chunk in keyed.chunks(per) {
            on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO evaluations (formation_no, action_no, revision, next_recheck, \
                     counts, findings_compressed) ",
                );
                qb.push_values(chunk, |mut b, ((f, a), r)| {
                    b.push_bind(*f)
                        .push_bind(*a)
                        .push_bind(r.revision)
                        .push_bind(r.next_recheck)
                        .push_bind(r.counts.as_str())
                        .push_bind(r.findings_compressed.as_deref());
                });
                qb.build().execute(&mut *conn).await.context("cannot record evaluations")?;
            });
        }
        let refs: Vec<(&str, i64, i64)> = keyed
            .iter()
            .flat_map(|((f, a), r)| r.sirets.iter().map(move |s| (s.as_str(), *f, *a)))
            .collect();
        let per = self.rows_per_statement(3, ROWS_PER_STATEMENT);
        for chunk in refs.chunks(per) {
            on_tx!(&mut self.tx, conn => {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO evaluation_organismes (siret, formation_no, action_no) ",
                );
                qb.push_values(chunk, |mut b, (s, f, a)| {
                    b.push_bind(*s).push_bind(*f).push_bind(*a);
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut *conn).await.context("cannot record evaluations")?;
            });
        }
        Ok(())
    }

    /// Records the runs of scope values (`published_scopes`, migration 0011) that this
    /// generation ended and began, from the published rows it stamped: call it after the
    /// generation's offers and withdrawals are written. Driven by `published_by_generation`,
    /// so it costs what the generation changed.
    pub async fn record_scopes(&mut self, generation: i64) -> Result<()> {
        on_tx!(&mut self.tx, conn => {
            // End the runs whose offer was withdrawn or now has other values.
            sqlx::query(
                "UPDATE published_scopes SET until_generation = $1 FROM published p \
                 WHERE p.generation = $2 AND p.formation_no = published_scopes.formation_no \
                 AND p.action_no = published_scopes.action_no \
                 AND published_scopes.until_generation IS NULL \
                 AND (p.withdrawn_generation IS NOT NULL \
                      OR p.programmes <> published_scopes.programmes \
                      OR p.departements <> published_scopes.departements)",
            )
            .bind(generation)
            .bind(generation)
            .execute(&mut *conn)
            .await
            .context("cannot end the offers' previous scope values")?;
            // Begin a run for every live offer stamped now that has none open.
            sqlx::query(
                "INSERT INTO published_scopes (formation_no, action_no, since_generation, \
                 until_generation, programmes, departements) \
                 SELECT p.formation_no, p.action_no, $1, NULL, p.programmes, p.departements \
                 FROM published p WHERE p.generation = $2 AND p.withdrawn_generation IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM published_scopes s \
                 WHERE s.formation_no = p.formation_no AND s.action_no = p.action_no \
                 AND s.until_generation IS NULL)",
            )
            .bind(generation)
            .bind(generation)
            .execute(&mut *conn)
            .await
            .context("cannot record the offers' scope values")?;
        });
        Ok(())
    }

    /// Deletes tombstones withdrawn before `before` (and their scope values); returns how
    /// many.
    pub async fn purge_tombstones(&mut self, before: DateTime<Utc>) -> Result<u64> {
        on_tx!(&mut self.tx, conn => {
            sqlx::query(
                "DELETE FROM published_scopes WHERE (formation_no, action_no) IN \
                 (SELECT formation_no, action_no FROM published \
                  WHERE withdrawn_at IS NOT NULL AND withdrawn_at < $1)",
            )
            .bind(before)
            .execute(&mut *conn)
            .await
            .context("cannot purge the scope values of purged tombstones")?;
        });
        let n = on_tx!(&mut self.tx, conn => {
            sqlx::query("DELETE FROM published WHERE withdrawn_at IS NOT NULL AND withdrawn_at < $1")
                .bind(before)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        Ok(n)
    }

    /// How many tombstones are kept.
    pub async fn tombstones(&mut self) -> Result<u64> {
        let n: i64 = on_tx!(&mut self.tx, conn => {
            // withdrawn_at is set with withdrawn_generation; its partial index answers.
            sqlx::query_scalar("SELECT COUNT(*) FROM published WHERE withdrawn_at IS NOT NULL")
                .fetch_one(&mut *conn)
                .await?
        });
        u64::try_from(n).map_err(|_| anyhow!("negative count"))
    }

    /// Writes the outbox rows of this generation (`migrations/*/0004_outbox.sql`): one per
    /// enabled consumer, in this same transaction, so that a committed generation is never
    /// missed by the pusher (`crate::push`) and a rolled-back one never sent. Call it only
    /// for a generation that changed something. `at_ms`: epoch milliseconds.
    pub async fn enqueue_deliveries(&mut self, generation: i64, at_ms: i64) -> Result<u64> {
        let n = on_tx!(&mut self.tx, conn => {
            sqlx::query(
                "INSERT INTO deliveries (consumer, generation, created_at) \
                 SELECT name, $1, $2 FROM consumers WHERE enabled = 1",
            )
            .bind(generation)
            .bind(at_ms)
            .execute(&mut *conn)
            .await
            .context("cannot write the outbox rows")?
            .rows_affected()
        });
        Ok(n)
    }

    /// Commits the generation.
    pub async fn commit(self) -> Result<()> {
        match self.tx {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
        .context("cannot commit the generation")
    }
}
