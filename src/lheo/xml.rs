//! A small, strict XML emitter for LHÉO.
//!
//! Why not quick-xml's `Writer` directly: LHÉO consumers split the national file on lines
//! that *start* with `<formation` / `</formation>`, and LHÉO content models are sequences
//! of optional elements where an empty string is invalid (every text has a minimum length
//! of 1). This emitter owns the layout (two-space indentation, `<formation>` at column 0)
//! and checks every text against its LHÉO length limits as it writes, recording a
//! [`Violation`] instead of writing an invalid or truncated value. Escaping is quick-xml's.

use quick_xml::escape::partial_escape;

use crate::model::FasCode;

/// The LHÉO 2.3 namespace, declared exactly so as the default namespace (the writer's
/// document header, and the emitter's foreign nodes written back in it).
pub const NAMESPACE: &str = "http://lheo.gouv.fr/2.3";

/// Why a value could not be written as valid LHÉO.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ViolationKind {
    /// A required element has no source value.
    Missing,
    /// The text is longer than LHÉO allows (in characters).
    TooLong { max: usize, actual: usize },
    /// The text is shorter than LHÉO allows (in characters).
    TooShort { min: usize, actual: usize },
    /// LHÉO holds one value per formation and this session's differs from `from`'s.
    Differs { from: String },
}

/// A value that LHÉO 2.3 cannot hold as given.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// The session the value belongs to, when it is a session's own (so only that
    /// session is left out).
    pub session: Option<FasCode>,
    /// The LHÉO element path, e.g. `formation/intitule-formation`.
    pub element: String,
    /// The SOFI field it comes from, e.g. `formation.intitule`.
    pub field: &'static str,
    #[serde(flatten)]
    pub kind: ViolationKind,
}

/// Accumulates XML text with indentation and records length violations.
pub struct Emitter {
    pub(crate) buf: String,
    depth: usize,
    /// Indentation of depth 0; `<formation>` fragments start at column 0.
    path: Vec<&'static str>,
    pub(crate) violations: Vec<Violation>,
    /// The session whose elements are being written, for attributing violations.
    pub(crate) session: Option<FasCode>,
    /// Attributes an imported document had on elements the writer writes itself
    /// (`model::KeptAttrs`), and which of them were written back already. Empty for
    /// SOFI's offers, so their elements cost nothing more.
    kept_attrs: Vec<crate::model::KeptAttrs>,
    kept_used: Vec<bool>,
}

impl Emitter {
    pub fn new() -> Emitter {
        Emitter {
            buf: String::with_capacity(8 * 1024),
            depth: 0,
            path: Vec::with_capacity(12),
            violations: Vec::new(),
            session: None,
            kept_attrs: Vec::new(),
            kept_used: Vec::new(),
        }
    }

    /// The attributes to write back on the elements of this formation.
    pub fn keep_attrs(&mut self, kept: &[crate::model::KeptAttrs]) {
        self.kept_attrs = kept.to_vec();
        self.kept_used = vec![false; kept.len()];
    }

    /// The attributes of element `name` with text `text`: the writer's, with the kept
    /// ones of the same path and text over them (the first unused such entry).
    fn with_kept<'a>(
        &mut self,
        name: &str,
        text: &str,
        attrs: &[(&'a str, &'a str)],
    ) -> Option<Vec<(String, String)>> {
        let path = &self.path;
        let at = self.kept_attrs.iter().enumerate().position(|(i, k)| {
            !self.kept_used[i] && k.text == text.trim() && {
                let mut segs = k.path.split('/');
                path.iter().all(|p| segs.next() == Some(p))
                    && segs.next() == Some(name)
                    && segs.next().is_none()
            }
        })?;
        self.kept_used[at] = true;
        let kept = &self.kept_attrs[at].attrs;
        let mut out: Vec<(String, String)> = attrs
            .iter()
            .map(|(k, v)| {
                let v = kept.iter().find(|(kk, _)| kk == k).map_or(*v, |(_, kv)| kv);
                ((*k).to_owned(), v.to_owned())
            })
            .collect();
        for (k, v) in kept {
            if !attrs.iter().any(|(a, _)| a == k) {
                out.push((k.clone(), v.clone()));
            }
        }
        Some(out)
    }

    fn push_attrs_of(&mut self, name: &str, text: &str, attrs: &[(&str, &str)]) {
        if self.kept_attrs.is_empty() {
            return self.push_attrs(attrs);
        }
        match self.with_kept(name, text, attrs) {
            Some(merged) => {
                let refs: Vec<(&str, &str)> = merged
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                self.push_attrs(&refs);
            }
            None => self.push_attrs(attrs),
        }
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.buf.push_str("  ");
        }
    }

    fn push_attrs(&mut self, attrs: &[(&str, &str)]) {
        for (k, v) in attrs {
            self.buf.push(' ');
            self.buf.push_str(k);
            self.buf.push_str("=\"");
            // Attribute values also need `"` escaped; `escape` does all five.
            self.buf.push_str(&quick_xml::escape::escape(*v));
            self.buf.push('"');
        }
    }

    /// Opens an element that will hold children.
    pub fn open(&mut self, name: &'static str, attrs: &[(&str, &str)]) {
        self.indent();
        self.buf.push('<');
        self.buf.push_str(name);
        self.push_attrs_of(name, "", attrs);
        self.buf.push_str(">\n");
        self.depth += 1;
        self.path.push(name);
    }

    pub fn close(&mut self) {
        let name = self.path.pop().expect("close without open");
        self.depth -= 1;
        self.indent();
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push_str(">\n");
    }

    fn element_path(&self, name: &str) -> String {
        let mut p = self.path.join("/");
        if !p.is_empty() {
            p.push('/');
        }
        p.push_str(name);
        p
    }

    pub fn violation(&mut self, name: &str, field: &'static str, kind: ViolationKind) {
        let element = self.element_path(name);
        self.violations.push(Violation {
            session: self.session,
            element,
            field,
            kind,
        });
    }

    /// Writes `<name>value</name>` without any check: for codes and numbers we produce.
    /// Writes an element tree kept from an imported document (`model::XmlNode`), at the
    /// current depth. `{uri}local` names declare their namespace as the default one, and
    /// LHÉO children inside them switch back, so the tree means what it meant.
    pub fn node(&mut self, n: &crate::model::XmlNode) {
        self.node_in(n, NAMESPACE);
    }

    fn node_in(&mut self, n: &crate::model::XmlNode, default_ns: &str) {
        let (uri, local) = crate::model::lheo_extras::split_name(&n.name);
        let ns = uri.unwrap_or(NAMESPACE);
        self.indent();
        self.buf.push('<');
        self.buf.push_str(local);
        if ns != default_ns {
            self.buf.push_str(" xmlns=\"");
            self.buf.push_str(&quick_xml::escape::escape(ns));
            self.buf.push('"');
        }
        for (k, v) in &n.attrs {
            self.push_attrs(&[(k.as_str(), v.as_str())]);
        }
        if n.children.is_empty() {
            self.buf.push('>');
            self.buf.push_str(&partial_escape(&n.text));
        } else {
            self.buf.push_str(">\n");
            self.depth += 1;
            for c in &n.children {
                self.node_in(c, ns);
            }
            self.depth -= 1;
            self.indent();
        }
        self.buf.push_str("</");
        self.buf.push_str(local);
        self.buf.push_str(">\n");
    }

    pub fn raw(&mut self, name: &'static str, attrs: &[(&str, &str)], value: &str) {
        self.indent();
        self.buf.push('<');
        self.buf.push_str(name);
        self.push_attrs_of(name, value, attrs);
        self.buf.push('>');
        self.buf.push_str(&partial_escape(value));
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push_str(">\n");
    }

    /// Writes a text element after checking its length (in characters) against LHÉO's
    /// `min..=max`. An out-of-range value is recorded as a violation and not written.
    pub fn text(
        &mut self,
        name: &'static str,
        field: &'static str,
        value: &str,
        min: usize,
        max: usize,
    ) {
        self.text_attrs(name, field, &[], value, min, max)
    }

    pub fn text_attrs(
        &mut self,
        name: &'static str,
        field: &'static str,
        attrs: &[(&str, &str)],
        value: &str,
        min: usize,
        max: usize,
    ) {
        let n = value.chars().count();
        if n > max {
            self.violation(name, field, ViolationKind::TooLong { max, actual: n });
        } else if n < min {
            self.violation(name, field, ViolationKind::TooShort { min, actual: n });
        } else {
            self.raw(name, attrs, value);
        }
    }

    /// Like [`Emitter::text`] for an optional value: nothing is written when absent.
    pub fn opt_text(
        &mut self,
        name: &'static str,
        field: &'static str,
        value: Option<&str>,
        min: usize,
        max: usize,
    ) {
        if let Some(v) = value {
            self.text(name, field, v, min, max);
        }
    }

    /// A required text: absent is a violation.
    pub fn req_text(
        &mut self,
        name: &'static str,
        field: &'static str,
        value: Option<&str>,
        min: usize,
        max: usize,
    ) {
        match value {
            Some(v) => self.text(name, field, v, min, max),
            None => self.violation(name, field, ViolationKind::Missing),
        }
    }

    pub fn take(self) -> (String, Vec<Violation>) {
        (self.buf, self.violations)
    }
}

impl Default for Emitter {
    fn default() -> Self {
        Self::new()
    }
}
