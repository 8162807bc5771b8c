//! Rules about the organismes an offer points at: the organisme responsable (LHÉO
//! `organisme-formation-responsable`, which needs a numéro de déclaration d'activité), the
//! site dispensateur and the site lieu. The import is meant to guarantee the references;
//! these rules make a dangling one a finding instead of a panic in the writer.

use crate::model::{Offre, Organisme, Siret, SiteRef};

use super::texte::extrait;
use super::{l_action, la_session, par_session, Finding, Rule, RuleContext, Severity};

/// "CARIFOREF DES PAYS DE LA LOIRE (SIRET 13000511900032)", or "SIRET …" when unknown.
pub(crate) fn nom_organisme(ctx: &RuleContext, siret: &Siret) -> String {
    match ctx.organismes.get(siret) {
        Some(o) => format!(
            "{} (SIRET {siret})",
            extrait(o.raison_sociale.as_str(), 120)
        ),
        None => format!("l'organisme de SIRET {siret}"),
    }
}

/// The organisme and its site, if both exist.
fn site_connu<'a>(ctx: &RuleContext<'a>, r: &SiteRef) -> Option<&'a Organisme> {
    ctx.organismes
        .get(&r.siret)
        .filter(|o| o.site(&r.site).is_some())
}

pub const DISPENSATEUR_INCONNU: Rule = Rule::new(
    "DISPENSATEUR_INCONNU",
    Severity::RejectOffer,
    "Site dispensateur introuvable",
    "Fiche Action : « La Fiche Action est reliée à l'organisme de formation dispensateur » (l. 325, 344) ; LHÉO organisme-formateur demande SIRET et raison sociale.",
    dispensateur_inconnu,
);

fn dispensateur_inconnu(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    let r = &offre.action.site_dispensateur;
    if site_connu(ctx, r).is_some() {
        return Vec::new();
    }
    let quoi = if ctx.organismes.contains_key(&r.siret) {
        format!("le site {} de {}", r.site, nom_organisme(ctx, &r.siret))
    } else {
        format!("l'organisme de SIRET {} (site {})", r.siret, r.site)
    };
    vec![DISPENSATEUR_INCONNU.finding(
        offre,
        None,
        "action.site_dispensateur",
        format!(
            "{} a pour site dispensateur {}, inconnu du Cariforef : choisissez le « Site \
             dispensateur » dans la fiche Action, ou signalez-le au service Offre du Cariforef \
             (offre@cariforef-pdl.org).",
            l_action(offre),
            quoi
        ),
    )]
}

pub const SITE_LIEU_INCONNU: Rule = Rule::new(
    "SITE_LIEU_INCONNU",
    Severity::RejectSession,
    "Site lieu introuvable",
    "Fiche Session : « Site lieu * » ; « Sélectionnez le Site lieu dans le menu déroulant » (l. 388, 434).",
    site_lieu_inconnu,
);

fn site_lieu_inconnu(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(&SITE_LIEU_INCONNU, offre, "session.site_lieu", |s| {
        let r = &s.site_lieu;
        site_connu(ctx, r).is_none().then(|| {
            format!(
                "{} a pour site lieu le site {} de {}, introuvable : sélectionnez le « Site lieu » \
                 dans la fiche Session, ou déclarez ce site dans « Gestion de vos sites » du tableau de bord.",
                la_session(s),
                r.site,
                nom_organisme(ctx, &r.siret)
            )
        })
    })
}

pub const RESPONSABLE_INCONNU: Rule = Rule::new(
    "RESPONSABLE_INCONNU",
    Severity::RejectSession,
    "Organisme responsable inconnu",
    "Fiche Session : « Organisme responsable * » (l. 406) ; LHÉO organisme-formation-responsable (SIRET, raison sociale, coordonnées) est obligatoire.",
    responsable_inconnu,
);

fn responsable_inconnu(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(
        &RESPONSABLE_INCONNU,
        offre,
        "session.organisme_responsable",
        |s| {
            let siret = &s.organisme_responsable.siret;
            (!ctx.organismes.contains_key(siret)).then(|| {
            format!(
                "L'organisme responsable de la session {} (SIRET {siret}) est inconnu du Cariforef : \
                 choisissez l'« Organisme responsable » dans la fiche Session, ou signalez-le au \
                 service Offre du Cariforef (offre@cariforef-pdl.org).",
                s.code
            )
        })
        },
    )
}

pub const RESPONSABLE_SANS_NDA: Rule = Rule::new(
    "RESPONSABLE_SANS_NDA",
    Severity::RejectSession,
    "Organisme responsable sans numéro de déclaration d'activité",
    "LHÉO 2.3 organisme-formation-responsable/numero-activite [1..1], 11 caractères (NOTES.md § a) ; Fiche Session, « Organisme responsable * » (l. 406).",
    responsable_sans_nda,
);

fn responsable_sans_nda(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    par_session(&RESPONSABLE_SANS_NDA, offre, "organisme.nda", |s| {
        let siret = &s.organisme_responsable.siret;
        let o = ctx.organismes.get(siret)?;
        o.nda.is_none().then(|| {
            format!(
                "L'organisme responsable de la session {}, {}, n'a pas de numéro de déclaration \
                 d'activité : communiquez ce numéro (11 chiffres) au service Offre du Cariforef \
                 (offre@cariforef-pdl.org) ; il est obligatoire pour la diffusion nationale.",
                s.code,
                nom_organisme(ctx, siret)
            )
        })
    })
}
