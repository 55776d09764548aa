# Sourced by bench/paired-builds.sh and bench/disk-writes.sh: a build's `start-all` (server, one agent, a file
# printer) in a temp data dir, as a process group of its own, stopped with its data dir when the script exits.
#
#   start_build BUILD_DIR PORT   starts it (MQTT on PORT + 15000); sets BUILD_GROUP and BUILD_DATA
#   wait_online PORT             until its printer is online (30 s at most)
build_groups=()
build_dirs=()
stop_builds() {
  for g in "${build_groups[@]}"; do kill -TERM -- -"$g" 2>/dev/null || true; done
  sleep 1
  for g in "${build_groups[@]}"; do kill -KILL -- -"$g" 2>/dev/null || true; done
  rm -rf "${build_dirs[@]}"
}
trap stop_builds EXIT
start_build() {
  BUILD_DATA=$(mktemp -d)
  build_dirs+=("$BUILD_DATA")
  (cd "$1" && PORT=$2 MQTT_PORT=$(($2 + 15000)) DATA_DIR=$BUILD_DATA LOG_LEVEL=warn PRINT_RATE_PER_MINUTE=0 \
    exec setsid node dist/start-all.mjs > "$BUILD_DATA/log" 2>&1 < /dev/null) &
  BUILD_GROUP=$!
  build_groups+=("$BUILD_GROUP")
}
wait_online() {
  for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$1/printers" | grep -q '"state":"online"' && return 0
    sleep 0.5
  done
}
