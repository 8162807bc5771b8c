//! Issue 22, items 1 and 5: times people read are in the configured zone with their
//! offset, and `schedule next` / `config check` show the daemon's next runs before it does
//! them, DST nights included. The real binary; `runs` and `generations` on real SQLite and
//! PostgreSQL.

mod common;

use std::process::{Command, Output};

use common::{ok, TestDb};
use serde_json::Value;

/// The binary with only the variables given (no developer's `LHEO_FEED_*` leaks in).
fn lheo_feed(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lheo-feed"))
        .env_clear()
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("the lheo-feed binary runs")
}

fn stdout_ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = lheo_feed(args, env);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn schedule_next_across_the_spring_forward_night() {
    // The last Sunday of March 2027 is the 28th: 02:30 does not exist, the job runs once
    // at the end of the gap (cronie's rule, src/schedule.rs).
    assert_eq!(
        stdout_ok(
            &["schedule", "next", "--from", "2027-03-27", "--count", "3"],
            &[]
        ),
        "2027-03-27 02:30 (+01:00)  2027-03-27 01:30 UTC\n\
         2027-03-28 03:00 (+02:00)  2027-03-28 01:00 UTC\n\
         2027-03-29 02:30 (+02:00)  2027-03-29 00:30 UTC\n"
    );
}

#[test]
fn schedule_next_across_the_fall_back_night() {
    // The last Sunday of October 2027 is the 31st: 02:30 happens twice, the job runs at
    // the first (summer time) only.
    assert_eq!(
        stdout_ok(
            &["schedule", "next", "--from", "2027-10-30", "--count", "3"],
            &[]
        ),
        "2027-10-30 02:30 (+02:00)  2027-10-30 00:30 UTC\n\
         2027-10-31 02:30 (+02:00)  2027-10-31 00:30 UTC\n\
         2027-11-01 02:30 (+01:00)  2027-11-01 01:30 UTC\n"
    );
}

#[test]
fn schedule_next_follows_the_configured_cron_and_zone() {
    let env = [
        ("LHEO_FEED_SCHEDULE_CRON", "0 15 */12 * * *"),
        ("LHEO_FEED_SCHEDULE_TIMEZONE", "America/New_York"),
    ];
    // New York springs forward on 2027-03-14 at 02:00; a wildcard-hour job has no firing
    // in the missing hour and keeps its rhythm.
    assert_eq!(
        stdout_ok(
            &["schedule", "next", "--from", "2027-03-14", "--count", "3"],
            &env
        ),
        "2027-03-14 00:15 (-05:00)  2027-03-14 05:15 UTC\n\
         2027-03-14 12:15 (-04:00)  2027-03-14 16:15 UTC\n\
         2027-03-15 00:15 (-04:00)  2027-03-15 04:15 UTC\n"
    );
    let json: Value = serde_json::from_str(&stdout_ok(
        &[
            "schedule",
            "next",
            "--from",
            "2027-03-14",
            "--count",
            "1",
            "--json",
        ],
        &env,
    ))
    .unwrap();
    assert_eq!(json["timezone"], "America/New_York");
    assert_eq!(json["runs"][0]["local"], "2027-03-14T00:15:00-05:00");
    assert_eq!(json["runs"][0]["utc"], "2027-03-14T05:15:00Z");
}

#[test]
fn schedule_next_refuses_bad_arguments_with_exit_2() {
    for (args, says) in [
        (vec!["--from", "2027-02-30"], "--from \"2027-02-30\""),
        (vec!["--from", "27/03/2027"], "YYYY-MM-DD"),
        (vec!["--count", "0"], "--count 0"),
        (vec!["--count", "1001"], "from 1 to 1000"),
    ] {
        let mut all = vec!["schedule", "next"];
        all.extend(args.iter().copied());
        let out = lheo_feed(&all, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{all:?}: {err}");
        assert!(err.contains(says), "{all:?}: {err}");
    }
}

#[test]
fn config_check_shows_the_next_three_runs() {
    let out = lheo_feed(
        &["config", "check"],
        &[("LHEO_FEED_SCHEDULE_CRON", "0 0 4 * * *")],
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("  ") && l.ends_with(" UTC"))
        .collect();
    assert_eq!(lines.len(), 3, "{err}");
    for l in &lines {
        // 04:00 in Paris is 03:00 or 02:00 UTC, whatever the season of the test's day.
        assert!(
            l.contains(" 04:00 (+01:00)  ") && l.ends_with(" 03:00 UTC")
                || l.contains(" 04:00 (+02:00)  ") && l.ends_with(" 02:00 UTC"),
            "{err}"
        );
    }
    // Stdout is still the configuration alone, as TOML.
    let toml: toml::Value = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(toml["schedule"]["cron"].as_str(), Some("0 0 4 * * *"));
}

/// The text output of `generations` and `runs` reads local time with its offset; their
/// `--json` keeps UTC.
async fn cli_tables_read_local_time(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out/lheo.xml");
    ok(db, &["import", "fixtures/offres.jsonl"]);
    ok(
        db,
        &[
            "export",
            "--today",
            "2025-06-02",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let gens: Value = serde_json::from_str(&ok(db, &["generations", "--json"])).unwrap();
    let finished = gens[0]["finished_at"].as_str().unwrap();
    let utc = chrono::DateTime::parse_from_rfc3339(finished).unwrap();
    assert_eq!(
        utc.offset().local_minus_utc(),
        0,
        "JSON stays UTC: {finished}"
    );
    let paris = utc
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y-%m-%d %H:%M (%:z)")
        .to_string();
    let text = ok(db, &["generations"]);
    assert!(text.contains(&paris), "{paris} not in:\n{text}");
    assert!(!text.contains("(UTC)"), "{text}");
    let tokyo = utc
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .format("%Y-%m-%d %H:%M (+09:00)")
        .to_string();
    let mut c = common::lheo_feed_command(db, &["generations"]);
    c.env("LHEO_FEED_SCHEDULE_TIMEZONE", "Asia/Tokyo");
    let text = String::from_utf8(c.output().unwrap().stdout).unwrap();
    assert!(text.contains(&tokyo), "{tokyo} not in:\n{text}");
}

backend_tests!(cli_tables_read_local_time);
