#!/usr/bin/env bash
# One build's full export and 1 % change at a given size, on a fresh copy of an imported
# SQLite store: the before/after measurement of an export change (docs/BENCHMARKS.md,
# session 9). Run it once per build, one after the other, on a quiet machine.
#
#   target/release/lheo-feed --database-url sqlite://$PWD/bench-out/base.sqlite \
#       import bench-out/n1000000/data.jsonl            # once: the store to copy
#   scripts/bench-export-ab.sh BIN LABEL bench-out/base.sqlite bench-out/n1000000/edit.jsonl
#
# Prints, per export, /usr/bin/time's wall, user, system and peak RSS, then the export's
# phases (its lheo_feed::generation debug lines). Works in bench-out/ab-LABEL, deleted
# after.
set -euo pipefail
if [ $# -ne 4 ]; then
    echo "usage: $0 BIN LABEL BASE.sqlite EDIT.jsonl" >&2
    exit 2
fi
bin=$(realpath "$1"); label=$2; base=$(realpath "$3"); edit=$(realpath "$4")
work="$(dirname "$base")/ab-$label"
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
cp "$base" "$work/store.sqlite"
url="sqlite://$work/store.sqlite"

export_once() {
    sync
    /usr/bin/time -f "$label $1: %e s wall, %U s user, %S s system, %M KB peak" \
        env LHEO_FEED_LOG=warn,lheo_feed::generation=debug \
        "$bin" --database-url "$url" export --today 2025-06-02 --json --out "$work/out/lheo.xml" \
        > "$work/$1.json" 2> "$work/$1.log"
    tail -1 "$work/$1.log"
    grep -o "export: [^=]*elapsed=[0-9.]*[a-zµ]*" "$work/$1.log" | sed 's/^/    /'
}

export_once full
"$bin" --database-url "$url" import "$edit" > /dev/null
export_once change
