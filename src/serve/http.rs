//! HTTP details shared by the handlers: conditional requests, content negotiation, error
//! bodies.

use std::io::Write as _;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

/// An error answer: JSON `{"error": code, "message": …}`, the message saying what to do.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": code, "message": message.into() });
    let mut r = (status, body.to_string() + "\n").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// For a failure of ours (the database, a file): logged, and a 500 without details.
pub fn internal(e: anyhow::Error) -> Response {
    tracing::error!("request failed: {e:#}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the feed could not answer; try again later (the operator has the details in the logs)",
    )
}

/// Makes every error answer JSON, as `docs/feed.md` promises: what axum's extractors
/// (`limit=-1`, an undecodable path), the body limit (413), the timeout (408) or the
/// router (405) answer in plain text or with no body becomes `{"error", "message"}`,
/// keeping its status and headers (`Allow`, `Retry-After`, `WWW-Authenticate`).
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The replaced bodies are axum's one-line messages; a longer one is cut, not buffered.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let json = error(status, code, message);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    Response::from_parts(parts, json.into_body())
}

pub async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such resource (see docs/feed.md)",
    )
}

/// `Last-Modified` / `If-Modified-Since` form: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    // RFC 9110's preferred format is RFC 2822 with "GMT", which chrono reads.
    DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Whether the client's copy is current (RFC 9110 § 13.2.2: If-None-Match, when present,
/// decides alone; weak comparison, as for GET).
pub fn not_modified(headers: &HeaderMap, etag: &str, last_modified: DateTime<Utc>) -> bool {
    if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else { return false };
        let ours = etag.trim_start_matches("W/");
        return inm
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == ours);
    }
    if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
    {
        return last_modified.timestamp() <= ims.timestamp();
    }
    false
}

/// Whether the client accepts gzip (`Accept-Encoding: gzip`, or `*`, with q > 0).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|q| q.trim().parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0
        })
}

/// The validators and caching headers every document carries.
pub fn document_headers(
    headers: &mut HeaderMap,
    etag: &str,
    last_modified: DateTime<Utc>,
    content_type: &'static str,
    gzip: bool,
) {
    let set = |h: &mut HeaderMap, k, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set(headers, header::ETAG, etag);
    set(headers, header::LAST_MODIFIED, &http_date(last_modified));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    // Partners' answers depend on their key: no shared cache may keep them.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
}

/// A 304 with the document's validators.
pub fn not_modified_response(etag: &str, last_modified: DateTime<Utc>) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(last_modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    r
}

/// gzip of a body built in memory (level 1: these are small, and served once).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::fast(),
    );
    gz.write_all(bytes).expect("writing to memory");
    gz.finish().expect("writing to memory")
}

/// A document built in memory: compressed if the client accepts it, validators set, or a
/// 304 when the client's copy is current.
pub fn document(
    req: &HeaderMap,
    etag_base: &str,
    last_modified: DateTime<Utc>,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response {
    let gz = accepts_gzip(req);
    let etag = etag_for(etag_base, gz);
    if not_modified(req, &etag, last_modified) {
        return not_modified_response(&etag, last_modified);
    }
    let body = if gz { gzip(&body) } else { body };
    let mut r = body.into_response();
    document_headers(r.headers_mut(), &etag, last_modified, content_type, gz);
    r
}

/// A strong ETag: the representation's identity, `-gz` for the compressed one (its bytes
/// differ, so a strong validator must too).
pub fn etag_for(base: &str, gzip: bool) -> String {
    if gzip {
        format!("\"{base}-gz\"")
    } else {
        format!("\"{base}\"")
    }
}

pub const XML: &str = "application/xml; charset=utf-8";
pub const JSON: &str = "application/json; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn conditional_requests() {
        let t = DateTime::parse_from_rfc3339("2025-06-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(not_modified(&h(&[("if-none-match", "\"a\"")]), "\"a\"", t));
        assert!(not_modified(
            &h(&[("if-none-match", "\"b\", W/\"a\"")]),
            "\"a\"",
            t
        ));
        assert!(!not_modified(&h(&[("if-none-match", "\"b\"")]), "\"a\"", t));
        // If-None-Match decides alone.
        assert!(!not_modified(
            &h(&[
                ("if-none-match", "\"b\""),
                ("if-modified-since", &http_date(t))
            ]),
            "\"a\"",
            t
        ));
        assert!(not_modified(
            &h(&[("if-modified-since", &http_date(t))]),
            "\"a\"",
            t
        ));
        let before = t - chrono::Duration::seconds(1);
        assert!(!not_modified(
            &h(&[("if-modified-since", &http_date(before))]),
            "\"a\"",
            t
        ));
        assert!(!not_modified(
            &h(&[("if-modified-since", "garbage")]),
            "\"a\"",
            t
        ));
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(&h(&[("accept-encoding", "gzip, br")])));
        assert!(accepts_gzip(&h(&[(
            "accept-encoding",
            "br;q=1, GZIP;q=0.5"
        )])));
        assert!(!accepts_gzip(&h(&[("accept-encoding", "gzip;q=0")])));
        assert!(!accepts_gzip(&h(&[("accept-encoding", "br")])));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    proptest! {
        /// Whatever a client sends in these headers, the checks answer without panicking.
        #[test]
        fn any_header_text_is_handled(v in "[ -~]{0,80}") {
            let m = h(&[("if-none-match", &v), ("if-modified-since", &v), ("accept-encoding", &v)]);
            let _ = not_modified(&m, "\"x\"", Utc::now());
            let _ = accepts_gzip(&m);
        }
    }
}
