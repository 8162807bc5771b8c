//! PostgreSQL's own faults (issue 21, point 3, `docs/generations.md` "When the database
//! goes away"): every session of the daemons cut with `pg_terminate_backend` in the middle
//! of an export's commit, with the export lock's session among them. The export is done
//! again, one generation results, no daemon exits, and the feed answers again.

mod common;

use std::time::{Duration, Instant};

use common::hosts::{command, configure, ok, start};
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
    let (out_a, config_a) = configure(dir.path(), &db, "a");
    let (out_b, config_b) = configure(dir.path(), &db, "b");
    ok(command(
        &config_a,
        &["import-region", "fixtures/region-2025.csv"],
    ));
    ok(command(&config_a, &["import", "fixtures/offres.jsonl"]));
    let partner: serde_json::Value =
        serde_json::from_str(&ok(command(&config_a, &["partner", "add", "p", "--json"]))).unwrap();
    let key = partner["key"].as_str().unwrap().to_owned();

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
