-- The Conseil régional's referential (lheo-feed import-region): the programmes and the
-- lots of the campaign. Kept in step with migrations/sqlite/0003_referentiel.sql.
-- Numbered 0003: 0002 is taken by the generations branch.

-- A programme, by the label sessions carry in dispositif.programme.
CREATE TABLE programmes (
    libelle  TEXT    NOT NULL PRIMARY KEY,
    revision BIGINT  NOT NULL
);

-- A lot of the regional order (e.g. 1E1F2025_4): its programme, campaign year and
-- organisme mandataire. Offers' dispositif.numero_lot_cr must name one of these once
-- any lot is known.
CREATE TABLE lots (
    code       TEXT    NOT NULL PRIMARY KEY,
    programme  TEXT    NOT NULL REFERENCES programmes (libelle),
    annee      BIGINT  NOT NULL,
    mandataire TEXT    NOT NULL REFERENCES organismes (siret),
    revision   BIGINT  NOT NULL
);
