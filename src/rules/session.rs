//! Rules of the Fiche Session: information collective, dates, and the fields SOFI marks
//! with a star.

use std::collections::HashMap;

use crate::model::{
    Dispositif, EntreesSorties, EtatRecrutement, InformationCollective, Offre, Session,
    TypeParcours,
};

use super::config::ValeursAdmises;
use super::dispositif::RENVOYER;
use super::texte::{contient_une_date, date_fr, extrait};
use super::url::parse_http;
use super::{la_session, par_session, Finding, Rule, RuleContext, Severity};

pub const SESSION_HORS_ACTION: Rule = Rule::new(
    "SESSION_HORS_ACTION",
    Severity::RejectSession,
    "Session rattachée à une autre action",
    "Procédure, « Formation, Action, Session, Dispositif (FASD) » : le code FAS 19482-89393-143842 se lit Formation 19482, Action 89393, Session 143842 (l. 169-172).",
    session_hors_action,
);

fn session_hors_action(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(&SESSION_HORS_ACTION, offre, "session.code", |s| {
        (s.code.action != offre.numero).then(|| {
            format!(
                "{} est enregistrée dans l'action {} alors que son code désigne l'action {} : \
                 signalez-le au service Offre du Cariforef (offre@cariforef-pdl.org), qui corrigera le rattachement.",
                la_session(s),
                offre.numero,
                s.code.action
            )
        })
    })
}

pub const SESSION_EN_DOUBLE: Rule = Rule::new(
    "SESSION_EN_DOUBLE",
    Severity::RejectSession,
    "Code de session en double",
    "Procédure, « Formation, Action, Session, Dispositif (FASD) » : chaque session a son code FAS (l. 169-183).",
    session_en_double,
);

fn session_en_double(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    let mut seen: HashMap<_, usize> = HashMap::new();
    for s in &offre.sessions {
        *seen.entry(s.code).or_default() += 1;
    }
    let mut reported = Vec::new();
    offre
        .sessions
        .iter()
        .filter(|s| seen[&s.code] > 1)
        .filter(|s| {
            let first = !reported.contains(&s.code);
            reported.push(s.code);
            first
        })
        .map(|s| {
            SESSION_EN_DOUBLE.finding(
                offre,
                Some(s),
                "session.code",
                format!(
                    "{} apparaît {} fois dans l'action {} : aucune de ses versions n'est diffusée. \
                     Signalez-le au service Offre du Cariforef (offre@cariforef-pdl.org).",
                    la_session(s),
                    seen[&s.code],
                    offre.numero
                ),
            )
        })
        .collect()
}

pub const IC_ABSENTE: Rule = Rule::new(
    "IC_ABSENTE",
    Severity::RejectSession,
    "Information collective absente",
    "Fiche Session, Informations collectives : « la saisie est obligatoire pour que l'offre puisse alimenter Kairos, Ouiform et les sites régionaux » (l. 462).",
    ic_absente,
);

/// Everything an information collective needs, said once so that an organisme that adds
/// one does not have it rejected the next night for a missing part (IC_INCOMPLETE).
const IC_COMPLETE: &str = "avec sa date, ses heures de début et de fin, et son lieu (ou le \
     lien de connexion si elle a lieu à distance)";

/// Why: the procedure's own words.
const IC_POURQUOI: &str =
    "Kairos, Ouiform et les sites régionaux en ont besoin pour orienter les candidats vers la session";

fn ic_absente(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(
        &IC_ABSENTE,
        offre,
        "session.informations_collectives",
        |s| {
            s.informations_collectives.is_empty().then(|| {
                format!(
                    "{} n'a aucune information collective ; {IC_POURQUOI}. Ajoutez-en au moins \
                     une dans la fiche Session, rubrique « Informations collectives », \
                     {IC_COMPLETE}, {RENVOYER}.",
                    la_session(s)
                )
            })
        },
    )
}

pub const IC_PASSEES: Rule = Rule::new(
    "IC_PASSEES",
    Severity::RejectSession,
    "Informations collectives toutes passées avant le début de la session",
    "Fiche Session, Informations collectives : « la saisie est obligatoire pour que l'offre puisse alimenter Kairos, Ouiform et les sites régionaux » (l. 462) ; une réunion passée ne sert plus au recrutement (« Recrutement : état du recrutement ouvert », l. 458).",
    ic_passees,
);

/// A session not yet started, recruiting, whose dated information collectives are all
/// before today. An information collective of today is still ahead: the export runs at
/// night, before the meeting, and the LHÉO writer keeps today's date in
/// `date-information` for the same reason.
fn ic_passees(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(
        &IC_PASSEES,
        offre,
        "session.informations_collectives",
        |s| {
            let debut = s.date_debut.filter(|d| *d > ctx.today)?;
            if s.recrutement != Some(EtatRecrutement::Ouvert) {
                return None;
            }
            let derniere = s
                .informations_collectives
                .iter()
                .filter_map(|ic| ic.date)
                .max()?;
            if derniere >= ctx.today {
                return None;
            }
            Some(format!(
                "{} débute le {} et son recrutement est ouvert, mais sa dernière information \
                 collective a eu lieu le {} : les candidats n'ont plus de réunion à laquelle se \
                 rendre ; {IC_POURQUOI}. Ajoutez une nouvelle date dans la fiche Session, \
                 rubrique « Informations collectives », {IC_COMPLETE}, {RENVOYER}.",
                la_session(s),
                date_fr(debut),
                date_fr(derniere)
            ))
        },
    )
}

/// "L'information collective IC-1" or "L'information collective n° 2".
fn l_ic(ic: &InformationCollective, i: usize) -> String {
    match &ic.code {
        Some(code) => format!("L'information collective {}", extrait(code.as_str(), 40)),
        None => format!("L'information collective n° {}", i + 1),
    }
}

/// Whether an IC can be published: a date, and a place or a usable remote link.
fn ic_lien_valide(ic: &InformationCollective) -> bool {
    ic.lien_distance
        .as_ref()
        .is_some_and(|l| parse_http(l.as_str()).is_ok())
}

pub const IC_INCOMPLETE: Rule = Rule::new(
    "IC_INCOMPLETE",
    Severity::RejectSession,
    "Information collective sans date ou sans lieu",
    "Fiche Session, Informations collectives (code, lieu, date) : « la saisie est obligatoire pour que l'offre puisse alimenter Kairos, Ouiform et les sites régionaux » (l. 412-416, 462).",
    ic_incomplete,
);

fn ic_incomplete(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in &offre.sessions {
        for (i, ic) in s.informations_collectives.iter().enumerate() {
            let date_ok = ic.date.is_some();
            let lieu_ok = ic.lieu.is_some() || ic_lien_valide(ic);
            if date_ok && lieu_ok {
                continue;
            }
            let lien_invalide = ic.lien_distance.is_some() && !lieu_ok;
            let (mut manques, mut a_faire) = (Vec::new(), Vec::new());
            if !date_ok {
                manques.push("n'a pas de date");
                a_faire.push("indiquez sa date");
            }
            if lien_invalide {
                manques.push(
                    "n'a pas de lieu et son lien de connexion à distance n'est pas une adresse web complète",
                );
                a_faire.push(
                    "indiquez le lieu de la réunion ou un lien complet commençant par https://",
                );
            } else if !lieu_ok {
                manques.push("n'a ni lieu ni lien de connexion à distance");
                a_faire.push(
                    "indiquez le lieu de la réunion, ou le lien de connexion si elle a lieu à distance",
                );
            }
            let field = match (date_ok, lieu_ok, lien_invalide) {
                (false, false, _) => String::new(),
                (false, true, _) => ".date".to_owned(),
                (true, _, true) => ".lien_distance".to_owned(),
                (true, _, false) => ".lieu".to_owned(),
            };
            out.push(IC_INCOMPLETE.finding(
                offre,
                Some(s),
                format!("session.informations_collectives[{i}]{field}"),
                format!(
                    "{} de la session {} {} : {} dans la fiche Session, rubrique « Informations \
                     collectives », {RENVOYER}. Une information collective complète a une date, \
                     des heures de début et de fin, et un lieu ou un lien de connexion.",
                    l_ic(ic, i),
                    s.code,
                    manques.join(" et "),
                    a_faire.join(" et ")
                ),
            ));
        }
    }
    out
}

pub const IC_APRES_DEBUT: Rule = Rule::new(
    "IC_APRES_DEBUT",
    Severity::Warning,
    "Information collective après le début de la session",
    "Fiche Session, Informations collectives : elles servent au recrutement de la session (l. 458-462) ; avec des entrées/sorties à dates fixes (ESP, l. 436), le recrutement précède le début.",
    ic_apres_debut,
);

fn ic_apres_debut(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in &offre.sessions {
        let (Some(debut), EntreesSorties::DatesFixes) = (s.date_debut, s.entrees_sorties) else {
            continue;
        };
        for (i, ic) in s.informations_collectives.iter().enumerate() {
            if let Some(date) = ic.date.filter(|d| *d > debut) {
                out.push(IC_APRES_DEBUT.finding(
                    offre,
                    Some(s),
                    format!("session.informations_collectives[{i}].date"),
                    format!(
                        "{} de la session {} a lieu le {}, après le début de la session (le {}) \
                         alors que les entrées sont à dates fixes : vérifiez sa date dans la fiche \
                         Session, rubrique « Informations collectives », et prévoyez une information \
                         collective avant le début de la session.",
                        l_ic(ic, i),
                        s.code,
                        date_fr(date),
                        date_fr(debut)
                    ),
                ));
            }
        }
    }
    out
}

pub const DATE_DEBUT_ABSENTE: Rule = Rule::new(
    "DATE_DEBUT_ABSENTE",
    Severity::RejectSession,
    "Date de début absente",
    "Fiche Session : « Date début * » ; « Saisissez les Date début et Date fin » (l. 390, 434).",
    date_debut_absente,
);

fn date_debut_absente(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(&DATE_DEBUT_ABSENTE, offre, "session.date_debut", |s| {
        s.date_debut.is_none().then(|| {
            format!(
                "{} n'a pas de date de début : renseignez « Date début » dans la fiche Session.",
                la_session(s)
            )
        })
    })
}

pub const DATE_FIN_ABSENTE: Rule = Rule::new(
    "DATE_FIN_ABSENTE",
    Severity::RejectSession,
    "Date de fin absente",
    "Fiche Session : « Date fin * » ; « Saisissez les Date début et Date fin » (l. 390, 434).",
    date_fin_absente,
);

fn date_fin_absente(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(&DATE_FIN_ABSENTE, offre, "session.date_fin", |s| {
        s.date_fin.is_none().then(|| {
            format!(
                "{} n'a pas de date de fin : renseignez « Date fin » dans la fiche Session.",
                la_session(s)
            )
        })
    })
}

pub const DATES_INVERSEES: Rule = Rule::new(
    "DATES_INVERSEES",
    Severity::RejectSession,
    "Date de fin avant la date de début",
    "Fiche Session : « Date début * … Date fin * » (l. 390) ; LHÉO session/periode (début, fin).",
    dates_inversees,
);

fn dates_inversees(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(&DATES_INVERSEES, offre, "session.date_fin", |s| {
        match (s.date_debut, s.date_fin) {
            (Some(debut), Some(fin)) if fin < debut => Some(format!(
                "{} se termine le {}, avant sa date de début (le {}) : corrigez « Date début » ou \
             « Date fin » dans la fiche Session.",
                la_session(s),
                date_fr(fin),
                date_fr(debut)
            )),
            _ => None,
        }
    })
}

pub const DEBUT_HORS_CAMPAGNE: Rule = Rule::new(
    "DEBUT_HORS_CAMPAGNE",
    Severity::RejectSession,
    "Début hors de l'année de la campagne",
    "Fiche Session : « la session doit obligatoirement débuter en 2025 » (l. 434) ; l'année vient du référentiel de la Région (année du lot, ou celle de tous les lots du programme), sauf si la configuration des règles la fixe pour le programme ou le lot.",
    debut_hors_campagne,
);

/// The campaign year of a dispositif, and the lot it comes from (`None`: the programme's).
/// The configuration wins (the operator's override), then the Region referential: the
/// lot's year, else the year all the programme's lots share.
fn campagne<'a>(ctx: &RuleContext<'a>, d: &'a Dispositif) -> Option<(i64, Option<&'a str>)> {
    if let Some(c) = ctx.config.campagne(d) {
        let lot = c.lot.as_ref().and(d.numero_lot_cr.as_ref());
        return Some((i64::from(c.annee), lot.map(|l| l.as_str())));
    }
    if let Some(lot) = d
        .numero_lot_cr
        .as_ref()
        .and_then(|l| ctx.referentiel.lot(l.as_str()))
    {
        return Some((lot.annee, Some(lot.code.as_str())));
    }
    ctx.referentiel
        .annee_programme(d.programme.as_str())
        .map(|a| (a, None))
}

fn debut_hors_campagne(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(&DEBUT_HORS_CAMPAGNE, offre, "session.date_debut", |s| {
        let debut = s.date_debut?;
        let (annee, lot) = campagne(ctx, &s.dispositif)?;
        if i64::from(debut.year()) == annee {
            return None;
        }
        let de_quoi = match lot {
            Some(lot) => format!("le lot {}", extrait(lot, 60)),
            None => format!(
                "le programme « {} »",
                extrait(s.dispositif.programme.as_str(), 120)
            ),
        };
        Some(format!(
            "{} débute le {} alors que {} relève de la campagne {annee} : la session doit \
             obligatoirement débuter en {annee}. Corrigez « Date début » dans la fiche Session, \
             {RENVOYER}.",
            la_session(s),
            date_fr(debut),
            de_quoi,
        ))
    })
}

pub const RYTHMES_ABSENTS: Rule = Rule::new(
    "RYTHMES_ABSENTS",
    Severity::RejectSession,
    "Rythme absent",
    "Fiche Session : « Rythmes * » (l. 392) ; LHÉO action/rythme-formation est obligatoire.",
    rythmes_absents,
);

fn rythmes_absents(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(&RYTHMES_ABSENTS, offre, "session.rythmes", |s| {
        s.rythmes.is_none().then(|| {
            format!(
                "{} n'indique pas son rythme : renseignez « Rythmes » dans la fiche Session \
                 (par exemple « temps plein »).",
                la_session(s)
            )
        })
    })
}

pub const PERIODES_FORMATION_ABSENTES: Rule = Rule::new(
    "PERIODES_FORMATION_ABSENTES",
    Severity::Warning,
    "Périodes de formation absentes",
    "Fiche Session : « Périodes de formations * » (l. 392, 440) ; la procédure ne dit rien de plus et LHÉO n'a pas d'élément pour elles : avertissement seulement.",
    periodes_formation_absentes,
);

fn periodes_formation_absentes(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(
        &PERIODES_FORMATION_ABSENTES,
        offre,
        "session.periodes_formation",
        |s| {
            s.periodes_formation.is_empty().then(|| {
                format!(
                    "{} n'a aucune période de formation : ajoutez ses « Périodes de formation » \
                 (en centre et en entreprise) dans la fiche Session.",
                    la_session(s)
                )
            })
        },
    )
}

pub const PERIODE_FORMATION_INCOHERENTE: Rule = Rule::new(
    "PERIODE_FORMATION_INCOHERENTE",
    Severity::Warning,
    "Période de formation hors des dates de la session",
    "Fiche Session : « Date début * Date fin * … Périodes de formations * » (l. 390-392).",
    periode_formation_incoherente,
);

fn periode_formation_incoherente(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in &offre.sessions {
        for (i, p) in s.periodes_formation.iter().enumerate() {
            let probleme = if p.fin < p.debut {
                Some("se termine avant de commencer".to_owned())
            } else {
                match (s.date_debut, s.date_fin) {
                    (Some(d), Some(f)) if f >= d && (p.debut < d || p.fin > f) => Some(format!(
                        "sort des dates de la session (du {} au {})",
                        date_fr(d),
                        date_fr(f)
                    )),
                    _ => None,
                }
            };
            if let Some(probleme) = probleme {
                out.push(PERIODE_FORMATION_INCOHERENTE.finding(
                    offre,
                    Some(s),
                    format!("session.periodes_formation[{i}]"),
                    format!(
                        "La période de formation en {} du {} au {} de la session {} {} : \
                         corrigez-la dans la fiche Session, rubrique « Périodes de formation ».",
                        p.type_periode.as_str(),
                        date_fr(p.debut),
                        date_fr(p.fin),
                        s.code,
                        probleme
                    ),
                ));
            }
        }
    }
    out
}

pub const TYPE_PARCOURS_INCONNU: Rule = Rule::new(
    "TYPE_PARCOURS_INCONNU",
    Severity::RejectSession,
    "Type de parcours inconnu",
    "Fiche Session : « Type de parcours * » (l. 394), « Type de parcours : mixte, modulaire » (l. 442) ; LHÉO parcours-de-formation est obligatoire et n'a pas de valeur « inconnu ».",
    type_parcours_inconnu,
);

fn type_parcours_inconnu(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(
        &TYPE_PARCOURS_INCONNU,
        offre,
        "session.type_parcours",
        |s| {
            (s.type_parcours == TypeParcours::Inconnu).then(|| {
                format!(
                "{} a le type de parcours « type de parcours inconnu » : choisissez le « Type de \
                 parcours » dans la fiche Session (en groupe, individualisé, modularisé ou mixte).",
                la_session(s)
            )
            })
        },
    )
}

fn libelle_es(es: EntreesSorties) -> &'static str {
    match es {
        EntreesSorties::DatesFixes => "à dates fixes (cadencées ou séquencées)",
        EntreesSorties::Permanentes => "permanentes",
    }
}

fn libelle_parcours(t: TypeParcours) -> &'static str {
    match t {
        TypeParcours::Groupe => "en groupe",
        TypeParcours::Individualise => "individualisé",
        TypeParcours::Modularise => "modularisé",
        TypeParcours::Mixte => "mixte",
        TypeParcours::Inconnu => "type de parcours inconnu",
    }
}

/// The programme's allowed values of one kind, when `valeur` is not among them (an empty
/// list allows everything; a programme without an entry is not restricted).
fn non_admis<'a, T: PartialEq>(
    ctx: &RuleContext<'a>,
    s: &Session,
    liste: fn(&'a ValeursAdmises) -> &'a [T],
    valeur: &T,
) -> Option<&'a [T]> {
    let admises = liste(
        ctx.config
            .valeurs_admises(s.dispositif.programme.as_str())?,
    );
    (!admises.is_empty() && !admises.contains(valeur)).then_some(admises)
}

/// "a ou b" from the allowed labels.
fn ou(labels: Vec<&str>) -> String {
    match labels.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} ou {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => String::new(),
    }
}

pub const ENTREES_SORTIES_NON_ADMISES: Rule = Rule::new(
    "ENTREES_SORTIES_NON_ADMISES",
    Severity::RejectSession,
    "Entrées/sorties que le programme n'admet pas",
    "Fiche Session : « ESP : entrée/sortie cadencées ou séquencées OU entrée/sortie à dates fixes » (l. 436) ; valeurs admises par programme dans la configuration des règles (par défaut, celles de la procédure pour 1 emploi = 1 formation).",
    entrees_sorties_non_admises,
);

fn entrees_sorties_non_admises(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(
        &ENTREES_SORTIES_NON_ADMISES,
        offre,
        "session.entrees_sorties",
        |s| {
            let admises = non_admis(ctx, s, |v| &v.entrees_sorties, &s.entrees_sorties)?;
            Some(format!(
                "{} a des entrées/sorties {}, que le programme « {} » n'admet pas : choisissez \
                 l'« ESP » {} dans la fiche Session, {RENVOYER}.",
                la_session(s),
                libelle_es(s.entrees_sorties),
                extrait(s.dispositif.programme.as_str(), 120),
                ou(admises.iter().map(|e| libelle_es(*e)).collect())
            ))
        },
    )
}

pub const TYPE_PARCOURS_NON_ADMIS: Rule = Rule::new(
    "TYPE_PARCOURS_NON_ADMIS",
    Severity::RejectSession,
    "Type de parcours que le programme n'admet pas",
    "Fiche Session : « Type de parcours : mixte, modulaire » (l. 442) ; valeurs admises par programme dans la configuration des règles (par défaut, celles de la procédure pour 1 emploi = 1 formation).",
    type_parcours_non_admis,
);

fn type_parcours_non_admis(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(
        &TYPE_PARCOURS_NON_ADMIS,
        offre,
        "session.type_parcours",
        |s| {
            // SOFI's default "inconnu" is TYPE_PARCOURS_INCONNU's business.
            if s.type_parcours == TypeParcours::Inconnu {
                return None;
            }
            let admises = non_admis(ctx, s, |v| &v.types_parcours, &s.type_parcours)?;
            Some(format!(
                "{} a le type de parcours « {} », que le programme « {} » n'admet pas : \
                 choisissez le « Type de parcours » {} dans la fiche Session, {RENVOYER}.",
                la_session(s),
                libelle_parcours(s.type_parcours),
                extrait(s.dispositif.programme.as_str(), 120),
                ou(admises.iter().map(|t| libelle_parcours(*t)).collect())
            ))
        },
    )
}

pub const MODULE_RAN_SANS_DATES: Rule = Rule::new(
    "MODULE_RAN_SANS_DATES",
    Severity::Warning,
    "Module de remise à niveau sans ses dates",
    "Fiche Session : « Commentaire durée : Précisez les dates de déroulement du module de remise à niveau contextualisé » (l. 454) ; « Module de remise à niveau : oui ou non » (l. 468). Avertissement : les dates sont cherchées dans un texte libre, une lecture automatique ne doit pas retirer une session de la diffusion.",
    module_ran_sans_dates,
);

fn module_ran_sans_dates(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(
        &MODULE_RAN_SANS_DATES,
        offre,
        "session.commentaire_duree",
        |s| {
            if s.module_remise_a_niveau != Some(true)
                || s.commentaire_duree
                    .as_ref()
                    .is_some_and(|c| contient_une_date(c.as_str()))
            {
                return None;
            }
            Some(format!(
                "{} prévoit un module de remise à niveau, mais le « Commentaire durée » n'en \
                 donne pas les dates : précisez-y les dates de déroulement du module de remise à \
                 niveau contextualisé (par exemple « du 08/09/2025 au 19/09/2025 »), dans la \
                 fiche Session, {RENVOYER}.",
                la_session(s)
            ))
        },
    )
}

pub const MODALITES_PEDAGOGIQUES_ABSENTES: Rule = Rule::new(
    "MODALITES_PEDAGOGIQUES_ABSENTES",
    Severity::RejectSession,
    "Modalités pédagogiques absentes",
    "Fiche Session : « Modalités pédagogiques * » (l. 394) ; « en établissement de formation, en entreprise et éventuellement FOAD » (l. 444).",
    modalites_pedagogiques_absentes,
);

fn modalites_pedagogiques_absentes(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(
        &MODALITES_PEDAGOGIQUES_ABSENTES,
        offre,
        "session.modalites_pedagogiques",
        |s| {
            (s.modalites_pedagogiques.is_empty() && s.modalites_pedagogiques_texte.is_none()).then(
                || {
                    format!(
                        "{} n'indique aucune modalité pédagogique : sélectionnez les « Modalités \
                 pédagogiques » dans la fiche Session (en établissement de formation, en \
                 entreprise, FOAD…).",
                        la_session(s)
                    )
                },
            )
        },
    )
}

pub const MODALITES_ENSEIGNEMENT_ABSENTES: Rule = Rule::new(
    "MODALITES_ENSEIGNEMENT_ABSENTES",
    Severity::RejectSession,
    "Modalités d'enseignement absentes",
    "Fiche Session : « Modalités d'enseignement * » (l. 396), « en présentiel/entièrement à distance/mixte » (l. 446) ; LHÉO action/modalites-enseignement est obligatoire.",
    modalites_enseignement_absentes,
);

fn modalites_enseignement_absentes(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(
        &MODALITES_ENSEIGNEMENT_ABSENTES,
        offre,
        "session.modalites_enseignement",
        |s| {
            s.modalites_enseignement.is_none().then(|| {
            format!(
                "{} n'indique pas ses modalités d'enseignement : choisissez les « Modalités \
                 d'enseignement » dans la fiche Session (en présentiel, mixte ou entièrement à distance).",
                la_session(s)
            )
        })
        },
    )
}

pub const DUREE_CENTRE_ABSENTE: Rule = Rule::new(
    "DUREE_CENTRE_ABSENTE",
    Severity::RejectSession,
    "Durée en centre absente",
    "Fiche Session : « Durée en centre (en h) * » (l. 398).",
    duree_centre_absente,
);

fn duree_centre_absente(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(
        &DUREE_CENTRE_ABSENTE,
        offre,
        "session.duree_centre_heures",
        |s| {
            let etat = match s.duree_centre_heures {
                None => "n'indique pas sa durée en centre",
                Some(0) => "indique une durée en centre de 0 heure",
                Some(_) => return None,
            };
            Some(format!(
                "{} {} : renseignez « Durée en centre (en h) » dans la fiche Session.",
                la_session(s),
                etat
            ))
        },
    )
}

pub const DUREE_ENTREPRISE_ABSENTE: Rule = Rule::new(
    "DUREE_ENTREPRISE_ABSENTE",
    Severity::Warning,
    "Durée en entreprise absente",
    "Fiche Session : « Durée en entreprise (en h) * » (l. 398) ; une session sans période en entreprise l'indique par 0 : avertissement seulement.",
    duree_entreprise_absente,
);

fn duree_entreprise_absente(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(
        &DUREE_ENTREPRISE_ABSENTE,
        offre,
        "session.duree_entreprise_heures",
        |s| {
            s.duree_entreprise_heures.is_none().then(|| {
                format!(
                    "{} n'indique pas sa durée en entreprise : renseignez « Durée en entreprise \
                 (en h) » dans la fiche Session (0 s'il n'y a pas de période en entreprise).",
                    la_session(s)
                )
            })
        },
    )
}

pub const RECRUTEMENT_ABSENT: Rule = Rule::new(
    "RECRUTEMENT_ABSENT",
    Severity::RejectSession,
    "État du recrutement absent",
    "Fiche Session : « Recrutement * » (l. 410), « état du recrutement ouvert/suspendu/fermé » (l. 458).",
    recrutement_absent,
);

fn recrutement_absent(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(&RECRUTEMENT_ABSENT, offre, "session.recrutement", |s| {
        s.recrutement.is_none().then(|| {
            format!(
                "{} n'indique pas l'état de son recrutement : choisissez « Recrutement » \
                 (ouvert, suspendu ou fermé) dans la fiche Session.",
                la_session(s)
            )
        })
    })
}

pub const MODALITES_RECRUTEMENT_ABSENTES: Rule = Rule::new(
    "MODALITES_RECRUTEMENT_ABSENTES",
    Severity::RejectSession,
    "Modalités de recrutement absentes",
    "Fiche Session : « Modalité de recrutement * » (l. 410), « une ou plusieurs modalités à sélectionner » (l. 460).",
    modalites_recrutement_absentes,
);

fn modalites_recrutement_absentes(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(
        &MODALITES_RECRUTEMENT_ABSENTES,
        offre,
        "session.modalites_recrutement",
        |s| {
            (s.modalites_recrutement.is_empty() && s.modalites_recrutement_texte.is_none()).then(
                || {
                    format!(
                "{} n'indique aucune modalité de recrutement : sélectionnez une ou plusieurs \
                 « Modalité de recrutement » dans la fiche Session (entretien, dossier, tests…).",
                la_session(s)
            )
                },
            )
        },
    )
}

pub const REFERENT_PMR_ABSENT: Rule = Rule::new(
    "REFERENT_PMR_ABSENT",
    Severity::RejectSession,
    "Référent PMR absent",
    "Fiche Session, Contacts référents : « Référent PMR* » (l. 426).",
    referent_pmr_absent,
);

fn referent_pmr_absent(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(&REFERENT_PMR_ABSENT, offre, "session.referent_pmr", |s| {
        s.referent_pmr
            .as_ref()
            .is_none_or(|c| c.is_empty())
            .then(|| {
                format!(
                "{} n'a pas de référent PMR (handicap) : choisissez le « Référent PMR » dans la \
                 fiche Session, rubrique « Contacts référents ».",
                la_session(s)
            )
            })
    })
}

pub const REFERENT_MOBILITE_ABSENT: Rule = Rule::new(
    "REFERENT_MOBILITE_ABSENT",
    Severity::RejectSession,
    "Référent mobilité absent",
    "Fiche Session, Contacts référents : « Référent mobilité* » (l. 432).",
    referent_mobilite_absent,
);

fn referent_mobilite_absent(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(
        &REFERENT_MOBILITE_ABSENT,
        offre,
        "session.referent_mobilite",
        |s| {
            s.referent_mobilite
                .as_ref()
                .is_none_or(|c| c.is_empty())
                .then(|| {
                    format!(
                "{} n'a pas de référent mobilité : choisissez le « Référent mobilité » dans la \
                 fiche Session, rubrique « Contacts référents ».",
                la_session(s)
            )
                })
        },
    )
}
