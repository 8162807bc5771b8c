//! # lheo-feed
//!
//! Publishes the Pays de la Loire training offer, as training organisations enter it in
//! SOFI, to the national consumers in LHÉO 2.3. (Tour of the modules: see below as they
//! land.)

pub mod lheo;
pub mod model;
pub mod store;
