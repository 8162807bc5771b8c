//! The rule findings of the current generation, kept per offer so that the status page
//! (`lheo-feed serve`, `/`) can group them by organisme without running the rules again.
//!
//! **Why a column of `evaluations`** (`migrations/*/0005_partners.sql`) rather than a report
//! file beside the snapshot: an incremental export evaluates only the offers that may have
//! changed, so it never has the whole report in hand; the `evaluations` table already holds
//! one row per validated offer as of the current generation, rewritten exactly for the
//! offers evaluated again (and all of them on a full pass). A findings column there stays
//! exact for the same reason the counts do, and is written in the generation's one
//! transaction, so the page never shows findings of a generation that did not commit.
//!
//! What is kept per offer: the organisme the report addresses (as `check` groups them), its
//! name, whether the offer is left out, and each finding with its French message: what
//! `check --format csv` prints, so the page's CSV has the same columns.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::{Organisme, Siret};
use crate::rules::report::CsvWriter;
use crate::rules::{Outcome, Severity};

/// One offer's findings, as stored (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFindings {
    /// SIRET of the organisme the report addresses.
    pub organisme: String,
    pub raison_sociale: Option<String>,
    pub offre: String,
    /// Left out of the feed because of errors (not merely ended).
    pub rejetee: bool,
    pub sessions_rejetees: u64,
    pub constats: Vec<StoredFinding>,
}

/// One finding, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFinding {
    pub session: Option<String>,
    pub code: String,
    /// `warning`, `reject_session` or `reject_offer`.
    pub severity: String,
    pub field: String,
    /// French, for the organisme.
    pub message: String,
}

/// What to store for an offer's outcome: its [`StoredFindings`] as JSON, compressed like
/// the fragments (`evaluations.findings_compressed`, migration 0013: the French messages
/// repeat from offer to offer, and at a million sessions the plain JSON was a fifth of
/// what a full export wrote). `None` when it has no finding and nothing rejected (most
/// offers), so the column stays small.
pub fn encode(outcome: &Outcome, organismes: &HashMap<Siret, Organisme>) -> Option<Vec<u8>> {
    if outcome.findings.is_empty() && outcome.rejected.is_empty() {
        return None;
    }
    let stored = StoredFindings {
        organisme: outcome.organisme.as_str().to_owned(),
        raison_sociale: organismes
            .get(&outcome.organisme)
            .map(|o| o.raison_sociale.as_str().to_owned()),
        offre: outcome.offre.to_string(),
        rejetee: outcome.offer_rejected && !outcome.offer_inactive,
        sessions_rejetees: outcome.rejected.len() as u64,
        constats: outcome
            .findings
            .iter()
            .map(|f| StoredFinding {
                session: f.session.map(|s| s.to_string()),
                code: f.code.to_owned(),
                severity: f.severity.as_str().to_owned(),
                field: f.field.clone(),
                message: f.message.clone(),
            })
            .collect(),
    };
    Some(crate::store::fragments::compress(
        &serde_json::to_vec(&stored).expect("serialisable"),
    ))
}

/// The findings of one organisme.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OrganismeFindings {
    pub siret: String,
    pub raison_sociale: Option<String>,
    pub offres_rejetees: u64,
    pub sessions_rejetees: u64,
    pub erreurs: u64,
    pub avertissements: u64,
    /// The offers with findings, in the order read (numeric).
    pub offres: Vec<StoredFindings>,
}

/// Groups stored findings by organisme (SIRET order).
pub fn group(rows: Vec<StoredFindings>) -> Vec<OrganismeFindings> {
    let mut by: BTreeMap<String, OrganismeFindings> = BTreeMap::new();
    for r in rows {
        let g = by
            .entry(r.organisme.clone())
            .or_insert_with(|| OrganismeFindings {
                siret: r.organisme.clone(),
                raison_sociale: r.raison_sociale.clone(),
                ..OrganismeFindings::default()
            });
        g.offres_rejetees += u64::from(r.rejetee);
        g.sessions_rejetees += r.sessions_rejetees;
        for c in &r.constats {
            if c.severity == Severity::Warning.as_str() {
                g.avertissements += 1;
            } else {
                g.erreurs += 1;
            }
        }
        g.offres.push(r);
    }
    by.into_values().collect()
}

/// CSV of findings, with the columns of `check --format csv`
/// ([`crate::rules::report::CSV_HEADER`]), the severity as its French label, written by the
/// same [`CsvWriter`] (RFC 4180, formula-looking cells neutralised).
pub fn write_csv<W: std::io::Write>(groups: &[OrganismeFindings], w: W) -> std::io::Result<()> {
    fn gravite(code: &str) -> &str {
        match crate::rules::Severity::parse(code) {
            Some(s) => s.libelle(),
            None => code,
        }
    }
    let mut out = CsvWriter::new(w)?;
    for g in groups {
        for o in &g.offres {
            for c in &o.constats {
                out.row(&[
                    g.siret.as_str(),
                    g.raison_sociale.as_deref().unwrap_or(""),
                    o.offre.as_str(),
                    c.session.as_deref().unwrap_or(""),
                    c.code.as_str(),
                    gravite(&c.severity),
                    c.field.as_str(),
                    c.message.as_str(),
                ])?;
            }
        }
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn row(org: &str, offre: &str, severity: &str, message: &str) -> StoredFindings {
        StoredFindings {
            organisme: org.into(),
            raison_sociale: Some(format!("Org {org}")),
            offre: offre.into(),
            rejetee: severity == "reject_offer",
            sessions_rejetees: u64::from(severity == "reject_session"),
            constats: vec![StoredFinding {
                session: None,
                code: "X".into(),
                severity: severity.into(),
                field: "f".into(),
                message: message.into(),
            }],
        }
    }

    #[test]
    fn groups_by_organisme_and_counts() {
        let g = group(vec![
            row("2", "1-1", "reject_offer", "a"),
            row("1", "1-2", "warning", "b"),
            row("2", "1-3", "reject_session", "c"),
        ]);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].siret, "1");
        assert_eq!((g[0].erreurs, g[0].avertissements), (0, 1));
        assert_eq!(g[1].offres_rejetees, 1);
        assert_eq!(g[1].sessions_rejetees, 1);
        assert_eq!(g[1].erreurs, 2);
    }

    #[test]
    fn the_status_csv_neutralises_formulas() {
        let mut r = row("1", "1-1", "warning", "@SUM(A1:A9)");
        r.raison_sociale = Some("=HYPERLINK(\"http://evil.example\",\"OK\")".into());
        let mut out = Vec::new();
        write_csv(&group(vec![r]), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let body = text.split_once("\r\n").unwrap().1;
        assert_eq!(
            body,
            "1,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"OK\"\")\",1-1,,X,à corriger,f,'@SUM(A1:A9)\r\n"
        );
    }

    proptest! {
        /// Any message survives the CSV: one row per finding, quotes doubled.
        #[test]
        fn csv_round_trips_any_message(message in "\\PC{0,40}[,\"\r\n]?\\PC{0,10}") {
            let g = group(vec![row("1", "1-1", "warning", &message)]);
            let mut out = Vec::new();
            write_csv(&g, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            let body = text.split_once("\r\n").unwrap().1;
            let last = body.trim_end_matches("\r\n");
            let shown = crate::rules::report::neutralise(&message);
            let expected = if shown.contains([',', '"', '\r', '\n']) {
                format!("\"{}\"", shown.replace('"', "\"\""))
            } else {
                shown.into_owned()
            };
            prop_assert!(last.ends_with(&expected), "{last:?} vs {expected:?}");
        }
    }
}
