-- The rule findings stored LZ4-compressed (issue 20). Kept in step with the other
-- dialect's 0013_findings_lz4.sql.
--
-- `evaluations.findings` (0005) holds each offer's findings as JSON with their French
-- messages, which repeat from offer to offer: at a million sessions 612 MB of the 2.7 GB
-- a full export writes, once in the log and again at its checkpoint. Compressed like the
-- fragments (src/store/fragments.rs) they take about a third (37 % on 20 000 generated
-- sessions). Rows written before this migration keep their plain `findings`; readers
-- take whichever column is set.
ALTER TABLE evaluations ADD COLUMN findings_lz4 BYTEA;
