//! The current generation as the snapshot handler needs it, without a database query per
//! request.
//!
//! A conditional GET of the snapshot (`If-None-Match`, the question partners ask most)
//! needs only the current generation's id, hash and date; reading them from the database
//! on every request held PostgreSQL's 304 path near 10 000 requests/s on two cores, the
//! round trip costing more than the rest of the request. So the generation read last is
//! kept, with the path of its file, and trusted while that file is still there:
//!
//! - an export renames the previous generation's file away right after it commits the
//!   next (`crate::generation`, step 4; unlinked later; a generation that keeps the
//!   previous document gets a second name for it, and the previous name still goes). A
//!   `stat` of the kept generation's file (a few microseconds, no database) therefore
//!   says whether it is still current, and once an export has finished, the very next
//!   request reads the new generation: no waiting, and tests that export and then ask
//!   stay deterministic.
//! - between an export's commit and that rename (milliseconds: the stable name is linked
//!   first), a request may still get the previous generation, as it would a moment
//!   earlier; an export killed in between leaves the file, and so does a network file
//!   system's attribute cache for a while: whatever the files say, the generation is read
//!   again once it is [`RECHECK`] old. That is the staleness bound.
//!
//! A current generation whose file is missing (deleted by hand, say) is read from the
//! database at every request, as before: it cannot be served anyway.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest a kept generation is trusted without reading the database again, whatever
/// its file says (one query a second at most, whatever the request rate).
pub const RECHECK: Duration = Duration::from_secs(1);

/// A generation (`T`: its row) and the path of its file, read at `read_at`.
pub struct Current<T> {
    pub row: T,
    pub path: PathBuf,
    read_at: Instant,
}

/// The current generation, kept between requests.
pub struct Kept<T> {
    current: Mutex<Option<Arc<Current<T>>>>,
    recheck: Duration,
}

impl<T> Default for Kept<T> {
    fn default() -> Kept<T> {
        Kept::new(RECHECK)
    }
}

impl<T> Kept<T> {
    pub fn new(recheck: Duration) -> Kept<T> {
        Kept {
            current: Mutex::new(None),
            recheck,
        }
    }

    /// The current generation: the kept one while its file is there and it is younger than
    /// the recheck time, else what `load` reads (kept, with `path_of` its file). `None`
    /// when there is no generation yet (not kept: the first export is then seen at once).
    pub async fn get<F, Fut>(
        &self,
        load: F,
        path_of: impl FnOnce(&T) -> PathBuf,
    ) -> anyhow::Result<Option<Arc<Current<T>>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        self.get_at(Instant::now(), load, path_of).await
    }

    /// [`Kept::get`] at time `now` (the tests give the time, so that no test depends on
    /// how fast a loaded machine runs it).
    async fn get_at<F, Fut>(
        &self,
        now: Instant,
        load: F,
        path_of: impl FnOnce(&T) -> PathBuf,
    ) -> anyhow::Result<Option<Arc<Current<T>>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        let kept = self.current.lock().expect("not poisoned").clone();
        if let Some(c) = kept {
            if now.saturating_duration_since(c.read_at) < self.recheck && exists(&c.path) {
                return Ok(Some(c));
            }
        }
        let Some(row) = load().await? else {
            *self.current.lock().expect("not poisoned") = None;
            return Ok(None);
        };
        let path = path_of(&row);
        let c = Arc::new(Current {
            row,
            path,
            read_at: now,
        });
        // Two requests reading at once may store in either order: the older one is then
        // read again as soon as its file goes, as above.
        *self.current.lock().expect("not poisoned") = Some(c.clone());
        Ok(Some(c))
    }
}

/// Whether `path` names a file. A `stat` of a local file takes microseconds: cheaper done
/// here than handed to the blocking pool, and no more blocking than the logging.
fn exists(path: &Path) -> bool {
    std::fs::metadata(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    /// A database whose last generation is `last`, counting its reads.
    struct Db {
        last: AtomicI64,
        reads: AtomicUsize,
    }

    impl Db {
        async fn last(&self) -> anyhow::Result<Option<i64>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let g = self.last.load(Ordering::SeqCst);
            Ok((g > 0).then_some(g))
        }
    }

    #[tokio::test]
    async fn the_generation_is_read_again_once_its_file_is_gone_or_it_is_old() {
        let dir = tempfile::tempdir().unwrap();
        let file = |g: i64| dir.path().join(format!(".lheo.xml.generation-{g}"));
        let db = Db {
            last: AtomicI64::new(0),
            reads: AtomicUsize::new(0),
        };
        let recheck = Duration::from_millis(300);
        let kept = Kept::new(recheck);
        // The clock is the test's: `at(ms)` is that long after t0.
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let get_at = |now: Instant| {
            let kept = &kept;
            let db = &db;
            let file = &file;
            async move {
                kept.get_at(now, || db.last(), |g| file(*g))
                    .await
                    .unwrap()
                    .map(|c| c.row)
            }
        };
        let get = || get_at(at(0));
        let reads = || db.reads.load(Ordering::SeqCst);

        // No generation yet: asked every time, so that the first one is seen at once.
        assert_eq!(get().await, None);
        assert_eq!(get().await, None);
        assert_eq!(reads(), 2);

        // Generation 1 and its file: read once, then trusted.
        std::fs::write(file(1), "1").unwrap();
        db.last.store(1, Ordering::SeqCst);
        assert_eq!(get().await, Some(1));
        for _ in 0..100 {
            assert_eq!(get().await, Some(1));
        }
        assert_eq!(reads(), 3, "no query while the file is there");

        // An export commits generation 2, then unlinks generation 1's file: the next
        // request reads generation 2.
        std::fs::write(file(2), "2").unwrap();
        db.last.store(2, Ordering::SeqCst);
        std::fs::remove_file(file(1)).unwrap();
        assert_eq!(get().await, Some(2));
        assert_eq!(reads(), 4);

        // An export killed between its commit and the unlink: generation 2's file stays,
        // and generation 3 is read once the kept one (read at t0) is `recheck` old, not
        // before.
        std::fs::write(file(3), "3").unwrap();
        db.last.store(3, Ordering::SeqCst);
        assert_eq!(get_at(at(1)).await, Some(2));
        assert_eq!(
            get_at(at(299)).await,
            Some(2),
            "kept while younger than recheck"
        );
        assert_eq!(reads(), 4);
        assert_eq!(
            get_at(at(300)).await,
            Some(3),
            "read again once recheck old"
        );
        assert_eq!(reads(), 5);
    }
}
