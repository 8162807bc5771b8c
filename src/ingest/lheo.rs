//! `import-lheo`: LHÉO 2.2 / 2.3 documents → the store, all or nothing, like the JSONL
//! import (`super`), in one pass: a thread parses one `<formation>` at a time
//! ([`crate::lheo::reader`]), a second maps it ([`crate::lheo::import`]), while the import checks each against
//! those before it and writes the offers in its one transaction; an error that refuses
//! the import drops that transaction. What is held across the documents is one entry per
//! organisme (what they say of it, written at the end) and, as in the JSONL import, the
//! codes of the offers and sessions seen (to refuse duplicates), never the offers.
//!
//! Entry rules are not applied here: an imported offer is stored as it is and `check` /
//! `export` judge it, as for SOFI's own input.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::lheo::import::{map_formation, MapError, Mapped, OrgFact};
use crate::lheo::reader::{self, Element, Limits, Version};
use crate::model::*;
use crate::store::{ImportTx, Store, UpsertCounts};

/// How many errors are listed; the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 200;
const BATCH: usize = 500;
/// Offers written per statement batch. The writer does not drain the reading threads'
/// queue while a batch is written, so a batch must be well under what that queue holds
/// ([`IN_FLIGHT`] bundles of [`BUNDLE`]: 256 offers): with 500 over a queue of 64, the
/// reading threads stopped at every write and the import ran at the sum of reading and
/// writing instead of the slower of the two.
const OFFER_BATCH: usize = 64;

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
}

type Reader = reader::LheoReader<Box<dyn std::io::BufRead + Send>>;

/// Opens a document file, plain or gzip (by magic bytes, as every import does).
fn open(path: &Path) -> Result<Reader, (u64, u64, String)> {
    let input =
        super::lines::open(path).map_err(|e| (0, 0, format!("cannot read the file: {e}")))?;
    reader::LheoReader::new(input, Limits::default()).map_err(|e| (e.line, e.column, e.reason))
}

/// What the reading thread sends, in document order.
enum Read {
    /// A document was opened: its version.
    Opened(Version),
    /// A document cannot be opened or read any further: it is refused whole.
    Refused { at: (u64, u64), reason: String },
    /// One `<formation>` (its rank in the file, from 0, and position), mapped or not.
    Formation {
        rank: u64,
        at: (u64, u64),
        mapped: Result<Box<Mapped>, Vec<MapError>>,
    },
}

/// Items handed from one stage to the next at once. Each hand-over may wake a sleeping
/// thread (a futex call and a context switch on both sides); one per formation cost
/// more than the parsing of a small formation.
const BUNDLE: usize = 8;
/// Bundles of mapped formations in flight between the mapping thread and the writer:
/// enough to keep both busy while a batch is written, few enough that memory stays that
/// of a few hundred offers.
const IN_FLIGHT: usize = 32;
/// Bundles of element trees in flight between the parsing thread and the mapping thread.
/// A tree weighs several times its mapped offer (measured: 64 trees in flight took the
/// import over its 100 MB bound), so this queue is short: it only smooths the pace.
const TREES_IN_FLIGHT: usize = 2;

/// A batch of `(file index, item)`, in order.
type Bundle<T> = Vec<(usize, T)>;

/// The items of every document, from the reading threads.
struct Items {
    receive: tokio::sync::mpsc::Receiver<Bundle<Read>>,
    pending: std::vec::IntoIter<(usize, Read)>,
    threads: [tokio::task::JoinHandle<()>; 2],
}

impl Items {
    /// The next `(file index, item)`; `None` once every document was read through. A
    /// reading thread that died is an error, never a short import.
    async fn next(&mut self) -> anyhow::Result<Option<(usize, Read)>> {
        loop {
            if let Some(item) = self.pending.next() {
                return Ok(Some(item));
            }
            match self.receive.recv().await {
                Some(bundle) => self.pending = bundle.into_iter(),
                None => {
                    for thread in &mut self.threads {
                        thread
                            .await
                            .map_err(|e| anyhow::anyhow!("reading the documents failed: {e}"))?;
                    }
                    return Ok(None);
                }
            }
        }
    }
}

/// What the parsing thread hands to the mapping thread: [`Read`] with the formation still
/// an element tree.
enum Parsed {
    Opened(Version),
    Refused {
        at: (u64, u64),
        reason: String,
    },
    Formation {
        rank: u64,
        at: (u64, u64),
        el: Element,
    },
}

/// Reads the documents on two threads of their own, each file's items in order: one
/// parses (quick-xml and the element tree, most of the import's work), the next maps
/// each tree to an offer, while this task checks and writes. On two cores the parsing
/// no longer waits for the mapping. The threads stop when the receiver is dropped.
fn read_on_threads(paths: &[PathBuf]) -> Items {
    let (trees, parsed) = std::sync::mpsc::sync_channel::<Bundle<Parsed>>(TREES_IN_FLIGHT);
    let (send, receive) = tokio::sync::mpsc::channel(IN_FLIGHT);
    let paths = paths.to_vec();
    let parse = tokio::task::spawn_blocking(move || {
        let mut out = Bundler {
            items: Vec::with_capacity(BUNDLE),
            send: trees,
        };
        parse_documents(&paths, &mut out);
    });
    let map = tokio::task::spawn_blocking(move || {
        for bundle in parsed {
            let mapped: Bundle<Read> = bundle
                .into_iter()
                .map(|(fi, item)| {
                    let item = match item {
                        Parsed::Opened(v) => Read::Opened(v),
                        Parsed::Refused { at, reason } => Read::Refused { at, reason },
                        Parsed::Formation { rank, at, el } => Read::Formation {
                            rank,
                            at,
                            mapped: map_formation(&el).map(Box::new),
                        },
                    };
                    (fi, item)
                })
                .collect();
            if send.blocking_send(mapped).is_err() {
                // Dropping `parsed` stops the parsing thread too.
                return;
            }
        }
    });
    Items {
        receive,
        pending: Vec::new().into_iter(),
        threads: [parse, map],
    }
}

/// Gathers the parsing thread's items into bundles of [`BUNDLE`] for the mapping thread.
struct Bundler {
    items: Bundle<Parsed>,
    send: std::sync::mpsc::SyncSender<Bundle<Parsed>>,
}

impl Bundler {
    /// Adds an item; false once the next stage is gone.
    fn push(&mut self, fi: usize, item: Parsed) -> bool {
        self.items.push((fi, item));
        self.items.len() < BUNDLE || self.flush()
    }
    /// Hands over what is gathered; false once the next stage is gone.
    fn flush(&mut self) -> bool {
        if self.items.is_empty() {
            return true;
        }
        let bundle = std::mem::replace(&mut self.items, Vec::with_capacity(BUNDLE));
        self.send.send(bundle).is_ok()
    }
}

/// The parsing thread: each document's formations as element trees, in order; a document
/// that cannot be read further ends with `Refused`. Each document's end is handed over at
/// once (the writer may be waiting for it).
fn parse_documents(paths: &[PathBuf], out: &mut Bundler) {
    for (fi, path) in paths.iter().enumerate() {
        let mut r = match open(path) {
            Ok(r) => r,
            Err((l, c, reason)) => {
                if !out.push(fi, Parsed::Refused { at: (l, c), reason }) || !out.flush() {
                    return;
                }
                continue;
            }
        };
        if !out.push(fi, Parsed::Opened(r.version())) {
            return;
        }
        for rank in 0.. {
            let item = match r.next_formation() {
                Ok(Some(el)) => Parsed::Formation {
                    rank,
                    at: r.formation_position(),
                    el,
                },
                Ok(None) => break,
                Err(e) => Parsed::Refused {
                    at: (e.line, e.column),
                    reason: format!("{} — the whole document is refused", e.reason),
                },
            };
            let last = matches!(item, Parsed::Refused { .. });
            if !out.push(fi, item) {
                return;
            }
            if last {
                break;
            }
        }
        if !out.flush() {
            return;
        }
    }
}

/// What the import keeps across the documents while it reads them (a few bytes per
/// formation, one entry per organisme): the check that pass 1 used to make alone.
struct Seen {
    strict: bool,
    book: Book,
    offres: HashSet<ActionCode>,
    sessions: HashSet<FasCode>,
    /// First mention of each mandataire: checked once the whole input is known (it may be
    /// described further on). One entry per organisme, like the book.
    mandataires: HashMap<Siret, (usize, (u64, u64))>,
    /// Lenient mode: the formations skipped.
    skip: HashSet<FormationKey>,
    errors: Errors,
    skipped: Errors,
    kept: Errors,
}

impl Seen {
    fn new(files: &[String], strict: bool) -> Self {
        Seen {
            strict,
            book: Book::default(),
            offres: HashSet::new(),
            sessions: HashSet::new(),
            mandataires: HashMap::new(),
            skip: HashSet::new(),
            errors: Errors::new(files),
            skipped: Errors::new(files),
            kept: Errors::new(files),
        }
    }

    /// A formation that cannot be imported: an error (strict) or skipped (lenient).
    fn refuse(&mut self, (fi, rank): FormationKey, at: (u64, u64), list: Vec<MapError>) {
        if self.strict {
            for MapError { path, reason } in list {
                self.errors.push(fi, at, &path, reason);
            }
        } else {
            self.skip.insert((fi, rank));
            let (path, reason) = reasons(&list);
            self.skipped.push(fi, at, &path, reason);
        }
    }

    /// Checks a mapped formation against those before it; the offer to write, if any.
    fn accept(
        &mut self,
        key: FormationKey,
        at: (u64, u64),
        m: Mapped,
        summary: &mut LheoImportSummary,
    ) -> Option<Offre> {
        let o = &m.offre;
        let mut dup = Vec::new();
        if self.offres.contains(&o.numero) {
            dup.push(MapError {
                path: "formation/@numero".into(),
                reason: format!("offre {} appears twice in this import", o.numero),
            });
        }
        let mut codes = HashSet::new();
        for s in &o.sessions {
            if self.sessions.contains(&s.code) || !codes.insert(s.code) {
                dup.push(MapError {
                    path: "session/@numero".into(),
                    reason: format!("session {} appears twice in this import", s.code),
                });
            }
        }
        if !dup.is_empty() {
            // Of two with the same code, the first one read is imported; this one is named.
            self.refuse(key, at, dup);
            return None;
        }
        let fi = key.0;
        self.offres.insert(o.numero);
        self.sessions.extend(codes);
        for MapError { path, reason } in &m.kept {
            self.kept
                .push(fi, at, path, format!("{reason} — kept as given"));
        }
        summary.formations += 1;
        summary.sessions += o.sessions.len() as u64;
        self.mandataires
            .entry(o.mandataire.clone())
            .or_insert((fi, at));
        for f in m.facts {
            self.book.apply(f, (fi, at.0, at.1));
        }
        Some(m.offre)
    }
}

/// Offers waiting to be written, in batches.
struct Batch {
    offres: Vec<Offre>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            offres: Vec::with_capacity(OFFER_BATCH),
        }
    }
    /// Adds an offer; writes the batch when it is full.
    async fn push(
        &mut self,
        tx: &mut ImportTx,
        o: Offre,
        counts: &mut UpsertCounts,
    ) -> anyhow::Result<()> {
        self.offres.push(o);
        if self.offres.len() >= OFFER_BATCH {
            self.flush(tx, counts).await?;
        }
        Ok(())
    }
    async fn flush(&mut self, tx: &mut ImportTx, counts: &mut UpsertCounts) -> anyhow::Result<()> {
        if !self.offres.is_empty() {
            *counts += tx.upsert_offres(&self.offres).await?;
            self.offres.clear();
        }
        Ok(())
    }
}

/// Imports LHÉO documents into `store` in one transaction.
///
/// One pass: two threads read and map each formation while this task checks it against
/// those before (duplicates), gathers what the documents say of organismes and writes
/// the offers, all in the import's one transaction. Any error that refuses the import
/// drops that transaction, so nothing is written. Organismes are written at the end, once
/// every description of them is known. Only when one of them cannot be completed (lenient
/// mode: the offers that need it are skipped) are the documents read a second time, in a
/// new transaction, to write the offers without those (`write_all`).
pub async fn import_lheo_files(
    store: &Store,
    paths: &[PathBuf],
    mode: Mode,
) -> Result<LheoImportSummary, LheoImportError> {
    let strict = mode == Mode::Strict;
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let mut tx = store.begin_import().await?;
    let mut seen = Seen::new(&files, strict);
    let mut summary = LheoImportSummary {
        files: paths.len(),
        ..Default::default()
    };
    let mut batch = Batch::new();
    let mut items = read_on_threads(paths);
    while let Some((fi, item)) = items.next().await? {
        let (rank, at, mapped) = match item {
            Read::Opened(v) => {
                summary.versions.push(version_name(v));
                continue;
            }
            Read::Refused { at, reason } => {
                seen.errors.push(fi, at, "", reason);
                continue;
            }
            Read::Formation { rank, at, mapped } => (rank, at, mapped),
        };
        summary.formations_read += 1;
        let offre = match mapped {
            Ok(m) => seen.accept((fi, rank), at, *m, &mut summary),
            Err(list) => {
                seen.refuse((fi, rank), at, list);
                None
            }
        };
        // Once the import is refused, nothing more is written (the rest is only read for
        // its errors); the transaction is dropped below.
        if let (Some(o), 0) = (offre, seen.errors.total) {
            batch.push(&mut tx, o, &mut summary.offres).await?;
        }
    }
    let (organismes, unusable) = resolve_organismes(&mut tx, &mut seen).await?;
    if seen.errors.total > 0 {
        return Err(LheoImportError::Input {
            errors: seen.errors.list,
            total: seen.errors.total,
        });
    }
    if unusable.is_empty() {
        batch.flush(&mut tx, &mut summary.offres).await?;
        for chunk in organismes.chunks(BATCH) {
            summary.organismes += tx.upsert_organismes(chunk).await?;
        }
    } else {
        // Some offers written need an organisme that cannot be: start again without them.
        drop(tx);
        tx = store.begin_import().await?;
        let (organismes, unusable) = resolve_organismes(&mut tx, &mut seen).await?;
        let plan = Plan {
            skip: &seen.skip,
            unusable: &unusable,
        };
        summary.offres = UpsertCounts::default();
        write_all(
            &mut tx,
            &organismes,
            paths,
            &plan,
            &mut summary,
            &mut seen.skipped,
        )
        .await?;
    }
    tx.commit().await?;
    summary.skipped = seen.skipped.total;
    summary.skipped_formations = seen.skipped.list;
    summary.kept_as_given = seen.kept.total;
    summary.values_kept_as_given = seen.kept.list;
    Ok(summary)
}

fn version_name(v: Version) -> String {
    match v {
        Version::V2_2 => "2.2",
        Version::V2_3 => "2.3",
    }
    .to_owned()
}

/// The organismes to write, merged with the store: each must end up complete. Lenient:
/// one that cannot be is not written (the offers that need it are skipped), strict: an
/// error.
async fn resolve_organismes(
    tx: &mut ImportTx,
    seen: &mut Seen,
) -> anyhow::Result<(Vec<Organisme>, HashMap<Siret, String>)> {
    let strict = seen.strict;
    let mut organismes: Vec<Organisme> = Vec::new();
    let mut unusable: HashMap<Siret, String> = HashMap::new();
    let mut sirets: Vec<&Siret> = seen.book.orgs.keys().collect();
    sirets.sort();
    for siret in sirets {
        let d = &seen.book.orgs[siret];
        let stored = tx.organisme(siret).await?;
        match finish(siret, d, stored) {
            Ok(o) => organismes.push(o),
            Err(reason) if strict => seen.errors.push(d.at.0, (d.at.1, d.at.2), "", reason),
            Err(reason) => {
                unusable.insert(siret.clone(), reason);
            }
        }
    }
    let mut mandataires: Vec<_> = seen.mandataires.iter().collect();
    mandataires.sort_by_key(|(_, at)| **at);
    for (siret, &(fi, at)) in mandataires {
        if !seen.book.orgs.contains_key(siret) && tx.organisme_sites(siret).await?.is_none() {
            let reason = format!(
                "unknown organisme {siret}: neither in the document nor in the store; \
                 import its organisme record first (lheo-feed import)"
            );
            if strict {
                seen.errors.push(
                    fi,
                    at,
                    "formation/extras[sofi-formation]/mandataire",
                    reason,
                );
            } else {
                unusable.insert(siret.clone(), reason);
            }
        }
    }
    Ok((organismes, unusable))
}

/// The formations the first pass left out, and the organismes that cannot be written.
struct Plan<'a> {
    skip: &'a HashSet<FormationKey>,
    unusable: &'a HashMap<Siret, String>,
}

/// The second pass, only when an organisme cannot be written: the documents read again
/// (they were read whole once, so any change is an error) and the offers written, but
/// those the first pass skipped and those that need an organisme that cannot be.
async fn write_all(
    tx: &mut ImportTx,
    organismes: &[Organisme],
    paths: &[PathBuf],
    plan: &Plan<'_>,
    summary: &mut LheoImportSummary,
    skipped: &mut Errors,
) -> Result<(), LheoImportError> {
    for chunk in organismes.chunks(BATCH) {
        summary.organismes += tx.upsert_organismes(chunk).await?;
    }
    let changed = |fi: usize, (l, c): (u64, u64), what: &str| {
        LheoImportError::Other(anyhow::anyhow!(
            "{}:{l}:{c}: {what} (the file changed while it was being imported; nothing was \
             written)",
            paths[fi].display()
        ))
    };
    let mut batch = Batch::new();
    let mut items = read_on_threads(paths);
    while let Some((fi, item)) = items.next().await? {
        let (rank, at, m) = match item {
            Read::Opened(_) => continue,
            Read::Refused { at, reason } => return Err(changed(fi, at, &reason)),
            Read::Formation { rank, at, mapped } => (rank, at, mapped),
        };
        if plan.skip.contains(&(fi, rank)) {
            continue;
        }
        let m = m.map_err(|e| changed(fi, at, &format!("{}: {}", e[0].path, e[0].reason)))?;
        // An organisme it needs cannot be written (lenient mode only: strict refused).
        if let Some((siret, why)) = sirets_of(&m.offre)
            .into_iter()
            .find_map(|s| plan.unusable.get(s).map(|why| (s, why)))
        {
            let reason = format!("organisme {siret} cannot be imported: {why}");
            skipped.push(fi, at, "", reason);
            summary.formations -= 1;
            summary.sessions -= m.offre.sessions.len() as u64;
            continue;
        }
        batch.push(tx, m.offre, &mut summary.offres).await?;
    }
    batch.flush(tx, &mut summary.offres).await?;
    Ok(())
}
