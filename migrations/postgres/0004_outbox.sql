-- The outbox of the pusher (issue 5). Kept in step with migrations/sqlite/0004_outbox.sql:
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
    enabled       BIGINT NOT NULL,
    -- 1: the next batches compare every published offer with what the consumer holds
    -- (a consumer first registered, a filter or mode change).
    resync        BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,
    -- Start of the current run of failed attempts (NULL: the last attempt succeeded).
    failing_since BIGINT,
    -- Set when failing for longer than the configured time: no more sends until replay.
    paused_at     BIGINT,
    paused_reason TEXT,
    -- The pusher working on this consumer, and until when (a killed pusher's lease expires).
    lease_owner   TEXT,
    lease_until   BIGINT
);

-- The outbox proper: written by the generation's transaction, one row per enabled consumer
-- for every generation that changed something. `batched_at` is set when the pusher has
-- turned it into batches (or found nothing in it for that consumer).
CREATE TABLE deliveries (
    consumer   TEXT    NOT NULL REFERENCES consumers (name) ON DELETE CASCADE,
    generation BIGINT NOT NULL REFERENCES generations (id),
    created_at BIGINT NOT NULL,
    batched_at BIGINT,
    PRIMARY KEY (consumer, generation)
);
CREATE INDEX deliveries_pending ON deliveries (consumer, generation) WHERE batched_at IS NULL;

-- What each consumer holds, as far as the batches formed for it say: an offer and the hash
-- of the state last queued. Deltas are computed against it, so filters are applied exactly
-- (an offer leaving a consumer's filter is withdrawn from that consumer).
CREATE TABLE consumer_offres (
    consumer     TEXT    NOT NULL REFERENCES consumers (name) ON DELETE CASCADE,
    formation_no BIGINT NOT NULL,
    action_no    BIGINT NOT NULL,
    hash         TEXT    NOT NULL,
    PRIMARY KEY (consumer, formation_no, action_no)
);

-- The requests: formed and persisted (body and webhook-id) before the first send, so that
-- every retry sends the same bytes under the same id. Sent in id order per consumer.
CREATE TABLE batches (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer         TEXT    NOT NULL REFERENCES consumers (name) ON DELETE CASCADE,
    webhook_id       TEXT    NOT NULL UNIQUE,
    first_generation BIGINT NOT NULL,
    last_generation  BIGINT NOT NULL,
    -- 'delta' or 'snapshot'.
    kind             TEXT    NOT NULL,
    offres           BIGINT NOT NULL,
    retraits         BIGINT NOT NULL,
    -- The numeros in it (JSON array), for `replay`.
    numeros          TEXT    NOT NULL,
    -- The document before compression, and what is sent (gzip when configured); emptied
    -- once delivered.
    raw_bytes        BIGINT NOT NULL,
    content_encoding TEXT,
    body             BYTEA   NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'replayed')),
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    dead_at          BIGINT,
    last_status      BIGINT,
    last_error       TEXT,
    -- The start of the last response body (dead letters keep the receiver's reason).
    last_response    TEXT
);
CREATE INDEX batches_queue ON batches (consumer, state, id);
