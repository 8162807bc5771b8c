//! What the rules need to know about the current Region order: which campaign year each
//! programme (or lot) belongs to, and which programmes are regional. This is data, read
//! from the configuration file, so that a new campaign is a config change, not a release.
//!
//! TOML form (field names are the serde names):
//!
//! ```toml
//! programmes_regionaux = ["PROGRAMME REGION - 1 emploi = 1 formation"]
//!
//! [[campagnes]]
//! programme = "PROGRAMME REGION - 1 emploi = 1 formation"
//! annee = 2025
//!
//! [[campagnes]]            # a lot of the previous order, still running
//! lot = "1E1F2024_12"
//! annee = 2024
//! ```
//!
//! Labels are compared loosely (case, accents and runs of white space do not matter),
//! because SOFI and the Region's file do not always agree on them.

use serde::{Deserialize, Serialize};

use crate::model::Dispositif;

use super::texte::plier;

/// The programme labels of the Région Pays de la Loire order, as SOFI shows them in the
/// Fiche Dispositif (procedure, "Les programmes : 1 emploi = 1 formation, PREPA Avenir Sup,
/// PREPA Clés Avenir, PASS Entreprendre en Pays de la Loire - Formation, PREPA Sanitaire et
/// social").
pub const PROGRAMMES_REGION: [&str; 5] = [
    "PROGRAMME REGION - 1 emploi = 1 formation",
    "PROGRAMME REGION - PREPA Avenir Sup",
    "PROGRAMME REGION - PREPA Clés Avenir",
    "PROGRAMME REGION - PASS Entreprendre en Pays de la Loire - Formation",
    "PROGRAMME REGION - PREPA Sanitaire et social",
];

/// The campaign of [`RulesConfig::default`].
pub const ANNEE_CAMPAGNE_PAR_DEFAUT: i32 = 2025;

/// The campaign year of a programme, or of one lot (`numero_lot_cr`). An entry with a
/// `lot` applies to that lot only (and, if it also names a `programme`, only within that
/// programme); it wins over the entry of its programme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campagne {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    /// The year every session of the campaign must start in.
    pub annee: i32,
}

/// Configuration of the entry rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Campaign year per programme label or per lot (numero_lot_cr); a lot entry wins over
    /// its programme. A session whose programme and lot have no entry has no year check.
    pub campagnes: Vec<Campagne>,
    /// Programmes for which "prise en charge des frais pédagogiques" must be oui and the
    /// organisme responsable must be the mandataire.
    pub programmes_regionaux: Vec<String>,
}

impl Default for RulesConfig {
    /// The 2025 campaign for the five regional programmes, all regional.
    fn default() -> Self {
        RulesConfig {
            campagnes: PROGRAMMES_REGION
                .iter()
                .map(|p| Campagne {
                    programme: Some((*p).to_owned()),
                    lot: None,
                    annee: ANNEE_CAMPAGNE_PAR_DEFAUT,
                })
                .collect(),
            programmes_regionaux: PROGRAMMES_REGION.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

impl RulesConfig {
    /// The campaign a session's dispositif falls under: the entry of its lot if there is
    /// one, else the entry of its programme.
    pub fn campagne(&self, dispositif: &Dispositif) -> Option<&Campagne> {
        let programme = plier(dispositif.programme.as_str());
        let same_programme = |c: &Campagne| {
            c.programme
                .as_deref()
                .is_some_and(|p| plier(p) == programme)
        };
        if let Some(lot) = &dispositif.numero_lot_cr {
            let lot = plier(lot.as_str());
            let by_lot = self.campagnes.iter().find(|c| {
                c.lot.as_deref().map(plier).as_ref() == Some(&lot)
                    && (c.programme.is_none() || same_programme(c))
            });
            if by_lot.is_some() {
                return by_lot;
            }
        }
        self.campagnes
            .iter()
            .find(|c| c.lot.is_none() && same_programme(c))
    }

    /// Whether `programme` is one of [`RulesConfig::programmes_regionaux`].
    pub fn est_regional(&self, programme: &str) -> bool {
        let programme = plier(programme);
        self.programmes_regionaux
            .iter()
            .any(|p| plier(p) == programme)
    }

    /// What is wrong with this configuration, for the operator (empty when it is sound).
    /// Call it when loading the configuration: the rules do not report configuration
    /// gaps to training organisations, who cannot fix them.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen: Vec<(Option<String>, Option<String>)> = Vec::new();
        for (i, c) in self.campagnes.iter().enumerate() {
            let key = (
                c.programme.as_deref().map(plier),
                c.lot.as_deref().map(plier),
            );
            if key.0.as_deref().is_none_or(str::is_empty)
                && key.1.as_deref().is_none_or(str::is_empty)
            {
                out.push(format!(
                    "campagnes[{i}] names neither a programme nor a lot: it would never apply"
                ));
                continue;
            }
            if !(2000..=2100).contains(&c.annee) {
                out.push(format!(
                    "campagnes[{i}] has the year {}: expected a campaign year such as 2025",
                    c.annee
                ));
            }
            if seen.contains(&key) {
                out.push(format!(
                    "campagnes[{i}] repeats the programme/lot of an earlier entry: only the first one is used"
                ));
            }
            seen.push(key);
        }
        for p in &self.programmes_regionaux {
            let has_campaign = self
                .campagnes
                .iter()
                .any(|c| c.lot.is_none() && c.programme.as_deref().map(plier) == Some(plier(p)));
            if !has_campaign {
                out.push(format!(
                    "regional programme {p:?} has no campaign: the start year of its sessions is not checked"
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dispositif(programme: &str, lot: Option<&str>) -> Dispositif {
        serde_json::from_value(serde_json::json!({
            "programme": programme,
            "numero_lot_cr": lot,
        }))
        .unwrap()
    }

    #[test]
    fn default_is_the_2025_campaign_of_five_regional_programmes() {
        let c = RulesConfig::default();
        assert_eq!(c.campagnes.len(), 5);
        assert_eq!(c.programmes_regionaux.len(), 5);
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        for p in PROGRAMMES_REGION {
            assert_eq!(
                c.campagne(&dispositif(p, None)).map(|c| c.annee),
                Some(2025)
            );
            assert!(c.est_regional(p));
        }
        assert!(!c.est_regional("Contrat d'apprentissage"));
    }

    #[test]
    fn labels_match_without_case_accents_or_extra_spaces() {
        let c = RulesConfig::default();
        let d = dispositif("programme region -  prepa cles avenir ", None);
        assert_eq!(c.campagne(&d).map(|c| c.annee), Some(2025));
        assert!(c.est_regional("PROGRAMME  REGION - PREPA CLÉS AVENIR"));
    }

    #[test]
    fn a_lot_entry_wins_over_its_programme() {
        let mut c = RulesConfig::default();
        c.campagnes.push(Campagne {
            programme: None,
            lot: Some("1E1F2024_12".into()),
            annee: 2024,
        });
        let p = PROGRAMMES_REGION[0];
        assert_eq!(
            c.campagne(&dispositif(p, Some("1e1f2024_12")))
                .unwrap()
                .annee,
            2024
        );
        assert_eq!(
            c.campagne(&dispositif(p, Some("1E1F2025_4")))
                .unwrap()
                .annee,
            2025
        );
        // A lot entry restricted to another programme does not apply.
        c.campagnes.push(Campagne {
            programme: Some(PROGRAMMES_REGION[1].into()),
            lot: Some("L9".into()),
            annee: 2023,
        });
        assert_eq!(c.campagne(&dispositif(p, Some("L9"))).unwrap().annee, 2025);
        assert_eq!(
            c.campagne(&dispositif(PROGRAMMES_REGION[1], Some("L9")))
                .unwrap()
                .annee,
            2023
        );
    }

    #[test]
    fn unknown_programme_has_no_campaign() {
        let c = RulesConfig::default();
        assert!(c
            .campagne(&dispositif("AUTRE FINANCEUR", Some("X")))
            .is_none());
    }

    #[test]
    fn deserialises_from_the_toml_shaped_document_and_rejects_typos() {
        // TOML and JSON share this data model; the crate has no TOML parser, so the test
        // uses the JSON spelling of the documented TOML.
        let c: RulesConfig = serde_json::from_value(serde_json::json!({
            "programmes_regionaux": ["PROGRAMME REGION - 1 emploi = 1 formation"],
            "campagnes": [
                {"programme": "PROGRAMME REGION - 1 emploi = 1 formation", "annee": 2026},
                {"lot": "1E1F2025_4", "annee": 2025}
            ]
        }))
        .unwrap();
        assert_eq!(c.campagnes[1].lot.as_deref(), Some("1E1F2025_4"));
        assert_eq!(c.campagnes[0].annee, 2026);
        let typo = serde_json::from_value::<RulesConfig>(serde_json::json!({
            "programmes_regionaux": [], "campagnes": [{"programe": "x", "annee": 2025}]
        }));
        assert!(typo.is_err());
        let missing = serde_json::from_value::<RulesConfig>(serde_json::json!({"campagnes": []}));
        assert!(
            missing.is_err(),
            "a missing key must not silently mean an empty list"
        );
    }

    #[test]
    fn problems_name_useless_duplicate_and_missing_entries() {
        let c = RulesConfig {
            campagnes: vec![
                Campagne {
                    programme: None,
                    lot: None,
                    annee: 2025,
                },
                Campagne {
                    programme: Some("P".into()),
                    lot: None,
                    annee: 25,
                },
                Campagne {
                    programme: Some("p ".into()),
                    lot: None,
                    annee: 2025,
                },
            ],
            programmes_regionaux: vec!["P".into(), "Q".into()],
        };
        let p = c.problems();
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(p[0].contains("neither"));
        assert!(p[1].contains("year 25"));
        assert!(p[2].contains("repeats"));
        assert!(p[3].contains("\"Q\""));
    }
}
