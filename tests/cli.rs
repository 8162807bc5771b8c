//! Black-box tests of the `lheo-feed` binary on real SQLite and PostgreSQL databases:
//! import, export, conformance with the official XSD, bad input.

mod common;

use common::{lheo_feed, ok};

use std::path::{Path, PathBuf};

use common::{assert_schema_valid, test_databases, TestDb};
use serde_json::Value;

const TODAY: &str = "2025-06-02";

fn status(db: &TestDb) -> Value {
    serde_json::from_str(&ok(db, &["status", "--json"])).unwrap()
}

fn export(db: &TestDb, out: &Path) -> Value {
    let summary = ok(
        db,
        &[
            "export",
            "--today",
            TODAY,
            "--json",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    serde_json::from_str(&summary).unwrap()
}

fn fixture_numeros_not_validated() -> Vec<String> {
    std::fs::read_to_string("fixtures/offres.jsonl")
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("offre").cloned())
        .filter(|o| o["etat"] != "validee")
        .map(|o| o["numero"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn fixtures_export_is_conformant_on_every_backend() {
    for db in test_databases().await {
        let dir = tempfile::tempdir().unwrap();
        ok(&db, &["import", "fixtures/offres.jsonl"]);
        let out = dir.path().join("lheo.xml");
        let summary = export(&db, &out);
        assert_schema_valid(&out);

        let bytes = std::fs::read(&out).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        // The summary tells the truth about the file.
        assert_eq!(summary["bytes"].as_u64().unwrap(), bytes.len() as u64);
        assert_eq!(
            summary["digest"].as_str().unwrap(),
            format!("blake3:{}", blake3::hash(&bytes).to_hex())
        );
        let formations = summary["formations"].as_u64().unwrap();
        assert!(
            formations >= 10,
            "{formations} formations on {:?}",
            db.backend
        );
        assert_eq!(text.matches("\n<formation ").count() as u64, formations);
        assert_eq!(
            text.matches("<session ").count() as u64,
            summary["sessions"].as_u64().unwrap()
        );
        // Layout the consumers rely on.
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        );
        assert!(lines
            .next()
            .unwrap()
            .starts_with("<lheo xmlns=\"http://lheo.gouv.fr/2.3\" "));
        for line in text.lines() {
            if line.trim_start().starts_with("<formation ") || line.trim_start() == "</formation>" {
                assert!(
                    !line.starts_with(' '),
                    "formation tags start their line: {line:?}"
                );
            }
        }
        // Only validated offers are exported.
        let hidden = fixture_numeros_not_validated();
        assert!(!hidden.is_empty(), "the fixtures hold non-validated offers");
        for n in hidden {
            assert!(
                !text.contains(&format!("numero=\"{n}\"")),
                "{n} is not validated but was exported"
            );
        }
        // Every exported session has an information collective.
        for session in text.split("<session ").skip(1) {
            let body = &session[..session.find("</session>").unwrap()];
            assert!(
                body.contains("<modalite-recrutement>9</modalite-recrutement>"),
                "a session without information collective was exported: {}",
                &body[..80.min(body.len())]
            );
        }
    }
}

#[tokio::test]
async fn reimport_is_idempotent_and_export_is_byte_stable() {
    for db in test_databases().await {
        let dir = tempfile::tempdir().unwrap();
        ok(&db, &["import", "fixtures/offres.jsonl"]);
        let first = export(&db, &dir.path().join("a.xml"));
        let again: Value =
            serde_json::from_str(&ok(&db, &["import", "--json", "fixtures/offres.jsonl"])).unwrap();
        assert_eq!(again["offres"]["created"], 0);
        assert_eq!(again["offres"]["changed"], 0);
        assert!(again["offres"]["unchanged"].as_u64().unwrap() > 10);
        assert_eq!(again["organismes"]["changed"], 0);
        let second = export(&db, &dir.path().join("b.xml"));
        // Only the export timestamp on <lheo> may differ.
        let strip = |p: &str| {
            let t = std::fs::read_to_string(dir.path().join(p)).unwrap();
            t.lines().skip(2).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(strip("a.xml"), strip("b.xml"), "{:?}", db.backend);
        assert_eq!(first["formations"], second["formations"]);
    }
}

/// `(file, line, field)` of each bad fixture, as `fixtures/bad/README.md` documents them.
fn bad_cases() -> Vec<(PathBuf, u64, String)> {
    let readme = std::fs::read_to_string("fixtures/bad/README.md").unwrap();
    let mut cases = Vec::new();
    for line in readme.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line
            .split('|')
            .map(|c| c.trim().trim_matches('`'))
            .collect();
        // | file | line | field | reason |
        let (file, n, field) = (cells[1], cells[2], cells[3]);
        if let Ok(n) = n.parse::<u64>() {
            cases.push((Path::new("fixtures/bad").join(file), n, field.to_owned()));
        }
    }
    assert!(
        cases.len() >= 10,
        "fixtures/bad/README.md lists the bad files: {cases:?}"
    );
    cases
}

#[tokio::test]
async fn bad_input_gives_file_line_field_and_changes_nothing() {
    for db in test_databases().await {
        ok(&db, &["import", "fixtures/offres.jsonl"]);
        let before = status(&db);
        for (file, line, field) in bad_cases() {
            let out = lheo_feed(&db, &["import", file.to_str().unwrap()]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{} on {:?}: {stderr}",
                file.display(),
                db.backend
            );
            let expected = format!("{}:{line}: {field}: ", file.display());
            assert!(
                stderr.contains(&expected),
                "expected {expected:?} in:\n{stderr}"
            );
            assert!(stderr.contains("nothing was imported"), "{stderr}");
            assert_eq!(status(&db), before, "{} changed the store", file.display());
        }
    }
}

#[tokio::test]
async fn one_bad_line_among_good_ones_writes_nothing() {
    for db in test_databases().await {
        let dir = tempfile::tempdir().unwrap();
        let good = std::fs::read_to_string("fixtures/offres.jsonl").unwrap();
        let mut lines: Vec<&str> = good.lines().collect();
        let middle = lines.len() / 2;
        lines.insert(middle, "{\"offre\": {\"numero\": \"1-2\"");
        let file = dir.path().join("mixed.jsonl");
        std::fs::write(&file, lines.join("\n")).unwrap();
        let empty = status(&db);
        let out = lheo_feed(&db, &["import", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("mixed.jsonl:{}: ", middle + 1)),
            "{stderr}"
        );
        assert_eq!(status(&db), empty, "nothing written on {:?}", db.backend);
        assert_eq!(empty["offres"], 0);
    }
}

#[tokio::test]
async fn gzip_input_imports_like_plain() {
    use std::io::Write;
    for db in test_databases().await {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("offres.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(&std::fs::read("fixtures/offres.jsonl").unwrap())
            .unwrap();
        enc.finish().unwrap();
        ok(&db, &["import", gz.to_str().unwrap()]);
        let from_gz = status(&db);
        let again: Value =
            serde_json::from_str(&ok(&db, &["import", "--json", "fixtures/offres.jsonl"])).unwrap();
        assert_eq!(
            again["offres"]["changed"], 0,
            "plain and gzip give the same records"
        );
        assert!(from_gz["sessions"].as_u64().unwrap() > 20);
    }
}

#[tokio::test]
async fn generated_ten_thousand_sessions_export_is_conformant() {
    for db in test_databases().await {
        let dir = tempfile::tempdir().unwrap();
        common::import_generated(&db, &dir.path().join("gen.jsonl.gz"), 10_000, 42);
        assert_eq!(status(&db)["sessions"], 10_000);
        let out = dir.path().join("gen.xml");
        let summary = export(&db, &out);
        assert_schema_valid(&out);
        let sessions = summary["sessions"].as_u64().unwrap();
        assert!(
            sessions > 8_000,
            "most generated sessions are exportable: {sessions}"
        );
        assert!(
            summary["sessions_rejetees"].as_u64().unwrap() > 0,
            "the generator makes rejectable sessions"
        );
    }
}

#[tokio::test]
async fn empty_store_publishes_nothing_and_keeps_the_previous_file() {
    for db in test_databases().await {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("lheo.xml");
        std::fs::write(&out, "previous export").unwrap();
        let res = lheo_feed(
            &db,
            &["export", "--today", TODAY, "--out", out.to_str().unwrap()],
        );
        assert_eq!(res.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&res.stderr).contains("nothing to publish"));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous export");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }
}

/// Every command's one-line description in `--help` is its own: `import-region` used to
/// have none, and its text was shown under `run`.
#[test]
fn help_describes_each_command_under_its_own_name() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lheo-feed"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let line = |command: &str| {
        help.lines()
            .find(|l| l.trim_start().starts_with(&format!("{command} ")))
            .unwrap_or_else(|| panic!("no line for {command} in:\n{help}"))
            .to_owned()
    };
    assert!(line("import-region").contains("Conseil régional"), "{help}");
    assert!(!line("run").contains("Conseil régional"), "{help}");
    assert!(line("run").contains("daemon"), "{help}");
    // No command is listed without a description.
    let commands = help
        .split("Commands:")
        .nth(1)
        .and_then(|rest| rest.split("Options:").next())
        .unwrap();
    for l in commands.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            l.trim().split_once(char::is_whitespace).is_some(),
            "a command without a description: {l:?}"
        );
    }
}
