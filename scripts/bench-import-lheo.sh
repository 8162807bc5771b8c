#!/usr/bin/env bash
# Import rate of a large generated LHÉO document (docs/lheo-import.md, docs/BENCHMARKS.md):
# generate → import → export, then time `import-lheo` of that file into a fresh SQLite
# database, next to `xmllint --stream --noout` of the same file. Release build, one run.
# Usage: scripts/bench-import-lheo.sh [SESSIONS] [WORKDIR]
set -euo pipefail
SESSIONS="${1:-100000}"
DIR="${2:-$(mktemp -d)}"
mkdir -p "$DIR"
BIN="$(cd "$(dirname "$0")/.." && pwd)/target/release/lheo-feed"
cd "$DIR"
rm -f src.sqlite* dst.sqlite*
"$BIN" generate --sessions "$SESSIONS" --seed 1 --out gen.jsonl.gz >/dev/null
"$BIN" --database-url sqlite://src.sqlite import gen.jsonl.gz >/dev/null
"$BIN" --database-url sqlite://src.sqlite --today 2025-06-02 export --out big.xml | tail -2
ls -l big.xml
echo "== xmllint --stream --noout"
/usr/bin/time -v xmllint --stream --noout big.xml 2>&1 | grep -E "Elapsed|Maximum resident"
echo "== import-lheo"
/usr/bin/time -v "$BIN" --database-url sqlite://dst.sqlite import-lheo big.xml 2>&1 \
  | grep -E "imported|Elapsed|Maximum resident"
