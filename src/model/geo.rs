//! Départements and régions: what LHÉO `adresse/departement` and `adresse/region` hold.
//!
//! National readers filter and index offers by `region` (the INSEE code of the région,
//! `52` for Pays de la Loire), so every address we write must carry it. SOFI holds a code
//! postal and sometimes a code INSEE commune; the département comes from the code INSEE
//! when there is one (it is the commune's own), else from the code postal, and the région
//! from the département through [`REGIONS`], the INSEE table of the 2016 régions.
//!
//! What has no région — the collectivités d'outre-mer (975 Saint-Pierre-et-Miquelon,
//! 977 Saint-Barthélemy, 978 Saint-Martin, 98x Pacific, Monaco's 980) and codes that name
//! no département (00xxx, 96xxx) — gives `None`: the writer then writes no `region`, and
//! the rule `ADRESSE_SANS_REGION` tells the organisme.

use super::{Adresse, CodeInsee, CodePostal};

/// A French département code as INSEE writes it: `01`…`95` (no `20`), `2A`, `2B`, or one
/// of the five overseas départements `971`…`974`, `976`. Only codes that exist.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Departement(&'static str);

/// (département, INSEE code of its région), every département of France.
pub const REGIONS: [(&str, &str); 101] = [
    // Auvergne-Rhône-Alpes.
    ("01", "84"),
    ("03", "84"),
    ("07", "84"),
    ("15", "84"),
    ("26", "84"),
    ("38", "84"),
    ("42", "84"),
    ("43", "84"),
    ("63", "84"),
    ("69", "84"),
    ("73", "84"),
    ("74", "84"),
    // Bourgogne-Franche-Comté.
    ("21", "27"),
    ("25", "27"),
    ("39", "27"),
    ("58", "27"),
    ("70", "27"),
    ("71", "27"),
    ("89", "27"),
    ("90", "27"),
    // Bretagne.
    ("22", "53"),
    ("29", "53"),
    ("35", "53"),
    ("56", "53"),
    // Centre-Val de Loire.
    ("18", "24"),
    ("28", "24"),
    ("36", "24"),
    ("37", "24"),
    ("41", "24"),
    ("45", "24"),
    // Corse.
    ("2A", "94"),
    ("2B", "94"),
    // Grand Est.
    ("08", "44"),
    ("10", "44"),
    ("51", "44"),
    ("52", "44"),
    ("54", "44"),
    ("55", "44"),
    ("57", "44"),
    ("67", "44"),
    ("68", "44"),
    ("88", "44"),
    // Hauts-de-France.
    ("02", "32"),
    ("59", "32"),
    ("60", "32"),
    ("62", "32"),
    ("80", "32"),
    // Île-de-France.
    ("75", "11"),
    ("77", "11"),
    ("78", "11"),
    ("91", "11"),
    ("92", "11"),
    ("93", "11"),
    ("94", "11"),
    ("95", "11"),
    // Normandie.
    ("14", "28"),
    ("27", "28"),
    ("50", "28"),
    ("61", "28"),
    ("76", "28"),
    // Nouvelle-Aquitaine.
    ("16", "75"),
    ("17", "75"),
    ("19", "75"),
    ("23", "75"),
    ("24", "75"),
    ("33", "75"),
    ("40", "75"),
    ("47", "75"),
    ("64", "75"),
    ("79", "75"),
    ("86", "75"),
    ("87", "75"),
    // Occitanie.
    ("09", "76"),
    ("11", "76"),
    ("12", "76"),
    ("30", "76"),
    ("31", "76"),
    ("32", "76"),
    ("34", "76"),
    ("46", "76"),
    ("48", "76"),
    ("65", "76"),
    ("66", "76"),
    ("81", "76"),
    ("82", "76"),
    // Pays de la Loire.
    ("44", "52"),
    ("49", "52"),
    ("53", "52"),
    ("72", "52"),
    ("85", "52"),
    // Provence-Alpes-Côte d'Azur.
    ("04", "93"),
    ("05", "93"),
    ("06", "93"),
    ("13", "93"),
    ("83", "93"),
    ("84", "93"),
    // The overseas départements, each a région of its own.
    ("971", "01"),
    ("972", "02"),
    ("973", "03"),
    ("974", "04"),
    ("976", "06"),
];

impl Departement {
    /// The département of this code, if it is one ([`REGIONS`] lists them all).
    pub fn parse(code: &str) -> Option<Departement> {
        REGIONS
            .iter()
            .find(|(d, _)| *d == code)
            .map(|(d, _)| Departement(d))
    }

    /// The département of a code INSEE commune: its first two characters, three overseas.
    pub fn of_commune(c: &CodeInsee) -> Option<Departement> {
        let s = c.as_str();
        let n = if s.starts_with("97") { 3 } else { 2 };
        Departement::parse(&s[..n])
    }

    /// The département of a code postal. Overseas codes (97x) give three digits; Corsica's
    /// 20xxx are split as La Poste does (200xx-201xx Corse-du-Sud, 202xx-206xx Haute-Corse).
    pub fn of_code_postal(cp: &CodePostal) -> Option<Departement> {
        let s = cp.as_str();
        // Saint-Barthélemy and Saint-Martin kept Guadeloupe's 971 postal prefix when they
        // left it (2007): collectivités d'outre-mer, no région.
        if s == "97133" || s == "97150" {
            return None;
        }
        if s.starts_with("97") {
            Departement::parse(&s[..3])
        } else if let Some(rest) = s.strip_prefix("20") {
            let sud = rest.starts_with('0') || rest.starts_with('1');
            Departement::parse(if sud { "2A" } else { "2B" })
        } else {
            Departement::parse(&s[..2])
        }
    }

    /// The département of an address: the commune's (code INSEE) when known, else the
    /// code postal's. A few communes have a code postal of a neighbouring département;
    /// the code INSEE is never wrong about it.
    pub fn of_adresse(a: &Adresse) -> Option<Departement> {
        a.code_insee
            .as_ref()
            .and_then(Departement::of_commune)
            .or_else(|| Departement::of_code_postal(&a.code_postal))
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The INSEE code of its région (two characters).
    pub fn region(self) -> &'static str {
        REGIONS
            .iter()
            .find(|(d, _)| *d == self.0)
            .map(|(_, r)| *r)
            .expect("a Departement is always in REGIONS")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(s: &str) -> CodePostal {
        CodePostal::parse(s).unwrap()
    }

    #[test]
    fn every_departement_once_and_every_region_known() {
        let mut seen = std::collections::HashSet::new();
        for (d, r) in REGIONS {
            assert!(seen.insert(d), "{d} listed twice");
            assert_eq!(r.len(), 2, "{d}");
        }
        // 96 in metropolitan France (01-95 without 20, plus 2A and 2B) and 5 overseas.
        assert_eq!(seen.len(), 101);
        let regions: std::collections::HashSet<_> = REGIONS.iter().map(|(_, r)| r).collect();
        assert_eq!(regions.len(), 18, "13 metropolitan régions and 5 overseas");
    }

    #[test]
    fn from_code_postal() {
        let r = |s| Departement::of_code_postal(&cp(s)).map(|d| (d.as_str(), d.region()));
        assert_eq!(r("44000"), Some(("44", "52")));
        assert_eq!(r("85000"), Some(("85", "52")));
        assert_eq!(r("01000"), Some(("01", "84")));
        assert_eq!(r("20000"), Some(("2A", "94")));
        assert_eq!(r("20200"), Some(("2B", "94")));
        assert_eq!(r("97411"), Some(("974", "04")));
        assert_eq!(r("97600"), Some(("976", "06")));
        // Collectivités d'outre-mer and codes of no département: no région.
        for none in [
            "97500", "97133", "97150", "98000", "98800", "00100", "96000",
        ] {
            assert_eq!(r(none), None, "{none}");
        }
    }

    #[test]
    fn the_commune_wins_over_the_code_postal() {
        let a = Adresse {
            denomination: None,
            lignes: vec![],
            code_postal: cp("44000"),
            ville: crate::model::Text::new("x").unwrap(),
            code_insee: Some(CodeInsee::parse("49007").unwrap()),
            latitude: None,
            longitude: None,
        };
        assert_eq!(Departement::of_adresse(&a).unwrap().as_str(), "49");
        let corse = CodeInsee::parse("2A004").unwrap();
        assert_eq!(Departement::of_commune(&corse).unwrap().region(), "94");
    }
}
