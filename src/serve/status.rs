//! What the status pages show, read from the store once for the page ([`super::page`]),
//! an organisme's page ([`super::organisme`]) and `/metrics`: the push consumers' delivery
//! state and the current rejections grouped by organisme; `/status/rejections.csv` for the
//! CSV (all organismes, or one with `?siret=`), and the admin JSON routes for runs.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::Admin;
use super::http::{error, internal};
use super::AppState;
use crate::generation::rejections::{self, OrganismeFindings, StoredFindings};
use crate::store::Store;

/// Daemon runs shown.
const RUNS_SHOWN: i64 = 10;

/// One push consumer's delivery state, as the page and `/metrics` show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerState {
    pub name: String,
    /// The newest generation it is up to date with: every change up to that generation
    /// has reached it. `None`: it has received nothing yet.
    pub delivered_generation: Option<i64>,
    /// Generations behind the current one (0: up to date).
    pub lag: Option<i64>,
    /// Deliveries by state (e.g. `pending`, `delivered`, `failed`) and how many.
    pub deliveries: Vec<(String, u64)>,
    /// The last error, if its last delivery failed.
    pub last_error: Option<String>,
}

/// The push consumers' state, from the outbox (`src/push/outbox.rs`): everything the page
/// and `/metrics` show about consumers comes from this one function.
pub async fn consumers(store: &Store) -> anyhow::Result<Vec<ConsumerState>> {
    // Read before the outbox: a generation committed in between only adds waiting rows,
    // which makes the consumer look behind, never ahead.
    let current = store.last_generation().await?.map(|g| g.id);
    let list = crate::push::outbox::status(store, None).await?;
    Ok(list
        .into_iter()
        .map(|c| {
            let delivered = up_to_date_with(&c, current);
            let lag = match current {
                None => Some(0),
                Some(cur) => Some(cur - delivered.unwrap_or(0)),
            };
            let mut deliveries = vec![
                ("delivered".to_owned(), c.delivered.max(0) as u64),
                ("pending".to_owned(), (c.pending - c.failed).max(0) as u64),
                ("failed".to_owned(), c.failed.max(0) as u64),
                ("dead".to_owned(), c.dead.max(0) as u64),
                ("to_batch".to_owned(), c.pending_generations.max(0) as u64),
            ];
            if c.paused {
                deliveries.push(("paused".to_owned(), 1));
            }
            ConsumerState {
                name: c.name,
                delivered_generation: delivered,
                lag,
                deliveries,
                last_error: c
                    .paused_reason
                    .map(|r| format!("en pause : {r}"))
                    .or(c.last_error)
                    .or_else(|| c.dead_letters.last().and_then(|d| d.error.clone())),
            }
        })
        .collect())
}

/// The newest generation `c` is up to date with. Not simply its last delivered batch's
/// generation: a generation that changes nothing for a consumer (nothing changed at all,
/// or nothing within its filter) sends it no request, yet it is then up to date with that
/// generation too. So: the generation before the oldest one still waiting for it (not yet
/// batched, or in a batch pending or dead); the current one when nothing waits; and while a
/// resynchronisation is due (or it is disabled, so no rows are written for it), only what
/// its batches carried.
fn up_to_date_with(c: &crate::push::outbox::ConsumerStatus, current: Option<i64>) -> Option<i64> {
    if c.resync || !c.enabled {
        return c.delivered_generation;
    }
    match c.oldest_waiting_generation {
        Some(g) => Some(g - 1).filter(|g| *g > 0),
        None => current,
    }
}

/// The current rejections, grouped by organisme.
pub async fn rejections(store: &Store) -> anyhow::Result<Vec<OrganismeFindings>> {
    let rows = store.evaluation_findings().await?;
    let mut parsed = Vec::with_capacity(rows.len());
    for r in rows {
        match serde_json::from_str::<StoredFindings>(&r) {
            Ok(f) => parsed.push(f),
            Err(e) => tracing::warn!("unreadable stored findings skipped: {e}"),
        }
    }
    Ok(rejections::group(parsed))
}

/// Escapes text for HTML content and attribute values ([`super::html::esc`]).
pub use super::html::esc;

/// `POST /admin/runs`: queues an on-demand export (done by whichever `lheo-feed run`
/// instance takes the export lock) and answers `202` with its id and where to follow it.
pub async fn request_run(State(state): State<Arc<AppState>>, _admin: Admin) -> Response {
    match state.store.request_run("admin").await {
        Ok(id) => {
            let body = serde_json::json!({ "run": id, "state": "queued", "href": format!("/admin/runs/{id}") });
            let mut r = (StatusCode::ACCEPTED, body.to_string() + "\n").into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("/admin/runs/{id}")) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Err(e) => internal(e),
    }
}

/// `GET /admin/runs/{id}`: one run's state, progress and result (JSON).
pub async fn run(
    State(state): State<Arc<AppState>>,
    _admin: Admin,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Response {
    match state.store.run(id).await {
        Ok(Some(run)) => json(&run),
        Ok(None) => error(StatusCode::NOT_FOUND, "unknown_run", format!("no run {id}")),
        Err(e) => internal(e),
    }
}

/// `GET /admin/runs`: the last runs (JSON), newest first.
pub async fn runs(State(state): State<Arc<AppState>>, _admin: Admin) -> Response {
    match state.store.runs(RUNS_SHOWN).await {
        Ok(list) => json(&list),
        Err(e) => internal(e),
    }
}

fn json<T: serde::Serialize>(value: &T) -> Response {
    let mut r = (serde_json::to_string_pretty(value).expect("serialisable") + "\n").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[derive(Debug, Deserialize)]
pub struct CsvQuery {
    siret: Option<String>,
}

/// `GET /status/rejections.csv[?siret=…]`.
pub async fn csv(
    State(state): State<Arc<AppState>>,
    _admin: Admin,
    Query(q): Query<CsvQuery>,
) -> Response {
    let mut groups = match rejections(&state.store).await {
        Ok(g) => g,
        Err(e) => return internal(e),
    };
    if let Some(siret) = &q.siret {
        groups.retain(|g| &g.siret == siret);
        if groups.is_empty() {
            return error(
                StatusCode::NOT_FOUND,
                "unknown_siret",
                "aucun rejet pour ce SIRET dans la génération courante",
            );
        }
    }
    let mut body = Vec::new();
    if let Err(e) = rejections::write_csv(&groups, &mut body) {
        return internal(e.into());
    }
    let name = match &q.siret {
        Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => format!("rejets-{s}.csv"),
        _ => "rejets.csv".to_owned(),
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_is_up_to_date_with_generations_that_sent_it_nothing() {
        use crate::push::outbox::ConsumerStatus;
        let c = |f: fn(&mut ConsumerStatus)| {
            let mut c = ConsumerStatus {
                enabled: true,
                delivered_generation: Some(1),
                ..Default::default()
            };
            f(&mut c);
            up_to_date_with(&c, Some(4))
        };
        // Nothing waiting: generations 2–4 changed nothing it holds.
        assert_eq!(c(|_| {}), Some(4));
        // Generation 3 not yet sent (or dead): it has 2, not 4.
        assert_eq!(c(|c| c.oldest_waiting_generation = Some(3)), Some(2));
        // Its first snapshot still waiting: nothing.
        assert_eq!(c(|c| c.oldest_waiting_generation = Some(1)), None);
        // A resynchronisation due, or disabled: only what its batches carried.
        assert_eq!(c(|c| c.resync = true), Some(1));
        assert_eq!(c(|c| c.enabled = false), Some(1));
    }
}
