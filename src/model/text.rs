//! Free text as training organisations type it, made safe for XML once, here.
//!
//! SOFI texts arrive from copy-paste out of word processors: stray control characters
//! (`\x0B` vertical tab, `\x01`), byte-order marks, `U+FFFE`, Windows line ends. quick-xml
//! would write them as they are, and one such character makes a whole national file
//! unreadable for every consumer. So [`Text`] holds only characters of the XML 1.0
//! `Char` production, with line ends normalised to `\n` (an XML parser does that anyway,
//! and doing it here keeps the hash stable across a round trip) and surrounding white
//! space trimmed. An empty text is not a `Text`: an absent value is `None`.
//!
//! Nothing is truncated here: lengths are the rules' business (`rules`), so that an
//! over-long text is reported to the organisme instead of being cut silently.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whether `c` is allowed by XML 1.0 (`#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
/// [#x10000-#x10FFFF]`). Rust `char` can never be a surrogate, so the gaps left are the
/// C0 controls and U+FFFE/U+FFFF.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Filters `raw` to the XML 1.0 character set, normalises line ends to `\n`, drops
/// byte-order marks and trims. Returns `None` when nothing is left.
pub fn clean(raw: &str) -> Option<String> {
    // Nearly every real text has nothing to remove: no control byte but tab and line feed
    // (so no `\r`), and no 0xEF lead byte (the only one that starts U+FEFF, U+FFFE and
    // U+FFFF, the non-ASCII characters handled below). Such a text is only trimmed; this
    // byte scan is several times cheaper than the filter (the import of a national file
    // cleans every text it reads).
    if raw
        .bytes()
        .all(|b| (b >= 0x20 && b != 0xEF) || b == b'\t' || b == b'\n')
    {
        let trimmed = raw.trim();
        return (!trimmed.is_empty()).then(|| trimmed.to_owned());
    }
    filtered(raw)
}

/// [`clean`] character by character.
fn filtered(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\u{FEFF}' => {}
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    let trimmed = out.trim();
    if trimmed.is_empty() {
        None
    } else if trimmed.len() == out.len() {
        Some(out)
    } else {
        Some(trimmed.to_owned())
    }
}

/// Non-empty text containing only XML 1.0 characters, `\n` line ends, no surrounding
/// white space.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(String);

impl Text {
    /// Cleans `raw`; `None` when it is empty once cleaned.
    pub fn new(raw: &str) -> Option<Text> {
        clean(raw).map(Text)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Length in characters, the unit of every LHÉO length limit.
    pub fn chars(&self) -> usize {
        self.0.chars().count()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}
impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Text::new(&raw).ok_or_else(|| serde::de::Error::custom("must not be empty"))
    }
}

/// For `Option<Text>` fields: an empty or blank string means absent, as SOFI exports
/// write empty fields as `""`.
pub mod opt {
    use super::Text;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Text>, D::Error> {
        let raw = Option::<std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(raw.and_then(|r| Text::new(&r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_what_xml_forbids_and_keeps_the_rest() {
        let t = Text::new("  a\u{1}b\u{B}c\u{FFFE}d\r\ne\rf\u{FEFF} é😀\t ").unwrap();
        assert_eq!(t.as_str(), "abcd\ne\nf é😀");
        assert!(Text::new(" \u{1}\u{2} ").is_none());
        assert!(t.as_str().chars().all(is_xml_char));
    }

    proptest::proptest! {
        /// The shortcut for plain texts gives what the full filter gives, on any text.
        #[test]
        fn the_plain_text_shortcut_agrees_with_the_filter(raw in "\\PC*|[ \t\r\n\u{1}\u{FEFF}\u{FFFE}\u{FFFF}\u{EF00}a-zé]*") {
            proptest::prop_assert_eq!(clean(&raw), filtered(&raw));
        }
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(Text::new("éé").unwrap().chars(), 2);
    }
}
