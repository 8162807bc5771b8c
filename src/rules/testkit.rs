//! A valid baseline offer (the procedure's own example, 19482-89393) and its organismes,
//! for tests to tweak one field at a time.

use std::collections::HashMap;

use serde_json::json;

use crate::model::{Date, Offre, Organisme, Session, Siret, Text};

use super::{evaluate, Outcome, Referentiel, RuleContext, RulesConfig};
use crate::model::Lot;

pub const CARIFOREF: &str = "13000511900032";
/// A second, valid SIRET (Luhn) of a known organisme.
pub const AUTRE_OF: &str = "73282932000074";
/// A valid SIRET that no organisme has.
pub const INCONNU: &str = "55208131766522";

pub fn text(s: &str) -> Text {
    Text::new(s).expect("non-empty text")
}

pub fn date(s: &str) -> Date {
    Date::parse(s).expect("valid date")
}

pub fn siret(s: &str) -> Siret {
    Siret::parse(s).expect("valid SIRET")
}

pub fn organismes_json() -> serde_json::Value {
    json!([
        {
            "siret": CARIFOREF,
            "raison_sociale": "CARIFOREF DES PAYS DE LA LOIRE",
            "nda": "52440000044",
            "code_cr": "75",
            "adresse": {"lignes": ["8 rue Arthur III"], "code_postal": "44200", "ville": "Nantes"},
            "telephone": "02 40 20 40 20",
            "courriel": "offre@example.org",
            "web": "https://www.example.org",
            "sites": [
                {"code": "36364", "nom": "Principal",
                 "adresse": {"lignes": ["8 rue Arthur III"], "code_postal": "44200", "ville": "Nantes"}},
                {"code": "36365", "nom": "Annexe",
                 "adresse": {"lignes": ["2 quai Baco"], "code_postal": "44000", "ville": "Nantes"}}
            ]
        },
        {
            "siret": AUTRE_OF,
            "raison_sociale": "FORMATION OUEST, SARL \"Le Quai\"",
            "nda": "52440000055",
            "sites": [
                {"code": "100", "nom": "Angers",
                 "adresse": {"lignes": ["1 place du Ralliement"], "code_postal": "49100", "ville": "Angers"}}
            ]
        }
    ])
}

pub fn session_json(numero: u64, debut: &str, fin: &str) -> serde_json::Value {
    json!({
        "code": format!("19482-89393-{numero}"),
        "site_lieu": {"siret": CARIFOREF, "site": "36364"},
        "date_debut": debut,
        "date_fin": fin,
        "entrees_sorties": "dates_fixes",
        "rythmes": "temps plein",
        "periodes_formation": [{"type": "centre", "debut": debut, "fin": fin}],
        "type_parcours": "mixte",
        "modalites_pedagogiques": ["96133"],
        "modalites_enseignement": "presentiel",
        "duree_centre_heures": 200,
        "duree_entreprise_heures": 70,
        "organisme_responsable": {"siret": CARIFOREF, "site": "36364"},
        "recrutement": "ouvert",
        "modalites_recrutement": ["entretien"],
        "informations_collectives": [{
            "code": "IC-1",
            "date": "2025-07-03",
            "heure_debut": "09:30",
            "lieu": {"lignes": ["8 rue Arthur III"], "code_postal": "44200", "ville": "Nantes"},
            "lien_distance": "https://visio.example.org/ic-1",
            "places": 12
        }],
        "referent_pmr": {"nom": "Martin", "courriel": "pmr@example.org"},
        "referent_mobilite": {"nom": "Durand"},
        "dispositif": {
            "programme": "PROGRAMME REGION - 1 emploi = 1 formation",
            "publics": ["80006"],
            "numero_lot_cr": "1E1F2025_4",
            "places": 5,
            "prise_en_charge_frais_pedagogiques": true
        }
    })
}

pub fn offre_json() -> serde_json::Value {
    json!({
        "numero": "19482-89393",
        "etat": "validee",
        "mandataire": CARIFOREF,
        "formation": {
            "certifinfo": "109049",
            "rncp": "35030",
            "intitule": "Titre professionnel assistant ressources humaines",
            "objectif_general": "certification",
            "type_certification": "titre_professionnel",
            "blocs": [
                {"code": "RNCP35030BC01", "type_module": "obligatoire",
                 "intitule": "Assurer les missions opérationnelles de la gestion des ressources humaines"},
                {"code": "RNCP35030BC02", "type_module": "obligatoire",
                 "intitule": "Contribuer au développement des ressources humaines"}
            ],
            "individualisation_par_bloc": true,
            "validation": "totale"
        },
        "action": {
            "site_dispensateur": {"siret": CARIFOREF, "site": "36364"},
            "complement_programme": "Module gériatrie.",
            "objectifs": "Assurer la gestion administrative du personnel.\nContribuer au recrutement.",
            "le_plus_formation": "Plateau technique 😀",
            "url_video": "https://www.youtube.com/watch?v=abc",
            "url_pdf": "https://www.example.org/plaquette.pdf",
            "url_action": "https://www.example.org/formation",
            "niveau_entree": 1,
            "prerequis": "niveau A2 du CECRL, motivation",
            "public_vise": "Personnes en recherche d'emploi."
        },
        "sessions": [
            session_json(143842, "2025-09-01", "2025-12-19"),
            session_json(143843, "2025-10-01", "2026-01-19")
        ]
    })
}

/// An offer, its organismes, the configuration and the day of the run.
#[derive(Clone)]
pub struct Fixture {
    pub offre: Offre,
    pub organismes: HashMap<Siret, Organisme>,
    pub config: RulesConfig,
    pub referentiel: Referentiel,
    pub today: Date,
}

/// The Region referential of the baseline: the five programmes, the baseline's lot
/// (2025, the Cariforef's) and a lot of the other organisme.
pub fn referentiel() -> Referentiel {
    let lot = |code: &str, mandataire: &str| Lot {
        code: code.into(),
        programme: super::PROGRAMMES_REGION[0].into(),
        annee: 2025,
        mandataire: siret(mandataire),
    };
    Referentiel::new(
        super::PROGRAMMES_REGION
            .iter()
            .map(|p| (*p).to_owned())
            .collect(),
        vec![lot("1E1F2025_4", CARIFOREF), lot("1E1F2025_9", AUTRE_OF)],
    )
}

impl Fixture {
    /// The baseline: every rule passes on it.
    pub fn new() -> Fixture {
        let organismes: Vec<Organisme> = serde_json::from_value(organismes_json()).unwrap();
        Fixture {
            offre: serde_json::from_value(offre_json()).unwrap(),
            organismes: organismes
                .into_iter()
                .map(|o| (o.siret.clone(), o))
                .collect(),
            config: RulesConfig::default(),
            referentiel: referentiel(),
            today: date("2025-06-01"),
        }
    }

    pub fn ctx(&self) -> RuleContext<'_> {
        RuleContext {
            today: self.today,
            config: &self.config,
            referentiel: &self.referentiel,
            organismes: &self.organismes,
        }
    }

    pub fn eval(&self) -> Outcome {
        evaluate(&self.offre, &self.ctx())
    }

    /// The codes found, in report order, without repetition.
    pub fn codes(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for f in self.eval().findings {
            if !out.contains(&f.code) {
                out.push(f.code);
            }
        }
        out
    }

    /// The first session.
    pub fn s0(&mut self) -> &mut Session {
        &mut self.offre.sessions[0]
    }

    pub fn organisme(&mut self, s: &str) -> &mut Organisme {
        self.organismes.get_mut(&siret(s)).expect("known organisme")
    }
}
