#!/usr/bin/env bash
# Materialising a generation on a second host (issue 21, docs/BENCHMARKS.md): generate N
# sessions, import them into a fresh PostgreSQL database, export through "host A", then time
# `lheo-feed materialise` into "host B"'s empty folder, next to `cat` of host A's file (the
# floor: reading the same bytes) and `sha256sum` of it (reading and hashing them), with
# `sync` and a dropped page cache before each timed command. Release build, one run.
# Usage: scripts/bench-materialise.sh [SESSIONS] [WORKDIR]   (PostgreSQL at 127.0.0.1:5432)
set -euo pipefail
SESSIONS="${1:-100000}"
DIR="${2:-$(mktemp -d)}"
PG="${LHEO_FEED_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
BIN="$(cd "$(dirname "$0")/.." && pwd)/target/release/lheo-feed"
DB="lheo_bench_materialise_$$"
mkdir -p "$DIR"
cd "$DIR"
rm -rf a b
psql "$PG" -qc "CREATE DATABASE $DB"
# LHEO_FEED_BENCH_KEEP=1 keeps the database (and says its URL) for a look afterwards,
# e.g. EXPLAIN ANALYZE of the feed's queries at that size; drop it by hand then.
if [ -z "${LHEO_FEED_BENCH_KEEP:-}" ]; then
  trap 'psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
fi
URL="${PG%/*}/$DB"
test -s "gen-$SESSIONS.jsonl.gz" ||
  "$BIN" generate --sessions "$SESSIONS" --seed 1 --out "gen-$SESSIONS.jsonl.gz" >/dev/null
"$BIN" --database-url "$URL" import "gen-$SESSIONS.jsonl.gz" >/dev/null
"$BIN" --database-url "$URL" --today 2025-06-02 export --out a/lheo.xml | tail -1
ls -l a/.lheo.xml.generation-1 a/.lheo.xml.generation-1.gz
quiet() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
timed() { /usr/bin/time -f "%e s elapsed, %U s user, %S s system, %M KB peak RSS" "$@"; }
echo "== cat (host A's document)"; quiet; timed cat a/.lheo.xml.generation-1 >/dev/null
echo "== sha256sum (host A's document)"; quiet; timed sha256sum a/.lheo.xml.generation-1 >/dev/null
echo "== lheo-feed materialise (host B)"; quiet
timed "$BIN" --database-url "$URL" materialise --out b/lheo.xml
cmp a/.lheo.xml.generation-1 b/.lheo.xml.generation-1
cmp a/.lheo.xml.generation-1.gz b/.lheo.xml.generation-1.gz
echo "identical document and gzip twin"
if [ -n "${LHEO_FEED_BENCH_KEEP:-}" ]; then echo "kept: $URL"; fi
