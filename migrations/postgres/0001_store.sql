-- The store's schema for PostgreSQL. Kept in step with migrations/sqlite/0001_store.sql:
-- same tables, columns and keys, so that the queries in src/store/mod.rs serve both.

-- One row per import transaction. Rows below carry the id of the import that last
-- changed them, so an exporter can ask "what changed since revision R".
CREATE TABLE revisions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at  TIMESTAMPTZ NOT NULL,
    -- Set just before the import commits: how long imports take, for the operator.
    finished_at TIMESTAMPTZ
);

-- doc is TEXT, not jsonb: jsonb reorders keys and drops duplicates, and change detection
-- compares the bytes serde_json wrote.
CREATE TABLE organismes (
    siret    TEXT   NOT NULL PRIMARY KEY,
    doc      TEXT   NOT NULL,
    revision BIGINT NOT NULL
);

-- An offer is keyed by its action code's NUMBERS: the key is also the export order
-- (numeric, 2-10 after 2-9), the upsert conflict target and the sessions' parent key,
-- so one index serves them all. `numero` is the same key as text, for people reading SQL.
-- doc: the Offre JSON with an empty session list; sessions live in their own table.
CREATE TABLE offres (
    formation_no BIGINT NOT NULL,
    action_no    BIGINT NOT NULL,
    numero       TEXT   NOT NULL,
    etat         TEXT   NOT NULL,
    doc          TEXT   NOT NULL,
    revision     BIGINT NOT NULL,
    PRIMARY KEY (formation_no, action_no)
);
-- Paging over validated offers only, without reading the others.
CREATE INDEX offres_by_etat ON offres (etat, formation_no, action_no);
-- "Which offers changed since revision R" (incremental export).
CREATE INDEX offres_by_revision ON offres (revision);

-- The primary key's prefix (formation_no, action_no) also serves the foreign key (cascade)
-- and "all sessions of these offers, in session order".
CREATE TABLE sessions (
    formation_no BIGINT NOT NULL,
    action_no    BIGINT NOT NULL,
    session_no   BIGINT NOT NULL,
    code         TEXT   NOT NULL,
    doc          TEXT   NOT NULL,
    revision     BIGINT NOT NULL,
    PRIMARY KEY (formation_no, action_no, session_no),
    FOREIGN KEY (formation_no, action_no)
        REFERENCES offres (formation_no, action_no) ON DELETE CASCADE
);
