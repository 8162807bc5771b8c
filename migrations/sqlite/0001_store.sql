-- The store's schema for SQLite. Kept in step with migrations/postgres/0001_store.sql:
-- same tables, columns and keys, so that the queries in src/store/mod.rs serve both.

-- One row per import transaction. Rows below carry the id of the import that last
-- changed them, so an exporter can ask "what changed since revision R".
-- AUTOINCREMENT: an id is never handed out twice, even if old revisions are pruned one day;
-- a plain rowid key would reuse the highest id after a deletion and break "changed since".
CREATE TABLE revisions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  TEXT NOT NULL,
    -- Set just before the import commits: how long imports take, for the operator.
    finished_at TEXT
);

-- doc: the Organisme as serde_json wrote it (TEXT, so the bytes are exactly those compared
-- for change detection).
CREATE TABLE organismes (
    siret    TEXT    NOT NULL PRIMARY KEY,
    doc      TEXT    NOT NULL,
    revision INTEGER NOT NULL
);

-- An offer is keyed by its action code's NUMBERS: the key is also the export order
-- (numeric, 2-10 after 2-9), the upsert conflict target and the sessions' parent key,
-- so one index serves them all. `numero` is the same key as text, for people reading SQL.
-- doc: the Offre JSON with an empty session list; sessions live in their own table.
CREATE TABLE offres (
    formation_no INTEGER NOT NULL,
    action_no    INTEGER NOT NULL,
    numero       TEXT    NOT NULL,
    etat         TEXT    NOT NULL,
    doc          TEXT    NOT NULL,
    revision     INTEGER NOT NULL,
    PRIMARY KEY (formation_no, action_no)
);
-- Paging over validated offers only, without reading the others.
CREATE INDEX offres_by_etat ON offres (etat, formation_no, action_no);
-- "Which offers changed since revision R" (incremental export).
CREATE INDEX offres_by_revision ON offres (revision);

-- The primary key's prefix (formation_no, action_no) also serves the foreign key (cascade)
-- and "all sessions of these offers, in session order".
CREATE TABLE sessions (
    formation_no INTEGER NOT NULL,
    action_no    INTEGER NOT NULL,
    session_no   INTEGER NOT NULL,
    code         TEXT    NOT NULL,
    doc          TEXT    NOT NULL,
    revision     INTEGER NOT NULL,
    PRIMARY KEY (formation_no, action_no, session_no),
    FOREIGN KEY (formation_no, action_no)
        REFERENCES offres (formation_no, action_no) ON DELETE CASCADE
);
