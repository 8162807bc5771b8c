//! `GET /openapi.json`: the feed's contract in OpenAPI 3.1 (`schemas/openapi.json`): the
//! partner feed and the admin routes, their parameters, the `ETag`, `Lheo-Feed-Cursor` and
//! `Retry-After` headers, the JSON error body and the two authentication schemes.
//!
//! Written by hand next to the handlers, and kept from drifting by tests: every route the
//! router declares is described with its methods and nothing else is
//! ([`tests::every_route_is_described_and_nothing_else`]), and the real server's answers
//! are checked against it (`tests/serve_hardening.rs`).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The description, as served.
pub const DOCUMENT: &str = include_str!("../../schemas/openapi.json");

/// `GET /openapi.json` (no key: the contract is public, the data is not).
pub async fn document() -> Response {
    let mut r = DOCUMENT.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// (path, method) of every `.route(…)` of `serve::router`, read from its source, with
    /// axum's `{param}` syntax (the same as OpenAPI's).
    fn routes() -> BTreeSet<(String, String)> {
        let src = include_str!("mod.rs");
        let mut out = BTreeSet::new();
        for part in src.split(".route(\"").skip(1) {
            let (path, rest) = part.split_once('"').unwrap();
            let call = &rest[..rest.find("))\n").unwrap_or(rest.len())];
            for method in ["get", "post", "put", "delete", "patch"] {
                if call.contains(&format!("{method}(")) {
                    out.insert((path.to_owned(), method.to_owned()));
                }
            }
        }
        out
    }

    #[test]
    fn every_route_is_described_and_nothing_else() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut described = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                described.insert((path.clone(), method.clone()));
            }
        }
        let routed = routes();
        assert!(routed.len() >= 10, "{routed:?}");
        assert_eq!(routed, described);
    }

    #[test]
    fn every_operation_documents_its_errors_as_json() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                for (status, r) in responses {
                    if status.starts_with('4') || status == "500" {
                        assert!(
                            r["content"]["application/json"].is_object(),
                            "{method} {path} {status}"
                        );
                    }
                }
                for status in ["400", "405", "408", "413", "414", "500"] {
                    assert!(responses.contains_key(status), "{method} {path} {status}");
                }
            }
        }
    }
}
