//! `lheo-feed serve`'s router on a free loopback port of a test, stopped on demand.

use std::time::Duration;

use lheo_feed::serve::ServeConfig;

use super::TestDb;

/// The status page's admin key in tests.
pub const ADMIN_KEY: &str = "admin-key-for-tests-0123456789";

pub struct Server {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and checks that it stopped cleanly.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let result = self.task.take().unwrap().await.unwrap();
        assert!(result.is_ok(), "the server stopped with {result:?}");
    }
}

/// Serves `db` on 127.0.0.1 (a free port), with [`ADMIN_KEY`], revocations seen at once and
/// no rate limit (the tests' bursts), then whatever `tweak` changes.
pub async fn start(db: &TestDb, tweak: impl FnOnce(&mut ServeConfig)) -> Server {
    let store = db.open().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = ServeConfig::new(addr);
    config.admin_key = Some(ADMIN_KEY.to_owned());
    config.auth_cache_ttl = Duration::ZERO;
    config.rate_per_second = 0.0;
    tweak(&mut config);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(lheo_feed::serve::serve_on(listener, store, config, async {
        let _ = rx.await;
    }));
    Server {
        base: format!("http://{addr}"),
        stop: Some(tx),
        task: Some(task),
    }
}
