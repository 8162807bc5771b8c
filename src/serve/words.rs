//! The status pages' words, in French: the Cariforef's staff read them, and the
//! organismes read the page printed for them. One place, so that no English code reaches
//! the page by a forgotten branch (`tests/status_page.rs` looks for any) and a rewording
//! is one edit. The JSON API, `/metrics` and the CLI keep the English codes.

/// The French label of a run kind, run state, run progress or delivery state stored as an
/// English code. An unknown code is shown as "autre (code)" rather than raw, so that a
/// code added later reads as French with the code beside it.
pub fn libelle(code: &str) -> String {
    let known = match code {
        // Run kinds.
        "scheduled" => "planifiée",
        "catch_up" => "rattrapage",
        "on_demand" => "à la demande",
        // Run states.
        "queued" => "en file",
        "running" => "en cours",
        "interrupted" => "interrompue",
        "succeeded" => "réussie",
        "failed" => "en échec",
        // Run progress (src/daemon, src/store/runs.rs).
        "starting" => "démarrage",
        "export" => "export en cours",
        "push" => "envoi aux consommateurs",
        "done" => "terminée",
        "interrupted: the instance running it stopped" => {
            "interrompue : l'instance qui l'exécutait s'est arrêtée"
        }
        // Delivery states.
        "delivered" => "livrées",
        "pending" => "en attente",
        "dead" => "abandonnées",
        "to_batch" => "générations à envoyer",
        "paused" => "en pause",
        other => return format!("autre ({other})"),
    };
    known.to_owned()
}

pub const TITRE: &str = "lheo-feed — état de la diffusion";
pub const GENERATIONS: &str = "Générations";
pub const TENDANCES: &str = "Tendances (90 dernières générations)";
pub const EXECUTIONS: &str = "Exécutions du démon";
pub const CONSOMMATEURS: &str = "Consommateurs";
pub const REJETS: &str = "Rejets par organisme (génération courante)";
pub const PROCHAINE: &str = "Prochaine exécution planifiée";

pub const AUCUNE_GENERATION: &str = "Aucune génération : lancez <code>lheo-feed export</code>.";
pub const AUCUNE_EXECUTION: &str = "Aucune exécution : <code>lheo-feed run</code> \
     n'a encore rien fait (ou n'est pas lancé).";
pub const AUCUN_CONSOMMATEUR: &str = "Aucun consommateur configuré.";
pub const AUCUN_REJET: &str = "Aucun rejet ni avertissement dans la génération courante.";
pub const JAMAIS: &str = "le planning ne se déclenche plus : corrigez <code>[schedule] cron</code>";

pub const TOUT_EN_CSV: &str = "Tout en CSV";
pub const RAPPORT_CSV: &str = "Rapport CSV de cet organisme";
pub const PAGE_ORGANISME: &str = "Page imprimable de cet organisme";
pub const RETOUR: &str = "Retour à l'état de la diffusion";
pub const ORGANISME_INCONNU: &str = "Organisme inconnu";
pub const FORCEE: &str = " (forcée)";

/// The mark of a generation whose withdrawals or rejections jump (the table's cell and
/// the chart's title).
pub const INHABITUEL: &str = "inhabituel";

// The chart's series, in its legend and the titles of its points.
pub const PUBLIEES: &str = "offres publiées";
pub const CREEES: &str = "créées";
pub const MISES_A_JOUR: &str = "mises à jour";
pub const RETIREES: &str = "retirées";
pub const SESSIONS_REJETEES: &str = "sessions rejetées";
pub const GENERATION: &str = "génération";
pub const RETARD: &str = "retard";
pub const LIVREE: &str = "livrée";
pub const COURANTE: &str = "courante";
pub const RIEN_LIVRE: &str = "rien livré";

pub const GENERATION_COURANTE: &str = "Génération courante";
pub const PUBLIEE_LE: &str = "publiée le";

/// How long ago, in minutes.
pub fn il_y_a(minutes: i64) -> String {
    format!("il y a {minutes} min")
}

/// The rule of [`super::chart::unusual`], under the chart.
pub fn regle_inhabituel(factor: f64, baseline: usize, floor: i64) -> String {
    format!(
        "Un triangle rouge marque une génération dont les retraits ou les sessions rejetées \
         dépassent {factor} fois la médiane des {baseline} précédentes (et au moins {floor})."
    )
}

pub const COLONNES_GENERATIONS: [&str; 9] = [
    "Gén.",
    "Fin",
    "Créées",
    "Màj",
    "Retirées",
    "Rejetées",
    "Publiées",
    "Sessions rejetées",
    "Remarque",
];
pub const COLONNES_EXECUTIONS: [&str; 6] = [
    "N°",
    "Type",
    "Demandée",
    "État",
    "Gén.",
    "Avancement / erreur",
];
pub const COLONNES_CONSOMMATEURS: [&str; 5] = [
    "Consommateur",
    "Génération livrée",
    "Retard",
    "Livraisons",
    "Dernière erreur",
];

/// An offer's state on its organisme's page.
pub fn etat_offre(rejetee: bool, sessions_rejetees: u64) -> String {
    if rejetee {
        "action non diffusée".to_owned()
    } else if sessions_rejetees > 0 {
        format!("diffusée, {sessions_rejetees} session(s) non diffusée(s)")
    } else {
        "diffusée, à corriger".to_owned()
    }
}

// The organisme page's refusals (JSON errors, read by the agent who typed the address).
pub const SIRET_MALFORME: &str = "un SIRET a 14 chiffres, sans espace";
pub const SIRET_INCONNU: &str =
    "aucun organisme ni rejet pour ce SIRET dans la génération courante";

/// A SIRET whose check digit is wrong.
pub fn siret_cle_fausse(siret: &str) -> String {
    format!("SIRET {siret} : la clé de contrôle (Luhn) est fausse ; vérifiez la saisie")
}

/// The French label of a finding's severity (`warning`, `reject_session`,
/// `reject_offer`), as `check` prints it.
pub fn gravite(code: &str) -> String {
    match crate::rules::Severity::parse(code) {
        Some(s) => s.libelle().to_owned(),
        None => libelle(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_the_store_writes_has_a_french_label() {
        for code in [
            "scheduled",
            "catch_up",
            "on_demand",
            "queued",
            "running",
            "interrupted",
            "succeeded",
            "failed",
            "starting",
            "export",
            "push",
            "done",
            "interrupted: the instance running it stopped",
            "delivered",
            "pending",
            "dead",
            "to_batch",
            "paused",
        ] {
            assert!(!libelle(code).starts_with("autre"), "{code}");
            assert_ne!(libelle(code), code);
        }
        assert_eq!(libelle("new_state"), "autre (new_state)");
    }
}
