//! `config check`: the effective configuration, validated, secrets masked (needs no store).

use clap::Subcommand;
use lheo_feed::config::{Loaded, Source};

use super::{bad_input, Failure};

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print it, effective and with secrets masked.
    Check {
        /// JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
}

/// `config check`: the effective configuration, secrets masked; which keys came from the
/// environment on stderr.
pub fn run(action: &ConfigCommand, loaded: &Loaded) -> Result<(), Failure> {
    let ConfigCommand::Check { json } = action;
    if let Err(e) = loaded.config.serve.admin_key() {
        return Err(bad_input(e));
    }
    let masked = loaded.config.masked();
    if *json {
        out_json!(masked);
    } else {
        out!("{}", toml::to_string(&masked).map_err(anyhow::Error::from)?);
    }
    let from_env: Vec<String> = loaded
        .sources
        .iter()
        .filter_map(|(k, s)| match s {
            Source::Env(var) => Some(format!("{k} ({var})")),
            Source::File => None,
        })
        .collect();
    // The next runs, as the daemon will do them (a DST night shows its real hour): the
    // first thing to check after changing `[schedule]`. On stderr, so that stdout stays
    // the configuration, parseable as TOML or JSON.
    let schedule = loaded.config.schedule.schedule();
    let next: Vec<String> = schedule
        .upcoming(chrono::Utc::now(), 3)
        .into_iter()
        .map(|t| format!("  {}", super::schedule::line(t, &schedule)))
        .collect();
    eprintln!(
        "next runs of {:?} ({}):\n{}",
        schedule.cron.to_string(),
        schedule.tz.name(),
        next.join("\n")
    );
    eprintln!(
        "configuration OK: {}{}",
        loaded
            .file
            .as_ref()
            .map_or("no file, defaults".to_owned(), |f| f.display().to_string()),
        if from_env.is_empty() {
            String::new()
        } else {
            format!("; from the environment: {}", from_env.join(", "))
        }
    );
    Ok(())
}
