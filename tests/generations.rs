//! Black-box tests of export generations (issue 4) with the real binary, on real SQLite and
//! PostgreSQL databases: change sets, the withdrawal guard, the delta file, `generations`,
//! `diff`, tombstones, and `kill -9` at every step of an export.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{
    assert_schema_valid, lheo_feed as run, lheo_feed_command as command, ok, test_databases, TestDb,
};
use serde_json::Value;

const TODAY: &str = "2025-06-02";
const FIXTURES: &str = "fixtures/offres.jsonl";

fn json(db: &TestDb, args: &[&str]) -> Value {
    serde_json::from_str(&ok(db, args)).expect("JSON output")
}

fn export_args<'a>(out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["export", "--json", "--out", out.to_str().unwrap()];
    if !extra.contains(&"--today") {
        args.extend(["--today", TODAY]);
    }
    args.extend_from_slice(extra);
    args
}

fn export(db: &TestDb, out: &Path, extra: &[&str]) -> Value {
    json(db, &export_args(out, extra))
}

fn generations(db: &TestDb) -> Vec<Value> {
    json(db, &["generations", "--json"])
        .as_array()
        .unwrap()
        .clone()
}

fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no number {key} in {v:#}"))
}

/// The file's digest as the generations record it (`src/digest.rs`), computed here with
/// the BLAKE3 crate itself.
fn digest_of(path: &Path) -> String {
    format!(
        "blake3:{}",
        blake3::hash(&std::fs::read(path).unwrap()).to_hex()
    )
}

/// The document without its second line (`<lheo … horodatage-export=…>`).
fn without_timestamp(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].starts_with("<lheo "), "{}", lines[1]);
    lines.remove(1);
    lines.join("\n")
}

/// `numero`s of the `<formation>`s of a document.
fn formations(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("<formation numero=\""))
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_lines(path: &Path, lines: &[Value]) {
    let text: Vec<String> = lines.iter().map(|v| v.to_string()).collect();
    std::fs::write(path, text.join("\n") + "\n").unwrap();
}

fn generate(db: &TestDb, sessions: u64, seed: u64, out: &Path) {
    ok(
        db,
        &[
            "generate",
            "--sessions",
            &sessions.to_string(),
            "--seed",
            &seed.to_string(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
}

/// Files in `dir`, by name.
fn dir_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// What a directory holding `lheo.xml` holds after a command's export: the stable name,
/// the generation's document with its gzip twin (served to partners that accept gzip,
/// docs/feed.md) and the twin's index (src/generation/twin.rs), and, when `superseded`,
/// the previous generation's three files, renamed away at the commit and left for the next
/// export to unlink (docs/generations.md).
fn expected_names(summary: &Value, superseded: Option<&Value>) -> BTreeSet<String> {
    let file = PathBuf::from(summary["generation_file"].as_str().unwrap());
    let file = file.file_name().unwrap().to_string_lossy().into_owned();
    let mut names = BTreeSet::from(["lheo.xml".to_owned()]);
    let mut add = |name: String| {
        names.insert(format!("{name}.gz"));
        names.insert(format!("{name}.gz.idx"));
        names.insert(name);
    };
    add(file);
    if let Some(id) = superseded {
        add(format!(".lheo.xml.superseded-{id}"));
    }
    names
}

#[tokio::test]
async fn fixtures_exported_twice_report_no_change_the_second_time() {
    for db in test_databases().await {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("lheo.xml");
        ok(&db, &["import", FIXTURES]);
        let first = export(&db, &out, &[]);
        assert_eq!(first["generation"], 1);
        assert_eq!(first["mode"], "full");
        assert!(n(&first, "published") > 0, "{first:#}");
        assert_eq!(n(&first, "created"), n(&first, "published"));
        assert_eq!(n(&first, "formations"), n(&first, "published"));
        let first_text = without_timestamp(&out);
        let first_bytes = std::fs::read(&out).unwrap();

        let second = export(&db, &out, &[]);
        // Nothing changed: the previous document is kept byte for byte (same
        // horodatage-export, hash and so ETag), not rewritten.
        assert_eq!(second["digest"], first["digest"], "{second:#}");
        assert_eq!(second["horodatage_export"], first["horodatage_export"]);
        assert_eq!(std::fs::read(&out).unwrap(), first_bytes);
        assert_eq!(second["previous_generation"], first["generation"]);
        assert_eq!(second["mode"], "incremental", "{second:#}");
        for key in ["created", "updated", "withdrawn", "offres_evaluees"] {
            assert_eq!(n(&second, key), 0, "{key} on {:?}: {second:#}", db.backend);
        }
        assert_eq!(n(&second, "unchanged"), n(&first, "published"));
        // The summary's rule outcome is the whole generation's, not only this run's.
        for key in [
            "offres_lues",
            "formations",
            "sessions",
            "offres_rejetees",
            "sessions_rejetees",
        ] {
            assert_eq!(second[key], first[key], "{key}");
        }
        assert_eq!(second["constats_par_regle"], first["constats_par_regle"]);
        assert_eq!(without_timestamp(&out), first_text);
        // The summary tells the truth about the file, and the generation's own file is it.
        assert_eq!(second["digest"].as_str().unwrap(), digest_of(&out));
        let gen_file = PathBuf::from(second["generation_file"].as_str().unwrap());
        assert_eq!(digest_of(&gen_file), digest_of(&out));
        assert_eq!(
            dir_names(dir.path()),
            expected_names(&second, Some(&first["generation"])),
            "only the current generation's file is kept under a generation name"
        );

        let list = generations(&db);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["id"], second["generation"]);
        assert_eq!(list[0]["file_digest"], second["digest"]);
        assert_eq!(list[0]["counts"]["formations"], second["formations"]);
        let text = ok(&db, &["generations"]);
        assert!(
            text.contains("incremental") && text.contains("full"),
            "{text}"
        );
    }
}

/// The fixture line of a session that the export publishes, as a standalone session line
/// with one text changed.
fn edited_published_session(exported: &Path) -> (String, Value) {
    let text = std::fs::read_to_string(exported).unwrap();
    let code = text
        .split("<session numero=\"")
        .nth(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .expect("the fixtures export a session");
    for line in read_lines(Path::new(FIXTURES)) {
        let Some(offre) = line.get("offre") else {
            continue;
        };
        for s in offre["sessions"].as_array().unwrap() {
            if s["code"] == code.as_str() {
                let mut s = s.clone();
                let rythmes = s["rythmes"].as_str().unwrap_or("Temps plein").to_owned();
                s["rythmes"] = Value::from(format!("{rythmes} (horaires modifiés)"));
                let numero = offre["numero"].as_str().unwrap().to_owned();
                return (numero, serde_json::json!({ "session": s }));
            }
        }
    }
    panic!("session {code} is not in the fixtures");
}

#[tokio::test]
async fn editing_one_session_changes_exactly_its_offer() {
    for db in test_databases().await {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("lheo.xml");
        let delta = dir.path().join("delta.xml");
        ok(&db, &["import", FIXTURES]);
        let first = export(&db, &out, &[]);
        let (numero, line) = edited_published_session(&out);
        let edit = dir.path().join("edit.jsonl");
        write_lines(&edit, &[line]);
        let imported = json(&db, &["import", "--json", edit.to_str().unwrap()]);
        assert_eq!(imported["sessions"]["changed"], 1, "{imported:#}");

        let second = export(&db, &out, &["--delta-out", delta.to_str().unwrap()]);
        assert_eq!(second["mode"], "incremental");
        assert_eq!(n(&second, "offres_evaluees"), 1, "{second:#}");
        assert_eq!(n(&second, "updated"), 1, "{second:#}");
        assert_eq!(n(&second, "created"), 0);
        assert_eq!(n(&second, "withdrawn"), 0);
        assert_eq!(n(&second, "unchanged"), n(&first, "published") - 1);
        assert_eq!(second["delta"]["written"], true);
        assert_eq!(second["delta"]["offres"], 1);
        assert_schema_valid(&delta);
        assert_schema_valid(&out);
        assert_eq!(formations(&delta), vec![numero.clone()]);
        let delta_text = std::fs::read_to_string(&delta).unwrap();
        assert!(delta_text.contains("(horaires modifiés)"));
        assert!(delta_text.contains(&format!(
            "<extra info=\"generation\">{}</extra>",
            second["generation"]
        )));
        assert!(
            !delta_text.contains("lheo-feed-retraits"),
            "nothing withdrawn"
        );

        let diff = json(
            &db,
            &[
                "diff",
                &first["generation"].to_string(),
                &second["generation"].to_string(),
                "--json",
            ],
        );
        assert_eq!(diff["updated"], serde_json::json!([numero]));
        assert_eq!(diff["created"], serde_json::json!([]));
        assert_eq!(diff["withdrawn"], serde_json::json!([]));
        // From the start, the offer is simply created.
        let from_start = json(
            &db,
            &["diff", "0", &second["generation"].to_string(), "--json"],
        );
        assert_eq!(
            from_start["created"].as_array().unwrap().len() as u64,
            n(&second, "published")
        );
        assert_eq!(from_start["updated"], serde_json::json!([]));
        // A bad range is bad input.
        let bad = run(&db, &["diff", "2", "1"]);
        assert_eq!(bad.status.code(), Some(2));
        let bad = run(&db, &["diff", "1", "99"]);
        assert_eq!(bad.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&bad.stderr).contains("no generation 99"));

        // The first document was renamed away at the second's commit, whole (a download
        // reading it goes on), and the next export unlinks it; the second's goes the same
        // way, though the third keeps its bytes under a new name.
        let gone = dir.path().join(".lheo.xml.generation-1");
        assert!(!gone.exists(), "generation 1's name is taken away at once");
        let renamed = dir.path().join(".lheo.xml.superseded-1");
        assert_eq!(digest_of(&renamed), first["digest"].as_str().unwrap());
        let inputs = BTreeSet::from(["delta.xml".to_owned(), "edit.jsonl".to_owned()]);
        let held = || &dir_names(dir.path()) - &inputs;
        assert_eq!(held(), expected_names(&second, Some(&first["generation"])));
        let third = export(&db, &out, &[]);
        assert_eq!(third["digest"], second["digest"], "{third:#}");
        assert_eq!(
            held(),
            expected_names(&third, Some(&second["generation"])),
            "the third export unlinked generation 1's files"
        );
    }
}

/// The fixture lines in another order that means the same: organismes and offers
/// reversed, the standalone session lines (which apply in order) still after their offers.
fn reordered_fixtures(path: &Path) {
    let lines = read_lines(Path::new(FIXTURES));
    let (sessions, mut others): (Vec<Value>, Vec<Value>) =
        lines.into_iter().partition(|l| l.get("session").is_some());
    others.reverse();
    others.extend(sessions);
    write_lines(path, &others);
}

#[tokio::test]
async fn reordering_the_input_changes_nothing() {
    for db in test_databases().await {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("lheo.xml");
        let reordered = dir.path().join("reordered.jsonl");
        reordered_fixtures(&reordered);
        ok(&db, &["import", FIXTURES]);
        export(&db, &out, &[]);
        let original = without_timestamp(&out);
        ok(&db, &["import", reordered.to_str().unwrap()]);
        let again = export(&db, &out, &[]);
        for key in ["created", "updated", "withdrawn", "offres_evaluees"] {
            assert_eq!(n(&again, key), 0, "{key}: {again:#}");
        }

        // A store filled in the other order publishes the same bytes.
        let other = common::test_db(db.backend).await.unwrap();
        ok(&other, &["import", reordered.to_str().unwrap()]);
        let out2 = dir.path().join("other.xml");
        export(&other, &out2, &[]);
        assert_eq!(without_timestamp(&out2), original);
    }
}

/// A generated data set, its first export, and the offers it published.
struct Published {
    dir: tempfile::TempDir,
    data: PathBuf,
    out: PathBuf,
    first: Value,
    numeros: Vec<String>,
}

fn publish_generated(db: &TestDb, sessions: u64, seed: u64) -> Published {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.jsonl");
    let out = dir.path().join("feed").join("lheo.xml");
    generate(db, sessions, seed, &data);
    ok(db, &["import", data.to_str().unwrap()]);
    let first = export(db, &out, &[]);
    let numeros = formations(&out);
    assert_eq!(numeros.len() as u64, n(&first, "published"));
    Published {
        dir,
        data,
        out,
        first,
        numeros,
    }
}

/// The offer lines of `numeros`, each changed by `f`.
fn edited_offers(data: &Path, numeros: &[String], f: impl Fn(&mut Value)) -> Vec<Value> {
    let wanted: BTreeSet<&str> = numeros.iter().map(String::as_str).collect();
    read_lines(data)
        .into_iter()
        .filter(|l| {
            l.get("offre")
                .is_some_and(|o| wanted.contains(o["numero"].as_str().unwrap()))
        })
        .map(|mut l| {
            f(&mut l["offre"]);
            l
        })
        .collect()
}

fn unvalidate(offre: &mut Value) {
    offre["etat"] = Value::from("en_attente_de_validation");
}

#[tokio::test]
async fn mass_withdrawal_is_refused_without_force() {
    for db in test_databases().await {
        let p = publish_generated(&db, 300, 7);
        let published = p.numeros.len();
        assert!(published > 20, "{published}");
        // An "extraction" in which a third of the published offers are no longer validated.
        let gone: Vec<String> = p.numeros.iter().step_by(3).cloned().collect();
        let edit = p.dir.path().join("partial.jsonl");
        write_lines(&edit, &edited_offers(&p.data, &gone, unvalidate));
        ok(&db, &["import", edit.to_str().unwrap()]);

        let before = digest_of(&p.out);
        let refused = run(&db, &export_args(&p.out, &[]));
        assert_eq!(refused.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains(&format!(
                "would withdraw {} of the {published} published offers",
                gone.len()
            )),
            "{stderr}"
        );
        assert!(stderr.contains("--force"), "{stderr}");
        assert!(stderr.contains("nothing was published"), "{stderr}");
        assert_eq!(generations(&db).len(), 1, "no generation recorded");
        assert_eq!(digest_of(&p.out), before, "the published file is untouched");
        assert_eq!(
            dir_names(p.out.parent().unwrap()).len(),
            4,
            "no file left behind (document, stable name, twin, twin index): {:?}",
            dir_names(p.out.parent().unwrap())
        );

        // A higher threshold, or --force, lets it through; the delta then has nothing
        // to carry but withdrawals, so it is not written.
        let delta = p.dir.path().join("delta.xml");
        let forced = export(
            &db,
            &p.out,
            &["--force", "--delta-out", delta.to_str().unwrap()],
        );
        assert_eq!(n(&forced, "withdrawn"), gone.len() as u64);
        assert_eq!(n(&forced, "created") + n(&forced, "updated"), 0);
        assert_eq!(forced["forced"], true);
        assert_eq!(n(&forced, "tombstones"), gone.len() as u64);
        assert_eq!(forced["delta"]["written"], false);
        assert!(forced["delta"]["note"]
            .as_str()
            .unwrap()
            .contains("only withdrawals"));
        assert_eq!(
            forced["delta"]["retraits"].as_array().unwrap().len(),
            gone.len()
        );
        assert!(!delta.exists());
        let remaining = formations(&p.out);
        assert_eq!(remaining.len(), published - gone.len());
        assert!(gone.iter().all(|g| !remaining.contains(g)));
        assert_eq!(generations(&db)[0]["forced"], true);

        // The text summary says it too.
        let again = edited_offers(&p.data, &gone[..1], |o| o["etat"] = Value::from("validee"));
        write_lines(&edit, &again);
        ok(&db, &["import", edit.to_str().unwrap()]);
        let text = ok(
            &db,
            &[
                "export",
                "--today",
                TODAY,
                "--out",
                p.out.to_str().unwrap(),
                "--max-withdraw-share",
                "0.5",
            ],
        );
        assert!(
            text.contains("1 created, 0 updated, 0 withdrawn"),
            "a withdrawn offer that comes back is created again: {text}"
        );
        let bad = run(&db, &export_args(&p.out, &["--max-withdraw-share", "1.5"]));
        assert_eq!(bad.status.code(), Some(2));
    }
}

#[tokio::test]
async fn delta_carries_changes_and_withdrawals_and_tombstones_expire() {
    for db in test_databases().await {
        let p = publish_generated(&db, 200, 11);
        let dir = p.dir.path();
        let (updated, withdrawn) = (&p.numeros[..2], &p.numeros[2..4]);
        let mut lines = edited_offers(&p.data, updated, |o| {
            o["action"]["objectifs"] = Value::from("Objectifs (nouvelle version) de l'action.");
        });
        lines.extend(edited_offers(&p.data, withdrawn, unvalidate));
        let edit = dir.join("edit.jsonl");
        write_lines(&edit, &lines);
        ok(&db, &["import", edit.to_str().unwrap()]);

        let delta = dir.join("out").join("delta.xml");
        let second = export(&db, &p.out, &["--delta-out", delta.to_str().unwrap()]);
        assert_eq!(n(&second, "updated"), 2, "{second:#}");
        assert_eq!(n(&second, "withdrawn"), 2);
        assert_eq!(n(&second, "created"), 0);
        assert_schema_valid(&delta);
        assert_eq!(formations(&delta), updated.to_vec());
        let text = std::fs::read_to_string(&delta).unwrap();
        for w in withdrawn {
            assert!(
                text.contains(&format!("<extra info=\"retrait\" numero=\"{w}\"/>")),
                "{w} listed as withdrawn"
            );
        }
        assert!(text.contains(&format!(
            "<extra info=\"generation-precedente\">{}</extra>",
            p.first["generation"]
        )));
        assert_eq!(
            second["delta"]["digest"].as_str().unwrap(),
            digest_of(&delta)
        );
        assert_eq!(n(&second, "tombstones"), 2);

        // The tombstones outlive an export within their retention, not after it.
        let kept = export(&db, &p.out, &[]);
        assert_eq!(n(&kept, "tombstones"), 2);
        assert_eq!(n(&kept, "tombstones_purged"), 0);
        // Times are whole seconds: make sure the withdrawal is in the past.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let purged = export(&db, &p.out, &["--tombstone-retention-days", "0"]);
        assert_eq!(n(&purged, "tombstones_purged"), 2);
        assert_eq!(n(&purged, "tombstones"), 0);
        // The history survives the purge.
        let d = json(
            &db,
            &[
                "diff",
                &p.first["generation"].to_string(),
                &purged["generation"].to_string(),
                "--json",
            ],
        );
        assert_eq!(d["withdrawn"], serde_json::json!(withdrawn));
        assert_eq!(d["updated"], serde_json::json!(updated));
    }
}

#[tokio::test]
async fn moving_today_withdraws_ended_sessions_incrementally() {
    for db in test_databases().await {
        let p = publish_generated(&db, 300, 5);
        // Half a year later: sessions have ended, information collectives have passed.
        let later = export(
            &db,
            &p.out,
            &["--today", "2025-12-01", "--max-withdraw-share", "1"],
        );
        assert_eq!(later["mode"], "incremental");
        assert!(n(&later, "offres_evaluees") > 0);
        assert!(
            n(&later, "withdrawn") + n(&later, "updated") > 0,
            "{later:#}"
        );
        // The same day from scratch gives the same document and the same counts.
        let full = export(&db, &p.out, &["--today", "2025-12-01", "--full"]);
        assert_eq!(full["mode"], "full");
        for key in ["created", "updated", "withdrawn"] {
            assert_eq!(n(&full, key), 0, "{key}: {full:#}");
        }
        for key in ["published", "formations", "sessions", "offres_rejetees"] {
            assert_eq!(full[key], later[key], "{key}");
        }
        assert_eq!(full["constats_par_regle"], later["constats_par_regle"]);
        // Back in time: a full pass, said so.
        let back = export(
            &db,
            &p.out,
            &["--today", TODAY, "--max-withdraw-share", "1"],
        );
        assert_eq!(back["mode"], "full");
        assert!(back["full_reason"].as_str().unwrap().contains("earlier"));
        assert_eq!(back["published"], p.first["published"]);
    }
}

// ----- kill -9 ---------------------------------------------------------------------------

/// Starts an export that pauses at `point` (the test hook), waits until it is there, and
/// kills it with SIGKILL.
fn export_killed_at(db: &TestDb, out: &Path, point: &str) {
    let mut child = command(db, &export_args(out, &[]))
        .env("LHEO_FEED_TEST_PAUSE_AT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lheo-feed binary runs");
    let stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let reached = line.contains("test hook") && line.contains(point);
        seen.push(line);
        if reached {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.contains(point)),
        "the export did not reach {point} on {:?}:\n{}",
        db.backend,
        seen.join("\n")
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// The current generation, checked to be complete: its own file has the recorded bytes.
fn current_generation(db: &TestDb) -> Value {
    let g = generations(db)[0].clone();
    let file = Path::new(g["file_path"].as_str().unwrap());
    assert_eq!(
        digest_of(file),
        g["file_digest"].as_str().unwrap(),
        "generation {} is complete on {:?}",
        g["id"],
        db.backend
    );
    g
}

#[tokio::test]
async fn an_export_killed_at_any_point_leaves_a_current_complete_generation() {
    for db in test_databases().await {
        let p = publish_generated(&db, 2_000, 42);
        let g1 = current_generation(&db);
        let first_digest = digest_of(&p.out);
        assert_eq!(first_digest, g1["file_digest"].as_str().unwrap());
        // About 1 % of the offers change upstream.
        let some: Vec<String> = p.numeros.iter().step_by(100).cloned().collect();
        let edit = p.dir.path().join("edit.jsonl");
        write_lines(
            &edit,
            &edited_offers(&p.data, &some, |o| {
                o["action"]["objectifs"] =
                    Value::from("Objectifs revus pour la session d'automne.");
            }),
        );
        ok(&db, &["import", edit.to_str().unwrap()]);

        for point in ["mid_write", "before_commit"] {
            export_killed_at(&db, &p.out, point);
            let g = current_generation(&db);
            assert_eq!(
                g["id"], g1["id"],
                "killed at {point}: generation 1 is current"
            );
            assert_eq!(generations(&db).len(), 1);
            assert_eq!(
                digest_of(&p.out),
                first_digest,
                "killed at {point}: the published file is generation 1's, whole"
            );
        }

        // Killed right after its commit: the new generation is current and complete; the
        // stable name still shows the previous document, whole.
        export_killed_at(&db, &p.out, "after_commit");
        let g2 = current_generation(&db);
        assert_ne!(g2["id"], g1["id"]);
        assert_eq!(g2["updated"].as_u64().unwrap(), some.len() as u64, "{g2:#}");
        assert_eq!(digest_of(&p.out), first_digest);

        // The next run puts things right and has nothing left to change.
        let g3 = export(&db, &p.out, &[]);
        for key in ["created", "updated", "withdrawn"] {
            assert_eq!(n(&g3, key), 0, "{key}: {g3:#}");
        }
        assert_eq!(g3["previous_generation"], g2["id"]);
        assert_eq!(digest_of(&p.out), g3["digest"].as_str().unwrap());
        assert_schema_valid(&p.out);
        assert_eq!(
            dir_names(p.out.parent().unwrap()),
            expected_names(&g3, Some(&g2["id"])),
            "the leftovers of the killed runs are gone"
        );
        let d = json(
            &db,
            &[
                "diff",
                &g1["id"].to_string(),
                &g3["generation"].to_string(),
                "--json",
            ],
        );
        assert_eq!(d["updated"], serde_json::json!(some));
    }
}

/// An incremental export copies unchanged offers from the database, where they are stored
/// compressed, and never reads the previous generation's document: that file changed in
/// place, or gone, changes nothing in what is published, and the new gzip twin is still
/// the new document.
#[tokio::test]
async fn a_damaged_or_missing_previous_file_is_not_copied() {
    for db in test_databases().await {
        let p = publish_generated(&db, 300, 3);
        let good = without_timestamp(&p.out);
        let gen_file = PathBuf::from(p.first["generation_file"].as_str().unwrap());

        // One byte changed in place, size kept (the stable name is the same file).
        let mut bytes = std::fs::read(&gen_file).unwrap();
        let at = bytes.len() / 2;
        bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&gen_file, &bytes).unwrap();
        assert_ne!(without_timestamp(&p.out), good);
        let out = run(&db, &export_args(&p.out, &[]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let second: Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in ["created", "updated", "withdrawn"] {
            assert_eq!(n(&second, key), 0, "{key}: {second:#}");
        }
        assert_eq!(
            without_timestamp(&p.out),
            good,
            "the damage is not published"
        );
        let gen_file = PathBuf::from(second["generation_file"].as_str().unwrap());
        assert_eq!(gunzip_twin(&gen_file), std::fs::read(&gen_file).unwrap());

        // The generation's file removed: the database has everything.
        std::fs::remove_file(&gen_file).unwrap();
        let third = export(&db, &p.out, &[]);
        assert_eq!(n(&third, "unchanged"), n(&p.first, "published"));
        assert_eq!(without_timestamp(&p.out), good);
        assert_eq!(digest_of(&p.out), third["digest"].as_str().unwrap());
    }
}

/// The plain bytes of a generation's gzip twin.
fn gunzip_twin(file: &std::path::Path) -> Vec<u8> {
    let mut name = file.file_name().unwrap().to_os_string();
    name.push(".gz");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(file.with_file_name(name)).unwrap()),
        &mut plain,
    )
    .unwrap();
    plain
}

/// The gzip twin of every new document is written with it (not compressed again from the
/// file), and decompresses to exactly the document: after a full export, after a change,
/// and when the document is kept.
#[tokio::test]
async fn the_gzip_twin_is_always_the_document() {
    for db in test_databases().await {
        let p = publish_generated(&db, 400, 5);
        let twin_of = |v: &Value| {
            let file = PathBuf::from(v["generation_file"].as_str().unwrap());
            assert_eq!(gunzip_twin(&file), std::fs::read(&file).unwrap(), "{v:#}");
            assert_eq!(digest_of(&file), v["digest"].as_str().unwrap());
        };
        twin_of(&p.first);

        let changed = edited_offers(&p.data, &p.numeros[..3], |o| {
            o["action"]["objectifs"] = Value::from("Objectifs modifiés — « gzip » & co.");
        });
        let edit = p.dir.path().join("edit.jsonl");
        write_lines(&edit, &changed);
        ok(&db, &["import", edit.to_str().unwrap()]);
        let second = export(&db, &p.out, &[]);
        assert_eq!(n(&second, "updated"), 3, "{second:#}");
        twin_of(&second);

        let third = export(&db, &p.out, &[]);
        assert_eq!(third["digest"], second["digest"], "kept byte for byte");
        twin_of(&third);
    }
}

/// Runs `$body` with `$pool` connected to the test database, whichever its backend.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db.backend {
            common::Backend::Sqlite => {
                let $pool = sqlx::SqlitePool::connect(&$db.url).await.unwrap();
                $body
            }
            common::Backend::Postgres => {
                let $pool = sqlx::PgPool::connect(&$db.url).await.unwrap();
                $body
            }
        }
    };
}

/// Published fragments are stored compressed (migration 0007); rows written before it
/// hold plain text, and are still read (here by an export that copies unchanged offers
/// from the database).
#[tokio::test]
async fn fragments_are_stored_compressed_and_plain_rows_still_read() {
    for db in test_databases().await {
        let p = publish_generated(&db, 200, 9);
        let good = without_timestamp(&p.out);
        // One statement for both databases (octet_length and FILTER exist in both).
        let sums = "SELECT CAST(SUM(octet_length(fragment)) AS BIGINT), \
                    CAST(SUM(octet_length(fragment_compressed)) AS BIGINT), \
                    COUNT(*) FILTER (WHERE fragment_compressed IS NULL) FROM published";
        let (plain_total, stored_total, legacy): (i64, i64, i64) =
            with_pool!(db, pool => sqlx::query_as(sums).fetch_one(&pool).await.unwrap());
        assert_eq!(
            plain_total, 0,
            "no plain copy is kept beside the compressed one"
        );
        assert_eq!(legacy, 0);
        let document = std::fs::metadata(&p.out).unwrap().len() as i64;
        assert!(
            stored_total * 3 < document,
            "stored {stored_total} bytes for a {document}-byte document"
        );

        // Turn every row back into the pre-0007 form, from the published document itself.
        let text = std::fs::read_to_string(&p.out).unwrap();
        let fragments: Vec<(String, String)> = text
            .split_inclusive("</formation>\n")
            .filter_map(|part| {
                let at = part.find("<formation numero=\"")?;
                let f = &part[at..];
                let numero = f["<formation numero=\"".len()..]
                    .split('"')
                    .next()?
                    .to_owned();
                Some((numero, f.to_owned()))
            })
            .collect();
        assert_eq!(fragments.len(), p.numeros.len());
        let sql =
            "UPDATE published SET fragment = $1, fragment_compressed = NULL WHERE numero = $2";
        with_pool!(db, pool => {
            for (numero, f) in &fragments {
                sqlx::query(sql).bind(f).bind(numero).execute(&pool).await.unwrap();
            }
        });
        // The plain rows.
        assert_reexport_copies_rows_back(&db, &p, &good);
    }
}

/// Without the previous file, the next export copies every unchanged offer from the
/// database: the rows as a test left them must give the first export's document again.
fn assert_reexport_copies_rows_back(db: &TestDb, p: &Published, good: &str) {
    std::fs::remove_file(PathBuf::from(p.first["generation_file"].as_str().unwrap())).unwrap();
    let second = export(db, &p.out, &[]);
    assert_eq!(
        n(&second, "unchanged"),
        n(&p.first, "published"),
        "{second:#}"
    );
    assert_eq!(without_timestamp(&p.out), good);
}

/// Fragments are written as zstd frames with the dictionary (issue 20); rows in LZ4, as
/// earlier versions wrote them, are read the same, and take more room.
#[tokio::test]
async fn fragments_written_in_lz4_by_earlier_versions_still_read() {
    for db in test_databases().await {
        let p = publish_generated(&db, 200, 9);
        let good = without_timestamp(&p.out);
        let rows: Vec<(String, Vec<u8>)> = with_pool!(db, pool => {
            sqlx::query_as("SELECT numero, fragment_compressed FROM published")
                .fetch_all(&pool)
                .await
                .unwrap()
        });
        assert_eq!(rows.len(), p.numeros.len());
        let mut zstd_total = 0;
        let mut lz4_total = 0;
        let sql = "UPDATE published SET fragment_compressed = $1 WHERE numero = $2";
        with_pool!(db, pool => {
            for (numero, stored) in &rows {
                let plain = lheo_feed::store::fragments::decompress(stored).unwrap();
                let old = lz4_flex::block::compress_prepend_size(&plain);
                zstd_total += stored.len();
                lz4_total += old.len();
                sqlx::query(sql).bind(old).bind(numero).execute(&pool).await.unwrap();
            }
        });
        assert!(
            zstd_total * 10 < lz4_total * 7,
            "zstd {zstd_total} bytes against LZ4 {lz4_total}"
        );
        // The LZ4 rows.
        assert_reexport_copies_rows_back(&db, &p, &good);
    }
}

/// The rule findings kept for the status page are stored compressed (migration 0013);
/// rows written before it hold plain JSON, and the page's reader gives the same findings
/// from either.
#[tokio::test]
async fn findings_are_stored_compressed_and_plain_rows_still_read() {
    for db in test_databases().await {
        let _p = publish_generated(&db, 200, 9);
        let store = db.open().await;
        let read = store.evaluation_findings().await.unwrap();
        assert!(read.len() > 10, "the generated offers have findings");
        for f in &read {
            let v: Value = serde_json::from_str(f).unwrap();
            assert!(v["constats"].is_array(), "{f}");
        }
        let stored: Vec<(String, Option<String>, Option<Vec<u8>>)> = with_pool!(db, pool => {
            sqlx::query_as(
                "SELECT CAST(formation_no AS TEXT) || '-' || CAST(action_no AS TEXT), \
                 findings, findings_compressed FROM evaluations \
                 WHERE findings IS NOT NULL OR findings_compressed IS NOT NULL",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        });
        assert_eq!(stored.len(), read.len());
        assert!(
            stored
                .iter()
                .all(|(_, plain, lz4)| plain.is_none() && lz4.is_some()),
            "new rows hold only the compressed form"
        );
        let (plain_total, stored_total) = stored.iter().fold((0, 0), |(p, s), (_, _, lz4)| {
            let lz4 = lz4.as_deref().unwrap();
            let plain = lheo_feed::store::fragments::decompress(lz4).unwrap();
            (p + plain.len(), s + lz4.len())
        });
        assert!(
            stored_total * 2 < plain_total,
            "{stored_total} bytes stored for {plain_total} of JSON"
        );

        // Back to the pre-0013 form: plain JSON, no compressed column.
        let sql = "UPDATE evaluations SET findings = $1, findings_compressed = NULL \
                   WHERE CAST(formation_no AS TEXT) || '-' || CAST(action_no AS TEXT) = $2";
        with_pool!(db, pool => {
            for (key, _, lz4) in &stored {
                let text = lheo_feed::store::fragments::decompress(lz4.as_deref().unwrap()).unwrap();
                let text = String::from_utf8(text).unwrap();
                sqlx::query(sql).bind(text).bind(key).execute(&pool).await.unwrap();
            }
        });
        assert_eq!(store.evaluation_findings().await.unwrap(), read);
        store.close().await;
    }
}
