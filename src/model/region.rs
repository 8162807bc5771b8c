//! What the Conseil régional's referential holds beside the organismes (`import-region`,
//! `docs/region-file.md`): the lots of the regional order. A plain fact of the campaign,
//! stored by `store` and judged with by `rules`, so it lives below both.

use super::Siret;

/// A lot of the regional order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Lot {
    /// e.g. `1E1F2025_4`.
    pub code: String,
    /// The programme's label, as in `Dispositif.programme`.
    pub programme: String,
    /// Campaign year.
    pub annee: i64,
    /// The organisme mandataire.
    pub mandataire: Siret,
}

/// A required (starred) SOFI field that an offer not yet validated still leaves empty:
/// stored with a draft (`store::brouillons`), listed by `check` (`rules::saisie`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChampManquant {
    /// The JSON path in the FASD line (`offre.sessions[0].entrees_sorties`).
    pub champ: String,
    /// Where the organisme fills it in SOFI: « Fiche Session 20304-91222-146701 : « ESP » ».
    pub libelle: String,
}
