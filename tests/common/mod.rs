//! Real databases for integration tests: a temporary SQLite file, and a fresh PostgreSQL
//! database per test, dropped afterwards.
//!
//! Use from a test file:
//!
//! ```ignore
//! mod common;
//! use common::TestDb;
//!
//! async fn my_test(db: &TestDb) {
//!     let store = db.open().await;
//!     // … assertions; mention db.backend in messages if useful
//! }
//! backend_tests!(my_test); // → sqlite::my_test and postgres::my_test
//! ```
//!
//! or, for one test body over every backend in turn: `for db in test_databases().await`.
//!
//! PostgreSQL: the admin URL is `LHEO_FEED_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; it must be allowed to CREATE DATABASE.
//! Each test gets `lheo_test_<pid>_<nanos>_<counter>`, so tests run in parallel, and the
//! database is dropped `WITH (FORCE)` when the [`TestDb`] is dropped, also when the test
//! panics. When no server answers, PostgreSQL tests print a loud notice and pass without
//! running — unless `CI` is set, where they fail: CI must not go green on SQLite alone.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

pub mod hosts;
pub mod pg_cluster;
pub mod server;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lheo_feed::store::Store;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A test database, alive as long as this value.
pub struct TestDb {
    pub backend: Backend,
    /// What to give `Store::open`.
    pub url: String,
    _cleanup: Cleanup,
}

enum Cleanup {
    /// The directory holding the SQLite file (and its -wal/-shm), removed on drop.
    Sqlite(tempfile::TempDir),
    Postgres(PgDropGuard),
}

impl TestDb {
    /// Opens the store on this database (running the migrations), or panics.
    pub async fn open(&self) -> Store {
        match Store::open(&self.url).await {
            Ok(store) => store,
            Err(e) => panic!(
                "cannot open the {:?} test store at {}: {e:#}",
                self.backend, self.url
            ),
        }
    }
}

/// A fresh database on `backend`; `None` when PostgreSQL is not reachable outside CI
/// (after a loud notice on stderr). Panics on PostgreSQL trouble under CI.
pub async fn test_db(backend: Backend) -> Option<TestDb> {
    match backend {
        Backend::Sqlite => Some(sqlite_db()),
        Backend::Postgres => pg_db().await,
    }
}

/// One fresh database per available backend: SQLite always, PostgreSQL when reachable
/// (see [`test_db`]).
pub async fn test_databases() -> Vec<TestDb> {
    let mut dbs = vec![sqlite_db()];
    dbs.extend(pg_db().await);
    dbs
}

/// A new SQLite file in its own temporary directory.
pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("cannot create a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("store.sqlite").display());
    TestDb {
        backend: Backend::Sqlite,
        url,
        _cleanup: Cleanup::Sqlite(dir),
    }
}

/// The PostgreSQL admin URL tests create their databases with.
pub fn pg_admin_url() -> String {
    std::env::var("LHEO_FEED_TEST_PG").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.to_owned())
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// A new PostgreSQL database, or `None` (loudly) when the server is not there.
pub async fn pg_db() -> Option<TestDb> {
    let admin_url = pg_admin_url();
    let admin = match PgConnectOptions::from_str(&admin_url) {
        Ok(o) => o,
        Err(e) => panic!("LHEO_FEED_TEST_PG is not a PostgreSQL URL ({e}): {admin_url}"),
    };
    let mut conn = match tokio::time::timeout(Duration::from_secs(5), admin.connect()).await {
        Ok(Ok(conn)) => conn,
        outcome => {
            let why = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "no answer within 5 s".to_owned(),
            };
            skipped(
                "a PostgreSQL test",
                &format!(
                    "{admin_url} is not reachable ({why}); start PostgreSQL or set LHEO_FEED_TEST_PG"
                ),
            );
            return None;
        }
    };

    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let name = format!(
        "lheo_test_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot CREATE DATABASE {name} on {admin_url}: {e}"));
    let _ = conn.close().await;

    Some(TestDb {
        backend: Backend::Postgres,
        url: with_database(&admin_url, &name),
        _cleanup: Cleanup::Postgres(PgDropGuard { admin_url, name }),
    })
}

/// `url` with its database (the path) replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// Drops its database when dropped.
struct PgDropGuard {
    admin_url: String,
    name: String,
}

impl Drop for PgDropGuard {
    fn drop(&mut self) {
        // Drop cannot await, and blocking on the test's own runtime from inside it would
        // deadlock a current-thread runtime; a helper thread with its own small runtime
        // does the work. FORCE ends the connections the store under test still holds.
        let admin_url = std::mem::take(&mut self.admin_url);
        let name = std::mem::take(&mut self.name);
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
                conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                    .await?;
                let _ = conn.close().await;
                Ok::<(), sqlx::Error>(())
            })
            .map_err(|e| format!("{name}: {e}"))
        })
        .join();
        // Never panic here: this may run while a failed test unwinds.
        match outcome {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop a PostgreSQL test database: {e}"),
            Err(_) => eprintln!("warning: the thread dropping a PostgreSQL test database panicked"),
        }
    }
}

/// Declares, for each `async fn NAME(db: &TestDb)` given, the tests `sqlite::NAME` and
/// `postgres::NAME`, each on a fresh database.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::common::test_db($crate::common::Backend::Sqlite)
                        .await
                        .expect("SQLite is always available");
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(db) = $crate::common::test_db($crate::common::Backend::Postgres).await {
                        super::$name(&db).await;
                    }
                }
            )*
        }
    };
}

/// The official LHÉO 2.3 schema: `LHEO_FEED_XSD`, by default `../shared/lheo/lheo-2.3.xsd`
/// (it is not ours to redistribute, so it is never copied into the repo; README, "Tests").
/// The folder holding it also holds the shared `examples/` and `tables/`.
pub fn xsd_path() -> PathBuf {
    std::env::var_os("LHEO_FEED_XSD")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/lheo/lheo-2.3.xsd"))
}

/// A file of the shared LHÉO folder (beside the XSD), e.g. `examples/exemple-bts-onisep-2.2.xml`,
/// or `None` after a visible skip notice when it is not there ([`skipped`]).
pub fn shared_lheo(relative: &str, check: &str) -> Option<PathBuf> {
    let xsd = xsd_path();
    let path = xsd.parent().unwrap_or(Path::new(".")).join(relative);
    if path.exists() {
        Some(path)
    } else {
        skipped(
            check,
            &format!(
                "{} is missing (the shared LHÉO files sit beside the XSD; set LHEO_FEED_XSD)",
                path.display()
            ),
        );
        None
    }
}

/// Reports a check that could not run, where a person sees it: straight to the process's
/// standard error, which `cargo test`'s capture does not swallow (it only captures the
/// `print!` macros), once per reason and process. Under `CI` a skip is a failure instead.
pub fn skipped(check: &str, why: &str) {
    if in_ci() {
        panic!("under CI nothing may be skipped, but {check} cannot run: {why}");
    }
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let key = format!("{check}: {why}");
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if seen.contains(&key) {
        return;
    }
    seen.push(key);
    let _ = writeln!(
        std::io::stderr(),
        "\n##  SKIPPED ({}): {check}: {why}; under CI this fails.",
        std::env::args()
            .next()
            .and_then(|a| Path::new(&a)
                .file_stem()
                .map(|f| f.to_string_lossy().into_owned()))
            // `cli-7b3b39c5aa29ee16` → `cli`: the test file's name.
            .map(|f| f
                .rsplit_once('-')
                .map_or(f.clone(), |(name, _)| name.to_owned()))
            .unwrap_or_default()
    );
}

/// Validates `path` with the official XSD, streaming as a national consumer would.
/// Without the XSD, says so visibly ([`skipped`]) and returns: the rest of the test still runs.
pub fn assert_schema_valid(path: &Path) {
    let xsd = xsd_path();
    if !xsd.exists() {
        skipped(
            "validation against the official LHÉO 2.3 XSD",
            &format!("{} is missing (set LHEO_FEED_XSD)", xsd.display()),
        );
        return;
    }
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--stream", "--schema"])
        .arg(&xsd)
        .arg(path)
        .output()
        .expect("xmllint (Debian package libxml2-utils) must be installed");
    assert!(
        out.status.success(),
        "{} is not valid LHÉO 2.3:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The `lheo-feed` binary on `db`, with the variables a developer's shell may hold (day,
/// rules, the test pause hook) removed, so that a test sees only what it passes.
pub fn lheo_feed_command(db: &TestDb, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_lheo-feed"));
    c.arg("--database-url")
        .arg(&db.url)
        .args(args)
        .env_remove("LHEO_FEED_TODAY")
        .env_remove("LHEO_FEED_RULES")
        .env_remove("LHEO_FEED_TEST_PAUSE_AT");
    c
}

/// Runs the binary ([`lheo_feed_command`]) to its end.
pub fn lheo_feed(db: &TestDb, args: &[&str]) -> std::process::Output {
    lheo_feed_command(db, args)
        .output()
        .expect("the lheo-feed binary runs")
}

/// Writes `lheo-feed generate --sessions N --seed S` to `path` (gzip when it ends in `.gz`)
/// and imports it into `db`, through the binary.
pub fn import_generated(db: &TestDb, path: &Path, sessions: u64, seed: u64) {
    let (n, s) = (sessions.to_string(), seed.to_string());
    let out = path.to_str().unwrap();
    ok(
        db,
        &["generate", "--sessions", &n, "--seed", &s, "--out", out],
    );
    ok(db, &["import", out]);
}

/// Runs the binary, which must succeed; returns its standard output.
pub fn ok(db: &TestDb, args: &[&str]) -> String {
    let out = lheo_feed(db, args);
    assert!(
        out.status.success(),
        "{:?} on {:?} failed ({:?}):\n{}",
        args,
        db.backend,
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_is_replaced_in_the_url() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            super::with_database("postgres://u:p@h/postgres?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://h", "t1"),
            "postgres://h/t1"
        );
    }
}
