//! The example rule configuration shipped in deploy/ is the built-in default, and a
//! configuration file changes the campaign year without a code change.

use std::process::Command;

use lheo_feed::rules::RulesConfig;

#[test]
fn example_configuration_is_the_default() {
    let text = std::fs::read_to_string("deploy/rules.example.toml").unwrap();
    let parsed: RulesConfig = toml::from_str(&text).unwrap();
    assert_eq!(parsed, RulesConfig::default());
    assert!(parsed.problems().is_empty(), "{:?}", parsed.problems());
}

#[test]
fn a_bad_rules_file_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "campagnes = \"2025\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lheo-feed"))
        .arg("--database-url")
        .arg(format!(
            "sqlite://{}",
            dir.path().join("s.sqlite").display()
        ))
        .arg("--rules")
        .arg(&rules)
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rules.toml"), "{stderr}");
}

#[test]
fn the_campaign_year_is_configuration() {
    // The same fixtures, judged with a 2026 campaign: every 2025 session is out of campaign.
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.sqlite").display());
    let rules = dir.path().join("rules.toml");
    // The operator's override: a 2026 campaign for every regional programme.
    let campagnes: Vec<String> = lheo_feed::rules::PROGRAMMES_REGION
        .iter()
        .map(|p| format!("{{ programme = \"{p}\", annee = 2026 }}"))
        .collect();
    let text = std::fs::read_to_string("deploy/rules.example.toml")
        .unwrap()
        .replace(
            "campagnes = []",
            &format!("campagnes = [{}]", campagnes.join(", ")),
        );
    assert!(text.contains("annee = 2026"));
    std::fs::write(&rules, text).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_lheo-feed"))
            .arg("--database-url")
            .arg(&db)
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
    run(&["import", "fixtures/offres.jsonl"]);
    let report: serde_json::Value = serde_json::from_str(&run(&[
        "--rules",
        rules.to_str().unwrap(),
        "check",
        "--today",
        "2025-06-02",
        "--format",
        "json",
    ]))
    .unwrap();
    let hors_campagne = report["totals"]["findings_by_code"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "DEBUT_HORS_CAMPAGNE")
        .map(|c| c["count"].as_u64().unwrap())
        .unwrap_or(0);
    assert!(
        hors_campagne >= 20,
        "most 2025 sessions are outside a 2026 campaign: {hors_campagne}"
    );
}
