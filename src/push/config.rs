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

/// One consumer (`[[consumers]]`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Identifier: lower-case letters, digits, `-` and `_` (1 to 64).
    pub name: String,
    /// Where batches are `POST`ed (http or https).
    pub url: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub filter: Filter,
    #[serde(default)]
    pub auth: AuthConfig,
    /// Standard Webhooks signing secrets (`whsec_…` base64, or raw bytes); several during
    /// a key rotation, each request then carries one signature per secret.
    #[serde(default)]
    pub signing_secrets: Vec<SecretRef>,
    /// Offers (and withdrawals) per request, at most.
    #[serde(default = "default_max_offres")]
    pub max_offres: usize,
    /// Bytes of the document per request (before compression), at most; one offer bigger
    /// than this goes alone.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// Compress request bodies (`Content-Encoding: gzip`).
    #[serde(default)]
    pub gzip: bool,
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Delay before each attempt; default `[push].retry_schedule`, else Svix's ladder.
    #[serde(default)]
    pub retry_schedule: Option<Vec<Dur>>,
    /// Failing for longer than this pauses the consumer (default 5 days).
    #[serde(default)]
    pub pause_after: Option<Dur>,
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

impl ConsumerConfig {
    /// The Authorization header value.
    pub fn authorization(&self) -> Result<Option<Authorization>, ConfigError> {
        self.auth.resolve(&format!("consumer {}", self.name))
    }

    /// The signing keys, decoded (`whsec_` + base64 as Standard Webhooks writes them, or
    /// the raw bytes).
    pub fn signing_keys(&self) -> Result<Vec<Secret>, ConfigError> {
        let mut keys = Vec::new();
        for (i, r) in self.signing_secrets.iter().enumerate() {
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

/// Only the keys this module reads; the others belong to the rest of the configuration.
#[derive(Deserialize)]
struct PushFile {
    #[serde(default)]
    push: PushSettings,
    #[serde(default)]
    consumers: Vec<ConsumerConfig>,
}

/// Reads `[push]` and `[[consumers]]` from the configuration file's text (other top-level
/// keys are ignored) and checks them. Secrets are not read here ([`ConsumerConfig::authorization`],
/// [`ConsumerConfig::signing_keys`]), so `deliveries` works without them.
pub fn load_push_config(toml_text: &str) -> Result<PushConfig, ConfigError> {
    let f: PushFile = toml::from_str(toml_text).map_err(|e| ConfigError(e.to_string()))?;
    let cfg = PushConfig {
        push: f.push,
        consumers: f.consumers,
    };
    validate(&cfg)?;
    Ok(cfg)
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
    let mut table = toml::Table::new();
    if let Some(p) = push {
        table.insert("push".into(), p.clone());
    }
    if let Some(c) = consumers {
        table.insert("consumers".into(), c.clone());
    }
    let f: PushFile = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        // `consumers[0].auth: reason`, the key path the configuration loader turns into a
        // line of the file.
        let mut at = String::new();
        for segment in e.path().iter() {
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
        let why = e.into_inner().message().trim_end().to_owned();
        ConfigError(if at.is_empty() {
            why
        } else {
            format!("{at}: {why}")
        })
    })?;
    let cfg = PushConfig {
        push: f.push,
        consumers: f.consumers,
    };
    validate(&cfg)?;
    Ok(Some(cfg))
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
        match reqwest::Url::parse(&c.url) {
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
                    crate::store::redact_url(&c.url)
                ));
            }
        }
        c.auth.check(&at)?;
        for (j, s) in c.signing_secrets.iter().enumerate() {
            if s.value.is_some() {
                return err(format!(
                    "{at}.signing_secrets[{j}]: a literal secret is refused in the configuration \
                     file; write {{ env = \"VARIABLE\" }} or {{ file = \"/path\" }}"
                ));
            }
            s.check(&format!("{at}.signing_secrets[{j}]"))?;
        }
        if !(1..=100_000).contains(&c.max_offres) {
            return err(format!("{at}.max_offres: between 1 and 100000"));
        }
        if !(1024..=256 * 1024 * 1024).contains(&c.max_bytes) {
            return err(format!("{at}.max_bytes: between 1024 and 268435456"));
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
        assert_eq!(oi.auth.kind, AuthKind::Bearer);
        assert_eq!(oi.signing_secrets.len(), 2);
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
        assert_eq!(k.mode, Mode::Snapshot);
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
        let c = ConsumerConfig {
            signing_secrets: vec![SecretRef::new(None, Some(f))],
            ..load_push_config("[[consumers]]\nname = \"a\"\nurl = \"http://h/\"\n")
                .unwrap()
                .consumers
                .remove(0)
        };
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

    proptest::proptest! {
        /// Whatever text comes in, loading answers (no panic), and an error never repeats
        /// a value given as a literal token.
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
