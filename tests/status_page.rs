//! Issue 22 on the real server over real SQLite and PostgreSQL stores: the status page
//! says everything in French (no English state word, whatever the runs' and consumers'
//! states), marks an unusual generation in its table and chart, and the page of each
//! organisme of the fixtures matches `check --format json` of the same store (grouping,
//! order, codes and French messages), behind the admin key, with 400 / 404 for a malformed
//! / unknown SIRET. (The page in headless Chromium is in `tests/serve.rs`.)

mod common;

use chrono::{Duration, Utc};
use common::server::{start, ADMIN_KEY};
use common::{ok, TestDb};
use lheo_feed::store::{NewGeneration, RunKind};
use reqwest::StatusCode;
use serde_json::Value;

const TODAY: &str = "2025-06-02";

fn export(db: &TestDb, dir: &std::path::Path, config: Option<&std::path::Path>) {
    let out = dir.join("out/lheo.xml");
    let mut args = vec!["export", "--today", TODAY, "--out", out.to_str().unwrap()];
    if let Some(c) = config {
        args.extend(["--config", c.to_str().unwrap()]);
    }
    let mut cmd = common::lheo_feed_command(db, &args);
    cmd.env(
        "LHEO_FEED_TEST_PAGE_KEY",
        "whsec-for-the-status-page-tests-0123456789",
    );
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

async fn get(url: &str, key: Option<&str>) -> reqwest::Response {
    let mut r = reqwest::Client::new().get(url);
    if let Some(k) = key {
        r = r.basic_auth("admin", Some(k));
    }
    r.send().await.unwrap()
}

async fn page(url: &str) -> String {
    let r = get(url, Some(ADMIN_KEY)).await;
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none';"));
    r.text().await.unwrap()
}

/// The text a reader sees: tags (and their attributes) left out, entities decoded.
fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    let body = html.split_once("</head>").map_or(html, |(_, b)| b);
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Runs in every kind and state the daemon writes, and a consumer, then the page: not one
/// English code is left, and the French labels are there.
async fn the_page_has_no_english_state_word(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    ok(db, &["import", "fixtures/offres.jsonl"]);
    let config = dir.path().join("lheo-feed.toml");
    std::fs::write(
        &config,
        "[[consumers]]\nname = \"kairos\"\nurl = \"http://127.0.0.1:9/in\"\n\
         signing_secrets = [{ env = \"LHEO_FEED_TEST_PAGE_KEY\" }]\n",
    )
    .unwrap();
    export(db, dir.path(), Some(&config));
    let store = db.open().await;
    let generation = store.last_generation().await.unwrap().unwrap().id;
    let slot = |h| Utc::now() - Duration::hours(h);
    let scheduled = store
        .record_slot(slot(30), RunKind::Scheduled, "test")
        .await
        .unwrap()
        .unwrap();
    let caught_up = store
        .record_slot(slot(6), RunKind::CatchUp, "test")
        .await
        .unwrap()
        .unwrap();
    let on_demand = store.request_run("test").await.unwrap();
    let running = store.request_run("test").await.unwrap();
    let _queued = store.request_run("test").await.unwrap();
    for id in [scheduled, caught_up, on_demand, running] {
        assert!(store.claim_run(id, "test:1", generation).await.unwrap());
    }
    store
        .finish_run(scheduled, "succeeded", Some(generation), None, "done")
        .await
        .unwrap();
    store
        .finish_run(
            caught_up,
            "failed",
            None,
            Some("base injoignable"),
            "export",
        )
        .await
        .unwrap();
    store.set_run_progress(running, "push").await.unwrap();
    store
        .finish_run(
            on_demand,
            "interrupted",
            None,
            None,
            "interrupted: the instance running it stopped",
        )
        .await
        .unwrap();
    store.close().await;

    let server = start(db, |_| {}).await;
    let html = page(&server.url("/")).await;
    let text = visible_text(&html);
    for french in [
        "planifiée",
        "rattrapage",
        "à la demande",
        "réussie",
        "en échec",
        "en cours",
        "en file",
        "interrompue",
        "terminée",
        "envoi aux consommateurs",
        "livrées : ",
        "en attente : ",
        "Prochaine exécution planifiée",
        "kairos",
    ] {
        assert!(text.contains(french), "{french:?} missing from:\n{text}");
    }
    let english = [
        "scheduled",
        "catch_up",
        "on_demand",
        "queued",
        "running",
        "interrupted",
        "succeeded",
        "failed",
        "starting",
        "done",
        "push",
        "delivered",
        "pending",
        "dead",
        "to_batch",
        "paused",
        "no consumer",
        "consumer",
        "UTC",
        "autre (",
    ];
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .collect();
    for e in english {
        let found = if e.contains(' ') || e.contains('(') {
            text.contains(e)
        } else {
            words.contains(&e)
        };
        assert!(!found, "English {e:?} on the page:\n{text}");
    }
    // The consumer's lag, drawn: it has received nothing yet.
    assert!(
        html.contains("<g class=\"consumer\" data-consumer=\"kairos\" data-delivered=\"\""),
        "{html}"
    );
    server.stop().await;
}

/// Generation rows with chosen counts, written through the store as an export writes them.
async fn add_generations(db: &TestDb, withdrawn: &[i64]) -> Vec<i64> {
    let store = db.open().await;
    let mut ids = Vec::new();
    for (i, w) in withdrawn.iter().enumerate() {
        let last = store.last_generation().await.unwrap().map(|g| g.id);
        let mut tx = store.begin_generation(last).await.unwrap();
        let at = Utc::now() - Duration::hours(24 * (withdrawn.len() - i) as i64);
        let id = tx
            .insert_generation(&NewGeneration {
                started_at: at,
                finished_at: at,
                horodatage_export: at.to_rfc3339(),
                today: TODAY.to_owned(),
                format_version: "test".to_owned(),
                rules_hash: "test".to_owned(),
                store_revision: 0,
                mode: "incremental".to_owned(),
                offres_evaluees: 0,
                created: 1,
                updated: 4,
                withdrawn: *w,
                unchanged: 500,
                published: 1000 - w,
                rejected: 0,
                counts: "{\"sessions_rejetees\": 3}".to_owned(),
                forced: false,
                file_path: String::new(),
                out_path: String::new(),
                file_digest: lheo_feed::digest::DocumentDigest::of(
                    lheo_feed::digest::Algorithm::WRITTEN,
                    b"",
                ),
                file_bytes: 0,
                file_fingerprint: String::new(),
            })
            .await
            .unwrap();
        tx.commit().await.unwrap();
        ids.push(id);
    }
    store.close().await;
    ids
}

/// Twenty quiet nights, then one that withdraws 150 offers: marked in the table and on the
/// chart; the quiet ones, and a small rise under the floor, are not.
async fn an_unusual_generation_is_marked(db: &TestDb) {
    let mut withdrawn = vec![2; 20];
    withdrawn[10] = 12; // 6 × the median, but under the floor of 20
    withdrawn.push(150);
    withdrawn.push(3);
    let ids = add_generations(db, &withdrawn).await;
    let jump = ids[20];
    let server = start(db, |_| {}).await;
    let html = page(&server.url("/")).await;
    let unusual_rows: Vec<&str> = html
        .split("<tr data-generation=\"")
        .skip(1)
        .filter(|r| r.split_once('>').unwrap().0.contains("class=\"unusual\""))
        .map(|r| r.split_once('"').unwrap().0)
        .collect();
    assert_eq!(unusual_rows, vec![jump.to_string()], "{html}");
    assert_eq!(html.matches("<g class=\"unusual\"").count(), 1, "{html}");
    assert!(html.contains(&format!("<g class=\"unusual\" data-generation=\"{jump}\">")));
    assert!(html.contains("inhabituel : retirées"));
    // The chart's last point is the last generation.
    assert!(html.contains(&format!(
        "id=\"chart-last\" data-generation=\"{}\" data-published=\"997\" data-created=\"1\" \
         data-updated=\"4\" data-withdrawn=\"3\" data-sessions-rejected=\"3\"",
        ids[21]
    )));
    server.stop().await;
}

/// `check --format json`'s findings of one organisme, in its order: (offre, session,
/// code, message).
fn check_findings(o: &Value) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    let row = |offre: &str, session: &str, f: &Value| {
        (
            offre.to_owned(),
            session.to_owned(),
            f["code"].as_str().unwrap().to_owned(),
            f["message"].as_str().unwrap().to_owned(),
        )
    };
    for offre in o["offres"].as_array().unwrap() {
        let numero = offre["offre"].as_str().unwrap();
        for f in offre["findings"].as_array().unwrap() {
            out.push(row(numero, "", f));
        }
        for s in offre["sessions"].as_array().unwrap() {
            for f in s["findings"].as_array().unwrap() {
                out.push(row(numero, s["session"].as_str().unwrap(), f));
            }
        }
    }
    out
}

/// The organisme page's findings, in page order.
fn page_findings(html: &str) -> Vec<(String, String, String, String)> {
    let attr = |tag: &str, name: &str| {
        let from = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        tag[from..from + tag[from..].find('"').unwrap()].to_owned()
    };
    html.split("<li class=\"constat\" ")
        .skip(1)
        .map(|li| {
            let tag = li.split_once('>').unwrap().0;
            let message = li
                .split_once("<span class=\"message\">")
                .unwrap()
                .1
                .split_once("</span>")
                .unwrap()
                .0;
            (
                attr(tag, "data-offre"),
                attr(tag, "data-session"),
                attr(tag, "data-code"),
                visible_text(message),
            )
        })
        .collect()
}

/// A 14-digit SIRET with a valid Luhn key that no fixture uses.
fn unknown_siret() -> String {
    (0..10u32)
        .map(|d| format!("9999999999999{d}"))
        .find(|s| {
            let sum: u32 = s
                .bytes()
                .rev()
                .enumerate()
                .map(|(i, b)| {
                    let d = u32::from(b - b'0');
                    if i % 2 == 1 {
                        let x = d * 2;
                        x / 10 + x % 10
                    } else {
                        d
                    }
                })
                .sum();
            sum.is_multiple_of(10)
        })
        .unwrap()
}

async fn the_organisme_pages_match_check(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    ok(db, &["import", "fixtures/offres.jsonl"]);
    export(db, dir.path(), None);
    let check: Value =
        serde_json::from_str(&ok(db, &["check", "--today", TODAY, "--format", "json"])).unwrap();
    let server = start(db, |_| {}).await;
    let status_page = page(&server.url("/")).await;
    let mut compared = 0;
    for o in check["organismes"].as_array().unwrap() {
        let expected = check_findings(o);
        if expected.is_empty() {
            continue;
        }
        let siret = o["siret"].as_str().unwrap();
        let link = format!("<a href=\"/status/organismes/{siret}\">");
        assert!(status_page.contains(&link), "no link to {siret}");
        let html = page(&server.url(&format!("/status/organismes/{siret}"))).await;
        assert_eq!(page_findings(&html), expected, "{siret}:\n{html}");
        let sessions = o["totals"]["sessions_rejected"].as_u64().unwrap();
        assert!(
            html.contains(&format!("<strong>{sessions}</strong> session(s)")),
            "{siret}: {sessions} rejected sessions:\n{html}"
        );
        assert!(html.contains("@media print"));
        compared += 1;
    }
    assert!(compared >= 2, "the fixtures have organismes with findings");

    let any = check["organismes"][0]["siret"].as_str().unwrap().to_owned();
    let url = |s: &str| server.url(&format!("/status/organismes/{s}"));
    // Protected exactly like the status page.
    assert_eq!(
        get(&url(&any), None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&url(&any), Some("wrong-key-0123456789")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for bad in [
        "123",
        "1234567890123a",
        "123456789012345",
        "%3Cscript%3E",
        "12345678901234",
    ] {
        let r = get(&url(bad), Some(ADMIN_KEY)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("\"bad_siret\"") && !body.contains("<script"),
            "{body}"
        );
    }
    let r = get(&url(&unknown_siret()), Some(ADMIN_KEY)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}

backend_tests!(
    the_page_has_no_english_state_word,
    an_unusual_generation_is_marked,
    the_organisme_pages_match_check,
);
