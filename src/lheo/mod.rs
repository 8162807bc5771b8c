//! LHÉO 2.3 output: the XML emitter ([`xml`]) and the SOFI → LHÉO mapping ([`writer`]).

pub mod writer;
pub mod xml;

pub use writer::{
    document_header, write_formation, Fragment, WriterContext, DOCUMENT_FOOTER, FORMAT_VERSION,
    NAMESPACE,
};
pub use xml::{Violation, ViolationKind};
