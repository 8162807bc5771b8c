//! The report of a run for the people who fix the offer: outcomes grouped by organisme
//! (the organisme responsable of each offer's sessions, else its mandataire), then offer,
//! then session, with totals and counts per rule code.
//!
//! Three renderings of the same [`Report`]:
//! - [`Report::to_text`]: French, for a training organisation or the Cariforef's offer desk;
//! - [`Report::to_json`]: the structure itself, described by `schemas/report.schema.json`;
//! - [`Report::write_csv`]: one row per finding, RFC 4180 (comma, `"` quoting, CRLF).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io;

use serde::Serialize;

use crate::model::{ActionCode, EtatWorkflow, FasCode, Organisme, Siret};

use super::saisie::ChampManquant;
use super::{registry, Finding, Outcome, Severity};

/// The CSV header of `check --format csv` and of the status page's CSV: French, for the
/// people who open it in a spreadsheet. The severity column holds [`Severity::libelle`].
pub const CSV_HEADER: &str = "siret,raison_sociale,offre,session,code,gravité,champ,message\r\n";

/// Version of the JSON shape (`schemas/report.schema.json`); bumped on incompatible change.
pub const REPORT_VERSION: u32 = 1;

/// A run's report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub version: u32,
    pub totals: Totals,
    /// In SIRET order.
    pub organismes: Vec<OrganismeReport>,
}

/// Counts over a set of offers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    pub offres_checked: usize,
    /// Exported (at least one accepted session, no RejectOffer finding).
    pub offres_exportable: usize,
    /// Not exported because of errors.
    pub offres_rejected: usize,
    /// Not exported because every session has ended (a withdrawal, not an error).
    pub offres_inactive: usize,
    pub sessions_accepted: usize,
    pub sessions_rejected: usize,
    pub sessions_inactive: usize,
    /// Sessions published by the last export that this run leaves out: the next export
    /// withdraws them from the feed (set by [`Report::mark_published`]).
    pub sessions_retirees_du_flux: usize,
    pub findings: usize,
    /// Findings of severity reject_session or reject_offer.
    pub errors: usize,
    pub warnings: usize,
    /// Non-zero counts, in registry order.
    pub findings_by_code: Vec<CodeCount>,
}

/// How many findings one rule produced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CodeCount {
    pub code: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub count: usize,
}

/// One organisme's offers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OrganismeReport {
    pub siret: Siret,
    /// `None` when the SIRET is not among the known organismes.
    pub raison_sociale: Option<String>,
    pub totals: Totals,
    /// In numero order.
    pub offres: Vec<OffreReport>,
    /// Offers not yet validated with required fields still empty, in numero order
    /// ([`Report::with_saisies`]). Not in the totals: they are never exported.
    pub saisies_incompletes: Vec<SaisieIncomplete>,
}

/// An offer not yet validated and what it still lacks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SaisieIncomplete {
    pub offre: ActionCode,
    pub etat: EtatWorkflow,
    pub champs: Vec<ChampManquant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OffreStatus {
    Exportable,
    Rejected,
    Inactive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Accepted,
    Rejected,
    Inactive,
}

/// One offer: its own findings (Formation, Action), then its sessions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OffreReport {
    pub offre: ActionCode,
    pub status: OffreStatus,
    /// Findings about the offer as a whole (no session), in registry order.
    pub findings: Vec<Finding>,
    /// In code order.
    pub sessions: Vec<SessionReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionReport {
    pub session: FasCode,
    pub status: SessionStatus,
    /// Published by the last export. With a status other than accepted, the next export
    /// withdraws it from the feed.
    pub publiee: bool,
    /// In registry order.
    pub findings: Vec<Finding>,
}

/// Accumulates [`Totals`].
#[derive(Default)]
struct Counter {
    totals: Totals,
    by_code: HashMap<&'static str, (Severity, usize)>,
}

impl Counter {
    fn add(&mut self, o: &Outcome) {
        let t = &mut self.totals;
        t.offres_checked += 1;
        if o.offer_inactive {
            t.offres_inactive += 1;
        } else if o.exportable() {
            t.offres_exportable += 1;
        } else {
            t.offres_rejected += 1;
        }
        t.sessions_accepted += o.accepted.len();
        t.sessions_rejected += o.rejected.len();
        t.sessions_inactive += o.inactive.len();
        for f in &o.findings {
            t.findings += 1;
            if f.severity == Severity::Warning {
                t.warnings += 1;
            } else {
                t.errors += 1;
            }
            self.by_code.entry(f.code).or_insert((f.severity, 0)).1 += 1;
        }
    }

    fn finish(mut self) -> Totals {
        let mut counts: Vec<CodeCount> = registry()
            .iter()
            .filter_map(|r| {
                let (_, count) = self.by_code.remove(r.code)?;
                Some(CodeCount {
                    code: r.code,
                    severity: r.severity,
                    title: r.title,
                    count,
                })
            })
            .collect();
        // Codes of rules outside the registry (a caller's own findings) come last.
        let mut rest: Vec<_> = self.by_code.into_iter().collect();
        rest.sort();
        counts.extend(rest.into_iter().map(|(code, (severity, count))| CodeCount {
            code,
            severity,
            title: "",
            count,
        }));
        self.totals.findings_by_code = counts;
        self.totals
    }
}

impl Report {
    /// Marks the sessions that the last export published (`published`), and counts those
    /// this run leaves out: a published session that became invalid or ended is withdrawn
    /// from the feed at the next export, and the organisme reads it here.
    pub fn mark_published(&mut self, published: &std::collections::HashSet<FasCode>) {
        let mut total = 0;
        for org in &mut self.organismes {
            let mut n = 0;
            for s in org.offres.iter_mut().flat_map(|o| o.sessions.iter_mut()) {
                s.publiee = published.contains(&s.session);
                if s.publiee && s.status != SessionStatus::Accepted {
                    n += 1;
                }
            }
            org.totals.sessions_retirees_du_flux = n;
            total += n;
        }
        self.totals.sessions_retirees_du_flux = total;
    }

    pub fn new(outcomes: &[Outcome], organismes: &HashMap<Siret, Organisme>) -> Report {
        let mut all = Counter::default();
        let mut groups: BTreeMap<&Siret, (Counter, Vec<OffreReport>)> = BTreeMap::new();
        for o in outcomes {
            all.add(o);
            let (counter, offres) = groups.entry(&o.organisme).or_default();
            counter.add(o);
            offres.push(offre_report(o));
        }
        let organismes = groups
            .into_iter()
            .map(|(siret, (counter, mut offres))| {
                offres.sort_by_key(|o| o.offre);
                OrganismeReport {
                    siret: siret.clone(),
                    raison_sociale: organismes
                        .get(siret)
                        .map(|o| o.raison_sociale.as_str().to_owned()),
                    totals: counter.finish(),
                    offres,
                    saisies_incompletes: Vec::new(),
                }
            })
            .collect();
        Report {
            version: REPORT_VERSION,
            totals: all.finish(),
            organismes,
        }
    }

    /// Adds the offers not yet validated that lack required fields, each to its
    /// organisme (the mandataire), creating the organisme's entry when it has no
    /// validated offer. Offers that lack nothing are left out.
    pub fn with_saisies(
        mut self,
        saisies: Vec<(Siret, SaisieIncomplete)>,
        organismes: &HashMap<Siret, Organisme>,
    ) -> Report {
        for (siret, saisie) in saisies.into_iter().filter(|(_, s)| !s.champs.is_empty()) {
            let i = match self.organismes.binary_search_by(|o| o.siret.cmp(&siret)) {
                Ok(i) => i,
                Err(i) => {
                    self.organismes.insert(
                        i,
                        OrganismeReport {
                            raison_sociale: organismes
                                .get(&siret)
                                .map(|o| o.raison_sociale.as_str().to_owned()),
                            siret,
                            totals: Totals::default(),
                            offres: Vec::new(),
                            saisies_incompletes: Vec::new(),
                        },
                    );
                    i
                }
            };
            let list = &mut self.organismes[i].saisies_incompletes;
            list.push(saisie);
            list.sort_by_key(|s| s.offre);
        }
        self
    }

    /// The report in French, for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let titre = "Contrôle de l'offre SOFI avant diffusion (LHÉO)";
        let _ = writeln!(out, "{titre}\n{}\n", "=".repeat(titre.chars().count()));
        out.push_str("Synthèse\n--------\n");
        totaux_texte(&mut out, &self.totals);
        for org in &self.organismes {
            let nom = org.raison_sociale.as_deref().unwrap_or("Organisme inconnu");
            let entete = format!("{nom} — SIRET {}", org.siret);
            let _ = writeln!(out, "\n{entete}\n{}", "-".repeat(entete.chars().count()));
            totaux_texte(&mut out, &org.totals);
            for offre in &org.offres {
                let (accepted, total) = (
                    offre
                        .sessions
                        .iter()
                        .filter(|s| s.status == SessionStatus::Accepted)
                        .count(),
                    offre.sessions.len(),
                );
                let statut = match offre.status {
                    OffreStatus::Exportable => {
                        format!("diffusée ({accepted} session(s) diffusée(s) sur {total})")
                    }
                    OffreStatus::Rejected => "non diffusée".to_owned(),
                    OffreStatus::Inactive => {
                        "retirée de la diffusion : toutes ses sessions sont terminées".to_owned()
                    }
                };
                let _ = writeln!(out, "\n  Action {} : {statut}", offre.offre);
                for f in &offre.findings {
                    constat_texte(&mut out, f, "    ");
                }
                for s in &offre.sessions {
                    let statut = match s.status {
                        SessionStatus::Accepted => "diffusée",
                        SessionStatus::Rejected => "non diffusée",
                        SessionStatus::Inactive => "terminée (retirée de la diffusion)",
                    };
                    let retrait = if s.publiee && s.status != SessionStatus::Accepted {
                        " — encore publiée : elle sera retirée du flux au prochain export"
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "    Session {} : {statut}{retrait}", s.session);
                    for f in &s.findings {
                        constat_texte(&mut out, f, "      ");
                    }
                }
            }
            for saisie in &org.saisies_incompletes {
                let etat = match saisie.etat {
                    EtatWorkflow::EnAttenteDeValidation => "en attente de validation",
                    _ => "en cours de saisie",
                };
                let _ = writeln!(
                    out,
                    "\n  Action {} ({etat}) : champs obligatoires à compléter avant l'envoi \
                     en validation au Cariforef",
                    saisie.offre
                );
                for c in &saisie.champs {
                    let _ = writeln!(out, "    - {}", c.libelle);
                }
            }
        }
        out
    }

    /// The report as JSON (`schemas/report.schema.json`).
    pub fn to_json(&self) -> serde_json::Value {
        // Every key is a string and every value a plain type: serialisation cannot fail.
        serde_json::to_value(self).expect("a report always serialises to JSON")
    }

    /// One CSV row per finding, with the header row [`CSV_HEADER`] (severity as its French
    /// label), written by [`CsvWriter`]: RFC 4180, and no cell a spreadsheet would run.
    pub fn write_csv<W: io::Write>(&self, w: W) -> io::Result<()> {
        let mut out = CsvWriter::new(w)?;
        for org in &self.organismes {
            let siret = org.siret.as_str();
            let raison = org.raison_sociale.as_deref().unwrap_or("");
            for offre in &org.offres {
                let findings = offre
                    .findings
                    .iter()
                    .chain(offre.sessions.iter().flat_map(|s| &s.findings));
                for f in findings {
                    let session = f.session.map(|s| s.to_string()).unwrap_or_default();
                    out.row(&[
                        siret,
                        raison,
                        &f.offre.to_string(),
                        &session,
                        f.code,
                        f.severity.libelle(),
                        &f.field,
                        &f.message,
                    ])?;
                }
            }
        }
        out.finish()
    }
}

fn offre_report(o: &Outcome) -> OffreReport {
    let status = if o.offer_inactive {
        OffreStatus::Inactive
    } else if o.exportable() {
        OffreStatus::Exportable
    } else {
        OffreStatus::Rejected
    };
    let mut sessions: Vec<SessionReport> = [
        (&o.accepted, SessionStatus::Accepted),
        (&o.rejected, SessionStatus::Rejected),
        (&o.inactive, SessionStatus::Inactive),
    ]
    .into_iter()
    .flat_map(|(codes, status)| {
        codes.iter().map(move |c| SessionReport {
            session: *c,
            status,
            publiee: false,
            findings: Vec::new(),
        })
    })
    .collect();
    sessions.sort_by_key(|s| s.session);
    let mut findings = Vec::new();
    for f in &o.findings {
        let slot = f
            .session
            .and_then(|c| sessions.binary_search_by_key(&c, |s| s.session).ok());
        match slot {
            Some(i) => sessions[i].findings.push(f.clone()),
            // About the offer, or (defensively) about a session the outcome does not list.
            None => findings.push(f.clone()),
        }
    }
    OffreReport {
        offre: o.offre,
        status,
        findings,
        sessions,
    }
}

fn totaux_texte(out: &mut String, t: &Totals) {
    let _ = writeln!(
        out,
        "Actions contrôlées : {} — diffusées : {}, non diffusées : {}, retirées (sessions terminées) : {}",
        t.offres_checked, t.offres_exportable, t.offres_rejected, t.offres_inactive
    );
    let _ = writeln!(
        out,
        "Sessions diffusées : {}, non diffusées : {}, terminées : {}",
        t.sessions_accepted, t.sessions_rejected, t.sessions_inactive
    );
    if t.sessions_retirees_du_flux > 0 {
        let _ = writeln!(
            out,
            "Sessions publiées jusqu'ici qui seront retirées du flux au prochain export : {}",
            t.sessions_retirees_du_flux
        );
    }
    let _ = writeln!(
        out,
        "Constats : {} (bloquants : {}, à corriger sans blocage : {})",
        t.findings, t.errors, t.warnings
    );
    for c in &t.findings_by_code {
        let _ = writeln!(
            out,
            "  {} — {} ({}) : {}",
            c.code,
            c.title,
            c.severity.libelle(),
            c.count
        );
    }
}

fn constat_texte(out: &mut String, f: &Finding, indent: &str) {
    let _ = writeln!(
        out,
        "{indent}[{}] {} : {}",
        f.severity.libelle(),
        f.code,
        f.message
    );
}

/// The CSV both `check --format csv` and `/status/rejections.csv` write: the
/// [`CSV_HEADER`] row, then records by RFC 4180 (comma, CRLF, fields holding a comma,
/// quote or line break quoted with `"`, inner quotes doubled; the `csv` crate's quoting),
/// every cell passed through [`neutralise`] first.
pub struct CsvWriter<W: io::Write>(csv::Writer<W>);

impl<W: io::Write> CsvWriter<W> {
    /// Starts the file with the header row.
    pub fn new(w: W) -> io::Result<CsvWriter<W>> {
        let mut out = CsvWriter(
            csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(w),
        );
        out.0
            .write_record(CSV_HEADER.trim_end().split(','))
            .map_err(io::Error::from)?;
        Ok(out)
    }

    /// One record.
    pub fn row(&mut self, fields: &[&str]) -> io::Result<()> {
        self.0
            .write_record(fields.iter().map(|f| neutralise(f).into_owned()))
            .map_err(io::Error::from)
    }

    /// Flushes what is buffered.
    pub fn finish(mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A cell a spreadsheet would read as a formula (OWASP, "CSV Injection": one starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a `'` in front, so that
/// LibreOffice or Excel shows the text instead of running it: a raison sociale
/// `=HYPERLINK(…)` typed into SOFI must not become a live link in an agent's spreadsheet.
/// The `'` is visible in the cell; nothing else is changed.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// One CSV record, CRLF-terminated, without the header (the tests' view of [`CsvWriter`]).
#[cfg(test)]
fn csv_row(out: &mut String, fields: &[&str]) {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(fields.iter().map(|f| neutralise(f).into_owned()))
        .unwrap();
    out.push_str(&String::from_utf8(w.into_inner().unwrap()).unwrap());
}

#[cfg(test)]
pub(crate) mod tests;
