//! Arbitrary text through import decoding and the LHÉO writer: every case ends either in
//! schema-valid LHÉO or in a clear rejection (an input error naming the field, or a writer
//! violation naming the element). Never in invalid XML.
//!
//! Cases are collected with proptest's runner and validated together in one document
//! with the official XSD, so the test costs one xmllint run.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use lheo_feed::ingest::jsonl::parse_record;
use lheo_feed::lheo::{document_header, write_formation, WriterContext, DOCUMENT_FOOTER};
use lheo_feed::model::{Date, Record};

/// Text fields of the baseline offer that the organisme types freely.
const FIELDS: &[&[&str]] = &[
    &["offre", "formation", "intitule"],
    &["offre", "formation", "description"],
    &["offre", "formation", "objectif"],
    &["offre", "action", "complement_intitule"],
    &["offre", "action", "complement_programme"],
    &["offre", "action", "prerequis"],
    &["offre", "action", "public_vise"],
    &["offre", "action", "le_plus_formation"],
    &["offre", "action", "url_action"],
    &["offre", "sessions", "0", "rythmes"],
    &["offre", "sessions", "0", "commentaire_duree"],
    &["offre", "sessions", "0", "mail_liaison"],
    &[
        "offre",
        "sessions",
        "0",
        "informations_collectives",
        "0",
        "commentaire",
    ],
    &["offre", "sessions", "0", "dispositif", "programme"],
    &["offre", "sessions", "0", "dispositif", "numero_lot_cr"],
];

fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        // Anything Unicode, including controls and noncharacters.
        any::<String>(),
        // XML's special characters and sequences.
        prop::collection::vec(
            prop_oneof![
                Just("<".to_owned()),
                Just("&".to_owned()),
                Just("]]>".to_owned()),
                Just("\"'".to_owned()),
                Just("&amp;".to_owned()),
                Just("<![CDATA[".to_owned()),
                Just("\u{1}\u{B}\u{C}\u{1F}".to_owned()),
                Just("\u{FFFE}\u{FFFF}\u{FEFF}".to_owned()),
                Just("😀é€\u{202E}".to_owned()),
                Just("\r\n\r".to_owned()),
                "[a-zé ]{0,20}",
            ],
            0..20
        )
        .prop_map(|v| v.concat()),
        // Long texts around the LHÉO limits (250, 255, 3000) and far beyond.
        (0usize..4).prop_flat_map(|k| {
            let n = [250usize, 256, 3001, 10_000][k];
            prop::collection::vec(prop::char::any(), n..=n)
                .prop_map(|v| v.into_iter().collect::<String>())
        }),
    ]
}

fn set_path(v: &mut Value, path: &[&str], text: String) {
    let mut cur = v;
    for (i, key) in path.iter().enumerate() {
        let last = i == path.len() - 1;
        cur = match key.parse::<usize>() {
            Ok(idx) => &mut cur[idx],
            Err(_) if last => {
                cur[*key] = Value::String(text);
                return;
            }
            Err(_) => &mut cur[*key],
        };
    }
}

#[test]
fn hostile_text_gives_valid_lheo_or_a_clear_rejection() {
    let baseline = std::fs::read_to_string("tests/data/baseline.jsonl").unwrap();
    let mut lines = baseline.lines();
    let org_line = lines.next().unwrap();
    let offre_line: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let Record::Organisme(org) = parse_record("baseline", 1, org_line).unwrap() else {
        panic!()
    };
    let orgs = HashMap::from([(org.siret.clone(), *org)]);
    let ctx = WriterContext {
        organismes: &orgs,
        today: Date::parse("2025-06-01").unwrap(),
    };

    // proptest's runner takes an `Fn`: the tallies live in cells.
    let doc = RefCell::new(document_header("2025-06-01T02:30:00+02:00"));
    let (written, rejected_input, rejected_writer, case) = (
        Cell::new(0u64),
        Cell::new(0u64),
        Cell::new(0u64),
        Cell::new(0u64),
    );
    let mut runner = TestRunner::new(Config {
        cases: 400,
        ..Config::default()
    });
    runner
        .run(&(0..FIELDS.len(), hostile_text()), |(field, text)| {
            let mut v = offre_line.clone();
            set_path(&mut v, FIELDS[field], text);
            // A distinct action code per case keeps the document's xs:ID values unique.
            let action = 100_000 + case.get();
            case.set(case.get() + 1);
            v["offre"]["numero"] = Value::String(format!("19482-{action}"));
            for (i, s) in v["offre"]["sessions"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .enumerate()
            {
                s["code"] = Value::String(format!("19482-{action}-{}", 143_842 + i));
            }
            let line = serde_json::to_string(&v).unwrap();
            match parse_record("prop.jsonl", 2, &line) {
                Err(e) => {
                    // A clear rejection names the file, line and field.
                    prop_assert_eq!(e.line, 2);
                    prop_assert!(!e.field.is_empty() && !e.reason.is_empty());
                    rejected_input.set(rejected_input.get() + 1);
                }
                Ok(Record::Offre(o)) => match write_formation(&o, &ctx) {
                    Ok(f) => {
                        prop_assert!(f.xml.starts_with("<formation "));
                        prop_assert!(f.xml.ends_with("</formation>\n"));
                        doc.borrow_mut().push_str(&f.xml);
                        written.set(written.get() + 1);
                    }
                    Err(violations) => {
                        prop_assert!(!violations.is_empty());
                        prop_assert!(violations.iter().all(|v| !v.element.is_empty()));
                        rejected_writer.set(rejected_writer.get() + 1);
                    }
                },
                Ok(_) => prop_assert!(false, "the line changed kind"),
            }
            Ok(())
        })
        .unwrap();
    let mut doc = doc.into_inner();
    doc.push_str(DOCUMENT_FOOTER);
    let (written, rejected_input, rejected_writer) =
        (written.get(), rejected_input.get(), rejected_writer.get());
    assert!(
        written > 50,
        "most cases must be publishable (written {written})"
    );
    assert!(
        rejected_writer > 0,
        "long texts must be caught by the writer"
    );
    eprintln!("hostile text: {written} written, {rejected_input} rejected at import, {rejected_writer} by the writer");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.xml");
    std::fs::write(&path, &doc).unwrap();
    common::assert_schema_valid(&path);
}
