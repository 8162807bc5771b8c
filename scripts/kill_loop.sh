#!/usr/bin/env bash
# Kills exports at random moments (kill -9) and checks, after each kill, that the current
# generation is complete (its recorded file has its recorded digest) and that the stable
# name holds a whole document of a recorded generation. Complements the deterministic
# kill test in tests/generations.rs (which pauses at named points) with a release build
# and a bigger set.
#
#   cargo build --release && scripts/kill_loop.sh [sqlite|postgres] [ROUNDS]
#
# Needs b3sum (Debian package b3sum) to check BLAKE3 digests (src/digest.rs).
#
# Environment: SESSIONS (default 20000), LHEO_FEED_BENCH_PG (default
# postgres://postgres@127.0.0.1:5432; the database lheo_kill_loop is dropped and created).
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${1:-sqlite}
ROUNDS=${2:-20}
SESSIONS=${SESSIONS:-20000}
BIN=target/release/lheo-feed
PG=${LHEO_FEED_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DIR=bench-out/kill-loop-$BACKEND
rm -rf "$DIR"
mkdir -p "$DIR"
if [ "$BACKEND" = sqlite ]; then
  URL="sqlite://$DIR/store.sqlite"
else
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS lheo_kill_loop WITH (FORCE)" 2>/dev/null
  psql "$PG/postgres" -qc "CREATE DATABASE lheo_kill_loop"
  URL="$PG/lheo_kill_loop"
fi
OUT="$DIR/feed/lheo.xml"
feed() { "$BIN" --database-url "$URL" "$@"; }

"$BIN" generate --sessions "$SESSIONS" --seed 42 --out "$DIR/data.jsonl" >/dev/null
feed import "$DIR/data.jsonl" >/dev/null
feed export --today 2025-06-02 --out "$OUT" >/dev/null

check() {
  feed generations --json >"$DIR/generations.json"
  python3 - "$DIR/generations.json" "$OUT" <<'PY'
import hashlib, json, subprocess, sys
gens = json.load(open(sys.argv[1]))
def digest(path, algorithm):
    # As src/digest.rs writes them: `blake3:HEX` (b3sum, Debian package b3sum), or
    # `sha256:HEX` for generations recorded before migration 0015.
    if algorithm == "blake3":
        hexdigits = subprocess.run(["b3sum", "--no-names", path], check=True,
                                   capture_output=True, text=True).stdout.strip()
    else:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        hexdigits = h.hexdigest()
    return f"{algorithm}:{hexdigits}"
current = gens[0]
algorithm = current["file_digest"].split(":")[0]
assert digest(current["file_path"], algorithm) == current["file_digest"], "current generation incomplete"
out = digest(sys.argv[2], algorithm)
known = {g["file_digest"]: g["id"] for g in gens}
assert out in known, "the stable name holds no recorded generation's document"
print(f"current {current['id']}, stable name at generation {known[out]}")
PY
}

killed=0
for round in $(seq 1 "$ROUNDS"); do
  python3 scripts/edit_offers.py "$DIR/data.jsonl" "$DIR/edit.jsonl" --every 100 --tag "$round" >/dev/null
  feed import "$DIR/edit.jsonl" >/dev/null
  full=""
  [ $((round % 4)) -eq 0 ] && full="--full"
  # The binary itself in the background (a shell function would run in a subshell, and
  # killing that would leave the export running).
  "$BIN" --database-url "$URL" export --today 2025-06-02 --out "$OUT" $full >/dev/null 2>&1 &
  pid=$!
  # A random moment within the export (an incremental one takes a few tenths of a second).
  sleep "$(python3 -c "import random; print(random.uniform(0, 0.3 if not '$full' else 1.8))")"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null || true
  echo -n "round $round: "
  check
done
feed export --today 2025-06-02 --out "$OUT" >/dev/null
echo -n "after a last export: "
check
leftovers=$(find "$DIR/feed" -name '.*' -type f | wc -l)
echo "$killed of $ROUNDS exports killed; files beside the feed: $leftovers hidden (expected 1)"
[ "$leftovers" -eq 1 ]
