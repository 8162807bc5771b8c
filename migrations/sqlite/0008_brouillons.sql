-- Drafts (en cours de saisie, en attente de validation) whose starred fields are still
-- empty, so that the model cannot hold them as an offer (src/ingest/brouillon.rs). Kept
-- as received, with the required fields still missing, for `check`; never exported.
-- An offre line of the same numero supersedes the draft (the row is deleted). Kept in
-- step with the other dialect's 0008_brouillons.sql.
CREATE TABLE brouillons (
    numero     TEXT    NOT NULL PRIMARY KEY,
    mandataire TEXT    NOT NULL,
    etat       TEXT    NOT NULL,
    -- JSON array of {"champ": path, "libelle": French label}.
    manquants  TEXT    NOT NULL,
    -- The offre object as received.
    doc        TEXT    NOT NULL,
    revision   INTEGER  NOT NULL
);
