//! `lheo-feed import-region`, black-box, on real SQLite and PostgreSQL databases: the
//! Region's CSV extraction in the encodings and separators regional offices produce,
//! all-or-nothing errors with physical line numbers, and the lots it seeds being checked
//! by the FASD import.

mod common;

use common::{lheo_feed, ok};

use std::path::Path;

use common::{test_databases, TestDb};
use lheo_feed::model::Siret;
use serde_json::Value;

const REGION_UTF8: &str = "fixtures/region-2025.csv";
const REGION_1252: &str = "fixtures/region-2025-cp1252.csv";
const OFFRES: &str = "fixtures/offres.jsonl";

/// Runs a command that must fail on bad input (exit 2); returns its stderr.
fn bad(db: &TestDb, args: &[&str]) -> String {
    let out = lheo_feed(db, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?} on {:?} should exit 2:\n{stderr}",
        db.backend
    );
    stderr
}

fn status(db: &TestDb) -> Value {
    serde_json::from_str(&ok(db, &["status", "--json"])).unwrap()
}

fn region_summary(db: &TestDb, file: &str) -> Value {
    serde_json::from_str(&ok(db, &["import-region", "--json", file])).unwrap()
}

fn siret(s: &str) -> Siret {
    Siret::parse(s).unwrap()
}

#[tokio::test]
async fn region_cp1252_semicolon_sample_seeds_lots_then_the_fixtures_import() {
    for db in test_databases().await {
        let text = ok(&db, &["import-region", REGION_1252]);
        assert!(
            text.contains("read as Windows-1252 with ';' separators"),
            "{text}"
        );
        assert!(text.contains("lots 21 new"), "{text}");
        assert!(text.contains("programmes 5 new"), "{text}");
        assert!(text.contains("organismes 10 new"), "{text}");

        let store = db.open().await;
        let lots = store.lots().await.unwrap();
        assert_eq!(lots.len(), 21);
        let lot = lots.iter().find(|l| l.code == "1E1F2025_4").unwrap();
        assert_eq!(lot.programme, "PROGRAMME REGION - 1 emploi = 1 formation");
        assert_eq!(lot.annee, 2025);
        assert_eq!(lot.mandataire, siret("13000511900032"));
        // Windows-1252 decoded: accents and the typographic apostrophe.
        let orgs = store.organismes().await.unwrap();
        let ifsa = &orgs[&siret("41736920400355")];
        let adresse = ifsa.adresse.as_ref().unwrap();
        assert_eq!(adresse.ville.as_str(), "Angers");
        assert_eq!(adresse.lignes[1].as_str(), "18 quai Félix Faure");
        let scop = &orgs[&siret("52904418200275")];
        assert_eq!(
            scop.adresse.as_ref().unwrap().lignes[1].as_str(),
            "40 rue du 124e Régiment d’Infanterie"
        );
        store.close().await;

        // The offers' lots are all known: the FASD fixtures import on top.
        ok(&db, &["import", OFFRES]);
        assert_eq!(status(&db)["offres"], 31);
        // The Region file again, in UTF-8 this time: the same referential, nothing changes
        // (and the sites and contacts the FASD file added are kept).
        let again = region_summary(&db, REGION_UTF8);
        assert_eq!(again["files"][0]["encoding"], "UTF-8");
        assert_eq!(again["files"][0]["separator"], ",");
        for kind in ["programmes", "lots", "organismes"] {
            assert_eq!(again[kind]["created"], 0, "{kind}: {again}");
            assert_eq!(again[kind]["changed"], 0, "{kind}: {again}");
        }
    }
}

#[tokio::test]
async fn region_utf8_with_bom_and_commas_keeps_quoted_line_breaks() {
    for db in test_databases().await {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("region-bom.csv");
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(std::fs::read(REGION_UTF8).unwrap());
        std::fs::write(&path, bytes).unwrap();
        let summary = region_summary(&db, path.to_str().unwrap());
        assert_eq!(summary["files"][0]["encoding"], "UTF-8 with BOM");
        assert_eq!(summary["files"][0]["separator"], ",");
        assert_eq!(summary["files"][0]["rows"], 36);

        let store = db.open().await;
        let orgs = store.organismes().await.unwrap();
        let cariforef = &orgs[&siret("13000511900032")];
        let lignes: Vec<&str> = cariforef
            .adresse
            .as_ref()
            .unwrap()
            .lignes
            .iter()
            .map(|l| l.as_str())
            .collect();
        assert_eq!(lignes, ["Le Sillon", "14 rue de la Fosse"]);
        assert_eq!(cariforef.code_cr.as_ref().unwrap().as_str(), "75");
        store.close().await;
    }
}

#[tokio::test]
async fn region_bad_rows_give_physical_lines_exit_2_and_write_nothing() {
    for db in test_databases().await {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.csv");
        let file = path.to_str().unwrap();
        // Line 3-4: a quoted address over two lines, so later rows are on lines 5, 6, 7.
        let text = "type;code;programme;annee;siret;raison_sociale;adresse;code_postal;ville\n\
                    programme;;PROGRAMME REGION - PREPA Avenir Sup;;;;;;\n\
                    formateur;;;;13000511900032;CARIFOREF;\"Le Sillon\n14 rue de la Fosse\";44000;Nantes\n\
                    formateur;;;;13000511900033;MAUVAIS SIRET;;;\n\
                    lot;PAS2025_9;PROGRAMME REGION - Inconnu;2025;13000511900032;;;;\n\
                    lot;PAS2025_1;PROGRAMME REGION - PREPA Avenir Sup;25;13000511900032;;;;\n\
                    lot;PAS2025_2;PROGRAMME REGION - PREPA Avenir Sup;2025;;;;;\n";
        std::fs::write(&path, text).unwrap();
        let stderr = bad(&db, &["import-region", file]);
        for expected in [
            format!("{file}:5: siret: "),
            format!("{file}:6: programme: unknown programme"),
            format!("{file}:7: annee: a campaign year"),
            format!("{file}:8: siret: required for a lot row"),
            "nothing was imported".to_owned(),
        ] {
            assert!(stderr.contains(&expected), "{expected:?} in:\n{stderr}");
        }
        // The mandataire of line 6 is a formateur row of the file: that is accepted, so
        // only the programme is reported there.
        assert!(!stderr.contains(&format!("{file}:6: siret")), "{stderr}");
        assert_eq!(status(&db)["organismes"], 0);
        let store = db.open().await;
        assert!(store.lots().await.unwrap().is_empty());
        store.close().await;

        // Unknown columns and row types are named too.
        std::fs::write(&path, "type,siret,couleur\nlot,,\nécole,,\n").unwrap();
        let stderr = bad(&db, &["import-region", file]);
        assert!(
            stderr.contains(&format!("{file}:1: couleur: unknown column")),
            "{stderr}"
        );
        std::fs::write(&path, "type,siret\nécole,1\n").unwrap();
        let stderr = bad(&db, &["import-region", file]);
        assert!(
            stderr.contains(&format!("{file}:2: type: \"école\" is not a row type")),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn region_row_updates_an_organisme_without_erasing_its_sites_and_contacts() {
    for db in test_databases().await {
        ok(&db, &["import", OFFRES]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("region.csv");
        std::fs::write(
            &path,
            "type;siret;raison_sociale;code_cr\n\
             mandataire;78451203000189;ATELIERS DE FORMATION LOIRE OCEAN;9112\n",
        )
        .unwrap();
        let summary = region_summary(&db, path.to_str().unwrap());
        assert_eq!(summary["organismes"]["changed"], 1, "{summary}");
        let store = db.open().await;
        let orgs = store.organismes().await.unwrap();
        let aflo = &orgs[&siret("78451203000189")];
        assert_eq!(
            aflo.raison_sociale.as_str(),
            "ATELIERS DE FORMATION LOIRE OCEAN"
        );
        assert_eq!(aflo.code_cr.as_ref().unwrap().as_str(), "9112");
        assert!(!aflo.sites.is_empty());
        assert!(!aflo.contacts.is_empty());
        assert_eq!(aflo.nda.as_ref().unwrap().as_str(), "52440851244");
        assert_eq!(
            aflo.adresse.as_ref().unwrap().ville.as_str(),
            "Saint-Nazaire"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn unknown_lot_in_an_offer_after_seeding_is_a_precise_input_error() {
    for db in test_databases().await {
        ok(&db, &["import-region", REGION_1252]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offres.jsonl");
        let original = std::fs::read_to_string(OFFRES).unwrap();
        let line_no = original
            .lines()
            .position(|l| l.contains("\"numero_lot_cr\":\"1E1F2025_4\""))
            .expect("a fixture offer uses lot 1E1F2025_4")
            + 1;
        let offer: Value =
            serde_json::from_str(original.lines().nth(line_no - 1).unwrap()).unwrap();
        let index = offer["offre"]["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .position(|s| s["dispositif"]["numero_lot_cr"] == "1E1F2025_4")
            .unwrap();
        std::fs::write(&path, original.replace("\"1E1F2025_4\"", "\"1E1F2025_99\"")).unwrap();
        let file = path.to_str().unwrap();
        let stderr = bad(&db, &["import", file]);
        let expected = format!(
            "{file}:{line_no}: offre.sessions[{index}].dispositif.numero_lot_cr: unknown lot 1E1F2025_99"
        );
        assert!(stderr.contains(&expected), "{expected:?} in:\n{stderr}");
        assert!(stderr.contains("import the Region file first"), "{stderr}");
        assert_eq!(status(&db)["offres"], 0);
        // The unchanged fixtures import.
        ok(&db, &["import", OFFRES]);
    }
}

#[test]
fn fixture_region_files_are_the_same_referential() {
    let utf8 = std::fs::read_to_string(REGION_UTF8).unwrap();
    let raw = std::fs::read(REGION_1252).unwrap();
    assert!(
        std::str::from_utf8(&raw).is_err(),
        "{REGION_1252} must stay Windows-1252"
    );
    assert!(Path::new(REGION_1252).exists());
    assert_eq!(utf8.lines().count(), 45);
}

#[test]
fn region_schema_describes_the_columns_the_importer_reads() {
    let text = std::fs::read_to_string("schemas/region-file.schema.json").unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .expect("a valid draft 2020-12 schema");
    let mut props: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut columns = lheo_feed::ingest::region::COLUMNS.to_vec();
    props.sort_unstable();
    columns.sort_unstable();
    assert_eq!(props, columns);
    // The fixture's header is exactly those columns.
    let header = std::fs::read_to_string(REGION_UTF8).unwrap();
    assert_eq!(
        header.lines().next().unwrap(),
        lheo_feed::ingest::region::COLUMNS.join(",")
    );
    let good = serde_json::json!({"type": "lot", "code": "1E1F2025_4",
        "programme": "PROGRAMME REGION - 1 emploi = 1 formation", "annee": "2025",
        "siret": "13000511900032"});
    assert!(validator.is_valid(&good));
    let unused = serde_json::json!({"type": "programme", "programme": "P", "siret": "1"});
    assert!(!validator.is_valid(&unused));
    let missing = serde_json::json!({"type": "formateur", "siret": "13000511900032"});
    assert!(!validator.is_valid(&missing));
}
