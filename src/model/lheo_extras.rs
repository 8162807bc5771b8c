//! What an imported LHÉO document held that the FASD model has no field for
//! (`import-lheo`, `docs/lheo-import.md`): the document's own identifiers when they are
//! not SOFI codes, and the elements that did not map, as small element trees that the
//! writer puts back at the end of the same LHÉO element (formation, action or session).
//!
//! The trees are kept structured, not as XML text: a JSON Lines record may carry them too,
//! and a structure whose names and texts are checked on the way in cannot inject markup
//! into an export, whatever the input says.

use serde::{Deserialize, Serialize};

use super::text::is_xml_char;

/// What a formation or session of an LHÉO document held beyond the model.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LheoExtras {
    /// The document's `numero` when it is not the SOFI code (a foreign document's
    /// identifier such as `9436_18706`): written back as `numero` instead of the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numero: Option<LheoNumero>,
    /// Unmapped content of this element, written back at its end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xml: Vec<XmlNode>,
    /// On a session: unmapped content of the LHÉO `action` that held it, written back at
    /// the end of that action (sessions sharing it keep equal copies, so they still
    /// share one action on export).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action_xml: Vec<XmlNode>,
    /// On a formation: the attributes of elements the import mapped (so the writer
    /// writes those elements itself) that the writer does not produce as given, such
    /// as ONISEP's `ref="V11" tag="principal"` on a FORMACODE: written back on them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<KeptAttrs>,
    /// On a formation: the values the import kept as given because our types refuse
    /// them (an unknown code, a FORMACODE that is not one), so that `check` can tell the
    /// organisme (rule `IMPORT_VALEUR_CONSERVEE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalides: Vec<ValeurConservee>,
}

/// Longest value kept in a [`ValeurConservee`]: enough to recognise it in a message.
pub const MAX_VALEUR_CONSERVEE: usize = 200;

/// A value an imported document gave that our types refuse, kept as given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawValeur")]
pub struct ValeurConservee {
    /// The LHÉO element's name (e.g. `modalites-enseignement`).
    pub element: String,
    /// The value as given (at most [`MAX_VALEUR_CONSERVEE`] characters).
    pub valeur: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValeur {
    element: String,
    valeur: String,
}

impl TryFrom<RawValeur> for ValeurConservee {
    type Error = String;
    fn try_from(r: RawValeur) -> Result<Self, String> {
        ValeurConservee::new(&r.element, &r.valeur)
    }
}

impl ValeurConservee {
    /// Checks the name and the characters (it ends up in messages and reports), and
    /// refuses a value longer than [`MAX_VALEUR_CONSERVEE`] characters.
    pub fn new(element: &str, valeur: &str) -> Result<Self, String> {
        if !is_ncname(element) {
            return Err(format!("{element:?} is not an element name"));
        }
        if valeur.chars().count() > MAX_VALEUR_CONSERVEE
            || !valeur.chars().all(|c| is_xml_char(c) && !c.is_control())
        {
            return Err(format!(
                "the value kept for {element} is too long or not text"
            ));
        }
        Ok(ValeurConservee {
            element: element.to_owned(),
            valeur: valeur.to_owned(),
        })
    }
}

/// The attributes of one mapped element, found again on export by its path from the
/// `formation` and its text (empty for an element with children): the writer regroups
/// sessions and recomputes values, so a position would not find it again, its content
/// does. Each is used once, in order, so equal elements keep their own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawAttrs")]
pub struct KeptAttrs {
    /// Element names from `formation`, separated by `/`.
    pub path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    pub attrs: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttrs {
    path: String,
    #[serde(default)]
    text: String,
    attrs: Vec<(String, String)>,
}

impl TryFrom<RawAttrs> for KeptAttrs {
    type Error = String;
    fn try_from(r: RawAttrs) -> Result<Self, String> {
        let k = KeptAttrs {
            path: r.path,
            text: r.text,
            attrs: r.attrs,
        };
        k.validate()?;
        Ok(k)
    }
}

impl KeptAttrs {
    /// The same checks as a kept tree's (names, characters, no repeated attribute), so a
    /// JSON Lines record cannot inject markup through them either.
    pub fn validate(&self) -> Result<(), String> {
        let mut last = "";
        for seg in self.path.split('/') {
            if !is_ncname(seg) {
                return Err(format!("{:?} is not an element path", self.path));
            }
            last = seg;
        }
        XmlNode {
            name: last.to_owned(),
            attrs: self.attrs.clone(),
            text: self.text.clone(),
            children: Vec::new(),
        }
        .check(0)
    }
}

impl LheoExtras {
    pub fn is_empty(&self) -> bool {
        self.numero.is_none()
            && self.xml.is_empty()
            && self.action_xml.is_empty()
            && self.attrs.is_empty()
            && self.invalides.is_empty()
    }
}

/// A foreign `numero`: 1 to 100 characters, no control character.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LheoNumero(String);
impl LheoNumero {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty()
            || s.chars().count() > 100
            || !s.chars().all(|c| is_xml_char(c) && !c.is_control())
        {
            return Err(format!(
                "an LHÉO numero is 1 to 100 printable characters, got {s:?}"
            ));
        }
        Ok(LheoNumero(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// A document-unique `xs:ID` body: the numero with every character an NCName cannot
    /// hold replaced by `_` (the caller adds a letter prefix).
    pub fn id_body(&self) -> String {
        self.0
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}
super::ids::string_value!(LheoNumero);

/// Deepest tree kept (the reader's own bound is 64 for the whole document).
pub const MAX_NODE_DEPTH: usize = 48;

/// One element kept from a document: `name` is a local name in the LHÉO namespace, or
/// `{uri}local` for another namespace. `text` is written only when there are no children.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawNode")]
pub struct XmlNode {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<XmlNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: String,
    #[serde(default)]
    attrs: Vec<(String, String)>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    children: Vec<XmlNode>,
}

impl TryFrom<RawNode> for XmlNode {
    type Error = String;
    fn try_from(r: RawNode) -> Result<Self, String> {
        let n = XmlNode {
            name: r.name,
            attrs: r.attrs,
            text: r.text,
            children: r.children,
        };
        n.check(0)?;
        Ok(n)
    }
}

/// An XML NCName, restricted to what LHÉO and its extras use in practice (ASCII letters,
/// digits, `-`, `.`, `_`, and non-ASCII letters), so that nothing can close a tag early.
pub fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// Splits `{uri}local` into its namespace and local name.
pub fn split_name(name: &str) -> (Option<&str>, &str) {
    match name.strip_prefix('{').and_then(|r| r.split_once('}')) {
        Some((uri, local)) => (Some(uri), local),
        None => (None, name),
    }
}

impl XmlNode {
    fn check(&self, depth: usize) -> Result<(), String> {
        if depth > MAX_NODE_DEPTH {
            return Err(format!("an element tree deeper than {MAX_NODE_DEPTH}"));
        }
        let (uri, local) = split_name(&self.name);
        if !is_ncname(local) {
            return Err(format!("{:?} is not an element name", self.name));
        }
        if let Some(u) = uri {
            if u.is_empty() || !u.chars().all(|c| is_xml_char(c) && !c.is_control()) {
                return Err(format!("{u:?} is not a namespace name"));
            }
        }
        for (i, (k, v)) in self.attrs.iter().enumerate() {
            // `xml…` names are reserved (`xmlns` would clash with the declaration the
            // writer adds); a repeated name would make the element malformed.
            if !is_ncname(k) || k.to_ascii_lowercase().starts_with("xml") {
                return Err(format!("{k:?} is not an attribute name"));
            }
            if self.attrs[..i].iter().any(|(k2, _)| k2 == k) {
                return Err(format!("attribute {k} appears twice"));
            }
            if !v.chars().all(is_xml_char) {
                return Err(format!("attribute {k} holds a character XML cannot carry"));
            }
        }
        if !self.text.chars().all(is_xml_char) {
            return Err(format!(
                "element {} holds a character XML cannot carry",
                self.name
            ));
        }
        self.children.iter().try_for_each(|c| c.check(depth + 1))
    }

    /// Checks a tree built in code (the import builds them from parsed documents).
    pub fn validate(&self) -> Result<(), String> {
        self.check(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Outside text (a JSON Lines record, a document's attribute or value): whatever
        /// it is, what is accepted can only be written as text and attribute content.
        #[test]
        fn kept_values_and_attributes_accept_only_safe_text(
            name in "\\PC{0,12}",
            path in "[a-z/ <\\-]{0,20}",
            value in "\\PC{0,40}|[\\x00-\\x1f<>&\"]{0,10}",
        ) {
            if let Ok(v) = ValeurConservee::new(&name, &value) {
                proptest::prop_assert!(is_ncname(&v.element));
                proptest::prop_assert!(v.valeur.chars().all(|c| is_xml_char(c) && !c.is_control()));
            }
            let k = KeptAttrs { path: path.clone(), text: value.clone(), attrs: vec![(name.clone(), value.clone())] };
            if k.validate().is_ok() {
                proptest::prop_assert!(path.split('/').all(is_ncname));
                proptest::prop_assert!(is_ncname(&name) && !name.to_ascii_lowercase().starts_with("xml"));
                proptest::prop_assert!(value.chars().all(is_xml_char));
            }
        }
    }

    #[test]
    fn kept_attributes_are_checked() {
        let ok = r#"{"path":"formation/domaine-formation/code-FORMACODE","text":"34582","attrs":[["ref","V11"],["tag","principal"]]}"#;
        let k: KeptAttrs = serde_json::from_str(ok).unwrap();
        assert_eq!(k.attrs.len(), 2);
        for bad in [
            r#"{"path":"formation/a b","attrs":[["ref","V11"]]}"#,
            r#"{"path":"formation//x","attrs":[["ref","V11"]]}"#,
            r#"{"path":"formation/x","attrs":[["a\"=","V11"]]}"#,
            r#"{"path":"formation/x","attrs":[["xmlns","urn:x"]]}"#,
            r#"{"path":"formation/x","attrs":[["a","1"],["a","2"]]}"#,
            r#"{"path":"formation/x","attrs":[["a",""]]}"#,
        ] {
            assert!(serde_json::from_str::<KeptAttrs>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostile_names_and_texts_are_refused() {
        for bad in [
            r#"{"name":"a><script"}"#,
            r#"{"name":"x","attrs":[["a\" b","1"]]}"#,
            r#"{"name":"x","text":"\u0001"}"#,
            r#"{"name":"x","children":[{"name":"</x>"}]}"#,
            r#"{"name":"{}x"}"#,
            r#"{"name":"x","attrs":[["xmlns","urn:a"]]}"#,
            r#"{"name":"x","attrs":[["a","1"],["a","2"]]}"#,
        ] {
            assert!(serde_json::from_str::<XmlNode>(bad).is_err(), "{bad}");
        }
        let ok: XmlNode =
            serde_json::from_str(r#"{"name":"{urn:x}y","attrs":[["info","a<b"]],"text":"<&>"}"#)
                .unwrap();
        assert_eq!(split_name(&ok.name), (Some("urn:x"), "y"));
    }

    #[test]
    fn numero_id_body_is_an_ncname_tail() {
        let n = LheoNumero::parse("9436_18706 / bis").unwrap();
        assert_eq!(n.id_body(), "9436_18706___bis");
        assert!(LheoNumero::parse("").is_err());
        assert!(LheoNumero::parse("a\u{7}").is_err());
    }
}
