//! Property test of incremental exports: random sequences of edits (a text, the day moving
//! on, a session removed, an offer added, an organisme changed, an offer leaving or coming
//! back to validation, an information collective moved), each applied to two stores; one
//! exports incrementally, the other from scratch (`full`). After every step both must
//! publish the same offers with the same hashes, report the same change set and counts,
//! and write the same file byte for byte (the export timestamp is the same on both). The
//! incremental side copies unchanged offers from its previous file, or, every third step,
//! with that file removed, from the database.
//!
//! Runs on SQLite and PostgreSQL (real databases, `tests/common`): 100 and 50 cases (12 and
//! 6 before issue 24), what the CI time budget allows: each case is two stores and up to
//! fourteen exports, 1.2 s on SQLite and 2.5 s on PostgreSQL on the 2-core CI machine, so
//! the two tests take about 2 minutes each, side by side (measured with
//! `PROPTEST_CASES=100` / `50`: 119 s and 126 s). `PROPTEST_CASES` raises it for a longer
//! hunt.

mod common;

use std::path::{Path, PathBuf};

use lheo_feed::generation::{self, ExportError, ExportOptions};
use lheo_feed::model::{ActionCode, Date, EtatWorkflow, FasCode, Offre, Organisme, Record, Text};
use lheo_feed::pipeline::PassOptions;
use lheo_feed::rules::RulesConfig;
use lheo_feed::store::Store;
use proptest::prelude::*;

use common::{Backend, TestDb};

#[derive(Clone, Debug)]
enum Edit {
    /// Change the objectives of an offer.
    Text(usize),
    /// Move the day of the run forward.
    Today(u16),
    /// Remove the last session of an offer.
    RemoveSession(usize),
    /// Add an offer: a copy of another under a new number.
    AddOffer(usize),
    /// Change an organisme's name and telephone.
    Organisme(usize),
    /// Take an offer out of validation, or back in.
    ToggleValidation(usize),
    /// Move an information collective of an offer a month later.
    MoveIc(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => any::<usize>().prop_map(Edit::Text),
        2 => (1u16..90).prop_map(Edit::Today),
        2 => any::<usize>().prop_map(Edit::RemoveSession),
        2 => any::<usize>().prop_map(Edit::AddOffer),
        2 => any::<usize>().prop_map(Edit::Organisme),
        1 => any::<usize>().prop_map(Edit::ToggleValidation),
        2 => any::<usize>().prop_map(Edit::MoveIc),
    ]
}

/// The data both stores hold, to edit and upsert again.
struct Data {
    organismes: Vec<Organisme>,
    offres: Vec<Offre>,
    today: Date,
}

fn generated(seed: u64, dir: &Path) -> (Data, PathBuf) {
    let mut bytes = Vec::new();
    lheo_feed::generate::generate(&mut bytes, 45, seed).unwrap();
    let path = dir.join("data.jsonl");
    std::fs::write(&path, &bytes).unwrap();
    let mut data = Data {
        organismes: Vec::new(),
        offres: Vec::new(),
        today: Date::parse("2025-06-02").unwrap(),
    };
    for line in String::from_utf8(bytes).unwrap().lines() {
        match serde_json::from_str::<Record>(line).unwrap() {
            Record::Organisme(o) => data.organismes.push(*o),
            Record::Offre(o) => data.offres.push(*o),
            Record::Session(_) => {}
        }
    }
    (data, path)
}

/// Applies `e` to `data`; returns the records to upsert.
fn apply(data: &mut Data, e: &Edit, step: usize) -> (Vec<Organisme>, Vec<Offre>) {
    let n = data.offres.len();
    match *e {
        Edit::Text(i) => {
            let o = &mut data.offres[i % n];
            o.action.objectifs = Text::new(&format!("Objectifs révisés, version {step}."));
            (vec![], vec![o.clone()])
        }
        Edit::Today(days) => {
            data.today = Date(data.today.0 + chrono::Days::new(u64::from(days)));
            (vec![], vec![])
        }
        Edit::RemoveSession(i) => {
            let o = &mut data.offres[i % n];
            o.sessions.pop();
            (vec![], vec![o.clone()])
        }
        Edit::AddOffer(i) => {
            let mut o = data.offres[i % n].clone();
            let numero = ActionCode {
                formation: 900_000 + step as u64,
                action: 900_000 + step as u64,
            };
            o.numero = numero;
            for s in &mut o.sessions {
                s.code = FasCode {
                    action: numero,
                    session: s.code.session,
                };
            }
            data.offres.push(o.clone());
            (vec![], vec![o])
        }
        Edit::Organisme(i) => {
            let m = data.organismes.len();
            let org = &mut data.organismes[i % m];
            org.raison_sociale =
                Text::new(&format!("{} {step}", org.raison_sociale.as_str())).unwrap();
            org.telephone = Text::new(&format!("02 40 00 00 {:02}", step % 100));
            (vec![org.clone()], vec![])
        }
        Edit::ToggleValidation(i) => {
            let o = &mut data.offres[i % n];
            o.etat = if o.etat == EtatWorkflow::Validee {
                EtatWorkflow::EnAttenteDeValidation
            } else {
                EtatWorkflow::Validee
            };
            (vec![], vec![o.clone()])
        }
        Edit::MoveIc(i) => {
            let o = &mut data.offres[i % n];
            if let Some(ic) = o
                .sessions
                .iter_mut()
                .flat_map(|s| s.informations_collectives.iter_mut())
                .next()
            {
                ic.date = ic.date.map(|d| Date(d.0 + chrono::Days::new(30)));
            }
            (vec![], vec![o.clone()])
        }
    }
}

async fn upsert(store: &Store, organismes: &[Organisme], offres: &[Offre]) {
    let mut tx = store.begin_import().await.unwrap();
    tx.upsert_organismes(organismes).await.unwrap();
    tx.upsert_offres(offres).await.unwrap();
    tx.commit().await.unwrap();
}

fn options(data: &Data, out: &Path, full: bool) -> ExportOptions {
    let pass = PassOptions {
        today: data.today,
        rules: RulesConfig::default(),
        // Small pages, so that paging and merging cross page boundaries.
        page_size: 4,
    };
    let mut o = ExportOptions::new(pass, out.to_path_buf(), "2025-06-02T03:00:00+02:00".into());
    o.full = full;
    o.force = true;
    o.max_withdraw_share = 1.0;
    o
}

async fn published(store: &Store) -> Vec<(String, String)> {
    store
        .published_page(None, u32::MAX, false)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.numero.to_string(), r.hash))
        .collect()
}

async fn db(backend: Backend) -> TestDb {
    common::test_db(backend).await.expect("database")
}

/// One case: returns an error message on the first difference.
async fn case(backend: Backend, seed: u64, edits: Vec<Edit>) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let (mut data, path) = generated(seed, dir.path());
    let (db_inc, db_full) = (db(backend).await, db(backend).await);
    let (inc, full) = (db_inc.open().await, db_full.open().await);
    for store in [&inc, &full] {
        lheo_feed::ingest::import_files(store, std::slice::from_ref(&path))
            .await
            .map_err(|e| format!("{e:?}"))?;
    }
    let (out_inc, out_full) = (dir.path().join("inc.xml"), dir.path().join("full.xml"));
    // Step 0 is the first export; then one export after each edit.
    for step in 0..=edits.len() {
        if step > 0 {
            let (orgs, offres) = apply(&mut data, &edits[step - 1], step);
            for store in [&inc, &full] {
                upsert(store, &orgs, &offres).await;
            }
        }
        if step % 3 == 2 {
            // Now and then without the previous generation's file: the incremental export
            // then copies unchanged offers from the database instead.
            for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".inc.xml.generation-")
                {
                    std::fs::remove_file(entry.path()).unwrap();
                }
            }
        }
        let a = generation::export(&inc, &options(&data, &out_inc, false)).await;
        let b = generation::export(&full, &options(&data, &out_full, true)).await;
        let ctx = format!("step {step} of {edits:?} (seed {seed}, {backend:?})");
        match (a, b) {
            (Ok(a), Ok(b)) => {
                if step > 0 && a.mode != generation::Mode::Incremental {
                    return Err(format!("{ctx}: not incremental: {:?}", a.full_reason));
                }
                let key = |s: &generation::ExportSummary| {
                    (s.created, s.updated, s.withdrawn, s.unchanged, s.published)
                };
                if key(&a) != key(&b) {
                    return Err(format!(
                        "{ctx}: change sets differ: incremental {:?}, full {:?}",
                        key(&a),
                        key(&b)
                    ));
                }
                if a.counts != b.counts {
                    return Err(format!(
                        "{ctx}: counts differ:\n{:?}\n{:?}",
                        a.counts, b.counts
                    ));
                }
                if published(&inc).await != published(&full).await {
                    return Err(format!("{ctx}: published offers or hashes differ"));
                }
                if std::fs::read(&out_inc).unwrap() != std::fs::read(&out_full).unwrap() {
                    return Err(format!("{ctx}: the files differ"));
                }
            }
            (Err(ExportError::Empty { .. }), Err(ExportError::Empty { .. })) => {}
            (a, b) => {
                return Err(format!(
                    "{ctx}: outcomes differ: {:?} / {:?}",
                    a.map(|s| s.published),
                    b.map(|s| s.published)
                ))
            }
        }
    }
    Ok(())
}

fn check(backend: Backend, cases: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if backend == Backend::Postgres && rt.block_on(common::test_db(Backend::Postgres)).is_none() {
        return; // skipped loudly by common (fails under CI)
    }
    let config = ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(seed in 0u64..10_000, edits in prop::collection::vec(edit(), 1..7))| {
        let outcome = rt.block_on(case(backend, seed, edits));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    });
}

#[test]
fn incremental_exports_equal_full_ones_on_sqlite() {
    check(Backend::Sqlite, 100);
}

#[test]
fn incremental_exports_equal_full_ones_on_postgres() {
    check(Backend::Postgres, 50);
}
