//! Import: input files → the store, all-or-nothing per invocation.
//!
//! Every line of every file is decoded and checked (types, codes, dates by the model;
//! duplicates and references to organismes, sites and actions here). Records are written
//! in batches inside **one** database transaction as they come, so memory stays flat on
//! national-size files; at the first bad line writing stops, reading goes on to report
//! every bad line, and the transaction is rolled back: nothing is written when any line
//! is bad.

pub mod jsonl;
pub mod lines;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Context;

pub use jsonl::InputError;
use lines::{Line, Lines};

use crate::model::*;
use crate::store::{ImportTx, Store, UpsertCounts};

/// How many bad lines are listed; the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 200;
const BATCH: usize = 500;

/// What an import did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ImportSummary {
    pub files: usize,
    pub lines: u64,
    pub organismes: UpsertCounts,
    pub offres: UpsertCounts,
    /// Sessions read inside offre lines (their changes count in `offres`).
    pub sessions_in_offres: u64,
    /// Standalone session lines.
    pub sessions: UpsertCounts,
}

/// Why an import wrote nothing.
#[derive(Debug)]
pub enum ImportError {
    /// Bad input: the listed lines (at most [`MAX_REPORTED_ERRORS`]) and how many in all.
    Input { errors: Vec<InputError>, total: u64 },
    /// Anything else (database, I/O): not the input's fault.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for ImportError {
    fn from(e: anyhow::Error) -> Self {
        ImportError::Other(e)
    }
}

/// Where a reference must resolve, checked once the whole input has been read (an
/// organisme may come after the offer that names it).
struct PendingRef {
    file: usize,
    line: u64,
    field: String,
    siret: Siret,
    site: Option<SiteCode>,
}

/// The import state machine: batches, seen keys, errors.
struct Importer {
    tx: ImportTx,
    files: Vec<String>,
    errors: Vec<InputError>,
    error_total: u64,
    /// Sites of every organisme known so far: from this input, or looked up in the store.
    organismes: HashMap<Siret, Option<Vec<SiteCode>>>,
    seen_organismes: HashSet<Siret>,
    seen_offres: HashSet<ActionCode>,
    seen_sessions: HashSet<FasCode>,
    pending: Vec<PendingRef>,
    org_batch: Vec<Organisme>,
    offre_batch: Vec<Offre>,
    session_batch: Vec<Session>,
    summary: ImportSummary,
}

fn add(total: &mut UpsertCounts, c: UpsertCounts) {
    total.created += c.created;
    total.changed += c.changed;
    total.unchanged += c.unchanged;
}

impl Importer {
    fn error(
        &mut self,
        file: usize,
        line: u64,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) {
        self.error_total += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(InputError {
                file: self.files[file].clone(),
                line,
                field: field.into(),
                reason: reason.into(),
            });
        }
    }

    fn failing(&self) -> bool {
        self.error_total > 0
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.failing() {
            // Nothing will be committed; stop spending time writing.
            self.org_batch.clear();
            self.offre_batch.clear();
            self.session_batch.clear();
            return Ok(());
        }
        if !self.org_batch.is_empty() {
            let c = self.tx.upsert_organismes(&self.org_batch).await?;
            add(&mut self.summary.organismes, c);
            self.org_batch.clear();
        }
        if !self.offre_batch.is_empty() {
            let c = self.tx.upsert_offres(&self.offre_batch).await?;
            add(&mut self.summary.offres, c);
            self.offre_batch.clear();
        }
        if !self.session_batch.is_empty() {
            let c = self.tx.upsert_sessions(&self.session_batch).await?;
            add(&mut self.summary.sessions, c);
            self.session_batch.clear();
        }
        Ok(())
    }

    /// Whether `siret` (and `site`) is known now; `None` when it must wait for the end.
    async fn resolve(
        &mut self,
        siret: &Siret,
        site: Option<&SiteCode>,
    ) -> anyhow::Result<Option<Result<(), String>>> {
        if !self.organismes.contains_key(siret) {
            let sites = self.tx.organisme_sites(siret).await?;
            if sites.is_none() {
                return Ok(None);
            }
            self.organismes.insert(siret.clone(), sites);
        }
        Ok(Some(check_site(
            self.organismes.get(siret).and_then(|s| s.as_ref()),
            siret,
            site,
        )))
    }

    async fn reference(
        &mut self,
        file: usize,
        line: u64,
        field: String,
        siret: &Siret,
        site: Option<&SiteCode>,
    ) -> anyhow::Result<()> {
        match self.resolve(siret, site).await? {
            Some(Ok(())) => {}
            Some(Err(reason)) => self.error(file, line, field, reason),
            None => self.pending.push(PendingRef {
                file,
                line,
                field,
                siret: siret.clone(),
                site: site.cloned(),
            }),
        }
        Ok(())
    }

    async fn organisme(&mut self, file: usize, line: u64, o: Organisme) -> anyhow::Result<()> {
        if !self.seen_organismes.insert(o.siret.clone()) {
            self.error(
                file,
                line,
                "organisme.siret",
                format!("organisme {} appears twice in this import", o.siret),
            );
            return Ok(());
        }
        let mut codes = HashSet::new();
        for (i, s) in o.sites.iter().enumerate() {
            if !codes.insert(&s.code) {
                self.error(
                    file,
                    line,
                    format!("organisme.sites[{i}].code"),
                    format!("site {} appears twice", s.code),
                );
            }
        }
        self.organismes.insert(
            o.siret.clone(),
            Some(o.sites.iter().map(|s| s.code.clone()).collect()),
        );
        if !self.offre_batch.is_empty() || !self.session_batch.is_empty() {
            self.flush().await?;
        }
        self.org_batch.push(o);
        if self.org_batch.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn session_refs(
        &mut self,
        file: usize,
        line: u64,
        prefix: &str,
        s: &Session,
    ) -> anyhow::Result<()> {
        self.reference(
            file,
            line,
            format!("{prefix}.site_lieu"),
            &s.site_lieu.siret,
            Some(&s.site_lieu.site),
        )
        .await?;
        self.reference(
            file,
            line,
            format!("{prefix}.organisme_responsable"),
            &s.organisme_responsable.siret,
            Some(&s.organisme_responsable.site),
        )
        .await?;
        if !self.seen_sessions.insert(s.code) {
            self.error(
                file,
                line,
                format!("{prefix}.code"),
                format!("session {} appears twice in this import", s.code),
            );
        }
        Ok(())
    }

    async fn offre(&mut self, file: usize, line: u64, mut o: Offre) -> anyhow::Result<()> {
        if !self.seen_offres.insert(o.numero) {
            self.error(
                file,
                line,
                "offre.numero",
                format!("offre {} appears twice in this import", o.numero),
            );
            return Ok(());
        }
        self.reference(file, line, "offre.mandataire".into(), &o.mandataire, None)
            .await?;
        let sd = o.action.site_dispensateur.clone();
        self.reference(
            file,
            line,
            "offre.action.site_dispensateur".into(),
            &sd.siret,
            Some(&sd.site),
        )
        .await?;
        for (i, s) in o.sessions.iter().enumerate() {
            let prefix = format!("offre.sessions[{i}]");
            if s.code.action != o.numero {
                self.error(
                    file,
                    line,
                    format!("{prefix}.code"),
                    format!(
                        "session {} belongs to action {}, not to this offre {}",
                        s.code, s.code.action, o.numero
                    ),
                );
            }
            self.session_refs(file, line, &prefix, s).await?;
        }
        o.sort_sessions();
        self.summary.sessions_in_offres += o.sessions.len() as u64;
        if !self.session_batch.is_empty() {
            self.flush().await?;
        }
        self.offre_batch.push(o);
        if self.offre_batch.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn session(&mut self, file: usize, line: u64, s: Session) -> anyhow::Result<()> {
        let action = s.code.action;
        if !self.seen_offres.contains(&action) && !self.tx.offre_exists(action).await? {
            self.error(
                file,
                line,
                "session.code",
                format!("session {} points at action {action}, which is neither in the store nor earlier in this import", s.code),
            );
        }
        self.session_refs(file, line, "session", &s).await?;
        if !self.offre_batch.is_empty() {
            self.flush().await?;
        }
        self.session_batch.push(s);
        if self.session_batch.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }
}

fn check_site(
    sites: Option<&Vec<SiteCode>>,
    siret: &Siret,
    site: Option<&SiteCode>,
) -> Result<(), String> {
    match (sites, site) {
        (None, _) => Err(format!(
            "unknown organisme {siret}: import its organisme record first"
        )),
        (Some(_), None) => Ok(()),
        (Some(list), Some(code)) if list.contains(code) => Ok(()),
        (Some(list), Some(code)) => Err(format!(
            "organisme {siret} has no site {code} (its sites: {})",
            if list.is_empty() {
                "none".to_owned()
            } else {
                list.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )),
    }
}

/// Imports `paths` into `store` in one transaction.
pub async fn import_files(store: &Store, paths: &[PathBuf]) -> Result<ImportSummary, ImportError> {
    let tx = store.begin_import().await?;
    let mut imp = Importer {
        tx,
        files: paths.iter().map(|p| p.display().to_string()).collect(),
        errors: Vec::new(),
        error_total: 0,
        organismes: HashMap::new(),
        seen_organismes: HashSet::new(),
        seen_offres: HashSet::new(),
        seen_sessions: HashSet::new(),
        pending: Vec::new(),
        org_batch: Vec::new(),
        offre_batch: Vec::new(),
        session_batch: Vec::new(),
        summary: ImportSummary {
            files: paths.len(),
            ..Default::default()
        },
    };
    for (fi, path) in paths.iter().enumerate() {
        read_file(&mut imp, fi, path).await?;
    }
    imp.flush().await?;
    // References that pointed forward: the organisme must have come later in the input.
    let pending = std::mem::take(&mut imp.pending);
    for p in pending {
        let sites = imp.organismes.get(&p.siret).and_then(|s| s.as_ref());
        if let Err(reason) = check_site(sites, &p.siret, p.site.as_ref()) {
            imp.error(p.file, p.line, p.field, reason);
        }
    }
    if imp.failing() {
        let mut errors = imp.errors;
        errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        // Dropping the transaction rolls it back.
        return Err(ImportError::Input {
            errors,
            total: imp.error_total,
        });
    }
    let summary = imp.summary.clone();
    imp.tx.commit().await?;
    Ok(summary)
}

async fn read_file(imp: &mut Importer, fi: usize, path: &Path) -> Result<(), ImportError> {
    let reader = match lines::open(path) {
        Ok(r) => r,
        Err(e) => {
            imp.error(fi, 0, "(file)", format!("cannot read: {e}"));
            return Ok(());
        }
    };
    let mut lines = Lines::new(reader);
    loop {
        let next = match lines.next_line() {
            Ok(n) => n,
            Err(e) => {
                // A truncated gzip stream or a read error: the file is bad input.
                let line = imp.summary.lines + 1;
                imp.error(fi, line, "(file)", format!("read error: {e}"));
                return Ok(());
            }
        };
        let Some((n, line)) = next else { break };
        imp.summary.lines += 1;
        let text = match line {
            Line::Text(t) => t,
            Line::TooLong => {
                imp.error(
                    fi,
                    n,
                    "(line)",
                    format!("line longer than {} bytes", lines::MAX_LINE_BYTES),
                );
                continue;
            }
            Line::BadUtf8 { valid_up_to } => {
                imp.error(
                    fi,
                    n,
                    "(line)",
                    format!(
                        "invalid UTF-8 at byte {} of the line: the file must be UTF-8",
                        valid_up_to + 1
                    ),
                );
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        match jsonl::parse_record(&imp.files[fi], n, &text) {
            Err(e) => {
                imp.error_total += 1;
                if imp.errors.len() < MAX_REPORTED_ERRORS {
                    imp.errors.push(e);
                }
            }
            Ok(Record::Organisme(o)) => imp.organisme(fi, n, *o).await?,
            Ok(Record::Offre(o)) => imp.offre(fi, n, *o).await?,
            Ok(Record::Session(s)) => imp.session(fi, n, s.0).await?,
        }
    }
    Ok(())
}

/// Reads `path` as a list of input files: a helper for callers with a single path.
pub fn paths(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    for p in inputs {
        std::fs::metadata(p).with_context(|| format!("cannot read input file {}", p.display()))?;
    }
    Ok(inputs.to_vec())
}
