//! Closed SOFI vocabularies, each with the LHÉO 2.3 code it maps to.
//!
//! Input uses readable snake_case names (`"ouvert"`, `"dates_fixes"`); an unknown name is
//! an import error that lists the accepted ones (serde does that for us). The LHÉO keys
//! come from `dict-*` tables of LHÉO 2.3 (see `docs/mapping.md`).

use serde::{Deserialize, Serialize};

/// Workflow state of a SOFI action. Only `Validee` actions are exported.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EtatWorkflow {
    /// "en cours de saisie": the organisme is still typing.
    EnCoursDeSaisie,
    /// "en attente de validation": sent to the Carif-Oref, not yet checked.
    EnAttenteDeValidation,
    /// "validée" by the Carif-Oref offer service.
    Validee,
}

impl EtatWorkflow {
    pub fn as_str(self) -> &'static str {
        match self {
            EtatWorkflow::EnCoursDeSaisie => "en_cours_de_saisie",
            EtatWorkflow::EnAttenteDeValidation => "en_attente_de_validation",
            EtatWorkflow::Validee => "validee",
        }
    }
}

/// The SOFI "objectif général" of a formation, LHÉO `dict-AIS`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectifGeneral {
    Certification,
    Professionnalisation,
    PreparationQualification,
    RemiseANiveau,
    Remobilisation,
    Perfectionnement,
    CreationEntreprise,
}
impl ObjectifGeneral {
    pub fn lheo(self) -> &'static str {
        match self {
            ObjectifGeneral::Certification => "6",
            ObjectifGeneral::Professionnalisation => "7",
            ObjectifGeneral::PreparationQualification => "8",
            ObjectifGeneral::RemiseANiveau => "5",
            ObjectifGeneral::Remobilisation => "9",
            ObjectifGeneral::Perfectionnement => "2",
            ObjectifGeneral::CreationEntreprise => "4",
        }
    }
}

/// The SOFI "type de certification". All but `Aucune` and `Attestation` are certifying
/// (LHÉO `certifiante` = 1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeCertification {
    Diplome,
    TitreProfessionnel,
    TitreRncp,
    Cqp,
    CertificationRs,
    Habilitation,
    Attestation,
    Aucune,
}
impl TypeCertification {
    pub fn certifiante(self) -> bool {
        !matches!(
            self,
            TypeCertification::Attestation | TypeCertification::Aucune
        )
    }
    pub fn libelle(self) -> &'static str {
        match self {
            TypeCertification::Diplome => "Diplôme",
            TypeCertification::TitreProfessionnel => "Titre professionnel",
            TypeCertification::TitreRncp => "Titre inscrit au RNCP",
            TypeCertification::Cqp => "Certificat de qualification professionnelle (CQP)",
            TypeCertification::CertificationRs => "Certification inscrite au répertoire spécifique",
            TypeCertification::Habilitation => "Habilitation",
            TypeCertification::Attestation => "Attestation de formation",
            TypeCertification::Aucune => "Non certifiante",
        }
    }
}

/// A bloc's "type module", LHÉO `dict-type-module`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeModule {
    /// A "Certificat de compétences professionnelles" or any mandatory bloc.
    Obligatoire,
    Personnalisable,
    Inconnu,
}
impl TypeModule {
    pub fn lheo(self) -> &'static str {
        match self {
            TypeModule::Inconnu => "0",
            TypeModule::Obligatoire => "1",
            TypeModule::Personnalisable => "2",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TypeModule::Inconnu => "inconnu",
            TypeModule::Obligatoire => "obligatoire",
            TypeModule::Personnalisable => "personnalisable",
        }
    }
}

/// Validation of the formation: totale or partielle (then naming the blocs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validation {
    Totale,
    Partielle,
}

/// A level, LHÉO `dict-niveaux` key, always in the 2019 national framework (décret
/// 2019-14): 11..18 = Niveau 1..8, plus 0 (information non communiquée) and 1 (sans niveau
/// spécifique, SOFI's usual entry level, which no 2019 level expresses).
///
/// The legacy keys 2..8 (niveaux VI to I of 1969) are accepted in input and turned into
/// their 2019 equivalent, so that a consumer never meets both scales and the code agrees
/// with texts such as "Titre professionnel de niveau 5": VI → 1 (11), V bis → 2 (12),
/// V → 3 (13), IV → 4 (14), III → 5 (15), II → 6 (16), I → 7 (17; the décret makes I
/// the equivalent of 7 and 8, and 7 is the one a diploma of niveau I gives).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(transparent)]
pub struct Niveau(u8);
impl Niveau {
    pub fn new(code: u8) -> Result<Niveau, String> {
        match code {
            0 | 1 | 11..=18 => Ok(Niveau(code)),
            2..=8 => Ok(Niveau(code + 9)),
            _ => Err(format!(
                "unknown niveau {code}: expected a dict-niveaux code 11..18 (Niveau 1 to 8), 0 or 1 \
                 (sans niveau spécifique); the legacy codes 2..8 are converted"
            )),
        }
    }
    pub fn code(self) -> u8 {
        self.0
    }
}
impl<'de> Deserialize<'de> for Niveau {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Niveau::new(u8::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Entrées-sorties of a session, LHÉO `dict-modalites-es`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntreesSorties {
    DatesFixes,
    Permanentes,
}
impl EntreesSorties {
    pub fn lheo(self) -> &'static str {
        match self {
            EntreesSorties::DatesFixes => "0",
            EntreesSorties::Permanentes => "1",
        }
    }
}

/// SOFI "type de parcours", LHÉO `dict-type-parcours`. `Inconnu` is SOFI's default and
/// has no LHÉO code: the rules reject it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeParcours {
    Groupe,
    Individualise,
    Modularise,
    Mixte,
    Inconnu,
}
impl TypeParcours {
    pub fn lheo(self) -> Option<&'static str> {
        match self {
            TypeParcours::Groupe => Some("1"),
            TypeParcours::Individualise => Some("2"),
            TypeParcours::Modularise => Some("3"),
            TypeParcours::Mixte => Some("4"),
            TypeParcours::Inconnu => None,
        }
    }
}

/// SOFI "modalités d'enseignement", LHÉO `dict-modalites-enseignement`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModalitesEnseignement {
    Presentiel,
    Mixte,
    Distance,
}
impl ModalitesEnseignement {
    pub fn lheo(self) -> &'static str {
        match self {
            ModalitesEnseignement::Presentiel => "0",
            ModalitesEnseignement::Mixte => "1",
            ModalitesEnseignement::Distance => "2",
        }
    }
}

/// État du recrutement, LHÉO `dict-etat-recrutement` (note: 2 is fermé, 3 suspendu).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EtatRecrutement {
    Ouvert,
    Suspendu,
    Ferme,
}
impl EtatRecrutement {
    pub fn lheo(self) -> &'static str {
        match self {
            EtatRecrutement::Ouvert => "1",
            EtatRecrutement::Ferme => "2",
            EtatRecrutement::Suspendu => "3",
        }
    }
}

/// One step of recruitment other than the information collective, LHÉO
/// `dict-modalite-recrutement` (9, the information collective, has its own records).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModaliteRecrutement {
    Simulation,
    Concours,
    Dossier,
    TestsPratiques,
    EpreuvesEcrites,
    EpreuvesOrales,
    Candidature,
    Entretien,
}
impl ModaliteRecrutement {
    pub fn lheo(self) -> &'static str {
        match self {
            ModaliteRecrutement::Simulation => "1",
            ModaliteRecrutement::Concours => "2",
            ModaliteRecrutement::Dossier => "3",
            ModaliteRecrutement::TestsPratiques => "4",
            ModaliteRecrutement::EpreuvesEcrites => "5",
            ModaliteRecrutement::EpreuvesOrales => "6",
            ModaliteRecrutement::Candidature => "7",
            ModaliteRecrutement::Entretien => "8",
        }
    }
    pub fn libelle(self) -> &'static str {
        match self {
            ModaliteRecrutement::Simulation => "méthode de recrutement par simulation",
            ModaliteRecrutement::Concours => "concours",
            ModaliteRecrutement::Dossier => "dossier",
            ModaliteRecrutement::TestsPratiques => "tests pratiques",
            ModaliteRecrutement::EpreuvesEcrites => "épreuves écrites",
            ModaliteRecrutement::EpreuvesOrales => "épreuves orales",
            ModaliteRecrutement::Candidature => "inscription sur candidature",
            ModaliteRecrutement::Entretien => "entretien individuel",
        }
    }
}

/// Type of a période d'inscription (SOFI: candidature individuelle, recrutement, inscription).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeInscription {
    Candidature,
    Recrutement,
    Inscription,
}
impl TypeInscription {
    pub fn as_str(self) -> &'static str {
        match self {
            TypeInscription::Candidature => "candidature",
            TypeInscription::Recrutement => "recrutement",
            TypeInscription::Inscription => "inscription",
        }
    }
}

/// Kind of a période de formation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypePeriode {
    Centre,
    Entreprise,
}
impl TypePeriode {
    pub fn as_str(self) -> &'static str {
        match self {
            TypePeriode::Centre => "centre",
            TypePeriode::Entreprise => "entreprise",
        }
    }
}

/// Equipment type, LHÉO `dict-type-equipement`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeEquipement {
    Autre,
    ProtectionTete,
    ProtectionYeux,
    ProtectionMains,
    ProtectionOuie,
    ProtectionCorps,
    ProtectionPieds,
    ProtectionVoiesRespiratoires,
    ProtectionChutes,
    Outillage,
    TenueProfessionnelle,
    Numerique,
}
impl TypeEquipement {
    pub fn lheo(self) -> &'static str {
        match self {
            TypeEquipement::Autre => "0",
            TypeEquipement::ProtectionTete => "1",
            TypeEquipement::ProtectionYeux => "2",
            TypeEquipement::ProtectionMains => "3",
            TypeEquipement::ProtectionOuie => "4",
            TypeEquipement::ProtectionCorps => "5",
            TypeEquipement::ProtectionPieds => "6",
            TypeEquipement::ProtectionVoiesRespiratoires => "7",
            TypeEquipement::ProtectionChutes => "8",
            TypeEquipement::Outillage => "9",
            TypeEquipement::TenueProfessionnelle => "10",
            TypeEquipement::Numerique => "11",
        }
    }
}

/// Contract type of an alternance, LHÉO `dict-type-alternance`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeAlternance {
    Tout,
    Apprentissage,
    Professionnalisation,
}
impl TypeAlternance {
    pub fn lheo(self) -> &'static str {
        match self {
            TypeAlternance::Tout => "0",
            TypeAlternance::Apprentissage => "1",
            TypeAlternance::Professionnalisation => "2",
        }
    }
}

/// Unit of an alternance rhythm, LHÉO `dict-unite-rythme`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UniteRythme {
    Heure,
    DemiJournee,
    Journee,
    Semaine,
    Mois,
}
impl UniteRythme {
    pub fn lheo(self) -> &'static str {
        match self {
            UniteRythme::Heure => "0",
            UniteRythme::DemiJournee => "1",
            UniteRythme::Journee => "2",
            UniteRythme::Semaine => "3",
            UniteRythme::Mois => "4",
        }
    }
}
