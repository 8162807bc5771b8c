-- Runs of the daemon (issue 7): every scheduled, caught-up or on-demand export, its state
-- and its result. Kept in step with migrations/sqlite/0006_runs.sql (same columns and
-- keys) so that the queries in src/store/runs.rs serve both. docs/scheduling.md explains
-- the states. Numbered 0006: 0004 and 0005 belong to the pusher and the feed server.
CREATE TABLE runs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- 'scheduled', 'catch_up' (a slot missed while no daemon ran) or 'on_demand'.
    kind            TEXT    NOT NULL CHECK (kind IN ('scheduled', 'catch_up', 'on_demand')),
    -- The schedule slot (UTC) of a scheduled or caught-up run; NULL on demand. Unique: two
    -- instances that both see a slot come due record it once, and only one runs it.
    scheduled_for   TIMESTAMPTZ,
    requested_at    TIMESTAMPTZ NOT NULL,
    -- Who asked (an instance, `cli`, the admin endpoint); for people reading the table.
    requested_by    TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN
                        ('queued', 'running', 'succeeded', 'failed', 'interrupted')),
    -- The last attempt's start, and the end of the run.
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    -- The instance (host:pid) of the last attempt, and how many attempts there were.
    instance        TEXT,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    -- The last generation when the first attempt started: a later one found when resuming
    -- an interrupted run is this run's, committed just before the kill, and is not made
    -- again.
    base_generation BIGINT,
    generation_id   BIGINT REFERENCES generations (id),
    error           TEXT,
    -- A short description of the current stage, for the status page and `runs`.
    progress        TEXT
);
-- NULLs are distinct in a unique index (on both engines): on-demand runs never collide.
CREATE UNIQUE INDEX runs_slot ON runs (scheduled_for);
CREATE INDEX runs_pending ON runs (state, id);
