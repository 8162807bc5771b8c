//! # lheo-feed
//!
//! Publishes the Pays de la Loire training offer, as training organisations enter it in
//! SOFI, to the national consumers (Offre Info, Kairos, Ouiform) in LHÉO 2.3.
//!
//! ## The flow
//!
//! ```text
//!  FASD JSON Lines ──ingest──► store ──pipeline──► rules ──► lheo writer ──┐
//!  (plain or gzip)   (all or    (SQLite     (pages of   (accept / reject   │ (one <formation>
//!                    nothing)    or PG)      offers)     per session)      │  per SOFI action)
//!                                                                          ▼
//!         files (full snapshot, delta) ◄── generation (hash per offer, change set against
//!                                          the previous one, tombstones; one transaction)
//! ```
//!
//! Each arrow is a plain function; no stage reaches back.
//!
//! ## The modules, in the order data meets them
//!
//! - [`model`]: the FASD domain — SOFI's **F**ormation, **A**ction, **S**ession,
//!   **D**ispositif and the organismes. Types that can only hold valid values (a FAS code, a
//!   SIRET with its Luhn key, a real calendar date, XML-safe text), so no later stage
//!   re-checks a format. The vocabulary is explained there once. [`model::geo`] derives
//!   an address's département and région (INSEE), [`model::publics_v14`] is the
//!   FORMACODE V14 list of publics national readers accept.
//! - [`ingest`]: reads input files line by line (gzip by magic bytes, capped line length),
//!   decodes each line with the path of any bad field, checks duplicates and references,
//!   and writes in batches inside one transaction: any bad line and nothing is written.
//!   [`ingest::region`] reads the Conseil régional's CSV referential (programmes, lots,
//!   organismes) that seeds a campaign; once lots are known, offers must name one.
//!   [`ingest::brouillon`] lets a draft with starred fields still empty import as
//!   received (never exported), where a validated offer would refuse the file.
//! - [`store`]: sqlx over SQLite (the embedded default, WAL) or PostgreSQL, behind one enum;
//!   offers are kept as JSON documents with a revision per change, read back in pages in
//!   numeric `F-A` order.
//! - [`rules`]: the SOFI entry rules, each a pure function with a stable code, a severity
//!   and a French message for the organisme; the headline one rejects a session with no
//!   *information collective*. The Region referential ([`rules::Referentiel`]: programmes,
//!   lots, their mandataire and campaign year) is read with the offers' rules, so a
//!   misspelt programme or another mandataire's lot is stopped. [`rules::report`] groups
//!   the findings by organisme, with the drafts' missing fields ([`rules::saisie`]).
//! - [`lheo`]: the LHÉO 2.3 writer. [`lheo::xml`] is a strict emitter that checks every
//!   length limit as it writes (never truncating); [`lheo::writer`] is the mapping
//!   (`docs/mapping.md`), grouping sessions into LHÉO actions by their rendered values,
//!   each action named by its first session so that its `numero` stays put, with
//!   `datecrea` / `datemaj` from SOFI or the store's own days.
//!   [`lheo::reader`] reads LHÉO 2.2 / 2.3 documents safely, one formation at a time, and
//!   [`lheo::import`] maps them back to offers (inverse of the writer: an export imports
//!   back to the same bytes) for `import-lheo` ([`ingest::lheo`], `docs/lheo-import.md`).
//! - [`pipeline`]: the evaluation of one offer that `check` and `export` share, so their
//!   numbers agree (rules → writer, with writer violations turned into findings), and the
//!   pass over every validated offer that `check` runs.
//! - [`generation`]: every export is a generation: the offers' hashes (SHA-256 over the
//!   format version and the canonical fragment), the change set against the previous
//!   generation (created, updated, withdrawn, unchanged), tombstones, and the evaluation
//!   state that lets the next export redo only what may have changed. Guards against
//!   mass withdrawals; one write transaction, so a kill leaves the previous generation
//!   current. `docs/generations.md`. One module per step of [`generation::export`]: the
//!   plan and the candidates, their evaluation (on every core), the walk that streams the
//!   snapshot, the transaction, the files. [`generation::files`]: documents streamed to a
//!   temporary file, hashed as they go ([`digest`]: BLAKE3, named in the record), synced,
//!   renamed to the generation's own file (with
//!   its gzip twin), and linked to the stable name; [`generation::twin`] assembles the gzip
//!   twin from one deflate segment per offer, so the next export copies the segments of
//!   unchanged offers; [`generation::spill`] keeps the per-offer lists on disk, so memory
//!   does not grow with the offer; [`generation::rejections`] keeps each offer's findings
//!   for the status page. The stored fragments are compressed with zstd and a dictionary
//!   of LHÉO (`store::fragments`).
//! - [`push`]: the pusher: the outbox rows the generation writes become signed, batched
//!   HTTP deliveries to each configured consumer, retried, in order, with dead letters —
//!   or, for an SFTP consumer, one file per deposit on its server ([`push::deposit`],
//!   [`push::sftp`]: pinned host key, temporary name, checksum read back, rename,
//!   `.sha256`, retention). `docs/consumers.md`.
//! - [`generate`]: deterministic synthetic data for load tests and benchmarks.
//! - [`config`]: the one TOML configuration file, environment overrides, masked secrets.
//! - [`daemon`]: `lheo-feed run`: scheduled, caught-up and on-demand runs under the
//!   [`daemon::lock`] (PostgreSQL advisory lock / SQLite lock files), recorded in `runs`;
//!   [`schedule`] (below [`config`], which validates the cron) evaluates cron expressions
//!   in Europe/Paris wall time, with cronie's DST rules; [`local_time`] writes the times
//!   people read in that zone with their offset (JSON, `/metrics` and the store keep UTC);
//!   [`logging`] sets up human or JSON logs.
//! - [`serve`]: `lheo-feed serve`, the partners' HTTP feed (full snapshot, changes since a
//!   cursor, one offer) and the operator's status page; [`serve::partners`] holds the API keys
//!   (hashed) and scopes; the status page ([`serve::page`], in French, its words in
//!   [`serve::words`], its trends drawn as SVG by [`serve::chart`]) groups the findings the
//!   export kept, and [`serve::organisme`] gives each organisme its printable page
//!   (`docs/feed.md`). Inside `run`, the server and the pusher run beside the scheduler.
//!
//! The binary (`src/main.rs`) parses the global flags, opens the store and hands each command
//! to its module in `src/cli/` (part of the binary, not of this library): one module per
//! command group, owning its arguments and its text / JSON output.

pub mod config;
pub mod daemon;
pub mod digest;
pub mod generate;
pub mod generation;
pub mod ingest;
pub mod lheo;
pub mod local_time;
pub mod logging;
pub mod model;
pub mod parallel;
pub mod pipeline;
pub mod progress;
pub mod push;
pub mod rules;
pub mod schedule;
pub mod serve;
pub mod store;
