//! `/metrics` (Prometheus text format 0.0.4), `/ready`, and the middleware that counts
//! requests and bytes and enforces the URI size limit.
//!
//! Series: `lheo_feed_requests_total{route,status}`, `lheo_feed_response_bytes_total{route}`,
//! `lheo_feed_rejections_total{reason}` (requests turned away: no key, bad key, revoked,
//! rate limited, admin), `lheo_feed_generation`, `lheo_feed_generation_age_seconds`,
//! `lheo_feed_generation_published`, `lheo_feed_generation_rejected` (offers the rules
//! left out), `lheo_feed_deliveries{consumer,state}` (from [`super::status::consumers`]);
//! on a materialising host (`super::hosts`) `lheo_feed_served_generation`,
//! `lheo_feed_materialisations_total`, `lheo_feed_materialisation_failures_total`,
//! `lheo_feed_materialisation_seconds` and `lheo_feed_materialisation_bytes`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::http::error;
use super::{status, AppState, MAX_URI};

/// The counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    bytes: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    rejections: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Counts a request turned away.
    pub fn rejected(&self, reason: &'static str) {
        *self
            .rejections
            .lock()
            .expect("not poisoned")
            .entry(reason)
            .or_default() += 1;
    }

    fn bytes_counter(&self, route: &str) -> Arc<AtomicU64> {
        self.bytes
            .lock()
            .expect("not poisoned")
            .entry(route.to_owned())
            .or_default()
            .clone()
    }
}

/// Counts each request by route (the pattern, not the path: numeros would make a series
/// per offer) and status, and the bytes of its body as they are sent.
pub async fn track(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "other".to_owned());
    let response = if req.uri().to_string().len() > MAX_URI {
        error(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request's path and query exceed {MAX_URI} bytes"),
        )
    } else {
        next.run(req).await
    };
    *state
        .metrics
        .requests
        .lock()
        .expect("not poisoned")
        .entry((route.clone(), response.status().as_u16()))
        .or_default() += 1;
    // An access line for what a partner actually took (a document: the snapshot, a changes
    // page, an offer) at info, so that an operator's log shows the feed being served; the
    // rest (304s, probes, errors) at debug, where a busy 304 path costs nothing.
    let status = response.status();
    let encoding = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .to_owned();
    if status == StatusCode::OK && route.starts_with("/feed/") {
        tracing::info!(%route, status = status.as_u16(), %encoding, "feed served");
    } else {
        tracing::debug!(%route, status = status.as_u16(), "request");
    }
    let counter = state.metrics.bytes_counter(&route);
    let (mut parts, body) = response.into_parts();
    // The counting stream hides the body's size from hyper: say it in the header, so
    // that a document keeps its Content-Length (and its connection its keep-alive).
    let status = parts.status;
    if let Some(n) = axum::body::HttpBody::size_hint(&body).exact() {
        if status != StatusCode::NOT_MODIFIED
            && status != StatusCode::NO_CONTENT
            && !parts.headers.contains_key(header::CONTENT_LENGTH)
        {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    let counted = body.into_data_stream().map(move |chunk| {
        if let Ok(b) = &chunk {
            counter.fetch_add(b.len() as u64, Ordering::Relaxed);
        }
        chunk
    });
    Response::from_parts(parts, Body::from_stream(counted))
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut out = String::new();
    out.push_str("# HELP lheo_feed_requests_total HTTP requests by route and status.\n");
    out.push_str("# TYPE lheo_feed_requests_total counter\n");
    for ((route, status), n) in state.metrics.requests.lock().expect("not poisoned").iter() {
        let _ = writeln!(
            out,
            "lheo_feed_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
            label(route)
        );
    }
    out.push_str("# HELP lheo_feed_response_bytes_total Response body bytes sent, by route.\n");
    out.push_str("# TYPE lheo_feed_response_bytes_total counter\n");
    for (route, n) in state.metrics.bytes.lock().expect("not poisoned").iter() {
        let _ = writeln!(
            out,
            "lheo_feed_response_bytes_total{{route=\"{}\"}} {}",
            label(route),
            n.load(Ordering::Relaxed)
        );
    }
    out.push_str("# HELP lheo_feed_rejections_total Requests turned away, by reason.\n");
    out.push_str("# TYPE lheo_feed_rejections_total counter\n");
    for (reason, n) in state
        .metrics
        .rejections
        .lock()
        .expect("not poisoned")
        .iter()
    {
        let _ = writeln!(out, "lheo_feed_rejections_total{{reason=\"{reason}\"}} {n}");
    }
    match state.store.last_generation().await {
        Ok(Some(g)) => {
            let age = (chrono::Utc::now() - g.finished_at).num_seconds().max(0);
            for (name, help, v) in [
                ("generation", "The current generation's number.", g.id),
                (
                    "generation_age_seconds",
                    "Seconds since the current generation was committed.",
                    age,
                ),
                (
                    "generation_published",
                    "Offers published by the current generation.",
                    g.published,
                ),
                (
                    "generation_rejected",
                    "Validated offers the entry rules left out of the current generation.",
                    g.rejected,
                ),
            ] {
                let _ = writeln!(
                    out,
                    "# HELP lheo_feed_{name} {help}\n# TYPE lheo_feed_{name} gauge\nlheo_feed_{name} {v}"
                );
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("metrics: cannot read the last generation: {e:#}"),
    }
    host_series(&state, &mut out);
    out.push_str("# HELP lheo_feed_deliveries Deliveries to push consumers, by state.\n");
    out.push_str("# TYPE lheo_feed_deliveries gauge\n");
    if let Ok(consumers) = status::consumers(&state.store).await {
        for c in consumers {
            for (st, n) in &c.deliveries {
                let _ = writeln!(
                    out,
                    "lheo_feed_deliveries{{consumer=\"{}\",state=\"{}\"}} {n}",
                    label(&c.name),
                    label(st)
                );
            }
        }
    }
    let mut r = out.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// What this host serves and what making documents from the database cost it
/// (`super::hosts`): with several hosts, the series that says one is behind.
fn host_series(state: &AppState, out: &mut String) {
    let Some(dir) = state
        .config
        .out
        .as_ref()
        .filter(|_| state.config.materialise)
    else {
        return;
    };
    let (made, failed, last) = state.materialiser.counts();
    let served = crate::generation::files::generations_held(dir)
        .last()
        .copied()
        .unwrap_or(0);
    let gauges: [(&str, &str, &str, f64); 5] = [
        (
            "served_generation",
            "gauge",
            "The newest generation whose document this host holds and serves (0: none yet).",
            served as f64,
        ),
        (
            "materialisations_total",
            "counter",
            "Generation documents this host made from the database.",
            made as f64,
        ),
        (
            "materialisation_failures_total",
            "counter",
            "Attempts to make a generation document that failed (tried again).",
            failed as f64,
        ),
        (
            "materialisation_seconds",
            "gauge",
            "Time the last generation document made here took.",
            last.as_ref().map_or(0.0, |m| m.seconds),
        ),
        (
            "materialisation_bytes",
            "gauge",
            "Size of the last generation document made here.",
            last.as_ref().map_or(0.0, |m| m.bytes as f64),
        ),
    ];
    for (name, kind, help, v) in gauges {
        let _ = writeln!(
            out,
            "# HELP lheo_feed_{name} {help}\n# TYPE lheo_feed_{name} {kind}\nlheo_feed_{name} {v}"
        );
    }
}

/// `GET /ready`: the database answers and a generation exists (else 503, saying which).
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if let Err(e) = state.store.ping().await {
        tracing::warn!("not ready: {e:#}");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "database",
            "the database does not answer",
        );
    }
    match state.store.last_generation_id().await {
        Ok(Some((g, _))) => format!("ready: generation {g}\n").into_response(),
        Ok(None) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_generation",
            "no generation yet: run `lheo-feed export`",
        ),
        Err(e) => {
            tracing::warn!("not ready: {e:#}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "database",
                "the database does not answer",
            )
        }
    }
}
