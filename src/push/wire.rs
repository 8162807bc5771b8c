//! What goes on the wire: the batch documents, and the Standard Webhooks headers.
//!
//! A batch with offers is a LHÉO 2.3 document (valid against the official XSD): the offers'
//! canonical `<formation>` fragments, as published, then the `extras` that say which
//! consumer and generations it is for and which offers are withdrawn, the same way as the
//! delta file of `export --delta-out` (`docs/generations.md`). LHÉO cannot hold an empty
//! `<offres>`, so a batch of withdrawals only is a small document of our own namespace,
//! [`RETRAITS_NAMESPACE`]. `docs/consumers.md` describes both for the consumers.
//!
//! Signatures follow Standard Webhooks: `webhook-signature` is `v1,` + base64 of
//! HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, the body being the bytes
//! sent (compressed, when gzip is on); one signature per key during a key rotation,
//! separated by spaces.

use std::io::Write as _;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::config::Secret;
use crate::generation::{EXTRAS_GENERATION, EXTRAS_RETRAITS};
use crate::lheo::writer::document_header;

/// The root namespace of a withdrawals-only batch.
pub const RETRAITS_NAMESPACE: &str = "urn:lheo-feed:retraits:1";
/// `info` of the extras that name the consumer and the batch's kind.
pub const EXTRAS_ENVOI: &str = "lheo-feed-envoi";
/// Header saying which document a request holds: `offres` (LHÉO) or `retraits`.
pub const DOCUMENT_HEADER: &str = "lheo-feed-document";
/// The content type of every request.
pub const CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// What a batch says about itself, beside its offers.
#[derive(Clone, Debug)]
pub struct BatchInfo<'a> {
    pub consumer: &'a str,
    /// `delta` or `snapshot` (every offer of the consumer's filter, and the withdrawals
    /// of those it held and no longer gets).
    pub kind: &'a str,
    pub first_generation: i64,
    pub last_generation: i64,
    pub horodatage_export: &'a str,
}

/// A batch document. `fragments`: canonical `<formation>…</formation>\n` fragments;
/// `retraits`: `F-A` numeros (digits and a hyphen: nothing to escape). Returns the bytes
/// and whether it is a LHÉO document (at least one offer).
pub fn document(info: &BatchInfo, fragments: &[&str], retraits: &[String]) -> (Vec<u8>, bool) {
    if fragments.is_empty() {
        return (retraits_document(info, retraits).into_bytes(), false);
    }
    let mut s = document_header(info.horodatage_export);
    for f in fragments {
        s.push_str(f);
    }
    s.push_str(&document_tail(info, retraits));
    (s.into_bytes(), true)
}

/// A withdrawals-only document (LHÉO cannot hold an empty `<offres>`).
pub fn retraits_document(info: &BatchInfo, retraits: &[String]) -> String {
    let consumer = xml_escape(info.consumer);
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<retraits xmlns=\"{RETRAITS_NAMESPACE}\" \
         consommateur=\"{consumer}\" envoi=\"{}\" premiere-generation=\"{}\" generation=\"{}\" \
         horodatage-export=\"{}\">\n",
        info.kind, info.first_generation, info.last_generation, info.horodatage_export
    );
    for n in retraits {
        s.push_str(&format!("<retrait numero=\"{n}\"/>\n"));
    }
    s.push_str("</retraits>\n");
    s
}

/// What follows the offers' fragments in a LHÉO batch document (or an SFTP deposit):
/// the end of `<offres>`, the extras, the end of `<lheo>`.
pub fn document_tail(info: &BatchInfo, retraits: &[String]) -> String {
    let consumer = xml_escape(info.consumer);
    let mut s = String::from("</offres>\n");
    s.push_str(&format!(
        "<extras info=\"{EXTRAS_GENERATION}\">\n<extra info=\"generation\">{}</extra>\n\
         <extra info=\"premiere-generation\">{}</extra>\n</extras>\n",
        info.last_generation, info.first_generation
    ));
    s.push_str(&format!(
        "<extras info=\"{EXTRAS_ENVOI}\">\n<extra info=\"consommateur\">{consumer}</extra>\n\
         <extra info=\"envoi\">{}</extra>\n</extras>\n",
        info.kind
    ));
    if !retraits.is_empty() {
        s.push_str(&format!("<extras info=\"{EXTRAS_RETRAITS}\">\n"));
        for n in retraits {
            s.push_str(&format!("<extra info=\"retrait\" numero=\"{n}\"/>\n"));
        }
        s.push_str("</extras>\n");
    }
    s.push_str("</lheo>\n");
    s
}

/// Bytes a batch document adds besides its fragments and withdrawals, at most (header,
/// extras); used to keep a batch under its byte limit.
pub const DOCUMENT_OVERHEAD: usize = 1024;
/// Bytes one withdrawal adds, at most.
pub const RETRAIT_BYTES: usize = 64;

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// gzip, for consumers configured with `gzip = true`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::default(),
    );
    e.write_all(bytes).expect("writing to memory");
    e.finish().expect("writing to memory")
}

/// A new idempotency key (`webhook-id`): 128 random bits. Made once per batch, stored with
/// it, and sent unchanged on every retry.
pub fn new_webhook_id() -> String {
    let bits: u128 = rand::random();
    format!("msg_{bits:032x}")
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The `webhook-signature` value: `v1,<base64>` per key, space-separated. `None` when the
/// consumer has no signing key.
pub fn sign(keys: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    if keys.is_empty() {
        return None;
    }
    let sigs: Vec<String> = keys
        .iter()
        .map(|k| {
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD
                    .encode(mac(&k.0, id, timestamp, body).finalize().into_bytes())
            )
        })
        .collect();
    Some(sigs.join(" "))
}

/// Whether one of the `v1` signatures of `header` was made with `key` over this message,
/// compared in constant time (what a receiver does; used by the tests and the example
/// receiver).
pub fn verify(key: &[u8], id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    header.split(' ').any(|sig| {
        let Some(b64) = sig.strip_prefix("v1,") else {
            return false;
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            return false;
        };
        mac(key, id, timestamp, body).verify_slice(&raw).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let key = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let ts = 1614265330;
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(&[Secret(key.clone())], id, ts, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify(&key, id, ts, body, &sig));
        assert!(!verify(&key, id, ts + 1, body, &sig));
        assert!(!verify(b"other", id, ts, body, &sig));
    }

    #[test]
    fn rotation_gives_one_signature_per_key_and_either_verifies() {
        let keys = [Secret(b"old".to_vec()), Secret(b"new".to_vec())];
        let sig = sign(&keys, "msg_1", 7, b"x").unwrap();
        assert_eq!(sig.split(' ').count(), 2);
        assert!(verify(b"old", "msg_1", 7, b"x", &sig));
        assert!(verify(b"new", "msg_1", 7, b"x", &sig));
        assert!(sign(&[], "msg_1", 7, b"x").is_none());
    }

    #[test]
    fn withdrawals_only_is_our_document_and_mixed_is_lheo() {
        let info = BatchInfo {
            consumer: "kairos",
            kind: "delta",
            first_generation: 3,
            last_generation: 4,
            horodatage_export: "2025-06-02T03:00:00+02:00",
        };
        let (doc, lheo) = document(&info, &[], &["1-2".to_owned()]);
        let doc = String::from_utf8(doc).unwrap();
        assert!(!lheo);
        assert!(doc.contains(RETRAITS_NAMESPACE) && doc.contains("<retrait numero=\"1-2\"/>"));
        let (doc, lheo) = document(
            &info,
            &["<formation numero=\"1-3\"></formation>\n"],
            &["1-2".to_owned()],
        );
        let doc = String::from_utf8(doc).unwrap();
        assert!(lheo);
        assert!(doc.starts_with("<?xml") && doc.ends_with("</lheo>\n"));
        assert!(doc.contains("<extra info=\"retrait\" numero=\"1-2\"/>"));
        assert!(doc.len() < DOCUMENT_OVERHEAD + 40 + RETRAIT_BYTES);
    }

    #[test]
    fn ids_are_unique() {
        assert_ne!(new_webhook_id(), new_webhook_id());
        assert_eq!(new_webhook_id().len(), 36);
    }
}
