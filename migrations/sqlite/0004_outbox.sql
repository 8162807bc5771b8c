-- The outbox of the pusher (issue 5). Kept in step with migrations/postgres/0004_outbox.sql:
-- same tables, columns and keys. docs/consumers.md explains the model. Times are epoch
-- milliseconds (integers), so that both engines compare them the same way.

-- The consumers, synchronised from the configuration ([[consumers]]) by `push`,
-- `deliveries` and `export --config`. The export reads only this table, so it needs no
-- configuration to fill the outbox.
CREATE TABLE consumers (
    name          TEXT    PRIMARY KEY,
    -- 'delta' or 'snapshot'.
    mode          TEXT    NOT NULL CHECK (mode IN ('delta', 'snapshot')),
    -- The filter, as canonical JSON: a change of filter or mode makes the next batches a
    -- resynchronisation.
    filter        TEXT    NOT NULL,
    enabled       INTEGER NOT NULL,
    -- 1: the next batches compare every published offer with what the consumer holds
    -- (a consumer first registered, a filter or mode change).
    resync        INTEGER NOT NULL,
    registered_at INTEGER NOT NULL,
    -- Start of the current run of failed attempts (NULL: the last attempt succeeded).
    failing_since INTEGER,
    -- Set when failing for longer than the configured time: no more sends until replay.
    paused_at     INTEGER,
    paused_reason TEXT,
    -- The pusher working on this consumer, and until when (a killed pusher's lease expires).
    lease_owner   TEXT,
    lease_until   INTEGER
);

-- The outbox proper: written by the generation's transaction, one row per enabled consumer
-- for every generation that changed something. `batched_at` is set when the pusher has
-- turned it into batches (or found nothing in it for that consumer).
CREATE TABLE deliveries (
    consumer   TEXT    NOT NULL REFERENCES consumers (name) ON DELETE CASCADE,
    generation INTEGER NOT NULL REFERENCES generations (id),
    created_at INTEGER NOT NULL,
    batched_at INTEGER,
    PRIMARY KEY (consumer, generation)
);
CREATE INDEX deliveries_pending ON deliveries (consumer, generation) WHERE batched_at IS NULL;

-- What each consumer holds, as far as the batches formed for it say: an offer and the hash
-- of the state last queued. Deltas are computed against it, so filters are applied exactly
-- (an offer leaving a consumer's filter is withdrawn from that consumer).
CREATE TABLE consumer_offres (
    consumer     TEXT    NOT NULL REFERENCES consumers (name) ON DELETE CASCADE,
    formation_no INTEGER NOT NULL,
    action_no    INTEGER NOT NULL,
    hash         TEXT    NOT NULL,
    PRIMARY KEY (consumer, formation_no, action_no)
);

-- The requests: formed and persisted (body and webhook-id) before the first send, so that
-- every retry sends the same bytes under the same id. Sent in id order per consumer.
CREATE TABLE batches (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer         TEXT    NOT NULL REFERENCES consumers (name) ON DELETE CASCADE,
    webhook_id       TEXT    NOT NULL UNIQUE,
    first_generation INTEGER NOT NULL,
    last_generation  INTEGER NOT NULL,
    -- 'delta' or 'snapshot'.
    kind             TEXT    NOT NULL,
    offres           INTEGER NOT NULL,
    retraits         INTEGER NOT NULL,
    -- The numeros in it (JSON array), for `replay`.
    numeros          TEXT    NOT NULL,
    -- The document before compression, and what is sent (gzip when configured); emptied
    -- once delivered.
    raw_bytes        INTEGER NOT NULL,
    content_encoding TEXT,
    body             BLOB    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'replayed')),
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER,
    dead_at          INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    -- The start of the last response body (dead letters keep the receiver's reason).
    last_response    TEXT
);
CREATE INDEX batches_queue ON batches (consumer, state, id);
