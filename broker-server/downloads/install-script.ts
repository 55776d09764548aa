/**
 * `GET /agents/install.sh`: the Linux installer (a Raspberry Pi, a shop PC), written for the server that
 * serves it: `curl -fsSL http://host:3000/agents/install.sh | sudo sh`. It picks the agent for the machine
 * (the executable for x86-64 or arm64, else the one-file agent on the machine's Node ≥ 20), checks its
 * SHA-256, installs it with a system user `printhop` in the `lp` group, /etc/printhop/agent.env holding
 * PRINTHOP_URL (and PRINTER), the systemd unit and the udev rule of agent/deploy/, and starts it: the printer
 * then prints its pairing code. `--root DIR --no-start` does all of it inside DIR (users in DIR/etc/passwd),
 * starting nothing: a dry run, and what the test checks. `--uninstall` removes it all.
 */
import type { AvailableAgent } from './agent-files';

export interface InstallScriptInput {
  /** The server, as the installer reached it: `http://host:3000`. */
  server: string;
  agents: AvailableAgent[];
  /** agent/deploy/printhop-agent.service and 99-printhop.rules, as shipped. */
  unit: string;
  udevRule: string;
}

/** A value as a single-quoted shell word. */
const sq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** The unit as shipped, started by the executable or by Node on the one-file agent. */
function unitFor(unit: string, execStart: string): string {
  return unit
    .split('\n')
    .map((line) => (line.startsWith('ExecStart=') ? `ExecStart=${execStart}` : line))
    .join('\n');
}

export function installScript(input: InstallScriptInput): string {
  const byPlatform = new Map(input.agents.map((a) => [a.platform, a]));
  const agentVar = (platform: string, name: string) => {
    const a = byPlatform.get(platform);
    return `${name}_FILE=${sq(a?.name ?? '')}\n${name}_SHA256=${sq(a?.sha256 ?? '')}`;
  };
  const binaryUnit = unitFor(input.unit, '/opt/printhop-agent/printhop-agent');
  const nodeUnit = unitFor(input.unit, '@NODE@ /opt/printhop-agent/printhop-agent.mjs');
  return (
    header(input.server, agentVar) +
    INSTALL_STEPS +
    units({ node: nodeUnit, binary: binaryUnit, udevRule: input.udevRule })
  );
}

/** Usage, options, and what this server serves (its URL, each agent's file and SHA-256). */
function header(server: string, agentVar: (platform: string, name: string) => string): string {
  return `#!/bin/sh
# Printhop agent installer for Linux, from the Printhop server at ${server}
#
#   curl -fsSL ${server}/agents/install.sh | sudo sh
#   curl -fsSL ${server}/agents/install.sh | sudo sh -s -- --printer tcp://192.168.1.50:9100
#   curl -fsSL ${server}/agents/install.sh | sudo sh -s -- --uninstall
#
# Options:
#   --printer SPEC   the printer (default /dev/usb/lp0): usb, usb:VID:PID, tcp://host:9100, cups:QUEUE, file:PATH
#   --root DIR       install into DIR instead of / (its users in DIR/etc/passwd); starts nothing
#   --no-start       install, but do not start the agent
#   --uninstall      stop and remove the agent, its settings, its state (journal, token) and its user
#
# Afterwards the printer prints a pairing code: type it on ${server}/admin.
set -eu

PRINTHOP_URL=${sq(server)}
${agentVar('linux-x64', 'X64')}
${agentVar('linux-arm64', 'ARM64')}
${agentVar('node', 'MJS')}
`;
}

/** The steps that do not depend on this server: options, checks, download, user, settings, state. */
const INSTALL_STEPS = `
PRINTER=''
ROOT=''
START=yes
ACTION=install
while [ $# -gt 0 ]; do
  case "$1" in
    --printer) [ $# -ge 2 ] || { echo "install.sh: --printer needs a value" >&2; exit 2; }; PRINTER=$2; shift 2 ;;
    --printer=*) PRINTER=\${1#--printer=}; shift ;;
    --root) [ $# -ge 2 ] || { echo "install.sh: --root needs a folder" >&2; exit 2; }; ROOT=$2; shift 2 ;;
    --root=*) ROOT=\${1#--root=}; shift ;;
    --no-start) START=no; shift ;;
    --uninstall) ACTION=uninstall; shift ;;
    -h|--help) sed -n '2,16p' "$0" 2>/dev/null || true; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$PRINTER" in
  *"
"*|*"\\\\"*) echo "install.sh: --printer must be one line" >&2; exit 2 ;;
esac
if [ -n "$ROOT" ]; then
  ROOT=$(cd "$ROOT" && pwd)
  START=no
fi
[ "$(id -u)" = 0 ] || { echo "install.sh: run it as root (sudo sh)" >&2; exit 1; }

say() { echo "printhop: $*"; }
prefix() { if [ -n "$ROOT" ]; then echo "--prefix $ROOT"; fi; }

OPT="$ROOT/opt/printhop-agent"
ETC="$ROOT/etc/printhop"
UNIT="$ROOT/etc/systemd/system/printhop-agent.service"
RULE="$ROOT/etc/udev/rules.d/99-printhop.rules"
STATE="$ROOT/var/lib/printhop"

if [ "$ACTION" = uninstall ]; then
  if [ "$START" = yes ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now printhop-agent 2>/dev/null || true
  fi
  rm -rf "$OPT" "$ETC" "$STATE"
  rm -f "$UNIT" "$RULE"
  if grep -q '^printhop:' "$ROOT/etc/passwd" 2>/dev/null; then
    # shellcheck disable=SC2046
    userdel $(prefix) printhop 2>/dev/null || true
  fi
  if [ "$START" = yes ] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload || true; fi
  say "agent removed. Its printer stays in the server's registry: remove it on $PRINTHOP_URL/admin"
  exit 0
fi

# ---- which agent: the executable for this machine, else the one-file agent on Node >= 20
FILE=''
SHA=''
case "$(uname -m)" in
  x86_64|amd64) FILE=$X64_FILE; SHA=$X64_SHA256 ;;
  aarch64|arm64) FILE=$ARM64_FILE; SHA=$ARM64_SHA256 ;;
esac
NODE=''
if [ -z "$FILE" ]; then
  NODE=$(command -v node || true)
  if [ -z "$MJS_FILE" ]; then
    echo "install.sh: the server has no agent for $(uname -m): build them there with npm run build:agents (and npm run build)" >&2
    exit 1
  fi
  if [ -z "$NODE" ] || [ "$("$NODE" -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "install.sh: no executable for $(uname -m) on the server: this machine needs Node.js 20 or later for printhop-agent.mjs" >&2
    exit 1
  fi
  FILE=$MJS_FILE
  SHA=$MJS_SHA256
fi

fetch() {
  if command -v curl >/dev/null 2>&1; then curl -fsSL -o "$2" "$1"; else wget -q -O "$2" "$1"; fi
}

# ---- the user: system account printhop, in the lp group (printers belong to lp)
if ! grep -q '^lp:' "$ROOT/etc/group"; then
  # shellcheck disable=SC2046
  groupadd $(prefix) --system lp
fi
if ! grep -q '^printhop:' "$ROOT/etc/passwd"; then
  # shellcheck disable=SC2046
  useradd $(prefix) --system --user-group --home-dir /var/lib/printhop --no-create-home --shell /usr/sbin/nologin printhop
fi
# shellcheck disable=SC2046
usermod $(prefix) -a -G lp printhop
USER_ID=$(awk -F: '$1 == "printhop" { print $3 }' "$ROOT/etc/passwd")
GROUP_ID=$(awk -F: '$1 == "printhop" { print $4 }' "$ROOT/etc/passwd")

# ---- the program, checked against the server's SHA-256
mkdir -p "$OPT"
chown 0:0 "$OPT"
chmod 755 "$OPT"
TMP="$OPT/.download"
say "downloading $FILE from $PRINTHOP_URL"
fetch "$PRINTHOP_URL/agents/$FILE" "$TMP"
if [ "$(sha256sum "$TMP" | cut -d' ' -f1)" != "$SHA" ]; then
  rm -f "$TMP"
  echo "install.sh: $FILE does not have the SHA-256 the server announced; nothing installed" >&2
  exit 1
fi
chown 0:0 "$TMP"
if [ -n "$NODE" ]; then
  chmod 644 "$TMP"
  mv -f "$TMP" "$OPT/printhop-agent.mjs"
  rm -f "$OPT/printhop-agent"
else
  chmod 755 "$TMP"
  mv -f "$TMP" "$OPT/printhop-agent"
  rm -f "$OPT/printhop-agent.mjs"
fi

# ---- settings: PRINTHOP_URL (the agent pairs with it) and the printer; an existing file is kept
mkdir -p "$ETC"
chown 0:0 "$ETC"
chmod 755 "$ETC"
if [ ! -f "$ETC/agent.env" ]; then
  cat > "$ETC/agent.env" <<EOF
# Printhop agent settings (systemd EnvironmentFile=): KEY=value, no quotes. Every setting: printhop-agent --help.
# The server: with no token yet the agent prints a pairing code for its admin page.
PRINTHOP_URL=$PRINTHOP_URL
PRINTER=\${PRINTER:-/dev/usb/lp0}
# 80mm (48 columns), 80mm-42, 58mm (32 columns) or a number.
PAPER_COLUMNS=80mm
TZ=Europe/Paris
EOF
elif [ -n "$PRINTER" ]; then
  grep -v '^PRINTER=' "$ETC/agent.env" > "$ETC/agent.env.new" || true
  echo "PRINTER=$PRINTER" >> "$ETC/agent.env.new"
  mv -f "$ETC/agent.env.new" "$ETC/agent.env"
fi
chown "0:$GROUP_ID" "$ETC/agent.env"
chmod 640 "$ETC/agent.env"

# ---- its state (journal, token): the printhop user's alone
mkdir -p "$STATE"
chown "$USER_ID:$GROUP_ID" "$STATE"
chmod 700 "$STATE"

`;

/** The systemd unit (for the binary or the .mjs under Node) and the udev rule, then start. */
function units(files: { node: string; binary: string; udevRule: string }): string {
  return `# ---- the systemd unit and the udev rule (USB printers through libusb for the lp group)
mkdir -p "$(dirname "$UNIT")" "$(dirname "$RULE")"
if [ -n "$NODE" ]; then
  sed "s|@NODE@|$NODE|" > "$UNIT" <<'PRINTHOP_UNIT'
${files.node.trimEnd()}
PRINTHOP_UNIT
else
  cat > "$UNIT" <<'PRINTHOP_UNIT'
${files.binary.trimEnd()}
PRINTHOP_UNIT
fi
cat > "$RULE" <<'PRINTHOP_RULE'
${files.udevRule.trimEnd()}
PRINTHOP_RULE
chown 0:0 "$UNIT" "$RULE"
chmod 644 "$UNIT" "$RULE"

if [ "$START" = no ]; then
  say "installed in \${ROOT:-/}, not started"
  exit 0
fi
udevadm control --reload 2>/dev/null && udevadm trigger 2>/dev/null || true
systemctl daemon-reload
systemctl enable printhop-agent >/dev/null 2>&1
systemctl restart printhop-agent
say "agent started: the printer prints a pairing code; type it on $PRINTHOP_URL/admin"
say "its log: journalctl -u printhop-agent -f"
`;
}
