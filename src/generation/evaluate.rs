//! Step 1 of an export, per offer: each candidate through the rules and the writer
//! ([`crate::pipeline::evaluate_offre`]), its share of the counts, its evaluation state for the
//! next export, and its published part (fragment, gzip twin segment, hash, filters). Pure
//! work on the offer and the organismes, so a page of offers is evaluated on every core.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;

use super::{day_number, next_recheck, offre_hash, referenced_sirets, twin};
use crate::lheo::WriterContext;
use crate::model::{ActionCode, Date, Departement, Offre, Organisme, Siret};
use crate::pipeline::{self, PassCounts};
use crate::rules::{Outcome, RuleContext};
use crate::store::EvaluationWrite;

/// An offer to evaluate: its record if it is stored and validated, and its previous share
/// of the counts if it had been evaluated; evaluated as soon as its page is read.
pub(super) struct Candidate {
    pub numero: ActionCode,
    pub offre: Option<Offre>,
    pub old_counts: Option<String>,
    /// `None` when the offer is not (or no longer) validated.
    pub evaluated: Option<Evaluated>,
}

/// What the rules and the writer made of a candidate: pure work on the offer and the
/// organismes, so the offers of a page are evaluated on every core (see
/// [`evaluate_page`]) while the walk stays in numeric order.
pub(super) struct Evaluated {
    pub share: PassCounts,
    pub evaluation: EvaluationWrite,
    pub published: Option<Published>,
}

/// A candidate's published part: its fragment, its gzip twin segment, its stored
/// (compressed) form, hash and filters.
pub(super) struct Published {
    pub xml: String,
    pub segment: twin::Segment,
    /// What `published.fragment_compressed` will hold if the offer changed. Made here, on
    /// every core with the rest of the offer's work, so that the write transaction neither
    /// reads the fragments back from the snapshot (8 GB at a million sessions) nor
    /// compresses them on the cores the database needs then. An unchanged candidate's is
    /// dropped: about a second and a half of CPU per gigabyte, paid only by re-evaluated
    /// offers.
    pub stored: Vec<u8>,
    pub hash: String,
    pub programmes: String,
    pub departements: String,
}

/// What evaluating a candidate needs besides the offer.
#[derive(Clone, Copy)]
pub(super) struct EvalContext<'a> {
    pub rctx: &'a RuleContext<'a>,
    pub wctx: &'a WriterContext<'a>,
    pub organismes: &'a HashMap<Siret, Organisme>,
    pub revision: i64,
    pub today: Date,
}

pub(super) fn evaluate_candidate(offre: &Offre, ctx: EvalContext<'_>) -> Evaluated {
    let (outcome, fragment) = pipeline::evaluate_offre(offre, ctx.rctx, ctx.wctx);
    let share = PassCounts::of_offre(&outcome, fragment.as_ref());
    let evaluation = EvaluationWrite {
        numero: offre.numero,
        revision: ctx.revision,
        next_recheck: next_recheck(offre, ctx.today).map(day_number),
        counts: encode_counts(&share),
        sirets: referenced_sirets(offre),
        findings_compressed: super::rejections::encode(&outcome, ctx.organismes),
    };
    let published = fragment.map(|f| {
        let (programmes, departements) = filters(offre, &outcome, ctx.organismes);
        Published {
            hash: offre_hash(&f.xml),
            segment: twin::segment(f.xml.as_bytes()),
            stored: crate::store::fragments::compress(f.xml.as_bytes()),
            xml: f.xml,
            programmes,
            departements,
        }
    });
    Evaluated {
        share,
        evaluation,
        published,
    }
}

/// Evaluates a page of candidates on every core: the export's main cost (rules, writer,
/// SHA-256 of each fragment) is independent per offer, and a full pass at a million
/// sessions spends most of its time here. Small pages are evaluated inline.
pub(super) fn evaluate_page(page: &mut [Candidate], ctx: EvalContext<'_>) {
    crate::parallel::on_every_core(page, 16, |part| {
        for c in part {
            c.evaluated = c.offre.as_ref().map(|o| evaluate_candidate(o, ctx));
        }
    });
}

/// Programmes and départements of an offer's published sessions (JSON arrays), for the
/// consumers' filters of later issues.
pub(super) fn filters(
    offre: &Offre,
    outcome: &Outcome,
    organismes: &HashMap<Siret, Organisme>,
) -> (String, String) {
    let mut programmes = BTreeSet::new();
    let mut departements = BTreeSet::new();
    for s in offre
        .sessions
        .iter()
        .filter(|s| outcome.accepted.contains(&s.code))
    {
        programmes.insert(s.dispositif.programme.as_str().to_owned());
        // An address whose département cannot be derived is reported by the rules
        // (ADRESSE_SANS_REGION); it matches no département scope.
        if let Some(d) = organismes
            .get(&s.site_lieu.siret)
            .and_then(|o| o.site(&s.site_lieu.site))
            .and_then(|site| Departement::of_adresse(&site.adresse))
        {
            departements.insert(d.as_str().to_owned());
        }
    }
    (
        serde_json::to_string(&programmes).expect("serialisable"),
        serde_json::to_string(&departements).expect("serialisable"),
    )
}

/// An offer's share of the counts, as stored in `evaluations.counts`: a compact array.
pub(super) fn encode_counts(c: &PassCounts) -> String {
    serde_json::to_string(&(
        c.offres_lues,
        c.formations,
        c.actions,
        c.sessions,
        c.offres_rejetees,
        c.offres_inactives,
        c.sessions_rejetees,
        c.sessions_inactives,
        &c.constats_par_regle,
    ))
    .expect("serialisable")
}

pub(super) type CountsTuple = (
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    std::collections::BTreeMap<String, u64>,
);

pub(super) fn decode_counts(s: &str) -> anyhow::Result<PassCounts> {
    let t: CountsTuple = serde_json::from_str(s)
        .with_context(|| format!("stored evaluation counts are unreadable: {s:?}"))?;
    Ok(PassCounts {
        offres_lues: t.0,
        formations: t.1,
        actions: t.2,
        sessions: t.3,
        offres_rejetees: t.4,
        offres_inactives: t.5,
        sessions_rejetees: t.6,
        sessions_inactives: t.7,
        constats_par_regle: t.8,
    })
}
