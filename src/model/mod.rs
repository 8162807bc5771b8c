//! The FASD domain: SOFI's Formation, Action, Session and Dispositif records, and the
//! organismes they point at.
//!
//! These are the types the input (`schemas/fasd.schema.json`) deserialises into, and the
//! JSON the store keeps. Each field holds only a valid value (see [`ids`], [`text`],
//! [`codes`]), so the rules and the LHÉO writer never re-check formats. What the types
//! cannot say — a required SOFI field left empty, an over-long text for LHÉO — is the
//! rules' business, because the organisme must be told, not the import refused.
//!
//! Vocabulary (kept in French where it is SOFI's or LHÉO's precise term):
//! - **formation**: what is taught and certified (Certif Info / RNCP, blocs de compétences);
//! - **action**: one organisme's offer of that formation at one site dispensateur; the unit
//!   of an LHÉO `<formation>` (its `numero` is the action code `F-A`);
//! - **session**: one run of the action with dates, place and recruitment (code `F-A-S`);
//! - **dispositif**: the funding programme a session belongs to (e.g. "PROGRAMME REGION -
//!   1 emploi = 1 formation"), its places and prices;
//! - **information collective**: the group meeting where candidates are recruited; a
//!   session without one cannot be syndicated;
//! - **organisme responsable** (the mandataire of the regional order), **formateur** /
//!   **dispensateur** (who teaches, at which site).

pub mod codes;
pub mod geo;
pub mod ids;
pub mod lheo_extras;
pub mod publics_v14;
pub mod region;
pub mod text;

use serde::{Deserialize, Serialize};

pub use codes::*;
pub use geo::Departement;
pub use ids::*;
pub use lheo_extras::{KeptAttrs, LheoExtras, LheoNumero, ValeurConservee, XmlNode};
pub use region::{ChampManquant, Lot};
pub use text::Text;

/// Declares a record of the model with the input's rules for optional values, said once
/// here instead of on each field: an `Option<Text>` that is absent, null or blank reads as
/// `None` (`text::opt`), and no `None` is written (`serde_with::skip_serializing_none`), so
/// that the JSON the store keeps holds only what SOFI gave.
macro_rules! record {
    ($(#[$m:meta])* $v:vis struct $name:ident { $($fields:tt)* }) => {
        record!(@fields [$(#[$m])* $v struct $name] [] $($fields)*);
    };
    // An optional text (matched on its tokens: `Option<Text>` as written in the record).
    (@fields $head:tt [$($done:tt)*]
        $(#[$fm:meta])* $fv:vis $f:ident : Option<Text>, $($rest:tt)*) => {
        record!(@fields $head [$($done)*
            $(#[$fm])*
            #[serde(default, deserialize_with = "text::opt::deserialize")]
            $fv $f: Option<Text>,
        ] $($rest)*);
    };
    (@fields $head:tt [$($done:tt)*] $(#[$fm:meta])* $fv:vis $f:ident : $t:ty, $($rest:tt)*) => {
        record!(@fields $head [$($done)* $(#[$fm])* $fv $f: $t,] $($rest)*);
    };
    (@fields [$($head:tt)*] [$($done:tt)*]) => {
        #[serde_with::skip_serializing_none]
        $($head)* { $($done)* }
    };
}

/// One line of the FASD JSON Lines input: exactly one of these keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Record {
    Organisme(Box<Organisme>),
    Offre(Box<Offre>),
    Session(Box<SessionLine>),
}

/// When the store first held a record and when its content last changed: the days (in
/// Europe/Paris) of the imports that did so. Not part of the record's JSON (the store keeps
/// them in columns of their own, set by the import), so an identical re-import changes
/// neither. The LHÉO writer falls back to them for `datecrea` / `datemaj` when SOFI gave
/// no timestamps; `None` for a record that was never stored (a test, `check` on a file).
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct StoreDates {
    pub created: Option<Date>,
    pub changed: Option<Date>,
}

/// Always equal: the dates describe the storage of a record, not its value, so an offer
/// read back from the store equals the one that was imported (the import's own change
/// detection compares the JSON, which has no dates either). Tests of the dates compare
/// the fields.
impl PartialEq for StoreDates {
    fn eq(&self, _: &StoreDates) -> bool {
        true
    }
}

record! {
    /// A postal address. `lignes` are the street lines (1 to 4).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Adresse {
        pub denomination: Option<Text>,
        pub lignes: Vec<Text>,
        pub code_postal: CodePostal,
        pub ville: Text,
        pub code_insee: Option<CodeInsee>,
        pub latitude: Option<f64>,
        pub longitude: Option<f64>,
    }
}

/// An INSEE commune code: 5 characters (digits, or 2A/2B for Corsica).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CodeInsee(String);
impl CodeInsee {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = s.len() == 5
            && (s.bytes().all(|b| b.is_ascii_digit())
                || ((s.starts_with("2A") || s.starts_with("2B"))
                    && s[2..].bytes().all(|b| b.is_ascii_digit())));
        if ok {
            Ok(CodeInsee(s.to_owned()))
        } else {
            Err(format!(
                "a code INSEE has 5 characters, such as 44109, got {s:?}"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
ids::string_value!(CodeInsee);

record! {
    /// A person or desk to contact.
    #[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Contact {
        pub civilite: Option<Text>,
        pub nom: Option<Text>,
        pub prenom: Option<Text>,
        pub telephone: Option<Text>,
        pub courriel: Option<Text>,
    }
}

impl Contact {
    pub fn is_empty(&self) -> bool {
        self == &Contact::default()
    }
}

record! {
    /// A site of an organisme (SOFI "site": dispensateur, lieu, or the responsible one).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Site {
        pub code: SiteCode,
        pub nom: Text,
        pub adresse: Adresse,
        pub contact: Option<Contact>,
        pub acces_handicapes: Option<Text>,
    }
}

/// A SOFI site code (digits, e.g. `36364`).
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct SiteCode(String);
impl SiteCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(SiteCode(s.to_owned()))
        } else {
            Err(format!(
                "a site code is 1 to 20 letters or digits, such as 36364, got {s:?}"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
ids::string_value!(SiteCode);

record! {
    /// A training organisation (one SIRET = one establishment).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Organisme {
        pub siret: Siret,
        pub raison_sociale: Text,
        /// Trade name; LHÉO `nom-organisme` falls back to the raison sociale.
        pub nom: Option<Text>,
        /// Numéro de déclaration d'activité; required of an organisme responsable by LHÉO.
        pub nda: Option<Nda>,
        /// The Conseil régional's own code for this organisme ("OF Mandataire CR").
        pub code_cr: Option<Text>,
        pub adresse: Option<Adresse>,
        pub telephone: Option<Text>,
        pub courriel: Option<Text>,
        pub web: Option<Text>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub contacts: Vec<Contact>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub sites: Vec<Site>,
        /// The store's dates of this record (see [`StoreDates`]); not in the JSON.
        #[serde(skip)]
        pub stocke: StoreDates,
    }
}

impl Organisme {
    pub fn site(&self, code: &SiteCode) -> Option<&Site> {
        self.sites.iter().find(|s| &s.code == code)
    }
    pub fn nom_ou_raison_sociale(&self) -> &Text {
        self.nom.as_ref().unwrap_or(&self.raison_sociale)
    }
}

record! {
    /// A reference to one site of one organisme.
    #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SiteRef {
        pub siret: Siret,
        pub site: SiteCode,
    }
}

record! {
    /// One SOFI action with its formation and sessions: one line of input, one stored offer,
    /// one LHÉO `<formation>`.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Offre {
        /// The action code `F-A`: the offer's `numero` everywhere.
        pub numero: ActionCode,
        pub etat: EtatWorkflow,
        /// The organisme mandataire of the regional order (SIRET).
        pub mandataire: Siret,
        pub formation: Formation,
        pub action: Action,
        #[serde(default)]
        pub sessions: Vec<Session>,
        /// Record timestamps from SOFI (RFC 3339), passed on as LHÉO `horodatage-*`.
        pub cree_le: Option<chrono::DateTime<chrono::FixedOffset>>,
        pub modifie_le: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// The store's dates of the offer (see [`StoreDates`]); `changed` also moves when one
        /// of its sessions is created, changed or deleted. Not in the JSON.
        #[serde(skip)]
        pub stocke: StoreDates,
        /// Only on offers imported from LHÉO (`import-lheo`): the document's own `numero` and
        /// the formation-level content that did not map, written back on export.
        pub extras_lheo: Option<LheoExtras>,
    }
}

/// A standalone session line: adds or replaces one session of an existing action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionLine(pub Session);

record! {
    /// The SOFI Fiche Formation.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Formation {
        pub certifinfo: Option<Certifinfo>,
        pub rncp: Option<Rncp>,
        pub intitule: Text,
        pub objectif_general: ObjectifGeneral,
        /// The formation's objective text (from the Certif Info sheet).
        pub objectif: Option<Text>,
        /// Expected results of the certification (from the Certif Info sheet).
        pub resultats_attendus: Option<Text>,
        pub type_certification: TypeCertification,
        pub description: Option<Text>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub formacodes: Vec<Formacode>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub codes_nsf: Vec<CodeNsf>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub codes_rome: Vec<CodeRome>,
        pub niveau_sortie: Option<Niveau>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub blocs: Vec<Bloc>,
        /// "Souhaitez-vous individualiser le parcours par bloc de compétences".
        #[serde(default)]
        pub individualisation_par_bloc: bool,
        pub validation: Validation,
        /// With a partial validation: the codes of the blocs the session validates.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub blocs_valides: Vec<CodeBloc>,
    }
}

record! {
    /// A bloc de compétences of the certification.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Bloc {
        pub code: CodeBloc,
        pub type_module: TypeModule,
        pub intitule: Text,
        pub objectif: Option<Text>,
        pub programme: Option<Text>,
    }
}

record! {
    /// The SOFI Fiche Action.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Action {
        pub site_dispensateur: SiteRef,
        pub complement_intitule: Option<Text>,
        pub complement_programme: Option<Text>,
        pub objectifs: Option<Text>,
        pub resultats_attendus: Option<Text>,
        /// "Le plus formation" (≤ 250 characters by the procedure).
        pub le_plus_formation: Option<Text>,
        pub url_video: Option<Text>,
        pub url_pdf: Option<Text>,
        pub url_action: Option<Text>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub equipements: Vec<Equipement>,
        pub niveau_entree: Niveau,
        #[serde(default)]
        pub niveau_entree_obligatoire: bool,
        pub prerequis: Option<Text>,
        pub commentaire_prerequis: Option<Text>,
        pub public_vise: Option<Text>,
        /// Contact for the formation; defaults to the site dispensateur's contact.
        pub contact: Option<Contact>,
    }
}

record! {
    /// An item of equipment the learner needs.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Equipement {
        #[serde(rename = "type")]
        pub type_equipement: TypeEquipement,
        pub cout_indicatif: Option<u32>,
        pub commentaire: Option<Text>,
    }
}

record! {
    /// The SOFI Fiche Session, with its Dispositif.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Session {
        pub code: FasCode,
        pub site_lieu: SiteRef,
        pub date_debut: Option<Date>,
        pub date_fin: Option<Date>,
        pub entrees_sorties: EntreesSorties,
        pub rythmes: Option<Text>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub periodes_formation: Vec<PeriodeFormation>,
        pub type_parcours: TypeParcours,
        /// Modalités pédagogiques as FORMACODE codes (e.g. 96133), with an optional text.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub modalites_pedagogiques: Vec<Formacode>,
        pub modalites_pedagogiques_texte: Option<Text>,
        pub modalites_enseignement: Option<ModalitesEnseignement>,
        pub duree_centre_heures: Option<u32>,
        pub duree_entreprise_heures: Option<u32>,
        pub duree_hebdo_heures: Option<u32>,
        pub commentaire_duree: Option<Text>,
        pub cycle_alternance: Option<CycleAlternance>,
        pub organisme_responsable: SiteRef,
        pub recrutement: Option<EtatRecrutement>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub modalites_recrutement: Vec<ModaliteRecrutement>,
        pub modalites_recrutement_texte: Option<Text>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub informations_collectives: Vec<InformationCollective>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub periodes_inscription: Vec<PeriodeInscription>,
        /// Where to apply; defaults to the site lieu's address.
        pub adresse_inscription: Option<Adresse>,
        pub referent_pmr: Option<Contact>,
        pub referent_prf: Option<Contact>,
        pub mail_liaison: Option<Text>,
        pub referent_mobilite: Option<Contact>,
        pub module_remise_a_niveau: Option<bool>,
        pub dispositif: Dispositif,
        pub cree_le: Option<chrono::DateTime<chrono::FixedOffset>>,
        pub modifie_le: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// The store's dates of the session (see [`StoreDates`]). Not in the JSON.
        #[serde(skip)]
        pub stocke: StoreDates,
        /// Only on sessions imported from LHÉO: the document's own `numero` and the session-
        /// and action-level content that did not map, written back on export.
        pub extras_lheo: Option<LheoExtras>,
    }
}

record! {
    /// A période de formation (in centre or in company).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PeriodeFormation {
        #[serde(rename = "type")]
        pub type_periode: TypePeriode,
        pub debut: Date,
        pub fin: Date,
    }
}

record! {
    /// The alternance rhythm of a session (cycle de l'alternance).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CycleAlternance {
        pub type_alternance: TypeAlternance,
        pub unite: UniteRythme,
        pub unites_entreprise: u32,
        pub unites_centre: u32,
    }
}

record! {
    /// An information collective: the recruitment meeting a session needs to be syndicated.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct InformationCollective {
        /// SOFI's code of the meeting.
        pub code: Option<Text>,
        pub date: Option<Date>,
        pub heure_debut: Option<Heure>,
        pub heure_fin: Option<Heure>,
        pub lieu: Option<Adresse>,
        /// Link of a remote meeting.
        pub lien_distance: Option<Text>,
        pub places: Option<u32>,
        pub commentaire: Option<Text>,
    }
}

record! {
    /// A période d'inscription. An open-ended one has no `fin`.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PeriodeInscription {
        #[serde(rename = "type")]
        pub type_inscription: TypeInscription,
        pub debut: Date,
        pub fin: Option<Date>,
    }
}

record! {
    /// The SOFI Fiche Dispositif of a session.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Dispositif {
        /// e.g. "PROGRAMME REGION - 1 emploi = 1 formation".
        pub programme: Text,
        /// Publics as FORMACODE "public visé" codes (80006 demandeur d'emploi, …).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub publics: Vec<Formacode>,
        pub numero_lot_cr: Option<Text>,
        pub id_action_cr: Option<Text>,
        pub of_mandataire_cr: Option<Text>,
        pub places: Option<u32>,
        pub places_restantes: Option<u32>,
        pub effectif_minimal: Option<u32>,
        pub capacite_simultanee: Option<u32>,
        pub frais_ht: Option<Montant>,
        pub taux_tva: Option<TauxTva>,
        pub frais_ttc: Option<Montant>,
        /// "Montant total des frais additionnels non pris en charge".
        pub frais_additionnels: Option<Montant>,
        /// "Frais afférents au passage de la certification" (amount).
        pub frais_certification: Option<Montant>,
        /// Whether the certification fees are included (SOFI shows oui/non).
        pub frais_certification_inclus: Option<bool>,
        /// "Prise en charge des frais pédagogiques".
        pub prise_en_charge_frais_pedagogiques: Option<bool>,
    }
}

impl Offre {
    /// Sessions in code order: the canonical order of everything downstream.
    pub fn sort_sessions(&mut self) {
        self.sessions.sort_by_key(|s| s.code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `record!` says once for every record: a blank, null or absent optional text is
    /// `None`, and nothing `None` is written back.
    #[test]
    fn optional_texts_read_blank_as_none_and_none_is_not_written() {
        let c: Contact = serde_json::from_str(
            r#"{"civilite": "  ", "nom": null, "prenom": "Anne", "courriel": "\u0001"}"#,
        )
        .unwrap();
        assert_eq!(c.civilite, None);
        assert_eq!(c.nom, None);
        assert_eq!(c.prenom.as_ref().map(Text::as_str), Some("Anne"));
        assert_eq!(c.courriel, None, "a text of nothing XML can hold is blank");
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"prenom":"Anne"}"#);

        let a: Adresse = serde_json::from_str(
            r#"{"lignes": ["1 rue X"], "code_postal": "44000", "ville": "Nantes"}"#,
        )
        .unwrap();
        assert_eq!(a.denomination, None);
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains("null"), "{json}");
        assert!(!json.contains("denomination"), "{json}");
        // The other rules of the record still hold.
        assert!(serde_json::from_str::<Contact>(r#"{"inconnu": "x"}"#).is_err());
    }
}
