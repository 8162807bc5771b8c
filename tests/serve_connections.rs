//! Issue 18, item 1: connections that never finish a request. The real `lheo-feed serve`
//! binary on a loopback port (SQLite store), under the default open files limit of 1 024,
//! against idle, half-sent and trickling connections. Bounded: at most 1 100 connections,
//! each test stops by itself within about 20 seconds.

mod common;

use std::io::ErrorKind;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The real binary serving on a free loopback port, killed on drop.
struct Served {
    child: Child,
    addr: String,
    _db: common::TestDb,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` with `extra` flags, its open files limit set to `nofile` (soft and hard,
/// as a default `ulimit -n` leaves it), and waits until `/health` answers.
async fn serve(nofile: u64, extra: &[&str]) -> Served {
    let db = common::sqlite_db();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--listen", &addr];
    args.extend_from_slice(extra);
    let mut c = common::lheo_feed_command(&db, &args);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c.env_remove("LHEO_FEED_ADMIN_KEY");
    use std::os::unix::process::CommandExt as _;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: nofile as libc::rlim_t,
                rlim_max: nofile as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = c.spawn().expect("the lheo-feed binary starts");
    let served = Served {
        child,
        addr,
        _db: db,
    };
    let start = Instant::now();
    while health(&served.addr, Duration::from_secs(1)).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    served
}

/// `GET /health` on a fresh connection, within `within`.
async fn health(addr: &str, within: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        s.write_all(b"GET /health HTTP/1.1\r\nHost: feed\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        if answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok\n") {
            Ok(start.elapsed())
        } else {
            Err(format!("unexpected answer {answer:?}"))
        }
    };
    match tokio::time::timeout(within, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {within:?}")),
    }
}

/// Waits (up to `within`) for the server to close `s`: true when it did.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) => return true,
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => {
                return matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe)
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_request_heads_and_idle_connections_are_closed() {
    let served = serve(1024, &["--header-timeout-seconds", "1"]).await;
    let addr = served.addr.clone();
    // Opens and says nothing.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    // Sends half a head.
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\nHost: fe")
        .await
        .unwrap();
    // Trickles a head, a byte every 100 ms: the deadline is not pushed back by each byte.
    let mut trickle = TcpStream::connect(&addr).await.unwrap();
    let (mut trickle_read, mut trickle_write) = trickle.split();
    let trickling = async {
        for b in b"GET /health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
            if trickle_write.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let watch_trickle = async {
        let mut buf = [0u8; 64];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
        matches!(
            tokio::time::timeout_at(deadline, trickle_read.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    };
    // A keep-alive connection after one full request, then idle.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: feed\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);

    let start = Instant::now();
    let (trickle_closed, silent_closed, half_closed, kept_closed) = tokio::join!(
        async {
            tokio::select! {
                closed = watch_trickle => closed,
                _ = trickling => false,
            }
        },
        closed_within(&mut silent, Duration::from_secs(4)),
        closed_within(&mut half, Duration::from_secs(4)),
        closed_within(&mut kept, Duration::from_secs(4)),
    );
    assert!(silent_closed, "a silent connection stayed open");
    assert!(half_closed, "a half-sent head stayed open");
    assert!(trickle_closed, "a trickled head stayed open");
    assert!(kept_closed, "an idle keep-alive connection stayed open");
    assert!(start.elapsed() < Duration::from_secs(4));
    // And the server still answers.
    health(&addr, Duration::from_secs(1)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_and_trickling_connections_does_not_lock_out_health() {
    // The default header timeout (30 s): the flood is not ended by timeouts but by the
    // connection bound, which fits 1 024 open files and sheds the oldest idle connection.
    let served = serve(1024, &[]).await;
    let addr = served.addr.clone();
    let stop_at = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..1100 {
        let addr = addr.clone();
        flood.spawn(async move {
            let Ok(Ok(mut s)) =
                tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addr)).await
            else {
                return;
            };
            if i % 2 == 0 {
                // Idle: holds the connection until the end of the test.
                let mut buf = [0u8; 16];
                let _ = tokio::time::timeout_at(stop_at, s.read(&mut buf)).await;
            } else {
                // Trickling: one byte of a head every 200 ms.
                let head = b"GET /health HTTP/1.1\r\nX-Slow: ";
                let _ = s.write_all(head).await;
                while tokio::time::Instant::now() < stop_at {
                    if s.write_all(b"a").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        });
    }
    // Every flood connection is open (or was shed) before /health is asked.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for _ in 0..3 {
        let took = health(&addr, Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| panic!("/health under a flood of 1 100 connections: {e}"));
        assert!(took < Duration::from_secs(1));
    }
    flood.abort_all();
    while flood.join_next().await.is_some() {}
    health(&addr, Duration::from_secs(1)).await.unwrap();
}
