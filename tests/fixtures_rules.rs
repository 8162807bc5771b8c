//! The entry rules on the shared fixtures, through the binary, as the Cariforef runs it.
//!
//! `fixtures/region-2025.csv` then `fixtures/offres.jsonl` are imported into a fresh SQLite
//! database, then `check` (JSON and
//! CSV) and `export` are run as of the fixtures' reference date. The report must say, for
//! every offer and session, exactly what `fixtures/expectations.json` promises (status,
//! blocking codes, warnings); `check` and `export` must count the same things; the LHÉO
//! document must hold the accepted sessions and nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What one run of the binary on the fixtures produced.
struct Run {
    /// Keeps the database and the export alive for the tests.
    _dir: tempfile::TempDir,
    expectations: Value,
    check: Value,
    csv: String,
    export: Value,
    xml: String,
}

fn lheo_feed(db: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lheo-feed"))
        .current_dir(root())
        .arg("--database-url")
        .arg(db)
        .args(args)
        .env_remove("LHEO_FEED_DATABASE_URL")
        .env_remove("LHEO_FEED_TODAY")
        .env_remove("LHEO_FEED_RULES")
        .output()
        .expect("the lheo-feed binary runs");
    assert!(
        out.status.success(),
        "lheo-feed {args:?} failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let expectations: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("fixtures/expectations.json")).unwrap(),
        )
        .unwrap();
        let today = expectations["reference_date"].as_str().unwrap().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("fixtures.sqlite").display());
        let out = dir.path().join("lheo.xml");
        // The Region file first: it says which lots exist and whose they are.
        lheo_feed(&db, &["import-region", "fixtures/region-2025.csv"]);
        lheo_feed(&db, &["import", "fixtures/offres.jsonl"]);
        // A draft with starred fields still empty: it imports, and `check` lists them.
        lheo_feed(&db, &["import", "fixtures/brouillons.jsonl"]);
        let check = lheo_feed(&db, &["check", "--today", &today, "--format", "json"]);
        let csv = lheo_feed(&db, &["check", "--today", &today, "--format", "csv"]);
        let export = lheo_feed(
            &db,
            &[
                "export",
                "--today",
                &today,
                "--json",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        Run {
            expectations,
            check: serde_json::from_str(&check).expect("check --format json prints JSON"),
            csv,
            export: serde_json::from_str(&export).expect("export --json prints JSON"),
            xml: std::fs::read_to_string(&out).unwrap(),
            _dir: dir,
        }
    })
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Codes of `findings`, blocking first, then warnings, each sorted (with repeats).
fn codes_of(findings: &Value) -> (Vec<String>, Vec<String>) {
    let (mut codes, mut warnings) = (Vec::new(), Vec::new());
    for f in findings.as_array().unwrap() {
        let code = f["code"].as_str().unwrap().to_owned();
        match f["severity"].as_str().unwrap() {
            "warning" => warnings.push(code),
            "reject_session" | "reject_offer" => codes.push(code),
            other => panic!("unknown severity {other} in {f}"),
        }
    }
    (sorted(codes), sorted(warnings))
}

/// The report's offers, by numero.
fn reported_offres(check: &Value) -> BTreeMap<String, &Value> {
    let mut out = BTreeMap::new();
    for org in check["organismes"].as_array().unwrap() {
        for o in org["offres"].as_array().unwrap() {
            let numero = o["offre"].as_str().unwrap().to_owned();
            assert!(
                out.insert(numero.clone(), o).is_none(),
                "{numero} reported twice"
            );
        }
    }
    out
}

/// The finding planted for a record: its code is the expectation's one code or warning,
/// its field the documented one, and its French message names the record.
fn assert_planted(record: &str, expected: &Value, findings: &Value) {
    let Some(field) = expected.get("field").and_then(Value::as_str) else {
        return;
    };
    let planted: Vec<String> = strs(&expected["codes"])
        .into_iter()
        .chain(strs(&expected["warnings"]))
        .collect();
    assert_eq!(planted.len(), 1, "{record}: one planted defect");
    let f = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == planted[0].as_str())
        .unwrap_or_else(|| panic!("{record}: no {} finding", planted[0]));
    assert_eq!(f["field"], field, "{record}: field of {}", planted[0]);
    let message = f["message"].as_str().unwrap();
    assert!(
        !message.trim().is_empty(),
        "{record}: empty message for {}",
        planted[0]
    );
    assert!(
        message.contains(record),
        "{record}: the message of {} does not name it: {message}",
        planted[0]
    );
    assert!(
        !expected["label"].as_str().unwrap_or("").is_empty(),
        "{record}: expectations.json describes the defect"
    );
}

#[test]
fn every_offer_and_session_is_reported_as_expected() {
    let r = run();
    let reported = reported_offres(&r.check);
    let offres = r.expectations["offres"].as_object().unwrap();
    let sessions = r.expectations["sessions"].as_object().unwrap();
    let mut expected_findings = 0;

    for (numero, e) in offres {
        let status = e["status"].as_str().unwrap();
        if status == "not_validated" {
            // Only validated offers are read: nothing exported, nothing reported.
            assert!(
                !reported.contains_key(numero),
                "{numero} is not validated but was checked"
            );
            for code in strs(&e["sessions"]) {
                assert_eq!(sessions[&code]["status"], "not_validated", "{code}");
            }
            continue;
        }
        let o = reported
            .get(numero)
            .unwrap_or_else(|| panic!("{numero} missing from the report"));
        assert_eq!(o["status"], status, "{numero}: offer status");
        let (codes, warnings) = codes_of(&o["findings"]);
        assert_eq!(
            (codes, warnings),
            (sorted(strs(&e["codes"])), sorted(strs(&e["warnings"]))),
            "{numero}: offer-level findings"
        );
        assert_planted(numero, e, &o["findings"]);
        expected_findings += e["codes"].as_array().unwrap().len();
        expected_findings += e["warnings"].as_array().unwrap().len();

        let listed: Vec<String> = o["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["session"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            sorted(listed),
            sorted(strs(&e["sessions"])),
            "{numero}: sessions"
        );
        for s in o["sessions"].as_array().unwrap() {
            let code = s["session"].as_str().unwrap();
            let es = &sessions[code];
            assert_eq!(s["status"], es["status"], "{code}: session status");
            let (codes, warnings) = codes_of(&s["findings"]);
            assert_eq!(
                (codes, warnings),
                (sorted(strs(&es["codes"])), sorted(strs(&es["warnings"]))),
                "{code}: session findings"
            );
            assert_planted(code, es, &s["findings"]);
            expected_findings += es["codes"].as_array().unwrap().len();
            expected_findings += es["warnings"].as_array().unwrap().len();
            // A rejected session says why: its own blocking finding, or its offer's.
            if es["status"] == "rejected" {
                assert!(
                    !es["codes"].as_array().unwrap().is_empty()
                        || !e["codes"].as_array().unwrap().is_empty(),
                    "{code} is rejected without a blocking code"
                );
            }
        }
    }
    let unexpected: Vec<&String> = reported
        .keys()
        .filter(|n| !offres.contains_key(*n))
        .collect();
    assert!(
        unexpected.is_empty(),
        "offers not in expectations.json: {unexpected:?}"
    );
    assert_eq!(
        r.check["totals"]["findings"].as_u64().unwrap() as usize,
        expected_findings,
        "no finding beyond the expected ones"
    );

    // The totals are the expectations' counts.
    let t = &r.check["totals"];
    let c = &r.expectations["counts"];
    for (total, count) in [
        ("offres_exportable", "offres_exportable"),
        ("offres_rejected", "offres_rejected"),
        ("offres_inactive", "offres_inactive"),
        ("sessions_accepted", "sessions_accepted"),
        ("sessions_rejected", "sessions_rejected"),
        ("sessions_inactive", "sessions_inactive"),
    ] {
        assert_eq!(t[total], c[count], "totals.{total}");
    }
    assert_eq!(
        t["offres_checked"].as_u64().unwrap(),
        c["offres"].as_u64().unwrap() - c["offres_not_validated"].as_u64().unwrap()
    );
}

#[test]
fn every_planted_rule_is_a_registry_code_and_each_is_planted() {
    let r = run();
    let docs = std::fs::read_to_string(root().join("docs/rules.md")).unwrap();
    let readme = std::fs::read_to_string(root().join("fixtures/README.md")).unwrap();
    let planted: BTreeSet<String> = r.expectations["offres"]
        .as_object()
        .unwrap()
        .values()
        .chain(r.expectations["sessions"].as_object().unwrap().values())
        .flat_map(|e| strs(&e["codes"]).into_iter().chain(strs(&e["warnings"])))
        .collect();
    for code in &planted {
        assert!(
            docs.contains(&format!("`{code}`")) || docs.contains(&format!("## {code}")),
            "{code} is not a documented rule (docs/rules.md)"
        );
        assert!(
            readme.contains(&format!("`{code}`")),
            "fixtures/README.md does not list {code}"
        );
    }
    assert!(planted.len() >= 20, "{planted:?}");
    // What the run reported comes from the registry (a rule outside it, such as the
    // writer's LHEO_INVALIDE, has no title), and is exactly what was planted.
    let reported: BTreeSet<String> = r.check["totals"]["findings_by_code"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let code = c["code"].as_str().unwrap();
            assert!(
                !c["title"].as_str().unwrap_or("").is_empty(),
                "{code} is not a rule of the registry"
            );
            code.to_owned()
        })
        .collect();
    assert_eq!(reported, planted);
}

#[test]
fn check_and_export_count_the_same_things() {
    let r = run();
    let t = &r.check["totals"];
    let x = &r.export;
    for (report, summary) in [
        ("offres_exportable", "formations"),
        ("sessions_accepted", "sessions"),
        ("sessions_rejected", "sessions_rejetees"),
        ("sessions_inactive", "sessions_inactives"),
        ("offres_rejected", "offres_rejetees"),
        ("offres_inactive", "offres_inactives"),
        ("offres_checked", "offres_lues"),
    ] {
        assert_eq!(
            t[report].as_u64().unwrap(),
            x[summary].as_u64().unwrap(),
            "check totals.{report} vs export {summary}"
        );
    }
    // The same findings, rule by rule.
    let by_code: BTreeMap<String, u64> = t["findings_by_code"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["code"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let exported: BTreeMap<String, u64> = x["constats_par_regle"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(by_code, exported);
}

#[test]
fn the_export_holds_the_accepted_sessions_and_nothing_else() {
    let r = run();
    let xml = &r.xml;
    for (code, e) in r.expectations["sessions"].as_object().unwrap() {
        let attr = format!("numero=\"{code}\"");
        match e["status"].as_str().unwrap() {
            "accepted" => assert!(
                xml.contains(&format!("<session {attr}")),
                "{code} is accepted but not exported"
            ),
            status => assert!(!xml.contains(&attr), "{code} is {status} but was exported"),
        }
    }
    for (numero, e) in r.expectations["offres"].as_object().unwrap() {
        let attr = format!("numero=\"{numero}\"");
        match e["status"].as_str().unwrap() {
            "exportable" => assert!(
                xml.contains(&format!("<formation {attr}")),
                "{numero} is exportable but not exported"
            ),
            status => assert!(
                !xml.contains(&attr),
                "{numero} is {status} but was exported"
            ),
        }
    }
    let accepted = r.expectations["counts"]["sessions_accepted"]
        .as_u64()
        .unwrap() as usize;
    assert_eq!(xml.matches("<session ").count(), accepted);
}

/// The records of an RFC 4180 text: fields split on commas, records on CRLF, both only
/// outside double quotes; `""` inside quotes is one quote.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted, "unterminated quoted field");
    assert!(
        field.is_empty() && record.is_empty(),
        "the last record ends with CRLF"
    );
    records
}

#[test]
fn drafts_are_listed_with_their_missing_fields_and_never_exported() {
    let r = run();
    let brouillons = r.expectations["brouillons"].as_object().unwrap();
    assert!(!brouillons.is_empty());
    for (numero, e) in brouillons {
        let org = r.check["organismes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["siret"] == e["organisme"])
            .unwrap_or_else(|| panic!("{numero}: no entry for its organisme"));
        let saisie = org["saisies_incompletes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["offre"] == numero.as_str())
            .unwrap_or_else(|| panic!("{numero} is not listed"));
        assert_eq!(saisie["etat"], e["etat"]);
        let champs: Vec<&str> = saisie["champs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["champ"].as_str().unwrap())
            .collect();
        assert_eq!(champs, strs(&e["champs"]), "{numero}");
        assert!(
            !r.xml.contains(numero.as_str()),
            "{numero} is never exported"
        );
    }
    // The complete unvalidated offers lack nothing, so they are not listed.
    for org in r.check["organismes"].as_array().unwrap() {
        for s in org["saisies_incompletes"].as_array().unwrap() {
            assert!(brouillons.contains_key(s["offre"].as_str().unwrap()), "{s}");
        }
    }
}

#[test]
fn the_csv_report_has_one_row_per_finding() {
    let r = run();
    let records = csv_records(&r.csv);
    assert_eq!(
        records[0],
        [
            "siret",
            "raison_sociale",
            "offre",
            "session",
            "code",
            "gravité",
            "champ",
            "message"
        ]
    );
    let rows = &records[1..];
    assert_eq!(
        rows.len() as u64,
        r.check["totals"]["findings"].as_u64().unwrap(),
        "one row per finding, plus the header"
    );
    // The same findings as the JSON report.
    let mut from_json = Vec::new();
    for o in reported_offres(&r.check).values() {
        let all = o["findings"].as_array().unwrap().iter().chain(
            o["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["findings"].as_array().unwrap()),
        );
        for f in all {
            // The CSV gives the severity as the French label organisations read.
            let libelle = match f["severity"].as_str().unwrap() {
                "reject_session" => "session non diffusée",
                "reject_offer" => "action non diffusée",
                _ => "à corriger",
            };
            let mut row = ["offre", "session", "code", "severity", "field", "message"]
                .map(|k| f[k].as_str().unwrap_or("").to_owned())
                .to_vec();
            row[3] = libelle.to_owned();
            from_json.push(row);
        }
    }
    let mut from_csv: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            assert_eq!(row.len(), 8, "{row:?}");
            row[2..].to_vec()
        })
        .collect();
    from_json.sort();
    from_csv.sort();
    assert_eq!(from_csv, from_json);
}
