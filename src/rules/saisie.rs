//! What an offer not yet validated still lacks: the required (starred) fields of SOFI
//! that are empty, named as the organisme sees them, for `check` to list per organisme
//! before the offer is sent to the Cariforef. Not findings: a draft is never exported and
//! nothing is rejected; this is a to-do list.

use crate::model::{Offre, Session, TypeParcours};

pub use crate::model::ChampManquant;

/// The starred fields of the Fiche Session (and the places of the Fiche Dispositif) that
/// the model may hold empty, with their SOFI labels.
fn vides(s: &Session) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    let mut si = |vide: bool, champ, libelle| {
        if vide {
            out.push((champ, libelle));
        }
    };
    si(s.date_debut.is_none(), "date_debut", "Date début");
    si(s.date_fin.is_none(), "date_fin", "Date fin");
    si(s.rythmes.is_none(), "rythmes", "Rythmes");
    si(
        s.periodes_formation.is_empty(),
        "periodes_formation",
        "Périodes de formations",
    );
    si(
        s.type_parcours == TypeParcours::Inconnu,
        "type_parcours",
        "Type de parcours",
    );
    si(
        s.modalites_pedagogiques.is_empty() && s.modalites_pedagogiques_texte.is_none(),
        "modalites_pedagogiques",
        "Modalités pédagogiques",
    );
    si(
        s.modalites_enseignement.is_none(),
        "modalites_enseignement",
        "Modalités d'enseignement",
    );
    si(
        s.duree_centre_heures.is_none(),
        "duree_centre_heures",
        "Durée en centre (en h)",
    );
    si(
        s.duree_entreprise_heures.is_none(),
        "duree_entreprise_heures",
        "Durée en entreprise (en h)",
    );
    si(s.recrutement.is_none(), "recrutement", "Recrutement");
    si(
        s.modalites_recrutement.is_empty() && s.modalites_recrutement_texte.is_none(),
        "modalites_recrutement",
        "Modalité de recrutement",
    );
    si(
        s.informations_collectives.is_empty(),
        "informations_collectives",
        "Informations collectives",
    );
    si(
        s.referent_pmr.as_ref().is_none_or(|c| c.is_empty()),
        "referent_pmr",
        "Référent PMR",
    );
    si(
        s.referent_mobilite.as_ref().is_none_or(|c| c.is_empty()),
        "referent_mobilite",
        "Référent mobilité",
    );
    si(
        s.dispositif.places.is_none(),
        "dispositif.places",
        "Nb places dispositif",
    );
    out
}

/// The SOFI label of a required field the model cannot do without (missing from a draft).
fn libelle_requis(chemin: &str) -> &'static str {
    match chemin {
        "formation" => "toute la fiche",
        "formation.intitule" => "Intitulé",
        "formation.objectif_general" => "Objectif général",
        "formation.type_certification" => "Certification visée",
        "formation.validation" => "Validation de la formation",
        "action" => "toute la fiche",
        "action.site_dispensateur" => "Site dispensateur",
        "action.niveau_entree" => "Niveau d'entrée",
        "site_lieu" => "Site lieu",
        "entrees_sorties" => "ESP",
        "type_parcours" => "Type de parcours",
        "organisme_responsable" => "Organisme responsable",
        "dispositif" => "toute la fiche",
        "dispositif.programme" => "Dispositif",
        _ => "champ obligatoire",
    }
}

/// Where a path is in SOFI: « fiche Session 20304-91222-146701 » and the rest of the path.
fn fiche<'a>(offre: &Offre, chemin: &'a str) -> (String, &'a str) {
    let chemin = chemin.strip_prefix("offre.").unwrap_or(chemin);
    if let Some(rest) = chemin.strip_prefix("sessions[") {
        let (i, rest) = rest.split_once(']').unwrap_or((rest, ""));
        let rest = rest.strip_prefix('.').unwrap_or(rest);
        let code = i
            .parse::<usize>()
            .ok()
            .and_then(|i| offre.sessions.get(i))
            .map_or_else(String::new, |s| format!(" {}", s.code));
        let nom = if rest.starts_with("dispositif") {
            "fiche Dispositif de la session"
        } else {
            "fiche Session"
        };
        return (format!("{nom}{code}"), rest);
    }
    let nom = if chemin.starts_with("formation") {
        "fiche Formation"
    } else {
        "fiche Action"
    };
    (nom.to_owned(), chemin)
}

/// The required fields still empty in `offre`: `absents` (paths the draft's line lacks,
/// see `ingest::brouillon`; `offre` then holds stand-ins for them) first, then the starred
/// fields the model holds empty, each once.
pub fn champs_manquants(offre: &Offre, absents: &[String]) -> Vec<ChampManquant> {
    let mut out: Vec<ChampManquant> = absents
        .iter()
        .map(|champ| {
            let (fiche, rest) = fiche(offre, champ);
            ChampManquant {
                champ: champ.clone(),
                libelle: format!("{fiche} : « {} »", libelle_requis(rest)),
            }
        })
        .collect();
    for (i, s) in offre.sessions.iter().enumerate() {
        for (champ, libelle) in vides(s) {
            let champ = format!("offre.sessions[{i}].{champ}");
            if absents.contains(&champ) {
                continue;
            }
            let (fiche, _) = fiche(offre, &champ);
            out.push(ChampManquant {
                champ,
                libelle: format!("{fiche} : « {libelle} »"),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::Fixture;

    #[test]
    fn a_complete_offer_lacks_nothing_and_a_draft_is_listed_as_sofi_names_it() {
        let mut fx = Fixture::new();
        assert_eq!(champs_manquants(&fx.offre, &[]), []);
        fx.s0().periodes_formation.clear();
        fx.s0().type_parcours = TypeParcours::Inconnu;
        let m = champs_manquants(
            &fx.offre,
            &[
                "offre.sessions[0].entrees_sorties".into(),
                "offre.formation.intitule".into(),
            ],
        );
        let libelles: Vec<&str> = m.iter().map(|c| c.libelle.as_str()).collect();
        assert_eq!(
            libelles,
            [
                "fiche Session 19482-89393-143842 : « ESP »",
                "fiche Formation : « Intitulé »",
                "fiche Session 19482-89393-143842 : « Périodes de formations »",
                "fiche Session 19482-89393-143842 : « Type de parcours »",
            ]
        );
        assert_eq!(m[2].champ, "offre.sessions[0].periodes_formation");
    }
}
