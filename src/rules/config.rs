//! What the rules need to know about the current Region order besides its referential
//! (`import-region`, see [`super::Referentiel`]): which programmes are regional, which
//! other programmes are known, the values the procedure allows per programme, and, when
//! the operator wants to override the referential, the campaign year of a programme or a
//! lot. This is data, read from the configuration file, so that a new campaign is a
//! config change (or a new Region file), not a release: no year is written in the code.
//!
//! TOML form (field names are the serde names):
//!
//! ```toml
//! programmes_regionaux = ["PROGRAMME REGION - 1 emploi = 1 formation"]
//! programmes_autres = ["Import LHÉO : dispositif non renseigné"]
//!
//! [[valeurs_admises]]
//! programme = "PROGRAMME REGION - 1 emploi = 1 formation"
//! entrees_sorties = ["dates_fixes"]
//! types_parcours = ["mixte", "modularise"]
//!
//! [[campagnes]]            # optional: the Region file's lots give the year
//! lot = "1E1F2024_12"
//! annee = 2024
//! ```
//!
//! Labels are compared loosely (case, accents and runs of white space do not matter),
//! because SOFI and the Region's file do not always agree on them.

use serde::{Deserialize, Serialize};

use crate::model::{Dispositif, EntreesSorties, TypeParcours};

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

/// The dispositif label that `import-lheo` gives an offer whose LHÉO document names
/// none: known (no typo to report), and regional rules do not apply to it.
pub const DISPOSITIF_IMPORT_LHEO: &str = "Import LHÉO : dispositif non renseigné";

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

/// The values of the Fiche Session that the procedure allows for one programme. An empty
/// list allows every value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValeursAdmises {
    pub programme: String,
    /// "ESP" (entrées/sorties).
    #[serde(default)]
    pub entrees_sorties: Vec<EntreesSorties>,
    /// "Type de parcours".
    #[serde(default)]
    pub types_parcours: Vec<TypeParcours>,
}

/// Configuration of the entry rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Campaign year per programme label or per lot (numero_lot_cr), overriding the Region
    /// referential's; a lot entry wins over its programme. Usually empty: the lots of the
    /// Region file carry their year.
    pub campagnes: Vec<Campagne>,
    /// Programmes for which "prise en charge des frais pédagogiques" must be oui, the lot
    /// is mandatory and the organisme responsable must be the mandataire.
    pub programmes_regionaux: Vec<String>,
    /// Other programmes that are not typos although neither the Region referential nor
    /// the lists above name them (other funders, the LHÉO import's placeholder).
    #[serde(default = "programmes_autres_par_defaut")]
    pub programmes_autres: Vec<String>,
    /// Per programme, the ESP and types de parcours the procedure allows. Missing: the
    /// procedure's for 1 emploi = 1 formation; an empty list: no restriction.
    #[serde(default = "valeurs_admises_par_defaut")]
    pub valeurs_admises: Vec<ValeursAdmises>,
}

fn programmes_autres_par_defaut() -> Vec<String> {
    vec![DISPOSITIF_IMPORT_LHEO.to_owned()]
}

/// The procedure, Fiche Session of 1 emploi = 1 formation: « ESP : entrée/sortie
/// cadencées ou séquencées OU entrée/sortie à dates fixes » (both are LHÉO's dates fixes)
/// and « Type de parcours : mixte, modulaire ».
fn valeurs_admises_par_defaut() -> Vec<ValeursAdmises> {
    vec![ValeursAdmises {
        programme: PROGRAMMES_REGION[0].to_owned(),
        entrees_sorties: vec![EntreesSorties::DatesFixes],
        types_parcours: vec![TypeParcours::Mixte, TypeParcours::Modularise],
    }]
}

impl Default for RulesConfig {
    /// The five regional programmes of the procedure and its allowed values for 1 emploi
    /// = 1 formation; no campaign year (it comes from the Region referential's lots).
    fn default() -> Self {
        RulesConfig {
            campagnes: Vec::new(),
            programmes_regionaux: PROGRAMMES_REGION.iter().map(|p| (*p).to_owned()).collect(),
            programmes_autres: programmes_autres_par_defaut(),
            valeurs_admises: valeurs_admises_par_defaut(),
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

    /// Every programme label the configuration names.
    pub fn programmes(&self) -> impl Iterator<Item = &str> {
        self.programmes_regionaux
            .iter()
            .chain(&self.programmes_autres)
            .map(String::as_str)
            .chain(self.campagnes.iter().filter_map(|c| c.programme.as_deref()))
            .chain(self.valeurs_admises.iter().map(|v| v.programme.as_str()))
    }

    /// The allowed values for `programme`, if the configuration restricts them.
    pub fn valeurs_admises(&self, programme: &str) -> Option<&ValeursAdmises> {
        let programme = plier(programme);
        self.valeurs_admises
            .iter()
            .find(|v| plier(&v.programme) == programme)
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

    /// The default with a 2025 campaign entry per regional programme, as an operator
    /// would write to override the referential.
    fn campagne_2025() -> RulesConfig {
        RulesConfig {
            campagnes: PROGRAMMES_REGION
                .iter()
                .map(|p| Campagne {
                    programme: Some((*p).to_owned()),
                    lot: None,
                    annee: 2025,
                })
                .collect(),
            ..RulesConfig::default()
        }
    }

    #[test]
    fn default_is_five_regional_programmes_with_no_year_in_the_code() {
        let c = RulesConfig::default();
        assert!(
            c.campagnes.is_empty(),
            "the year comes from the Region file"
        );
        assert_eq!(c.programmes_regionaux.len(), 5);
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        for p in PROGRAMMES_REGION {
            assert!(c.campagne(&dispositif(p, None)).is_none());
            assert!(c.est_regional(p));
        }
        assert!(!c.est_regional("Contrat d'apprentissage"));
        assert!(!c.est_regional(DISPOSITIF_IMPORT_LHEO));
        assert!(c.programmes().any(|p| p == DISPOSITIF_IMPORT_LHEO));
        let v = c
            .valeurs_admises("programme region - 1 EMPLOI = 1 formation")
            .unwrap();
        assert_eq!(v.entrees_sorties, [EntreesSorties::DatesFixes]);
        assert_eq!(
            v.types_parcours,
            [TypeParcours::Mixte, TypeParcours::Modularise]
        );
        assert!(c.valeurs_admises(PROGRAMMES_REGION[1]).is_none());
    }

    #[test]
    fn allowed_values_default_to_the_procedure_and_can_be_lifted() {
        let c: RulesConfig = serde_json::from_value(serde_json::json!({
            "programmes_regionaux": [], "campagnes": []
        }))
        .unwrap();
        assert_eq!(c.valeurs_admises, RulesConfig::default().valeurs_admises);
        let c: RulesConfig = serde_json::from_value(serde_json::json!({
            "programmes_regionaux": [], "campagnes": [], "valeurs_admises": [],
            "programmes_autres": ["AIF France Travail"]
        }))
        .unwrap();
        assert!(c.valeurs_admises.is_empty());
        assert_eq!(c.programmes().collect::<Vec<_>>(), ["AIF France Travail"]);
    }

    #[test]
    fn labels_match_without_case_accents_or_extra_spaces() {
        let c = campagne_2025();
        let d = dispositif("programme region -  prepa cles avenir ", None);
        assert_eq!(c.campagne(&d).map(|c| c.annee), Some(2025));
        assert!(c.est_regional("PROGRAMME  REGION - PREPA CLÉS AVENIR"));
    }

    #[test]
    fn a_lot_entry_wins_over_its_programme() {
        let mut c = campagne_2025();
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
        let c = campagne_2025();
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
            ..RulesConfig::default()
        };
        let p = c.problems();
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(p[0].contains("neither"));
        assert!(p[1].contains("year 25"));
        assert!(p[2].contains("repeats"));
    }
}
