//! SOFI offer → LHÉO 2.3 `<formation>` fragment.
//!
//! One LHÉO `formation` per SOFI action (`numero` = `F-A`), as the ONISEP export does.
//! LHÉO keeps place, rhythm, durations, public, price and financer on the `action`, where
//! SOFI keeps them on each session: the writer renders the action-level part for each
//! session and puts sessions whose renderings are byte-identical under one LHÉO `action`.
//! That grouping is exact by construction (no hand-written list of "action-level fields"
//! to drift from the mapping). The mapping, field by field, is in `docs/mapping.md`.
//!
//! Output is canonical: the same offer always gives the same bytes (sessions in code
//! order, groups in order of their first session, no timestamps of the export), so the
//! fragment can be hashed. The only date-dependent output is `date-information`, the next
//! three information-collective dates from `today`. `datecrea` / `datemaj` are the days
//! SOFI or the store recorded for the data ([`Dates`]), never the export's. An action's
//! `numero` names its group by its first session ([`action_numero`]), so it stays put
//! when values change.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::xml::{Emitter, Violation, ViolationKind, NAMESPACE};
use crate::model::*;

/// The version of the writer's output, part of every offer's hash (`generation`):
/// SHA-256 over `FORMAT_VERSION`, a line feed, then the fragment's bytes.
///
/// **Bump it with every change that alters the bytes of some fragment on purpose** (a
/// mapping change, a new element, a different layout): each offer's hash then changes, the
/// next export is a full pass and every published offer is re-sent once as `updated`, which
/// the release note must announce. Without the bump, only the offers whose bytes differ
/// would be re-sent, and only once they are evaluated again (a new package version forces
/// a full pass; an unchanged one does not). `docs/generations.md` has the whole story.
pub const FORMAT_VERSION: &str = "lheo-2.3/2";

/// FORMACODE version of domain codes (`code-FORMACODE/@ref`).
pub const FORMACODE_VERSION: &str = "V14";
/// FORMACODE version of the public-visé codes: national readers accept `V14` only, and
/// join the codes to the V14 list ([`crate::model::publics_v14`]).
pub const FORMACODE_VERSION_PUBLIC: &str = "V14";
/// FORMACODE version of the modalité-pédagogique codes: SOFI's come from the V10 table
/// (`dict-modalites-pedagogiques-formacodes-V10.xml`), so V10 is what they are.
pub const FORMACODE_VERSION_MODALITES: &str = "V10";
/// `code-financeur` of every SOFI dispositif of this procedure: the Conseil régional
/// (dict-financeurs 2). The Region's extraction seeds them all.
pub const CODE_FINANCEUR_REGION: &str = "2";

/// `dict-type-contact` 4, Accueil: the organisme's and the formation's contacts, the desk
/// that answers candidates. SOFI does not type them; every national reader looks for a
/// `type-contact` to choose which one to show.
pub const TYPE_CONTACT_ACCUEIL: &str = "4";
/// `dict-type-contact` 3, Référent pédagogique: the contact of the site dispensateur.
pub const TYPE_CONTACT_PEDAGOGIQUE: &str = "3";

/// What the writer needs besides the offer.
pub struct WriterContext<'a> {
    pub organismes: &'a HashMap<Siret, Organisme>,
    /// For `date-information` (the next information-collective dates).
    pub today: Date,
}

/// The start of a full LHÉO document. `horodatage_export` is RFC 3339 (volatile: not part
/// of any hashed fragment).
pub fn document_header(horodatage_export: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<lheo xmlns=\"{NAMESPACE}\" horodatage-export=\"{horodatage_export}\">\n<offres>\n"
    )
}

/// The end of a full LHÉO document.
pub const DOCUMENT_FOOTER: &str = "</offres>\n</lheo>\n";

/// One offer as LHÉO: a `<formation>` element starting at column 0 and ending with
/// `</formation>\n`.
#[derive(Clone, Debug)]
pub struct Fragment {
    pub xml: String,
    /// LHÉO `action`s written (groups of sessions sharing action-level values).
    pub actions: usize,
    pub sessions: usize,
}

/// Writes one offer, or returns every value that LHÉO cannot hold.
pub fn write_formation(offre: &Offre, ctx: &WriterContext) -> Result<Fragment, Vec<Violation>> {
    let mut e = Emitter::new();
    let actions = formation(&mut e, offre, ctx);
    let (xml, violations) = e.take();
    if violations.is_empty() {
        Ok(Fragment {
            xml,
            actions,
            sessions: offre.sessions.len(),
        })
    } else {
        Err(violations)
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

fn join_texts(parts: &[Option<&Text>], sep: &str) -> Option<String> {
    let present: Vec<&str> = parts.iter().flatten().map(|t| t.as_str()).collect();
    if present.is_empty() {
        None
    } else {
        Some(present.join(sep))
    }
}

/// LHÉO `intitule-formation`: the formation's title, completed by the action's
/// "complément intitulé" (SOFI shows them the same way).
pub fn intitule(offre: &Offre) -> String {
    match &offre.action.complement_intitule {
        Some(c) => format!("{} - {}", offre.formation.intitule, c),
        None => offre.formation.intitule.to_string(),
    }
}

/// LHÉO `contenu-formation`: the formation's description, then the action's complément
/// programme; without either, the blocs de compétences with their programmes (the content
/// of the Certif Info sheet SOFI shows).
pub fn contenu(offre: &Offre) -> Option<String> {
    join_texts(
        &[
            offre.formation.description.as_ref(),
            offre.action.complement_programme.as_ref(),
        ],
        "\n\n",
    )
    .or_else(|| {
        let blocs: Vec<String> = offre
            .formation
            .blocs
            .iter()
            .map(|b| match &b.programme {
                Some(p) => format!("{} ({}) :\n{}", b.intitule, b.code, p),
                None => format!("{} ({})", b.intitule, b.code),
            })
            .collect();
        (!blocs.is_empty()).then(|| blocs.join("\n\n"))
    })
}

/// LHÉO `resultats-attendus`: the action's, else the formation's; for a certifying
/// formation without either, the certification it leads to.
pub fn resultats_attendus(offre: &Offre) -> Option<String> {
    let f = &offre.formation;
    if let Some(r) = offre
        .action
        .resultats_attendus
        .as_ref()
        .or(f.resultats_attendus.as_ref())
    {
        return Some(r.to_string());
    }
    if !f.type_certification.certifiante() {
        return None;
    }
    let code = match (&f.rncp, &f.certifinfo) {
        (Some(r), _) => format!(" ({r})"),
        (None, Some(c)) => format!(" (Certif Info {c})"),
        (None, None) => String::new(),
    };
    let validation = match f.validation {
        Validation::Totale => "validation totale",
        Validation::Partielle => "validation partielle par blocs de compétences",
    };
    Some(format!(
        "{} : {}{code}, {validation}.",
        f.type_certification.libelle(),
        f.intitule
    ))
}

/// LHÉO `conditions-specifiques`: pré-requis and their comment, or "aucune" as the LHÉO
/// documentation asks when there is no condition.
pub fn conditions_specifiques(action: &Action) -> String {
    join_texts(
        &[
            action.prerequis.as_ref(),
            action.commentaire_prerequis.as_ref(),
        ],
        "\n",
    )
    .unwrap_or_else(|| "aucune".to_owned())
}

fn formation(e: &mut Emitter, offre: &Offre, ctx: &WriterContext) -> usize {
    let lheo = offre.extras_lheo.as_ref();
    if let Some(x) = lheo.filter(|x| !x.attrs.is_empty()) {
        e.keep_attrs(&x.attrs);
    }
    let dates = formation_dates(offre, ctx);
    open_record(
        e,
        "formation",
        "f",
        &offre.numero.to_string(),
        lheo.and_then(|x| x.numero.as_ref()),
        (offre.cree_le, offre.modifie_le),
        dates,
    );
    formation_textes(e, offre);
    formation_contact(e, offre, ctx);
    formation_parcours_et_niveaux(e, offre);

    let groups = group_sessions(offre, ctx, &mut e.violations);
    let actions = groups.len();
    for group in groups {
        action(e, offre, &group, ctx);
    }

    organisme_responsable(e, offre, ctx);
    formation_extras(e, offre);
    // What an imported document held beyond the model, back where it was.
    for n in lheo.map(|x| x.xml.as_slice()).unwrap_or_default() {
        e.node(n);
    }

    e.close();
    actions
}

/// The domain codes, the title, objectives, expected results, content and whether it
/// certifies.
fn formation_textes(e: &mut Emitter, offre: &Offre) {
    let f = &offre.formation;
    e.open("domaine-formation", &[]);
    for code in &f.formacodes {
        e.raw(
            "code-FORMACODE",
            &[("ref", FORMACODE_VERSION)],
            code.as_str(),
        );
    }
    for code in &f.codes_nsf {
        e.raw("code-NSF", &[], code.as_str());
    }
    for code in &f.codes_rome {
        e.raw("code-ROME", &[], code.as_str());
    }
    e.close();

    e.text(
        "intitule-formation",
        "formation.intitule + action.complement_intitule",
        &intitule(offre),
        1,
        255,
    );
    e.req_text(
        "objectif-formation",
        "action.objectifs | formation.objectif",
        offre
            .action
            .objectifs
            .as_ref()
            .or(f.objectif.as_ref())
            .map(Text::as_str),
        1,
        3000,
    );
    e.req_text(
        "resultats-attendus",
        "action.resultats_attendus | formation.resultats_attendus",
        resultats_attendus(offre).as_deref(),
        1,
        3000,
    );
    e.req_text(
        "contenu-formation",
        "formation.description + action.complement_programme",
        contenu(offre).as_deref(),
        1,
        3000,
    );
    e.raw(
        "certifiante",
        &[],
        yes_no(f.type_certification.certifiante()),
    );
}

fn formation_contact(e: &mut Emitter, offre: &Offre, ctx: &WriterContext) {
    let dispensateur = ctx.organismes.get(&offre.action.site_dispensateur.siret);
    let site_dispensateur = dispensateur.and_then(|o| o.site(&offre.action.site_dispensateur.site));
    e.open("contact-formation", &[]);
    // Who answers candidates about the formation: the reception (dict-type-contact 4),
    // whether it is the action's contact, the site's or the organisme's.
    e.raw("type-contact", &[], TYPE_CONTACT_ACCUEIL);
    let contact = offre
        .action
        .contact
        .as_ref()
        .or(site_dispensateur.and_then(|s| s.contact.as_ref()))
        .or(dispensateur.and_then(|o| o.contacts.first()));
    coordonnees_contact(e, contact, dispensateur, "action.contact");
    e.close();
}

/// The parcours, the levels, the certification and the formation's page.
fn formation_parcours_et_niveaux(e: &mut Emitter, offre: &Offre) {
    let f = &offre.formation;
    // Formation-level in LHÉO, session-level in SOFI: one value when the sessions agree,
    // "mixte" (4) when they differ.
    let mut parcours = offre.sessions.iter().filter_map(|s| s.type_parcours.lheo());
    match parcours.next() {
        Some(first) => {
            let code = if parcours.all(|p| p == first) {
                first
            } else {
                "4"
            };
            e.raw("parcours-de-formation", &[], code);
        }
        None => e.violation(
            "parcours-de-formation",
            "session.type_parcours",
            ViolationKind::Missing,
        ),
    }
    e.raw(
        "code-niveau-entree",
        &[],
        &offre.action.niveau_entree.code().to_string(),
    );
    e.raw("objectif-general-formation", &[], f.objectif_general.lheo());
    if f.rncp.is_some() || f.certifinfo.is_some() {
        e.open("certification", &[]);
        // The number alone, as the national files write it and their readers parse it.
        if let Some(r) = &f.rncp {
            e.raw("code-RNCP", &[], r.numero());
        }
        if let Some(c) = &f.certifinfo {
            e.raw("code-CERTIFINFO", &[], c.as_str());
        }
        e.close();
    }
    if let Some(n) = f.niveau_sortie {
        e.raw("code-niveau-sortie", &[], &n.code().to_string());
    }
    // One LHÉO formation per SOFI action, so the action's page ("URL Action") is also the
    // formation's: readers of the national files look for it here, others in url-action.
    if let Some(u) = &offre.action.url_action {
        e.open("url-formation", &[]);
        e.text("urlweb", "action.url_action", u.as_str(), 3, 400);
        e.close();
    }
}

fn formation_extras(e: &mut Emitter, offre: &Offre) {
    let f = &offre.formation;
    e.open("extras", &[("info", "sofi-formation")]);
    e.raw(
        "extra",
        &[("info", "type-certification")],
        f.type_certification.libelle(),
    );
    e.raw(
        "extra",
        &[("info", "individualisation-par-bloc")],
        yes_no(f.individualisation_par_bloc),
    );
    e.raw(
        "extra",
        &[("info", "validation")],
        match f.validation {
            Validation::Totale => "totale",
            Validation::Partielle => "partielle",
        },
    );
    e.raw(
        "extra",
        &[("info", "mandataire")],
        offre.mandataire.as_str(),
    );
    e.close();
}

type Timestamp = chrono::DateTime<chrono::FixedOffset>;

/// Opens a `formation` or `session` with its SOFI code as `numero`, a document-unique
/// `id` (an `xs:ID` cannot start with a digit, hence the prefix), SOFI's timestamps and
/// the `datecrea` / `datemaj` days ([`Dates`]). An offer imported from a foreign LHÉO
/// document keeps that document's `numero`.
fn open_record(
    e: &mut Emitter,
    name: &'static str,
    id_prefix: &str,
    code: &str,
    foreign: Option<&LheoNumero>,
    (cree, modifie): (Option<Timestamp>, Option<Timestamp>),
    dates: Dates,
) {
    let (numero, id) = match foreign {
        Some(n) => (n.as_str(), format!("{id_prefix}{}", n.id_body())),
        None => (code, format!("{id_prefix}{code}")),
    };
    let crea = cree.map(|d| d.to_rfc3339());
    let maj = modifie.map(|d| d.to_rfc3339());
    let mut attrs: Vec<(&str, &str)> = vec![("numero", numero), ("id", &id)];
    if let Some(c) = &crea {
        attrs.push(("horodatage-creation", c));
    }
    if let Some(m) = &maj {
        attrs.push(("horodatage-modification", m));
    }
    let (datecrea, datemaj) = dates.lheo();
    if let Some(c) = &datecrea {
        attrs.push(("datecrea", c));
    }
    if let Some(m) = &datemaj {
        attrs.push(("datemaj", m));
    }
    e.open(name, &attrs);
}

/// The `datecrea` and `datemaj` of a `formation`, `action` or `session`: days, written
/// `YYYYMMDD` as the national files write them (data-inclusion reads them as dates and
/// keeps the most recent action).
///
/// They come from SOFI's timestamps when the record has them, else from the store's own
/// dates (first imported, content last changed), never from the export: an unchanged offer
/// keeps its bytes and its hash, and an offer whose content changed gets the day of the
/// import that changed it in the same generation that reports it updated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dates {
    pub crea: Option<Date>,
    pub maj: Option<Date>,
}

impl Dates {
    /// The dates of one record: SOFI's when given, else the store's.
    fn of(cree: Option<Timestamp>, modifie: Option<Timestamp>, stocke: StoreDates) -> Dates {
        Dates {
            crea: cree.map(jour).or(stocke.created),
            maj: modifie.map(jour).or(stocke.changed),
        }
    }

    /// The dates of a record made of several: created with the first, changed with the
    /// last.
    fn merge(self, other: Dates) -> Dates {
        let min = |a: Option<Date>, b: Option<Date>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Dates {
            crea: min(self.crea, other.crea),
            maj: self.maj.max(other.maj),
        }
    }

    /// Content changed by a record that does not say when it was created (an organisme
    /// whose address is written in the offer): only `maj` may move.
    fn changed_with(self, changed: Option<Date>) -> Dates {
        Dates {
            maj: self.maj.max(changed),
            ..self
        }
    }

    /// `YYYYMMDD` strings; a `datemaj` is never before the `datecrea` (a SOFI creation
    /// timestamp later than the store's last change would otherwise say so).
    fn lheo(self) -> (Option<String>, Option<String>) {
        let maj = match (self.crea, self.maj) {
            (Some(c), Some(m)) => Some(c.max(m)),
            (c, m) => m.or(c),
        };
        (self.crea.map(|d| d.lheo()), maj.map(|d| d.lheo()))
    }
}

/// The day of a SOFI timestamp in Europe/Paris, where SOFI's users live: 23:30 UTC on
/// 31 May is 1 June for them.
fn jour(t: Timestamp) -> Date {
    Date(t.with_timezone(&chrono_tz::Europe::Paris).date_naive())
}

fn session_dates(s: &Session) -> Dates {
    Dates::of(s.cree_le, s.modifie_le, s.stocke)
}

/// The organismes whose data an action of `s` writes (lieu de formation, formateur).
fn action_organismes<'c>(
    offre: &Offre,
    s: &Session,
    ctx: &WriterContext<'c>,
) -> [Option<&'c Organisme>; 2] {
    [
        ctx.organismes.get(&s.site_lieu.siret),
        ctx.organismes.get(&offre.action.site_dispensateur.siret),
    ]
}

/// The day an organisme's data last *changed* in the store: not the day it was first
/// imported, which says nothing about the offers that write it (their own dates do).
fn organisme_change(o: &Organisme) -> Option<Date> {
    o.stocke.changed.filter(|c| Some(*c) != o.stocke.created)
}

/// An action: its offer's own dates, its sessions', and the last change of an organisme
/// it writes.
fn action_dates(offre: &Offre, sessions: &[&Session], ctx: &WriterContext) -> Dates {
    let mut d = Dates::of(offre.cree_le, offre.modifie_le, offre.stocke);
    for s in sessions {
        d = d.merge(session_dates(s));
        for o in action_organismes(offre, s, ctx).into_iter().flatten() {
            d = d.changed_with(organisme_change(o));
        }
    }
    d
}

/// A formation: everything in it, including the organisme responsable.
fn formation_dates(offre: &Offre, ctx: &WriterContext) -> Dates {
    let sessions: Vec<&Session> = offre.sessions.iter().collect();
    let mut d = action_dates(offre, &sessions, ctx);
    for s in &offre.sessions {
        if let Some(o) = ctx.organismes.get(&s.organisme_responsable.siret) {
            d = d.changed_with(organisme_change(o));
        }
    }
    d
}

/// A `coordonnees` element for a contact; falls back to the organisme's own telephone and
/// e-mail so that `contact-formation` (required by LHÉO) always says something true.
fn coordonnees_contact(
    e: &mut Emitter,
    contact: Option<&Contact>,
    org: Option<&Organisme>,
    field: &'static str,
) {
    e.open("coordonnees", &[]);
    match contact {
        Some(c) if !c.is_empty() => contact_fields(e, c, field),
        _ => {
            if let Some(o) = org {
                // The name is our fallback, not the organisme's input: written only when
                // it fits LHÉO's 50 characters, never a reason to reject the offer.
                let nom = o.nom_ou_raison_sociale();
                if nom.chars() <= 50 {
                    e.raw("nom", &[], nom.as_str());
                }
                telephone_courriel(e, o);
            }
        }
    }
    e.close();
}

fn contact_fields(e: &mut Emitter, c: &Contact, field: &'static str) {
    e.opt_text(
        "civilite",
        field,
        c.civilite.as_ref().map(Text::as_str),
        1,
        50,
    );
    e.opt_text("nom", field, c.nom.as_ref().map(Text::as_str), 1, 50);
    e.opt_text("prenom", field, c.prenom.as_ref().map(Text::as_str), 1, 50);
    if let Some(t) = &c.telephone {
        e.open("telfixe", &[]);
        e.text("numtel", field, t.as_str(), 1, 25);
        e.close();
    }
    e.opt_text(
        "courriel",
        field,
        c.courriel.as_ref().map(Text::as_str),
        3,
        160,
    );
}

fn adresse(e: &mut Emitter, a: &Adresse, field: &'static str) {
    e.open("adresse", &[]);
    e.opt_text(
        "denomination",
        field,
        a.denomination.as_ref().map(Text::as_str),
        1,
        255,
    );
    if a.lignes.is_empty() {
        e.violation("ligne", field, ViolationKind::Missing);
    }
    for l in a.lignes.iter() {
        e.text("ligne", field, l.as_str(), 1, 50);
    }
    if a.lignes.len() > 4 {
        e.violation(
            "ligne",
            field,
            ViolationKind::TooLong {
                max: 4,
                actual: a.lignes.len(),
            },
        );
    }
    e.raw("codepostal", &[], a.code_postal.as_str());
    e.text("ville", field, a.ville.as_str(), 1, 50);
    // National readers filter by `region`; an address with no département we can derive
    // (a collectivité d'outre-mer, a code postal of no département) is written without
    // either, and rule ADRESSE_SANS_REGION tells the organisme.
    let departement = Departement::of_adresse(a);
    if let Some(d) = departement {
        e.raw("departement", &[], d.as_str());
    }
    if let Some(c) = &a.code_insee {
        e.raw("code-INSEE-commune", &[], c.as_str());
    }
    if let Some(d) = departement {
        e.raw("region", &[], d.region());
        e.raw("pays", &[], "FR");
    }
    if let (Some(lat), Some(lon)) = (a.latitude, a.longitude) {
        e.open("geolocalisation", &[]);
        e.raw("latitude", &[], &lat.to_string());
        e.raw("longitude", &[], &lon.to_string());
        e.close();
    }
    e.close();
}

/// Sessions of one LHÉO action: they share every action-level value.
struct Group<'o> {
    /// Action-level XML before the sessions (`rythme-formation` … `duree-cycle`).
    head: String,
    /// Action-level XML after `date-information` (`restauration` … `extras`).
    tail: String,
    sessions: Vec<&'o Session>,
}

/// Violations met while rendering a session's action-level values go to `violations`,
/// attributed to that session, and the session is left out of every group.
fn group_sessions<'o>(
    offre: &'o Offre,
    ctx: &WriterContext,
    violations: &mut Vec<Violation>,
) -> Vec<Group<'o>> {
    let mut groups: Vec<Group<'o>> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for s in &offre.sessions {
        // Render the action-level parts at the depth they will have (inside <action>).
        // An imported document's attributes on the action's elements: each session's
        // rendering gets them all, so sessions of one action still render alike.
        let kept = offre.extras_lheo.as_ref().map(|x| x.attrs.as_slice());
        let kept = kept.filter(|k| !k.is_empty());
        let mut head = Emitter::new();
        head.session = Some(s.code);
        if let Some(k) = kept {
            head.keep_attrs(k);
        }
        head.open("formation", &[]);
        head.open("action", &[]);
        action_head(&mut head, offre, s, ctx);
        let mut tail = Emitter::new();
        tail.session = Some(s.code);
        if let Some(k) = kept {
            tail.keep_attrs(k);
        }
        tail.open("formation", &[]);
        tail.open("action", &[]);
        action_tail(&mut tail, offre, s, ctx);
        let (head_xml, mut v1) = head.take();
        let (tail_xml, v2) = tail.take();
        v1.extend(v2);
        if !v1.is_empty() {
            violations.extend(v1);
            continue;
        }
        // Drop the two synthetic open tags.
        let head_xml = strip_opening(&head_xml, 2);
        let tail_xml = strip_opening(&tail_xml, 2);
        match index.get(&(head_xml.clone(), tail_xml.clone())) {
            Some(&i) => groups[i].sessions.push(s),
            None => {
                index.insert((head_xml.clone(), tail_xml.clone()), groups.len());
                groups.push(Group {
                    head: head_xml,
                    tail: tail_xml,
                    sessions: vec![s],
                });
            }
        }
    }
    groups
}

fn strip_opening(xml: &str, lines: usize) -> String {
    let mut rest = xml;
    for _ in 0..lines {
        rest = rest.split_once('\n').map(|(_, r)| r).unwrap_or("");
    }
    rest.to_owned()
}

/// The `numero` of an LHÉO action: the smallest FAS code among its sessions, which names
/// the group without depending on any value it renders. Editing places, dates, texts or
/// recruitment keeps it; only regrouping the sessions (an edit that makes a session
/// differ from its group, or a session added before the first) may change it. Consumers
/// such as anotea reconcile actions and sessions by `numero`, so a number that followed
/// the content would make every edit a withdrawal and a creation. Unique in the offer:
/// each session is in exactly one group. (`a` + the code is its `id`; the session's own
/// `id` is `s` + the code.)
pub fn action_numero(sessions: &[&Session]) -> Option<FasCode> {
    sessions.iter().map(|s| s.code).min()
}

fn action(e: &mut Emitter, offre: &Offre, group: &Group, ctx: &WriterContext) {
    let numero = action_numero(&group.sessions)
        .expect("a group has at least one session")
        .to_string();
    let id = format!("a{numero}");
    let (datecrea, datemaj) = action_dates(offre, &group.sessions, ctx).lheo();
    let mut attrs: Vec<(&str, &str)> = vec![("numero", &numero), ("id", &id)];
    if let Some(c) = &datecrea {
        attrs.push(("datecrea", c));
    }
    if let Some(m) = &datemaj {
        attrs.push(("datemaj", m));
    }
    e.open("action", &attrs);
    e.buf.push_str(&group.head);
    for s in &group.sessions {
        e.session = Some(s.code);
        session(e, offre, s, ctx);
    }
    e.session = None;
    information(e, &group.sessions, ctx);
    e.buf.push_str(&group.tail);
    e.close();
}

/// `adresse-information` and up to three `date-information`: the information
/// collectives for consumers that read only the 2.2-era elements.
fn information(e: &mut Emitter, sessions: &[&Session], ctx: &WriterContext) {
    let mut ics: Vec<&InformationCollective> = sessions
        .iter()
        .flat_map(|s| s.informations_collectives.iter())
        .filter(|ic| ic.date.is_some_and(|d| d >= ctx.today))
        .collect();
    ics.sort_by_key(|ic| ic.date);
    if let Some(lieu) = ics.iter().find_map(|ic| ic.lieu.as_ref()) {
        e.open("adresse-information", &[]);
        adresse(e, lieu, "session.informations_collectives.lieu");
        e.close();
    }
    let mut dates: Vec<Date> = ics.iter().filter_map(|ic| ic.date).collect();
    dates.dedup();
    for d in dates.iter().take(3) {
        e.open("date-information", &[]);
        e.raw("date", &[], &d.lheo());
        e.close();
    }
}

fn action_head(e: &mut Emitter, offre: &Offre, s: &Session, ctx: &WriterContext) {
    let a = &offre.action;
    let d = &s.dispositif;
    let rythme = s.rythmes.as_ref().map(|r| {
        match commentaire_duree(s).filter(|(_, place)| *place == PlaceCommentaire::Rythme) {
            Some((c, _)) => format!("{r}\n{c}"),
            None => r.to_string(),
        }
    });
    e.req_text(
        "rythme-formation",
        "session.rythmes",
        rythme.as_deref(),
        1,
        3000,
    );
    publics_vises(e, d);
    if let Some(p) = a.public_vise.as_ref().and_then(info_public_vise) {
        e.raw("info-public-vise", &[], p);
    }
    action_conditions(e, a, s);
    lieu_de_formation(e, s, ctx);
    e.raw("modalites-entrees-sorties", &[], s.entrees_sorties.lheo());
    if let Some(u) = &a.url_action {
        e.open("url-action", &[]);
        e.text("urlweb", "action.url_action", u.as_str(), 3, 400);
        e.close();
    }
}

// Only V14 codes, the version national readers accept; the others are left out and rule
// PUBLIC_HORS_V14 tells the organisme (PUBLIC_V14_ABSENT refuses a session left with none,
// so the violation below is only for a session the rules did not see).
fn publics_vises(e: &mut Emitter, d: &Dispositif) {
    let publics = codes_public_v14(d);
    if publics.is_empty() {
        e.violation(
            "code-public-vise",
            "dispositif.publics",
            ViolationKind::Missing,
        );
    }
    if publics.len() > 10 {
        e.violation(
            "code-public-vise",
            "dispositif.publics",
            ViolationKind::TooLong {
                max: 10,
                actual: publics.len(),
            },
        );
    }
    for p in publics.iter().take(10) {
        e.raw(
            "code-public-vise",
            &[("ref", FORMACODE_VERSION_PUBLIC)],
            p.as_str(),
        );
    }
}

fn action_conditions(e: &mut Emitter, a: &Action, s: &Session) {
    let d = &s.dispositif;
    e.raw(
        "niveau-entree-obligatoire",
        &[],
        yes_no(a.niveau_entree_obligatoire),
    );
    e.text(
        "modalites-alternance",
        "session.periodes_formation",
        &modalites_alternance(s),
        1,
        3000,
    );
    match s.modalites_enseignement {
        Some(m) => e.raw("modalites-enseignement", &[], m.lheo()),
        None => e.violation(
            "modalites-enseignement",
            "session.modalites_enseignement",
            ViolationKind::Missing,
        ),
    }
    e.text(
        "conditions-specifiques",
        "action.prerequis + action.commentaire_prerequis",
        &conditions_specifiques_et_public(a),
        1,
        3000,
    );
    e.raw(
        "prise-en-charge-frais-possible",
        &[],
        yes_no(d.prise_en_charge_frais_pedagogiques.unwrap_or(false)),
    );
}

fn lieu_de_formation(e: &mut Emitter, s: &Session, ctx: &WriterContext) {
    let lieu_org = ctx.organismes.get(&s.site_lieu.siret);
    match lieu_org.and_then(|o| o.site(&s.site_lieu.site)) {
        Some(site) => {
            e.open("lieu-de-formation", &[("numero", site.code.as_str())]);
            e.open("SIRET-lieu-formation", &[]);
            e.raw("SIRET", &[], s.site_lieu.siret.as_str());
            e.close();
            e.open("coordonnees", &[]);
            let mut a2 = site.adresse.clone();
            if a2.denomination.is_none() {
                a2.denomination = Text::new(&format!(
                    "{} - {}",
                    lieu_org
                        .map(|o| o.raison_sociale.as_str())
                        .unwrap_or_default(),
                    site.nom
                ));
            }
            adresse(e, &a2, "session.site_lieu");
            e.close();
            e.close();
        }
        None => e.violation(
            "lieu-de-formation",
            "session.site_lieu",
            ViolationKind::Missing,
        ),
    }
}

/// The public codes of a dispositif that FORMACODE V14 has, in input order.
pub fn codes_public_v14(d: &Dispositif) -> Vec<&Formacode> {
    d.publics
        .iter()
        .filter(|p| publics_v14::libelle(p.as_str()).is_some())
        .collect()
}

/// LHÉO `info-public-vise` (≤ 250): the public visé when it fits; when it does not (the
/// procedure's own 1E1F text is some 700 characters), its first paragraph when that one
/// fits, without a list dash: the main public, which is what a reader showing one line
/// wants. The whole text reaches the standard elements through `conditions-specifiques`
/// ([`conditions_specifiques_et_public`]), and stays whole in extra `public-vise`.
pub fn info_public_vise(p: &Text) -> Option<&str> {
    if p.chars() <= INFO_PUBLIC_VISE_MAX {
        return Some(p.as_str());
    }
    let first = p.as_str().lines().next()?.trim();
    let first = first.strip_prefix("- ").unwrap_or(first).trim();
    (!first.is_empty() && first.chars().count() <= INFO_PUBLIC_VISE_MAX).then_some(first)
}

/// LHÉO's limit of `info-public-vise`.
const INFO_PUBLIC_VISE_MAX: usize = 250;

/// What [`conditions_specifiques_et_public`] appends for a public visé longer than
/// `info-public-vise` allows.
pub const PUBLIC_VISE_PREFIX: &str = "\n\nPublic visé :\n";

/// LHÉO `conditions-specifiques`, with a public visé too long for `info-public-vise`
/// appended whole: its LHÉO definition is the conditions of access, which is what such a
/// text says (age, status, who is prioritary, who validates an entry). Only when the
/// whole still fits the 3000 characters; otherwise extra `public-vise` alone holds it.
pub fn conditions_specifiques_et_public(a: &Action) -> String {
    let base = conditions_specifiques(a);
    match a
        .public_vise
        .as_ref()
        .filter(|p| p.chars() > INFO_PUBLIC_VISE_MAX)
    {
        Some(p) => {
            // Without pré-requis, the public alone rather than "aucune" before it.
            let with = if a.prerequis.is_none() && a.commentaire_prerequis.is_none() {
                format!("{}{p}", PUBLIC_VISE_PREFIX.trim_start())
            } else {
                format!("{base}{PUBLIC_VISE_PREFIX}{p}")
            };
            if with.chars().count() <= 3000 {
                with
            } else {
                base
            }
        }
        None => base,
    }
}

/// Where a session's "commentaire durée" goes. SOFI's field is free text that the
/// procedure uses for three things (l. 454 and 368): an elapsed duration, which is what
/// LHÉO `duree-indicative` means ("durée … en texte libre, ex. 2 ans"); the dates of the
/// module de remise à niveau contextualisé, which is the organisation of the formation in
/// time, `rythme-formation`; and the note that a session is opened on an intention
/// d'embauche, which says how candidates are recruited, `modalites-recrutement`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaceCommentaire {
    Duree,
    Rythme,
    Recrutement,
}

impl PlaceCommentaire {
    /// Where this commentaire durée goes: by what it speaks of.
    pub fn of(c: &Text) -> PlaceCommentaire {
        if crate::rules::texte::mentionne_intention_embauche(c.as_str()) {
            PlaceCommentaire::Recrutement
        } else if crate::rules::texte::plier(c.as_str()).contains("remise a niveau") {
            PlaceCommentaire::Rythme
        } else {
            PlaceCommentaire::Duree
        }
    }
}

/// The session's commentaire durée and where it goes (see [`PlaceCommentaire`]).
pub fn commentaire_duree(s: &Session) -> Option<(&Text, PlaceCommentaire)> {
    let c = s.commentaire_duree.as_ref()?;
    Some((c, PlaceCommentaire::of(c)))
}

/// LHÉO `frais-restants` ("frais restant à la charge du stagiaire"): the additional fees
/// not covered, and the certification fees when the dispositif says they are not
/// included. In SOFI both sit in the block of fees *not covered* ("Montant total des frais
/// additionnels non pris en charge", "Frais afférents au passage de la certification"):
/// `frais_certification_inclus` is `false` when SOFI answers "oui" there.
pub fn frais_restants(d: &Dispositif) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(f) = d.frais_additionnels {
        parts.push(format!(
            "Frais additionnels non pris en charge : {} €",
            f.decimal()
        ));
    }
    if d.frais_certification_inclus == Some(false) {
        parts.push(match d.frais_certification {
            Some(f) => format!(
                "Frais de passage de la certification non pris en charge : {} €",
                f.decimal()
            ),
            None => "Frais de passage de la certification non pris en charge.".to_owned(),
        });
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// LHÉO `detail-conditions-prise-en-charge` (≤ 600): who funds the place and under which
/// programme, which national readers show to the public. Every dispositif here is an order
/// of the Conseil régional ([`CODE_FINANCEUR_REGION`]); the programme's label is SOFI's.
/// Not written when a very long label would not fit (it stays in extras).
pub fn detail_prise_en_charge(d: &Dispositif) -> Option<String> {
    let pedagogiques = match d.prise_en_charge_frais_pedagogiques {
        Some(true) => " Frais pédagogiques pris en charge.",
        Some(false) => " Frais pédagogiques non pris en charge.",
        None => "",
    };
    let t = format!(
        "Place financée par la Région Pays de la Loire au titre du programme « {} ».{pedagogiques}",
        d.programme
    );
    (t.chars().count() <= 600).then_some(t)
}

/// LHÉO `modalites-alternance` (required): what SOFI knows of the split between centre
/// and company: durations and the alternance rhythm. The périodes de formation are dated,
/// so they are the session's own (its extras), not the action's: putting them here would
/// make every session an LHÉO action of its own.
pub(crate) fn modalites_alternance(s: &Session) -> String {
    let mut out = String::new();
    match (s.duree_centre_heures, s.duree_entreprise_heures) {
        (Some(c), Some(en)) if en > 0 => {
            let _ = write!(out, "En centre : {c} h ; en entreprise : {en} h.");
        }
        (Some(c), _) => {
            let _ = write!(out, "En centre : {c} h ; pas de période en entreprise.");
        }
        (None, Some(en)) if en > 0 => {
            let _ = write!(out, "En entreprise : {en} h.");
        }
        _ => out.push_str("Pas de période en entreprise."),
    }
    if let Some(c) = &s.cycle_alternance {
        let unite = match c.unite {
            UniteRythme::Heure => "heure(s)",
            UniteRythme::DemiJournee => "demi-journée(s)",
            UniteRythme::Journee => "jour(s)",
            UniteRythme::Semaine => "semaine(s)",
            UniteRythme::Mois => "mois",
        };
        let _ = write!(
            out,
            "\nRythme de l'alternance : {} {unite} en entreprise, {} {unite} en centre.",
            c.unites_entreprise, c.unites_centre
        );
    }
    out
}

fn action_tail(e: &mut Emitter, offre: &Offre, s: &Session, ctx: &WriterContext) {
    let a = &offre.action;
    let d = &s.dispositif;
    action_modalites(e, s, ctx);
    for eq in &a.equipements {
        equipement(e, eq);
    }
    action_prix_et_duree(e, s);
    e.raw("conventionnement", &[], "1");
    organisme_formateur(e, &a.site_dispensateur, ctx);
    e.open("organisme-financeur", &[]);
    e.raw("code-financeur", &[], CODE_FINANCEUR_REGION);
    if let Some(p) = d.places {
        e.raw("nb-places-financees", &[], &p.to_string());
    }
    e.close();
    action_extras(e, a, s);
}

/// Access for the disabled, the ways of recruiting and of teaching.
fn action_modalites(e: &mut Emitter, s: &Session, ctx: &WriterContext) {
    let lieu_site = ctx
        .organismes
        .get(&s.site_lieu.siret)
        .and_then(|o| o.site(&s.site_lieu.site));
    e.opt_text(
        "acces-handicapes",
        "site.acces_handicapes",
        lieu_site
            .and_then(|x| x.acces_handicapes.as_ref())
            .map(Text::as_str),
        1,
        250,
    );
    let modalites_recrutement = s
        .modalites_recrutement_texte
        .as_ref()
        .map(|t| t.to_string())
        .or_else(|| modalites_recrutement_libelles(s));
    let note = commentaire_duree(s)
        .filter(|(_, place)| *place == PlaceCommentaire::Recrutement)
        .map(|(c, _)| c.as_str());
    let modalites_recrutement = match (modalites_recrutement, note) {
        (Some(m), Some(n)) => Some(format!("{m}\n{n}")),
        (m, n) => m.or(n.map(str::to_owned)),
    };
    e.opt_text(
        "modalites-recrutement",
        "session.modalites_recrutement_texte",
        modalites_recrutement.as_deref(),
        1,
        3000,
    );
    e.opt_text(
        "modalites-pedagogiques",
        "session.modalites_pedagogiques_texte",
        s.modalites_pedagogiques_texte.as_ref().map(Text::as_str),
        1,
        200,
    );
    if s.modalites_pedagogiques.len() > 5 {
        e.violation(
            "code-modalite-pedagogique",
            "session.modalites_pedagogiques",
            ViolationKind::TooLong {
                max: 5,
                actual: s.modalites_pedagogiques.len(),
            },
        );
    }
    for m in s.modalites_pedagogiques.iter().take(5) {
        e.raw(
            "code-modalite-pedagogique",
            &[("ref", FORMACODE_VERSION_MODALITES)],
            m.as_str(),
        );
    }
}

/// Without SOFI's own text: "Information collective, entretien." from the session's ways of
/// recruiting, capitalised as a sentence.
fn modalites_recrutement_libelles(s: &Session) -> Option<String> {
    let mut labels: Vec<&str> = Vec::new();
    if !s.informations_collectives.is_empty() {
        labels.push("information collective");
    }
    labels.extend(s.modalites_recrutement.iter().map(|m| m.libelle()));
    if labels.is_empty() {
        return None;
    }
    let joined = labels.join(", ");
    let mut c = joined.chars();
    Some(
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
            + ".",
    )
}

fn equipement(e: &mut Emitter, eq: &Equipement) {
    e.open("equipement", &[]);
    e.raw("type-equipement", &[], eq.type_equipement.lheo());
    if let Some(c) = eq.cout_indicatif {
        e.raw("cout-indicatif-equipement", &[], &c.to_string());
    }
    e.opt_text(
        "commentaire",
        "action.equipements.commentaire",
        eq.commentaire.as_ref().map(Text::as_str),
        1,
        500,
    );
    e.close();
}

/// What is left to pay, the price, the durations and the conditions of funding.
fn action_prix_et_duree(e: &mut Emitter, s: &Session) {
    let d = &s.dispositif;
    if let Some(f) = frais_restants(d) {
        e.text(
            "frais-restants",
            "dispositif.frais_additionnels",
            &f,
            1,
            200,
        );
    }
    if let Some(ttc) = d.frais_ttc {
        e.text(
            "prix-total-TTC",
            "dispositif.frais_ttc",
            &ttc.decimal(),
            1,
            10,
        );
    }
    let duree = commentaire_duree(s).filter(|(_, place)| *place == PlaceCommentaire::Duree);
    if let Some((c, _)) = duree.filter(|(c, _)| c.chars() <= 150) {
        e.raw("duree-indicative", &[], c.as_str());
    }
    if let Some(h) = s.duree_centre_heures {
        e.raw("nombre-heures-centre", &[], &h.to_string());
    }
    if let Some(h) = s.duree_entreprise_heures {
        e.raw("nombre-heures-entreprise", &[], &h.to_string());
    }
    if s.duree_centre_heures.is_some() || s.duree_entreprise_heures.is_some() {
        let total = u64::from(s.duree_centre_heures.unwrap_or(0))
            + u64::from(s.duree_entreprise_heures.unwrap_or(0));
        e.raw("nombre-heures-total", &[], &total.to_string());
    }
    if let Some(t) = detail_prise_en_charge(d) {
        e.raw("detail-conditions-prise-en-charge", &[], &t);
    }
}

/// The organisme formateur: the action's site dispensateur.
fn organisme_formateur(e: &mut Emitter, sd: &SiteRef, ctx: &WriterContext) {
    let org = ctx.organismes.get(&sd.siret);
    e.open("organisme-formateur", &[("numero", sd.site.as_str())]);
    e.open("SIRET-formateur", &[]);
    e.raw("SIRET", &[], sd.siret.as_str());
    e.close();
    match org {
        Some(o) => e.text(
            "raison-sociale-formateur",
            "organisme.raison_sociale",
            o.raison_sociale.as_str(),
            0,
            250,
        ),
        None => e.violation(
            "raison-sociale-formateur",
            "action.site_dispensateur",
            ViolationKind::Missing,
        ),
    }
    if let Some(c) = org
        .and_then(|o| o.site(&sd.site))
        .and_then(|x| x.contact.as_ref())
        .filter(|c| !c.is_empty())
    {
        e.open("contact-formateur", &[]);
        // The contact of the site where the action is taught: its pedagogical referent.
        e.raw("type-contact", &[], TYPE_CONTACT_PEDAGOGIQUE);
        e.open("coordonnees", &[]);
        contact_fields(e, c, "site.contact");
        e.close();
        e.close();
    }
    e.close();
}

fn action_extras(e: &mut Emitter, a: &Action, s: &Session) {
    // The weekly hours where the national files carry them and data-inclusion reads them:
    // the first `extra` of the action's `extras info="duree-hebdo"`, a number alone.
    if let Some(h) = s.duree_hebdo_heures {
        e.open("extras", &[("info", "duree-hebdo")]);
        e.raw("extra", &[], &h.to_string());
        e.close();
    }
    // What LHÉO has no element for, at action level: the public visé whole when
    // info-public-vise could not hold it, and the commentaire durée whole when it is not
    // the duree-indicative (too long, or written in another element).
    let long_public = a
        .public_vise
        .as_ref()
        .filter(|p| p.chars() > INFO_PUBLIC_VISE_MAX);
    let long_duree = commentaire_duree(s)
        .filter(|(c, place)| *place != PlaceCommentaire::Duree || c.chars() > 150)
        .map(|(c, _)| c);
    let has_extras = a.complement_intitule.is_some()
        || a.le_plus_formation.is_some()
        || a.url_video.is_some()
        || a.url_pdf.is_some()
        || long_public.is_some()
        || long_duree.is_some();
    if has_extras {
        e.open("extras", &[("info", "sofi-action")]);
        let pairs: [(&str, Option<&Text>); 6] = [
            ("complement-intitule", a.complement_intitule.as_ref()),
            ("le-plus-formation", a.le_plus_formation.as_ref()),
            ("url-video", a.url_video.as_ref()),
            ("url-pdf", a.url_pdf.as_ref()),
            ("public-vise", long_public),
            ("commentaire-duree", long_duree),
        ];
        for (k, v) in pairs {
            if let Some(v) = v {
                e.raw("extra", &[("info", k)], v.as_str());
            }
        }
        e.close();
    }
    // Part of the grouping key on purpose: sessions imported from one LHÉO action carry
    // equal copies and stay together; different ones are different actions.
    let kept = s.extras_lheo.as_ref().map(|x| x.action_xml.as_slice());
    for n in kept.unwrap_or_default() {
        e.node(n);
    }
}

fn session(e: &mut Emitter, offre: &Offre, s: &Session, ctx: &WriterContext) {
    let lheo = s.extras_lheo.as_ref();
    open_record(
        e,
        "session",
        "s",
        &s.code.to_string(),
        lheo.and_then(|x| x.numero.as_ref()),
        (s.cree_le, s.modifie_le),
        session_dates(s),
    );
    session_periode(e, s);
    session_adresse_inscription(e, s, ctx);
    session_recrutement(e, s);
    session_contacts(e, s);
    session_certification(e, &offre.formation);
    session_cycle(e, s);
    session_extras(e, s);
    dispositif_extras(e, &s.dispositif);
    for n in lheo.map(|x| x.xml.as_slice()).unwrap_or_default() {
        e.node(n);
    }
    e.close();
}

fn session_periode(e: &mut Emitter, s: &Session) {
    e.open("periode", &[]);
    // LHÉO's conventions for unknown dates; the rules reject such sessions anyway.
    e.raw(
        "debut",
        &[],
        &s.date_debut
            .map(|d| d.lheo())
            .unwrap_or_else(|| "00000000".into()),
    );
    e.raw(
        "fin",
        &[],
        &s.date_fin
            .map(|d| d.lheo())
            .unwrap_or_else(|| "99999999".into()),
    );
    e.close();
}

fn session_adresse_inscription(e: &mut Emitter, s: &Session, ctx: &WriterContext) {
    e.open("adresse-inscription", &[]);
    let site_adresse = ctx
        .organismes
        .get(&s.site_lieu.siret)
        .and_then(|o| o.site(&s.site_lieu.site))
        .map(|x| &x.adresse);
    match s.adresse_inscription.as_ref().or(site_adresse) {
        Some(a) => adresse(e, a, "session.adresse_inscription"),
        None => e.violation(
            "adresse",
            "session.adresse_inscription",
            ViolationKind::Missing,
        ),
    }
    e.close();
}

/// The registration period, the recruitment state, each information collective and the
/// other ways of recruiting.
fn session_recrutement(e: &mut Emitter, s: &Session) {
    if let Some(p) = s.periodes_inscription.first() {
        e.open("periode-inscription", &[]);
        e.open("periode", &[]);
        e.raw("debut", &[], &p.debut.lheo());
        e.raw(
            "fin",
            &[],
            &p.fin.map(|d| d.lheo()).unwrap_or_else(|| "99999999".into()),
        );
        e.close();
        e.close();
    }
    if let Some(r) = s.recrutement {
        e.raw("etat-recrutement", &[], r.lheo());
    }
    for ic in &s.informations_collectives {
        let attrs: Vec<(&str, &str)> = ic
            .code
            .as_ref()
            .map(|c| ("numero", c.as_str()))
            .into_iter()
            .collect();
        e.open("recrutement", &attrs);
        e.raw("modalite-recrutement", &[], "9");
        match (&ic.lieu, &ic.lien_distance) {
            (None, Some(_)) => e.raw("a-distance", &[], "1"),
            (Some(_), None) => e.raw("a-distance", &[], "0"),
            _ => {}
        }
        if let Some(l) = &ic.lieu {
            adresse(e, l, "session.informations_collectives.lieu");
        }
        e.opt_text(
            "urlweb",
            "session.informations_collectives.lien_distance",
            ic.lien_distance.as_ref().map(Text::as_str),
            3,
            400,
        );
        if let Some(p) = ic.places {
            e.raw("nb-places", &[], &p.to_string());
        }
        if let Some(d) = ic.date {
            e.open("periode", &[]);
            e.raw("debut", &[], &d.lheo());
            e.raw("fin", &[], &d.lheo());
            e.close();
        }
        if let Some(h) = ic.heure_debut {
            e.raw("heure-debut", &[], &h.lheo());
        }
        if let Some(h) = ic.heure_fin {
            e.raw("heure-fin", &[], &h.lheo());
        }
        e.opt_text(
            "commentaire",
            "session.informations_collectives.commentaire",
            ic.commentaire.as_ref().map(Text::as_str),
            1,
            500,
        );
        e.close();
    }
    for m in &s.modalites_recrutement {
        e.open("recrutement", &[]);
        e.raw("modalite-recrutement", &[], m.lheo());
        e.close();
    }
}

/// The session's referents and its liaison mail, each a `contact-session`.
fn session_contacts(e: &mut Emitter, s: &Session) {
    let referents: [(&str, &str, Option<&Contact>); 3] = [
        ("1", "", s.referent_pmr.as_ref()),
        ("2", "", s.referent_mobilite.as_ref()),
        ("0", "referent-prf", s.referent_prf.as_ref()),
    ];
    for (type_contact, info, c) in referents {
        if let Some(c) = c.filter(|c| !c.is_empty()) {
            let attrs: Vec<(&str, &str)> = if info.is_empty() {
                vec![]
            } else {
                vec![("info", info)]
            };
            e.open("contact-session", &attrs);
            e.raw("type-contact", &[], type_contact);
            e.open("coordonnees", &[]);
            contact_fields(e, c, "session.referents");
            e.close();
            e.close();
        }
    }
    if let Some(m) = &s.mail_liaison {
        e.open("contact-session", &[("info", "mail-liaison")]);
        e.raw("type-contact", &[], "0");
        e.open("coordonnees", &[]);
        e.text("courriel", "session.mail_liaison", m.as_str(), 3, 160);
        e.close();
        e.close();
    }
}

/// The certification and, when some are validated, the blocs de compétences.
fn session_certification(e: &mut Emitter, f: &Formation) {
    if f.rncp.is_some() || f.certifinfo.is_some() {
        e.open("reference-certification", &[]);
        reference_certification_codes(e, f);
        e.close();
    }
    let blocs: Vec<&Bloc> = match f.validation {
        Validation::Totale => f.blocs.iter().collect(),
        Validation::Partielle => f
            .blocs
            .iter()
            .filter(|b| f.blocs_valides.contains(&b.code))
            .collect(),
    };
    if !blocs.is_empty() {
        e.open("blocs-competences", &[]);
        let validation = match (f.validation, f.individualisation_par_bloc) {
            (Validation::Partielle, _) => "0",
            (Validation::Totale, false) => "1",
            (Validation::Totale, true) => "2",
        };
        e.raw("validation-blocs", &[], validation);
        e.open("reference-certification", &[]);
        reference_certification_codes(e, f);
        e.close();
        for b in blocs {
            e.open("bloc-competences", &[]);
            e.text(
                "libelle-bloc",
                "formation.blocs.intitule",
                b.intitule.as_str(),
                1,
                500,
            );
            e.raw("code-bloc", &[], b.code.as_str());
            e.open("extras", &[("info", "sofi-bloc")]);
            e.raw("extra", &[("info", "type-module")], b.type_module.as_str());
            if let Some(o) = &b.objectif {
                e.raw("extra", &[("info", "objectif")], o.as_str());
            }
            if let Some(p) = &b.programme {
                e.raw("extra", &[("info", "programme")], p.as_str());
            }
            e.close();
            e.close();
        }
        e.close();
    }
}

/// The session's alternance when it is an apprenticeship, the only kind LHÉO's `cycle`
/// can hold.
fn apprentissage(s: &Session) -> Option<&CycleAlternance> {
    s.cycle_alternance
        .as_ref()
        .filter(|c| c.type_alternance == TypeAlternance::Apprentissage)
}

// Capacity exists in LHÉO only inside `cycle`, whose type is initial education or
// apprenticeship: used for apprenticeship sessions only; other sessions keep capacities in
// extras (no semantic stretch).
fn session_cycle(e: &mut Emitter, s: &Session) {
    let d = &s.dispositif;
    if let Some(c) = apprentissage(s) {
        e.open("cycle", &[]);
        e.raw("type-cycle", &[], "1");
        if let Some(m) = d.effectif_minimal {
            e.raw("effectif-minimal", &[], &m.to_string());
        }
        if let Some(m) = d.capacite_simultanee {
            e.raw("capacite-simultanee", &[], &m.to_string());
        }
        e.open("alternance", &[]);
        e.raw("type-alternance", &[], c.type_alternance.lheo());
        e.open("rythme-alternance", &[]);
        e.raw("unite-rythme-alternance", &[], c.unite.lheo());
        e.raw("unites-entreprise", &[], &c.unites_entreprise.to_string());
        e.raw("unites-centre", &[], &c.unites_centre.to_string());
        e.close();
        e.close();
        e.close();
    }
}

// The weekly hours are the action's `extras info="duree-hebdo"`, where readers look.
fn session_extras(e: &mut Emitter, s: &Session) {
    e.open("extras", &[("info", "sofi-session")]);
    if let Some(m) = s.module_remise_a_niveau {
        e.raw("extra", &[("info", "module-remise-a-niveau")], yes_no(m));
    }
    e.raw(
        "extra",
        &[("info", "type-parcours")],
        &format!("{:?}", s.type_parcours).to_lowercase(),
    );
    e.raw(
        "extra",
        &[("info", "organisme-responsable")],
        &format!(
            "{}/{}",
            s.organisme_responsable.siret, s.organisme_responsable.site
        ),
    );
    if !s.periodes_inscription.is_empty() {
        e.open("extras", &[("info", "periodes-inscription")]);
        for p in &s.periodes_inscription {
            let fin = p.fin.map(|d| d.lheo()).unwrap_or_else(|| "99999999".into());
            e.raw(
                "extra",
                &[("info", p.type_inscription.as_str())],
                &format!("{}-{}", p.debut.lheo(), fin),
            );
        }
        e.close();
    }
    if !s.periodes_formation.is_empty() {
        e.open("extras", &[("info", "periodes-formation")]);
        for p in &s.periodes_formation {
            e.raw(
                "extra",
                &[("info", p.type_periode.as_str())],
                &format!("{}-{}", p.debut.lheo(), p.fin.lheo()),
            );
        }
        e.close();
    }
    if let Some(c) = s
        .cycle_alternance
        .as_ref()
        .filter(|_| apprentissage(s).is_none())
    {
        e.open("extras", &[("info", "alternance")]);
        e.raw(
            "extra",
            &[("info", "type-alternance")],
            c.type_alternance.lheo(),
        );
        e.raw("extra", &[("info", "unite-rythme")], c.unite.lheo());
        e.raw(
            "extra",
            &[("info", "unites-entreprise")],
            &c.unites_entreprise.to_string(),
        );
        e.raw(
            "extra",
            &[("info", "unites-centre")],
            &c.unites_centre.to_string(),
        );
        e.close();
    }
    e.close();
}

fn dispositif_extras(e: &mut Emitter, d: &Dispositif) {
    e.open("extras", &[("info", "sofi-dispositif")]);
    e.raw("extra", &[("info", "dispositif")], d.programme.as_str());
    let texts: [(&str, Option<&Text>); 3] = [
        ("numero-lot-cr", d.numero_lot_cr.as_ref()),
        ("id-action-cr", d.id_action_cr.as_ref()),
        ("of-mandataire-cr", d.of_mandataire_cr.as_ref()),
    ];
    for (k, v) in texts {
        if let Some(v) = v {
            e.raw("extra", &[("info", k)], v.as_str());
        }
    }
    let numbers: [(&str, Option<u32>); 4] = [
        ("nb-places", d.places),
        ("nb-places-restantes", d.places_restantes),
        ("effectif-minimal", d.effectif_minimal),
        ("capacite-simultanee", d.capacite_simultanee),
    ];
    for (k, v) in numbers {
        if let Some(v) = v {
            e.raw("extra", &[("info", k)], &v.to_string());
        }
    }
    let amounts: [(&str, Option<Montant>); 4] = [
        ("frais-ht", d.frais_ht),
        ("frais-ttc", d.frais_ttc),
        ("frais-additionnels", d.frais_additionnels),
        ("frais-certification", d.frais_certification),
    ];
    for (k, v) in amounts {
        if let Some(v) = v {
            e.raw("extra", &[("info", k)], &v.decimal());
        }
    }
    if let Some(t) = d.taux_tva {
        e.raw("extra", &[("info", "taux-tva")], &t.to_string());
    }
    if let Some(b) = d.frais_certification_inclus {
        e.raw(
            "extra",
            &[("info", "frais-certification-inclus")],
            yes_no(b),
        );
    }
    if let Some(b) = d.prise_en_charge_frais_pedagogiques {
        e.raw(
            "extra",
            &[("info", "prise-en-charge-frais-pedagogiques")],
            yes_no(b),
        );
    }
    e.close();
}

fn reference_certification_codes(e: &mut Emitter, f: &Formation) {
    if let Some(r) = &f.rncp {
        e.raw("reference-code-RNCP", &[], r.numero());
    }
    if let Some(c) = &f.certifinfo {
        e.raw("reference-code-CERTIFINFO", &[], c.as_str());
    }
}

fn organisme_responsable(e: &mut Emitter, offre: &Offre, ctx: &WriterContext) {
    // One per LHÉO formation; SOFI has one per session. The rules make them all the
    // mandataire; any session that disagrees with the first is a violation of its own.
    let Some(first) = offre.sessions.first() else {
        e.violation(
            "organisme-formation-responsable",
            "session.organisme_responsable",
            ViolationKind::Missing,
        );
        return;
    };
    let r = &first.organisme_responsable;
    for s in &offre.sessions[1..] {
        if s.organisme_responsable.siret != r.siret {
            let prev = e.session.replace(s.code);
            e.violation(
                "organisme-formation-responsable",
                "session.organisme_responsable",
                ViolationKind::Differs {
                    from: first.code.to_string(),
                },
            );
            e.session = prev;
        }
    }
    let Some(org) = ctx.organismes.get(&r.siret) else {
        e.violation(
            "organisme-formation-responsable",
            "session.organisme_responsable",
            ViolationKind::Missing,
        );
        return;
    };
    e.open(
        "organisme-formation-responsable",
        &[("numero", r.site.as_str())],
    );
    match &org.nda {
        Some(n) => e.raw("numero-activite", &[], n.as_str()),
        None => e.violation("numero-activite", "organisme.nda", ViolationKind::Missing),
    }
    e.open("SIRET-organisme-formation", &[]);
    e.raw("SIRET", &[], org.siret.as_str());
    e.close();
    e.text(
        "nom-organisme",
        "organisme.nom",
        org.nom_ou_raison_sociale().as_str(),
        1,
        250,
    );
    e.text(
        "raison-sociale",
        "organisme.raison_sociale",
        org.raison_sociale.as_str(),
        1,
        250,
    );
    e.open("coordonnees-organisme", &[]);
    e.open("coordonnees", &[]);
    let site_adresse = org.site(&r.site).map(|s| &s.adresse);
    if let Some(a) = org.adresse.as_ref().or(site_adresse) {
        adresse(e, a, "organisme.adresse");
    }
    telephone_courriel(e, org);
    if let Some(w) = &org.web {
        e.open("web", &[]);
        e.text("urlweb", "organisme.web", w.as_str(), 3, 400);
        e.close();
    }
    e.close();
    e.close();
    if org.contacts.is_empty() {
        e.open("contact-organisme", &[]);
        e.raw("type-contact", &[], TYPE_CONTACT_ACCUEIL);
        coordonnees_contact(e, None, Some(org), "organisme.contacts");
        e.close();
    }
    for c in &org.contacts {
        e.open("contact-organisme", &[]);
        e.raw("type-contact", &[], TYPE_CONTACT_ACCUEIL);
        coordonnees_contact(e, Some(c), Some(org), "organisme.contacts");
        e.close();
    }
    if let Some(cr) = &org.code_cr {
        e.open("extras", &[("info", "sofi-organisme")]);
        e.raw("extra", &[("info", "code-cr")], cr.as_str());
        e.close();
    }
    e.close();
}

/// An organisme's telephone and e-mail, in `coordonnees` (after the address).
fn telephone_courriel(e: &mut Emitter, o: &Organisme) {
    if let Some(t) = &o.telephone {
        e.open("telfixe", &[]);
        e.text("numtel", "organisme.telephone", t.as_str(), 1, 25);
        e.close();
    }
    e.opt_text(
        "courriel",
        "organisme.courriel",
        o.courriel.as_ref().map(Text::as_str),
        3,
        160,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(s).unwrap()
    }
    fn day(s: &str) -> Option<Date> {
        Some(Date::parse(s).unwrap())
    }

    #[test]
    fn a_sofi_timestamp_is_a_day_in_paris() {
        // 23:30 UTC on 31 May is 1 June in Paris (summer time, UTC+2).
        assert_eq!(
            Some(jour(ts("2025-05-31T23:30:00+00:00"))),
            day("2025-06-01")
        );
        // 00:30 in Paris in winter is still the same day there.
        assert_eq!(
            Some(jour(ts("2025-01-15T00:30:00+01:00"))),
            day("2025-01-15")
        );
    }

    #[test]
    fn sofi_dates_win_over_the_store_and_datemaj_is_never_before_datecrea() {
        let stocke = StoreDates {
            created: day("2025-01-10"),
            changed: day("2025-02-01"),
        };
        let d = Dates::of(Some(ts("2024-12-02T10:00:00+01:00")), None, stocke);
        assert_eq!((d.crea, d.maj), (day("2024-12-02"), day("2025-02-01")));
        assert_eq!(
            d.lheo(),
            (Some("20241202".to_owned()), Some("20250201".to_owned()))
        );
        // A creation later than the last change the store saw: datemaj follows it.
        let late = Dates::of(Some(ts("2025-03-01T10:00:00+01:00")), None, stocke);
        assert_eq!(late.lheo().1.as_deref(), Some("20250301"));
        // Nothing known: no attribute rather than a made-up day.
        assert_eq!(Dates::default().lheo(), (None, None));
        // Several records: created with the first, changed with the last.
        let m = d.merge(Dates {
            crea: day("2024-11-01"),
            maj: day("2025-04-01"),
        });
        assert_eq!((m.crea, m.maj), (day("2024-11-01"), day("2025-04-01")));
        assert_eq!(m.changed_with(day("2025-05-01")).maj, day("2025-05-01"));
        assert_eq!(m.changed_with(None).maj, day("2025-04-01"));
    }

    #[test]
    fn commentaire_duree_goes_where_its_meaning_fits() {
        let t = |s: &str| PlaceCommentaire::of(&Text::new(s).unwrap());
        assert_eq!(
            t("Session ouverte sur intention d’embauche (6 postes)."),
            PlaceCommentaire::Recrutement
        );
        assert_eq!(
            t("Module de REMISE A NIVEAU du 8 au 19 septembre."),
            PlaceCommentaire::Rythme
        );
        assert_eq!(t("Parcours de 6 à 10 semaines."), PlaceCommentaire::Duree);
    }

    #[test]
    fn a_long_public_vise_keeps_its_first_paragraph_when_it_fits() {
        let long = Text::new(&format!("- Demandeurs d'emploi.\n{}", "x".repeat(300))).unwrap();
        assert_eq!(info_public_vise(&long), Some("Demandeurs d'emploi."));
        let one_block = Text::new(&"y".repeat(260)).unwrap();
        assert_eq!(info_public_vise(&one_block), None);
        let short = Text::new("Demandeurs d'emploi").unwrap();
        assert_eq!(info_public_vise(&short), Some("Demandeurs d'emploi"));
    }
}
