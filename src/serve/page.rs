//! The operator's status page (`/`, admin key), in French and in the schedule's zone:
//! when the next run comes, the generations (their trends over the last 90, with unusual
//! ones marked, and the last ten in a table), the daemon's runs, the push consumers and
//! their lag, and the current rejections grouped by organisme, each linked to its own
//! printable page ([`super::organisme`]).
//!
//! Server-rendered HTML with inline CSS and SVG only (no script, no external asset), a
//! viewport meta and wrapping tables so that it reads on a phone, print rules so that it
//! reads on paper. Its words are in [`super::words`].

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use chrono_tz::Tz;

use super::auth::Admin;
use super::chart::{self, Point, Unusual};
use super::html::{self, esc};
use super::http::internal;
use super::status::{self, ConsumerState};
use super::words::{self, libelle};
use super::AppState;
use crate::generation::rejections::OrganismeFindings;
use crate::local_time;
use crate::schedule::Schedule;
use crate::store::{GenerationRow, RunRow, Store};

/// Generations in the table (the chart shows [`chart::SHOWN`]).
const GENERATIONS_SHOWN: usize = 10;
/// Daemon runs shown.
const RUNS_SHOWN: i64 = 10;

/// `GET /`.
pub async fn page(State(state): State<Arc<AppState>>, _admin: Admin) -> Response {
    match render(&state.store, &state.config.schedule).await {
        Ok(h) => html::response(h),
        Err(e) => internal(e),
    }
}

/// The chart's numbers of a generation. Its rejected sessions are in its counts
/// (`pipeline::PassCounts`), kept as JSON text.
pub fn point(g: &GenerationRow) -> Point {
    let sessions_rejected = serde_json::from_str::<serde_json::Value>(&g.counts)
        .ok()
        .and_then(|c| c["sessions_rejetees"].as_i64())
        .unwrap_or(0);
    Point {
        generation: g.id,
        published: g.published,
        created: g.created,
        updated: g.updated,
        withdrawn: g.withdrawn,
        sessions_rejected,
    }
}

async fn render(store: &Store, schedule: &Schedule) -> anyhow::Result<String> {
    // The chart's generations and, before them, the baseline the first ones are judged on.
    let history = store
        .generations((chart::SHOWN + chart::BASELINE) as i64)
        .await?;
    let consumers = status::consumers(store).await?;
    let groups = status::rejections(store).await?;
    let runs = store.runs(RUNS_SHOWN).await?;
    let tz = schedule.tz;

    let mut h = html::head(words::TITRE);
    next_run(&mut h, schedule);
    let points: Vec<Point> = history.iter().rev().map(point).collect();
    let marks = chart::marks(&points);
    generations(&mut h, &history, &points, &marks, tz);
    runs_table(&mut h, &runs, tz);
    consumers_table(&mut h, &consumers, history.first().map(|g| g.id));
    rejections(&mut h, &groups);
    h.push_str("</body></html>\n");
    Ok(h)
}

/// A table's opening, in a box that scrolls sideways on a phone.
fn table_head(h: &mut String, id: &str, columns: &[&str]) {
    let _ = write!(h, "<div class=\"scroll\"><table id=\"{id}\"><thead><tr>");
    for c in columns {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr></thead><tbody>");
}

/// The schedule's next run, so that a configuration change or a DST night is checked
/// before it happens.
fn next_run(h: &mut String, schedule: &Schedule) {
    let next = schedule.next_after(chrono::Utc::now());
    let _ = write!(
        h,
        "<p id=\"next-run\">{} (<code>{}</code>, {}) : <strong>{}</strong></p>",
        words::PROCHAINE,
        esc(&schedule.cron.to_string()),
        esc(schedule.tz.name()),
        next.map_or_else(
            || words::JAMAIS.to_owned(),
            |t| esc(&local_time::minutes(t, schedule.tz))
        )
    );
}

fn generations(
    h: &mut String,
    history: &[GenerationRow],
    points: &[Point],
    marks: &[Unusual],
    tz: Tz,
) {
    let _ = write!(h, "<h2>{}</h2>", words::GENERATIONS);
    let Some(g) = history.first() else {
        let _ = write!(h, "<p>{}</p>", words::AUCUNE_GENERATION);
        return;
    };
    let age = (chrono::Utc::now() - g.finished_at).num_minutes();
    let _ = write!(
        h,
        "<p id=\"current\">{} <strong id=\"current-generation\">{}</strong>, \
         {} {} ({}) : <strong id=\"current-published\">{}</strong> {}.</p>",
        words::GENERATION_COURANTE,
        g.id,
        words::PUBLIEE_LE,
        esc(&local_time::minutes(g.finished_at, tz)),
        words::il_y_a(age),
        g.published,
        words::PUBLIEES,
    );
    let skip = points.len().saturating_sub(chart::SHOWN);
    let _ = write!(
        h,
        "<h3>{}</h3>{}<p class=\"muted\">{}</p>",
        words::TENDANCES,
        chart::trends(&points[skip..], &marks[skip..]),
        words::regle_inhabituel(chart::JUMP_FACTOR, chart::BASELINE, chart::JUMP_FLOOR),
    );
    table_head(h, "generations", &words::COLONNES_GENERATIONS);
    // `points` and `marks` are oldest first; `history` newest first.
    for (i, g) in history.iter().take(GENERATIONS_SHOWN).enumerate() {
        let at = points.len() - 1 - i;
        let (p, m) = (&points[at], &marks[at]);
        let _ = write!(
            h,
            "<tr data-generation=\"{id}\"{class}><td>{id}{forced}</td><td>{at}</td>\
             <td class=\"created\">{c}</td><td class=\"updated\">{u}</td>\
             <td class=\"withdrawn\">{w}</td><td class=\"rejected\">{r}</td>\
             <td class=\"published\">{p}</td><td class=\"sessions-rejected\">{s}</td>\
             <td class=\"mark\">{mark}</td></tr>",
            id = g.id,
            class = if m.any() { " class=\"unusual\"" } else { "" },
            forced = if g.forced { words::FORCEE } else { "" },
            at = esc(&local_time::minutes(g.finished_at, tz)),
            c = g.created,
            u = g.updated,
            w = g.withdrawn,
            r = g.rejected,
            p = g.published,
            s = p.sessions_rejected,
            mark = if m.any() {
                esc(&m.libelle())
            } else {
                String::new()
            },
        );
    }
    h.push_str("</tbody></table></div>");
}

fn runs_table(h: &mut String, runs: &[RunRow], tz: Tz) {
    let _ = write!(h, "<h2>{}</h2>", words::EXECUTIONS);
    if runs.is_empty() {
        let _ = write!(
            h,
            "<p id=\"runs\" class=\"muted\">{}</p>",
            words::AUCUNE_EXECUTION
        );
        return;
    }
    table_head(h, "runs", &words::COLONNES_EXECUTIONS);
    for r in runs {
        // An error is the operator's detail, shown as written; progress is one of ours.
        let detail = match (&r.error, &r.progress) {
            (Some(e), _) => esc(e),
            (None, Some(p)) => esc(&libelle(p)),
            (None, None) => String::new(),
        };
        let _ = write!(
            h,
            "<tr data-run=\"{id}\"><td>{id}</td><td>{kind}</td><td>{at}</td>\
             <td class=\"state\">{state}</td><td>{generation}</td><td>{detail}</td></tr>",
            id = r.id,
            kind = esc(&libelle(&r.kind)),
            at = esc(&local_time::seconds(r.requested_at, tz)),
            state = esc(&libelle(&r.state)),
            generation = r
                .generation_id
                .map_or_else(|| "—".to_owned(), |g| g.to_string()),
        );
    }
    h.push_str("</tbody></table></div>");
}

fn consumers_table(h: &mut String, consumers: &[ConsumerState], current: Option<i64>) {
    let _ = write!(h, "<h2>{}</h2>", words::CONSOMMATEURS);
    if consumers.is_empty() {
        let _ = write!(
            h,
            "<p id=\"consumers\" class=\"muted\">{}</p>",
            words::AUCUN_CONSOMMATEUR
        );
        return;
    }
    if let Some(current) = current {
        let lags: Vec<chart::Lag> = consumers
            .iter()
            .map(|c| chart::Lag {
                name: c.name.clone(),
                delivered: c.delivered_generation,
                lag: c.lag.unwrap_or(0),
            })
            .collect();
        h.push_str(&chart::lag(&lags, current));
    }
    table_head(h, "consumers", &words::COLONNES_CONSOMMATEURS);
    for c in consumers {
        let deliveries: Vec<String> = c
            .deliveries
            .iter()
            .map(|(s, n)| format!("{} : {n}", esc(&libelle(s))))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"err\">{}</td></tr>",
            esc(&c.name),
            c.delivered_generation
                .map_or_else(|| "—".to_owned(), |g| g.to_string()),
            c.lag.map_or_else(|| "—".to_owned(), |l| l.to_string()),
            deliveries.join(", "),
            esc(c.last_error.as_deref().unwrap_or(""))
        );
    }
    h.push_str("</tbody></table></div>");
}

fn rejections(h: &mut String, groups: &[OrganismeFindings]) {
    let _ = write!(h, "<h2>{}</h2>", words::REJETS);
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
         <a href=\"/status/rejections.csv\">{}</a></p>",
        groups.len(),
        words::TOUT_EN_CSV
    );
    for g in groups {
        let nom = g
            .raison_sociale
            .as_deref()
            .unwrap_or(words::ORGANISME_INCONNU);
        let _ = write!(
            h,
            "<details class=\"organisme\" data-siret=\"{siret}\"><summary>{nom} — SIRET {siret} : \
             {o} offre(s) rejetée(s), {s} session(s) rejetée(s), {e} erreur(s), {w} avertissement(s)\
             </summary><p><a href=\"/status/organismes/{siret}\">{page}</a> · \
             <a href=\"/status/rejections.csv?siret={siret}\">{csv}</a></p><ul>",
            siret = esc(&g.siret),
            nom = esc(nom),
            o = g.offres_rejetees,
            s = g.sessions_rejetees,
            e = g.erreurs,
            w = g.avertissements,
            page = words::PAGE_ORGANISME,
            csv = words::RAPPORT_CSV,
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
}
