//! The entry rules that need the Region referential and the day of the run (issue 16), on
//! the shared fixtures, through the binary, on both databases: a misspelt programme, a
//! lot of another mandataire or no lot, past information collectives (and the very day),
//! values the procedure excludes for 1 emploi = 1 formation, and French messages.

mod common;

use common::{ok, TestDb};
use serde_json::Value;

/// The Region file, then the fixtures, as the Cariforef imports them.
fn setup(db: &TestDb) {
    ok(db, &["import-region", "fixtures/region-2025.csv"]);
    ok(db, &["import", "fixtures/offres.jsonl"]);
}

/// Every finding of `check --today TODAY` about `session`, as (code, message).
fn findings(db: &TestDb, today: &str, session: &str) -> Vec<(String, String)> {
    let report: Value =
        serde_json::from_str(&ok(db, &["check", "--today", today, "--format", "json"])).unwrap();
    let mut out = Vec::new();
    for org in report["organismes"].as_array().unwrap() {
        for o in org["offres"].as_array().unwrap() {
            for s in o["sessions"].as_array().unwrap() {
                if s["session"] == session {
                    for f in s["findings"].as_array().unwrap() {
                        out.push((
                            f["code"].as_str().unwrap().to_owned(),
                            f["message"].as_str().unwrap().to_owned(),
                        ));
                    }
                }
            }
        }
    }
    out
}

fn export(db: &TestDb, today: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lheo.xml");
    ok(
        db,
        &[
            "export",
            "--today",
            today,
            "--force",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    std::fs::read_to_string(out).unwrap()
}

/// The fixtures with one offer line changed by `edit`, in a temporary file.
fn edited(numero: &str, edit: impl Fn(&mut Value)) -> tempfile::NamedTempFile {
    let text = std::fs::read_to_string("fixtures/offres.jsonl").unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        if v["offre"]["numero"] == numero {
            edit(&mut v["offre"]);
        }
        out.push_str(&serde_json::to_string(&v).unwrap());
        out.push('\n');
    }
    let f = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .unwrap();
    std::fs::write(f.path(), out).unwrap();
    f
}

const RENVOYER: &str = "puis renvoyez l'action en validation au Cariforef (bouton d'envoi en \
                        bas de la fiche Dispositif).";

async fn a_misspelt_programme_is_stopped_with_the_closest_label(db: &TestDb) {
    setup(db);
    let f = findings(db, "2025-06-02", "20401-91220-146701");
    assert_eq!(
        f,
        [(
            "PROGRAMME_INCONNU".to_owned(),
            format!(
                "La session 20401-91220-146701 relève du dispositif « PROGRAMME REGION - 1 emploi \
                 = 1 formations », que ni le référentiel de la Région ni le Cariforef ne \
                 connaissent : ses règles de financement ne peuvent pas être vérifiées, elle \
                 n'est donc pas diffusée. Vouliez-vous dire « PROGRAMME REGION - 1 emploi = 1 \
                 formation » ? Corrigez le « Dispositif » dans la fiche Dispositif, {RENVOYER}"
            )
        )]
    );
    assert!(!export(db, "2025-06-02").contains("20401-91220-146701"));
}

async fn a_lot_must_be_there_and_the_mandataire_s(db: &TestDb) {
    setup(db);
    let f = findings(db, "2025-06-02", "20402-91227-146801");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "LOT_AUTRE_MANDATAIRE");
    assert!(
        f[0].1.starts_with(
            "La session 20402-91227-146801 indique le lot « 1E1F2025_9 », que la Région a \
             attribué à "
        ) && f[0].1.contains("(SIRET 78451203000189) et non à ")
            && f[0].1.contains(
                "(SIRET 30298712800667), mandataire de l'action : indiquez dans « Numéro lot CR »"
            )
            && f[0].1.ends_with(RENVOYER),
        "{}",
        f[0].1
    );
    assert!(!export(db, "2025-06-02").contains("20402-91227-146801"));

    // No lot at all, for a regional programme.
    let file = edited("20402-91227", |o| {
        o["sessions"][0]["dispositif"]
            .as_object_mut()
            .unwrap()
            .remove("numero_lot_cr");
    });
    ok(db, &["import", file.path().to_str().unwrap()]);
    let f = findings(db, "2025-06-02", "20402-91227-146801");
    assert_eq!(
        f,
        [(
            "LOT_ABSENT".to_owned(),
            format!(
                "La session 20402-91227-146801 relève du programme « PROGRAMME REGION - 1 emploi \
                 = 1 formation », commandé par la Région, mais n'indique pas de numéro de lot : \
                 renseignez « Numéro lot CR » (codes externes de la fiche Dispositif) avec le lot \
                 de votre bon de commande, {RENVOYER}"
            )
        )]
    );
}

/// A new Region file re-judges every offer, although no offer changed: the referential is
/// part of the rules hash, so the next export is a full pass.
async fn a_new_region_file_rejudges_unchanged_offers(db: &TestDb) {
    setup(db);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lheo.xml");
    let export_to = |out: &std::path::Path| {
        ok(
            db,
            &[
                "export",
                "--today",
                "2025-06-02",
                "--force",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        std::fs::read_to_string(out).unwrap()
    };
    let first = export_to(&out);
    assert!(!first.contains("20402-91227-146801") && first.contains("19633-90102-144101"));
    // The Region gives lot 1E1F2025_9 to BTP Formation Atlantique instead of AFLO.
    let region = std::fs::read_to_string("fixtures/region-2025.csv")
        .unwrap()
        .replace(
            "lot,1E1F2025_9,PROGRAMME REGION - 1 emploi = 1 formation,2025,78451203000189",
            "lot,1E1F2025_9,PROGRAMME REGION - 1 emploi = 1 formation,2025,30298712800667",
        );
    let path = dir.path().join("region-2025-avenant.csv");
    std::fs::write(&path, region).unwrap();
    ok(db, &["import-region", path.to_str().unwrap()]);
    let second = export_to(&out);
    assert!(second.contains("20402-91227-146801"), "now BTPA's lot");
    assert!(
        !second.contains("19633-90102-144101"),
        "no longer AFLO's lot"
    );
    let f = findings(db, "2025-06-02", "19633-90102-144101");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "LOT_AUTRE_MANDATAIRE");
}

async fn past_information_collectives_stop_a_session_not_yet_started(db: &TestDb) {
    setup(db);
    // The fixture planted for it.
    let f = findings(db, "2025-06-02", "20403-91234-146901");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "IC_PASSEES");
    // The procedure's example: ICs on 2025-06-24 and 2025-07-08, start 2025-09-01.
    let session = "19482-89393-143842";
    let f = findings(db, "2025-08-01", session);
    assert_eq!(
        f,
        [(
            "IC_PASSEES".to_owned(),
            format!(
                "La session 19482-89393-143842 débute le 01/09/2025 et son recrutement est \
                 ouvert, mais sa dernière information collective a eu lieu le 08/07/2025 : les \
                 candidats n'ont plus de réunion à laquelle se rendre ; Kairos, Ouiform et les \
                 sites régionaux en ont besoin pour orienter les candidats vers la session. \
                 Ajoutez une nouvelle date dans la fiche Session, rubrique « Informations \
                 collectives », avec sa date, ses heures de début et de fin, et son lieu (ou le \
                 lien de connexion si elle a lieu à distance), {RENVOYER}"
            )
        )]
    );
    assert!(!export(db, "2025-08-01").contains(session));
    // The very day of the last IC: still ahead, exported with that date.
    assert_eq!(findings(db, "2025-07-08", session), []);
    let xml = export(db, "2025-07-08");
    let start = xml
        .find("<formation numero=\"19482-89393\"")
        .expect("exported");
    let formation = &xml[start..start + xml[start..].find("</formation>").unwrap()];
    assert!(formation.contains(session));
    // The export announces the meeting of the day, never a past one.
    let dates: Vec<&str> = formation
        .split("<date-information>")
        .skip(1)
        .map(|d| d.split("</date-information>").next().unwrap().trim())
        .collect();
    assert_eq!(dates, ["<date>20250708</date>"], "{formation}");
    // The day after: stopped.
    assert_eq!(findings(db, "2025-07-09", session)[0].0, "IC_PASSEES");
}

async fn values_the_procedure_excludes_for_1e1f_are_stopped(db: &TestDb) {
    setup(db);
    let file = edited("19482-89393", |o| {
        let s = &mut o["sessions"][0];
        s["entrees_sorties"] = "permanentes".into();
        s["type_parcours"] = "groupe".into();
        s["module_remise_a_niveau"] = true.into();
    });
    ok(db, &["import", file.path().to_str().unwrap()]);
    let f = findings(db, "2025-06-02", "19482-89393-143842");
    let codes: Vec<&str> = f.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        codes,
        [
            "ENTREES_SORTIES_NON_ADMISES",
            "TYPE_PARCOURS_NON_ADMIS",
            "MODULE_RAN_SANS_DATES"
        ]
    );
    assert_eq!(
        f[0].1,
        format!(
            "La session 19482-89393-143842 a des entrées/sorties permanentes, que le programme \
             « PROGRAMME REGION - 1 emploi = 1 formation » n'admet pas : choisissez l'« ESP » à \
             dates fixes (cadencées ou séquencées) dans la fiche Session, {RENVOYER}"
        )
    );
    assert_eq!(
        f[1].1,
        format!(
            "La session 19482-89393-143842 a le type de parcours « en groupe », que le programme \
             « PROGRAMME REGION - 1 emploi = 1 formation » n'admet pas : choisissez le « Type de \
             parcours » mixte ou modularisé dans la fiche Session, {RENVOYER}"
        )
    );
    assert!(f[2].1.starts_with(
        "La session 19482-89393-143842 prévoit un module de remise à niveau, mais le « Commentaire \
         durée » n'en donne pas les dates"
    ));
}

async fn messages_and_csv_are_french(db: &TestDb) {
    setup(db);
    let f = findings(db, "2025-06-02", "20208-91150-146401");
    assert_eq!(
        f,
        [(
            "IC_ABSENTE".to_owned(),
            format!(
                "La session 20208-91150-146401 n'a aucune information collective ; Kairos, \
                 Ouiform et les sites régionaux en ont besoin pour orienter les candidats vers \
                 la session. Ajoutez-en au moins une dans la fiche Session, rubrique \
                 « Informations collectives », avec sa date, ses heures de début et de fin, et \
                 son lieu (ou le lien de connexion si elle a lieu à distance), {RENVOYER}"
            )
        )]
    );
    // LHEO_INVALIDE names the fiche and the rubrique the organisme sees, not an element.
    let file = edited("19482-89393", |o| {
        o["sessions"][0]["informations_collectives"][0]["commentaire"] = "é".repeat(501).into();
    });
    ok(db, &["import", file.path().to_str().unwrap()]);
    assert_eq!(
        findings(db, "2025-06-02", "19482-89393-143842"),
        [(
            "LHEO_INVALIDE".to_owned(),
            format!(
                "La session 19482-89393-143842 ne peut pas être diffusée : le contenu de la \
                 rubrique « Informations collectives » de la fiche Session compte 501 caractères \
                 (ou éléments), pour 500 au plus sur les sites de diffusion : raccourcissez-le, \
                 {RENVOYER}"
            )
        )]
    );
    let csv = ok(db, &["check", "--today", "2025-06-02", "--format", "csv"]);
    assert!(csv.starts_with("siret,raison_sociale,offre,session,code,gravité,champ,message\r\n"));
    assert!(csv.contains(",IC_ABSENTE,session non diffusée,"));
    assert!(!csv.contains("reject_session") && !csv.contains(",warning,"));
}

backend_tests!(
    a_misspelt_programme_is_stopped_with_the_closest_label,
    a_lot_must_be_there_and_the_mandataire_s,
    a_new_region_file_rejudges_unchanged_offers,
    past_information_collectives_stop_a_session_not_yet_started,
    values_the_procedure_excludes_for_1e1f_are_stopped,
    messages_and_csv_are_french,
);
