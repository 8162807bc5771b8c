-- The partner feed (issue 6, `lheo-feed serve`). Kept in step with
-- migrations/postgres/0005_partners.sql. docs/feed.md explains the model.

-- Partners allowed to pull the feed. The API key is shown once, at `partner add`; only its
-- SHA-256 is kept (a 256-bit random key needs no slow KDF: there is nothing to guess).
CREATE TABLE partners (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    -- The first characters of the key (`lf_` and 8 hex digits), to tell keys apart in
    -- `partner list` and logs without revealing them.
    key_prefix  TEXT    NOT NULL,
    -- hex(SHA-256(key)).
    key_sha256  TEXT    NOT NULL UNIQUE,
    -- What the partner may see (JSON: {"programmes": [...], "departements": [...]}; an empty
    -- list does not restrict).
    scope       TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    revoked_at  TEXT
);

-- The changes feed reads the published offers by the generation that last changed them:
-- keyset paging over (generation, formation_no, action_no).
CREATE INDEX published_by_generation ON published (generation, formation_no, action_no);

-- The rule findings of each evaluated offer as of the current generation (JSON, NULL when
-- the offer has none), written by the export with the rest of the evaluation state, so
-- that the status page groups the current rejections by organisme without running the
-- rules again (and stays exact on incremental exports, like the counts).
ALTER TABLE evaluations ADD COLUMN findings TEXT;
