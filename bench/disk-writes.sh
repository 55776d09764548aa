#!/bin/bash
# Bytes a job reaches the disk: a build's `start-all` (server, one agent, a file printer) in a temp data dir,
# N jobs posted by 16 clients with bench/user-client.ts, and the sectors the data dir's block device wrote
# meanwhile (/proc/diskstats: the whole machine, so run it on a quiet one), beside the server's own write_bytes.
#
#   bash bench/disk-writes.sh [BUILD_DIR] [N]     BUILD_DIR: a tree with dist/ (npm run build), default this one
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/bench/start-build.sh"
dir=$(cd "${1:-$here}" && pwd)
n=${2:-4000}
port=${PORT:-3831}
start_build "$dir" "$port"
dev=$(basename "$(findmnt -no SOURCE --target "$BUILD_DATA")")
sectors() { awk -v d="$dev" '$3 == d { print $10 }' /proc/diskstats; }
wait_online "$port"
server=$(pgrep -g "$BUILD_GROUP" -f printhop-server)
sync; sleep 1
d0=$(sectors); s0=$(awk '/^write_bytes/ { print $2 }' /proc/$server/io)
(cd "$here" && npx tsx bench/user-client.ts load "http://127.0.0.1:$port" "$n" 16 > /dev/null)
sync; sleep 2
d1=$(sectors); s1=$(awk '/^write_bytes/ { print $2 }' /proc/$server/io)
echo "$dir: $(( (d1 - d0) * 512 / n )) bytes written to $dev a job; the server's write_bytes $(( (s1 - s0) / n )) a job; $n jobs, load $(cut -d' ' -f1-3 /proc/loadavg)"
