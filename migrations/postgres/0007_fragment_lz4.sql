-- Published fragments stored compressed (issue 8): at a million sessions they are 8 GB of
-- XML, written through the WAL and TOAST. A row written from now on holds its fragment
-- LZ4-compressed in `fragment_lz4` and '' in `fragment` (the same convention as SQLite's
-- migration 0007, so that one query serves both); a row written before keeps its plain
-- `fragment` and a NULL `fragment_lz4`. Already compressed, the column is not compressed
-- again by TOAST (STORAGE EXTERNAL). The readers are in src/store/fragments.rs.
ALTER TABLE published ADD COLUMN fragment_lz4 BYTEA;
ALTER TABLE published ALTER COLUMN fragment_lz4 SET STORAGE EXTERNAL;
