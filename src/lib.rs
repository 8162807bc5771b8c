//! # lheo-feed
//!
//! Publishes the Pays de la Loire training offer, as training organisations enter it in
//! SOFI, to the national consumers in LHÉO 2.3. (Tour of the modules: see below as they
//! land.)
//!
//! - [`model`]: the FASD domain (Formation, Action, Session, Dispositif), valid by
//!   construction.
//! - [`rules`]: the entry rules of the SOFI procedure, each a pure function with a stable
//!   code, a severity and a French message for the training organisation; `evaluate`
//!   sorts an offer's sessions into accepted, rejected and inactive, and `rules::report`
//!   renders the outcome per organisme as text, JSON and CSV.

pub mod model;
pub mod rules;
