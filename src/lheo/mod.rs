//! LHÉO 2.3 output: the XML emitter ([`xml`]) and the SOFI → LHÉO mapping ([`writer`]);
//! and the safe streaming [`reader`] of LHÉO 2.2 / 2.3 documents that `import-lheo` builds on.

pub mod import;
#[cfg(test)]
mod numero_proptests;
pub mod reader;
pub mod writer;
pub mod xml;

pub use writer::{
    document_header, write_formation, Fragment, WriterContext, DOCUMENT_FOOTER, FORMAT_VERSION,
};
pub use xml::{Violation, ViolationKind, NAMESPACE};
