-- Export generations (issue 4). Kept in step with migrations/postgres/0002_generations.sql:
-- same tables, columns and keys, so that the queries in src/store/generations.rs serve both.
-- docs/generations.md explains the model; in short: one row per committed export, the
-- offers ever published with their last canonical fragment and hash (tombstones when
-- withdrawn), what changed in each generation, and the per-offer evaluation state that
-- lets the next export redo only what may have changed.

-- One row per committed export. Times are UTC, whole seconds.
CREATE TABLE generations (
    -- AUTOINCREMENT: a number is never handed out twice (a generation is an identity
    -- consumers may hold on to).
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at       TEXT    NOT NULL,
    finished_at      TEXT    NOT NULL,
    -- The horodatage-export written on <lheo> (RFC 3339, local time of the run).
    horodatage_export TEXT   NOT NULL,
    -- The day the rules judged by (YYYY-MM-DD).
    today            TEXT    NOT NULL,
    -- lheo::FORMAT_VERSION, part of every hash: a new version re-sends everything once.
    format_version   TEXT    NOT NULL,
    -- Hash of the rules configuration and the program version: a change forces a full pass.
    rules_hash       TEXT    NOT NULL,
    -- The store revision covered: offers changed after it are re-read next time.
    store_revision   INTEGER NOT NULL,
    -- 'full' or 'incremental'; offres_evaluees: offers read and evaluated by this run.
    mode             TEXT    NOT NULL,
    offres_evaluees  INTEGER NOT NULL,
    created          INTEGER NOT NULL,
    updated          INTEGER NOT NULL,
    withdrawn        INTEGER NOT NULL,
    unchanged        INTEGER NOT NULL,
    -- Offers published by this generation (created + updated + unchanged).
    published        INTEGER NOT NULL,
    -- Validated offers left out whole because of errors (rule outcome).
    rejected         INTEGER NOT NULL,
    -- The whole rule outcome: pipeline::PassCounts as JSON.
    counts           TEXT    NOT NULL,
    -- Whether --force let it withdraw more than the configured share.
    forced           INTEGER NOT NULL,
    -- The full snapshot: the generation's own file, the stable name it is linked to, and
    -- the SHA-256 and size of its bytes.
    file_path        TEXT    NOT NULL,
    out_path         TEXT    NOT NULL,
    file_sha256      TEXT    NOT NULL,
    file_bytes       INTEGER NOT NULL,
    -- Size, modification time and inode of the file as written: the next export copies
    -- unchanged offers from this file, and checks its SHA-256 first only when these differ.
    file_fingerprint TEXT    NOT NULL
);

-- Every offer ever published (until its tombstone's retention ends), keyed like the store's
-- offres. `fragment` is its canonical LHÉO <formation> as last published; `hash` is
-- SHA-256(format_version "\n" fragment). A withdrawn offer keeps its row as a tombstone:
-- withdrawn_generation / withdrawn_at are set, and the row is deleted when the retention
-- has passed.
CREATE TABLE published (
    formation_no         INTEGER NOT NULL,
    action_no            INTEGER NOT NULL,
    numero               TEXT    NOT NULL,
    hash                 TEXT    NOT NULL,
    -- The generation that last created, updated or withdrew it.
    generation           INTEGER NOT NULL REFERENCES generations (id),
    withdrawn_generation INTEGER REFERENCES generations (id),
    withdrawn_at         TEXT,
    -- For consumers' filters (later issues): JSON arrays of the programmes of the
    -- published sessions and of the départements of their places.
    programmes           TEXT    NOT NULL,
    departements         TEXT    NOT NULL,
    -- Last: the large value, so that reading the other columns (a scan of the live
    -- offers and their hashes) does not walk its overflow pages.
    fragment             TEXT    NOT NULL,
    PRIMARY KEY (formation_no, action_no)
);
-- Tombstones, by age (purge) and in number: a partial index, small and read alone.
CREATE INDEX published_tombstones ON published (withdrawn_at) WHERE withdrawn_at IS NOT NULL;
-- The live offers and their hashes in numeric order, read by every export: a covering
-- partial index, so that this scan does not read the rows and their fragments.
CREATE INDEX published_live ON published (formation_no, action_no, hash)
    WHERE withdrawn_generation IS NULL;

-- What each generation changed. `hash`: the new one; for a withdrawal, the one withdrawn.
CREATE TABLE changes (
    generation   INTEGER NOT NULL REFERENCES generations (id),
    formation_no INTEGER NOT NULL,
    action_no    INTEGER NOT NULL,
    numero       TEXT    NOT NULL,
    op           TEXT    NOT NULL CHECK (op IN ('created', 'updated', 'withdrawn')),
    hash         TEXT    NOT NULL,
    PRIMARY KEY (generation, formation_no, action_no)
);
-- `diff A B`: the history of one offer.
CREATE INDEX changes_by_offre ON changes (formation_no, action_no, generation);

-- The evaluation state of every validated offer (published or not), as of the current
-- generation: the store revision it was read at, the first day its outcome or fragment
-- could change by itself (a session ending, an information collective passing; NULL: never),
-- and its share of the rule-outcome counts (PassCounts JSON), so that an incremental
-- generation's totals stay exact without re-evaluating everything.
CREATE TABLE evaluations (
    formation_no INTEGER NOT NULL,
    action_no    INTEGER NOT NULL,
    revision     INTEGER NOT NULL,
    -- YYYYMMDD as a number: ordered, and readable.
    next_recheck INTEGER,
    counts       TEXT    NOT NULL,
    PRIMARY KEY (formation_no, action_no)
);
CREATE INDEX evaluations_by_recheck ON evaluations (next_recheck);

-- Which organismes an evaluated offer refers to (mandataire, dispensateur, sessions' places
-- and responsables): when an organisme changes, these offers are evaluated again.
CREATE TABLE evaluation_organismes (
    siret        TEXT    NOT NULL,
    formation_no INTEGER NOT NULL,
    action_no    INTEGER NOT NULL,
    PRIMARY KEY (siret, formation_no, action_no)
);
CREATE INDEX evaluation_organismes_by_offre ON evaluation_organismes (formation_no, action_no);
