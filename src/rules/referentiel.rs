//! The Conseil régional's referential as the rules see it: the programmes and lots that
//! `import-region` stored (`store::referentiel`). It is the source of truth for which
//! programmes exist, which lots exist, whose they are and the campaign year of each;
//! the rules configuration only adds to it or overrides it.

use std::collections::HashMap;

use serde::Serialize;

use crate::model::Lot;

use super::texte::plier;

/// Programmes and lots of the Region file. Empty until a Region file is imported: then the
/// rules cannot check lots, and `check`/`export` warn the operator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Referentiel {
    /// Programme labels, sorted.
    programmes: Vec<String>,
    /// Lots, sorted by code.
    lots: Vec<Lot>,
    /// Folded lot code → index in `lots`.
    #[serde(skip)]
    par_code: HashMap<String, usize>,
}

impl Referentiel {
    pub fn new(mut programmes: Vec<String>, mut lots: Vec<Lot>) -> Referentiel {
        programmes.sort();
        programmes.dedup();
        lots.sort_by(|a, b| a.code.cmp(&b.code));
        let par_code = lots
            .iter()
            .enumerate()
            .map(|(i, l)| (plier(&l.code), i))
            .collect();
        Referentiel {
            programmes,
            lots,
            par_code,
        }
    }

    /// Whether no Region file has been imported.
    pub fn is_empty(&self) -> bool {
        self.programmes.is_empty() && self.lots.is_empty()
    }

    /// Whether the referential has lots, so that a lot can be checked against it.
    pub fn a_des_lots(&self) -> bool {
        !self.lots.is_empty()
    }

    /// The lot of this `numero_lot_cr` (case and surrounding spaces do not matter).
    pub fn lot(&self, code: &str) -> Option<&Lot> {
        self.par_code.get(&plier(code)).map(|i| &self.lots[*i])
    }

    /// Every programme label the referential names, its lots' included.
    pub fn programmes(&self) -> impl Iterator<Item = &str> {
        self.programmes
            .iter()
            .map(String::as_str)
            .chain(self.lots.iter().map(|l| l.programme.as_str()))
    }

    /// The campaign year of a programme: the year of its lots when they all share one.
    pub fn annee_programme(&self, programme: &str) -> Option<i64> {
        let programme = plier(programme);
        let mut annees = self
            .lots
            .iter()
            .filter(|l| plier(&l.programme) == programme)
            .map(|l| l.annee);
        let first = annees.next()?;
        annees.all(|a| a == first).then_some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::siret;

    fn lot(code: &str, programme: &str, annee: i64) -> Lot {
        Lot {
            code: code.into(),
            programme: programme.into(),
            annee,
            mandataire: siret("13000511900032"),
        }
    }

    #[test]
    fn lots_by_code_and_the_year_of_a_programme() {
        let r = Referentiel::new(
            vec!["B".into(), "A".into()],
            vec![
                lot("L1", "A", 2025),
                lot("L2", "A", 2025),
                lot("M1", "C", 2025),
                lot("M2", "C", 2026),
            ],
        );
        assert!(!r.is_empty() && r.a_des_lots());
        assert_eq!(r.lot(" l1 ").map(|l| l.code.as_str()), Some("L1"));
        assert!(r.lot("L3").is_none());
        assert_eq!(r.annee_programme("a"), Some(2025));
        assert_eq!(r.annee_programme("B"), None, "no lot: no year");
        assert_eq!(
            r.annee_programme("C"),
            None,
            "two years: none is the programme's"
        );
        assert!(r.programmes().any(|p| p == "C"));
        assert!(Referentiel::default().is_empty());
    }
}
