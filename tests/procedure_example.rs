//! The SOFI procedure's own example (FAS 19482-89393-143842) goes through import and export
//! and every one of its values can be read back from the LHÉO file with an XML reader.

mod common;

use std::process::Command;

use quick_xml::events::Event;
use quick_xml::Reader;

/// Every text of the `<formation numero="…">` subtree as (path, attributes, text), the path
/// relative to the formation (`action/session/periode/debut`).
fn formation_texts(xml: &str, numero: &str) -> Vec<(String, String, String)> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut attrs_stack: Vec<String> = Vec::new();
    let mut inside = false;
    let mut out = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let attrs: Vec<String> = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        format!(
                            "{}={}",
                            String::from_utf8_lossy(a.key.as_ref()),
                            a.unescape_value().unwrap()
                        )
                    })
                    .collect();
                if name == "formation" && attrs.iter().any(|a| a == &format!("numero={numero}")) {
                    inside = true;
                    path.clear();
                    attrs_stack.clear();
                    continue;
                }
                if inside {
                    path.push(name);
                    attrs_stack.push(attrs.join(" "));
                }
            }
            Event::End(e) if inside => {
                if path.is_empty() && e.name().as_ref() == b"formation" {
                    inside = false;
                } else {
                    path.pop();
                    attrs_stack.pop();
                }
            }
            Event::Text(t) if inside => {
                let text = t.unescape().unwrap().into_owned();
                if !text.trim().is_empty() {
                    out.push((
                        path.join("/"),
                        attrs_stack.last().cloned().unwrap_or_default(),
                        text,
                    ));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn has(texts: &[(String, String, String)], path_suffix: &str, value: &str) -> bool {
    texts
        .iter()
        .any(|(p, _, t)| p.ends_with(path_suffix) && t == value)
}

#[tokio::test]
async fn the_procedure_example_carries_each_of_its_values() {
    let db = common::sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lheo.xml");
    let bin = env!("CARGO_BIN_EXE_lheo-feed");
    for args in [
        vec!["import", "fixtures/offres.jsonl"],
        vec![
            "export",
            "--today",
            "2025-06-02",
            "--out",
            out.to_str().unwrap(),
        ],
    ] {
        let res = Command::new(bin)
            .arg("--database-url")
            .arg(&db.url)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            res.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&res.stderr)
        );
    }
    let xml = std::fs::read_to_string(&out).unwrap();
    let t = formation_texts(&xml, "19482-89393");
    assert!(!t.is_empty(), "the procedure example is exported");

    let expected = [
        (
            "intitule-formation",
            "Titre professionnel assistant ressources humaines",
        ),
        ("certification/code-CERTIFINFO", "109049"),
        // The number alone, as national files write it (issue 15; SOFI shows RNCP35030).
        ("certification/code-RNCP", "35030"),
        ("certifiante", "1"),
        ("objectif-general-formation", "6"),
        ("code-niveau-entree", "1"),
        ("bloc-competences/code-bloc", "RNCP35030BC01"),
        ("bloc-competences/code-bloc", "RNCP35030BC02"),
        (
            "bloc-competences/libelle-bloc",
            "Assurer les missions opérationnelles de la gestion des ressources humaines",
        ),
        (
            "bloc-competences/libelle-bloc",
            "Contribuer au développement des ressources humaines",
        ),
        ("blocs-competences/validation-blocs", "2"),
        (
            "organisme-formation-responsable/raison-sociale",
            "CARIFOREF DES PAYS DE LA LOIRE",
        ),
        ("SIRET-organisme-formation/SIRET", "13000511900032"),
        ("SIRET-formateur/SIRET", "13000511900032"),
        ("raison-sociale-formateur", "CARIFOREF DES PAYS DE LA LOIRE"),
        ("lieu-de-formation/coordonnees/adresse/ville", "Nantes"),
        ("lieu-de-formation/coordonnees/adresse/departement", "44"),
        ("lieu-de-formation/coordonnees/adresse/region", "52"),
        ("extra", "1E1F2025_4"),
        ("extra", "2872"),
        ("extra", "75"),
        ("extra", "PROGRAMME REGION - 1 emploi = 1 formation"),
        ("organisme-financeur/nb-places-financees", "5"),
        ("organisme-financeur/code-financeur", "2"),
        ("nombre-heures-centre", "200"),
        ("rythme-formation", "temps plein"),
        ("modalites-enseignement", "0"),
        ("modalites-entrees-sorties", "0"),
        ("session/etat-recrutement", "1"),
        ("recrutement/modalite-recrutement", "9"),
        ("prise-en-charge-frais-possible", "1"),
        ("code-public-vise", "80006"),
        ("code-public-vise", "80008"),
        ("session/periode/debut", "20250901"),
    ];
    let missing: Vec<_> = expected.iter().filter(|(p, v)| !has(&t, p, v)).collect();
    assert!(
        missing.is_empty(),
        "values not found in the LHÉO of 19482-89393: {missing:#?}\n{t:#?}"
    );
    // The session carries its FAS code, and the pré-requis are the procedure's.
    assert!(xml.contains("<session numero=\"19482-89393-143842\""));
    assert!(t
        .iter()
        .any(|(p, _, v)| p.ends_with("conditions-specifiques")
            && v.contains("niveau A2 du CECRL")
            && v.contains("Avoir levé les freins")));
}
