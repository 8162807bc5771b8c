//! How the published offers' `<formation>` fragments are stored: LZ4 blocks in
//! `published.fragment_lz4` (migration 0007).
//!
//! At a million sessions the fragments are 8 GB of XML. Stored as text, the full export
//! wrote them through the database's log and again at its checkpoint, which cost more than
//! evaluating the offers (`docs/BENCHMARKS.md`, issue 8). LZ4 shrinks this XML about four
//! times and costs well under a second per gigabyte each way. Rows written before migration
//! 0007 keep their plain `fragment` (and a NULL `fragment_lz4`): readers select both columns
//! through [`select_columns`] and decode with [`decode`] or [`decode_text`].

use anyhow::{anyhow, Context, Result};

/// Larger than any fragment the writer makes (its texts are bounded; the largest generated
/// offers are well under a megabyte): a stored size above it means a damaged row, which is
/// refused rather than allocated.
pub const MAX_FRAGMENT_BYTES: usize = 256 << 20;

/// The stored form of a fragment: its length (4 bytes, little endian) then the LZ4 block.
pub fn compress(xml: &[u8]) -> Vec<u8> {
    lz4_flex::block::compress_prepend_size(xml)
}

/// The plain bytes of a stored fragment.
pub fn decompress(stored: &[u8]) -> Result<Vec<u8>> {
    let (len, block) = match stored.split_first_chunk::<4>() {
        Some((len, block)) => (u32::from_le_bytes(*len) as usize, block),
        None => {
            return Err(anyhow!(
                "a stored fragment is shorter than its length prefix"
            ))
        }
    };
    if len > MAX_FRAGMENT_BYTES {
        return Err(anyhow!(
            "a stored fragment claims {len} bytes (more than {MAX_FRAGMENT_BYTES}): the row \
             is damaged; run `lheo-feed export --full` to write every fragment again"
        ));
    }
    let damaged = "a stored fragment cannot be decompressed: the row is damaged; run \
                   `lheo-feed export --full` to write every fragment again";
    let xml = lz4_flex::block::decompress(block, len).context(damaged)?;
    // The block decoder takes the length as a capacity: a shorter result is damage too.
    if xml.len() != len {
        return Err(anyhow!(damaged));
    }
    Ok(xml)
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

/// A fragment as bytes, from the two columns of [`select_columns`]; `None` when neither
/// holds one (not asked for, or a tombstone).
pub fn decode(lz4: Option<Vec<u8>>, plain: Option<Vec<u8>>) -> Result<Option<Vec<u8>>> {
    match (lz4, plain) {
        (Some(stored), _) => decompress(&stored).map(Some),
        (None, plain) => Ok(plain),
    }
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
    fn old_rows_are_read_as_they_are() {
        assert_eq!(
            decode(None, Some(b"<formation/>".to_vec())).unwrap(),
            Some(b"<formation/>".to_vec())
        );
        assert_eq!(decode(None, None).unwrap(), None);
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
            // Damaged rows: an error, never a panic or a huge allocation.
            let _ = decompress(&bytes);
        }
    }
}
