//! LHÉO `<formation>` → FASD offer: the inverse of [`super::writer`] (`docs/mapping.md`),
//! for `import-lheo` (`docs/lheo-import.md`).
//!
//! The goal that shapes every choice: a document this crate exported imports back into
//! offers that export to the *same bytes*. So composite LHÉO values are taken whole into
//! the field the writer reads first (`contenu-formation` → the formation's description,
//! `resultats-attendus` → the action's), values the writer derives are recognised and
//! dropped (`nombre-heures-total`, `date-information`, `reference-certification`, …), and
//! the `extras info="sofi-…"` blocks give back the SOFI-only fields.
//!
//! A foreign document (ONISEP, another region) maps as far as it can; whatever does not
//! map is kept in the offer's or session's `extras_lheo`, at the level it was found
//! (formation, action, session), and written back at the end of that element: its own
//! `extras` blocks as they were, any other element inside `<extras info="lheo-import">`
//! (LHÉO orders elements strictly, extras are the only place open to anything).

use sha2::{Digest, Sha256};

use super::reader::Element;
use crate::model::lheo_extras::MAX_VALEUR_CONSERVEE;
use crate::model::*;

/// The `extras info` of the blocks that wrap unmapped LHÉO elements on export.
pub const KEPT_INFO: &str = "lheo-import";
/// The namespace of the LHÉO elements kept inside that block (not the LHÉO namespace,
/// whose declarations would apply to them, and they are often partial copies).
pub const KEPT_NS: &str = "urn:lheo-feed:lheo-import";

/// First number of the range that foreign identifiers are mapped into (12 digits, the
/// longest SOFI number the model accepts): SOFI's own numbers are far below it.
pub const FOREIGN_BASE: u64 = 900_000_000_000;

/// A value that prevents the formation from being imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapError {
    /// The element path inside the formation (`action/session[2]/periode/debut`).
    pub path: String,
    pub reason: String,
}

/// What a formation tells about one organisme; the import merges them over the document.
#[derive(Clone, Debug, PartialEq)]
pub enum OrgFact {
    /// `organisme-formation-responsable`: authoritative for the organisme's own fields.
    Responsable {
        organisme: Box<Organisme>,
        site: SiteCode,
    },
    /// `organisme-formateur`: the site dispensateur and its contact.
    Formateur {
        siret: Siret,
        raison_sociale: Option<Text>,
        site: SiteCode,
        contact: Option<Contact>,
        /// Where the document places this site when no `lieu-de-formation` of the
        /// organisme does: the `contact-formateur`'s address, else the address of the
        /// action's `lieu-de-formation` (the formateur teaches there). National files give
        /// a formateur other than the responsable no coordinates of its own, so without
        /// this its site would have no address at all.
        adresse: Option<Adresse>,
    },
    /// `lieu-de-formation`: a site with its address.
    Lieu {
        siret: Siret,
        site: SiteCode,
        nom: Text,
        adresse: Adresse,
        acces_handicapes: Option<Text>,
    },
}

/// One formation mapped: the offer and what it says about organismes.
#[derive(Clone, Debug)]
pub struct Mapped {
    pub offre: Offre,
    pub facts: Vec<OrgFact>,
    /// Values our types refuse that the offer keeps as given (path, why), for the
    /// import's summary.
    pub kept: Vec<MapError>,
}

/// Maps a foreign identifier into the reserved range, deterministically.
pub fn foreign_number(salt: &str, id: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(id.as_bytes());
    let d = h.finalize();
    let n = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
    FOREIGN_BASE + n % (1_000_000_000_000 - FOREIGN_BASE)
}

/// The action code of a formation `numero`: the SOFI code itself, else the code that
/// the import derives from a foreign identifier (the same one, every time).
pub fn action_code_of(numero: &str) -> Option<ActionCode> {
    let n = numero.trim();
    if let Ok(c) = ActionCode::parse(n) {
        return Some(c);
    }
    LheoNumero::parse(n).ok()?;
    Some(ActionCode {
        formation: foreign_number("formation", n),
        action: foreign_number("action", n),
    })
}

/// The children of one element, each taken at most once; what is left is kept.
struct Kids<'a> {
    el: &'a Element,
    used: Vec<bool>,
}

impl<'a> Kids<'a> {
    fn new(el: &'a Element) -> Self {
        Kids {
            el,
            used: vec![false; el.children.len()],
        }
    }
    fn take_where(&mut self, f: impl Fn(&Element) -> bool) -> Option<&'a Element> {
        let el = self.el;
        for (i, c) in el.children.iter().enumerate() {
            if !self.used[i] && f(c) {
                self.used[i] = true;
                return Some(c);
            }
        }
        None
    }
    fn take(&mut self, name: &str) -> Option<&'a Element> {
        self.take_where(|c| c.name == name)
    }
    fn take_all(&mut self, name: &str) -> Vec<&'a Element> {
        let mut out = Vec::new();
        while let Some(c) = self.take(name) {
            out.push(c);
        }
        out
    }
    fn extras(&mut self, info: &str) -> Option<&'a Element> {
        self.take_where(|c| c.name == "extras" && c.attr("info") == Some(info))
    }
    fn text(&mut self, name: &str) -> Option<Text> {
        self.take(name).and_then(|c| Text::new(&c.text))
    }
    /// Takes `name` only when its text is `value` (a constant the writer adds).
    fn constant(&mut self, name: &str, value: &str) {
        self.take_where(|c| c.name == name && c.text.trim() == value);
    }
    fn rest(&self) -> Vec<&'a Element> {
        self.el
            .children
            .iter()
            .zip(&self.used)
            .filter(|(_, u)| !**u)
            .map(|(c, _)| c)
            .collect()
    }
}

/// Unmapped content of one level (formation, action or session).
#[derive(Default)]
struct Sink {
    /// The level's own `extras` blocks that are not ours: written back as they were.
    direct: Vec<XmlNode>,
    /// Anything else, written back inside `<extras info="lheo-import">`.
    wrapped: Vec<XmlNode>,
}

impl Sink {
    /// Keeps what `kids` left: `path` are the elements between the level and `kids.el`
    /// (empty when `kids.el` is the level's element itself).
    fn keep(&mut self, path: &[&Element], kids: &Kids) {
        let rest = kids.rest();
        if rest.is_empty() {
            return;
        }
        if path.is_empty() {
            for c in rest {
                let n = node(c);
                if c.name == "extras" && !is_ours(c) {
                    self.direct.push(n);
                } else {
                    self.wrapped.push(n);
                }
            }
            return;
        }
        let mut inner: Vec<XmlNode> = rest.into_iter().map(node).collect();
        for p in path.iter().rev() {
            inner = vec![XmlNode {
                name: p.name.to_string(),
                attrs: keepable_attrs(p),
                text: String::new(),
                children: inner,
            }];
        }
        self.wrapped.extend(inner);
    }

    /// The level's nodes as written back. LHÉO's `extras` holds only `extra` and
    /// `extras`, and `extra` holds anything, validated where the schema declares it: the
    /// kept elements (often partial copies, such as a `coordonnees` with only its `fax`)
    /// go into one `extra`, moved to [`KEPT_NS`] so that the schema leaves them alone.
    fn into_nodes(self) -> Vec<XmlNode> {
        let mut out = self.direct;
        if !self.wrapped.is_empty() {
            out.push(XmlNode {
                name: "extras".into(),
                attrs: vec![("info".into(), KEPT_INFO.into())],
                text: String::new(),
                children: vec![XmlNode {
                    name: "extra".into(),
                    attrs: Vec::new(),
                    text: String::new(),
                    children: self.wrapped.into_iter().map(to_kept_ns).collect(),
                }],
            });
        }
        out
    }
}

/// LHÉO elements (named by their local name) move to [`KEPT_NS`]; elements of other
/// namespaces keep theirs.
fn to_kept_ns(mut n: XmlNode) -> XmlNode {
    if !n.name.starts_with('{') {
        n.name = format!("{{{KEPT_NS}}}{}", n.name);
    }
    n.children = n.children.into_iter().map(to_kept_ns).collect();
    n
}

fn is_ours(el: &Element) -> bool {
    el.attr("info").is_some_and(|i| i.starts_with("sofi-"))
}

/// Attributes that can be written back as they are (a prefixed one lost its namespace
/// declaration in the reader).
fn keepable_attrs(el: &Element) -> Vec<(String, String)> {
    el.attrs
        .iter()
        .filter(|(k, v)| {
            crate::model::lheo_extras::is_ncname(k)
                && !k.to_ascii_lowercase().starts_with("xml")
                && v.chars().all(text::is_xml_char)
        })
        .cloned()
        .collect()
}

/// Whether the writer writes attribute `k="v"` of element `el` (at `path`) itself, from
/// what the import mapped: identifiers and dates it recomputes (the store gives the
/// days), the FORMACODE version, the site codes and information-collective codes it
/// read. Those are not kept, so an export of ours imports back without a kept copy of
/// each.
fn written_by_us(path: &str, el: &str, k: &str, v: &str) -> bool {
    match (el, k) {
        (_, "id" | "idref") => true,
        ("formation" | "action" | "session", _)
            if matches!(
                path,
                "formation" | "formation/action" | "formation/action/session"
            ) =>
        {
            matches!(
                k,
                "numero"
                    | "datecrea"
                    | "datemaj"
                    | "horodatage-creation"
                    | "horodatage-modification"
            )
        }
        ("code-FORMACODE", "ref") => v == super::writer::FORMACODE_VERSION,
        ("code-public-vise", "ref") => v == super::writer::FORMACODE_VERSION_PUBLIC,
        ("code-modalite-pedagogique", "ref") => v == super::writer::FORMACODE_VERSION_MODALITES,
        (
            "lieu-de-formation" | "organisme-formateur" | "organisme-formation-responsable",
            "numero",
        ) => SiteCode::parse(v.trim()).is_ok(),
        ("recrutement", "numero") => true,
        // The referent's kind (`mail-liaison`, `referent-prf`, …), read by the import.
        ("contact-session", "info") => true,
        _ => false,
    }
}

/// The attributes of the formation's elements that the writer would not write as given
/// (issue 17, point 3: ONISEP's `ref="V11"` came back as `ref="V14"`), by path and text.
/// `extras` and other namespaces' elements are kept whole, with their attributes,
/// elsewhere.
fn kept_attrs(el: &Element, path: &mut String, out: &mut Vec<KeptAttrs>) {
    if el.name == "extras" || el.name.starts_with('{') {
        return;
    }
    let len = path.len();
    if !path.is_empty() {
        path.push('/');
    }
    path.push_str(&el.name);
    let attrs: Vec<(String, String)> = keepable_attrs(el)
        .into_iter()
        .filter(|(k, v)| !written_by_us(path, &el.name, k, v))
        .collect();
    if !attrs.is_empty() {
        let k = KeptAttrs {
            path: path.clone(),
            text: if el.children.is_empty() {
                el.text.trim().to_owned()
            } else {
                String::new()
            },
            attrs,
        };
        // A name the model's check refuses is simply not kept (the reader allows a few
        // more characters in names than the model does).
        if k.validate().is_ok() {
            out.push(k);
        }
    }
    for c in &el.children {
        kept_attrs(c, path, out);
    }
    path.truncate(len);
}

/// An element tree as kept: white space between child elements is layout, not content.
fn node(el: &Element) -> XmlNode {
    XmlNode {
        name: el.name.to_string(),
        attrs: keepable_attrs(el),
        text: if el.children.is_empty() {
            el.text.clone()
        } else {
            String::new()
        },
        children: el.children.iter().map(node).collect(),
    }
}

/// Errors of one formation, with paths, and the values kept as given.
#[derive(Default)]
struct Ctx {
    errors: Vec<MapError>,
    kept: Vec<MapError>,
    /// The values of `kept`, as the offer keeps them for `check`.
    invalides: Vec<ValeurConservee>,
}

impl Ctx {
    fn err(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(MapError {
            path: path.into(),
            reason: reason.into(),
        });
    }
    /// A value our types refuse, kept as the document gives it (in the offer's
    /// `extras_lheo`, so the export writes it back): reported, not fatal.
    fn kept(&mut self, path: impl Into<String>, value: &str, reason: impl Into<String>) {
        let path = path.into();
        let element = path.rsplit('/').next().unwrap_or_default();
        let shown: String = value.trim().chars().take(MAX_VALEUR_CONSERVEE).collect();
        if let Ok(v) = ValeurConservee::new(element, &shown) {
            self.invalides.push(v);
        }
        self.kept.push(MapError {
            path,
            reason: reason.into(),
        });
    }
    /// A value that must parse; `None` (and an error) when it does not.
    fn req<T>(&mut self, path: &str, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(path, e);
                None
            }
        }
    }
}

fn date8(s: &str) -> Result<Option<Date>, String> {
    let s = s.trim();
    if s == "00000000" || s == "99999999" {
        return Ok(None);
    }
    chrono::NaiveDate::parse_from_str(s, "%Y%m%d")
        .map(|d| Some(Date(d)))
        .map_err(|_| format!("expected a date AAAAMMJJ, got {s:?}"))
}

fn heure(s: &str) -> Result<Heure, String> {
    let s = s.trim();
    let (h, m) = s
        .split_once('h')
        .ok_or_else(|| format!("expected a time such as 9h30, got {s:?}"))?;
    let m = if m.is_empty() { "00" } else { m };
    Heure::parse(&format!("{h}:{m}"))
}

fn timestamp(el: &Element, name: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    el.attr(name)
        .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
}

fn number(s: &str) -> Option<u32> {
    s.trim().parse().ok()
}

fn flag(s: &str) -> Option<bool> {
    match s.trim() {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// `extras` as (info, text) pairs.
fn extra_map(el: Option<&Element>) -> Vec<(String, String)> {
    el.map(|e| {
        e.children_named("extra")
            .map(|x| (x.attr("info").unwrap_or("").to_owned(), x.text.clone()))
            .collect()
    })
    .unwrap_or_default()
}

fn get<'a>(m: &'a [(String, String)], k: &str) -> Option<&'a str> {
    m.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

fn adresse(
    el: &Element,
    path: &str,
    ctx: &mut Ctx,
    sink: &mut Sink,
    at: &[&Element],
) -> Option<Adresse> {
    let mut k = Kids::new(el);
    let denomination = k.text("denomination");
    let lignes: Vec<Text> = k
        .take_all("ligne")
        .into_iter()
        .filter_map(|l| Text::new(&l.text))
        .collect();
    let cp = k.take("codepostal").map(|c| c.text.trim().to_owned());
    let ville = k.text("ville");
    let dep = k.take("departement");
    let insee = k
        .take_where(|c| c.name == "code-INSEE-commune" && CodeInsee::parse(c.text.trim()).is_ok())
        .map(|c| CodeInsee::parse(c.text.trim()).expect("checked"));
    let region = k.take("region");
    let pays = k.take("pays");
    let (mut latitude, mut longitude) = (None, None);
    if let Some(g) = k.take_where(|c| c.name == "geolocalisation") {
        latitude = g.child("latitude").and_then(|x| x.text.trim().parse().ok());
        longitude = g
            .child("longitude")
            .and_then(|x| x.text.trim().parse().ok());
    }
    let code_postal = ctx.req(
        &format!("{path}/codepostal"),
        cp.ok_or_else(|| "an address needs a codepostal".to_owned())
            .and_then(|c| CodePostal::parse(&c)),
    );
    let ville = ctx.req(
        &format!("{path}/ville"),
        ville.ok_or_else(|| "an address needs a ville".to_owned()),
    );
    let mut path_el: Vec<&Element> = at.to_vec();
    path_el.push(el);
    sink.keep(&path_el, &k);
    let a = Adresse {
        denomination,
        lignes,
        code_postal: code_postal?,
        ville: ville?,
        code_insee: insee,
        latitude,
        longitude,
    };
    // `departement`, `region` and `pays` are derived on export (model::geo); a different
    // one is kept.
    let derived = Departement::of_adresse(&a);
    let expected = [
        (dep, derived.map(Departement::as_str)),
        (region, derived.map(Departement::region)),
        (pays, derived.map(|_| "FR")),
    ];
    for (el, want) in expected {
        if let Some(el) = el {
            if Some(el.text.trim()) != want {
                sink.wrapped.push(node(el));
            }
        }
    }
    Some(a)
}

/// An address that only helps place a site (a `contact-formateur`'s): read on the side, so
/// a flaw in it refuses nothing, and the element itself stays in the kept content (the
/// writer has no place for it), so the export still says it.
fn address_hint(el: &Element, at: &[&Element]) -> Option<Adresse> {
    let mut scratch = Ctx::default();
    adresse(el, "", &mut scratch, &mut Sink::default(), at)
}

/// `coordonnees` → a contact (what the writer's `contact_fields` writes).
fn contact(el: &Element, sink: &mut Sink, at: &[&Element]) -> Contact {
    let mut k = Kids::new(el);
    let c = Contact {
        civilite: k.text("civilite"),
        nom: k.text("nom"),
        prenom: k.text("prenom"),
        telephone: k
            .take("telfixe")
            .and_then(|t| t.child("numtel"))
            .and_then(|n| Text::new(&n.text)),
        courriel: k.text("courriel"),
    };
    let mut p = at.to_vec();
    p.push(el);
    sink.keep(&p, &k);
    c
}

fn site_code_of(els: &[Option<&Element>], fallback: impl FnOnce() -> String) -> SiteCode {
    for e in els.iter().flatten() {
        if let Some(n) = e.attr("numero") {
            if let Ok(c) = SiteCode::parse(n.trim()) {
                return c;
            }
        }
    }
    // A site without a usable code: a stable one from what identifies it.
    let mut h = Sha256::new();
    h.update(fallback().as_bytes());
    SiteCode::parse(&format!("L{}", hex::encode(&h.finalize()[..6]))).expect("alphanumeric")
}

fn siret_in(el: Option<&Element>, wrapper: &str) -> Option<Result<Siret, String>> {
    el?.child(wrapper)
        .and_then(|w| w.child("SIRET"))
        .map(|s| Siret::parse(s.text.trim()))
}

/// The formation's identifiers: a SOFI action code is kept; anything else maps into the
/// reserved range (the original is kept to be written back).
fn formation_numero(el: &Element, ctx: &mut Ctx) -> Option<(ActionCode, Option<LheoNumero>)> {
    let raw_numero = el.attr("numero").unwrap_or("").trim();
    match ActionCode::parse(raw_numero) {
        Ok(c) => Some((c, None)),
        Err(_) => match LheoNumero::parse(raw_numero) {
            Ok(n) => Some((
                action_code_of(raw_numero).expect("a valid numero has a code"),
                Some(n),
            )),
            Err(e) => {
                ctx.err("formation/@numero", e);
                None
            }
        },
    }
}

/// The first child `name` whose text parses with `parse`, parsed (the others are kept).
fn take_parsed<'a, T, E>(
    k: &mut Kids<'a>,
    name: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Option<T> {
    k.take_where(|c| c.name == name && parse(c.text.trim()).is_ok())
        .map(|c| parse(c.text.trim()).ok().expect("checked"))
}

fn niveau(s: &str) -> Result<Niveau, String> {
    s.parse::<u8>()
        .map_err(|e| e.to_string())
        .and_then(|n| Niveau::new(n).map_err(|e| e.to_string()))
}

/// What the formation element says of itself, before its organisme and its actions.
struct FormationLevel {
    formacodes: Vec<Formacode>,
    codes_nsf: Vec<CodeNsf>,
    codes_rome: Vec<CodeRome>,
    intitule_lheo: Option<Text>,
    objectif: Option<Text>,
    resultats: Option<Text>,
    contenu: Option<Text>,
    certifiante: Option<bool>,
    contact: Option<Contact>,
    parcours: Option<String>,
    niveau_entree: Option<Niveau>,
    objectif_general: Option<ObjectifGeneral>,
    rncp: Option<Rncp>,
    certifinfo: Option<Certifinfo>,
    niveau_sortie: Option<Niveau>,
    sofi: Vec<(String, String)>,
}

fn formation_level(k: &mut Kids, fsink: &mut Sink) -> FormationLevel {
    let (mut formacodes, mut codes_nsf, mut codes_rome) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(d) = k.take("domaine-formation") {
        let mut dk = Kids::new(d);
        while let Some(c) = dk.take_where(|c| {
            (c.name == "code-FORMACODE" && Formacode::parse(c.text.trim()).is_ok())
                || (c.name == "code-NSF" && CodeNsf::parse(c.text.trim()).is_ok())
                || (c.name == "code-ROME" && CodeRome::parse(c.text.trim()).is_ok())
        }) {
            let t = c.text.trim();
            match c.name.as_ref() {
                "code-FORMACODE" => formacodes.push(Formacode::parse(t).expect("checked")),
                "code-NSF" => codes_nsf.push(CodeNsf::parse(t).expect("checked")),
                _ => codes_rome.push(CodeRome::parse(t).expect("checked")),
            }
        }
        fsink.keep(&[d], &dk);
    }
    let intitule_lheo = k.text("intitule-formation");
    let objectif = k.text("objectif-formation");
    let resultats = k.text("resultats-attendus");
    let contenu = k.text("contenu-formation");
    let certifiante = k.take("certifiante").and_then(|c| flag(&c.text));
    let contact = k.take("contact-formation").and_then(|cf| {
        let mut ck = Kids::new(cf);
        // The writer's own type; another one is kept.
        ck.constant("type-contact", super::writer::TYPE_CONTACT_ACCUEIL);
        let c = ck.take("coordonnees").map(|co| contact(co, fsink, &[cf]));
        fsink.keep(&[cf], &ck);
        c.filter(|c| !c.is_empty())
    });
    let parcours = k
        .take("parcours-de-formation")
        .map(|p| p.text.trim().to_owned());
    let niveau_entree = take_parsed(k, "code-niveau-entree", niveau);
    let objectif_general = k
        .take_where(|c| {
            c.name == "objectif-general-formation" && ObjectifGeneral::from_lheo(&c.text).is_some()
        })
        .and_then(|c| ObjectifGeneral::from_lheo(&c.text));
    let (mut rncp, mut certifinfo) = (None, None);
    if let Some(c) = k.take("certification") {
        let mut ck = Kids::new(c);
        rncp = take_parsed(&mut ck, "code-RNCP", Rncp::parse);
        certifinfo = take_parsed(&mut ck, "code-CERTIFINFO", Certifinfo::parse);
        fsink.keep(&[c], &ck);
    }
    let niveau_sortie = take_parsed(k, "code-niveau-sortie", niveau);
    let sofi = extra_map(k.extras("sofi-formation"));
    FormationLevel {
        formacodes,
        codes_nsf,
        codes_rome,
        intitule_lheo,
        objectif,
        resultats,
        contenu,
        certifiante,
        contact,
        parcours,
        niveau_entree,
        objectif_general,
        rncp,
        certifinfo,
        niveau_sortie,
        sofi,
    }
}

/// The organisme responsable: its SIRET and site, and what it says of itself (a fact).
fn responsable_of(
    k: &mut Kids,
    ctx: &mut Ctx,
    fsink: &mut Sink,
    facts: &mut Vec<OrgFact>,
) -> Option<(Siret, SiteCode)> {
    let Some(r) = k.take("organisme-formation-responsable") else {
        ctx.err(
            "formation/organisme-formation-responsable",
            "missing: an offer needs its organisme responsable",
        );
        return None;
    };
    let (o, site) = organisme_responsable(r, ctx, fsink)?;
    let out = (o.siret.clone(), site.clone());
    facts.push(OrgFact::Responsable {
        organisme: Box::new(o),
        site,
    });
    Some(out)
}

/// Every LHÉO action of the formation: the first one's action-level values (SOFI has one
/// action per offer) and the sessions of all.
fn actions(
    k: &mut Kids,
    numero: ActionCode,
    responsable: Option<&(Siret, SiteCode)>,
    parcours: &Option<String>,
    ctx: &mut Ctx,
    facts: &mut Vec<OrgFact>,
) -> (Option<ActionLevel>, Vec<Session>) {
    let mut sessions: Vec<Session> = Vec::new();
    let mut offer_action: Option<ActionLevel> = None;
    for (ai, a) in k.take_all("action").into_iter().enumerate() {
        let path = format!("formation/action[{}]", ai + 1);
        let at = ActionAt {
            numero,
            responsable,
            offer_dispensateur: offer_action.as_ref().map(|l| &l.dispensateur),
            parcours,
        };
        let Some((level, mut ss)) = action(a, &path, &at, ctx, facts) else {
            continue;
        };
        if offer_action.is_none() {
            offer_action = Some(level);
        }
        sessions.append(&mut ss);
    }
    (offer_action, sessions)
}

/// Maps one `<formation>`.
pub fn map_formation(el: &Element) -> Result<Mapped, Vec<MapError>> {
    let mut ctx = Ctx::default();
    let mut facts = Vec::new();
    let mut fsink = Sink::default();
    let mut k = Kids::new(el);
    let Some((numero, foreign_numero)) = formation_numero(el, &mut ctx) else {
        return Err(ctx.errors);
    };
    let mut f = formation_level(&mut k, &mut fsink);
    let responsable = responsable_of(&mut k, &mut ctx, &mut fsink, &mut facts);
    let url_formation = k.take("url-formation");
    let (offer_action, sessions) = actions(
        &mut k,
        numero,
        responsable.as_ref(),
        &f.parcours,
        &mut ctx,
        &mut facts,
    );
    fsink.keep(&[], &k);

    let Some(mut action_level) = offer_action else {
        if ctx.errors.is_empty() {
            ctx.err(
                "formation/action",
                "missing: an offer needs at least one action",
            );
        }
        return Err(ctx.errors);
    };
    if let Some(u) = url_formation {
        url_formation_to_action(u, &mut action_level, &mut fsink);
    }
    let Some((resp_siret, _)) = responsable else {
        return Err(ctx.errors);
    };
    let mandataire = mandataire_of(&f, resp_siret, &mut ctx);
    let intitule = intitule_of(&mut f, &action_level, &mut ctx);
    if !ctx.errors.is_empty() {
        return Err(ctx.errors);
    }
    let (Some(mandataire), Some(intitule)) = (mandataire, intitule) else {
        unreachable!("an error was recorded for each missing value")
    };
    let action = action_of(&mut f, &action_level);
    let formation = formation_of(f, &action_level, intitule);
    let extras = formation_extras(el, foreign_numero, fsink, &mut ctx);
    let offre = offre_of(el, numero, mandataire, formation, action, sessions, extras);
    check_kept(&offre, &mut ctx);
    if !ctx.errors.is_empty() {
        return Err(ctx.errors);
    }
    Ok(Mapped {
        offre,
        facts,
        kept: ctx.kept,
    })
}

/// The offer the levels make, its sessions in order.
fn offre_of(
    el: &Element,
    numero: ActionCode,
    mandataire: Siret,
    formation: Formation,
    action: Action,
    sessions: Vec<Session>,
    extras: LheoExtras,
) -> Offre {
    let mut offre = Offre {
        numero,
        // LHÉO has no workflow state: a published document only holds what its producer
        // validated, so an imported offer is a validated one (docs/lheo-import.md).
        etat: EtatWorkflow::Validee,
        mandataire,
        formation,
        action,
        sessions,
        cree_le: timestamp(el, "horodatage-creation"),
        modifie_le: timestamp(el, "horodatage-modification"),
        stocke: StoreDates::default(),
        extras_lheo: (!extras.is_empty()).then_some(extras),
    };
    offre.sort_sessions();
    offre
}

/// The writer writes the action's URL as url-formation too (one formation per SOFI
/// action); a document with only url-formation gives the action its URL. Another one is
/// kept as given.
fn url_formation_to_action(u: &Element, action_level: &mut ActionLevel, fsink: &mut Sink) {
    let url = u.child("urlweb").and_then(|x| Text::new(&x.text));
    if action_level.url_action.is_none() && u.children_named("urlweb").count() == 1 {
        action_level.url_action = url;
    } else if url != action_level.url_action {
        fsink.wrapped.push(node(u));
    }
}

/// The mandataire: the `sofi-formation` extras' when given, else the responsable.
fn mandataire_of(f: &FormationLevel, resp_siret: Siret, ctx: &mut Ctx) -> Option<Siret> {
    match get(&f.sofi, "mandataire") {
        Some(m) => ctx.req(
            "formation/extras[sofi-formation]/mandataire",
            Siret::parse(m.trim()),
        ),
        None => Some(resp_siret),
    }
}

/// The formation's title: LHÉO's intitule-formation without the " - complement" the
/// writer appends from the action (recorded as an error when missing).
fn intitule_of(f: &mut FormationLevel, action_level: &ActionLevel, ctx: &mut Ctx) -> Option<Text> {
    let complement = action_level.complement_intitule.clone();
    let intitule = f.intitule_lheo.take().and_then(|t| match &complement {
        Some(c) => t
            .as_str()
            .strip_suffix(&format!(" - {c}"))
            .and_then(Text::new)
            .or(Some(t)),
        None => Some(t),
    });
    ctx.req(
        "formation/intitule-formation",
        intitule.ok_or_else(|| "missing: an offer needs a title".to_owned()),
    )
}

/// What the formation level kept of the document: its foreign number, unmapped content,
/// attributes and invalid values.
fn formation_extras(
    el: &Element,
    foreign_numero: Option<LheoNumero>,
    fsink: Sink,
    ctx: &mut Ctx,
) -> LheoExtras {
    let mut attrs = Vec::new();
    kept_attrs(el, &mut String::new(), &mut attrs);
    LheoExtras {
        numero: foreign_numero,
        xml: fsink.into_nodes(),
        action_xml: Vec::new(),
        attrs,
        invalides: std::mem::take(&mut ctx.invalides),
    }
}

/// The SOFI formation: fields back from the `sofi-formation` extras, else from what LHÉO
/// says, else the documented defaults.
fn formation_of(f: FormationLevel, action_level: &ActionLevel, intitule: Text) -> Formation {
    let type_certification = get(&f.sofi, "type-certification")
        .and_then(type_certification)
        .unwrap_or(if f.certifiante == Some(true) {
            TypeCertification::TitreRncp
        } else {
            TypeCertification::Aucune
        });
    let validation = match get(&f.sofi, "validation") {
        Some("partielle") => Validation::Partielle,
        Some(_) => Validation::Totale,
        None if action_level.validation_blocs.as_deref() == Some("0") => Validation::Partielle,
        None => Validation::Totale,
    };
    let individualisation_par_bloc = get(&f.sofi, "individualisation-par-bloc")
        .and_then(flag)
        .unwrap_or(action_level.validation_blocs.as_deref() == Some("2"));
    let blocs_valides = if validation == Validation::Partielle {
        action_level.blocs.iter().map(|b| b.code.clone()).collect()
    } else {
        Vec::new()
    };
    Formation {
        certifinfo: f.certifinfo,
        rncp: f.rncp,
        intitule,
        objectif_general: f
            .objectif_general
            .unwrap_or(if f.certifiante == Some(true) {
                ObjectifGeneral::Certification
            } else {
                ObjectifGeneral::Professionnalisation
            }),
        objectif: f.objectif,
        resultats_attendus: None,
        type_certification,
        description: f.contenu,
        formacodes: f.formacodes,
        codes_nsf: f.codes_nsf,
        codes_rome: f.codes_rome,
        niveau_sortie: f.niveau_sortie,
        blocs: action_level.blocs.clone(),
        individualisation_par_bloc,
        validation,
        blocs_valides,
    }
}

/// The SOFI action, from the first LHÉO action's values and the formation's (taken from
/// `f`).
fn action_of(f: &mut FormationLevel, l: &ActionLevel) -> Action {
    Action {
        site_dispensateur: l.dispensateur.clone(),
        complement_intitule: l.complement_intitule.clone(),
        complement_programme: None,
        objectifs: None,
        resultats_attendus: f.resultats.take(),
        le_plus_formation: l.le_plus.clone(),
        url_video: l.url_video.clone(),
        url_pdf: l.url_pdf.clone(),
        url_action: l.url_action.clone(),
        equipements: l.equipements.clone(),
        niveau_entree: f
            .niveau_entree
            .unwrap_or(Niveau::new(0).expect("0 is a niveau")),
        niveau_entree_obligatoire: l.niveau_obligatoire,
        prerequis: l.prerequis.clone(),
        commentaire_prerequis: None,
        public_vise: l.public_vise.clone(),
        contact: f.contact.take(),
    }
}

/// What is kept must read back from the store: names the model's check refuses (XML
/// allows a few more characters in names than it does) refuse the formation here.
fn check_kept(offre: &Offre, ctx: &mut Ctx) {
    let kept = offre
        .extras_lheo
        .iter()
        .chain(offre.sessions.iter().filter_map(|s| s.extras_lheo.as_ref()))
        .flat_map(|x| x.xml.iter().chain(&x.action_xml));
    for n in kept {
        if let Err(e) = n.validate() {
            ctx.err(
                format!("formation//{}", n.name),
                format!("cannot be kept: {e}"),
            );
        }
    }
}

fn type_certification(libelle: &str) -> Option<TypeCertification> {
    use TypeCertification::*;
    [
        Diplome,
        TitreProfessionnel,
        TitreRncp,
        Cqp,
        CertificationRs,
        Habilitation,
        Attestation,
        Aucune,
    ]
    .into_iter()
    .find(|t| t.libelle() == libelle.trim())
}

fn organisme_responsable(
    r: &Element,
    ctx: &mut Ctx,
    fsink: &mut Sink,
) -> Option<(Organisme, SiteCode)> {
    let path = "formation/organisme-formation-responsable";
    let mut k = Kids::new(r);
    let nda = k
        .take_where(|c| c.name == "numero-activite" && Nda::parse(c.text.trim()).is_ok())
        .map(|c| Nda::parse(c.text.trim()).expect("checked"));
    let siret = match k
        .take("SIRET-organisme-formation")
        .and_then(|s| s.child("SIRET"))
    {
        Some(s) => ctx.req(
            &format!("{path}/SIRET-organisme-formation/SIRET"),
            Siret::parse(s.text.trim()),
        ),
        None => {
            ctx.err(
                format!("{path}/SIRET-organisme-formation"),
                "missing: the organisme responsable needs its SIRET",
            );
            None
        }
    };
    let nom = k.text("nom-organisme");
    let raison_sociale = k.text("raison-sociale");
    let (mut adresse_o, mut telephone, mut courriel, mut web) = (None, None, None, None);
    if let Some(co) = k.take("coordonnees-organisme") {
        let mut cok = Kids::new(co);
        if let Some(c) = cok.take("coordonnees") {
            let mut ck = Kids::new(c);
            if let Some(a) = ck.take("adresse") {
                adresse_o = adresse(
                    a,
                    &format!("{path}/coordonnees-organisme/coordonnees/adresse"),
                    ctx,
                    fsink,
                    &[r, co, c],
                );
            }
            telephone = ck
                .take("telfixe")
                .and_then(|t| t.child("numtel"))
                .and_then(|n| Text::new(&n.text));
            courriel = ck.text("courriel");
            web = ck
                .take("web")
                .and_then(|w| w.child("urlweb"))
                .and_then(|u| Text::new(&u.text));
            fsink.keep(&[r, co, c], &ck);
        }
        fsink.keep(&[r, co], &cok);
    }
    let mut contacts = Vec::new();
    for co in k.take_all("contact-organisme") {
        let mut cok = Kids::new(co);
        cok.constant("type-contact", super::writer::TYPE_CONTACT_ACCUEIL);
        if let Some(c) = cok.take("coordonnees") {
            let ct = contact(c, fsink, &[r, co]);
            if !ct.is_empty() {
                contacts.push(ct);
            }
        }
        fsink.keep(&[r, co], &cok);
    }
    let code_cr = extra_map(k.extras("sofi-organisme"))
        .into_iter()
        .find(|(i, _)| i == "code-cr")
        .and_then(|(_, v)| Text::new(&v));
    let site = site_code_of(&[Some(r)], || format!("{siret:?}"));
    fsink.keep(&[r], &k);
    let siret = siret?;
    let raison_sociale = raison_sociale.or_else(|| nom.clone());
    let Some(raison_sociale) = raison_sociale else {
        ctx.err(
            format!("{path}/raison-sociale"),
            "missing: the organisme responsable needs a name",
        );
        return None;
    };
    let nom = nom.filter(|n| n != &raison_sociale);
    // The writer writes one contact built from the organisme's own fields when it has
    // none; that one is not a contact of its own.
    let organisme = Organisme {
        siret,
        raison_sociale,
        nom,
        nda,
        code_cr,
        adresse: adresse_o,
        telephone,
        courriel,
        web,
        contacts,
        sites: Vec::new(),
        stocke: StoreDates::default(),
    };
    Some((organisme, site))
}

/// What an LHÉO action says that SOFI keeps on the action (taken from the first one).
#[derive(Clone)]
struct ActionLevel {
    dispensateur: SiteRef,
    complement_intitule: Option<Text>,
    le_plus: Option<Text>,
    url_video: Option<Text>,
    url_pdf: Option<Text>,
    url_action: Option<Text>,
    public_vise: Option<Text>,
    equipements: Vec<Equipement>,
    niveau_obligatoire: bool,
    prerequis: Option<Text>,
    blocs: Vec<Bloc>,
    validation_blocs: Option<String>,
}

/// Where an LHÉO action sits: its offer, and what the formation's earlier steps found.
struct ActionAt<'a> {
    numero: ActionCode,
    responsable: Option<&'a (Siret, SiteCode)>,
    /// The site dispensateur the offer already took from an earlier LHÉO action.
    offer_dispensateur: Option<&'a SiteRef>,
    parcours: &'a Option<String>,
}

/// An LHÉO action's own elements as taken, before its places and sessions are mapped.
struct ActionValues<'a> {
    rythmes: Option<Text>,
    publics: Vec<Formacode>,
    info_public: Option<Text>,
    niveau_obligatoire: bool,
    modalites_alternance: Option<&'a Element>,
    modalites_enseignement: Option<ModalitesEnseignement>,
    conditions: Option<Text>,
    prise_en_charge: Option<bool>,
    lieu: Option<&'a Element>,
    formateur: Option<&'a Element>,
    entrees_sorties: EntreesSorties,
    url_action: Option<Text>,
    acces: Option<Text>,
    modalites_recrutement_texte: Option<Text>,
    modalites_pedagogiques_texte: Option<Text>,
    modalites_pedagogiques: Vec<Formacode>,
    equipements: Vec<Equipement>,
    frais_restants: Option<&'a Element>,
    prix: Option<&'a Element>,
    frais_ttc: Option<Montant>,
    duree_indicative: Option<Text>,
    heures_centre: Option<u32>,
    heures_entreprise: Option<u32>,
    total: Option<&'a Element>,
    detail_prise_en_charge: Option<&'a Element>,
    financeur: Option<&'a Element>,
    sofi_action: Vec<(String, String)>,
    duree_hebdo: Option<u32>,
    sessions: Vec<&'a Element>,
}

/// The FORMACODEs of the children `name`; one that is not a FORMACODE is kept as given.
fn formacodes_kept(
    k: &mut Kids,
    name: &str,
    path: &str,
    ctx: &mut Ctx,
    sink: &mut Sink,
) -> Vec<Formacode> {
    k.take_all(name)
        .into_iter()
        .filter_map(|c| match Formacode::parse(c.text.trim()) {
            Ok(f) => Some(f),
            Err(e) => {
                ctx.kept(format!("{path}/{name}"), &c.text, e);
                sink.wrapped.push(node(c));
                None
            }
        })
        .collect()
}

/// The action's equipements; one of no known type is kept as given.
fn equipements(k: &mut Kids, path: &str, ctx: &mut Ctx, sink: &mut Sink) -> Vec<Equipement> {
    let mut out = Vec::new();
    for eq in k.take_all("equipement") {
        let t = eq
            .child("type-equipement")
            .and_then(|t| TypeEquipement::from_lheo(&t.text));
        match t {
            Some(type_equipement) => out.push(Equipement {
                type_equipement,
                cout_indicatif: eq
                    .child("cout-indicatif-equipement")
                    .and_then(|c| number(&c.text)),
                commentaire: eq.child("commentaire").and_then(|c| Text::new(&c.text)),
            }),
            None => {
                let given = eq.child("type-equipement").map_or("", |t| t.text.as_str());
                ctx.kept(
                    format!("{path}/equipement/type-equipement"),
                    given,
                    "missing or not a code of the equipment types",
                );
                sink.wrapped.push(node(eq));
            }
        }
    }
    out
}

fn action_values<'a>(
    k: &mut Kids<'a>,
    path: &str,
    ctx: &mut Ctx,
    asink: &mut Sink,
) -> ActionValues<'a> {
    // Taking only marks an element as used, so these can be taken first; what records
    // (`ctx.kept`, `asink`) is read below in document order, which the written extras keep.
    // Derived from the sessions' informations collectives on export.
    k.take_all("adresse-information");
    k.take_all("date-information");
    k.constant("conventionnement", "1");
    let prix = k.take("prix-total-TTC");
    // The fields are evaluated in the order written.
    ActionValues {
        rythmes: k.text("rythme-formation"),
        publics: formacodes_kept(k, "code-public-vise", path, ctx, asink),
        info_public: k.text("info-public-vise"),
        niveau_obligatoire: k
            .take("niveau-entree-obligatoire")
            .and_then(|c| flag(&c.text))
            .unwrap_or(false),
        modalites_alternance: k.take("modalites-alternance"),
        modalites_enseignement: modalites_enseignement(k, path, ctx, asink),
        conditions: k.text("conditions-specifiques"),
        prise_en_charge: k
            .take("prise-en-charge-frais-possible")
            .and_then(|c| flag(&c.text)),
        lieu: k.take("lieu-de-formation"),
        formateur: k.take("organisme-formateur"),
        entrees_sorties: k
            .take("modalites-entrees-sorties")
            .and_then(|m| EntreesSorties::from_lheo(&m.text))
            .unwrap_or(EntreesSorties::DatesFixes),
        url_action: k
            .take("url-action")
            .and_then(|u| u.child("urlweb"))
            .and_then(|u| Text::new(&u.text)),
        acces: k.text("acces-handicapes"),
        modalites_recrutement_texte: k.text("modalites-recrutement"),
        modalites_pedagogiques_texte: k.text("modalites-pedagogiques"),
        modalites_pedagogiques: formacodes_kept(k, "code-modalite-pedagogique", path, ctx, asink),
        equipements: equipements(k, path, ctx, asink),
        frais_restants: k.take("frais-restants"),
        frais_ttc: prix_ttc(prix, path, ctx),
        prix,
        duree_indicative: k.text("duree-indicative"),
        heures_centre: k.take("nombre-heures-centre").and_then(|c| number(&c.text)),
        heures_entreprise: k
            .take("nombre-heures-entreprise")
            .and_then(|c| number(&c.text)),
        total: k.take("nombre-heures-total"),
        detail_prise_en_charge: k.take("detail-conditions-prise-en-charge"),
        financeur: k.take("organisme-financeur"),
        sofi_action: extra_map(k.extras("sofi-action")),
        duree_hebdo: duree_hebdo(k),
        sessions: k.take_all("session"),
    }
}

/// The action's modalites-enseignement; a value not in the dictionary is kept as given.
fn modalites_enseignement(
    k: &mut Kids,
    path: &str,
    ctx: &mut Ctx,
    asink: &mut Sink,
) -> Option<ModalitesEnseignement> {
    k.take("modalites-enseignement").and_then(|m| {
        let code = ModalitesEnseignement::from_lheo(&m.text);
        if code.is_none() {
            let other = m.text.trim();
            ctx.kept(
                format!("{path}/modalites-enseignement"),
                other,
                format!("{other:?} is not a code of dict-modalites-enseignement (0, 1, 2)"),
            );
            asink.wrapped.push(node(m));
        }
        code
    })
}

/// The price with taxes; one that is not an amount is kept with the action's other
/// derived values (`keep_derived`).
fn prix_ttc(prix: Option<&Element>, path: &str, ctx: &mut Ctx) -> Option<Montant> {
    prix.and_then(|p| match Montant::parse(p.text.trim()) {
        Ok(m) => Some(m),
        Err(e) => {
            ctx.kept(format!("{path}/prix-total-TTC"), &p.text, e);
            None
        }
    })
}

/// The weekly hours: the first `extra` of `extras info="duree-hebdo"` (national files'
/// place); exports before it wrote them in the session's extras.
fn duree_hebdo(k: &mut Kids) -> Option<u32> {
    k.extras("duree-hebdo")
        .and_then(|x| x.children_named("extra").next())
        .and_then(|x| number(&x.text))
}

/// The lieu de formation: the site the sessions take place at (a fact about its
/// organisme: the formation's, the formateur's, else the responsable's) and its address.
fn lieu_de_formation(
    v: &ActionValues,
    path: &str,
    at: &ActionAt,
    ctx: &mut Ctx,
    asink: &mut Sink,
    facts: &mut Vec<OrgFact>,
) -> Option<(SiteRef, Adresse)> {
    let lieu_siret = siret_in(v.lieu, "SIRET-lieu-formation");
    let lieu_siret_bad = matches!(lieu_siret, Some(Err(_)));
    let lieu_siret = match lieu_siret {
        Some(r) => ctx.req(
            &format!("{path}/lieu-de-formation/SIRET-lieu-formation/SIRET"),
            r,
        ),
        None => None,
    };
    let mut found = None;
    if let Some(l) = v.lieu {
        let mut lk = Kids::new(l);
        lk.take("SIRET-lieu-formation");
        let co = lk.take("coordonnees");
        let ad = co.and_then(|c| c.child("adresse"));
        let siret = lieu_siret
            .or_else(|| siret_in(v.formateur, "SIRET-formateur").and_then(Result::ok))
            .or_else(|| at.responsable.map(|r| r.0.clone()));
        let code = site_code_of(&[Some(l), co, ad], || {
            format!("{:?}", ad.map(|a| &a.children))
        });
        if let (Some(co), Some(siret)) = (co, siret) {
            let mut ck = Kids::new(co);
            let adr = ck.take("adresse").and_then(|a| {
                adresse(
                    a,
                    &format!("{path}/lieu-de-formation/coordonnees/adresse"),
                    ctx,
                    asink,
                    &[l, co],
                )
            });
            // A `ligne` directly in `coordonnees` (ONISEP's site name) names the site.
            let nom = ck
                .take("ligne")
                .and_then(|x| Text::new(&x.text))
                .or_else(|| adr.as_ref().and_then(|a| a.denomination.clone()))
                .or_else(|| Text::new(code.as_str()));
            asink.keep(&[l, co], &ck);
            if let (Some(mut adr), Some(nom)) = (adr, nom) {
                // The writer names a site's address "raison sociale - site" when it has no
                // denomination; keeping the one read makes the export say the same.
                if adr.denomination.is_none() {
                    adr.denomination = Some(nom.clone());
                }
                facts.push(OrgFact::Lieu {
                    siret: siret.clone(),
                    site: code.clone(),
                    nom,
                    adresse: adr.clone(),
                    acces_handicapes: v.acces.clone(),
                });
                found = Some((SiteRef { siret, site: code }, adr));
            }
        }
        asink.keep(&[l], &lk);
    }
    if found.is_none() && !lieu_siret_bad {
        ctx.err(
            format!("{path}/lieu-de-formation"),
            "missing or without an address: a session needs its place",
        );
    }
    found
}

/// The site dispensateur an `organisme-formateur` names (a fact about its organisme,
/// placed where its contact says, else where the action is taught).
fn dispensateur(
    f: &Element,
    lieu_adresse: &Adresse,
    path: &str,
    at: &ActionAt,
    ctx: &mut Ctx,
    asink: &mut Sink,
    facts: &mut Vec<OrgFact>,
) -> Option<SiteRef> {
    let kept_before_formateur = asink.wrapped.len();
    let siret = match siret_in(Some(f), "SIRET-formateur") {
        Some(r) => ctx.req(
            &format!("{path}/organisme-formateur/SIRET-formateur/SIRET"),
            r,
        )?,
        None => at.responsable.map(|r| r.0.clone())?,
    };
    let mut fk = Kids::new(f);
    fk.take("SIRET-formateur");
    let raison_sociale = fk.text("raison-sociale-formateur");
    let site = site_code_of(&[Some(f)], || siret.as_str().to_owned());
    let mut contact_adresse = None;
    let contact = fk.take("contact-formateur").map(|cf| {
        let mut cfk = Kids::new(cf);
        cfk.constant("type-contact", super::writer::TYPE_CONTACT_PEDAGOGIQUE);
        let co = cfk.take("coordonnees");
        contact_adresse = co
            .and_then(|co| co.child("adresse"))
            .and_then(|a| address_hint(a, &[f, cf]));
        let c = co
            .map(|co| contact(co, asink, &[f, cf]))
            .unwrap_or_default();
        asink.keep(&[f, cf], &cfk);
        c
    });
    asink.keep(&[f], &fk);
    facts.push(OrgFact::Formateur {
        siret: siret.clone(),
        raison_sociale,
        site: site.clone(),
        contact: contact.filter(|c| !c.is_empty()),
        adresse: contact_adresse.or_else(|| Some(lieu_adresse.clone())),
    });
    let sd = SiteRef { siret, site };
    // SOFI has one site dispensateur per action, and the offer takes the first LHÉO
    // action's. A later action taught by another organisme (national files have them)
    // keeps its whole organisme-formateur with its own content, so the export still says
    // who teaches it (the organisme itself is stored all the same).
    if at.offer_dispensateur.is_some_and(|o| o != &sd) {
        asink.wrapped.truncate(kept_before_formateur);
        asink.wrapped.push(node(f));
    }
    Some(sd)
}

/// The action's texts with what the writer appended to them taken back off: the public
/// visé at the end of the pré-requis, the commentaire durée at the end of the rythme or
/// of the recruitment text (`docs/mapping.md`, "Text where the standard has room").
struct ActionTexts {
    public_vise: Option<Text>,
    commentaire_duree: Option<Text>,
    rythmes: Option<Text>,
    modalites_recrutement_texte: Option<Text>,
    prerequis: Option<Text>,
}

fn action_texts(v: &mut ActionValues) -> ActionTexts {
    let sofi_get = |key: &str| get(&v.sofi_action, key).and_then(Text::new);
    // The extras hold the whole text when the standard element holds a part or another
    // element holds it (see the writer): they win.
    let public_vise = sofi_get("public-vise").or(v.info_public.take());
    let commentaire_duree = sofi_get("commentaire-duree").or(v.duree_indicative.take());
    let conditions = v.conditions.take();
    let conditions = match &public_vise {
        Some(p) => conditions.and_then(|c| {
            let appended = format!("{}{p}", super::writer::PUBLIC_VISE_PREFIX);
            if c.as_str() == appended.trim_start() {
                return None; // the public alone: no pré-requis
            }
            match c.as_str().strip_suffix(&appended) {
                Some(base) => Text::new(base),
                None => Some(c),
            }
        }),
        None => conditions,
    };
    let place = commentaire_duree
        .as_ref()
        .map(|c| (c, super::writer::PlaceCommentaire::of(c)));
    let unappend = |t: Option<Text>, want: super::writer::PlaceCommentaire| match place {
        Some((c, p)) if p == want => t.and_then(|t| {
            if t.as_str() == c.as_str() {
                return None;
            }
            match t.as_str().strip_suffix(&format!("\n{c}")) {
                Some(base) => Text::new(base),
                None => Some(t),
            }
        }),
        _ => t,
    };
    let rythmes = unappend(v.rythmes.take(), super::writer::PlaceCommentaire::Rythme);
    let modalites_recrutement_texte = unappend(
        v.modalites_recrutement_texte.take(),
        super::writer::PlaceCommentaire::Recrutement,
    );
    ActionTexts {
        prerequis: conditions.filter(|c| c.as_str() != "aucune"),
        public_vise,
        commentaire_duree,
        rythmes,
        modalites_recrutement_texte,
    }
}

/// Derived values: kept only when they say something the model does not rebuild (from
/// the action's first session).
fn keep_derived(v: &ActionValues, first: Option<&Session>, asink: &mut Sink) {
    if let Some(m) = v.modalites_alternance {
        let rebuilt = first.map(super::writer::modalites_alternance);
        if rebuilt.as_deref() != Some(m.text.trim()) {
            asink.wrapped.push(node(m));
        }
    }
    if let Some(f) = v.frais_restants {
        let rebuilt = first.and_then(|s| super::writer::frais_restants(&s.dispositif));
        if rebuilt.as_deref() != Some(f.text.trim()) {
            asink.wrapped.push(node(f));
        }
    }
    if let Some(d) = v.detail_prise_en_charge {
        let rebuilt = first.and_then(|s| super::writer::detail_prise_en_charge(&s.dispositif));
        if rebuilt.as_deref() != Some(d.text.trim()) {
            asink.wrapped.push(node(d));
        }
    }
    if let Some(p) = v.prix {
        if Montant::parse(p.text.trim()).is_err() {
            asink.wrapped.push(node(p));
        }
    }
    if let Some(t) = v.total {
        let (centre, entreprise) = (v.heures_centre, v.heures_entreprise);
        let rebuilt = (centre.is_some() || entreprise.is_some()).then(|| {
            (u64::from(centre.unwrap_or(0)) + u64::from(entreprise.unwrap_or(0))).to_string()
        });
        if rebuilt.as_deref() != Some(t.text.trim()) {
            asink.wrapped.push(node(t));
        }
    }
}

/// Maps one LHÉO action: its action-level values (SOFI keeps the first action's) and its
/// sessions, each carrying the action's kept content.
fn action(
    a: &Element,
    path: &str,
    at: &ActionAt,
    ctx: &mut Ctx,
    facts: &mut Vec<OrgFact>,
) -> Option<(ActionLevel, Vec<Session>)> {
    let mut asink = Sink::default();
    let mut k = Kids::new(a);
    let mut v = action_values(&mut k, path, ctx, &mut asink);
    let (site_lieu, lieu_adresse) = lieu_de_formation(&v, path, at, ctx, &mut asink, facts)?;
    let dispensateur = match v.formateur {
        Some(f) => dispensateur(f, &lieu_adresse, path, at, ctx, &mut asink, facts)?,
        // No formateur: the organisme responsable teaches, at its own site.
        None => {
            let (siret, site) = at.responsable?.clone();
            SiteRef { siret, site }
        }
    };
    let mut places = None;
    if let Some(f) = v.financeur {
        let mut fk = Kids::new(f);
        fk.constant("code-financeur", super::writer::CODE_FINANCEUR_REGION);
        places = fk.take("nb-places-financees").and_then(|n| number(&n.text));
        asink.keep(&[f], &fk);
    }
    let texts = action_texts(&mut v);
    let sofi_get = |key: &str| get(&v.sofi_action, key).and_then(Text::new);
    let mut level = ActionLevel {
        dispensateur,
        complement_intitule: sofi_get("complement-intitule"),
        le_plus: sofi_get("le-plus-formation"),
        url_video: sofi_get("url-video"),
        url_pdf: sofi_get("url-pdf"),
        url_action: v.url_action.take(),
        public_vise: texts.public_vise,
        equipements: std::mem::take(&mut v.equipements),
        niveau_obligatoire: v.niveau_obligatoire,
        prerequis: texts.prerequis,
        blocs: Vec::new(),
        validation_blocs: None,
    };
    let template = SessionTemplate {
        numero: at.numero,
        site_lieu,
        entrees_sorties: v.entrees_sorties,
        rythmes: texts.rythmes,
        parcours: at.parcours.clone(),
        modalites_pedagogiques: std::mem::take(&mut v.modalites_pedagogiques),
        modalites_pedagogiques_texte: v.modalites_pedagogiques_texte.take(),
        modalites_enseignement: v.modalites_enseignement,
        heures_centre: v.heures_centre,
        heures_entreprise: v.heures_entreprise,
        commentaire_duree: texts.commentaire_duree,
        duree_hebdo: v.duree_hebdo,
        responsable: at.responsable.cloned(),
        modalites_recrutement_texte: texts.modalites_recrutement_texte,
        publics: std::mem::take(&mut v.publics),
        places,
        prise_en_charge: v.prise_en_charge,
        frais_ttc: v.frais_ttc,
    };
    let mut out = Vec::new();
    let mut session_sinks = Vec::new();
    for (si, s) in v.sessions.iter().enumerate() {
        let spath = format!("{path}/session[{}]", si + 1);
        if let Some((sess, sink, blocs, vb)) = session(s, &spath, &template, ctx) {
            if level.blocs.is_empty() && !blocs.is_empty() {
                level.blocs = blocs;
                level.validation_blocs = vb;
            }
            out.push(sess);
            session_sinks.push(sink);
        }
    }
    keep_derived(&v, out.first(), &mut asink);
    asink.keep(&[], &k);
    let action_xml = asink.into_nodes();
    for (s, sink) in out.iter_mut().zip(session_sinks) {
        let ex = s.extras_lheo.get_or_insert_with(LheoExtras::default);
        ex.xml = sink.into_nodes();
        ex.action_xml = action_xml.clone();
        if ex.is_empty() {
            s.extras_lheo = None;
        }
    }
    if out.is_empty() {
        ctx.err(
            format!("{path}/session"),
            "missing: an action needs at least one session",
        );
        return None;
    }
    Some((level, out))
}

/// The action-level values every session of one LHÉO action shares.
struct SessionTemplate {
    numero: ActionCode,
    site_lieu: SiteRef,
    entrees_sorties: EntreesSorties,
    rythmes: Option<Text>,
    parcours: Option<String>,
    modalites_pedagogiques: Vec<Formacode>,
    modalites_pedagogiques_texte: Option<Text>,
    modalites_enseignement: Option<ModalitesEnseignement>,
    heures_centre: Option<u32>,
    heures_entreprise: Option<u32>,
    commentaire_duree: Option<Text>,
    duree_hebdo: Option<u32>,
    responsable: Option<(Siret, SiteCode)>,
    modalites_recrutement_texte: Option<Text>,
    publics: Vec<Formacode>,
    places: Option<u32>,
    prise_en_charge: Option<bool>,
    frais_ttc: Option<Montant>,
}

type SessionOut = (Session, Sink, Vec<Bloc>, Option<String>);

/// The session's code: a FAS code of the offer's action is kept; anything else maps into
/// the reserved range (the original is kept to be written back).
fn session_code(
    s: &Element,
    path: &str,
    t: &SessionTemplate,
    ctx: &mut Ctx,
) -> Option<(FasCode, Option<LheoNumero>)> {
    let raw = s.attr("numero").unwrap_or("").trim();
    match FasCode::parse(raw) {
        Ok(c) if c.action == t.numero => Some((c, None)),
        _ => {
            let n = ctx.req(&format!("{path}/@numero"), LheoNumero::parse(raw))?;
            let code = FasCode {
                action: t.numero,
                session: foreign_number("session", raw),
            };
            Some((code, Some(n)))
        }
    }
}

/// The `recrutement` elements: informations collectives (modalité 9) and the other
/// modalités; anything else is kept.
fn recrutements(
    k: &mut Kids,
    path: &str,
    ctx: &mut Ctx,
    sink: &mut Sink,
) -> (Vec<InformationCollective>, Vec<ModaliteRecrutement>) {
    let mut informations_collectives = Vec::new();
    let mut modalites_recrutement = Vec::new();
    for r in k.take_all("recrutement") {
        let m = r.child("modalite-recrutement").map(|m| m.text.trim());
        if m == Some("9") {
            let mut rk = Kids::new(r);
            rk.take("modalite-recrutement");
            rk.take("a-distance");
            let lieu = rk
                .take("adresse")
                .and_then(|a| adresse(a, &format!("{path}/recrutement/adresse"), ctx, sink, &[r]));
            let lien_distance = rk.text("urlweb");
            let places = rk.take("nb-places").and_then(|n| number(&n.text));
            let date = rk
                .take("periode")
                .and_then(|p| p.child("debut"))
                .and_then(|d| date8(&d.text).ok().flatten());
            let heure_debut = rk.take("heure-debut").and_then(|h| heure(&h.text).ok());
            let heure_fin = rk.take("heure-fin").and_then(|h| heure(&h.text).ok());
            let commentaire = rk.text("commentaire");
            sink.keep(&[r], &rk);
            informations_collectives.push(InformationCollective {
                code: r.attr("numero").and_then(Text::new),
                date,
                heure_debut,
                heure_fin,
                lieu,
                lien_distance,
                places,
                commentaire,
            });
        } else if let Some(mr) = m
            .and_then(ModaliteRecrutement::from_lheo)
            .filter(|_| r.children.len() == 1)
        {
            modalites_recrutement.push(mr);
        } else {
            sink.wrapped.push(node(r));
        }
    }
    (informations_collectives, modalites_recrutement)
}

/// The session's referents, from its `contact-session` elements (by type and `info`).
#[derive(Default)]
struct Referents {
    pmr: Option<Contact>,
    mobilite: Option<Contact>,
    prf: Option<Contact>,
    mail_liaison: Option<Text>,
}

fn referents(k: &mut Kids, sink: &mut Sink) -> Referents {
    let mut out = Referents::default();
    for cs in k.take_all("contact-session") {
        let tc = cs.child("type-contact").map(|t| t.text.trim());
        let co = cs.child("coordonnees");
        let mut scratch = Sink::default();
        let c = co
            .map(|co| contact(co, &mut scratch, &[cs]))
            .unwrap_or_default();
        match (tc, cs.attr("info")) {
            (Some("1"), None) => out.pmr = Some(c),
            (Some("2"), None) => out.mobilite = Some(c),
            (Some("0"), Some("referent-prf")) => out.prf = Some(c),
            (Some("0"), Some("mail-liaison")) if c.courriel.is_some() => {
                out.mail_liaison = c.courriel
            }
            _ => {
                sink.wrapped.push(node(cs));
                continue;
            }
        }
        sink.direct.extend(scratch.direct);
        sink.wrapped.extend(scratch.wrapped);
    }
    out
}

/// `blocs-competences`: the blocs, and the `validation-blocs` code.
fn blocs(k: &mut Kids) -> (Vec<Bloc>, Option<String>) {
    let mut blocs = Vec::new();
    let Some(b) = k.take("blocs-competences") else {
        return (blocs, None);
    };
    let validation_blocs = b
        .child("validation-blocs")
        .map(|v| v.text.trim().to_owned());
    for bc in b.children_named("bloc-competences") {
        let x = extra_map(
            bc.children
                .iter()
                .find(|c| c.name == "extras" && c.attr("info") == Some("sofi-bloc")),
        );
        let code = bc
            .child("code-bloc")
            .and_then(|c| CodeBloc::parse(c.text.trim()).ok());
        let intitule = bc.child("libelle-bloc").and_then(|c| Text::new(&c.text));
        if let (Some(code), Some(intitule)) = (code, intitule) {
            blocs.push(Bloc {
                code,
                type_module: get(&x, "type-module")
                    .and_then(TypeModule::from_input)
                    .unwrap_or(TypeModule::Inconnu),
                intitule,
                objectif: get(&x, "objectif").and_then(Text::new),
                programme: get(&x, "programme").and_then(Text::new),
            });
        }
    }
    (blocs, validation_blocs)
}

/// The alternance cycle (`cycle` of `type-cycle` 1): the rhythm, and the effectif
/// minimal and capacité the writer puts there.
#[derive(Default)]
struct Cycle {
    alternance: Option<CycleAlternance>,
    effectif_minimal: Option<u32>,
    capacite_simultanee: Option<u32>,
}

fn cycle(k: &mut Kids) -> Cycle {
    let Some(c) = k.take_where(|c| {
        c.name == "cycle" && c.child("type-cycle").is_some_and(|t| t.text.trim() == "1")
    }) else {
        return Cycle::default();
    };
    Cycle {
        effectif_minimal: c.child("effectif-minimal").and_then(|x| number(&x.text)),
        capacite_simultanee: c.child("capacite-simultanee").and_then(|x| number(&x.text)),
        alternance: c.child("alternance").and_then(|a| {
            let r = a.child("rythme-alternance")?;
            Some(CycleAlternance {
                type_alternance: TypeAlternance::from_lheo(&a.child("type-alternance")?.text)?,
                unite: UniteRythme::from_lheo(&r.child("unite-rythme-alternance")?.text)?,
                unites_entreprise: number(&r.child("unites-entreprise")?.text)?,
                unites_centre: number(&r.child("unites-centre")?.text)?,
            })
        }),
    }
}

/// The `extras` block `info` inside the session's `sofi-session` extras.
fn sub_extras<'a>(ss: Option<&'a Element>, info: &str) -> Option<&'a Element> {
    ss?.children
        .iter()
        .find(|c| c.name == "extras" && c.attr("info") == Some(info))
}

/// The registration periods: all of them from the `sofi-session` extras, else the first
/// `periode-inscription`.
fn periodes_inscription(
    ss: Option<&Element>,
    first_inscription: Option<&Element>,
) -> Vec<PeriodeInscription> {
    let mut out = Vec::new();
    if let Some(pi) = sub_extras(ss, "periodes-inscription") {
        for (info, v) in extra_map(Some(pi)) {
            let type_inscription = match info.as_str() {
                "candidature" => TypeInscription::Candidature,
                "recrutement" => TypeInscription::Recrutement,
                _ => TypeInscription::Inscription,
            };
            if let Some((d, f)) = v.trim().split_once('-') {
                if let Ok(Some(debut)) = date8(d) {
                    out.push(PeriodeInscription {
                        type_inscription,
                        debut,
                        fin: date8(f).ok().flatten(),
                    });
                }
            }
        }
    } else if let Some(p) = first_inscription.and_then(|p| p.child("periode")) {
        if let Some(Ok(Some(debut))) = p.child("debut").map(|d| date8(&d.text)) {
            out.push(PeriodeInscription {
                type_inscription: TypeInscription::Inscription,
                debut,
                fin: p.child("fin").and_then(|f| date8(&f.text).ok().flatten()),
            });
        }
    }
    out
}

/// The periods in centre and in entreprise (`sofi-session` extras only).
fn periodes_formation(ss: Option<&Element>) -> Vec<PeriodeFormation> {
    let mut out = Vec::new();
    if let Some(pf) = sub_extras(ss, "periodes-formation") {
        for (info, v) in extra_map(Some(pf)) {
            let type_periode = if info == "entreprise" {
                TypePeriode::Entreprise
            } else {
                TypePeriode::Centre
            };
            if let Some((d, f)) = v.trim().split_once('-') {
                if let (Ok(Some(debut)), Ok(Some(fin))) = (date8(d), date8(f)) {
                    out.push(PeriodeFormation {
                        type_periode,
                        debut,
                        fin,
                    });
                }
            }
        }
    }
    out
}

/// The alternance rhythm as the `sofi-session` extras give it (when no cycle did).
fn alternance_extras(ss: Option<&Element>) -> Option<CycleAlternance> {
    let m = extra_map(Some(sub_extras(ss, "alternance")?));
    Some(CycleAlternance {
        type_alternance: TypeAlternance::from_lheo(get(&m, "type-alternance")?)?,
        unite: UniteRythme::from_lheo(get(&m, "unite-rythme")?)?,
        unites_entreprise: number(get(&m, "unites-entreprise")?)?,
        unites_centre: number(get(&m, "unites-centre")?)?,
    })
}

/// The session's organisme responsable: from the `sofi-session` extras, else the
/// formation's.
fn session_responsable(
    sofi_session: &[(String, String)],
    path: &str,
    t: &SessionTemplate,
    ctx: &mut Ctx,
) -> Option<SiteRef> {
    match get(sofi_session, "organisme-responsable").and_then(|v| v.split_once('/')) {
        Some((siret, site)) => {
            let at = format!("{path}/extras[sofi-session]/organisme-responsable");
            Some(SiteRef {
                siret: ctx.req(&at, Siret::parse(siret))?,
                site: ctx.req(&at, SiteCode::parse(site))?,
            })
        }
        None => {
            let (siret, site) = t.responsable.clone()?;
            Some(SiteRef { siret, site })
        }
    }
}

/// The session's dispositif: the `sofi-dispositif` extras, else what the action says.
fn dispositif(sofi_disp: &[(String, String)], t: &SessionTemplate, c: &Cycle) -> Dispositif {
    let d_text = |k: &str| get(sofi_disp, k).and_then(Text::new);
    let d_num = |k: &str| get(sofi_disp, k).and_then(number);
    let d_amount = |k: &str| get(sofi_disp, k).and_then(|v| Montant::parse(v).ok());
    let d_flag = |k: &str| get(sofi_disp, k).and_then(flag);
    Dispositif {
        programme: d_text("dispositif").unwrap_or_else(|| {
            Text::new("Import LHÉO : dispositif non renseigné").expect("not empty")
        }),
        publics: t.publics.clone(),
        numero_lot_cr: d_text("numero-lot-cr"),
        id_action_cr: d_text("id-action-cr"),
        of_mandataire_cr: d_text("of-mandataire-cr"),
        places: d_num("nb-places").or(t.places),
        places_restantes: d_num("nb-places-restantes"),
        effectif_minimal: d_num("effectif-minimal").or(c.effectif_minimal),
        capacite_simultanee: d_num("capacite-simultanee").or(c.capacite_simultanee),
        frais_ht: d_amount("frais-ht"),
        taux_tva: get(sofi_disp, "taux-tva").and_then(|v| TauxTva::parse(v).ok()),
        frais_ttc: d_amount("frais-ttc").or(t.frais_ttc),
        frais_additionnels: d_amount("frais-additionnels"),
        frais_certification: d_amount("frais-certification"),
        frais_certification_inclus: d_flag("frais-certification-inclus"),
        prise_en_charge_frais_pedagogiques: d_flag("prise-en-charge-frais-pedagogiques")
            .or(t.prise_en_charge.filter(|b| *b)),
    }
}

/// Maps one `<session>` of an action whose shared values `t` holds.
fn session(s: &Element, path: &str, t: &SessionTemplate, ctx: &mut Ctx) -> Option<SessionOut> {
    let mut sink = Sink::default();
    let mut k = Kids::new(s);
    let (code, foreign) = session_code(s, path, t, ctx)?;
    let (mut date_debut, mut date_fin) = (None, None);
    if let Some(p) = k.take("periode") {
        date_debut = p
            .child("debut")
            .and_then(|d| ctx.req(&format!("{path}/periode/debut"), date8(&d.text)))
            .flatten();
        date_fin = p
            .child("fin")
            .and_then(|d| ctx.req(&format!("{path}/periode/fin"), date8(&d.text)))
            .flatten();
    }
    let adresse_inscription = k.take("adresse-inscription").and_then(|ai| {
        let mut ak = Kids::new(ai);
        let a = ak.take("adresse").and_then(|a| {
            let at = format!("{path}/adresse-inscription/adresse");
            adresse(a, &at, ctx, &mut sink, &[ai])
        });
        sink.keep(&[ai], &ak);
        a
    });
    let first_inscription = k.take("periode-inscription");
    let recrutement = k
        .take("etat-recrutement")
        .and_then(|e| EtatRecrutement::from_lheo(&e.text));
    let (informations_collectives, modalites_recrutement) =
        recrutements(&mut k, path, ctx, &mut sink);
    let referents = referents(&mut k, &mut sink);
    // Derived from the formation's certification on export.
    k.take("reference-certification");
    let (blocs, validation_blocs) = blocs(&mut k);
    let cycle = cycle(&mut k);
    let ss = k.extras("sofi-session");
    let sofi_session = extra_map(ss);
    let sofi_disp = extra_map(k.extras("sofi-dispositif"));
    sink.keep(&[], &k);

    let type_parcours = match get(&sofi_session, "type-parcours") {
        Some(name) => TypeParcours::from_input(name).unwrap_or(TypeParcours::Inconnu),
        None => t
            .parcours
            .as_deref()
            .and_then(TypeParcours::from_lheo)
            .unwrap_or(TypeParcours::Inconnu),
    };
    let organisme_responsable = session_responsable(&sofi_session, path, t, ctx)?;
    let session = Session {
        code,
        site_lieu: t.site_lieu.clone(),
        date_debut,
        date_fin,
        entrees_sorties: t.entrees_sorties,
        rythmes: t.rythmes.clone(),
        periodes_formation: periodes_formation(ss),
        type_parcours,
        modalites_pedagogiques: t.modalites_pedagogiques.clone(),
        modalites_pedagogiques_texte: t.modalites_pedagogiques_texte.clone(),
        modalites_enseignement: t.modalites_enseignement,
        duree_centre_heures: t.heures_centre,
        duree_entreprise_heures: t.heures_entreprise,
        duree_hebdo_heures: t
            .duree_hebdo
            .or_else(|| get(&sofi_session, "duree-hebdomadaire-heures").and_then(number)),
        commentaire_duree: t.commentaire_duree.clone(),
        cycle_alternance: cycle.alternance.clone().or_else(|| alternance_extras(ss)),
        organisme_responsable,
        recrutement,
        modalites_recrutement,
        modalites_recrutement_texte: t.modalites_recrutement_texte.clone(),
        informations_collectives,
        periodes_inscription: periodes_inscription(ss, first_inscription),
        adresse_inscription,
        referent_pmr: referents.pmr,
        referent_prf: referents.prf,
        mail_liaison: referents.mail_liaison,
        referent_mobilite: referents.mobilite,
        module_remise_a_niveau: get(&sofi_session, "module-remise-a-niveau").and_then(flag),
        dispositif: dispositif(&sofi_disp, t, &cycle),
        cree_le: timestamp(s, "horodatage-creation"),
        modifie_le: timestamp(s, "horodatage-modification"),
        stocke: StoreDates::default(),
        extras_lheo: foreign.map(|n| LheoExtras {
            numero: Some(n),
            ..Default::default()
        }),
    };
    Some((session, sink, blocs, validation_blocs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_identifiers_map_into_the_reserved_range_deterministically() {
        let a = action_code_of("9436_18706").unwrap();
        assert_eq!(action_code_of(" 9436_18706 "), Some(a));
        assert!(a.formation >= FOREIGN_BASE && a.action >= FOREIGN_BASE);
        assert!(a.formation < 1_000_000_000_000 && a.action < 1_000_000_000_000);
        // The code round-trips through its text form, as the store keys it.
        assert_eq!(ActionCode::parse(&a.to_string()), Ok(a));
        assert_ne!(action_code_of("9436_18707"), Some(a));
        // SOFI codes are kept as they are.
        assert_eq!(
            action_code_of("19482-89393"),
            Some(ActionCode {
                formation: 19482,
                action: 89393
            })
        );
        assert_eq!(action_code_of(""), None);
        let s = foreign_number("session", "9436_18706");
        assert!((FOREIGN_BASE..1_000_000_000_000).contains(&s));
    }

    #[test]
    fn derived_and_kept_elements() {
        let doc = r#"<lheo xmlns="http://lheo.gouv.fr/2.3"><offres>
<formation numero="X 1"><intitule-formation>T</intitule-formation>
<organisme-formation-responsable numero="7"><SIRET-organisme-formation><SIRET>13000511900032</SIRET></SIRET-organisme-formation>
<raison-sociale>R</raison-sociale><coordonnees-organisme><coordonnees><adresse><ligne>L</ligne><codepostal>44000</codepostal><ville>Nantes</ville><departement>44</departement><pays>FR</pays></adresse><fax><numtel>1</numtel></fax></coordonnees></coordonnees-organisme></organisme-formation-responsable>
<action><rythme-formation>R</rythme-formation><lieu-de-formation><coordonnees><adresse><ligne>L</ligne><codepostal>44000</codepostal><ville>Nantes</ville></adresse></coordonnees></lieu-de-formation>
<nombre-heures-centre>10</nombre-heures-centre><nombre-heures-total>10</nombre-heures-total><hebergement>H</hebergement>
<session numero="S/1"><periode><debut>20250901</debut><fin>99999999</fin></periode></session></action>
<extras info="theirs"><extra info="k">v</extra></extras>
</formation></offres></lheo>"#;
        let mut r =
            super::super::reader::LheoReader::new(doc.as_bytes(), Default::default()).unwrap();
        let el = r.next_formation().unwrap().unwrap();
        let m = map_formation(&el).unwrap();
        let o = &m.offre;
        let x = o.extras_lheo.as_ref().unwrap();
        assert_eq!(x.numero.as_ref().unwrap().as_str(), "X 1");
        // Their own extras as they were, then the kept part of the responsable (its fax,
        // not its derived departement and pays) in our block.
        assert_eq!(x.xml[0].name, "extras");
        assert_eq!(x.xml[0].attrs, vec![("info".into(), "theirs".into())]);
        let kept = &x.xml[1];
        assert_eq!(kept.attrs, vec![("info".into(), KEPT_INFO.into())]);
        let json = serde_json::to_string(kept).unwrap();
        assert!(json.contains("fax"), "{json}");
        // `departement` and `pays` are what the writer derives from the code postal (as
        // `region`, absent here): not kept, or they would be written twice.
        assert!(
            !json.contains("departement") && !json.contains("pays"),
            "{json}"
        );
        let s = &o.sessions[0];
        assert_eq!(s.duree_centre_heures, Some(10));
        assert_eq!(s.date_fin, None);
        assert_eq!(
            s.extras_lheo
                .as_ref()
                .unwrap()
                .numero
                .as_ref()
                .unwrap()
                .as_str(),
            "S/1"
        );
        let action_kept =
            serde_json::to_string(&s.extras_lheo.as_ref().unwrap().action_xml).unwrap();
        assert!(action_kept.contains("hebergement"), "{action_kept}");
        // The total is what the writer derives again: not kept.
        assert!(
            !action_kept.contains("nombre-heures-total"),
            "{action_kept}"
        );
        assert_eq!(o.etat, EtatWorkflow::Validee);
        assert_eq!(o.mandataire.as_str(), "13000511900032");
        assert_eq!(m.facts.len(), 2);
    }
}
