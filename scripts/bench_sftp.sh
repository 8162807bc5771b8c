#!/usr/bin/env bash
# SFTP deposit benchmark (docs/BENCHMARKS.md, "SFTP deposit"): peak memory and time of
# `push --once` depositing a ~1 GB generated snapshot on a real OpenSSH server on loopback,
# against OpenSSH's own `sftp` client putting the same file in the same run. Release
# build; SQLite; needs sshd, ssh-keygen and sftp (apt-get install openssh-server
# openssh-client) and GNU time. Not part of `cargo test`.
#
#   cargo build --release --bin lheo-feed
#   scripts/bench_sftp.sh [SESSIONS]     # 115000 sessions ≈ 1.05 GB of LHÉO (BIN=… for another build)
set -euo pipefail
SESSIONS=${1:-115000}
TODAY=2025-06-02
BIN=${BIN:-$(pwd)/target/release/lheo-feed}
WORK=$(mktemp -d)
DB=sqlite://$WORK/bench.sqlite
SSHD=/usr/sbin/sshd
sshd_pid=
cleanup() { [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# The server: as in tests/sftp.rs, a temporary host key, internal-sftp, one authorized key.
mkdir -p /run/sshd "$WORK/drop"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client_key"
cp "$WORK/client_key.pub" "$WORK/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
USER_NAME=$(id -un)
cat > "$WORK/sshd_config" <<EOT
Port $PORT
ListenAddress 127.0.0.1
HostKey $WORK/host_key
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers $USER_NAME
Subsystem sftp internal-sftp
LogLevel ERROR
EOT
"$SSHD" -D -e -f "$WORK/sshd_config" 2> "$WORK/sshd.log" &
sshd_pid=$!
FP=$(ssh-keygen -l -E sha256 -f "$WORK/host_key.pub" | awk '{print $2}')
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

cat > "$WORK/config.toml" <<EOT
[[consumers]]
name = "bench"
transport = "sftp"
host = "127.0.0.1"
port = $PORT
user = "$USER_NAME"
private_key_file = "$WORK/client_key"
host_key_sha256 = "$FP"
remote_dir = "$WORK/drop"
file_name = "lheo-{date}-g{generation}.xml"
deposit = "snapshot"
timeout = "60s"
EOT

lf() { "$BIN" --database-url "$DB" --config "$WORK/config.toml" --today "$TODAY" "$@"; }
"$BIN" generate --sessions "$SESSIONS" --seed 42 --out "$WORK/data.jsonl" > /dev/null
lf import "$WORK/data.jsonl" > /dev/null
rm "$WORK/data.jsonl"
lf export --out "$WORK/lheo.xml" --json > "$WORK/export.json"
rm -f "$WORK"/lheo.xml* "$WORK"/.lheo.xml.generation-* 2>/dev/null || true
echo "snapshot: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["published"], "offers,", d["bytes"], "bytes")' "$WORK/export.json")"

# lheo-feed: build the consumer's document from the store, upload it under a temporary
# name, read it back to check its SHA-256, rename it, write its .sha256.
/usr/bin/time -f "%e %M" -o "$WORK/time.push" \
  "$BIN" --database-url "$DB" --config "$WORK/config.toml" push --once --json > "$WORK/push.json"
NAME=$(cd "$WORK/drop" && ls lheo-*.xml)
SIZE=$(stat -c %s "$WORK/drop/$NAME")
(cd "$WORK/drop" && sha256sum -c --quiet "$NAME.sha256")
python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["consumers"][0]; assert c["batches_delivered"]==1, c' "$WORK/push.json"

# The reference: OpenSSH's sftp client putting the same file to the same server.
mv "$WORK/drop/$NAME" "$WORK/same.xml"
echo "put $WORK/same.xml $WORK/drop/reference.xml" > "$WORK/batch"
/usr/bin/time -f "%e %M" -o "$WORK/time.sftp" \
  sftp -q -b "$WORK/batch" -i "$WORK/client_key" -P "$PORT" \
  -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o BatchMode=yes \
  "$USER_NAME@127.0.0.1" > /dev/null
cmp "$WORK/same.xml" "$WORK/drop/reference.xml"

read -r PUSH_S PUSH_KB < "$WORK/time.push"
read -r SFTP_S SFTP_KB < "$WORK/time.sftp"
python3 - "$SIZE" "$PUSH_S" "$PUSH_KB" "$SFTP_S" "$SFTP_KB" <<'PY'
import sys
size, ps, pkb, ss, skb = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
print(f"file: {size} bytes ({size/1e9:.2f} GB)")
print(f"lheo-feed push --once (build + upload + read-back + rename + .sha256): {ps:.1f} s, peak RSS {pkb/1024:.1f} MB")
print(f"OpenSSH sftp put (upload only): {ss:.1f} s, peak RSS {skb/1024:.1f} MB")
print(f"ratios lheo-feed / sftp: time {ps/ss:.2f}, peak memory {pkb/skb:.2f}")
assert pkb < 100 * 1024, f"peak memory {pkb/1024:.1f} MB is not under 100 MB"
PY
