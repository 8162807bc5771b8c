//! The operator's status page (`/`, admin key): the last generations and their counts,
//! the push consumers' delivery state, and the current rejections grouped by organisme
//! with their French messages; `/status/rejections.csv` for the CSV (all organismes, or
//! one with `?siret=`).
//!
//! Server-rendered HTML with inline CSS only (no script, no external asset), a viewport
//! meta and wrapping tables so that it reads on a phone.

use std::fmt::Write as _;
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

/// Generations shown.
const GENERATIONS_SHOWN: i64 = 10;
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

/// The French label of a run kind, run state or delivery state stored as an English code
/// (the JSON API keeps the codes; the page is read by the Cariforef's staff).
fn libelle(code: &str) -> &str {
    match code {
        "scheduled" => "planifiée",
        "catch_up" => "rattrapage",
        "on_demand" => "à la demande",
        "queued" => "en file",
        "running" => "en cours",
        "interrupted" => "interrompue",
        "succeeded" => "réussie",
        "failed" => "en échec",
        "pending" => "en attente",
        "dead" => "abandonnées",
        "to_batch" => "générations à envoyer",
        "paused" => "en pause",
        other => other,
    }
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60em;\
padding:.5em 1em;color:#222;line-height:1.4}h1{font-size:1.4em}h2{font-size:1.15em;\
margin-top:1.5em;border-bottom:1px solid #ccc}table{border-collapse:collapse;width:100%;\
font-size:.9em}th,td{border-bottom:1px solid #eee;padding:.25em .4em;text-align:right}\
th:first-child,td:first-child{text-align:left}.scroll{overflow-x:auto}\
details{margin:.4em 0;padding:.3em .5em;background:#f7f7f7;border-radius:4px}\
summary{cursor:pointer;font-weight:600}li{margin:.2em 0;overflow-wrap:anywhere}\
.muted{color:#666}.err{color:#a00}.warn{color:#a60}code{font-size:.9em}";

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

/// `GET /`.
pub async fn page(State(state): State<Arc<AppState>>, _admin: Admin) -> Response {
    match render(&state.store).await {
        Ok(html) => {
            let mut r = html.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_str(content_security_policy()).expect("ASCII"),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        Err(e) => internal(e),
    }
}

/// The status page's `Content-Security-Policy`: nothing may load or run but its one
/// inline style sheet, named by its hash, so that text an organisme typed into SOFI can
/// never become a script even if an escape were missed; no framing, no form posting
/// elsewhere.
pub fn content_security_policy() -> &'static str {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'"
        )
    })
}

async fn render(store: &Store) -> anyhow::Result<String> {
    let generations = store.generations(GENERATIONS_SHOWN).await?;
    let consumers = consumers(store).await?;
    let groups = rejections(store).await?;
    let runs = store.runs(RUNS_SHOWN).await?;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>lheo-feed — état de la diffusion</title><style>{STYLE}</style></head><body>\
         <h1>lheo-feed — état de la diffusion</h1>"
    );

    h.push_str("<h2>Générations</h2>");
    match generations.first() {
        None => h.push_str("<p>Aucune génération : lancez <code>lheo-feed export</code>.</p>"),
        Some(g) => {
            let age = (chrono::Utc::now() - g.finished_at).num_minutes();
            let _ = write!(
                h,
                "<p id=\"current\">Génération courante <strong id=\"current-generation\">{}</strong>, \
                 publiée le {} UTC (il y a {} min) : <strong id=\"current-published\">{}</strong> offres publiées.</p>",
                g.id,
                g.finished_at.format("%Y-%m-%d %H:%M:%S"),
                age,
                g.published
            );
            h.push_str(
                "<div class=\"scroll\"><table id=\"generations\"><thead><tr><th>Gén.</th>\
                 <th>Fin (UTC)</th><th>Créées</th><th>Màj</th><th>Retirées</th>\
                 <th>Rejetées</th><th>Publiées</th></tr></thead><tbody>",
            );
            for g in &generations {
                let _ = write!(
                    h,
                    "<tr data-generation=\"{id}\"><td>{id}{forced}</td><td>{at}</td>\
                     <td class=\"created\">{c}</td><td class=\"updated\">{u}</td>\
                     <td class=\"withdrawn\">{w}</td><td class=\"rejected\">{r}</td>\
                     <td class=\"published\">{p}</td></tr>",
                    id = g.id,
                    forced = if g.forced { " (forcée)" } else { "" },
                    at = g.finished_at.format("%d/%m %H:%M"),
                    c = g.created,
                    u = g.updated,
                    w = g.withdrawn,
                    r = g.rejected,
                    p = g.published
                );
            }
            h.push_str("</tbody></table></div>");
        }
    }

    h.push_str("<h2>Exécutions du démon</h2>");
    if runs.is_empty() {
        h.push_str(
            "<p id=\"runs\" class=\"muted\">Aucune exécution : <code>lheo-feed run</code> \
             n'a encore rien fait (ou n'est pas lancé).</p>",
        );
    } else {
        h.push_str(
            "<div class=\"scroll\"><table id=\"runs\"><thead><tr><th>N°</th><th>Type</th>\
             <th>Demandée (UTC)</th><th>État</th><th>Gén.</th><th>Avancement / erreur</th>\
             </tr></thead><tbody>",
        );
        for r in &runs {
            let _ = write!(
                h,
                "<tr data-run=\"{id}\"><td>{id}</td><td>{kind}</td><td>{at}</td>\
                 <td class=\"state\">{state}</td><td>{generation}</td><td>{detail}</td></tr>",
                id = r.id,
                kind = esc(libelle(&r.kind)),
                at = r.requested_at.format("%d/%m %H:%M:%S"),
                state = esc(libelle(&r.state)),
                generation = r
                    .generation_id
                    .map_or_else(|| "—".to_owned(), |g| g.to_string()),
                detail = esc(r.error.as_deref().or(r.progress.as_deref()).unwrap_or("")),
            );
        }
        h.push_str("</tbody></table></div>");
    }

    h.push_str("<h2>Consommateurs</h2>");
    if consumers.is_empty() {
        h.push_str("<p id=\"consumers\" class=\"muted\">Aucun consommateur configuré.</p>");
    } else {
        h.push_str(
            "<div class=\"scroll\"><table id=\"consumers\"><thead><tr><th>Consommateur</th>\
             <th>Génération livrée</th><th>Retard</th><th>Livraisons</th><th>Dernière erreur</th>\
             </tr></thead><tbody>",
        );
        for c in &consumers {
            let deliveries: Vec<String> = c
                .deliveries
                .iter()
                .map(|(s, n)| format!("{} : {n}", esc(libelle(s))))
                .collect();
            let lag = c.lag;
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"err\">{}</td></tr>",
                esc(&c.name),
                c.delivered_generation
                    .map_or_else(|| "—".to_owned(), |g| g.to_string()),
                lag.map_or_else(|| "—".to_owned(), |l| l.to_string()),
                deliveries.join(", "),
                esc(c.last_error.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</tbody></table></div>");
    }

    h.push_str("<h2>Rejets par organisme (génération courante)</h2>");
    let (offres, sessions, erreurs, avert) = groups.iter().fold((0, 0, 0, 0), |a, g| {
        (
            a.0 + g.offres_rejetees,
            a.1 + g.sessions_rejetees,
            a.2 + g.erreurs,
            a.3 + g.avertissements,
        )
    });
    let _ = write!(
        h,
        "<p id=\"rejections-summary\"><span id=\"offres-rejetees\">{offres}</span> offres rejetées, \
         <span id=\"sessions-rejetees\">{sessions}</span> sessions rejetées, \
         {erreurs} erreurs et {avert} avertissements chez {} organismes. \
         <a href=\"/status/rejections.csv\">Tout en CSV</a></p>",
        groups.len()
    );
    for g in &groups {
        let nom = g.raison_sociale.as_deref().unwrap_or("Organisme inconnu");
        let _ = write!(
            h,
            "<details class=\"organisme\" data-siret=\"{siret}\"><summary>{nom} — SIRET {siret} : \
             {o} offre(s) rejetée(s), {s} session(s) rejetée(s), {e} erreur(s), {w} avertissement(s)\
             </summary><p><a href=\"/status/rejections.csv?siret={siret}\">Rapport CSV de cet organisme</a></p><ul>",
            siret = esc(&g.siret),
            nom = esc(nom),
            o = g.offres_rejetees,
            s = g.sessions_rejetees,
            e = g.erreurs,
            w = g.avertissements
        );
        for o in &g.offres {
            for c in &o.constats {
                let class = if c.severity == "warning" {
                    "warn"
                } else {
                    "err"
                };
                let _ = write!(
                    h,
                    "<li><span class=\"{class}\">{code}</span> — action {offre}{session} : {msg}</li>",
                    code = esc(&c.code),
                    offre = esc(&o.offre),
                    session = c
                        .session
                        .as_deref()
                        .map(|s| format!(", session {}", esc(s)))
                        .unwrap_or_default(),
                    msg = esc(&c.message)
                );
            }
        }
        h.push_str("</ul></details>");
    }
    h.push_str("</body></html>\n");
    Ok(h)
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

    #[test]
    fn escapes_html() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
