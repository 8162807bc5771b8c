#!/usr/bin/env python3
"""Writes fixtures/region-2025.csv (UTF-8, `,`, LF) and fixtures/region-2025-cp1252.csv
(Windows-1252, `;`, CRLF records with LF inside quoted addresses, as Excel saves them)
from fixtures/offres.jsonl: the five programmes, every lot the offers use (with the
programme and mandataire of the offers that use it), and every organisme. Deterministic;
standard library only. Run from the repository root after changing offres.jsonl."""
import json

PROGRAMMES = [
    "PROGRAMME REGION - 1 emploi = 1 formation",
    "PROGRAMME REGION - PREPA Avenir Sup",
    "PROGRAMME REGION - PREPA Clés Avenir",
    "PROGRAMME REGION - PASS Entreprendre en Pays de la Loire - Formation",
    "PROGRAMME REGION - PREPA Sanitaire et social",
]
COLUMNS = ["type", "code", "programme", "annee", "siret", "raison_sociale", "nda",
           "code_cr", "adresse", "code_postal", "ville"]

lots, orgs = {}, []
for line in open("fixtures/offres.jsonl", encoding="utf-8"):
    if not line.strip():
        continue
    r = json.loads(line)
    if "organisme" in r:
        orgs.append(r["organisme"])
    if "offre" in r:
        o = r["offre"]
        for s in o.get("sessions", []):
            d = s["dispositif"]
            lots.setdefault(d["numero_lot_cr"], (d["programme"], o["mandataire"]))
mandataires = {m for _, m in lots.values()}

rows = [{"type": "programme", "programme": p} for p in PROGRAMMES]
for o in orgs:
    a = o.get("adresse") or {}
    rows.append({
        "type": "mandataire" if o["siret"] in mandataires else "formateur",
        "siret": o["siret"], "raison_sociale": o["raison_sociale"],
        "nda": o.get("nda", ""), "code_cr": o.get("code_cr", ""),
        "adresse": "\n".join(a.get("lignes", [])),
        "code_postal": a.get("code_postal", ""), "ville": a.get("ville", ""),
    })
def lot_key(code):
    prefix, n = code.split("_")
    return (prefix, int(n))
for code in sorted(lots, key=lot_key):
    programme, mandataire = lots[code]
    rows.append({"type": "lot", "code": code, "programme": programme, "annee": "2025",
                 "siret": mandataire})

def quote(v, sep):
    if any(c in v for c in (sep, '"', "\n")):
        return '"' + v.replace('"', '""') + '"'
    return v

def render(sep, nl):
    out = [sep.join(COLUMNS)]
    out += [sep.join(quote(r.get(c, ""), sep) for c in COLUMNS) for r in rows]
    return nl.join(out) + nl

open("fixtures/region-2025.csv", "w", encoding="utf-8", newline="").write(render(",", "\n"))
open("fixtures/region-2025-cp1252.csv", "w", encoding="cp1252", newline="").write(render(";", "\r\n"))
