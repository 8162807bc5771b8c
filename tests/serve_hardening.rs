//! Issue 18, item 5: the smaller faults of what faces the outside. The real server on a
//! loopback port over real SQLite and PostgreSQL stores (the partners' keys are in the
//! store); the real binary for the admin key file and the gzip bound.

mod common;

use common::server::{start, ADMIN_KEY};

use std::time::Duration;

use common::TestDb;
use reqwest::StatusCode;
use serde_json::Value;

// The server: common::server (start, Server, ADMIN_KEY).

async fn partner(db: &TestDb, name: &str) -> String {
    let store = db.open().await;
    lheo_feed::serve::partners::add(&store, name, &[])
        .await
        .unwrap()
        .key
}

/// Asserts a JSON error body `{"error": code, "message": …}` with `status`.
async fn assert_json_error(r: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status, "{:?}", r.url().to_string());
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    let body: Value = serde_json::from_str(&r.text().await.unwrap()).expect("a JSON body");
    assert_eq!(body["error"], code, "{body}");
    assert!(!body["message"].as_str().unwrap().is_empty(), "{body}");
    body
}

#[tokio::test]
async fn every_error_is_json() {
    for db in common::test_databases().await {
        let key = partner(&db, "offre-info").await;
        let server = start(&db, |_| {}).await;
        let c = reqwest::Client::new();
        // An extractor's rejection: a negative limit.
        let r = c
            .get(server.url("/feed/changes?limit=-1"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_json_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
        // A path that does not decode as UTF-8.
        let r = c
            .get(server.url("/feed/offres/%FF%FE"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error());
        let status = r.status();
        assert_json_error(
            r,
            status,
            if status == 404 {
                "not_found"
            } else {
                "bad_request"
            },
        )
        .await;
        // A body over the limit (the admin route that takes a POST).
        let r = c
            .post(server.url("/admin/runs"))
            .bearer_auth(ADMIN_KEY)
            .body(vec![b'x'; 64 * 1024])
            .send()
            .await
            .unwrap();
        assert_json_error(r, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
        // A method the route does not have: 405, its Allow header kept.
        let r = c.delete(server.url("/health")).send().await.unwrap();
        assert!(r.headers().contains_key("allow"));
        assert_json_error(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
        server.stop().await;
    }
}

#[tokio::test]
async fn failed_authentications_are_limited_per_address() {
    for db in common::test_databases().await {
        let key = partner(&db, "kairos").await;
        let server = start(&db, |c| {
            c.auth_failures_burst = 5;
            c.auth_failures_per_minute = 6.0;
        })
        .await;
        let c = reqwest::Client::new();
        let snapshot = server.url("/feed/lheo.xml");
        // The right key works, and a request without a key is not a failed guess.
        for _ in 0..8 {
            let r = c.get(&snapshot).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        for i in 0..5 {
            let r = c
                .get(&snapshot)
                .bearer_auth(format!("lf_guess{i:040}"))
                .send()
                .await
                .unwrap();
            assert_json_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
        // Past the burst: 429 with Retry-After, for a wrong key and the right one alike
        // (a right guess cannot be told from a wrong one while blocked).
        for k in ["lf_guess-again", key.as_str()] {
            let r = c.get(&snapshot).bearer_auth(k).send().await.unwrap();
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=10).contains(&retry), "{retry}");
            assert_json_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_failures").await;
        }
        // The admin key is limited alike (the same address is blocked already).
        let r = c
            .get(server.url("/"))
            .basic_auth("admin", Some(ADMIN_KEY))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        server.stop().await;

        // On a fresh server, wrong admin keys alone block the address.
        let server = start(&db, |c| c.auth_failures_burst = 3).await;
        for _ in 0..3 {
            let r = c
                .get(server.url("/"))
                .basic_auth("admin", Some("wrong-admin-key-0123456789"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        let r = c
            .get(server.url("/"))
            .basic_auth("admin", Some(ADMIN_KEY))
            .send()
            .await
            .unwrap();
        assert_json_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_failures").await;
        server.stop().await;
    }
}

#[tokio::test]
async fn the_status_page_has_a_content_security_policy() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let db = common::sqlite_db();
    let server = start(&db, |_| {}).await;
    let r = reqwest::Client::new()
        .get(server.url("/"))
        .basic_auth("admin", Some(ADMIN_KEY))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let html = r.text().await.unwrap();
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // The page's one style sheet is the one the policy allows, by its hash.
    let style = html
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .expect("an inline style sheet")
        .0;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style));
    assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
    assert!(
        !html.contains("<script"),
        "no script is allowed, none is used"
    );
    server.stop().await;
}

#[cfg(unix)]
#[test]
fn an_admin_key_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let db = common::sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("admin.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut child = common::lheo_feed_command(
        &db,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-key-file",
            key.to_str().unwrap(),
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // Bounded: a server that accepted the key would run on; it is stopped after 10 s.
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("other users may read or write it"), "{err}");
    assert!(!err.contains("0123456789abcdef"), "{err}");
}

#[test]
fn a_gzip_bomb_is_refused_with_its_file_and_line() {
    let db = common::sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("offres.jsonl.gz");
    // 32 MiB of blank lines: a few tens of kilobytes of gzip.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut e, &vec![b'\n'; 32 << 20]).unwrap();
    std::fs::write(&bomb, e.finish().unwrap()).unwrap();
    let o = common::lheo_feed_command(&db, &["import", bomb.to_str().unwrap()])
        .env("LHEO_FEED_IMPORT_MAX_GUNZIPPED_BYTES", "1000000")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("offres.jsonl.gz"), "{err}");
    assert!(err.contains("max_gunzipped_bytes"), "{err}");
}

#[tokio::test]
async fn cursors_are_signed_by_a_key_the_database_keeps() {
    use hmac::Mac as _;
    for db in common::test_databases().await {
        let out = tempfile::tempdir().unwrap();
        let out_file = out.path().join("lheo.xml");
        common::ok(&db, &["import", "fixtures/offres.jsonl"]);
        common::ok(
            &db,
            &[
                "export",
                "--today",
                "2025-06-02",
                "--out",
                out_file.to_str().unwrap(),
            ],
        );
        let key = partner(&db, "ouiform").await;
        let a = start(&db, |_| {}).await;
        let c = reqwest::Client::new();
        let r = c
            .get(a.url("/feed/lheo.xml"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let cursor = r.headers()["lheo-feed-cursor"].to_str().unwrap().to_owned();
        assert!(cursor.starts_with("c3"), "{cursor}");
        // Another instance on the same database (a restart, a second server) accepts it.
        let b = start(&db, |_| {}).await;
        for server in [&a, &b] {
            let r = c
                .get(server.url(&format!("/feed/changes?cursor={cursor}")))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
        }
        // A cursor made up for another position, with any key but the server's, or with
        // the old recomputable checksum: 400.
        let mut body = Vec::new();
        for n in [1i64, 0, 0] {
            body.extend_from_slice(&n.to_be_bytes());
        }
        let mut forged = Vec::new();
        for guess in [[0u8; 32], [0xff; 32]] {
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(&guess).unwrap();
            m.update(&body);
            let mac = m.finalize().into_bytes();
            forged.push(format!(
                "c2{}{}",
                hex::encode(&body),
                hex::encode(&mac[..16])
            ));
        }
        let sum = <sha2::Sha256 as sha2::Digest>::digest(&body);
        forged.push(format!(
            "c1{}{}",
            hex::encode(&body),
            hex::encode(&sum[..4])
        ));
        for f in forged {
            let r = c
                .get(a.url(&format!("/feed/changes?cursor={f}")))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            assert_json_error(r, StatusCode::BAD_REQUEST, "bad_cursor").await;
        }
        a.stop().await;
        b.stop().await;
    }
}

#[tokio::test]
async fn the_contract_is_served_without_a_key() {
    let db = common::sqlite_db();
    let server = start(&db, |_| {}).await;
    let r = reqwest::get(server.url("/openapi.json")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for scheme in ["partnerKey", "adminBasic", "adminBearer"] {
        assert!(doc["components"]["securitySchemes"][scheme].is_object());
    }
    for header in ["ETag", "Cursor", "RetryAfter"] {
        assert!(doc["components"]["headers"][header].is_object());
    }
    assert!(doc["components"]["schemas"]["Error"].is_object());
    server.stop().await;
}
