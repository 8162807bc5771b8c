//! `GET /status/organismes/{siret}`: one organisme's page, for the Cariforef's agent to
//! print (or save as PDF) and send it: its offers with findings in the current
//! generation, its rejected sessions and the French messages, grouped as `check` groups
//! them (offer, then the offer's own findings, then its sessions in code order, each with
//! its findings in the rules' order). Behind the admin key like the status page.
//!
//! The SIRET is checked before anything is read: not 14 digits (or a wrong check digit)
//! is 400; a SIRET the store does not know and that has no finding is 404.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::auth::Admin;
use super::html::{self, esc};
use super::http::{error, internal};
use super::status;
use super::words;
use super::AppState;
use crate::generation::rejections::{OrganismeFindings, StoredFinding, StoredFindings};
use crate::model::{FasCode, Siret};

/// `GET /status/organismes/{siret}`.
pub async fn organisme(
    State(state): State<Arc<AppState>>,
    _admin: Admin,
    Path(siret): Path<String>,
) -> Response {
    // Checked by length and digits first, so that no long or odd text reaches the parser
    // or the error message.
    if siret.len() != 14 || !siret.bytes().all(|b| b.is_ascii_digit()) {
        return error(StatusCode::BAD_REQUEST, "bad_siret", words::SIRET_MALFORME);
    }
    let siret = match Siret::parse(&siret) {
        Ok(s) => s,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_siret",
                words::siret_cle_fausse(&siret),
            )
        }
    };
    let groups = match status::rejections(&state.store).await {
        Ok(g) => g,
        Err(e) => return internal(e),
    };
    let found = groups.into_iter().find(|g| g.siret == siret.as_str());
    let name = match state.store.organismes().await {
        Ok(map) => map
            .get(&siret)
            .map(|o| o.raison_sociale.as_str().to_owned()),
        Err(e) => return internal(e),
    };
    let group = match (found, name) {
        (Some(g), _) => g,
        (None, Some(n)) => OrganismeFindings {
            siret: siret.as_str().to_owned(),
            raison_sociale: Some(n),
            ..OrganismeFindings::default()
        },
        (None, None) => return error(StatusCode::NOT_FOUND, "unknown_siret", words::SIRET_INCONNU),
    };
    html::response(render(&group))
}

/// An offer's findings as `check` groups them: the offer's own (no session, or a session
/// code that does not parse), then per session in code order.
pub fn by_session(o: &StoredFindings) -> (Vec<&StoredFinding>, Vec<(String, Vec<&StoredFinding>)>) {
    let mut own = Vec::new();
    let mut sessions: Vec<(FasCode, String, Vec<&StoredFinding>)> = Vec::new();
    for c in &o.constats {
        match c.session.as_deref().map(|s| (s, FasCode::parse(s))) {
            Some((text, Ok(code))) => match sessions.iter_mut().find(|(k, _, _)| *k == code) {
                Some(s) => s.2.push(c),
                None => sessions.push((code, text.to_owned(), vec![c])),
            },
            _ => own.push(c),
        }
    }
    sessions.sort_by_key(|s| s.0);
    (own, sessions.into_iter().map(|(_, t, f)| (t, f)).collect())
}

fn finding(h: &mut String, offre: &str, session: Option<&str>, c: &StoredFinding) {
    let class = if c.severity == "warning" {
        "warn"
    } else {
        "err"
    };
    let _ = write!(
        h,
        "<li class=\"constat\" data-offre=\"{offre}\" data-session=\"{session}\" \
         data-code=\"{code}\"><span class=\"{class}\">{code}</span> ({gravite}, champ \
         <code>{field}</code>) : <span class=\"message\">{msg}</span></li>",
        offre = esc(offre),
        session = esc(session.unwrap_or("")),
        code = esc(&c.code),
        gravite = esc(&words::gravite(&c.severity)),
        field = esc(&c.field),
        msg = esc(&c.message),
    );
}

fn render(g: &OrganismeFindings) -> String {
    let nom = g
        .raison_sociale
        .as_deref()
        .unwrap_or(words::ORGANISME_INCONNU);
    let mut h = html::head(&format!("{nom} — SIRET {}", g.siret));
    let _ = write!(
        h,
        "<p class=\"noprint\"><a href=\"/\">{retour}</a> · \
         <a href=\"/status/rejections.csv?siret={siret}\">{csv}</a></p>\
         <p id=\"organisme-summary\">Génération courante : <strong>{o}</strong> offre(s) \
         rejetée(s), <strong>{s}</strong> session(s) rejetée(s), {e} erreur(s), \
         {w} avertissement(s).</p>",
        retour = words::RETOUR,
        siret = esc(&g.siret),
        csv = words::RAPPORT_CSV,
        o = g.offres_rejetees,
        s = g.sessions_rejetees,
        e = g.erreurs,
        w = g.avertissements,
    );
    if g.offres.is_empty() {
        let _ = write!(h, "<p id=\"no-finding\">{}</p>", words::AUCUN_REJET);
    }
    for o in &g.offres {
        let etat = words::etat_offre(o.rejetee, o.sessions_rejetees);
        let _ = write!(
            h,
            "<section class=\"offre\" data-offre=\"{n}\"><h2>Action {n} — {etat}</h2><ul>",
            n = esc(&o.offre),
            etat = esc(&etat),
        );
        let (own, sessions) = by_session(o);
        for c in own {
            finding(&mut h, &o.offre, None, c);
        }
        h.push_str("</ul>");
        for (session, findings) in sessions {
            let _ = write!(h, "<h3>Session {}</h3><ul>", esc(&session));
            for c in findings {
                finding(&mut h, &o.offre, Some(&session), c);
            }
            h.push_str("</ul>");
        }
        h.push_str("</section>");
    }
    h.push_str("</body></html>\n");
    h
}
