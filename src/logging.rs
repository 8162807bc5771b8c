//! Logs: `tracing` to stderr, human-readable or JSON (`[log]` in the configuration).
//!
//! `auto` (the default) means JSON for `lheo-feed run` when stderr is not a terminal (under
//! systemd, journald or a container runtime collect it, and a log pipeline wants one
//! object per line), and human-readable otherwise: the other commands are run by people,
//! who read their warnings even when stderr goes to a file. Each stage is a span
//! (`scheduler`, `run{id,kind}`, `export`, `push`, `serve`), so every line says which
//! run and stage it belongs to.

use std::io::IsTerminal;

use crate::config::{LogFormat, LogSection};

/// Whether logs are JSON for this process.
pub fn json_logs(log: &LogSection, daemon: bool) -> bool {
    match log.format {
        LogFormat::Json => true,
        LogFormat::Human => false,
        LogFormat::Auto => daemon && !std::io::stderr().is_terminal(),
    }
}

/// The human format's clock: local time in the configured zone with its offset
/// ([`crate::local_time`]), as a person compares it with the status page and the
/// schedule. JSON lines keep tracing's UTC timestamps, for log pipelines.
struct LocalClock(chrono_tz::Tz);

impl tracing_subscriber::fmt::time::FormatTime for LocalClock {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        w.write_str(&crate::local_time::millis(chrono::Utc::now(), self.0))
    }
}

/// Installs the global subscriber. `daemon`: `lheo-feed run` (default filter `info`;
/// `warn` for the other commands). A bad filter is reported and the default used. `tz`:
/// the zone of the human format's times (`[schedule] timezone`).
pub fn init(log: &LogSection, daemon: bool, tz: chrono_tz::Tz) {
    let default = if daemon { "info" } else { "warn" };
    let filter = match &log.filter {
        Some(f) => tracing_subscriber::EnvFilter::try_new(f).unwrap_or_else(|e| {
            eprintln!("lheo-feed: log.filter {f:?} is not a tracing filter ({e}); using {default}");
            tracing_subscriber::EnvFilter::new(default)
        }),
        None => tracing_subscriber::EnvFilter::new(default),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json_logs(log, daemon) {
        builder.json().with_current_span(true).init();
    } else {
        builder
            .with_timer(LocalClock(tz))
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    }
}
