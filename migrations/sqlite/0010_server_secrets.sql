-- Secrets the server draws for itself (issue 18), kept in the database so that every
-- `serve` and `run` instance of one deployment shares them and they survive restarts.
-- `cursor_mac`: the HMAC-SHA256 key of the changes feed's cursors, so that a cursor nobody
-- was given cannot be made (src/serve/changes.rs). Hex; drawn once from the OS's CSPRNG.
-- Kept in step with the other dialect's 0010_server_secrets.sql.
CREATE TABLE server_secrets (
    name    TEXT NOT NULL PRIMARY KEY,
    secret  TEXT NOT NULL
);
