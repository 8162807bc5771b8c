//! The pusher against real HTTP receivers on loopback (axum), on real SQLite and
//! PostgreSQL: receivers that fail with 500, answer 429 with Retry-After, hang past the
//! timeout, drop the connection, answer slowly, apply a batch but answer after the timeout
//! or refuse with 400; a pusher killed with
//! `kill -9` in the middle of a batch. In every case each receiver, deduplicating on
//! `webhook-id` as Standard Webhooks asks, ends up with exactly the published offers,
//! applies no batch twice, receives batches in generation order, and every request's
//! signature verifies.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use common::{assert_schema_valid, TestDb};
use lheo_feed::generation::{self, ExportOptions};
use lheo_feed::pipeline::PassOptions;
use lheo_feed::push::{self, wire, PushOptions};
use lheo_feed::store::Store;
use serde_json::Value;

const TODAY: &str = "2025-06-02";
const FIXTURES: &str = "fixtures/offres.jsonl";
const KEY: &[u8] = b"test-signing-key";
const KEY_ENV: &str = "LHEO_FEED_TEST_PUSH_KEY";

/// How a receiver misbehaves on its first `n` requests.
#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    Status500(u32),
    TooMany(u32),
    Hang(u32),
    Drop(u32),
    /// Every request answered after this delay (recorded on arrival).
    Slow(Duration),
    /// 400 until `fixed` is set.
    Refuse,
    /// Request `n` is applied, then held (no answer) until the test releases it: the
    /// pusher can be killed while a receiver holds its request, whatever the load.
    Hold(u32),
    /// The first `n` requests are applied, then answered after the pusher's timeout: the
    /// pusher must send them again under the same `webhook-id`, so that the receiver's
    /// deduplication keeps each state applied once.
    LateAnswer(u32),
}

#[derive(Default)]
struct State {
    requests: u32,
    bad_signatures: u32,
    fixed: bool,
    /// Applied batches' ids, in order; duplicates (same id) are counted, not applied.
    applied: Vec<String>,
    duplicates: u32,
    /// The receiver's copy of the offer: numero → fragment.
    offres: BTreeMap<String, String>,
    /// How many times each state of each offer was applied (numero, SHA-256 of its
    /// `<formation>` or `retrait`), across every batch applied: what "exactly once" means.
    states: BTreeMap<(String, String), u32>,
    /// lheo-feed-generation of each applied batch, in order.
    generations: Vec<i64>,
    bytes: u64,
    last_body: Vec<u8>,
    /// Documents applied and not yet validated (`check_receiver` validates them all).
    unchecked: Vec<Vec<u8>>,
    /// Documents validated so far: LHÉO batches carrying withdrawals in their extras, and
    /// withdrawals-only documents.
    lheo_with_retraits: u32,
    retraits_only: u32,
    /// Fault::Hold: a request is being held; the test lets it go.
    holding: bool,
    released: bool,
}

#[derive(Clone)]
struct Receiver {
    fault: Fault,
    state: Arc<Mutex<State>>,
    url: String,
}

impl Receiver {
    async fn start(fault: Fault) -> Receiver {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/lheo", listener.local_addr().unwrap());
        let r = Receiver { fault, state, url };
        let app_state = r.clone();
        let app = axum::Router::new()
            .route(
                "/lheo",
                axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                    let r = app_state.clone();
                    async move { r.handle(headers, body).await }
                }),
            )
            // Whole snapshots arrive in large batches; axum's default limit is 2 MB.
            .layer(axum::extract::DefaultBodyLimit::max(64 << 20));
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        r
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn handle(&self, headers: HeaderMap, body: Bytes) -> Response {
        let n = {
            let mut s = self.st();
            s.requests += 1;
            s.requests
        };
        match self.fault {
            Fault::Status500(k) if n <= k => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response()
            }
            Fault::TooMany(k) if n <= k => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    "slow down",
                )
                    .into_response()
            }
            Fault::Hang(k) if n <= k => {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            // A panicking handler makes hyper drop the connection without an answer.
            Fault::Drop(k) if n <= k => panic!("test receiver drops the connection"),
            Fault::Refuse if !self.st().fixed => {
                return (StatusCode::BAD_REQUEST, "numero inconnu: schéma refusé").into_response()
            }
            _ => {}
        }
        let h = |k: &str| {
            headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let id = h("webhook-id");
        let ts: i64 = h("webhook-timestamp").parse().unwrap_or(0);
        let generation: i64 = h("lheo-feed-generation").parse().unwrap_or(-1);
        if !wire::verify(KEY, &id, ts, &body, &h("webhook-signature"))
            || h("content-type") != "application/xml; charset=utf-8"
        {
            self.st().bad_signatures += 1;
            return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
        }
        let raw = if h("content-encoding") == "gzip" {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            body.to_vec()
        };
        {
            let mut s = self.st();
            s.bytes += body.len() as u64;
            if s.applied.contains(&id) {
                s.duplicates += 1;
            } else {
                s.applied.push(id);
                s.generations.push(generation);
                let states = apply(&mut s.offres, &String::from_utf8(raw.clone()).unwrap());
                for state in states {
                    *s.states.entry(state).or_default() += 1;
                }
                s.unchecked.push(raw.clone());
                s.last_body = raw;
            }
        }
        match self.fault {
            Fault::Slow(d) => tokio::time::sleep(d).await,
            Fault::LateAnswer(k) if n <= k => tokio::time::sleep(Duration::from_secs(3)).await,
            Fault::Hold(k) if n == k => {
                self.st().holding = true;
                while !self.st().released {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            _ => {}
        }
        (StatusCode::NO_CONTENT, "").into_response()
    }
}

/// Applies a batch document: offers replaced, withdrawals removed. Returns the states
/// applied: (numero, SHA-256 of the `<formation>`), or (numero, `retrait`).
fn apply(offres: &mut BTreeMap<String, String>, doc: &str) -> Vec<(String, String)> {
    let mut states = Vec::new();
    for part in doc.split("<formation numero=\"").skip(1) {
        let numero = part[..part.find('"').unwrap()].to_owned();
        let end = part.find("</formation>").unwrap();
        let fragment = format!("<formation numero=\"{}</formation>\n", &part[..end]);
        states.push((numero.clone(), state_of(&fragment)));
        offres.insert(numero, fragment);
    }
    for marker in ["<extra info=\"retrait\" numero=\"", "<retrait numero=\""] {
        for part in doc.split(marker).skip(1) {
            let numero = &part[..part.find('"').unwrap()];
            offres.remove(numero);
            states.push((numero.to_owned(), "retrait".to_owned()));
        }
    }
    states
}

/// An offer's state as the receivers count it.
fn state_of(fragment: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(fragment.as_bytes()))
}

/// Each of these states once: the offers of `offres` as they are, and withdrawals.
fn once(
    offres: &BTreeMap<String, String>,
    withdrawn: &[String],
) -> BTreeMap<(String, String), u32> {
    let mut out: BTreeMap<(String, String), u32> = offres
        .iter()
        .map(|(n, f)| ((n.clone(), state_of(f)), 1))
        .collect();
    for n in withdrawn {
        out.insert((n.clone(), "retrait".to_owned()), 1);
    }
    out
}

/// The live published offers: numero → fragment.
async fn published(store: &Store) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut after = None;
    loop {
        let page = store.published_page(after, 1000, true).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.numero);
        for r in page {
            out.insert(
                r.numero.to_string(),
                String::from_utf8(r.fragment.unwrap().into_plain().unwrap()).unwrap(),
            );
        }
    }
    out
}

async fn export(store: &Store, dir: &Path) -> Value {
    let pass = PassOptions {
        today: lheo_feed::model::Date::parse(TODAY).unwrap(),
        rules: Default::default(),
        page_size: 1000,
    };
    let mut o = ExportOptions::new(
        pass,
        dir.join("lheo.xml"),
        "2025-06-02T03:00:00+02:00".to_owned(),
    );
    o.force = true;
    let s = generation::export(store, &o).await.unwrap();
    serde_json::to_value(&s).unwrap()
}

async fn import(store: &Store, path: &Path) {
    lheo_feed::ingest::import_files(store, &[path.to_path_buf()])
        .await
        .unwrap_or_else(|e| panic!("import of {} failed: {e:?}", path.display()));
}

/// Imports `generate --sessions N --seed S`; returns its lines.
async fn import_generated(store: &Store, dir: &Path, sessions: u64, seed: u64) -> String {
    let mut v = Vec::new();
    lheo_feed::generate::generate(&mut v, sessions, seed).unwrap();
    let text = String::from_utf8(v).unwrap();
    let data = dir.join("gen.jsonl");
    std::fs::write(&data, &text).unwrap();
    import(store, &data).await;
    text
}

/// Imports every 100th offer of `text` (1 %) with new objectives naming `tag`.
async fn import_one_percent_edit(store: &Store, dir: &Path, text: &str, tag: &str) {
    let mut edited = String::new();
    let offres = text.lines().filter_map(|l| {
        let v: Value = serde_json::from_str(l).unwrap();
        v.get("offre").is_some().then_some(v)
    });
    for mut v in offres.skip(99).step_by(100) {
        v["offre"]["action"]["objectifs"] = Value::String(format!("Objectifs révisés ({tag})"));
        edited.push_str(&v.to_string());
        edited.push('\n');
    }
    let path = dir.join("edits.jsonl");
    std::fs::write(&path, edited).unwrap();
    import(store, &path).await;
}

fn consumer_toml(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[consumers]]\nname = \"{name}\"\nurl = \"{url}\"\nsigning_secrets = [{{ env = \"{KEY_ENV}\" }}]\n\
         timeout = \"700ms\"\nmax_offres = 4\nretry_schedule = [\"0s\", \"20ms\", \"50ms\", \"100ms\", \"100ms\", \"200ms\"]\n{extra}\n"
    )
}

fn push_header() -> &'static str {
    "[push]\nlease_margin = \"300ms\"\nconcurrency = 8\n"
}

/// The fixtures' lines with offers edited (`edit`: new objectives) and withdrawn (`etat`
/// no longer validated), as an upstream correction.
fn edited(dir: &Path, name: &str, edit: &[usize], withdraw: &[usize], tag: &str) -> PathBuf {
    let text = std::fs::read_to_string(FIXTURES).unwrap();
    let mut i = 0;
    let mut out = String::new();
    for line in text.lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        if let Some(o) = v.get_mut("offre") {
            if edit.contains(&i) {
                o["action"]["objectifs"] = Value::String(format!("Objectifs révisés {tag}"));
            }
            if withdraw.contains(&i) {
                o["etat"] = Value::String("en_cours_de_saisie".into());
            }
            i += 1;
            out.push_str(&v.to_string());
            out.push('\n');
        }
    }
    let p = dir.join(name);
    std::fs::write(&p, out).unwrap();
    p
}

/// Validates every document a receiver applied since the last check: LHÉO batches against
/// the official XSD, withdrawals-only documents against `schemas/retraits.xsd`, each set
/// in one `xmllint` run.
fn validate_documents(name: &str, s: &mut State) {
    let dir = tempfile::tempdir().unwrap();
    let (mut lheo, mut retraits) = (Vec::new(), Vec::new());
    for (i, doc) in s.unchecked.drain(..).enumerate() {
        let text = String::from_utf8(doc).unwrap();
        let path = dir.path().join(format!("{i}.xml"));
        std::fs::write(&path, &text).unwrap();
        if text.contains("<retraits xmlns=\"urn:lheo-feed:retraits:1\"") {
            retraits.push(path);
            s.retraits_only += 1;
        } else {
            assert!(text.contains("<lheo xmlns="), "{name}: {text}");
            if text.contains("<extras info=\"lheo-feed-retraits\">") {
                s.lheo_with_retraits += 1;
            }
            lheo.push(path);
        }
    }
    let xsd = common::xsd_path();
    for (schema, files) in [
        (xsd.as_path(), lheo),
        (Path::new("schemas/retraits.xsd"), retraits),
    ] {
        if files.is_empty() {
            continue;
        }
        if !schema.exists() {
            common::skipped(
                "validation of push batches against the official LHÉO 2.3 XSD",
                &format!("{} is missing (set LHEO_FEED_XSD)", schema.display()),
            );
            continue;
        }
        let out = std::process::Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(schema)
            .args(&files)
            .output()
            .expect("xmllint (Debian package libxml2-utils) must be installed");
        assert!(
            out.status.success(),
            "{name}: a batch is not valid against {}:\n{}",
            schema.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn check_receiver(name: &str, r: &Receiver, expected: &BTreeMap<String, String>) {
    let mut s = r.st();
    validate_documents(name, &mut s);
    assert_eq!(s.bad_signatures, 0, "{name}: every signature verifies");
    assert_eq!(
        s.offres.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{name}: the receiver holds exactly the published offers"
    );
    assert!(
        s.offres == *expected,
        "{name}: each offer in its latest state"
    );
    let ids: HashSet<&String> = s.applied.iter().collect();
    assert_eq!(ids.len(), s.applied.len(), "{name}: no batch applied twice");
    assert!(
        s.generations.windows(2).all(|w| w[0] <= w[1]),
        "{name}: batches in generation order: {:?}",
        s.generations
    );
}

/// Every fault at once, one receiver each, over three generations (the second and third
/// edit the same offer before any push: it is sent once, in its latest state).
async fn faults_lose_nothing_and_apply_nothing_twice(db: &TestDb) {
    std::env::set_var(KEY_ENV, std::str::from_utf8(KEY).unwrap());
    let store = db.open().await;
    let dir = tempfile::tempdir().unwrap();
    let receivers = vec![
        ("ok", Receiver::start(Fault::None).await),
        ("e500", Receiver::start(Fault::Status500(3)).await),
        ("e429", Receiver::start(Fault::TooMany(1)).await),
        ("hang", Receiver::start(Fault::Hang(1)).await),
        ("drop", Receiver::start(Fault::Drop(2)).await),
        (
            "slow",
            Receiver::start(Fault::Slow(Duration::from_millis(150))).await,
        ),
        ("late", Receiver::start(Fault::LateAnswer(2)).await),
    ];
    let mut toml = push_header().to_owned();
    for (name, r) in &receivers {
        let gzip = if *name == "ok" { "gzip = true" } else { "" };
        toml.push_str(&consumer_toml(name, &r.url, gzip));
    }
    let cfg = push::load_push_config(&toml).unwrap();
    push::outbox::sync_consumers(&store, &cfg).await.unwrap();

    import(&store, Path::new(FIXTURES)).await;
    export(&store, dir.path()).await;
    let opts = PushOptions {
        consumer: None,
        max_wait: Duration::from_secs(5),
    };
    let s = push::push_once(&store, &cfg, &opts).await.unwrap();
    let expected = published(&store).await;
    assert!(expected.len() > 10);
    // Exactly once: every published offer's state applied once by each consumer, however
    // many times the faults made the pusher send its batch.
    let mut want = once(&expected, &[]);
    for (name, r) in &receivers {
        check_receiver(name, r, &expected);
        assert_eq!(
            r.st().states,
            want,
            "{name}: each state applied exactly once"
        );
    }
    let failed: u64 = s.consumers.iter().map(|c| c.failed_attempts).sum();
    assert!(failed >= 7, "the faults were met and retried: {s:?}");
    assert!(s.consumers.iter().all(|c| c.dead_letters == 0), "{s:?}");
    // The first delivery of a new consumer is the whole offer; a LHÉO document.
    let last = receivers[1].1.st().last_body.clone();
    let f = dir.path().join("batch.xml");
    std::fs::write(&f, &last).unwrap();
    assert_schema_valid(&f);

    // Generation 2 edits offers 1 and 2 and withdraws 3; generation 3 edits 2 again.
    let g2 = edited(dir.path(), "g2.jsonl", &[1, 2], &[3], "g2");
    import(&store, &g2).await;
    let e2 = export(&store, dir.path()).await;
    assert_eq!(e2["withdrawn"], 1, "{e2}");
    let g3 = edited(dir.path(), "g3.jsonl", &[1, 2], &[3], "g3");
    import(&store, &g3).await;
    let e3 = export(&store, dir.path()).await;
    assert_eq!(e3["updated"], 2, "{e3}");
    let before: Vec<usize> = receivers
        .iter()
        .map(|(_, r)| r.st().applied.len())
        .collect();
    let s = push::push_once(&store, &cfg, &opts).await.unwrap();
    let expected = published(&store).await;
    for ((name, r), n) in receivers.iter().zip(before) {
        check_receiver(name, r, &expected);
        assert_eq!(
            r.st().applied.len(),
            n + 1,
            "{name}: two generations' changes (3 offers) coalesced into one batch"
        );
    }
    // The net change from generation 1 to 3: what each consumer must get, once.
    let d = generation::diff(&store, 1, 3).await.unwrap();
    let net = (
        (d.created.len() + d.updated.len()) as u64,
        d.withdrawn.len() as u64,
    );
    assert!(net.0 >= 2 && net.1 == 1, "{d:?}");
    // Exactly once over the whole run: generation 1's states, then the latest state of
    // each offer generations 2 and 3 changed (never generation 2's) and the withdrawal.
    let changed: BTreeMap<String, String> = expected
        .iter()
        .filter(|(n, _)| d.created.iter().chain(&d.updated).any(|c| c == *n))
        .map(|(n, f)| (n.clone(), f.clone()))
        .collect();
    let withdrawn: Vec<String> = d.withdrawn.clone();
    want.extend(once(&changed, &withdrawn));
    for (name, r) in &receivers {
        assert_eq!(
            r.st().states,
            want,
            "{name}: each state applied exactly once"
        );
    }
    for c in &s.consumers {
        assert_eq!(
            (c.offres_delivered, c.retraits_delivered),
            net,
            "{}: each changed offer once, latest state; the withdrawal explicit",
            c.name
        );
    }
    assert!(String::from_utf8_lossy(&receivers[0].1.st().last_body).contains("révisés g3"));
    for (name, r) in &receivers {
        assert!(
            r.st().lheo_with_retraits >= 1,
            "{name}: a batch with withdrawals, validated"
        );
    }
    let st = push::outbox::status(&store, None).await.unwrap();
    assert!(st
        .iter()
        .all(|c| c.pending == 0 && c.dead == 0 && c.pending_generations == 0));
}

/// A filter applies exactly: an offer leaving it is withdrawn from that consumer only;
/// and a 1 % change sends about 1 % of the bytes of the full snapshot.
async fn filters_and_deltas_are_small(db: &TestDb) {
    std::env::set_var(KEY_ENV, std::str::from_utf8(KEY).unwrap());
    let store = db.open().await;
    let dir = tempfile::tempdir().unwrap();
    let all = Receiver::start(Fault::None).await;
    let only44 = Receiver::start(Fault::None).await;
    let mut toml = push_header().to_owned();
    toml.push_str(
        &consumer_toml("all", &all.url, "").replace("max_offres = 4", "max_offres = 500"),
    );
    toml.push_str(&consumer_toml(
        "only44",
        &only44.url,
        "filter = { departements = [\"44\"] }",
    ));
    let cfg = push::load_push_config(&toml).unwrap();
    push::outbox::sync_consumers(&store, &cfg).await.unwrap();
    let text = import_generated(&store, dir.path(), 3000, 42).await;
    let e1 = export(&store, dir.path()).await;
    let opts = PushOptions {
        consumer: None,
        max_wait: Duration::from_secs(5),
    };
    push::push_once(&store, &cfg, &opts).await.unwrap();
    let full_bytes = all.st().bytes;
    let expected = published(&store).await;
    check_receiver("all", &all, &expected);
    let only: usize = only44.st().offres.len();
    assert!(
        only > 0 && only < expected.len(),
        "{only} of {}",
        expected.len()
    );
    for frag in only44.st().offres.values() {
        assert!(
            frag.contains("<codepostal>44"),
            "only offers with a place in 44"
        );
    }

    import_one_percent_edit(&store, dir.path(), &text, "1 %").await;
    let e2 = export(&store, dir.path()).await;
    push::push_once(&store, &cfg, &opts).await.unwrap();
    check_receiver("all", &all, &published(&store).await);
    let delta_bytes = all.st().bytes - full_bytes;
    let share = delta_bytes as f64 / full_bytes as f64;
    let changed = e2["updated"].as_f64().unwrap() / e1["published"].as_f64().unwrap();
    eprintln!(
        "{:?}: full {full_bytes} bytes, 1 % delta {delta_bytes} bytes ({:.2} %, {:.2} % of offers changed)",
        db.backend,
        100.0 * share,
        100.0 * changed
    );
    assert!(
        share < 2.0 * changed + 0.005,
        "a {:.2} % change sent {:.2} % of the snapshot's bytes",
        100.0 * changed,
        100.0 * share
    );
}

/// The fixtures' lines, each edited by `edit` (which may drop it by returning false).
fn fixture_lines(dir: &Path, name: &str, edit: impl Fn(&mut Value) -> bool) -> PathBuf {
    let mut out = String::new();
    for line in std::fs::read_to_string(FIXTURES).unwrap().lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        if edit(&mut v) {
            out.push_str(&v.to_string());
            out.push('\n');
        }
    }
    let p = dir.join(name);
    std::fs::write(&p, out).unwrap();
    p
}

const CLES_AVENIR: &str = "PROGRAMME REGION - PREPA Clés Avenir";
const AVENIR_SUP: &str = "PROGRAMME REGION - PREPA Avenir Sup";
/// The fixtures' Mayenne (53) offers, and the organismes whose sites are all there.
const MAYENNE: [&str; 3] = ["19801-90412", "19855-90501", "20102-90911"];
const MAYENNE_ORGANISMES: [&str; 2] = ["52904418200275", "89033214100195"];

/// The fixtures with (`moved`) or without the moves: the Mayenne sites in Nantes, offer
/// 19801-90412 under lot PCA2025_2 instead of PCA2025_6, offer 19802-90420 under PREPA
/// Avenir Sup instead of Clés Avenir.
fn moves(dir: &Path, name: &str, moved: bool) -> PathBuf {
    fixture_lines(dir, name, |v| {
        if !moved {
            return true;
        }
        if let Some(o) = v.get_mut("organisme") {
            if MAYENNE_ORGANISMES.contains(&o["siret"].as_str().unwrap()) {
                for site in o["sites"].as_array_mut().unwrap() {
                    site["adresse"]["code_postal"] = Value::from("44000");
                    site["adresse"]["ville"] = Value::from("Nantes");
                    site["adresse"]["code_insee"] = Value::from("44109");
                }
            }
        }
        if let Some(o) = v.get_mut("offre") {
            let numero = o["numero"].as_str().unwrap().to_owned();
            for session in o["sessions"].as_array_mut().unwrap() {
                let d = &mut session["dispositif"];
                if numero == "19801-90412" {
                    d["numero_lot_cr"] = Value::from("PCA2025_2");
                }
                if numero == "19802-90420" {
                    d["programme"] = Value::from(AVENIR_SUP);
                }
            }
        }
        true
    })
}

/// The published offers a filter lets through, by the published values (programmes,
/// départements) and the lots the fragments name.
async fn filtered(
    store: &Store,
    programme: &str,
    departement: &str,
    lot: &str,
) -> BTreeMap<String, String> {
    let all = published(store).await;
    let mut out = BTreeMap::new();
    for (code, programmes, departements) in store.published_filters().await.unwrap() {
        let n = code.to_string();
        let fragment = &all[&n];
        let ok = (programme.is_empty() || programmes.contains(&format!("\"{programme}\"")))
            && (departement.is_empty() || departements.contains(&format!("\"{departement}\"")))
            && (lot.is_empty()
                || fragment.contains(&format!("<extra info=\"numero-lot-cr\">{lot}</extra>")));
        if ok {
            out.insert(n, fragment.clone());
        }
    }
    out
}

/// Offers leaving a consumer's filter (their sites move to another département, their lot
/// or programme changes) are withdrawn from that consumer only, explicitly; coming back
/// into it, they are sent again. Département, lot and programme filters.
async fn offers_leave_and_enter_filters(db: &TestDb) {
    std::env::set_var(KEY_ENV, std::str::from_utf8(KEY).unwrap());
    let store = db.open().await;
    let dir = tempfile::tempdir().unwrap();
    // (name, programme, département, lot): each consumer's filter.
    let filters = [
        ("all", "", "", ""),
        ("dep53", "", "53", ""),
        ("lot", "", "", "PCA2025_6"),
        ("cles", CLES_AVENIR, "", ""),
        ("sup", AVENIR_SUP, "", ""),
    ];
    let mut toml = push_header().to_owned();
    let mut receivers = Vec::new();
    for (name, programme, departement, lot) in filters {
        let r = Receiver::start(Fault::None).await;
        let list = |v: &str| {
            if v.is_empty() {
                String::new()
            } else {
                format!("\"{v}\"")
            }
        };
        let filter = format!(
            "filter = {{ programmes = [{}], departements = [{}], dispositifs = [{}] }}",
            list(programme),
            list(departement),
            list(lot)
        );
        toml.push_str(&consumer_toml(name, &r.url, &filter));
        receivers.push(r);
    }
    let cfg = push::load_push_config(&toml).unwrap();
    push::outbox::sync_consumers(&store, &cfg).await.unwrap();
    let opts = PushOptions {
        consumer: None,
        max_wait: Duration::from_secs(5),
    };
    let mut held: Vec<BTreeMap<String, String>> = Vec::new();
    for (step, moved) in [false, true, false].into_iter().enumerate() {
        import(&store, &moves(dir.path(), &format!("g{step}.jsonl"), moved)).await;
        export(&store, dir.path()).await;
        push::push_once(&store, &cfg, &opts).await.unwrap();
        let now: Vec<BTreeMap<String, String>> = {
            let mut v = Vec::new();
            for (_, programme, departement, lot) in filters {
                v.push(filtered(&store, programme, departement, lot).await);
            }
            v
        };
        for ((name, ..), (r, want)) in filters.iter().zip(receivers.iter().zip(&now)) {
            // (Mayenne and lot PCA2025_6 are empty while moved.)
            let empty_now = moved && ["dep53", "lot"].contains(name);
            assert_eq!(want.is_empty(), empty_now, "{name} at step {step}");
            check_receiver(name, r, want);
        }
        held = now;
        let has = |i: usize, n: &str| receivers[i].st().offres.contains_key(n);
        for n in MAYENNE {
            assert_eq!(has(1, n), !moved, "dep53 and {n} after step {step}");
            assert!(has(0, n), "the unfiltered consumer keeps {n}");
        }
        assert_eq!(has(2, "19801-90412"), !moved, "lot, step {step}");
        assert_eq!(has(3, "19802-90420"), !moved, "cles, step {step}");
        assert_eq!(has(4, "19802-90420"), moved, "sup, step {step}");
    }
    assert_eq!(held.len(), filters.len());
    // The exits were explicit withdrawals (not a consumer left to find out by itself).
    let retrait = |i: usize, n: &str| {
        receivers[i]
            .st()
            .states
            .contains_key(&(n.to_owned(), "retrait".to_owned()))
    };
    for n in MAYENNE {
        assert!(retrait(1, n) && !retrait(0, n), "{n}");
    }
    assert!(retrait(2, "19801-90412") && retrait(3, "19802-90420") && retrait(4, "19802-90420"));
    // Mayenne's and the lot's withdrawals came alone: withdrawals-only documents, validated
    // against schemas/retraits.xsd.
    for i in [1, 2] {
        assert!(receivers[i].st().retraits_only >= 1, "{}", filters[i].0);
    }
}

// ----- The binary: dead letters, replay, kill -9 ------------------------------------------

fn bin(db: &TestDb, config: &Path, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_lheo-feed"));
    c.arg("--database-url")
        .arg(&db.url)
        .arg("--config")
        .arg(config)
        .arg("--today")
        .arg(TODAY)
        .args(args)
        .env(KEY_ENV, std::str::from_utf8(KEY).unwrap())
        .env_remove("LHEO_FEED_TEST_PAUSE_AT");
    c
}

fn ok(mut c: std::process::Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Imports the fixtures and exports them to `dir/lheo.xml` with `config`: the first
/// generation, whose outbox rows the binary's pushers then take.
fn publish_fixtures(db: &TestDb, config: &Path, dir: &Path) {
    let out = dir.join("lheo.xml");
    ok(bin(db, config, &["import", FIXTURES]));
    ok(bin(db, config, &["export", "--out", out.to_str().unwrap()]));
}

async fn dead_letter_then_replay(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(Fault::Refuse).await;
    let config = dir.path().join("lheo-feed.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nfilter = \"info\"\n{}{}",
            push_header(),
            consumer_toml("kairos", &r.url, "")
        ),
    )
    .unwrap();
    publish_fixtures(db, &config, dir.path());
    let run = |args: &'static [&'static str]| {
        let c = bin(db, &config, args);
        async move { tokio::task::spawn_blocking(move || ok(c)).await.unwrap() }
    };
    run(&["push", "--once", "--max-wait", "2s"]).await;
    let status: Value = serde_json::from_str(&run(&["deliveries", "--json"]).await).unwrap();
    let k = &status[0];
    assert!(k["dead"].as_u64().unwrap() >= 1, "{status:#}");
    let dead = &k["dead_letters"][0];
    assert_eq!(dead["status"], 400, "{dead}");
    assert!(dead["response"].as_str().unwrap().contains("schéma refusé"));
    let text = run(&["deliveries"]).await;
    assert!(
        text.contains("dead letter") && text.contains("400"),
        "{text}"
    );
    assert!(r.st().offres.is_empty());

    r.st().fixed = true;
    let ids: Vec<String> = k["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].to_string())
        .collect();
    for id in ids {
        let c = bin(db, &config, &["deliveries", "replay", &id]);
        tokio::task::spawn_blocking(move || ok(c)).await.unwrap();
    }
    run(&["push", "--once", "--max-wait", "2s"]).await;
    let store = db.open().await;
    check_receiver("kairos", &r, &published(&store).await);
    let status: Value = serde_json::from_str(&run(&["deliveries", "--json"]).await).unwrap();
    assert_eq!(status[0]["dead"], 0, "{status:#}");
    assert_eq!(status[0]["pending"], 0, "{status:#}");
}

async fn killed_pusher_resends_under_the_same_id(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(Fault::Hold(3)).await;
    let config = dir.path().join("lheo-feed.toml");
    std::fs::write(
        &config,
        format!(
            "{}{}",
            push_header(),
            consumer_toml("ouiform", &r.url, "").replace("max_offres = 4", "max_offres = 2")
        ),
    )
    .unwrap();
    publish_fixtures(db, &config, dir.path());
    // The long-running pusher; killed while the receiver holds a request.
    let mut child = bin(db, &config, &["push"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Waits on the condition (the third request applied and held, unanswered), not on
    // time: a loaded machine only makes it come later.
    let t0 = std::time::Instant::now();
    while !r.st().holding {
        assert!(t0.elapsed() < Duration::from_secs(60), "the pusher sends");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL, mid-request
    child.wait().unwrap();
    r.st().released = true;
    let applied_at_kill = r.st().applied.len();
    let c = bin(db, &config, &["push", "--once", "--max-wait", "10s"]);
    tokio::task::spawn_blocking(move || ok(c)).await.unwrap();
    let store = db.open().await;
    check_receiver("ouiform", &r, &published(&store).await);
    let s = r.st();
    assert!(
        s.duplicates >= 1,
        "the batch in flight at the kill was sent again under its id ({} applied at the kill, {} duplicates)",
        applied_at_kill,
        s.duplicates
    );
}

/// `deliveries baseline`: consumers that loaded the snapshot by file (here: preloaded with
/// exactly what twin consumers received over HTTP) get no request for it, and after a 1 %
/// change they end with the same offers as the twins, having received only the change.
/// Refused, with what to do, for a stale generation, batches waiting, a pusher's lease.
async fn a_baseline_skips_the_first_delivery(db: &TestDb) {
    std::env::set_var(KEY_ENV, std::str::from_utf8(KEY).unwrap());
    let store = db.open().await;
    let dir = tempfile::tempdir().unwrap();
    let text = import_generated(&store, dir.path(), 3000, 7).await;
    // Three filters (none, a département, a lot), each with a consumer fed over HTTP and
    // one fed by file.
    let filters = [
        ("all", String::new()),
        ("dep", "filter = { departements = [\"44\"] }".to_owned()),
        // The generator draws lots LOT2025_1 to LOT2025_60.
        (
            "lot",
            "filter = { dispositifs = [\"LOT2025_4\", \"LOT2025_24\"] }".to_owned(),
        ),
    ];
    let mut toml = push_header().to_owned();
    let mut http = Vec::new();
    let mut file = Vec::new();
    for (name, filter) in &filters {
        let h = Receiver::start(Fault::None).await;
        let f = Receiver::start(Fault::None).await;
        for (n, r) in [(format!("{name}-http"), &h), (format!("{name}-file"), &f)] {
            toml.push_str(
                &consumer_toml(&n, &r.url, filter).replace("max_offres = 4", "max_offres = 200"),
            );
        }
        http.push(h);
        file.push(f);
    }
    let config = dir.path().join("lheo-feed.toml");
    std::fs::write(&config, &toml).unwrap();
    let cfg = push::load_push_config(&toml).unwrap();
    push::outbox::sync_consumers(&store, &cfg).await.unwrap();
    let e1 = export(&store, dir.path()).await;
    let g1 = e1["generation"].as_i64().unwrap();

    // Refusals: no change made by any of them.
    let name = |i: usize, kind: &str| format!("{}-{kind}", filters[i].0);
    let baseline = |name: String, generation: i64| {
        let (store, cfg) = (&store, &cfg);
        async move {
            push::outbox::baseline(store, cfg, &name, generation)
                .await
                .unwrap()
        }
    };
    let command = |generation: i64| {
        let g = generation.to_string();
        let args = [
            "deliveries",
            "baseline",
            "--consumer",
            "all-file",
            "--generation",
            &g,
        ];
        bin(db, &config, &[&args[..], &["--json"]].concat())
    };
    let refused = baseline("nobody".into(), g1).await.unwrap_err();
    assert!(refused.contains("not in the configuration"), "{refused}");
    let out = command(g1 + 1).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("current one ({g1})")), "{err}");
    let lease = std::collections::HashMap::new();
    let owner = push::outbox::claim(&store, &[name(1, "file")], "test-pusher", &lease)
        .await
        .unwrap();
    assert_eq!(owner.as_deref(), Some(name(1, "file").as_str()));
    let refused = baseline(name(1, "file"), g1).await.unwrap_err();
    assert!(refused.contains("test-pusher"), "{refused}");
    push::outbox::release(&store, &name(1, "file"), "test-pusher")
        .await
        .unwrap();

    // Baselines, by the command line for one, by the library for the others.
    let b: Value = serde_json::from_str(&ok(command(g1))).unwrap();
    assert_eq!(b["generation"], g1, "{b}");
    assert_eq!(b["offres"], e1["published"], "{b}");
    assert_eq!(b["deliveries"], 1, "{b}");
    for i in 1..filters.len() {
        let b = baseline(name(i, "file"), g1).await.unwrap();
        assert!(
            b.offres > 0 && b.offres < e1["published"].as_u64().unwrap(),
            "{b:?}"
        );
    }
    let opts = PushOptions {
        consumer: None,
        max_wait: Duration::from_secs(5),
    };
    push::push_once(&store, &cfg, &opts).await.unwrap();
    for (i, (h, f)) in http.iter().zip(&file).enumerate() {
        assert_eq!(
            f.st().requests,
            0,
            "{}: nothing sent for the baseline",
            name(i, "file")
        );
        let held = h.st().offres.clone();
        assert!(!held.is_empty(), "{}", name(i, "http"));
        let b = baseline(name(i, "file"), g1).await.unwrap();
        assert_eq!(
            b.offres as usize,
            held.len(),
            "{}: holds what its twin received",
            name(i, "file")
        );
        // What the consumer loaded from the file.
        f.st().offres = held;
    }
    let status = push::outbox::status(&store, None).await.unwrap();
    for c in status.iter().filter(|c| c.name.ends_with("-file")) {
        assert_eq!(c.delivered_generation, Some(g1), "{c:?}");
        assert!(
            !c.resync && c.pending_generations == 0 && c.pending == 0,
            "{c:?}"
        );
    }

    // A 1 % change: each file consumer gets the change only, and ends like its twin.
    import_one_percent_edit(&store, dir.path(), &text, "base").await;
    let e2 = export(&store, dir.path()).await;
    assert!(e2["updated"].as_u64().unwrap() > 0, "{e2}");
    // Batches formed but not sent yet: a baseline now would lose them from the record.
    let c0 = cfg.consumer(&name(0, "file")).unwrap();
    let formed = push::outbox::form(&store, c0).await.unwrap();
    assert!(formed.batches > 0, "{formed:?}");
    let refused = baseline(name(0, "file"), e2["generation"].as_i64().unwrap())
        .await
        .unwrap_err();
    assert!(refused.contains("waiting to be sent"), "{refused}");
    let before: Vec<u64> = http.iter().map(|h| h.st().bytes).collect();
    push::push_once(&store, &cfg, &opts).await.unwrap();
    let expected = published(&store).await;
    check_receiver(&name(0, "http"), &http[0], &expected);
    for (i, (h, f)) in http.iter().zip(&file).enumerate() {
        let (h, f) = (h.st(), f.st());
        assert!(
            f.offres == h.offres,
            "{}: the same offers as its twin",
            name(i, "file")
        );
        assert_eq!(
            f.bytes,
            h.bytes - before[i],
            "{}: only the change was sent",
            name(i, "file")
        );
        assert!(
            f.requests > 0 || h.bytes == before[i],
            "{}",
            name(i, "file")
        );
    }
}

/// A consumer that cannot be reached: its oldest batch waits for its retry, and the later
/// ones (never tried, so due at once) wait behind it, since batches go in order. `push
/// --once` must see the oldest one's time, and return when it is past `--max-wait`; it
/// used to take the later ones' for "due now" and spin, claiming the consumer and reading
/// the oldest batch again and again, until that retry came.
async fn a_batch_waiting_for_its_retry_holds_back_push_once_without_spinning(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    // A listener that never accepts: the request times out, a failure worth retrying. (A
    // closed port could be taken meanwhile by another test's receiver.)
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = silent.local_addr().unwrap();
    let config = dir.path().join("lheo-feed.toml");
    std::fs::write(
        &config,
        format!(
            "{}[[consumers]]\nname = \"ouiform\"\nurl = \"http://{closed}/lheo\"\n\
             timeout = \"700ms\"\nmax_offres = 4\nretry_schedule = [\"0s\", \"1h\", \"1h\", \"1h\"]\n",
            push_header()
        ),
    )
    .unwrap();
    publish_fixtures(db, &config, dir.path());
    let started = std::time::Instant::now();
    let c = bin(
        db,
        &config,
        &["push", "--once", "--max-wait", "5s", "--json"],
    );
    let said = tokio::task::spawn_blocking(move || ok(c)).await.unwrap();
    let took = started.elapsed();
    // Once an attempt has failed, the retry is drawn between 0 and 1 h (full jitter,
    // `push::retry`): past --max-wait but for one draw in 720, so nothing is left to wait
    // for. (Steps of 20 s put one retry in four inside the 5 s window: the push then
    // waited, failed again, and now and then took over 10 s and made a dead letter.)
    assert!(
        took < Duration::from_secs(10),
        "push --once took {took:?}: {said}"
    );
    let status: Value =
        serde_json::from_str(&ok(bin(db, &config, &["deliveries", "--json"]))).unwrap();
    let c = &status[0];
    assert!(
        c["pending"].as_u64().unwrap() >= 2,
        "several batches wait: {status:#}"
    );
    assert_eq!(c["dead"], 0, "{status:#}");
    drop(silent);
}

backend_tests!(
    a_batch_waiting_for_its_retry_holds_back_push_once_without_spinning,
    faults_lose_nothing_and_apply_nothing_twice,
    offers_leave_and_enter_filters,
    a_baseline_skips_the_first_delivery,
    filters_and_deltas_are_small,
    dead_letter_then_replay,
    killed_pusher_resends_under_the_same_id
);

/// The shipped example configuration, its URLs pointed at three loopback receivers and
/// its secret files at temporary ones, delivers the fixtures to all three consumers.
#[tokio::test]
async fn the_example_configuration_delivers_the_fixtures() {
    let db = common::sqlite_db();
    let store = db.open().await;
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let mut text = std::fs::read_to_string("deploy/lheo-feed.example.toml").unwrap();
    let mut receivers = Vec::new();
    for (name, host) in [
        (
            "offre-info",
            "https://offre-info.example.invalid/api/lheo/sessions",
        ),
        ("kairos", "https://kairos.example.invalid/ingest/lheo"),
        ("ouiform", "https://ouiform.example.invalid/webhooks/offre"),
    ] {
        let r = Receiver::start(Fault::None).await;
        assert!(text.contains(host), "{host} in the example");
        text = text.replace(host, &r.url);
        receivers.push((name, r));
    }
    text = text.replace("/run/secrets/", &format!("{}/", secrets.display()));
    for f in ["kairos-password", "kairos-whsec-old", "ouiform-token"] {
        std::fs::write(secrets.join(f), "not-the-signing-key\n").unwrap();
    }
    // The signing key every receiver checks; whsec_ + base64, as Standard Webhooks writes it.
    let whsec = format!(
        "whsec_{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, KEY)
    );
    std::fs::write(secrets.join("kairos-whsec"), &whsec).unwrap();
    for var in [
        "LHEO_FEED_OFFRE_INFO_TOKEN",
        "LHEO_FEED_OFFRE_INFO_WHSEC",
        "LHEO_FEED_OUIFORM_WHSEC",
    ] {
        std::env::set_var(
            var,
            if var.ends_with("WHSEC") {
                &whsec
            } else {
                "t0ken"
            },
        );
    }
    let mut cfg = push::load_push_config(&text).unwrap();
    // The SFTP drop of the example is exercised by tests/sftp.rs against a real server.
    cfg.consumers.retain(|c| c.http().is_some());
    assert_eq!(cfg.consumers.len(), 3);
    import(&store, Path::new(FIXTURES)).await;
    export(&store, dir.path()).await;
    let s = push::push_once(&store, &cfg, &PushOptions::default())
        .await
        .unwrap();
    let expected = published(&store).await;
    check_receiver("offre-info", &receivers[0].1, &expected);
    check_receiver("kairos", &receivers[1].1, &expected);
    let ouiform = receivers[2].1.st().offres.len();
    assert!(
        ouiform > 0 && ouiform <= expected.len(),
        "ouiform's filter: {ouiform} of {}",
        expected.len()
    );
    assert!(s.consumers.iter().all(|c| c.dead_letters == 0), "{s:?}");
}
