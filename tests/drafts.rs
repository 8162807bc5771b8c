//! Drafts (issue 16, item 5) on both databases: an offer en cours de saisie or en attente
//! de validation with starred fields still empty imports with what it has, is never
//! exported, and `check` lists per organisme what it lacks; a complete line supersedes
//! it. What is wrong rather than missing still refuses the whole file (exit 2, nothing
//! written), as does a validated offer missing a required field.

mod common;

use common::{lheo_feed, ok, TestDb};
use serde_json::Value;

/// The draft of fixtures/brouillons.jsonl, edited.
fn draft(edit: impl Fn(&mut Value)) -> Value {
    let text = std::fs::read_to_string("fixtures/brouillons.jsonl").unwrap();
    let mut v: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    edit(&mut v["offre"]);
    v
}

fn file(dir: &std::path::Path, name: &str, lines: &[Value]) -> String {
    let path = dir.join(name);
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&path, text.join("\n") + "\n").unwrap();
    path.to_str().unwrap().to_owned()
}

fn saisies(db: &TestDb) -> Vec<Value> {
    let report: Value = serde_json::from_str(&ok(
        db,
        &["check", "--today", "2025-06-02", "--format", "json"],
    ))
    .unwrap();
    report["organismes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["saisies_incompletes"].as_array().unwrap().clone())
        .collect()
}

/// Stored rows of a table, through the store's own counts: the offers.
fn offres_count(db: &TestDb) -> u64 {
    let out: Value = serde_json::from_str(&ok(db, &["status", "--json"])).unwrap();
    out["offres"].as_u64().unwrap()
}

async fn a_draft_imports_is_listed_and_never_exported(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    ok(db, &["import-region", "fixtures/region-2025.csv"]);
    // The draft in the same file as the validated offers: the file imports.
    let all = std::fs::read_to_string("fixtures/offres.jsonl").unwrap()
        + &std::fs::read_to_string("fixtures/brouillons.jsonl").unwrap();
    let path = dir.path().join("all.jsonl");
    std::fs::write(&path, all).unwrap();
    let said = ok(db, &["import", path.to_str().unwrap()]);
    assert!(
        said.contains(
            "drafts with required fields still missing (never exported; `check` lists them): 1 new"
        ),
        "{said}"
    );
    let s = saisies(db);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["offre"], "20303-91215");
    assert_eq!(s[0]["etat"], "en_cours_de_saisie");
    assert_eq!(
        s[0]["champs"][0],
        serde_json::json!({
            "champ": "offre.sessions[0].entrees_sorties",
            "libelle": "fiche Session 20303-91215-146502 : « ESP »"
        })
    );
    let text = ok(db, &["check", "--today", "2025-06-02"]);
    assert!(
        text.contains(
            "Action 20303-91215 (en cours de saisie) : champs obligatoires à compléter avant \
             l'envoi en validation au Cariforef\n    - fiche Session 20303-91215-146502 : « ESP »\n"
        ),
        "{text}"
    );
    let out = dir.path().join("lheo.xml");
    ok(
        db,
        &[
            "export",
            "--today",
            "2025-06-02",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(!std::fs::read_to_string(&out)
        .unwrap()
        .contains("20303-91215"));

    // Re-importing the same draft changes nothing; an en_attente draft replaces it.
    let same = file(dir.path(), "same.jsonl", &[draft(|_| {})]);
    assert!(ok(db, &["import", &same]).contains(": 0 new, 0 changed, 1 unchanged"));
    let attente = file(
        dir.path(),
        "attente.jsonl",
        &[draft(|o| o["etat"] = "en_attente_de_validation".into())],
    );
    assert!(ok(db, &["import", &attente]).contains(": 0 new, 1 changed, 0 unchanged"));
    assert_eq!(saisies(db)[0]["etat"], "en_attente_de_validation");

    // Completed, the line supersedes the draft: nothing left to list.
    let before = offres_count(db);
    let complete = file(
        dir.path(),
        "complete.jsonl",
        &[draft(|o| {
            let s = &mut o["sessions"][0];
            s["entrees_sorties"] = "dates_fixes".into();
            s["type_parcours"] = "mixte".into();
            s["periodes_formation"] =
                serde_json::json!([{"type": "centre", "debut": "2026-02-10", "fin": "2026-02-10"}]);
            s["modalites_pedagogiques"] = serde_json::json!(["96414"]);
            s["duree_entreprise_heures"] = 0.into();
            s["modalites_recrutement"] = serde_json::json!(["entretien"]);
            s["informations_collectives"] = serde_json::json!([{"date": "2026-01-20",
                "lien_distance": "https://visio.example.org/ic"}]);
        })],
    );
    ok(db, &["import", &complete]);
    assert_eq!(offres_count(db), before + 1);
    assert_eq!(saisies(db), Vec::<Value>::new());
}

async fn what_is_wrong_still_refuses_the_whole_file(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    ok(db, &["import", "fixtures/offres.jsonl"]);
    let before = offres_count(db);
    let validated_missing = draft(|o| o["etat"] = "validee".into());
    let bad_siret = draft(|o| o["sessions"][0]["site_lieu"]["siret"] = "81265430900136".into());
    let bad_type = draft(|o| o["sessions"][0]["duree_centre_heures"] = "deux cents".into());
    let no_numero = draft(|o| {
        o.as_object_mut().unwrap().remove("numero");
    });
    for (what, line, field) in [
        (
            "a validated offer missing a required field",
            validated_missing,
            "offre.sessions[0]",
        ),
        (
            "an invalid SIRET in a draft",
            bad_siret,
            "offre.sessions[0].site_lieu.siret",
        ),
        (
            "a wrong type in a draft",
            bad_type,
            "offre.sessions[0].duree_centre_heures",
        ),
        ("a draft without its numero", no_numero, "offre"),
    ] {
        let path = file(dir.path(), "bad.jsonl", &[draft(|_| {}), line]);
        let out = lheo_feed(db, &["import", &path]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("bad.jsonl:2: {field}")),
            "{what}: {stderr}"
        );
        assert!(stderr.contains("nothing was imported"), "{what}: {stderr}");
        assert_eq!(offres_count(db), before, "{what}");
        assert_eq!(
            saisies(db),
            Vec::<Value>::new(),
            "{what}: the good draft is not written either"
        );
    }
}

backend_tests!(
    a_draft_imports_is_listed_and_never_exported,
    what_is_wrong_still_refuses_the_whole_file,
);
