//! The accept loop: what bounds the connections themselves, before any handler runs.
//!
//! `axum::serve` sets no timer on hyper, so hyper's header-read timeout never fires: a
//! client that opens a connection and says nothing, sends half a request head, or trickles
//! it a byte at a time, holds a file descriptor forever, and about a thousand of them
//! (the default `ulimit -n`) stopped the server answering anyone. Here:
//!
//! - hyper reads every request head under [`ServeConfig::header_timeout`](super::ServeConfig)
//!   (the deadline runs from the moment hyper waits for a head, so it also bounds an idle
//!   keep-alive connection between two requests, and a trickle cannot extend it);
//! - the number of open connections is bounded, by the configuration and by the process's
//!   file limit (less a reserve for the database and the snapshot files), so accepting
//!   never fails for want of a descriptor;
//! - at the bound, a new connection sheds the oldest connection that has no request in
//!   flight (an idle or half-sent one: it costs its owner nothing to reconnect), so a
//!   flood of silent connections cannot lock out a partner or `/health`; when every
//!   connection is busy, the newcomer is closed at once instead.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{watch, Notify};
use tower::ServiceExt as _;

/// Descriptors kept for the rest of the process (database pool, snapshot files, logs).
const FD_RESERVE: u64 = 64;

/// Raises the soft limit on open files to the hard one (as Go's runtime does: the soft
/// 1 024 is a relic of `select(2)`), and returns the soft limit now in force.
pub fn raise_nofile_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return None;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim.rlim_cur = lim.rlim_max;
                }
            }
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every unix
        Some(lim.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The connection bound in force: the configured one, lowered to fit the file limit.
pub fn connection_bound(configured: usize, nofile: Option<u64>) -> usize {
    let by_files = nofile
        .map(|n| n.saturating_sub(FD_RESERVE).max(16))
        .unwrap_or(u64::MAX);
    (configured as u64).min(by_files).max(1) as usize
}

/// One open connection, as the shedder sees it.
struct Entry {
    /// Requests in flight, counting a response whose body is still streaming.
    busy: Arc<AtomicUsize>,
    /// Told to close the connection at once.
    shed: Arc<Notify>,
}

#[derive(Default)]
struct Table {
    next: u64,
    /// By accept order: the first idle entry is the oldest idle connection.
    open: BTreeMap<u64, Entry>,
}

/// Decrements a connection's in-flight count when the response is done (body included).
struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its connection marked busy until it is sent or dropped.
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// How the loop runs.
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// Accepts until `shutdown` completes, then closes idle connections and waits for the
/// requests in flight.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let table = Arc::new(Mutex::new(Table::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            // Reap finished connection tasks as they end, so the set does not grow.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning (axum does the same).
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let Some((id, busy, shed)) = admit(&table, limits.max_connections) else {
            tracing::warn!(%peer, "connection refused: every connection is busy");
            drop(stream);
            continue;
        };
        let service = {
            let app = app.clone();
            let busy = busy.clone();
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                busy.fetch_add(1, Ordering::AcqRel);
                let guard = Busy(busy.clone());
                let app = app.clone();
                async move {
                    let mut req: Request = req.map(Body::new);
                    // The source address, for the failed-authentication limiter.
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    let response: Response = app.oneshot(req).await.unwrap_or_else(|e| match e {});
                    Ok::<_, std::convert::Infallible>(response.map(|inner| {
                        Body::new(Tracked {
                            inner,
                            _busy: guard,
                        })
                    }))
                }
            })
        };
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let table = table.clone();
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => log_end(r),
                _ = shed.notified() => {}
                _ = async { drop(stop.wait_for(|s| *s).await) } => {
                    // No new request on this connection; the one in flight finishes.
                    conn.as_mut().graceful_shutdown();
                    log_end(conn.await);
                }
            }
            table.lock().unwrap().open.remove(&id);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

fn log_end(r: hyper::Result<()>) {
    if let Err(e) = r {
        // Timeouts and clients that go away are routine: debug, not warn.
        tracing::debug!("connection closed: {e}");
    }
}

/// Registers a new connection, shedding the oldest idle one at the bound; `None` when
/// every open connection is busy.
fn admit(table: &Mutex<Table>, max: usize) -> Option<(u64, Arc<AtomicUsize>, Arc<Notify>)> {
    let mut t = table.lock().unwrap();
    if t.open.len() >= max {
        let victim = t
            .open
            .iter()
            .find(|(_, e)| e.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id)?;
        let e = t.open.remove(&victim).expect("found above");
        // notify_one stores a permit, so the task closes even if it is not waiting yet.
        e.shed.notify_one();
    }
    let id = t.next;
    t.next += 1;
    let busy = Arc::new(AtomicUsize::new(0));
    let shed = Arc::new(Notify::new());
    t.open.insert(
        id,
        Entry {
            busy: busy.clone(),
            shed: shed.clone(),
        },
    );
    Some((id, busy, shed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_fits_the_file_limit() {
        assert_eq!(connection_bound(4096, Some(1024)), 960);
        assert_eq!(connection_bound(100, Some(1024)), 100);
        assert_eq!(connection_bound(4096, None), 4096);
        assert_eq!(connection_bound(4096, Some(10)), 16);
    }

    #[test]
    fn at_the_bound_the_oldest_idle_connection_is_shed() {
        let t = Mutex::new(Table::default());
        let (_, busy0, _) = admit(&t, 2).unwrap();
        let (_, _, shed1) = admit(&t, 2).unwrap();
        busy0.fetch_add(1, Ordering::AcqRel);
        // #0 is busy, so #1 (idle) goes.
        let (id2, _, _) = admit(&t, 2).unwrap();
        assert_eq!(id2, 2);
        let open: Vec<u64> = t.lock().unwrap().open.keys().copied().collect();
        assert_eq!(open, vec![0, 2]);
        // Its task is told (a stored permit: notified() completes at once).
        futures_util::FutureExt::now_or_never(shed1.notified()).expect("shed1 notified");
    }

    #[test]
    fn when_every_connection_is_busy_the_newcomer_is_refused() {
        let t = Mutex::new(Table::default());
        let (_, busy0, _) = admit(&t, 1).unwrap();
        busy0.fetch_add(1, Ordering::AcqRel);
        assert!(admit(&t, 1).is_none());
        busy0.fetch_sub(1, Ordering::AcqRel);
        assert!(admit(&t, 1).is_some());
    }
}
