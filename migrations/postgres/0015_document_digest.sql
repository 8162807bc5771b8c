-- The document's digest names its algorithm (issue 20, src/digest.rs). Kept in step with
-- the other dialect's 0015_document_digest.sql.
--
-- New documents are hashed with BLAKE3, written `blake3:HEX`. The generations recorded
-- before hold a bare SHA-256 in hex: they become `sha256:HEX`, so that a second host still
-- checks the document it makes again with the right function, and their ETags (the first
-- 16 hex digits) stay what partners hold. The rename also keeps an older lheo-feed off a
-- store this version has written, instead of it taking a BLAKE3 digest for a SHA-256.
ALTER TABLE generations RENAME COLUMN file_sha256 TO file_digest;
UPDATE generations SET file_digest = 'sha256:' || file_digest WHERE file_digest NOT LIKE '%:%';
