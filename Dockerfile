# Printhop server: the web page, the HTTP API and the MQTT broker (docs/deployment.md, "Run in production").
#   docker build -t printhop-server .      (or podman build; compose.yaml builds it too)
#   docker run -d -p 3000:3000 -p 1883:1883 -v printhop-data:/data printhop-server
# Settings are environment variables (docs/settings.md); the SQLite database and the MQTT tokens live in /data.

# ---- build: dependencies (sqlite3 compiled here), then `npm run build`, then only the runtime packages.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# sqlite3 from its sources, for this image's Node and libc (no prebuilt binary is downloaded), with the
# Node headers the image has in /usr/local/include/node (node-gyp would otherwise fetch them from nodejs.org).
# JOBS: node-gyp compiles on every core.
ENV npm_config_build_from_source=sqlite3 npm_config_nodedir=/usr/local JOBS=max
RUN npm ci --no-audit --no-fund
COPY . .
# The one-file executables the server hands out at /agents/ (README, "Add a printer"): each is the official Node
# binary of this image's version (from npm) with the agent inside. PRINTHOP_AGENTS="" builds none (smaller image;
# /agents/ then serves the .mjs only and says how to build the rest).
ARG PRINTHOP_AGENTS="win-x64 linux-x64 linux-arm64"
RUN npm run build \
 && if [ -n "$PRINTHOP_AGENTS" ]; then npm run build:agents -- $PRINTHOP_AGENTS; fi \
 && rm -rf dist/.cache \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: Node, tini, the built server, its packages and the page. No compiler, no TypeScript loader.
FROM node:20-bookworm-slim
# tini as PID 1: passes SIGTERM to Node (which then stops cleanly) and reaps children (like `docker run --init`).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && groupadd --system printhop \
 && useradd --system --gid printhop --home-dir /data --shell /usr/sbin/nologin printhop \
 && mkdir -p /data && chown printhop:printhop /data
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/public ./public
# The systemd unit and udev rule /agents/install.sh puts in place.
COPY --from=build /src/agent/deploy ./agent/deploy
ENV NODE_ENV=production DATA_DIR=/data HOST=0.0.0.0 PORT=3000 MQTT_PORT=1883
VOLUME /data
EXPOSE 3000 1883
USER printhop
# /readyz: 200 once the database answers (migrated) and the broker listens or is connected; 503 names the part.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/printhop-server.mjs"]
