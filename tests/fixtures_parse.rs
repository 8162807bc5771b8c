//! The shared fixtures against the model and the input schema.
//!
//! `fixtures/offres.jsonl` is the project's realistic data set (the SOFI procedure's own
//! example plus invented offers across the five regional programmes), and
//! `fixtures/bad/` holds one import error per file. These tests keep three things in
//! step: the serde model (`lheo_feed::model`), the JSON Schema users validate against
//! (`schemas/fasd.schema.json`), and what `fixtures/README.md` and
//! `fixtures/expectations.json` promise about each record. They do not implement the
//! entry rules: the small defect checks below only prove that each deliberately broken
//! record still carries its one defect, and that the exportable ones carry none of them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use lheo_feed::model::*;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The non-empty lines of a JSONL file, numbered from 1.
fn lines_of(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l.to_owned()))
        .collect()
}

fn fixture_lines() -> Vec<(usize, String)> {
    lines_of(&root().join("fixtures/offres.jsonl"))
}

/// Parses one line the way the importer must: with the path to the failing field.
fn parse_record(line: &str) -> Result<Record, String> {
    let de = &mut serde_json::Deserializer::from_str(line);
    serde_path_to_error::deserialize(de).map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

struct Fixtures {
    organismes: Vec<Organisme>,
    offres: Vec<Offre>,
    session_lines: Vec<Session>,
}

fn load_fixtures() -> Fixtures {
    let mut f = Fixtures {
        organismes: vec![],
        offres: vec![],
        session_lines: vec![],
    };
    for (n, line) in fixture_lines() {
        match parse_record(&line).unwrap_or_else(|e| panic!("fixtures/offres.jsonl:{n}: {e}")) {
            Record::Organisme(o) => f.organismes.push(*o),
            Record::Offre(o) => f.offres.push(*o),
            Record::Session(s) => f.session_lines.push(s.0),
        }
    }
    f
}

fn expectations() -> Value {
    let text = std::fs::read_to_string(root().join("fixtures/expectations.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn schema_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas/fasd.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .expect("schemas/fasd.schema.json is a valid draft 2020-12 schema")
}

fn schema_errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {}", e.instance_path, e))
        .collect()
}

// ---------------------------------------------------------------------------------------
// (a) Every fixture line parses; the counts and the procedure's example.

#[test]
fn every_fixture_line_parses_into_the_model() {
    let f = load_fixtures();
    let exp = expectations();
    let counts = &exp["counts"];
    let sessions: usize = f.offres.iter().map(|o| o.sessions.len()).sum();
    assert_eq!(
        f.organismes.len() as u64,
        counts["organismes"].as_u64().unwrap()
    );
    assert_eq!(f.offres.len() as u64, counts["offres"].as_u64().unwrap());
    assert_eq!(
        sessions as u64,
        counts["sessions_in_offres"].as_u64().unwrap()
    );
    assert_eq!(
        f.session_lines.len() as u64,
        counts["session_lines"].as_u64().unwrap()
    );
    assert_eq!(
        (
            f.organismes.len(),
            f.offres.len(),
            sessions,
            f.session_lines.len()
        ),
        (10, 31, 57, 1)
    );

    // Organismes first, then offers in numero order, then session lines.
    let kinds: Vec<char> = fixture_lines()
        .iter()
        .map(|(_, l)| match parse_record(l).unwrap() {
            Record::Organisme(_) => 'o',
            Record::Offre(_) => 'f',
            Record::Session(_) => 's',
        })
        .collect();
    let mut sorted = kinds.clone();
    sorted.sort_by_key(|k| "ofs".find(*k));
    assert_eq!(kinds, sorted, "organismes, then offres, then sessions");
    let numeros: Vec<ActionCode> = f.offres.iter().map(|o| o.numero).collect();
    let mut sorted = numeros.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(numeros, sorted, "offers sorted by numero, no duplicate");

    // Every SIRET in the file is a real (Luhn-valid) one: the model already checked it;
    // here, that every referenced site exists, so the file imports without error.
    let sites: BTreeSet<(String, String)> = f
        .organismes
        .iter()
        .flat_map(|o| {
            o.sites
                .iter()
                .map(move |s| (o.siret.to_string(), s.code.to_string()))
        })
        .collect();
    let sirets: BTreeSet<String> = f.organismes.iter().map(|o| o.siret.to_string()).collect();
    let known = |r: &SiteRef| sites.contains(&(r.siret.to_string(), r.site.to_string()));
    for o in &f.offres {
        assert!(
            sirets.contains(o.mandataire.as_str()),
            "{}: unknown mandataire",
            o.numero
        );
        assert!(
            known(&o.action.site_dispensateur),
            "{}: unknown site dispensateur",
            o.numero
        );
        for s in &o.sessions {
            assert_eq!(
                s.code.action, o.numero,
                "session {} outside its offer",
                s.code
            );
            assert!(
                known(&s.site_lieu) && known(&s.organisme_responsable),
                "{}: unknown site",
                s.code
            );
        }
    }
    for s in &f.session_lines {
        assert!(
            f.offres.iter().any(|o| o.numero == s.code.action),
            "{}: unknown action",
            s.code
        );
        assert!(
            f.offres
                .iter()
                .flat_map(|o| &o.sessions)
                .all(|x| x.code != s.code),
            "the session line adds a new session"
        );
    }

    // The five regional programmes, each spelt one way, all used.
    let programmes: BTreeSet<&str> = f
        .offres
        .iter()
        .flat_map(|o| o.sessions.iter())
        .chain(f.session_lines.iter())
        .map(|s| s.dispositif.programme.as_str())
        // The one misspelt label is a planted defect (PROGRAMME_INCONNU), not a programme.
        .filter(|p| *p != "PROGRAMME REGION - 1 emploi = 1 formations")
        .collect();
    let expected: BTreeSet<&str> = exp["programmes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(programmes, expected);

    // Variety the fixtures promise (README): every département of the region, every
    // modalité d'enseignement, alternance, remote information collectives, entrées
    // permanentes, suspended and closed recruitment.
    let all_sessions: Vec<&Session> = f.offres.iter().flat_map(|o| o.sessions.iter()).collect();
    let departements: BTreeSet<String> = all_sessions
        .iter()
        .map(|s| {
            f.organismes
                .iter()
                .find(|o| o.siret == s.site_lieu.siret)
                .unwrap()
        })
        .zip(all_sessions.iter())
        .map(|(o, s)| {
            Departement::of_adresse(&o.site(&s.site_lieu.site).unwrap().adresse)
                .unwrap()
                .as_str()
                .to_owned()
        })
        .collect();
    assert_eq!(
        departements,
        ["44", "49", "53", "72", "85"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    for m in [
        ModalitesEnseignement::Presentiel,
        ModalitesEnseignement::Mixte,
        ModalitesEnseignement::Distance,
    ] {
        assert!(
            all_sessions
                .iter()
                .any(|s| s.modalites_enseignement == Some(m)),
            "{m:?}"
        );
    }
    for r in [
        EtatRecrutement::Ouvert,
        EtatRecrutement::Suspendu,
        EtatRecrutement::Ferme,
    ] {
        assert!(
            all_sessions.iter().any(|s| s.recrutement == Some(r)),
            "{r:?}"
        );
    }
    assert!(all_sessions.iter().any(|s| s.cycle_alternance.is_some()));
    assert!(all_sessions
        .iter()
        .any(|s| s.entrees_sorties == EntreesSorties::Permanentes));
    assert!(all_sessions
        .iter()
        .flat_map(|s| &s.informations_collectives)
        .any(|ic| ic.lien_distance.is_some()));
    assert!(f
        .offres
        .iter()
        .any(|o| o.formation.validation == Validation::Partielle
            && !o.formation.blocs_valides.is_empty()));
    let text = std::fs::read_to_string(root().join("fixtures/offres.jsonl")).unwrap();
    for c in ['’', '«', '»', '–', 'œ', 'é', 'è', 'à', 'ç', 'ô', 'É', 'Œ'] {
        assert!(text.contains(c), "no {c:?} in the fixtures");
    }
}

#[test]
fn the_procedure_example_is_rebuilt_faithfully() {
    let f = load_fixtures();
    let numero = ActionCode::parse("19482-89393").unwrap();
    let o = f
        .offres
        .iter()
        .find(|o| o.numero == numero)
        .expect("offer 19482-89393");
    assert_eq!(o.etat, EtatWorkflow::Validee);
    assert_eq!(o.mandataire.as_str(), "13000511900032");

    let fo = &o.formation;
    assert_eq!(
        fo.intitule.as_str(),
        "Titre professionnel assistant ressources humaines"
    );
    assert_eq!(fo.certifinfo.as_ref().unwrap().as_str(), "109049");
    assert_eq!(fo.rncp.as_ref().unwrap().as_str(), "RNCP35030");
    assert_eq!(fo.type_certification, TypeCertification::TitreProfessionnel);
    assert_eq!(fo.objectif_general, ObjectifGeneral::Certification);
    assert!(fo.individualisation_par_bloc);
    assert_eq!(fo.validation, Validation::Totale);
    let blocs: Vec<(&str, &str, TypeModule)> = fo
        .blocs
        .iter()
        .map(|b| (b.code.as_str(), b.intitule.as_str(), b.type_module))
        .collect();
    assert_eq!(
        blocs,
        [
            (
                "RNCP35030BC01",
                "Assurer les missions opérationnelles de la gestion des ressources humaines",
                TypeModule::Obligatoire
            ),
            (
                "RNCP35030BC02",
                "Contribuer au développement des ressources humaines",
                TypeModule::Obligatoire
            ),
        ]
    );
    assert!(fo.blocs[0]
        .programme
        .as_ref()
        .unwrap()
        .as_str()
        .starts_with("Assurer la gestion administrative du personnel"));
    assert!(fo.blocs[1]
        .programme
        .as_ref()
        .unwrap()
        .as_str()
        .starts_with("Contribuer aux opérations liées à la gestion des emplois et carrières"));

    let a = &o.action;
    assert_eq!(
        (
            a.site_dispensateur.siret.as_str(),
            a.site_dispensateur.site.as_str()
        ),
        ("13000511900032", "36364")
    );
    assert_eq!(a.niveau_entree.code(), 1);
    assert_eq!(
        a.prerequis.as_ref().unwrap().as_str(),
        "niveau A2 du CECRL, motivation, avoir quitté la formation initiale, projet professionnel validé."
    );
    assert_eq!(
        a.commentaire_prerequis.as_ref().unwrap().as_str(),
        "Avoir levé les freins à l'entrée en formation professionnelle."
    );
    let public = a.public_vise.as_ref().unwrap().as_str();
    assert!(public.starts_with("- Personnes en recherche d'emploi, de plus de 16 ans"));
    assert!(public.contains("(SPIP)") && public.contains("(BOETH)"));

    let org = f
        .organismes
        .iter()
        .find(|x| x.siret == o.mandataire)
        .unwrap();
    assert_eq!(
        org.raison_sociale.as_str(),
        "CARIFOREF DES PAYS DE LA LOIRE"
    );
    assert_eq!(org.nda.as_ref().unwrap().as_str().len(), 11);
    assert_eq!(org.code_cr.as_ref().unwrap().as_str(), "75");
    let site = org.site(&SiteCode::parse("36364").unwrap()).unwrap();
    assert_eq!(site.nom.as_str(), "Principal");
    assert_eq!(
        (
            site.adresse.code_postal.as_str(),
            site.adresse.ville.as_str()
        ),
        ("44000", "Nantes")
    );

    assert_eq!(o.sessions.len(), 1);
    let s = &o.sessions[0];
    assert_eq!(s.code.to_string(), "19482-89393-143842");
    assert_eq!(s.site_lieu, a.site_dispensateur);
    assert_eq!(s.organisme_responsable, a.site_dispensateur);
    assert_eq!(s.date_debut.unwrap().to_string(), "2025-09-01");
    assert_eq!(s.date_fin.unwrap().to_string(), "2025-12-19");
    assert_eq!(s.entrees_sorties, EntreesSorties::DatesFixes);
    assert_eq!(s.rythmes.as_ref().unwrap().as_str(), "temps plein");
    assert_eq!(
        s.modalites_enseignement,
        Some(ModalitesEnseignement::Presentiel)
    );
    assert_eq!(s.duree_centre_heures, Some(200));
    assert_eq!(s.recrutement, Some(EtatRecrutement::Ouvert));
    assert!(s.referent_pmr.is_some() && s.referent_mobilite.is_some());
    let ic = &s.informations_collectives[0];
    assert_eq!(
        (ic.heure_debut.unwrap().lheo(), ic.heure_fin.unwrap().lheo()),
        ("9h30".into(), "12h".into())
    );
    assert!(ic.date.is_some() && ic.lieu.is_some() && ic.places.unwrap() > 0);

    let d = &s.dispositif;
    assert_eq!(
        d.programme.as_str(),
        "PROGRAMME REGION - 1 emploi = 1 formation"
    );
    let publics: Vec<&str> = d.publics.iter().map(Formacode::as_str).collect();
    assert_eq!(publics, ["80006", "80008"]);
    assert_eq!(d.numero_lot_cr.as_ref().unwrap().as_str(), "1E1F2025_4");
    assert_eq!(d.id_action_cr.as_ref().unwrap().as_str(), "2872");
    assert_eq!(d.of_mandataire_cr.as_ref().unwrap().as_str(), "75");
    assert_eq!(d.places, Some(5));
    assert_eq!(d.prise_en_charge_frais_pedagogiques, Some(true));
    // "Frais afférents au passage de la certification : non" sits in the block of fees
    // not covered: the certification fees are included (issue 15 turned it round).
    assert_eq!(d.frais_certification_inclus, Some(true));
}

// ---------------------------------------------------------------------------------------
// What expectations.json and the README say about each record is true of the data.

/// The defects the fixtures plant on purpose, named by the code of the entry rule that
/// reports them (`src/rules/mod.rs`), detected in the plainest way, plus the star fields
/// of the Fiche Session that every good session fills. This is a check on the fixtures,
/// not on the rules engine (`tests/fixtures_rules.rs` runs that): it proves that each
/// broken record carries its one defect and that the others carry none.
fn session_defects(o: &Offre, s: &Session, organismes: &[Organisme]) -> BTreeSet<&'static str> {
    let mut d = BTreeSet::new();
    let apostrophe = |t: &Text| t.as_str().replace('’', "'").to_lowercase();
    if s.informations_collectives.is_empty() {
        d.insert("IC_ABSENTE");
    }
    // The fixtures' reference date: a session yet to start, recruiting, whose every
    // information collective is before it.
    let reference = Date::parse("2025-06-02").unwrap();
    let derniere_ic = s
        .informations_collectives
        .iter()
        .filter_map(|ic| ic.date)
        .max();
    if s.date_debut.is_some_and(|x| x > reference)
        && s.recrutement == Some(EtatRecrutement::Ouvert)
        && derniere_ic.is_some_and(|x| x < reference)
    {
        d.insert("IC_PASSEES");
    }
    const PROGRAMMES: [&str; 5] = [
        "PROGRAMME REGION - 1 emploi = 1 formation",
        "PROGRAMME REGION - PREPA Avenir Sup",
        "PROGRAMME REGION - PREPA Clés Avenir",
        "PROGRAMME REGION - PASS Entreprendre en Pays de la Loire - Formation",
        "PROGRAMME REGION - PREPA Sanitaire et social",
    ];
    if !PROGRAMMES.contains(&s.dispositif.programme.as_str()) {
        d.insert("PROGRAMME_INCONNU");
    }
    // The lot's mandataire, as the Region file says.
    let region = std::fs::read_to_string(root().join("fixtures/region-2025.csv")).unwrap();
    let lot = s.dispositif.numero_lot_cr.as_ref().map(|l| l.as_str());
    let mandataire_du_lot = region.lines().find_map(|l| {
        let cols: Vec<&str> = l.split(',').collect();
        (cols[0] == "lot" && Some(cols[1]) == lot).then(|| cols[4].to_owned())
    });
    if mandataire_du_lot.is_some_and(|m| m != o.mandataire.as_str()) {
        d.insert("LOT_AUTRE_MANDATAIRE");
    }
    if s.dispositif.programme.as_str() == PROGRAMMES[0]
        && (s.entrees_sorties != EntreesSorties::DatesFixes
            || !matches!(
                s.type_parcours,
                TypeParcours::Mixte | TypeParcours::Modularise | TypeParcours::Inconnu
            ))
    {
        d.insert("VALEUR_NON_ADMISE_1E1F");
    }
    if s.informations_collectives
        .iter()
        .any(|ic| ic.date.is_none() || (ic.lieu.is_none() && ic.lien_distance.is_none()))
    {
        d.insert("IC_INCOMPLETE");
    }
    if let (Some(debut), EntreesSorties::DatesFixes) = (s.date_debut, s.entrees_sorties) {
        if s.informations_collectives
            .iter()
            .any(|ic| ic.date.is_some_and(|x| x > debut))
        {
            d.insert("IC_APRES_DEBUT");
        }
    }
    if s.date_debut.is_none_or(|x| x.year() != 2025) {
        d.insert("DEBUT_HORS_CAMPAGNE");
    }
    if let (Some(a), Some(b)) = (s.date_debut, s.date_fin) {
        if b < a {
            d.insert("DATES_INVERSEES");
        }
    }
    if s.dispositif.places.is_none_or(|p| p == 0) {
        d.insert("PLACES_DISPOSITIF_ABSENTES");
    }
    if s.dispositif.prise_en_charge_frais_pedagogiques != Some(true) {
        d.insert("PRISE_EN_CHARGE_NON");
    }
    if s.organisme_responsable.siret != o.mandataire {
        d.insert("RESPONSABLE_NON_MANDATAIRE");
    }
    let responsable = organismes
        .iter()
        .find(|x| x.siret == s.organisme_responsable.siret);
    if responsable.is_none_or(|x| x.nda.is_none()) {
        d.insert("RESPONSABLE_SANS_NDA");
    }
    if s.rythmes.is_none() {
        d.insert("RYTHMES_ABSENTS");
    }
    if s.periodes_formation.is_empty() {
        d.insert("PERIODES_FORMATION_ABSENTES");
    }
    if s.periodes_formation.iter().any(|p| {
        p.fin < p.debut
            || matches!((s.date_debut, s.date_fin),
                (Some(a), Some(b)) if a <= b && (p.debut < a || p.fin > b))
    }) {
        d.insert("PERIODE_FORMATION_INCOHERENTE");
    }
    if s.modalites_pedagogiques.is_empty() && s.modalites_pedagogiques_texte.is_none() {
        d.insert("MODALITES_PEDAGOGIQUES_ABSENTES");
    }
    if s.modalites_enseignement.is_none() {
        d.insert("MODALITES_ENSEIGNEMENT_ABSENTES");
    }
    if s.duree_centre_heures.is_none_or(|h| h == 0) {
        d.insert("DUREE_CENTRE_ABSENTE");
    }
    if s.duree_entreprise_heures.is_none() {
        d.insert("DUREE_ENTREPRISE_ABSENTE");
    }
    if s.recrutement.is_none() {
        d.insert("RECRUTEMENT_ABSENT");
    }
    if s.modalites_recrutement.is_empty() && s.modalites_recrutement_texte.is_none() {
        d.insert("MODALITES_RECRUTEMENT_ABSENTES");
    }
    if s.referent_pmr.is_none() {
        d.insert("REFERENT_PMR_ABSENT");
    }
    if s.referent_mobilite.is_none() {
        d.insert("REFERENT_MOBILITE_ABSENT");
    }
    if s.type_parcours == TypeParcours::Inconnu {
        d.insert("TYPE_PARCOURS_INCONNU");
    }
    let says_intention = [&s.commentaire_duree, &s.modalites_recrutement_texte]
        .into_iter()
        .flatten()
        .any(|t| apostrophe(t).contains("intention d'embauche"));
    let prerequis_says = o
        .action
        .prerequis
        .as_ref()
        .is_some_and(|t| apostrophe(t).contains("intention d'embauche"));
    if says_intention && !prerequis_says {
        d.insert("INTENTION_EMBAUCHE_PREREQUIS");
    }
    d
}

/// The same for the Formation and the Action (findings about the whole offer).
fn offer_defects(o: &Offre) -> BTreeSet<&'static str> {
    let mut d = BTreeSet::new();
    let a = &o.action;
    if a.complement_programme
        .as_ref()
        .is_some_and(|t| t.chars() > 3000)
    {
        d.insert("COMPLEMENT_PROGRAMME_TROP_LONG");
    }
    if a.le_plus_formation
        .as_ref()
        .is_some_and(|t| t.chars() > 250)
    {
        d.insert("PLUS_FORMATION_TROP_LONG");
    }
    if a.objectifs
        .as_ref()
        .is_some_and(|t| t.as_str().contains("</"))
    {
        d.insert("OBJECTIFS_MISE_EN_FORME");
    }
    let urls = [&a.url_video, &a.url_pdf, &a.url_action];
    if urls
        .into_iter()
        .flatten()
        .any(|u| !u.as_str().starts_with("https://"))
    {
        d.insert("URL_INVALIDE");
    }
    if let Some(v) = &a.url_video {
        let v = v.as_str();
        let host = v
            .trim_start_matches("https://")
            .split('/')
            .next()
            .unwrap_or("");
        let youtube = ["www.youtube.com", "youtube.com", "youtu.be"].contains(&host);
        if !youtube && !v.to_lowercase().ends_with(".mp4") {
            d.insert("URL_VIDEO_FORMAT");
        }
    }
    if o.formation.validation == Validation::Partielle && o.formation.blocs_valides.is_empty() {
        d.insert("VALIDATION_PARTIELLE_SANS_BLOC");
    }
    if o.formation.type_certification.certifiante() && o.formation.certifinfo.is_none() {
        d.insert("CERTIFINFO_ABSENT");
    }
    d
}

/// The `codes` and `warnings` of an expectations.json entry, as one set.
fn planted(e: &Value) -> BTreeSet<&str> {
    ["codes", "warnings"]
        .iter()
        .flat_map(|k| e[*k].as_array().unwrap().iter())
        .map(|v| v.as_str().unwrap())
        .collect()
}

fn is_empty_list(v: &Value) -> bool {
    v.as_array().unwrap().is_empty()
}

#[test]
fn fixtures_carry_exactly_the_defects_they_are_documented_with() {
    let f = load_fixtures();
    let exp = expectations();
    let reference = Date::parse(exp["reference_date"].as_str().unwrap()).unwrap();
    let sessions = exp["sessions"].as_object().unwrap();
    let offres = exp["offres"].as_object().unwrap();

    let mut seen = BTreeSet::new();
    let mut exportable_offres = BTreeSet::new();
    let all = f
        .offres
        .iter()
        .flat_map(|o| o.sessions.iter().map(move |s| (o, s)))
        .chain(f.session_lines.iter().map(|s| {
            (
                f.offres.iter().find(|o| o.numero == s.code.action).unwrap(),
                s,
            )
        }));
    for (o, s) in all {
        let code = s.code.to_string();
        let numero = o.numero.to_string();
        let e = sessions
            .get(&code)
            .unwrap_or_else(|| panic!("{code} missing from expectations.json"));
        let oe = offres
            .get(&numero)
            .unwrap_or_else(|| panic!("{numero} missing from expectations.json"));
        assert!(
            oe["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == code.as_str()),
            "{numero} lists {code}"
        );
        seen.insert(code.clone());
        assert_eq!(
            session_defects(o, s, &f.organismes),
            planted(e),
            "{code}: its defects are the documented ones"
        );
        assert_eq!(
            offer_defects(o),
            planted(oe),
            "{numero}: its defects are the documented ones"
        );
        let status = e["status"].as_str().unwrap();
        let ended = s.date_fin.unwrap() < reference;
        match status {
            "accepted" | "inactive" => {
                assert_eq!(o.etat, EtatWorkflow::Validee, "{code}");
                assert!(
                    is_empty_list(&e["codes"]) && is_empty_list(&oe["codes"]),
                    "{code}"
                );
                assert_eq!(
                    ended,
                    status == "inactive",
                    "{code}: date_fin vs reference date"
                );
                if status == "accepted" {
                    exportable_offres.insert(numero);
                }
            }
            "rejected" => {
                assert_eq!(o.etat, EtatWorkflow::Validee, "{code}");
                assert!(
                    !is_empty_list(&e["codes"]) || !is_empty_list(&oe["codes"]),
                    "{code} is rejected without a blocking code"
                );
                assert!(!ended, "{code}: an ended session is inactive, not rejected");
            }
            "not_validated" => {
                assert!(
                    planted(e).is_empty() && planted(oe).is_empty(),
                    "{code}: valid but unvalidated"
                );
                assert_eq!(oe["etat"].as_str().unwrap(), o.etat.as_str());
                assert_ne!(o.etat, EtatWorkflow::Validee);
            }
            other => panic!("{code}: unknown status {other}"),
        }
    }
    let listed: BTreeSet<String> = sessions.keys().cloned().collect();
    assert_eq!(
        seen, listed,
        "expectations.json lists exactly the fixture sessions"
    );
    let expected: BTreeSet<String> = offres
        .iter()
        .filter(|(_, e)| e["status"] == "exportable")
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(exportable_offres, expected);
    assert!(exportable_offres.len() >= 15);

    // Every planted rule is documented in fixtures/README.md, by its code.
    let readme = std::fs::read_to_string(root().join("fixtures/README.md")).unwrap();
    let records: Vec<BTreeSet<&str>> = sessions
        .values()
        .chain(offres.values())
        .map(planted)
        .filter(|p| !p.is_empty())
        .collect();
    assert!(
        records.iter().all(|p| p.len() == 1),
        "one defect per record"
    );
    assert_eq!(records.len(), 26, "broken records");
    let rules: BTreeSet<&str> = records.into_iter().flatten().collect();
    assert_eq!(rules.len(), 25, "{rules:?}");
    for r in &rules {
        assert!(
            readme.contains(&format!("`{r}`")),
            "fixtures/README.md does not document {r}"
        );
    }
    // Offers whose every session is rejected: one with two sessions, each rejected for its
    // own reason, and the three one-session offers of the Region referential's rules.
    let all_rejected = f.offres.iter().filter(|o| {
        let numero = o.numero.to_string();
        o.etat == EtatWorkflow::Validee
            && is_empty_list(&offres[&numero]["codes"])
            && o.sessions
                .iter()
                .all(|s| sessions[&s.code.to_string()]["status"] == "rejected")
    });
    assert_eq!(
        all_rejected
            .map(|o| o.numero.to_string())
            .collect::<Vec<_>>(),
        ["20208-91150", "20401-91220", "20402-91227", "20403-91234"]
    );
}

// ---------------------------------------------------------------------------------------
// (b) The schema accepts every fixture line, and the model's own output.

#[test]
fn every_fixture_line_is_valid_against_the_schema() {
    let validator = schema_validator();
    for (n, line) in fixture_lines() {
        let value: Value = serde_json::from_str(&line).unwrap();
        let errors = schema_errors(&validator, &value);
        assert!(errors.is_empty(), "fixtures/offres.jsonl:{n}: {errors:#?}");
    }
}

#[test]
fn what_the_model_writes_is_valid_input_and_reads_back_the_same() {
    let validator = schema_validator();
    for (n, line) in fixture_lines() {
        let record = parse_record(&line).unwrap();
        let written = serde_json::to_value(&record).unwrap();
        let errors = schema_errors(&validator, &written);
        assert!(
            errors.is_empty(),
            "line {n} as the model writes it: {errors:#?}"
        );
        let again: Record = serde_json::from_value(written).unwrap();
        match (record, again) {
            (Record::Organisme(a), Record::Organisme(b)) => assert_eq!(a, b),
            (Record::Offre(a), Record::Offre(b)) => assert_eq!(a, b),
            (Record::Session(a), Record::Session(b)) => assert_eq!(a, b),
            _ => panic!("line {n} changed kind"),
        }
    }
}

/// Each enum of the schema lists exactly the model's variant names. The `match` makes
/// adding a variant to the model fail to compile here until the schema is updated.
macro_rules! same_enum {
    ($schema:expr, $def:literal, $ty:ty) => {{
        // `ALL` is generated with the enum (model::codes::vocabulary!), so it is every value.
        let model: BTreeSet<String> = <$ty>::ALL
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let schema: BTreeSet<String> = $schema["$defs"][$def]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("no $defs/{} enum", $def))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(model, schema, "$defs/{}", $def);
    }};
}

#[test]
fn schema_enums_are_the_model_enums() {
    let text = std::fs::read_to_string(root().join("schemas/fasd.schema.json")).unwrap();
    let s: Value = serde_json::from_str(&text).unwrap();
    same_enum!(s, "etat_workflow", EtatWorkflow);
    same_enum!(s, "objectif_general", ObjectifGeneral);
    same_enum!(s, "type_certification", TypeCertification);
    same_enum!(s, "type_module", TypeModule);
    same_enum!(s, "validation", Validation);
    same_enum!(s, "entrees_sorties", EntreesSorties);
    same_enum!(s, "type_parcours", TypeParcours);
    same_enum!(s, "modalites_enseignement", ModalitesEnseignement);
    same_enum!(s, "etat_recrutement", EtatRecrutement);
    same_enum!(s, "modalite_recrutement", ModaliteRecrutement);
    same_enum!(s, "type_inscription", TypeInscription);
    same_enum!(s, "type_periode", TypePeriode);
    same_enum!(s, "type_equipement", TypeEquipement);
    same_enum!(s, "type_alternance", TypeAlternance);
    same_enum!(s, "unite_rythme", UniteRythme);

    let niveaux: Vec<u64> = s["$defs"]["niveau"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let model: Vec<u64> = (0..=255u8)
        .filter(|c| Niveau::new(*c).is_ok())
        .map(u64::from)
        .collect();
    assert_eq!(niveaux, model);
}

// ---------------------------------------------------------------------------------------
// (c) fixtures/bad/: each file shows its one error, at the documented line and field.

/// How a bad file fails.
enum Failure {
    /// The line is not UTF-8.
    Utf8,
    /// serde_json rejects the line's syntax.
    Syntax,
    /// The line is JSON but not a Record: serde names the field (serde_path_to_error path).
    Field(&'static str),
    /// Every line is a Record; the importer's cross-line checks must catch the field.
    CrossLine(&'static str),
}

const BAD: &[(&str, usize, Failure)] = &[
    ("malformed-json.jsonl", 3, Failure::Syntax),
    (
        "wrong-type.jsonl",
        2,
        Failure::Field("offre.sessions[0].dispositif.places"),
    ),
    (
        "unknown-code.jsonl",
        3,
        Failure::Field("offre.sessions[0].recrutement"),
    ),
    (
        "impossible-date.jsonl",
        2,
        Failure::Field("offre.sessions[0].date_debut"),
    ),
    ("invalid-utf8.jsonl", 3, Failure::Utf8),
    (
        "unknown-action.jsonl",
        3,
        Failure::CrossLine("session.code"),
    ),
    (
        "duplicate-code.jsonl",
        3,
        Failure::CrossLine("offre.numero"),
    ),
    ("bad-siret.jsonl", 2, Failure::Field("offre.mandataire")),
    (
        "unknown-organisme.jsonl",
        2,
        Failure::CrossLine("offre.mandataire"),
    ),
    (
        "unknown-site.jsonl",
        3,
        Failure::CrossLine("offre.sessions[0].site_lieu.site"),
    ),
    (
        "session-wrong-action.jsonl",
        2,
        Failure::CrossLine("offre.sessions[0].code"),
    ),
    (
        "unknown-field.jsonl",
        3,
        Failure::Field("offre.sessions[0].recrutment"),
    ),
];

/// How a line of a bad file failed on its own.
#[derive(Debug, PartialEq)]
enum Got {
    Utf8,
    Syntax,
    Field(String),
}

/// The first line of a bad file that fails on its own: line number, how, and the message.
fn first_failing_line(bytes: &[u8]) -> Option<(usize, Got, String)> {
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let n = i + 1;
        let Ok(line) = std::str::from_utf8(raw) else {
            return Some((n, Got::Utf8, String::new()));
        };
        if let Err(e) = serde_json::from_str::<Value>(line) {
            return Some((n, Got::Syntax, e.to_string()));
        }
        let de = &mut serde_json::Deserializer::from_str(line);
        if let Err(e) = serde_path_to_error::deserialize::<_, Record>(de) {
            // For an unknown field, the path already ends with the unknown key.
            return Some((n, Got::Field(e.path().to_string()), e.inner().to_string()));
        }
    }
    None
}

/// The cross-line defect of an importer-level bad file, found the plainest way.
fn cross_line_defect(records: &[(usize, Record)]) -> Option<(usize, &'static str)> {
    let mut sirets = BTreeSet::new();
    let mut sites = BTreeSet::new();
    let mut numeros = BTreeMap::new();
    for (n, r) in records {
        match r {
            Record::Organisme(o) => {
                sirets.insert(o.siret.clone());
                for s in &o.sites {
                    sites.insert((o.siret.clone(), s.code.clone()));
                }
            }
            Record::Offre(o) => {
                if numeros.insert(o.numero, *n).is_some() {
                    return Some((*n, "offre.numero"));
                }
                if !sirets.contains(&o.mandataire) {
                    return Some((*n, "offre.mandataire"));
                }
                for s in &o.sessions {
                    if s.code.action != o.numero {
                        return Some((*n, "offre.sessions[0].code"));
                    }
                    if !sites.contains(&(s.site_lieu.siret.clone(), s.site_lieu.site.clone())) {
                        return Some((*n, "offre.sessions[0].site_lieu.site"));
                    }
                }
            }
            Record::Session(s) => {
                if !numeros.contains_key(&s.0.code.action) {
                    return Some((*n, "session.code"));
                }
            }
        }
    }
    None
}

#[test]
fn each_bad_file_fails_at_its_documented_line_and_field() {
    let dir = root().join("fixtures/bad");
    let mut on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let validator = schema_validator();

    for (file, line, failure) in BAD {
        assert!(on_disk.remove(*file), "{file} is not in fixtures/bad/");
        assert!(
            readme.contains(file),
            "fixtures/bad/README.md does not list {file}"
        );
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let found = first_failing_line(&bytes);
        match failure {
            Failure::CrossLine(field) => {
                assert!(
                    found.is_none(),
                    "{file}: every line must parse on its own, got {:?}",
                    found.map(|f| f.2)
                );
                let records: Vec<(usize, Record)> = lines_of(&dir.join(file))
                    .into_iter()
                    .map(|(n, l)| (n, parse_record(&l).unwrap()))
                    .collect();
                assert_eq!(cross_line_defect(&records), Some((*line, *field)), "{file}");
                // Valid against the schema, line by line: only the importer can tell.
                for (n, l) in lines_of(&dir.join(file)) {
                    let errors = schema_errors(&validator, &serde_json::from_str(&l).unwrap());
                    assert!(errors.is_empty(), "{file}:{n}: {errors:?}");
                }
            }
            expected => {
                let (n, got, message) =
                    found.unwrap_or_else(|| panic!("{file}: every line parsed"));
                assert_eq!(n, *line, "{file}: failing line ({message})");
                let want = match expected {
                    Failure::Utf8 => Got::Utf8,
                    Failure::Syntax => Got::Syntax,
                    Failure::Field(path) => Got::Field(path.to_string()),
                    Failure::CrossLine(_) => unreachable!(),
                };
                assert_eq!(got, want, "{file}: {message}");
                // The lines before the bad one are fine.
                let text = String::from_utf8_lossy(&bytes);
                for l in text.lines().take(line - 1) {
                    parse_record(l).unwrap();
                }
            }
        }
    }
    assert!(
        on_disk.is_empty(),
        "bad files without an expectation: {on_disk:?}"
    );
}

#[test]
fn the_schema_rejects_the_bad_lines_it_can_see() {
    let validator = schema_validator();
    let dir = root().join("fixtures/bad");
    // Type, code, calendar date and field-name errors are visible to the schema. A Luhn
    // failure is not (bad-siret.jsonl passes the schema; only the model catches it).
    for (file, line) in [
        ("wrong-type.jsonl", 2),
        ("unknown-code.jsonl", 3),
        ("impossible-date.jsonl", 2),
        ("unknown-field.jsonl", 3),
    ] {
        let lines = lines_of(&dir.join(file));
        let (_, bad) = lines.iter().find(|(n, _)| *n == line).unwrap();
        let errors = schema_errors(&validator, &serde_json::from_str(bad).unwrap());
        assert!(!errors.is_empty(), "{file}:{line} passes the schema");
    }
    let lines = lines_of(&dir.join("bad-siret.jsonl"));
    assert!(schema_errors(&validator, &serde_json::from_str(&lines[1].1).unwrap()).is_empty());
}

// ---------------------------------------------------------------------------------------
// docs/input-format.md: its example file imports, and its error example is what serde says.

#[test]
fn the_documented_examples_are_true() {
    let doc = std::fs::read_to_string(root().join("docs/input-format.md")).unwrap();
    let validator = schema_validator();
    let block = doc
        .split("## A complete minimal file")
        .nth(1)
        .and_then(|s| s.split("```json\n").nth(1))
        .and_then(|s| s.split("\n```").next())
        .expect("the minimal file example");
    let mut numeros = BTreeSet::new();
    for (i, line) in block.lines().enumerate() {
        let record = parse_record(line).unwrap_or_else(|e| panic!("example line {}: {e}", i + 1));
        let errors = schema_errors(&validator, &serde_json::from_str(line).unwrap());
        assert!(errors.is_empty(), "example line {}: {errors:?}", i + 1);
        match record {
            Record::Offre(o) => {
                numeros.insert(o.numero);
            }
            Record::Session(s) => assert!(numeros.contains(&s.0.code.action)),
            Record::Organisme(_) => {}
        }
    }

    // The error line shown for wrong-type.jsonl: same path, and serde's own reason.
    let shown = doc
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("fixtures/bad/wrong-type.jsonl:2: "))
        .unwrap();
    let (_, line) = lines_of(&root().join("fixtures/bad/wrong-type.jsonl")).remove(1);
    let de = &mut serde_json::Deserializer::from_str(&line);
    let err = serde_path_to_error::deserialize::<_, Record>(de).unwrap_err();
    let reason = err.inner().to_string();
    let reason = reason.split(" at line ").next().unwrap();
    assert_eq!(
        shown,
        format!("fixtures/bad/wrong-type.jsonl:2: {}: {reason}", err.path())
    );
}

// ---------------------------------------------------------------------------------------
// Schema and model agree on single-value changes to the procedure's example line.

#[test]
fn schema_and_model_agree_on_edge_values() {
    let validator = schema_validator();
    let (_, line) = fixture_lines()
        .into_iter()
        .find(|(_, l)| l.contains("\"numero\":\"19482-89393\""))
        .unwrap();
    let base: Value = serde_json::from_str(&line).unwrap();
    let s = "/offre/sessions/0";
    // (JSON pointer, new value, accepted?)
    let cases: Vec<(String, Value, bool)> = vec![
        ("/offre/mandataire".into(), "130 005 119 00032".into(), true),
        ("/offre/mandataire".into(), "1300051190003".into(), false),
        ("/offre/numero".into(), "019482-89393".into(), false),
        ("/offre/numero".into(), "19482-89393-1".into(), false),
        (format!("{s}/code"), "19482-89393-0143842".into(), false),
        ("/offre/formation/rncp".into(), "RNCP35030".into(), true),
        ("/offre/formation/rncp".into(), "RNCP".into(), false),
        ("/offre/formation/certifinfo".into(), "10904a".into(), false),
        ("/offre/formation/niveau_sortie".into(), 9.into(), false),
        ("/offre/formation/niveau_sortie".into(), 17.into(), true),
        ("/offre/formation/description".into(), "".into(), true),
        ("/offre/formation/description".into(), Value::Null, true),
        ("/offre/formation/intitule".into(), "   ".into(), false),
        (
            "/offre/formation/individualisation_par_bloc".into(),
            Value::Null,
            false,
        ),
        ("/offre/formation/blocs/0/code".into(), "BC01".into(), false),
        ("/offre/action/niveau_entree".into(), 1.5.into(), false),
        (format!("{s}/date_debut"), "2025-9-01".into(), false),
        (format!("{s}/date_debut"), "2024-02-29".into(), true),
        (format!("{s}/date_debut"), Value::Null, true),
        (
            format!("{s}/informations_collectives/0/heure_debut"),
            "9:30".into(),
            true,
        ),
        (
            format!("{s}/informations_collectives/0/heure_debut"),
            "24:00".into(),
            false,
        ),
        (
            format!("{s}/informations_collectives/0/heure_debut"),
            "9h30".into(),
            false,
        ),
        (format!("{s}/duree_centre_heures"), (-1).into(), false),
        (format!("{s}/duree_centre_heures"), "200".into(), false),
        (format!("{s}/periodes_inscription"), Value::Null, false),
        (format!("{s}/dispositif/frais_ht"), "3850,5".into(), true),
        (format!("{s}/dispositif/frais_ht"), 3850.5.into(), true),
        (format!("{s}/dispositif/frais_ht"), "1.234".into(), false),
        (format!("{s}/dispositif/frais_ht"), (-3).into(), false),
        (
            format!("{s}/dispositif/frais_ht"),
            "1234567890".into(),
            false,
        ),
        (format!("{s}/dispositif/taux_tva"), "5,5".into(), true),
        (format!("{s}/dispositif/taux_tva"), 100.into(), true),
        (format!("{s}/dispositif/taux_tva"), "100.5".into(), false),
        (format!("{s}/dispositif/taux_tva"), 101.into(), false),
        (format!("{s}/dispositif/publics/0"), "8006".into(), false),
        (format!("{s}/site_lieu/site"), "36-364".into(), false),
        (
            "/offre/cree_le".into(),
            "2025-01-14T09:12:00+01:00".into(),
            true,
        ),
        ("/offre/cree_le".into(), "2025-01-14".into(), false),
        (
            "/offre/action/equipements".into(),
            serde_json::json!([{"type": "casque"}]),
            false,
        ),
        ("/offre/bonus".into(), true.into(), false),
        (
            "/organisme".into(),
            serde_json::json!({"siret": "13000511900032", "raison_sociale": "X"}),
            false,
        ),
    ];
    for (pointer, value, accepted) in cases {
        let mut v = base.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        match v.pointer_mut(parent).unwrap() {
            Value::Array(items) => items[key.parse::<usize>().unwrap()] = value.clone(),
            Value::Object(map) => {
                map.insert(key.to_owned(), value.clone());
            }
            other => panic!("{parent} is {other}"),
        }
        let model = serde_json::from_value::<Record>(v.clone()).map_err(|e| e.to_string());
        let schema = schema_errors(&validator, &v);
        assert_eq!(
            model.is_ok(),
            accepted,
            "model on {pointer} = {value}: {model:?}"
        );
        assert_eq!(
            schema.is_empty(),
            accepted,
            "schema on {pointer} = {value}: {schema:?}"
        );
    }
}
