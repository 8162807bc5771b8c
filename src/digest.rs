//! The digest that names a generation's document: `generations.file_digest`, the export's
//! summary, the snapshot's ETag, the gzip twin's index, and the check a second host makes
//! of the document it rebuilt (`crate::generation::materialise`).
//!
//! Written as `ALGORITHM:HEX` (`blake3:…`, 64 hex digits), so that a digest always says how
//! to check it. Documents are hashed with BLAKE3 since format 2 of the digest (migration
//! 0015); generations written before carry `sha256:…`, are still checked with SHA-256, and
//! keep their ETags. Why BLAKE3: a 1 % change at a million sessions rewrites a 9.2 GB
//! document, and one SHA-256 stream over it took 5.2 s of a core, about half the change's
//! CPU (`docs/BENCHMARKS.md`, session 15); BLAKE3 takes 1.3 s of the same core (AVX-512)
//! and is as collision-resistant for this use. `docs/generations.md`, "The document's
//! digest", is the partners' side of this.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

/// A hash function a document digest is made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Generations written before migration 0015.
    Sha256,
    Blake3,
}

impl Algorithm {
    /// The one new documents are hashed with.
    pub const WRITTEN: Algorithm = Algorithm::Blake3;

    /// Its name, as in a written digest.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Blake3 => "blake3",
        }
    }
}

/// A document's digest: its algorithm and its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocumentDigest {
    algorithm: Algorithm,
    bytes: [u8; 32],
}

impl DocumentDigest {
    /// The digest of `bytes`, in one call (small documents, and tests).
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> DocumentDigest {
        let mut h = DocumentHasher::new(algorithm);
        h.update(bytes);
        h.finalize()
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The 64 hex digits, without the algorithm's name (what the twin's index holds).
    pub fn hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// The first 16 hex digits, as the snapshot's ETag carries them: written where it is
    /// formatted, without a string of its own (the 304 path runs at 60 000 requests/s).
    pub fn short(&self) -> impl fmt::Display + '_ {
        struct Short<'a>(&'a [u8]);
        impl fmt::Display for Short<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
        Short(&self.bytes[..8])
    }
}

impl fmt::Display for DocumentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex())
    }
}

impl fmt::Debug for DocumentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a text is not a document digest.
#[derive(Debug, thiserror::Error)]
#[error(
    "not a document digest: expected `blake3:` or `sha256:` then 64 lowercase hex digits, \
     got {0:?}; the generations table was edited by hand, or by a newer lheo-feed"
)]
pub struct NotADigest(String);

impl FromStr for DocumentDigest {
    type Err = NotADigest;

    fn from_str(s: &str) -> Result<Self, NotADigest> {
        let refuse = || NotADigest(s.chars().take(80).collect());
        let (name, hex_digits) = s.split_once(':').ok_or_else(refuse)?;
        let algorithm = match name {
            "sha256" => Algorithm::Sha256,
            "blake3" => Algorithm::Blake3,
            _ => return Err(refuse()),
        };
        // Lowercase only: one digest, one spelling (it is compared as text in places).
        if hex_digits.len() != 64
            || !hex_digits
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(refuse());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut bytes).map_err(|_| refuse())?;
        Ok(DocumentDigest { algorithm, bytes })
    }
}

impl TryFrom<String> for DocumentDigest {
    type Error = NotADigest;

    fn try_from(s: String) -> Result<Self, NotADigest> {
        s.parse()
    }
}

impl serde::Serialize for DocumentDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A document being hashed, with the algorithm its digest will name.
pub struct DocumentHasher(Inner);

enum Inner {
    Sha256(sha2::Sha256),
    Blake3(Box<blake3::Hasher>),
}

impl DocumentHasher {
    pub fn new(algorithm: Algorithm) -> DocumentHasher {
        DocumentHasher(match algorithm {
            Algorithm::Sha256 => Inner::Sha256(sha2::Sha256::new()),
            Algorithm::Blake3 => Inner::Blake3(Box::new(blake3::Hasher::new())),
        })
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            Inner::Sha256(h) => h.update(bytes),
            Inner::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    pub fn finalize(self) -> DocumentDigest {
        match self.0 {
            Inner::Sha256(h) => DocumentDigest {
                algorithm: Algorithm::Sha256,
                bytes: h.finalize().into(),
            },
            Inner::Blake3(h) => DocumentDigest {
                algorithm: Algorithm::Blake3,
                bytes: *h.finalize().as_bytes(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_answers() {
        // The empty input's digests, as `b3sum` and `sha256sum` print them.
        assert_eq!(
            DocumentDigest::of(Algorithm::Blake3, b"").to_string(),
            "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(
            DocumentDigest::of(Algorithm::Sha256, b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn the_short_form_is_the_first_16_hex_digits() {
        let d = DocumentDigest::of(Algorithm::Blake3, b"");
        assert_eq!(d.short().to_string(), "af1349b9f5f9a1a6");
        assert_eq!(d.short().to_string(), d.hex()[..16]);
    }

    #[test]
    fn texts_that_are_not_digests_are_refused() {
        let hex = "a".repeat(64);
        for bad in [
            String::new(),
            hex.clone(),
            format!("md5:{hex}"),
            format!("blake3:{}", "A".repeat(64)),
            format!("blake3:{}", "a".repeat(63)),
            format!("sha256:{hex}0"),
            format!("sha256:{}g", "a".repeat(63)),
        ] {
            assert!(bad.parse::<DocumentDigest>().is_err(), "{bad:?}");
        }
    }

    /// Migration 0015 turns the bare SHA-256 an earlier version recorded into
    /// `sha256:HEX`, which reads back as the SHA-256 of the same bytes. The PostgreSQL
    /// migration is the same text.
    #[tokio::test]
    async fn migration_0015_names_the_recorded_digests_sha256() {
        let sql = include_str!("../migrations/sqlite/0015_document_digest.sql");
        assert_eq!(
            sql,
            include_str!("../migrations/postgres/0015_document_digest.sql")
        );
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE generations (id INTEGER PRIMARY KEY, file_sha256 TEXT NOT NULL)",
        )
        .execute(&pool)
        .await
        .unwrap();
        let recorded = DocumentDigest::of(Algorithm::Sha256, b"<lheo/>");
        sqlx::query("INSERT INTO generations (id, file_sha256) VALUES (1, $1)")
            .bind(recorded.hex())
            .execute(&pool)
            .await
            .unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        let (text,): (String,) = sqlx::query_as("SELECT file_digest FROM generations")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(text.parse::<DocumentDigest>().unwrap(), recorded);
    }

    proptest! {
        /// A digest reads back as itself, whatever its bytes and algorithm.
        #[test]
        fn a_digest_reads_back_as_itself(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            b3 in any::<bool>(),
        ) {
            let algorithm = if b3 { Algorithm::Blake3 } else { Algorithm::Sha256 };
            let d = DocumentDigest::of(algorithm, &bytes);
            prop_assert_eq!(d.to_string().parse::<DocumentDigest>().unwrap(), d);
            prop_assert_eq!(d.algorithm(), algorithm);
        }

        /// Any text either is a digest that prints as that same text, or is refused.
        #[test]
        fn any_text_is_a_digest_or_refused(s in "\\PC{0,80}|(sha256|blake3):[0-9a-fA-F]{62,66}") {
            if let Ok(d) = s.parse::<DocumentDigest>() {
                prop_assert_eq!(d.to_string(), s);
            }
        }

        /// Hashing in pieces gives the one-call digest (the writer hashes 4 MiB chunks).
        #[test]
        fn pieces_hash_as_the_whole(
            bytes in proptest::collection::vec(any::<u8>(), 0..5000),
            cut in 0usize..5000,
        ) {
            let cut = cut.min(bytes.len());
            let mut h = DocumentHasher::new(Algorithm::WRITTEN);
            h.update(&bytes[..cut]);
            h.update(&bytes[cut..]);
            prop_assert_eq!(h.finalize(), DocumentDigest::of(Algorithm::WRITTEN, &bytes));
        }
    }
}
