//! Black-box HTTP tests of `lheo-feed serve` (issue 6): the real server on a random
//! loopback port, over real SQLite and PostgreSQL stores filled and exported by the real
//! binary. Snapshot, 304 paths, gzip, changes and cursors (also across a generation change
//! and past the tombstone retention), keys, scopes, rate limits, a partner's view during an
//! export, and the status page (with headless Chromium).

mod common;

use common::server::{start, Server, ADMIN_KEY};

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{assert_schema_valid, Backend, TestDb};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

const TODAY: &str = "2025-06-02";
const FIXTURES: &str = "fixtures/offres.jsonl";

// ----- The binary ------------------------------------------------------------------------

fn command(db: &TestDb, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lheo-feed"));
    c.arg("--database-url")
        .arg(&db.url)
        .args(args)
        .env_remove("LHEO_FEED_TODAY")
        .env_remove("LHEO_FEED_RULES")
        .env_remove("LHEO_FEED_TEST_PAUSE_AT");
    c
}

/// Runs the binary off the runtime's thread (the server under test runs on it).
async fn run(db: &TestDb, args: &[&str]) -> Output {
    let mut c = command(db, args);
    tokio::task::spawn_blocking(move || c.output().expect("the lheo-feed binary runs"))
        .await
        .unwrap()
}

async fn ok(db: &TestDb, args: &[&str]) -> String {
    let out = run(db, args).await;
    assert!(
        out.status.success(),
        "{args:?} on {:?} failed ({:?}):\n{}",
        db.backend,
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn json(db: &TestDb, args: &[&str]) -> Value {
    serde_json::from_str(&ok(db, args).await).expect("JSON output")
}

async fn export(db: &TestDb, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["export", "--json", "--today", TODAY, "--out"];
    args.push(out.to_str().unwrap());
    args.extend_from_slice(extra);
    json(db, &args).await
}

async fn add_partner(db: &TestDb, name: &str, scope: &[&str]) -> String {
    let mut args = vec!["partner", "add", name, "--json"];
    for s in scope {
        args.extend(["--scope", s]);
    }
    let v = json(db, &args).await;
    v["key"].as_str().unwrap().to_owned()
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_lines(path: &Path, lines: &[Value]) {
    let text: Vec<String> = lines.iter().map(|v| v.to_string()).collect();
    std::fs::write(path, text.join("\n") + "\n").unwrap();
}

/// `numero`s of the `<formation>`s of a document.
fn formations(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("<formation numero=\""))
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

/// The fixture offer `numero` with `edit` applied, as an import line.
fn edited_offer(numero: &str, edit: impl Fn(&mut Value)) -> Value {
    for mut line in read_lines(Path::new(FIXTURES)) {
        if line.get("offre").is_some_and(|o| o["numero"] == numero) {
            edit(&mut line["offre"]);
            return line;
        }
    }
    panic!("offer {numero} is not in the fixtures");
}

/// Imports edited offers (a file of their lines).
async fn import_edits(db: &TestDb, dir: &Path, lines: &[Value]) {
    let edit = dir.join(format!("edit-{}.jsonl", rand_suffix()));
    write_lines(&edit, lines);
    ok(db, &["import", edit.to_str().unwrap()]).await;
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A change of a published offer's text (its objectives, part of its `<formation>`).
fn retitled(o: &mut Value) {
    let f = &mut o["formation"];
    let text = f["objectif"].as_str().unwrap_or("Objectif").to_owned();
    f["objectif"] = Value::from(format!("{text} (objectif précisé)"));
}

fn unvalidated(o: &mut Value) {
    o["etat"] = Value::from("en_attente_de_validation");
}

// ----- The server ------------------------------------------------------------------------

// The server: common::server (start, Server, ADMIN_KEY).

/// A client that neither asks for nor undoes gzip by itself: the tests say what they accept.
fn client() -> reqwest::Client {
    reqwest::Client::builder().no_gzip().build().unwrap()
}

async fn get(url: &str, key: Option<&str>, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut r = client().get(url);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

fn h<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn assert_xml_valid(dir: &Path, bytes: &[u8]) {
    let p = dir.join(format!("doc-{}.xml", rand_suffix()));
    std::fs::write(&p, bytes).unwrap();
    assert_schema_valid(&p);
}

async fn changes(
    server: &Server,
    key: &str,
    cursor: Option<&str>,
    extra: &str,
) -> (StatusCode, HeaderMap, Value) {
    let url = match cursor {
        Some(c) => server.url(&format!("/feed/changes?cursor={c}{extra}")),
        None => server.url(&format!("/feed/changes?{}", extra.trim_start_matches('&'))),
    };
    let r = get(&url, Some(key), &[]).await;
    let (status, headers) = (r.status(), r.headers().clone());
    let body = r.text().await.unwrap();
    let v = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"))
    };
    if status == StatusCode::OK {
        // Every page the tests read is checked against the documented shape.
        let errors: Vec<String> = changes_schema()
            .iter_errors(&v)
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{v:#}");
    }
    (status, headers, v)
}

fn changes_schema() -> &'static jsonschema::Validator {
    static V: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let text = std::fs::read_to_string("schemas/changes.schema.json").unwrap();
        let schema: Value = serde_json::from_str(&text).unwrap();
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .expect("schemas/changes.schema.json is a valid draft 2020-12 schema")
    })
}

/// The fixtures imported and exported once (generation 1).
struct Setup {
    dir: tempfile::TempDir,
    out: PathBuf,
}

async fn setup(db: &TestDb) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lheo.xml");
    ok(db, &["import", FIXTURES]).await;
    let g = export(db, &out, &[]).await;
    assert_eq!(g["generation"], 1);
    Setup { dir, out }
}

// ----- Tests ------------------------------------------------------------------------------

/// The "done when": snapshot, then changes after an edit and an export, 304 when
/// nothing changed; with every header a consumer relies on.
async fn a_partner_pulls_the_snapshot_then_the_changes(db: &TestDb) {
    let s = setup(db).await;
    let key = add_partner(db, "offre-info", &[]).await;
    let server = start(db, |_| {}).await;
    let snapshot_url = server.url("/feed/lheo.xml");

    let r = get(&snapshot_url, None, &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The full snapshot: the export's bytes, with validators.
    let r = get(&snapshot_url, Some(&key), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let hd = r.headers().clone();
    assert_eq!(h(&hd, "content-type"), "application/xml; charset=utf-8");
    assert!(h(&hd, "vary").contains("Accept-Encoding"));
    assert_eq!(h(&hd, "lheo-feed-generation"), "1");
    let etag = h(&hd, "etag").to_owned();
    assert!(
        etag.starts_with('"') && !etag.starts_with("W/"),
        "strong: {etag}"
    );
    let last_modified = h(&hd, "last-modified").to_owned();
    let cursor = h(&hd, "lheo-feed-cursor").to_owned();
    let body = r.bytes().await.unwrap();
    assert_eq!(&body[..], &std::fs::read(&s.out).unwrap()[..]);
    assert_xml_valid(s.dir.path(), &body);

    // Nothing changed: 304, by ETag or by date.
    let r = get(&snapshot_url, Some(&key), &[("if-none-match", &etag)]).await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(h(r.headers(), "etag"), etag);
    let r = get(
        &snapshot_url,
        Some(&key),
        &[("if-modified-since", &last_modified)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    // gzip: the twin written by the export, its own strong ETag, the same document.
    let r = get(&snapshot_url, Some(&key), &[("accept-encoding", "gzip")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h(r.headers(), "content-encoding"), "gzip");
    let gz_etag = h(r.headers(), "etag").to_owned();
    assert_ne!(gz_etag, etag);
    let zipped = r.bytes().await.unwrap();
    assert!(
        zipped.len() < body.len() / 3,
        "{} vs {}",
        zipped.len(),
        body.len()
    );
    assert_eq!(gunzip(&zipped), body.to_vec());
    let r = get(
        &snapshot_url,
        Some(&key),
        &[("accept-encoding", "gzip"), ("if-none-match", &gz_etag)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    // Changes since the snapshot: none yet; the same question again is a 304.
    let (st, hd, page) = changes(&server, &key, Some(&cursor), "").await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert_eq!(page["entries"].as_array().unwrap().len(), 0);
    assert_eq!(page["has_more"], false);
    assert_eq!(page["generation"], 1);
    let changes_etag = h(&hd, "etag").to_owned();
    let r = get(
        &server.url(&format!("/feed/changes?cursor={cursor}")),
        Some(&key),
        &[("if-none-match", &changes_etag)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    // An edit and a withdrawal, then an export.
    let published = formations(std::str::from_utf8(&body).unwrap());
    let (edited, withdrawn) = (published[0].clone(), published[1].clone());
    import_edits(
        db,
        s.dir.path(),
        &[
            edited_offer(&edited, retitled),
            edited_offer(&withdrawn, unvalidated),
        ],
    )
    .await;
    let g2 = export(db, &s.out, &[]).await;
    assert_eq!(
        (g2["updated"].as_u64(), g2["withdrawn"].as_u64()),
        (Some(1), Some(1)),
        "{g2:#}"
    );

    let (st, _, page) = changes(&server, &key, Some(&cursor), "").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page["generation"], 2);
    let entries = page["entries"].as_array().unwrap();
    let by: BTreeMap<&str, &Value> = entries
        .iter()
        .map(|e| (e["numero"].as_str().unwrap(), e))
        .collect();
    assert_eq!(by.len(), 2, "{page:#}");
    assert_eq!(by[edited.as_str()]["op"], "upsert");
    assert_eq!(by[withdrawn.as_str()]["op"], "delete");
    assert!(by[withdrawn.as_str()]["withdrawn_at"].is_string());
    let d = json(db, &["diff", "1", "2", "--json"]).await;
    assert_eq!(d["updated"][0], edited.as_str());
    assert_eq!(d["withdrawn"][0], withdrawn.as_str());

    // The upserted offer, by its link: a valid LHÉO document with the edit.
    let href = by[edited.as_str()]["href"].as_str().unwrap();
    let r = get(&server.url(href), Some(&key), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let offer_etag = h(r.headers(), "etag").to_owned();
    let doc = r.bytes().await.unwrap();
    assert!(String::from_utf8_lossy(&doc).contains("(objectif précisé)"));
    assert_eq!(
        formations(&String::from_utf8_lossy(&doc)),
        vec![edited.clone()]
    );
    assert_xml_valid(s.dir.path(), &doc);
    let r = get(
        &server.url(href),
        Some(&key),
        &[("if-none-match", &offer_etag)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    // Its hash is the one the generation recorded.
    let hash = by[edited.as_str()]["hash"].as_str().unwrap();
    let fragment_start = doc.windows(10).position(|w| w == b"<formation").unwrap();
    let fragment_end = doc.len() - "</offres>\n</lheo>\n".len();
    let mut hasher = Sha256::new();
    // The writer's format version (lheo-2.3/2 since issue 15), then the fragment.
    hasher.update(format!("{}\n", lheo_feed::lheo::FORMAT_VERSION).as_bytes());
    hasher.update(&doc[fragment_start..fragment_end]);
    assert_eq!(hex::encode(hasher.finalize()), hash);

    // Withdrawn: 410; unknown: 404; not a numero: 400.
    let r = get(
        &server.url(&format!("/feed/offres/{withdrawn}")),
        Some(&key),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::GONE);
    let r = get(&server.url("/feed/offres/1-1"), Some(&key), &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = get(&server.url("/feed/offres/x%3Cy"), Some(&key), &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // The changes as one LHÉO document: the update in <offres>, the withdrawal in extras.
    let r = get(
        &server.url(&format!("/feed/changes?cursor={cursor}&format=lheo")),
        Some(&key),
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h(r.headers(), "content-encoding"), "gzip");
    let doc = gunzip(&r.bytes().await.unwrap());
    let text = String::from_utf8(doc.clone()).unwrap();
    assert_eq!(formations(&text), vec![edited.clone()]);
    assert!(text.contains(&format!("<extra info=\"retrait\" numero=\"{withdrawn}\"/>")));
    assert_xml_valid(s.dir.path(), &doc);

    // The old snapshot validator no longer matches: the new snapshot comes.
    let r = get(&snapshot_url, Some(&key), &[("if-none-match", &etag)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h(r.headers(), "lheo-feed-generation"), "2");

    // Operations endpoints.
    assert_eq!(
        get(&server.url("/health"), None, &[]).await.status(),
        StatusCode::OK
    );
    let r = get(&server.url("/ready"), None, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let m = get(&server.url("/metrics"), None, &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("lheo_feed_requests_total{route=\"/feed/lheo.xml\",status=\"304\"} 3"),
        "{m}"
    );
    assert!(
        m.contains("lheo_feed_rejections_total{reason=\"no_key\"} 1"),
        "{m}"
    );
    assert!(m.contains("\nlheo_feed_generation 2\n"), "{m}");
    assert!(m.contains("lheo_feed_generation_age_seconds "), "{m}");
    assert!(
        m.contains("lheo_feed_response_bytes_total{route=\"/feed/lheo.xml\"}"),
        "{m}"
    );
    server.stop().await;
}

/// Keys (missing, unknown, revoked), scopes on every route, the rate limit, size limits.
async fn keys_scopes_and_limits(db: &TestDb) {
    let s = setup(db).await;
    let open_key = add_partner(db, "national", &[]).await;
    // The département found in the fewest published offers (but some).
    let store = db.open().await;
    let filters = store.published_filters().await.unwrap();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, d) in &filters {
        for dep in serde_json::from_str::<Vec<String>>(d).unwrap() {
            *count.entry(dep).or_default() += 1;
        }
    }
    let (dep, _) = count.iter().min_by_key(|(_, n)| **n).expect("départements");
    let in_scope: BTreeSet<String> = filters
        .iter()
        .filter(|(_, _, d)| {
            serde_json::from_str::<Vec<String>>(d)
                .unwrap()
                .contains(dep)
        })
        .map(|(k, _, _)| k.to_string())
        .collect();
    assert!(!in_scope.is_empty() && in_scope.len() < filters.len());
    let out_of_scope = filters
        .iter()
        .map(|(k, _, _)| k.to_string())
        .find(|k| !in_scope.contains(k))
        .unwrap();
    let scoped_key = add_partner(db, "departement", &[&format!("departement:{dep}")]).await;
    let server = start(db, |_| {}).await;

    // The scoped snapshot holds exactly the scope's offers, and is valid LHÉO.
    let r = get(&server.url("/feed/lheo.xml"), Some(&scoped_key), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let scoped_etag = h(r.headers(), "etag").to_owned();
    let doc = r.bytes().await.unwrap();
    let listed: BTreeSet<String> = formations(&String::from_utf8_lossy(&doc))
        .into_iter()
        .collect();
    assert_eq!(listed, in_scope);
    assert_xml_valid(s.dir.path(), &doc);
    let r = get(
        &server.url("/feed/lheo.xml"),
        Some(&scoped_key),
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(h(r.headers(), "content-encoding"), "gzip");
    assert_eq!(gunzip(&r.bytes().await.unwrap()), doc.to_vec());
    let r = get(
        &server.url("/feed/lheo.xml"),
        Some(&scoped_key),
        &[("if-none-match", &scoped_etag)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    // Out of scope is unknown: the same 404 body as an offer that does not exist.
    let r = get(
        &server.url(&format!("/feed/offres/{out_of_scope}")),
        Some(&scoped_key),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unknown_offer");
    let r = get(
        &server.url(&format!("/feed/offres/{out_of_scope}")),
        Some(&open_key),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let first = in_scope.iter().next().unwrap();
    let r = get(
        &server.url(&format!("/feed/offres/{first}")),
        Some(&scoped_key),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Changes from the start: the scope's offers only.
    let (st, _, page) = changes(&server, &scoped_key, None, "&limit=1000").await;
    assert_eq!(st, StatusCode::OK);
    let seen: BTreeSet<String> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["numero"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, in_scope);

    // Bad requests.
    let (st, _, v) = changes(&server, &open_key, Some("c1deadbeef"), "").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "bad_cursor");
    let (st, _, _) = changes(&server, &open_key, None, "&limit=0").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let long = format!("/feed/changes?cursor={}", "a".repeat(3000));
    let r = get(&server.url(&long), Some(&open_key), &[]).await;
    assert_eq!(r.status(), StatusCode::URI_TOO_LONG);

    // Unknown key 401, revoked key 403; the list never shows a key.
    let r = get(&server.url("/feed/lheo.xml"), Some("lf_0000"), &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let mut wrong = scoped_key.clone();
    wrong.pop();
    wrong.push(if scoped_key.ends_with('0') { '1' } else { '0' });
    let r = get(&server.url("/feed/lheo.xml"), Some(&wrong), &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    ok(db, &["partner", "revoke", "departement"]).await;
    let r = get(&server.url("/feed/lheo.xml"), Some(&scoped_key), &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = get(
        &server.url(&format!("/feed/offres/{first}")),
        Some(&scoped_key),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let list = ok(db, &["partner", "list"]).await;
    assert!(
        list.contains("national") && list.contains("revoked"),
        "{list}"
    );
    assert!(
        !list.contains(&scoped_key) && !list.contains(&open_key),
        "{list}"
    );
    let again = run(db, &["partner", "revoke", "departement"]).await;
    assert_eq!(again.status.code(), Some(2));
    let bad = run(db, &["partner", "add", "x", "--scope", "region:52"]).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown dimension"));
    server.stop().await;

    // The rate limit: a burst of 2, then 429 with Retry-After.
    let server = start(db, |c| {
        c.rate_per_second = 0.2;
        c.rate_burst = 2;
    })
    .await;
    for _ in 0..2 {
        let r = get(&server.url("/feed/offres/1-1"), Some(&open_key), &[]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let r = get(&server.url("/feed/offres/1-1"), Some(&open_key), &[]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = h(r.headers(), "retry-after").parse().unwrap();
    assert!((1..=5).contains(&wait), "{wait}");
    server.stop().await;
}

/// Paging with a small limit while an export commits between two pages gives the partner
/// the new generation's state exactly; a cursor older than a purged deletion is refused
/// with the resync answer.
async fn paging_across_a_generation_change_and_stale_cursors(db: &TestDb) {
    let s = setup(db).await;
    let key = add_partner(db, "kairos", &[]).await;
    let server = start(db, |_| {}).await;

    // The partner's picture: numero → hash, built from the changes alone.
    let mut state: BTreeMap<String, String> = BTreeMap::new();
    let mut apply = |page: &Value| {
        for e in page["entries"].as_array().unwrap() {
            let n = e["numero"].as_str().unwrap().to_owned();
            match e["op"].as_str().unwrap() {
                "upsert" => state.insert(n, e["hash"].as_str().unwrap().to_owned()),
                _ => state.remove(&n),
            };
        }
    };
    let (st, _, page) = changes(&server, &key, None, "&limit=5").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page["entries"].as_array().unwrap().len(), 5);
    assert_eq!(page["has_more"], true);
    apply(&page);
    let mut cursor = page["next_cursor"].as_str().unwrap().to_owned();

    // Generation 2 commits mid-way: one offer already seen changes, one not yet seen is
    // withdrawn.
    let published = formations(&std::fs::read_to_string(&s.out).unwrap());
    let seen_first = page["entries"][0]["numero"].as_str().unwrap().to_owned();
    let later = published.last().unwrap().clone();
    import_edits(
        db,
        s.dir.path(),
        &[
            edited_offer(&seen_first, retitled),
            edited_offer(&later, unvalidated),
        ],
    )
    .await;
    export(db, &s.out, &[]).await;

    let mut pages = 1;
    loop {
        let (st, _, page) = changes(&server, &key, Some(&cursor), "&limit=5").await;
        assert_eq!(st, StatusCode::OK, "{page}");
        apply(&page);
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        pages += 1;
        assert!(pages < 50, "paging does not end");
        if page["has_more"] == false {
            break;
        }
    }
    // What the partner holds is generation 2, exactly.
    let store = db.open().await;
    let live: BTreeMap<String, String> = store
        .published_page(None, 10_000, false)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.numero.to_string(), r.hash))
        .collect();
    assert_eq!(state, live);
    assert!(!state.contains_key(&later));

    // A cursor from the snapshot of generation 2; generation 3 withdraws an offer, and
    // generation 4 purges its tombstone (retention 0 days, a second later).
    let r = get(&server.url("/feed/lheo.xml"), Some(&key), &[]).await;
    let old_cursor = h(r.headers(), "lheo-feed-cursor").to_owned();
    let gone = published[2].clone();
    import_edits(db, s.dir.path(), &[edited_offer(&gone, unvalidated)]).await;
    export(db, &s.out, &[]).await;
    let (st, _, page) = changes(&server, &key, Some(&old_cursor), "").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page["entries"][0]["op"], "delete");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let g4 = export(db, &s.out, &["--tombstone-retention-days", "0"]).await;
    assert!(g4["tombstones_purged"].as_u64().unwrap() >= 1, "{g4:#}");
    let (st, _, v) = changes(&server, &key, Some(&old_cursor), "").await;
    assert_eq!(st, StatusCode::GONE, "{v}");
    assert_eq!(v["error"], "cursor_expired");
    assert_eq!(v["snapshot"], "/feed/lheo.xml");
    // The resync: a new snapshot's cursor works.
    let r = get(&server.url("/feed/lheo.xml"), Some(&key), &[]).await;
    let fresh = h(r.headers(), "lheo-feed-cursor").to_owned();
    let (st, _, page) = changes(&server, &key, Some(&fresh), "").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page["entries"].as_array().unwrap().len(), 0);
    server.stop().await;
}

/// While an export is between its writes and its commit, and while one runs to its end,
/// partners see whole generations only: each snapshot is the file of the generation its
/// header names, and each changes page is all of a generation's changes or none.
async fn a_partner_never_sees_half_a_generation(db: &TestDb) {
    let s = setup(db).await;
    let key = add_partner(db, "ouiform", &[]).await;
    let server = start(db, |_| {}).await;
    let r = get(&server.url("/feed/lheo.xml"), Some(&key), &[]).await;
    let cursor = h(r.headers(), "lheo-feed-cursor").to_owned();
    let g1 = r.bytes().await.unwrap();
    let published = formations(&String::from_utf8_lossy(&g1));
    let edits: Vec<Value> = published[..4]
        .iter()
        .map(|n| edited_offer(n, retitled))
        .collect();
    import_edits(db, s.dir.path(), &edits).await;

    // An export paused just before its commit: generation 1 is all anyone sees.
    let mut child = command(
        db,
        &["export", "--today", TODAY, "--out", s.out.to_str().unwrap()],
    )
    .env("LHEO_FEED_TEST_PAUSE_AT", "before_commit")
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stderr).lines() {
            if line.unwrap().contains("paused") {
                return;
            }
        }
        panic!("the export did not pause");
    })
    .await
    .unwrap();
    let r = get(&server.url("/feed/lheo.xml"), Some(&key), &[]).await;
    assert_eq!(h(r.headers(), "lheo-feed-generation"), "1");
    assert_eq!(r.bytes().await.unwrap(), g1);
    let (_, _, page) = changes(&server, &key, Some(&cursor), "").await;
    assert_eq!(page["generation"], 1);
    assert_eq!(page["entries"].as_array().unwrap().len(), 0);
    child.kill().unwrap();
    let _ = child.wait();

    // Requests in a loop while a real export runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Bit i: reader i has seen a generation after the first (no sleep decides when enough
    // was read: the readers run until each has seen the new generation).
    let newer = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let (stop, key, cursor) = (stop.clone(), key.clone(), cursor.clone());
        let newer = newer.clone();
        let (snap_url, changes_url) = (
            server.url("/feed/lheo.xml"),
            server.url(&format!("/feed/changes?cursor={cursor}")),
        );
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if i % 2 == 0 {
                    let r = get(&snap_url, Some(&key), &[]).await;
                    assert_eq!(r.status(), StatusCode::OK);
                    let g: i64 = h(r.headers(), "lheo-feed-generation").parse().unwrap();
                    // As the generation records it (`src/digest.rs`).
                    let body = r.bytes().await.unwrap();
                    seen.push((
                        g,
                        Some(format!("blake3:{}", blake3::hash(&body).to_hex())),
                        0,
                    ));
                    if g > 1 {
                        newer.fetch_or(1 << i, std::sync::atomic::Ordering::SeqCst);
                    }
                } else {
                    let r = get(&changes_url, Some(&key), &[]).await;
                    assert_eq!(r.status(), StatusCode::OK);
                    let v: Value = r.json().await.unwrap();
                    let n = v["entries"].as_array().unwrap().len();
                    let g = v["generation"].as_i64().unwrap();
                    seen.push((g, None, n));
                    if g > 1 {
                        newer.fetch_or(1 << i, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
            seen
        }));
    }
    let g2 = export(db, &s.out, &[]).await;
    let t0 = std::time::Instant::now();
    while newer.load(std::sync::atomic::Ordering::SeqCst) != 0b1111 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "readers that never saw the new generation: {:04b}",
            !newer.load(std::sync::atomic::Ordering::SeqCst) & 0b1111
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let shas: BTreeMap<i64, String> = json(db, &["generations", "--json"])
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["id"].as_i64().unwrap(),
                g["file_digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let changed = ["created", "updated", "withdrawn"]
        .iter()
        .map(|k| g2[k].as_u64().unwrap() as usize)
        .sum::<usize>();
    assert!(changed > 0, "{g2:#}");
    let mut total = 0;
    let mut saw_new = false;
    for t in tasks {
        for (g, sha, n) in t.await.unwrap() {
            total += 1;
            saw_new |= g == g2["generation"].as_i64().unwrap();
            match sha {
                Some(sha) => assert_eq!(sha, shas[&g], "snapshot of generation {g}"),
                None if g == 1 => assert_eq!(n, 0),
                None => assert_eq!(n, changed, "generation {g}'s changes, all of them"),
            }
        }
    }
    assert!(
        total > 4 && saw_new,
        "{total} requests, the new generation seen: {saw_new}"
    );
    server.stop().await;
}

/// The status page: admin key, the generations' numbers as the CLI gives them, the
/// rejections as `check` reports them, the CSV; and in headless Chromium on SQLite.
async fn the_status_page_shows_the_cli_numbers(db: &TestDb) {
    let s = setup(db).await;
    let server = start(db, |_| {}).await;
    let r = get(&server.url("/"), None, &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(h(r.headers(), "www-authenticate").starts_with("Basic"));
    let r = client()
        .get(server.url("/"))
        .basic_auth("admin", Some("wrong-key-0123456789"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client()
        .get(server.url("/"))
        .basic_auth("admin", Some(ADMIN_KEY))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h(r.headers(), "content-type"), "text/html; charset=utf-8");
    let html = r.text().await.unwrap();

    let gens = json(db, &["generations", "--json"]).await;
    let g = &gens[0];
    assert!(
        html.contains(&format!("id=\"current-generation\">{}<", g["id"])),
        "{html}"
    );
    assert!(html.contains(&format!(
        "<td class=\"created\">{}</td><td class=\"updated\">{}</td><td class=\"withdrawn\">{}</td>\
         <td class=\"rejected\">{}</td><td class=\"published\">{}</td>",
        g["created"], g["updated"], g["withdrawn"], g["rejected"], g["published"]
    )));
    let check = json(db, &["check", "--today", TODAY, "--format", "json"]).await;
    let totals = &check["totals"];
    assert!(totals["offres_rejected"].as_u64().unwrap() > 0);
    assert!(html.contains(&format!(
        "id=\"offres-rejetees\">{}<",
        totals["offres_rejected"]
    )));
    assert!(html.contains(&format!(
        "id=\"sessions-rejetees\">{}<",
        totals["sessions_rejected"]
    )));
    assert!(html.contains("Aucun consommateur configuré."));
    // A French message of the report, escaped.
    let first_message = check["organismes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["offres"].as_array().unwrap())
        .flat_map(|o| {
            o["findings"].as_array().unwrap().iter().chain(
                o["sessions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|s| s["findings"].as_array().unwrap()),
            )
        })
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .next()
        .expect("the fixtures have findings");
    let escaped = first_message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    assert!(html.contains(&escaped), "{first_message}");

    // The CSV: the rows of `check --format csv`.
    let r = client()
        .get(server.url("/status/rejections.csv"))
        .basic_auth("admin", Some(ADMIN_KEY))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h(r.headers(), "content-type"), "text/csv; charset=utf-8");
    let csv = r.text().await.unwrap();
    let cli_csv = ok(db, &["check", "--today", TODAY, "--format", "csv"]).await;
    let rows = |t: &str| t.split("\r\n").map(str::to_owned).collect::<BTreeSet<_>>();
    assert_eq!(rows(&csv), rows(&cli_csv));

    if db.backend == Backend::Sqlite {
        let siret = check["organismes"][0]["siret"].as_str().unwrap();
        chromium_renders(&server.base, g, totals, siret).await;
    }
    drop(s);
    server.stop().await;
}

/// Headless Chromium loads the page with the admin key, shows the numbers and the chart's
/// last point, writes a phone-sized screenshot to target/status-page.png, and prints an
/// organisme's page to target/status-organisme.pdf.
async fn chromium_renders(base: &str, g: &Value, totals: &Value, siret: &str) {
    let Some(chromium) = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok())
    else {
        common::skipped(
            "the Chromium check of the status page",
            "no chromium on the PATH (apt-get install chromium)",
        );
        return;
    };
    let url = base.replacen("http://", &format!("http://admin:{ADMIN_KEY}@"), 1) + "/";
    let profile = tempfile::tempdir().unwrap();
    let flags = |extra: &[String], target: &str| {
        let mut c = Command::new(chromium);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(target)
        .stdin(Stdio::null());
        c
    };
    let mut dump = flags(&["--dump-dom".to_owned()], &url);
    let out = tokio::task::spawn_blocking(move || dump.output().unwrap())
        .await
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    // The chart drew (no script: under the page's CSP it is the server's SVG), and its
    // last point is the current generation with the numbers `generations --json` gives.
    let last_point = format!(
        "id=\"chart-last\" data-generation=\"{}\" data-published=\"{}\" data-created=\"{}\" \
         data-updated=\"{}\" data-withdrawn=\"{}\" data-sessions-rejected=\"{}\"",
        g["id"],
        g["published"],
        g["created"],
        g["updated"],
        g["withdrawn"],
        g["counts"]["sessions_rejetees"]
    );
    assert!(
        dom.contains("<svg class=\"chart\" id=\"trends\"") && dom.contains(&last_point),
        "chromium did not show the chart's last point {last_point}:\n{dom}"
    );
    assert!(
        dom.contains(&format!("id=\"current-generation\">{}<", g["id"]))
            && dom.contains(&format!(
                "id=\"offres-rejetees\">{}<",
                totals["offres_rejected"]
            )),
        "chromium did not show the page's numbers:\n{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/status-page.png");
    let _ = std::fs::remove_file(&png);
    let mut shot = flags(
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=412,900".to_owned(),
            "--hide-scrollbars".to_owned(),
        ],
        &url,
    );
    let out = tokio::task::spawn_blocking(move || shot.output().unwrap())
        .await
        .unwrap();
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {} ({e}):\n{}",
            png.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(bytes.len() > 10_000, "a blank page? {} bytes", bytes.len());
    // Its dimensions (IHDR): the phone-sized window asked for.
    let (w, h) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (412, 900), "screenshot size");

    // Printed (as the agent does to send it): the page of an organisme, to PDF.
    let pdf = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/status-organisme.pdf");
    let _ = std::fs::remove_file(&pdf);
    let org_url = url.trim_end_matches('/').to_owned() + &format!("/status/organismes/{siret}");
    let mut print = flags(
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".to_owned(),
        ],
        &org_url,
    );
    let out = tokio::task::spawn_blocking(move || print.output().unwrap())
        .await
        .unwrap();
    let bytes = std::fs::read(&pdf).unwrap_or_else(|e| {
        panic!(
            "no PDF at {} ({e}):\n{}",
            pdf.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    assert!(bytes.len() > 5_000, "an empty print? {} bytes", bytes.len());
}

/// A snapshot of several megabytes (the server hands it out in slices of its mapping): the
/// file's bytes exactly, and the gzip twin's; a `Range` header is ignored (the feed serves
/// whole documents, as it always has); and a download in progress while the next export
/// replaces and unlinks the file still gets the whole document it started.
async fn a_large_snapshot_is_served_whole(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("generated.jsonl");
    // About 8 kB a session: two of the server's 4 MiB slices and a rest.
    ok(
        db,
        &[
            "generate",
            "--sessions",
            "1500",
            "--seed",
            "7",
            "--out",
            data.to_str().unwrap(),
        ],
    )
    .await;
    ok(db, &["import", data.to_str().unwrap()]).await;
    let out = dir.path().join("lheo.xml");
    assert_eq!(export(db, &out, &[]).await["generation"], 1);
    let file = std::fs::read(&out).unwrap();
    assert!(file.len() > 8 << 20, "{} bytes only", file.len());
    let generation_1 = dir.path().join(".lheo.xml.generation-1");
    let twin = std::fs::read(dir.path().join(".lheo.xml.generation-1.gz")).unwrap();
    let key = add_partner(db, "bulk", &[]).await;
    let server = start(db, |_| {}).await;
    let url = server.url("/feed/lheo.xml");

    let r = get(&url, Some(&key), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h(r.headers(), "content-length"), file.len().to_string());
    let body = r.bytes().await.unwrap();
    assert_eq!((body.len(), sha256(&body)), (file.len(), sha256(&file)));

    let r = get(&url, Some(&key), &[("accept-encoding", "gzip")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h(r.headers(), "content-encoding"), "gzip");
    assert_eq!(h(r.headers(), "content-length"), twin.len().to_string());
    let zipped = r.bytes().await.unwrap();
    assert_eq!(sha256(&zipped), sha256(&twin));
    assert_eq!(sha256(&gunzip(&zipped)), sha256(&file));

    let r = get(&url, Some(&key), &[("range", "bytes=0-99")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("content-range").is_none());
    assert_eq!(sha256(&r.bytes().await.unwrap()), sha256(&file));

    // A download started, then a new generation (the fixtures' offers added): generation
    // 1's file is unlinked under it.
    let mut r = get(&url, Some(&key), &[]).await;
    assert_eq!(h(r.headers(), "lheo-feed-generation"), "1");
    let mut got = r.chunk().await.unwrap().unwrap().to_vec();
    ok(db, &["import", FIXTURES]).await;
    assert_eq!(export(db, &out, &[]).await["generation"], 2);
    assert!(
        !generation_1.exists(),
        "the export took generation 1's file away from its name"
    );
    while let Some(chunk) = r.chunk().await.unwrap() {
        got.extend_from_slice(&chunk);
    }
    assert_eq!((got.len(), sha256(&got)), (file.len(), sha256(&file)));
    let r = get(&url, Some(&key), &[]).await;
    assert_eq!(h(r.headers(), "lheo-feed-generation"), "2");
    assert_eq!(
        sha256(&r.bytes().await.unwrap()),
        sha256(&std::fs::read(&out).unwrap())
    );
    server.stop().await;
}

/// The snapshot's conditional requests are answered without reading the generation from
/// the database each time, and still for the new generation as soon as an export has
/// finished: after one that kept the previous document (the same file under a second
/// name) and after one that wrote a new document; plain and gzip.
async fn a_new_generation_is_seen_by_the_next_conditional_request(db: &TestDb) {
    use std::os::unix::fs::MetadataExt;
    let s = setup(db).await;
    let key = add_partner(db, "poller", &[]).await;
    let server = start(db, |_| {}).await;
    let url = server.url("/feed/lheo.xml");
    let gz = ("accept-encoding", "gzip");
    let etag = |r: &reqwest::Response| h(r.headers(), "etag").to_owned();
    let generation = |r: &reqwest::Response| h(r.headers(), "lheo-feed-generation").to_owned();

    let (e1, e1_gz) = (
        etag(&get(&url, Some(&key), &[]).await),
        etag(&get(&url, Some(&key), &[gz]).await),
    );
    for _ in 0..3 {
        let r = get(&url, Some(&key), &[("if-none-match", &e1)]).await;
        assert_eq!(
            (r.status(), generation(&r)),
            (StatusCode::NOT_MODIFIED, "1".into())
        );
        let r = get(&url, Some(&key), &[gz, ("if-none-match", &e1_gz)]).await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    }

    // Nothing changed: generation 2 keeps generation 1's document (a second name for the
    // same file), and generation 1's name goes.
    let inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
    let dir = s.dir.path();
    let file_1 = inode(&dir.join(".lheo.xml.generation-1"));
    assert_eq!(export(db, &s.out, &[]).await["generation"], 2);
    assert_eq!(inode(&dir.join(".lheo.xml.generation-2")), file_1, "kept");
    let r = get(&url, Some(&key), &[("if-none-match", &e1)]).await;
    assert_eq!((r.status(), generation(&r)), (StatusCode::OK, "2".into()));
    let e2 = etag(&r);
    assert_eq!(r.bytes().await.unwrap(), std::fs::read(&s.out).unwrap());
    let r = get(&url, Some(&key), &[gz, ("if-none-match", &e1_gz)]).await;
    assert_eq!((r.status(), generation(&r)), (StatusCode::OK, "2".into()));
    let e2_gz = etag(&r);
    let r = get(&url, Some(&key), &[("if-none-match", &e2)]).await;
    assert_eq!(
        (r.status(), generation(&r)),
        (StatusCode::NOT_MODIFIED, "2".into())
    );

    // An offer changed: a new document.
    let first = formations(&std::fs::read_to_string(&s.out).unwrap())[0].clone();
    import_edits(db, dir, &[edited_offer(&first, retitled)]).await;
    assert_eq!(export(db, &s.out, &[]).await["generation"], 3);
    let r = get(&url, Some(&key), &[("if-none-match", &e2)]).await;
    assert_eq!((r.status(), generation(&r)), (StatusCode::OK, "3".into()));
    let e3 = etag(&r);
    assert_eq!(r.bytes().await.unwrap(), std::fs::read(&s.out).unwrap());
    let r = get(&url, Some(&key), &[gz, ("if-none-match", &e2_gz)]).await;
    assert_eq!((r.status(), generation(&r)), (StatusCode::OK, "3".into()));
    assert_eq!(
        gunzip(&r.bytes().await.unwrap()),
        std::fs::read(&s.out).unwrap()
    );
    let r = get(&url, Some(&key), &[("if-none-match", &e3)]).await;
    assert_eq!(
        (r.status(), generation(&r)),
        (StatusCode::NOT_MODIFIED, "3".into())
    );
    server.stop().await;
}

/// Before any generation: /ready says so and the feed answers 503.
async fn not_ready_before_the_first_generation(db: &TestDb) {
    let key = add_partner(db, "early", &[]).await;
    let server = start(db, |_| {}).await;
    let r = get(&server.url("/ready"), None, &[]).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = get(&server.url("/feed/lheo.xml"), Some(&key), &[]).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        get(&server.url("/health"), None, &[]).await.status(),
        StatusCode::OK
    );
    server.stop().await;
}

// ----- Scopes: exits, entries, every route (issue 24) ----------------------------------

/// The three Mayenne (53) offers of the fixtures whose sites move to Nantes.
const MAYENNE: [&str; 3] = ["19801-90412", "19855-90501", "20102-90911"];
/// The organismes whose sites are all in Mayenne.
const MAYENNE_ORGANISMES: [&str; 2] = ["52904418200275", "89033214100195"];
const CLES_AVENIR: &str = "PROGRAMME REGION - PREPA Clés Avenir";
const AVENIR_SUP: &str = "PROGRAMME REGION - PREPA Avenir Sup";

/// The fixture organismes `sirets`, every site moved to Nantes (or as they are).
fn organismes(sirets: &[&str], to_nantes: bool) -> Vec<Value> {
    read_lines(Path::new(FIXTURES))
        .into_iter()
        .filter(|l| {
            l.get("organisme")
                .is_some_and(|o| sirets.contains(&o["siret"].as_str().unwrap()))
        })
        .map(|mut l| {
            if to_nantes {
                for site in l["organisme"]["sites"].as_array_mut().unwrap() {
                    let a = &mut site["adresse"];
                    a["code_postal"] = Value::from("44000");
                    a["ville"] = Value::from("Nantes");
                    a["code_insee"] = Value::from("44109");
                }
            }
            l
        })
        .collect()
}

/// A partner's copy (numero → hash in JSON, → `<formation>` in LHÉO) after following the
/// changes feed from `cursor` to `has_more: false` (two entries a page), every LHÉO page
/// validated; returns the last cursor and every numero it was told about.
async fn follow(
    server: &Server,
    dir: &Path,
    key: &str,
    cursor: &str,
    lheo: bool,
    copy: &mut BTreeMap<String, String>,
) -> (String, BTreeSet<String>) {
    let mut cursor = cursor.to_owned();
    let mut told = BTreeSet::new();
    for _ in 0..100 {
        let url = server.url(&format!(
            "/feed/changes?cursor={cursor}&limit=2{}",
            if lheo { "&format=lheo" } else { "" }
        ));
        let r = get(&url, Some(key), &[]).await;
        let (status, headers) = (r.status(), r.headers().clone());
        let body = r.bytes().await.unwrap();
        assert!(
            status.is_success(),
            "{status}: {}",
            String::from_utf8_lossy(&body)
        );
        let mut deleted: Vec<String> = Vec::new();
        if lheo && status == StatusCode::NO_CONTENT {
            let list = h(&headers, "lheo-feed-retraits");
            deleted.extend(list.split(',').filter(|s| !s.is_empty()).map(str::to_owned));
        } else if lheo {
            assert_xml_valid(dir, &body);
            let text = String::from_utf8(body.to_vec()).unwrap();
            for (n, f) in fragments(&text) {
                told.insert(n.clone());
                copy.insert(n, f);
            }
            deleted.extend(
                text.split("<extra info=\"retrait\" numero=\"")
                    .skip(1)
                    .map(|t| t.split('"').next().unwrap().to_owned()),
            );
        } else {
            let page: Value = serde_json::from_slice(&body).unwrap();
            assert!(changes_schema().is_valid(&page), "{page}");
            for e in page["entries"].as_array().unwrap() {
                let n = e["numero"].as_str().unwrap().to_owned();
                match e["op"].as_str().unwrap() {
                    "upsert" => {
                        copy.insert(n.clone(), e["hash"].as_str().unwrap().to_owned());
                    }
                    _ => deleted.push(n.clone()),
                }
                told.insert(n);
            }
        }
        for n in deleted {
            copy.remove(&n);
            told.insert(n);
        }
        cursor = h(&headers, "lheo-feed-next-cursor").to_owned();
        if h(&headers, "lheo-feed-has-more") == "false" {
            return (cursor, told);
        }
    }
    panic!("the changes feed did not end in 100 pages");
}

/// `<formation>` elements of a LHÉO document, by numero.
fn fragments(xml: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = xml;
    while let Some(at) = rest.find("<formation numero=\"") {
        let from = &rest[at..];
        let end = from.find("</formation>").unwrap() + "</formation>".len();
        let numero = from["<formation numero=\"".len()..]
            .split('"')
            .next()
            .unwrap();
        out.insert(numero.to_owned(), from[..end].to_owned());
        rest = &from[end..];
    }
    out
}

/// A partner's scoped snapshot now: (numero → hash, numero → `<formation>`) and the cursor
/// that continues after it.
async fn scoped_snapshot(
    server: &Server,
    db: &TestDb,
    key: &str,
) -> (BTreeMap<String, String>, BTreeMap<String, String>, String) {
    let r = get(&server.url("/feed/lheo.xml"), Some(key), &[]).await;
    let status = r.status();
    let cursor = r
        .headers()
        .get("lheo-feed-cursor")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    if status == StatusCode::NOT_FOUND {
        assert!(text.contains("empty_scope"), "{text}");
        return (BTreeMap::new(), BTreeMap::new(), String::new());
    }
    assert_eq!(status, StatusCode::OK, "{text}");
    let frags = fragments(&text);
    let store = db.open().await;
    let mut hashes = BTreeMap::new();
    for n in frags.keys() {
        let row = store.published_offer(n.parse().unwrap()).await.unwrap();
        hashes.insert(n.clone(), row.unwrap().hash);
    }
    (hashes, frags, cursor.unwrap())
}

/// The scenario: the partner of département 53 follows the changes from its
/// snapshot's cursor while the Mayenne sites move to Nantes and back; a programme partner
/// and a dispositif partner while an offer changes programme. Each is told to drop what
/// left its scope and to take what entered it, in JSON and in LHÉO, and ends holding its
/// scoped snapshot; a partner whose scope the moves never touched hears nothing of them.
async fn offers_leaving_and_entering_a_scope_are_reported(db: &TestDb) {
    let s = setup(db).await;
    let national = add_partner(db, "national", &[]).await;
    let p53 = add_partner(db, "mayenne", &["departement:53"]).await;
    let p49 = add_partner(db, "maine-et-loire", &["departement:49"]).await;
    let prog = add_partner(db, "cles", &[&format!("programme:{CLES_AVENIR}")]).await;
    let disp = add_partner(db, "sup", &[&format!("dispositif:{AVENIR_SUP}")]).await;
    let server = start(db, |_| {}).await;
    let (h53, f53, c53) = scoped_snapshot(&server, db, &p53).await;
    for n in MAYENNE {
        assert!(h53.contains_key(n), "{n} is not in 53's snapshot: {h53:?}");
    }
    let (_, _, c49) = scoped_snapshot(&server, db, &p49).await;
    let (hp1, _, cp1) = scoped_snapshot(&server, db, &prog).await;

    // Generation 2: every Mayenne site moves to Nantes.
    import_edits(db, s.dir.path(), &organismes(&MAYENNE_ORGANISMES, true)).await;
    export(db, &s.out, &[]).await;
    let (want_h, want_f, _) = scoped_snapshot(&server, db, &p53).await;
    for lheo in [false, true] {
        let mut copy = if lheo { f53.clone() } else { h53.clone() };
        let (_, told) = follow(&server, s.dir.path(), &p53, &c53, lheo, &mut copy).await;
        assert_eq!(
            copy,
            if lheo { &want_f } else { &want_h }.clone(),
            "lheo: {lheo}"
        );
        for n in MAYENNE {
            assert!(
                !copy.contains_key(n) && told.contains(n),
                "{n} (lheo: {lheo})"
            );
        }
    }
    let (c53_2, _) = follow(&server, s.dir.path(), &p53, &c53, false, &mut h53.clone()).await;
    // Maine-et-Loire never had them, and is told nothing of them.
    let (_, told) = follow(
        &server,
        s.dir.path(),
        &p49,
        &c49,
        false,
        &mut BTreeMap::new(),
    )
    .await;
    assert!(told.is_empty(), "{told:?}");

    // Generation 3: an offer moves from PREPA Clés Avenir to PREPA Avenir Sup.
    let moved = "19802-90420";
    let (hd2, fd2, cd2) = scoped_snapshot(&server, db, &disp).await;
    let to_sup = edited_offer(moved, |o| {
        for session in o["sessions"].as_array_mut().unwrap() {
            session["dispositif"]["programme"] = Value::from(AVENIR_SUP);
        }
    });
    import_edits(db, s.dir.path(), &[to_sup]).await;
    export(db, &s.out, &[]).await;
    // The programme partner, from generation 1 across generations 2 and 3, in LHÉO.
    let (_, fp3, _) = scoped_snapshot(&server, db, &prog).await;
    let mut copy = fragments(&std::fs::read_to_string(&s.out).unwrap());
    copy.retain(|n, _| hp1.contains_key(n));
    follow(&server, s.dir.path(), &prog, &cp1, true, &mut copy).await;
    assert!(!copy.contains_key(moved));
    assert_eq!(
        copy.keys().collect::<Vec<_>>(),
        fp3.keys().collect::<Vec<_>>()
    );
    // The dispositif partner takes it, in both formats.
    let (hd3, fd3, _) = scoped_snapshot(&server, db, &disp).await;
    assert!(hd3.contains_key(moved) && !hd2.contains_key(moved));
    for (mut copy, want, lheo) in [(hd2, &hd3, false), (fd2, &fd3, true)] {
        follow(&server, s.dir.path(), &disp, &cd2, lheo, &mut copy).await;
        assert_eq!(&copy, want, "lheo: {lheo}");
    }
    // Out of scope, the offer is unknown to the programme partner; the other has it.
    let url = server.url(&format!("/feed/offres/{moved}"));
    assert_eq!(
        get(&url, Some(&prog), &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(&url, Some(&disp), &[]).await.status(), StatusCode::OK);

    // Generation 4: the sites come back; the partner of 53 takes its offers again.
    import_edits(db, s.dir.path(), &organismes(&MAYENNE_ORGANISMES, false)).await;
    export(db, &s.out, &[]).await;
    let (want_h, want_f, _) = scoped_snapshot(&server, db, &p53).await;
    assert_eq!(
        want_h.keys().collect::<Vec<_>>(),
        h53.keys().collect::<Vec<_>>()
    );
    let mut copy = BTreeMap::new();
    follow(&server, s.dir.path(), &p53, &c53_2, false, &mut copy).await;
    assert_eq!(copy, want_h);
    let mut copy = BTreeMap::new();
    follow(&server, s.dir.path(), &p53, &c53_2, true, &mut copy).await;
    assert_eq!(copy, want_f);

    // Generation 5 withdraws a Mayenne offer: 410 in scope, 404 (unknown) out of it.
    import_edits(db, s.dir.path(), &[edited_offer(MAYENNE[2], unvalidated)]).await;
    export(db, &s.out, &[]).await;
    let url = server.url(&format!("/feed/offres/{}", MAYENNE[2]));
    let r = get(&url, Some(&p53), &[]).await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "withdrawn");
    let r = get(&url, Some(&p49), &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unknown_offer");
    assert_eq!(
        get(&url, Some(&national), &[]).await.status(),
        StatusCode::GONE
    );

    // The operator's routes refuse partner keys, and requests with no key.
    for path in [
        "/",
        "/status/rejections.csv",
        "/admin/runs",
        "/admin/runs/1",
    ] {
        for key in [Some(national.as_str()), Some(p53.as_str()), None] {
            let r = get(&server.url(path), key, &[]).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} with {key:?}");
        }
        // The admin key gets through (no run 1 was requested: 404, after the check).
        let r = client()
            .get(server.url(path))
            .basic_auth("admin", Some(ADMIN_KEY));
        let status = r.send().await.unwrap().status();
        assert!(
            status.is_success() || path == "/admin/runs/1",
            "{path}: {status}"
        );
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = client()
        .post(server.url("/admin/runs"))
        .bearer_auth(&national);
    assert_eq!(r.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

backend_tests!(
    a_partner_pulls_the_snapshot_then_the_changes,
    keys_scopes_and_limits,
    paging_across_a_generation_change_and_stale_cursors,
    a_partner_never_sees_half_a_generation,
    the_status_page_shows_the_cli_numbers,
    not_ready_before_the_first_generation,
    a_large_snapshot_is_served_whole,
    a_new_generation_is_seen_by_the_next_conditional_request,
    offers_leaving_and_entering_a_scope_are_reported,
);
