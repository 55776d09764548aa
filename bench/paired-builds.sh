#!/bin/bash
# A lone job's latency, two builds side by side: each build's `start-all` (server, one agent, a file printer) in
# a temp data dir, then bench/user-client.ts sends N jobs one at a time, alternating between the two, and prints
# one JSON line with each one's p50/p99 (paired samples: both under the same machine load). Swap the two builds
# between runs to see the order's share.
#
#   bash bench/paired-builds.sh BUILD_A BUILD_B [N]     a build: a tree with dist/ (npm run build); N: 2000
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
a=$(cd "$1" && pwd)
b=$(cd "$2" && pwd)
n=${3:-2000}
port=${PORT:-3811}
groups=()
dirs=()
cleanup() {
  for g in "${groups[@]}"; do kill -TERM -- -"$g" 2>/dev/null || true; done
  sleep 1
  for g in "${groups[@]}"; do kill -KILL -- -"$g" 2>/dev/null || true; done
  rm -rf "${dirs[@]}"
}
trap cleanup EXIT
start() { # build port
  local data
  data=$(mktemp -d)
  dirs+=("$data")
  (cd "$1" && PORT=$2 MQTT_PORT=$(($2 + 15000)) DATA_DIR=$data LOG_LEVEL=warn PRINT_RATE_PER_MINUTE=0 \
    exec setsid node dist/start-all.mjs > "$data/log" 2>&1 < /dev/null) &
  groups+=($!)
}
start "$a" "$port"
start "$b" $((port + 1))
for p in "$port" $((port + 1)); do
  for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$p/printers" | grep -q '"state":"online"' && break
    sleep 0.5
  done
done
echo "A = $a on :$port, B = $b on :$((port + 1)); load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cd "$here" && npx tsx bench/user-client.ts latency "node:http://127.0.0.1:$port,node:http://127.0.0.1:$((port + 1))" "$n"
