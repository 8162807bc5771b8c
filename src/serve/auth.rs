//! Who is asking: partners by `Authorization: Bearer KEY`, the operator by the admin key
//! (HTTP Basic `admin:KEY`, which a browser prompts for, or Bearer).
//!
//! Keys are never compared as text: the presented key is hashed (SHA-256) and the hash is
//! compared in constant time (`subtle`) with **every** partner's stored hash, so the time
//! taken says nothing about which bytes matched or which partner it was. The partners'
//! hashes are cached for `auth_cache_ttl` (a revocation takes effect within it) so a
//! request costs no database round trip for its key.
//!
//! 401 without a key or with an unknown one; 403 for a revoked key (the partner learns
//! that its access was withdrawn, not that it mistyped); 429 with `Retry-After` past the
//! per-key rate (a token bucket: `rate_burst` requests at once, `rate_per_second` after).
//!
//! Failed authentications are limited per source address (an IPv6 address by its /64, which
//! one client usually holds whole): `auth_failures_burst` unknown, revoked or wrong keys
//! (partner or admin), then `auth_failures_per_minute`; past that the address gets 429 with
//! `Retry-After` before its key is even looked at, so a right guess cannot be told from a
//! wrong one while it is blocked. A request with no key is not a failed guess.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

use super::http::{error, internal};
use super::{AppState, ServeConfig};
use crate::serve::partners::{key_hash, Scope};

/// A partner, as the server knows it.
#[derive(Clone, Debug)]
pub struct Caller {
    pub id: i64,
    pub name: String,
    pub scope: Arc<Scope>,
}

#[derive(Clone)]
struct Entry {
    hash: [u8; 32],
    revoked: bool,
    caller: Caller,
}

struct Cache {
    loaded: Option<Instant>,
    entries: Vec<Entry>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The key cache and the rate limiter.
pub struct Auth {
    cache: Mutex<Cache>,
    buckets: std::sync::Mutex<HashMap<i64, Bucket>>,
    ttl: Duration,
    rate: f64,
    burst: f64,
    admin_hash: Option<[u8; 32]>,
    /// Failed authentications per source address.
    failures: std::sync::Mutex<HashMap<IpAddr, Bucket>>,
    fail_burst: f64,
    /// Per second.
    fail_rate: f64,
}

/// Most source addresses remembered: past it, those whose bucket is full again are
/// forgotten (they are no different from a new address).
const MAX_FAILING_ADDRESSES: usize = 65_536;

/// Why a request was turned away (a label of `lheo_feed_rejections_total`).
pub const REJECT_NO_KEY: &str = "no_key";
pub const REJECT_BAD_KEY: &str = "bad_key";
pub const REJECT_REVOKED: &str = "revoked";
pub const REJECT_RATE: &str = "rate_limited";
pub const REJECT_AUTH_FAILURES: &str = "auth_failures";

impl Auth {
    pub fn new(config: &ServeConfig) -> Auth {
        Auth {
            cache: Mutex::new(Cache {
                loaded: None,
                entries: Vec::new(),
            }),
            buckets: std::sync::Mutex::new(HashMap::new()),
            ttl: config.auth_cache_ttl,
            rate: config.rate_per_second,
            burst: f64::from(config.rate_burst.max(1)),
            admin_hash: config.admin_key.as_deref().map(key_hash),
            failures: std::sync::Mutex::new(HashMap::new()),
            fail_burst: f64::from(config.auth_failures_burst),
            fail_rate: config.auth_failures_per_minute.max(0.0) / 60.0,
        }
    }

    /// The address a failure is counted against: IPv4 as is, IPv6 by its /64.
    fn source(addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let mut seg = v6.segments();
                    seg[4..].fill(0);
                    IpAddr::V6(seg.into())
                }
            },
            v4 => v4,
        }
    }

    /// The address's failure bucket, refilled to now.
    fn refilled<'a>(&self, map: &'a mut HashMap<IpAddr, Bucket>, ip: IpAddr) -> &'a mut Bucket {
        let now = Instant::now();
        let b = map.entry(Self::source(ip)).or_insert(Bucket {
            tokens: self.fail_burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.fail_rate)
            .min(self.fail_burst);
        b.at = now;
        b
    }

    /// How long `ip` must wait before it may try a key again, if it is blocked.
    pub fn blocked(&self, ip: Option<IpAddr>) -> Option<Duration> {
        let ip = ip.filter(|_| self.fail_burst > 0.0)?;
        let mut map = self.failures.lock().expect("not poisoned");
        let b = self.refilled(&mut map, ip);
        (b.tokens < 1.0).then(|| {
            if self.fail_rate > 0.0 {
                Duration::from_secs_f64((1.0 - b.tokens) / self.fail_rate)
            } else {
                Duration::from_secs(3600)
            }
        })
    }

    /// Counts a failed authentication from `ip`.
    pub fn failed(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip.filter(|_| self.fail_burst > 0.0) else {
            return;
        };
        let mut map = self.failures.lock().expect("not poisoned");
        if map.len() >= MAX_FAILING_ADDRESSES {
            let now = Instant::now();
            let (burst, rate) = (self.fail_burst, self.fail_rate);
            map.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = self.refilled(&mut map, ip);
        b.tokens = (b.tokens - 1.0).max(0.0);
    }

    async fn entries(&self, state: &AppState) -> anyhow::Result<Vec<Entry>> {
        let mut cache = self.cache.lock().await;
        if cache.loaded.is_none_or(|t| t.elapsed() >= self.ttl) {
            let mut entries = Vec::new();
            for p in state.store.partners().await? {
                let mut hash = [0u8; 32];
                if hex::decode_to_slice(&p.key_sha256, &mut hash).is_err() {
                    tracing::warn!(partner = %p.name, "unreadable key hash: partner ignored");
                    continue;
                }
                let scope: Scope = match serde_json::from_str(&p.scope) {
                    Ok(s) => s,
                    Err(_) => {
                        tracing::warn!(partner = %p.name, "unreadable scope: partner ignored");
                        continue;
                    }
                };
                entries.push(Entry {
                    hash,
                    revoked: p.revoked_at.is_some(),
                    caller: Caller {
                        id: p.id,
                        name: p.name,
                        scope: Arc::new(scope),
                    },
                });
            }
            cache.entries = entries;
            cache.loaded = Some(Instant::now());
        }
        Ok(cache.entries.clone())
    }

    /// Takes a token from the key's bucket, or says how long to wait for one.
    fn take(&self, id: i64) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let now = Instant::now();
        let b = buckets.entry(id).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
        }
    }

    /// Whether the request carries the admin key (Basic `admin:KEY` or Bearer KEY).
    pub fn is_admin(&self, headers: &HeaderMap) -> bool {
        let Some(admin) = &self.admin_hash else {
            return false;
        };
        let Some(presented) = presented_admin_key(headers) else {
            return false;
        };
        bool::from(key_hash(&presented).ct_eq(admin))
    }

    pub fn admin_configured(&self) -> bool {
        self.admin_hash.is_some()
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

fn presented_admin_key(headers: &HeaderMap) -> Option<String> {
    if let Some(k) = bearer(headers) {
        return Some(k.to_owned());
    }
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(rest.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    (user == "admin").then(|| password.to_owned())
}

/// Standard base64 (with or without padding), for HTTP Basic; `None` if malformed.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() > 1024 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The source address of a request (set by the accept loop, `serve::conn`).
fn peer(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// A 429 with `Retry-After` (whole seconds, at least 1): `too many {what}: retry in N s`.
fn retry_later(code: &str, what: &str, wait: Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        code,
        format!("too many {what}: retry in {secs} s"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// The 429 of an address with too many failed authentications.
fn too_many_failures(wait: Duration) -> Response {
    retry_later(
        "too_many_failures",
        "failed authentications from your address",
        wait,
    )
}

/// The 401 of the status page: a browser then asks for the admin key.
pub fn admin_challenge() -> Response {
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "the status page needs the admin key: user admin, password the key",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"lheo-feed\", charset=\"UTF-8\""),
    );
    r
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Caller, Response> {
        let reject = |reason: &'static str, r: Response| {
            state.metrics.rejected(reason);
            r
        };
        let Some(key) = bearer(&parts.headers) else {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send your API key as `Authorization: Bearer lf_…` (ask the operator for one)",
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lheo-feed\""),
            );
            return Err(reject(REJECT_NO_KEY, r));
        };
        let ip = peer(parts);
        if let Some(wait) = state.auth.blocked(ip) {
            return Err(reject(REJECT_AUTH_FAILURES, too_many_failures(wait)));
        }
        let presented = key_hash(key);
        let entries = state.auth.entries(state).await.map_err(internal)?;
        // Every entry is compared, whatever matched first.
        let mut found: Option<&Entry> = None;
        for e in &entries {
            if bool::from(e.hash.ct_eq(&presented)) {
                found = Some(e);
            }
        }
        let Some(entry) = found else {
            state.auth.failed(ip);
            return Err(reject(
                REJECT_BAD_KEY,
                error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this API key is not known: check it, or ask the operator for a new one",
                ),
            ));
        };
        if entry.revoked {
            state.auth.failed(ip);
            return Err(reject(
                REJECT_REVOKED,
                error(
                    StatusCode::FORBIDDEN,
                    "revoked",
                    "this API key has been revoked: ask the operator for a new one",
                ),
            ));
        }
        if let Err(wait) = state.auth.take(entry.caller.id) {
            let r = retry_later("rate_limited", "requests for this key", wait);
            return Err(reject(REJECT_RATE, r));
        }
        Ok(entry.caller.clone())
    }
}

/// Extractor for the operator's pages.
pub struct Admin;

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Admin, Response> {
        if !state.auth.admin_configured() {
            return Err(super::http::not_found().await.into_response());
        }
        let presented = parts.headers.contains_key(header::AUTHORIZATION);
        let ip = peer(parts);
        if presented {
            if let Some(wait) = state.auth.blocked(ip) {
                state.metrics.rejected(REJECT_AUTH_FAILURES);
                return Err(too_many_failures(wait));
            }
        }
        if state.auth.is_admin(&parts.headers) {
            Ok(Admin)
        } else {
            if presented {
                state.auth.failed(ip);
            }
            state.metrics.rejected("admin");
            Err(admin_challenge())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn basic_auth_is_decoded() {
        // "admin:secret"
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YWRtaW46c2VjcmV0"),
        );
        assert_eq!(presented_admin_key(&h).as_deref(), Some("secret"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpzZWNyZXQ="),
        ); // user:secret
        assert_eq!(presented_admin_key(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k"));
        assert_eq!(presented_admin_key(&h).as_deref(), Some("k"));
    }

    #[test]
    fn buckets_refill() {
        let mut c = ServeConfig::new("127.0.0.1:0".parse().unwrap());
        c.rate_per_second = 1000.0;
        c.rate_burst = 2;
        let a = Auth::new(&c);
        assert!(a.take(1).is_ok());
        assert!(a.take(1).is_ok());
        assert!(a.take(1).is_err());
        assert!(a.take(2).is_ok(), "buckets are per key");
        std::thread::sleep(Duration::from_millis(5));
        assert!(a.take(1).is_ok());
    }

    #[test]
    fn failures_are_limited_per_address_and_ipv6_by_its_64() {
        let mut c = ServeConfig::new("127.0.0.1:0".parse().unwrap());
        c.auth_failures_burst = 3;
        c.auth_failures_per_minute = 60_000.0;
        let a = Auth::new(&c);
        let ip: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            assert!(a.blocked(Some(ip)).is_none());
            a.failed(Some(ip));
        }
        assert!(a.blocked(Some(ip)).is_some());
        assert!(a.blocked(Some(same_64)).is_some(), "one /64 is one client");
        assert!(a.blocked(Some(other)).is_none());
        std::thread::sleep(Duration::from_millis(5));
        assert!(a.blocked(Some(ip)).is_none(), "the bucket refills");
        // Without an address (no accept loop), nothing is limited.
        assert!(a.blocked(None).is_none());
    }

    proptest! {
        /// Any Authorization header is read without panicking.
        #[test]
        fn any_authorization_is_handled(v in "[ -~]{0,200}") {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(&v).unwrap());
            let _ = presented_admin_key(&h);
            let _ = bearer(&h);
        }
    }
}
