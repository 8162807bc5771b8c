//! `GET /feed/changes?cursor=…&limit=…&format=json|lheo`: what changed since a cursor.
//!
//! The model is OAI-PMH's incremental harvest over plain HTTP. Each offer ever published
//! has one row in `published`, stamped with the generation that last created, updated or
//! withdrew it; the feed lists those rows in the order (that generation, numeric key),
//! each as its *current* state: an `upsert` (live offer, its hash) or a `delete`
//! (tombstone). A cursor is the position of the last row a partner received. Rows only
//! ever move forward in that order (a new generation stamps them with a larger number), so
//! paging from a cursor never misses a change, also when an export commits between two
//! pages: an offer already received that changes again comes back later, with its new
//! state. A page is read by one statement, so it never shows part of a generation's commit.
//!
//! Tombstones are purged after the export's retention (90 days by default). A cursor that
//! would need a purged deletion gets `410 Gone` with `error: "cursor_expired"`: the partner
//! must take the full snapshot again (its `Lheo-Feed-Cursor` header starts a new cursor).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::http::{self, error, internal};
use super::{auth::Caller, AppState};
use crate::generation::{EXTRAS_GENERATION, EXTRAS_RETRAITS};
use crate::lheo::document_header;
use crate::store::FeedRow;

/// Default page size.
const DEFAULT_LIMIT: u32 = 100;
/// Largest page in LHÉO: each entry is a whole `<formation>`.
const MAX_LHEO_LIMIT: u32 = 200;
/// Rows read per request at most, whatever the scope filters out, so that a narrow scope
/// over a large change set still answers quickly (the partner follows the cursor).
const MAX_SCAN: usize = 20_000;
/// `info` of the LHÉO changes page's extras holding the cursor.
pub const EXTRAS_CURSOR: &str = "lheo-feed-curseur";

/// Bytes of MAC a cursor carries (128 bits: not to be guessed, online or offline).
const MAC_BYTES: usize = 16;

/// The key cursors are signed with: drawn once per database (`server_secrets`), so that
/// every instance serving it accepts the others' cursors.
#[derive(Clone)]
pub struct CursorKey(pub [u8; 32]);

impl CursorKey {
    /// The store's key, drawn from the OS's CSPRNG the first time.
    pub async fn of(store: &crate::store::Store) -> anyhow::Result<CursorKey> {
        let hexed = store
            .server_secret("cursor_mac", || {
                let mut k = [0u8; 32];
                getrandom::fill(&mut k).expect("the OS random source");
                hex::encode(k)
            })
            .await?;
        let mut k = [0u8; 32];
        hex::decode_to_slice(hexed.trim(), &mut k)
            .map_err(|_| anyhow::anyhow!("server_secrets.cursor_mac is not 64 hex digits"))?;
        Ok(CursorKey(k))
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(***)")
    }
}

/// A position in the feed's order: after the row (generation, formation, action).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub generation: i64,
    pub formation: i64,
    pub action: i64,
}

impl Cursor {
    /// Before everything.
    pub const START: Cursor = Cursor {
        generation: 0,
        formation: 0,
        action: 0,
    };

    /// After every row of generation `g` and those before it: where a partner that holds
    /// generation `g`'s snapshot continues.
    pub fn after_generation(g: i64) -> Cursor {
        Cursor {
            generation: g,
            formation: i64::MAX,
            action: i64::MAX,
        }
    }

    /// The cursor's MAC: HMAC-SHA256 under the server's key, 128 bits of it.
    fn mac(key: &CursorKey, raw: &[u8]) -> [u8; MAC_BYTES] {
        use hmac::Mac as _;
        let mut m = hmac::Hmac::<Sha256>::new_from_slice(&key.0).expect("any key length");
        m.update(raw);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; MAC_BYTES];
        out.copy_from_slice(&full[..MAC_BYTES]);
        out
    }

    /// Opaque to partners: `c2` and hex of the three numbers and their MAC under the
    /// server's secret key, so that a truncated, edited or made-up cursor is refused
    /// instead of read as another position (a plain checksum, as `c1` had, anyone could
    /// recompute).
    pub fn encode(&self, key: &CursorKey) -> String {
        let mut raw = Vec::with_capacity(24 + MAC_BYTES);
        raw.extend_from_slice(&self.generation.to_be_bytes());
        raw.extend_from_slice(&self.formation.to_be_bytes());
        raw.extend_from_slice(&self.action.to_be_bytes());
        let mac = Self::mac(key, &raw);
        raw.extend_from_slice(&mac);
        format!("c2{}", hex::encode(raw))
    }

    pub fn decode(s: &str, key: &CursorKey) -> Option<Cursor> {
        use subtle::ConstantTimeEq as _;
        let hexed = s.strip_prefix("c2")?;
        if hexed.len() != 2 * (24 + MAC_BYTES) {
            return None;
        }
        let raw = hex::decode(hexed).ok()?;
        let (body, mac) = raw.split_at(24);
        if !bool::from(Self::mac(key, body).ct_eq(mac)) {
            return None;
        }
        let n = |i: usize| i64::from_be_bytes(body[i..i + 8].try_into().expect("8 bytes"));
        let c = Cursor {
            generation: n(0),
            formation: n(8),
            action: n(16),
        };
        (c.generation >= 0 && c.formation >= 0 && c.action >= 0).then_some(c)
    }
}

#[derive(Debug, Deserialize)]
pub struct ChangesQuery {
    cursor: Option<String>,
    limit: Option<u32>,
    format: Option<String>,
}

/// One entry of a changes page.
#[derive(Debug, Serialize)]
pub struct Entry {
    pub numero: String,
    /// `upsert` or `delete`.
    pub op: &'static str,
    /// Upsert: the offer's hash; delete: the hash withdrawn.
    pub hash: String,
    /// The generation that made this change.
    pub generation: i64,
    /// Upsert: where to get the offer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn_at: Option<String>,
}

/// A changes page (`schemas/changes.schema.json`).
#[derive(Debug, Serialize)]
pub struct Page {
    pub generation: i64,
    pub entries: Vec<Entry>,
    pub next_cursor: String,
    /// More entries are waiting now: ask again with `next_cursor` at once. When false,
    /// keep `next_cursor` for the next visit.
    pub has_more: bool,
}

fn bad_cursor() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "bad_cursor",
        "this cursor is not one the feed gave: use next_cursor from the previous page, or \
         the Lheo-Feed-Cursor header of the full snapshot",
    )
}

fn expired() -> Response {
    let body = serde_json::json!({
        "error": "cursor_expired",
        "message": "this cursor is older than the deletions the feed keeps (tombstone \
                    retention): download the full snapshot again from /feed/lheo.xml and \
                    continue from its Lheo-Feed-Cursor header",
        "snapshot": "/feed/lheo.xml",
    });
    let mut r = (StatusCode::GONE, body.to_string() + "\n").into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static(http::JSON),
    );
    r
}

/// `GET /feed/changes`.
pub async fn changes(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<ChangesQuery>,
    headers: HeaderMap,
) -> Response {
    let lheo = match q.format.as_deref() {
        None | Some("json") => false,
        Some("lheo") => true,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_format",
                "format is json (the default) or lheo",
            )
        }
    };
    let max = if lheo {
        MAX_LHEO_LIMIT.min(state.config.max_page)
    } else {
        state.config.max_page
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT.min(max));
    if limit == 0 || limit > max {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_limit",
            format!("limit must be between 1 and {max}"),
        );
    }
    let key = match state.cursor_key().await {
        Ok(k) => k,
        Err(e) => return internal(e),
    };
    let cursor = match q.cursor.as_deref() {
        None | Some("") => Cursor::START,
        Some(c) => match Cursor::decode(c, key) {
            Some(c) => c,
            None => return bad_cursor(),
        },
    };
    let (current, finished) = match state.store.last_generation_id().await {
        Ok(Some(g)) => g,
        Ok(None) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_generation",
                "nothing has been published yet (no export generation): try again later",
            )
        }
        Err(e) => return internal(e),
    };
    if cursor.generation > current {
        // A cursor from a database that was rebuilt since: only a resync is safe.
        return expired();
    }
    // The answer depends only on the current generation, the request and the scope:
    // the ETag is known before reading any row, so a 304 costs one small query.
    let gz = http::accepts_gzip(&headers);
    let id = format!(
        "{}|{limit}|{lheo}|{}",
        cursor.encode(key),
        caller.scope.digest()
    );
    let base = format!(
        "c{current}-{}",
        hex::encode(&Sha256::digest(id.as_bytes())[..8])
    );
    let etag = http::etag_for(&base, gz);
    if http::not_modified(&headers, &etag, finished) {
        return http::not_modified_response(&etag, finished);
    }
    if cursor != Cursor::START {
        match state.store.deletion_purged_after(cursor.generation).await {
            Ok(true) => return expired(),
            Ok(false) => {}
            Err(e) => return internal(e),
        }
    }

    // Read pages until `limit` entries in scope, the end, or the scan cap.
    let mut rows: Vec<FeedRow> = Vec::new();
    let mut next = cursor;
    let mut scanned = 0usize;
    let mut has_more = false;
    loop {
        let batch = (limit as usize).max(500) as u32;
        let page = match state
            .store
            .feed_page(
                next.generation,
                (next.formation, next.action),
                current,
                batch,
                lheo,
            )
            .await
        {
            Ok(p) => p,
            Err(e) => return internal(e),
        };
        let exhausted = page.len() < batch as usize;
        let mut full = false;
        for row in page {
            scanned += 1;
            let (f, a) = (row.numero.formation as i64, row.numero.action as i64);
            next = Cursor {
                generation: row.generation,
                formation: f,
                action: a,
            };
            if caller.scope.allows(&row.programmes, &row.departements) {
                rows.push(row);
                if rows.len() >= limit as usize {
                    full = true;
                    break;
                }
            }
        }
        if full {
            // Whether anything follows is only known by asking; saying "more" costs the
            // partner at most one empty page.
            has_more = true;
            break;
        }
        if exhausted {
            break;
        }
        if scanned >= MAX_SCAN {
            has_more = true;
            break;
        }
    }

    let entries: Vec<Entry> = rows
        .iter()
        .map(|r| {
            let numero = r.numero.to_string();
            match r.withdrawn_at {
                None => Entry {
                    href: Some(format!("/feed/offres/{numero}")),
                    numero,
                    op: "upsert",
                    hash: r.hash.clone(),
                    generation: r.generation,
                    withdrawn_at: None,
                },
                Some(at) => Entry {
                    numero,
                    op: "delete",
                    hash: r.hash.clone(),
                    generation: r.generation,
                    href: None,
                    withdrawn_at: Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                },
            }
        })
        .collect();
    let page = Page {
        generation: current,
        entries,
        next_cursor: next.encode(key),
        has_more,
    };
    let mut response = if lheo {
        lheo_page(&state, &headers, &base, finished, &page, &rows).await
    } else {
        let body = serde_json::to_vec(&page).expect("serialisable");
        http::document(&headers, &base, finished, http::JSON, body)
    };
    let h = response.headers_mut();
    h.insert("lheo-feed-generation", HeaderValue::from(current));
    if let Ok(v) = HeaderValue::from_str(&page.next_cursor) {
        h.insert("lheo-feed-next-cursor", v);
    }
    h.insert(
        "lheo-feed-has-more",
        HeaderValue::from_static(if has_more { "true" } else { "false" }),
    );
    response
}

/// The page as a LHÉO document: the upserted offers in `<offres>`, the deletions and the
/// cursor in extras. LHÉO cannot hold an empty `<offres>`: a page without upserts is a
/// `204 No Content` whose headers carry the cursor and the deleted numeros.
async fn lheo_page(
    state: &AppState,
    headers: &HeaderMap,
    base: &str,
    finished: chrono::DateTime<chrono::Utc>,
    page: &Page,
    rows: &[FeedRow],
) -> Response {
    let deleted: Vec<&str> = page
        .entries
        .iter()
        .filter(|e| e.op == "delete")
        .map(|e| e.numero.as_str())
        .collect();
    let upserts: Vec<&FeedRow> = rows.iter().filter(|r| r.fragment.is_some()).collect();
    if upserts.is_empty() {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = HeaderValue::from_str(&deleted.join(",")) {
            r.headers_mut().insert("lheo-feed-retraits", v);
        }
        return r;
    }
    let horodatage = match state.store.generation(page.generation).await {
        Ok(Some(g)) => g.horodatage_export,
        Ok(None) => return internal(anyhow::anyhow!("generation {} is missing", page.generation)),
        Err(e) => return internal(e),
    };
    let mut body = document_header(&horodatage);
    for r in &upserts {
        body.push_str(r.fragment.as_deref().unwrap_or_default());
    }
    body.push_str("</offres>\n");
    body.push_str(&format!(
        "<extras info=\"{EXTRAS_GENERATION}\">\n<extra info=\"generation\">{}</extra>\n</extras>\n",
        page.generation
    ));
    if !deleted.is_empty() {
        body.push_str(&format!("<extras info=\"{EXTRAS_RETRAITS}\">\n"));
        for n in &deleted {
            // A numero is digits and a hyphen: nothing to escape.
            body.push_str(&format!("<extra info=\"retrait\" numero=\"{n}\"/>\n"));
        }
        body.push_str("</extras>\n");
    }
    body.push_str(&format!(
        "<extras info=\"{EXTRAS_CURSOR}\">\n<extra info=\"curseur-suivant\">{}</extra>\n\
         <extra info=\"suite\">{}</extra>\n</extras>\n</lheo>\n",
        page.next_cursor, page.has_more
    ));
    http::document(headers, base, finished, http::XML, body.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cursors_round_trip_and_refuse_edits() {
        let c = Cursor {
            generation: 7,
            formation: 19482,
            action: 89393,
        };
        let key = CursorKey([7; 32]);
        let s = c.encode(&key);
        assert_eq!(Cursor::decode(&s, &key), Some(c));
        let mut edited = s.clone().into_bytes();
        let i = 10;
        edited[i] = if edited[i] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            Cursor::decode(std::str::from_utf8(&edited).unwrap(), &key),
            None
        );
        assert_eq!(Cursor::decode(&s[..s.len() - 1], &key), None);
        assert_eq!(
            Cursor::decode(&Cursor::after_generation(3).encode(&key), &key),
            Some(Cursor::after_generation(3))
        );
        // Made with another key (anyone's own, or another deployment's): refused.
        let forged = c.encode(&CursorKey([8; 32]));
        assert_eq!(Cursor::decode(&forged, &key), None);
        // The old unkeyed form, whose checksum anyone could recompute: refused.
        let old = "c1000000000000000700000000000050f20000000000015ee9a1b2c3d4";
        assert_eq!(Cursor::decode(old, &key), None);
    }

    proptest! {
        /// Any text as a cursor is refused or decodes to a position that encodes back
        /// to the same text.
        #[test]
        fn any_cursor_text_is_refused_or_exact(s in "(c2)?[0-9a-f]{0,80}|\\PC{0,90}") {
            let key = CursorKey([7; 32]);
            if let Some(c) = Cursor::decode(&s, &key) {
                prop_assert_eq!(c.encode(&key), s);
            }
        }
    }
}
