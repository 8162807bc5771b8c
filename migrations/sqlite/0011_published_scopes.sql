-- The values partners' scopes are checked against, per published version of an offer
-- (issue 24). Kept in step with the other dialect's 0011_published_scopes.sql.
--
-- `published` holds only an offer's latest programmes and départements, so an offer that
-- left a partner's scope (its sessions moved, its programme changed) looked to the changes
-- feed like any offer the partner never had: nothing told the partner to drop it. This
-- table keeps each run of values an offer was published with: [since_generation,
-- until_generation), until_generation NULL while they are the current ones. A new row
-- is written only when the values change (or the offer comes back after a withdrawal), so
-- it grows with scope moves, not with every update. The changes feed reports an offer out
-- of a partner's scope as a delete when one of its runs that ended after the partner's
-- horizon was in scope (src/serve/changes.rs). Rows go with their offer's tombstone when
-- the retention purges it (a cursor older than that purge is expired anyway).
CREATE TABLE published_scopes (
    formation_no     INTEGER NOT NULL,
    action_no        INTEGER NOT NULL,
    -- The generation that published these values (for rows carried over by this
    -- migration: the generation that last changed the offer).
    since_generation INTEGER NOT NULL,
    -- The first generation at which they no longer held (changed, or withdrawn).
    until_generation INTEGER,
    -- JSON arrays, as in published.
    programmes       TEXT    NOT NULL,
    departements     TEXT    NOT NULL,
    PRIMARY KEY (formation_no, action_no, since_generation)
);

-- What is known today: each offer's current values (a tombstone's end with its withdrawal).
INSERT INTO published_scopes (formation_no, action_no, since_generation, until_generation,
                              programmes, departements)
SELECT formation_no, action_no, generation, withdrawn_generation, programmes, departements
FROM published;
