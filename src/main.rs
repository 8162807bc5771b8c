//! The `lheo-feed` command line: parses the global flags, loads the configuration, opens
//! the store and hands each command to its module in [`cli`], which owns the command's
//! arguments and output.
//!
//! Exit codes: 0 success; 1 operational failure (database, disk, nothing to publish, an
//! export refused because it would withdraw too many offers); 2 bad input (a file's
//! lines, a bad argument or configuration).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use lheo_feed::config::{Config, Day, Loaded};
use lheo_feed::model::Date;
use lheo_feed::pipeline::PassOptions;
use lheo_feed::rules::RulesConfig;
use lheo_feed::store::Store;

mod cli;

/// mimalloc rather than glibc's malloc, for every command (see Cargo.toml for the
/// profile that chose it; docs/BENCHMARKS.md for what it changed).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cli::{bad_input, Ctx, Failure};

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

    /// Entry-rule configuration (TOML: regional programmes, allowed values, an override of
    /// the campaign year). Default: the five regional programmes, campaign years from the
    /// Region file's lots (`import-region`).
    #[arg(long, global = true, env = "LHEO_FEED_RULES")]
    rules: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

/// The commands, in the order of the flow; each one's arguments live in its module.
#[derive(Subcommand)]
enum Command {
    /// Import FASD JSON Lines files (plain or gzip) into the store: all or nothing.
    Import(cli::imports::ImportArgs),
    /// Import LHÉO 2.2 / 2.3 documents (plain or gzip) back into FASD offers: all or
    /// nothing; entry rules are not applied (`check` and `export` judge the offers).
    ImportLheo(cli::imports::LheoImportArgs),
    /// Import the Conseil régional's CSV extraction (programmes, lots, organismes
    /// mandataires and formateurs) that seeds a campaign: all or nothing (docs/region-file.md).
    ImportRegion(cli::imports::ImportArgs),
    /// Make the next generation: write the LHÉO 2.3 document of the validated offers and
    /// record what changed since the last export (created, updated, withdrawn, unchanged).
    Export(cli::export::ExportArgs),
    /// List the export generations, newest first.
    Generations(cli::export::GenerationsArgs),
    /// List the offers created, updated or withdrawn between generations A and B (A = 0:
    /// before the first); the net change of each offer over the range.
    Diff(cli::export::DiffArgs),
    /// Run the entry rules without exporting and report rejections per organisme.
    Check(cli::check::CheckArgs),
    /// Show what the store holds: organismes, offers (validated or not), sessions.
    Status(cli::check::StatusArgs),
    /// Write deterministic synthetic FASD data (a load-testing aid; invented data only).
    Generate(cli::generate::GenerateArgs),
    /// Serve the partner feed (full snapshot, changes since a cursor, one offer) and the
    /// operator's status page over HTTP (docs/feed.md). The status page's key comes from
    /// LHEO_FEED_ADMIN_KEY or --admin-key-file.
    Serve(cli::feed::ServeArgs),
    /// Make the current generation's document and gzip twin in this host's export folder
    /// from the database, verified against the generation's SHA-256 (a host that did not
    /// export it; docs/feed.md "Several hosts").
    Materialise(cli::feed::MaterialiseArgs),
    /// Manage the partners allowed to pull the feed: add (prints the key once), list, revoke.
    Partner {
        #[command(subcommand)]
        action: cli::feed::PartnerCommand,
    },
    /// Send the generations' changes to the configured consumers (docs/consumers.md).
    Push(cli::push::PushArgs),
    /// Show the outbox per consumer (pending, failed, dead letters), or replay dead letters.
    Deliveries(cli::push::DeliveriesArgs),
    /// The daemon: exports on the schedule (`[schedule]`, Europe/Paris wall time), runs
    /// on-demand requests, catches up a missed slot; stops cleanly on SIGTERM/SIGINT.
    Run,
    /// List the daemon's runs (scheduled, caught up, on demand), newest first, with their
    /// state, progress and generation; or queue one.
    Runs(cli::daemon::RunsArgs),
    /// The export's schedule: `schedule next` lists the next runs (local time and UTC).
    Schedule {
        #[command(subcommand)]
        action: cli::schedule::ScheduleCommand,
    },
    /// The configuration file.
    Config {
        #[command(subcommand)]
        action: cli::config::ConfigCommand,
    },
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
    lheo_feed::logging::init(
        &loaded.config.log,
        matches!(cli.command, Command::Run),
        loaded.config.schedule.timezone.0,
    );
    lheo_feed::ingest::lines::set_max_gunzipped_bytes(loaded.config.import.max_gunzipped_bytes);
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

/// The day and the entry rules every pass over the offers is judged with.
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
        page_size: lheo_feed::pipeline::PAGE_SIZE,
    })
}

/// The `[push]` and `[[consumers]]` sections of the configuration, parsed by the push
/// module; `None` when the configuration names no consumer. A bad section is exit 2.
fn push_config(config: &Config) -> Result<Option<lheo_feed::push::PushConfig>, Failure> {
    lheo_feed::push::config::from_raw(config.push.as_ref(), config.consumers.as_ref())
        .map_err(|e| bad_input(format!("configuration: {e}")))
}

/// Opens the store (but for the two commands that need none), runs the command, closes
/// the store.
async fn run(cli: Cli, loaded: Loaded) -> Result<(), Failure> {
    match &cli.command {
        Command::Generate(args) => return cli::generate::generate(args),
        Command::Config { action } => return cli::config::run(action, &loaded),
        Command::Schedule { action } => return cli::schedule::run(action, &loaded.config),
        _ => {}
    }
    let config = &loaded.config;
    let opts = pass_options(config)?;
    let push_config = push_config(config)?;
    let store = Store::open(&config.store.database_url).await?;
    let ctx = Ctx {
        config,
        store: &store,
        opts: &opts,
    };
    let result = dispatch(&cli.command, &ctx, push_config.as_ref()).await;
    store.close().await;
    result
}

async fn dispatch(
    command: &Command,
    ctx: &Ctx<'_>,
    push: Option<&lheo_feed::push::PushConfig>,
) -> Result<(), Failure> {
    let no_consumer = lheo_feed::push::PushConfig::default();
    match command {
        Command::Import(args) => cli::imports::jsonl(args, ctx).await,
        Command::ImportLheo(args) => cli::imports::lheo(args, ctx).await,
        Command::ImportRegion(args) => cli::imports::region(args, ctx).await,
        Command::Export(args) => {
            // The consumers the configuration names get their outbox rows from this export.
            if let Some(cfg) = push {
                lheo_feed::push::outbox::sync_consumers(ctx.store, cfg).await?;
            }
            cli::export::export(args, ctx).await
        }
        Command::Generations(args) => cli::export::generations(args, ctx).await,
        Command::Diff(args) => cli::export::diff(args, ctx).await,
        Command::Check(args) => cli::check::check(args, ctx).await,
        Command::Status(args) => cli::check::status(args, ctx).await,
        Command::Serve(args) => cli::feed::serve(args, ctx).await,
        Command::Partner { action } => cli::feed::partner(action, ctx).await,
        Command::Materialise(args) => cli::feed::materialise(args, ctx).await,
        Command::Push(args) => cli::push::push(args, ctx.store, push.unwrap_or(&no_consumer)).await,
        Command::Deliveries(args) => {
            let tz = ctx.config.schedule.timezone.0;
            cli::push::deliveries(args, ctx.store, push.unwrap_or(&no_consumer), tz).await
        }
        Command::Run => cli::daemon::run(ctx).await,
        Command::Runs(args) => cli::daemon::runs(args, ctx).await,
        Command::Generate(_) | Command::Config { .. } | Command::Schedule { .. } => {
            unreachable!("handled before opening the store")
        }
    }
}
