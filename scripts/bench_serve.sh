#!/usr/bin/env bash
# Measures `lheo-feed serve` (issue 6) with wrk on loopback, on the SESSIONS-session
# generated set (default 10 000, seed 42), SQLite store:
#   - the gzip twin's cost inside the export (the export's phase timings, LHEO_FEED_LOG=debug);
#   - the 304 path (snapshot with If-None-Match) and the changes path (a page of the ~1 %
#     of offers changed by scripts/edit_offers.py): requests per second, p99 latency;
#   - the full-snapshot download with curl against `cat` of the same file.
#
#   cargo build --release && scripts/bench_serve.sh
#
# Needs wrk and curl (apt-get install wrk curl). Writes under bench-out/serve.
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${SESSIONS:-10000}
BIN=$PWD/target/release/lheo-feed
DIR=${DIR:-bench-out/serve}
TODAY=2025-06-02
PORT=${PORT:-18080}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}

[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
rm -rf "$DIR"
mkdir -p "$DIR"
URL="sqlite://$DIR/bench.sqlite"
OUT="$DIR/lheo.xml"
run() { "$BIN" --database-url "$URL" "$@"; }

run generate --sessions "$SESSIONS" --seed 42 --out "$DIR/data.jsonl" >&2
python3 scripts/edit_offers.py "$DIR/data.jsonl" "$DIR/edit.jsonl" --every 100 >&2
run import "$DIR/data.jsonl" >&2

echo "## gzip twin inside the export"
for what in "first generation" "unchanged re-export"; do
  LHEO_FEED_LOG=lheo_feed=debug run export --today $TODAY --out "$OUT" 2>"$DIR/export.log" >/dev/null
  python3 - "$what" "$DIR/export.log" <<'PY'
import re, sys
what, path = sys.argv[1:]
t = {}
for line in open(path):
    line = re.sub(r'\x1b\[[0-9;]*m', '', line)
    m = re.search(r'export: (.*?)\s+elapsed=([0-9.]+)(ms|s|µs|ns)', line)
    if m:
        v = float(m.group(2)) * {"ms": 1e-3, "s": 1, "µs": 1e-6, "ns": 1e-9}[m.group(3)]
        t[m.group(1).strip()] = v
twin = t["gzip twin written"] - t["snapshot synced"]
print(f"- {what}: export {t['done']:.2f} s; snapshot synced to gzip twin ready (overlapping the write transaction): {twin:.2f} s")
PY
done
SNAP=$(ls "$DIR"/.lheo.xml.generation-* | grep -v '\.gz$')
ls -l "$SNAP" "$SNAP.gz" | awk '{print "- " $9 ": " $5 " bytes"}'

KEY=$(run partner add bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
"$BIN" --database-url "$URL" serve --listen 127.0.0.1:$PORT --rate-limit 0 2>"$DIR/serve.log" >/dev/null &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done

AUTH="Authorization: Bearer $KEY"
headers=$(curl -s -D - -o /dev/null -H "$AUTH" "http://127.0.0.1:$PORT/feed/lheo.xml")
ETAG=$(echo "$headers" | awk -F': ' 'tolower($1)=="etag"{print $2}' | tr -d '\r')
CURSOR=$(echo "$headers" | awk -F': ' 'tolower($1)=="lheo-feed-cursor"{print $2}' | tr -d '\r')
run import "$DIR/edit.jsonl" >&2
run export --today $TODAY --out "$OUT" >/dev/null
ETAG=$(curl -s -D - -o /dev/null -H "$AUTH" "http://127.0.0.1:$PORT/feed/lheo.xml" | awk -F': ' 'tolower($1)=="etag"{print $2}' | tr -d '\r')
ENTRIES=$(curl -s -H "$AUTH" "http://127.0.0.1:$PORT/feed/changes?cursor=$CURSOR" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["entries"]))')

echo
echo "## wrk, $THREADS threads, $CONNECTIONS connections, $DURATION"
bench() {
  local label=$1
  shift
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" >"$DIR/wrk.txt"
  local rps p99 codes
  rps=$(awk '/^Requests\/sec/{print $2}' "$DIR/wrk.txt")
  p99=$(awk '$1=="99%"{print $2}' "$DIR/wrk.txt")
  codes=$(awk '/Non-2xx or 3xx/{print "non-2xx/3xx: " $5}' "$DIR/wrk.txt")
  echo "| $label | $rps | $p99 | ${codes:-all 2xx/3xx} |"
}
echo "| path | requests/s | p99 latency | |"
echo "|---|---|---|---|"
bench "304 (snapshot, If-None-Match)" -H "$AUTH" -H "If-None-Match: $ETAG" "http://127.0.0.1:$PORT/feed/lheo.xml"
bench "changes since the previous generation ($ENTRIES entries, JSON)" -H "$AUTH" "http://127.0.0.1:$PORT/feed/changes?cursor=$CURSOR"
bench "changes, same, gzip" -H "$AUTH" -H "Accept-Encoding: gzip" "http://127.0.0.1:$PORT/feed/changes?cursor=$CURSOR"

echo
echo "## full snapshot download vs cat (page cache warm), 3 runs each"
SNAP=$(ls "$DIR"/.lheo.xml.generation-* | grep -v '\.gz$')
cat "$SNAP" >/dev/null
for i in 1 2 3; do
  s=$(date +%s.%N); cat "$SNAP" >/dev/null; e=$(date +%s.%N)
  python3 -c "import os,sys; b=os.path.getsize('$SNAP'); t=$e-$s; print(f'- cat: {t:.3f} s, {b/t/1e6:.0f} MB/s')"
done
for i in 1 2 3; do
  curl -s -o /dev/null -H "$AUTH" -w '- curl identity: %{time_total} s, %{size_download} bytes, %{speed_download} B/s\n' "http://127.0.0.1:$PORT/feed/lheo.xml"
done
for i in 1 2 3; do
  curl -s -o /dev/null -H "$AUTH" -H "Accept-Encoding: gzip" -w '- curl gzip twin: %{time_total} s, %{size_download} bytes, %{speed_download} B/s\n' "http://127.0.0.1:$PORT/feed/lheo.xml"
done
