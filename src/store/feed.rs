//! The partner feed's tables and reads (`migrations/*/0005_partners.sql`): partners and
//! their hashed keys, the published offers by the generation that last changed them (the
//! changes feed), one offer, and the findings the status page groups.
//!
//! The logic (keys, scopes, cursors, HTTP) is in `crate::serve::partners` and `crate::serve`.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};

use super::{action_code, action_key, fragments, Store};
use crate::model::ActionCode;

/// Whether a restriction (a partner's scope list, a consumer's filter list) lets through
/// an offer whose published values are `json` (a JSON array, as `published.programmes` /
/// `published.departements` hold them): an empty restriction lets everything through,
/// otherwise one of the values must be in it. Unreadable values never pass, so a
/// restricted reader never gets what cannot be checked. The partners' scopes and the
/// consumers' filters both decide with it, so the two cannot drift apart.
pub fn restriction_allows(restriction: &std::collections::BTreeSet<String>, json: &str) -> bool {
    restriction.is_empty()
        || serde_json::from_str::<Vec<String>>(json)
            .is_ok_and(|values| values.iter().any(|v| restriction.contains(v)))
}

/// A partner as stored (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PartnerRow {
    pub id: i64,
    pub name: String,
    pub key_prefix: String,
    /// hex(SHA-256(key)).
    pub key_sha256: String,
    /// JSON (`crate::serve::partners::Scope`).
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A published offer or tombstone, as the changes feed lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedRow {
    /// The generation that last created, updated or withdrew it.
    pub generation: i64,
    pub numero: ActionCode,
    pub hash: String,
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// JSON arrays.
    pub programmes: String,
    pub departements: String,
    /// Only when asked for, and only for live offers.
    pub fragment: Option<String>,
}

/// One published offer or tombstone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferRow {
    pub generation: i64,
    pub hash: String,
    pub withdrawn_generation: Option<i64>,
    pub programmes: String,
    pub departements: String,
    pub fragment: String,
}

type FeedTuple = (
    i64,
    i64,
    i64,
    String,
    Option<DateTime<Utc>>,
    String,
    String,
    Option<Vec<u8>>,
    Option<String>,
);

/// A withdrawal after generation `$1` whose tombstone is gone. Every changes page with a
/// cursor asks it, so it must read the withdrawals after the cursor through the partial
/// index `changes_withdrawn` (migration 0012), never the whole history (a test below
/// checks SQLite's plan).
const PURGED_WITHDRAWAL: &str = "SELECT c.generation FROM changes c \
     WHERE c.generation > $1 AND c.op = 'withdrawn' \
     AND NOT EXISTS (SELECT 1 FROM published p WHERE p.formation_no = c.formation_no \
     AND p.action_no = c.action_no) LIMIT 1";

impl Store {
    /// The server secret `name` (hex), drawn by `draw` and stored the first time it is
    /// asked for; every instance then reads the same one (the first insert wins).
    pub async fn server_secret(&self, name: &str, draw: impl FnOnce() -> String) -> Result<String> {
        let drawn = draw();
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO server_secrets (name, secret) VALUES ($1, $2) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(&drawn)
            .execute(pool)
            .await
            .context("cannot record a server secret")?;
        });
        let secret: String = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT secret FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await
                .context("cannot read a server secret")?
        });
        Ok(secret)
    }

    /// Records a partner; fails if the name is taken.
    pub async fn insert_partner(
        &self,
        name: &str,
        key_prefix: &str,
        key_sha256: &str,
        scope: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let exists: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT id FROM partners WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        if exists.is_some() {
            bail!(
                "a partner named {name:?} already exists: choose another name, or revoke it \
                 first (`lheo-feed partner revoke {name}`) and add it under a new name"
            );
        }
        let id: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO partners (name, key_prefix, key_sha256, scope, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(name)
            .bind(key_prefix)
            .bind(key_sha256)
            .bind(scope)
            .bind(now)
            .fetch_one(pool)
            .await
            .context("cannot record the partner")?
        });
        Ok(id)
    }

    /// Every partner, revoked ones included, by name.
    pub async fn partners(&self) -> Result<Vec<PartnerRow>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, name, key_prefix, key_sha256, scope, created_at, revoked_at \
                 FROM partners ORDER BY name",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    /// Revokes a partner's key; false when there is no such partner or it was revoked.
    pub async fn revoke_partner(&self, name: &str, now: DateTime<Utc>) -> Result<bool> {
        let n = on_pool!(self, pool => {
            sqlx::query("UPDATE partners SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Published offers and tombstones strictly after `(generation, numero)` in the order
    /// (generation that last changed them, numeric key), stamped by a generation up to
    /// `upto_generation`, at most `limit`; with the
    /// fragments of live offers when `fragments`. One statement: one consistent snapshot,
    /// so a page never holds half of a generation's commit.
    pub async fn feed_page(
        &self,
        after_generation: i64,
        after: (i64, i64),
        upto_generation: i64,
        limit: u32,
        fragments: bool,
    ) -> Result<Vec<FeedRow>> {
        let fragment = fragments::select_columns(
            "fragment",
            if fragments {
                "withdrawn_generation IS NULL"
            } else {
                "FALSE"
            },
        );
        let sql = format!(
            "SELECT generation, formation_no, action_no, hash, withdrawn_at, programmes, \
             departements, {fragment} FROM published \
             WHERE (generation, formation_no, action_no) > ($1, $2, $3) AND generation <= $4 \
             ORDER BY generation, formation_no, action_no LIMIT $5"
        );
        let rows: Vec<FeedTuple> = on_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(after_generation)
                .bind(after.0)
                .bind(after.1)
                .bind(upto_generation)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(
                |(g, f, a, hash, withdrawn_at, programmes, departements, lz4, plain)| {
                    Ok(FeedRow {
                        generation: g,
                        numero: action_code(f, a)?,
                        hash,
                        withdrawn_at,
                        programmes,
                        departements,
                        fragment: fragments::decode_text(lz4, plain)?,
                    })
                },
            )
            .collect()
    }

    /// The scope values these offers were published with in runs that ended after
    /// generation `after` (`published_scopes`, migration 0011): what a partner whose
    /// horizon is `after` may hold of them besides their current values. One statement per
    /// chunk of keys, each an index probe, so a page costs what it holds.
    pub async fn ended_scopes(
        &self,
        numeros: &[ActionCode],
        after: i64,
    ) -> Result<Vec<(ActionCode, String, String)>> {
        let keys = super::generations::key_list(numeros)?;
        let mut out = Vec::new();
        for chunk in keys.chunks(500) {
            let rows: Vec<(i64, i64, String, String)> = on_pool!(self, pool => {
                let mut qb = sqlx::QueryBuilder::new(
                    "SELECT formation_no, action_no, programmes, departements \
                     FROM published_scopes WHERE until_generation > ",
                );
                qb.push_bind(after);
                qb.push(" AND ");
                super::push_key_list(&mut qb, "formation_no, action_no", chunk);
                qb.build_query_as().fetch_all(pool).await?
            });
            for (f, a, p, d) in rows {
                out.push((action_code(f, a)?, p, d));
            }
        }
        Ok(out)
    }

    /// Whether a withdrawal recorded after generation `after` has lost its tombstone (the
    /// retention purged it, and the offer has not come back): a consumer that last saw
    /// generation `after` cannot learn that deletion from the feed any more.
    pub async fn deletion_purged_after(&self, after: i64) -> Result<bool> {
        let found: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(PURGED_WITHDRAWAL)
            .bind(after)
            .fetch_optional(pool)
            .await?
        });
        Ok(found.is_some())
    }

    /// One published offer or tombstone.
    pub async fn published_offer(&self, numero: ActionCode) -> Result<Option<OfferRow>> {
        let (f, a) = action_key(numero)?;
        type Row = (
            i64,
            String,
            Option<i64>,
            String,
            String,
            Option<Vec<u8>>,
            Option<String>,
        );
        let sql = format!(
            "SELECT generation, hash, withdrawn_generation, programmes, departements, {} \
             FROM published WHERE formation_no = $1 AND action_no = $2",
            fragments::select_columns("fragment", "TRUE")
        );
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(&sql)
            .bind(f)
            .bind(a)
            .fetch_optional(pool)
            .await?
        });
        row.map(
            |(generation, hash, withdrawn_generation, programmes, departements, lz4, plain)| {
                Ok(OfferRow {
                    generation,
                    hash,
                    withdrawn_generation,
                    programmes,
                    departements,
                    fragment: fragments::decode_text(lz4, plain)?.unwrap_or_default(),
                })
            },
        )
        .transpose()
    }

    /// Every live published offer's key and filter values, in numeric order (a scoped
    /// partner's snapshot keeps those its scope allows).
    pub async fn published_filters(&self) -> Result<Vec<(ActionCode, String, String)>> {
        let rows: Vec<(i64, i64, String, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT formation_no, action_no, programmes, departements FROM published \
                 WHERE withdrawn_generation IS NULL ORDER BY formation_no, action_no",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(f, a, p, d)| Ok((action_code(f, a)?, p, d)))
            .collect()
    }

    /// The stored findings of the current generation (`crate::generation::rejections`), in numeric
    /// order of the offers.
    pub async fn evaluation_findings(&self) -> Result<Vec<String>> {
        // Compressed since migration 0013; rows written before it keep their plain JSON.
        let rows: Vec<(Option<Vec<u8>>, Option<String>)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT findings_compressed, \
                 CASE WHEN findings_compressed IS NULL THEN findings END FROM evaluations \
                 WHERE findings_compressed IS NOT NULL OR findings IS NOT NULL \
                 ORDER BY formation_no, action_no",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(lz4, plain)| {
                fragments::decode_text(lz4, plain)
                    .context("cannot read the stored rule findings of an offer")
                    .map(Option::unwrap_or_default)
            })
            .collect()
    }

    /// The newest generation's id and end time (cheap: the 304 path asks it every time).
    pub async fn last_generation_id(&self) -> Result<Option<(i64, DateTime<Utc>)>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT id, finished_at FROM generations ORDER BY id DESC LIMIT 1")
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The purge check reads withdrawals by the partial index, not every change: a full
    /// scan made each changes page cost the size of the history (issue 20).
    #[tokio::test]
    async fn the_purge_check_reads_only_withdrawals() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.sqlite").display());
        let Store::Sqlite(pool) = Store::open(&url).await.unwrap() else {
            unreachable!("a SQLite URL")
        };
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {PURGED_WITHDRAWAL}"))
                .bind(1_i64)
                .fetch_all(&pool)
                .await
                .unwrap();
        let steps: Vec<&str> = plan.iter().map(|(.., d)| d.as_str()).collect();
        assert!(
            steps
                .iter()
                .any(|d| d.contains("USING INDEX changes_withdrawn")),
            "{steps:?}"
        );
        assert!(!steps.iter().any(|d| d.starts_with("SCAN c")), "{steps:?}");
    }
}
