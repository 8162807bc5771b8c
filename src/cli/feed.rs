//! `serve` (the partners' HTTP feed and the operator's status page) and `partner` (their
//! API keys and scopes).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use lheo_feed::serve::partners::{self, PartnerError};

use super::{bad_input, Ctx, Failure};

/// `lheo-feed serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LHEO_FEED_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// The export's --out, if this server sees the export folder at another path than
    /// the exporter recorded.
    #[arg(long)]
    out: Option<PathBuf>,
    /// With --out: when the current generation's document is not there (another host
    /// exported it), make it from the database, verify it against the generation's
    /// SHA-256 and serve it; the previous one is served meanwhile (docs/feed.md).
    #[arg(long, requires = "out")]
    materialise: bool,
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
    /// Seconds to receive a request head (also bounds an idle keep-alive connection).
    #[arg(long, default_value_t = 30)]
    header_timeout_seconds: u64,
    /// Most connections open at once (lowered to fit the open files limit); at the bound
    /// the oldest idle connection is closed.
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    /// Failed authentications allowed to one source address at once (0: no limit).
    #[arg(long, default_value_t = 10)]
    auth_failures_burst: u32,
    /// Failed authentications allowed to one source address per minute after the burst.
    #[arg(long, default_value_t = 6.0)]
    auth_failures_per_minute: f64,
}

#[derive(Subcommand)]
pub enum PartnerCommand {
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

/// The status page's admin key: `--admin-key-file`, else `LHEO_FEED_ADMIN_KEY`; at least
/// 16 characters, or the command refuses to start.
fn admin_key(file: Option<&PathBuf>) -> Result<Option<String>, Failure> {
    let key = match file {
        Some(path) => Some(
            lheo_feed::config::read_admin_key_file(path)
                .map_err(|e| bad_input(format!("--admin-key-file {}: {e}", path.display())))?
                .trim()
                .to_owned(),
        ),
        None => std::env::var("LHEO_FEED_ADMIN_KEY").ok(),
    }
    .filter(|k| !k.is_empty());
    if key.as_ref().is_some_and(|k| k.len() < 16) {
        return Err(bad_input(
            "the admin key must have at least 16 characters (e.g. `openssl rand -hex 32`)".into(),
        ));
    }
    Ok(key)
}

/// `lheo-feed serve`: until Ctrl-C or SIGTERM.
pub async fn serve(args: &ServeArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let admin_key = admin_key(args.admin_key_file.as_ref())?;
    if !(args.rate_limit >= 0.0 && args.rate_limit.is_finite()) {
        return Err(bad_input("--rate-limit must be 0 or more".into()));
    }
    let mut config = lheo_feed::serve::ServeConfig::new(args.listen);
    config.out = args.out.clone();
    config.materialise = args.materialise;
    config.admin_key = admin_key;
    config.schedule = ctx.config.schedule.schedule();
    config.rate_per_second = args.rate_limit;
    config.rate_burst = args.rate_burst;
    config.auth_cache_ttl = std::time::Duration::from_secs(args.key_cache_seconds);
    if args.header_timeout_seconds == 0 || args.max_connections == 0 {
        return Err(bad_input(
            "--header-timeout-seconds and --max-connections must be 1 or more".into(),
        ));
    }
    config.header_timeout = std::time::Duration::from_secs(args.header_timeout_seconds);
    config.max_connections = args.max_connections;
    if !(args.auth_failures_per_minute >= 0.0 && args.auth_failures_per_minute.is_finite()) {
        return Err(bad_input(
            "--auth-failures-per-minute must be 0 or more".into(),
        ));
    }
    config.auth_failures_burst = args.auth_failures_burst;
    config.auth_failures_per_minute = args.auth_failures_per_minute;
    if config.admin_key.is_none() {
        tracing::warn!(
            "no admin key (LHEO_FEED_ADMIN_KEY or --admin-key-file): the status page is off"
        );
    }
    eprintln!("lheo-feed: serving on http://{}", args.listen);
    lheo_feed::serve::serve(ctx.store.clone(), config, shutdown_signal()).await?;
    Ok(())
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

/// `lheo-feed materialise`.
#[derive(Args)]
pub struct MaterialiseArgs {
    /// This host's export output (default: `[export] out`); the document is written beside
    /// it as `.NAME.generation-N`, with its gzip twin, and NAME points at it.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

/// `lheo-feed materialise`: the current generation's document made here from the
/// database (a host about to serve behind the load balancer), or nothing to do.
pub async fn materialise(args: &MaterialiseArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| ctx.config.export.out.clone());
    let Some(g) = ctx.store.last_generation().await? else {
        return Err(Failure::operational(
            "no generation yet: run `lheo-feed export` (or the daemon) first".into(),
        ));
    };
    let m = lheo_feed::generation::materialise::materialise(ctx.store, &out, &g).await?;
    if args.json {
        out_json!(serde_json::json!({
            "generation": m.generation,
            "made": m.made,
            "bytes": m.bytes,
            "offers": m.offers,
            "seconds": m.seconds,
        }));
    } else if m.made {
        outln!(
            "generation {}: {} offers, {} bytes, made and verified in {:.2} s; {} points at it",
            m.generation,
            m.offers,
            m.bytes,
            m.seconds,
            out.display()
        );
    } else {
        outln!("generation {}: already here, nothing to do", m.generation);
    }
    Ok(())
}

/// `lheo-feed partner add | list | revoke`.
pub async fn partner(action: &PartnerCommand, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let store = ctx.store;
    let fail = |e: PartnerError| match e {
        PartnerError::Input(m) => bad_input(m),
        PartnerError::Other(e) => e.into(),
    };
    match action {
        PartnerCommand::Add { name, scope, json } => {
            let p = partners::add(store, name, scope).await.map_err(fail)?;
            if *json {
                out_json!(p);
            } else {
                outln!("partner {} added (scope: {})", p.name, p.scope.describe());
                outln!("API key (shown only now; give it to the partner over a safe channel):");
                outln!("{}", p.key);
            }
        }
        PartnerCommand::List { json } => {
            let list = partners::list(store).await?;
            if *json {
                out_json!(list);
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
