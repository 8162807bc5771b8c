-- Published fragments stored compressed (issue 8): at a million sessions they are 8 GB of
-- XML, which the export wrote through SQLite's log and again at its checkpoint. A row
-- written from now on holds its fragment LZ4-compressed in `fragment_lz4` and '' in
-- `fragment` (kept NOT NULL: SQLite cannot relax a column without rebuilding the table);
-- a row written before keeps its plain `fragment` and a NULL `fragment_lz4`. The readers
-- (src/store/fragments.rs) take `fragment_lz4` when it is there. Kept in step with
-- migrations/postgres/0007_fragment_lz4.sql.
ALTER TABLE published ADD COLUMN fragment_lz4 BLOB;
