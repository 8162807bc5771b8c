//! Drafts the model cannot hold (`ingest::brouillon`), and the offers not yet validated,
//! as `check` lists them: per organisme, which required fields are still missing.
//!
//! Same conventions as the parent module: one query text for both engines, written inside
//! the import's transaction; re-importing the same draft leaves its row alone.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use super::{ImportTx, Store, Tx};
use crate::model::ChampManquant;
use crate::model::{ActionCode, EtatWorkflow, Siret};

/// A draft, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct BrouillonRow {
    pub numero: ActionCode,
    pub mandataire: Siret,
    pub etat: EtatWorkflow,
    pub manquants: Vec<ChampManquant>,
    /// The `offre` object as received.
    pub doc: serde_json::Value,
}

const UPSERT_BROUILLON: &str = "INSERT INTO brouillons (numero, mandataire, etat, manquants, \
     doc, revision) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (numero) DO UPDATE SET \
     mandataire = excluded.mandataire, etat = excluded.etat, manquants = excluded.manquants, \
     doc = excluded.doc, revision = excluded.revision \
     WHERE brouillons.doc <> excluded.doc OR brouillons.manquants <> excluded.manquants \
     RETURNING numero";
const BROUILLON_EXISTS: &str = "SELECT 1 FROM brouillons WHERE numero = $1";
const DELETE_BROUILLON: &str = "DELETE FROM brouillons WHERE numero = $1";
const BROUILLON_NUMEROS: &str = "SELECT numero FROM brouillons";
const ALL_BROUILLONS: &str = "SELECT numero, mandataire, etat, manquants, doc FROM brouillons";
const NOT_VALIDATED: &str = "SELECT formation_no, action_no FROM offres WHERE etat <> $1 \
     ORDER BY formation_no, action_no";

fn etat(s: &str) -> Result<EtatWorkflow> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .with_context(|| format!("stored draft state {s:?} is unknown"))
}

impl Store {
    /// Every stored draft, in numeric `F-A` order.
    pub async fn brouillons(&self) -> Result<Vec<BrouillonRow>> {
        let rows: Vec<(String, String, String, String, String)> = on_pool!(self, pool => {
            sqlx::query_as(ALL_BROUILLONS).fetch_all(pool).await?
        });
        let mut out: BTreeMap<ActionCode, BrouillonRow> = BTreeMap::new();
        for (numero, mandataire, e, manquants, doc) in rows {
            let code = ActionCode::parse(&numero)
                .map_err(|e| anyhow::anyhow!("stored draft numero {numero:?}: {e}"))?;
            out.insert(
                code,
                BrouillonRow {
                    numero: code,
                    mandataire: Siret::parse(&mandataire)
                        .map_err(|e| anyhow::anyhow!("stored draft {numero}: {e}"))?,
                    etat: etat(&e)?,
                    manquants: serde_json::from_str(&manquants)
                        .with_context(|| format!("stored draft {numero}: missing fields"))?,
                    doc: serde_json::from_str(&doc)
                        .with_context(|| format!("stored draft {numero}: document"))?,
                },
            );
        }
        Ok(out.into_values().collect())
    }

    /// The stored offers that are not validated (complete drafts), with their sessions.
    pub async fn offres_non_validees(&self) -> Result<Vec<crate::model::Offre>> {
        let keys: Vec<(i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(NOT_VALIDATED)
                .bind(EtatWorkflow::Validee.as_str())
                .fetch_all(pool).await?
        });
        let numeros = keys
            .into_iter()
            .map(|(f, a)| {
                let (f, a) = (u64::try_from(f)?, u64::try_from(a)?);
                Ok(ActionCode {
                    formation: f,
                    action: a,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.offres_in(&numeros).await
    }
}

impl ImportTx {
    /// Creates or replaces drafts. Counts: created, changed, unchanged.
    pub async fn upsert_brouillons(
        &mut self,
        batch: &[BrouillonRow],
    ) -> Result<super::UpsertCounts> {
        let rev = self.revision;
        let mut counts = super::UpsertCounts::default();
        for b in batch {
            let numero = b.numero.to_string();
            let existed: Option<i32> = on_tx!(&mut self.tx, conn => {
                sqlx::query_scalar(BROUILLON_EXISTS).bind(numero.as_str())
                    .fetch_optional(&mut *conn).await?
            });
            let manquants = serde_json::to_string(&b.manquants).expect("serialisable");
            let doc = serde_json::to_string(&b.doc).expect("serialisable");
            let written: Option<String> = on_tx!(&mut self.tx, conn => {
                sqlx::query_scalar(UPSERT_BROUILLON)
                    .bind(numero.as_str()).bind(b.mandataire.as_str()).bind(b.etat.as_str())
                    .bind(manquants.as_str()).bind(doc.as_str()).bind(rev)
                    .fetch_optional(&mut *conn).await.context("cannot write a draft")?
            });
            match (existed.is_some(), written.is_some()) {
                (false, _) => counts.created += 1,
                (true, true) => counts.changed += 1,
                (true, false) => counts.unchanged += 1,
            }
        }
        Ok(counts)
    }

    /// The numeros of the stored drafts (usually few: read once per import, so that
    /// offers without a draft cost no query).
    pub async fn brouillon_numeros(&mut self) -> Result<std::collections::HashSet<String>> {
        let numeros: Vec<String> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(BROUILLON_NUMEROS).fetch_all(&mut *conn).await?
        });
        Ok(numeros.into_iter().collect())
    }

    /// Drops the drafts these offers supersede (an offre line is the whole truth about its
    /// action, complete drafts included).
    pub async fn delete_brouillons(&mut self, numeros: &[ActionCode]) -> Result<()> {
        for n in numeros {
            let n = n.to_string();
            on_tx!(&mut self.tx, conn => {
                sqlx::query(DELETE_BROUILLON).bind(n.as_str()).execute(&mut *conn).await
                    .context("cannot delete a superseded draft")?;
            });
        }
        Ok(())
    }
}
