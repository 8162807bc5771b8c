//! Every rule against the baseline offer: one failing tweak and one passing tweak each,
//! then the engine itself (inactive sessions, rejection, order, accepted_offre).

use std::collections::BTreeSet;

use super::testkit::*;
use super::*;
use crate::model::Lot;
use crate::model::*;

/// One rule's cases: `fail` must produce exactly `code` (plus `also`), `pass` is a nearby
/// value that must produce nothing at all.
struct Case {
    code: &'static str,
    fail: fn(&mut Fixture),
    pass: fn(&mut Fixture),
    also: &'static [&'static str],
}

const fn case(code: &'static str, fail: fn(&mut Fixture), pass: fn(&mut Fixture)) -> Case {
    Case {
        code,
        fail,
        pass,
        also: &[],
    }
}

fn baseline(_: &mut Fixture) {}

/// A programme the configuration knows but that is not regional.
fn autre_programme(fx: &mut Fixture) {
    fx.config
        .programmes_autres
        .push("CONTRAT DE PROFESSIONNALISATION".into());
    for s in &mut fx.offre.sessions {
        s.dispositif.programme = text("CONTRAT DE PROFESSIONNALISATION");
    }
}

/// The first session under PREPA Avenir Sup, with a lot of that programme when `lot`.
fn avenir_sup(fx: &mut Fixture, lot: &str) {
    let mut lots = vec![Lot {
        code: "PAS2025_2".into(),
        programme: PROGRAMMES_REGION[1].into(),
        annee: 2025,
        mandataire: siret(CARIFOREF),
    }];
    lots.push(fx.referentiel.lot("1E1F2025_4").unwrap().clone());
    fx.referentiel = Referentiel::new(vec![], lots);
    let d = &mut fx.s0().dispositif;
    d.programme = text(PROGRAMMES_REGION[1]);
    d.numero_lot_cr = Some(text(lot));
}

fn periode(type_periode: TypePeriode, debut: &str, fin: &str) -> PeriodeFormation {
    PeriodeFormation {
        type_periode,
        debut: date(debut),
        fin: date(fin),
    }
}

fn un_jour(fx: &mut Fixture, jour: &str) {
    let s = fx.s0();
    s.date_debut = Some(date(jour));
    s.date_fin = Some(date(jour));
    s.periodes_formation = vec![periode(TypePeriode::Centre, jour, jour)];
}

fn blocs(fx: &mut Fixture, codes: &[&str]) {
    fx.offre.formation.validation = Validation::Partielle;
    fx.offre.formation.blocs_valides = codes.iter().map(|c| CodeBloc::parse(c).unwrap()).collect();
}

fn code(s: &str) -> FasCode {
    FasCode::parse(s).unwrap()
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "ETAT_NON_VALIDEE",
            |fx| fx.offre.etat = EtatWorkflow::EnCoursDeSaisie,
            baseline,
        ),
        case(
            "AUCUNE_SESSION",
            |fx| fx.offre.sessions.clear(),
            |fx| fx.offre.sessions.truncate(1),
        ),
        case(
            "VALIDATION_PARTIELLE_SANS_BLOC",
            |fx| blocs(fx, &[]),
            |fx| blocs(fx, &["RNCP35030BC01"]),
        ),
        case(
            "BLOC_INCONNU",
            |fx| blocs(fx, &["RNCP35030BC01", "RNCP35030BC09"]),
            |fx| blocs(fx, &["RNCP35030BC02"]),
        ),
        case(
            "CERTIFINFO_ABSENT",
            |fx| fx.offre.formation.certifinfo = None,
            |fx| {
                fx.offre.formation.certifinfo = None;
                fx.offre.formation.type_certification = TypeCertification::Attestation;
            },
        ),
        case(
            "DISPENSATEUR_INCONNU",
            |fx| fx.offre.action.site_dispensateur.site = SiteCode::parse("99999").unwrap(),
            |fx| fx.offre.action.site_dispensateur.site = SiteCode::parse("36365").unwrap(),
        ),
        case(
            "COMPLEMENT_PROGRAMME_TROP_LONG",
            |fx| fx.offre.action.complement_programme = Some(text(&"é".repeat(3001))),
            |fx| fx.offre.action.complement_programme = Some(text(&"é".repeat(3000))),
        ),
        case(
            "OBJECTIFS_TROP_LONGS",
            |fx| fx.offre.action.objectifs = Some(text(&"é".repeat(3001))),
            |fx| fx.offre.action.objectifs = Some(text(&"é".repeat(3000))),
        ),
        case(
            "OBJECTIFS_MISE_EN_FORME",
            |fx| fx.offre.action.objectifs = Some(text("<p>Objectifs</p><br/>Suite")),
            |fx| {
                fx.offre.action.objectifs = Some(text("Savoir que 3 < 5 et 7 > 2, & plus | moins"))
            },
        ),
        case(
            "PLUS_FORMATION_TROP_LONG",
            |fx| fx.offre.action.le_plus_formation = Some(text(&"😀".repeat(251))),
            |fx| fx.offre.action.le_plus_formation = Some(text(&"😀".repeat(250))),
        ),
        case(
            "URL_VIDEO_FORMAT",
            |fx| fx.offre.action.url_video = Some(text("https://vimeo.com/12345")),
            |fx| {
                fx.offre.action.url_video =
                    Some(text("https://cdn.example.org/v/presentation.MP4?t=1"))
            },
        ),
        case(
            "URL_INVALIDE",
            |fx| fx.offre.action.url_action = Some(text("www.example.org/formation")),
            |fx| {
                fx.offre.action.url_action =
                    Some(text("https://www.example.org/formation?id=1#programme"))
            },
        ),
        case(
            "INTENTION_EMBAUCHE_PREREQUIS",
            |fx| {
                fx.s0().modalites_recrutement_texte = Some(text("Ouverte sur Intention d’Embauche"))
            },
            |fx| {
                fx.s0().modalites_recrutement_texte =
                    Some(text("Ouverte sur Intention d’Embauche"));
                fx.offre.action.prerequis = Some(text(
                    "Niveau A2, INTENTION D'EMBAUCHE validée par la Région",
                ));
            },
        ),
        case(
            "SESSION_HORS_ACTION",
            |fx| fx.s0().code = code("19482-89394-143842"),
            |fx| fx.s0().code = code("19482-89393-1"),
        ),
        case(
            "SESSION_EN_DOUBLE",
            |fx| fx.offre.sessions[1].code = code("19482-89393-143842"),
            |fx| fx.offre.sessions[1].code = code("19482-89393-143844"),
        ),
        case(
            "IC_ABSENTE",
            |fx| fx.s0().informations_collectives.clear(),
            |fx| {
                fx.s0().informations_collectives = vec![InformationCollective {
                    code: None,
                    date: Some(date("2025-08-01")),
                    heure_debut: None,
                    heure_fin: None,
                    lieu: None,
                    lien_distance: Some(text("https://visio.example.org/x")),
                    places: None,
                    commentaire: None,
                }]
            },
        ),
        case(
            "IC_INCOMPLETE",
            |fx| fx.s0().informations_collectives[0].date = None,
            |fx| fx.s0().informations_collectives[0].lieu = None,
        ),
        case(
            "IC_PASSEES",
            // Both sessions' only IC is on 2025-07-03; the very day it is still ahead.
            |fx| fx.today = date("2025-07-04"),
            |fx| fx.today = date("2025-07-03"),
        ),
        case(
            "ENTREES_SORTIES_NON_ADMISES",
            |fx| fx.s0().entrees_sorties = EntreesSorties::Permanentes,
            |fx| {
                fx.s0().entrees_sorties = EntreesSorties::Permanentes;
                fx.config.valeurs_admises[0]
                    .entrees_sorties
                    .push(EntreesSorties::Permanentes);
            },
        ),
        case(
            "TYPE_PARCOURS_NON_ADMIS",
            |fx| fx.s0().type_parcours = TypeParcours::Groupe,
            |fx| fx.s0().type_parcours = TypeParcours::Modularise,
        ),
        case(
            "MODULE_RAN_SANS_DATES",
            |fx| {
                fx.s0().module_remise_a_niveau = Some(true);
                fx.s0().commentaire_duree = Some(text("Module de remise à niveau contextualisé"));
            },
            |fx| {
                fx.s0().module_remise_a_niveau = Some(true);
                fx.s0().commentaire_duree = Some(text(
                    "Remise à niveau contextualisée du 1er au 5 septembre 2025",
                ));
            },
        ),
        case(
            "PROGRAMME_INCONNU",
            |fx| fx.s0().dispositif.programme = text("PROGRAMME REGION - 1 emploi = 1 formations"),
            |fx| fx.s0().dispositif.programme = text("programme region -  1 EMPLOI = 1 formation"),
        ),
        case(
            "LOT_ABSENT",
            |fx| fx.s0().dispositif.numero_lot_cr = None,
            |fx| {
                autre_programme(fx);
                fx.s0().dispositif.numero_lot_cr = None;
            },
        ),
        case(
            "LOT_INCONNU",
            |fx| fx.s0().dispositif.numero_lot_cr = Some(text("1E1F2025_99")),
            |fx| fx.s0().dispositif.numero_lot_cr = Some(text("1e1f2025_4")),
        ),
        case(
            "LOT_AUTRE_PROGRAMME",
            |fx| avenir_sup(fx, "1E1F2025_4"),
            |fx| avenir_sup(fx, "PAS2025_2"),
        ),
        case(
            "LOT_AUTRE_MANDATAIRE",
            |fx| fx.s0().dispositif.numero_lot_cr = Some(text("1E1F2025_9")),
            |fx| {
                autre_programme(fx);
                fx.s0().dispositif.numero_lot_cr = Some(text("1E1F2025_9"));
            },
        ),
        case(
            "IC_APRES_DEBUT",
            |fx| fx.s0().informations_collectives[0].date = Some(date("2025-09-02")),
            |fx| fx.s0().informations_collectives[0].date = Some(date("2025-09-01")),
        ),
        case(
            "DATE_DEBUT_ABSENTE",
            |fx| fx.s0().date_debut = None,
            |fx| un_jour(fx, "2025-12-19"),
        ),
        case(
            "DATE_FIN_ABSENTE",
            |fx| fx.s0().date_fin = None,
            |fx| un_jour(fx, "2025-09-01"),
        ),
        case(
            "DATES_INVERSEES",
            |fx| fx.s0().date_fin = Some(date("2025-08-31")),
            |fx| un_jour(fx, "2025-09-01"),
        ),
        case(
            "DEBUT_HORS_CAMPAGNE",
            // The Region file's lot is of 2025: a 2026 start is out of its campaign.
            |fx| un_jour(fx, "2026-01-05"),
            |fx| {
                fx.config.campagnes.push(Campagne {
                    programme: Some(PROGRAMMES_REGION[0].into()),
                    lot: None,
                    annee: 2024,
                });
                fx.config.campagnes.push(Campagne {
                    programme: None,
                    lot: Some("1E1F2025_4".into()),
                    annee: 2025,
                });
            },
        ),
        case(
            "SITE_LIEU_INCONNU",
            |fx| fx.s0().site_lieu.site = SiteCode::parse("99999").unwrap(),
            |fx| fx.s0().site_lieu.site = SiteCode::parse("36365").unwrap(),
        ),
        case(
            "RYTHMES_ABSENTS",
            |fx| fx.s0().rythmes = None,
            |fx| fx.s0().rythmes = Some(text("temps partiel")),
        ),
        case(
            "PERIODES_FORMATION_ABSENTES",
            |fx| fx.s0().periodes_formation.clear(),
            |fx| {
                fx.s0().periodes_formation =
                    vec![periode(TypePeriode::Entreprise, "2025-10-01", "2025-10-31")]
            },
        ),
        case(
            "PERIODE_FORMATION_INCOHERENTE",
            |fx| fx.s0().periodes_formation[0].fin = date("2025-12-20"),
            |fx| {
                fx.s0().periodes_formation = vec![
                    periode(TypePeriode::Centre, "2025-09-01", "2025-10-31"),
                    periode(TypePeriode::Entreprise, "2025-11-01", "2025-12-19"),
                ]
            },
        ),
        case(
            "TYPE_PARCOURS_INCONNU",
            |fx| fx.s0().type_parcours = TypeParcours::Inconnu,
            |fx| fx.s0().type_parcours = TypeParcours::Modularise,
        ),
        case(
            "MODALITES_PEDAGOGIQUES_ABSENTES",
            |fx| fx.s0().modalites_pedagogiques.clear(),
            |fx| {
                fx.s0().modalites_pedagogiques.clear();
                fx.s0().modalites_pedagogiques_texte = Some(text("En entreprise et FOAD"));
            },
        ),
        case(
            "MODALITES_ENSEIGNEMENT_ABSENTES",
            |fx| fx.s0().modalites_enseignement = None,
            |fx| fx.s0().modalites_enseignement = Some(ModalitesEnseignement::Distance),
        ),
        case(
            "DUREE_CENTRE_ABSENTE",
            |fx| fx.s0().duree_centre_heures = Some(0),
            |fx| fx.s0().duree_centre_heures = Some(1),
        ),
        case(
            "DUREE_ENTREPRISE_ABSENTE",
            |fx| fx.s0().duree_entreprise_heures = None,
            |fx| fx.s0().duree_entreprise_heures = Some(0),
        ),
        Case {
            code: "RESPONSABLE_INCONNU",
            fail: |fx| fx.s0().organisme_responsable.siret = siret(INCONNU),
            pass: |fx| {
                fx.offre.mandataire = siret(AUTRE_OF);
                for s in &mut fx.offre.sessions {
                    s.organisme_responsable = SiteRef {
                        siret: siret(AUTRE_OF),
                        site: SiteCode::parse("100").unwrap(),
                    };
                    s.dispositif.numero_lot_cr = Some(text("1E1F2025_9"));
                }
            },
            also: &["RESPONSABLE_NON_MANDATAIRE"],
        },
        case(
            "RESPONSABLE_SANS_NDA",
            |fx| fx.organisme(CARIFOREF).nda = None,
            |fx| fx.organisme(AUTRE_OF).nda = None,
        ),
        case(
            "RESPONSABLE_NON_MANDATAIRE",
            |fx| fx.s0().organisme_responsable.siret = siret(AUTRE_OF),
            |fx| {
                fx.s0().organisme_responsable.siret = siret(AUTRE_OF);
                autre_programme(fx);
            },
        ),
        case(
            "RECRUTEMENT_ABSENT",
            |fx| fx.s0().recrutement = None,
            |fx| fx.s0().recrutement = Some(EtatRecrutement::Ferme),
        ),
        case(
            "MODALITES_RECRUTEMENT_ABSENTES",
            |fx| fx.s0().modalites_recrutement.clear(),
            |fx| {
                fx.s0().modalites_recrutement.clear();
                fx.s0().modalites_recrutement_texte = Some(text("Entretien individuel"));
            },
        ),
        case(
            "REFERENT_PMR_ABSENT",
            |fx| fx.s0().referent_pmr = None,
            |fx| {
                fx.s0().referent_pmr = Some(Contact {
                    courriel: Some(text("handicap@example.org")),
                    ..Contact::default()
                })
            },
        ),
        case(
            "REFERENT_MOBILITE_ABSENT",
            |fx| fx.s0().referent_mobilite = Some(Contact::default()),
            |fx| {
                fx.s0().referent_mobilite = Some(Contact {
                    telephone: Some(text("02 40 00 00 00")),
                    ..Contact::default()
                })
            },
        ),
        case(
            "PLACES_DISPOSITIF_ABSENTES",
            |fx| fx.s0().dispositif.places = Some(0),
            |fx| fx.s0().dispositif.places = Some(1),
        ),
        case(
            "PRISE_EN_CHARGE_NON",
            |fx| fx.s0().dispositif.prise_en_charge_frais_pedagogiques = Some(false),
            |fx| {
                fx.s0().dispositif.prise_en_charge_frais_pedagogiques = Some(false);
                autre_programme(fx);
            },
        ),
        // What national readers need (issue 15).
        case(
            "ADRESSE_SANS_REGION",
            |fx| ic_code_postal(fx, "98000"),
            // Overseas départements are régions of their own.
            |fx| ic_code_postal(fx, "97411"),
        ),
        case(
            "PUBLIC_HORS_V14",
            |fx| publics(fx, &["80006", "80005"]),
            |fx| publics(fx, &["80006", "80010"]),
        ),
        case(
            "PUBLIC_V14_ABSENT",
            |fx| publics(fx, &["80005"]),
            |fx| publics(fx, &["80010"]),
        ),
        // Imported from LHÉO (issue 17): a value kept as given is said; kept content
        // alone is not.
        case(
            "IMPORT_VALEUR_CONSERVEE",
            |fx| {
                fx.offre.extras_lheo = Some(crate::model::LheoExtras {
                    invalides: vec![crate::model::ValeurConservee::new(
                        "modalites-enseignement",
                        "7",
                    )
                    .unwrap()],
                    ..Default::default()
                })
            },
            |fx| {
                fx.offre.extras_lheo = Some(crate::model::LheoExtras {
                    numero: Some(crate::model::LheoNumero::parse("9436_18706").unwrap()),
                    ..Default::default()
                })
            },
        ),
    ]
}

fn ic_code_postal(fx: &mut Fixture, cp: &str) {
    let ic = &mut fx.s0().informations_collectives[0];
    ic.lieu
        .as_mut()
        .expect("the baseline IC has a place")
        .code_postal = CodePostal::parse(cp).unwrap();
}

fn publics(fx: &mut Fixture, codes: &[&str]) {
    fx.s0().dispositif.publics = codes.iter().map(|c| Formacode::parse(c).unwrap()).collect();
}

/// A change to the baseline.
type Tweak = fn(&mut Fixture);

fn sorted(codes: impl IntoIterator<Item = &'static str>) -> BTreeSet<&'static str> {
    codes.into_iter().collect()
}

#[test]
fn the_baseline_passes_every_rule() {
    let fx = Fixture::new();
    let out = fx.eval();
    assert_eq!(out.findings, vec![], "baseline must be clean");
    assert_eq!(out.accepted.len(), 2);
    assert!(out.rejected.is_empty() && out.inactive.is_empty());
    assert!(out.exportable() && !out.offer_inactive);
}

#[test]
fn every_rule_has_a_failing_and_a_passing_case() {
    for c in cases() {
        let rule = rule(c.code).unwrap_or_else(|| panic!("{} is not in the registry", c.code));

        let mut fx = Fixture::new();
        (c.fail)(&mut fx);
        let out = fx.eval();
        let expected = sorted(std::iter::once(c.code).chain(c.also.iter().copied()));
        assert_eq!(
            sorted(out.findings.iter().map(|f| f.code)),
            expected,
            "failing case of {}",
            c.code
        );
        for f in out.findings.iter().filter(|f| f.code == c.code) {
            assert_eq!(f.severity, rule.severity, "{}", c.code);
            assert_eq!(f.offre, fx.offre.numero);
            let record = f
                .session
                .map_or(fx.offre.numero.to_string(), |s| s.to_string());
            assert!(
                f.message.contains(&record),
                "{}: {:?} does not name {record}",
                c.code,
                f.message
            );
            assert!(f.message.ends_with('.'), "{}: {:?}", c.code, f.message);
            assert!(!f.field.is_empty());
            match rule.severity {
                Severity::RejectSession => {
                    let s = f.session.expect("a session rejection names its session");
                    assert!(out.rejected.contains(&s), "{}", c.code);
                }
                Severity::RejectOffer => {
                    assert!(out.offer_rejected && out.accepted.is_empty(), "{}", c.code)
                }
                Severity::Warning => {}
            }
        }
        if rule.severity == Severity::Warning && c.also.is_empty() {
            assert_eq!(
                out.accepted.len(),
                fx.offre.sessions.len(),
                "{}: a warning rejects nothing",
                c.code
            );
        }

        let mut fx = Fixture::new();
        (c.pass)(&mut fx);
        let out = fx.eval();
        assert_eq!(out.findings, vec![], "passing case of {}", c.code);
        assert!(out.exportable(), "passing case of {}", c.code);
    }
}

#[test]
fn every_registered_rule_has_cases_and_a_sound_definition() {
    let covered = sorted(cases().iter().map(|c| c.code));
    // LHEO_INVALIDE's findings come from the writer in the pipeline; its cases are in
    // `pipeline::tests`.
    let registered = sorted(
        registry()
            .iter()
            .map(|r| r.code)
            .filter(|c| *c != super::LHEO_INVALIDE),
    );
    assert_eq!(covered, registered);
    assert_eq!(registered.len() + 1, registry().len(), "codes are unique");
    for r in registry() {
        assert!(
            r.code
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && !r.code.starts_with('_'),
            "{} is not SCREAMING_SNAKE",
            r.code
        );
        assert!(!r.title.is_empty() && !r.source.is_empty(), "{}", r.code);
    }
}

#[test]
fn every_rule_is_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md"))
        .expect("docs/rules.md");
    for r in registry() {
        let heading = format!("### `{}`", r.code);
        assert!(
            doc.contains(&heading),
            "docs/rules.md lacks the section {heading}"
        );
        let section = doc.split(&heading).nth(1).unwrap();
        let section = section.split("\n### ").next().unwrap();
        assert!(
            section.contains(&format!("`{}`", r.severity.as_str())),
            "docs/rules.md gives {} another severity than {}",
            r.code,
            r.severity.as_str()
        );
        assert!(
            section.contains("- Programmes:") && section.contains("- Message"),
            "docs/rules.md does not say which programmes {} applies to, or its message",
            r.code
        );
    }
}

#[test]
fn the_headline_message_names_session_field_and_remedy() {
    let mut fx = Fixture::new();
    fx.s0().informations_collectives.clear();
    let out = fx.eval();
    let f = &out.findings[0];
    assert_eq!(f.code, "IC_ABSENTE");
    assert_eq!(f.severity, Severity::RejectSession);
    assert_eq!(f.session, Some(code("19482-89393-143842")));
    assert_eq!(f.field, "session.informations_collectives");
    // One message says everything a complete IC needs, why, and the way back to
    // validation, so that the next night's IC_INCOMPLETE has nothing left to ask.
    assert_eq!(
        f.message,
        "La session 19482-89393-143842 n'a aucune information collective ; Kairos, Ouiform et \
         les sites régionaux en ont besoin pour orienter les candidats vers la session. \
         Ajoutez-en au moins une dans la fiche Session, rubrique « Informations collectives », \
         avec sa date, ses heures de début et de fin, et son lieu (ou le lien de connexion si \
         elle a lieu à distance), puis renvoyez l'action en validation au Cariforef (bouton \
         d'envoi en bas de la fiche Dispositif)."
    );
    assert_eq!(out.rejected, vec![code("19482-89393-143842")]);
    assert_eq!(out.accepted, vec![code("19482-89393-143843")]);
    assert!(out.exportable());
}

#[test]
fn severity_is_snake_case_in_json() {
    assert_eq!(
        serde_json::to_value(Severity::RejectSession).unwrap(),
        "reject_session"
    );
    assert_eq!(
        serde_json::to_value(Severity::RejectOffer).unwrap(),
        "reject_offer"
    );
    assert_eq!(serde_json::to_value(Severity::Warning).unwrap(), "warning");
    let back: Severity = serde_json::from_str("\"reject_offer\"").unwrap();
    assert_eq!(back, Severity::RejectOffer);
    for s in [
        Severity::RejectSession,
        Severity::RejectOffer,
        Severity::Warning,
    ] {
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
}

#[test]
fn a_finding_serialises_with_its_record_and_field() {
    let mut fx = Fixture::new();
    fx.s0().rythmes = None;
    let v = serde_json::to_value(&fx.eval().findings[0]).unwrap();
    assert_eq!(v["code"], "RYTHMES_ABSENTS");
    assert_eq!(v["severity"], "reject_session");
    assert_eq!(v["offre"], "19482-89393");
    assert_eq!(v["session"], "19482-89393-143842");
    assert_eq!(v["field"], "session.rythmes");
    assert!(v["message"].as_str().unwrap().contains("« Rythmes »"));
}

#[test]
fn an_ended_session_is_inactive_and_silent() {
    let mut fx = Fixture::new();
    fx.today = date("2025-12-20");
    fx.s0().informations_collectives.clear(); // would be an error if it were running
    fx.s0().rythmes = None;
    let out = fx.eval();
    assert_eq!(out.inactive, vec![code("19482-89393-143842")]);
    assert_eq!(out.accepted, vec![code("19482-89393-143843")]);
    assert!(out.rejected.is_empty());
    assert_eq!(out.findings, vec![]);
    assert!(out.exportable() && !out.offer_inactive);
    // Its last day is still a day of the session.
    fx.today = date("2025-12-19");
    assert_eq!(fx.eval().inactive, vec![]);
}

#[test]
fn an_offer_whose_sessions_all_ended_is_withdrawn_not_rejected_for_errors() {
    let mut fx = Fixture::new();
    fx.today = date("2026-02-01");
    fx.offre.etat = EtatWorkflow::EnCoursDeSaisie; // an error, if the offer were running
    fx.offre.action.url_action = Some(text("www.example.org"));
    let out = fx.eval();
    assert!(out.offer_inactive);
    assert!(out.offer_rejected, "nothing to export");
    assert!(!out.exportable());
    assert_eq!(out.findings, vec![]);
    assert_eq!(out.inactive.len(), 2);
    assert!(accepted_offre(&fx.offre, &out).is_none());
}

#[test]
fn ended_and_rejected_sessions_leave_the_offer_out_as_an_error() {
    let mut fx = Fixture::new();
    fx.today = date("2025-12-20");
    fx.offre.sessions[1].informations_collectives.clear();
    let out = fx.eval();
    assert_eq!(out.inactive, vec![code("19482-89393-143842")]);
    assert_eq!(out.rejected, vec![code("19482-89393-143843")]);
    assert!(out.offer_rejected && !out.offer_inactive);
    assert_eq!(out.findings.len(), 1);
}

#[test]
fn an_offer_rejection_rejects_every_running_session() {
    let mut fx = Fixture::new();
    fx.offre.action.objectifs = Some(text(&"x".repeat(3001)));
    fx.today = date("2025-12-20");
    let out = fx.eval();
    assert!(out.offer_rejected && !out.offer_inactive);
    assert_eq!(out.accepted, vec![]);
    assert_eq!(out.rejected, vec![code("19482-89393-143843")]);
    assert_eq!(out.inactive, vec![code("19482-89393-143842")]);
    assert!(accepted_offre(&fx.offre, &out).is_none());
}

#[test]
fn closed_or_suspended_recruitment_is_still_exported() {
    let mut fx = Fixture::new();
    fx.s0().recrutement = Some(EtatRecrutement::Ferme);
    fx.offre.sessions[1].recrutement = Some(EtatRecrutement::Suspendu);
    let out = fx.eval();
    assert_eq!(out.accepted.len(), 2);
    assert_eq!(out.findings, vec![]);
}

#[test]
fn accepted_offre_keeps_only_accepted_sessions() {
    let mut fx = Fixture::new();
    fx.offre.sessions[1].dispositif.places = None;
    let out = fx.eval();
    let kept = accepted_offre(&fx.offre, &out).expect("one session left");
    assert_eq!(kept.sessions.len(), 1);
    assert_eq!(kept.sessions[0], fx.offre.sessions[0]);
    assert_eq!(kept.formation, fx.offre.formation);
    // The outcome of another offer is not applied.
    let mut other = out.clone();
    other.offre = ActionCode::parse("1-2").unwrap();
    assert!(accepted_offre(&fx.offre, &other).is_none());
}

#[test]
fn findings_come_in_registry_order_then_session_order() {
    let mut fx = Fixture::new();
    fx.s0().rythmes = None;
    fx.offre.sessions[1].informations_collectives.clear();
    fx.s0().informations_collectives.clear();
    fx.offre.action.url_pdf = Some(text("plaquette.pdf"));
    let got: Vec<(&str, Option<u64>)> = fx
        .eval()
        .findings
        .iter()
        .map(|f| (f.code, f.session.map(|s| s.session)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("URL_INVALIDE", None),
            ("IC_ABSENTE", Some(143842)),
            ("IC_ABSENTE", Some(143843)),
            ("RYTHMES_ABSENTS", Some(143842)),
        ]
    );
}

#[test]
fn duplicate_codes_land_in_one_list_once() {
    let mut fx = Fixture::new();
    let copy = fx.offre.sessions[0].clone();
    fx.offre.sessions.push(copy);
    let out = fx.eval();
    assert_eq!(out.rejected, vec![code("19482-89393-143842")]);
    assert_eq!(out.accepted, vec![code("19482-89393-143843")]);
    let doubles: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.code == "SESSION_EN_DOUBLE")
        .collect();
    assert_eq!(doubles.len(), 1);
    assert!(doubles[0].message.contains("2 fois"));
    let kept = accepted_offre(&fx.offre, &out).unwrap();
    assert_eq!(kept.sessions.len(), 1);
}

#[test]
fn the_report_goes_to_the_responsable_else_the_mandataire() {
    let mut fx = Fixture::new();
    fx.offre.mandataire = siret(INCONNU);
    assert_eq!(fx.eval().organisme, siret(CARIFOREF));
    for s in &mut fx.offre.sessions {
        s.organisme_responsable.siret = siret(INCONNU);
    }
    fx.offre.mandataire = siret(AUTRE_OF);
    assert_eq!(fx.eval().organisme, siret(AUTRE_OF));
    fx.offre.sessions.clear();
    assert_eq!(fx.eval().organisme, siret(AUTRE_OF));
}

#[test]
fn undefined_fields_variants_fail_too() {
    let variants: [(Tweak, &str); 7] = [
        (
            |fx| fx.s0().duree_centre_heures = None,
            "DUREE_CENTRE_ABSENTE",
        ),
        (
            |fx| fx.s0().dispositif.places = None,
            "PLACES_DISPOSITIF_ABSENTES",
        ),
        (
            |fx| fx.s0().dispositif.prise_en_charge_frais_pedagogiques = None,
            "PRISE_EN_CHARGE_NON",
        ),
        (
            |fx| fx.s0().referent_pmr = Some(Contact::default()),
            "REFERENT_PMR_ABSENT",
        ),
        (
            |fx| fx.s0().referent_mobilite = None,
            "REFERENT_MOBILITE_ABSENT",
        ),
        (
            |fx| fx.organisme(CARIFOREF).sites.clear(),
            "SITE_LIEU_INCONNU",
        ),
        (
            |fx| {
                fx.offre.etat = EtatWorkflow::EnAttenteDeValidation;
            },
            "ETAT_NON_VALIDEE",
        ),
    ];
    for (tweak, expected) in variants {
        let mut fx = Fixture::new();
        tweak(&mut fx);
        assert!(
            fx.codes().contains(&expected),
            "{expected}: {:?}",
            fx.codes()
        );
    }
    let mut fx = Fixture::new();
    fx.offre.etat = EtatWorkflow::EnAttenteDeValidation;
    assert!(fx.eval().findings[0]
        .message
        .contains("attente de validation"));
}

#[test]
fn an_unknown_dispensateur_organisme_is_a_finding_not_a_panic() {
    let mut fx = Fixture::new();
    fx.organismes.clear();
    let codes = fx.codes();
    for expected in [
        "DISPENSATEUR_INCONNU",
        "SITE_LIEU_INCONNU",
        "RESPONSABLE_INCONNU",
    ] {
        assert!(codes.contains(&expected), "{expected}: {codes:?}");
    }
    assert!(
        !codes.contains(&"RESPONSABLE_SANS_NDA"),
        "not known, so not without NDA"
    );
}

#[test]
fn information_collective_details() {
    // Permanent entries recruit all along: a later IC is normal (under a configuration
    // that allows them for 1 emploi = 1 formation).
    let mut fx = Fixture::new();
    fx.config.valeurs_admises.clear();
    fx.s0().entrees_sorties = EntreesSorties::Permanentes;
    fx.s0().informations_collectives[0].date = Some(date("2025-10-15"));
    assert_eq!(fx.codes(), Vec::<&str>::new());

    // A bad link without a place makes the IC incomplete, said once.
    let mut fx = Fixture::new();
    let ic = &mut fx.s0().informations_collectives[0];
    ic.lieu = None;
    ic.lien_distance = Some(text("Teams"));
    let out = fx.eval();
    assert_eq!(
        sorted(out.findings.iter().map(|f| f.code)),
        sorted(["IC_INCOMPLETE"])
    );
    assert_eq!(
        out.findings[0].field,
        "session.informations_collectives[0].lien_distance"
    );
    assert!(out.findings[0].message.contains("https://"));

    // With a place, the bad link is only a warning.
    let mut fx = Fixture::new();
    fx.s0().informations_collectives[0].lien_distance = Some(text("Teams"));
    let out = fx.eval();
    assert_eq!(
        sorted(out.findings.iter().map(|f| f.code)),
        sorted(["URL_INVALIDE"])
    );
    assert_eq!(out.accepted.len(), 2);

    // Neither date nor place: one finding naming both.
    let mut fx = Fixture::new();
    let ic = &mut fx.s0().informations_collectives[0];
    ic.date = None;
    ic.lieu = None;
    ic.lien_distance = None;
    ic.code = None;
    let out = fx.eval();
    assert_eq!(out.findings.len(), 1);
    let f = &out.findings[0];
    assert_eq!(f.field, "session.informations_collectives[0]");
    assert!(f.message.starts_with("L'information collective n° 1 de la session 19482-89393-143842 n'a pas de date et n'a ni lieu"), "{}", f.message);
}

#[test]
fn intention_d_embauche_is_detected_in_each_place() {
    let sources: [fn(&mut Fixture); 4] = [
        |fx| {
            fx.s0().dispositif.programme =
                text("PROGRAMME REGION - 1 emploi = 1 formation - intentions d'embauche")
        },
        |fx| fx.s0().modalites_recrutement_texte = Some(text("Sur INTENTION D’EMBAUCHE")),
        |fx| {
            fx.s0().commentaire_duree = Some(text("session intention d'embauche, RAN du 1er au 5"))
        },
        |fx| {
            fx.offre.action.complement_intitule = Some(text("Intention d'embauche – Entreprise X"))
        },
    ];
    for (i, source) in sources.into_iter().enumerate() {
        let mut fx = Fixture::new();
        source(&mut fx);
        let out = fx.eval();
        let found: Vec<_> = out
            .findings
            .iter()
            .filter(|f| f.code == "INTENTION_EMBAUCHE_PREREQUIS")
            .collect();
        // The action's complément intitulé speaks for both sessions.
        assert_eq!(found.len(), if i == 3 { 2 } else { 1 }, "source {i}");
        assert_eq!(found[0].field, "action.prerequis");
        fx.offre.action.commentaire_prerequis = Some(text("Intention d’embauche requise."));
        assert!(
            !fx.codes().contains(&"INTENTION_EMBAUCHE_PREREQUIS"),
            "source {i}"
        );
    }
}

#[test]
fn campaigns_come_from_the_referential_or_the_configuration() {
    // A lot of a previous order: its own year, and the message says which lot.
    let mut fx = Fixture::new();
    fx.config.campagnes.push(Campagne {
        programme: None,
        lot: Some("1E1F2025_4".into()),
        annee: 2024,
    });
    let out = fx.eval();
    assert_eq!(out.findings.len(), 2);
    assert!(out.findings[0]
        .message
        .contains("le lot 1E1F2025_4 relève de la campagne 2024"));
    // A programme without a campaign: no year check.
    let mut fx = Fixture::new();
    autre_programme(&mut fx);
    un_jour(&mut fx, "2031-03-03");
    fx.s0().dispositif.numero_lot_cr = None;
    assert_eq!(fx.codes(), Vec::<&str>::new());
    // Without a Region file and without configuration: no year to check (the operator is
    // warned by the pipeline).
    let mut fx = Fixture::new();
    fx.referentiel = Referentiel::default();
    un_jour(&mut fx, "2031-03-03");
    assert_eq!(fx.codes(), Vec::<&str>::new());
    // ... and the same session under the regional programme is out of its campaign.
    let mut fx = Fixture::new();
    un_jour(&mut fx, "2031-03-03");
    assert_eq!(fx.codes(), vec!["DEBUT_HORS_CAMPAGNE"]);
    // The year is the Region file's lot's: a 2026 start is out.
    let mut fx = Fixture::new();
    un_jour(&mut fx, "2026-01-05");
    let out = fx.eval();
    assert_eq!(out.findings.len(), 1);
    assert!(
        out.findings[0].message.contains("débuter en 2025"),
        "{}",
        out.findings[0].message
    );
}

#[test]
fn an_invalid_organisme_web_address_is_reported_once_per_organisme() {
    let mut fx = Fixture::new();
    fx.organisme(CARIFOREF).web = Some(text("www.cariforef-pdl.org"));
    let out = fx.eval();
    assert_eq!(out.findings.len(), 1, "{:#?}", out.findings);
    let f = &out.findings[0];
    assert_eq!(
        (f.code, f.field.as_str()),
        ("URL_INVALIDE", "organisme.web")
    );
    assert!(f
        .message
        .contains("CARIFOREF DES PAYS DE LA LOIRE (SIRET 13000511900032)"));
    assert!(f.message.contains("il manque « https:// »"));
}

#[test]
fn rule_lookup_and_check_agree_with_the_registry() {
    let r = rule("IC_ABSENTE").unwrap();
    assert_eq!(r.severity, Severity::RejectSession);
    assert!(r.source.contains("Kairos, Ouiform"));
    assert!(rule("NOPE").is_none());
    let mut fx = Fixture::new();
    fx.s0().informations_collectives.clear();
    let direct = r.check(&fx.offre, &fx.ctx());
    assert_eq!(direct.len(), 1);
    assert_eq!(direct[0], fx.eval().findings[0]);
}

#[test]
fn inverted_dates_in_the_past_are_reported_not_silently_ended() {
    let mut fx = Fixture::new();
    fx.today = date("2025-06-02");
    fx.s0().date_debut = Some(date("2025-10-06"));
    fx.s0().date_fin = Some(date("2025-03-27"));
    let out = fx.eval();
    assert!(out.inactive.is_empty(), "{:?}", out.inactive);
    assert!(fx.codes().contains(&"DATES_INVERSEES"), "{:?}", fx.codes());
}
