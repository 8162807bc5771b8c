//! `import-lheo` on documents of the shape the Carif-Oref network's national export has
//! (LHÉO 2.2, as consumer projects keep extracts of it in their public test data), on real
//! SQLite and PostgreSQL: several actions per formation, an organisme formateur that is not
//! the responsable, sites without coordinates of their own, `region`, `datecrea` /
//! `datemaj`, `extras` of several kinds. The documents are written here, in that shape.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_schema_valid, lheo_feed, ok, TestDb};
use serde_json::Value;

use lheo_feed::model::{Offre, Siret};

const RESPONSABLE: &str = "78512345600010";
const FORMATEUR_A: &str = "44123456700010";
const FORMATEUR_B: &str = "33012345600023";
const TODAY: &str = "2024-06-03";

/// What SOFI's rules need of a session beyond what national files say (so the offer is
/// published and its export can be looked at): an information collective, a status, the
/// two referents.
fn session(numero: &str, debut: &str, fin: &str) -> String {
    format!(
        "<session numero=\"{numero}\" datecrea=\"20230105\" datemaj=\"20240312\">\n\
         <periode><debut>{debut}</debut><fin>{fin}</fin></periode>\n\
         <adresse-inscription><adresse><ligne>12 rue de la Paix</ligne><codepostal>44000</codepostal>\
         <ville>Nantes</ville><departement>44</departement><region>52</region><pays>FR</pays>\
         </adresse></adresse-inscription>\n\
         <etat-recrutement>1</etat-recrutement>\n\
         <recrutement numero=\"IC-{numero}\"><modalite-recrutement>9</modalite-recrutement>\
         <adresse><ligne>12 rue de la Paix</ligne><codepostal>44000</codepostal><ville>Nantes</ville></adresse>\
         <periode><debut>20240610</debut><fin>20240610</fin></periode><heure-debut>14h</heure-debut></recrutement>\n\
         <recrutement><modalite-recrutement>8</modalite-recrutement></recrutement>\n\
         <contact-session><type-contact>1</type-contact><coordonnees><nom>Martin</nom>\
         <courriel>pmr@example.fr</courriel></coordonnees></contact-session>\n\
         <contact-session><type-contact>2</type-contact><coordonnees><nom>Durand</nom>\
         <courriel>mobilite@example.fr</courriel></coordonnees></contact-session>\n\
         <extras info=\"session-intercarif\"><extra info=\"id-session-carif\">{numero}</extra></extras>\n\
         </session>\n"
    )
}

/// One action as the national files write it. `formateur` is the organisme formateur's
/// element (or nothing: the responsable teaches); the lieu de formation has an address but
/// no `SIRET-lieu-formation` nor `numero` of its own.
fn action(numero: &str, ville: (&str, &str, &str), formateur: &str, sessions: &str) -> String {
    let (cp, nom, dep) = ville;
    format!(
        "<action numero=\"{numero}\" datecrea=\"20230105\" datemaj=\"20240312\">\n\
         <rythme-formation>Temps plein</rythme-formation>\n\
         <code-public-vise ref=\"V14\">80006</code-public-vise>\n\
         <niveau-entree-obligatoire>0</niveau-entree-obligatoire>\n\
         <modalites-alternance>Stage de 4 semaines en entreprise</modalites-alternance>\n\
         <modalites-enseignement>0</modalites-enseignement>\n\
         <conditions-specifiques>Aucune</conditions-specifiques>\n\
         <prise-en-charge-frais-possible>1</prise-en-charge-frais-possible>\n\
         <lieu-de-formation><coordonnees><adresse><ligne>3 avenue des Lilas</ligne>\
         <codepostal>{cp}</codepostal><ville>{nom}</ville><departement>{dep}</departement>\
         <region>52</region><pays>FR</pays></adresse></coordonnees></lieu-de-formation>\n\
         <modalites-entrees-sorties>0</modalites-entrees-sorties>\n\
         {sessions}\
         <restauration>Restaurant d'entreprise</restauration>\n\
         <modalites-pedagogiques>Cours en présentiel, plateau technique</modalites-pedagogiques>\n\
         <nombre-heures-centre>420</nombre-heures-centre>\n\
         <nombre-heures-entreprise>140</nombre-heures-entreprise>\n\
         <conventionnement>1</conventionnement>\n\
         {formateur}\
         <organisme-financeur><code-financeur>2</code-financeur>\
         <nb-places-financees>12</nb-places-financees></organisme-financeur>\n\
         <extras info=\"action-intercarif\"><extra info=\"code-carif\">AC{numero}</extra>\
         <extras info=\"imbrique\"><extra info=\"niveau\">2</extra></extras></extras>\n\
         </action>\n"
    )
}

fn formateur(siret: &str, raison_sociale: &str, contact: &str) -> String {
    format!(
        "<organisme-formateur>\n\
         <SIRET-formateur><SIRET>{siret}</SIRET></SIRET-formateur>\n\
         <raison-sociale-formateur>{raison_sociale}</raison-sociale-formateur>\n\
         {contact}\
         <potentiel><code-FORMACODE ref=\"V12\">31734</code-FORMACODE></potentiel>\n\
         </organisme-formateur>\n"
    )
}

/// A `contact-formateur` with the address national files give it.
fn contact_formateur(ligne: &str, cp: &str, ville: &str) -> String {
    format!(
        "<contact-formateur><coordonnees><nom>Le Goff</nom><prenom>Anne</prenom>\
         <adresse><ligne>{ligne}</ligne><codepostal>{cp}</codepostal><ville>{ville}</ville>\
         <region>52</region></adresse>\
         <telfixe><numtel>02 40 00 00 00</numtel></telfixe>\
         <courriel>anne.legoff@example.fr</courriel></coordonnees></contact-formateur>\n"
    )
}

fn formation(numero: &str, intitule: &str, actions: &str) -> String {
    format!(
        "<formation numero=\"{numero}\" datecrea=\"20230105\" datemaj=\"20240312\">\n\
         <domaine-formation><code-FORMACODE ref=\"V12\" tag=\"principal\">31734</code-FORMACODE>\
         <code-NSF>326</code-NSF><code-ROME>M1805</code-ROME></domaine-formation>\n\
         <intitule-formation>{intitule}</intitule-formation>\n\
         <objectif-formation>Concevoir et développer des applications web.</objectif-formation>\n\
         <resultats-attendus>Titre professionnel de niveau 5.</resultats-attendus>\n\
         <contenu-formation>Front-end, back-end, bases de données, sécurité.</contenu-formation>\n\
         <certifiante>1</certifiante>\n\
         <contact-formation><coordonnees><nom>Accueil</nom><telfixe><numtel>02 40 11 22 33</numtel>\
         </telfixe><courriel>accueil@example.fr</courriel></coordonnees></contact-formation>\n\
         <parcours-de-formation>1</parcours-de-formation>\n\
         <code-niveau-entree>2</code-niveau-entree>\n\
         <certification><code-RNCP>31114</code-RNCP><code-CERTIFINFO>93813</code-CERTIFINFO></certification>\n\
         <code-niveau-sortie>6</code-niveau-sortie>\n\
         {actions}\
         <organisme-formation-responsable numero=\"OF1\">\n\
         <numero-activite>52440000044</numero-activite>\n\
         <SIRET-organisme-formation><SIRET>{RESPONSABLE}</SIRET></SIRET-organisme-formation>\n\
         <nom-organisme>Campus Numérique de l'Ouest</nom-organisme>\n\
         <raison-sociale>CAMPUS NUMERIQUE DE L OUEST</raison-sociale>\n\
         <coordonnees-organisme><coordonnees><adresse><ligne>1 quai de la Fosse</ligne>\
         <codepostal>44000</codepostal><ville>Nantes</ville><departement>44</departement>\
         <region>52</region><pays>FR</pays></adresse>\
         <telfixe><numtel>02 40 11 22 33</numtel></telfixe></coordonnees></coordonnees-organisme>\n\
         <contact-organisme><coordonnees><courriel>contact@example.fr</courriel></coordonnees>\
         </contact-organisme>\n\
         <extras info=\"organisme-intercarif\"><extra info=\"code-of\">OF1</extra></extras>\n\
         </organisme-formation-responsable>\n\
         <extras info=\"formation-intercarif\"><extra info=\"code-carif\">{numero}</extra></extras>\n\
         <extras info=\"type-formation\"><extra info=\"formation-continue\">1</extra></extras>\n\
         </formation>\n"
    )
}

fn document(formations: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <lheo xmlns=\"http://www.lheo.org/2.2\">\n<offres>\n{formations}</offres>\n</lheo>\n"
    )
}

/// A national-shape document: two formations; the first with two actions taught by two
/// organismes formateurs that are not the responsable (one with a contact-formateur
/// address, one without any), the second taught by the responsable.
fn national_document() -> String {
    let f1 = formation(
        "14_AF_0000012345",
        "Développeur web et web mobile",
        &(action(
            "14_SE_0000100001",
            ("44000", "Nantes", "44"),
            &formateur(
                FORMATEUR_A,
                "ATELIER CODE NANTES",
                &contact_formateur("8 rue Kervégan", "44000", "Nantes"),
            ),
            &(session("14_SE_0000100001", "20240902", "20250228")
                + &session("14_SE_0000100002", "20250303", "20250829")),
        ) + &action(
            "14_SE_0000100003",
            ("49000", "Angers", "49"),
            &formateur(FORMATEUR_B, "FORMA ANJOU", ""),
            &session("14_SE_0000100003", "20240916", "20250314"),
        )),
    );
    let f2 = formation(
        "14_AF_0000067890",
        "Technicien d'assistance informatique",
        &action(
            "14_SE_0000200001",
            ("44000", "Nantes", "44"),
            "",
            &session("14_SE_0000200001", "20241007", "20250606"),
        ),
    );
    document(&(f1 + &f2))
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

async fn offres(db: &TestDb) -> Vec<Offre> {
    db.open().await.offres_page(None, 100, false).await.unwrap()
}

fn siret(s: &str) -> Siret {
    Siret::parse(s).unwrap()
}

/// Issue 17, point 1: a formateur whose SIRET is not the responsable's, a lieu de formation
/// with an address and a contact-formateur with one was refused ("the document gives no
/// address for it"). Its site now takes the contact-formateur's address.
async fn a_formateur_other_than_the_responsable_is_placed(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let doc = document(&formation(
        "14_AF_0000012345",
        "Développeur web et web mobile",
        &action(
            "14_SE_0000100001",
            ("44000", "Nantes", "44"),
            &formateur(
                FORMATEUR_A,
                "ATELIER CODE NANTES",
                &contact_formateur("8 rue Kervégan", "44000", "Nantes"),
            ),
            &session("14_SE_0000100001", "20240902", "20250228"),
        ),
    ));
    let path = write(dir.path(), "formateur.xml", &doc);
    let out = lheo_feed(db, &["import-lheo", "--json", path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let offres = offres(db).await;
    assert_eq!(offres.len(), 1);
    let sd = &offres[0].action.site_dispensateur;
    assert_eq!(sd.siret, siret(FORMATEUR_A), "the formateur teaches");
    let orgs = db.open().await.organismes().await.unwrap();
    let f = &orgs[&siret(FORMATEUR_A)];
    assert_eq!(f.raison_sociale.as_str(), "ATELIER CODE NANTES");
    let site = f.site(&sd.site).expect("the site dispensateur is stored");
    assert_eq!(
        site.adresse.lignes[0].as_str(),
        "8 rue Kervégan",
        "the contact-formateur's address places the site"
    );
    assert_eq!(site.adresse.ville.as_str(), "Nantes");
    // The responsable is stored too, with its own address.
    assert_eq!(
        orgs[&siret(RESPONSABLE)].adresse.as_ref().unwrap().lignes[0].as_str(),
        "1 quai de la Fosse"
    );
}

/// Without a contact-formateur, the formateur's site is where it teaches: the action's
/// lieu de formation. Several actions per formation, `region`, dates as attributes,
/// extras of several kinds: the whole national shape imports, and is published.
async fn national_documents_import(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "intercarif.xml", &national_document());
    let summary: Value =
        serde_json::from_str(&ok(db, &["import-lheo", "--json", path.to_str().unwrap()])).unwrap();
    assert_eq!(summary["versions"][0], "2.2");
    assert_eq!(summary["formations"], 2);
    assert_eq!(summary["sessions"], 4);

    let offres = offres(db).await;
    // One offer per LHÉO formation (the writer writes one formation per SOFI action); its
    // sessions are those of all its LHÉO actions.
    assert_eq!(offres.len(), 2, "{offres:#?}");
    let first = offres
        .iter()
        .find(|o| o.formation.intitule.as_str() == "Développeur web et web mobile")
        .unwrap();
    assert_eq!(first.sessions.len(), 3);
    assert_eq!(first.action.site_dispensateur.siret, siret(FORMATEUR_A));
    let villes: Vec<&str> = first
        .sessions
        .iter()
        .map(|s| {
            let l = &s.site_lieu;
            let orgs_site = l.site.as_str();
            assert!(!orgs_site.is_empty());
            l.siret.as_str()
        })
        .collect();
    // Each lieu de formation belongs to the formateur of its action.
    assert!(villes.contains(&FORMATEUR_A) && villes.contains(&FORMATEUR_B));
    let second = offres.iter().find(|o| o.numero != first.numero).unwrap();
    assert_eq!(second.action.site_dispensateur.siret, siret(RESPONSABLE));

    // The second action's formateur, with no coordinates of its own, is stored and placed
    // where it teaches.
    let orgs = db.open().await.organismes().await.unwrap();
    let b = &orgs[&siret(FORMATEUR_B)];
    assert_eq!(b.raison_sociale.as_str(), "FORMA ANJOU");
    assert!(
        b.sites.iter().all(|s| s.adresse.ville.as_str() == "Angers"),
        "a formateur without coordinates is placed at its lieu de formation: {b:#?}"
    );

    // Published as schema-valid LHÉO 2.3, each formateur in its action.
    let out = dir.path().join("export.xml");
    ok(
        db,
        &["export", "--today", TODAY, "--out", out.to_str().unwrap()],
    );
    assert_schema_valid(&out);
    // Without the indentation, to look for element sequences.
    let xml: String = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::trim)
        .collect();
    for s in [FORMATEUR_A, RESPONSABLE] {
        assert!(
            xml.contains(&format!(
                "<SIRET-formateur><SIRET>{s}</SIRET></SIRET-formateur>"
            )),
            "{s} teaches an exported action: {xml}"
        );
    }
    // The second action's formateur is not the offer's site dispensateur: its element is
    // kept whole with that action.
    assert!(
        xml.contains(&format!(
            "<organisme-formateur xmlns=\"urn:lheo-feed:lheo-import\"><SIRET-formateur><SIRET>{FORMATEUR_B}</SIRET>"
        )),
        "{xml}"
    );
    // The attributes of mapped elements come back as the national file wrote them.
    assert!(
        xml.contains("<code-FORMACODE ref=\"V12\" tag=\"principal\">31734</code-FORMACODE>"),
        "{xml}"
    );
    // The national extras come back where they were.
    assert!(xml.contains("<extra info=\"code-carif\">14_AF_0000012345</extra>"));
    assert!(xml.contains("<extra info=\"id-session-carif\">14_SE_0000100002</extra>"));
    assert!(xml.contains("<extra info=\"niveau\">2</extra>"));

    // The same document again changes nothing but the revision: no new offers.
    ok(db, &["import-lheo", path.to_str().unwrap()]);
    assert_eq!(self::offres(db).await.len(), 2);
}

/// Lenient mode, when an organisme an offer needs cannot be completed (here a mandataire
/// neither in the document nor in the store): that offer alone is skipped, named with its
/// position, and the formations before and after it are imported. The import writes as
/// it reads, so this is the one case where it starts again without that offer: the store
/// must hold exactly the others. `--strict` refuses the whole import.
async fn an_offer_whose_organisme_cannot_be_completed_is_skipped_alone(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let unknown = FORMATEUR_A;
    // Taught by the responsable, one session each.
    let taught_here = |numero: &str| {
        action(
            numero,
            ("44000", "Nantes", "44"),
            "",
            &session(numero, "20240902", "20250228"),
        )
    };
    let orphan = formation(
        "14_AF_0000000002",
        "Mandataire inconnu",
        &taught_here("14_SE_0000000002"),
    )
    .replace(
        "</formation>",
        &format!(
            "<extras info=\"sofi-formation\"><extra info=\"mandataire\">{unknown}</extra>\
             </extras>\n</formation>"
        ),
    );
    let doc = document(
        &(formation(
            "14_AF_0000000001",
            "Avant",
            &taught_here("14_SE_0000000001"),
        ) + &orphan
            + &formation(
                "14_AF_0000000003",
                "Après",
                &taught_here("14_SE_0000000003"),
            )),
    );
    let path = write(dir.path(), "orphan.xml", &doc);
    let before = ok(db, &["status", "--json"]);

    let out = lheo_feed(db, &["import-lheo", "--strict", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(unknown), "{stderr}");
    assert_eq!(
        ok(db, &["status", "--json"]),
        before,
        "strict wrote something"
    );

    let summary: Value =
        serde_json::from_str(&ok(db, &["import-lheo", "--json", path.to_str().unwrap()])).unwrap();
    assert_eq!(summary["formations_read"], 3, "{summary}");
    assert_eq!(summary["formations"], 2, "{summary}");
    assert_eq!(summary["sessions"], 2, "{summary}");
    assert_eq!(summary["skipped"], 1, "{summary}");
    assert_eq!(summary["offres"]["created"], 2, "{summary}");
    let skipped = &summary["skipped_formations"][0];
    let reason = skipped["reason"].as_str().unwrap();
    assert!(
        reason.contains(unknown) && reason.contains("cannot be imported"),
        "{skipped}"
    );
    // The position of the second `<formation>`.
    let line = doc[..doc.find("Mandataire inconnu").unwrap()]
        .rfind("<formation ")
        .map(|at| doc[..at].matches('\n').count() as u64 + 1)
        .unwrap();
    assert_eq!(skipped["line"], line, "{skipped}");
    let titles: Vec<String> = offres(db)
        .await
        .iter()
        .map(|o| o.formation.intitule.as_str().to_owned())
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(
        titles.iter().all(|t| t == "Avant" || t == "Après"),
        "{titles:?}"
    );
    let orgs = db.open().await.organismes().await.unwrap();
    assert!(orgs.contains_key(&siret(RESPONSABLE)));
    assert!(!orgs.contains_key(&siret(unknown)));
}

backend_tests!(
    a_formateur_other_than_the_responsable_is_placed,
    national_documents_import,
    an_offer_whose_organisme_cannot_be_completed_is_skipped_alone,
);
