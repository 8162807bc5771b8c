//! `import-lheo` (issue #9 parts 2 and 3), black-box on real SQLite and PostgreSQL: the
//! round trip export → import-lheo → export gives the same fragments and hashes; the
//! ONISEP examples import and `check` explains them; hostile documents change nothing.
//! Plus a property test of the mapping on hostile text (no database).

mod common;

use common::{lheo_feed, ok};

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{assert_schema_valid, test_db, TestDb};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use lheo_feed::generation::files::FragmentReader;
use lheo_feed::generation::offre_hash;
use lheo_feed::ingest::jsonl::parse_record;
use lheo_feed::lheo::import::map_formation;
use lheo_feed::lheo::reader::{LheoReader, Limits};
use lheo_feed::lheo::{document_header, write_formation, WriterContext, DOCUMENT_FOOTER};
use lheo_feed::model::{ActionCode, Date, Record};

const TODAY: &str = "2025-06-02";
/// The real ONISEP export kept with the shared LHÉO files (`None`, visibly, without them).
fn onisep(version: &str) -> Option<PathBuf> {
    common::shared_lheo(
        &format!("examples/exemple-bts-onisep-{version}.xml"),
        "the import of the ONISEP examples",
    )
}

fn export(db: &TestDb, today: &str, out: &Path) {
    ok(
        db,
        &["export", "--today", today, "--out", out.to_str().unwrap()],
    );
}

/// Every offer fragment of an exported file, by action code.
fn fragments(path: &Path) -> Vec<(ActionCode, String)> {
    let mut r = FragmentReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some((code, bytes)) = r.next_fragment().unwrap() {
        out.push((code, String::from_utf8(bytes.to_vec()).unwrap()));
    }
    out
}

/// export → import-lheo into a fresh database of the same backend → export: the same
/// fragments, byte for byte, and so the same hashes.
/// With `gzip`, the document is imported gzip-compressed.
async fn assert_round_trip(db: &TestDb, dir: &Path, what: &str, gzip: bool) {
    let first = dir.join(format!("{what}-1.xml"));
    export(db, TODAY, &first);
    let input = if gzip {
        let gz = dir.join(format!("{what}-1.xml.gz"));
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        std::io::copy(&mut std::fs::File::open(&first).unwrap(), &mut enc).unwrap();
        enc.finish().unwrap();
        gz
    } else {
        first.clone()
    };
    let fresh = test_db(db.backend).await.expect("a second database");
    let summary: Value = serde_json::from_str(&ok(
        &fresh,
        &["import-lheo", "--json", input.to_str().unwrap()],
    ))
    .unwrap();
    let second = dir.join(format!("{what}-2.xml"));
    export(&fresh, TODAY, &second);

    let (a, b) = (fragments(&first), fragments(&second));
    assert!(
        a.len() > 10,
        "{what}: too few offers exported to mean anything"
    );
    assert_eq!(summary["formations"].as_u64(), Some(a.len() as u64));
    assert_eq!(
        a.iter().map(|x| x.0).collect::<Vec<_>>(),
        b.iter().map(|x| x.0).collect::<Vec<_>>(),
        "{what} on {:?}: not the same offers",
        db.backend
    );
    for ((code, x), (_, y)) in a.iter().zip(&b) {
        assert_eq!(x, y, "{what} on {:?}: offer {code} differs", db.backend);
        assert_eq!(offre_hash(x), offre_hash(y));
    }
    // The documents differ only by their export time, on the root.
    let (fa, fb) = (
        std::fs::read_to_string(&first).unwrap(),
        std::fs::read_to_string(&second).unwrap(),
    );
    let body = |s: &str| s.split_once("<offres>").unwrap().1.to_owned();
    assert_eq!(body(&fa), body(&fb));
}

async fn round_trip_of_the_fixtures(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    ok(db, &["import", "fixtures/offres.jsonl"]);
    assert_round_trip(db, dir.path(), "fixtures", true).await;
}

async fn round_trip_of_a_generated_set(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    common::import_generated(db, &dir.path().join("gen.jsonl"), 2000, 7);
    assert_round_trip(db, dir.path(), "generated", false).await;
}

/// The ONISEP example with what SOFI's rules require and ONISEP does not publish: an
/// information collective, durations, recruitment, referents, places.
fn onisep_completed(original: &Path, version: &str, dir: &Path) -> PathBuf {
    let doc = std::fs::read_to_string(original).unwrap();
    let action = "<modalites-pedagogiques>Cours en présentiel</modalites-pedagogiques>\n\
        <nombre-heures-centre>1350</nombre-heures-centre>\n\
        <nombre-heures-entreprise>560</nombre-heures-entreprise>\n\
        <organisme-financeur><code-financeur>2</code-financeur>\
        <nb-places-financees>24</nb-places-financees></organisme-financeur>\n";
    let session = "<etat-recrutement>1</etat-recrutement>\n\
        <recrutement numero=\"IC1\"><modalite-recrutement>9</modalite-recrutement>\
        <adresse><ligne>Kerneuzec</ligne><codepostal>29391</codepostal><ville>QUIMPERLÉ</ville></adresse>\
        <periode><debut>20150615</debut><fin>20150615</fin></periode><heure-debut>14h</heure-debut></recrutement>\n\
        <recrutement><modalite-recrutement>8</modalite-recrutement></recrutement>\n\
        <contact-session><type-contact>1</type-contact><coordonnees><nom>Martin</nom>\
        <courriel>pmr@example.fr</courriel></coordonnees></contact-session>\n\
        <contact-session><type-contact>2</type-contact><coordonnees><nom>Durand</nom>\
        <courriel>mobilite@example.fr</courriel></coordonnees></contact-session>\n";
    let doc = doc
        .replacen("<session numero", &format!("{action}<session numero"), 1)
        .replacen("</session>", &format!("{session}</session>"), 1);
    let path = dir.join(format!("onisep-{version}-ic.xml"));
    std::fs::write(&path, doc).unwrap();
    path
}

async fn onisep_examples_import_and_are_explained(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    // Before the rentrée 2015, when its session had not started.
    let today = "2015-06-01";
    for version in ["2.2", "2.3"] {
        let Some(original) = onisep(version) else {
            return;
        };
        let summary: Value = serde_json::from_str(&ok(
            db,
            &["import-lheo", "--json", original.to_str().unwrap()],
        ))
        .unwrap();
        assert_eq!(summary["versions"][0], version);
        assert_eq!(summary["formations"], 1);
        assert_eq!(summary["sessions"], 1);

        let text = ok(db, &["--today", today, "check"]);
        assert!(text.contains("IC_ABSENTE"), "{text}");
        assert!(
            text.contains("n'a aucune information collective"),
            "the French explanation: {text}"
        );
        let json = ok(db, &["--today", today, "check", "--format", "json"]);
        let report: Value = serde_json::from_str(&json).unwrap();
        assert!(json.contains("\"IC_ABSENTE\""), "{report}");
        assert!(json.contains("information collective"));

        // Once completed (an information collective first of all), it is published, as
        // schema-valid LHÉO that still carries what ONISEP said beyond the model.
        let completed = onisep_completed(&original, version, dir.path());
        ok(db, &["import-lheo", completed.to_str().unwrap()]);
        let text = ok(db, &["--today", today, "check"]);
        assert!(!text.contains("IC_ABSENTE"), "{text}");
        let out = dir.path().join(format!("onisep-{version}.xml"));
        export(db, today, &out);
        assert_schema_valid(&out);
        let xml = std::fs::read_to_string(&out).unwrap();
        assert!(xml.contains("<formation numero=\"9436_18706\""), "{xml}");
        assert!(xml.contains("<session numero=\"9436_18706\""));
        assert!(xml.contains("<extra info=\"FOR_ID ONISEP\">9436</extra>"));
        // Kept in a namespace of its own, inside an extra: the schema leaves it alone.
        assert!(xml.contains(
            "<hebergement xmlns=\"urn:lheo-feed:lheo-import\">Internat garçons-filles</hebergement>"
        ));
        assert!(xml.contains("<modalite-recrutement>9</modalite-recrutement>"));
        // Issue 17, point 3: the attributes of mapped elements come back as ONISEP wrote
        // them (they came back as ref="V14" before).
        assert!(
            xml.contains("<code-FORMACODE ref=\"V11\" tag=\"principal\">34582</code-FORMACODE>"),
            "{xml}"
        );
        assert!(xml.contains("<code-FORMACODE ref=\"V11\">34076</code-FORMACODE>"));

        // The next export copies the offer from the previous file, which it finds by the
        // code the import derived from the foreign numero.
        let next = dir.path().join(format!("onisep-{version}-next.xml"));
        let said = ok(
            db,
            &["export", "--today", today, "--out", next.to_str().unwrap()],
        );
        assert!(
            said.contains("0 created, 0 updated, 0 withdrawn, 1 unchanged"),
            "{said}"
        );
        assert_eq!(fragments(&out), fragments(&next));

        // And that export imports back to itself.
        let fresh = test_db(db.backend).await.unwrap();
        ok(&fresh, &["import-lheo", out.to_str().unwrap()]);
        let again = dir.path().join(format!("onisep-{version}-again.xml"));
        export(&fresh, today, &again);
        assert_eq!(fragments(&out), fragments(&again));
    }
}

async fn hostile_documents_are_refused_whole(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    ok(db, &["import", "fixtures/offres.jsonl"]);
    let good = dir.path().join("good.xml");
    export(db, TODAY, &good);
    let good_text = std::fs::read_to_string(&good).unwrap();
    let before = ok(db, &["status", "--json"]);

    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "do not read me").unwrap();
    let cut = good_text.len() / 2;
    let cut = (cut..).find(|i| good_text.is_char_boundary(*i)).unwrap();
    // (name, document, what the error says, strict): a document that cannot be read is
    // refused whole in either mode; an offer's bad value refuses the import in strict
    // mode only (lenient mode skips that formation: `imperfect_values_are_skipped...`).
    let cases: Vec<(&str, String, &str, bool)> = vec![
        (
            "xxe.xml",
            format!(
                "<?xml version=\"1.0\"?>\n<!DOCTYPE lheo [<!ENTITY x SYSTEM \"file://{}\">]>\n\
                 <lheo xmlns=\"http://lheo.gouv.fr/2.3\"><offres>&x;</offres></lheo>\n",
                secret.display()
            ),
            ":2:",
            false,
        ),
        ("truncated.xml", good_text[..cut].to_owned(), "", false),
        (
            "mismatched.xml",
            "<lheo xmlns=\"http://lheo.gouv.fr/2.3\">\n<offres>\n<formation>\n</offre>\n</lheo>\n"
                .to_owned(),
            ":4:",
            false,
        ),
        (
            "bad-siret.xml",
            good_text.replacen(
                "<SIRET>13000511900032</SIRET>",
                "<SIRET>13000511900033</SIRET>",
                1,
            ),
            "SIRET",
            true,
        ),
    ];
    for (name, content, expect, strict) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &content).unwrap();
        // A good document before the bad one: all or nothing across files too.
        let mut args = vec![
            "import-lheo",
            good.to_str().unwrap(),
            path.to_str().unwrap(),
        ];
        if strict {
            args.push("--strict");
        }
        let out = lheo_feed(db, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        let prefix = format!("{}:", path.display());
        let line = stderr
            .lines()
            .find(|l| l.contains(&prefix))
            .unwrap_or_else(|| panic!("{name}: no FILE:LINE:COLUMN in {stderr}"));
        let pos: Vec<&str> = line.split_once(&prefix).unwrap().1.splitn(3, ':').collect();
        assert!(
            pos[0].parse::<u64>().is_ok() && pos[1].parse::<u64>().is_ok(),
            "{name}: {line}"
        );
        assert!(line.contains(expect), "{name}: {line}");
        assert!(stderr.contains("nothing was imported"), "{stderr}");
        assert!(!stderr.contains("do not read me"));
        assert_eq!(
            ok(db, &["status", "--json"]),
            before,
            "{name} changed the store"
        );
    }
}

/// Issue 17, point 2: by default a formation that cannot become an offer is skipped and
/// named (FILE:LINE:COLUMN, path, reason), the others are imported, and values our types
/// refuse are kept as given and counted; `--strict` refuses the whole import.
async fn imperfect_values_are_skipped_or_kept_and_reported(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = test_db(db.backend).await.unwrap();
    ok(&fixtures, &["import", "fixtures/offres.jsonl"]);
    let good = dir.path().join("good.xml");
    export(&fixtures, TODAY, &good);
    let text = std::fs::read_to_string(&good).unwrap();
    let formations = text.matches("<formation ").count();
    assert!(formations >= 2, "{formations}");
    // A 15-digit SIRET in the first formation's organisme responsable, an unknown
    // modalites-enseignement code in another's action.
    let siret_at = text.find("<SIRET-organisme-formation>").unwrap();
    let mut bad = text.clone();
    let siret_end = siret_at + bad[siret_at..].find("</SIRET>").unwrap();
    bad.insert(siret_end, '7');
    // The unknown code in the last formation's action (the first is skipped).
    let last = bad.rfind("<modalites-enseignement>0<").unwrap();
    assert!(
        last > bad.rfind("<formation ").unwrap(),
        "in the last formation"
    );
    bad.replace_range(
        last..last + "<modalites-enseignement>0".len(),
        "<modalites-enseignement>7",
    );
    assert_ne!(bad, text);
    let path = dir.path().join("imperfect.xml");
    std::fs::write(&path, &bad).unwrap();
    let before = ok(db, &["status", "--json"]);

    // Strict: all or nothing, as before issue 17.
    let out = lheo_feed(db, &["import-lheo", "--strict", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIRET"));
    assert_eq!(ok(db, &["status", "--json"]), before);

    // Lenient (the default): the others are imported.
    let summary: Value =
        serde_json::from_str(&ok(db, &["import-lheo", "--json", path.to_str().unwrap()])).unwrap();
    assert_eq!(summary["formations_read"], formations as u64, "{summary}");
    assert_eq!(summary["skipped"], 1, "{summary}");
    assert_eq!(summary["formations"], formations as u64 - 1, "{summary}");
    let skipped = &summary["skipped_formations"][0];
    assert_eq!(skipped["file"], path.display().to_string());
    assert!(skipped["line"].as_u64().unwrap() > 1, "{skipped}");
    assert!(skipped["column"].as_u64().unwrap() >= 1, "{skipped}");
    assert!(
        skipped["path"].as_str().unwrap().contains("SIRET"),
        "{skipped}"
    );
    assert!(
        skipped["reason"].as_str().unwrap().contains("14 digits"),
        "{skipped}"
    );
    // The unknown code is in an imported offer: kept as given and named.
    assert_eq!(summary["kept_as_given"], 1, "{summary}");
    let kept = &summary["values_kept_as_given"][0];
    assert!(
        kept["path"]
            .as_str()
            .unwrap()
            .ends_with("modalites-enseignement"),
        "{kept}"
    );
    assert!(kept["reason"].as_str().unwrap().contains("\"7\""), "{kept}");
    assert_eq!(
        summary["offres"]["created"].as_u64().unwrap()
            + summary["offres"]["changed"].as_u64().unwrap()
            + summary["offres"]["unchanged"].as_u64().unwrap(),
        formations as u64 - 1
    );
    // `check` tells the organisme, in French, with the rule's code.
    let check = ok(db, &["--today", TODAY, "check"]);
    assert!(check.contains("IMPORT_VALEUR_CONSERVEE"), "{check}");
    assert!(
        check.contains("indique pour « modalites-enseignement » la valeur « 7 »"),
        "{check}"
    );
    // The text summary names it too.
    let said = ok(db, &["import-lheo", path.to_str().unwrap()]);
    assert!(said.contains("skipped 1"), "{said}");
    assert!(
        said.contains(&format!("skipped: {}:", path.display())),
        "{said}"
    );
}

backend_tests!(
    imperfect_values_are_skipped_or_kept_and_reported,
    round_trip_of_the_fixtures,
    round_trip_of_a_generated_set,
    onisep_examples_import_and_are_explained,
    hostile_documents_are_refused_whole,
);

/// Text fields the writer puts where the import reads them back.
const FIELDS: &[&[&str]] = &[
    &["offre", "formation", "intitule"],
    &["offre", "formation", "description"],
    &["offre", "formation", "objectif"],
    &["offre", "action", "complement_intitule"],
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
        any::<String>(),
        prop::collection::vec(
            prop_oneof![
                Just("<".to_owned()),
                Just("&".to_owned()),
                Just("]]>".to_owned()),
                Just("\"'".to_owned()),
                Just("&amp;".to_owned()),
                Just("<![CDATA[".to_owned()),
                Just("</formation>".to_owned()),
                Just("<!DOCTYPE x>".to_owned()),
                Just(" - ".to_owned()),
                Just("\u{1}\u{B}\u{FFFE}\u{FEFF}".to_owned()),
                Just("😀é€\u{202E}".to_owned()),
                Just("\r\n\r\t".to_owned()),
                "[a-zé ]{0,20}",
            ],
            0..20
        )
        .prop_map(|v| v.concat()),
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
fn hostile_text_survives_export_import_export() {
    let baseline = std::fs::read_to_string("tests/data/baseline.jsonl").unwrap();
    let mut lines = baseline.lines();
    let Record::Organisme(org) = parse_record("baseline", 1, lines.next().unwrap()).unwrap() else {
        panic!()
    };
    let offre_line: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let orgs = HashMap::from([(org.siret.clone(), *org)]);
    let ctx = WriterContext {
        organismes: &orgs,
        today: Date::parse("2025-06-01").unwrap(),
    };
    let (round_trips, case) = (Cell::new(0u64), Cell::new(0u64));
    let last = RefCell::new(String::new());
    let mut runner = TestRunner::new(Config {
        cases: 300,
        ..Config::default()
    });
    runner
        .run(&(0..FIELDS.len(), hostile_text()), |(field, text)| {
            case.set(case.get() + 1);
            let mut v = offre_line.clone();
            set_path(&mut v, FIELDS[field], text);
            let Ok(Record::Offre(offre)) =
                parse_record("prop.jsonl", 2, &serde_json::to_string(&v).unwrap())
            else {
                return Ok(()); // refused at the input, with its field: hostile_text.rs
            };
            let Ok(first) = write_formation(&offre, &ctx) else {
                return Ok(()); // a writer violation: not exported, nothing to import
            };
            let doc = format!(
                "{}{}{}",
                document_header("2025-06-01T02:30:00+02:00"),
                first.xml,
                DOCUMENT_FOOTER
            );
            let mut r = LheoReader::new(doc.as_bytes(), Limits::default())
                .map_err(|e| TestCaseError::fail(format!("{e}\n{doc}")))?;
            let el = r
                .next_formation()
                .map_err(|e| TestCaseError::fail(format!("{e}\n{doc}")))?
                .expect("one formation");
            let mapped =
                map_formation(&el).map_err(|e| TestCaseError::fail(format!("{e:?}\n{doc}")))?;
            let second = write_formation(&mapped.offre, &ctx)
                .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(&first.xml, &second.xml);
            round_trips.set(round_trips.get() + 1);
            *last.borrow_mut() = second.xml;
            Ok(())
        })
        .unwrap();
    // Most cases must really go round, not be refused on the way.
    assert!(
        round_trips.get() * 2 > case.get(),
        "{} of {} cases went round",
        round_trips.get(),
        case.get()
    );
    assert!(last.borrow().starts_with("<formation numero="));
}

/// Issue 17, point 3, as a property: any attribute a foreign document puts on a mapped
/// element (here a FORMACODE and the lieu de formation's address), with any text XML can
/// carry, comes back on export as given, and the export reads back to the same bytes.
#[test]
fn foreign_attributes_of_mapped_elements_survive() {
    let baseline = std::fs::read_to_string("tests/data/baseline.jsonl").unwrap();
    let mut lines = baseline.lines();
    let Record::Organisme(org) = parse_record("baseline", 1, lines.next().unwrap()).unwrap() else {
        panic!()
    };
    let Record::Offre(offre) = parse_record("baseline", 2, lines.next().unwrap()).unwrap() else {
        panic!()
    };
    let orgs = HashMap::from([(org.siret.clone(), *org)]);
    let ctx = WriterContext {
        organismes: &orgs,
        today: Date::parse("2025-06-01").unwrap(),
    };
    let ours = write_formation(&offre, &ctx).unwrap().xml;
    let read_map_write = |xml: &str| -> Result<String, TestCaseError> {
        let doc = format!(
            "{}{xml}{}",
            document_header("2025-06-01T02:30:00+02:00"),
            DOCUMENT_FOOTER
        );
        let mut r = LheoReader::new(doc.as_bytes(), Limits::default())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{doc}")))?;
        let el = r.next_formation().unwrap().expect("one formation");
        let mapped =
            map_formation(&el).map_err(|e| TestCaseError::fail(format!("{e:?}\n{doc}")))?;
        write_formation(&mapped.offre, &ctx)
            .map(|f| f.xml)
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))
    };
    let value = || proptest::string::string_regex("[a-zA-Z0-9 éè&<>\"'=/\\-]{0,40}").unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    runner
        .run(&(value(), value()), |(a, b)| {
            let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
            let foreign = ours
                .replacen(
                    "<code-FORMACODE ref=\"V14\">",
                    &format!("<code-FORMACODE ref=\"V11\" tag=\"{}\">", esc(&a)),
                    1,
                )
                .replacen("<adresse>", &format!("<adresse numero=\"{}\">", esc(&b)), 1);
            prop_assume!(foreign != ours);
            let out = read_map_write(&foreign)?;
            let expected = format!("<code-FORMACODE ref=\"V11\" tag=\"{}\">", esc(&a));
            prop_assert!(out.contains(&expected), "{}\n{}", expected, out);
            let expected = format!("<adresse numero=\"{}\">", esc(&b));
            prop_assert!(out.contains(&expected), "{}\n{}", expected, out);
            // And the export imports back to itself.
            prop_assert_eq!(read_map_write(&out)?, out);
            Ok(())
        })
        .unwrap();
    // Our own export keeps nothing: its attributes are the writer's.
    assert_eq!(read_map_write(&ours).unwrap(), ours);
}
