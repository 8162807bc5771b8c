//! Issue 15, black-box on real SQLite and PostgreSQL: our export read the way the public
//! readers of the national Carif-Oref file read it (data-inclusion's staging models,
//! anotea's importer), one `formation` at a time. Every field they look for is there
//! wherever the input holds the data, in the element and code list they expect; the
//! document stays valid against the official XSD; an unchanged re-export changes nothing;
//! a changed offer gets a new `datemaj` in the generation that reports it updated, and
//! keeps its actions' `numero`; a store from before migration 0009 gets sensible dates.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::BufReader;
use std::path::Path;

use common::{assert_schema_valid, ok, TestDb};
use serde_json::Value;

use lheo_feed::lheo::reader::{Element, LheoReader, Limits};
use lheo_feed::model::{publics_v14, Departement, Offre, Record, Session};

const TODAY: &str = "2025-06-02";

/// The input as the test knows it: offers by `F-A`, sessions by FAS code.
struct Input {
    offres: HashMap<String, Offre>,
    sessions: HashMap<String, Session>,
}

fn read_input(path: &Path) -> Input {
    let mut offres = HashMap::new();
    let mut sessions = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(Record::Offre(o)) => {
                for s in &o.sessions {
                    sessions.insert(s.code.to_string(), s.clone());
                }
                offres.insert(o.numero.to_string(), *o);
            }
            Ok(Record::Session(s)) => {
                sessions.insert(s.0.code.to_string(), s.0.clone());
            }
            // Organismes, and the fixtures' deliberately bad lines (not in this file).
            _ => {}
        }
    }
    Input { offres, sessions }
}

/// Every `formation` of an exported document, read lazily as data-inclusion does.
fn formations(path: &Path) -> Vec<Element> {
    let file = std::fs::File::open(path).unwrap();
    let mut r = LheoReader::new(BufReader::new(file), Limits::default()).unwrap();
    let mut out = Vec::new();
    while let Some(f) = r.next_formation().unwrap() {
        out.push(f);
    }
    out
}

fn walk<'a>(el: &'a Element, out: &mut Vec<&'a Element>) {
    out.push(el);
    for c in &el.children {
        walk(c, out);
    }
}

fn all(el: &Element) -> Vec<&Element> {
    let mut v = Vec::new();
    walk(el, &mut v);
    v
}

fn is_day(s: Option<&str>) -> bool {
    s.is_some_and(|d| d.len() == 8 && chrono::NaiveDate::parse_from_str(d, "%Y%m%d").is_ok())
}

fn text<'a>(el: &'a Element, name: &str) -> Option<&'a str> {
    el.child(name).map(|c| c.text.trim())
}

/// What the reader found, for assertions that the test saw something.
#[derive(Default, Debug)]
struct Seen {
    formations: usize,
    actions: usize,
    sessions: usize,
    adresses: usize,
    contacts: usize,
    duree_hebdo: usize,
    url_formation: usize,
    dates_from_sofi: usize,
    commentaires_ailleurs: usize,
    long_public: usize,
}

/// Reads the document as a national consumer and checks every field issue 15 lists.
fn assert_readers_find_everything(path: &Path, input: &Input) -> Seen {
    let mut seen = Seen::default();
    for f in formations(path) {
        seen.formations += 1;
        let numero = f.attr("numero").unwrap();
        let offre = &input.offres[numero];
        let (crea, maj) = (f.attr("datecrea"), f.attr("datemaj"));
        assert!(is_day(crea) && is_day(maj), "{numero}: {crea:?} {maj:?}");
        assert!(maj >= crea, "{numero}: datemaj before datecrea");

        for el in all(&f) {
            match el.name.as_ref() {
                "contact-formation" | "contact-organisme" | "contact-formateur"
                | "contact-session" => {
                    seen.contacts += 1;
                    let t: u8 = text(el, "type-contact")
                        .unwrap_or_else(|| panic!("{numero}: {} without type-contact", el.name))
                        .parse()
                        .unwrap();
                    assert!(t <= 14, "{numero}: type-contact {t}");
                }
                "adresse" => {
                    seen.adresses += 1;
                    let dep = text(el, "departement")
                        .unwrap_or_else(|| panic!("{numero}: an adresse without departement"));
                    let region = text(el, "region")
                        .unwrap_or_else(|| panic!("{numero}: an adresse without region"));
                    assert_eq!(
                        Departement::parse(dep).map(Departement::region),
                        Some(region),
                        "{numero}: departement {dep}"
                    );
                }
                "code-RNCP" | "reference-code-RNCP" => {
                    assert!(
                        el.text.trim().bytes().all(|b| b.is_ascii_digit()),
                        "{numero}: {} {}",
                        el.name,
                        el.text
                    );
                }
                "code-niveau-entree" | "code-niveau-sortie" => {
                    let n: u8 = el.text.trim().parse().unwrap();
                    assert!(
                        n <= 1 || (11..=18).contains(&n),
                        "{numero}: {} {n}",
                        el.name
                    );
                }
                "code-public-vise" => {
                    assert_eq!(el.attr("ref"), Some("V14"), "{numero}");
                    assert!(publics_v14::libelle(el.text.trim()).is_some(), "{numero}");
                }
                _ => {}
            }
        }
        if let Some(u) = &offre.action.url_action {
            seen.url_formation += 1;
            let got = f
                .child("url-formation")
                .and_then(|x| text(x, "urlweb"))
                .unwrap_or_else(|| panic!("{numero}: url-formation missing"));
            assert_eq!(got, u.as_str());
        }
        if let Some(r) = &offre.formation.rncp {
            let got = f.child("certification").and_then(|c| text(c, "code-RNCP"));
            assert_eq!(got, Some(r.numero()), "{numero}");
        }

        for a in f.children_named("action") {
            seen.actions += 1;
            let codes: Vec<&str> = a
                .children_named("session")
                .map(|s| s.attr("numero").unwrap())
                .collect();
            let sessions: Vec<&Session> = codes.iter().map(|c| &input.sessions[*c]).collect();
            // Named by its first session, so values may change without moving it.
            let first = sessions.iter().map(|s| s.code).min().unwrap().to_string();
            assert_eq!(a.attr("numero"), Some(first.as_str()), "{numero}");
            assert!(is_day(a.attr("datecrea")) && is_day(a.attr("datemaj")));
            assert!(
                a.attr("datemaj") <= maj,
                "{numero}: an action newer than its formation"
            );

            let detail = text(a, "detail-conditions-prise-en-charge")
                .unwrap_or_else(|| panic!("{numero}: detail-conditions-prise-en-charge"));
            assert!(
                detail.contains(sessions[0].dispositif.programme.as_str()),
                "{numero}: {detail}"
            );
            match sessions[0].duree_hebdo_heures {
                Some(h) => {
                    seen.duree_hebdo += 1;
                    let x = a
                        .children_named("extras")
                        .find(|x| x.attr("info") == Some("duree-hebdo"))
                        .unwrap_or_else(|| panic!("{numero}: duree-hebdo missing"));
                    let first = x.children.first().expect("an extra");
                    assert_eq!(first.text.trim(), h.to_string(), "{numero}");
                }
                None => assert!(!a
                    .children_named("extras")
                    .any(|x| x.attr("info") == Some("duree-hebdo"))),
            }
            if let Some(c) = &sessions[0].commentaire_duree {
                // The duration only in duree-indicative; the intention d'embauche with the
                // recruitment, the module's dates with the rhythm.
                let c = c.as_str();
                let lower = c.to_lowercase();
                let element = if lower.contains("embauche") {
                    seen.commentaires_ailleurs += 1;
                    "modalites-recrutement"
                } else if lower.contains("remise à niveau") {
                    seen.commentaires_ailleurs += 1;
                    "rythme-formation"
                } else {
                    "duree-indicative"
                };
                if element != "duree-indicative" || c.chars().count() <= 150 {
                    let got = text(a, element).unwrap_or("");
                    assert!(got.contains(c), "{numero}: {element} {got:?} lacks {c:?}");
                }
                if element != "duree-indicative" {
                    assert_ne!(text(a, "duree-indicative"), Some(c), "{numero}");
                }
            }
            match &offre.action.public_vise {
                Some(p) if p.chars() <= 250 => {
                    assert_eq!(text(a, "info-public-vise"), Some(p.as_str()), "{numero}");
                }
                Some(p) => {
                    // Too long for info-public-vise: whole in conditions-specifiques.
                    seen.long_public += 1;
                    let got = text(a, "conditions-specifiques").unwrap();
                    assert!(got.contains(p.as_str()), "{numero}: {got}");
                    if let Some(i) = text(a, "info-public-vise") {
                        assert!(p.as_str().contains(i) && i.chars().count() <= 250);
                    }
                }
                None => {}
            }
            let d = &sessions[0].dispositif;
            if d.frais_certification_inclus == Some(false) {
                let got = text(a, "frais-restants").unwrap_or("");
                assert!(got.contains("certification"), "{numero}: {got:?}");
            }

            for s in a.children_named("session") {
                seen.sessions += 1;
                let code = s.attr("numero").unwrap();
                let (c, m) = (s.attr("datecrea"), s.attr("datemaj"));
                assert!(is_day(c) && is_day(m), "{code}");
                if let Some(t) = input.sessions[code].cree_le {
                    seen.dates_from_sofi += 1;
                    let day = t.with_timezone(&chrono_tz::Europe::Paris).date_naive();
                    assert_eq!(c, Some(day.format("%Y%m%d").to_string().as_str()), "{code}");
                }
            }
        }
    }
    seen
}

fn export(db: &TestDb, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["export", "--json", "--today", TODAY, "--out"];
    args.push(out.to_str().unwrap());
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(db, &args)).unwrap()
}

/// The document without its root's export time.
fn body(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap();
    s.split_once("<offres>").unwrap().1.to_owned()
}

/// `numero` of every action, by formation.
fn action_numeros(path: &Path) -> BTreeMap<String, Vec<String>> {
    formations(path)
        .iter()
        .map(|f| {
            (
                f.attr("numero").unwrap().to_owned(),
                f.children_named("action")
                    .map(|a| a.attr("numero").unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

fn datemaj(path: &Path, numero: &str) -> String {
    formations(path)
        .into_iter()
        .find(|f| f.attr("numero") == Some(numero))
        .unwrap()
        .attr("datemaj")
        .unwrap()
        .to_owned()
}

/// Runs SQL on the test database, for what no command does: age the store's dates, or
/// undo migration 0009 to play an upgrade.
async fn sql(db: &TestDb, statements: &[&str]) {
    use sqlx::Connection;
    match db.backend {
        common::Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            for s in statements {
                sqlx::query(s).execute(&mut c).await.unwrap();
            }
            c.close().await.unwrap();
        }
        common::Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            for s in statements {
                sqlx::query(s).execute(&mut c).await.unwrap();
            }
            c.close().await.unwrap();
        }
    }
}

async fn the_fixtures_as_a_national_reader_reads_them(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    ok(db, &["import", "fixtures/offres.jsonl"]);
    let input = read_input(Path::new("fixtures/offres.jsonl"));
    let first = dir.path().join("1.xml");
    export(db, &first, &[]);
    assert_schema_valid(&first);
    let seen = assert_readers_find_everything(&first, &input);
    assert!(seen.formations >= 20, "{seen:?}");
    assert!(seen.adresses > seen.formations * 3, "{seen:?}");
    assert!(seen.contacts > seen.formations * 2, "{seen:?}");
    assert!(seen.duree_hebdo > 0 && seen.url_formation > 0, "{seen:?}");
    assert!(seen.dates_from_sofi > 0, "{seen:?}");
    // The procedure's example (a long public visé) and the intention d'embauche notes.
    assert!(
        seen.long_public > 0 && seen.commentaires_ailleurs > 0,
        "{seen:?}"
    );

    // An unchanged re-export: the same bytes, nothing reported changed.
    let second = dir.path().join("2.xml");
    let summary = export(db, &second, &[]);
    assert_eq!(body(&first), body(&second), "{:?}", db.backend);
    assert_eq!(summary["updated"].as_u64(), Some(0), "{summary}");
    // Not even a full pass changes a byte: nothing depends on the export's own date.
    let third = dir.path().join("3.xml");
    export(db, &third, &["--full"]);
    assert_eq!(body(&first), body(&third));
}

/// The fixtures imported, their store dates set to 15 January (as if imported then: the
/// store's dates only, not SOFI's), and exported whole: the document's path.
async fn import_in_january(db: &TestDb, dir: &Path) -> std::path::PathBuf {
    ok(db, &["import", "fixtures/offres.jsonl"]);
    sql(
        db,
        &[
            "UPDATE offres SET created_on = '2025-01-15', changed_on = '2025-01-15'",
            "UPDATE sessions SET created_on = '2025-01-15', changed_on = '2025-01-15'",
            "UPDATE organismes SET created_on = '2025-01-15', changed_on = '2025-01-15'",
        ],
    )
    .await;
    let before = dir.join("before.xml");
    export(db, &before, &["--full"]);
    before
}

async fn a_changed_offer_gets_a_new_datemaj_and_keeps_its_action_numeros(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let before = import_in_january(db, dir.path()).await;
    // The procedure's example has no SOFI timestamps: its dates are the store's.
    let numero = "19482-89393";
    assert_eq!(datemaj(&before, numero), "20250115");

    // Change the places of every session of that offer (an action-level value) and
    // re-import the whole file.
    let edited = dir.path().join("edited.jsonl");
    let text = std::fs::read_to_string("fixtures/offres.jsonl").unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if line.contains(&format!("\"numero\":\"{numero}\"")) {
            let mut v: Value = serde_json::from_str(line).unwrap();
            for s in v["offre"]["sessions"].as_array_mut().unwrap() {
                let p = s["dispositif"]["places"].as_u64().unwrap_or(1);
                s["dispositif"]["places"] = (p + 3).into();
            }
            out.push_str(&serde_json::to_string(&v).unwrap());
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    std::fs::write(&edited, out).unwrap();
    ok(db, &["import", edited.to_str().unwrap()]);

    let after = dir.path().join("after.xml");
    let summary = export(db, &after, &[]);
    assert_schema_valid(&after);
    // Reported updated, in the generation whose file carries the new datemaj: the day of
    // the import (in Paris), not January's, and not a change of any other offer.
    assert_eq!(summary["updated"].as_u64(), Some(1), "{summary}");
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y%m%d")
        .to_string();
    assert_eq!(datemaj(&after, numero), today);
    // The places changed, every action numero stayed.
    assert_eq!(action_numeros(&before), action_numeros(&after));
    let (b, a) = (body(&before), body(&after));
    assert_ne!(b, a);
    for (x, y) in formations(&before).iter().zip(formations(&after).iter()) {
        if x.attr("numero") != Some(numero) {
            assert_eq!(x.attr("datemaj"), y.attr("datemaj"));
        }
    }
}

async fn an_organisme_change_moves_the_datemaj_of_the_offers_that_write_it(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let before = import_in_january(db, dir.path()).await;
    // The Cariforef's telephone changes: it is written in the offers it is responsible
    // for, which are therefore updated, with the day of that import as datemaj.
    let input = std::fs::read_to_string("fixtures/offres.jsonl").unwrap();
    let line = input
        .lines()
        .find(|l| l.starts_with("{\"organisme\":{\"siret\":\"13000511900032\""))
        .unwrap();
    let mut v: Value = serde_json::from_str(line).unwrap();
    v["organisme"]["telephone"] = "02 40 00 00 01".into();
    let edited = dir.path().join("organisme.jsonl");
    std::fs::write(&edited, format!("{}\n", serde_json::to_string(&v).unwrap())).unwrap();
    ok(db, &["import", edited.to_str().unwrap()]);
    let after = dir.path().join("after.xml");
    let summary = export(db, &after, &[]);
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y%m%d")
        .to_string();
    let mut changed = 0;
    for (x, y) in formations(&before).iter().zip(formations(&after).iter()) {
        let responsable = y
            .child("organisme-formation-responsable")
            .and_then(|r| r.child("SIRET-organisme-formation"))
            .and_then(|r| text(r, "SIRET"));
        if responsable == Some("13000511900032") {
            changed += 1;
            assert_eq!(
                y.attr("datemaj"),
                Some(today.as_str()),
                "{:?}",
                y.attr("numero")
            );
        } else {
            assert_eq!(
                x.attr("datemaj"),
                y.attr("datemaj"),
                "{:?}",
                y.attr("numero")
            );
        }
    }
    assert!(changed > 0);
    assert_eq!(summary["updated"].as_u64(), Some(changed), "{summary}");
}

async fn an_upgraded_store_gets_dates_and_then_keeps_its_bytes(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    ok(db, &["import", "fixtures/offres.jsonl"]);
    // Undo migration 0009, as a store of the previous version is.
    let mut undo = vec![];
    for t in ["organismes", "offres", "sessions"] {
        undo.push(format!("ALTER TABLE {t} DROP COLUMN created_on"));
        undo.push(format!("ALTER TABLE {t} DROP COLUMN changed_on"));
    }
    undo.push("DELETE FROM _sqlx_migrations WHERE version = 9".to_owned());
    sql(db, &undo.iter().map(String::as_str).collect::<Vec<_>>()).await;

    // The next command migrates: rows get the day of the import that wrote them.
    let first = dir.path().join("1.xml");
    export(db, &first, &[]);
    assert_schema_valid(&first);
    let input = read_input(Path::new("fixtures/offres.jsonl"));
    assert_readers_find_everything(&first, &input);
    // The migration takes the import's day in UTC on SQLite, in Paris on PostgreSQL.
    let days = [
        chrono::Utc::now().format("%Y%m%d").to_string(),
        chrono::Utc::now()
            .with_timezone(&chrono_tz::Europe::Paris)
            .format("%Y%m%d")
            .to_string(),
    ];
    let got = datemaj(&first, "19482-89393");
    assert!(days.contains(&got), "{got} not in {days:?}");
    let second = dir.path().join("2.xml");
    let summary = export(db, &second, &[]);
    assert_eq!(body(&first), body(&second));
    assert_eq!(summary["updated"].as_u64(), Some(0), "{summary}");
}

async fn a_generated_set_as_a_national_reader_reads_it(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("gen.jsonl");
    common::import_generated(db, &input_path, 1500, 15);
    let out = dir.path().join("gen.xml");
    export(db, &out, &[]);
    assert_schema_valid(&out);
    let input = read_input(&input_path);
    let seen = assert_readers_find_everything(&out, &input);
    assert!(seen.sessions > 1000, "{seen:?}");
    // Generated records carry SOFI's timestamps, INSEE codes and coordinates.
    assert!(seen.dates_from_sofi == seen.sessions, "{seen:?}");
    assert!(seen.long_public > 0, "{seen:?}");
    let xml = std::fs::read_to_string(&out).unwrap();
    assert!(xml.contains("<code-INSEE-commune>44109</code-INSEE-commune>"));
    assert!(xml.contains("<geolocalisation>"));
    assert!(xml.contains("horodatage-creation=\""));
}

backend_tests!(
    the_fixtures_as_a_national_reader_reads_them,
    a_changed_offer_gets_a_new_datemaj_and_keeps_its_action_numeros,
    an_organisme_change_moves_the_datemaj_of_the_offers_that_write_it,
    an_upgraded_store_gets_dates_and_then_keeps_its_bytes,
    a_generated_set_as_a_national_reader_reads_it,
);

// ---------------------------------------------------------------------------------------
// Outside text in the elements issue 15 composes (no database): whatever an organisme
// types in the commentaire durée, the public visé, the pré-requis or the recruitment text,
// the composed elements stay within LHÉO's limits and an export reads back (import-lheo)
// to the same bytes, so the writer's additions are always taken off again.

mod composed_text {
    use std::collections::HashMap;

    use std::cell::Cell;

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use serde_json::Value;

    use lheo_feed::ingest::jsonl::parse_record;
    use lheo_feed::lheo::import::map_formation;
    use lheo_feed::lheo::reader::{LheoReader, Limits};
    use lheo_feed::lheo::{document_header, write_formation, WriterContext, DOCUMENT_FOOTER};
    use lheo_feed::model::{Date, Record};

    fn hostile() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("<".to_owned()),
                Just("&amp;".to_owned()),
                Just("]]>".to_owned()),
                Just("\n".to_owned()),
                Just("\n\n".to_owned()),
                Just("- ".to_owned()),
                Just("Public visé :\n".to_owned()),
                Just("\u{1}\u{FEFF}".to_owned()),
                Just("😀é’«\u{a0}»".to_owned()),
                "[a-zé ;:!?]{0,30}",
            ],
            0..12,
        )
        .prop_map(|v| v.concat())
    }

    /// What the commentaire durée speaks of decides its element.
    const MARKERS: [&str; 4] = [
        "Session ouverte sur intention d’embauche de la société X (4 postes)",
        "Module de remise à niveau contextualisé du 8 au 19 septembre 2025",
        "Parcours de 6 à 10 semaines selon le positionnement",
        "",
    ];

    fn set(v: &mut Value, key: &str, s: Option<String>) {
        v[key] = s.map_or(Value::Null, Value::String);
    }

    #[test]
    fn composed_elements_read_back_to_the_same_bytes() {
        let baseline = std::fs::read_to_string("tests/data/baseline.jsonl").unwrap();
        let mut lines = baseline.lines();
        let Record::Organisme(org) = parse_record("b", 1, lines.next().unwrap()).unwrap() else {
            panic!("the baseline starts with its organisme")
        };
        let offre_line: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        let orgs = HashMap::from([(org.siret.clone(), *org)]);
        let ctx = WriterContext {
            organismes: &orgs,
            today: Date::parse("2025-06-01").unwrap(),
        };
        let (cases, round_trips, long_publics) = (Cell::new(0), Cell::new(0), Cell::new(0));
        let strategy = (
            (hostile(), 0..MARKERS.len(), hostile()),
            hostile(),
            0usize..600,
            prop::option::of(hostile()),
            prop::option::of(hostile()),
            hostile(),
        );
        let mut runner = TestRunner::new(Config {
            cases: 300,
            ..Config::default()
        });
        runner
            .run(
                &strategy,
                |(
                    (before, marker, after),
                    public_head,
                    public_len,
                    prerequis,
                    recrutement,
                    rythmes,
                )| {
                    cases.set(cases.get() + 1);
                    let mut v = offre_line.clone();
                    let public = format!("{public_head}\n{}", "é".repeat(public_len));
                    let commentaire = format!("{before}{}{after}", MARKERS[marker]);
                    set(&mut v["offre"]["action"], "public_vise", Some(public));
                    set(&mut v["offre"]["action"], "prerequis", prerequis);
                    let s0 = &mut v["offre"]["sessions"][0];
                    set(s0, "commentaire_duree", Some(commentaire));
                    set(s0, "modalites_recrutement_texte", recrutement);
                    set(s0, "rythmes", Some(format!("temps plein {rythmes}")));
                    let Ok(Record::Offre(offre)) =
                        parse_record("p", 2, &serde_json::to_string(&v).unwrap())
                    else {
                        return Ok(()); // refused at the input
                    };
                    let Ok(first) = write_formation(&offre, &ctx) else {
                        return Ok(()); // a text too long for its element: a finding
                    };
                    for line in first.xml.lines() {
                        if let Some(rest) = line.trim_start().strip_prefix("<info-public-vise>") {
                            let inner = rest.strip_suffix("</info-public-vise>").unwrap_or(rest);
                            let text = inner
                                .replace("&lt;", "<")
                                .replace("&gt;", ">")
                                .replace("&amp;", "&");
                            prop_assert!(text.chars().count() <= 250, "{text}");
                        }
                    }
                    if offre
                        .action
                        .public_vise
                        .as_ref()
                        .is_some_and(|p| p.chars() > 250)
                    {
                        long_publics.set(long_publics.get() + 1);
                    }
                    let doc = format!(
                        "{}{}{}",
                        document_header("2025-06-01T02:30:00+02:00"),
                        first.xml,
                        DOCUMENT_FOOTER
                    );
                    let mut r = LheoReader::new(doc.as_bytes(), Limits::default()).unwrap();
                    let el = r.next_formation().unwrap().expect("one formation");
                    let mapped = map_formation(&el)
                        .map_err(|e| TestCaseError::fail(format!("{e:?}\n{doc}")))?;
                    let s = &mapped.offre.sessions[0];
                    prop_assert_eq!(&s.commentaire_duree, &offre.sessions[0].commentaire_duree);
                    prop_assert_eq!(&mapped.offre.action.public_vise, &offre.action.public_vise);
                    let second = write_formation(&mapped.offre, &ctx)
                        .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                    prop_assert_eq!(&first.xml, &second.xml);
                    round_trips.set(round_trips.get() + 1);
                    Ok(())
                },
            )
            .unwrap();
        // Most cases really go round, long public visés among them.
        assert!(
            round_trips.get() * 2 > cases.get(),
            "{} of {} cases went round",
            round_trips.get(),
            cases.get()
        );
        assert!(long_publics.get() > 10, "{}", long_publics.get());
    }
}
