//! Identifiers and small values that can only hold valid values.
//!
//! Every type here is built by `parse` (or through serde, which calls `parse`), so code
//! that holds one never checks it again. The error strings are written for the person
//! who fixes the input file: they say what was expected.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Implements `Display`, `FromStr`, `Serialize` and `Deserialize` for a type that has
/// `fn parse(&str) -> Result<Self, String>` and `fn as_str(&self) -> &str`.
macro_rules! string_value {
    ($ty:ident) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ::std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::parse(s)
            }
        }
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                Self::parse(&raw).map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_value;

/// Implements `Serialize` (as its `Display` form) and `Deserialize` (through `parse`) for a
/// value type that is not stored as a string.
macro_rules! display_value {
    ($ty:ident) => {
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                Self::parse(&raw).map_err(::serde::de::Error::custom)
            }
        }
    };
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A SOFI record number (the F, A or S part of a FAS code): a positive integer.
fn parse_sofi_number(part: &str, what: &str) -> Result<u64, String> {
    if !all_digits(part) || part.len() > 12 || part.starts_with('0') {
        return Err(format!(
            "{what} must be a positive number without leading zero, got {part:?}"
        ));
    }
    part.parse::<u64>()
        .map_err(|_| format!("{what} is out of range: {part:?}"))
}

/// The code of a SOFI action, `F-A` (e.g. `19482-89393`): the offer's `numero`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ActionCode {
    pub formation: u64,
    pub action: u64,
}

impl ActionCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = s.split('-');
        let (Some(f), Some(a), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "expected an action code F-A such as 19482-89393, got {s:?}"
            ));
        };
        Ok(ActionCode {
            formation: parse_sofi_number(f, "formation number")?,
            action: parse_sofi_number(a, "action number")?,
        })
    }
}

impl fmt::Display for ActionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.formation, self.action)
    }
}
display_value!(ActionCode);
impl FromStr for ActionCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

/// The code of a SOFI session, `F-A-S` (e.g. `19482-89393-143842`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct FasCode {
    pub action: ActionCode,
    pub session: u64,
}

impl FasCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = s.split('-');
        let (Some(f), Some(a), Some(sess), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "expected a session code F-A-S such as 19482-89393-143842, got {s:?}"
            ));
        };
        Ok(FasCode {
            action: ActionCode {
                formation: parse_sofi_number(f, "formation number")?,
                action: parse_sofi_number(a, "action number")?,
            },
            session: parse_sofi_number(sess, "session number")?,
        })
    }
}

impl fmt::Display for FasCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.action, self.session)
    }
}
display_value!(FasCode);

/// A SIRET: 14 digits whose Luhn checksum is valid.
///
/// La Poste's establishments (SIREN 356000000) use a digit-sum rule instead of Luhn;
/// they are accepted as INSEE does.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Siret(String);

impl Siret {
    pub fn parse(s: &str) -> Result<Self, String> {
        let compact: String = s.chars().filter(|c| *c != ' ').collect();
        if compact.len() != 14 || !all_digits(&compact) {
            return Err(format!("a SIRET has 14 digits, got {s:?}"));
        }
        // La Poste's establishments share SIREN 356000000 and are keyed by a digit sum
        // divisible by 5 instead of Luhn (its head office passes Luhn too).
        let ok = luhn_valid(&compact)
            || (compact.starts_with("356000000")
                && compact.bytes().map(|b| u32::from(b - b'0')).sum::<u32>() % 5 == 0);
        if !ok {
            return Err(format!(
                "SIRET {compact} fails its check digit (Luhn): check for a typing error"
            ));
        }
        Ok(Siret(compact))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(Siret);

/// Luhn check over ASCII digits.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// A Certif Info code: digits, 1 to 10 of them (LHÉO `code-CERTIFINFO` is 1..10 chars).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Certifinfo(String);
impl Certifinfo {
    pub fn parse(s: &str) -> Result<Self, String> {
        if all_digits(s) && s.len() <= 10 {
            Ok(Certifinfo(s.to_owned()))
        } else {
            Err(format!(
                "a Certif Info code is 1 to 10 digits, such as 109049, got {s:?}"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(Certifinfo);

/// An RNCP code, kept in the form `RNCP35030` (input may omit the prefix).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Rncp(String);
impl Rncp {
    pub fn parse(s: &str) -> Result<Self, String> {
        let digits = s.strip_prefix("RNCP").unwrap_or(s);
        if all_digits(digits) && digits.len() <= 6 {
            Ok(Rncp(format!("RNCP{digits}")))
        } else {
            Err(format!(
                "an RNCP code is RNCP followed by up to 6 digits, such as RNCP35030, got {s:?}"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The number alone (`35030`), as LHÉO `code-RNCP` is written in the national files
    /// and read by their consumers (as a number).
    pub fn numero(&self) -> &str {
        &self.0[4..]
    }
}
string_value!(Rncp);

/// A code of a bloc de compétences, `RNCPxBCy` (e.g. `RNCP35030BC01`), 8..40 chars.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CodeBloc(String);
impl CodeBloc {
    pub fn parse(s: &str) -> Result<Self, String> {
        let err =
            || format!("a bloc code is RNCP<digits>BC<digits>, such as RNCP35030BC01, got {s:?}");
        let rest = s.strip_prefix("RNCP").ok_or_else(err)?;
        let (num, bloc) = rest.split_once("BC").ok_or_else(err)?;
        if all_digits(num) && all_digits(bloc) && (8..=40).contains(&s.len()) {
            Ok(CodeBloc(s.to_owned()))
        } else {
            Err(err())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(CodeBloc);

/// A numéro de déclaration d'activité (NDA) of a training organisation: 11 digits.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Nda(String);
impl Nda {
    pub fn parse(s: &str) -> Result<Self, String> {
        let compact: String = s.chars().filter(|c| *c != ' ').collect();
        if compact.len() == 11 && all_digits(&compact) {
            Ok(Nda(compact))
        } else {
            Err(format!(
                "a numéro de déclaration d'activité has 11 digits, got {s:?}"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(Nda);

/// A French postal code: 5 digits.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CodePostal(String);
impl CodePostal {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 5 && all_digits(s) {
            Ok(CodePostal(s.to_owned()))
        } else {
            Err(format!("a code postal has 5 digits, got {s:?}"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(CodePostal);

/// A FORMACODE-style 5-digit code (domain, public visé, modalité pédagogique).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Formacode(String);
impl Formacode {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 5 && all_digits(s) {
            Ok(Formacode(s.to_owned()))
        } else {
            Err(format!(
                "a FORMACODE code has 5 digits, such as 80006, got {s:?}"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(Formacode);

/// A ROME code: one letter and 4 digits (e.g. M1501).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CodeRome(String);
impl CodeRome {
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        if b.len() == 5 && b[0].is_ascii_uppercase() && all_digits(&s[1..]) {
            Ok(CodeRome(s.to_owned()))
        } else {
            Err(format!(
                "a ROME code is a capital letter and 4 digits, such as M1501, got {s:?}"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(CodeRome);

/// An NSF code: 3 characters, digits then an optional letter (e.g. 315 or 31p).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CodeNsf(String);
impl CodeNsf {
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        if b.len() == 3
            && b[0].is_ascii_digit()
            && b[1].is_ascii_digit()
            && b[2].is_ascii_alphanumeric()
        {
            Ok(CodeNsf(s.to_owned()))
        } else {
            Err(format!(
                "an NSF code has 3 characters, such as 315 or 31p, got {s:?}"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(CodeNsf);

/// A calendar date, written `YYYY-MM-DD` in the input and `AAAAMMJJ` in LHÉO.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Date(pub NaiveDate);
impl Date {
    pub fn parse(s: &str) -> Result<Self, String> {
        // chrono accepts some loose forms; insist on exactly 10 characters.
        if s.len() != 10 {
            return Err(format!("expected a date YYYY-MM-DD, got {s:?}"));
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Date)
            .map_err(|_| format!("{s:?} is not a real calendar date (expected YYYY-MM-DD)"))
    }
    /// LHÉO's 8-digit form.
    pub fn lheo(&self) -> String {
        self.0.format("%Y%m%d").to_string()
    }
    pub fn year(&self) -> i32 {
        use chrono::Datelike;
        self.0.year()
    }
}
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}
display_value!(Date);

/// A time of day, `HH:MM` in the input, `9h30` / `14h` in LHÉO.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Heure {
    pub h: u8,
    pub m: u8,
}
impl Heure {
    pub fn parse(s: &str) -> Result<Self, String> {
        let err = || format!("expected a time HH:MM such as 09:30, got {s:?}");
        let (h, m) = s.split_once(':').ok_or_else(err)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 || !all_digits(h) || !all_digits(m) {
            return Err(err());
        }
        let (h, m): (u8, u8) = (h.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
        if h > 23 || m > 59 {
            return Err(err());
        }
        Ok(Heure { h, m })
    }
    /// LHÉO form: `HHhMM`, or `HHh` on the hour.
    pub fn lheo(&self) -> String {
        if self.m == 0 {
            format!("{}h", self.h)
        } else {
            format!("{}h{:02}", self.h, self.m)
        }
    }
}
impl fmt::Display for Heure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.h, self.m)
    }
}
display_value!(Heure);

/// An amount in euros, kept in cents so that sums and hashes are exact.
/// Input: a JSON number or string with at most 2 decimals (`3850`, `"3850.00"`, `"3850,5"`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Montant {
    pub cents: u64,
}
impl Montant {
    pub fn parse(s: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "expected an amount in euros with at most 2 decimals, such as 3850.00, got {s:?}"
            )
        };
        let s2 = s.trim().replace(',', ".");
        let (int, frac) = match s2.split_once('.') {
            Some((i, f)) => (i.to_owned(), f.to_owned()),
            None => (s2.clone(), String::new()),
        };
        if !all_digits(&int)
            || int.len() > 9
            || frac.len() > 2
            || (!frac.is_empty() && !all_digits(&frac))
        {
            return Err(err());
        }
        let euros: u64 = int.parse().map_err(|_| err())?;
        let mut cents: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| err())?
        };
        if frac.len() == 1 {
            cents *= 10;
        }
        Ok(Montant {
            cents: euros * 100 + cents,
        })
    }
    /// Euros with two decimals, `3850.00`.
    pub fn decimal(&self) -> String {
        format!("{}.{:02}", self.cents / 100, self.cents % 100)
    }
    /// Whole euros, rounded half up: LHÉO `prix-total-TTC` is at most 10 characters.
    pub fn whole_euros(&self) -> u64 {
        (self.cents + 50) / 100
    }
}
impl fmt::Display for Montant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.decimal())
    }
}
impl Serialize for Montant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.decimal())
    }
}
/// A decimal given as a JSON number (`20`, `5.5`) or a string (`"2100.00"`), as SOFI
/// extractions write either: the text of both, for the type's own parser.
fn decimal_text<'de, D: Deserializer<'de>>(d: D) -> Result<std::borrow::Cow<'de, str>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw<'a> {
        N(serde_json::Number),
        S(std::borrow::Cow<'a, str>),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::N(n) => std::borrow::Cow::Owned(n.to_string()),
        Raw::S(s) => s,
    })
}
impl<'de> Deserialize<'de> for Montant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Montant::parse(&decimal_text(d)?).map_err(serde::de::Error::custom)
    }
}

/// A VAT rate in percent with at most 2 decimals (e.g. 20, 5.5).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TauxTva {
    pub hundredths: u32,
}
impl TauxTva {
    pub fn parse(s: &str) -> Result<Self, String> {
        let m = Montant::parse(s)
            .map_err(|_| format!("expected a VAT rate in percent such as 20 or 5.5, got {s:?}"))?;
        if m.cents > 10_000 {
            return Err(format!("a VAT rate is at most 100 %, got {s:?}"));
        }
        Ok(TauxTva {
            hundredths: m.cents as u32,
        })
    }
}
impl fmt::Display for TauxTva {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hundredths.is_multiple_of(100) {
            write!(f, "{}", self.hundredths / 100)
        } else {
            let s = format!("{}.{:02}", self.hundredths / 100, self.hundredths % 100);
            f.write_str(s.trim_end_matches('0'))
        }
    }
}
impl Serialize for TauxTva {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for TauxTva {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        TauxTva::parse(&decimal_text(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fas_code_round_trips_and_rejects_garbage() {
        let c = FasCode::parse("19482-89393-143842").unwrap();
        assert_eq!(c.action.formation, 19482);
        assert_eq!(c.action.to_string(), "19482-89393");
        assert_eq!(c.to_string(), "19482-89393-143842");
        for bad in ["", "1-2", "1-2-3-4", "01-2-3", "a-2-3", "1--3", "1-2-3 "] {
            assert!(FasCode::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn siret_checks_luhn() {
        assert!(Siret::parse("13000511900032").is_ok());
        assert!(Siret::parse("130 005 119 00032").is_ok());
        assert!(Siret::parse("13000511900033").is_err());
        assert!(Siret::parse("1300051190003").is_err());
        assert!(Siret::parse("35600000000048").is_ok(), "La Poste rule");
    }

    #[test]
    fn dates_are_calendar_dates() {
        assert!(Date::parse("2025-02-29").is_err());
        assert!(Date::parse("2024-02-29").is_ok());
        assert!(Date::parse("2025-2-1").is_err());
        assert_eq!(Date::parse("2025-09-01").unwrap().lheo(), "20250901");
    }

    #[test]
    fn heure_lheo_form() {
        assert_eq!(Heure::parse("09:30").unwrap().lheo(), "9h30");
        assert_eq!(Heure::parse("14:00").unwrap().lheo(), "14h");
        assert!(Heure::parse("24:00").is_err());
        assert!(Heure::parse("9h30").is_err());
    }

    #[test]
    fn montant_is_exact() {
        assert_eq!(Montant::parse("3850").unwrap().cents, 385000);
        assert_eq!(Montant::parse("3850,5").unwrap().decimal(), "3850.50");
        assert!(Montant::parse("1.234").is_err());
        assert!(Montant::parse("-3").is_err());
        assert_eq!(TauxTva::parse("5.5").unwrap().to_string(), "5.5");
        assert_eq!(TauxTva::parse("20").unwrap().to_string(), "20");
    }

    #[test]
    fn rncp_and_bloc_codes() {
        assert_eq!(Rncp::parse("35030").unwrap().as_str(), "RNCP35030");
        assert_eq!(Rncp::parse("RNCP35030").unwrap().as_str(), "RNCP35030");
        assert!(CodeBloc::parse("RNCP35030BC01").is_ok());
        assert!(CodeBloc::parse("BC01").is_err());
    }
}
