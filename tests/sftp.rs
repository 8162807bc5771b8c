//! SFTP deposits (`transport = "sftp"`) against a real OpenSSH server on loopback: `sshd -D`
//! on a free port with a temporary host key, the `internal-sftp` subsystem and an
//! authorized key made for the test, as the current user. The fixtures' snapshot and a
//! delta arrive under their final names with matching `.sha256` files; a consumer several
//! generations behind gets one snapshot; the retention keeps N files; a wrong host key is
//! refused with the fingerprint the server showed; a connection cut in the middle of an
//! upload (the server's session process killed) leaves nothing under the final name and
//! the retry resumes it; a failed deposit becomes a dead letter and its replay delivers.
//!
//! Without `sshd` (Debian's `openssh-server`) the tests say so loudly and pass, except
//! under `CI`, where they fail (`common::skipped`).

mod common;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_schema_valid, TestDb};
use lheo_feed::generation::{self, ExportOptions};
use lheo_feed::pipeline::PassOptions;
use lheo_feed::push::{self, PushConfig, PushOptions};
use lheo_feed::store::Store;
use serde_json::Value;
use sha2::{Digest, Sha256};

const TODAY: &str = "2025-06-02";
const FIXTURES: &str = "fixtures/offres.jsonl";
const SSHD: &str = "/usr/sbin/sshd";

/// An OpenSSH server for one test, stopped (with its sessions) when dropped.
struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    /// `SHA256:…` of its host key, as `ssh-keygen -l` prints it.
    fingerprint: String,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "lheo-feed-test",
            "-f",
        ])
        .arg(path));
}

fn fingerprint(public: &Path) -> String {
    let line = run(Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(public));
    line.split_whitespace().nth(1).unwrap().to_owned()
}

fn current_user() -> String {
    run(Command::new("id").arg("-un")).trim().to_owned()
}

impl Sshd {
    /// Starts the server, or returns `None` (after a loud notice; a failure under CI) when
    /// OpenSSH's server is not installed.
    fn start() -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            common::skipped(
                "the SFTP deposits against OpenSSH",
                &format!("{SSHD} is missing (apt-get install openssh-server)"),
            );
            return None;
        }
        // sshd's privilege separation directory (absent where sshd never ran).
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        std::fs::create_dir(d.join("drop")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nAllowUsers {user}\nSubsystem sftp internal-sftp\n\
             MaxStartups 100\nLogLevel ERROR\n",
            d = d.display(),
            user = current_user()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .expect("sshd starts");
        let mut s = Sshd {
            child,
            port,
            fingerprint: fingerprint(&d.join("host_key.pub")),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!(
                    "sshd exited ({status}): {}",
                    std::fs::read_to_string(s.dir.path().join("sshd.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "sshd does not listen on {port} after 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(s)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The directory deposits go to.
    fn drop_dir(&self) -> PathBuf {
        self.path("drop")
    }

    /// A consumer's `[[consumers]]` entry depositing into `drop`, pinned by fingerprint.
    fn consumer(&self, name: &str, extra: &str) -> String {
        format!(
            "[[consumers]]\nname = \"{name}\"\ntransport = \"sftp\"\nhost = \"127.0.0.1\"\n\
             port = {}\nuser = \"{}\"\nprivate_key_file = \"{}\"\nremote_dir = \"{}\"\n\
             timeout = \"10s\"\n{extra}\n",
            self.port,
            current_user(),
            self.path("client_key").display(),
            self.drop_dir().display(),
        )
    }

    fn pinned(&self) -> String {
        format!("host_key_sha256 = \"{}\"\n", self.fingerprint)
    }

    /// Kills the server's processes serving connections (its descendants), not the
    /// listener: the connection is cut as by a crash of the server's session.
    fn kill_sessions(&self) -> usize {
        kill_descendants(self.child.id())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_sessions();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    serde_json::to_value(generation::export(store, &o).await.unwrap()).unwrap()
}

async fn import(store: &Store, path: &Path) {
    lheo_feed::ingest::import_files(store, &[path.to_path_buf()])
        .await
        .unwrap_or_else(|e| panic!("import of {} failed: {e:?}", path.display()));
}

/// The fixtures with the offers at `edit` given new objectives naming `tag`.
fn edited(dir: &Path, edit: &[usize], tag: &str) -> PathBuf {
    let text = std::fs::read_to_string(FIXTURES).unwrap();
    let mut i = 0;
    let mut out = String::new();
    for line in text.lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        if let Some(o) = v.get_mut("offre") {
            if edit.contains(&i) {
                o["action"]["objectifs"] = Value::String(format!("Objectifs révisés {tag}"));
            }
            i += 1;
            out.push_str(&v.to_string());
            out.push('\n');
        }
    }
    let p = dir.join(format!("edit-{tag}.jsonl"));
    std::fs::write(&p, out).unwrap();
    p
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

/// Applies a deposited document: offers replaced, withdrawals removed.
fn apply(offres: &mut BTreeMap<String, String>, doc: &str) {
    for part in doc.split("<formation numero=\"").skip(1) {
        let numero = part[..part.find('"').unwrap()].to_owned();
        let end = part.find("</formation>").unwrap();
        offres.insert(
            numero,
            format!("<formation numero=\"{}</formation>\n", &part[..end]),
        );
    }
    for marker in ["<extra info=\"retrait\" numero=\"", "<retrait numero=\""] {
        for part in doc.split(marker).skip(1) {
            offres.remove(&part[..part.find('"').unwrap()]);
        }
    }
}

/// The names in the drop directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A deposited file, checked against its `.sha256` (sha256sum's format), as text
/// (gunzipped when it ends in `.gz`).
fn read_checked(dir: &Path, name: &str) -> String {
    let bytes = std::fs::read(dir.join(name)).unwrap();
    let sidecar = std::fs::read_to_string(dir.join(format!("{name}.sha256"))).unwrap();
    assert_eq!(
        sidecar,
        format!("{}  {name}\n", hex::encode(Sha256::digest(&bytes))),
        "{name}: the .sha256 file is sha256sum's line for the file"
    );
    if name.ends_with(".gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        String::from_utf8(bytes).unwrap()
    }
}

fn config(text: &str) -> PushConfig {
    push::load_push_config(text).unwrap()
}

fn once() -> PushOptions {
    PushOptions {
        consumer: None,
        max_wait: Duration::ZERO,
    }
}

async fn status(store: &Store, name: &str) -> push::outbox::ConsumerStatus {
    push::outbox::status(store, Some(name))
        .await
        .unwrap()
        .remove(0)
}

/// The fixtures' snapshot and deltas, to a snapshot consumer (gzip, keep 2) and a delta
/// consumer; then two generations without a push: the delta consumer gets one snapshot.
async fn snapshot_and_delta_arrive_checked(db: &TestDb) {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = db.open().await;
    let drop_dir = sshd.drop_dir();
    // Somebody else's files in the same directory: the retention leaves them alone.
    std::fs::write(drop_dir.join("README.txt"), "picker notes").unwrap();
    std::fs::write(drop_dir.join("lheo-jour-2025-01-01-g1.xml.gz"), "other").unwrap();
    std::fs::write(drop_dir.join("lheo-nuit-latest.xml.gz"), "other").unwrap();
    let cfg = config(&format!(
        "{}{}",
        sshd.consumer(
            "nuit",
            &format!(
                "{}file_name = \"lheo-{{consumer}}-{{date}}-g{{generation}}.xml.gz\"\ngzip = true\nkeep = 2\n",
                sshd.pinned()
            )
        ),
        sshd.consumer(
            "flux",
            &format!(
                "{}file_name = \"flux-g{{generation}}-{{kind}}.xml\"\ndeposit = \"delta\"\n",
                sshd.pinned()
            )
        ),
    ));
    import(&store, Path::new(FIXTURES)).await;
    push::outbox::sync_consumers(&store, &cfg).await.unwrap();
    let g1 = export(&store, dir.path()).await["generation"]
        .as_i64()
        .unwrap();
    let s = push::push_once(&store, &cfg, &once()).await.unwrap();
    assert!(
        s.consumers
            .iter()
            .all(|c| c.batches_delivered == 1 && c.failed_attempts == 0),
        "{s:?}"
    );
    let expected = published(&store).await;
    let snap = format!("lheo-nuit-{TODAY}-g{g1}.xml.gz");
    let first = format!("flux-g{g1}-snapshot.xml");
    let mut flux = BTreeMap::new();
    for name in [&snap, &first] {
        let doc = read_checked(&drop_dir, name);
        let path = dir.path().join("check.xml");
        std::fs::write(&path, &doc).unwrap();
        assert_schema_valid(&path);
        let mut got = BTreeMap::new();
        apply(&mut got, &doc);
        assert!(got == expected, "{name}: exactly the published offers");
        flux = got;
    }

    // A change: the snapshot consumer gets the new snapshot, the delta one the change only.
    import(&store, &edited(dir.path(), &[1, 4], "a")).await;
    let e2 = export(&store, dir.path()).await;
    let g2 = e2["generation"].as_i64().unwrap();
    let changed = e2["created"].as_u64().unwrap() + e2["updated"].as_u64().unwrap();
    assert!(changed > 0 && changed < expected.len() as u64, "{e2}");
    push::push_once(&store, &cfg, &once()).await.unwrap();
    let delta = read_checked(&drop_dir, &format!("flux-g{g2}-delta.xml"));
    assert_eq!(
        delta.matches("<formation numero=").count() as u64,
        changed,
        "the delta holds the generation's changes only"
    );
    apply(&mut flux, &delta);
    let expected = published(&store).await;
    assert!(flux == expected, "snapshot + delta = the published offers");
    let mut got = BTreeMap::new();
    apply(
        &mut got,
        &read_checked(&drop_dir, &format!("lheo-nuit-{TODAY}-g{g2}.xml.gz")),
    );
    assert!(got == expected);

    // Two generations while the pusher is away: one snapshot of the newest for each.
    import(&store, &edited(dir.path(), &[2], "b")).await;
    export(&store, dir.path()).await;
    import(&store, &edited(dir.path(), &[3], "c")).await;
    let g4 = export(&store, dir.path()).await["generation"]
        .as_i64()
        .unwrap();
    let s = push::push_once(&store, &cfg, &once()).await.unwrap();
    assert!(
        s.consumers.iter().all(|c| c.batches_delivered == 1),
        "{s:?}"
    );
    let expected = published(&store).await;
    let mut got = BTreeMap::new();
    apply(
        &mut got,
        &read_checked(&drop_dir, &format!("flux-g{g4}-snapshot.xml")),
    );
    assert!(
        got == expected,
        "the consumer behind gets the current snapshot"
    );
    let mut names = listing(&drop_dir);
    names.retain(|n| n.starts_with("lheo-") || n == "README.txt");
    assert_eq!(
        names,
        vec![
            "README.txt".to_owned(),
            "lheo-jour-2025-01-01-g1.xml.gz".to_owned(),
            format!("lheo-nuit-{TODAY}-g{g2}.xml.gz"),
            format!("lheo-nuit-{TODAY}-g{g2}.xml.gz.sha256"),
            format!("lheo-nuit-{TODAY}-g{g4}.xml.gz"),
            format!("lheo-nuit-{TODAY}-g{g4}.xml.gz.sha256"),
            "lheo-nuit-latest.xml.gz".to_owned(),
        ],
        "keep = 2: the two newest deposits and their checksums; the others' files untouched"
    );
    assert!(
        listing(&drop_dir).iter().all(|n| !n.ends_with(".part")),
        "no temporary file left: {:?}",
        listing(&drop_dir)
    );
    let st = status(&store, "flux").await;
    assert_eq!((st.pending, st.dead, st.delivered), (0, 0, 3), "{st:?}");
    assert_eq!(st.delivered_generation, Some(g4));
}

#[tokio::test]
async fn snapshot_and_delta_arrive_with_their_checksums() {
    for db in common::test_databases().await {
        snapshot_and_delta_arrive_checked(&db).await;
    }
}

#[tokio::test]
async fn a_wrong_host_key_is_refused_with_the_fingerprint_seen() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = common::sqlite_db();
    let store = db.open().await;
    keygen(&dir.path().join("other"));
    let other = fingerprint(&dir.path().join("other.pub"));
    // known_hosts holding another key for this host and port, then the right one.
    let known = dir.path().join("known_hosts");
    let line = |key: &str| {
        let k = std::fs::read_to_string(key).unwrap();
        format!(
            "[127.0.0.1]:{} {}",
            sshd.port,
            k.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
        )
    };
    std::fs::write(
        &known,
        line(dir.path().join("other.pub").to_str().unwrap()) + "\n",
    )
    .unwrap();
    let once_only = "retry_schedule = [\"0s\"]\nfile_name = \"lheo-g{generation}.xml\"\n";
    let cfg = config(&format!(
        "{}{}",
        sshd.consumer("fp", &format!("host_key_sha256 = \"{other}\"\n{once_only}")),
        sshd.consumer(
            "kh",
            &format!("known_hosts = \"{}\"\n{once_only}", known.display())
        ),
    ));
    import(&store, Path::new(FIXTURES)).await;
    push::outbox::sync_consumers(&store, &cfg).await.unwrap();
    export(&store, dir.path()).await;
    let s = push::push_once(&store, &cfg, &once()).await.unwrap();
    assert!(s.consumers.iter().all(|c| c.dead_letters == 1), "{s:?}");
    for name in ["fp", "kh"] {
        let st = status(&store, name).await;
        let error = st.dead_letters[0].error.clone().unwrap_or_default();
        assert!(
            error.contains("host key refused") && error.contains(&sshd.fingerprint),
            "{name}: the error names the fingerprint the server showed: {error}"
        );
    }
    assert_eq!(
        listing(&sshd.drop_dir()),
        Vec::<String>::new(),
        "nothing deposited"
    );

    // The right key in known_hosts: the replay delivers.
    std::fs::write(
        &known,
        line(sshd.path("host_key.pub").to_str().unwrap()) + "\n",
    )
    .unwrap();
    push::outbox::replay(&store, &cfg, None, Some("kh"))
        .await
        .unwrap()
        .unwrap();
    let s = push::push_once(&store, &cfg, &once()).await.unwrap();
    let kh = s.consumers.iter().find(|c| c.name == "kh").unwrap();
    assert_eq!(kh.batches_delivered, 1, "{s:?}");
    read_checked(&sshd.drop_dir(), "lheo-g1.xml");
}

#[tokio::test]
async fn a_failed_deposit_is_a_dead_letter_and_its_replay_delivers() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = common::sqlite_db();
    let store = db.open().await;
    let missing = sshd.drop_dir().join("not-yet");
    let cfg = config(
        &sshd
            .consumer(
                "mort",
                &format!(
        "{}file_name = \"lheo-g{{generation}}.xml\"\nretry_schedule = [\"0s\", \"0s\"]\n",
        sshd.pinned()
    ),
            )
            .replace(
                &format!("remote_dir = \"{}\"", sshd.drop_dir().display()),
                &format!("remote_dir = \"{}\"", missing.display()),
            ),
    );
    import(&store, Path::new(FIXTURES)).await;
    push::outbox::sync_consumers(&store, &cfg).await.unwrap();
    export(&store, dir.path()).await;
    let s = push::push_once(&store, &cfg, &once()).await.unwrap();
    assert_eq!(
        (s.consumers[0].failed_attempts, s.consumers[0].dead_letters),
        (2, 1),
        "{s:?}"
    );
    let st = status(&store, "mort").await;
    assert_eq!((st.dead, st.pending, st.delivered), (1, 0, 0), "{st:?}");
    assert!(
        st.dead_letters[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("gave up after 2 attempts"),
        "{st:?}"
    );
    std::fs::create_dir(&missing).unwrap();
    // A partial file that is not a prefix of the deposit (another program's, or damaged):
    // resumed from, it fails the read-back checksum and the file is sent again whole.
    std::fs::write(missing.join(".lheo-g1.xml.part"), "<?xml pas le bon début").unwrap();
    let r = push::outbox::replay(&store, &cfg, None, Some("mort"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.dead_letters, 1);
    let s = push::push_once(&store, &cfg, &once()).await.unwrap();
    assert_eq!(s.consumers[0].batches_delivered, 1, "{s:?}");
    assert_eq!(
        s.consumers[0].bytes_resumed, 0,
        "the bad prefix was not kept: {s:?}"
    );
    assert_eq!(
        listing(&missing),
        vec!["lheo-g1.xml".to_owned(), "lheo-g1.xml.sha256".to_owned()]
    );
    let mut got = BTreeMap::new();
    apply(&mut got, &read_checked(&missing, "lheo-g1.xml"));
    assert!(got == published(&store).await);
    let st = status(&store, "mort").await;
    assert_eq!((st.dead, st.pending, st.delivered), (0, 0, 1), "{st:?}");
}

#[tokio::test]
async fn a_cut_connection_leaves_no_final_file_and_the_retry_resumes() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = common::sqlite_db();
    let store = db.open().await;
    let mut v = Vec::new();
    lheo_feed::generate::generate(&mut v, 1000, 7).unwrap();
    let data = dir.path().join("gen.jsonl");
    std::fs::write(&data, v).unwrap();
    import(&store, &data).await;
    // A retry far away (full jitter over an hour): the test brings it forward itself, so
    // that it can look at the server between the cut and the retry.
    let cfg = config(&sshd.consumer(
        "gros",
        &format!(
            "{}file_name = \"lheo-g{{generation}}.xml\"\nretry_schedule = [\"0s\", \"1h\"]\n",
            sshd.pinned()
        ),
    ));
    push::outbox::sync_consumers(&store, &cfg).await.unwrap();
    let e = export(&store, dir.path()).await;
    let bytes = e["bytes"].as_u64().unwrap();
    assert!(bytes > 6 << 20, "a large snapshot: {e}");
    let drop_dir = sshd.drop_dir();
    let part = drop_dir.join(".lheo-g1.xml.part");
    // Cut the connection once the server holds a part of the file, not all of it.
    let watcher = {
        let part = part.clone();
        let sshd_pid = sshd.child.id();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let len = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
                if len >= 1 << 20 {
                    return (len, kill_descendants(sshd_pid));
                }
                assert!(Instant::now() < deadline, "the upload never started");
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let s = push::push_once(&store, &cfg, &once()).await.unwrap();
    let (seen, killed) = watcher.join().unwrap();
    assert!(killed > 0, "a session process was killed");
    assert_eq!(
        (
            s.consumers[0].failed_attempts,
            s.consumers[0].batches_delivered
        ),
        (1, 0),
        "{s:?}"
    );
    assert!(seen < bytes, "cut in the middle: {seen} of {bytes} bytes");
    let names = listing(&drop_dir);
    assert_eq!(
        names,
        vec![".lheo-g1.xml.part".to_owned()],
        "no file under the final name"
    );
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept > 0 && kept < bytes, "the server kept a part: {kept}");

    let Store::Sqlite(pool) = &store else {
        unreachable!()
    };
    sqlx::query("UPDATE batches SET next_attempt_at = 0 WHERE consumer = 'gros'")
        .execute(pool)
        .await
        .unwrap();
    let s = push::push_once(&store, &cfg, &once()).await.unwrap();
    assert_eq!(s.consumers[0].batches_delivered, 1, "{s:?}");
    assert!(
        s.consumers[0].bytes_resumed > 0 && s.consumers[0].bytes_resumed <= kept,
        "the retry resumed from what the server had: {s:?}"
    );
    let mut got = BTreeMap::new();
    apply(&mut got, &read_checked(&drop_dir, "lheo-g1.xml"));
    assert!(got == published(&store).await);
    assert_eq!(
        listing(&drop_dir),
        vec!["lheo-g1.xml".to_owned(), "lheo-g1.xml.sha256".to_owned()]
    );
}

/// Kills every descendant of `root` (sshd's processes serving connections).
fn kill_descendants(root: u32) -> usize {
    let mut victims = Vec::new();
    let mut parents = vec![root];
    while let Some(p) = parents.pop() {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(p) {
                victims.push(pid);
                parents.push(pid);
            }
        }
    }
    for pid in &victims {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    victims.len()
}

#[test]
fn config_check_refuses_http_keys_on_an_sftp_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lheo-feed.toml");
    std::fs::write(
        &file,
        "[[consumers]]\nname = \"nuit\"\ntransport = \"sftp\"\nhost = \"sftp.example.org\"\n\
         user = \"lheo\"\nprivate_key_file = \"/etc/lheo-feed/id_ed25519\"\n\
         host_key_sha256 = \"SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s\"\n\
         remote_dir = \"depot\"\nfile_name = \"lheo-{date}-g{generation}.xml.gz\"\n\
         url = \"https://x.example/\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lheo-feed"))
        .arg("--config")
        .arg(&file)
        .args(["config", "check"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(":10: consumers[0] (nuit).url: does not apply to transport = \"sftp\""),
        "{err}"
    );
}

/// The example configuration's SFTP drop, pointed at the test server, deposits the
/// fixtures' snapshot under the example's name pattern.
#[tokio::test]
async fn the_example_sftp_consumer_deposits_the_fixtures() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = common::sqlite_db();
    let store = db.open().await;
    let mut text = std::fs::read_to_string("deploy/lheo-feed.example.toml").unwrap();
    for (example, real) in [
        ("\"sftp.example.invalid\"", "\"127.0.0.1\"".to_owned()),
        ("port = 22\n", format!("port = {}\n", sshd.port)),
        ("\"carif-pdl\"", format!("{:?}", current_user())),
        (
            "\"/etc/lheo-feed/depot-national_ed25519\"",
            format!("{:?}", sshd.path("client_key").display().to_string()),
        ),
        (
            "\"SHA256:a+r0EW9qGnKN55hCsfHIvZEU7UrJIJdb30tif+I2d4I\"",
            format!("{:?}", sshd.fingerprint),
        ),
        (
            "\"depot/lheo\"",
            format!("{:?}", sshd.drop_dir().display().to_string()),
        ),
    ] {
        assert!(text.contains(example), "{example} in the example");
        text = text.replace(example, &real);
    }
    let mut cfg = config(&text);
    cfg.consumers.retain(|c| c.sftp().is_some());
    assert_eq!(cfg.consumers.len(), 1);
    import(&store, Path::new(FIXTURES)).await;
    push::outbox::sync_consumers(&store, &cfg).await.unwrap();
    export(&store, dir.path()).await;
    let s = push::push_once(&store, &cfg, &once()).await.unwrap();
    assert_eq!(
        s.consumers[0].batches_delivered,
        1,
        "{s:?} {:?}",
        status(&store, "depot-national").await
    );
    let mut got = BTreeMap::new();
    apply(
        &mut got,
        &read_checked(&sshd.drop_dir(), &format!("lheo-pdl-{TODAY}-g1.xml.gz")),
    );
    assert!(got == published(&store).await);
}
