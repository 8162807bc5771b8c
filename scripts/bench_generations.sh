#!/usr/bin/env bash
# Measures export generations (issue 4): on the SESSIONS-session generated set (default
# 10 000, seed 42), a full export (the first generation), an unchanged re-export, and an
# export after ~1 % of the offers changed upstream (scripts/edit_offers.py), on SQLite and
# PostgreSQL. Wall time, CPU time (user + system) and peak RSS come from /usr/bin/time
# (%e, %U + %S and %M: the "Elapsed", "User/System time" and "Maximum resident set size"
# of `time -v`). Prints a Markdown table for docs/BENCHMARKS.md.
#
#   cargo build --release && scripts/bench_generations.sh
#
# PostgreSQL: LHEO_FEED_BENCH_PG (default postgres://postgres@127.0.0.1:5432) must allow
# CREATE DATABASE; the database lheo_bench_generations is dropped and created again.
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${SESSIONS:-10000}
BIN=target/release/lheo-feed
PG=${LHEO_FEED_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DIR=${DIR:-bench-out/generations}
TODAY=2025-06-02

[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
rm -rf "$DIR"
mkdir -p "$DIR"
"$BIN" generate --sessions "$SESSIONS" --seed 42 --out "$DIR/data.jsonl" >&2
python3 scripts/edit_offers.py "$DIR/data.jsonl" "$DIR/edit.jsonl" --every 100 >&2

# measure LABEL ARGS...: runs the binary, prints one table row.
measure() {
  local label=$1
  shift
  /usr/bin/time -f "%e %U %S %M" -o "$DIR/time.txt" "$BIN" --database-url "$URL" "$@" >"$DIR/summary.json"
  read -r wall user sys rss <"$DIR/time.txt"
  python3 - "$BACKEND" "$label" "$wall" "$user" "$sys" "$rss" "$DIR/summary.json" <<'PY'
import json, sys
backend, label, wall, user, sys_, rss, path = sys.argv[1:]
s = json.load(open(path))
cpu = float(user) + float(sys_)
print(f"| {backend} | {label} | {float(wall):.2f} | {cpu:.2f} | {int(rss) / 1024:.0f} | {s['mode']} "
      f"| {s['offres_evaluees']} | {s['created']} / {s['updated']} / {s['withdrawn']} / "
      f"{s['unchanged']} | {s['bytes'] / 1e6:.1f} |")
PY
}

echo "| backend | run | wall (s) | CPU (s) | peak RSS (MiB) | mode | offers evaluated | created / updated / withdrawn / unchanged | snapshot (MB) |"
echo "|---|---|---|---|---|---|---|---|---|"
for BACKEND in sqlite postgres; do
  if [ "$BACKEND" = sqlite ]; then
    URL="sqlite://$DIR/bench.sqlite"
  else
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS lheo_bench_generations WITH (FORCE)" >/dev/null
    psql "$PG/postgres" -qc "CREATE DATABASE lheo_bench_generations" >/dev/null
    URL="$PG/lheo_bench_generations"
  fi
  OUT="$DIR/$BACKEND/lheo.xml"
  "$BIN" --database-url "$URL" import "$DIR/data.jsonl" >&2
  measure "full export (first generation)" export --today $TODAY --json --out "$OUT"
  measure "unchanged re-export" export --today $TODAY --json --out "$OUT"
  "$BIN" --database-url "$URL" import "$DIR/edit.jsonl" >&2
  measure "1 % of offers changed" export --today $TODAY --json --out "$OUT"
  measure "full pass, same data (--full)" export --today $TODAY --json --full --out "$OUT"
done
