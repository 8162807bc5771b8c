//! Partners of the feed: who may pull it, with which key, and what they may see.
//!
//! **Keys.** `lf_` followed by 64 hex digits: 32 bytes from the operating system's random
//! source, shown once by `partner add`. Only `hex(SHA-256(key))` is stored. A slow
//! password hash (Argon2, bcrypt) protects *guessable* secrets against a stolen table; a
//! 256-bit random key cannot be guessed, so one SHA-256 suffices and keeps checking a key
//! per request cheap. Keys are compared as hashes in constant time (`subtle`), against every
//! partner, so neither timing nor the position of a match tells anything.
//!
//! **Scopes.** A partner may be limited to programmes (a session's dispositif is named by
//! its programme in SOFI, so `dispositif:` is the same dimension) and/or départements (of
//! the sessions' places). An offer is in scope when one of its published sessions matches
//! every restricted dimension's list; the offer is then delivered whole. Out of scope, it
//! does not exist for that partner (404, absent from its snapshot and changes).

use std::collections::BTreeSet;

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{restriction_allows, PartnerRow, Store};

/// Prefix of every API key (recognisable in a leaked file or a secret scanner's rules).
pub const KEY_PREFIX: &str = "lf_";
/// Longest partner name.
const MAX_NAME: usize = 64;
/// Longest scope value.
const MAX_SCOPE_VALUE: usize = 255;

/// What a partner may see. Empty lists do not restrict.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(default)]
    pub programmes: BTreeSet<String>,
    #[serde(default)]
    pub departements: BTreeSet<String>,
}

impl Scope {
    /// Parses `--scope` values: `programme:NAME`, `dispositif:NAME` (the same) or
    /// `departement:CODE` (`44`, `2A`, `974`).
    pub fn parse(args: &[String]) -> Result<Scope, String> {
        let mut s = Scope::default();
        for a in args {
            let (kind, value) = a.split_once(':').ok_or_else(|| {
                format!(
                    "--scope {a:?}: expected programme:NAME, dispositif:NAME or departement:CODE"
                )
            })?;
            let value = value.trim();
            if value.is_empty() || value.chars().count() > MAX_SCOPE_VALUE {
                return Err(format!(
                    "--scope {a:?}: the value must have 1 to {MAX_SCOPE_VALUE} characters"
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(format!("--scope {a:?}: control characters are not allowed"));
            }
            match kind.trim() {
                "programme" | "dispositif" => {
                    s.programmes.insert(value.to_owned());
                }
                "departement" | "département" => {
                    let ok = matches!(value, "2A" | "2B")
                        || (value.len() == 2 && value.bytes().all(|b| b.is_ascii_digit()))
                        || (value.len() == 3
                            && (value.starts_with("97") || value.starts_with("98"))
                            && value.bytes().all(|b| b.is_ascii_digit()));
                    if !ok {
                        return Err(format!(
                            "--scope {a:?}: a département is two digits, 2A, 2B or a 97x/98x code"
                        ));
                    }
                    s.departements.insert(value.to_owned());
                }
                other => {
                    return Err(format!(
                        "--scope {a:?}: unknown dimension {other:?} (programme, dispositif or \
                         departement)"
                    ))
                }
            }
        }
        Ok(s)
    }

    /// Whether nothing is restricted.
    pub fn is_all(&self) -> bool {
        self.programmes.is_empty() && self.departements.is_empty()
    }

    /// Whether an offer with these published programmes and départements (JSON arrays, as
    /// the `published` table holds them) is in scope. Unreadable values are out of scope:
    /// a scoped partner never gets what cannot be checked.
    pub fn allows(&self, programmes: &str, departements: &str) -> bool {
        restriction_allows(&self.programmes, programmes)
            && restriction_allows(&self.departements, departements)
    }

    /// A short, stable digest of the scope (part of the ETags of scoped documents).
    pub fn digest(&self) -> String {
        let json = serde_json::to_string(self).expect("serialisable");
        hex::encode(&Sha256::digest(json.as_bytes())[..8])
    }

    /// For people: `all`, or the lists.
    pub fn describe(&self) -> String {
        if self.is_all() {
            return "all".to_owned();
        }
        let mut parts = Vec::new();
        if !self.programmes.is_empty() {
            let v: Vec<&str> = self.programmes.iter().map(String::as_str).collect();
            parts.push(format!("programmes: {}", v.join(" | ")));
        }
        if !self.departements.is_empty() {
            let v: Vec<&str> = self.departements.iter().map(String::as_str).collect();
            parts.push(format!("départements: {}", v.join(", ")));
        }
        parts.join("; ")
    }
}

/// SHA-256 of a presented key.
pub fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new random key.
pub fn new_key() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow!("no random source: {e}"))?;
    Ok(format!("{KEY_PREFIX}{}", hex::encode(bytes)))
}

/// What `partner add` returns: the key, shown once.
#[derive(Clone, Debug, Serialize)]
pub struct NewPartner {
    pub id: i64,
    pub name: String,
    pub key: String,
    pub scope: Scope,
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "partner name {name:?}: use 1 to {MAX_NAME} characters among letters, digits, \
             '-', '_' and '.' (e.g. offre-info)"
        ))
    }
}

/// Why `partner add` refused its arguments (exit code 2) or failed.
#[derive(Debug, thiserror::Error)]
pub enum PartnerError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Adds a partner and returns its key, which is not stored anywhere.
pub async fn add(store: &Store, name: &str, scope: &[String]) -> Result<NewPartner, PartnerError> {
    check_name(name).map_err(PartnerError::Input)?;
    let scope = Scope::parse(scope).map_err(PartnerError::Input)?;
    let key = new_key()?;
    let id = store
        .insert_partner(
            name,
            &key[..KEY_PREFIX.len() + 8],
            &hex::encode(key_hash(&key)),
            &serde_json::to_string(&scope).expect("serialisable"),
            chrono::Utc::now(),
        )
        .await
        .map_err(|e| {
            if e.to_string().contains("already exists") {
                PartnerError::Input(e.to_string())
            } else {
                PartnerError::Other(e)
            }
        })?;
    Ok(NewPartner {
        id,
        name: name.to_owned(),
        key,
        scope,
    })
}

/// Revokes a partner's key.
pub async fn revoke(store: &Store, name: &str) -> Result<(), PartnerError> {
    if store.revoke_partner(name, chrono::Utc::now()).await? {
        Ok(())
    } else {
        Err(PartnerError::Input(format!(
            "no active partner named {name:?} (see `lheo-feed partner list`)"
        )))
    }
}

/// A partner as listed.
#[derive(Clone, Debug, Serialize)]
pub struct PartnerInfo {
    pub id: i64,
    pub name: String,
    pub key_prefix: String,
    pub scope: Scope,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl TryFrom<&PartnerRow> for PartnerInfo {
    type Error = anyhow::Error;
    fn try_from(r: &PartnerRow) -> Result<PartnerInfo> {
        Ok(PartnerInfo {
            id: r.id,
            name: r.name.clone(),
            key_prefix: r.key_prefix.clone(),
            scope: serde_json::from_str(&r.scope)
                .with_context(|| format!("partner {}: unreadable scope", r.name))?,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
    }
}

/// Every partner.
pub async fn list(store: &Store) -> Result<Vec<PartnerInfo>> {
    store
        .partners()
        .await?
        .iter()
        .map(TryFrom::try_from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_are_random_prefixed_and_long() {
        let (a, b) = (new_key().unwrap(), new_key().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(a.len(), KEY_PREFIX.len() + 64);
    }

    #[test]
    fn scope_parses_and_filters() {
        let s = Scope::parse(&[
            "programme:PRF".into(),
            "dispositif:QUALIF".into(),
            "departement:44".into(),
        ])
        .unwrap();
        assert_eq!(s.programmes.len(), 2);
        assert!(s.allows(r#"["PRF"]"#, r#"["44","85"]"#));
        assert!(!s.allows(r#"["PRF"]"#, r#"["85"]"#));
        assert!(!s.allows(r#"["AUTRE"]"#, r#"["44"]"#));
        assert!(!s.allows("not json", r#"["44"]"#));
        assert!(Scope::default().allows("[]", "[]"));
        assert!(Scope::parse(&["departement:444".into()]).is_err());
        assert!(Scope::parse(&["region:52".into()]).is_err());
        assert!(Scope::parse(&["programme".into()]).is_err());
        assert!(Scope::parse(&["departement:2A".into(), "departement:974".into()]).is_ok());
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("offre-info").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
    }

    proptest! {
        /// Any text given as --scope is either refused with a message or accepted as a
        /// value that round-trips through the stored JSON.
        #[test]
        fn any_scope_text_is_refused_or_round_trips(arg in "\\PC{0,300}") {
            match Scope::parse(std::slice::from_ref(&arg)) {
                Err(msg) => prop_assert!(msg.starts_with("--scope")),
                Ok(s) => {
                    let json = serde_json::to_string(&s).unwrap();
                    prop_assert_eq!(serde_json::from_str::<Scope>(&json).unwrap(), s);
                }
            }
        }
    }
}
