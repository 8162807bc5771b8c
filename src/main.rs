//! The `lheo-feed` command line: parses arguments, opens the store, calls the library.
//!
//! Exit codes: 0 success; 1 operational failure (database, disk, nothing to publish, an
//! export refused because it would withdraw too many offers); 2 bad input (a file's
//! lines, a bad argument or configuration).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use lheo_feed::config::{Config, Day, Loaded, Source};
use lheo_feed::daemon::RunSettings;
use lheo_feed::generation::{self, ExportError, ExportOptions, ExportSummary};
use lheo_feed::ingest::{self, ImportError};
use lheo_feed::lock::ExportLock;
use lheo_feed::model::Date;
use lheo_feed::pipeline::{self, PassOptions};
use lheo_feed::rules::report::Report;
use lheo_feed::rules::RulesConfig;
use lheo_feed::store::Store;

/// Publishes the SOFI training offer (Formation/Action/Session/Dispositif) as LHÉO 2.3.
#[derive(Parser)]
#[command(name = "lheo-feed", version, about, long_about = None)]
struct Cli {
    /// Database: a SQLite file path or sqlite:// URL (created on first use), or a
    /// postgres:// URL.
    /// (Default: `[store] database_url` of the configuration, else
    /// sqlite://lheo-feed.sqlite.)
    #[arg(
        long,
        global = true,
        env = "LHEO_FEED_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,

    /// The configuration file (TOML; docs/configuration.md). No file is read unless named.
    #[arg(long, global = true, env = "LHEO_FEED_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Judge the offer as of this day (YYYY-MM-DD) instead of today: ended sessions,
    /// next information collectives. For replaying a past run or the fixtures.
    #[arg(long, global = true, env = "LHEO_FEED_TODAY")]
    today: Option<String>,

    /// Entry-rule configuration (TOML: campaign year per programme or lot, regional
    /// programmes). Default: the 2025 campaign of the five regional programmes.
    #[arg(long, global = true, env = "LHEO_FEED_RULES")]
    rules: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import FASD JSON Lines files (plain or gzip) into the store: all or nothing.
    Import {
        /// Files to import, in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import LHÉO 2.2 / 2.3 documents (plain or gzip) back into FASD offers: all or
    /// nothing; entry rules are not applied (`check` and `export` judge the offers).
    ImportLheo {
        /// LHÉO documents, in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make the next generation: write the LHÉO 2.3 document of the validated offers and
    /// record what changed since the last export (created, updated, withdrawn, unchanged).
    Export {
        /// Where to write the full document (replaced atomically). Default: `[export] out`,
        /// else out/lheo.xml.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write the created and updated offers as a LHÉO document, withdrawals listed
        /// in its extras (docs/generations.md). Not written when only withdrawals exist.
        #[arg(long, value_name = "FILE")]
        delta_out: Option<PathBuf>,
        /// Publish even if more than --max-withdraw-share of the published offers would be
        /// withdrawn.
        #[arg(long)]
        force: bool,
        /// Largest share (0 to 1) of the published offers an export may withdraw without
        /// --force.
        /// (Default: `[export] max_withdraw_share`, else 0.2.)
        #[arg(long, value_name = "SHARE")]
        max_withdraw_share: Option<f64>,
        /// Days a withdrawn offer's tombstone is kept; older ones are purged by the export.
        /// (Default: `[export] tombstone_retention_days`, else 90.)
        #[arg(long, value_name = "DAYS")]
        tombstone_retention_days: Option<u32>,
        /// Evaluate every offer, not only those that may have changed (the result is the
        /// same; for checks and measurements).
        #[arg(long)]
        full: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the export generations, newest first.
    Generations {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// List the offers created, updated or withdrawn between generations A and B (A = 0:
    /// before the first); the net change of each offer over the range.
    Diff {
        from: i64,
        to: i64,
        #[arg(long)]
        json: bool,
    },
    /// Run the entry rules without exporting and report rejections per organisme.
    Check {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show what the store holds: organismes, offers (validated or not), sessions.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Write deterministic synthetic FASD data (a load-testing aid; invented data only).
    Generate {
        /// How many sessions.
        #[arg(long)]
        sessions: u64,
        /// Seed: the same seed gives the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file; gzip when it ends in .gz.
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve the partner feed (full snapshot, changes since a cursor, one offer) and the
    /// operator's status page over HTTP (docs/feed.md). The status page's key comes from
    /// LHEO_FEED_ADMIN_KEY or --admin-key-file.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "LHEO_FEED_LISTEN", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// The export's --out, if this server sees the export folder at another path than
        /// the exporter recorded.
        #[arg(long)]
        out: Option<PathBuf>,
        /// File holding the status page's admin key (one line).
        #[arg(long, value_name = "FILE")]
        admin_key_file: Option<PathBuf>,
        /// Requests per second allowed to each partner key (0: no limit).
        #[arg(long, default_value_t = 20.0)]
        rate_limit: f64,
        /// Requests a key may make in a burst.
        #[arg(long, default_value_t = 60)]
        rate_burst: u32,
        /// Seconds a revoked key may still be accepted (the key cache's lifetime).
        #[arg(long, default_value_t = 5)]
        key_cache_seconds: u64,
    },
    /// Manage the partners allowed to pull the feed: add (prints the key once), list, revoke.
    Partner {
        #[command(subcommand)]
        action: PartnerCommand,
    },
    /// Send the generations' changes to the configured consumers (docs/consumers.md).
    Push {
        /// Only this consumer.
        #[arg(long, value_name = "NAME")]
        consumer: Option<String>,
        /// Send what is due, wait for retries due within --max-wait, and exit.
        #[arg(long)]
        once: bool,
        /// With --once: how long to wait for retries and other pushers' leases.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        max_wait: std::time::Duration,
        /// Print the --once summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the outbox per consumer (pending, failed, dead letters), or replay dead letters.
    Deliveries {
        #[command(subcommand)]
        action: Option<DeliveriesAction>,
        /// Only this consumer.
        #[arg(long, value_name = "NAME")]
        consumer: Option<String>,
        /// JSON output (also after `replay` and `baseline`).
        #[arg(long, global = true)]
        json: bool,
    },
    /// Import the Conseil régional's CSV extraction (programmes, lots, organismes
    /// mandataires and formateurs) that seeds a campaign: all or nothing.
    /// The daemon: exports on the schedule (`[schedule]`, Europe/Paris wall time), runs
    /// on-demand requests, catches up a missed slot; stops cleanly on SIGTERM/SIGINT.
    Run,
    /// List the daemon's runs (scheduled, caught up, on demand), newest first, with their
    /// state, progress and generation; or queue one.
    Runs {
        #[command(subcommand)]
        action: Option<RunsCommand>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// The configuration file.
    Config {
        #[command(subcommand)]
        action: ConfigCommand,
    },
    ImportRegion {
        /// Region CSV files (`;` or `,`, UTF-8 or Windows-1252), in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RunsCommand {
    /// Queue an on-demand export for the running daemon(s); prints the run's id.
    Request,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print it, effective and with secrets masked.
    Check {
        /// JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PartnerCommand {
    /// Add a partner and print its API key, once (only its hash is stored).
    Add {
        name: String,
        /// Limit what it sees: programme:NAME, dispositif:NAME, departement:CODE
        /// (repeatable; values of one kind are alternatives, kinds combine).
        #[arg(long)]
        scope: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List partners (key prefixes only).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a partner's key (its requests then get 403).
    Revoke { name: String },
}

#[derive(Subcommand)]
enum DeliveriesAction {
    /// Queue dead letters again (their offers in their latest state); `--consumer NAME`
    /// replays all of that consumer's and resumes it if it was paused.
    Replay {
        /// The dead letter's id (see `lheo-feed deliveries`).
        #[arg(required_unless_present = "consumer", conflicts_with = "consumer")]
        id: Option<i64>,
        #[arg(long, value_name = "NAME")]
        consumer: Option<String>,
    },
    /// Record that a consumer loaded the current generation's full snapshot by other means
    /// (`GET /feed/lheo.xml`, or the export's file): its next batches then carry only what
    /// changes after it, instead of a first delivery of every offer through HTTP batches.
    Baseline {
        #[arg(long, value_name = "NAME")]
        consumer: String,
        /// The generation it loaded (the feed's `Lheo-Feed-Generation` header, or
        /// `lheo-feed generations`); must be the current one.
        #[arg(long, value_name = "N")]
        generation: i64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Csv,
}

/// Writes to stdout; a reader that went away (`lheo-feed check | head`) ends the command
/// quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        match write!(std::io::stdout().lock(), $($arg)*) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Err(Failure::quiet()),
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

/// An error with the exit code it deserves.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// The reader of our output went away: nothing to say, nothing failed.
    fn quiet() -> Failure {
        Failure {
            code: 0,
            message: String::new(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure {
            code: 1,
            message: format!("{e:#}"),
        }
    }
}

fn bad_input(message: String) -> Failure {
    Failure { code: 2, message }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Flag > environment > file > default (docs/configuration.md).
    let mut loaded = match Loaded::from_env(cli.config.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lheo-feed: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(f) = apply_flags(&cli, &mut loaded) {
        eprintln!("lheo-feed: {}", f.message);
        return ExitCode::from(f.code);
    }
    lheo_feed::logging::init(&loaded.config.log, matches!(cli.command, Command::Run));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli, loaded)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("lheo-feed: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

async fn import_lheo(store: &Store, files: &[PathBuf], json: bool) -> Result<(), Failure> {
    use lheo_feed::ingest::lheo::{import_lheo_files, LheoImportError};
    match import_lheo_files(store, files).await {
        Ok(s) => {
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&s).expect("serialisable")
                );
            } else {
                outln!(
                    "imported {} formations ({} sessions) from {} LHÉO file(s): organismes {} new, {} changed, {} unchanged; \
                     offres {} new, {} changed, {} unchanged",
                    s.formations,
                    s.sessions,
                    s.files,
                    s.organismes.created,
                    s.organismes.changed,
                    s.organismes.unchanged,
                    s.offres.created,
                    s.offres.changed,
                    s.offres.unchanged,
                );
            }
            Ok(())
        }
        Err(LheoImportError::Input { errors, total }) => Err(input_failure(
            &errors,
            total,
            "errors",
            "error(s)",
            "Fix the document(s) and run import-lheo again.",
        )),
        Err(LheoImportError::Other(e)) => Err(e.into()),
    }
}

/// The global flags over the configuration (they win over it).
fn apply_flags(cli: &Cli, loaded: &mut Loaded) -> Result<(), Failure> {
    let c = &mut loaded.config;
    if let Some(url) = &cli.database_url {
        c.store.database_url = url.clone();
    }
    if let Some(t) = &cli.today {
        c.export.today =
            Some(Day::try_from(t.clone()).map_err(|e| bad_input(format!("--today: {e}")))?);
    }
    if let Some(r) = &cli.rules {
        c.export.rules = Some(r.clone());
    }
    Ok(())
}

fn pass_options(config: &Config) -> Result<PassOptions, Failure> {
    let today = match &config.export.today {
        Some(t) => t.date(),
        None => Date(chrono::Local::now().date_naive()),
    };
    let rules = match &config.export.rules {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad_input(format!("--rules {}: cannot read: {e}", path.display())))?;
            toml::from_str::<RulesConfig>(&text)
                .map_err(|e| bad_input(format!("--rules {}: {e}", path.display())))?
        }
        None => RulesConfig::default(),
    };
    Ok(PassOptions {
        today,
        rules,
        page_size: 1000,
    })
}

async fn run(cli: Cli, loaded: Loaded) -> Result<(), Failure> {
    if let Command::Generate {
        sessions,
        seed,
        out,
    } = &cli.command
    {
        // Needs no database.
        return generate(*sessions, *seed, out);
    }
    if let Command::Config {
        action: ConfigCommand::Check { json },
    } = &cli.command
    {
        // Needs no database either.
        return config_check(&loaded, *json);
    }
    let config = &loaded.config;
    let opts = pass_options(config)?;
    let push_config = push_config(config)?;
    let store = Store::open(&config.store.database_url).await?;
    let result = match (&cli.command, &push_config) {
        (Command::Push { .. } | Command::Deliveries { .. }, _) => {
            let cfg = push_config.unwrap_or_default();
            lheo_feed_push::dispatch(&cli.command, &store, &cfg).await
        }
        (Command::Export { .. }, Some(cfg)) => {
            match lheo_feed::push::outbox::sync_consumers(&store, cfg).await {
                Ok(()) => dispatch(&cli, config, &store, &opts).await,
                Err(e) => Err(e.into()),
            }
        }
        _ => dispatch(&cli, config, &store, &opts).await,
    };
    store.close().await;
    result
}

fn generate(sessions: u64, seed: u64, out: &std::path::Path) -> Result<(), Failure> {
    use std::io::Write;
    let file = std::fs::File::create(out)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    let buffered = std::io::BufWriter::with_capacity(1 << 20, file);
    let counts = if out.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(buffered, flate2::Compression::fast());
        let c = lheo_feed::generate::generate(&mut gz, sessions, seed);
        c.and_then(|c| gz.finish().and_then(|mut w| w.flush()).map(|_| c))
    } else {
        lheo_feed::generate::generate(buffered, sessions, seed)
    }
    .map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
    outln!(
        "generated {} organismes, {} offres, {} sessions (seed {seed}) in {}",
        counts.0,
        counts.1,
        counts.2,
        out.display()
    );
    Ok(())
}

/// The text summary of an export.
fn export_text(s: &ExportSummary) -> String {
    let c = &s.counts;
    let mut t = format!(
        "generation {} ({}{}; {} offres evaluated): {} created, {} updated, {} withdrawn, {} unchanged{}\n",
        s.generation,
        s.mode.as_str(),
        s.full_reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default(),
        s.offres_evaluees,
        s.created,
        s.updated,
        s.withdrawn,
        s.unchanged,
        if s.forced { " (forced)" } else { "" },
    );
    t.push_str(&format!(
        "exported {} formations, {} actions, {} sessions to {} ({} bytes, sha256 {})\n\
         left out: {} offres rejected, {} offres with every session ended; {} sessions rejected, {} ended\n",
        c.formations,
        c.actions,
        c.sessions,
        s.file.display(),
        s.bytes,
        s.sha256,
        c.offres_rejetees,
        c.offres_inactives,
        c.sessions_rejetees,
        c.sessions_inactives,
    ));
    if s.tombstones > 0 || s.tombstones_purged > 0 {
        t.push_str(&format!(
            "tombstones: {} kept, {} purged\n",
            s.tombstones, s.tombstones_purged
        ));
    }
    if let Some(d) = &s.delta {
        match &d.note {
            None => t.push_str(&format!(
                "delta: {} offres and {} withdrawals to {}\n",
                d.offres,
                d.retraits.len(),
                d.file.display()
            )),
            Some(note) => {
                t.push_str(&format!("delta: {note}\n"));
                for n in &d.retraits {
                    t.push_str(&format!("withdrawn {n}\n"));
                }
            }
        }
    }
    t
}

/// `config check`: the effective configuration, secrets masked; which keys came from the
/// environment on stderr.
fn config_check(loaded: &Loaded, json: bool) -> Result<(), Failure> {
    if let Err(e) = loaded.config.serve.admin_key() {
        return Err(bad_input(e));
    }
    let masked = loaded.config.masked();
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&masked).expect("serialisable")
        );
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

async fn dispatch(
    cli: &Cli,
    config: &Config,
    store: &Store,
    opts: &PassOptions,
) -> Result<(), Failure> {
    match &cli.command {
        Command::Import { files, json } => {
            match lheo_feed::progress::Step::around("importing", ingest::import_files(store, files))
                .await
            {
                Ok(summary) => {
                    if *json {
                        outln!(
                            "{}",
                            serde_json::to_string_pretty(&summary).expect("serialisable")
                        );
                    } else {
                        outln!(
                        "imported {} lines from {} file(s): organismes {} new, {} changed, {} unchanged; \
                         offres {} new, {} changed, {} unchanged ({} sessions); session lines {} new, {} changed, {} unchanged",
                        summary.lines,
                        summary.files,
                        summary.organismes.created,
                        summary.organismes.changed,
                        summary.organismes.unchanged,
                        summary.offres.created,
                        summary.offres.changed,
                        summary.offres.unchanged,
                        summary.sessions_in_offres,
                        summary.sessions.created,
                        summary.sessions.changed,
                        summary.sessions.unchanged,
                    );
                        let b = &summary.brouillons;
                        if b.created + b.changed + b.unchanged > 0 {
                            outln!(
                                "drafts with required fields still missing (never exported; `check` lists them): {} new, {} changed, {} unchanged",
                                b.created,
                                b.changed,
                                b.unchanged
                            );
                        }
                    }
                    Ok(())
                }
                Err(ImportError::Input { errors, total }) => Err(input_failure(
                    &errors,
                    total,
                    "bad lines",
                    "bad line(s)",
                    "Fix them and run the import again.",
                )),
                Err(ImportError::Other(e)) => Err(e.into()),
            }
        }
        Command::ImportLheo { files, json } => import_lheo(store, files, *json).await,
        Command::Export {
            out,
            delta_out,
            force,
            max_withdraw_share,
            tombstone_retention_days,
            full,
            json,
        } => {
            let max_withdraw_share =
                &max_withdraw_share.unwrap_or(config.export.max_withdraw_share.0);
            if !(0.0..=1.0).contains(max_withdraw_share) {
                return Err(bad_input(format!(
                    "--max-withdraw-share must be between 0 and 1 (0.2 is 20 %), got {max_withdraw_share}"
                )));
            }
            let now = chrono::Local::now()
                .fixed_offset()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
            let out = out.clone().unwrap_or_else(|| config.export.out.clone());
            let mut options = ExportOptions::new(opts.clone(), out, now);
            options.delta_out = delta_out.clone().or(config.export.delta_out.clone());
            options.force = *force;
            options.max_withdraw_share = *max_withdraw_share;
            options.tombstone_retention_days =
                tombstone_retention_days.unwrap_or(config.export.tombstone_retention_days);
            options.full = *full;
            // The same lock as the daemon's runs: wait behind one in progress.
            let lock = ExportLock::acquire(store).await?;
            let result =
                lheo_feed::progress::Step::around("exporting", generation::export(store, &options))
                    .await;
            lock.release().await;
            match result {
                Ok(summary) => {
                    if *json {
                        outln!(
                            "{}",
                            serde_json::to_string_pretty(&summary).expect("serialisable")
                        );
                    } else {
                        out!("{}", export_text(&summary));
                    }
                    Ok(())
                }
                Err(e @ (ExportError::Empty { .. } | ExportError::TooManyWithdrawals { .. })) => {
                    Err(Failure {
                        code: 1,
                        message: e.to_string(),
                    })
                }
                Err(ExportError::Other(e)) => Err(e.into()),
            }
        }
        Command::Generations { limit, json } => {
            let rows = store.generations(*limit).await?;
            if *json {
                let list: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|g| {
                        let mut v = serde_json::to_value(g).expect("serialisable");
                        v["counts"] = serde_json::from_str(&g.counts).unwrap_or_default();
                        v
                    })
                    .collect();
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&list).expect("serialisable")
                );
            } else if rows.is_empty() {
                outln!("no generation yet: run `lheo-feed export`");
            } else {
                outln!(
                    "{:>6}  {:<20}  {:<10}  {:<11}  {:>9}  {:>7}  {:>7}  {:>9}  {:>9}  file",
                    "gen",
                    "finished (UTC)",
                    "today",
                    "mode",
                    "published",
                    "created",
                    "updated",
                    "withdrawn",
                    "unchanged"
                );
                for g in &rows {
                    outln!(
                        "{:>6}  {:<20}  {:<10}  {:<11}  {:>9}  {:>7}  {:>7}  {:>9}  {:>9}  {}{}",
                        g.id,
                        g.finished_at.format("%Y-%m-%d %H:%M:%S"),
                        g.today,
                        g.mode,
                        g.published,
                        g.created,
                        g.updated,
                        g.withdrawn,
                        g.unchanged,
                        g.out_path,
                        if g.forced { "  (forced)" } else { "" }
                    );
                }
            }
            Ok(())
        }
        Command::Diff { from, to, json } => {
            if let Err(msg) = generation::check_range(store, *from, *to).await? {
                return Err(bad_input(msg));
            }
            let d = generation::diff(store, *from, *to).await?;
            if *json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&d).expect("serialisable")
                );
            } else {
                for (op, list) in [
                    ("created", &d.created),
                    ("updated", &d.updated),
                    ("withdrawn", &d.withdrawn),
                ] {
                    for n in list {
                        outln!("{op:<9} {n}");
                    }
                }
                outln!(
                    "generation {} → {}: {} created, {} updated, {} withdrawn",
                    d.from,
                    d.to,
                    d.created.len(),
                    d.updated.len(),
                    d.withdrawn.len()
                );
            }
            Ok(())
        }
        Command::Generate { .. } | Command::Config { .. } => {
            unreachable!("handled before opening the store")
        }
        Command::Run => {
            let settings = RunSettings {
                config: config.clone(),
                rules: opts.rules.clone(),
                instance: lheo_feed::daemon::instance_name(),
            };
            let shutdown = lheo_feed::daemon::shutdown_on_signals()?;
            lheo_feed::daemon::run(store.clone(), settings, shutdown).await?;
            Ok(())
        }
        Command::Runs {
            action: Some(RunsCommand::Request),
            json,
            ..
        } => {
            let id = store.request_run("cli").await?;
            if *json {
                outln!("{}", serde_json::json!({ "run": id }));
            } else {
                outln!("run {id} queued: a running `lheo-feed run` picks it up");
            }
            Ok(())
        }
        Command::Runs {
            action: None,
            limit,
            json,
        } => {
            let rows = store.runs(*limit).await?;
            if *json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&rows).expect("serialisable")
                );
            } else if rows.is_empty() {
                outln!(
                    "no run yet: start `lheo-feed run`, or queue one with `lheo-feed runs request`"
                );
            } else {
                outln!(
                    "{:>5}  {:<9}  {:<20}  {:<11}  {:>3}  {:>5}  {:<20}  progress / error",
                    "run",
                    "kind",
                    "slot (UTC)",
                    "state",
                    "try",
                    "gen",
                    "instance"
                );
                for r in &rows {
                    outln!(
                        "{:>5}  {:<9}  {:<20}  {:<11}  {:>3}  {:>5}  {:<20}  {}",
                        r.id,
                        r.kind,
                        r.scheduled_for
                            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                            .unwrap_or_else(|| "-".into()),
                        r.state,
                        r.attempts,
                        r.generation_id
                            .map(|g| g.to_string())
                            .unwrap_or_else(|| "-".into()),
                        r.instance.as_deref().unwrap_or("-"),
                        r.error.as_deref().or(r.progress.as_deref()).unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        Command::Push { .. } | Command::Deliveries { .. } => unreachable!("handled in run"),
        Command::Status { json } => {
            let c = store.counts().await?;
            if *json {
                outln!(
                    "{}",
                    serde_json::json!({
                        "backend": store.backend(),
                        "organismes": c.organismes,
                        "offres": c.offres,
                        "offres_validees": c.offres_validees,
                        "sessions": c.sessions,
                    })
                );
            } else {
                outln!(
                    "{} store: {} organismes, {} offres ({} validated), {} sessions",
                    store.backend(),
                    c.organismes,
                    c.offres,
                    c.offres_validees,
                    c.sessions
                );
            }
            Ok(())
        }
        Command::Check { format } => {
            let organismes = store.organismes().await?;
            // The report lists every offer, clean ones too, so an organisme sees its whole
            // offer; the pipeline alone keeps only the noteworthy ones.
            let mut all = Vec::new();
            pipeline::run(store, opts, |_, outcome, _| {
                all.push(outcome.clone());
                Ok(())
            })
            .await?;
            let mut report = Report::new(&all, &organismes)
                .with_saisies(pipeline::saisies_incompletes(store).await?, &organismes);
            report.mark_published(&lheo_feed::generation::published_sessions(store).await?);
            match format {
                Format::Text => out!("{}", report.to_text()),
                Format::Json => outln!(
                    "{}",
                    serde_json::to_string_pretty(&report.to_json()).expect("serialisable")
                ),
                Format::Csv => report
                    .write_csv(std::io::stdout().lock())
                    .map_err(anyhow::Error::from)?,
            }
            Ok(())
        }
        Command::Serve {
            listen,
            out,
            admin_key_file,
            rate_limit,
            rate_burst,
            key_cache_seconds,
        } => {
            let admin_key = match admin_key_file {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .map_err(|e| {
                            bad_input(format!("--admin-key-file {}: {e}", path.display()))
                        })?
                        .trim()
                        .to_owned(),
                ),
                None => std::env::var("LHEO_FEED_ADMIN_KEY").ok(),
            }
            .filter(|k| !k.is_empty());
            if admin_key.as_ref().is_some_and(|k| k.len() < 16) {
                return Err(bad_input(
                    "the admin key must have at least 16 characters (e.g. `openssl rand -hex 32`)"
                        .into(),
                ));
            }
            if !(*rate_limit >= 0.0 && rate_limit.is_finite()) {
                return Err(bad_input("--rate-limit must be 0 or more".into()));
            }
            let mut config = lheo_feed::serve::ServeConfig::new(*listen);
            config.out = out.clone();
            config.admin_key = admin_key;
            config.rate_per_second = *rate_limit;
            config.rate_burst = *rate_burst;
            config.auth_cache_ttl = std::time::Duration::from_secs(*key_cache_seconds);
            if config.admin_key.is_none() {
                tracing::warn!("no admin key (LHEO_FEED_ADMIN_KEY or --admin-key-file): the status page is off");
            }
            eprintln!("lheo-feed: serving on http://{listen}");
            lheo_feed::serve::serve(store.clone(), config, shutdown_signal()).await?;
            Ok(())
        }
        Command::Partner { action } => partner(store, action).await,
        Command::ImportRegion { files, json } => {
            match ingest::region::import_region_files(store, files).await {
                Ok(summary) => {
                    if *json {
                        outln!(
                            "{}",
                            serde_json::to_string_pretty(&summary).expect("serialisable")
                        );
                    } else {
                        for f in &summary.files {
                            outln!(
                                "{}: {} rows, read as {} with {:?} separators",
                                f.file,
                                f.rows,
                                f.encoding,
                                f.separator
                            );
                        }
                        let c = |u: &lheo_feed::store::UpsertCounts| {
                            format!(
                                "{} new, {} changed, {} unchanged",
                                u.created, u.changed, u.unchanged
                            )
                        };
                        outln!(
                            "imported the Region referential: programmes {}; lots {}; organismes {}",
                            c(&summary.programmes),
                            c(&summary.lots),
                            c(&summary.organismes)
                        );
                    }
                    Ok(())
                }
                Err(ImportError::Input { errors, total }) => Err(input_failure(
                    &errors,
                    total,
                    "bad lines",
                    "bad line(s)",
                    "Fix them and run the import again.",
                )),
                Err(ImportError::Other(e)) => Err(e.into()),
            }
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn partner(store: &Store, action: &PartnerCommand) -> Result<(), Failure> {
    use lheo_feed::partners::{self, PartnerError};
    let fail = |e: PartnerError| match e {
        PartnerError::Input(m) => bad_input(m),
        PartnerError::Other(e) => e.into(),
    };
    match action {
        PartnerCommand::Add { name, scope, json } => {
            let p = partners::add(store, name, scope).await.map_err(fail)?;
            if *json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&p).expect("serialisable")
                );
            } else {
                outln!("partner {} added (scope: {})", p.name, p.scope.describe());
                outln!("API key (shown only now; give it to the partner over a safe channel):");
                outln!("{}", p.key);
            }
        }
        PartnerCommand::List { json } => {
            let list = partners::list(store).await?;
            if *json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&list).expect("serialisable")
                );
            } else if list.is_empty() {
                outln!("no partner yet: `lheo-feed partner add NAME`");
            } else {
                for p in &list {
                    outln!(
                        "{:<24} {}…  {}  {}",
                        p.name,
                        p.key_prefix,
                        match p.revoked_at {
                            Some(t) => format!("revoked {}", t.format("%Y-%m-%d %H:%M")),
                            None => "active".to_owned(),
                        },
                        p.scope.describe()
                    );
                }
            }
        }
        PartnerCommand::Revoke { name } => {
            partners::revoke(store, name).await.map_err(fail)?;
            outln!("partner {name}: key revoked");
        }
    }
    Ok(())
}

/// The `[push]` and `[[consumers]]` sections of the configuration, parsed by the push
/// module; `None` when the configuration names no consumer. A bad section is exit 2.
fn push_config(config: &Config) -> Result<Option<lheo_feed::push::PushConfig>, Failure> {
    lheo_feed::push::config::from_raw(config.push.as_ref(), config.consumers.as_ref())
        .map_err(|e| bad_input(format!("configuration: {e}")))
}

/// The `push` and `deliveries` commands.
mod lheo_feed_push {
    use super::{bad_input, Command, DeliveriesAction, Failure};
    use lheo_feed::push::{self, outbox, ConfigError, PushConfig, PushOptions};
    use lheo_feed::store::Store;

    fn failure(e: anyhow::Error) -> Failure {
        match e.downcast_ref::<ConfigError>() {
            Some(c) => bad_input(c.to_string()),
            None => e.into(),
        }
    }

    pub async fn dispatch(cmd: &Command, store: &Store, cfg: &PushConfig) -> Result<(), Failure> {
        match cmd {
            Command::Push {
                consumer,
                once,
                max_wait,
                json,
            } => {
                if cfg.consumers.is_empty() {
                    return Err(bad_input(
                        "no consumer configured: give --config FILE (or LHEO_FEED_CONFIG) with                          [[consumers]] (see deploy/lheo-feed.example.toml)"
                            .to_owned(),
                    ));
                }
                if *once {
                    let opts = PushOptions {
                        consumer: consumer.clone(),
                        max_wait: *max_wait,
                    };
                    let s = push::push_once(store, cfg, &opts).await.map_err(failure)?;
                    if *json {
                        outln!(
                            "{}",
                            serde_json::to_string_pretty(&s).expect("serialisable")
                        );
                    } else {
                        for c in &s.consumers {
                            outln!(
                                "{}: {} batches delivered ({} offres, {} retraits, {} bytes sent),                                  {} failed attempts, {} dead letters{}",
                                c.name,
                                c.batches_delivered,
                                c.offres_delivered,
                                c.retraits_delivered,
                                c.body_bytes,
                                c.failed_attempts,
                                c.dead_letters,
                                if c.paused { ", PAUSED" } else { "" }
                            );
                        }
                        outln!(
                            "{} ms, {:.0} offres/s; `lheo-feed deliveries` shows what is left",
                            s.elapsed_ms,
                            s.offres_per_second
                        );
                    }
                    Ok(())
                } else {
                    if consumer.is_some() {
                        return Err(bad_input(
                            "--consumer is for --once; the long-running pusher serves every consumer"
                                .to_owned(),
                        ));
                    }
                    let shutdown = async {
                        let _ = tokio::signal::ctrl_c().await;
                    };
                    push::run_pusher(store, cfg, shutdown)
                        .await
                        .map_err(failure)
                }
            }
            Command::Deliveries {
                action,
                consumer,
                json,
            } => {
                if !cfg.consumers.is_empty() {
                    outbox::sync_consumers(store, cfg).await?;
                }
                match action {
                    Some(DeliveriesAction::Replay { id, consumer }) => {
                        let r = outbox::replay(store, cfg, *id, consumer.as_deref())
                            .await?
                            .map_err(bad_input)?;
                        if *json {
                            outln!(
                                "{}",
                                serde_json::to_string_pretty(&r).expect("serialisable")
                            );
                        } else {
                            outln!(
                                "replayed {} dead letter(s): {} batch(es) queued ({} offres, {}                                  retraits in their latest state); run `lheo-feed push --once` to send",
                                r.dead_letters,
                                r.batches,
                                r.offres,
                                r.retraits
                            );
                        }
                        Ok(())
                    }
                    Some(DeliveriesAction::Baseline {
                        consumer,
                        generation,
                    }) => {
                        let b = outbox::baseline(store, cfg, consumer, *generation)
                            .await?
                            .map_err(bad_input)?;
                        if *json {
                            outln!(
                                "{}",
                                serde_json::to_string_pretty(&b).expect("serialisable")
                            );
                        } else {
                            outln!(
                                "{}: baseline at generation {}: holds {} offres, {} outbox row(s) \
                                 closed without a request; its next batches carry what changes after it",
                                b.consumer,
                                b.generation,
                                b.offres,
                                b.deliveries
                            );
                        }
                        Ok(())
                    }
                    None => {
                        let list = outbox::status(store, consumer.as_deref()).await?;
                        if *json {
                            outln!(
                                "{}",
                                serde_json::to_string_pretty(&list).expect("serialisable")
                            );
                            return Ok(());
                        }
                        if list.is_empty() {
                            outln!("no consumer registered: run `lheo-feed --config FILE push`");
                        }
                        for c in &list {
                            outln!(
                                "{} ({}{}{}): {} generations to batch, {} batches pending ({} failed so far), {} dead, {} delivered ({} offres)",
                                c.name,
                                c.mode,
                                if c.enabled { "" } else { ", disabled" },
                                if c.paused { ", PAUSED" } else { "" },
                                c.pending_generations,
                                c.pending,
                                c.failed,
                                c.dead,
                                c.delivered,
                                c.offres_delivered
                            );
                            if let Some(r) = &c.paused_reason {
                                outln!("  paused: {r}; fix the receiver, then `lheo-feed deliveries replay --consumer {}`", c.name);
                            }
                            for d in &c.dead_letters {
                                outln!(
                                    "  dead letter {}: {} offres, {} retraits, {} attempts, status {}, {}; response: {}",
                                    d.id,
                                    d.offres,
                                    d.retraits,
                                    d.attempts,
                                    d.status.map_or("-".to_owned(), |s| s.to_string()),
                                    d.error.as_deref().unwrap_or(""),
                                    d.response.as_deref().unwrap_or("").chars().take(200).collect::<String>()
                                );
                            }
                        }
                        Ok(())
                    }
                }
            }
            _ => unreachable!("only push and deliveries"),
        }
    }
}

/// Bad input as the exit-2 failure every import command gives: the first errors, how
/// many more there were (`more`: "bad lines", "errors"), and that nothing was imported.
fn input_failure<E: std::fmt::Display>(
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
