//! A session published by one export that becomes invalid is withdrawn from the feed by
//! the next export, and `check` tells its organisme so beforehand.

mod common;

use std::process::Command;

use serde_json::Value;

#[tokio::test]
async fn a_published_session_that_becomes_invalid_is_reported_then_withdrawn() {
    for db in common::test_databases().await {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = Command::new(env!("CARGO_BIN_EXE_lheo-feed"))
                .arg("--database-url")
                .arg(&db.url)
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        let xml = dir.path().join("lheo.xml");
        let xml = xml.to_str().unwrap();
        run(&["import", "fixtures/offres.jsonl"]);
        run(&["export", "--today", "2025-06-02", "--out", xml]);
        let session = "19482-89393-143842";
        assert!(std::fs::read_to_string(xml)
            .unwrap()
            .contains(&format!("numero=\"{session}\"")));

        // The organisme removes the information collective of the published session.
        let edited: String = std::fs::read_to_string("fixtures/offres.jsonl")
            .unwrap()
            .lines()
            .filter(|l| l.contains("\"numero\":\"19482-89393\""))
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                v["offre"]["sessions"][0]["informations_collectives"] = Value::Array(vec![]);
                serde_json::to_string(&v).unwrap()
            })
            .collect();
        let file = dir.path().join("edit.jsonl");
        std::fs::write(&file, edited).unwrap();
        run(&["import", file.to_str().unwrap()]);

        let report: Value = serde_json::from_str(&run(&[
            "check",
            "--today",
            "2025-06-02",
            "--format",
            "json",
        ]))
        .unwrap();
        assert_eq!(
            report["totals"]["sessions_retirees_du_flux"], 1,
            "{:?}",
            db.backend
        );
        let text = run(&["check", "--today", "2025-06-02"]);
        let line = text
            .lines()
            .find(|l| l.contains(&format!("Session {session}")))
            .unwrap();
        assert!(
            line.contains("retirée du flux au prochain export"),
            "{line}"
        );

        run(&["export", "--today", "2025-06-02", "--out", xml]);
        assert!(!std::fs::read_to_string(xml)
            .unwrap()
            .contains(&format!("numero=\"{session}\"")));
        let report: Value = serde_json::from_str(&run(&[
            "check",
            "--today",
            "2025-06-02",
            "--format",
            "json",
        ]))
        .unwrap();
        assert_eq!(
            report["totals"]["sessions_retirees_du_flux"], 0,
            "already withdrawn"
        );
    }
}
