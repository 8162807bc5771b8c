//! How the published offers' `<formation>` fragments (and the evaluations' findings) are
//! stored: compressed, in `published.fragment_compressed` and
//! `evaluations.findings_compressed` (migrations 0007 and 0013, renamed by 0014). A value
//! says its own codec:
//!
//! - **zstd with a dictionary**, what this version writes: a zstd frame (it begins with
//!   zstd's magic number) holding its plain length, the id of the dictionary it was made
//!   with, and a checksum of the plain bytes. The dictionaries are files beside this one
//!   ([`DICTIONARIES`]), trained on the bundled fixtures' LHÉO and findings by
//!   `examples/train_fragment_dictionary.rs`: they hold what every offer repeats (element
//!   names, code tables, the SOFI wordings), so a fragment stores little more than what is
//!   its own. At 100 000 generated sessions a fragment is 2.8 KB this way against 6.6 KB in
//!   LZ4, and an offer's findings 0.40 KB against 0.82 (an offer of the official LHÉO
//!   examples, which the dictionary never saw: 3.0 KB against 4.9). A full export writes
//!   the fragments three times (its spill file, the database's log, the database): at a
//!   million sessions its write phase and commit went from 30.0 s to 14.7 s on SQLite
//!   (`docs/BENCHMARKS.md`, session 14).
//! - **LZ4** (rows written before that): the plain length, 4 bytes little endian, then an
//!   LZ4 block. A length is at most [`MAX_FRAGMENT_BYTES`], so its last byte is never the
//!   last byte of zstd's magic: the two cannot be mistaken for each other.
//! - Rows written before migration 0007 keep their plain `fragment` (and a NULL
//!   `fragment_compressed`): readers select both columns through [`select_columns`] and
//!   decode with [`StoredFragment`] or [`decode_text`].
//!
//! At a million sessions the fragments are 8 GB of XML. Stored as text, the full export
//! wrote them through the database's log and again at its checkpoint, which cost more than
//! evaluating the offers (`docs/BENCHMARKS.md`, issue 8).

use std::cell::RefCell;
use std::sync::LazyLock;

use anyhow::{anyhow, Result};
use zstd::zstd_safe::{self, CCtx, CDict, CParameter, DCtx, DDict};

/// Larger than any fragment the writer makes (its texts are bounded; the largest generated
/// offers are well under a megabyte): a stored size above it means a damaged row, which is
/// refused rather than allocated.
pub const MAX_FRAGMENT_BYTES: usize = 256 << 20;

/// Every dictionary a stored value may have been made with, oldest first. Never remove or
/// change one: rows written with it would become unreadable. A new one (trained again,
/// e.g. when LHÉO changes) is a new file added at the end, and becomes the one written.
pub const DICTIONARIES: &[&[u8]] = &[include_bytes!("fragments-1.zdict")];

/// zstd's level 1. Level 3 made the generated fragments 6 % smaller for a fifth more
/// compression time (measured outside an export, with Python's bindings): compressing is
/// on the stream's critical path, the bytes it would save are a few percent of the write.
const LEVEL: i32 = 1;

/// The first four bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = 0xFD2F_B528u32.to_le_bytes();

/// The dictionary values are written with, digested once for the process.
static WRITING: LazyLock<CDict<'static>> =
    LazyLock::new(|| CDict::create(DICTIONARIES.last().expect("at least one dictionary"), LEVEL));

/// Every dictionary, digested, by its zstd id (a handful: a linear search).
static READING: LazyLock<Vec<(u32, DDict<'static>)>> = LazyLock::new(|| {
    DICTIONARIES
        .iter()
        .map(|d| {
            let id = zstd_safe::get_dict_id_from_dict(d).expect("a trained zstd dictionary");
            (id.get(), DDict::create(d))
        })
        .collect()
});

thread_local! {
    // A context per thread, made once: making one costs more than compressing a fragment.
    static COMPRESSOR: RefCell<CCtx<'static>> = RefCell::new({
        let mut cctx = CCtx::create();
        cctx.set_parameter(CParameter::ChecksumFlag(true))
            .expect("zstd accepts its checksum flag");
        cctx.ref_cdict(&WRITING).expect("zstd accepts its own dictionary");
        cctx
    });
    static DECOMPRESSOR: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

/// The stored form of a fragment (or of findings): a zstd frame made with the newest
/// dictionary.
pub fn compress(xml: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(zstd_safe::compress_bound(xml.len()));
    COMPRESSOR.with_borrow_mut(|cctx| {
        cctx.compress2(&mut stored, xml)
            .map_err(zstd_safe::get_error_name)
            .expect("zstd compresses into a buffer of its own bound")
    });
    stored
}

const DAMAGED: &str = "a stored fragment cannot be decompressed: the row is damaged; run \
                       `lheo-feed export --full` to write every fragment again";

/// A stored value's codec and the plain length it claims, refused past
/// [`MAX_FRAGMENT_BYTES`] or past what its bytes can expand to (a damaged row, not an
/// allocation to make).
enum Stored<'a> {
    Zstd { len: usize, frame: &'a [u8] },
    Lz4 { len: usize, block: &'a [u8] },
}

fn split(stored: &[u8]) -> Result<Stored<'_>> {
    if stored.starts_with(&ZSTD_MAGIC) {
        let len = match zstd_safe::get_frame_content_size(stored) {
            Ok(Some(len)) => usize::try_from(len).unwrap_or(usize::MAX),
            _ => return Err(anyhow!("{DAMAGED} (its zstd header is unreadable)")),
        };
        // A zstd block (128 KiB plain at most) costs at least 3 bytes of header and one of
        // content.
        let most = (stored.len() / 4 + 1).saturating_mul(128 << 10);
        refuse_beyond(len, stored.len(), most)?;
        return Ok(Stored::Zstd { len, frame: stored });
    }
    let (len, block) = match stored.split_first_chunk::<4>() {
        Some((len, block)) => (u32::from_le_bytes(*len) as usize, block),
        None => {
            return Err(anyhow!(
                "a stored fragment is shorter than its length prefix"
            ))
        }
    };
    // An LZ4 block expands at most about 255 times (a run costs a byte per 255).
    let most = block.len().saturating_mul(255).saturating_add(64);
    refuse_beyond(len, block.len(), most)?;
    Ok(Stored::Lz4 { len, block })
}

fn refuse_beyond(len: usize, stored: usize, most: usize) -> Result<()> {
    if len > MAX_FRAGMENT_BYTES || len > most {
        return Err(anyhow!(
            "a stored fragment claims {len} bytes, more than its {stored} stored bytes or any \
             fragment can hold ({} at most): the row is damaged; run `lheo-feed export \
             --full` to write every fragment again",
            most.min(MAX_FRAGMENT_BYTES)
        ));
    }
    Ok(())
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
    let at = out.len();
    let result = match split(stored)? {
        Stored::Lz4 { len, block } => {
            out.resize(at + len, 0);
            match lz4_flex::block::decompress_into(block, &mut out[at..]) {
                // The block must fill exactly the length it claims: a shorter result is
                // damage too.
                Ok(n) if n == len => Ok(()),
                Ok(_) => Err(anyhow!(DAMAGED)),
                Err(e) => Err(anyhow::Error::new(e).context(DAMAGED)),
            }
        }
        Stored::Zstd { len, frame } => {
            // Straight into the spare capacity, after what `out` holds: not zeroed first
            // (zeroing was 4 % of a 1 % change's samples, session 12).
            out.reserve(len);
            let mut after = std::io::Cursor::new(&mut *out);
            after.set_position(at as u64);
            unzstd(frame, &mut after).and_then(|n| match n == len && out.len() == at + len {
                true => Ok(()),
                false => Err(anyhow!(DAMAGED)),
            })
        }
    };
    if result.is_err() {
        out.truncate(at);
    }
    result
}

/// Decompresses a zstd frame with the dictionary it names.
fn unzstd<C: zstd_safe::WriteBuf + ?Sized>(frame: &[u8], out: &mut C) -> Result<usize> {
    let named = zstd_safe::get_dict_id_from_frame(frame).map(|id| id.get());
    DECOMPRESSOR.with_borrow_mut(|dctx| {
        let got = match named {
            None => dctx.decompress(out, frame),
            Some(id) => match READING.iter().find(|(known, _)| *known == id) {
                Some((_, ddict)) => dctx.decompress_using_ddict(out, frame, ddict),
                None => {
                    return Err(anyhow!(
                        "a stored fragment was compressed with dictionary {id}, which this \
                         version of lheo-feed does not have: a newer version wrote it; run \
                         that version, or `lheo-feed export --full` with this one to write \
                         every fragment again"
                    ))
                }
            },
        };
        got.map_err(|code| anyhow!("{DAMAGED} (zstd: {})", zstd_safe::get_error_name(code)))
    })
}

/// A `<formation>` fragment as the `published` table holds it: compressed ([`compress`],
/// or LZ4 in an older row), or plain text in a row written before migration 0007. Kept in
/// its stored form until it is written where it goes: a page of 250 generated offers is
/// 0.7 MB compressed, 8.8 MB plain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredFragment {
    Compressed(Vec<u8>),
    Plain(Vec<u8>),
}

impl StoredFragment {
    /// From the two columns of [`select_columns`]; `None` when neither holds one (not asked
    /// for, or a tombstone).
    pub fn from_columns(lz4: Option<Vec<u8>>, plain: Option<Vec<u8>>) -> Option<StoredFragment> {
        match (lz4, plain) {
            (Some(stored), _) => Some(StoredFragment::Compressed(stored)),
            (None, plain) => plain.map(StoredFragment::Plain),
        }
    }

    /// The length of the plain bytes (what a compressed value's header claims).
    pub fn plain_len(&self) -> Result<usize> {
        match self {
            StoredFragment::Compressed(stored) => split(stored).map(|s| match s {
                Stored::Zstd { len, .. } | Stored::Lz4 { len, .. } => len,
            }),
            StoredFragment::Plain(bytes) => Ok(bytes.len()),
        }
    }

    /// Appends the plain bytes to `out` (unchanged on error).
    pub fn append_to(&self, out: &mut Vec<u8>) -> Result<()> {
        match self {
            StoredFragment::Compressed(stored) => decompress_onto(stored, out),
            StoredFragment::Plain(bytes) => {
                out.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// The plain bytes.
    pub fn into_plain(self) -> Result<Vec<u8>> {
        match self {
            StoredFragment::Compressed(stored) => decompress(&stored),
            StoredFragment::Plain(bytes) => Ok(bytes),
        }
    }
}

/// The columns a reader selects for a fragment, in this order: the compressed value, then the
/// plain text only for rows written before migration 0007. `plain` is the SQL expression of
/// the plain column (e.g. `fragment`, or a conversion of it); `live` a condition under which
/// the fragment is wanted (`TRUE` for always).
pub fn select_columns(plain: &str, live: &str) -> String {
    format!(
        "CASE WHEN {live} THEN fragment_compressed END, \
         CASE WHEN {live} AND fragment_compressed IS NULL THEN {plain} END"
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

    /// A value as versions before the zstd dictionary wrote it.
    fn lz4(xml: &[u8]) -> Vec<u8> {
        lz4_flex::block::compress_prepend_size(xml)
    }

    #[test]
    fn xml_shrinks_and_comes_back() {
        let xml = "<formation numero=\"1-2\"><intitule-formation>Électricité — niveau 1</intitule-formation></formation>\n".repeat(50);
        let stored = compress(xml.as_bytes());
        assert!(stored.starts_with(&ZSTD_MAGIC));
        assert!(
            stored.len() * 4 < xml.len(),
            "{} -> {}",
            xml.len(),
            stored.len()
        );
        assert_eq!(decode_text(Some(stored), None).unwrap().unwrap(), xml);
    }

    #[test]
    fn the_dictionary_is_what_makes_a_fragment_small() {
        // An offer in the official LHÉO examples, which the dictionary was not trained on.
        let example = "<formation><domaine-formation><code-FORMACODE>31054</code-FORMACODE>\
            </domaine-formation><intitule-formation>Conducteur de travaux</intitule-formation>\
            <objectif-formation>Organiser et suivre un chantier</objectif-formation>\
            <resultats-attendus>Titre professionnel</resultats-attendus><contenu-formation>\
            Gestion de chantier, sécurité, métrés.</contenu-formation><certifiante>1</certifiante>\
            <contact-formation><coordonnees><telfixe><numtel>0240000000</numtel></telfixe>\
            </coordonnees></contact-formation><parcours-de-formation>1</parcours-de-formation>\
            <code-niveau-entree>0</code-niveau-entree><action numero=\"1-2\"><rythme-formation>\
            Temps plein</rythme-formation><code-public-vise>44589</code-public-vise>\
            <niveau-entree-obligatoire>0</niveau-entree-obligatoire><modalites-alternance>\
            Sans objet</modalites-alternance><modalites-enseignement>0</modalites-enseignement>\
            <conditions-specifiques>Aucune</conditions-specifiques><prise-en-charge-frais-possible>\
            1</prise-en-charge-frais-possible><lieu-de-formation><coordonnees><nom>Centre\
            </nom></coordonnees></lieu-de-formation><modalites-entrees-sorties>0\
            </modalites-entrees-sorties></action></formation>\n";
        let mut alone = CCtx::create();
        let mut without = Vec::with_capacity(zstd_safe::compress_bound(example.len()));
        alone
            .compress(&mut without, example.as_bytes(), LEVEL)
            .unwrap();
        let with = compress(example.as_bytes());
        assert!(
            with.len() * 3 < without.len() * 2,
            "with the dictionary {} bytes, without {}",
            with.len(),
            without.len()
        );
        assert_eq!(decompress(&with).unwrap(), example.as_bytes());
    }

    #[test]
    fn every_dictionary_has_its_own_id_and_the_newest_is_written() {
        let ids: Vec<u32> = READING.iter().map(|(id, _)| *id).collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), DICTIONARIES.len(), "{ids:?}");
        let stored = compress(b"<formation/>");
        assert_eq!(
            zstd_safe::get_dict_id_from_frame(&stored).map(|id| id.get()),
            ids.last().copied()
        );
    }

    #[test]
    fn a_frame_from_an_unknown_dictionary_says_which_and_what_to_do() {
        let mut stored = compress(b"<formation>texte</formation>");
        // The dictionary id sits right after the frame header's descriptor byte.
        let descriptor = stored[4];
        let id_bytes = [0, 1, 2, 4][usize::from(descriptor & 3)];
        assert!(id_bytes > 0, "the frame names its dictionary");
        for b in &mut stored[5..5 + id_bytes] {
            *b ^= 0x5a;
        }
        let err = format!("{:#}", decompress(&stored).unwrap_err());
        assert!(err.contains("does not have"), "{err}");
    }

    #[test]
    fn rows_written_in_lz4_are_read_as_they_are() {
        let xml = "<formation numero=\"1-2\">Électricité</formation>\n".repeat(20);
        let stored = StoredFragment::from_columns(Some(lz4(xml.as_bytes())), None).unwrap();
        assert_eq!(stored.plain_len().unwrap(), xml.len());
        assert_eq!(stored.into_plain().unwrap(), xml.as_bytes());
    }

    #[test]
    fn the_most_compressible_fragment_is_not_taken_for_damage() {
        let blank = vec![b' '; 16 << 20];
        for stored in [compress(&blank), lz4(&blank)] {
            assert!(stored.len() * 200 < blank.len(), "{}", stored.len());
            assert_eq!(decompress(&stored).unwrap(), blank);
        }
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

        let mut longer = lz4(xml.as_bytes());
        longer[..4].copy_from_slice(&(xml.len() as u32 + 5).to_le_bytes());
        // A zstd frame whose last byte (its checksum) is wrong.
        let mut flipped = compress(xml.as_bytes());
        *flipped.last_mut().unwrap() ^= 1;
        for damaged in [longer, flipped] {
            let mut out = b"head".to_vec();
            let err = StoredFragment::Compressed(damaged)
                .append_to(&mut out)
                .unwrap_err();
            assert!(format!("{err:#}").contains("damaged"), "{err:#}");
            assert_eq!(out, b"head");
        }
    }

    #[test]
    fn damaged_rows_are_refused_not_allocated() {
        let mut huge = (u32::MAX).to_le_bytes().to_vec();
        huge.extend_from_slice(b"\x10abc");
        let err = decompress(&huge).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        assert!(decompress(b"ab").is_err());
        let mut wrong = lz4(b"<formation>texte</formation>");
        wrong[0] = wrong[0].wrapping_add(7);
        assert!(decompress(&wrong).is_err());
        // A zstd header claiming 4 GiB of content in a few bytes.
        let mut claims = ZSTD_MAGIC.to_vec();
        claims.extend_from_slice(&[0x80 | 0x20, 0xff, 0xff, 0xff, 0xff]);
        let err = decompress(&claims).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
    }

    proptest! {
        #[test]
        fn any_text_round_trips(text in "\\PC{0,2000}") {
            let stored = compress(text.as_bytes());
            prop_assert_eq!(decode_text(Some(stored), None).unwrap().unwrap(), text.clone());
            let old = lz4(text.as_bytes());
            prop_assert_eq!(decode_text(Some(old), None).unwrap().unwrap(), text);
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            as_zstd in any::<bool>(),
        ) {
            // Damaged rows: an error, never a panic or a huge allocation, and what the
            // buffer held before stays as it was. Half of them behind zstd's magic, so
            // that its header parser sees hostile bytes too.
            let bytes = match as_zstd {
                true => [ZSTD_MAGIC.as_slice(), &bytes].concat(),
                false => bytes,
            };
            let mut out = b"kept".to_vec();
            match StoredFragment::Compressed(bytes.clone()).append_to(&mut out) {
                Ok(()) => {
                    let plain = decompress(&bytes).unwrap();
                    prop_assert_eq!(&out[4..], plain.as_slice());
                }
                Err(_) => prop_assert_eq!(out.as_slice(), b"kept".as_slice()),
            }
        }

        #[test]
        fn damaging_any_byte_of_a_frame_never_returns_other_bytes(
            text in "\\PC{1,500}",
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            // The frame's checksum: a damaged value is refused, not read as other text.
            let mut stored = compress(text.as_bytes());
            let i = at.index(stored.len());
            stored[i] ^= flip;
            if let Ok(plain) = decompress(&stored) {
                prop_assert_eq!(plain, text.as_bytes());
            }
        }
    }
}
