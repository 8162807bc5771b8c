//! The store against real databases: every test body runs on SQLite and on PostgreSQL
//! (see `common` for how the databases are made and dropped).

mod common;

use std::time::Instant;

use common::TestDb;
use lheo_feed::model::{ActionCode, EtatWorkflow, Offre, Organisme, Session, Siret};
use lheo_feed::store::{Store, StoreCounts, UpsertCounts};
use serde_json::json;

// ----- Test data -----------------------------------------------------------------------

/// A valid SIRET built from `n` (the 14th digit is the Luhn check digit).
fn siret(n: u64) -> Siret {
    let base = format!("{:013}", 4_400_000_000_000 + n);
    (0..10)
        .find_map(|d| Siret::parse(&format!("{base}{d}")).ok())
        .expect("one check digit fits")
}

fn ac(s: &str) -> ActionCode {
    ActionCode::parse(s).unwrap()
}

fn organisme(n: u64, sites: &[&str]) -> Organisme {
    let sites: Vec<_> = sites
        .iter()
        .map(|code| {
            json!({
                "code": code,
                "nom": format!("Site {code}"),
                "adresse": {"lignes": ["1 rue de la Paix"], "code_postal": "44000", "ville": "Nantes"}
            })
        })
        .collect();
    serde_json::from_value(json!({
        "siret": siret(n).as_str(),
        "raison_sociale": format!("Organisme {n}"),
        "sites": sites,
    }))
    .unwrap()
}

/// A session `code`; `variant` changes its content (so its doc) without changing its key.
fn session(code: &str, variant: u32) -> Session {
    let sref = json!({"siret": siret(1).as_str(), "site": "100"});
    serde_json::from_value(json!({
        "code": code,
        "site_lieu": sref,
        "date_debut": "2025-09-01",
        "date_fin": "2026-03-31",
        "entrees_sorties": "dates_fixes",
        "type_parcours": "groupe",
        "rythmes": format!("Du lundi au vendredi, variante {variant}"),
        "organisme_responsable": sref,
        "dispositif": {"programme": "PROGRAMME REGION - 1 emploi = 1 formation", "places": 12},
    }))
    .unwrap()
}

/// An offer `numero` with sessions of the given session numbers, in the order given.
fn offre(numero: &str, etat: EtatWorkflow, session_nos: &[u64]) -> Offre {
    let sref = json!({"siret": siret(1).as_str(), "site": "100"});
    let mut o: Offre = serde_json::from_value(json!({
        "numero": numero,
        "etat": etat,
        "mandataire": siret(1).as_str(),
        "formation": {
            "intitule": format!("Formation {numero}"),
            "objectif_general": "certification",
            "type_certification": "titre_professionnel",
            "validation": "totale",
        },
        "action": {"site_dispensateur": sref, "niveau_entree": 1},
    }))
    .unwrap();
    o.sessions = session_nos
        .iter()
        .map(|s| session(&format!("{numero}-{s}"), 0))
        .collect();
    o
}

fn validee(numero: &str, session_nos: &[u64]) -> Offre {
    offre(numero, EtatWorkflow::Validee, session_nos)
}

fn counts(created: u64, changed: u64, unchanged: u64) -> UpsertCounts {
    UpsertCounts {
        created,
        changed,
        unchanged,
    }
}

/// Imports organismes and offers in one committed import.
async fn import(
    store: &Store,
    orgs: &[Organisme],
    offres: &[Offre],
) -> (UpsertCounts, UpsertCounts) {
    let mut tx = store.begin_import().await.unwrap();
    let o = tx.upsert_organismes(orgs).await.unwrap();
    let f = tx.upsert_offres(offres).await.unwrap();
    tx.commit().await.unwrap();
    (o, f)
}

/// Every offer, page by page.
async fn all_pages(store: &Store, limit: u32, only_validated: bool) -> Vec<Offre> {
    let mut out: Vec<Offre> = Vec::new();
    loop {
        let after = out.last().map(|o| o.numero);
        let page = store
            .offres_page(after, limit, only_validated)
            .await
            .unwrap();
        assert!(page.len() <= limit as usize, "page larger than its limit");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

fn numeros(offres: &[Offre]) -> Vec<String> {
    offres.iter().map(|o| o.numero.to_string()).collect()
}

fn session_codes(o: &Offre) -> Vec<String> {
    o.sessions.iter().map(|s| s.code.to_string()).collect()
}

// ----- Tests run on both backends -------------------------------------------------------

async fn round_trip(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(
        store.backend(),
        if db.backend == common::Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    let orgs = [organisme(1, &["100", "200"]), organisme(2, &[])];
    // Sessions deliberately out of order: the store returns them by session number.
    let offres = [
        validee("19482-89393", &[143842, 9, 100]),
        validee("7-1", &[]),
    ];
    let (o, f) = import(&store, &orgs, &offres).await;
    assert_eq!(o, counts(2, 0, 0));
    assert_eq!(f, counts(2, 0, 0));

    let mut expected = offres[0].clone();
    expected.sort_sessions();
    let got = store
        .offre(ac("19482-89393"))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(got, expected);
    assert_eq!(
        session_codes(&got),
        ["19482-89393-9", "19482-89393-100", "19482-89393-143842"]
    );
    assert_eq!(
        store.offre(ac("7-1")).await.unwrap(),
        Some(offres[1].clone())
    );
    assert_eq!(store.offre(ac("7-2")).await.unwrap(), None);

    let stored = store.organismes().await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[&siret(1)], orgs[0]);
    assert_eq!(stored[&siret(2)], orgs[1]);

    assert_eq!(
        store.counts().await.unwrap(),
        StoreCounts {
            organismes: 2,
            offres: 2,
            offres_validees: 2,
            sessions: 3
        }
    );

    let mut tx = store.begin_import().await.unwrap();
    let sites = tx
        .organisme_sites(&siret(1))
        .await
        .unwrap()
        .expect("known organisme");
    assert_eq!(
        sites.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        ["100", "200"]
    );
    assert_eq!(tx.organisme_sites(&siret(2)).await.unwrap(), Some(vec![]));
    assert_eq!(tx.organisme_sites(&siret(3)).await.unwrap(), None);
    assert!(tx.offre_exists(ac("7-1")).await.unwrap());
    assert!(!tx.offre_exists(ac("7-2")).await.unwrap());
    // The import sees its own uncommitted writes.
    tx.upsert_organismes(&[organisme(3, &["300"])])
        .await
        .unwrap();
    assert_eq!(
        tx.organisme_sites(&siret(3))
            .await
            .unwrap()
            .map(|s| s.len()),
        Some(1)
    );
    tx.upsert_offres(&[validee("7-2", &[])]).await.unwrap();
    assert!(tx.offre_exists(ac("7-2")).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(store.counts().await.unwrap().organismes, 3);
    store.close().await;

    // Reopening an existing store (migrations already applied) finds the data.
    let store = db.open().await;
    assert_eq!(
        store.offre(ac("19482-89393")).await.unwrap(),
        Some(expected)
    );
}

async fn paging_is_numeric_and_complete(db: &TestDb) {
    let store = db.open().await;
    // Inserted out of order; text order would put 10-1 first and 2-10 before 2-9.
    let offres = [
        validee("10-1", &[1]),
        validee("2-10", &[10, 9]),
        validee("9-99", &[]),
        validee("2-9", &[3]),
        validee("9-100", &[2, 1]),
        validee("1-5", &[]),
    ];
    import(&store, &[], &offres).await;
    let want = ["1-5", "2-9", "2-10", "9-99", "9-100", "10-1"];

    for limit in [1, 2, 4, 100] {
        let got = all_pages(&store, limit, false).await;
        assert_eq!(numeros(&got), want, "limit {limit}");
        // Each offer carries exactly its own sessions, in numeric session order, even when
        // a page boundary falls between two offers.
        let by_numero = |n: &str| got.iter().find(|o| o.numero.to_string() == n).unwrap();
        assert_eq!(
            session_codes(by_numero("2-10")),
            ["2-10-9", "2-10-10"],
            "limit {limit}"
        );
        assert_eq!(
            session_codes(by_numero("9-100")),
            ["9-100-1", "9-100-2"],
            "limit {limit}"
        );
        assert_eq!(session_codes(by_numero("2-9")), ["2-9-3"], "limit {limit}");
        assert!(by_numero("9-99").sessions.is_empty(), "limit {limit}");
    }

    // `after` is exclusive, and needs not be a stored offer.
    let page = store.offres_page(Some(ac("2-9")), 2, false).await.unwrap();
    assert_eq!(numeros(&page), ["2-10", "9-99"]);
    let page = store
        .offres_page(Some(ac("9-1000")), 10, false)
        .await
        .unwrap();
    assert_eq!(numeros(&page), ["10-1"]);
    assert!(store
        .offres_page(Some(ac("10-1")), 10, false)
        .await
        .unwrap()
        .is_empty());
    assert!(store.offres_page(None, 0, false).await.unwrap().is_empty());
}

async fn reimport_is_idempotent(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.current_revision().await.unwrap(), 0, "empty store");
    let orgs = [organisme(1, &["100"]), organisme(2, &["200"])];
    let offres = [validee("1-1", &[1, 2]), validee("1-2", &[1])];
    import(&store, &orgs, &offres).await;
    let r1 = store.current_revision().await.unwrap();
    assert!(r1 > 0);
    assert_eq!(
        store.offres_changed_since(0).await.unwrap(),
        [ac("1-1"), ac("1-2")]
    );
    assert_eq!(
        store.organismes_changed_since(0).await.unwrap(),
        [siret(1), siret(2)]
    );

    let mut tx = store.begin_import().await.unwrap();
    assert_eq!(tx.upsert_organismes(&orgs).await.unwrap(), counts(0, 0, 2));
    assert_eq!(tx.upsert_offres(&offres).await.unwrap(), counts(0, 0, 2));
    let lines: Vec<Session> = offres[0].sessions.clone();
    assert_eq!(tx.upsert_sessions(&lines).await.unwrap(), counts(0, 0, 2));
    tx.commit().await.unwrap();

    let r2 = store.current_revision().await.unwrap();
    assert!(r2 > r1, "each import takes a new revision ({r1} then {r2})");
    assert!(
        store.offres_changed_since(r1).await.unwrap().is_empty(),
        "nothing changed"
    );
    assert!(
        store.organismes_changed_since(r1).await.unwrap().is_empty(),
        "nothing changed"
    );
    assert_eq!(store.offres_changed_since(0).await.unwrap().len(), 2);

    // A real change to one organisme bumps that one only.
    let mut changed = orgs[1].clone();
    changed.nom = lheo_feed::model::Text::new("Nouveau nom");
    let (o, _) = import(&store, &[orgs[0].clone(), changed.clone()], &[]).await;
    assert_eq!(o, counts(0, 1, 1));
    assert_eq!(
        store.organismes_changed_since(r2).await.unwrap(),
        [siret(2)]
    );
    assert_eq!(store.organismes().await.unwrap()[&siret(2)], changed);
}

async fn offer_line_replaces_its_sessions(db: &TestDb) {
    let store = db.open().await;
    import(
        &store,
        &[],
        &[validee("3-1", &[1, 2, 3]), validee("3-2", &[1])],
    )
    .await;
    let r1 = store.current_revision().await.unwrap();

    // Session 2 is gone from the line, session 3 changed, session 4 is new; the offer's
    // own fields are the same.
    let mut line = validee("3-1", &[1, 3, 4]);
    line.sessions[1] = session("3-1-3", 1);
    let (_, f) = import(&store, &[], &[line.clone(), validee("3-2", &[1])]).await;
    assert_eq!(
        f,
        counts(0, 1, 1),
        "3-1 changed through its sessions, 3-2 did not"
    );

    let got = store.offre(ac("3-1")).await.unwrap().unwrap();
    assert_eq!(session_codes(&got), ["3-1-1", "3-1-3", "3-1-4"]);
    assert_eq!(got.sessions[1], session("3-1-3", 1));
    assert_eq!(store.counts().await.unwrap().sessions, 4);
    assert_eq!(store.offres_changed_since(r1).await.unwrap(), [ac("3-1")]);

    // Removing a session alone (nothing else differs) still bumps the offer.
    let r2 = store.current_revision().await.unwrap();
    let mut fewer = line.clone();
    fewer.sessions.remove(0);
    let (_, f) = import(&store, &[], &[fewer]).await;
    assert_eq!(f, counts(0, 1, 0));
    assert_eq!(
        session_codes(&store.offre(ac("3-1")).await.unwrap().unwrap()),
        ["3-1-3", "3-1-4"]
    );
    assert_eq!(store.offres_changed_since(r2).await.unwrap(), [ac("3-1")]);

    // An offer line without sessions removes them all.
    let (_, f) = import(&store, &[], &[validee("3-1", &[])]).await;
    assert_eq!(f, counts(0, 1, 0));
    assert!(store
        .offre(ac("3-1"))
        .await
        .unwrap()
        .unwrap()
        .sessions
        .is_empty());
    assert_eq!(store.counts().await.unwrap().sessions, 1, "3-2-1 is left");
}

async fn upsert_sessions_adds_and_updates(db: &TestDb) {
    let store = db.open().await;
    import(
        &store,
        &[],
        &[validee("5-1", &[10, 20]), validee("5-2", &[1])],
    )
    .await;
    let r1 = store.current_revision().await.unwrap();

    let mut tx = store.begin_import().await.unwrap();
    let lines = [
        session("5-1-15", 0),
        session("5-1-20", 7),
        session("5-1-10", 0),
    ];
    assert_eq!(tx.upsert_sessions(&lines).await.unwrap(), counts(1, 1, 1));
    tx.commit().await.unwrap();

    let got = store.offre(ac("5-1")).await.unwrap().unwrap();
    assert_eq!(session_codes(&got), ["5-1-10", "5-1-15", "5-1-20"]);
    assert_eq!(got.sessions[2], session("5-1-20", 7));
    assert_eq!(
        store.offres_changed_since(r1).await.unwrap(),
        [ac("5-1")],
        "5-2 untouched"
    );

    // The same session lines again: nothing changes, no revision moves.
    let r2 = store.current_revision().await.unwrap();
    let mut tx = store.begin_import().await.unwrap();
    assert_eq!(tx.upsert_sessions(&lines).await.unwrap(), counts(0, 0, 3));
    tx.commit().await.unwrap();
    assert!(store.offres_changed_since(r2).await.unwrap().is_empty());

    // A session of an offer that is not stored is refused, with a reason.
    let mut tx = store.begin_import().await.unwrap();
    let err = tx
        .upsert_sessions(&[session("6-1-1", 0)])
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("not in the store"), "{err:#}");
}

async fn dropped_import_rolls_back(db: &TestDb) {
    let store = db.open().await;
    import(
        &store,
        &[organisme(1, &["100"])],
        &[validee("4-1", &[1, 2])],
    )
    .await;
    let before_counts = store.counts().await.unwrap();
    let before_offre = store.offre(ac("4-1")).await.unwrap();
    let before_rev = store.current_revision().await.unwrap();

    {
        let mut tx = store.begin_import().await.unwrap();
        tx.upsert_organismes(&[organisme(2, &[])]).await.unwrap();
        tx.upsert_offres(&[validee("4-1", &[1]), validee("4-2", &[1])])
            .await
            .unwrap();
        tx.upsert_sessions(&[session("4-1-9", 0)]).await.unwrap();
        // Dropped here without commit.
    }

    assert_eq!(store.counts().await.unwrap(), before_counts);
    assert_eq!(store.offre(ac("4-1")).await.unwrap(), before_offre);
    assert_eq!(store.offre(ac("4-2")).await.unwrap(), None);
    assert_eq!(store.current_revision().await.unwrap(), before_rev);
    assert!(store
        .offres_changed_since(before_rev)
        .await
        .unwrap()
        .is_empty());

    // The rolled-back import released its lock: the next one goes through at once.
    let next = tokio::time::timeout(std::time::Duration::from_secs(10), store.begin_import())
        .await
        .expect("a new import must not wait for the dropped one")
        .unwrap();
    next.commit().await.unwrap();
    assert!(store.current_revision().await.unwrap() > before_rev);
}

async fn only_validated_filter(db: &TestDb) {
    let store = db.open().await;
    let offres = [
        validee("8-1", &[1]),
        offre("8-2", EtatWorkflow::EnCoursDeSaisie, &[1, 2]),
        offre("8-3", EtatWorkflow::EnAttenteDeValidation, &[1]),
        validee("8-4", &[1, 2]),
        offre("8-5", EtatWorkflow::EnCoursDeSaisie, &[]),
        validee("8-6", &[]),
    ];
    import(&store, &[], &offres).await;
    let c = store.counts().await.unwrap();
    assert_eq!((c.offres, c.offres_validees, c.sessions), (6, 3, 6));

    for limit in [1, 2, 10] {
        let got = all_pages(&store, limit, true).await;
        assert_eq!(numeros(&got), ["8-1", "8-4", "8-6"], "limit {limit}");
        // Sessions of the non-validated offers between them stay out.
        assert_eq!(session_codes(&got[0]), ["8-1-1"]);
        assert_eq!(session_codes(&got[1]), ["8-4-1", "8-4-2"]);
        assert!(got.iter().all(|o| o.etat == EtatWorkflow::Validee));
        assert_eq!(all_pages(&store, limit, false).await.len(), 6);
    }

    // Validating an offer brings it in, with its new revision.
    let r = store.current_revision().await.unwrap();
    import(&store, &[], &[validee("8-2", &[1, 2])]).await;
    assert_eq!(
        numeros(&all_pages(&store, 2, true).await),
        ["8-1", "8-2", "8-4", "8-6"]
    );
    assert_eq!(store.offres_changed_since(r).await.unwrap(), [ac("8-2")]);
}

async fn repeated_keys_in_one_batch(db: &TestDb) {
    let store = db.open().await;
    let mut tx = store.begin_import().await.unwrap();
    // As if upserted one after the other: created, then changed, then unchanged.
    let batch = [
        validee("9-1", &[1]),
        validee("9-2", &[]),
        validee("9-1", &[1, 2]),
        validee("9-1", &[1, 2]),
    ];
    assert_eq!(tx.upsert_offres(&batch).await.unwrap(), counts(2, 1, 1));
    let orgs = [organisme(1, &[]), organisme(1, &["100"])];
    assert_eq!(tx.upsert_organismes(&orgs).await.unwrap(), counts(1, 1, 0));
    let lines = [session("9-2-1", 0), session("9-2-1", 1)];
    assert_eq!(tx.upsert_sessions(&lines).await.unwrap(), counts(1, 1, 0));
    tx.commit().await.unwrap();

    assert_eq!(
        session_codes(&store.offre(ac("9-1")).await.unwrap().unwrap()),
        ["9-1-1", "9-1-2"]
    );
    assert_eq!(
        store.offre(ac("9-2")).await.unwrap().unwrap().sessions,
        [session("9-2-1", 1)]
    );
    assert_eq!(store.organismes().await.unwrap()[&siret(1)], orgs[1]);
}

async fn bad_offer_lines_are_refused(db: &TestDb) {
    let store = db.open().await;
    let mut misfiled = validee("11-1", &[1]);
    misfiled.sessions.push(session("11-2-1", 0));
    let mut tx = store.begin_import().await.unwrap();
    let err = tx.upsert_offres(&[misfiled]).await.unwrap_err().to_string();
    assert!(
        err.contains("11-2-1") && err.contains("own action"),
        "{err}"
    );
    drop(tx);

    let mut twice = validee("11-1", &[1]);
    twice.sessions.push(session("11-1-1", 1));
    let mut tx = store.begin_import().await.unwrap();
    let err = tx.upsert_offres(&[twice]).await.unwrap_err().to_string();
    assert!(err.contains("twice"), "{err}");
    drop(tx);
    assert_eq!(store.counts().await.unwrap().offres, 0);
}

/// Enough rows that every write and key lookup spans several statements.
async fn large_batches_span_statements(db: &TestDb) {
    let store = db.open().await;
    let offres: Vec<Offre> = (1..=1500)
        .map(|a| validee(&format!("12-{a}"), &[1, 2]))
        .collect();
    let (_, f) = import(&store, &[], &offres).await;
    assert_eq!(f, counts(1500, 0, 0));
    assert_eq!(store.counts().await.unwrap().sessions, 3000);

    // Re-import with one session fewer everywhere: 1500 deletions across statements.
    let fewer: Vec<Offre> = (1..=1500)
        .map(|a| validee(&format!("12-{a}"), &[2]))
        .collect();
    let (_, f) = import(&store, &[], &fewer).await;
    assert_eq!(f, counts(0, 1500, 0));
    let (_, f) = import(&store, &[], &fewer).await;
    assert_eq!(f, counts(0, 0, 1500));

    let got = all_pages(&store, 400, true).await;
    assert_eq!(got.len(), 1500);
    assert_eq!(got[1499].numero, ac("12-1500"));
    assert!(got
        .iter()
        .all(|o| session_codes(o) == [format!("{}-2", o.numero)]));
}

backend_tests!(
    round_trip,
    paging_is_numeric_and_complete,
    reimport_is_idempotent,
    offer_line_replaces_its_sessions,
    upsert_sessions_adds_and_updates,
    dropped_import_rolls_back,
    only_validated_filter,
    repeated_keys_in_one_batch,
    bad_offer_lines_are_refused,
    large_batches_span_statements,
    statistics_are_refreshed_after_a_bulk_import,
);

// ----- Opening errors -------------------------------------------------------------------

#[tokio::test]
async fn unreachable_postgres_is_explained_without_the_password() {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let err = Store::open("postgres://feed:s3cret-pw@127.0.0.1:1/lheo")
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("cannot connect to PostgreSQL at postgres://feed:***@127.0.0.1:1/lheo"),
        "{msg}"
    );
    assert!(msg.contains("LHEO_FEED_DATABASE_URL"), "{msg}");
    assert!(
        !msg.contains("s3cret-pw") && !format!("{err:?}").contains("s3cret-pw"),
        "{msg}"
    );
}

#[tokio::test]
async fn missing_sqlite_directory_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/store.sqlite");
    let err = Store::open(path.to_str().unwrap()).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("does its directory exist"), "{msg}");
    assert!(msg.contains(path.to_str().unwrap()), "{msg}");
}

/// The page size SQLite reports for the file at `path`.
async fn page_size(path: &std::path::Path) -> i64 {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n
}

#[tokio::test]
async fn a_new_sqlite_store_has_large_pages_and_an_old_one_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.sqlite");
    let store = Store::open(new.to_str().unwrap()).await.unwrap();
    import(
        &store,
        &[organisme(1, &["100"])],
        &[validee("19482-89393", &[143842])],
    )
    .await;
    store.close().await;
    assert_eq!(page_size(&new).await, 16_384);

    // A store made before: 4 KiB pages, WAL, like every store of earlier versions.
    let old = dir.path().join("old.sqlite");
    {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&old)
            .create_if_missing(true)
            .page_size(4096)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE TABLE before_this_version (x INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    assert_eq!(page_size(&old).await, 4096);
    let store = Store::open(old.to_str().unwrap()).await.unwrap();
    import(
        &store,
        &[organisme(1, &["100"])],
        &[validee("19482-89393", &[143842])],
    )
    .await;
    let page = store.offres_page(None, 10, true).await.unwrap();
    assert_eq!(numeros(&page), ["19482-89393"]);
    store.close().await;
    assert_eq!(
        page_size(&old).await,
        4096,
        "an existing store keeps its page size"
    );
}

#[tokio::test]
async fn plain_path_and_unknown_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.sqlite");
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    store.close().await;
    assert!(path.exists(), "the file is created on first use");

    let err = Store::open("mysql://localhost/db")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unsupported database URL scheme"), "{err}");
    let err = Store::open("sqlite::memory:")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("in-memory"), "{err}");
}

// ----- Measurement (not a test of speed: it asserts only counts) -----------------------

/// Bulk import of ~100 000 sessions in ~30 000 offers, on each backend, with timings on
/// stderr. Run: `cargo test --release --test store -- --ignored --nocapture bulk_import`.
#[tokio::test]
#[ignore = "measurement; run explicitly"]
async fn bulk_import_timing() {
    const OFFRES: u64 = 30_000;
    const BATCH: usize = 1_000;
    // 3 or 4 sessions per offer: 100 000 in all.
    let offres: Vec<Offre> = (1..=OFFRES)
        .map(|i| {
            let n = if i <= 10_000 { 4 } else { 3 };
            let mut o = validee(&format!("{}-{}", 100 + i / 7, i), &[]);
            o.sessions = (1..=n)
                .map(|s| session(&format!("{}-{s}", o.numero), 0))
                .collect();
            o
        })
        .collect();
    let sessions: usize = offres.iter().map(|o| o.sessions.len()).sum();
    let doc_bytes = serde_json::to_string(&offres[0].sessions[0]).unwrap().len();
    eprintln!(
        "{} offers, {sessions} sessions, {doc_bytes} bytes per session doc",
        offres.len()
    );

    for db in common::test_databases().await {
        let store = db.open().await;
        let t = Instant::now();
        let mut tx = store.begin_import().await.unwrap();
        let mut total = UpsertCounts::default();
        for batch in offres.chunks(BATCH) {
            total += tx.upsert_offres(batch).await.unwrap();
        }
        tx.commit().await.unwrap();
        let first = t.elapsed();
        assert_eq!(total.created, OFFRES);

        let t = Instant::now();
        let mut tx = store.begin_import().await.unwrap();
        let mut again = UpsertCounts::default();
        for batch in offres.chunks(BATCH) {
            again += tx.upsert_offres(batch).await.unwrap();
        }
        tx.commit().await.unwrap();
        let second = t.elapsed();
        assert_eq!(again.unchanged, OFFRES);

        let t = Instant::now();
        let mut read = 0usize;
        let mut after: Option<ActionCode> = None;
        loop {
            let page = store.offres_page(after, 1_000, true).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.numero);
            read += page.iter().map(|o| o.sessions.len()).sum::<usize>();
        }
        let paging = t.elapsed();
        assert_eq!(read, sessions);
        let c = store.counts().await.unwrap();
        assert_eq!(c.sessions as usize, sessions);
        eprintln!(
            "{:>8}: first import {:.2?}, identical re-import {:.2?}, paged read of all {:.2?}",
            store.backend(),
            first,
            second,
            paging
        );
        store.close().await;
    }
}

/// PostgreSQL: after a bulk import the tables an export reads by lists of keys get fresh
/// planner statistics, once (without them a page's sessions were read by a sequential scan
/// of the whole table: most of a million-session export). SQLite has nothing to refresh.
async fn statistics_are_refreshed_after_a_bulk_import(db: &TestDb) {
    let store = db.open().await;
    if let Store::Postgres(pool) = &store {
        // Autovacuum must not analyse first: the test is about the export doing it.
        for t in ["offres", "sessions", "organismes"] {
            sqlx::query(&format!("ALTER TABLE {t} SET (autovacuum_enabled = false)"))
                .execute(pool)
                .await
                .unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("gen.jsonl");
    let mut v = Vec::new();
    lheo_feed::generate::generate(&mut v, 5000, 11).unwrap();
    std::fs::write(&data, v).unwrap();
    lheo_feed::ingest::import_files(&store, &[data])
        .await
        .unwrap();
    // The import refreshes them itself once committed; the server counts a backend's
    // changes when it goes idle, so an export refreshes them too if the import came first.
    store.close().await;
    let store = db.open().await;
    if let Store::Postgres(pool) = &store {
        let mut analysed = 0;
        for _ in 0..100 {
            store.refresh_statistics().await;
            analysed = sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM pg_stat_user_tables WHERE relname IN ('offres', 'sessions') \
                 AND last_analyze IS NOT NULL",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            if analysed == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(
            analysed, 2,
            "offres and sessions analysed (autovacuum is off)"
        );
    }
    assert!(
        store.refresh_statistics().await.is_empty(),
        "nothing to refresh right after (or ever, on SQLite)"
    );
}
