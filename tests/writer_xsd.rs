//! The writer's output against the official LHÉO 2.3 XSD, on a small inline offer.

mod common;

use std::collections::HashMap;

use lheo_feed::lheo::{document_header, write_formation, WriterContext, DOCUMENT_FOOTER};
use lheo_feed::model::{Date, Record};

#[test]
fn baseline_offer_is_schema_valid() {
    let data = std::fs::read_to_string("tests/data/baseline.jsonl").unwrap();
    let mut orgs = HashMap::new();
    let mut offres = Vec::new();
    for line in data.lines() {
        match serde_json::from_str::<Record>(line).unwrap() {
            Record::Organisme(o) => {
                orgs.insert(o.siret.clone(), *o);
            }
            Record::Offre(o) => offres.push(*o),
            Record::Session(_) => unreachable!(),
        }
    }
    let ctx = WriterContext {
        organismes: &orgs,
        today: Date::parse("2025-06-01").unwrap(),
    };
    let mut doc = document_header("2025-06-01T02:30:00+02:00");
    for o in &offres {
        let f = write_formation(o, &ctx).unwrap_or_else(|v| panic!("{v:#?}"));
        assert_eq!(
            f.actions, 2,
            "two sessions with different action-level values"
        );
        doc.push_str(&f.xml);
    }
    doc.push_str(DOCUMENT_FOOTER);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.xml");
    std::fs::write(&path, &doc).unwrap();
    common::assert_schema_valid(&path);
    if std::env::var_os("SHOW_XML").is_some() {
        println!("{doc}");
    }
}

#[test]
fn sessions_differing_only_in_their_own_dates_share_one_lheo_action() {
    let data = std::fs::read_to_string("tests/data/baseline.jsonl").unwrap();
    let mut lines = data.lines();
    let Record::Organisme(org) = serde_json::from_str::<Record>(lines.next().unwrap()).unwrap()
    else {
        panic!("organisme first")
    };
    let Record::Offre(mut offre) = serde_json::from_str::<Record>(lines.next().unwrap()).unwrap()
    else {
        panic!("offre second")
    };
    // A second run of the first session: other code, dates, periods and IC.
    let mut other = offre.sessions[0].clone();
    other.code.session = 143_900;
    other.date_debut = Some(Date::parse("2025-11-03").unwrap());
    other.date_fin = Some(Date::parse("2026-02-27").unwrap());
    other.informations_collectives[0].date = Some(Date::parse("2025-10-01").unwrap());
    other.periodes_inscription[0].debut = Date::parse("2025-09-01").unwrap();
    offre.sessions.truncate(1);
    offre.sessions.push(other);
    let orgs = HashMap::from([(org.siret.clone(), *org)]);
    let ctx = WriterContext {
        organismes: &orgs,
        today: Date::parse("2025-06-01").unwrap(),
    };
    let f = write_formation(&offre, &ctx).unwrap();
    assert_eq!(f.actions, 1, "{}", f.xml);
    assert_eq!(f.xml.matches("<session ").count(), 2);
    // Both information-collective dates are announced at action level.
    assert!(f.xml.contains("<date>20250703</date>") && f.xml.contains("<date>20251001</date>"));
}
