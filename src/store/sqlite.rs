//! Opening the SQLite store: the file, its settings, and errors an operator can act on.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

const URL_HINT: &str = "set --database-url / LHEO_FEED_DATABASE_URL";

/// Readers run beside the one writer (WAL), so a few connections are useful; more would
/// only wait on the write lock.
const MAX_CONNECTIONS: u32 = 4;

/// The page size of a store created by this version (SQLite's default is 4 KiB). A full
/// export at a million sessions writes 2 to 3 GB in one transaction, most of it compressed
/// fragments of a few kilobytes. In 4 KiB pages that is some 700 000 WAL frames of 4 120
/// bytes: the kernel zeroed the rest of a file page on every frame (22 % of the write
/// phase in `perf`), and each page lookup searched a WAL index that grew with the
/// transaction (10 %). Measured at a million sessions (`docs/BENCHMARKS.md`, session 10):
/// write phase and commit 39 s in 4 KiB pages, 30 s in 16 KiB, 26 s in 64 KiB; import
/// 119, 89 and 82 s. But a page is also what a reader copies to read one fragment, and the
/// changes feed (fragments scattered over the table) answered 871 requests/s in 64 KiB
/// pages against 2 093 in 16 KiB at 100 000 sessions. 16 KiB keeps the feed where it was
/// and most of the write's gain. SQLite fixes the page size when the file is created: an
/// existing store keeps its own (`docs/configuration.md` says how to change it).
pub const PAGE_SIZE: u32 = 16_384;

pub(super) async fn open(url: &str) -> Result<SqlitePool> {
    // Each pooled connection to an in-memory database would get its own empty database.
    if url.contains(":memory:") || url.contains("mode=memory") {
        bail!("an in-memory SQLite database cannot hold the store: give a file path ({URL_HINT})");
    }
    let options = if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url).map_err(|e| {
            anyhow!("invalid SQLite URL {url}: {e}; expected sqlite://PATH ({URL_HINT})")
        })?
    } else {
        SqliteConnectOptions::new().filename(url)
    };
    let options = options
        .create_if_missing(true)
        // Before anything else touches a new file (sqlx sends it first); a no-op on an
        // existing store.
        .page_size(PAGE_SIZE)
        // WAL: exports read while an import writes. NORMAL sync is safe with WAL (no
        // corruption on a crash; at worst the last commit is lost, and imports re-run).
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        // An import holds the write lock for its whole transaction; a second import
        // waits for it rather than failing at once.
        .busy_timeout(Duration::from_secs(30));
    let path = options.get_filename().display().to_string();

    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
        .map_err(|e| {
            anyhow::Error::new(e).context(format!(
                "cannot open the SQLite database {path}: does its directory exist, and may \
                 lheo-feed write there? {URL_HINT}"
            ))
        })?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&pool)
        .await
        .with_context(|| {
            format!(
                "cannot bring the schema of SQLite database {path} up to date; if it was \
                 written by a newer lheo-feed, use that version (or a new file)"
            )
        })?;
    Ok(pool)
}
