//! Rules of the Fiche Dispositif and of the Region's order (places, funding, mandataire).

use crate::model::Offre;

use super::organismes::nom_organisme;
use super::texte::extrait;
use super::{la_session, par_session, Finding, Rule, RuleContext, Severity};

pub const PLACES_DISPOSITIF_ABSENTES: Rule = Rule::new(
    "PLACES_DISPOSITIF_ABSENTES",
    Severity::RejectSession,
    "Nombre de places dispositif absent",
    "Fiche Dispositif : « Nombre de places dispositif : à indiquer obligatoirement - cf bon de commande Région et tableau de programmation annexé » (l. 490, 498).",
    places_dispositif_absentes,
);

fn places_dispositif_absentes(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(
        &PLACES_DISPOSITIF_ABSENTES,
        offre,
        "session.dispositif.places",
        |s| {
            let etat = match s.dispositif.places {
                None => "n'indique pas de nombre de places",
                Some(0) => "indique 0 place",
                Some(_) => return None,
            };
            Some(format!(
            "{} {} : renseignez « Nb places dispositif » dans la fiche Dispositif, selon le bon \
             de commande de la Région et le tableau de programmation annexé.",
            la_session(s),
            etat
        ))
        },
    )
}

pub const PRISE_EN_CHARGE_NON: Rule = Rule::new(
    "PRISE_EN_CHARGE_NON",
    Severity::RejectSession,
    "Frais pédagogiques non pris en charge (programme régional)",
    "Fiche Dispositif : « Prise en charge des frais pédagogiques : oui » (l. 496, 500), pour les programmes régionaux de la configuration.",
    prise_en_charge_non,
);

fn prise_en_charge_non(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(
        &PRISE_EN_CHARGE_NON,
        offre,
        "session.dispositif.prise_en_charge_frais_pedagogiques",
        |s| {
            let programme = s.dispositif.programme.as_str();
            if !ctx.config.est_regional(programme) {
                return None;
            }
            let etat = match s.dispositif.prise_en_charge_frais_pedagogiques {
                Some(true) => return None,
                Some(false) => "indique « non »",
                None => "n'est pas renseignée",
            };
            Some(format!(
                "{} relève du programme « {} », financé par la Région, mais sa prise en charge des \
                 frais pédagogiques {} : choisissez « oui » pour « Prise en charge des frais \
                 pédagogiques » dans la fiche Dispositif.",
                la_session(s),
                extrait(programme, 120),
                etat
            ))
        },
    )
}

pub const RESPONSABLE_NON_MANDATAIRE: Rule = Rule::new(
    "RESPONSABLE_NON_MANDATAIRE",
    Severity::RejectSession,
    "Organisme responsable autre que le mandataire",
    "Fiche Session : « Organisme responsable : L'organisme responsable est le mandataire » (l. 456), pour les programmes régionaux de la configuration.",
    responsable_non_mandataire,
);

fn responsable_non_mandataire(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(
        &RESPONSABLE_NON_MANDATAIRE,
        offre,
        "session.organisme_responsable",
        |s| {
            let responsable = &s.organisme_responsable.siret;
            if responsable == &offre.mandataire
                || !ctx.config.est_regional(s.dispositif.programme.as_str())
            {
                return None;
            }
            Some(format!(
            "{} a pour organisme responsable {} alors que le mandataire de la commande régionale \
             est {} : choisissez le mandataire comme « Organisme responsable » dans la fiche Session.",
            la_session(s),
            nom_organisme(ctx, responsable),
            nom_organisme(ctx, &offre.mandataire)
        ))
        },
    )
}
