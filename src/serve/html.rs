//! What the status pages' HTML shares: escaping and the one style sheet (named by its hash
//! in the pages' `Content-Security-Policy`).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// A page's response: HTML, never cached, under the [`content_security_policy`].
pub fn response(html: String) -> Response {
    let mut r = html.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(content_security_policy()).expect("ASCII"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// A page's head (title, viewport, the style sheet) and the opening of its body.
pub fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body><h1>{t}</h1>",
        t = esc(title)
    )
}

/// Escapes text for HTML (and SVG) content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The pages' one style sheet. The print rules make the page (and an organisme's page,
/// sent to it) read on paper: no scroll boxes, every `details` shown, the chart's width
/// kept to the page, its colours printed (its series also differ by dash pattern, for a
/// black-and-white printer).
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60em;\
padding:.5em 1em;color:#222;line-height:1.4}h1{font-size:1.4em}h2{font-size:1.15em;\
margin-top:1.5em;border-bottom:1px solid #ccc}h3{font-size:1em;margin:.8em 0 .2em}\
table{border-collapse:collapse;width:100%;\
font-size:.9em}th,td{border-bottom:1px solid #eee;padding:.25em .4em;text-align:right}\
th:first-child,td:first-child{text-align:left}.scroll{overflow-x:auto}\
details{margin:.4em 0;padding:.3em .5em;background:#f7f7f7;border-radius:4px}\
summary{cursor:pointer;font-weight:600}li{margin:.2em 0;overflow-wrap:anywhere}\
.muted{color:#666}.err{color:#a00}.warn{color:#a60}code{font-size:.9em}\
svg.chart{width:100%;height:auto;max-width:48em;display:block}\
tr.unusual td{background:#fde8e8}.mark{color:#a00;font-weight:600}\
@media print{body{max-width:none;font-size:10pt}a{color:inherit;text-decoration:none}\
.scroll{overflow:visible}details{background:none;padding:0}details>*{display:block}\
svg.chart{max-width:100%;break-inside:avoid;print-color-adjust:exact;\
-webkit-print-color-adjust:exact}.noprint{display:none}h2{break-after:avoid}\
li{break-inside:avoid}}";

/// The status page's `Content-Security-Policy`: nothing may load or run but its one
/// inline style sheet, named by its hash, so that text an organisme typed into SOFI can
/// never become a script even if an escape were missed; no framing, no form posting
/// elsewhere.
pub fn content_security_policy() -> &'static str {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
