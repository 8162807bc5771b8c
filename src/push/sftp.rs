//! One SFTP deposit: connect with the pinned host key, upload a finished local file under a
//! temporary name (resuming a partial one the server kept), check it, rename it into
//! place, write its `.sha256`, then apply the retention (`docs/consumers.md`, "SFTP").
//!
//! The order is what makes a deposit safe to pick up: the final name only ever appears by
//! a rename of a file whose size and SHA-256, read back from the server, are those of the
//! local file; the sidecar comes after it, and older deposits are deleted only after both.
//! Memory is bounded: the file goes in chunks, at most [`WINDOW`] writes in flight.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::OpenFlags;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::config::{ConfigError, ConsumerConfig, HostKeyPin, SftpKeys};

/// Bytes per SFTP write (OpenSSH's sftp-server accepts up to 255 KiB; 32 KiB is what every
/// server takes).
const CHUNK: usize = 32 * 1024;
/// Writes in flight at once: CHUNK × WINDOW bytes of the file in memory at most.
const WINDOW: usize = 16;
/// Longest private key file read.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// An SFTP consumer, resolved: the key read, the pin checked readable.
#[derive(Clone)]
pub struct Target {
    pub consumer: String,
    pub keys: SftpKeys,
    pub timeout: Duration,
    key: Arc<PrivateKey>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("consumer", &self.consumer)
            .field("host", &self.keys.host)
            .field("port", &self.keys.port)
            .finish_non_exhaustive()
    }
}

/// Reads the consumer's private key and checks its known_hosts file, when `push` starts:
/// a missing or unreadable file is a configuration error (exit code 2) naming it.
pub fn target(c: &ConsumerConfig) -> Result<Option<Target>, ConfigError> {
    let Some(keys) = c.sftp() else {
        return Ok(None);
    };
    let at = format!("consumer {}", c.name);
    let path = &keys.private_key_file;
    let meta = std::fs::metadata(path).map_err(|e| {
        ConfigError(format!(
            "{at}.private_key_file: cannot read {}: {e}",
            path.display()
        ))
    })?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(ConfigError(format!(
            "{at}.private_key_file: {} is {} bytes, more than a private key: wrong file?",
            path.display(),
            meta.len()
        )));
    }
    let key = russh::keys::load_secret_key(path, None).map_err(|e| {
        ConfigError(format!(
            "{at}.private_key_file: {} is not a usable private key without passphrase ({e}); \
             make one with `ssh-keygen -t ed25519 -N '' -f FILE`",
            path.display()
        ))
    })?;
    if let HostKeyPin::KnownHosts(f) = &keys.host_key {
        std::fs::File::open(f).map_err(|e| {
            ConfigError(format!(
                "{at}.known_hosts: cannot read {}: {e}",
                f.display()
            ))
        })?;
    }
    Ok(Some(Target {
        consumer: c.name.clone(),
        keys: keys.clone(),
        timeout: c.timeout.0,
        key: Arc::new(key),
    }))
}

/// The client side of the handshake: accepts the server only with the pinned key, and
/// keeps the fingerprint it showed for the error.
struct Pinned {
    pin: HostKeyPin,
    host: String,
    port: u16,
    refused: Arc<Mutex<Option<String>>>,
}

impl russh::client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(c) => {
                *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                    "the server showed a host certificate ({}); pin its key instead",
                    c.public_key().fingerprint(HashAlg::Sha256)
                ));
                return Ok(false);
            }
        };
        let seen = key.fingerprint(HashAlg::Sha256).to_string();
        let refusal = match &self.pin {
            HostKeyPin::Sha256(want) if *want == seen => None,
            HostKeyPin::Sha256(want) => Some(format!(
                "host key refused: the server showed {seen} ({}), the configuration pins {want}; \
                 if the server's key really changed, check the new one with its operator and set \
                 host_key_sha256 = \"{seen}\"",
                key.algorithm()
            )),
            HostKeyPin::KnownHosts(file) => {
                match russh::keys::check_known_hosts_path(&self.host, self.port, key, file) {
                    Ok(true) => None,
                    Ok(false) => Some(format!(
                        "host key refused: the server showed {seen} ({}), which {} does not hold \
                         for {}; if it is the right server, add its key there (`ssh-keyscan -p {} \
                         {}`, checked with its operator)",
                        key.algorithm(),
                        file.display(),
                        self.host_port(),
                        self.port,
                        self.host
                    )),
                    Err(e) => Some(format!(
                        "host key refused: the server showed {seen} ({}), and {} holds another \
                         key for {} ({e}): the server's key changed or this is not the server",
                        key.algorithm(),
                        file.display(),
                        self.host_port()
                    )),
                }
            }
        };
        let ok = refusal.is_none();
        *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = refusal;
        Ok(ok)
    }
}

impl Pinned {
    fn host_port(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

/// An open SFTP session (and the SSH connection under it).
pub struct Connection {
    pub sftp: SftpSession,
    _ssh: russh::client::Handle<Pinned>,
}

fn timed<T>(
    what: &str,
    t: Duration,
    r: Result<Result<T, impl std::fmt::Display>, tokio::time::error::Elapsed>,
) -> Result<T, String> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {t:?}")),
    }
}

/// Connects, checks the host key against the pin, authenticates with the key and opens
/// the `sftp` subsystem.
pub async fn connect(t: &Target) -> Result<Connection, String> {
    let k = &t.keys;
    let config = Arc::new(russh::client::Config {
        inactivity_timeout: Some(t.timeout.max(Duration::from_secs(5)) * 4),
        ..Default::default()
    });
    let refused = Arc::new(Mutex::new(None));
    let handler = Pinned {
        pin: k.host_key.clone(),
        host: k.host.clone(),
        port: k.port,
        refused: refused.clone(),
    };
    let at = format!("{}:{}", k.host, k.port);
    let connected = tokio::time::timeout(
        t.timeout,
        russh::client::connect(config, (k.host.as_str(), k.port), handler),
    )
    .await;
    let mut ssh = match connected {
        Ok(Ok(h)) => h,
        other => {
            if let Some(why) = refused.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return Err(format!("{at}: {why}"));
            }
            return Err(match other {
                Ok(Err(e)) => format!("cannot connect to {at}: {e}"),
                _ => format!("cannot connect to {at}: no answer within {:?}", t.timeout),
            });
        }
    };
    let hash = timed(
        "SSH",
        t.timeout,
        tokio::time::timeout(t.timeout, ssh.best_supported_rsa_hash()).await,
    )?
    .flatten();
    let auth = timed(
        "SSH authentication",
        t.timeout,
        tokio::time::timeout(
            t.timeout,
            ssh.authenticate_publickey(
                k.user.clone(),
                PrivateKeyWithHashAlg::new(t.key.clone(), hash),
            ),
        )
        .await,
    )?;
    if !auth.success() {
        return Err(format!(
            "{at}: the server refused the key of {} for user {}: give the server's operator the \
             public key (`ssh-keygen -y -f {}`)",
            t.consumer,
            k.user,
            k.private_key_file.display()
        ));
    }
    let channel = timed(
        "SSH channel",
        t.timeout,
        tokio::time::timeout(t.timeout, ssh.channel_open_session()).await,
    )?;
    timed(
        "sftp subsystem",
        t.timeout,
        tokio::time::timeout(t.timeout, channel.request_subsystem(true, "sftp")).await,
    )?;
    let sftp = timed(
        "sftp",
        t.timeout,
        tokio::time::timeout(t.timeout, SftpSession::new(channel.into_stream())).await,
    )?;
    sftp.set_timeout(t.timeout.as_secs().max(1));
    Ok(Connection { sftp, _ssh: ssh })
}

/// A finished local document to deposit.
pub struct Upload<'a> {
    /// The final name, in `remote_dir`.
    pub name: &'a str,
    pub file: &'a std::fs::File,
    pub size: u64,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: &'a str,
}

/// What a deposit did.
#[derive(Clone, Debug, Default)]
pub struct Deposited {
    /// Bytes the server already had from an interrupted attempt (not sent again).
    pub resumed_from: u64,
    /// Bytes sent.
    pub sent: u64,
    /// Older deposits removed by the retention.
    pub removed: Vec<String>,
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_owned()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

/// The temporary name a deposit is uploaded under: hidden, and the same on every attempt,
/// so that the next one can resume it.
pub fn temporary_name(name: &str) -> String {
    format!(".{name}.part")
}

/// The whole deposit (see the module's docs).
pub async fn deposit(conn: &Connection, t: &Target, up: &Upload<'_>) -> Result<Deposited, String> {
    let sftp = &conn.sftp;
    let dir = t.keys.remote_dir.as_str();
    let final_path = join(dir, up.name);
    let part = join(dir, &temporary_name(up.name));
    let mut done = Deposited::default();
    let resumed_from = partial_size(sftp, &part, up.size).await;
    done.resumed_from = resumed_from;
    done.sent = send(sftp, &part, up, resumed_from).await?;
    let mut ok = verify(sftp, &part, up).await?;
    if !ok && resumed_from > 0 {
        // The kept prefix was not ours after all: start again from nothing.
        tracing::warn!(
            consumer = %t.consumer,
            file = up.name,
            "the resumed upload does not match its checksum: uploading it again from the start"
        );
        done.resumed_from = 0;
        done.sent = send(sftp, &part, up, 0).await?;
        ok = verify(sftp, &part, up).await?;
    }
    if !ok {
        let _ = sftp.remove_file(part.as_str()).await;
        return Err(format!(
            "{part}: the uploaded file does not match its SHA-256 when read back; removed, \
             the next attempt sends it again"
        ));
    }
    // A previous attempt may have put this very deposit in place without being recorded:
    // the plain SFTP rename does not replace a file.
    if sftp.try_exists(final_path.as_str()).await.unwrap_or(false) {
        sftp.remove_file(final_path.as_str())
            .await
            .map_err(|e| format!("{final_path}: cannot replace the earlier copy: {e}"))?;
    }
    sftp.rename(part.as_str(), final_path.as_str())
        .await
        .map_err(|e| format!("cannot rename {part} to {final_path}: {e}"))?;
    write_sidecar(sftp, dir, up).await?;
    done.removed = retention(sftp, t).await?;
    Ok(done)
}

/// Size of a partial upload the server kept, when it can be resumed (no larger than the
/// file); 0 otherwise.
async fn partial_size(sftp: &SftpSession, part: &str, size: u64) -> u64 {
    match sftp.metadata(part).await {
        Ok(m) => m.size.filter(|s| *s <= size).unwrap_or(0),
        Err(_) => 0,
    }
}

/// Sends the file from `from` on into `part` (truncated first when `from` is 0). Returns
/// the bytes sent.
async fn send(sftp: &SftpSession, part: &str, up: &Upload<'_>, from: u64) -> Result<u64, String> {
    let mut flags = OpenFlags::CREATE | OpenFlags::WRITE;
    if from == 0 {
        flags |= OpenFlags::TRUNCATE;
    }
    let mut remote = sftp
        .open_with_flags(part, flags)
        .await
        .map_err(|e| format!("cannot open {part} on the server: {e}"))?;
    remote
        .seek(std::io::SeekFrom::Start(from))
        .await
        .map_err(|e| format!("{part}: {e}"))?;
    let mut local = tokio::fs::File::from_std(up.file.try_clone().map_err(|e| e.to_string())?);
    local
        .seek(std::io::SeekFrom::Start(from))
        .await
        .map_err(|e| format!("the local copy: {e}"))?;
    let mut buf = vec![0u8; CHUNK * WINDOW];
    let mut sent = 0u64;
    loop {
        let n = local
            .read(&mut buf)
            .await
            .map_err(|e| format!("the local copy: {e}"))?;
        if n == 0 {
            break;
        }
        remote.write_all(&buf[..n]).await.map_err(|e| {
            format!(
                "upload of {part} interrupted after {} bytes: {e}",
                from + sent
            )
        })?;
        sent += n as u64;
    }
    remote.shutdown().await.map_err(|e| {
        format!("upload of {part}: the server did not confirm the last writes: {e}")
    })?;
    Ok(sent)
}

/// Whether `part` on the server has the file's size and SHA-256 (read back).
async fn verify(sftp: &SftpSession, part: &str, up: &Upload<'_>) -> Result<bool, String> {
    let size = sftp
        .metadata(part)
        .await
        .map_err(|e| format!("{part}: {e}"))?
        .size;
    if size != Some(up.size) {
        return Ok(false);
    }
    let mut remote = sftp
        .open(part)
        .await
        .map_err(|e| format!("cannot read {part} back: {e}"))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK * WINDOW];
    loop {
        let n = remote
            .read(&mut buf)
            .await
            .map_err(|e| format!("reading {part} back: {e}"))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    let _ = remote.shutdown().await;
    Ok(hex::encode(hash.finalize()) == up.sha256)
}

/// `NAME.sha256` in sha256sum's format, itself put in place by a rename.
async fn write_sidecar(sftp: &SftpSession, dir: &str, up: &Upload<'_>) -> Result<(), String> {
    let name = format!("{}.sha256", up.name);
    let part = join(dir, &temporary_name(&name));
    let path = join(dir, &name);
    let line = format!("{}  {}\n", up.sha256, up.name);
    let mut f = sftp
        .open_with_flags(
            part.as_str(),
            OpenFlags::CREATE | OpenFlags::WRITE | OpenFlags::TRUNCATE,
        )
        .await
        .map_err(|e| format!("cannot create {part}: {e}"))?;
    f.write_all(line.as_bytes())
        .await
        .map_err(|e| format!("cannot write {part}: {e}"))?;
    f.shutdown()
        .await
        .map_err(|e| format!("cannot write {part}: {e}"))?;
    if sftp.try_exists(path.as_str()).await.unwrap_or(false) {
        let _ = sftp.remove_file(path.as_str()).await;
    }
    sftp.rename(part.as_str(), path.as_str())
        .await
        .map_err(|e| format!("cannot rename {part} to {path}: {e}"))
}

/// Keeps the `keep` newest deposits of this consumer (by generation) with their sidecars,
/// and removes older ones and their leftover temporary files. Names the pattern did not
/// make are never touched.
async fn retention(sftp: &SftpSession, t: &Target) -> Result<Vec<String>, String> {
    let dir = t.keys.remote_dir.as_str();
    let listing = if dir.is_empty() { "." } else { dir };
    let entries = sftp
        .read_dir(listing)
        .await
        .map_err(|e| format!("cannot list {listing} for the retention: {e}"))?;
    let names: Vec<String> = entries.map(|e| e.file_name()).collect();
    let pattern = &t.keys.file_name;
    let mut deposits: Vec<(i64, String)> = names
        .iter()
        .filter_map(|n| Some((pattern.generation_of(n, &t.consumer)?, n.clone())))
        .collect();
    deposits.sort_by(|a, b| b.cmp(a));
    let mut removed = Vec::new();
    let Some(&(oldest_kept, _)) = deposits.get(t.keys.keep as usize - 1) else {
        return Ok(removed);
    };
    for (_, name) in deposits.iter().skip(t.keys.keep as usize) {
        for victim in [name.clone(), format!("{name}.sha256")] {
            if names.contains(&victim) {
                sftp.remove_file(join(dir, &victim))
                    .await
                    .map_err(|e| format!("retention: cannot remove {victim}: {e}"))?;
            }
        }
        removed.push(name.clone());
    }
    // Temporary files of deposits older than the ones kept: interrupted, then superseded.
    for n in &names {
        let Some(inner) = n.strip_prefix('.').and_then(|r| r.strip_suffix(".part")) else {
            continue;
        };
        let inner = inner.strip_suffix(".sha256").unwrap_or(inner);
        if pattern
            .generation_of(inner, &t.consumer)
            .is_some_and(|g| g < oldest_kept)
        {
            let _ = sftp.remove_file(join(dir, n)).await;
        }
    }
    Ok(removed)
}
