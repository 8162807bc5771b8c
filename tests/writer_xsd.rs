//! The writer's output against the official LHÉO 2.3 XSD, on a small inline offer.

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
    let out = std::process::Command::new("xmllint")
        .args([
            "--noout",
            "--stream",
            "--schema",
            "../shared/lheo/lheo-2.3.xsd",
        ])
        .arg(&path)
        .output()
        .expect("xmllint (Debian package libxml2-utils) must be installed");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        doc
    );
    if std::env::var_os("SHOW_XML").is_some() {
        println!("{doc}");
    }
}
