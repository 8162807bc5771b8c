//! PostgreSQL's own faults (issue 21, point 3, `docs/generations.md` "When the database
//! goes away"): every session of the daemons cut with `pg_terminate_backend` in the middle
//! of an export's commit, with the export lock's session among them. The export is done
//! again, one generation results, no daemon exits, and the feed answers again.

mod common;

use std::time::{Duration, Instant};

use common::hosts::{add_partner, command, configure, import_fixtures, ok, start};
use common::TestDb;
use sqlx::{ConnectOptions, Connection};

/// Terminates every session on `db`'s database but the caller's; how many.
async fn terminate_sessions(db: &TestDb) -> i64 {
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let admin: sqlx::postgres::PgConnectOptions = common::pg_admin_url().parse().unwrap();
    let mut conn = admin.connect().await.unwrap();
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    n
}

/// The `numero` of each `<formation>` in a document, in document order.
fn formation_numeros<C: FromIterator<String>>(document: &str) -> C {
    document
        .split("<formation numero=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

fn runs(config: &std::path::Path) -> Vec<serde_json::Value> {
    let text = ok(command(config, &["runs", "--json"]));
    serde_json::from_str::<serde_json::Value>(&text)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("runs --json: {text}"))
}

/// The generations' numbers.
fn generations(config: &std::path::Path) -> Vec<i64> {
    let text = ok(command(config, &["generations", "--json"]));
    serde_json::from_str::<serde_json::Value>(&text)
        .unwrap()
        .as_array()
        .unwrap_or_else(|| panic!("generations --json: {text}"))
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_cut_during_a_commit_cost_a_retry_not_a_generation() {
    let Some(db) = common::pg_db().await else {
        return; // pg_db said why, loudly (and fails under CI)
    };
    let dir = tempfile::tempdir().unwrap();
    let (out_a, config_a) = configure(dir.path(), &db.url, "a", "");
    let (out_b, config_b) = configure(dir.path(), &db.url, "b", "");
    import_fixtures(&config_a);
    let key = add_partner(&config_a);

    // Host A pauses 3 s before each commit (the test hook); host B does not.
    let mut a = start(
        out_a,
        config_a.clone(),
        &[
            ("LHEO_FEED_TEST_PAUSE_AT", "before_commit"),
            ("LHEO_FEED_TEST_PAUSE_SECONDS", "3"),
        ],
    );
    ok(command(&config_a, &["runs", "request"]));
    a.wait_for("paused", Duration::from_secs(30)).await;
    // A holds the export lock and its write transaction is open: B, started now, waits.
    let mut b = start(out_b, config_b.clone(), &[]);
    let cut = terminate_sessions(&db).await;
    assert!(
        cut >= 2,
        "A's lock and transaction sessions at least, got {cut}"
    );

    // A's commit fails on its dead session; the lock died with its session, so B may take
    // it and do the run; A records the loss and the run is finished exactly once.
    a.wait_for(
        "export lost its database connection: retried at the next poll",
        Duration::from_secs(30),
    )
    .await;
    let end = Instant::now() + Duration::from_secs(60);
    let run = loop {
        let all = runs(&config_a);
        let pending = all
            .iter()
            .any(|r| ["queued", "running", "interrupted"].contains(&r["state"].as_str().unwrap()));
        if !pending {
            break all[0].clone();
        }
        assert!(
            Instant::now() < end,
            "the run never finished: {all:?}\nA:\n{}\nB:\n{}",
            a.log.lock().unwrap().join("\n"),
            b.log.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let logs = || {
        format!(
            "A:\n{}\nB:\n{}",
            a.log.lock().unwrap().join("\n"),
            b.log.lock().unwrap().join("\n")
        )
    };
    assert_eq!(run["state"], "succeeded", "{run}");
    // One generation (its number may be 2: the cut transaction drew 1 from the sequence).
    let made = generations(&config_a);
    assert_eq!(
        made.len(),
        1,
        "one generation, not two: {made:?}\n{}",
        logs()
    );
    assert_eq!(run["generation_id"], made[0], "{run}\n{}", logs());
    assert!(run["attempts"].as_i64().unwrap() >= 2, "retried: {run}");
    assert!(
        a.alive() && b.alive(),
        "no daemon exits on a lost connection"
    );

    // Serving: the sessions cut again, the next requests are answered (the pool opens new
    // ones), from both hosts.
    terminate_sessions(&db).await;
    for host in [&a, &b] {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let r = reqwest::Client::new()
                .get(format!("{}/feed/changes", host.base))
                .bearer_auth(&key)
                .send()
                .await;
            if r.as_ref()
                .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
            {
                let page: serde_json::Value = r.unwrap().json().await.unwrap();
                assert_eq!(page["generation"], made[0], "{page}");
                break;
            }
            assert!(
                Instant::now() < end,
                "{} never answered again: {r:?}",
                host.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(a.alive() && b.alive());
}

/// A push consumer on loopback that records each request's `webhook-id` and the offers
/// its document carries (the signature is `tests/daemon_e2e.rs`'s business).
#[derive(Clone, Default)]
struct Receiver {
    seen: std::sync::Arc<std::sync::Mutex<Vec<Request>>>,
    /// When set, the first request is held this long before its answer, and `arrived`
    /// is notified when it comes.
    hold_first: Option<Duration>,
    arrived: std::sync::Arc<tokio::sync::Notify>,
}

/// One request: its `webhook-id` and the offers its document carries.
type Request = (String, Vec<String>);

impl Receiver {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/lheo", listener.local_addr().unwrap());
        let seen = self.seen.clone();
        let (hold, arrived) = (self.hold_first, self.arrived.clone());
        let app = axum::Router::new()
            .route(
                "/lheo",
                axum::routing::post(
                    move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                        let (seen, arrived) = (seen.clone(), arrived.clone());
                        async move {
                            let id = headers
                                .get("webhook-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            let text = String::from_utf8_lossy(&body);
                            let numeros = formation_numeros(&text);
                            let first = {
                                let mut seen = seen.lock().unwrap();
                                seen.push((id, numeros));
                                seen.len() == 1
                            };
                            if let Some(hold) = hold.filter(|_| first) {
                                arrived.notify_one();
                                tokio::time::sleep(hold).await;
                            }
                            axum::http::StatusCode::OK
                        }
                    },
                ),
            )
            .layer(axum::extract::DefaultBodyLimit::max(64 << 20));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    /// Waits until every offer of `published` was applied, within `within`, then checks
    /// that each was applied exactly once and nothing else was.
    async fn each_applied_once(
        &self,
        published: &std::collections::BTreeSet<String>,
        within: Duration,
        log: impl Fn() -> String,
    ) {
        let end = Instant::now() + within;
        while self.applied().len() < published.len() {
            assert!(Instant::now() < end, "not delivered:\n{}", log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let applied = self.applied();
        assert_eq!(
            applied
                .keys()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>(),
            *published
        );
        assert!(
            applied.values().all(|&n| n == 1),
            "each offer applied once: {applied:?}"
        );
    }

    /// How many times each offer was applied, deduplicated on `webhook-id` as a consumer
    /// must.
    fn applied(&self) -> std::collections::BTreeMap<String, usize> {
        let mut ids = std::collections::HashSet::new();
        let mut counts = std::collections::BTreeMap::new();
        for (id, numeros) in self.seen.lock().unwrap().iter() {
            if ids.insert(id.clone()) {
                for n in numeros {
                    *counts.entry(n.clone()).or_insert(0) += 1;
                }
            }
        }
        counts
    }
}

/// PostgreSQL restarted (a server of the test's own) while a run's export waits to commit:
/// the run is done again once the server is back, one generation results, and the push
/// consumer gets each published offer exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_during_a_run_costs_a_retry_and_delivers_each_offer_once() {
    let Some(cluster) = common::pg_cluster::PgCluster::start("PostgreSQL restarted during a run")
    else {
        return;
    };
    cluster.create_database("lheo").await;
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let consumer = format!(
        "[push]\npoll_interval = \"100ms\"\n\n[[consumers]]\nname = \"national\"\nurl = \"{url}\"\n\
         signing_secrets = [{{ env = \"LHEO_PG_FAULTS_WHSEC\" }}]\ntimeout = \"2s\"\n\
         retry_schedule = [\"0s\", \"100ms\", \"200ms\", \"500ms\", \"1s\", \"2s\"]\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let (out, config) = configure(dir.path(), &cluster.url("lheo"), "a", &consumer);
    import_fixtures(&config);
    let mut daemon = start(
        out.clone(),
        config.clone(),
        &[
            ("LHEO_FEED_TEST_PAUSE_AT", "before_commit"),
            ("LHEO_FEED_TEST_PAUSE_SECONDS", "3"),
            (
                "LHEO_PG_FAULTS_WHSEC",
                "pg-faults-signing-key-0123456789abcdef",
            ),
        ],
    );
    ok(command(&config, &["runs", "request"]));
    daemon.wait_for("paused", Duration::from_secs(30)).await;
    cluster.restart();

    let end = Instant::now() + Duration::from_secs(90);
    let run = loop {
        // The CLI may find the server still starting: ask again.
        let all = command(&config, &["runs", "--json"]).output().unwrap();
        if all.status.success() {
            let all: Vec<serde_json::Value> = serde_json::from_slice(&all.stdout).unwrap();
            if all.iter().all(|r| {
                !["queued", "running", "interrupted"].contains(&r["state"].as_str().unwrap())
            }) {
                break all[0].clone();
            }
        }
        assert!(
            Instant::now() < end,
            "the run never finished:\n{}",
            daemon.log.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let log = || daemon.log.lock().unwrap().join("\n");
    assert_eq!(run["state"], "succeeded", "{run}\n{}", log());
    assert!(run["attempts"].as_i64().unwrap() >= 2, "{run}");
    let made = generations(&config);
    assert_eq!(made.len(), 1, "one generation: {made:?}\n{}", log());

    // The published offers, each applied exactly once by the consumer.
    let published: std::collections::BTreeSet<String> =
        formation_numeros(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(published.len(), 23);
    receiver
        .each_applied_once(&published, Duration::from_secs(30), log)
        .await;
    assert!(daemon.alive(), "the daemon outlived the restart");
}

/// Every session cut while the push consumer holds its first delivery: the pusher records
/// nothing of it on a dead session, so the batch goes again under the same `webhook-id`;
/// the consumer, deduplicating on it, applies each offer exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_cut_during_a_push_deliver_each_offer_once() {
    let Some(db) = common::pg_db().await else {
        return;
    };
    let receiver = Receiver {
        hold_first: Some(Duration::from_millis(1500)),
        ..Receiver::default()
    };
    let url = receiver.start().await;
    let consumer = format!(
        "[push]\npoll_interval = \"100ms\"\nlease_margin = \"300ms\"\n\n[[consumers]]\n\
         name = \"national\"\nurl = \"{url}\"\n\
         signing_secrets = [{{ env = \"LHEO_PG_FAULTS_WHSEC\" }}]\ntimeout = \"5s\"\n\
         max_offres = 5\nretry_schedule = [\"0s\", \"100ms\", \"200ms\", \"500ms\", \"1s\"]\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let (out, config) = configure(dir.path(), &db.url, "a", &consumer);
    import_fixtures(&config);
    let mut daemon = start(
        out.clone(),
        config.clone(),
        &[(
            "LHEO_PG_FAULTS_WHSEC",
            "pg-faults-signing-key-0123456789abcdef",
        )],
    );
    ok(command(&config, &["runs", "request"]));
    tokio::time::timeout(Duration::from_secs(30), receiver.arrived.notified())
        .await
        .expect("the first batch never came");
    let cut = terminate_sessions(&db).await;
    assert!(cut >= 1, "the pusher's sessions");

    let published: std::collections::BTreeSet<String> = loop {
        if let Ok(text) = std::fs::read_to_string(&out) {
            break formation_numeros(&text);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(published.len(), 23);
    let logs = daemon.log.clone();
    let log = || logs.lock().unwrap().join("\n");
    receiver
        .each_applied_once(&published, Duration::from_secs(60), log)
        .await;
    assert_eq!(generations(&config).len(), 1);
    let alive = daemon.alive();
    assert!(alive, "the daemon outlived the cut\n{}", log());
}
