//! The read → rules → LHÉO evaluation, shared by `check` and `export` so that their
//! numbers cannot disagree: [`evaluate_offre`] for one offer (the export evaluates only
//! the offers that may have changed, see `generation`), [`run`] for the pass over all.
//!
//! Offers are read in pages in numeric `F-A` order (memory bounded by the page), each
//! evaluated by the entry rules, and the accepted part written as an LHÉO fragment. A
//! value that LHÉO cannot hold (a length limit the rules did not catch) becomes a finding
//! of rule [`LHEO_INVALIDE`]: the session that owns it is left out, or the whole offer
//! when the value is the formation's.

use std::collections::{BTreeMap, HashMap};

use crate::lheo::{write_formation, Fragment, Violation, ViolationKind, WriterContext};
use crate::model::*;
use crate::rules::{self, Finding, Outcome, Referentiel, RuleContext, RulesConfig, Severity};
use crate::store::Store;

// The rule lives with the others (the registry lists it); its findings are made here.
pub use crate::rules::{LHEO_INVALIDE, LHEO_INVALIDE_RULE};

/// What a pass needs besides the store.
#[derive(Clone, Debug)]
pub struct PassOptions {
    /// The day the rules judge by (ended sessions, next information collectives).
    pub today: Date,
    pub rules: RulesConfig,
    /// Offers read per page ([`PAGE_SIZE`] outside tests).
    pub page_size: u32,
}

/// Offers read, evaluated and written per page by the commands and the daemon. An
/// export's peak memory is mostly pages: the one being evaluated (each offer's decoded
/// records, its LHÉO fragment, compressed twice), and the next one read meanwhile. At a
/// million sessions (`docs/BENCHMARKS.md`, session 13), a full export peaked at 286–314
/// MB with pages of 1 000 offers, 235 MB with 500 and 186–206 MB with 250, and streamed
/// in the same time (52.7–56.0 s against 53.9–56.4 s in quiet runs): a page still holds
/// enough offers to keep both cores busy between two reads.
pub const PAGE_SIZE: u32 = 250;

/// Counts of one pass. They add up offer by offer ([`PassCounts::add`]), which lets an
/// incremental export keep exact totals: the previous generation's, minus the share of the
/// offers it evaluates again, plus their new share (see `generation`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PassCounts {
    /// Validated offers read.
    pub offres_lues: u64,
    /// Offers written as LHÉO `formation`s.
    pub formations: u64,
    /// LHÉO `action`s written.
    pub actions: u64,
    /// Sessions written.
    pub sessions: u64,
    /// Offers left out whole because of errors.
    pub offres_rejetees: u64,
    /// Offers left out because all their sessions have ended (a withdrawal, not an error).
    pub offres_inactives: u64,
    pub sessions_rejetees: u64,
    pub sessions_inactives: u64,
    /// Findings per rule code (errors and warnings).
    pub constats_par_regle: BTreeMap<String, u64>,
}

impl PassCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &PassCounts) {
        self.offres_lues += other.offres_lues;
        self.formations += other.formations;
        self.actions += other.actions;
        self.sessions += other.sessions;
        self.offres_rejetees += other.offres_rejetees;
        self.offres_inactives += other.offres_inactives;
        self.sessions_rejetees += other.sessions_rejetees;
        self.sessions_inactives += other.sessions_inactives;
        for (code, n) in &other.constats_par_regle {
            *self.constats_par_regle.entry(code.clone()).or_default() += n;
        }
    }

    /// Takes `other` (a part previously added) away from these counts. Saturating, and a
    /// rule whose count falls to zero is dropped, so that adding and removing the same
    /// offers gives back the same value.
    pub fn subtract(&mut self, other: &PassCounts) {
        self.offres_lues = self.offres_lues.saturating_sub(other.offres_lues);
        self.formations = self.formations.saturating_sub(other.formations);
        self.actions = self.actions.saturating_sub(other.actions);
        self.sessions = self.sessions.saturating_sub(other.sessions);
        self.offres_rejetees = self.offres_rejetees.saturating_sub(other.offres_rejetees);
        self.offres_inactives = self.offres_inactives.saturating_sub(other.offres_inactives);
        self.sessions_rejetees = self
            .sessions_rejetees
            .saturating_sub(other.sessions_rejetees);
        self.sessions_inactives = self
            .sessions_inactives
            .saturating_sub(other.sessions_inactives);
        for (code, n) in &other.constats_par_regle {
            if let Some(v) = self.constats_par_regle.get_mut(code) {
                *v = v.saturating_sub(*n);
                if *v == 0 {
                    self.constats_par_regle.remove(code);
                }
            }
        }
    }

    /// The counts of one evaluated offer: its share of a pass's totals.
    pub fn of_offre(outcome: &Outcome, fragment: Option<&Fragment>) -> PassCounts {
        let mut counts = PassCounts {
            offres_lues: 1,
            ..PassCounts::default()
        };
        // The same classification as the report's totals (rules::report), so that
        // `check` and `export` agree.
        match fragment {
            _ if outcome.offer_inactive => counts.offres_inactives += 1,
            Some(f) => {
                counts.formations += 1;
                counts.actions += f.actions as u64;
                counts.sessions += f.sessions as u64;
            }
            None => counts.offres_rejetees += 1,
        }
        counts.sessions_rejetees += outcome.rejected.len() as u64;
        counts.sessions_inactives += outcome.inactive.len() as u64;
        for f in &outcome.findings {
            *counts
                .constats_par_regle
                .entry(f.code.to_owned())
                .or_default() += 1;
        }
        counts
    }
}

/// Where the organisme finds a SOFI field: the fiche (or its organisme's information) and
/// the rubrique as SOFI labels them. `field` is the writer's FASD path
/// (`session.informations_collectives.commentaire`); an unlisted field still gets its
/// fiche from its first segment, so a new writer field never yields a bare path.
pub fn rubrique_sofi(field: &str) -> (&'static str, &'static str) {
    // Segments without their index (`[0]`) or anything after the name.
    let mut parts = field.split('.').map(|p| {
        let end = p
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(p.len());
        &p[..end]
    });
    let root = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default();
    match (root, name) {
        ("formation", "intitule" | "") => ("la fiche Formation", "Intitulé"),
        ("formation", "objectif") => ("la fiche Formation", "Objectif"),
        ("formation", "resultats_attendus") => ("la fiche Formation", "Résultats attendus"),
        ("formation", "description") => ("la fiche Formation", "Description"),
        ("formation", "blocs" | "blocs_valides" | "validation") => {
            ("la fiche Formation", "Blocs de compétences")
        }
        ("formation", "certifinfo" | "rncp" | "type_certification") => {
            ("la fiche Formation", "Référence Certifinfo")
        }
        ("formation", _) => ("la fiche Formation", "Description"),
        ("action", "complement_intitule") => ("la fiche Action", "Complément intitulé"),
        ("action", "complement_programme") => ("la fiche Action", "Complément programme"),
        ("action", "objectifs") => ("la fiche Action", "Objectifs"),
        ("action", "resultats_attendus") => ("la fiche Action", "Résultats attendus"),
        ("action", "le_plus_formation") => ("la fiche Action", "Mon + formation"),
        ("action", "url_video") => ("la fiche Action", "URL Vidéo"),
        ("action", "url_pdf") => ("la fiche Action", "URL PDF"),
        ("action", "url_action") => ("la fiche Action", "URL Action"),
        ("action", "equipements") => ("la fiche Action", "Équipements"),
        ("action", "prerequis" | "commentaire_prerequis" | "niveau_entree") => {
            ("la fiche Action", "Pré-requis")
        }
        ("action", "public_vise") => ("la fiche Action", "Public visé"),
        ("action", "contact") => ("la fiche Action", "Contact"),
        ("action", "site_dispensateur") => ("la fiche Action", "Site dispensateur"),
        ("action", _) => ("la fiche Action", "Description"),
        ("session", "informations_collectives") => ("la fiche Session", "Informations collectives"),
        ("session", "periodes_formation") => ("la fiche Session", "Périodes de formation"),
        ("session", "periodes_inscription" | "adresse_inscription") => {
            ("la fiche Session", "Périodes d'inscription")
        }
        ("session", "referents" | "referent_pmr" | "referent_prf" | "referent_mobilite")
        | ("session", "mail_liaison") => ("la fiche Session", "Contacts référents"),
        ("session", "rythmes") => ("la fiche Session", "Rythmes"),
        ("session", "type_parcours") => ("la fiche Session", "Type de parcours"),
        ("session", "modalites_pedagogiques" | "modalites_pedagogiques_texte") => {
            ("la fiche Session", "Modalités pédagogiques")
        }
        ("session", "modalites_enseignement") => ("la fiche Session", "Modalités d'enseignement"),
        ("session", "modalites_recrutement" | "modalites_recrutement_texte" | "recrutement") => {
            ("la fiche Session", "Recrutement")
        }
        ("session", "organisme_responsable") => ("la fiche Session", "Organisme responsable"),
        ("session", "site_lieu") => ("la fiche Session", "Site lieu"),
        ("session", "commentaire_duree") => ("la fiche Session", "Commentaire durée"),
        ("session", "date_debut" | "date_fin") => ("la fiche Session", "Date début, Date fin"),
        ("session", "dispositif") | ("dispositif", _) => match parts.next().unwrap_or(name) {
            "frais_ht"
            | "frais_ttc"
            | "taux_tva"
            | "frais_additionnels"
            | "frais_certification" => ("la fiche Dispositif", "Frais pédagogiques"),
            "publics" => ("la fiche Dispositif", "Publics"),
            _ => ("la fiche Dispositif", "Description"),
        },
        ("session", _) => ("la fiche Session", "Description"),
        ("organisme", "adresse") => ("les informations de votre organisme", "Adresse"),
        ("organisme", "contacts") => ("les informations de votre organisme", "Contacts"),
        ("organisme", "web") => ("les informations de votre organisme", "Site web"),
        ("organisme", "courriel" | "telephone") => {
            ("les informations de votre organisme", "Coordonnées")
        }
        (_, _) => ("les informations de votre organisme", "Identification"),
    }
}

/// Turns a writer violation into a finding for the organisme: what is wrong, in the fiche
/// and rubrique where SOFI shows the field (the LHÉO element stays in the log's field
/// path, for the Cariforef, not in the organisme's message).
pub fn violation_finding(offre: &Offre, v: &Violation) -> Finding {
    use crate::rules::texte::nombre_fr;
    let what = match &v.kind {
        ViolationKind::Missing => {
            "est vide alors que les sites de diffusion l'exigent : renseignez-le".to_owned()
        }
        ViolationKind::TooLong { max, actual } => format!(
            "compte {} caractères (ou éléments), pour {} au plus sur les sites de diffusion : \
             raccourcissez-le",
            nombre_fr(*actual),
            nombre_fr(*max)
        ),
        ViolationKind::TooShort { min, actual } => format!(
            "compte {} caractères, pour {} au moins sur les sites de diffusion : complétez-le",
            nombre_fr(*actual),
            nombre_fr(*min)
        ),
        ViolationKind::Differs { from } => format!(
            "diffère de celui de la session {from}, alors qu'une action n'en diffuse qu'un : \
             donnez-leur la même valeur"
        ),
    };
    let whom = match v.session {
        Some(s) => format!("La session {s}"),
        None => format!("L'action {}", offre.numero),
    };
    let ou = if v.field.contains("complement_intitule") && v.field.starts_with("formation") {
        // The published title is the formation's intitulé followed by the complément.
        "l'« Intitulé » de la fiche Formation suivi du « Complément intitulé » de la fiche \
         Action"
            .to_owned()
    } else {
        let (fiche, rubrique) = rubrique_sofi(v.field);
        format!("la rubrique « {rubrique} » de {fiche}")
    };
    Finding {
        code: LHEO_INVALIDE,
        severity: if v.session.is_some() {
            Severity::RejectSession
        } else {
            Severity::RejectOffer
        },
        offre: offre.numero,
        session: v.session,
        field: v.field.to_owned(),
        message: format!(
            "{whom} ne peut pas être diffusée : le contenu de {ou} {what}, {}.",
            crate::rules::RENVOYER
        ),
    }
}

/// Applies the writer to an outcome's accepted sessions, moving sessions (or the offer)
/// whose values LHÉO cannot hold to the rejected side. Returns the fragment, if any.
pub fn write_accepted(
    offre: &Offre,
    outcome: &mut Outcome,
    ctx: &WriterContext,
) -> Option<Fragment> {
    loop {
        let accepted = rules::accepted_offre(offre, outcome)?;
        match write_formation(&accepted, ctx) {
            Ok(f) => return Some(f),
            Err(violations) => {
                let mut offer_level = false;
                for v in &violations {
                    outcome.findings.push(violation_finding(offre, v));
                    match v.session {
                        Some(s) => {
                            if let Some(i) = outcome.accepted.iter().position(|a| *a == s) {
                                outcome.accepted.remove(i);
                                outcome.rejected.push(s);
                            }
                        }
                        None => offer_level = true,
                    }
                }
                if offer_level || outcome.accepted.is_empty() {
                    outcome.rejected.append(&mut outcome.accepted);
                    outcome.rejected.sort();
                    outcome.offer_rejected = true;
                    return None;
                }
                outcome.rejected.sort();
            }
        }
    }
}

/// Evaluates one offer: the rules, then the writer on what they accepted. Returns the
/// outcome and the fragment (None when nothing of the offer is published).
pub fn evaluate_offre(
    offre: &Offre,
    rctx: &RuleContext,
    wctx: &WriterContext,
) -> (Outcome, Option<Fragment>) {
    let mut outcome = rules::evaluate(offre, rctx);
    let fragment = if outcome.offer_rejected {
        None
    } else {
        write_accepted(offre, &mut outcome, wctx)
    };
    (outcome, fragment)
}

/// The Region referential the rules judge by. Without one (no `import-region` yet), lots
/// cannot be checked and campaign years come from the configuration only: the operator
/// is told on every run, since no organisme can fix that.
pub async fn referentiel(store: &Store) -> anyhow::Result<Referentiel> {
    let r = Referentiel::new(store.programmes().await?, store.lots().await?);
    if !r.a_des_lots() {
        tracing::warn!(
            "no lot in the Region referential: lots (numero_lot_cr) are not checked and \
             campaign years come only from the rules configuration; run `lheo-feed \
             import-region FILE` with the Region's file"
        );
    }
    Ok(r)
}

/// The offers not yet validated that `check` lists with their missing required fields,
/// each with its organisme (the mandataire): the drafts the model could not hold, then
/// the complete offers still en cours de saisie or en attente de validation.
pub async fn saisies_incompletes(
    store: &Store,
) -> anyhow::Result<Vec<(Siret, rules::report::SaisieIncomplete)>> {
    let mut out: Vec<(Siret, rules::report::SaisieIncomplete)> = store
        .brouillons()
        .await?
        .into_iter()
        .map(|b| {
            (
                b.mandataire,
                rules::report::SaisieIncomplete {
                    offre: b.numero,
                    etat: b.etat,
                    champs: b.manquants,
                },
            )
        })
        .collect();
    for o in store.offres_non_validees().await? {
        let champs = rules::saisie::champs_manquants(&o, &[]);
        out.push((
            o.mandataire.clone(),
            rules::report::SaisieIncomplete {
                offre: o.numero,
                etat: o.etat,
                champs,
            },
        ));
    }
    Ok(out)
}

/// Runs the pass, calling `sink` with every offer's outcome and fragment (None when
/// nothing of it is published). Outcomes with findings, rejections or inactive sessions
/// are returned for the report; clean ones are only counted, to keep memory flat.
pub async fn run<F>(
    store: &Store,
    opts: &PassOptions,
    mut sink: F,
) -> anyhow::Result<(PassCounts, Vec<Outcome>)>
where
    F: FnMut(&Offre, &Outcome, Option<&Fragment>) -> anyhow::Result<()>,
{
    // A whole pass reads every page: fresh planner statistics first (PostgreSQL).
    store.refresh_statistics().await;
    let organismes: HashMap<Siret, Organisme> = store.organismes().await?;
    let referentiel = referentiel(store).await?;
    let rctx = RuleContext {
        today: opts.today,
        config: &opts.rules,
        referentiel: &referentiel,
        organismes: &organismes,
    };
    let wctx = WriterContext {
        organismes: &organismes,
        today: opts.today,
    };
    let mut counts = PassCounts::default();
    let mut noteworthy = Vec::new();
    let mut after = None;
    loop {
        let page = store.offres_page(after, opts.page_size, true).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.numero);
        for offre in &page {
            let (outcome, fragment) = evaluate_offre(offre, &rctx, &wctx);
            counts.add(&PassCounts::of_offre(&outcome, fragment.as_ref()));
            sink(offre, &outcome, fragment.as_ref())?;
            if !outcome.findings.is_empty()
                || !outcome.rejected.is_empty()
                || !outcome.inactive.is_empty()
            {
                noteworthy.push(outcome);
            }
        }
    }
    Ok((counts, noteworthy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::{text, Fixture};

    fn run(fx: &Fixture) -> (Outcome, Option<Fragment>) {
        let mut outcome = rules::evaluate(&fx.offre, &fx.ctx());
        let wctx = WriterContext {
            organismes: &fx.organismes,
            today: fx.today,
        };
        let fragment = write_accepted(&fx.offre, &mut outcome, &wctx);
        (outcome, fragment)
    }

    #[test]
    fn every_writer_field_has_a_fiche_and_a_rubrique() {
        for (field, expected) in [
            (
                "formation.blocs.intitule",
                ("la fiche Formation", "Blocs de compétences"),
            ),
            (
                "action.equipements.commentaire",
                ("la fiche Action", "Équipements"),
            ),
            (
                "session.referents",
                ("la fiche Session", "Contacts référents"),
            ),
            (
                "session.informations_collectives[2].lieu",
                ("la fiche Session", "Informations collectives"),
            ),
            (
                "dispositif.frais_ttc",
                ("la fiche Dispositif", "Frais pédagogiques"),
            ),
            (
                "session.dispositif.publics",
                ("la fiche Dispositif", "Publics"),
            ),
            (
                "organisme.web",
                ("les informations de votre organisme", "Site web"),
            ),
            // A field the writer may add one day still gets its fiche.
            ("session.nouveau_champ", ("la fiche Session", "Description")),
            (
                "",
                ("les informations de votre organisme", "Identification"),
            ),
        ] {
            assert_eq!(rubrique_sofi(field), expected, "{field}");
        }
    }

    #[test]
    fn lheo_invalide_passes_on_the_baseline() {
        let (outcome, fragment) = run(&Fixture::new());
        assert!(outcome.findings.is_empty(), "{:?}", outcome.findings);
        assert!(fragment.is_some());
    }

    #[test]
    fn a_session_value_too_long_for_lheo_rejects_that_session_only() {
        let mut fx = Fixture::new();
        assert_eq!(fx.offre.sessions.len(), 2, "the baseline has two sessions");
        // An information collective's comment: LHÉO allows 500 characters.
        fx.offre.sessions[1].informations_collectives[0].commentaire = Some(text(&"é".repeat(501)));
        let (outcome, fragment) = run(&fx);
        let f: Vec<_> = outcome
            .findings
            .iter()
            .filter(|f| f.code == LHEO_INVALIDE)
            .collect();
        assert_eq!(f.len(), 1, "{:?}", outcome.findings);
        assert_eq!(f[0].severity, Severity::RejectSession);
        assert_eq!(f[0].session, Some(fx.offre.sessions[1].code));
        assert_eq!(
            f[0].message,
            "La session 19482-89393-143843 ne peut pas être diffusée : le contenu de la \
             rubrique « Informations collectives » de la fiche Session compte 501 caractères \
             (ou éléments), pour 500 au plus sur les sites de diffusion : raccourcissez-le, \
             puis renvoyez l'action en validation au Cariforef (bouton d'envoi en bas de la \
             fiche Dispositif)."
        );
        assert_eq!(f[0].field, "session.informations_collectives.commentaire");
        assert_eq!(outcome.rejected, vec![fx.offre.sessions[1].code]);
        let xml = fragment.expect("the other session is published").xml;
        assert!(xml.contains(&fx.offre.sessions[0].code.to_string()));
        assert!(!xml.contains(&fx.offre.sessions[1].code.to_string()));
    }

    #[test]
    fn a_formation_value_too_long_for_lheo_rejects_the_offer() {
        let mut fx = Fixture::new();
        // intitulé + complément > 255 characters
        fx.offre.action.complement_intitule = Some(text(&"x".repeat(250)));
        let (outcome, fragment) = run(&fx);
        assert!(fragment.is_none());
        assert!(outcome.offer_rejected);
        let f = outcome
            .findings
            .iter()
            .find(|f| f.code == LHEO_INVALIDE)
            .expect("a finding");
        assert_eq!(f.severity, Severity::RejectOffer);
        assert_eq!(f.session, None);
        // The organisme reads the fiche and the rubrique of SOFI, not an LHÉO element.
        assert!(!f.message.contains("intitule-formation"), "{}", f.message);
        assert!(
            f.message
                .contains("le contenu de l'« Intitulé » de la fiche Formation suivi du « Complément intitulé » de la fiche Action compte"),
            "{}",
            f.message
        );
    }

    #[test]
    fn a_long_organisme_name_is_not_a_reason_to_reject() {
        let mut fx = Fixture::new();
        let siret = fx.offre.mandataire.clone();
        let org = fx.organismes.get_mut(&siret).unwrap();
        org.contacts.clear();
        org.nom = Some(text(
            "Institut de formation en soins infirmiers et aides-soignants",
        ));
        assert!(org.nom.as_ref().unwrap().chars() > 50);
        let (outcome, fragment) = run(&fx);
        assert!(outcome.findings.is_empty(), "{:?}", outcome.findings);
        assert!(fragment.is_some());
    }
}
