//! The entry rules: what a SOFI offer must satisfy before it is exported in LHÉO, checked
//! the way the Cariforef's procedure (`sofi-procedure-1e1f-2024.txt`) asks organisations
//! to enter it, and explained to them in French.
//!
//! Each rule is a [`Rule`]: a stable code (`IC_ABSENTE`), a [`Severity`], a short French
//! title, the procedure text it comes from, and a pure function from an offer (and a
//! [`RuleContext`]: today's date, the [`RulesConfig`], the organismes) to [`Finding`]s.
//! [`registry`] lists them all, in the order findings are reported: the offer, then the
//! Formation, Action, Session and Dispositif records, as the organisation meets them in
//! SOFI. `docs/rules.md` has one section per rule.
//!
//! [`evaluate`] runs every rule on one offer and sorts its sessions into
//! - **accepted**: exported;
//! - **rejected**: a [`Severity::RejectSession`] finding names the session, or a
//!   [`Severity::RejectOffer`] finding rejects the whole offer;
//! - **inactive**: the session has ended (`date_fin` before today). This is a withdrawal,
//!   not an error: the session is left out of the export and no finding is kept about it.
//!
//! Warnings never change what is exported. An offer with no accepted session is left out
//! whole; when all its sessions have ended, [`Outcome::offer_inactive`] says so and no
//! finding is kept (the organisation has nothing to fix).
//!
//! The rules never panic and never refuse an offer by failing: a dangling reference (an
//! organisme or site that the import should have guaranteed) is a finding like any other.

pub mod config;
mod dispositif;
mod offre;
mod organismes;
mod publication;
pub mod referentiel;
pub mod report;
pub mod saisie;
mod session;
pub mod texte;
pub mod url;

#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) mod testkit;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::model::{ActionCode, Date, FasCode, Offre, Organisme, Session, Siret};

pub use config::{Campagne, RulesConfig, ValeursAdmises, PROGRAMMES_REGION};
pub(crate) use dispositif::RENVOYER;
pub use referentiel::Referentiel;
pub use report::Report;

/// What a finding does to the export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The session named by the finding is not exported.
    RejectSession,
    /// No session of the offer is exported.
    RejectOffer,
    /// Exported as is; the organisation should still correct it.
    Warning,
}

impl Severity {
    /// The French label shown to organisations.
    pub fn libelle(self) -> &'static str {
        match self {
            Severity::RejectSession => "session non diffusée",
            Severity::RejectOffer => "action non diffusée",
            Severity::Warning => "à corriger",
        }
    }
    /// The severity of [`Severity::as_str`]'s code.
    pub fn parse(code: &str) -> Option<Severity> {
        [
            Severity::RejectSession,
            Severity::RejectOffer,
            Severity::Warning,
        ]
        .into_iter()
        .find(|s| s.as_str() == code)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::RejectSession => "reject_session",
            Severity::RejectOffer => "reject_offer",
            Severity::Warning => "warning",
        }
    }
}

/// The signature of a rule's check.
pub type Check = fn(&Offre, &RuleContext) -> Vec<Finding>;

/// One entry rule.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Stable SCREAMING_SNAKE code, used in reports, statistics and documentation.
    pub code: &'static str,
    pub severity: Severity,
    /// Short French title.
    pub title: &'static str,
    /// The procedure text (quote and place) the rule comes from, or the LHÉO constraint.
    pub source: &'static str,
    check: Check,
}

impl Rule {
    /// A rule; other modules (the LHÉO writer's length limits) build theirs with this and
    /// add them to [`registry`].
    pub const fn new(
        code: &'static str,
        severity: Severity,
        title: &'static str,
        source: &'static str,
        check: Check,
    ) -> Rule {
        Rule {
            code,
            severity,
            title,
            source,
            check,
        }
    }

    /// Runs the rule on one offer.
    pub fn check(&self, offre: &Offre, ctx: &RuleContext) -> Vec<Finding> {
        (self.check)(offre, ctx)
    }

    /// A finding of this rule (code and severity are the rule's).
    pub fn finding(
        &self,
        offre: &Offre,
        session: Option<&Session>,
        field: impl Into<String>,
        message: String,
    ) -> Finding {
        Finding {
            code: self.code,
            severity: self.severity,
            offre: offre.numero,
            session: session.map(|s| s.code),
            field: field.into(),
            message,
        }
    }
}

/// Every rule, in reporting order. To add a rule (such as the LHÉO writer's element
/// lengths), define a `const` [`Rule`] next to its logic and list it here; the tests
/// check that codes are unique and documented in `docs/rules.md`.
static REGISTRY: &[Rule] = &[
    // The offer as a whole.
    offre::ETAT_NON_VALIDEE,
    offre::AUCUNE_SESSION,
    offre::IMPORT_VALEUR_CONSERVEE,
    // Fiche Formation.
    offre::VALIDATION_PARTIELLE_SANS_BLOC,
    offre::BLOC_INCONNU,
    offre::CERTIFINFO_ABSENT,
    // Fiche Action.
    organismes::DISPENSATEUR_INCONNU,
    offre::COMPLEMENT_PROGRAMME_TROP_LONG,
    offre::OBJECTIFS_TROP_LONGS,
    offre::OBJECTIFS_MISE_EN_FORME,
    offre::PLUS_FORMATION_TROP_LONG,
    offre::URL_VIDEO_FORMAT,
    offre::URL_INVALIDE,
    offre::INTENTION_EMBAUCHE_PREREQUIS,
    // Fiche Session.
    session::SESSION_HORS_ACTION,
    session::SESSION_EN_DOUBLE,
    session::IC_ABSENTE,
    session::IC_INCOMPLETE,
    session::IC_PASSEES,
    session::IC_APRES_DEBUT,
    session::DATE_DEBUT_ABSENTE,
    session::DATE_FIN_ABSENTE,
    session::DATES_INVERSEES,
    session::DEBUT_HORS_CAMPAGNE,
    organismes::SITE_LIEU_INCONNU,
    session::RYTHMES_ABSENTS,
    session::PERIODES_FORMATION_ABSENTES,
    session::PERIODE_FORMATION_INCOHERENTE,
    session::ENTREES_SORTIES_NON_ADMISES,
    session::TYPE_PARCOURS_INCONNU,
    session::TYPE_PARCOURS_NON_ADMIS,
    session::MODALITES_PEDAGOGIQUES_ABSENTES,
    session::MODALITES_ENSEIGNEMENT_ABSENTES,
    session::DUREE_CENTRE_ABSENTE,
    session::DUREE_ENTREPRISE_ABSENTE,
    session::MODULE_RAN_SANS_DATES,
    organismes::RESPONSABLE_INCONNU,
    organismes::RESPONSABLE_SANS_NDA,
    dispositif::RESPONSABLE_NON_MANDATAIRE,
    session::RECRUTEMENT_ABSENT,
    session::MODALITES_RECRUTEMENT_ABSENTES,
    session::REFERENT_PMR_ABSENT,
    session::REFERENT_MOBILITE_ABSENT,
    // Fiche Dispositif.
    dispositif::PROGRAMME_INCONNU,
    dispositif::LOT_ABSENT,
    dispositif::LOT_INCONNU,
    dispositif::LOT_AUTRE_PROGRAMME,
    dispositif::LOT_AUTRE_MANDATAIRE,
    dispositif::PLACES_DISPOSITIF_ABSENTES,
    dispositif::PRISE_EN_CHARGE_NON,
    // What national readers of the LHÉO file need (issue 15).
    publication::ADRESSE_SANS_REGION,
    publication::PUBLIC_HORS_V14,
    publication::PUBLIC_V14_ABSENT,
    // What LHÉO itself cannot hold, found by the writer after the rules above.
    LHEO_INVALIDE_RULE,
];

/// The code of findings made from writer violations.
pub const LHEO_INVALIDE: &str = "LHEO_INVALIDE";

/// The registry's entry for writer violations. Its check finds nothing by itself: the
/// findings are made by `pipeline::write_accepted`, which runs the writer once, after the other
/// rules, on the sessions they accepted (running the writer inside `evaluate` as well
/// would double the cost of every export). A value of the formation rejects the offer,
/// a value of a session rejects that session.
pub const LHEO_INVALIDE_RULE: Rule = Rule::new(
    LHEO_INVALIDE,
    Severity::RejectSession,
    "Valeur impossible à publier en LHÉO",
    "LHÉO 2.3 (XSD officiel) : longueurs maximales et éléments obligatoires de docs/mapping.md",
    |_, _| Vec::new(),
);

/// Every rule, in reporting order.
pub fn registry() -> &'static [Rule] {
    REGISTRY
}

/// The rule with this code.
pub fn rule(code: &str) -> Option<&'static Rule> {
    REGISTRY.iter().find(|r| r.code == code)
}

/// What the rules may look at besides the offer.
#[derive(Clone, Copy, Debug)]
pub struct RuleContext<'a> {
    /// The day of the run: sessions that ended before it are inactive.
    pub today: Date,
    pub config: &'a RulesConfig,
    /// The Region's programmes and lots (empty before `import-region`).
    pub referentiel: &'a Referentiel,
    /// The organismes of the import, by SIRET.
    pub organismes: &'a HashMap<Siret, Organisme>,
}

/// One thing wrong with an offer, for the organisation to fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    pub offre: ActionCode,
    /// The session concerned; `None` for the Formation or Action of the whole offer.
    pub session: Option<FasCode>,
    /// The SOFI field, as a path in the FASD record (`session.informations_collectives`).
    pub field: String,
    /// French, written for the organisation: which record, which SOFI field, what is
    /// wrong, what to do.
    pub message: String,
}

/// What [`evaluate`] decided about one offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub offre: ActionCode,
    /// Who the report addresses: the organisme responsable of the offer's sessions (the
    /// first one, in session order, that is a known organisme), else the mandataire.
    pub organisme: Siret,
    /// Errors and warnings, in registry order then session order (offer-level first).
    pub findings: Vec<Finding>,
    /// Sessions to export, in the offer's order.
    pub accepted: Vec<FasCode>,
    /// Sessions rejected by a RejectSession finding (or all active ones, if RejectOffer).
    pub rejected: Vec<FasCode>,
    /// Ended sessions: not exported, not an error (a withdrawal).
    pub inactive: Vec<FasCode>,
    /// A RejectOffer finding, or no accepted session left: the offer is not exported.
    pub offer_rejected: bool,
    /// Every session has ended: the offer is withdrawn, which is not an error (implies
    /// `offer_rejected`, with no findings).
    pub offer_inactive: bool,
}

impl Outcome {
    /// Whether the offer goes into the export.
    pub fn exportable(&self) -> bool {
        !self.offer_rejected
    }

    /// Every session code, accepted, rejected or inactive.
    pub fn sessions(&self) -> impl Iterator<Item = FasCode> + '_ {
        self.accepted
            .iter()
            .chain(&self.rejected)
            .chain(&self.inactive)
            .copied()
    }
}

/// Whether a session has ended before `today` (an ended session is withdrawn, not wrong).
pub fn is_ended(session: &Session, today: Date) -> bool {
    // A session whose end is before its start has not "ended": its dates are wrong, and
    // the organisme must hear it (DATES_INVERSEES) rather than see it silently withdrawn.
    let inverted = matches!((session.date_debut, session.date_fin), (Some(d), Some(f)) if f < d);
    !inverted && session.date_fin.is_some_and(|fin| fin < today)
}

/// Runs every rule of the [`registry`] on `offre`.
pub fn evaluate(offre: &Offre, ctx: &RuleContext) -> Outcome {
    // Sessions are keyed by code; a code used twice is rejected (SESSION_EN_DOUBLE), so
    // that each code lands in exactly one list.
    let mut order: Vec<FasCode> = Vec::with_capacity(offre.sessions.len());
    let mut uses: HashMap<FasCode, usize> = HashMap::with_capacity(offre.sessions.len());
    for s in &offre.sessions {
        let n = uses.entry(s.code).or_insert(0);
        if *n == 0 {
            order.push(s.code);
        }
        *n += 1;
    }
    let position: HashMap<FasCode, usize> =
        order.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let inactive: HashSet<FasCode> = offre
        .sessions
        .iter()
        .filter(|s| uses[&s.code] == 1 && is_ended(s, ctx.today))
        .map(|s| s.code)
        .collect();
    let offer_inactive = !order.is_empty() && inactive.len() == order.len();

    let mut findings = Vec::new();
    if !offer_inactive {
        for rule in REGISTRY {
            let mut found = rule.check(offre, ctx);
            found.retain(|f| f.session.is_none_or(|s| !inactive.contains(&s)));
            // Stable: keeps the rule's own order within a session.
            found.sort_by_key(|f| f.session.map(|s| position.get(&s).copied()));
            findings.extend(found);
        }
    }

    let offer_level_reject = findings.iter().any(|f| f.severity == Severity::RejectOffer);
    let session_rejects: HashSet<FasCode> = findings
        .iter()
        .filter(|f| f.severity == Severity::RejectSession)
        .filter_map(|f| f.session)
        .collect();
    let (mut accepted, mut rejected, mut ended) = (Vec::new(), Vec::new(), Vec::new());
    for code in order {
        if inactive.contains(&code) {
            ended.push(code);
        } else if offer_level_reject || session_rejects.contains(&code) || uses[&code] > 1 {
            rejected.push(code);
        } else {
            accepted.push(code);
        }
    }
    Outcome {
        offre: offre.numero,
        organisme: organisme_du_rapport(offre, ctx),
        findings,
        offer_rejected: offer_level_reject || accepted.is_empty(),
        offer_inactive,
        accepted,
        rejected,
        inactive: ended,
    }
}

fn organisme_du_rapport(offre: &Offre, ctx: &RuleContext) -> Siret {
    offre
        .sessions
        .iter()
        .map(|s| &s.organisme_responsable.siret)
        .find(|siret| ctx.organismes.contains_key(*siret))
        .unwrap_or(&offre.mandataire)
        .clone()
}

/// The same offer with only its accepted sessions (for the writer); `None` when the offer
/// is not exported, or when `outcome` is about another offer.
pub fn accepted_offre(offre: &Offre, outcome: &Outcome) -> Option<Offre> {
    if outcome.offre != offre.numero || outcome.offer_rejected || outcome.accepted.is_empty() {
        return None;
    }
    let keep: HashSet<FasCode> = outcome.accepted.iter().copied().collect();
    let mut out = offre.clone();
    out.sessions.retain(|s| keep.contains(&s.code));
    Some(out)
}

/// How to name a session in a message: "La session 19482-89393-143842".
pub(crate) fn la_session(s: &Session) -> String {
    format!("La session {}", s.code)
}

/// How to name an offer in a message: "L'action 19482-89393".
pub(crate) fn l_action(offre: &Offre) -> String {
    format!("L'action {}", offre.numero)
}

/// Findings of a per-session check, one per session for which `f` has a message.
pub(crate) fn par_session(
    rule: &Rule,
    offre: &Offre,
    field: &str,
    f: impl Fn(&Session) -> Option<String>,
) -> Vec<Finding> {
    offre
        .sessions
        .iter()
        .filter_map(|s| f(s).map(|m| rule.finding(offre, Some(s), field, m)))
        .collect()
}

#[cfg(test)]
mod tests;
