//! `lheo-feed serve`: the partners' HTTP feed and the operator's status page
//! (`docs/feed.md`).
//!
//! - `GET /feed/lheo.xml`: the current generation's full snapshot, streamed from the file
//!   the export wrote (its gzip twin when the client accepts gzip); never rebuilt per
//!   request (a scoped partner's copy is filtered from that file as it streams).
//! - `GET /feed/changes?cursor=…`: what changed since a cursor, paged (JSON, or LHÉO with
//!   `format=lheo`); [`changes`].
//! - `GET /feed/offres/{numero}`: one offer as a LHÉO document; 404 unknown or out of
//!   scope, 410 withdrawn.
//! - `/health`, `/ready`, `/metrics` (Prometheus text), `/openapi.json` (the contract,
//!   [`openapi`]); `/` the status page (admin key),
//!   `/status/rejections.csv`, `/status/organismes/{siret}` (one organisme's printable
//!   page).
//!
//! Every document carries a strong `ETag` and `Last-Modified` and answers 304 to
//! `If-None-Match` / `If-Modified-Since`; partners authenticate with `Authorization:
//! Bearer KEY` ([`auth`]).
//!
//! The daemon can embed the server: [`router`] gives the axum router, [`serve`] runs it
//! until a shutdown future completes.

pub mod auth;
pub mod changes;
pub mod chart;
pub mod conn;
pub mod current;
pub mod feed;
pub mod hosts;
pub mod html;
mod http;
pub mod metrics;
pub mod openapi;
pub mod organisme;
pub mod page;
pub mod partners;
pub mod status;
pub mod words;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::routing::{get, post};
use axum::Router;

use crate::store::Store;

/// How the server runs.
#[derive(Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// The export's `--out`: when given, the snapshot of generation N is read from
    /// `export::generation_file(out, N)` instead of the path the export recorded (for a
    /// server that mounts the export folder elsewhere).
    pub out: Option<PathBuf>,
    /// With `out`: make the current generation's document there from the database when
    /// it is missing (a host that did not export it; [`hosts`]).
    pub materialise: bool,
    /// The status page's key (`LHEO_FEED_ADMIN_KEY` or `--admin-key-file`); without one,
    /// the status page answers 404. Never logged.
    pub admin_key: Option<String>,
    /// Requests per second allowed to each partner key (a token bucket); 0: no limit.
    pub rate_per_second: f64,
    /// Requests a key may make in a burst.
    pub rate_burst: u32,
    /// Longest time to produce a response's head (a snapshot's body then streams on).
    pub request_timeout: Duration,
    /// How long the partners' keys are cached before being read again (a revocation
    /// takes effect within this time).
    pub auth_cache_ttl: Duration,
    /// Largest `limit` of a changes page.
    pub max_page: u32,
    /// Failed authentications (an unknown or revoked partner key, a wrong admin key)
    /// allowed to one source address at once, then `auth_failures_per_minute`; past that
    /// the address gets 429 for every key, right or wrong. 0: no limit.
    pub auth_failures_burst: u32,
    pub auth_failures_per_minute: f64,
    /// Longest time to receive a request head, from the moment the server waits for one
    /// (so it also bounds an idle keep-alive connection); the connection is then closed.
    pub header_timeout: Duration,
    /// Most connections open at once (lowered to fit the process's file limit); at the
    /// bound, the oldest connection with no request in flight is closed ([`conn`]).
    pub max_connections: usize,
    /// The export's schedule (`[schedule]`): the status page shows its next run, and its
    /// zone is the one every time on the page is read in.
    pub schedule: crate::schedule::Schedule,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the admin key.
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("out", &self.out)
            .field("materialise", &self.materialise)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<set>"))
            .field("rate_per_second", &self.rate_per_second)
            .field("rate_burst", &self.rate_burst)
            .field("request_timeout", &self.request_timeout)
            .field("auth_cache_ttl", &self.auth_cache_ttl)
            .field("max_page", &self.max_page)
            .field("auth_failures_burst", &self.auth_failures_burst)
            .field("auth_failures_per_minute", &self.auth_failures_per_minute)
            .field("header_timeout", &self.header_timeout)
            .field("max_connections", &self.max_connections)
            .field("schedule", &self.schedule)
            .finish()
    }
}

impl ServeConfig {
    /// The defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> ServeConfig {
        ServeConfig {
            listen,
            out: None,
            materialise: false,
            admin_key: None,
            rate_per_second: 20.0,
            rate_burst: 60,
            request_timeout: Duration::from_secs(30),
            auth_cache_ttl: Duration::from_secs(5),
            max_page: 1000,
            auth_failures_burst: 10,
            auth_failures_per_minute: 6.0,
            header_timeout: Duration::from_secs(30),
            max_connections: 4096,
            schedule: crate::schedule::Schedule::default(),
        }
    }
}

/// What every handler shares.
pub struct AppState {
    pub store: Store,
    pub config: ServeConfig,
    pub auth: auth::Auth,
    pub metrics: metrics::Metrics,
    /// The snapshot files' mappings, kept between downloads.
    pub mapped: Arc<feed::MappedFiles>,
    /// The current generation, kept between snapshot requests.
    pub current: current::Kept<crate::store::GenerationRow>,
    /// The making of missing generation documents on this host.
    pub materialiser: hosts::Materialiser,
    /// The cursors' MAC key, read (or drawn) from the store at first use.
    cursor_key: tokio::sync::OnceCell<changes::CursorKey>,
}

impl AppState {
    /// The cursors' MAC key ([`changes::CursorKey::of`]).
    pub async fn cursor_key(&self) -> anyhow::Result<&changes::CursorKey> {
        self.cursor_key
            .get_or_try_init(|| changes::CursorKey::of(&self.store))
            .await
    }
}

/// Largest request URI (path and query): cursors and numeros are short.
const MAX_URI: usize = 2048;
/// Largest request body: the feed takes none.
const MAX_BODY: usize = 16 * 1024;

/// The router, with its state and layers (limits, timeout, metrics).
pub fn router(store: Store, config: ServeConfig) -> Router {
    let state = Arc::new(AppState {
        auth: auth::Auth::new(&config),
        metrics: metrics::Metrics::default(),
        mapped: Arc::default(),
        current: current::Kept::default(),
        materialiser: hosts::Materialiser::default(),
        cursor_key: tokio::sync::OnceCell::new(),
        store,
        config,
    });
    let timeout = state.config.request_timeout;
    if state.config.materialise && state.config.out.is_some() {
        tokio::spawn(hosts::keep_current(Arc::downgrade(&state)));
    }
    Router::new()
        .route("/feed/lheo.xml", get(feed::snapshot))
        .route("/feed/changes", get(changes::changes))
        .route("/feed/offres/{numero}", get(feed::offer))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(metrics::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::document))
        .route("/", get(page::page))
        .route("/status/rejections.csv", get(status::csv))
        .route("/status/organismes/{siret}", get(organisme::organisme))
        .route("/admin/runs", post(status::request_run).get(status::runs))
        .route("/admin/runs/{id}", get(status::run))
        .fallback(http::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        // Outermost, so that the layers' own answers (408, 413) are JSON too.
        .layer(axum::middleware::from_fn(http::json_errors))
        .with_state(state)
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    store: Store,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    serve_on(listener, store, config, shutdown).await
}

/// [`serve`] on a listener already bound (tests bind port 0 and read the address).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    store: Store,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let nofile = conn::raise_nofile_limit();
    let limits = conn::Limits {
        header_timeout: config.header_timeout,
        max_connections: conn::connection_bound(config.max_connections, nofile),
    };
    tracing::info!(
        %addr,
        max_connections = limits.max_connections,
        open_files_limit = nofile,
        "lheo-feed serve: listening"
    );
    conn::run(listener, router(store, config), limits, shutdown)
        .await
        .context("the HTTP server stopped")
}
