-- The days a record was first imported and last changed (issue 15): LHÉO `datecrea` and
-- `datemaj` when SOFI gave no timestamps. Days in Europe/Paris, `YYYY-MM-DD`, written by
-- each import: both on a new row, `changed_on` again only when the row's bytes change
-- (the upsert's own condition), and an offer's `changed_on` also when one of its sessions
-- is created, changed or deleted (as its `revision`). Kept in step with
-- migrations/postgres/0008_store_dates.sql.
ALTER TABLE organismes ADD COLUMN created_on TEXT;
ALTER TABLE organismes ADD COLUMN changed_on TEXT;
ALTER TABLE offres ADD COLUMN created_on TEXT;
ALTER TABLE offres ADD COLUMN changed_on TEXT;
ALTER TABLE sessions ADD COLUMN created_on TEXT;
ALTER TABLE sessions ADD COLUMN changed_on TEXT;

-- Rows stored before: the day of the import that last changed them, the only day the
-- store knows about them, for both (a creation day later than the truth rather than an
-- invented one). `started_at` is written RFC 3339 in UTC, so its first ten characters
-- are the UTC day; new rows use the Paris day, which differs only around midnight.
UPDATE organismes SET
    created_on = (SELECT substr(started_at, 1, 10) FROM revisions WHERE id = organismes.revision),
    changed_on = (SELECT substr(started_at, 1, 10) FROM revisions WHERE id = organismes.revision);
UPDATE offres SET
    created_on = (SELECT substr(started_at, 1, 10) FROM revisions WHERE id = offres.revision),
    changed_on = (SELECT substr(started_at, 1, 10) FROM revisions WHERE id = offres.revision);
UPDATE sessions SET
    created_on = (SELECT substr(started_at, 1, 10) FROM revisions WHERE id = sessions.revision),
    changed_on = (SELECT substr(started_at, 1, 10) FROM revisions WHERE id = sessions.revision);
