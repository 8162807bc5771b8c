//! One HTTP attempt and what its answer means.
//!
//! - 2xx within the timeout: delivered.
//! - 408, 429, 5xx, 3xx (redirects are not followed: a consumer's URL must be the real
//!   one), timeouts and network errors: failed, to be retried (`Retry-After` kept).
//! - any other 4xx: the receiver refuses this request as it is; retrying it unchanged
//!   cannot help, so it is a dead letter at once, with the status and the start of the
//!   response body kept for the operator.

use std::time::Duration;

use super::config::{Authorization, Secret};
use super::retry::parse_retry_after;
use super::wire::{self, CONTENT_TYPE, DOCUMENT_HEADER};

/// How much of a response body is kept (dead letters, failures).
pub const MAX_RESPONSE_KEPT: usize = 4096;

/// Where and how to send, resolved from a consumer's configuration (secrets read).
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub url: String,
    pub timeout: Duration,
    pub authorization: Option<Authorization>,
    pub keys: Vec<Secret>,
}

/// One request, as stored in the outbox.
#[derive(Clone, Debug)]
pub struct Outgoing<'a> {
    pub webhook_id: &'a str,
    pub body: &'a [u8],
    pub content_encoding: Option<&'a str>,
    /// A LHÉO document (offers) or withdrawals only.
    pub lheo: bool,
    pub first_generation: i64,
    pub last_generation: i64,
}

/// What one attempt gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        status: u16,
    },
    Retry {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
        response: String,
    },
    Dead {
        status: u16,
        response: String,
    },
}

/// The HTTP client the pusher shares between consumers: rustls, no redirects, no proxy
/// from the environment surprises beyond reqwest's defaults.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("lheo-feed/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .expect("a TLS backend is compiled in")
}

/// Sends one batch and classifies the answer.
pub async fn send(client: &reqwest::Client, target: &Target, out: &Outgoing<'_>) -> Outcome {
    let timestamp = chrono::Utc::now().timestamp();
    let mut req = client
        .post(&target.url)
        .timeout(target.timeout)
        .header("content-type", CONTENT_TYPE)
        .header("webhook-id", out.webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            DOCUMENT_HEADER,
            if out.lheo { "offres" } else { "retraits" },
        )
        .header("lheo-feed-generation", out.last_generation.to_string())
        .header(
            "lheo-feed-first-generation",
            out.first_generation.to_string(),
        )
        .body(out.body.to_vec());
    if let Some(sig) = wire::sign(&target.keys, out.webhook_id, timestamp, out.body) {
        req = req.header("webhook-signature", sig);
    }
    if let Some(enc) = out.content_encoding {
        req = req.header("content-encoding", enc);
    }
    if let Some(a) = &target.authorization {
        let mut v = reqwest::header::HeaderValue::from_str(&a.0)
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("invalid"));
        v.set_sensitive(true);
        req = req.header("authorization", v);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let what = if e.is_timeout() {
                format!("no answer within {:?}", target.timeout)
            } else if e.is_connect() {
                "cannot connect".to_owned()
            } else {
                "request failed".to_owned()
            };
            // reqwest's message names the URL, never the headers.
            return Outcome::Retry {
                status: None,
                error: format!("{what}: {}", error_chain(&e)),
                retry_after: None,
                response: String::new(),
            };
        }
    };
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        return Outcome::Delivered { status };
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
    let response = read_capped(resp).await;
    let retryable = matches!(status, 408 | 429) || status >= 500 || (300..400).contains(&status);
    if retryable {
        Outcome::Retry {
            status: Some(status),
            error: format!("HTTP {status}"),
            retry_after,
            response,
        }
    } else {
        Outcome::Dead { status, response }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The start of a response body (the receiver's reason), as text.
async fn read_capped(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < MAX_RESPONSE_KEPT {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    buf.truncate(MAX_RESPONSE_KEPT);
    String::from_utf8_lossy(&buf).into_owned()
}
