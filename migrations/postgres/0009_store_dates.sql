-- The days a record was first imported and last changed (issue 15): LHÉO `datecrea` and
-- `datemaj` when SOFI gave no timestamps. Days in Europe/Paris, `YYYY-MM-DD`, written by
-- each import: both on a new row, `changed_on` again only when the row's bytes change
-- (the upsert's own condition), and an offer's `changed_on` also when one of its sessions
-- is created, changed or deleted (as its `revision`). TEXT, as in SQLite, so that the
-- same queries read them. Kept in step with migrations/sqlite/0008_store_dates.sql.
ALTER TABLE organismes ADD COLUMN created_on TEXT, ADD COLUMN changed_on TEXT;
ALTER TABLE offres ADD COLUMN created_on TEXT, ADD COLUMN changed_on TEXT;
ALTER TABLE sessions ADD COLUMN created_on TEXT, ADD COLUMN changed_on TEXT;

-- Rows stored before: the day (in Paris) of the import that last changed them, the only
-- day the store knows about them, for both (a creation day later than the truth rather
-- than an invented one).
UPDATE organismes o SET
    created_on = to_char(r.started_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM-DD'),
    changed_on = to_char(r.started_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM-DD')
    FROM revisions r WHERE r.id = o.revision;
UPDATE offres o SET
    created_on = to_char(r.started_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM-DD'),
    changed_on = to_char(r.started_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM-DD')
    FROM revisions r WHERE r.id = o.revision;
UPDATE sessions s SET
    created_on = to_char(r.started_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM-DD'),
    changed_on = to_char(r.started_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM-DD')
    FROM revisions r WHERE r.id = s.revision;
