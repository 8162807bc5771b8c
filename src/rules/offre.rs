//! Rules of the offer as a whole, of the Fiche Formation and of the Fiche Action.

use std::collections::BTreeSet;

use crate::model::{EtatWorkflow, Offre, Session, Text, Validation};

use super::organismes::nom_organisme;
use super::texte::{extrait, mentionne_intention_embauche, mise_en_forme, nombre_fr};
use super::url::{est_video, parse_http};
use super::{is_ended, l_action, la_session, Finding, Rule, RuleContext, Severity};

pub const ETAT_NON_VALIDEE: Rule = Rule::new(
    "ETAT_NON_VALIDEE",
    Severity::RejectOffer,
    "Action non validée par le Cariforef",
    "Tableau de bord : « Actions créées et en attente d'être validées par le service Offre du Cariforef » (l. 157-163) ; seules les actions validées sont diffusées.",
    etat_non_validee,
);

fn etat_non_validee(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    let etat = match offre.etat {
        EtatWorkflow::Validee => return Vec::new(),
        EtatWorkflow::EnCoursDeSaisie => {
            "est en cours de saisie : terminez-la puis envoyez-la en validation au Cariforef \
             (bouton d'envoi en bas de la fiche Dispositif)"
        }
        EtatWorkflow::EnAttenteDeValidation => {
            "est en attente de validation par le service Offre du Cariforef : elle sera diffusée \
             une fois validée, sans action de votre part"
        }
    };
    vec![ETAT_NON_VALIDEE.finding(
        offre,
        None,
        "offre.etat",
        format!("{} {etat}.", l_action(offre)),
    )]
}

pub const IMPORT_VALEUR_CONSERVEE: Rule = Rule::new(
    "IMPORT_VALEUR_CONSERVEE",
    Severity::Warning,
    "Valeur importée non reconnue, conservée telle quelle",
    "Import LHÉO (import-lheo) : une valeur que LHÉO n'admet pas à cet endroit (code inconnu, FORMACODE invalide…) est conservée telle quelle plutôt que de refuser l'offre ; les sites nationaux ne l'exploitent pas.",
    import_valeur_conservee,
);

fn import_valeur_conservee(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    let Some(x) = offre.extras_lheo.as_ref() else {
        return Vec::new();
    };
    x.invalides
        .iter()
        .map(|v| {
            IMPORT_VALEUR_CONSERVEE.finding(
                offre,
                None,
                format!("lheo.{}", v.element),
                format!(
                    "{}, reçue dans un fichier LHÉO, indique pour « {} » la valeur « {} », \
                     que la norme LHÉO n'admet pas à cet endroit : elle est reprise telle \
                     quelle dans le fichier diffusé, mais les sites nationaux ne pourront \
                     pas l'exploiter. Corrigez cette information à la source (dans SOFI ou \
                     dans le fichier transmis au Cariforef), puis renvoyez l'action en \
                     validation au Cariforef.",
                    l_action(offre),
                    v.element,
                    v.valeur
                ),
            )
        })
        .collect()
}

pub const AUCUNE_SESSION: Rule = Rule::new(
    "AUCUNE_SESSION",
    Severity::RejectOffer,
    "Action sans session",
    "Procédure, FASD : une action se diffuse par ses sessions (l. 165-183) ; LHÉO action/session [1..n].",
    aucune_session,
);

fn aucune_session(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    if !offre.sessions.is_empty() {
        return Vec::new();
    }
    vec![AUCUNE_SESSION.finding(
        offre,
        None,
        "offre.sessions",
        format!(
            "{} n'a aucune session : créez au moins une session (fiche Session) pour qu'elle soit diffusée.",
            l_action(offre)
        ),
    )]
}

pub const VALIDATION_PARTIELLE_SANS_BLOC: Rule = Rule::new(
    "VALIDATION_PARTIELLE_SANS_BLOC",
    Severity::RejectOffer,
    "Validation partielle sans bloc de compétences",
    "Fiche Formation : « Validation de la formation : cochez « partielle » et sélectionnez le ou les blocs de compétences concernés » (l. 314).",
    validation_partielle_sans_bloc,
);

fn validation_partielle_sans_bloc(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    let f = &offre.formation;
    if f.validation != Validation::Partielle || !f.blocs_valides.is_empty() {
        return Vec::new();
    }
    vec![VALIDATION_PARTIELLE_SANS_BLOC.finding(
        offre,
        None,
        "formation.blocs_valides",
        format!(
            "{} a une « Validation de la formation » partielle sans bloc de compétences : \
             sélectionnez le ou les blocs concernés dans la fiche Formation, ou choisissez une \
             validation totale.",
            l_action(offre)
        ),
    )]
}

pub const BLOC_INCONNU: Rule = Rule::new(
    "BLOC_INCONNU",
    Severity::RejectOffer,
    "Bloc de compétences inconnu de la certification",
    "Fiche Formation : « sélectionnez le ou les blocs de compétences concernés » parmi les blocs de la fiche Certif Info (l. 283-287, 314).",
    bloc_inconnu,
);

fn bloc_inconnu(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    let f = &offre.formation;
    if f.validation != Validation::Partielle {
        return Vec::new();
    }
    f.blocs_valides
        .iter()
        .enumerate()
        .filter(|(_, code)| !f.blocs.iter().any(|b| &b.code == *code))
        .map(|(i, code)| {
            BLOC_INCONNU.finding(
                offre,
                None,
                format!("formation.blocs_valides[{i}]"),
                format!(
                    "{} valide le bloc {code}, qui n'est pas un bloc de compétences de la \
                     certification : sélectionnez les blocs concernés parmi ceux de la fiche Formation \
                     (rubrique « Blocs de compétences »).",
                    l_action(offre)
                ),
            )
        })
        .collect()
}

pub const CERTIFINFO_ABSENT: Rule = Rule::new(
    "CERTIFINFO_ABSENT",
    Severity::Warning,
    "Formation certifiante sans code Certif Info",
    "Création de la formation : « Cochez « oui » pour la référence Certif Info », « Code Certifinfo » (l. 223-228) ; LHÉO certification/code-CERTIFINFO.",
    certifinfo_absent,
);

fn certifinfo_absent(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    let f = &offre.formation;
    if !f.type_certification.certifiante() || f.certifinfo.is_some() {
        return Vec::new();
    }
    vec![CERTIFINFO_ABSENT.finding(
        offre,
        None,
        "formation.certifinfo",
        format!(
            "{} prépare une certification ({}) mais sa formation n'a pas de code Certif Info : \
             cochez « oui » pour « Référence Certifinfo » et choisissez la certification avec la \
             loupe, dans la fiche Formation.",
            l_action(offre),
            f.type_certification.libelle()
        ),
    )]
}

/// A finding when `text` is longer than `max` characters. `sujet` names the field with
/// its article ("Le « Complément programme »"); `pluriel` agrees the verb with it.
fn trop_long(
    rule: &Rule,
    offre: &Offre,
    text: Option<&Text>,
    field: &str,
    (sujet, pluriel): (&str, bool),
    max: usize,
) -> Vec<Finding> {
    let Some(n) = text.map(Text::chars).filter(|n| *n > max) else {
        return Vec::new();
    };
    let (compte, le) = if pluriel {
        ("comptent", "les")
    } else {
        ("compte", "le")
    };
    vec![rule.finding(
        offre,
        None,
        field,
        format!(
            "{sujet} de l'action {} {compte} {} caractères, pour {} au plus : raccourcissez-{le} \
             dans la fiche Action.",
            offre.numero,
            nombre_fr(n),
            nombre_fr(max)
        ),
    )]
}

/// The procedure's limit for Complément programme and Objectifs (LHÉO's is the same).
pub const MAX_TEXTE_LONG: usize = 3000;
/// The procedure's limit for "Le plus formation".
pub const MAX_PLUS_FORMATION: usize = 250;

pub const COMPLEMENT_PROGRAMME_TROP_LONG: Rule = Rule::new(
    "COMPLEMENT_PROGRAMME_TROP_LONG",
    Severity::RejectOffer,
    "Complément programme de plus de 3000 caractères",
    "Fiche Action : « Complément Programme (limité à 3000 caractères) » (l. 348) ; LHÉO contenu-formation 1..3000.",
    complement_programme_trop_long,
);

fn complement_programme_trop_long(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    trop_long(
        &COMPLEMENT_PROGRAMME_TROP_LONG,
        offre,
        offre.action.complement_programme.as_ref(),
        "action.complement_programme",
        ("Le « Complément programme »", false),
        MAX_TEXTE_LONG,
    )
}

pub const OBJECTIFS_TROP_LONGS: Rule = Rule::new(
    "OBJECTIFS_TROP_LONGS",
    Severity::RejectOffer,
    "Objectifs de plus de 3000 caractères",
    "Fiche Action : « Objectifs (limité à 3000 caractères - ne pas insérer de tableaux, caractères spéciaux, images, documents Pdf...) » (l. 350) ; LHÉO objectif-formation 1..3000.",
    objectifs_trop_longs,
);

fn objectifs_trop_longs(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    trop_long(
        &OBJECTIFS_TROP_LONGS,
        offre,
        offre.action.objectifs.as_ref(),
        "action.objectifs",
        ("Les « Objectifs »", true),
        MAX_TEXTE_LONG,
    )
}

pub const OBJECTIFS_MISE_EN_FORME: Rule = Rule::new(
    "OBJECTIFS_MISE_EN_FORME",
    Severity::Warning,
    "Tableau, image ou balise dans les objectifs",
    "Fiche Action : « Objectifs (… ne pas insérer de tableaux, caractères spéciaux, images, documents Pdf...) » (l. 350).",
    objectifs_mise_en_forme,
);

fn objectifs_mise_en_forme(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    let Some(trouve) = offre
        .action
        .objectifs
        .as_ref()
        .and_then(|t| mise_en_forme(t.as_str()))
    else {
        return Vec::new();
    };
    vec![OBJECTIFS_MISE_EN_FORME.finding(
        offre,
        None,
        "action.objectifs",
        format!(
            "Les « Objectifs » de l'action {} contiennent {trouve} : saisissez un texte simple, \
             sans tableau, image ni mise en forme, dans la fiche Action (les sites de diffusion \
             l'afficheraient tel quel).",
            offre.numero
        ),
    )]
}

pub const PLUS_FORMATION_TROP_LONG: Rule = Rule::new(
    "PLUS_FORMATION_TROP_LONG",
    Severity::Warning,
    "« Plus » formation de plus de 250 caractères",
    "Fiche Action : « Le « plus » formation (limité à 250 caractères) » (l. 354) ; transmis en extras LHÉO, sans limite nationale : avertissement.",
    plus_formation_trop_long,
);

fn plus_formation_trop_long(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    trop_long(
        &PLUS_FORMATION_TROP_LONG,
        offre,
        offre.action.le_plus_formation.as_ref(),
        "action.le_plus_formation",
        (
            "Le « plus » formation (« Mon + formation » dans SOFI)",
            false,
        ),
        MAX_PLUS_FORMATION,
    )
}

pub const URL_VIDEO_FORMAT: Rule = Rule::new(
    "URL_VIDEO_FORMAT",
    Severity::Warning,
    "URL vidéo ni YouTube ni MP4",
    "Fiche Action : « URL vidéo (Youtube ou format MP4) : à renseigner si votre offre est présentée sous format vidéo » (l. 356).",
    url_video_format,
);

fn url_video_format(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    let Some(text) = &offre.action.url_video else {
        return Vec::new();
    };
    // An address that is not even a web link is URL_INVALIDE's business.
    match parse_http(text.as_str()) {
        Ok(url) if !est_video(&url) => vec![URL_VIDEO_FORMAT.finding(
            offre,
            None,
            "action.url_video",
            format!(
                "L'« URL Vidéo » de l'action {} (« {} ») n'est ni une vidéo YouTube ni un fichier \
                 MP4 : indiquez un lien youtube.com ou youtu.be, ou le lien d'un fichier .mp4, dans la \
                 fiche Action.",
                offre.numero,
                extrait(text.as_str(), 100)
            ),
        )],
        _ => Vec::new(),
    }
}

pub const URL_INVALIDE: Rule = Rule::new(
    "URL_INVALIDE",
    Severity::Warning,
    "Adresse web incomplète ou invalide",
    "Fiche Action, « Marketer l'action » : URL Vidéo, URL PDF, « URL Action : lien vers la page de votre site Internet » (l. 331-334, 356-360) ; LHÉO urlweb.",
    url_invalide,
);

fn url_invalide(offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let a = &offre.action;
    for (text, field, label) in [
        (&a.url_video, "action.url_video", "URL Vidéo"),
        (&a.url_pdf, "action.url_pdf", "URL PDF"),
        (&a.url_action, "action.url_action", "URL Action"),
    ] {
        let Some(text) = text else { continue };
        if let Err(e) = parse_http(text.as_str()) {
            out.push(URL_INVALIDE.finding(
                offre,
                None,
                field,
                format!(
                    "L'« {label} » de l'action {} (« {} ») n'est pas une adresse web complète : {}. \
                     Corrigez-la dans la fiche Action.",
                    offre.numero,
                    extrait(text.as_str(), 100),
                    e.explication()
                ),
            ));
        }
    }
    // The organismes whose web address goes out with the offer: the dispensateur and the
    // responsables of the sessions still running. (An IC link without a place is
    // IC_INCOMPLETE's business.)
    let mut sirets = BTreeSet::new();
    sirets.insert(&a.site_dispensateur.siret);
    sirets.extend(
        offre
            .sessions
            .iter()
            .filter(|s| !is_ended(s, ctx.today))
            .map(|s| &s.organisme_responsable.siret),
    );
    for siret in sirets {
        let Some(web) = ctx.organismes.get(siret).and_then(|o| o.web.as_ref()) else {
            continue;
        };
        if let Err(e) = parse_http(web.as_str()) {
            out.push(URL_INVALIDE.finding(
                offre,
                None,
                "organisme.web",
                format!(
                    "Le site web de {}, diffusé avec l'action {} (« {} »), n'est pas une adresse \
                     web complète : {}. Corrigez-le dans les informations de votre organisme, ou \
                     signalez la bonne adresse au service Offre du Cariforef (offre@cariforef-pdl.org).",
                    nom_organisme(ctx, siret),
                    offre.numero,
                    extrait(web.as_str(), 100),
                    e.explication()
                ),
            ));
        }
    }
    for s in &offre.sessions {
        for (i, ic) in s.informations_collectives.iter().enumerate() {
            let (Some(lien), Some(_)) = (&ic.lien_distance, &ic.lieu) else {
                continue;
            };
            if let Err(e) = parse_http(lien.as_str()) {
                out.push(URL_INVALIDE.finding(
                    offre,
                    Some(s),
                    format!("session.informations_collectives[{i}].lien_distance"),
                    format!(
                        "Le lien de connexion à distance d'une information collective de la session {} \
                         (« {} ») n'est pas une adresse web complète : {}. Corrigez-le dans la fiche \
                         Session, rubrique « Informations collectives ».",
                        s.code,
                        extrait(lien.as_str(), 100),
                        e.explication()
                    ),
                ));
            }
        }
    }
    out
}

pub const INTENTION_EMBAUCHE_PREREQUIS: Rule = Rule::new(
    "INTENTION_EMBAUCHE_PREREQUIS",
    Severity::Warning,
    "Intention d'embauche absente des pré-requis",
    "Fiche Action, Pré-requis : « Pour les sessions ouvertes sur intention d'embauche, ajouter « intention d'embauche » » (l. 368) ; sessions « issues des intentions d'embauche » (l. 190).",
    intention_embauche_prerequis,
);

/// Where a session says it is opened on an intention d'embauche, as the organisation sees
/// that field in SOFI.
fn source_intention_embauche(offre: &Offre, s: &Session) -> Option<&'static str> {
    let mentions = |t: &Option<Text>| {
        t.as_ref()
            .is_some_and(|t| mentionne_intention_embauche(t.as_str()))
    };
    if mentionne_intention_embauche(s.dispositif.programme.as_str()) {
        Some("le dispositif de la fiche Dispositif")
    } else if mentions(&s.modalites_recrutement_texte) {
        Some("les modalités de recrutement de la fiche Session")
    } else if mentions(&s.commentaire_duree) {
        Some("le « Commentaire durée » de la fiche Session")
    } else if mentions(&offre.action.complement_intitule) {
        Some("le « Complément intitulé » de la fiche Action")
    } else {
        None
    }
}

fn intention_embauche_prerequis(offre: &Offre, _: &RuleContext) -> Vec<Finding> {
    let a = &offre.action;
    let dit = [&a.prerequis, &a.commentaire_prerequis]
        .into_iter()
        .flatten()
        .any(|t| mentionne_intention_embauche(t.as_str()));
    if dit {
        return Vec::new();
    }
    offre
        .sessions
        .iter()
        .filter_map(|s| {
            let ou = source_intention_embauche(offre, s)?;
            Some(INTENTION_EMBAUCHE_PREREQUIS.finding(
                offre,
                Some(s),
                "action.prerequis",
                format!(
                    "{} est ouverte sur intention d'embauche (d'après {ou}) mais les pré-requis de \
                     l'action {} ne le disent pas : ajoutez « intention d'embauche » dans \
                     « Pré-requis » de la fiche Action.",
                    la_session(s),
                    offre.numero
                ),
            ))
        })
        .collect()
}
