//! Exclusive locks: the **export lock** that every export takes (the daemon's runs and the
//! `export` command alike), and on SQLite the **instance lock** that keeps a second daemon
//! from starting.
//!
//! - PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a connection
//!   taken out of the pool and kept for as long as the lock is held. The server releases
//!   it when that session ends, so an instance killed with `kill -9` (or whose host dies,
//!   once TCP notices) frees it without any clean-up. Several daemons on one database
//!   share the work this way; a transaction-scoped lock would not do, since an export is
//!   several transactions.
//! - SQLite: `flock`-style locks (`std::fs::File::try_lock`) on files beside the database:
//!   `DB.export.lock` for exports and `DB.instance.lock` for the daemon. The kernel drops
//!   them when the process dies. A SQLite database lives on one host's disk, so a second
//!   daemon there could only ever wait: it is refused with a clear message instead.
//!
//! Waiting is by polling `try` every quarter second: a waiter stays responsive to
//! shutdown, and says once who it is waiting for.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use sqlx::Connection;

use crate::store::Store;

/// Advisory-lock key of the export lock: the ASCII of "lheoexpt" (imports and the
/// generation write transaction use other keys).
pub const EXPORT_LOCK_KEY: i64 = 0x6c68_656f_6578_7074;

const POLL: Duration = Duration::from_millis(250);

/// The export lock, held while this value lives (or until [`ExportLock::release`]).
pub struct ExportLock {
    inner: Inner,
}

enum Inner {
    Postgres(sqlx::PgConnection),
    File(File),
}

/// The SQLite database file of a store (`None` on PostgreSQL).
fn sqlite_file(store: &Store) -> Option<PathBuf> {
    match store {
        Store::Sqlite(pool) => Some(pool.connect_options().get_filename().to_path_buf()),
        Store::Postgres(_) => None,
    }
}

/// `DB.SUFFIX` beside the database file.
fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(format!(".{suffix}"));
    PathBuf::from(name)
}

/// Opens (creating) a lock file and tries to lock it; on success writes our pid in it,
/// for the message another process shows.
fn try_lock_file(path: &Path) -> Result<Option<File>> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}", std::process::id())?;
            Ok(Some(file))
        }
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => {
            Err(anyhow::Error::new(e).context(format!("cannot lock {}", path.display())))
        }
    }
}

/// The pid written in a lock file by its holder, if readable.
fn holder_of(path: &Path) -> String {
    let mut s = String::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut s));
    match s.trim() {
        "" => "another process".to_owned(),
        pid => format!("process {pid}"),
    }
}

impl ExportLock {
    /// Takes the lock if it is free.
    pub async fn try_acquire(store: &Store) -> Result<Option<ExportLock>> {
        match store {
            Store::Postgres(pool) => {
                // Out of the pool for good: the lock lives and dies with this session.
                let mut conn = pool
                    .acquire()
                    .await
                    .context("cannot get a connection for the export lock")?
                    .detach();
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(EXPORT_LOCK_KEY)
                    .fetch_one(&mut conn)
                    .await
                    .context("cannot ask PostgreSQL for the export lock")?;
                if got {
                    Ok(Some(ExportLock {
                        inner: Inner::Postgres(conn),
                    }))
                } else {
                    let _ = conn.close().await;
                    Ok(None)
                }
            }
            Store::Sqlite(_) => {
                let path = beside(&sqlite_file(store).expect("SQLite"), "export.lock");
                Ok(try_lock_file(&path)?.map(|f| ExportLock {
                    inner: Inner::File(f),
                }))
            }
        }
    }

    /// Waits for the lock (saying once, at info level, that it waits), or until `stop`
    /// resolves (`None`).
    pub async fn acquire_or_stop(
        store: &Store,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<Option<ExportLock>> {
        tokio::pin!(stop);
        let mut said = false;
        loop {
            if let Some(lock) = Self::try_acquire(store).await? {
                return Ok(Some(lock));
            }
            if !said {
                said = true;
                let who = match sqlite_file(store) {
                    Some(db) => holder_of(&beside(&db, "export.lock")),
                    None => "another instance".to_owned(),
                };
                tracing::warn!("another export is running ({who}); waiting for it to finish");
            }
            tokio::select! {
                _ = &mut stop => return Ok(None),
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Waits for the lock.
    pub async fn acquire(store: &Store) -> Result<ExportLock> {
        Self::acquire_or_stop(store, std::future::pending())
            .await?
            .ok_or_else(|| anyhow!("unreachable: never stopped"))
    }

    /// Whether the lock is still ours: on PostgreSQL, whether the session holding it is
    /// still alive (a lost connection has lost the lock).
    pub async fn still_held(&mut self) -> bool {
        match &mut self.inner {
            Inner::Postgres(conn) => conn.ping().await.is_ok(),
            Inner::File(_) => true,
        }
    }

    /// Releases the lock now (dropping it does too, a little later on PostgreSQL).
    pub async fn release(self) {
        match self.inner {
            Inner::Postgres(mut conn) => {
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(EXPORT_LOCK_KEY)
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
            Inner::File(f) => drop(f),
        }
    }
}

/// On SQLite, the lock that makes this process the only daemon on the database; nothing
/// on PostgreSQL, where instances share the work.
pub struct InstanceLock {
    _file: Option<File>,
}

impl InstanceLock {
    pub fn acquire(store: &Store) -> Result<InstanceLock> {
        let Some(db) = sqlite_file(store) else {
            return Ok(InstanceLock { _file: None });
        };
        let path = beside(&db, "instance.lock");
        match try_lock_file(&path)? {
            Some(f) => Ok(InstanceLock { _file: Some(f) }),
            None => bail!(
                "another `lheo-feed run` ({}) already runs on the SQLite database {}: only one \
                 daemon may run on a SQLite store (it holds {}). Stop the other one, or move \
                 to PostgreSQL to run several instances. `lheo-feed export` still works beside \
                 the running daemon.",
                holder_of(&path),
                db.display(),
                path.display()
            ),
        }
    }
}
