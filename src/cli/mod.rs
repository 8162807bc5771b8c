//! The command groups of the `lheo-feed` binary, one module each. A module owns its
//! commands' arguments (clap `Args`), calls the library, and prints the result, as text
//! or JSON, in one place. What they share is here: the exit-code [`Failure`], the
//! [`Ctx`] of an open store, and output that ends quietly when its reader goes away.

/// Writes to stdout; a reader that went away (`lheo-feed check | head`) ends the command
/// quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        match write!(std::io::stdout().lock(), $($arg)*) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                return Err($crate::cli::Failure::quiet())
            }
            r => r.map_err(anyhow::Error::from)?,
        }
    }};
}
macro_rules! outln {
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}
/// Prints a value as pretty JSON on stdout (every `--json` output).
macro_rules! out_json {
    ($value:expr) => {{
        outln!(
            "{}",
            serde_json::to_string_pretty(&$value).expect("serialisable")
        );
    }};
}

pub mod check;
pub mod config;
pub mod daemon;
pub mod export;
pub mod feed;
pub mod generate;
pub mod imports;
pub mod push;
pub mod schedule;

use lheo_feed::config::Config;
use lheo_feed::pipeline::PassOptions;
use lheo_feed::store::Store;

/// What a command that works on the store is given: the effective configuration, the
/// open store and the options of a pass over the offers (day, rules).
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    pub opts: &'a PassOptions,
}

/// An error with the exit code it deserves: 1 operational, 2 bad input.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// The reader of our output went away: nothing to say, nothing failed.
    pub fn quiet() -> Failure {
        Failure {
            code: 0,
            message: String::new(),
        }
    }

    /// An operational failure (exit 1) with the message as it stands.
    pub fn operational(message: String) -> Failure {
        Failure { code: 1, message }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::operational(format!("{e:#}"))
    }
}

/// Bad input: exit code 2.
pub fn bad_input(message: String) -> Failure {
    Failure { code: 2, message }
}

/// Bad input as the exit-2 failure every import command gives: the first errors, how
/// many more there were (`more`: "bad lines", "errors"), and that nothing was imported.
pub fn input_failure<E: std::fmt::Display>(
    errors: &[E],
    total: u64,
    more: &str,
    counted: &str,
    fix: &str,
) -> Failure {
    let mut msg = String::new();
    for e in errors {
        msg.push_str(&e.to_string());
        msg.push('\n');
    }
    if total as usize > errors.len() {
        msg.push_str(&format!(
            "… and {} more {more}\n",
            total as usize - errors.len()
        ));
    }
    msg.push_str(&format!("{total} {counted}: nothing was imported. {fix}"));
    bad_input(msg)
}
