//! Black-box tests of `lheo-feed run` (issue 7) with the real binary on real SQLite and
//! PostgreSQL: on-demand and caught-up runs, one daemon per SQLite file, the export
//! command waiting behind the daemon's lock, two daemons on one PostgreSQL with the
//! leader killed by `kill -9` mid-export, and `config check`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::{pg_db, sqlite_db, TestDb};
use serde_json::Value;

const TODAY: &str = "2025-06-02";
const FIXTURES: &str = "fixtures/offres.jsonl";
/// A schedule that does not fire during a test (1 January at midnight).
const NEVER: &str = "0 0 0 1 1 *";

fn command(db: &TestDb, out: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lheo-feed"));
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LHEO_FEED_DATABASE_URL", &db.url)
        .env("LHEO_FEED_TODAY", TODAY)
        .env("LHEO_FEED_EXPORT_OUT", out)
        .env("LHEO_FEED_SCHEDULE_CRON", NEVER)
        .env("LHEO_FEED_SCHEDULE_CATCH_UP", "false")
        .env("LHEO_FEED_SCHEDULE_POLL_SECONDS", "1")
        // Every daemon serves the feed: on a port of its own, so that daemons of
        // parallel tests (and two of one test) never collide.
        .env("LHEO_FEED_SERVE_LISTEN", "127.0.0.1:0")
        .env("LHEO_FEED_LOG_FORMAT", "human")
        .env("LHEO_FEED_LOG_FILTER", "info");
    c
}

fn ok(db: &TestDb, out: &Path, args: &[&str]) -> String {
    let o = command(db, out, args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?} on {:?}: {}",
        db.backend,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn runs(db: &TestDb, out: &Path) -> Vec<Value> {
    serde_json::from_str(&ok(db, out, &["runs", "--json", "--limit", "100"])).unwrap()
}

fn generations(db: &TestDb, out: &Path) -> Vec<Value> {
    serde_json::from_str(&ok(db, out, &["generations", "--json"])).unwrap()
}

/// A running daemon whose stderr lines are collected.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn start(mut c: Command) -> Daemon {
        let mut child = c
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `what`.
    fn wait_for(&mut self, what: &str, within: Duration) {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(what);
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!(
                    "no line with {what:?} within {within:?}; stderr so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn sigterm(&mut self) -> std::process::ExitStatus {
        let r = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(r.success());
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < end, "no exit within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `runs` until `done` holds of them.
fn wait_runs(
    db: &TestDb,
    out: &Path,
    within: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let end = Instant::now() + within;
    loop {
        let r = runs(db, out);
        if done(&r) {
            return r;
        }
        assert!(
            Instant::now() < end,
            "runs not as expected within {within:?}: {r:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What a consumer on loopback received: per request, its `webhook-id` and the numeros
/// of the offers in its body.
type Received = Arc<Mutex<Vec<(String, Vec<String>)>>>;

/// A consumer on loopback (its own thread and runtime, so that the blocking waits of
/// these tests never stall it) and the configuration that makes the daemons push to it.
fn consumer(dir: &Path) -> (PathBuf, Received) {
    let received: Received = Arc::default();
    let (tx, rx) = mpsc::channel();
    let log = received.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/lheo",
                axum::routing::post(
                    move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                        let log = log.clone();
                        async move {
                            let id = headers
                                .get("webhook-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            let text = String::from_utf8_lossy(&body);
                            let numeros = text
                                .split("<formation numero=\"")
                                .skip(1)
                                .map(|r| r[..r.find('"').unwrap()].to_owned())
                                .collect();
                            log.lock().unwrap().push((id, numeros));
                            axum::http::StatusCode::NO_CONTENT
                        }
                    },
                ),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    let config = dir.join("lheo-feed.toml");
    std::fs::write(
        &config,
        format!(
            "[push]\nlease_margin = \"300ms\"\npoll_interval = \"200ms\"\n\n\
             [[consumers]]\nname = \"kairos\"\nurl = \"http://{addr}/lheo\"\n\
             signing_secrets = [{{ env = \"LHEO_FEED_TEST_WHSEC\" }}]\ntimeout = \"2s\"\n\
             retry_schedule = [\"0s\", \"20ms\", \"50ms\", \"100ms\"]\n"
        ),
    )
    .unwrap();
    (config, received)
}

fn setup(db: &TestDb) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out").join("lheo.xml");
    ok(db, &out, &["import", FIXTURES]);
    (dir, out)
}

#[test]
fn sqlite_daemon_runs_on_demand_refuses_a_second_instance_and_shares_the_lock() {
    let db = sqlite_db();
    let (_dir, out) = setup(&db);

    // An on-demand run, paused mid-export by the test hook.
    let id = ok(&db, &out, &["runs", "request"]);
    assert!(id.contains("run 1 queued"), "{id}");
    let mut a = Daemon::start({
        let mut c = command(&db, &out, &[]);
        c.env("LHEO_FEED_TEST_PAUSE_AT", "mid_write");
        c
    });
    a.wait_for("lheo-feed run: started", Duration::from_secs(20));
    a.wait_for("test hook", Duration::from_secs(30));
    let r = runs(&db, &out);
    assert_eq!(r[0]["state"], "running", "{r:#?}");
    assert_eq!(r[0]["progress"], "export");

    // A second daemon on the same file is refused, clearly.
    let second = command(&db, &out, &["run"]).output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&second.stderr);
    assert!(
        msg.contains("only one daemon may run on a SQLite store")
            && msg.contains(&format!("process {}", a.pid())),
        "{msg}"
    );

    // The export command waits behind the daemon's export lock…
    let mut export = command(&db, &out, &["export", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(export.try_wait().unwrap().is_none(), "the export waits");
    // …and takes it when the holder dies.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let o: Output = export.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("another export is running"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["generation"], 1);
    common::assert_schema_valid(&out);

    // A new daemon resumes the run killed mid-export. The CLI's export made generation 1
    // meanwhile, after the run started: that covers the run, which is recorded with it
    // rather than exporting again.
    let mut b = Daemon::start(command(&db, &out, &[]));
    let r = wait_runs(&db, &out, Duration::from_secs(30), |r| {
        r[0]["state"] == "succeeded"
    });
    assert_eq!(r[0]["attempts"], 2, "{r:#?}");
    assert_eq!(r[0]["generation_id"], 1);
    assert_eq!(generations(&db, &out).len(), 1, "no generation made twice");

    // Another request: a new generation; then a clean stop.
    ok(&db, &out, &["runs", "request"]);
    let r = wait_runs(&db, &out, Duration::from_secs(30), |r| {
        r.len() == 2 && r[0]["state"] == "succeeded"
    });
    assert_eq!(r[0]["generation_id"], 2);
    assert_eq!(r[0]["kind"], "on_demand");
    // The daemon unlinks generation 1's files itself, in the background beside the push,
    // so that it holds one document between runs (docs/generations.md).
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let names: Vec<String> = std::fs::read_dir(out.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        if names
            .iter()
            .all(|n| !n.contains("generation-1") && !n.contains("superseded-"))
        {
            assert!(
                names.iter().any(|n| n.ends_with("generation-2")),
                "{names:?}"
            );
            break;
        }
        assert!(std::time::Instant::now() < end, "still held: {names:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = b.sigterm();
    assert!(status.success(), "{status:?}");
    b.wait_for("lheo-feed run: stopped", Duration::from_secs(5));
}

#[test]
fn a_missed_slot_is_caught_up_once_at_start_up() {
    let db = sqlite_db();
    let (_dir, out) = setup(&db);
    let start = |db: &TestDb| {
        let mut c = command(db, &out, &[]);
        // Every day at 00:00:00 UTC — always passed within the last 24 hours.
        c.env("LHEO_FEED_SCHEDULE_CRON", "0 0 0 * * *")
            .env("LHEO_FEED_SCHEDULE_TIMEZONE", "UTC")
            .env("LHEO_FEED_SCHEDULE_CATCH_UP", "true")
            .env("LHEO_FEED_SCHEDULE_CATCH_UP_WINDOW_HOURS", "25");
        Daemon::start(c)
    };
    let mut d = start(&db);
    let r = wait_runs(&db, &out, Duration::from_secs(30), |r| {
        r.first().is_some_and(|r| r["state"] == "succeeded")
    });
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["kind"], "catch_up");
    let slot = r[0]["scheduled_for"].as_str().unwrap().to_owned();
    assert!(slot.contains("T00:00:00"), "{slot}");
    assert!(d.sigterm().success());

    // Started again: that slot has its run; nothing more to catch up.
    let mut d = start(&db);
    d.wait_for("lheo-feed run: started", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(d.sigterm().success());
    assert_eq!(runs(&db, &out).len(), 1);
    assert_eq!(generations(&db, &out).len(), 1);
}

/// Two daemons on one PostgreSQL database: the one running an export is killed with
/// `kill -9` mid-export; the other takes the advisory lock (released by the server when
/// the killed session ends), resumes the run and finishes it; every generation is made
/// once. Then both run scheduled slots every two seconds without doing one twice.
#[tokio::test]
async fn two_daemons_on_postgres_survive_the_leader_killed_mid_export() {
    let Some(db) = pg_db().await else { return };
    let (dir, out) = setup(&db);
    // Both daemons push to one consumer: the outbox is shared.
    let (config, received) = consumer(dir.path());
    let with_consumer = |mut c: Command| {
        c.env("LHEO_FEED_CONFIG", &config)
            .env("LHEO_FEED_TEST_WHSEC", "test-signing-key");
        c
    };

    ok(&db, &out, &["runs", "request"]);
    let mut leader = Daemon::start({
        let mut c = with_consumer(command(&db, &out, &[]));
        c.env("LHEO_FEED_TEST_PAUSE_AT", "before_commit");
        c
    });
    leader.wait_for("test hook", Duration::from_secs(30));
    let mut other = Daemon::start(with_consumer(command(&db, &out, &[])));
    other.wait_for("lheo-feed run: started", Duration::from_secs(20));
    // While the leader holds the lock, the other does not touch its run.
    std::thread::sleep(Duration::from_millis(2500));
    let r = runs(&db, &out);
    assert_eq!(r[0]["state"], "running");
    assert!(
        r[0]["instance"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", leader.pid())),
        "{r:#?}"
    );
    assert!(generations(&db, &out).is_empty());

    // kill -9 the leader, paused just before its commit.
    leader.child.kill().unwrap();
    leader.child.wait().unwrap();
    let r = wait_runs(&db, &out, Duration::from_secs(30), |r| {
        r[0]["state"] == "succeeded"
    });
    assert_eq!(r[0]["attempts"], 2, "{r:#?}");
    assert!(
        r[0]["instance"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", other.pid())),
        "{r:#?}"
    );
    let g = generations(&db, &out);
    assert_eq!(g.len(), 1, "one generation for the run: {g:#?}");
    assert_eq!(r[0]["generation_id"], g[0]["id"]);
    common::assert_schema_valid(&out);
    other.wait_for("resuming it", Duration::from_secs(5));
    // The one generation reached the consumer once: every published offer, each in one
    // request only (a retried request keeps its webhook-id; none was needed here).
    let published = g[0]["published"].as_u64().unwrap() as usize;
    let end = Instant::now() + Duration::from_secs(30);
    let offers = loop {
        let log = received.lock().unwrap().clone();
        let mut by_id: Vec<(String, Vec<String>)> = log.clone();
        by_id.sort();
        by_id.dedup_by(|a, b| a.0 == b.0);
        let offers: Vec<String> = by_id.into_iter().flat_map(|(_, n)| n).collect();
        if offers.len() >= published || Instant::now() > end {
            break offers;
        }
        drop(log);
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut distinct = offers.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), published, "every published offer delivered");
    assert_eq!(
        offers.len(),
        published,
        "no offer delivered twice: {offers:?}"
    );
    assert!(other.sigterm().success());

    // Two daemons, a slot every 2 seconds, for a while.
    let every_two = |db: &TestDb| {
        let mut c = command(db, &out, &[]);
        c.env("LHEO_FEED_SCHEDULE_CRON", "*/2 * * * * *");
        Daemon::start(c)
    };
    let mut a = every_two(&db);
    let mut b = every_two(&db);
    wait_runs(&db, &out, Duration::from_secs(40), |r| {
        r.iter()
            .filter(|r| r["kind"] == "scheduled" && r["state"] == "succeeded")
            .count()
            >= 4
    });
    assert!(a.sigterm().success());
    assert!(b.sigterm().success());
    let r = runs(&db, &out);
    let scheduled: Vec<&Value> = r.iter().filter(|r| r["kind"] == "scheduled").collect();
    let mut slots: Vec<&str> = scheduled
        .iter()
        .map(|r| r["scheduled_for"].as_str().unwrap())
        .collect();
    slots.sort();
    let n = slots.len();
    slots.dedup();
    assert_eq!(slots.len(), n, "a slot recorded twice: {r:#?}");
    let succeeded: Vec<i64> = r
        .iter()
        .filter(|r| r["state"] == "succeeded")
        .map(|r| r["generation_id"].as_i64().unwrap())
        .collect();
    let mut distinct = succeeded.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        succeeded.len(),
        "a generation claimed by two runs"
    );
    assert_eq!(generations(&db, &out).len(), succeeded.len(), "{r:#?}");
    assert!(r.iter().all(|r| r["attempts"].as_i64() <= Some(2)));
}

#[test]
fn config_check_masks_secrets_and_locates_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lheo-feed.toml");
    std::fs::write(
        &file,
        "[store]\ndatabase_url = \"postgres://feed:pg-Secret-1@db/lheo\"\n\
         [serve]\nadmin_key_env = \"ADMIN_KEY\"\n\
         [[consumers]]\nname = \"kairos\"\nurl = \"https://kairos.example/lheo\"\n\
         auth = { kind = \"bearer\", token_env = \"KAIROS_TOKEN\" }\n",
    )
    .unwrap();
    let check = |extra: &[(&str, &str)], json: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lheo-feed"));
        c.env_clear()
            .env("ADMIN_KEY", "adm-Secret-3-0123456789")
            .args(["--config", file.to_str().unwrap(), "config", "check"]);
        if json {
            c.arg("--json");
        }
        for (k, v) in extra {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    for json in [false, true] {
        let o = check(&[("LHEO_FEED_SCHEDULE_CRON", "0 0 3 * * *")], json);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        // (A literal token is refused outright: tests/config_check.rs.)
        for secret in ["pg-Secret-1", "adm-Secret-3"] {
            assert!(!all.contains(secret), "{secret} shown:\n{all}");
        }
        assert!(all.contains("0 0 3 * * *"), "{all}");
        assert!(
            all.contains("schedule.cron (LHEO_FEED_SCHEDULE_CRON)"),
            "{all}"
        );
    }
    // A missing admin key variable is bad configuration.
    let mut c = Command::new(env!("CARGO_BIN_EXE_lheo-feed"));
    let o = c
        .env_clear()
        .args(["--config", file.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ADMIN_KEY is not set"));

    std::fs::write(&file, "[store]\n\n[schedule]\ncron = \"0 30 2 * * * *\"\n").unwrap();
    let o = check(&[], false);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        format!(
            "lheo-feed: {}:4: schedule.cron: 7 fields; expected 6 (SEC MIN HOUR DOM MON DOW, \
             e.g. \"0 30 2 * * *\") or 5 (MIN HOUR DOM MON DOW)",
            file.display()
        )
    );
    // Every command refuses a bad configuration the same way.
    let o = Command::new(env!("CARGO_BIN_EXE_lheo-feed"))
        .env_clear()
        .args(["--config", file.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// SIGTERM during an export: it gets the grace period, is then abandoned (rolled back,
/// the run marked interrupted) and resumed by the next start.
#[test]
fn sigterm_mid_export_rolls_back_and_the_next_start_resumes() {
    let db = sqlite_db();
    let (_dir, out) = setup(&db);
    ok(&db, &out, &["runs", "request"]);
    let mut d = Daemon::start({
        let mut c = command(&db, &out, &[]);
        c.env("LHEO_FEED_TEST_PAUSE_AT", "before_commit")
            .env("LHEO_FEED_SCHEDULE_SHUTDOWN_GRACE_SECONDS", "1");
        c
    });
    d.wait_for("test hook", Duration::from_secs(30));
    let asked = Instant::now();
    assert!(d.sigterm().success());
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    d.wait_for("export abandoned at shutdown", Duration::from_secs(5));
    let r = runs(&db, &out);
    assert_eq!(r[0]["state"], "interrupted", "{r:#?}");
    assert!(generations(&db, &out).is_empty(), "rolled back");
    assert!(!out.exists());

    let mut d = Daemon::start(command(&db, &out, &[]));
    let r = wait_runs(&db, &out, Duration::from_secs(30), |r| {
        r[0]["state"] == "succeeded"
    });
    assert_eq!(r[0]["attempts"], 2);
    assert_eq!(generations(&db, &out).len(), 1);
    common::assert_schema_valid(&out);
    assert!(d.sigterm().success());
}
