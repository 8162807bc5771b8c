//! The entry rules: what a SOFI offer must satisfy before it is exported in LHÉO, checked
//! the way the Cariforef's procedure (`sofi-procedure-1e1f-2024.txt`) asks organisations
//! to enter it, and explained to them in French.
//!
//! Each rule is a [`Rule`]: a stable code (`IC_ABSENTE`), a [`Severity`], a short French
//! title, the procedure text it comes from, and a pure function from an offer (and a
//! [`RuleContext`]: today's date, the [`RulesConfig`], the organismes) to [`Finding`]s.
//! [`registry`] lists them all, in the order findings are reported: the offer, then the
//! Formation, Action, Session and Dispositif records, as the organisation meets them in
//! SOFI. `docs/rules.md` has one section per rule.
//!
//! [`evaluate`] runs every rule on one offer and sorts its sessions into
//! - **accepted**: exported;
//! - **rejected**: a [`Severity::RejectSession`] finding names the session, or a
//!   [`Severity::RejectOffer`] finding rejects the whole offer;
//! - **inactive**: the session has ended (`date_fin` before today). This is a withdrawal,
//!   not an error: the session is left out of the export and no finding is kept about it.
//!
//! Warnings never change what is exported. An offer with no accepted session is left out
//! whole; when all its sessions have ended, [`Outcome::offer_inactive`] says so and no
//! finding is kept (the organisation has nothing to fix).
//!
//! The rules never panic and never refuse an offer by failing: a dangling reference (an
//! organisme or site that the import should have guaranteed) is a finding like any other.

pub mod config;
pub mod texte;
pub mod url;

pub use config::{Campagne, RulesConfig, PROGRAMMES_REGION};
