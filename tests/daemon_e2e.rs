//! End to end (issue 7): one `lheo-feed run` process — scheduler, feed server and pusher
//! together — on real SQLite and PostgreSQL, with three real HTTP receivers on loopback
//! that verify the Standard Webhooks signature and deduplicate on `webhook-id`, a partner
//! pulling the feed, and the operator queueing runs over HTTP. The catch-up export at
//! start-up reaches all three consumers once; an on-demand run that changes nothing sends
//! nothing; an edited session reaches each consumer alone, under a new `webhook-id`, and
//! the partner's changes feed; the status page and `/metrics` say so; SIGTERM stops it
//! cleanly. Keys are generated per test run, never written in the repository.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chrono::Timelike;
use common::{assert_schema_valid, TestDb};
use lheo_feed::push::wire;
use serde_json::Value;

const TODAY: &str = "2025-06-02";
const FIXTURES: &str = "fixtures/offres.jsonl";
const ADMIN_KEY_ENV: &str = "LHEO_E2E_ADMIN_KEY";
const CONSUMERS: [&str; 3] = ["e2e-plain", "e2e-small-batches", "e2e-gzip"];

/// A random hex key of `bytes` bytes: generated per run, so no key is in the repository.
fn random_key(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

// ----- The receivers ----------------------------------------------------------------------

/// One applied batch.
#[derive(Clone, Debug)]
struct Batch {
    webhook_id: String,
    generation: i64,
    document: String,
    /// The `<formation>` numeros it carries, in order.
    numeros: Vec<String>,
}

#[derive(Default)]
struct Seen {
    requests: u32,
    bad_signatures: u32,
    duplicates: u32,
    applied: Vec<Batch>,
}

#[derive(Clone)]
struct Receiver {
    key: Arc<Vec<u8>>,
    seen: Arc<Mutex<Seen>>,
    url: String,
}

impl Receiver {
    async fn start(key: &str) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            key: Arc::new(key.as_bytes().to_vec()),
            seen: Arc::default(),
            url: format!("http://{}/lheo", listener.local_addr().unwrap()),
        };
        let state = r.clone();
        let app = axum::Router::new()
            .route(
                "/lheo",
                axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                    let r = state.clone();
                    async move { r.receive(&headers, &body) }
                }),
            )
            .layer(axum::extract::DefaultBodyLimit::max(64 << 20));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn receive(&self, headers: &HeaderMap, body: &[u8]) -> StatusCode {
        let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut seen = self.seen();
        seen.requests += 1;
        let id = h("webhook-id").to_owned();
        let ts: i64 = h("webhook-timestamp").parse().unwrap_or(0);
        if !wire::verify(&self.key, &id, ts, body, h("webhook-signature"))
            || (chrono::Utc::now().timestamp() - ts).abs() > 300
        {
            seen.bad_signatures += 1;
            return StatusCode::UNAUTHORIZED;
        }
        if seen.applied.iter().any(|b| b.webhook_id == id) {
            seen.duplicates += 1;
            return StatusCode::NO_CONTENT;
        }
        let raw = if h("content-encoding") == "gzip" {
            let mut out = Vec::new();
            if flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .is_err()
            {
                return StatusCode::BAD_REQUEST;
            }
            out
        } else {
            body.to_vec()
        };
        let Ok(document) = String::from_utf8(raw) else {
            return StatusCode::BAD_REQUEST;
        };
        seen.applied.push(Batch {
            webhook_id: id,
            generation: h("lheo-feed-generation").parse().unwrap_or(-1),
            numeros: formations(&document),
            document,
        });
        StatusCode::NO_CONTENT
    }

    fn batches(&self) -> Vec<Batch> {
        self.seen().applied.clone()
    }

    /// Every offer received so far, with how many times.
    fn offer_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for b in &self.seen().applied {
            for n in &b.numeros {
                *counts.entry(n.clone()).or_default() += 1;
            }
        }
        counts
    }
}

/// The `numero`s of the `<formation>`s of a LHÉO document.
fn formations(text: &str) -> Vec<String> {
    text.split("<formation numero=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

// ----- The binary -------------------------------------------------------------------------

/// `lheo-feed --config FILE ARGS`, with a clean environment: the configuration file and
/// the key variables are all it sees.
fn command(config: &Path, keys: &[(String, String)], args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lheo-feed"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("--config")
        .arg(config)
        .args(args);
    for (k, v) in keys {
        c.env(k, v);
    }
    c
}

/// Runs a command to completion off the runtime's thread (the receivers run on it).
async fn ok(mut c: Command) -> String {
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The daemon, its stderr lines collected by a thread into a channel the test awaits.
struct Daemon {
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    log: Vec<String>,
}

impl Daemon {
    fn start(mut c: Command) -> Daemon {
        let mut child = c
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// The first line containing `what` (from now on), within `within`.
    async fn wait_for(&mut self, what: &str, within: Duration) -> String {
        let end = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(end, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.log.push(line.clone());
                    if line.contains(what) {
                        return line;
                    }
                }
                _ => panic!(
                    "no daemon log line with {what:?} within {within:?}; stderr so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Whatever the daemon logged so far (for failure messages).
    fn drain(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        self.log.join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` every 50 ms until it gives `Some`, or fails after `within` with `what`.
async fn until<T, F, Fut>(within: Duration, what: impl Fn() -> String, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < end, "not within {within:?}: {}", what());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ----- The configuration ------------------------------------------------------------------

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    out: PathBuf,
    /// The variables holding the admin key and the consumers' signing keys.
    keys: Vec<(String, String)>,
    admin_key: String,
    receivers: Vec<Receiver>,
}

/// A daily slot at a whole hour about twelve hours away (UTC): it last fired within the
/// catch-up window, so the start-up catches it up, and does not fire during the test.
fn far_slot() -> String {
    let hour = (chrono::Utc::now().hour() + 12) % 24;
    format!("0 0 {hour} * * *")
}

async fn setup(db: &TestDb) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out").join("lheo.xml");
    let admin_key = random_key(24);
    let mut keys = vec![(ADMIN_KEY_ENV.to_owned(), admin_key.clone())];
    let mut receivers = Vec::new();
    let mut consumers = String::new();
    for (i, name) in CONSUMERS.iter().enumerate() {
        // Each consumer its own signing key, raw bytes (no whsec_ prefix).
        let key = random_key(32);
        let var = format!("LHEO_E2E_WHSEC_{i}");
        let r = Receiver::start(&key).await;
        let extra = match i {
            1 => "max_offres = 5\n",
            2 => "gzip = true\n",
            _ => "",
        };
        consumers.push_str(&format!(
            "[[consumers]]\nname = \"{name}\"\nurl = \"{}\"\n\
             signing_secrets = [{{ env = \"{var}\" }}]\ntimeout = \"2s\"\n\
             retry_schedule = [\"0s\", \"20ms\", \"50ms\", \"100ms\", \"200ms\"]\n{extra}\n",
            r.url
        ));
        keys.push((var, key));
        receivers.push(r);
    }
    let config = dir.path().join("lheo-feed.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\ndatabase_url = \"{url}\"\n\n\
             [export]\nout = \"{out}\"\ntoday = \"{TODAY}\"\n\n\
             [schedule]\ncron = \"{cron}\"\ntimezone = \"UTC\"\ncatch_up = true\n\
             catch_up_window_hours = 36\npoll_seconds = 1\nshutdown_grace_seconds = 5\n\n\
             [serve]\nlisten = \"127.0.0.1:0\"\nadmin_key_env = \"{ADMIN_KEY_ENV}\"\n\n\
             [log]\nformat = \"human\"\nfilter = \"info\"\n\n\
             [push]\nconcurrency = 4\nlease_margin = \"300ms\"\npoll_interval = \"100ms\"\n\n\
             {consumers}",
            url = db.url,
            out = out.display(),
            cron = far_slot(),
        ),
    )
    .unwrap();
    Setup {
        dir,
        config,
        out,
        keys,
        admin_key,
        receivers,
    }
}

// ----- HTTP -------------------------------------------------------------------------------

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {:?}", r.headers()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// `GET /admin/runs/{id}` until the run is no longer queued or running.
async fn finished_run(base: &str, admin_key: &str, id: i64) -> Value {
    let url = format!("{base}/admin/runs/{id}");
    until(
        Duration::from_secs(20),
        || format!("run {id} did not finish"),
        || async {
            let r = client()
                .get(&url)
                .bearer_auth(admin_key)
                .send()
                .await
                .ok()?;
            assert_eq!(r.status(), reqwest::StatusCode::OK);
            let v: Value = r.json().await.unwrap();
            (v["state"] != "queued" && v["state"] != "running").then_some(v)
        },
    )
    .await
}

/// `POST /admin/runs` with the admin key: 202 and the run's id.
async fn request_run(base: &str, admin_key: &str) -> i64 {
    let r = client()
        .post(format!("{base}/admin/runs"))
        .bearer_auth(admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["state"], "queued", "{v}");
    v["run"]
        .as_i64()
        .unwrap_or_else(|| panic!("no run id in {v}"))
}

/// The status page's consumer rows: name → (delivered generation, lag) as shown.
async fn consumer_rows(
    base: &str,
    admin_key: &str,
) -> (String, BTreeMap<String, (String, String)>) {
    let r = client()
        .get(format!("{base}/"))
        .basic_auth("admin", Some(admin_key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let html = r.text().await.unwrap();
    let table = html
        .split("<table id=\"consumers\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap_or_else(|| panic!("no consumers table:\n{html}"))
        .to_owned();
    let mut rows = BTreeMap::new();
    for row in table.split("<tr><td>").skip(1) {
        let cells: Vec<&str> = row
            .split("</td>")
            .map(|c| {
                c.trim_start_matches("<td>")
                    .trim_start_matches("<td class=\"err\">")
            })
            .collect();
        rows.insert(
            cells[0].to_owned(),
            (cells[1].to_owned(), cells[2].to_owned()),
        );
    }
    (html, rows)
}

/// A published session of the exported document, its `rythmes` edited, as an import line
/// (as in tests/generations.rs): a change to exactly one offer.
fn edited_published_session(exported: &Path) -> (String, Value) {
    let text = std::fs::read_to_string(exported).unwrap();
    let code = text
        .split("<session numero=\"")
        .nth(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .expect("the fixtures export a session");
    for line in std::fs::read_to_string(FIXTURES).unwrap().lines() {
        let line: Value = serde_json::from_str(line).unwrap();
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

// ----- The test ---------------------------------------------------------------------------

async fn one_daemon_exports_serves_and_pushes(db: &TestDb) {
    let t0 = Instant::now();
    let s = setup(db).await;
    let cmd = |args: &[&str]| command(&s.config, &s.keys, args);
    // The Region file first, as the Cariforef does: its lots decide which of the fixtures'
    // sessions are published (fixtures/expectations.json).
    ok(cmd(&["import-region", "fixtures/region-2025.csv"])).await;
    ok(cmd(&["import", FIXTURES])).await;
    let partner: Value = serde_json::from_str(&ok(cmd(&["partner", "add", "p", "--json"])).await)
        .expect("partner add --json");
    let partner_key = partner["key"].as_str().unwrap().to_owned();

    let mut daemon = Daemon::start(cmd(&["run"]));
    let line = daemon
        .wait_for("lheo-feed serve: listening", Duration::from_secs(20))
        .await;
    let addr = line
        .split("addr=")
        .nth(1)
        .and_then(|a| a.split_whitespace().next())
        .unwrap_or_else(|| panic!("no addr= in {line:?}"));
    let base = format!("http://{addr}");

    // (a) The catch-up export makes generation 1, and each receiver gets every published
    // offer exactly once, in signed LHÉO documents valid against the official XSD.
    let ready = until(
        Duration::from_secs(20),
        || "GET /ready never said generation 1".to_owned(),
        || async {
            let r = client().get(format!("{base}/ready")).send().await.ok()?;
            (r.status() == reqwest::StatusCode::OK).then_some(())?;
            r.text().await.ok()
        },
    )
    .await;
    assert_eq!(ready.trim(), "ready: generation 1");
    // The server answers from the generation's own file once the generation commits; the
    // stable name is pointed at that file just after the commit, so it may lag by moments.
    let snapshot = until(
        Duration::from_secs(20),
        || format!("{} never appeared after generation 1", s.out.display()),
        || async { std::fs::read_to_string(&s.out).ok() },
    )
    .await;
    let published: BTreeSet<String> = formations(&snapshot).into_iter().collect();
    assert_eq!(published.len(), 23, "the fixtures publish 23 formations");
    for (name, r) in CONSUMERS.iter().zip(&s.receivers) {
        until(
            Duration::from_secs(20),
            || format!("{name} has {:?}", r.offer_counts().len()),
            || async { (r.offer_counts().len() >= published.len()).then_some(()) },
        )
        .await;
    }
    let log = daemon.drain();
    assert!(
        log.lines()
            .any(|l| l.contains("catching up the slot missed while stopped") && l.contains("run=1")),
        "{log}"
    );
    for (name, r) in CONSUMERS.iter().zip(&s.receivers) {
        let counts = r.offer_counts();
        assert_eq!(
            counts.keys().cloned().collect::<BTreeSet<_>>(),
            published,
            "{name}: exactly the published offers"
        );
        assert!(
            counts.values().all(|&n| n == 1),
            "{name}: each once: {counts:?}"
        );
        let batches = r.batches();
        assert!(batches.iter().all(|b| b.generation == 1), "{name}");
        for (i, b) in batches.iter().enumerate() {
            if b.document.starts_with("<?xml") && b.document.contains("<lheo ") {
                let f = s.dir.path().join(format!("{name}-{i}.xml"));
                std::fs::write(&f, &b.document).unwrap();
                assert_schema_valid(&f);
            }
        }
        let seen = r.seen();
        assert_eq!(seen.bad_signatures, 0, "{name}");
    }
    // max_offres = 5 splits the 23 offers into 5 requests.
    assert_eq!(s.receivers[1].batches().len(), 5);
    assert_eq!(s.receivers[0].batches().len(), 1);

    // (b) The partner downloads the export's file; its cursor is kept for (d).
    let r = client()
        .get(format!("{base}/feed/lheo.xml"))
        .bearer_auth(&partner_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(header(&r, "lheo-feed-generation"), "1");
    let cursor = header(&r, "lheo-feed-cursor");
    assert_eq!(r.text().await.unwrap(), snapshot);
    let r = client()
        .get(format!("{base}/feed/lheo.xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);

    // (c) An on-demand run over HTTP; refused without the key (and with a wrong one).
    for key in [None, Some("not-the-admin-key-0123456789")] {
        let mut req = client().post(format!("{base}/admin/runs"));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        assert_eq!(
            req.send().await.unwrap().status(),
            reqwest::StatusCode::UNAUTHORIZED
        );
    }
    let before: Vec<usize> = s.receivers.iter().map(|r| r.batches().len()).collect();
    let id = request_run(&base, &s.admin_key).await;
    assert_eq!(id, 2, "the catch-up was run 1");
    let run = finished_run(&base, &s.admin_key, id).await;
    assert_eq!(run["state"], "succeeded", "{run:#}\n{}", daemon.drain());
    assert_eq!(run["kind"], "on_demand");
    let g2 = run["generation_id"].as_i64().unwrap();
    assert_eq!(g2, 2, "{run:#}");
    // Nothing changed: each consumer is up to date with generation 2, without a request.
    let shown = Mutex::new(BTreeMap::new());
    let (_, rows) = until(
        Duration::from_secs(10),
        || format!("the status page never showed every consumer at generation 2: {shown:?}"),
        || async {
            let (html, rows) = consumer_rows(&base, &s.admin_key).await;
            *shown.lock().unwrap() = rows.clone();
            rows.values()
                .all(|(g, lag)| g == "2" && lag == "0")
                .then_some((html, rows))
        },
    )
    .await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let after: Vec<usize> = s.receivers.iter().map(|r| r.batches().len()).collect();
    assert_eq!(
        before, after,
        "an export that changes nothing sends nothing"
    );

    // (d) One published session edited upstream, imported, and a run: each receiver gets
    // exactly that offer, in one new batch.
    let (numero, line) = edited_published_session(&s.out);
    let edit = s.dir.path().join("edit.jsonl");
    std::fs::write(&edit, format!("{line}\n")).unwrap();
    ok(cmd(&["import", edit.to_str().unwrap()])).await;
    let id = request_run(&base, &s.admin_key).await;
    let run = finished_run(&base, &s.admin_key, id).await;
    assert_eq!(run["state"], "succeeded", "{run:#}\n{}", daemon.drain());
    let g3 = run["generation_id"].as_i64().unwrap();
    assert_eq!(g3, 3);
    let (html, rows) = until(
        Duration::from_secs(10),
        || format!("the status page never showed every consumer at generation {g3}: {shown:?}"),
        || async {
            let (html, rows) = consumer_rows(&base, &s.admin_key).await;
            *shown.lock().unwrap() = rows.clone();
            rows.values()
                .all(|(g, lag)| *g == g3.to_string() && lag == "0")
                .then_some((html, rows))
        },
    )
    .await;
    for ((name, r), n) in CONSUMERS.iter().zip(&s.receivers).zip(&before) {
        let batches = r.batches();
        assert_eq!(batches.len(), n + 1, "{name}: one more batch");
        let last = batches.last().unwrap();
        assert_eq!(
            last.numeros,
            vec![numero.clone()],
            "{name}: only the edited offer"
        );
        assert!(last.document.contains("(horaires modifiés)"), "{name}");
        assert_eq!(last.generation, g3, "{name}");
        let ids: HashSet<&str> = batches.iter().map(|b| b.webhook_id.as_str()).collect();
        assert_eq!(ids.len(), batches.len(), "{name}: a new webhook-id");
        let f = s.dir.path().join(format!("{name}-edit.xml"));
        std::fs::write(&f, &last.document).unwrap();
        assert_schema_valid(&f);
        let seen = r.seen();
        assert_eq!((seen.bad_signatures, seen.duplicates), (0, 0), "{name}");
    }
    let r = client()
        .get(format!("{base}/feed/changes?cursor={cursor}"))
        .bearer_auth(&partner_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["generation"], g3, "{page:#}");
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{page:#}");
    assert_eq!(entries[0]["numero"], numero.as_str());
    assert_eq!(entries[0]["op"], "upsert");

    // (e) The status page lists the three runs and the consumers; /metrics the deliveries.
    for run in 1..=3 {
        assert!(
            html.contains(&format!("<tr data-run=\"{run}\">")),
            "run {run}:\n{html}"
        );
    }
    assert_eq!(
        rows.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut names = CONSUMERS.to_vec();
            names.sort();
            names
        },
        "{html}"
    );
    let metrics = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (name, r) in CONSUMERS.iter().zip(&s.receivers) {
        let want = format!(
            "lheo_feed_deliveries{{consumer=\"{name}\",state=\"delivered\"}} {}",
            r.batches().len()
        );
        assert!(metrics.contains(&want), "{want} in:\n{metrics}");
    }
    assert!(
        metrics.contains(&format!("lheo_feed_generation {g3}")),
        "{metrics}"
    );

    // (f) SIGTERM: a clean stop, exit code 0, within a few seconds.
    let asked = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = until(
        Duration::from_secs(5),
        || "no exit within 5 s of SIGTERM".to_owned(),
        || {
            let s = daemon.child.try_wait().unwrap();
            async move { s }
        },
    )
    .await;
    assert!(code.success(), "{code:?}\n{}", daemon.drain());
    daemon
        .wait_for("lheo-feed run: stopped", Duration::from_secs(2))
        .await;
    let log = daemon.drain();
    for (_, key) in &s.keys {
        assert!(!log.contains(key.as_str()), "a key in the daemon's log");
    }
    eprintln!(
        "{:?}: end to end in {:?} (stop {:?})",
        db.backend,
        t0.elapsed(),
        asked.elapsed()
    );
}

backend_tests!(one_daemon_exports_serves_and_pushes);
