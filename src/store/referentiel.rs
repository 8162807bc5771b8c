//! The Conseil régional's referential: programmes and lots (`lheo-feed import-region`).
//! Organismes of the Region file go to the `organismes` table like any other, merged
//! with what is stored (see `ingest::region`).
//!
//! Same conventions as the parent module: one query text for both engines, written
//! inside the import's transaction, `WHERE … <> excluded.…` so that re-importing the
//! same file leaves rows (and their revision) alone.

use std::collections::HashSet;

use anyhow::{Context, Result};

use super::{parse_doc, ImportTx, Store, Tx, UpsertCounts};
use crate::model::{Organisme, Siret};

// Lots are a model type (rules judge with them too); re-exported for the store's callers.
pub use crate::model::Lot;

const UPSERT_PROGRAMME: &str = "INSERT INTO programmes (libelle, revision) VALUES ($1, $2) \
     ON CONFLICT (libelle) DO NOTHING RETURNING libelle";
const UPSERT_LOT: &str = "INSERT INTO lots (code, programme, annee, mandataire, revision) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code) DO UPDATE SET programme = excluded.programme, \
     annee = excluded.annee, mandataire = excluded.mandataire, revision = excluded.revision \
     WHERE lots.programme <> excluded.programme OR lots.annee <> excluded.annee \
     OR lots.mandataire <> excluded.mandataire RETURNING code";
const LOT_EXISTS: &str = "SELECT 1 FROM lots WHERE code = $1";
const PROGRAMME_EXISTS: &str = "SELECT 1 FROM programmes WHERE libelle = $1";
const ALL_PROGRAMMES: &str = "SELECT libelle FROM programmes ORDER BY libelle";
const ALL_LOT_CODES: &str = "SELECT code FROM lots";
const ALL_LOTS: &str = "SELECT code, programme, annee, mandataire FROM lots ORDER BY code";
const ORGANISME_DOC: &str = "SELECT doc FROM organismes WHERE siret = $1";

impl Store {
    /// The programmes' labels, sorted.
    pub async fn programmes(&self) -> Result<Vec<String>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar(ALL_PROGRAMMES).fetch_all(pool).await?
        }))
    }

    /// Every lot, by code.
    pub async fn lots(&self) -> Result<Vec<Lot>> {
        let rows: Vec<(String, String, i64, String)> = on_pool!(self, pool => {
            sqlx::query_as(ALL_LOTS).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(code, programme, annee, siret)| {
                let mandataire = Siret::parse(&siret)
                    .map_err(|e| anyhow::anyhow!("stored SIRET {siret:?} is invalid: {e}"))?;
                Ok(Lot {
                    code,
                    programme,
                    annee,
                    mandataire,
                })
            })
            .collect()
    }
}

impl ImportTx {
    /// The codes of all stored lots (empty until a Region file is imported).
    pub async fn lot_codes(&mut self) -> Result<HashSet<String>> {
        let codes: Vec<String> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(ALL_LOT_CODES).fetch_all(&mut *conn).await?
        });
        Ok(codes.into_iter().collect())
    }

    /// Whether the lot is stored.
    pub async fn lot_exists(&mut self, code: &str) -> Result<bool> {
        let found: Option<i32> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(LOT_EXISTS).bind(code).fetch_optional(&mut *conn).await?
        });
        Ok(found.is_some())
    }

    /// Whether the programme is stored.
    pub async fn programme_exists(&mut self, libelle: &str) -> Result<bool> {
        let found: Option<i32> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(PROGRAMME_EXISTS).bind(libelle).fetch_optional(&mut *conn).await?
        });
        Ok(found.is_some())
    }

    /// The stored organisme, if any.
    pub async fn organisme(&mut self, siret: &Siret) -> Result<Option<Organisme>> {
        let doc: Option<String> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(ORGANISME_DOC).bind(siret.as_str()).fetch_optional(&mut *conn).await?
        });
        doc.map(|d| parse_doc(&d, format_args!("organisme {siret}")))
            .transpose()
    }

    /// Creates the programmes not yet stored (a programme is only its label).
    pub async fn upsert_programmes(&mut self, libelles: &[String]) -> Result<UpsertCounts> {
        let rev = self.revision;
        let mut counts = UpsertCounts::default();
        for l in libelles {
            let created: Option<String> = on_tx!(&mut self.tx, conn => {
                sqlx::query_scalar(UPSERT_PROGRAMME).bind(l.as_str()).bind(rev)
                    .fetch_optional(&mut *conn).await.context("cannot write a programme")?
            });
            if created.is_some() {
                counts.created += 1;
            } else {
                counts.unchanged += 1;
            }
        }
        Ok(counts)
    }

    /// Creates or updates lots. Their programmes and mandataires must be stored.
    pub async fn upsert_lots(&mut self, lots: &[Lot]) -> Result<UpsertCounts> {
        let rev = self.revision;
        let mut counts = UpsertCounts::default();
        for lot in lots {
            let existed = self.lot_exists(&lot.code).await?;
            let written: Option<String> = on_tx!(&mut self.tx, conn => {
                sqlx::query_scalar(UPSERT_LOT)
                    .bind(lot.code.as_str()).bind(lot.programme.as_str()).bind(lot.annee)
                    .bind(lot.mandataire.as_str()).bind(rev)
                    .fetch_optional(&mut *conn).await.context("cannot write a lot")?
            });
            match (existed, written.is_some()) {
                (false, _) => counts.created += 1,
                (true, true) => counts.changed += 1,
                (true, false) => counts.unchanged += 1,
            }
        }
        Ok(counts)
    }
}
