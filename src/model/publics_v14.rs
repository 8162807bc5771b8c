//! FORMACODE V14 "publics" codes (domaine 8: 80xxx to 82xxx), the list national readers
//! join `code-public-vise ref="V14"` to. Codes and labels of the public FORMACODE
//! nomenclature (Centre Inffo), as the national Carif-Oref LHÉO files carry them; ours to
//! ship, embedded so that nothing is read from outside the binary at run time.
//!
//! A public code outside this list cannot be written with `ref="V14"`, and writing it
//! with an older version would give national readers a code they drop: such a session is
//! refused with rule `PUBLIC_HORS_V14` instead.

/// (code, label), in code order.
pub const PUBLICS_V14: [(&str, &str); 73] = [
    ("80001", "Public sans emploi"),
    ("80003", "Demandeur d’emploi plus de 26 ans"),
    ("80004", "Cadre demandeur d’emploi"),
    ("80006", "Demandeur d’emploi"),
    ("80007", "Demandeur d’emploi longue durée"),
    ("80008", "Licencié pour motif économique"),
    ("80009", "Demandeur d’emploi moins de 26 ans"),
    ("80010", "Bénéficiaire du RSA"),
    ("81013", "Public sous main de justice"),
    ("81014", "Élu"),
    ("81018", "Femme"),
    ("81019", "Public en situation d’illettrisme"),
    ("81020", "Handicapé"),
    ("81021", "Public analphabète"),
    ("81022", "Public immigré"),
    ("81023", "Primo-arrivant"),
    ("81024", "Jeune 16-25 ans"),
    ("81025", "Handicapé moteur"),
    ("81026", "Handicapé sensoriel"),
    ("81027", "Handicapé mental"),
    ("81028", "Handicapé cognitif"),
    ("81029", "Handicapé psychique"),
    ("81030", "Etudiant"),
    ("81031", "Public plan investissement compétences"),
    ("81032", "Jeune"),
    ("81033", "Jeune 16-29 ans"),
    ("81042", "Public réfugié"),
    ("81043", "Public en situation d’illectronisme"),
    ("81050", "Particulier, individuel"),
    ("81058", "Sportif haut niveau"),
    ("81059", "Stagiaire formation professionnelle"),
    ("81060", "Conjoint collaborateur d’artisan"),
    ("81061", "Public de la formation initiale"),
    ("81062", "Conjoint collaborateur d’exploitant agricole"),
    ("81069", "Bénévole"),
    ("81099", "Autre public"),
    ("82004", "Artisan"),
    ("82009", "Commerçant"),
    ("82010", "Créateur entreprise"),
    ("82011", "Auto-entrepreneur"),
    ("82012", "Chef d’entreprise"),
    ("82015", "Enseignant"),
    ("82016", "Formateur"),
    ("82017", "Exploitant agricole, salarié agricole"),
    ("82018", "Maître d’apprentissage"),
    ("82019", "Tuteur"),
    ("82020", "Apprenti"),
    ("82038", "Profession libérale"),
    ("82044", "Salarié"),
    ("82045", "Cadre"),
    ("82046", "Salarié de l’artisanat"),
    ("82047", "Employé"),
    ("82048", "Ingénieur"),
    ("82049", "Expatrié"),
    ("82055", "Agent de la fonction publique"),
    ("82057", "Repreneur entreprise"),
    ("82058", "Public en emploi"),
    ("82060", "Travailleur étranger"),
    ("82061", "Travailleur handicapé"),
    ("82062", "Travailleur intermittent"),
    ("82063", "Travailleur saisonnier"),
    ("82064", "Élu local"),
    ("82066", "Membre élu du CSE"),
    ("82067", "Représentant section syndicale"),
    ("82068", "Conseiller salarié"),
    ("82069", "Délégué syndical"),
    ("82070", "Agent de la fonction publique de l’État"),
    ("82071", "Agent de la fonction publique hospitalière"),
    ("82074", "Agent de la fonction publique territoriale"),
    ("82075", "Agent de la fonction publique européenne"),
    ("82076", "Agent contractuel de la fonction publique"),
    ("82080", "Travailleur social"),
    ("83056", "Tout public"),
];

/// The label of a V14 public code, if V14 has it.
pub fn libelle(code: &str) -> Option<&'static str> {
    PUBLICS_V14
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .ok()
        .map(|i| PUBLICS_V14[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_unique_and_found() {
        assert!(PUBLICS_V14.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(libelle("80006"), Some("Demandeur d’emploi"));
        assert_eq!(libelle("80008"), Some("Licencié pour motif économique"));
        assert_eq!(libelle("80002"), None);
        assert_eq!(libelle("15041"), None);
    }
}
