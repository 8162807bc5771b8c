//! Random edits of the valid baseline never make the engine panic, and every session
//! lands in exactly one of accepted / rejected / inactive.

use std::collections::{BTreeSet, HashSet};

use chrono::{Datelike, NaiveDate};
use proptest::prelude::*;

use super::report::Report;
use super::testkit::*;
use super::*;
use crate::model::*;

/// Strings as organisations paste them, and worse: control characters, emoji, 10 000
/// characters, links, markup, the phrase the rules look for.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        "[a-z<>/|:. \\-\t\n'’é]{0,40}",
        proptest::collection::vec(any::<char>(), 0..60).prop_map(|v| v.into_iter().collect()),
        (any::<char>(), 9_990usize..10_010).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
        Just("😀".repeat(10_000)),
        Just("https://www.youtube.com/watch?v=x".to_owned()),
        Just("https://[::1]:0/x".to_owned()),
        Just("intention d’embauche".to_owned()),
        Just("www.example.org".to_owned()),
        Just("<table><tr><td>x</td></tr></table>\n|---|".to_owned()),
        Just("\u{1}\u{b}\u{fffe}".to_owned()),
    ]
}

fn any_date() -> impl Strategy<Value = Option<Date>> {
    let day = prop_oneof![
        8 => 690_000i32..780_000, // about 1890 to 2136
        1 => Just(NaiveDate::MIN.num_days_from_ce()),
        1 => Just(NaiveDate::MAX.num_days_from_ce()),
    ];
    proptest::option::weighted(
        0.85,
        day.prop_map(|d| Date(NaiveDate::from_num_days_from_ce_opt(d).unwrap())),
    )
}

#[derive(Clone, Debug)]
enum Edit {
    Text(u8, usize, String),
    Date(u8, usize, Option<Date>),
    Number(u8, usize, Option<u32>),
    Choice(u8, usize, u8),
    Session(u8, usize, u64),
    Today(Option<Date>),
}

fn any_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0u8..24, any::<usize>(), any_text()).prop_map(|(f, i, s)| Edit::Text(f, i, s)),
        (0u8..6, any::<usize>(), any_date()).prop_map(|(f, i, d)| Edit::Date(f, i, d)),
        (0u8..6, any::<usize>(), any::<Option<u32>>()).prop_map(|(f, i, n)| Edit::Number(f, i, n)),
        (0u8..22, any::<usize>(), any::<u8>()).prop_map(|(f, i, c)| Edit::Choice(f, i, c)),
        (0u8..8, any::<usize>(), any::<u64>()).prop_map(|(f, i, n)| Edit::Session(f, i, n)),
        any_date().prop_map(Edit::Today),
    ]
}

const SIRETS: [&str; 3] = [CARIFOREF, AUTRE_OF, INCONNU];

/// The organisme, unless an earlier edit removed it.
fn known<'a>(fx: &'a mut Fixture, s: &str) -> Option<&'a mut Organisme> {
    fx.organismes.get_mut(&siret(s))
}

/// A number `FasCode::parse` would accept: 1 to 999 999 999 999.
fn sofi_number(v: u64) -> u64 {
    v % 999_999_999_999 + 1
}

fn apply(fx: &mut Fixture, edit: Edit) {
    let n = fx.offre.sessions.len();
    match edit {
        Edit::Text(f, i, raw) => {
            let t = Text::new(&raw);
            let a = &mut fx.offre.action;
            match f {
                0 => a.complement_intitule = t,
                1 => a.complement_programme = t,
                2 => a.objectifs = t,
                3 => a.le_plus_formation = t,
                4 => a.url_video = t,
                5 => a.url_pdf = t,
                6 => a.url_action = t,
                7 => a.prerequis = t,
                8 => a.commentaire_prerequis = t,
                9 => fx.offre.formation.intitule = t.unwrap_or_else(|| text("x")),
                10 => {
                    if let Some(o) = known(fx, CARIFOREF) {
                        o.web = t;
                    }
                }
                11 => {
                    if let (Some(o), Some(t)) = (known(fx, CARIFOREF), t) {
                        o.raison_sociale = t;
                    }
                }
                _ if n == 0 => {}
                f => {
                    let s = &mut fx.offre.sessions[i % n];
                    let ic = s.informations_collectives.first_mut();
                    match f {
                        12 => s.rythmes = t,
                        13 => s.modalites_pedagogiques_texte = t,
                        14 => s.commentaire_duree = t,
                        15 => s.modalites_recrutement_texte = t,
                        16 => s.dispositif.programme = t.unwrap_or_else(|| text("?")),
                        17 => s.dispositif.numero_lot_cr = t,
                        18 => {
                            if let Some(ic) = ic {
                                ic.lien_distance = t
                            }
                        }
                        19 => {
                            if let Some(ic) = ic {
                                ic.code = t
                            }
                        }
                        20 => fx.config.programmes_regionaux.push(raw),
                        21 => fx.config.campagnes.push(Campagne {
                            programme: None,
                            lot: Some(raw),
                            annee: 2024,
                        }),
                        22 => fx.config.campagnes.push(Campagne {
                            programme: Some(raw),
                            lot: None,
                            annee: i32::MIN,
                        }),
                        _ => s.mail_liaison = t,
                    }
                }
            }
        }
        Edit::Date(_, _, _) if n == 0 => {}
        Edit::Date(f, i, d) => {
            let s = &mut fx.offre.sessions[i % n];
            match f {
                0 => s.date_debut = d,
                1 => s.date_fin = d,
                2 => {
                    if let Some(ic) = s.informations_collectives.first_mut() {
                        ic.date = d
                    }
                }
                3 | 4 => {
                    if let (Some(p), Some(d)) = (s.periodes_formation.first_mut(), d) {
                        if f == 3 {
                            p.debut = d
                        } else {
                            p.fin = d
                        }
                    }
                }
                _ => {
                    if let Some(d) = d {
                        s.periodes_formation.push(PeriodeFormation {
                            type_periode: TypePeriode::Entreprise,
                            debut: d,
                            fin: d,
                        })
                    }
                }
            }
        }
        Edit::Number(_, _, _) if n == 0 => {}
        Edit::Number(f, i, v) => {
            let s = &mut fx.offre.sessions[i % n];
            match f {
                0 => s.dispositif.places = v,
                1 => s.dispositif.places_restantes = v,
                2 => s.duree_centre_heures = v,
                3 => s.duree_entreprise_heures = v,
                4 => s.duree_hebdo_heures = v,
                _ => {
                    if let Some(ic) = s.informations_collectives.first_mut() {
                        ic.places = v
                    }
                }
            }
        }
        Edit::Choice(f, i, c) => {
            let c = usize::from(c);
            match f {
                0 => {
                    fx.offre.etat = [
                        EtatWorkflow::EnCoursDeSaisie,
                        EtatWorkflow::EnAttenteDeValidation,
                        EtatWorkflow::Validee,
                    ][c % 3]
                }
                1 => {
                    fx.offre.formation.validation =
                        [Validation::Totale, Validation::Partielle][c % 2]
                }
                2 => {
                    fx.offre.formation.type_certification = [
                        TypeCertification::Diplome,
                        TypeCertification::TitreProfessionnel,
                        TypeCertification::Cqp,
                        TypeCertification::Attestation,
                        TypeCertification::Aucune,
                    ][c % 5]
                }
                3 => {
                    let all = ["RNCP35030BC01", "RNCP35030BC02", "RNCP35030BC09"];
                    fx.offre.formation.blocs_valides = all
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| c & (1 << k) != 0)
                        .map(|(_, b)| CodeBloc::parse(b).unwrap())
                        .collect();
                }
                4 => {
                    fx.offre.formation.certifinfo =
                        (c % 2 == 0).then(|| Certifinfo::parse("109049").unwrap())
                }
                5 => fx.offre.mandataire = siret(SIRETS[c % 3]),
                6 => {
                    fx.offre.action.site_dispensateur.site =
                        SiteCode::parse(["36364", "36365", "99999", "100"][c % 4]).unwrap()
                }
                7 => fx.offre.action.site_dispensateur.siret = siret(SIRETS[c % 3]),
                8 => {
                    if let Some(o) = known(fx, SIRETS[c % 2]) {
                        o.nda = None;
                    }
                }
                9 => {
                    fx.organismes.remove(&siret(SIRETS[c % 2]));
                }
                10 => {
                    if let Some(o) = known(fx, CARIFOREF) {
                        o.sites.clear();
                    }
                }
                _ if n == 0 => {}
                f => {
                    let s = &mut fx.offre.sessions[i % n];
                    match f {
                        11 => {
                            s.type_parcours = [
                                TypeParcours::Groupe,
                                TypeParcours::Individualise,
                                TypeParcours::Modularise,
                                TypeParcours::Mixte,
                                TypeParcours::Inconnu,
                            ][c % 5]
                        }
                        12 => {
                            s.entrees_sorties =
                                [EntreesSorties::DatesFixes, EntreesSorties::Permanentes][c % 2]
                        }
                        13 => {
                            s.recrutement = [
                                None,
                                Some(EtatRecrutement::Ouvert),
                                Some(EtatRecrutement::Suspendu),
                                Some(EtatRecrutement::Ferme),
                            ][c % 4]
                        }
                        14 => {
                            s.modalites_enseignement = [
                                None,
                                Some(ModalitesEnseignement::Presentiel),
                                Some(ModalitesEnseignement::Mixte),
                                Some(ModalitesEnseignement::Distance),
                            ][c % 4]
                        }
                        15 => {
                            s.dispositif.prise_en_charge_frais_pedagogiques =
                                [None, Some(true), Some(false)][c % 3]
                        }
                        16 => s.organisme_responsable.siret = siret(SIRETS[c % 3]),
                        17 => {
                            s.site_lieu.site =
                                SiteCode::parse(["36364", "36365", "99999"][c % 3]).unwrap()
                        }
                        18 => s.referent_pmr = [None, Some(Contact::default())][c % 2].clone(),
                        19 => s.referent_mobilite = None,
                        20 => {
                            s.modalites_pedagogiques.clear();
                            s.modalites_recrutement.clear();
                        }
                        _ => s.informations_collectives.push(InformationCollective {
                            code: None,
                            date: None,
                            heure_debut: None,
                            heure_fin: None,
                            lieu: None,
                            lien_distance: None,
                            places: None,
                            commentaire: None,
                        }),
                    }
                }
            }
        }
        Edit::Session(f, i, v) => match f {
            0 if n > 0 => {
                fx.offre.sessions.remove(i % n);
            }
            1 if n > 0 => {
                let copy = fx.offre.sessions[i % n].clone();
                fx.offre.sessions.push(copy);
            }
            // SOFI numbers have at most 12 digits (`FasCode::parse`).
            2 if n > 0 => {
                fx.offre.sessions[i % n].code.session = sofi_number(v);
            }
            3 if n > 0 => {
                fx.offre.sessions[i % n].code.action.action = sofi_number(v);
            }
            4 if n > 0 => fx.offre.sessions[i % n].informations_collectives.clear(),
            5 if n > 0 => fx.offre.sessions[i % n].periodes_formation.clear(),
            6 => {
                let mut s = fx.offre.sessions.first().cloned().unwrap_or_else(|| {
                    serde_json::from_value(session_json(1, "2025-09-01", "2025-10-01")).unwrap()
                });
                s.code.session = sofi_number(v);
                fx.offre.sessions.push(s);
            }
            _ => fx.offre.sessions.reverse(),
        },
        Edit::Today(d) => {
            if let Some(d) = d {
                fx.today = d;
            }
        }
    }
}

/// Checks the invariants of one outcome; returns a message on failure.
fn check_outcome(fx: &Fixture, out: &Outcome) -> Result<(), TestCaseError> {
    let all: BTreeSet<FasCode> = fx.offre.sessions.iter().map(|s| s.code).collect();
    let lists = [&out.accepted, &out.rejected, &out.inactive];
    let listed: Vec<FasCode> = lists.iter().flat_map(|l| l.iter().copied()).collect();
    let unique: HashSet<FasCode> = listed.iter().copied().collect();
    prop_assert_eq!(
        unique.len(),
        listed.len(),
        "a session is listed twice: {:?}",
        out
    );
    prop_assert_eq!(&listed.iter().copied().collect::<BTreeSet<_>>(), &all);
    prop_assert_eq!(out.offre, fx.offre.numero);
    let offer_reject = out
        .findings
        .iter()
        .any(|f| f.severity == Severity::RejectOffer);
    prop_assert_eq!(out.offer_rejected, offer_reject || out.accepted.is_empty());
    if out.offer_inactive {
        prop_assert!(out.findings.is_empty() && out.accepted.is_empty() && out.rejected.is_empty());
    }
    for f in &out.findings {
        let r = rule(f.code);
        prop_assert!(r.is_some_and(|r| r.severity == f.severity), "{:?}", f);
        prop_assert_eq!(f.offre, fx.offre.numero);
        prop_assert!(!f.message.is_empty() && !f.field.is_empty());
        prop_assert!(
            f.message.chars().count() < 2_000,
            "messages quote excerpts, not whole texts"
        );
        if let Some(s) = f.session {
            prop_assert!(all.contains(&s) && !out.inactive.contains(&s), "{:?}", f);
        }
        if f.severity == Severity::RejectSession {
            prop_assert!(out.rejected.contains(&f.session.unwrap()));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_edits_never_panic_and_partition_the_sessions(edits in proptest::collection::vec(any_edit(), 0..12)) {
        let mut fx = Fixture::new();
        for e in edits {
            apply(&mut fx, e);
        }
        let out = fx.eval();
        check_outcome(&fx, &out)?;

        // What is exported passes again, whole.
        match accepted_offre(&fx.offre, &out) {
            None => prop_assert!(!out.exportable()),
            Some(kept) => {
                prop_assert!(out.exportable());
                prop_assert_eq!(kept.sessions.iter().map(|s| s.code).collect::<Vec<_>>(), out.accepted.clone());
                let again = evaluate(&kept, &fx.ctx());
                prop_assert_eq!(&again.accepted, &out.accepted);
                prop_assert!(again.rejected.is_empty() && again.inactive.is_empty() && again.exportable());
            }
        }

        // The report renders whatever the content.
        let report = Report::new(std::slice::from_ref(&out), &fx.organismes);
        let t = &report.totals;
        prop_assert_eq!(t.findings, out.findings.len());
        prop_assert_eq!(t.sessions_accepted + t.sessions_rejected + t.sessions_inactive, out.sessions().count());
        prop_assert!(!report.to_text().is_empty());
        let mut csv = Vec::new();
        report.write_csv(&mut csv).unwrap();
        let rows = super::report::tests::parse_csv(std::str::from_utf8(&csv).unwrap());
        prop_assert_eq!(rows.len(), out.findings.len() + 1);
        super::report::tests::validate_against_schema(&report.to_json()).map_err(TestCaseError::fail)?;
    }
}
