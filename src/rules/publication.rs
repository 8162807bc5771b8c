//! Rules about what national readers of the LHÉO file need (issue 15): an address they
//! can place in a région, public codes of the current FORMACODE (V14). Kept apart from the
//! procedure's entry rules: they come from the consumers, not from the SOFI procedure.

use crate::model::{publics_v14, Adresse, Departement, Offre, Session};

use super::texte::extrait;
use super::{l_action, la_session, par_session, Finding, Rule, RuleContext, Severity};

pub const ADRESSE_SANS_REGION: Rule = Rule::new(
    "ADRESSE_SANS_REGION",
    Severity::Warning,
    "Adresse sans département ni région",
    "LHÉO adresse/departement et adresse/region (code INSEE de la région) : les lecteurs nationaux du fichier Carif-Oref filtrent et indexent l'offre par région.",
    adresse_sans_region,
);

/// The addresses the writer writes for one session, with the SOFI field and how the
/// message names them. (The same choices as the writer: the site lieu's address, the
/// adresse d'inscription or else the site lieu's, each information collective's place.)
fn adresses_de_session<'a>(
    s: &'a Session,
    ctx: &RuleContext<'a>,
) -> Vec<(&'static str, &'static str, &'a Adresse)> {
    let lieu = ctx
        .organismes
        .get(&s.site_lieu.siret)
        .and_then(|o| o.site(&s.site_lieu.site))
        .map(|x| &x.adresse);
    let mut out = Vec::new();
    if let Some(a) = lieu {
        out.push(("session.site_lieu", "du lieu de formation", a));
    }
    if let Some(a) = s.adresse_inscription.as_ref() {
        out.push((
            "session.adresse_inscription",
            "de l'adresse d'inscription",
            a,
        ));
    }
    for ic in &s.informations_collectives {
        if let Some(a) = &ic.lieu {
            out.push((
                "session.informations_collectives.lieu",
                "du lieu de l'information collective",
                a,
            ));
        }
    }
    out
}

fn sans_region(a: &Adresse) -> bool {
    Departement::of_adresse(a).is_none()
}

fn quelle_adresse(a: &Adresse) -> String {
    format!(
        "le code postal {} ({})",
        a.code_postal,
        extrait(a.ville.as_str(), 60)
    )
}

const QUE_FAIRE: &str =
    "les sites nationaux qui filtrent l'offre par région ne la trouveront pas. Vérifiez le \
     code postal, ou indiquez le code INSEE de la commune, dans SOFI, puis renvoyez \
     l'action en validation au Cariforef (bouton d'envoi en bas de la fiche Dispositif) ; \
     si l'adresse est bien hors d'une région française, signalez-le au service Offre du \
     Cariforef (offre@cariforef-pdl.org).";

fn adresse_sans_region(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    let mut out = Vec::new();
    // The organisme responsable's address, written once per offer (the writer's choice:
    // the organisme's own address, else its site's).
    if let Some(s) = offre.sessions.first() {
        let r = &s.organisme_responsable;
        if let Some(org) = ctx.organismes.get(&r.siret) {
            let a = org
                .adresse
                .as_ref()
                .or_else(|| org.site(&r.site).map(|x| &x.adresse));
            if let Some(a) = a.filter(|a| sans_region(a)) {
                out.push(ADRESSE_SANS_REGION.finding(
                    offre,
                    None,
                    "organisme.adresse",
                    format!(
                        "{} : {} de l'adresse de l'organisme responsable {} ne permet de \
                         déterminer ni le département ni la région ; {QUE_FAIRE}",
                        l_action(offre),
                        quelle_adresse(a),
                        extrait(org.raison_sociale.as_str(), 120),
                    ),
                ));
            }
        }
    }
    for s in &offre.sessions {
        for (field, quoi, a) in adresses_de_session(s, ctx) {
            if sans_region(a) {
                out.push(ADRESSE_SANS_REGION.finding(
                    offre,
                    Some(s),
                    field,
                    format!(
                        "{} : {} {quoi} ne permet de déterminer ni le département ni la \
                         région ; {QUE_FAIRE}",
                        la_session(s),
                        quelle_adresse(a),
                    ),
                ));
            }
        }
    }
    out
}

pub const PUBLIC_HORS_V14: Rule = Rule::new(
    "PUBLIC_HORS_V14",
    Severity::Warning,
    "Public hors de la nomenclature FORMACODE V14",
    "LHÉO code-public-vise ref=\"V14\" : les lecteurs nationaux n'acceptent que la version V14 du FORMACODE et joignent les codes à sa liste des publics.",
    public_hors_v14,
);

pub const PUBLIC_V14_ABSENT: Rule = Rule::new(
    "PUBLIC_V14_ABSENT",
    Severity::RejectSession,
    "Aucun public de la nomenclature FORMACODE V14",
    "LHÉO code-public-vise (1 à 10, obligatoire) avec ref=\"V14\" : sans code V14, la session n'a pas de public que les lecteurs nationaux acceptent.",
    public_v14_absent,
);

/// The session's public codes that FORMACODE V14 does not have, as "80005, 80002".
fn hors_v14(s: &Session) -> (usize, String) {
    let hors: Vec<&str> = s
        .dispositif
        .publics
        .iter()
        .map(|p| p.as_str())
        .filter(|p| publics_v14::libelle(p).is_none())
        .collect();
    (hors.len(), hors.join(", "))
}

const CHOISIR: &str = "choisissez dans « Publics » de la fiche Dispositif un public de la \
     liste actuelle (par exemple 80006 « Demandeur d'emploi », 80010 « Bénéficiaire du \
     RSA »), puis renvoyez l'action en validation au Cariforef (bouton d'envoi en bas de la \
     fiche Dispositif).";

fn public_hors_v14(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(&PUBLIC_HORS_V14, offre, "session.dispositif.publics", |s| {
        let (n, codes) = hors_v14(s);
        // With no V14 code left, PUBLIC_V14_ABSENT speaks instead.
        if n == 0 || n == s.dispositif.publics.len() {
            return None;
        }
        let (le, qui, ce_code, le_remplacer) = if n == 1 {
            (
                "le public",
                "n'existe plus",
                "ce code n'est pas diffusé",
                "le remplacer",
            )
        } else {
            (
                "les publics",
                "n'existent plus",
                "ces codes ne sont pas diffusés",
                "les remplacer",
            )
        };
        Some(format!(
            "{} indique {le} {codes}, qui {qui} dans la nomenclature FORMACODE V14 \
                 qu'utilisent les sites nationaux : {ce_code}, les autres publics de la \
                 session le sont. Pour {le_remplacer}, {CHOISIR}",
            la_session(s),
        ))
    })
}

fn public_v14_absent(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    par_session(
        &PUBLIC_V14_ABSENT,
        offre,
        "session.dispositif.publics",
        |s| {
            let (n, codes) = hors_v14(s);
            if n == 0 || n != s.dispositif.publics.len() {
                return None;
            }
            Some(format!(
                "{} n'indique aucun public de la nomenclature FORMACODE V14 (codes indiqués : \
                 {codes}) : les sites nationaux n'acceptent que ces codes, la session ne peut \
                 donc pas être diffusée. Pour la diffuser, {CHOISIR}",
                la_session(s),
            ))
        },
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::model::{CodePostal, Formacode, Organisme, Siret};
    use crate::rules::RulesConfig;

    fn ctx<'a>(
        config: &'a RulesConfig,
        organismes: &'a HashMap<Siret, Organisme>,
    ) -> RuleContext<'a> {
        // These rules do not read the Region referential: none imported.
        static NO_REFERENTIEL: std::sync::LazyLock<crate::rules::Referentiel> =
            std::sync::LazyLock::new(Default::default);
        RuleContext {
            today: crate::model::Date::parse("2025-06-02").unwrap(),
            config,
            referentiel: &NO_REFERENTIEL,
            organismes,
        }
    }

    fn offre() -> Offre {
        let line = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/baseline.jsonl"
        ))
        .unwrap();
        let offre_line = line.lines().find(|l| l.starts_with("{\"offre\"")).unwrap();
        match serde_json::from_str(offre_line).unwrap() {
            crate::model::Record::Offre(o) => *o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn publics_outside_v14_warn_or_reject() {
        let config = RulesConfig::default();
        let orgs = HashMap::new();
        let mut o = offre();
        let p = |c: &str| Formacode::parse(c).unwrap();
        o.sessions[0].dispositif.publics = vec![p("80006"), p("80005")];
        o.sessions[1].dispositif.publics = vec![p("80005")];
        let warn = public_hors_v14(&o, &ctx(&config, &orgs));
        assert_eq!(warn.len(), 1);
        assert_eq!(warn[0].session, Some(o.sessions[0].code));
        assert!(warn[0].message.contains("80005"), "{}", warn[0].message);
        let reject = public_v14_absent(&o, &ctx(&config, &orgs));
        assert_eq!(reject.len(), 1);
        assert_eq!(reject[0].session, Some(o.sessions[1].code));
        assert_eq!(reject[0].severity, Severity::RejectSession);
    }

    #[test]
    fn an_address_of_no_departement_is_a_finding() {
        let config = RulesConfig::default();
        let orgs = HashMap::new();
        let mut o = offre();
        // An information collective in Monaco: no département, no région.
        let ic = &mut o.sessions[0].informations_collectives[0];
        ic.lieu.as_mut().unwrap().code_postal = CodePostal::parse("98000").unwrap();
        let found = adresse_sans_region(&o, &ctx(&config, &orgs));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "session.informations_collectives.lieu");
        assert!(found[0].message.contains("98000"));
        // Back in Nantes: nothing to say.
        let ic = &mut o.sessions[0].informations_collectives[0];
        ic.lieu.as_mut().unwrap().code_postal = CodePostal::parse("44200").unwrap();
        assert!(adresse_sans_region(&o, &ctx(&config, &orgs)).is_empty());
    }
}
