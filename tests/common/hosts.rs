//! `lheo-feed run` instances of a test, as hosts sharing one database: each with its
//! configuration (its own output folder) and its daemon, whose address and log the test
//! reads.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TODAY: &str = "2025-06-02";
pub const ADMIN_KEY_ENV: &str = "LHEO_HOSTS_ADMIN_KEY";
pub const ADMIN_KEY: &str = "hosts-admin-key-0123456789abcdef";

/// One host: its configuration (its own output folder, the shared database) and its
/// daemon, whose address is read from its log.
pub struct Host {
    pub out: PathBuf,
    pub config: PathBuf,
    pub child: Child,
    pub base: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lheo-feed --config FILE ARGS` with a clean environment (and the admin key's variable).
pub fn command(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lheo-feed"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(ADMIN_KEY_ENV, ADMIN_KEY)
        .arg("--config")
        .arg(config)
        .args(args);
    c
}

/// Runs a command, which must succeed; its standard output.
pub fn ok(mut c: Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Writes host `name`'s configuration (`extra` appended: consumers): the shared database, its own output folder, a
/// schedule that does not fire during the test (exports are asked for by the test).
pub fn configure(dir: &Path, url: &str, name: &str, extra: &str) -> (PathBuf, PathBuf) {
    let out = dir.join(name).join("lheo.xml");
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[store]\ndatabase_url = \"{url}\"\n\n\
             [export]\nout = \"{out}\"\ntoday = \"{TODAY}\"\n\n\
             [schedule]\ncron = \"0 0 3 1 1 *\"\ntimezone = \"UTC\"\ncatch_up = false\n\
             poll_seconds = 1\nshutdown_grace_seconds = 5\n\n\
             [serve]\nlisten = \"127.0.0.1:0\"\nadmin_key_env = \"{ADMIN_KEY_ENV}\"\n\n\
             [log]\nformat = \"human\"\nfilter = \"info\"\n\n{extra}",
            out = out.display(),
        ),
    )
    .unwrap();
    (out, config)
}

/// Starts `lheo-feed run` on `config`, with the variables `env` besides, and waits until it
/// listens.
pub fn start(out: PathBuf, config: PathBuf, env: &[(&str, &str)]) -> Host {
    let mut c = command(&config, &["run"]);
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("lheo-feed serve: listening") {
                let _ = tx.send(line.clone());
            }
            kept.lock().unwrap().push(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            panic!(
                "the daemon never listened:\n{}",
                log.lock().unwrap().join("\n")
            )
        });
    let addr = line
        .split("addr=")
        .nth(1)
        .and_then(|a| a.split_whitespace().next())
        .unwrap_or_else(|| panic!("no addr= in {line:?}"))
        .to_owned();
    Host {
        out,
        config,
        child,
        base: format!("http://{addr}"),
        log,
    }
}

impl Host {
    /// Waits for a log line containing `what` (from the start), within `within`.
    pub async fn wait_for(&self, what: &str, within: Duration) -> String {
        let end = Instant::now() + within;
        loop {
            if let Some(l) = self.log.lock().unwrap().iter().find(|l| l.contains(what)) {
                return l.clone();
            }
            assert!(
                Instant::now() < end,
                "no log line with {what:?} within {within:?}:\n{}",
                self.log.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the daemon is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// Imports the Region file and the fixtures through the binary on `config`'s database.
pub fn import_fixtures(config: &Path) {
    ok(command(
        config,
        &["import-region", "fixtures/region-2025.csv"],
    ));
    ok(command(config, &["import", "fixtures/offres.jsonl"]));
}

/// Adds partner `p` (every offer) and returns its key.
pub fn add_partner(config: &Path) -> String {
    let said = ok(command(config, &["partner", "add", "p", "--json"]));
    let partner: serde_json::Value = serde_json::from_str(&said).unwrap();
    partner["key"].as_str().unwrap().to_owned()
}
