//! Feedback for long command-line runs: a spinner with the elapsed time on a terminal,
//! plain log lines otherwise (a file, a pipe, journald, the tests), so logs never fill
//! with control characters.

use std::io::IsTerminal;
use std::time::Duration;

/// A long step of a command: shown as a spinner on a terminal, else logged at start and
/// end.
pub struct Step {
    bar: Option<indicatif::ProgressBar>,
    what: &'static str,
    started: std::time::Instant,
}

impl Step {
    pub fn start(what: &'static str) -> Step {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .expect("a valid template"),
            );
            bar.set_message(what);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if bar.is_none() {
            tracing::info!("{what}: started");
        }
        Step {
            bar,
            what,
            started: std::time::Instant::now(),
        }
    }

    /// Runs `work` as this step.
    pub async fn around<T>(what: &'static str, work: impl std::future::Future<Output = T>) -> T {
        let step = Step::start(what);
        let out = work.await;
        step.finish();
        out
    }

    /// Ends the step (the spinner is cleared; the command prints its own summary).
    pub fn finish(self) {
        match self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => tracing::info!(elapsed = ?self.started.elapsed(), "{}: finished", self.what),
        }
    }
}
