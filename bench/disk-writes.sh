#!/bin/bash
# Bytes a job reaches the disk: a build's `start-all` (server, one agent, a file printer) in a temp data dir,
# N jobs posted by 16 clients with bench/user-client.ts, and the sectors the data dir's block device wrote
# meanwhile (/proc/diskstats: the whole machine, so run it on a quiet one), beside the server's own write_bytes.
#
#   bash bench/disk-writes.sh [BUILD_DIR] [N]     BUILD_DIR: a tree with dist/ (npm run build), default this one
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$(cd "${1:-$here}" && pwd)
n=${2:-4000}
port=${PORT:-3831}
data=$(mktemp -d)
dev=$(basename "$(findmnt -no SOURCE --target "$data")")
sectors() { awk -v d="$dev" '$3 == d { print $10 }' /proc/diskstats; }
(cd "$dir" && PORT=$port MQTT_PORT=$((port + 15000)) DATA_DIR=$data LOG_LEVEL=warn PRINT_RATE_PER_MINUTE=0 \
  exec setsid node dist/start-all.mjs > "$data/log" 2>&1 < /dev/null) &
group=$!
trap 'kill -TERM -- -$group 2>/dev/null; sleep 1; kill -KILL -- -$group 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$port/printers" | grep -q '"state":"online"' && break
  sleep 0.5
done
server=$(pgrep -g $group -f printhop-server)
sync; sleep 1
d0=$(sectors); s0=$(awk '/^write_bytes/ { print $2 }' /proc/$server/io)
(cd "$here" && npx tsx bench/user-client.ts load "http://127.0.0.1:$port" "$n" 16 > /dev/null)
sync; sleep 2
d1=$(sectors); s1=$(awk '/^write_bytes/ { print $2 }' /proc/$server/io)
echo "$dir: $(( (d1 - d0) * 512 / n )) bytes written to $dev a job; the server's write_bytes $(( (s1 - s0) / n )) a job; $n jobs, load $(cut -d' ' -f1-3 /proc/loadavg)"
