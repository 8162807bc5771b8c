//! The configuration: one TOML file, environment overrides, command-line flags.
//! `docs/configuration.md` lists every key with its default and its variable; a test
//! checks that the table and [`KEYS`] agree, and that [`KEYS`] covers every field here.
//!
//! # Where values come from
//!
//! Command-line flag > environment variable > file > default. The file is the one named by
//! `--config FILE` or `LHEO_FEED_CONFIG`, and only that: no file is looked for in the
//! working directory, because a daemon (or a test) must not change behaviour with the
//! directory it happens to start in. Every key `KEY` of section `[SECTION]` can be set by
//! `LHEO_FEED_SECTION_KEY` (upper case); a few keys also keep the older names the
//! commands had before this file existed (`LHEO_FEED_DATABASE_URL`, `LHEO_FEED_TODAY`,
//! `LHEO_FEED_RULES`, `LHEO_FEED_LOG`), listed in [`KEYS`].
//!
//! # Errors
//!
//! A bad value stops everything with `FILE:LINE: section.key: reason` (or
//! `LHEO_FEED_VAR: section.key: reason` when it came from the environment), exit code 2.
//! Values are parsed into types that only hold valid values (a cron expression, a time
//! zone, a share between 0 and 1), so nothing later re-checks them.
//!
//! # Secrets
//!
//! No secret is ever written in this file: the admin key is named by `admin_key_env` (a
//! variable, e.g. set by systemd's `EnvironmentFile=`) or `admin_key_file`; a literal
//! `admin_key` is refused. A password in `database_url` works but is masked in every
//! output ([`Config::masked`]); prefer `PGPASSWORD` or `~/.pgpass`. The push section and
//! consumers are kept as raw TOML for the push module to parse; their keys that look
//! like secrets are masked too.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::generation::{DEFAULT_MAX_WITHDRAW_SHARE, DEFAULT_TOMBSTONE_RETENTION_DAYS};
use crate::model::Date;
use crate::schedule::{Cron, Schedule, DEFAULT_CRON, DEFAULT_TIMEZONE};

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "LHEO_FEED_CONFIG";
/// Largest configuration file read: a configuration is a few kilobytes.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Largest admin key file read.
const MAX_SECRET_BYTES: u64 = 4096;

/// The whole configuration, every default filled in.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub store: StoreSection,
    pub import: ImportSection,
    pub export: ExportSection,
    pub schedule: ScheduleSection,
    pub serve: ServeSection,
    pub log: LogSection,
    /// `[push]`, kept raw: the push module defines and parses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push: Option<toml::Value>,
    /// `[[consumers]]`, kept raw: the push module defines and parses them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumers: Option<toml::Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// A SQLite file path or `sqlite://` URL, or a `postgres://` URL.
    pub database_url: String,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            database_url: "sqlite://lheo-feed.sqlite".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ImportSection {
    /// Largest decompressed size of a gzipped input file (`crate::ingest::lines`).
    pub max_gunzipped_bytes: u64,
}

impl Default for ImportSection {
    fn default() -> Self {
        ImportSection {
            max_gunzipped_bytes: crate::ingest::lines::DEFAULT_MAX_GUNZIPPED_BYTES,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExportSection {
    /// The full snapshot's stable name.
    pub out: PathBuf,
    /// Also write the delta document there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_out: Option<PathBuf>,
    /// Judge the offer as of this day instead of today (replays, fixtures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub today: Option<Day>,
    pub max_withdraw_share: Share,
    pub tombstone_retention_days: u32,
    /// The entry-rule configuration file (`docs/rules.md`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<PathBuf>,
}

impl Default for ExportSection {
    fn default() -> Self {
        ExportSection {
            out: PathBuf::from("out/lheo.xml"),
            delta_out: None,
            today: None,
            max_withdraw_share: Share(DEFAULT_MAX_WITHDRAW_SHARE),
            tombstone_retention_days: DEFAULT_TOMBSTONE_RETENTION_DAYS,
            rules: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSection {
    /// When the export runs, in `timezone` wall time (`docs/scheduling.md`).
    pub cron: Cron,
    pub timezone: Zone,
    /// At start-up, run the last slot missed while no daemon was running.
    pub catch_up: bool,
    /// How far back a missed slot is still caught up, in hours.
    pub catch_up_window_hours: u32,
    /// How often an idle daemon looks for queued runs (on-demand requests, other
    /// instances' slots), in seconds.
    pub poll_seconds: u32,
    /// On SIGTERM/SIGINT, how long an export in progress may take to finish before it is
    /// abandoned (rolled back, resumed at the next start), in seconds.
    pub shutdown_grace_seconds: u32,
}

impl Default for ScheduleSection {
    fn default() -> Self {
        ScheduleSection {
            cron: DEFAULT_CRON.parse().expect("the default cron parses"),
            timezone: Zone(DEFAULT_TIMEZONE.parse().expect("a known zone")),
            catch_up: true,
            catch_up_window_hours: 36,
            poll_seconds: 5,
            shutdown_grace_seconds: 20,
        }
    }
}

impl ScheduleSection {
    pub fn schedule(&self) -> Schedule {
        Schedule::new(self.cron.clone(), self.timezone.0)
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSection {
    /// Where the feed server listens.
    pub listen: SocketAddr,
    /// The environment variable holding the admin key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_key_env: Option<String>,
    /// A file holding the admin key (one line; mode 0600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_key_file: Option<PathBuf>,
    /// Refused with a pointer to the two keys above; never stored.
    #[serde(default, skip_serializing)]
    admin_key: Option<Refused>,
}

impl Default for ServeSection {
    fn default() -> Self {
        ServeSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_key_env: None,
            admin_key_file: None,
            admin_key: None,
        }
    }
}

/// A secret value: never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads an admin key file, refusing one that other users may read or write: like ssh
/// with a private key, a key anyone on the machine can read is no longer a secret, and
/// it is better to stop than to run with it. The owner and group (`root:lheo-feed 0640`)
/// may read it.
pub fn read_admin_key_file(path: &Path) -> Result<String, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| e.to_string())?
            .permissions()
            .mode();
        if mode & 0o007 != 0 {
            return Err(format!(
                "other users may read or write it (mode {:o}): `chmod o-rwx` it (0600 or \
                 0640), and make a new key, since this one may have been read",
                mode & 0o777
            ));
        }
    }
    read_capped(path, MAX_SECRET_BYTES).map_err(|e| e.to_string())
}

impl ServeSection {
    /// The admin key, read from the variable or file the configuration names; `None` when
    /// neither is configured (admin endpoints then stay disabled).
    pub fn admin_key(&self) -> Result<Option<Secret>, String> {
        let key = match (&self.admin_key_env, &self.admin_key_file) {
            (Some(_), Some(_)) => {
                return Err("serve: admin_key_env and admin_key_file are both set: keep one".into())
            }
            (Some(var), None) => std::env::var(var).map_err(|_| {
                format!("serve.admin_key_env: the variable {var} is not set (or not UTF-8)")
            })?,
            (None, Some(path)) => read_admin_key_file(path)
                .map_err(|e| format!("serve.admin_key_file: {}: {e}", path.display()))?,
            (None, None) => return Ok(None),
        };
        let key = key.trim().to_owned();
        if key.len() < 16 {
            return Err(
                "serve: the admin key is shorter than 16 characters; generate one with \
                 `openssl rand -hex 32`"
                    .into(),
            );
        }
        Ok(Some(Secret(key)))
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable on a terminal or for one-off commands; JSON for `run` when stderr
    /// is not a terminal (journald, containers).
    #[default]
    Auto,
    Human,
    Json,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `lheo_feed=debug,sqlx=warn`). Default: `info` for
    /// `run`, `warn` for the other commands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

// ----- Value types that only hold valid values ------------------------------------------

/// A share between 0 and 1.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Share(pub f64);

impl TryFrom<f64> for Share {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&v) {
            Ok(Share(v))
        } else {
            Err(format!("{v} is not a share between 0 and 1 (0.2 is 20 %)"))
        }
    }
}

impl From<Share> for f64 {
    fn from(s: Share) -> f64 {
        s.0
    }
}

/// A day, `YYYY-MM-DD`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Day(pub String);

impl Day {
    pub fn date(&self) -> Date {
        Date::parse(&self.0).expect("checked when parsed")
    }
}

impl TryFrom<String> for Day {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        Date::parse(&v).map(|_| Day(v))
    }
}

impl From<Day> for String {
    fn from(d: Day) -> String {
        d.0
    }
}

/// An IANA time zone.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(pub chrono_tz::Tz);

impl TryFrom<String> for Zone {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        v.parse()
            .map(Zone)
            .map_err(|_| format!("{v:?} is not an IANA time zone name (e.g. Europe/Paris)"))
    }
}

impl From<Zone> for String {
    fn from(z: Zone) -> String {
        z.0.name().to_owned()
    }
}

impl TryFrom<String> for Cron {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        v.parse()
    }
}

impl From<Cron> for String {
    fn from(c: Cron) -> String {
        c.to_string()
    }
}

impl Serialize for Cron {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Cron {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A key that must never hold a value in the file.
#[derive(Clone, Debug, PartialEq)]
struct Refused;

impl<'de> Deserialize<'de> for Refused {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "secrets are never written in the configuration file: name a variable with \
             admin_key_env, or a file with admin_key_file",
        ))
    }
}

// ----- The table of keys ------------------------------------------------------------------

/// What an environment variable's text is turned into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Float,
    Bool,
}

/// One configuration key: `[section] key`, its type, its default as documented, and the
/// older variable names that also set it.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub section: &'static str,
    pub key: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub aliases: &'static [&'static str],
}

impl Key {
    /// `LHEO_FEED_SECTION_KEY`.
    pub fn env_var(&self) -> String {
        format!("LHEO_FEED_{}_{}", self.section, self.key).to_ascii_uppercase()
    }
}

const fn key(section: &'static str, key: &'static str, kind: Kind, default: &'static str) -> Key {
    Key {
        section,
        key,
        kind,
        default,
        aliases: &[],
    }
}

/// Every key of the typed sections (not `[push]` and `[[consumers]]`, which the push
/// module owns). `docs/configuration.md` has a row for each.
pub const KEYS: &[Key] = &[
    Key {
        aliases: &["LHEO_FEED_DATABASE_URL"],
        ..key(
            "store",
            "database_url",
            Kind::Text,
            "sqlite://lheo-feed.sqlite",
        )
    },
    key(
        "import",
        "max_gunzipped_bytes",
        Kind::Integer,
        "17179869184",
    ),
    key("export", "out", Kind::Text, "out/lheo.xml"),
    key("export", "delta_out", Kind::Text, "(none)"),
    Key {
        aliases: &["LHEO_FEED_TODAY"],
        ..key("export", "today", Kind::Text, "(the current day)")
    },
    key("export", "max_withdraw_share", Kind::Float, "0.2"),
    key("export", "tombstone_retention_days", Kind::Integer, "90"),
    Key {
        aliases: &["LHEO_FEED_RULES"],
        ..key(
            "export",
            "rules",
            Kind::Text,
            "(built in: the regional programmes; years from the Region file)",
        )
    },
    key("schedule", "cron", Kind::Text, "0 30 2 * * *"),
    key("schedule", "timezone", Kind::Text, "Europe/Paris"),
    key("schedule", "catch_up", Kind::Bool, "true"),
    key("schedule", "catch_up_window_hours", Kind::Integer, "36"),
    key("schedule", "poll_seconds", Kind::Integer, "5"),
    key("schedule", "shutdown_grace_seconds", Kind::Integer, "20"),
    key("serve", "listen", Kind::Text, "127.0.0.1:8080"),
    key(
        "serve",
        "admin_key_env",
        Kind::Text,
        "(none: admin endpoints off)",
    ),
    key("serve", "admin_key_file", Kind::Text, "(none)"),
    key("log", "format", Kind::Text, "auto"),
    Key {
        aliases: &["LHEO_FEED_LOG"],
        ..key("log", "filter", Kind::Text, "info for run, warn otherwise")
    },
];

// ----- Loading ----------------------------------------------------------------------------

/// A configuration that cannot be used: `FILE:LINE: key: reason`. Exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where a value came from, for `config check`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Source {
    File,
    Env(String),
}

/// The loaded configuration and where its non-default values came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    pub file: Option<PathBuf>,
    /// `section.key` → where it was set (absent: default).
    pub sources: BTreeMap<String, Source>,
}

fn read_capped(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "larger than {max} bytes; is this the right file?"
        )));
    }
    Ok(text)
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where `section.key` (or the section) is written in the file, if it is; a
/// numeric part indexes an array (`consumers`, `0`, `auth`: the first `[[consumers]]`'s
/// `auth`). The deepest part found gives the line.
fn line_of_key(text: &str, path: &[String]) -> Option<usize> {
    type Span = Option<std::ops::Range<usize>>;
    fn in_table(t: &dyn toml_edit::TableLike, path: &[String], found: Span) -> Span {
        let Some(first) = path.first() else {
            return found;
        };
        let Some((k, item)) = t.get_key_value(first) else {
            return found;
        };
        let found = k.span().or_else(|| item.span()).or(found);
        in_item(item, &path[1..], found)
    }
    fn in_item(item: &toml_edit::Item, path: &[String], found: Span) -> Span {
        let Some(first) = path.first() else {
            return found;
        };
        match item {
            toml_edit::Item::Table(t) => in_table(t, path, found),
            toml_edit::Item::Value(v) => in_value(v, path, found),
            toml_edit::Item::ArrayOfTables(a) => {
                match first.parse::<usize>().ok().and_then(|i| a.get(i)) {
                    Some(t) => {
                        // A `[[…]]` table: its span, else its first key's line.
                        let here = t
                            .span()
                            .or_else(|| t.iter().next().and_then(|(k, _)| t.key(k)?.span()));
                        in_table(t, &path[1..], here.or(found))
                    }
                    None => found,
                }
            }
            toml_edit::Item::None => found,
        }
    }
    fn in_value(v: &toml_edit::Value, path: &[String], found: Span) -> Span {
        let Some(first) = path.first() else {
            return found;
        };
        match v {
            toml_edit::Value::InlineTable(t) => in_table(t, path, found),
            toml_edit::Value::Array(a) => {
                match first.parse::<usize>().ok().and_then(|i| a.get(i)) {
                    Some(e) => in_value(e, &path[1..], e.span().or(found)),
                    None => found,
                }
            }
            _ => found,
        }
    }
    let doc: toml_edit::ImDocument<&str> = toml_edit::ImDocument::parse(text).ok()?;
    in_table(doc.as_table(), path, None).map(|r| line_of(text, r.start))
}

/// The key path a push error starts with (`consumers[0] (name).auth: …`,
/// `consumers[1].signing_secrets[0]: …`, `[push] concurrency: …`), for [`line_of_key`].
fn push_error_path(message: &str) -> Vec<String> {
    let mut path = Vec::new();
    let rest = if let Some(rest) = message.strip_prefix("[push]") {
        path.push("push".to_owned());
        rest.trim_start()
    } else if let Some(rest) = message.strip_prefix("push") {
        path.push("push".to_owned());
        rest
    } else if let Some(rest) = message.strip_prefix("consumers") {
        path.push("consumers".to_owned());
        rest
    } else {
        return path;
    };
    let mut chars = rest.char_indices().peekable();
    let word = |chars: &mut std::iter::Peekable<std::str::CharIndices>, stop: &[char]| {
        let mut w = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if stop.contains(&c) {
                break;
            }
            w.push(c);
            chars.next();
        }
        w
    };
    while let Some(&(_, c)) = chars.peek() {
        match c {
            '[' => {
                chars.next();
                let index = word(&mut chars, &[']']);
                chars.next();
                if index.parse::<usize>().is_err() {
                    break;
                }
                path.push(index);
                // The consumer's name, in parentheses after its index.
                if rest[chars.peek().map_or(rest.len(), |&(i, _)| i)..].starts_with(" (") {
                    word(&mut chars, &[')']);
                    chars.next();
                }
            }
            '.' => {
                chars.next();
                let key = word(&mut chars, &['.', '[', ':', ' ']);
                if key.is_empty() {
                    break;
                }
                path.push(key);
            }
            _ if path.len() == 1 && path[0] == "push" => {
                let key = word(&mut chars, &[':', ' ']);
                if !key.is_empty() {
                    path.push(key);
                }
                break;
            }
            _ => break,
        }
    }
    path
}

impl Loaded {
    /// Reads the file (if any) and the environment `env` (usually `std::env::vars()`).
    pub fn load(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Loaded, ConfigError> {
        let text = ConfigText::read(file)?;
        let mut table = text.parse()?;
        let mut sources = file_sources(&table);
        apply_env(&mut table, &mut sources, env)?;
        let config = text.deserialize(table, &sources)?;
        text.check(&config)?;
        Ok(Loaded {
            config,
            file: file.map(Path::to_path_buf),
            sources,
        })
    }

    /// Loads from the process's environment.
    pub fn from_env(file: Option<&Path>) -> Result<Loaded, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Loaded::load(file, &env)
    }
}

/// The configuration file's text, and its name as errors show it (both empty without a
/// file).
struct ConfigText {
    text: String,
    shown: String,
}

impl ConfigText {
    fn read(file: Option<&Path>) -> Result<ConfigText, ConfigError> {
        let Some(path) = file else {
            return Ok(ConfigText {
                text: String::new(),
                shown: String::new(),
            });
        };
        let shown = path.display().to_string();
        let text = read_capped(path, MAX_CONFIG_BYTES).map_err(|e| {
            ConfigError(format!(
                "{shown}: cannot read the configuration file: {e} (see \
                 docs/configuration.md; --config / {CONFIG_ENV})"
            ))
        })?;
        Ok(ConfigText { text, shown })
    }

    fn parse(&self) -> Result<toml::Table, ConfigError> {
        self.text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map(|s| line_of(&self.text, s.start)).unwrap_or(1);
            ConfigError(format!("{}:{line}: {}", self.shown, e.message().trim_end()))
        })
    }

    /// Where the key `path` is set, for an error: `FILE:LINE`, the file, or
    /// `configuration` without a file (its empty text has no lines).
    fn place(&self, path: &[String]) -> String {
        match line_of_key(&self.text, path) {
            Some(line) => format!("{}:{line}", self.shown),
            None if self.shown.is_empty() => "configuration".to_owned(),
            None => self.shown.clone(),
        }
    }

    /// The typed configuration; an error names the key and where its value came from.
    fn deserialize(
        &self,
        table: toml::Table,
        sources: &BTreeMap<String, Source>,
    ) -> Result<Config, ConfigError> {
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let path: Vec<String> = e
                .path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                    serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                    _ => None,
                })
                .collect();
            let dotted = path.join(".");
            let why = e.into_inner().message().trim_end().to_owned();
            let where_ = match sources.get(&dotted) {
                Some(Source::Env(var)) => var.clone(),
                _ => self.place(&path),
            };
            let key = if dotted.is_empty() {
                String::new()
            } else {
                format!("{dotted}: ")
            };
            ConfigError(format!("{where_}: {key}{why}"))
        })
    }

    /// The checks across keys, then `[push]` and `[[consumers]]`.
    fn check(&self, config: &Config) -> Result<(), ConfigError> {
        if let Err(why) = config.check() {
            return Err(ConfigError(if self.shown.is_empty() {
                why
            } else {
                format!("{}: {why}", self.shown)
            }));
        }
        // `[push]` and `[[consumers]]` are the push module's: checked here by the same
        // function `push` and `run` use, so `config check` accepts exactly what they do,
        // and the error names the file and line.
        if let Err(e) =
            crate::push::config::from_raw(config.push.as_ref(), config.consumers.as_ref())
        {
            let where_ = self.place(&push_error_path(&e.0));
            return Err(ConfigError(format!("{where_}: {}", e.0)));
        }
        Ok(())
    }
}

/// Where each key of the file's table comes from: the file (a whole section for `[push]`
/// and any value that is not a table).
fn file_sources(table: &toml::Table) -> BTreeMap<String, Source> {
    let mut sources = BTreeMap::new();
    for (section, value) in table {
        match value.as_table() {
            Some(t) if section != "push" => {
                for k in t.keys() {
                    sources.insert(format!("{section}.{k}"), Source::File);
                }
            }
            _ => {
                sources.insert(section.clone(), Source::File);
            }
        }
    }
    sources
}

/// Environment overrides, the new name first, then the older ones: each sets its key in
/// `table` and is recorded in `sources`.
fn apply_env(
    table: &mut toml::Table,
    sources: &mut BTreeMap<String, Source>,
    env: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for k in KEYS {
        let names = std::iter::once(k.env_var()).chain(k.aliases.iter().map(|a| a.to_string()));
        let Some((var, raw)) = names
            .filter_map(|n| env.get(&n).map(|v| (n, v.clone())))
            .find(|(_, v)| !v.is_empty())
        else {
            continue;
        };
        let bad = |why: String| ConfigError(format!("{var}: {}.{}: {why}", k.section, k.key));
        let value = env_value(k.kind, raw).map_err(bad)?;
        let section = table
            .entry(k.section)
            .or_insert_with(|| toml::Value::Table(Default::default()));
        match section.as_table_mut() {
            Some(t) => {
                t.insert(k.key.to_owned(), value);
            }
            None => return Err(bad(format!("[{}] in the file is not a table", k.section))),
        }
        sources.insert(format!("{}.{}", k.section, k.key), Source::Env(var));
    }
    Ok(())
}

/// An environment variable's text as a value of `kind`, or why it is not one.
fn env_value(kind: Kind, raw: String) -> Result<toml::Value, String> {
    Ok(match kind {
        Kind::Text => toml::Value::String(raw),
        Kind::Integer => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| format!("{raw:?} is not a whole number"))?,
        ),
        Kind::Float => toml::Value::Float(
            raw.trim()
                .parse()
                .map_err(|_| format!("{raw:?} is not a number"))?,
        ),
        Kind::Bool => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(format!("{raw:?} is not true or false")),
        }),
    })
}

impl Config {
    /// Checks across keys, after each value is valid on its own.
    fn check(&self) -> Result<(), String> {
        if self.serve.admin_key_env.is_some() && self.serve.admin_key_file.is_some() {
            return Err("serve: admin_key_env and admin_key_file are both set: keep one".into());
        }
        if self.import.max_gunzipped_bytes == 0 {
            return Err("import.max_gunzipped_bytes: must be at least 1".into());
        }
        if self.schedule.poll_seconds == 0 {
            return Err("schedule.poll_seconds: must be at least 1".into());
        }
        if let Some(v) = &self.serve.admin_key_env {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!(
                    "serve.admin_key_env: {v:?} is not an environment variable name"
                ));
            }
        }
        Ok(())
    }

    /// The configuration as TOML with every secret masked: the database password, and in
    /// the raw push sections every value whose key names a secret.
    pub fn masked(&self) -> toml::Value {
        let mut v = toml::Value::try_from(self).expect("the configuration serialises");
        if let Some(store) = v.get_mut("store").and_then(|s| s.as_table_mut()) {
            store.insert(
                "database_url".into(),
                toml::Value::String(crate::store::redact_url(&self.store.database_url)),
            );
        }
        for raw in ["push", "consumers"] {
            if let Some(section) = v.get_mut(raw) {
                mask_secrets(section);
            }
        }
        v
    }
}

/// Whether a raw key names a secret (but not where one is found, like `token_env`).
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let names_place = k.ends_with("_env") || k.ends_with("_file") || k.ends_with("_path");
    k == "value"
        || !names_place
            && [
                "password",
                "secret",
                "token",
                "key",
                "credential",
                "authorization",
            ]
            .iter()
            .any(|s| k.contains(s))
}

fn mask_secrets(v: &mut toml::Value) {
    match v {
        toml::Value::Table(t) => {
            for (k, value) in t.iter_mut() {
                if is_secret_key(k) && !value.is_table() && !value.is_array() {
                    *value = toml::Value::String("***".into());
                } else {
                    mask_secrets(value);
                }
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(mask_secrets),
        toml::Value::String(s) if s.contains("://") && s.contains('@') => {
            *s = crate::store::redact_url(s);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load_text(text: &str, pairs: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        Loaded::load(Some(&path), &env(pairs))
            .map_err(|e| ConfigError(e.0.replace(&path.display().to_string(), "FILE")))
    }

    #[test]
    fn defaults_without_a_file() {
        let l = Loaded::load(None, &env(&[])).unwrap();
        assert_eq!(l.config, Config::default());
        assert_eq!(l.config.schedule.cron.to_string(), "0 30 2 * * *");
        assert_eq!(l.config.schedule.timezone.0, chrono_tz::Europe::Paris);
        assert!(l.sources.is_empty());
    }

    #[test]
    fn env_overrides_the_file_and_the_new_name_wins_over_the_old() {
        let text = "[store]\ndatabase_url = \"sqlite://file.sqlite\"\n[schedule]\ncron = \"0 0 3 * * *\"\ncatch_up = true\n";
        let l = load_text(text, &[]).unwrap();
        assert_eq!(l.config.store.database_url, "sqlite://file.sqlite");
        assert_eq!(l.config.schedule.cron.to_string(), "0 0 3 * * *");
        let l = load_text(
            text,
            &[
                ("LHEO_FEED_SCHEDULE_CATCH_UP", "false"),
                ("LHEO_FEED_DATABASE_URL", "sqlite://old.sqlite"),
                ("LHEO_FEED_EXPORT_MAX_WITHDRAW_SHARE", "0.5"),
            ],
        )
        .unwrap();
        assert!(!l.config.schedule.catch_up);
        assert_eq!(l.config.store.database_url, "sqlite://old.sqlite");
        assert_eq!(l.config.export.max_withdraw_share, Share(0.5));
        assert_eq!(
            l.sources["store.database_url"],
            Source::Env("LHEO_FEED_DATABASE_URL".into())
        );
        let l = load_text(
            text,
            &[
                ("LHEO_FEED_STORE_DATABASE_URL", "sqlite://new.sqlite"),
                ("LHEO_FEED_DATABASE_URL", "sqlite://old.sqlite"),
            ],
        )
        .unwrap();
        assert_eq!(l.config.store.database_url, "sqlite://new.sqlite");
    }

    /// What `push` refuses, loading refuses, with the file, the line and the key, and
    /// without the secret.
    #[test]
    fn push_sections_are_checked_at_load_with_their_line() {
        let head = "[store]\ndatabase_url = \"x\"\n\n[[consumers]]\nname = \"a\"\nurl = \"https://a.example/\"\n\n[[consumers]]\nname = \"b\"\n";
        for (tail, want) in [
            (
                "url = \"https://b.example/\"\nauth = { kind = \"bearer\", token = \"tok-S3cret\" }\n",
                "FILE:11: consumers[1] (b).auth: a literal secret is refused",
            ),
            (
                "url = \"https://b.example/\"\nsigning_secrets = [{ env = \"W\" }, { value = \"whsec-S3cret\" }]\n",
                "FILE:11: consumers[1] (b).signing_secrets[1]: a literal secret is refused",
            ),
            (
                "url = \"https://user:pw-S3cret@b.example/\"\n",
                "FILE:10: consumers[1] (b).url: credentials in the URL are refused",
            ),
            (
                "url = \"https://b.example/\"\nmode = \"sometimes\"\n",
                "FILE:11: consumers[1].mode: unknown variant `sometimes`",
            ),
            (
                "url = \"https://b.example/\"\nmax_offres = 0\n",
                "FILE:11: consumers[1] (b).max_offres: between 1 and 100000",
            ),
        ] {
            let e = load_text(&format!("{head}{tail}"), &[]).unwrap_err().0;
            assert!(e.starts_with(want), "{e}\n  wanted {want}");
            assert!(!e.contains("S3cret"), "{e}");
        }
        let e = load_text("[push]\nconcurrency = 0\n", &[]).unwrap_err().0;
        assert!(e.starts_with("FILE:2: [push] concurrency"), "{e}");
        assert!(load_text(&format!("{head}url = \"https://b.example/\"\n"), &[]).is_ok());
    }

    #[test]
    fn bad_values_name_the_file_line_and_key() {
        for (text, want) in [
            (
                "[schedule]\n\ncron = \"0 61 2 * * *\"\n",
                "FILE:3: schedule.cron: minutes: 61",
            ),
            (
                "[export]\nmax_withdraw_share = 1.5\n",
                "FILE:2: export.max_withdraw_share: 1.5 is not a share",
            ),
            (
                "[schedule]\ntimezone = \"Europe/Pariss\"\n",
                "FILE:2: schedule.timezone: \"Europe/Pariss\" is not an IANA",
            ),
            (
                "[store]\ndatabase_url = \"x\"\n[serve]\nadmin_key = \"hunter2hunter2hunter2\"\n",
                "FILE:4: serve.admin_key: secrets are never written",
            ),
            (
                "[schedule]\ncrn = \"x\"\n",
                "FILE:2: schedule.crn: unknown field `crn`",
            ),
            ("[nope]\n", "FILE:1: nope: unknown field `nope`"),
            (
                "[log]\nformat = \"xml\"\n",
                "FILE:2: log.format: unknown variant `xml`",
            ),
            (
                "[export]\ntoday = \"2025-02-30\"\n",
                "FILE:2: export.today:",
            ),
            ("[export\n", "FILE:1: "),
            ("[serve]\nlisten = \"localhost\"\n", "FILE:2: serve.listen:"),
        ] {
            let e = load_text(text, &[]).unwrap_err().0;
            assert!(e.starts_with(want), "{text:?}:\n  got  {e}\n  want {want}…");
        }
        let e = load_text("", &[("LHEO_FEED_SCHEDULE_POLL_SECONDS", "soon")])
            .unwrap_err()
            .0;
        assert_eq!(
            e,
            "LHEO_FEED_SCHEDULE_POLL_SECONDS: schedule.poll_seconds: \"soon\" is not a whole number"
        );
        let e = load_text("", &[("LHEO_FEED_SCHEDULE_CRON", "every night")])
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("LHEO_FEED_SCHEDULE_CRON: schedule.cron: 2 fields"),
            "{e}"
        );
    }

    #[test]
    fn secrets_are_masked() {
        let text = "[store]\ndatabase_url = \"postgres://feed:pg-s3cret@db/lheo\"\n\
                    [push]\ntoken = \"push-s3cret\"\ntoken_env = \"PUSH_TOKEN\"\n\
                    [[consumers]]\nname = \"kairos\"\nurl = \"https://u:c0nsumer-s3cret@k.example/in\"\napi_key = \"k3y-s3cret\"\n\
                    signing_secrets = [{ value = \"whsec-s3cret\" }]\n";
        // Loading refuses such a file (push_sections_are_checked_at_load_with_their_line),
        // without echoing a secret; masking still hides them, should one get through.
        let e = load_text(text, &[]).unwrap_err().0;
        assert!(!e.contains("s3cret"), "{e}");
        let config: Config = toml::from_str(text).unwrap();
        let shown = toml::to_string(&config.masked()).unwrap();
        for secret in [
            "pg-s3cret",
            "push-s3cret",
            "c0nsumer-s3cret",
            "k3y-s3cret",
            "whsec-s3cret",
        ] {
            assert!(!shown.contains(secret), "{secret} in:\n{shown}");
        }
        assert!(shown.contains("PUSH_TOKEN"), "{shown}");
        assert!(shown.contains("kairos"), "{shown}");
    }

    #[test]
    fn the_admin_key_comes_from_a_variable_or_a_file_never_the_file_itself() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        std::fs::write(&key_file, "0123456789abcdef0123\n").unwrap();
        let s = ServeSection {
            admin_key_file: Some(key_file.clone()),
            ..Default::default()
        };
        // Like ssh with a private key: a key file others may read is refused, loudly.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let set = |mode| {
                std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(mode)).unwrap()
            };
            for mode in [0o644, 0o604, 0o602] {
                set(mode);
                let e = s.admin_key().unwrap_err();
                assert!(e.contains("other users may read or write it"), "{e}");
                assert!(!e.contains("0123456789abcdef"), "{e}");
            }
            set(0o640);
            assert!(s.admin_key().is_ok(), "owner and group may read it");
            set(0o600);
        }
        assert_eq!(
            s.admin_key().unwrap().unwrap().expose(),
            "0123456789abcdef0123"
        );
        assert_eq!(format!("{:?}", s.admin_key().unwrap()), "Some(Secret(***))");
        let s = ServeSection {
            admin_key_env: Some("LHEO_FEED_TEST_SURELY_UNSET_VARIABLE".into()),
            ..Default::default()
        };
        assert!(s.admin_key().unwrap_err().contains("is not set"));
    }

    #[test]
    fn keys_cover_every_field() {
        // A configuration with every optional key set serialises to exactly KEYS.
        let mut c = Config::default();
        c.export.delta_out = Some("d.xml".into());
        c.export.today = Some(Day("2025-06-02".into()));
        c.export.rules = Some("r.toml".into());
        c.serve.admin_key_env = Some("K".into());
        c.serve.admin_key_file = Some("k".into());
        c.log.filter = Some("info".into());
        let v = toml::Value::try_from(&c).unwrap();
        let mut fields: Vec<String> = Vec::new();
        for (section, t) in v.as_table().unwrap() {
            for k in t.as_table().unwrap().keys() {
                fields.push(format!("{section}.{k}"));
            }
        }
        fields.sort();
        let mut keys: Vec<String> = KEYS
            .iter()
            .map(|k| format!("{}.{}", k.section, k.key))
            .collect();
        keys.sort();
        assert_eq!(fields, keys);
    }

    #[test]
    fn the_documentation_lists_every_key_its_default_and_variable() {
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/configuration.md"
        ))
        .unwrap();
        for k in KEYS {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}.{}` |", k.section, k.key)))
                .unwrap_or_else(|| panic!("no row for {}.{}", k.section, k.key));
            assert!(row.contains(&format!("`{}`", k.env_var())), "{row}");
            assert!(row.contains(k.default), "default {:?} in {row}", k.default);
            for a in k.aliases {
                assert!(row.contains(a), "{a} in {row}");
            }
        }
    }

    #[test]
    fn the_example_configuration_loads_and_sets_every_section() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/lheo-feed.example.toml"
        ));
        let l = Loaded::load(Some(path), &env(&[])).unwrap();
        assert!(l.config.store.database_url.starts_with("postgres://"));
        assert_eq!(l.config.schedule, ScheduleSection::default());
        assert_eq!(
            l.config.serve.admin_key_env.as_deref(),
            Some("LHEO_FEED_ADMIN_KEY")
        );
        for k in KEYS
            .iter()
            .filter(|k| k.section != "export" || k.key != "today")
        {
            let documented = l.sources.contains_key(&format!("{}.{}", k.section, k.key));
            let optional = matches!(k.key, "rules" | "admin_key_file");
            assert!(
                documented || optional,
                "{}.{} not in the example",
                k.section,
                k.key
            );
        }
    }

    proptest::proptest! {
        /// Whatever the file holds, loading gives a configuration or a located error,
        /// never a panic.
        #[test]
        fn any_text_loads_or_fails_cleanly(text in "(\\[[a-z]{1,8}\\]\n)?([a-z_]{1,12} = (\"[^\"\n]{0,12}\"|[0-9.]{1,4}|true)\n){0,4}") {
            match load_text(&text, &[]) {
                Ok(_) => {}
                Err(e) => proptest::prop_assert!(e.0.starts_with("FILE"), "{}", e.0),
            }
        }
    }
}
