//! The consumers as configuration: the `[push]` table and the `[[consumers]]` array of the
//! project's configuration file (`deploy/lheo-feed.example.toml`, `docs/consumers.md`).
//!
//! [`load_push_config`] reads only those two keys and ignores every other top-level key, so
//! that the daemon's configuration (`[store]`, `[export]`, …) can live in the same file.
//! Secrets are never in the file: a token, password or signing secret is named by an
//! environment variable (`*_env`) or a file (`*_file`), read when the pusher needs it, and
//! a literal secret is refused with an error that says what to write instead.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};

/// The default retry ladder (Svix's): the delay before each attempt, the first one
/// immediate. After the last attempt fails, the batch is a dead letter.
pub const DEFAULT_RETRY_SCHEDULE: [Duration; 8] = [
    Duration::from_secs(0),
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];
/// A consumer failing for longer than this is paused.
pub const DEFAULT_PAUSE_AFTER: Duration = Duration::from_secs(5 * 24 * 3600);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_OFFRES: usize = 500;
pub const DEFAULT_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Longest secret file read: a token or key is small; anything bigger is a wrong path.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// A bad configuration: what and where, and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// A duration written as humantime text (`"500ms"`, `"5s"`, `"5m"`, `"2h"`, `"5d"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Dur(#[serde(serialize_with = "ser_dur")] pub Duration);

fn ser_dur<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map(Dur).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?} ({e}); write e.g. \"500ms\", \"5s\", \"5m\", \"2h\", \"5d\""
            ))
        })
    }
}

/// Pusher-wide settings (`[push]`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PushSettings {
    /// Consumers served at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// A pusher's claim on a consumer lasts the consumer's timeout plus this; a killed
    /// pusher's work is taken over after it.
    #[serde(default = "default_lease_margin")]
    pub lease_margin: Dur,
    /// How often the long-running pusher looks for new generations.
    #[serde(default = "default_poll")]
    pub poll_interval: Dur,
    /// Defaults for every consumer.
    #[serde(default)]
    pub retry_schedule: Option<Vec<Dur>>,
    #[serde(default)]
    pub pause_after: Option<Dur>,
}

fn default_concurrency() -> usize {
    4
}
fn default_lease_margin() -> Dur {
    Dur(Duration::from_secs(30))
}
fn default_poll() -> Dur {
    Dur(Duration::from_secs(10))
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            concurrency: default_concurrency(),
            lease_margin: default_lease_margin(),
            poll_interval: default_poll(),
            retry_schedule: None,
            pause_after: None,
        }
    }
}

/// Deltas (what changed since the last batch) or the whole filtered offer each time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Delta,
    Snapshot,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Delta => "delta",
            Mode::Snapshot => "snapshot",
        }
    }
}

/// Which offers a consumer receives. An empty list does not restrict; an offer is sent
/// when each non-empty list names one of its published sessions' values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Programme labels, as sessions carry them in `dispositif.programme`.
    #[serde(default)]
    pub programmes: BTreeSet<String>,
    /// Region lots (`dispositif.numero_lot_cr`, e.g. `1E1F2025_4`): the order a session's
    /// Fiche Dispositif buys it under.
    #[serde(default)]
    pub dispositifs: BTreeSet<String>,
    /// Départements of the sessions' places (`44`, `2A`, `971`).
    #[serde(default)]
    pub departements: BTreeSet<String>,
}

impl Filter {
    /// Canonical JSON (sets are ordered), stored to notice a change of filter.
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).expect("serialisable")
    }
}

/// Where a secret is: an environment variable or a file. `value` exists only to refuse a
/// literal secret with a clear message.
#[derive(Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    #[serde(default, skip_serializing)]
    value: Option<toml::Value>,
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRef")
            .field("env", &self.env)
            .field("file", &self.file)
            .finish()
    }
}

/// A secret's bytes. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl SecretRef {
    fn new(env: Option<String>, file: Option<PathBuf>) -> SecretRef {
        SecretRef {
            env,
            file,
            value: None,
        }
    }

    fn check(&self, what: &str) -> Result<(), ConfigError> {
        match (&self.env, &self.file) {
            (Some(_), Some(_)) => err(format!(
                "{what}: give either an environment variable or a file, not both"
            )),
            (None, None) => err(format!(
                "{what}: name the environment variable (…_env) or the file (…_file) that holds it"
            )),
            (Some(v), None) if v.is_empty() => {
                err(format!("{what}: empty environment variable name"))
            }
            _ => Ok(()),
        }
    }

    /// Reads the secret (trailing line breaks of a file removed). The error names where
    /// it looked, never the value.
    pub fn read(&self, what: &str) -> Result<Secret, ConfigError> {
        self.check(what)?;
        let text = if let Some(var) = &self.env {
            match std::env::var(var) {
                Ok(v) => v,
                Err(_) => {
                    return err(format!(
                        "{what}: the environment variable {var} is not set (or not UTF-8); set it \
                         in the service's environment"
                    ))
                }
            }
        } else {
            let path = self.file.as_ref().expect("checked");
            let meta = std::fs::metadata(path)
                .map_err(|e| ConfigError(format!("{what}: cannot read {}: {e}", path.display())))?;
            if meta.len() > MAX_SECRET_FILE_BYTES {
                return err(format!(
                    "{what}: {} is {} bytes, more than a secret ({} bytes at most): wrong file?",
                    path.display(),
                    meta.len(),
                    MAX_SECRET_FILE_BYTES
                ));
            }
            std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("{what}: cannot read {}: {e}", path.display())))?
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            return err(format!("{what}: the secret is empty"));
        }
        Ok(Secret(text.as_bytes().to_vec()))
    }
}

/// How the pusher authenticates to a consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    #[default]
    None,
    Bearer,
    Basic,
}

/// `[consumers.auth]`: `kind = "bearer"` with `token_env`/`token_file`, or
/// `kind = "basic"` with `username` and `password_env`/`password_file`.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub kind: AuthKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    // Only to refuse literal secrets with a clear message.
    #[serde(default, skip_serializing)]
    token: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    password: Option<toml::Value>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("kind", &self.kind)
            .field("token_env", &self.token_env)
            .field("token_file", &self.token_file)
            .field("username", &self.username)
            .field("password_env", &self.password_env)
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// The `Authorization` header value, resolved.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization(pub String);

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authorization(***)")
    }
}

impl AuthConfig {
    fn token_ref(&self) -> SecretRef {
        SecretRef::new(self.token_env.clone(), self.token_file.clone())
    }
    fn password_ref(&self) -> SecretRef {
        SecretRef::new(self.password_env.clone(), self.password_file.clone())
    }

    fn check(&self, at: &str) -> Result<(), ConfigError> {
        if self.token.is_some() || self.password.is_some() {
            return err(format!(
                "{at}.auth: a literal secret is refused in the configuration file; name it \
                 instead with token_env / password_env (an environment variable) or token_file \
                 / password_file (a file readable only by the service)"
            ));
        }
        match self.kind {
            AuthKind::None => {
                if self.token_env.is_some()
                    || self.token_file.is_some()
                    || self.username.is_some()
                    || self.password_env.is_some()
                    || self.password_file.is_some()
                {
                    return err(format!(
                        "{at}.auth: credentials given but no kind: add kind = \"bearer\" or \"basic\""
                    ));
                }
                Ok(())
            }
            AuthKind::Bearer => self.token_ref().check(&format!("{at}.auth (bearer token)")),
            AuthKind::Basic => {
                match &self.username {
                    Some(u) if !u.is_empty() && !u.contains(':') => {}
                    _ => {
                        return err(format!(
                            "{at}.auth: basic authentication needs a username (without ':')"
                        ))
                    }
                }
                self.password_ref()
                    .check(&format!("{at}.auth (basic password)"))
            }
        }
    }

    /// The header to send, if any: reads the secret.
    pub fn resolve(&self, at: &str) -> Result<Option<Authorization>, ConfigError> {
        Ok(match self.kind {
            AuthKind::None => None,
            AuthKind::Bearer => {
                let t = self.token_ref().read(&format!("{at}.auth token"))?;
                let t = String::from_utf8(t.0)
                    .map_err(|_| ConfigError(format!("{at}.auth token is not UTF-8")))?;
                Some(Authorization(format!("Bearer {t}")))
            }
            AuthKind::Basic => {
                let p = self.password_ref().read(&format!("{at}.auth password"))?;
                let mut cred = self.username.clone().unwrap_or_default().into_bytes();
                cred.push(b':');
                cred.extend_from_slice(&p.0);
                Some(Authorization(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(cred)
                )))
            }
        })
    }
}

/// One consumer (`[[consumers]]`): what every transport shares, and its transport.
///
/// Read by [`ConsumerConfig::from_toml`], not by serde's derive: `transport` chooses which
/// keys the entry may hold, and a key of the other transport is refused by name.
#[derive(Clone, Debug, Serialize)]
pub struct ConsumerConfig {
    /// Identifier: lower-case letters, digits, `-` and `_` (1 to 64).
    pub name: String,
    pub enabled: bool,
    pub filter: Filter,
    /// HTTP: compress request bodies (`Content-Encoding: gzip`); SFTP: deposit the
    /// document gzipped.
    pub gzip: bool,
    /// HTTP: a 2xx must come within it; SFTP: connecting and every SFTP request.
    pub timeout: Dur,
    /// Delay before each attempt; default `[push].retry_schedule`, else Svix's ladder.
    pub retry_schedule: Option<Vec<Dur>>,
    /// Failing for longer than this pauses the consumer (default 5 days).
    pub pause_after: Option<Dur>,
    #[serde(flatten)]
    pub transport: Transport,
}

/// How a consumer receives: signed HTTP `POST`s of batches, or files deposited by SFTP.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "transport", rename_all = "lowercase")]
pub enum Transport {
    Http(HttpKeys),
    Sftp(SftpKeys),
}

/// The keys only an HTTP consumer has.
#[derive(Clone, Debug, Serialize)]
pub struct HttpKeys {
    /// Where batches are `POST`ed (http or https).
    pub url: String,
    pub mode: Mode,
    pub auth: AuthConfig,
    /// Standard Webhooks signing secrets (`whsec_…` base64, or raw bytes); several during
    /// a key rotation, each request then carries one signature per secret.
    pub signing_secrets: Vec<SecretRef>,
    /// Offers (and withdrawals) per request, at most.
    pub max_offres: usize,
    /// Bytes of the document per request (before compression), at most; one offer bigger
    /// than this goes alone.
    pub max_bytes: usize,
}

/// How the SFTP server's host key is pinned (mandatory: an unknown or changed key refuses
/// the connection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKeyPin {
    /// An OpenSSH `known_hosts` file naming the host (`[host]:port` when not 22).
    KnownHosts(PathBuf),
    /// The SHA-256 of the key, as `ssh-keygen -l` prints it (`SHA256:` + base64).
    Sha256(String),
}

/// The keys only an SFTP consumer has (`transport = "sftp"`).
#[derive(Clone, Debug, Serialize)]
pub struct SftpKeys {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The client's private key (OpenSSH format, no passphrase), readable by the service
    /// only; read when the pusher starts.
    pub private_key_file: PathBuf,
    #[serde(flatten, serialize_with = "ser_pin")]
    pub host_key: HostKeyPin,
    /// Where files are deposited (absolute, or relative to the login directory).
    pub remote_dir: String,
    pub file_name: FileNamePattern,
    /// `snapshot`: the full document of the consumer's filter; `delta`: the generation's
    /// changes (a consumer more than one generation behind gets a snapshot).
    pub deposit: Mode,
    /// Deposited files kept in `remote_dir` (the newest, by generation).
    pub keep: u32,
}

fn ser_pin<S: serde::Serializer>(p: &HostKeyPin, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(1))?;
    match p {
        HostKeyPin::KnownHosts(f) => m.serialize_entry("known_hosts", f)?,
        HostKeyPin::Sha256(f) => m.serialize_entry("host_key_sha256", f)?,
    }
    m.end()
}

/// One part of a file name pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    /// `{date}`: the generation's day in Paris, `YYYY-MM-DD`.
    Date,
    /// `{generation}`: its number.
    Generation,
    /// `{kind}`: `snapshot` or `delta`.
    Kind,
    /// `{consumer}`: the consumer's name.
    Consumer,
}

/// A deposited file's name, as a pattern: text and the placeholders `{date}` (Paris day of
/// the generation, `YYYY-MM-DD`), `{generation}` (required: it orders the files for the
/// retention), `{kind}` (`snapshot` / `delta`) and `{consumer}`. Holds only names that are
/// safe on any server: no `/`, no leading `.` (temporary names start with one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileNamePattern {
    text: String,
    parts: Vec<Part>,
}

impl Serialize for FileNamePattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// What the placeholders of a [`FileNamePattern`] stand for, for one deposit.
#[derive(Clone, Copy, Debug)]
pub struct NameValues<'a> {
    pub date: &'a str,
    pub generation: i64,
    pub kind: &'a str,
    pub consumer: &'a str,
}

impl FileNamePattern {
    /// Parses and checks a pattern; the error says what is wrong.
    pub fn parse(text: &str) -> Result<FileNamePattern, String> {
        if text.is_empty() || text.len() > 200 {
            return Err("give 1 to 200 characters".into());
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let Some(end) = after.find('}') else {
                    return Err("a '{' without its '}'".into());
                };
                parts.push(match &after[..end] {
                    "date" => Part::Date,
                    "generation" => Part::Generation,
                    "kind" => Part::Kind,
                    "consumer" => Part::Consumer,
                    other => {
                        return Err(format!(
                            "unknown placeholder {{{other}}}: use {{date}}, {{generation}}, {{kind}} or {{consumer}}"
                        ))
                    }
                });
                rest = &after[end + 1..];
            } else {
                let end = rest.find('{').unwrap_or(rest.len());
                let t = &rest[..end];
                if let Some(c) = t
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
                {
                    return Err(format!(
                        "{c:?} is not allowed: use letters, digits, '.', '-', '_' and placeholders"
                    ));
                }
                parts.push(Part::Text(t.to_owned()));
                rest = &rest[end..];
            }
        }
        if !parts.contains(&Part::Generation) {
            return Err("{generation} is required: it makes each deposit's name unique and orders them for `keep`".into());
        }
        if text.starts_with('.') {
            return Err(
                "a name starting with '.' is hidden (temporary files start with one)".into(),
            );
        }
        if text.ends_with(".sha256") || text.ends_with(".part") {
            return Err(
                "the names ending in .sha256 and .part are the checksums' and the temporary files'"
                    .into(),
            );
        }
        // Two placeholders side by side could not be told apart when reading names back.
        if parts
            .windows(2)
            .any(|w| !matches!(w[0], Part::Text(_)) && !matches!(w[1], Part::Text(_)))
        {
            return Err("put text between two placeholders (e.g. {date}-g{generation})".into());
        }
        Ok(FileNamePattern {
            text: text.to_owned(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn has_kind(&self) -> bool {
        self.parts.contains(&Part::Kind)
    }

    /// The name of one deposit.
    pub fn render(&self, v: &NameValues) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => s.push_str(t),
                Part::Date => s.push_str(v.date),
                Part::Generation => s.push_str(&v.generation.to_string()),
                Part::Kind => s.push_str(v.kind),
                Part::Consumer => s.push_str(v.consumer),
            }
        }
        s
    }

    /// The generation of a name this pattern made for `consumer`, or `None` when the name
    /// is not one of its deposits (the retention deletes nothing else).
    pub fn generation_of(&self, name: &str, consumer: &str) -> Option<i64> {
        fn walk(parts: &[Part], s: &str, consumer: &str, found: Option<i64>) -> Option<i64> {
            let Some((p, more)) = parts.split_first() else {
                return if s.is_empty() { found } else { None };
            };
            let lit = |t: &str| {
                s.strip_prefix(t)
                    .and_then(|r| walk(more, r, consumer, found))
            };
            match p {
                Part::Text(t) => lit(t),
                Part::Consumer => lit(consumer),
                Part::Kind => lit("snapshot").or_else(|| lit("delta")),
                Part::Date => {
                    let d = s.get(..10)?;
                    let ok = d.bytes().enumerate().all(|(i, b)| {
                        if i == 4 || i == 7 {
                            b == b'-'
                        } else {
                            b.is_ascii_digit()
                        }
                    });
                    if ok {
                        walk(more, &s[10..], consumer, found)
                    } else {
                        None
                    }
                }
                Part::Generation => {
                    let digits = s.bytes().take_while(u8::is_ascii_digit).count().min(18);
                    (1..=digits).rev().find_map(|n| {
                        let g = s[..n].parse().ok()?;
                        walk(more, &s[n..], consumer, Some(g))
                    })
                }
            }
        }
        walk(&self.parts, name, consumer, None)
    }
}

fn yes() -> bool {
    true
}
fn default_max_offres() -> usize {
    DEFAULT_MAX_OFFRES
}
fn default_max_bytes() -> usize {
    DEFAULT_MAX_BYTES
}
fn default_timeout() -> Dur {
    Dur(DEFAULT_TIMEOUT)
}
fn default_port() -> u16 {
    22
}
fn default_keep() -> u32 {
    DEFAULT_KEEP
}
fn default_deposit() -> Mode {
    Mode::Snapshot
}

/// Deposited files kept on the remote by default.
pub const DEFAULT_KEEP: u32 = 7;

/// An `[[consumers]]` entry with `transport = "http"` (or none), as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpEntry {
    name: String,
    url: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    filter: Filter,
    #[serde(default)]
    auth: AuthConfig,
    #[serde(default)]
    signing_secrets: Vec<SecretRef>,
    #[serde(default = "default_max_offres")]
    max_offres: usize,
    #[serde(default = "default_max_bytes")]
    max_bytes: usize,
    #[serde(default)]
    gzip: bool,
    #[serde(default = "default_timeout")]
    timeout: Dur,
    #[serde(default)]
    retry_schedule: Option<Vec<Dur>>,
    #[serde(default)]
    pause_after: Option<Dur>,
}

/// An `[[consumers]]` entry with `transport = "sftp"`, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SftpEntry {
    name: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    filter: Filter,
    #[serde(default)]
    gzip: bool,
    #[serde(default = "default_timeout")]
    timeout: Dur,
    #[serde(default)]
    retry_schedule: Option<Vec<Dur>>,
    #[serde(default)]
    pause_after: Option<Dur>,
    host: String,
    #[serde(default = "default_port")]
    port: u16,
    user: String,
    private_key_file: PathBuf,
    #[serde(default)]
    known_hosts: Option<PathBuf>,
    #[serde(default)]
    host_key_sha256: Option<String>,
    remote_dir: String,
    file_name: String,
    #[serde(default = "default_deposit")]
    deposit: Mode,
    #[serde(default = "default_keep")]
    keep: u32,
}

/// Keys that belong to one transport only, and what the other one uses instead.
const HTTP_ONLY: &[(&str, &str)] = &[
    (
        "url",
        "an SFTP consumer is reached by host, port, user and remote_dir",
    ),
    (
        "mode",
        "an SFTP consumer says what it gets with deposit = \"snapshot\" or \"delta\"",
    ),
    (
        "auth",
        "an SFTP consumer authenticates with private_key_file",
    ),
    (
        "signing_secrets",
        "a deposit is checked by its .sha256 file and the pinned host key",
    ),
    ("max_offres", "a deposit is one file"),
    ("max_bytes", "a deposit is one file"),
];
const SFTP_ONLY: &[&str] = &[
    "host",
    "port",
    "user",
    "private_key_file",
    "known_hosts",
    "host_key_sha256",
    "remote_dir",
    "file_name",
    "deposit",
    "keep",
];

/// `consumers[0].auth`-style text for a serde_path_to_error path, after `prefix`.
fn path_text(prefix: &str, path: &serde_path_to_error::Path) -> String {
    let mut at = prefix.to_owned();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => at.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => {
                if !at.is_empty() {
                    at.push('.');
                }
                at.push_str(key);
            }
            _ => {}
        }
    }
    at
}

/// Deserializes `value`, the error prefixed with the key path from `prefix`.
fn de_at<T: serde::de::DeserializeOwned>(
    prefix: &str,
    value: toml::Value,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let at = path_text(prefix, e.path());
        let why = e.into_inner().message().trim_end().to_owned();
        ConfigError(if at.is_empty() {
            why
        } else {
            format!("{at}: {why}")
        })
    })
}

impl ConsumerConfig {
    /// The `i`-th `[[consumers]]` entry: `transport` (default `"http"`) says which keys it
    /// may have; a key of the other transport is refused by name, with what to write.
    pub fn from_toml(i: usize, value: &toml::Value) -> Result<ConsumerConfig, ConfigError> {
        let Some(table) = value.as_table() else {
            return err(format!(
                "consumers[{i}]: write each consumer as a [[consumers]] table"
            ));
        };
        let named = |key: &str| match table.get("name").and_then(|n| n.as_str()) {
            Some(n) => format!("consumers[{i}] ({n}).{key}"),
            None => format!("consumers[{i}].{key}"),
        };
        let mut table = table.clone();
        let transport = match table.remove("transport") {
            None => "http".to_owned(),
            Some(toml::Value::String(t)) => t,
            Some(_) => {
                return err(format!(
                    "{}: write \"http\" or \"sftp\"",
                    named("transport")
                ))
            }
        };
        let at = format!("consumers[{i}]");
        match transport.as_str() {
            "http" => {
                if let Some(k) = SFTP_ONLY.iter().find(|k| table.contains_key(**k)) {
                    return err(format!(
                        "{}: only for transport = \"sftp\"; an HTTP consumer is reached by its url \
                         (remove the key, or add transport = \"sftp\")",
                        named(k)
                    ));
                }
                let e: HttpEntry = de_at(&at, toml::Value::Table(table))?;
                Ok(ConsumerConfig {
                    name: e.name,
                    enabled: e.enabled,
                    filter: e.filter,
                    gzip: e.gzip,
                    timeout: e.timeout,
                    retry_schedule: e.retry_schedule,
                    pause_after: e.pause_after,
                    transport: Transport::Http(HttpKeys {
                        url: e.url,
                        mode: e.mode,
                        auth: e.auth,
                        signing_secrets: e.signing_secrets,
                        max_offres: e.max_offres,
                        max_bytes: e.max_bytes,
                    }),
                })
            }
            "sftp" => {
                if let Some((k, instead)) = HTTP_ONLY.iter().find(|(k, _)| table.contains_key(*k)) {
                    return err(format!(
                        "{}: does not apply to transport = \"sftp\" ({instead}): remove it",
                        named(k)
                    ));
                }
                for k in ["password", "password_env", "password_file", "passphrase"] {
                    if table.contains_key(k) {
                        return err(format!(
                            "{}: no passwords for SFTP: authenticate with private_key_file (a key \
                             without passphrase, readable by the service only)",
                            named(k)
                        ));
                    }
                }
                let e: SftpEntry = de_at(&at, toml::Value::Table(table))?;
                sftp_consumer(e, &named)
            }
            other => err(format!(
                "{}: {other:?} is not a transport: write \"http\" (the default) or \"sftp\"",
                named("transport")
            )),
        }
    }

    /// `mode` of an HTTP consumer, `deposit` of an SFTP one.
    pub fn mode(&self) -> Mode {
        match &self.transport {
            Transport::Http(h) => h.mode,
            Transport::Sftp(s) => s.deposit,
        }
    }

    pub fn http(&self) -> Option<&HttpKeys> {
        match &self.transport {
            Transport::Http(h) => Some(h),
            Transport::Sftp(_) => None,
        }
    }

    pub fn sftp(&self) -> Option<&SftpKeys> {
        match &self.transport {
            Transport::Sftp(s) => Some(s),
            Transport::Http(_) => None,
        }
    }

    /// The Authorization header value (HTTP; none for SFTP).
    pub fn authorization(&self) -> Result<Option<Authorization>, ConfigError> {
        match self.http() {
            Some(h) => h.auth.resolve(&format!("consumer {}", self.name)),
            None => Ok(None),
        }
    }

    /// The signing keys, decoded (`whsec_` + base64 as Standard Webhooks writes them, or
    /// the raw bytes). None for SFTP.
    pub fn signing_keys(&self) -> Result<Vec<Secret>, ConfigError> {
        let mut keys = Vec::new();
        let Some(h) = self.http() else {
            return Ok(keys);
        };
        for (i, r) in h.signing_secrets.iter().enumerate() {
            let what = format!("consumer {} signing_secrets[{i}]", self.name);
            let s = r.read(&what)?;
            keys.push(match s.0.strip_prefix(b"whsec_") {
                Some(b64) => Secret(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|_| ConfigError(format!("{what}: whsec_ key is not base64")))?,
                ),
                None => s,
            });
        }
        Ok(keys)
    }
}

/// Checks an SFTP entry's values into [`SftpKeys`].
fn sftp_consumer(
    e: SftpEntry,
    named: &dyn Fn(&str) -> String,
) -> Result<ConsumerConfig, ConfigError> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '@' | '/' | '\\');
    if e.host.is_empty() || e.host.len() > 253 || e.host.chars().any(bad) {
        return err(format!(
            "{}: a host name or address, without user@ or spaces",
            named("host")
        ));
    }
    if e.port == 0 {
        return err(format!("{}: between 1 and 65535", named("port")));
    }
    if e.user.is_empty() || e.user.len() > 64 || e.user.chars().any(|c| bad(c) || c == ':') {
        return err(format!(
            "{}: 1 to 64 characters, no spaces, '@', ':' or '/'",
            named("user")
        ));
    }
    if !e.private_key_file.is_absolute() {
        return err(format!(
            "{}: give an absolute path (the service may not run in this directory)",
            named("private_key_file")
        ));
    }
    let host_key = match (e.known_hosts, e.host_key_sha256) {
        (Some(_), Some(_)) => {
            return err(format!(
                "{}: give known_hosts or host_key_sha256, not both",
                named("host_key_sha256")
            ))
        }
        (None, None) => {
            return err(format!(
            "{}: the server's host key must be pinned: give known_hosts = \"/path/known_hosts\" \
                 or host_key_sha256 = \"SHA256:…\" (`ssh-keyscan -p PORT HOST | ssh-keygen -lf -`, \
                 checked with the server's operator)",
            named("known_hosts")
        ))
        }
        (Some(f), None) if !f.is_absolute() => {
            return err(format!("{}: give an absolute path", named("known_hosts")))
        }
        (Some(f), None) => HostKeyPin::KnownHosts(f),
        (None, Some(fp)) => {
            let b64 = fp.strip_prefix("SHA256:").unwrap_or("");
            let decoded = base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64);
            if !decoded.is_ok_and(|d| d.len() == 32) {
                return err(format!(
                    "{}: {fp:?} is not a SHA-256 fingerprint: write it as `ssh-keygen -l` prints \
                     it, \"SHA256:\" and 43 base64 characters",
                    named("host_key_sha256")
                ));
            }
            HostKeyPin::Sha256(fp)
        }
    };
    if e.remote_dir.is_empty()
        || e.remote_dir.len() > 1024
        || e.remote_dir.chars().any(char::is_control)
        || e.remote_dir.split('/').any(|s| s == "..")
    {
        return err(format!(
            "{}: a directory path (absolute, or relative to the login directory), without '..'",
            named("remote_dir")
        ));
    }
    let file_name = FileNamePattern::parse(&e.file_name)
        .map_err(|why| ConfigError(format!("{} {:?}: {why}", named("file_name"), e.file_name)))?;
    if e.deposit == Mode::Delta && !file_name.has_kind() {
        return err(format!(
            "{}: with deposit = \"delta\" the name must hold {{kind}}: a consumer more than one \
             generation behind gets a snapshot, and the picker must tell them apart",
            named("file_name")
        ));
    }
    if !(1..=1000).contains(&e.keep) {
        return err(format!("{}: between 1 and 1000", named("keep")));
    }
    Ok(ConsumerConfig {
        name: e.name,
        enabled: e.enabled,
        filter: e.filter,
        gzip: e.gzip,
        timeout: e.timeout,
        retry_schedule: e.retry_schedule,
        pause_after: e.pause_after,
        transport: Transport::Sftp(SftpKeys {
            host: e.host,
            port: e.port,
            user: e.user,
            private_key_file: e.private_key_file,
            host_key,
            remote_dir: e.remote_dir,
            file_name,
            deposit: e.deposit,
            keep: e.keep,
        }),
    })
}

/// The resolved retry policy of a consumer.
#[derive(Clone, Debug)]
pub struct Policy {
    pub schedule: Vec<Duration>,
    pub pause_after: Duration,
}

/// `[push]` and `[[consumers]]`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PushConfig {
    pub push: PushSettings,
    pub consumers: Vec<ConsumerConfig>,
}

impl PushConfig {
    pub fn consumer(&self, name: &str) -> Option<&ConsumerConfig> {
        self.consumers.iter().find(|c| c.name == name)
    }

    pub fn policy(&self, c: &ConsumerConfig) -> Policy {
        let schedule = c
            .retry_schedule
            .as_ref()
            .or(self.push.retry_schedule.as_ref())
            .map(|v| v.iter().map(|d| d.0).collect())
            .unwrap_or_else(|| DEFAULT_RETRY_SCHEDULE.to_vec());
        Policy {
            schedule,
            pause_after: c
                .pause_after
                .or(self.push.pause_after)
                .map_or(DEFAULT_PAUSE_AFTER, |d| d.0),
        }
    }
}

/// Reads `[push]` and `[[consumers]]` from the configuration file's text (other top-level
/// keys are ignored) and checks them. Secrets are not read here ([`ConsumerConfig::authorization`],
/// [`ConsumerConfig::signing_keys`], the SFTP key when the pusher starts), so `deliveries`
/// works without them.
pub fn load_push_config(toml_text: &str) -> Result<PushConfig, ConfigError> {
    let doc: toml::Table = toml::from_str(toml_text).map_err(|e| ConfigError(e.to_string()))?;
    parse(doc.get("push"), doc.get("consumers"))
}

/// The same, from the sections as the daemon's configuration loader keeps them (raw TOML
/// values); `None` when neither is present.
pub fn from_raw(
    push: Option<&toml::Value>,
    consumers: Option<&toml::Value>,
) -> Result<Option<PushConfig>, ConfigError> {
    if push.is_none() && consumers.is_none() {
        return Ok(None);
    }
    parse(push, consumers).map(Some)
}

/// Both sections into a checked [`PushConfig`]; errors start with the key path
/// (`consumers[0].auth: reason`), which the configuration loader turns into a line.
fn parse(
    push: Option<&toml::Value>,
    consumers: Option<&toml::Value>,
) -> Result<PushConfig, ConfigError> {
    let settings = match push {
        Some(p) => de_at("push", p.clone())?,
        None => PushSettings::default(),
    };
    let list = match consumers {
        None => Vec::new(),
        Some(toml::Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| ConsumerConfig::from_toml(i, v))
            .collect::<Result<_, _>>()?,
        Some(_) => return err("consumers: write each consumer as a [[consumers]] table"),
    };
    let cfg = PushConfig {
        push: settings,
        consumers: list,
    };
    validate(&cfg)?;
    Ok(cfg)
}

fn check_schedule(at: &str, s: &[Dur]) -> Result<(), ConfigError> {
    if s.is_empty() || s.len() > 30 {
        return err(format!(
            "{at}.retry_schedule: give 1 to 30 delays (the delay before each attempt)"
        ));
    }
    if s.iter().any(|d| d.0 > Duration::from_secs(7 * 24 * 3600)) {
        return err(format!("{at}.retry_schedule: a delay longer than 7 days"));
    }
    Ok(())
}

fn validate_http(at: &str, h: &HttpKeys) -> Result<(), ConfigError> {
    match reqwest::Url::parse(&h.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            if !u.username().is_empty() || u.password().is_some() {
                return err(format!(
                    "{at}.url: credentials in the URL are refused (they would be logged); use [consumers.auth]"
                ));
            }
        }
        _ => {
            // Redacted: an unparsable URL may still hold credentials.
            return err(format!(
                "{at}.url {:?}: an http:// or https:// URL is needed",
                crate::store::redact_url(&h.url)
            ));
        }
    }
    h.auth.check(at)?;
    for (j, s) in h.signing_secrets.iter().enumerate() {
        if s.value.is_some() {
            return err(format!(
                "{at}.signing_secrets[{j}]: a literal secret is refused in the configuration \
                 file; write {{ env = \"VARIABLE\" }} or {{ file = \"/path\" }}"
            ));
        }
        s.check(&format!("{at}.signing_secrets[{j}]"))?;
    }
    if !(1..=100_000).contains(&h.max_offres) {
        return err(format!("{at}.max_offres: between 1 and 100000"));
    }
    if !(1024..=256 * 1024 * 1024).contains(&h.max_bytes) {
        return err(format!("{at}.max_bytes: between 1024 and 268435456"));
    }
    Ok(())
}

fn validate(cfg: &PushConfig) -> Result<(), ConfigError> {
    let p = &cfg.push;
    if !(1..=64).contains(&p.concurrency) {
        return err("[push] concurrency: between 1 and 64");
    }
    if let Some(s) = &p.retry_schedule {
        check_schedule("[push]", s)?;
    }
    let mut names = BTreeSet::new();
    for (i, c) in cfg.consumers.iter().enumerate() {
        let at = format!("consumers[{i}] ({})", c.name);
        let valid_name = !c.name.is_empty()
            && c.name.len() <= 64
            && c.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_name {
            return err(format!(
                "consumers[{i}].name {:?}: use 1 to 64 lower-case letters, digits, '-' or '_'",
                c.name
            ));
        }
        if !names.insert(c.name.clone()) {
            return err(format!("{at}: the name is used twice"));
        }
        if let Transport::Http(h) = &c.transport {
            validate_http(&at, h)?;
        }
        if c.timeout.0.is_zero() || c.timeout.0 > Duration::from_secs(600) {
            return err(format!("{at}.timeout: more than 0 and at most 10 minutes"));
        }
        if let Some(s) = &c.retry_schedule {
            check_schedule(&at, s)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
[store]
url = "ignored by this module"

[push]
concurrency = 2
retry_schedule = ["0s", "10ms", "20ms"]

[[consumers]]
name = "offre-info"
url = "https://offre-info.example.invalid/lheo"
auth = { kind = "bearer", token_env = "OI_TOKEN" }
signing_secrets = [{ env = "OI_WHSEC" }, { file = "/run/secrets/oi-old" }]
filter = { departements = ["44", "85"] }
gzip = true

[[consumers]]
name = "kairos"
url = "http://127.0.0.1:9/x"
mode = "snapshot"
auth = { kind = "basic", username = "lheo", password_file = "/run/secrets/k" }
timeout = "2s"
retry_schedule = ["0s"]
"#;

    #[test]
    fn reads_push_and_consumers_and_ignores_the_rest() {
        let c = load_push_config(OK).unwrap();
        assert_eq!(c.push.concurrency, 2);
        assert_eq!(c.consumers.len(), 2);
        let oi = c.consumer("offre-info").unwrap();
        assert_eq!(oi.http().unwrap().auth.kind, AuthKind::Bearer);
        assert_eq!(oi.http().unwrap().signing_secrets.len(), 2);
        assert!(oi.filter.departements.contains("85"));
        assert_eq!(
            c.policy(oi).schedule,
            vec![
                Duration::ZERO,
                Duration::from_millis(10),
                Duration::from_millis(20)
            ]
        );
        let k = c.consumer("kairos").unwrap();
        assert_eq!(k.mode(), Mode::Snapshot);
        assert_eq!(c.policy(k).schedule, vec![Duration::ZERO]);
        assert_eq!(c.policy(k).pause_after, DEFAULT_PAUSE_AFTER);
        assert!(load_push_config("").unwrap().consumers.is_empty());
    }

    #[test]
    fn literal_secrets_are_refused_and_never_echoed() {
        for bad in [
            "[[consumers]]\nname = \"a\"\nurl = \"http://h/\"\nauth = { kind = \"bearer\", token = \"s3cr3t-value\" }\n",
            "[[consumers]]\nname = \"a\"\nurl = \"http://h/\"\nsigning_secrets = [{ value = \"s3cr3t-value\" }]\n",
            "[[consumers]]\nname = \"a\"\nurl = \"http://h/\"\nauth = { kind = \"basic\", username = \"u\", password = \"s3cr3t-value\" }\n",
        ] {
            let e = load_push_config(bad).unwrap_err().to_string();
            assert!(e.contains("literal secret is refused"), "{e}");
            assert!(!e.contains("s3cr3t-value"), "{e}");
        }
        let e = load_push_config("[[consumers]]\nname = \"a\"\nurl = \"https://u:pw@h/\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("credentials in the URL"), "{e}");
        assert!(!e.contains("pw@"), "{e}");
    }

    #[test]
    fn bad_values_say_where() {
        let e = load_push_config("[[consumers]]\nname = \"A b\"\nurl = \"http://h/\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("consumers[0].name"), "{e}");
        let e = load_push_config("[[consumers]]\nname = \"a\"\nurl = \"ftp://h/\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("http:// or https://"), "{e}");
        let e = load_push_config("[[consumers]]\nname = \"a\"\nurl = \"http://h/\"\ncolour = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
        let e = load_push_config(
            "[[consumers]]\nname = \"a\"\nurl = \"http://h/\"\ntimeout = \"soon\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("invalid duration"), "{e}");
        let e = load_push_config(
            "[[consumers]]\nname = \"a\"\nurl = \"http://h/\"\n[[consumers]]\nname = \"a\"\nurl = \"http://h/\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("used twice"), "{e}");
    }

    #[test]
    fn secrets_are_read_from_env_or_file_and_not_debug_printed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k");
        std::fs::write(&f, "whsec_c2VjcmV0\n").unwrap();
        let mut c = load_push_config("[[consumers]]\nname = \"a\"\nurl = \"http://h/\"\n")
            .unwrap()
            .consumers
            .remove(0);
        if let Transport::Http(h) = &mut c.transport {
            h.signing_secrets = vec![SecretRef::new(None, Some(f))];
        }
        let keys = c.signing_keys().unwrap();
        assert_eq!(keys, vec![Secret(b"secret".to_vec())]);
        assert_eq!(format!("{keys:?}"), "[Secret(***)]");
        let missing = SecretRef::new(Some("LHEO_FEED_TEST_SURELY_UNSET_VAR".into()), None)
            .read("x")
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("LHEO_FEED_TEST_SURELY_UNSET_VAR"),
            "{missing}"
        );
    }

    const SFTP: &str =
        "[[consumers]]\nname = \"nuit\"\ntransport = \"sftp\"\nhost = \"sftp.example.org\"\n\
        user = \"lheo\"\nprivate_key_file = \"/etc/lheo-feed/id\"\n\
        host_key_sha256 = \"SHA256:a+r0EW9qGnKN55hCsfHIvZEU7UrJIJdb30tif+I2d4I\"\n\
        remote_dir = \"depot\"\nfile_name = \"lheo-{date}-g{generation}.xml.gz\"\n";

    fn sftp_with(extra: &str) -> Result<PushConfig, ConfigError> {
        load_push_config(&format!("{SFTP}{extra}"))
    }

    #[test]
    fn an_sftp_consumer_has_its_keys_and_defaults() {
        let c = sftp_with("gzip = true\n").unwrap().consumers.remove(0);
        let s = c.sftp().expect("an SFTP consumer");
        assert!(c.http().is_none());
        assert_eq!(
            (s.port, s.keep, s.deposit),
            (22, DEFAULT_KEEP, Mode::Snapshot)
        );
        assert_eq!(c.mode(), Mode::Snapshot);
        assert!(c.gzip);
        assert_eq!(
            s.host_key,
            HostKeyPin::Sha256("SHA256:a+r0EW9qGnKN55hCsfHIvZEU7UrJIJdb30tif+I2d4I".into())
        );
        // `config check` prints it back with the keys as written.
        let shown = toml::to_string(&PushConfig {
            push: PushSettings::default(),
            consumers: vec![c],
        })
        .unwrap();
        assert!(shown.contains("transport = \"sftp\""), "{shown}");
        assert!(shown.contains("host_key_sha256 = "), "{shown}");
        assert!(
            shown.contains("file_name = \"lheo-{date}-g{generation}.xml.gz\""),
            "{shown}"
        );
        assert!(!shown.contains("url"), "{shown}");
    }

    #[test]
    fn keys_of_the_other_transport_are_refused_by_name() {
        for (extra, key) in [
            ("url = \"https://x/\"\n", "url"),
            ("mode = \"delta\"\n", "mode"),
            ("signing_secrets = []\n", "signing_secrets"),
            ("max_offres = 3\n", "max_offres"),
        ] {
            let e = sftp_with(extra).unwrap_err().to_string();
            assert!(
                e.contains(&format!(
                    "consumers[0] (nuit).{key}: does not apply to transport = \"sftp\""
                )),
                "{e}"
            );
        }
        let e = sftp_with("password_env = \"X\"\n").unwrap_err().to_string();
        assert!(e.contains("no passwords for SFTP"), "{e}");
        let e = load_push_config(
            "[[consumers]]\nname = \"a\"\nurl = \"http://h/\"\nremote_dir = \"x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("consumers[0] (a).remote_dir: only for transport = \"sftp\""),
            "{e}"
        );
        let e = load_push_config("[[consumers]]\nname = \"a\"\ntransport = \"ftp\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("consumers[0] (a).transport: \"ftp\" is not a transport"),
            "{e}"
        );
    }

    #[test]
    fn the_host_key_must_be_pinned_and_well_written() {
        let unpinned = SFTP.replace(
            "host_key_sha256 = \"SHA256:a+r0EW9qGnKN55hCsfHIvZEU7UrJIJdb30tif+I2d4I\"\n",
            "",
        );
        let e = load_push_config(&unpinned).unwrap_err().to_string();
        assert!(
            e.contains("must be pinned") && e.contains("known_hosts"),
            "{e}"
        );
        let e = load_push_config(
            &unpinned.replace("remote_dir", "host_key_sha256 = \"SHA256:abc\"\nremote_dir"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("is not a SHA-256 fingerprint"), "{e}");
        let e = sftp_with("known_hosts = \"/etc/ssh/ssh_known_hosts\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not both"), "{e}");
        let e = load_push_config(&SFTP.replace("/etc/lheo-feed/id", "id_ed25519"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("private_key_file: give an absolute path"), "{e}");
        let e = sftp_with("deposit = \"delta\"\n").unwrap_err().to_string();
        assert!(e.contains("must hold {kind}"), "{e}");
        let e = sftp_with("keep = 0\n").unwrap_err().to_string();
        assert!(e.contains("keep: between 1 and 1000"), "{e}");
    }

    #[test]
    fn file_name_patterns() {
        let p =
            FileNamePattern::parse("lheo-{consumer}-{date}-g{generation}-{kind}.xml.gz").unwrap();
        let v = NameValues {
            date: "2025-06-02",
            generation: 42,
            kind: "delta",
            consumer: "nuit",
        };
        let name = p.render(&v);
        assert_eq!(name, "lheo-nuit-2025-06-02-g42-delta.xml.gz");
        assert_eq!(p.generation_of(&name, "nuit"), Some(42));
        assert_eq!(
            p.generation_of(&name, "jour"),
            None,
            "another consumer's file"
        );
        assert_eq!(p.generation_of(&format!("{name}.sha256"), "nuit"), None);
        assert_eq!(
            p.generation_of("lheo-nuit-2025-6-02-g42-delta.xml.gz", "nuit"),
            None
        );
        for (bad, why) in [
            ("lheo.xml", "{generation} is required"),
            ("a/{generation}", "not allowed"),
            (".x{generation}", "hidden"),
            ("x{generation}.sha256", ".sha256"),
            ("{date}{generation}", "text between two placeholders"),
            ("x{gen}", "unknown placeholder"),
            ("x{generation", "without its '}'"),
        ] {
            let e = FileNamePattern::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    proptest::proptest! {
        /// Whatever text comes in, loading answers (no panic), and an error never repeats
        /// a value given as a literal token.
        /// Any pattern text parses or is refused (no panic); a pattern that parses gives
        /// back the generation of every name it renders.
        #[test]
        fn patterns_read_back_what_they_render(
            t in "[a-z{}._-]{0,12}(\\{generation\\})?[a-z{}._-]{0,12}",
            g in 0i64..1_000_000_000,
            kind in proptest::sample::select(vec!["snapshot", "delta"]),
        ) {
            if let Ok(p) = FileNamePattern::parse(&t) {
                let name = p.render(&NameValues { date: "2025-06-02", generation: g, kind, consumer: "c-1" });
                proptest::prop_assert_eq!(p.generation_of(&name, "c-1"), Some(g));
            }
        }

        #[test]
        fn any_text_loads_or_fails_cleanly(s in "\\PC{0,200}") {
            let _ = load_push_config(&s);
            let doc = format!("[[consumers]]\nname = \"a\"\nurl = \"http://h/\"\nauth = {{ kind = \"bearer\", token = {:?} }}\n", format!("zz{s}zz"));
            // A document that is not TOML at all is quoted by the parser's error; that is
            // a syntax error, not a secret in a valid file.
            let parses = toml::from_str::<toml::Value>(&doc).is_ok();
            if let (true, Err(e)) = (parses, load_push_config(&doc)) {
                let e = e.to_string();
                let literal = format!("zz{s}zz");
                proptest::prop_assert!(!e.contains(&literal));
            }
        }
    }
}
