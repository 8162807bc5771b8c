//! Closed SOFI vocabularies, each with the LHÉO 2.3 code it maps to.
//!
//! Input uses readable snake_case names (`"ouvert"`, `"dates_fixes"`); an unknown name is
//! an import error that lists the accepted ones (serde does that for us). The LHÉO keys
//! come from `dict-*` tables of LHÉO 2.3 (see `docs/mapping.md`).
//!
//! Each vocabulary is declared once, by [`vocabulary!`]: its values with their input name
//! and, where LHÉO has one, their code. The writer's `lheo()` and the LHÉO import's
//! `from_lheo()` are both generated from that one list, so the two directions cannot
//! disagree.

use serde::{Deserialize, Serialize};

/// Declares a closed vocabulary: the enum, its input names (serde, `as_str`) and the list
/// of its values (`ALL`); with `=> "code"` on every value, also its LHÉO code (`lheo`) and
/// the way back (`from_lheo`, which ignores surrounding white space).
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $input:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $input)] $variant ),+
        }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The input (FASD) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $input),+
                }
            }
            /// The value of an input name (as the SOFI extras of our own exports carry it).
            pub fn from_input(name: &str) -> Option<$name> {
                match name.trim() {
                    $($input => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $input:literal => $code:literal ),+ $(,)?
        }
    ) => {
        vocabulary! {
            $(#[$meta])*
            pub enum $name {
                $( $(#[$vmeta])* $variant = $input ),+
            }
        }
        impl $name {
            /// The LHÉO code.
            pub fn lheo(self) -> &'static str {
                match self {
                    $($name::$variant => $code),+
                }
            }
            /// The value of an LHÉO code, if it is one of this vocabulary's.
            pub fn from_lheo(code: &str) -> Option<$name> {
                match code.trim() {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

vocabulary! {
    /// Workflow state of a SOFI action. Only `Validee` actions are exported.
    pub enum EtatWorkflow {
        /// "en cours de saisie": the organisme is still typing.
        EnCoursDeSaisie = "en_cours_de_saisie",
        /// "en attente de validation": sent to the Carif-Oref, not yet checked.
        EnAttenteDeValidation = "en_attente_de_validation",
        /// "validée" by the Carif-Oref offer service.
        Validee = "validee",
    }
}

vocabulary! {
    /// The SOFI "objectif général" of a formation, LHÉO `dict-AIS`.
    pub enum ObjectifGeneral {
        Certification = "certification" => "6",
        Professionnalisation = "professionnalisation" => "7",
        PreparationQualification = "preparation_qualification" => "8",
        RemiseANiveau = "remise_a_niveau" => "5",
        Remobilisation = "remobilisation" => "9",
        Perfectionnement = "perfectionnement" => "2",
        CreationEntreprise = "creation_entreprise" => "4",
    }
}

vocabulary! {
    /// The SOFI "type de certification". All but `Aucune` and `Attestation` are certifying
    /// (LHÉO `certifiante` = 1).
    pub enum TypeCertification {
        Diplome = "diplome",
        TitreProfessionnel = "titre_professionnel",
        TitreRncp = "titre_rncp",
        Cqp = "cqp",
        CertificationRs = "certification_rs",
        Habilitation = "habilitation",
        Attestation = "attestation",
        Aucune = "aucune",
    }
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

vocabulary! {
    /// A bloc's "type module", LHÉO `dict-type-module`.
    pub enum TypeModule {
        /// A "Certificat de compétences professionnelles" or any mandatory bloc.
        Obligatoire = "obligatoire" => "1",
        Personnalisable = "personnalisable" => "2",
        Inconnu = "inconnu" => "0",
    }
}

vocabulary! {
    /// Validation of the formation: totale or partielle (then naming the blocs).
    pub enum Validation {
        Totale = "totale",
        Partielle = "partielle",
    }
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

vocabulary! {
    /// Entrées-sorties of a session, LHÉO `dict-modalites-es`.
    pub enum EntreesSorties {
        DatesFixes = "dates_fixes" => "0",
        Permanentes = "permanentes" => "1",
    }
}

vocabulary! {
    /// SOFI "type de parcours", LHÉO `dict-type-parcours`. `Inconnu` is SOFI's default and
    /// has no LHÉO code: the rules reject it.
    pub enum TypeParcours {
        Groupe = "groupe",
        Individualise = "individualise",
        Modularise = "modularise",
        Mixte = "mixte",
        Inconnu = "inconnu",
    }
}
impl TypeParcours {
    /// The LHÉO code; `Inconnu` has none.
    pub fn lheo(self) -> Option<&'static str> {
        match self {
            TypeParcours::Groupe => Some("1"),
            TypeParcours::Individualise => Some("2"),
            TypeParcours::Modularise => Some("3"),
            TypeParcours::Mixte => Some("4"),
            TypeParcours::Inconnu => None,
        }
    }
    /// The value of an LHÉO code, the way back of [`TypeParcours::lheo`].
    pub fn from_lheo(code: &str) -> Option<TypeParcours> {
        TypeParcours::ALL
            .iter()
            .copied()
            .find(|t| t.lheo() == Some(code.trim()))
    }
}

vocabulary! {
    /// SOFI "modalités d'enseignement", LHÉO `dict-modalites-enseignement`.
    pub enum ModalitesEnseignement {
        Presentiel = "presentiel" => "0",
        Mixte = "mixte" => "1",
        Distance = "distance" => "2",
    }
}

vocabulary! {
    /// État du recrutement, LHÉO `dict-etat-recrutement` (note: 2 is fermé, 3 suspendu).
    pub enum EtatRecrutement {
        Ouvert = "ouvert" => "1",
        Suspendu = "suspendu" => "3",
        Ferme = "ferme" => "2",
    }
}

vocabulary! {
    /// One step of recruitment other than the information collective, LHÉO
    /// `dict-modalite-recrutement` (9, the information collective, has its own records).
    pub enum ModaliteRecrutement {
        Simulation = "simulation" => "1",
        Concours = "concours" => "2",
        Dossier = "dossier" => "3",
        TestsPratiques = "tests_pratiques" => "4",
        EpreuvesEcrites = "epreuves_ecrites" => "5",
        EpreuvesOrales = "epreuves_orales" => "6",
        Candidature = "candidature" => "7",
        Entretien = "entretien" => "8",
    }
}
impl ModaliteRecrutement {
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

vocabulary! {
    /// Type of a période d'inscription (SOFI: candidature individuelle, recrutement, inscription).
    pub enum TypeInscription {
        Candidature = "candidature",
        Recrutement = "recrutement",
        Inscription = "inscription",
    }
}

vocabulary! {
    /// Kind of a période de formation.
    pub enum TypePeriode {
        Centre = "centre",
        Entreprise = "entreprise",
    }
}

vocabulary! {
    /// Equipment type, LHÉO `dict-type-equipement`.
    pub enum TypeEquipement {
        Autre = "autre" => "0",
        ProtectionTete = "protection_tete" => "1",
        ProtectionYeux = "protection_yeux" => "2",
        ProtectionMains = "protection_mains" => "3",
        ProtectionOuie = "protection_ouie" => "4",
        ProtectionCorps = "protection_corps" => "5",
        ProtectionPieds = "protection_pieds" => "6",
        ProtectionVoiesRespiratoires = "protection_voies_respiratoires" => "7",
        ProtectionChutes = "protection_chutes" => "8",
        Outillage = "outillage" => "9",
        TenueProfessionnelle = "tenue_professionnelle" => "10",
        Numerique = "numerique" => "11",
    }
}

vocabulary! {
    /// Contract type of an alternance, LHÉO `dict-type-alternance`.
    pub enum TypeAlternance {
        Tout = "tout" => "0",
        Apprentissage = "apprentissage" => "1",
        Professionnalisation = "professionnalisation" => "2",
    }
}

vocabulary! {
    /// Unit of an alternance rhythm, LHÉO `dict-unite-rythme`.
    pub enum UniteRythme {
        Heure = "heure" => "0",
        DemiJournee = "demi_journee" => "1",
        Journee = "journee" => "2",
        Semaine = "semaine" => "3",
        Mois = "mois" => "4",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For each coded vocabulary: every value's code reads back as that value, no two
    /// values share a code, and the input name is serde's.
    macro_rules! both_directions {
        ($($ty:ty),+) => {$(
            let mut seen = std::collections::HashSet::new();
            for v in <$ty>::ALL {
                assert_eq!(<$ty>::from_lheo(v.lheo()), Some(*v), "{v:?}");
                assert_eq!(<$ty>::from_lheo(&format!(" {}\n", v.lheo())), Some(*v), "{v:?}");
                assert!(seen.insert(v.lheo()), "{v:?}: code {} given twice", v.lheo());
                assert_eq!(serde_json::to_value(v).unwrap(), v.as_str(), "{v:?}");
            }
            assert_eq!(<$ty>::from_lheo("99"), None);
        )+};
    }

    #[test]
    fn codes_read_back_as_the_values_they_came_from() {
        both_directions!(
            ObjectifGeneral,
            TypeModule,
            EntreesSorties,
            ModalitesEnseignement,
            EtatRecrutement,
            ModaliteRecrutement,
            TypeEquipement,
            TypeAlternance,
            UniteRythme
        );
    }

    #[test]
    fn input_names_are_serdes() {
        for v in TypeParcours::ALL {
            assert_eq!(TypeParcours::from_input(v.as_str()), Some(*v));
            if let Some(code) = v.lheo() {
                assert_eq!(TypeParcours::from_lheo(code), Some(*v));
            }
            let back: TypeParcours = serde_json::from_value(v.as_str().into()).unwrap();
            assert_eq!(back, *v);
        }
        for v in EtatWorkflow::ALL {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
    }
}
