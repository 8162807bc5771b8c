#!/usr/bin/env bash
# Push benchmark (docs/BENCHMARKS.md, "Push"): throughput to three local receivers, and
# the bytes of a 1 % change against the full snapshot. Release build; SQLite by default
# (DB=postgres://… for PostgreSQL). Loopback only.
#
#   cargo build --release --bin lheo-feed --example receiver
#   scripts/bench_push.sh [SESSIONS]
set -euo pipefail
SESSIONS=${1:-10000}
TODAY=2025-06-02
BIN=target/release/lheo-feed
RECV=target/release/examples/receiver
WORK=$(mktemp -d)
DB=${DB:-sqlite://$WORK/bench.sqlite}
export LHEO_FEED_RECEIVER_KEY=bench-signing-key
export LHEO_FEED_BENCH_WHSEC=bench-signing-key
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

{
  echo "[push]"
  echo "concurrency = 3"
  for i in 1 2 3; do
    port=$((18700 + i))
    "$RECV" "127.0.0.1:$port" > "$WORK/recv$i.log" 2>&1 &
    pids+=($!)
    cat <<EOT
[[consumers]]
name = "c$i"
url = "http://127.0.0.1:$port/lheo"
signing_secrets = [{ env = "LHEO_FEED_BENCH_WHSEC" }]
max_offres = 500
$( [ "$i" = 1 ] && echo 'gzip = true' )
EOT
  done
} > "$WORK/config.toml"
sleep 0.5

lf() { "$BIN" --database-url "$DB" --config "$WORK/config.toml" --today "$TODAY" "$@"; }
"$BIN" generate --sessions "$SESSIONS" --seed 42 --out "$WORK/data.jsonl" > /dev/null
lf import "$WORK/data.jsonl" > /dev/null
lf export --out "$WORK/lheo.xml" --json > "$WORK/e1.json"
echo "snapshot: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["published"], "offers,", d["bytes"], "bytes")' "$WORK/e1.json")"
/usr/bin/time -f "push (full): %e s wall, %M KB max RSS" "$BIN" --database-url "$DB" --config "$WORK/config.toml" push --once --json > "$WORK/p1.json"
python3 - "$WORK/p1.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
offres = sum(c["offres_delivered"] for c in d["consumers"])
print(f"full push: {offres} offers to 3 receivers in {d['elapsed_ms']} ms = {d['offres_per_second']:.0f} offers/s")
for c in d["consumers"]:
    print(f"  {c['name']}: {c['batches_delivered']} batches, {c['offres_delivered']} offers, document {c['document_bytes']} bytes, sent {c['body_bytes']} bytes")
PY

python3 scripts/edit_offers.py "$WORK/data.jsonl" "$WORK/edit.jsonl" --every 100 --tag bench
lf import "$WORK/edit.jsonl" > /dev/null
lf export --out "$WORK/lheo.xml" --json > "$WORK/e2.json"
"$BIN" --database-url "$DB" --config "$WORK/config.toml" push --once --json > "$WORK/p2.json"
python3 - "$WORK/p1.json" "$WORK/p2.json" "$WORK/e2.json" <<'PY'
import json, sys
p1, p2, e2 = (json.load(open(f)) for f in sys.argv[1:4])
print(f"1 % change: generation with {e2['updated']} updated of {e2['published']} published ({100*e2['updated']/e2['published']:.2f} %)")
full = {c["name"]: c for c in p1["consumers"]}
for c in p2["consumers"]:
    f = full[c["name"]]
    print(f"  {c['name']}: {c['offres_delivered']} offers, sent {c['body_bytes']} bytes vs {f['body_bytes']} for the full snapshot = {100*c['body_bytes']/f['body_bytes']:.2f} %")
PY
