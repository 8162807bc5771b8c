//! Rules of the Fiche Dispositif and of the Region's order (places, funding, mandataire).

use crate::model::{Offre, Session};

use super::organismes::nom_organisme;
use super::texte::{distance, extrait, plier};
use super::{la_session, par_session, Finding, Rule, RuleContext, Severity};

/// What every message about a correction ends with: in SOFI, a corrected action goes back
/// to the Cariforef's offer service before it is published again.
pub(crate) const RENVOYER: &str =
    "puis renvoyez l'action en validation au Cariforef (bouton d'envoi en bas de la fiche Dispositif)";

pub const PROGRAMME_INCONNU: Rule = Rule::new(
    "PROGRAMME_INCONNU",
    Severity::RejectSession,
    "Dispositif inconnu du référentiel de la Région",
    "Fiche Dispositif : « Dispositif* PROGRAMME REGION - 1 emploi = 1 formation » (l. 480) ; les programmes de la commande sont ceux du fichier de la Région (import-region) et de la configuration des règles. Un libellé inconnu éteindrait toutes les règles régionales.",
    programme_inconnu,
);

/// The closest known programme label to `programme`, if any is known.
fn programme_le_plus_proche<'a>(ctx: &RuleContext<'a>, programme: &str) -> Option<&'a str> {
    ctx.config
        .programmes()
        .chain(ctx.referentiel.programmes())
        .min_by_key(|p| (distance(p, programme), *p))
}

/// Whether the referential or the configuration knows `programme`.
pub(crate) fn programme_connu(ctx: &RuleContext, programme: &str) -> bool {
    let plie = plier(programme);
    ctx.config
        .programmes()
        .chain(ctx.referentiel.programmes())
        .any(|p| plier(p) == plie)
}

fn programme_inconnu(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(
        &PROGRAMME_INCONNU,
        offre,
        "session.dispositif.programme",
        |s| {
            let programme = s.dispositif.programme.as_str();
            if programme_connu(ctx, programme) {
                return None;
            }
            let suggestion = match programme_le_plus_proche(ctx, programme) {
                Some(p) => format!(" Vouliez-vous dire « {} » ?", extrait(p, 120)),
                None => String::new(),
            };
            Some(format!(
                "{} relève du dispositif « {} », que ni le référentiel de la Région ni le \
                 Cariforef ne connaissent : ses règles de financement ne peuvent pas être \
                 vérifiées, elle n'est donc pas diffusée.{suggestion} Corrigez le « Dispositif » \
                 dans la fiche Dispositif, {RENVOYER}.",
                la_session(s),
                extrait(programme, 120),
            ))
        },
    )
}

/// The lot of a session of a regional programme, when the referential can judge it.
fn lot_regional<'a>(ctx: &RuleContext<'a>, s: &'a Session) -> Option<&'a str> {
    if !ctx.config.est_regional(s.dispositif.programme.as_str()) || !ctx.referentiel.a_des_lots() {
        return None;
    }
    s.dispositif.numero_lot_cr.as_ref().map(|l| l.as_str())
}

pub const LOT_ABSENT: Rule = Rule::new(
    "LOT_ABSENT",
    Severity::RejectSession,
    "Numéro de lot absent (programme régional)",
    "Fiche Dispositif, Codes externes : « Numéro lot CR - 1E1F2025_4 » (l. 486-488) ; chaque session d'un programme régional relève d'un lot du bon de commande de la Région.",
    lot_absent,
);

fn lot_absent(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(
        &LOT_ABSENT,
        offre,
        "session.dispositif.numero_lot_cr",
        |s| {
            let programme = s.dispositif.programme.as_str();
            if !ctx.config.est_regional(programme) || s.dispositif.numero_lot_cr.is_some() {
                return None;
            }
            Some(format!(
                "{} relève du programme « {} », commandé par la Région, mais n'indique pas de \
                 numéro de lot : renseignez « Numéro lot CR » (codes externes de la fiche \
                 Dispositif) avec le lot de votre bon de commande, {RENVOYER}.",
                la_session(s),
                extrait(programme, 120),
            ))
        },
    )
}

pub const LOT_INCONNU: Rule = Rule::new(
    "LOT_INCONNU",
    Severity::RejectSession,
    "Lot absent du référentiel de la Région",
    "Fiche Dispositif, Codes externes : « Numéro lot CR » (l. 486), d’après le bon de commande de la Région (l. 490) ; les lots sont ceux du fichier de la Région (import-region).",
    lot_inconnu,
);

fn lot_inconnu(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(
        &LOT_INCONNU,
        offre,
        "session.dispositif.numero_lot_cr",
        |s| {
            let lot = lot_regional(ctx, s)?;
            if ctx.referentiel.lot(lot).is_some() {
                return None;
            }
            Some(format!(
                "{} indique le lot « {} », qui ne figure pas dans le référentiel de la Région : \
                 vérifiez « Numéro lot CR » (codes externes de la fiche Dispositif) d'après votre \
                 bon de commande, {RENVOYER}.",
                la_session(s),
                extrait(lot, 60),
            ))
        },
    )
}

pub const LOT_AUTRE_PROGRAMME: Rule = Rule::new(
    "LOT_AUTRE_PROGRAMME",
    Severity::RejectSession,
    "Lot d'un autre programme",
    "Fiche Dispositif : « Dispositif* » et « Numéro lot CR » (l. 480-486) ; dans le fichier de la Région, chaque lot relève d'un programme.",
    lot_autre_programme,
);

fn lot_autre_programme(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(
        &LOT_AUTRE_PROGRAMME,
        offre,
        "session.dispositif.numero_lot_cr",
        |s| {
            let lot = ctx.referentiel.lot(lot_regional(ctx, s)?)?;
            let programme = s.dispositif.programme.as_str();
            if plier(&lot.programme) == plier(programme) {
                return None;
            }
            Some(format!(
                "{} indique le lot « {} », qui relève du programme « {} » et non du programme \
                 « {} » choisi dans la fiche Dispositif : corrigez le « Dispositif » ou le \
                 « Numéro lot CR » d'après votre bon de commande, {RENVOYER}.",
                la_session(s),
                extrait(&lot.code, 60),
                extrait(&lot.programme, 120),
                extrait(programme, 120),
            ))
        },
    )
}

pub const LOT_AUTRE_MANDATAIRE: Rule = Rule::new(
    "LOT_AUTRE_MANDATAIRE",
    Severity::RejectSession,
    "Lot attribué à un autre mandataire",
    "Fiche Dispositif, Codes externes : « Numéro lot CR », « OF Mandataire CR » (l. 486-488) ; dans le fichier de la Région, chaque lot est attribué à un organisme mandataire.",
    lot_autre_mandataire,
);

fn lot_autre_mandataire(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(
        &LOT_AUTRE_MANDATAIRE,
        offre,
        "session.dispositif.numero_lot_cr",
        |s| {
            let lot = ctx.referentiel.lot(lot_regional(ctx, s)?)?;
            if lot.mandataire == offre.mandataire {
                return None;
            }
            Some(format!(
                "{} indique le lot « {} », que la Région a attribué à {} et non à {}, mandataire \
                 de l'action : indiquez dans « Numéro lot CR » (codes externes de la fiche \
                 Dispositif) un lot de votre bon de commande, {RENVOYER}.",
                la_session(s),
                extrait(&lot.code, 60),
                nom_organisme(ctx, &lot.mandataire),
                nom_organisme(ctx, &offre.mandataire),
            ))
        },
    )
}

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
