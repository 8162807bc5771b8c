#!/usr/bin/env python3
"""Writes the offer lines of a FASD JSON Lines file that a benchmark edits: every Nth
offer line (by position; default every 100th, about 1 % of the offers), with its action's
objectives replaced by a text naming the edit. Importing the output after the original
changes exactly those offers, as an upstream correction would.

    python3 scripts/edit_offers.py IN.jsonl OUT.jsonl [--every 100] [--tag 1]

Standard library only; deterministic. Prints how many offer lines it wrote.
"""

import argparse
import json


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--every", type=int, default=100, help="edit every Nth offer line")
    p.add_argument("--tag", default="1", help="text that makes this edit distinct")
    a = p.parse_args()
    written = 0
    seen = 0
    with open(a.input, encoding="utf-8") as src, open(a.output, "w", encoding="utf-8") as out:
        for line in src:
            record = json.loads(line)
            offre = record.get("offre")
            if offre is None:
                continue
            seen += 1
            if seen % a.every != 0:
                continue
            offre["action"]["objectifs"] = (
                f"Objectifs révisés (édition {a.tag}) : acquérir les compétences du métier "
                "et préparer l'entrée en emploi."
            )
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    print(f"{written} of {seen} offer lines edited into {a.output}")


if __name__ == "__main__":
    main()
