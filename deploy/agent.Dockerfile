# Printhop agent: one printer's jobs, over MQTT (README, "Run in production"). Also holds the virtual printer.
#   docker build -t printhop-agent -f deploy/agent.Dockerfile .
#   docker run -d --device /dev/usb/lp0 -e MQTT_URL=ws://server:3000/mqtt -e PRINTER_ID=printer-1 \
#     -e MQTT_PASSWORD=TOKEN -v printhop-agent:/data printhop-agent
# PRINTER defaults to /dev/usb/lp0 (give the device with --device; the agent's user is in group lp);
# tcp://host:9100 and file:PATH work too. PRINTER=usb (libusb) is not in this image: use /dev/usb/lp0.

# ---- build: the one-file agent (no native module is needed, so no install script runs).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build

# ---- runtime: Node, tini and two files.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && groupadd --system printhop \
 && useradd --system --gid printhop --groups lp --home-dir /data --shell /usr/sbin/nologin printhop \
 && mkdir -p /data && chown printhop:printhop /data
WORKDIR /app
COPY --from=build /src/dist/printhop-agent.mjs /src/dist/virtual-printer.mjs ./
# NODE_OPTIONS: V8's young generation at 1 MB semi-spaces (about 25 MB less memory under a burst of jobs);
# MALLOC_ARENA_MAX: glibc's malloc with 2 arenas instead of 8 per core (about 5 MB less under a burst);
# MALLOC_MMAP_THRESHOLD_: blocks of 128 kB and more go back to the system when freed (about 3 MB less).
ENV NODE_ENV=production AGENT_DATA_DIR=/data PRINTER=/dev/usb/lp0 NODE_OPTIONS=--max-semi-space-size=1 \
    MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
VOLUME /data
USER printhop
# Arguments go to the agent (`docker run ... printhop-agent --check`). The virtual network printer of
# compose.yaml runs from this image too: entrypoint ["/usr/bin/tini", "--", "node", "/app/virtual-printer.mjs"].
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/printhop-agent.mjs"]
