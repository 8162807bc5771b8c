//! SFTP consumers through the outbox: each pending deposit (a batch row without a body,
//! [`outbox::form_deposit`]) is built when it is sent — the consumer's document streamed
//! from `published` into an anonymous local file, gzipped and hashed as it goes — and
//! deposited by [`sftp::deposit`]. Attempts, retries, dead letters and the pause are the
//! outbox's, exactly as for HTTP batches.
//!
//! The document is the one HTTP batches carry (`docs/consumers.md`): `snapshot`, every live
//! offer passing the consumer's filter; `delta`, the offers the generation changed that
//! pass the filter, and the others it changed as withdrawals. Its `horodatage-export` is
//! the generation's own, so a deposit rebuilt for a retry is byte for byte the same file
//! (which is what lets an interrupted upload resume).

use std::io::{Seek as _, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::config::{ConsumerConfig, FileNamePattern, Filter, NameValues, Policy};
use super::outbox::{self, now_ms, DepositRecord};
use super::sftp::{self, Target, Upload};
use super::wire::{self, BatchInfo};
use crate::lheo::writer::document_header;
use crate::store::{fragments, in_tx, Store};

/// Offers read per statement while building a document.
const PAGE: i64 = 500;

/// What serving one SFTP consumer did (the pusher adds it to its summary).
#[derive(Clone, Debug, Default)]
pub struct Served {
    pub formed: u64,
    pub delivered: u64,
    pub offres: u64,
    pub retraits: u64,
    pub document_bytes: u64,
    pub file_bytes: u64,
    pub failed_attempts: u64,
    pub dead_letters: u64,
    pub paused: bool,
    /// Bytes resumed from partial uploads.
    pub resumed: u64,
}

/// A document built into a local file, ready to deposit.
struct Built {
    file: std::fs::File,
    size: u64,
    sha256: String,
    name: String,
    record: DepositRecord,
}

/// Writes the deposited bytes to the file and hashes them.
struct Hashing {
    out: std::io::BufWriter<std::fs::File>,
    hash: Sha256,
    bytes: u64,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The document being written: plain, or through gzip (deterministic: no name, no time in
/// the header, so a rebuilt deposit is the same bytes).
enum Sink {
    Plain(Hashing),
    Gzip(Box<flate2::write::GzEncoder<Hashing>>),
}

impl Sink {
    fn new(gzip: bool) -> Result<(Sink, std::fs::File)> {
        let file = tempfile::tempfile().context("cannot create the deposit's local file")?;
        let h = Hashing {
            out: std::io::BufWriter::with_capacity(256 * 1024, file.try_clone()?),
            hash: Sha256::new(),
            bytes: 0,
        };
        Ok((
            if gzip {
                Sink::Gzip(Box::new(flate2::write::GzEncoder::new(
                    h,
                    flate2::Compression::default(),
                )))
            } else {
                Sink::Plain(h)
            },
            file,
        ))
    }
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        match self {
            Sink::Plain(h) => h.write_all(bytes),
            Sink::Gzip(g) => g.write_all(bytes),
        }
        .context("cannot write the deposit's local file (is the temporary directory full?)")
    }
    fn finish(self) -> Result<(u64, String)> {
        let mut h = match self {
            Sink::Plain(h) => h,
            Sink::Gzip(g) => g.finish()?,
        };
        h.out.flush()?;
        h.out.get_ref().sync_data()?;
        Ok((h.bytes, hex::encode(h.hash.finalize())))
    }
}

/// What building found.
enum Plan {
    /// A newer generation was committed since the deposit was formed: form it again.
    Stale,
    /// Nothing for this consumer (a delta whose changes are all outside its filter, or a
    /// filter no published offer passes): recorded as delivered, no file.
    Nothing(DepositRecord),
    Ready(Built),
}

/// The generation's day in Paris (`{date}`), from its `horodatage-export`.
fn paris_day(horodatage: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(horodatage)
        .map(|t| {
            t.with_timezone(&chrono_tz::Europe::Paris)
                .format("%Y-%m-%d")
                .to_string()
        })
        .unwrap_or_else(|_| horodatage.get(..10).unwrap_or("0000-00-00").to_owned())
}

/// Builds the deposit of batch `b` into a local file, in one read snapshot of the store.
/// `lease`: the pusher's claim (owner, milliseconds), renewed as pages are read.
async fn build(
    store: &Store,
    c: &ConsumerConfig,
    b: &outbox::BatchRow,
    lease: (&str, i64),
) -> Result<Plan> {
    let delta = b.kind == "delta";
    let names = &c.sftp().expect("an SFTP consumer").file_name;
    let plan = in_tx!(
        store,
        "BEGIN",
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        "the deposit's read transaction",
        conn => 'tx: {
            // Rows of generations committed since the deposit was formed: form it again
            // (it becomes a snapshot of the newest). Generations that changed nothing have
            // no row and change nothing to the deposit.
            let newer: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM deliveries WHERE consumer = $1 AND batched_at IS NULL",
            )
            .bind(&c.name)
            .fetch_one(&mut *conn)
            .await?;
            if newer > 0 {
                break 'tx Plan::Stale;
            }
            let generation = b.last_generation;
            let horodatage: String =
                sqlx::query_scalar("SELECT horodatage_export FROM generations WHERE id = $1")
                    .bind(generation)
                    .fetch_one(&mut *conn)
                    .await
                    .context("the deposit's generation is not in the store")?;
            let mut doc = Document::new(c.gzip, delta, generation, horodatage)?;
            let mut after = (-1_i64, -1_i64);
            let mut renewed = Instant::now();
            let sql = page_sql(delta);
            loop {
                let rows: Vec<PageRow> = sqlx::query_as(&sql)
                    .bind(generation)
                    .bind(after.0)
                    .bind(after.1)
                    .bind(PAGE)
                    .fetch_all(&mut *conn)
                    .await?;
                let Some(last) = rows.last() else { break };
                after = (last.0, last.1);
                // Building a national snapshot outlasts the claim: keep it.
                if renewed.elapsed() > Duration::from_millis((lease.1 / 3).max(100) as u64) {
                    if !outbox::renew(store, &c.name, lease.0, lease.1).await? {
                        anyhow::bail!("lease on {} lost to another pusher while building its deposit", c.name);
                    }
                    renewed = Instant::now();
                }
                for row in rows {
                    doc.take(&c.filter, row)?;
                }
            }
            doc.finish(&c.name, names, b.first_generation)?
        }
    );
    Ok(plan)
}

/// One page of offers read for a deposit: formation, action, live, programmes,
/// départements, and the fragment (compressed or plain).
type PageRow = (
    i64,
    i64,
    bool,
    String,
    String,
    Option<Vec<u8>>,
    Option<String>,
);

/// The statement reading a page of [`PageRow`]s after `($2, $3)`: for a delta, the offers
/// generation `$1` changed; for a snapshot, every live offer (`$1` bound but unused, so both
/// take the same binds).
fn page_sql(delta: bool) -> String {
    let frag = fragments::select_columns("p.fragment", "p.withdrawn_generation IS NULL");
    if delta {
        format!(
            "SELECT p.formation_no, p.action_no, p.withdrawn_generation IS NULL, \
             p.programmes, p.departements, {frag} FROM changes ch JOIN published p \
             ON p.formation_no = ch.formation_no AND p.action_no = ch.action_no \
             WHERE ch.generation = $1 AND (p.formation_no > $2 OR (p.formation_no = $2 \
             AND p.action_no > $3)) ORDER BY p.formation_no, p.action_no LIMIT $4"
        )
    } else {
        format!(
            "SELECT p.formation_no, p.action_no, p.withdrawn_generation IS NULL, \
             p.programmes, p.departements, {frag} FROM published p \
             WHERE p.withdrawn_generation IS NULL AND $1 = $1 AND (p.formation_no > $2 \
             OR (p.formation_no = $2 AND p.action_no > $3)) \
             ORDER BY p.formation_no, p.action_no LIMIT $4"
        )
    }
}

/// A deposit's document as it is written: the offers that pass go to the file, the
/// others a delta changed are kept as withdrawals for its tail.
struct Document {
    sink: Sink,
    file: std::fs::File,
    record: DepositRecord,
    retraits: Vec<String>,
    horodatage: String,
}

impl Document {
    fn new(gzip: bool, delta: bool, generation: i64, horodatage: String) -> Result<Document> {
        let (sink, file) = Sink::new(gzip)?;
        Ok(Document {
            sink,
            file,
            record: DepositRecord {
                generation,
                kind: if delta { "delta" } else { "snapshot" },
                ..Default::default()
            },
            retraits: Vec::new(),
            horodatage,
        })
    }

    /// Writes one offer if it is live and passes `filter` (the header before the first);
    /// in a delta, records the others as withdrawals.
    fn take(&mut self, filter: &Filter, row: PageRow) -> Result<()> {
        let (f, a, live, programmes, departements, lz4, plain) = row;
        let fragment = fragments::decode_text(lz4, plain)?.unwrap_or_default();
        let (pass, fragment) = outbox::passes(filter, programmes, departements, fragment);
        if live && pass {
            if self.record.offres == 0 {
                self.sink
                    .put(document_header(&self.horodatage).as_bytes())?;
            }
            self.sink.put(fragment.as_bytes())?;
            self.record.offres += 1;
            self.record.raw_bytes += fragment.len() as i64;
        } else if self.record.kind == "delta" {
            self.retraits.push(format!("{f}-{a}"));
        }
        Ok(())
    }

    /// Writes the tail (or the withdrawals-only document) and names the file; `Nothing`
    /// when there is neither an offer nor a withdrawal.
    fn finish(
        mut self,
        consumer: &str,
        names: &FileNamePattern,
        first_generation: i64,
    ) -> Result<Plan> {
        let record = &mut self.record;
        let horodatage = &self.horodatage;
        let info = BatchInfo {
            consumer,
            kind: record.kind,
            first_generation,
            last_generation: record.generation,
            horodatage_export: horodatage,
        };
        record.retraits = self.retraits.len() as i64;
        let tail = if record.offres > 0 {
            record.raw_bytes += document_header(horodatage).len() as i64;
            wire::document_tail(&info, &self.retraits)
        } else if !self.retraits.is_empty() {
            wire::retraits_document(&info, &self.retraits)
        } else {
            return Ok(Plan::Nothing(self.record));
        };
        self.sink.put(tail.as_bytes())?;
        record.raw_bytes += tail.len() as i64;
        let (size, sha256) = self.sink.finish()?;
        let name = names.render(&NameValues {
            date: &paris_day(horodatage),
            generation: record.generation,
            kind: record.kind,
            consumer,
        });
        record.file = name.clone();
        Ok(Plan::Ready(Built {
            file: self.file,
            size,
            sha256,
            name,
            record: self.record,
        }))
    }
}

/// Serves one claimed SFTP consumer: forms its deposit, builds it and deposits it, until
/// nothing is due (or an attempt failed and must wait). `owner`/`lease_ms`: the pusher's
/// claim, renewed while a long upload runs.
pub async fn serve(
    store: &Store,
    c: &ConsumerConfig,
    target: &Target,
    policy: &Policy,
    owner: &str,
    lease_ms: i64,
) -> Result<Served> {
    let mut s = Served::default();
    let name = c.name.as_str();
    let mut stale = 0;
    loop {
        if !outbox::renew(store, name, owner, lease_ms).await? {
            tracing::warn!(consumer = name, "lease lost to another pusher");
            break;
        }
        if outbox::form_deposit(store, c).await? {
            s.formed += 1;
        }
        let Some(b) = outbox::head(store, name).await? else {
            break;
        };
        if b.next_attempt_at > now_ms() {
            break;
        }
        let start = Instant::now();
        let outcome = match build(store, c, &b, (owner, lease_ms)).await? {
            // Exports committing faster than deposits are built: the next pass goes on.
            Plan::Stale if stale >= 10 => break,
            Plan::Stale => {
                stale += 1;
                continue;
            }
            Plan::Nothing(record) => {
                outbox::mark_deposited(store, name, b.id, &record).await?;
                tracing::info!(
                    consumer = name,
                    generation = record.generation,
                    "nothing for this consumer in the generation: no file deposited"
                );
                continue;
            }
            Plan::Ready(built) => attempt(store, target, &built, owner, lease_ms)
                .await
                .map(|d| (built, d)),
        };
        match outcome {
            Ok((built, done)) => {
                outbox::mark_deposited(store, name, b.id, &built.record).await?;
                tracing::info!(
                    consumer = name,
                    batch = b.id,
                    file = %built.name,
                    generation = built.record.generation,
                    kind = built.record.kind,
                    offres = built.record.offres,
                    retraits = built.record.retraits,
                    bytes = built.size,
                    resumed_from = done.resumed_from,
                    removed = done.removed.len(),
                    seconds = start.elapsed().as_secs_f64(),
                    "deposited"
                );
                s.delivered += 1;
                s.offres += built.record.offres as u64;
                s.retraits += built.record.retraits as u64;
                s.document_bytes += built.record.raw_bytes as u64;
                s.file_bytes += built.size;
                s.resumed += done.resumed_from;
            }
            Err(error) => {
                s.failed_attempts += 1;
                if failed(store, name, &b, policy, error, &mut s).await? {
                    break;
                }
            }
        }
    }
    Ok(s)
}

/// Records a failed attempt (retry, or dead letter after the last); returns whether the
/// consumer is now paused.
async fn failed(
    store: &Store,
    name: &str,
    b: &outbox::BatchRow,
    policy: &Policy,
    error: String,
    s: &mut Served,
) -> Result<bool> {
    let (retry_at, error) = super::next_attempt(name, b, policy, None, error, "deposit");
    if retry_at.is_none() {
        s.dead_letters += 1;
    }
    let failure = super::Failure {
        status: None,
        error,
        response: String::new(),
        retry_at,
    };
    let paused = super::record_failure(store, name, b.id, policy, &failure).await?;
    if paused {
        s.paused = true;
    }
    // A retry due later stops the loop at its head; a dead letter lets the next deposit go.
    Ok(paused)
}

/// One attempt: connect and deposit, renewing the lease while the upload runs (a national
/// snapshot takes longer than the consumer's timeout).
async fn attempt(
    store: &Store,
    target: &Target,
    built: &Built,
    owner: &str,
    lease_ms: i64,
) -> std::result::Result<sftp::Deposited, String> {
    let mut file = built.file.try_clone().map_err(|e| e.to_string())?;
    file.rewind().map_err(|e| e.to_string())?;
    let up = Upload {
        name: &built.name,
        file: &file,
        size: built.size,
        sha256: &built.sha256,
    };
    let work = async {
        let conn = sftp::connect(target).await?;
        let done = sftp::deposit(&conn, target, &up).await;
        let _ = conn.sftp.close().await;
        done
    };
    tokio::pin!(work);
    let every = Duration::from_millis((lease_ms / 3).max(100) as u64);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            r = &mut work => return r,
            _ = tick.tick() => {
                match outbox::renew(store, &target.consumer, owner, lease_ms).await {
                    Ok(true) => {}
                    Ok(false) => return Err("lease lost to another pusher during the upload".into()),
                    Err(e) => tracing::warn!(consumer = %target.consumer, "cannot renew the lease: {e:#}"),
                }
            }
        }
    }
}
