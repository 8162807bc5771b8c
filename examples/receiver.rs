//! A consumer's receiver for trying the pusher locally and for the benchmarks: accepts
//! `POST /lheo`, checks the Standard Webhooks signature (key from the environment variable
//! named by `--key-env`), deduplicates on `webhook-id`, and prints one line per request
//! (status, webhook-id, offers, withdrawals, bytes received).
//!
//! ```sh
//! LHEO_FEED_RECEIVER_KEY=secret cargo run --release --example receiver -- 127.0.0.1:8701
//! ```
//!
//! Loopback only by intent: it is a test tool, not a server to expose.

use std::collections::HashSet;
use std::io::Read as _;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};

#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    offres: u64,
    retraits: u64,
    bytes: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8701".to_owned());
    let key_env = args
        .next()
        .unwrap_or_else(|| "LHEO_FEED_RECEIVER_KEY".to_owned());
    let key = std::env::var(&key_env).unwrap_or_else(|_| {
        eprintln!("set {key_env} to the consumer's signing key");
        std::process::exit(2)
    });
    let key: Arc<Vec<u8>> = Arc::new(key.into_bytes());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = axum::Router::new()
        .route(
            "/lheo",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (key, seen) = (key.clone(), seen.clone());
                async move { receive(&key, &seen, &headers, &body) }
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(256 << 20));
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
    eprintln!("receiver listening on http://{addr}/lheo");
    axum::serve(listener, app).await.unwrap();
}

fn receive(key: &[u8], seen: &Mutex<Seen>, headers: &HeaderMap, body: &[u8]) -> StatusCode {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    let id = h("webhook-id");
    let ts: i64 = h("webhook-timestamp").parse().unwrap_or(0);
    if !lheo_feed::push::wire::verify(key, id, ts, body, h("webhook-signature")) {
        println!("401 {id} bad signature");
        return StatusCode::UNAUTHORIZED;
    }
    let mut raw = Vec::new();
    if h("content-encoding") == "gzip" {
        if flate2::read::GzDecoder::new(body)
            .read_to_end(&mut raw)
            .is_err()
        {
            return StatusCode::BAD_REQUEST;
        }
    } else {
        raw = body.to_vec();
    }
    let text = String::from_utf8_lossy(&raw);
    let offres = text.matches("<formation numero=").count() as u64;
    let retraits = text.matches("info=\"retrait\"").count() as u64
        + text.matches("<retrait numero=").count() as u64;
    let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
    if !s.ids.insert(id.to_owned()) {
        println!("204 {id} duplicate (already applied)");
        return StatusCode::NO_CONTENT;
    }
    s.offres += offres;
    s.retraits += retraits;
    s.bytes += body.len() as u64;
    println!(
        "204 {id} offres {offres} retraits {retraits} bytes {} (total: {} offres, {} retraits, {} bytes)",
        body.len(),
        s.offres,
        s.retraits,
        s.bytes
    );
    StatusCode::NO_CONTENT
}
