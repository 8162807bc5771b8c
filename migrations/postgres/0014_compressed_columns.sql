-- The compressed columns named for what they hold (issue 20). Kept in step with the other
-- dialect's 0014_compressed_columns.sql.
--
-- Since this version, `published.fragment_lz4` (0007) and `evaluations.findings_lz4`
-- (0013) hold zstd frames made with a dictionary (src/store/fragments.rs), beside the LZ4
-- values older versions wrote, which stay readable. The columns are renamed, and that is
-- also what keeps an older lheo-feed off a store this version has written: it refuses a
-- database with a migration it does not know, instead of taking a zstd frame for a damaged
-- LZ4 row.
ALTER TABLE published RENAME COLUMN fragment_lz4 TO fragment_compressed;
ALTER TABLE evaluations RENAME COLUMN findings_lz4 TO findings_compressed;
