//! Import: input files → the store, all-or-nothing per invocation.
//!
//! Two passes over the input, both streaming, so memory stays flat on national-size files:
//!
//! 1. **Check**: every line of every file is decoded (types, codes, dates: the model) and
//!    cross-checked (duplicates; references to organismes, sites and actions, in the input
//!    or the store). Nothing is written. Any bad line: every bad line is reported as
//!    `FILE:LINE: field: reason` and the import stops there.
//! 2. **Write**: the input is read again and written in batches inside **one** database
//!    transaction, committed at the end. A session line for an action whose offre line is
//!    in the same input is merged into that offre before it is written, so that importing
//!    the same files twice changes nothing the second time.
//!
//! Lines apply in input order: an offre line is the whole truth about its action (stored
//! sessions it does not list are removed); a session line adds or replaces one session
//! of an action defined earlier in the input or already stored.

pub mod brouillon;
pub mod jsonl;
pub mod lheo;
pub mod lines;
pub mod region;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use jsonl::InputError;
use lines::{Line, Lines};

use crate::model::*;
use crate::store::{BrouillonRow, ImportTx, Store, UpsertCounts};

/// How many bad lines are listed; the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 200;
/// The field of an error about a whole line or file.
pub const WHOLE_LINE: &str = "—";
const BATCH: usize = 500;

/// What an import did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ImportSummary {
    pub files: usize,
    pub lines: u64,
    pub organismes: UpsertCounts,
    pub offres: UpsertCounts,
    /// Sessions of the offre lines (their changes count in `offres`).
    pub sessions_in_offres: u64,
    /// Standalone session lines for actions already stored.
    pub sessions: UpsertCounts,
    /// Drafts imported with required fields still missing (`ingest::brouillon`): never
    /// exported, listed by `check`.
    pub brouillons: UpsertCounts,
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

/// A reference checked once the whole input has been read (an organisme may come after
/// the offer that names it).
struct PendingRef {
    file: usize,
    line: u64,
    field: String,
    siret: Siret,
    site: Option<SiteCode>,
}

/// Pass 1: everything learnt while checking.
#[derive(Default)]
struct Checker {
    files: Vec<String>,
    errors: Vec<InputError>,
    error_total: u64,
    lines: u64,
    /// Sites of every organisme known so far: `Some` from the input or the store, `None`
    /// when the store does not have it either.
    organismes: HashMap<Siret, Option<Vec<SiteCode>>>,
    seen_organismes: HashSet<Siret>,
    seen_offres: HashSet<ActionCode>,
    seen_sessions: HashSet<FasCode>,
    pending: Vec<PendingRef>,
    /// Session lines whose action's offre line is in this input, to merge into it.
    merged: HashMap<ActionCode, Vec<Session>>,
    /// The lots of the Region referential; empty when none was imported, and then lots
    /// are not checked (the fixtures alone still import).
    lots: HashSet<String>,
}

impl Checker {
    fn error(
        &mut self,
        file: usize,
        line: u64,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) {
        let e = InputError {
            file: self.files[file].clone(),
            line,
            field: field.into(),
            reason: reason.into(),
        };
        self.push(e);
    }

    fn push(&mut self, e: InputError) {
        self.error_total += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(e);
        }
    }

    /// Checks a reference to an organisme (and one of its sites) now if it can be
    /// resolved, else later.
    async fn reference(
        &mut self,
        tx: &mut ImportTx,
        (file, line): (usize, u64),
        field: String,
        siret: &Siret,
        site: Option<&SiteCode>,
    ) -> anyhow::Result<()> {
        if !self.organismes.contains_key(siret) {
            let stored = tx.organisme_sites(siret).await?;
            self.organismes.insert(siret.clone(), stored);
        }
        match self.organismes.get(siret).and_then(|s| s.as_ref()) {
            Some(sites) => {
                if let Err((suffix, reason)) = check_site(Some(sites), siret, site) {
                    self.error(file, line, format!("{field}{suffix}"), reason);
                }
            }
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

    fn organisme(&mut self, file: usize, line: u64, o: &Organisme) {
        if !self.seen_organismes.insert(o.siret.clone()) {
            self.error(
                file,
                line,
                "organisme.siret",
                format!("organisme {} appears twice in this import", o.siret),
            );
            return;
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
    }

    async fn session_refs(
        &mut self,
        tx: &mut ImportTx,
        at: (usize, u64),
        prefix: &str,
        s: &Session,
    ) -> anyhow::Result<()> {
        self.reference(
            tx,
            at,
            format!("{prefix}.site_lieu"),
            &s.site_lieu.siret,
            Some(&s.site_lieu.site),
        )
        .await?;
        let r = &s.organisme_responsable;
        self.reference(
            tx,
            at,
            format!("{prefix}.organisme_responsable"),
            &r.siret,
            Some(&r.site),
        )
        .await?;
        if let Some(lot) = &s.dispositif.numero_lot_cr {
            if !self.lots.is_empty() && !self.lots.contains(lot.as_str()) {
                self.error(
                    at.0,
                    at.1,
                    format!("{prefix}.dispositif.numero_lot_cr"),
                    format!(
                        "unknown lot {lot}: it is not in the Region referential; \
                         import the Region file first (lheo-feed import-region)"
                    ),
                );
            }
        }
        if !self.seen_sessions.insert(s.code) {
            self.error(
                at.0,
                at.1,
                format!("{prefix}.code"),
                format!("session {} appears twice in this import", s.code),
            );
        }
        Ok(())
    }

    async fn offre(
        &mut self,
        tx: &mut ImportTx,
        at: (usize, u64),
        o: &Offre,
    ) -> anyhow::Result<()> {
        let (file, line) = at;
        if !self.seen_offres.insert(o.numero) {
            self.error(
                file,
                line,
                "offre.numero",
                format!("offre {} appears twice in this import", o.numero),
            );
            return Ok(());
        }
        self.reference(tx, at, "offre.mandataire".into(), &o.mandataire, None)
            .await?;
        let sd = &o.action.site_dispensateur;
        self.reference(
            tx,
            at,
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
            self.session_refs(tx, at, &prefix, s).await?;
        }
        Ok(())
    }

    /// A draft the model cannot hold: its identity is checked like an offer's.
    async fn brouillon(
        &mut self,
        tx: &mut ImportTx,
        at: (usize, u64),
        b: &brouillon::Brouillon,
    ) -> anyhow::Result<()> {
        if !self.seen_offres.insert(b.numero) {
            self.error(
                at.0,
                at.1,
                "offre.numero",
                format!("offre {} appears twice in this import", b.numero),
            );
            return Ok(());
        }
        self.reference(tx, at, "offre.mandataire".into(), &b.mandataire, None)
            .await
    }

    async fn session(
        &mut self,
        tx: &mut ImportTx,
        at: (usize, u64),
        s: Session,
    ) -> anyhow::Result<()> {
        let action = s.code.action;
        self.session_refs(tx, at, "session", &s).await?;
        if self.seen_offres.contains(&action) {
            self.merged.entry(action).or_default().push(s);
        } else if !tx.offre_exists(action).await? {
            self.error(
                at.0,
                at.1,
                "session.code",
                format!(
                    "session {} points at action {action}, which is neither in the store nor earlier in this import",
                    s.code
                ),
            );
        }
        Ok(())
    }

    /// Resolves the references that pointed forward.
    fn finish(&mut self) {
        for p in std::mem::take(&mut self.pending) {
            let sites = self.organismes.get(&p.siret).and_then(|s| s.as_ref());
            if let Err((suffix, reason)) = check_site(sites, &p.siret, p.site.as_ref()) {
                self.error(p.file, p.line, format!("{}{suffix}", p.field), reason);
            }
        }
    }
}

/// Whether `siret` (with `site`) is known; the error says which part is wrong, as a
/// field suffix (`.siret` or `.site`) and a reason.
fn check_site(
    sites: Option<&Vec<SiteCode>>,
    siret: &Siret,
    site: Option<&SiteCode>,
) -> Result<(), (&'static str, String)> {
    let suffix_siret = if site.is_some() { ".siret" } else { "" };
    match (sites, site) {
        (None, _) => Err((
            suffix_siret,
            format!("unknown organisme {siret}: import its organisme record first"),
        )),
        (Some(_), None) => Ok(()),
        (Some(list), Some(code)) if list.contains(code) => Ok(()),
        (Some(list), Some(code)) => Err((
            ".site",
            format!(
                "organisme {siret} has no site {code} (its sites: {})",
                if list.is_empty() {
                    "none".to_owned()
                } else {
                    list.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        )),
    }
}

/// One decoded line, or why it could not be decoded.
enum Decoded {
    Record(Record),
    /// A draft with required fields still missing.
    Brouillon(Box<brouillon::Brouillon>),
    Skip,
    Bad(InputError),
}

/// The decoded lines of one input file, in order, with their numbers.
struct Decoder<'a> {
    file: &'a str,
    lines: Option<Lines<Box<dyn std::io::BufRead + Send>>>,
    /// An error to report before anything else (the file could not be opened).
    pending: Option<Decoded>,
    count: u64,
}

impl<'a> Decoder<'a> {
    fn open(file: &'a str, path: &Path) -> Decoder<'a> {
        match lines::open(path) {
            Ok(r) => Decoder {
                file,
                lines: Some(Lines::new(r)),
                pending: None,
                count: 0,
            },
            Err(e) => {
                let bad = Decoder::bad_line(file, 0, format!("cannot read the file: {e}"));
                Decoder {
                    file,
                    lines: None,
                    pending: Some(bad),
                    count: 0,
                }
            }
        }
    }

    fn bad_line(file: &str, line: u64, reason: String) -> Decoded {
        Decoded::Bad(InputError {
            file: file.to_owned(),
            line,
            field: WHOLE_LINE.into(),
            reason,
        })
    }

    fn next(&mut self) -> Option<(u64, Decoded)> {
        if let Some(p) = self.pending.take() {
            return Some((self.count, p));
        }
        let lines = self.lines.as_mut()?;
        let (n, line) = match lines.next_line() {
            Ok(Some(x)) => x,
            Ok(None) => return None,
            Err(e) => {
                // A truncated gzip stream or a read error: the file is bad input.
                self.lines = None;
                let n = self.count + 1;
                return Some((
                    n,
                    Decoder::bad_line(self.file, n, format!("read error: {e}")),
                ));
            }
        };
        self.count = n;
        let decoded = match line {
            Line::Text(t) if t.trim().is_empty() => Decoded::Skip,
            Line::Text(t) => match jsonl::parse_record(self.file, n, &t) {
                Ok(r) => Decoded::Record(r),
                // A draft may still lack required fields; anything else is refused.
                Err(e) => match brouillon::parse_brouillon(self.file, n, &t) {
                    Some(Ok(b)) => Decoded::Brouillon(Box::new(b)),
                    Some(Err(e)) => Decoded::Bad(e),
                    None => Decoded::Bad(e),
                },
            },
            Line::TooLong => Decoder::bad_line(
                self.file,
                n,
                format!("line longer than {} bytes", lines::MAX_LINE_BYTES),
            ),
            Line::BadUtf8 { valid_up_to } => Decoder::bad_line(
                self.file,
                n,
                format!(
                    "invalid UTF-8 at byte {} of the line: the file must be UTF-8",
                    valid_up_to + 1
                ),
            ),
        };
        Some((n, decoded))
    }
}

/// Imports `paths` into `store` in one transaction.
pub async fn import_files(store: &Store, paths: &[PathBuf]) -> Result<ImportSummary, ImportError> {
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let mut tx = store.begin_import().await?;

    // Pass 1: check everything, write nothing.
    let mut checker = Checker {
        files: files.clone(),
        lots: tx.lot_codes().await?,
        ..Default::default()
    };
    for (fi, path) in paths.iter().enumerate() {
        let mut decoder = Decoder::open(&files[fi], path);
        while let Some((n, decoded)) = decoder.next() {
            match decoded {
                Decoded::Skip => {}
                Decoded::Bad(e) => checker.push(e),
                Decoded::Record(Record::Organisme(o)) => checker.organisme(fi, n, &o),
                Decoded::Record(Record::Offre(o)) => checker.offre(&mut tx, (fi, n), &o).await?,
                Decoded::Record(Record::Session(s)) => {
                    checker.session(&mut tx, (fi, n), s.0).await?
                }
                Decoded::Brouillon(b) => checker.brouillon(&mut tx, (fi, n), &b).await?,
            }
        }
        checker.lines += decoder.count;
    }
    checker.finish();
    if checker.error_total > 0 {
        let mut errors = checker.errors;
        errors.sort_by(|a, b| {
            (files.iter().position(|f| *f == a.file), a.line)
                .cmp(&(files.iter().position(|f| *f == b.file), b.line))
        });
        // Dropping the transaction rolls it back (it wrote nothing anyway).
        return Err(ImportError::Input {
            errors,
            total: checker.error_total,
        });
    }

    // Pass 2: write, in input order, in batches.
    let merged_codes = checker.merged.values().flatten().map(|s| s.code).collect();
    let brouillons_stockes = tx.brouillon_numeros().await?;
    let mut w = Writer {
        tx,
        brouillons_stockes,
        merged: checker.merged,
        merged_codes,
        summary: ImportSummary {
            files: paths.len(),
            lines: checker.lines,
            ..Default::default()
        },
        organismes: Vec::new(),
        offres: Vec::new(),
        sessions: Vec::new(),
        brouillons: Vec::new(),
    };
    for (fi, path) in paths.iter().enumerate() {
        let mut decoder = Decoder::open(&files[fi], path);
        while let Some((_, decoded)) = decoder.next() {
            match decoded {
                Decoded::Record(r) => w.record(r).await?,
                Decoded::Brouillon(b) => w.brouillon(*b).await?,
                // The file changed between the passes: refuse rather than half-write.
                Decoded::Bad(e) => {
                    return Err(ImportError::Other(anyhow::anyhow!(
                        "{e} (the file changed while it was being imported; nothing was written)"
                    )))
                }
                Decoded::Skip => {}
            }
        }
    }
    w.flush().await?;
    let summary = w.summary.clone();
    w.tx.commit().await?;
    // The next import and export read by lists of keys (PostgreSQL: plans need
    // statistics).
    store.refresh_statistics().await;
    Ok(summary)
}

/// Pass 2: batches in input order.
struct Writer {
    tx: ImportTx,
    merged: HashMap<ActionCode, Vec<Session>>,
    /// Codes of the session lines merged into their offre: skipped when met.
    merged_codes: HashSet<FasCode>,
    summary: ImportSummary,
    organismes: Vec<Organisme>,
    offres: Vec<Offre>,
    sessions: Vec<Session>,
    brouillons: Vec<BrouillonRow>,
    /// Numeros of the drafts stored before this import.
    brouillons_stockes: HashSet<String>,
}

fn add(total: &mut UpsertCounts, c: UpsertCounts) {
    total.created += c.created;
    total.changed += c.changed;
    total.unchanged += c.unchanged;
}

impl Writer {
    /// A draft: stored as received, with what it still lacks.
    async fn brouillon(&mut self, b: brouillon::Brouillon) -> anyhow::Result<()> {
        let manquants = crate::rules::saisie::champs_manquants(&b.complete, &b.manquants);
        self.brouillons.push(BrouillonRow {
            numero: b.numero,
            mandataire: b.mandataire,
            etat: b.etat,
            manquants,
            doc: b.doc,
        });
        if self.brouillons.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn record(&mut self, r: Record) -> anyhow::Result<()> {
        // Keep input order across kinds: flush the other kinds' batches first.
        match r {
            Record::Organisme(o) => {
                if !self.offres.is_empty() || !self.sessions.is_empty() {
                    self.flush().await?;
                }
                self.organismes.push(*o);
            }
            Record::Offre(o) => {
                if !self.sessions.is_empty() {
                    self.flush().await?;
                }
                let mut o = *o;
                if let Some(extra) = self.merged.remove(&o.numero) {
                    o.sessions.extend(extra);
                }
                o.sort_sessions();
                self.summary.sessions_in_offres += o.sessions.len() as u64;
                self.offres.push(o);
            }
            Record::Session(s) => {
                if self.merged_codes.contains(&s.0.code) {
                    return Ok(()); // already written inside its offre
                }
                if !self.offres.is_empty() {
                    self.flush().await?;
                }
                self.sessions.push(s.0);
            }
        }
        if self.organismes.len() + self.offres.len() + self.sessions.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if !self.organismes.is_empty() {
            add(
                &mut self.summary.organismes,
                self.tx.upsert_organismes(&self.organismes).await?,
            );
            self.organismes.clear();
        }
        if !self.offres.is_empty() {
            add(
                &mut self.summary.offres,
                self.tx.upsert_offres(&self.offres).await?,
            );
            // A complete line supersedes the draft of the same action.
            let numeros: Vec<ActionCode> = self
                .offres
                .iter()
                .map(|o| o.numero)
                .filter(|n| self.brouillons_stockes.contains(&n.to_string()))
                .collect();
            self.tx.delete_brouillons(&numeros).await?;
            self.offres.clear();
        }
        if !self.brouillons.is_empty() {
            add(
                &mut self.summary.brouillons,
                self.tx.upsert_brouillons(&self.brouillons).await?,
            );
            self.brouillons.clear();
        }
        if !self.sessions.is_empty() {
            add(
                &mut self.summary.sessions,
                self.tx.upsert_sessions(&self.sessions).await?,
            );
            self.sessions.clear();
        }
        Ok(())
    }
}
