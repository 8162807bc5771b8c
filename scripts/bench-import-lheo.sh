#!/usr/bin/env bash
# Import rate of a large generated LHÉO document (docs/lheo-import.md, docs/BENCHMARKS.md):
# generate → import → export, then time `import-lheo` of that file into a fresh SQLite
# database, next to `xmllint --stream --noout` of the same file, ROUNDS times each,
# alternating, with `sync` before every timed command (the previous import's database
# still being written back slows the next command by a third on this kind of machine).
# Prints each pair and the median of the ratios. Release build, one run of this script.
# Usage: scripts/bench-import-lheo.sh [SESSIONS] [WORKDIR] [ROUNDS]
set -euo pipefail
SESSIONS="${1:-100000}"
DIR="${2:-$(mktemp -d)}"
ROUNDS="${3:-3}"
mkdir -p "$DIR"
BIN="$(cd "$(dirname "$0")/.." && pwd)/target/release/lheo-feed"
cd "$DIR"
rm -f src.sqlite* dst.sqlite*
if [ ! -s big.xml ]; then
  "$BIN" generate --sessions "$SESSIONS" --seed 1 --out gen.jsonl.gz >/dev/null
  "$BIN" --database-url sqlite://src.sqlite import gen.jsonl.gz >/dev/null
  "$BIN" --database-url sqlite://src.sqlite --today 2025-06-02 export --out big.xml | tail -2
  rm -f src.sqlite*
fi
ls -l big.xml
echo "uptime at the start: $(uptime)"
timed() { /usr/bin/time -f "%e %U %S %M" -o "$1" "${@:2}"; }
ratios=()
for i in $(seq "$ROUNDS"); do
  sync
  timed x.time xmllint --stream --noout big.xml
  rm -f dst.sqlite*
  sync
  timed i.time "$BIN" --database-url sqlite://dst.sqlite import-lheo big.xml | tail -1
  read -r xw xu xs xm < <(tail -1 x.time)
  read -r iw iu is im < <(tail -1 i.time)
  ratio=$(python3 -c "print(f'{$iw / $xw:.2f}')")
  ratios+=("$ratio")
  echo "round $i: xmllint ${xw} s (${xu} user, ${xs} sys, ${xm} KB) | import-lheo ${iw} s" \
    "(${iu} user, ${is} sys, ${im} KB peak RSS) | ratio ${ratio}"
done
rm -f dst.sqlite*
echo "median ratio: $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
