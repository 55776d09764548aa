#!/bin/bash
# A lone job's latency, two builds side by side: each build's `start-all` (server, one agent, a file printer) in
# a temp data dir, then bench/user-client.ts sends N jobs one at a time, alternating between the two, and prints
# one JSON line with each one's p50/p99 (paired samples: both under the same machine load). Swap the two builds
# between runs to see the order's share.
#
#   bash bench/paired-builds.sh BUILD_A BUILD_B [N]     a build: a tree with dist/ (npm run build); N: 2000
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/bench/start-build.sh"
a=$(cd "$1" && pwd)
b=$(cd "$2" && pwd)
n=${3:-2000}
port=${PORT:-3811}
start_build "$a" "$port"
start_build "$b" $((port + 1))
wait_online "$port"
wait_online $((port + 1))
echo "A = $a on :$port, B = $b on :$((port + 1)); load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cd "$here" && npx tsx bench/user-client.ts latency "node:http://127.0.0.1:$port,node:http://127.0.0.1:$((port + 1))" "$n"
