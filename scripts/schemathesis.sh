#!/usr/bin/env bash
# Fuzzes the feed's published contract (schemas/openapi.json, served at /openapi.json) with
# Schemathesis against a real `lheo-feed serve` on loopback: the fixtures imported and
# exported, a partner key, the admin key. Example-based and stateful checks, a bounded
# number of cases, no 5xx, every response conforming to the description. Stops by itself.
# Usage: scripts/schemathesis.sh BINARY SCHEMATHESIS
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "$1")
st=$2
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
db="sqlite://$work/store.sqlite"
"$bin" --database-url "$db" import fixtures/offres.jsonl >/dev/null
"$bin" --database-url "$db" export --today 2025-06-02 --out "$work/out/lheo.xml" >/dev/null
key=$("$bin" --database-url "$db" partner add schemathesis --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
admin=$(openssl rand -hex 24)
LHEO_FEED_ADMIN_KEY=$admin "$bin" --database-url "$db" serve \
  --listen "127.0.0.1:$port" --rate-limit 0 --auth-failures-burst 0 >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
# Bounded: 60 examples per operation, 5 minutes per run at most. The partner routes with a
# partner key, then the admin routes with the admin key (their stateful link: a run queued
# by POST /admin/runs is read back by GET /admin/runs/{id}).
fuzz() {
  timeout 300 "$st" run "http://127.0.0.1:$port/openapi.json" \
    --base-url "http://127.0.0.1:$port" \
    --experimental=openapi-3.1 \
    --checks all \
    --stateful=links \
    --hypothesis-max-examples 60 \
    --hypothesis-deadline 5000 \
    --hypothesis-seed 18 \
    --no-color \
    "$@"
}
status=0
fuzz -H "Authorization: Bearer $key" --include-path-regex '^/(feed/|health|ready|metrics|openapi)' || status=$?
fuzz -H "Authorization: Bearer $admin" --include-path-regex '^/(admin/|status/|$)' || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- serve log" >&2
  tail -50 "$work/serve.log" >&2
fi
exit "$status"
