//! A PostgreSQL server of the test's own (`initdb` in a temporary folder, on a free
//! loopback port), for tests that restart the server: restarting the shared one would cut
//! every other test's sessions. Stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

/// The folder of Debian's PostgreSQL programs (`/usr/lib/postgresql/N/bin`, the newest).
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl PgCluster {
    /// A new server, started; `None` (after the loud skip notice, which fails under CI)
    /// when PostgreSQL's programs are not installed.
    pub fn start(check: &str) -> Option<PgCluster> {
        let Some(bin) = bin_dir() else {
            super::skipped(
                check,
                "PostgreSQL's programs (initdb, pg_ctl) are not installed: apt-get install postgresql",
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            // initdb refuses to run as root: the cluster belongs to `postgres`.
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown postgres {}", dir.path().display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = PgCluster { dir, bin, port };
        c.run(&[
            "initdb",
            "-D",
            &c.data(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        c.pg_ctl("start");
        Some(c)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs one of PostgreSQL's programs as the cluster's owner; it must succeed.
    fn run(&self, args: &[&str]) {
        let program = self.bin.join(args[0]);
        let mut c = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = c
            .args(&args[1..])
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(&[
            "pg_ctl",
            "-D",
            &self.data(),
            "-o",
            &options,
            "-l",
            &log,
            "-m",
            "fast",
            "-w",
            action,
        ]);
    }

    /// Restarts the server (fast shutdown: every session is cut), and waits until it
    /// accepts connections again.
    pub fn restart(&self) {
        self.pg_ctl("restart");
    }

    /// The URL of database `name` (created by [`PgCluster::create_database`]).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub async fn create_database(&self, name: &str) {
        use sqlx::{ConnectOptions, Connection, Executor};
        let admin: sqlx::postgres::PgConnectOptions = self.url("postgres").parse().unwrap();
        let mut conn = admin.connect().await.unwrap();
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data();
        let mut c = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let _ = c
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}
