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

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::http::{self, error, internal};
use super::partners::Scope;
use super::{auth::Caller, AppState};
use crate::generation::{EXTRAS_GENERATION, EXTRAS_RETRAITS};
use crate::lheo::document_header;
use crate::model::ActionCode;
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

/// A position in the feed's order: after the row (generation, formation, action); and the
/// partner's *horizon*, `since`: every state the partner may still hold of an offer whose
/// row comes after this position was current at generation `since` or later.
///
/// The horizon is what lets the feed tell a partner to drop an offer that left its scope
/// without telling it about offers it could never have held. The position alone cannot
/// say it: a partner paging while exports commit may hold an offer read pages ago, whose
/// row has since moved past generations the cursor already left behind. So the horizon
/// is carried as it was while a partner pages, and moves up to the page's generation
/// when a page ends the list (`has_more: false`): the partner then holds exactly that
/// generation's scoped snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub generation: i64,
    pub formation: i64,
    pub action: i64,
    pub since: i64,
}

impl Cursor {
    /// Before everything.
    pub const START: Cursor = Cursor {
        generation: 0,
        formation: 0,
        action: 0,
        since: 0,
    };

    /// After every row of generation `g` and those before it: where a partner that holds
    /// generation `g`'s snapshot continues.
    pub fn after_generation(g: i64) -> Cursor {
        Cursor {
            generation: g,
            formation: i64::MAX,
            action: i64::MAX,
            since: g,
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

    /// Opaque to partners: `c3` and hex of the four numbers and their MAC under the
    /// server's secret key, so that a truncated, edited or made-up cursor is refused
    /// instead of read as another position (a plain checksum, as `c1` had, anyone could
    /// recompute).
    pub fn encode(&self, key: &CursorKey) -> String {
        let mut raw = Vec::with_capacity(32 + MAC_BYTES);
        raw.extend_from_slice(b"c3");
        for n in [self.generation, self.formation, self.action, self.since] {
            raw.extend_from_slice(&n.to_be_bytes());
        }
        let mac = Self::mac(key, &raw);
        let mut out = String::from("c3");
        out.push_str(&hex::encode(&raw[2..]));
        out.push_str(&hex::encode(mac));
        out
    }

    /// Reads a cursor the server gave. `c2` cursors (before the horizon existed, same key)
    /// are still read, with the widest horizon: their partners may get deletions of
    /// offers that were in their scope at any time, never miss one.
    pub fn decode(s: &str, key: &CursorKey) -> Option<Cursor> {
        use subtle::ConstantTimeEq as _;
        let (numbers, signed_prefix): (usize, &[u8]) = match s.get(..2)? {
            "c3" => (4, b"c3"),
            "c2" => (3, b""),
            _ => return None,
        };
        let hexed = &s[2..];
        if hexed.len() != 2 * (8 * numbers + MAC_BYTES) {
            return None;
        }
        let raw = hex::decode(hexed).ok()?;
        let (body, mac) = raw.split_at(8 * numbers);
        let signed = [signed_prefix, body].concat();
        if !bool::from(Self::mac(key, &signed).ct_eq(mac)) {
            return None;
        }
        let n = |i: usize| i64::from_be_bytes(body[8 * i..8 * i + 8].try_into().expect("8 bytes"));
        let c = Cursor {
            generation: n(0),
            formation: n(1),
            action: n(2),
            since: if numbers == 4 { n(3) } else { 0 },
        };
        (c.generation >= 0 && c.formation >= 0 && c.action >= 0 && c.since >= 0).then_some(c)
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
    let (lheo, limit) = match page_shape(&q, state.config.max_page) {
        Ok(shape) => shape,
        Err((code, message)) => return error(StatusCode::BAD_REQUEST, code, message),
    };
    let (key, cursor, current, finished) = match position(&state, &q).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    // The answer depends only on the current generation, the request and the scope:
    // the ETag is known before reading any row, so a 304 costs one small query.
    let base = etag_base(current, &cursor.encode(key), limit, lheo, &caller.scope);
    let etag = http::etag_for(&base, http::accepts_gzip(&headers));
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

    let read = match read_entries(&state, &caller.scope, cursor, current, limit, lheo).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let page = Page {
        generation: current,
        entries: read.entries,
        next_cursor: read.next.encode(key),
        has_more: read.has_more,
    };
    let response = if lheo {
        lheo_page(&state, &headers, &base, finished, &page, &read.upserts).await
    } else {
        let body = serde_json::to_vec(&page).expect("serialisable");
        http::document(&headers, &base, finished, http::JSON, body)
    };
    with_page_headers(response, &page)
}

/// The request's format (`true`: LHÉO) and page size; or the error code and message of
/// the 400 that refuses them.
fn page_shape(q: &ChangesQuery, max_page: u32) -> Result<(bool, u32), (&'static str, String)> {
    let lheo = match q.format.as_deref() {
        None | Some("json") => false,
        Some("lheo") => true,
        Some(_) => {
            return Err((
                "bad_format",
                "format is json (the default) or lheo".to_owned(),
            ))
        }
    };
    let max = if lheo {
        MAX_LHEO_LIMIT.min(max_page)
    } else {
        max_page
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT.min(max));
    if limit == 0 || limit > max {
        return Err(("bad_limit", format!("limit must be between 1 and {max}")));
    }
    Ok((lheo, limit))
}

/// Where the request stands: the cursor key, the decoded cursor, and the current generation
/// (with when it finished); or the response that ends the request (a bad or expired
/// cursor, nothing published yet, a store error).
async fn position<'a>(
    state: &'a AppState,
    q: &ChangesQuery,
) -> Result<(&'a CursorKey, Cursor, i64, chrono::DateTime<chrono::Utc>), Response> {
    let key = state.cursor_key().await.map_err(internal)?;
    let cursor = match q.cursor.as_deref() {
        None | Some("") => Cursor::START,
        Some(c) => Cursor::decode(c, key).ok_or_else(bad_cursor)?,
    };
    let (current, finished) = match state.store.last_generation_id().await {
        Ok(Some(g)) => g,
        Ok(None) => {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_generation",
                "nothing has been published yet (no export generation): try again later",
            ))
        }
        Err(e) => return Err(internal(e)),
    };
    if cursor.generation > current || cursor.since > current {
        // A cursor from a database that was rebuilt since: only a resync is safe.
        return Err(expired());
    }
    Ok((key, cursor, current, finished))
}

/// The ETag's base for a page: the current generation and a digest of what else decides
/// the answer (the cursor, the limit, the format, the caller's scope).
fn etag_base(current: i64, cursor: &str, limit: u32, lheo: bool, scope: &Scope) -> String {
    let id = format!("{cursor}|{limit}|{lheo}|{}", scope.digest());
    format!(
        "c{current}-{}",
        hex::encode(&Sha256::digest(id.as_bytes())[..8])
    )
}

/// The page's position in headers, for clients that read only those.
fn with_page_headers(mut response: Response, page: &Page) -> Response {
    let h = response.headers_mut();
    h.insert("lheo-feed-generation", HeaderValue::from(page.generation));
    if let Ok(v) = HeaderValue::from_str(&page.next_cursor) {
        h.insert("lheo-feed-next-cursor", v);
    }
    h.insert(
        "lheo-feed-has-more",
        HeaderValue::from_static(if page.has_more { "true" } else { "false" }),
    );
    response
}

/// What one request read: the entries for this partner, the live offers among them (with
/// their fragments when asked), where the next page starts and whether one is waiting.
struct Read {
    entries: Vec<Entry>,
    upserts: Vec<FeedRow>,
    next: Cursor,
    has_more: bool,
}

/// Reads rows after `cursor` until `limit` entries for this partner, the end of the list,
/// or the scan cap. Each row is what [`entry_for`] makes of it.
async fn read_entries(
    state: &AppState,
    scope: &Scope,
    cursor: Cursor,
    current: i64,
    limit: u32,
    lheo: bool,
) -> anyhow::Result<Read> {
    let mut read = Read {
        entries: Vec::new(),
        upserts: Vec::new(),
        next: cursor,
        has_more: false,
    };
    let mut commit_times: HashMap<i64, String> = HashMap::new();
    let mut scanned = 0usize;
    // The first read is the page and one row more (an unscoped partner's page is then
    // read whole, and whether more follows is known); a scope that filters rows out reads
    // on in growing batches, up to MAX_SCAN. A fixed 500 made a page of 100 cost 500 rows.
    let mut batch = limit.saturating_add(1);
    loop {
        let page = state
            .store
            .feed_page(
                read.next.generation,
                (read.next.formation, read.next.action),
                current,
                batch,
                lheo,
            )
            .await?;
        let exhausted = page.len() < batch as usize;
        batch = batch.saturating_mul(4).min(MAX_SCAN as u32);
        let held = held_before(state, scope, &page, cursor.since).await?;
        let mut full = false;
        let mut rows = page.into_iter();
        for row in rows.by_ref() {
            scanned += 1;
            read.next = Cursor {
                generation: row.generation,
                formation: row.numero.formation as i64,
                action: row.numero.action as i64,
                since: cursor.since,
            };
            let Some(op) = entry_for(scope, &row, &held) else {
                continue;
            };
            let numero = row.numero.to_string();
            let entry = match op {
                Op::Upsert => Entry {
                    href: Some(format!("/feed/offres/{numero}")),
                    numero,
                    op: "upsert",
                    hash: row.hash.clone(),
                    generation: row.generation,
                    withdrawn_at: None,
                },
                Op::Delete => Entry {
                    withdrawn_at: Some(match row.withdrawn_at {
                        Some(at) => at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        None => commit_time(state, &mut commit_times, row.generation).await?,
                    }),
                    numero,
                    op: "delete",
                    hash: row.hash.clone(),
                    generation: row.generation,
                    href: None,
                },
            };
            read.entries.push(entry);
            if op == Op::Upsert {
                read.upserts.push(row);
            }
            if read.entries.len() >= limit as usize {
                full = true;
                break;
            }
        }
        if exhausted && rows.len() == 0 {
            // The list is read to its end: the partner now holds this generation's scoped
            // snapshot, the horizon of its next visit.
            read.next.since = current;
            return Ok(read);
        }
        if full || scanned >= MAX_SCAN {
            // Rows are left: whether any is for this partner is only known by reading
            // them; saying "more" costs the partner at most one empty page.
            read.has_more = true;
            return Ok(read);
        }
    }
}

/// What a row says to a partner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Upsert,
    Delete,
}

/// A row for this partner: an upsert when the offer is live and in its scope; a delete
/// when it is withdrawn or out of its scope and the partner may hold it (its last values
/// were in scope, or it is in `held`); nothing when the partner can never have held it,
/// so that an offer outside its scope throughout is never revealed.
fn entry_for(scope: &Scope, row: &FeedRow, held: &HashSet<ActionCode>) -> Option<Op> {
    let in_scope = scope.allows(&row.programmes, &row.departements);
    match (row.withdrawn_at.is_none(), in_scope) {
        (true, true) => Some(Op::Upsert),
        (false, true) => Some(Op::Delete),
        (_, false) => held.contains(&row.numero).then_some(Op::Delete),
    }
}

/// The offers of `rows` out of the partner's scope now that were in it with values that
/// held at generation `since` or later (`published_scopes`): those the partner may hold
/// and must be told to drop. One query for the rows that need it; none for an unscoped
/// partner.
async fn held_before(
    state: &AppState,
    scope: &Scope,
    rows: &[FeedRow],
    since: i64,
) -> anyhow::Result<HashSet<ActionCode>> {
    if scope.is_all() {
        return Ok(HashSet::new());
    }
    let out: Vec<ActionCode> = rows
        .iter()
        .filter(|r| !scope.allows(&r.programmes, &r.departements))
        .map(|r| r.numero)
        .collect();
    if out.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(state
        .store
        .ended_scopes(&out, since)
        .await?
        .into_iter()
        .filter(|(_, programmes, departements)| scope.allows(programmes, departements))
        .map(|(numero, _, _)| numero)
        .collect())
}

/// When generation `g` was committed (RFC 3339, UTC): the `withdrawn_at` of an offer that
/// left the partner's scope with it. Asked once per generation in a request.
async fn commit_time(
    state: &AppState,
    cache: &mut HashMap<i64, String>,
    g: i64,
) -> anyhow::Result<String> {
    if let Some(t) = cache.get(&g) {
        return Ok(t.clone());
    }
    let row = state
        .store
        .generation(g)
        .await?
        .ok_or_else(|| anyhow::anyhow!("generation {g} is missing"))?;
    let t = row
        .finished_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    cache.insert(g, t.clone());
    Ok(t)
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
    upserts: &[FeedRow],
) -> Response {
    let deleted: Vec<&str> = page
        .entries
        .iter()
        .filter(|e| e.op == "delete")
        .map(|e| e.numero.as_str())
        .collect();
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
    for r in upserts {
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
            since: 5,
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
        // The edited horizon (a partner widening what it may be told about): refused.
        let mut wider = s.clone().into_bytes();
        let at = 2 + 2 * 24 + 15;
        wider[at] = if wider[at] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            Cursor::decode(std::str::from_utf8(&wider).unwrap(), &key),
            None
        );
        // A `c2` cursor (position only, same key) is still read, with the widest horizon.
        let mut raw = Vec::new();
        for n in [7i64, 19482, 89393] {
            raw.extend_from_slice(&n.to_be_bytes());
        }
        let c2 = format!(
            "c2{}{}",
            hex::encode(&raw),
            hex::encode(Cursor::mac(&key, &raw))
        );
        assert_eq!(Cursor::decode(&c2, &key), Some(Cursor { since: 0, ..c }));
        // The old unkeyed form, whose checksum anyone could recompute: refused.
        let old = "c1000000000000000700000000000050f20000000000015ee9a1b2c3d4";
        assert_eq!(Cursor::decode(old, &key), None);
    }

    proptest! {
        /// Any text as a cursor is refused or decodes to a position that encodes back
        /// to the same text.
        #[test]
        fn any_cursor_text_is_refused_or_exact(s in "(c[23])?[0-9a-f]{0,96}|\\PC{0,110}") {
            let key = CursorKey([7; 32]);
            if let Some(c) = Cursor::decode(&s, &key) {
                prop_assert_eq!(Cursor::decode(&c.encode(&key), &key), Some(c));
                if s.starts_with("c3") {
                    prop_assert_eq!(c.encode(&key), s);
                }
            }
        }
    }
}
