//! How the published offers' `<formation>` fragments are stored: LZ4 blocks in
//! `published.fragment_lz4` (migration 0007).
//!
//! At a million sessions the fragments are 8 GB of XML. Stored as text, the full export
//! wrote them through the database's log and again at its checkpoint, which cost more than
//! evaluating the offers (`docs/BENCHMARKS.md`, issue 8). LZ4 shrinks this XML about four
//! times and costs well under a second per gigabyte each way. Rows written before migration
//! 0007 keep their plain `fragment` (and a NULL `fragment_lz4`): readers select both columns
//! through [`select_columns`] and decode with [`StoredFragment`] or [`decode_text`].

use anyhow::{anyhow, Result};

/// Larger than any fragment the writer makes (its texts are bounded; the largest generated
/// offers are well under a megabyte): a stored size above it means a damaged row, which is
/// refused rather than allocated.
pub const MAX_FRAGMENT_BYTES: usize = 256 << 20;

/// The stored form of a fragment: its length (4 bytes, little endian) then the LZ4 block.
pub fn compress(xml: &[u8]) -> Vec<u8> {
    lz4_flex::block::compress_prepend_size(xml)
}

const DAMAGED: &str = "a stored fragment cannot be decompressed: the row is damaged; run \
                       `lheo-feed export --full` to write every fragment again";

/// The plain length a stored fragment claims, and its LZ4 block; refused past
/// [`MAX_FRAGMENT_BYTES`] (a damaged row, not an allocation to make).
fn split(stored: &[u8]) -> Result<(usize, &[u8])> {
    let (len, block) = match stored.split_first_chunk::<4>() {
        Some((len, block)) => (u32::from_le_bytes(*len) as usize, block),
        None => {
            return Err(anyhow!(
                "a stored fragment is shorter than its length prefix"
            ))
        }
    };
    // An LZ4 block expands at most about 255 times (a run costs a byte per 255): a claim
    // beyond that is damage, refused before anything is allocated for it.
    let most = block.len().saturating_mul(255).saturating_add(64);
    if len > MAX_FRAGMENT_BYTES || len > most {
        return Err(anyhow!(
            "a stored fragment claims {len} bytes, more than its {}-byte block or any \
             fragment can hold ({} at most): the row is damaged; run `lheo-feed export \
             --full` to write every fragment again",
            block.len(),
            most.min(MAX_FRAGMENT_BYTES)
        ));
    }
    Ok((len, block))
}

/// The plain bytes of a stored fragment.
pub fn decompress(stored: &[u8]) -> Result<Vec<u8>> {
    let mut xml = Vec::new();
    decompress_onto(stored, &mut xml)?;
    Ok(xml)
}

/// Appends the plain bytes of a stored fragment to `out` (on error, `out` is as it was):
/// an export copies a million unchanged fragments this way straight into its document's
/// buffer, without a buffer of their own.
pub fn decompress_onto(stored: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let (len, block) = split(stored)?;
    let at = out.len();
    out.resize(at + len, 0);
    let got = lz4_flex::block::decompress_into(block, &mut out[at..]);
    // The block must fill exactly the length it claims: a shorter result is damage too.
    if matches!(got, Ok(n) if n == len) {
        return Ok(());
    }
    out.truncate(at);
    Err(match got {
        Err(e) => anyhow::Error::new(e).context(DAMAGED),
        Ok(_) => anyhow!(DAMAGED),
    })
}

/// A `<formation>` fragment as the `published` table holds it: LZ4 ([`compress`]), or
/// plain text in a row written before migration 0007. Kept in its stored form until it is
/// written where it goes: a page of a thousand offers is 7 MB compressed, 35 MB plain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredFragment {
    Lz4(Vec<u8>),
    Plain(Vec<u8>),
}

impl StoredFragment {
    /// From the two columns of [`select_columns`]; `None` when neither holds one (not asked
    /// for, or a tombstone).
    pub fn from_columns(lz4: Option<Vec<u8>>, plain: Option<Vec<u8>>) -> Option<StoredFragment> {
        match (lz4, plain) {
            (Some(stored), _) => Some(StoredFragment::Lz4(stored)),
            (None, plain) => plain.map(StoredFragment::Plain),
        }
    }

    /// The length of the plain bytes (what the stored length prefix claims, for LZ4).
    pub fn plain_len(&self) -> Result<usize> {
        match self {
            StoredFragment::Lz4(stored) => split(stored).map(|(len, _)| len),
            StoredFragment::Plain(bytes) => Ok(bytes.len()),
        }
    }

    /// Appends the plain bytes to `out` (unchanged on error).
    pub fn append_to(&self, out: &mut Vec<u8>) -> Result<()> {
        match self {
            StoredFragment::Lz4(stored) => decompress_onto(stored, out),
            StoredFragment::Plain(bytes) => {
                out.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// The plain bytes.
    pub fn into_plain(self) -> Result<Vec<u8>> {
        match self {
            StoredFragment::Lz4(stored) => decompress(&stored),
            StoredFragment::Plain(bytes) => Ok(bytes),
        }
    }
}

/// The columns a reader selects for a fragment, in this order: the LZ4 block, then the
/// plain text only for rows written before migration 0007. `plain` is the SQL expression of
/// the plain column (e.g. `fragment`, or a conversion of it); `live` a condition under which
/// the fragment is wanted (`TRUE` for always).
pub fn select_columns(plain: &str, live: &str) -> String {
    format!(
        "CASE WHEN {live} THEN fragment_lz4 END, \
         CASE WHEN {live} AND fragment_lz4 IS NULL THEN {plain} END"
    )
}

/// A fragment as text, from the two columns of [`select_columns`].
pub fn decode_text(lz4: Option<Vec<u8>>, plain: Option<String>) -> Result<Option<String>> {
    match (lz4, plain) {
        (Some(stored), _) => String::from_utf8(decompress(&stored)?)
            .map(Some)
            .map_err(|_| anyhow!("a stored fragment is not UTF-8: the row is damaged")),
        (None, plain) => Ok(plain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn xml_shrinks_and_comes_back() {
        let xml = "<formation numero=\"1-2\"><intitule-formation>Électricité — niveau 1</intitule-formation></formation>\n".repeat(50);
        let stored = compress(xml.as_bytes());
        assert!(
            stored.len() * 4 < xml.len(),
            "{} -> {}",
            xml.len(),
            stored.len()
        );
        assert_eq!(decode_text(Some(stored), None).unwrap().unwrap(), xml);
    }

    #[test]
    fn the_most_compressible_fragment_is_not_taken_for_damage() {
        let blank = vec![b' '; 16 << 20];
        let stored = compress(&blank);
        assert!(stored.len() * 200 < blank.len(), "{}", stored.len());
        assert_eq!(decompress(&stored).unwrap(), blank);
    }

    #[test]
    fn old_rows_are_read_as_they_are() {
        let old = StoredFragment::from_columns(None, Some(b"<formation/>".to_vec())).unwrap();
        assert_eq!(old.plain_len().unwrap(), 12);
        assert_eq!(old.into_plain().unwrap(), b"<formation/>".to_vec());
        assert_eq!(StoredFragment::from_columns(None, None), None);
    }

    #[test]
    fn a_fragment_is_appended_after_what_is_there_and_a_damaged_one_appends_nothing() {
        let xml = "<formation numero=\"1-2\">Électricité</formation>\n".repeat(20);
        let stored = StoredFragment::from_columns(Some(compress(xml.as_bytes())), None).unwrap();
        assert_eq!(stored.plain_len().unwrap(), xml.len());
        let mut out = b"<offres>\n".to_vec();
        stored.append_to(&mut out).unwrap();
        assert_eq!(out, [b"<offres>\n".as_slice(), xml.as_bytes()].concat());

        let mut longer = compress(xml.as_bytes());
        longer[..4].copy_from_slice(&(xml.len() as u32 + 5).to_le_bytes());
        let mut out = b"head".to_vec();
        let err = StoredFragment::Lz4(longer).append_to(&mut out).unwrap_err();
        assert!(format!("{err:#}").contains("damaged"), "{err:#}");
        assert_eq!(out, b"head");
    }

    #[test]
    fn damaged_rows_are_refused_not_allocated() {
        let mut huge = (u32::MAX).to_le_bytes().to_vec();
        huge.extend_from_slice(b"\x10abc");
        let err = decompress(&huge).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        assert!(decompress(b"ab").is_err());
        let mut wrong = compress(b"<formation>texte</formation>");
        wrong[0] = wrong[0].wrapping_add(7);
        assert!(decompress(&wrong).is_err());
    }

    proptest! {
        #[test]
        fn any_text_round_trips(text in "\\PC{0,2000}") {
            let stored = compress(text.as_bytes());
            prop_assert_eq!(decode_text(Some(stored), None).unwrap().unwrap(), text);
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            // Damaged rows: an error, never a panic or a huge allocation, and what the
            // buffer held before stays as it was.
            let mut out = b"kept".to_vec();
            match StoredFragment::Lz4(bytes.clone()).append_to(&mut out) {
                Ok(()) => {
                    let plain = decompress(&bytes).unwrap();
                    prop_assert_eq!(&out[4..], plain.as_slice());
                }
                Err(_) => prop_assert_eq!(out.as_slice(), b"kept".as_slice()),
            }
        }
    }
}
