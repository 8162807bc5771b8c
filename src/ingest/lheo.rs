//! `import-lheo`: LHÉO 2.2 / 2.3 documents → the store, all or nothing, like the JSONL
//! import (`super`): a check pass that reads every document and writes nothing, then a
//! write pass that reads them again and writes in one transaction. Both passes stream
//! one `<formation>` at a time ([`crate::lheo::reader`]); what is held across the
//! document is one entry per organisme (the sites it names) and, as in the JSONL import,
//! the codes of the offers and sessions seen (to refuse duplicates), never the offers.
//!
//! Entry rules are not applied here: an imported offer is stored as it is and `check` /
//! `export` judge it, as for SOFI's own input.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::lheo::import::{map_formation, MapError, OrgFact};
use crate::lheo::reader::{self, Limits, ReadError, Version};
use crate::model::*;
use crate::store::{ImportTx, Store, UpsertCounts};

/// How many errors are listed; the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 200;
const BATCH: usize = 500;

/// A refused document or formation: `FILE:LINE:COLUMN: [path: ]reason`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LheoInputError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    /// The element path inside the formation, empty for a document-level error.
    pub path: String,
    pub reason: String,
}

impl fmt::Display for LheoInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.reason)
    }
}

/// Why nothing was imported.
#[derive(Debug)]
pub enum LheoImportError {
    Input {
        errors: Vec<LheoInputError>,
        total: u64,
    },
    Other(anyhow::Error),
}

impl From<anyhow::Error> for LheoImportError {
    fn from(e: anyhow::Error) -> Self {
        LheoImportError::Other(e)
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LheoImportSummary {
    pub files: usize,
    /// `"2.2"` or `"2.3"` per file, in order.
    pub versions: Vec<String>,
    /// Every `<formation>` read.
    pub formations_read: u64,
    /// The formations imported, and their sessions.
    pub formations: u64,
    pub sessions: u64,
    /// Formations left out (not in strict mode), each named once with why; the list is
    /// capped at [`MAX_REPORTED_ERRORS`], the count is not.
    pub skipped: u64,
    pub skipped_formations: Vec<LheoInputError>,
    /// Values our types refuse, kept as given in imported offers (capped list too).
    pub kept_as_given: u64,
    pub values_kept_as_given: Vec<LheoInputError>,
    pub organismes: UpsertCounts,
    pub offres: UpsertCounts,
}

/// How an import treats a formation that cannot become an offer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// The formation is skipped and named in the summary; the others are imported. A
    /// document that cannot be read (malformed XML, DOCTYPE, bounds) is still refused
    /// whole, and so is the whole import.
    #[default]
    Lenient,
    /// Any error refuses the whole import (`--strict`).
    Strict,
}

/// A formation: its file and its rank in that file (from 0).
type FormationKey = (usize, u64);

/// Sirets an offer needs written: if one cannot be, the offer is skipped.
fn sirets_of(o: &Offre) -> Vec<&Siret> {
    let mut v = vec![&o.mandataire, &o.action.site_dispensateur.siret];
    v.extend(o.sessions.iter().map(|s| &s.site_lieu.siret));
    v
}

fn reasons(list: &[MapError]) -> (String, String) {
    let path = list.first().map(|e| e.path.clone()).unwrap_or_default();
    let reason = list
        .iter()
        .map(|e| {
            if e.path == path {
                e.reason.clone()
            } else {
                format!("{}: {}", e.path, e.reason)
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    (path, reason)
}

/// A site as the document describes it, before it is merged with the store.
#[derive(Default)]
struct SiteDraft {
    nom: Option<Text>,
    adresse: Option<Adresse>,
    /// The formateur's address for this site (`OrgFact::Formateur`): used when no
    /// `lieu-de-formation` gives the site one.
    adresse_formateur: Option<Adresse>,
    contact: Option<Contact>,
    acces_handicapes: Option<Text>,
}

/// Everything the document says about one organisme.
#[derive(Default)]
struct OrgDraft {
    responsable: Option<Organisme>,
    raison_sociale: Option<Text>,
    sites: BTreeMap<SiteCode, SiteDraft>,
    /// Where the organisme is first named, for errors.
    at: (usize, u64, u64),
}

#[derive(Default)]
struct Book {
    orgs: HashMap<Siret, OrgDraft>,
}

impl Book {
    fn apply(&mut self, fact: OrgFact, at: (usize, u64, u64)) {
        let siret = match &fact {
            OrgFact::Responsable { organisme, .. } => organisme.siret.clone(),
            OrgFact::Formateur { siret, .. } | OrgFact::Lieu { siret, .. } => siret.clone(),
        };
        let d = self.orgs.entry(siret).or_insert_with(|| OrgDraft {
            at,
            ..Default::default()
        });
        // First description wins: a document this crate wrote says the same everywhere.
        match fact {
            OrgFact::Responsable { organisme, site } => {
                d.sites.entry(site).or_default();
                if d.responsable.is_none() {
                    d.responsable = Some(*organisme);
                }
            }
            OrgFact::Formateur {
                raison_sociale,
                site,
                contact,
                adresse,
                ..
            } => {
                if d.raison_sociale.is_none() {
                    d.raison_sociale = raison_sociale;
                }
                let s = d.sites.entry(site).or_default();
                if s.contact.is_none() {
                    s.contact = contact;
                }
                if s.adresse_formateur.is_none() {
                    s.adresse_formateur = adresse;
                }
            }
            OrgFact::Lieu {
                site,
                nom,
                adresse,
                acces_handicapes,
                ..
            } => {
                let s = d.sites.entry(site).or_default();
                if s.adresse.is_none() {
                    s.nom = Some(nom);
                    s.adresse = Some(adresse);
                    s.acces_handicapes = acces_handicapes;
                }
            }
        }
    }
}

/// Builds the organisme to store: the document's description over the stored one
/// (whose other sites are kept).
fn finish(siret: &Siret, d: &OrgDraft, stored: Option<Organisme>) -> Result<Organisme, String> {
    let mut o = match (&d.responsable, stored) {
        (Some(r), Some(s)) => Organisme {
            sites: s.sites,
            ..r.clone()
        },
        (Some(r), None) => r.clone(),
        (None, Some(s)) => s,
        (None, None) => {
            let rs = d
                .raison_sociale
                .clone()
                .or_else(|| d.sites.values().find_map(|s| s.nom.clone()))
                .ok_or_else(|| format!("organisme {siret}: the document gives no name for it"))?;
            Organisme {
                siret: siret.clone(),
                raison_sociale: rs,
                nom: None,
                nda: None,
                code_cr: None,
                adresse: None,
                telephone: None,
                courriel: None,
                web: None,
                contacts: Vec::new(),
                sites: Vec::new(),
                stocke: StoreDates::default(),
            }
        }
    };
    for (code, sd) in &d.sites {
        let stored = o.sites.iter().position(|s| &s.code == code);
        let old = stored.map(|i| o.sites[i].clone());
        let adresse = sd
            .adresse
            .clone()
            .or_else(|| old.as_ref().map(|s| s.adresse.clone()))
            .or_else(|| o.adresse.clone())
            // Last: where the formateur says it is, or teaches (a formateur other than the
            // responsable has no coordonnees-organisme in LHÉO).
            .or_else(|| sd.adresse_formateur.clone())
            .ok_or_else(|| {
                format!(
                    "organisme {siret}, site {code}: the document gives no address for it \
                     (neither a lieu-de-formation, nor the organisme's coordonnees, nor a \
                     contact-formateur's)"
                )
            })?;
        let site = Site {
            code: code.clone(),
            nom: sd
                .nom
                .clone()
                .or_else(|| old.as_ref().map(|s| s.nom.clone()))
                .unwrap_or_else(|| o.nom_ou_raison_sociale().clone()),
            adresse,
            contact: sd
                .contact
                .clone()
                .or_else(|| old.as_ref().and_then(|s| s.contact.clone())),
            acces_handicapes: sd
                .acces_handicapes
                .clone()
                .or_else(|| old.as_ref().and_then(|s| s.acces_handicapes.clone())),
        };
        match stored {
            Some(i) => o.sites[i] = site,
            None => o.sites.push(site),
        }
    }
    Ok(o)
}

struct Errors {
    files: Vec<String>,
    list: Vec<LheoInputError>,
    total: u64,
}

impl Errors {
    fn new(files: &[String]) -> Self {
        Errors {
            files: files.to_vec(),
            list: Vec::new(),
            total: 0,
        }
    }
    fn push(&mut self, file: usize, (line, column): (u64, u64), path: &str, reason: String) {
        self.total += 1;
        if self.list.len() < MAX_REPORTED_ERRORS {
            self.list.push(LheoInputError {
                file: self.files[file].clone(),
                line,
                column,
                path: path.to_owned(),
                reason,
            });
        }
    }
    fn read(&mut self, file: usize, e: ReadError) {
        self.push(
            file,
            (e.line, e.column),
            "",
            format!("{} — the whole document is refused", e.reason),
        );
    }
}

type Reader = reader::LheoReader<Box<dyn std::io::BufRead + Send>>;

/// Opens a document file, plain or gzip (by magic bytes, as every import does).
fn open(path: &Path) -> Result<Reader, (u64, u64, String)> {
    let input =
        super::lines::open(path).map_err(|e| (0, 0, format!("cannot read the file: {e}")))?;
    reader::LheoReader::new(input, Limits::default()).map_err(|e| (e.line, e.column, e.reason))
}

/// Imports LHÉO documents into `store` in one transaction.
pub async fn import_lheo_files(
    store: &Store,
    paths: &[PathBuf],
    mode: Mode,
) -> Result<LheoImportSummary, LheoImportError> {
    let strict = mode == Mode::Strict;
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let mut tx = store.begin_import().await?;
    let mut errors = Errors::new(&files);
    let mut summary = LheoImportSummary {
        files: paths.len(),
        ..Default::default()
    };

    // Pass 1: map and check everything, write nothing.
    let mut book = Book::default();
    let mut seen_offres: HashSet<ActionCode> = HashSet::new();
    let mut seen_sessions: HashSet<FasCode> = HashSet::new();
    // First mention of each mandataire: checked once the whole input is known (it may be
    // described further on). One entry per organisme, like the book.
    let mut mandataires: HashMap<Siret, (usize, (u64, u64))> = HashMap::new();
    // Lenient mode: the formations skipped (a few bytes each, like the codes seen).
    let mut skip: HashSet<FormationKey> = HashSet::new();
    let mut skipped = Errors::new(&files);
    let mut kept = Errors::new(&files);
    for (fi, path) in paths.iter().enumerate() {
        let mut r = match open(path) {
            Ok(r) => r,
            Err((l, c, reason)) => {
                errors.push(fi, (l, c), "", reason);
                continue;
            }
        };
        summary.versions.push(
            match r.version() {
                Version::V2_2 => "2.2",
                Version::V2_3 => "2.3",
            }
            .to_owned(),
        );
        for rank in 0.. {
            let el = match r.next_formation() {
                Ok(Some(el)) => el,
                Ok(None) => break,
                Err(e) => {
                    errors.read(fi, e);
                    break;
                }
            };
            summary.formations_read += 1;
            let at = r.formation_position();
            match map_formation(&el) {
                Err(list) if strict => {
                    for MapError { path, reason } in list {
                        errors.push(fi, at, &path, reason);
                    }
                }
                Err(list) => {
                    skip.insert((fi, rank));
                    let (path, reason) = reasons(&list);
                    skipped.push(fi, at, &path, reason);
                }
                Ok(m) => {
                    let o = &m.offre;
                    let mut dup = Vec::new();
                    if seen_offres.contains(&o.numero) {
                        dup.push(MapError {
                            path: "formation/@numero".into(),
                            reason: format!("offre {} appears twice in this import", o.numero),
                        });
                    }
                    let mut codes = HashSet::new();
                    for s in &o.sessions {
                        if seen_sessions.contains(&s.code) || !codes.insert(s.code) {
                            dup.push(MapError {
                                path: "session/@numero".into(),
                                reason: format!("session {} appears twice in this import", s.code),
                            });
                        }
                    }
                    if !dup.is_empty() {
                        if strict {
                            for MapError { path, reason } in dup {
                                errors.push(fi, at, &path, reason);
                            }
                        } else {
                            // The first one read is imported; this one is named.
                            skip.insert((fi, rank));
                            let (path, reason) = reasons(&dup);
                            skipped.push(fi, at, &path, reason);
                        }
                        continue;
                    }
                    seen_offres.insert(o.numero);
                    seen_sessions.extend(codes);
                    for MapError { path, reason } in &m.kept {
                        kept.push(fi, at, path, format!("{reason} — kept as given"));
                    }
                    summary.formations += 1;
                    summary.sessions += o.sessions.len() as u64;
                    mandataires.entry(o.mandataire.clone()).or_insert((fi, at));
                    for f in m.facts {
                        book.apply(f, (fi, at.0, at.1));
                    }
                }
            }
        }
    }
    // Organismes: merged with the store, each must end up complete. Lenient: one that
    // cannot be is not written, and the offers that need it are skipped (pass 2).
    let mut organismes: Vec<Organisme> = Vec::new();
    let mut unusable: HashMap<Siret, String> = HashMap::new();
    let mut sirets: Vec<&Siret> = book.orgs.keys().collect();
    sirets.sort();
    for siret in sirets {
        let d = &book.orgs[siret];
        let stored = tx.organisme(siret).await?;
        match finish(siret, d, stored) {
            Ok(o) => organismes.push(o),
            Err(reason) if strict => errors.push(d.at.0, (d.at.1, d.at.2), "", reason),
            Err(reason) => {
                unusable.insert(siret.clone(), reason);
            }
        }
    }
    let mut mandataires: Vec<_> = mandataires.into_iter().collect();
    mandataires.sort_by_key(|(_, at)| *at);
    for (siret, (fi, at)) in mandataires {
        if !book.orgs.contains_key(&siret) && tx.organisme_sites(&siret).await?.is_none() {
            let reason = format!(
                "unknown organisme {siret}: neither in the document nor in the store; \
                 import its organisme record first (lheo-feed import)"
            );
            if strict {
                errors.push(
                    fi,
                    at,
                    "formation/extras[sofi-formation]/mandataire",
                    reason,
                );
            } else {
                unusable.insert(siret, reason);
            }
        }
    }
    if errors.total > 0 {
        return Err(LheoImportError::Input {
            errors: errors.list,
            total: errors.total,
        });
    }

    // Pass 2: write.
    let plan = Plan {
        skip: &skip,
        unusable: &unusable,
    };
    write_all(
        &mut tx,
        &organismes,
        paths,
        &plan,
        &mut summary,
        &mut skipped,
    )
    .await?;
    tx.commit().await?;
    summary.skipped = skipped.total;
    summary.skipped_formations = skipped.list;
    summary.kept_as_given = kept.total;
    summary.values_kept_as_given = kept.list;
    Ok(summary)
}

/// The formations pass 1 left out, and the organismes that cannot be written.
struct Plan<'a> {
    skip: &'a HashSet<FormationKey>,
    unusable: &'a HashMap<Siret, String>,
}

async fn write_all(
    tx: &mut ImportTx,
    organismes: &[Organisme],
    paths: &[PathBuf],
    plan: &Plan<'_>,
    summary: &mut LheoImportSummary,
    skipped: &mut Errors,
) -> Result<(), LheoImportError> {
    for chunk in organismes.chunks(BATCH) {
        let c = tx.upsert_organismes(chunk).await?;
        add(&mut summary.organismes, c);
    }
    let changed = |what: String| {
        LheoImportError::Other(anyhow::anyhow!(
            "{what} (the file changed while it was being imported; nothing was written)"
        ))
    };
    let mut batch: Vec<Offre> = Vec::with_capacity(BATCH);
    for (fi, path) in paths.iter().enumerate() {
        let mut r =
            open(path).map_err(|(l, c, e)| changed(format!("{}:{l}:{c}: {e}", path.display())))?;
        let mut rank = 0u64;
        while let Some(el) = r
            .next_formation()
            .map_err(|e| changed(format!("{}:{e}", path.display())))?
        {
            rank += 1;
            if plan.skip.contains(&(fi, rank - 1)) {
                continue;
            }
            let m = map_formation(&el).map_err(|e| {
                changed(format!(
                    "{}: {}: {}",
                    path.display(),
                    e[0].path,
                    e[0].reason
                ))
            })?;
            // An organisme it needs cannot be written (lenient mode only: strict refused).
            if let Some((siret, why)) = sirets_of(&m.offre)
                .into_iter()
                .find_map(|s| plan.unusable.get(s).map(|why| (s, why)))
            {
                let reason = format!("organisme {siret} cannot be imported: {why}");
                skipped.push(fi, r.formation_position(), "", reason);
                summary.formations -= 1;
                summary.sessions -= m.offre.sessions.len() as u64;
                continue;
            }
            batch.push(m.offre);
            if batch.len() >= BATCH {
                let c = tx.upsert_offres(&batch).await?;
                add(&mut summary.offres, c);
                batch.clear();
            }
        }
    }
    if !batch.is_empty() {
        let c = tx.upsert_offres(&batch).await?;
        add(&mut summary.offres, c);
    }
    Ok(())
}

fn add(total: &mut UpsertCounts, c: UpsertCounts) {
    total.created += c.created;
    total.changed += c.changed;
    total.unchanged += c.unchanged;
}
