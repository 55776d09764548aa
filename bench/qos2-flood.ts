/**
 * Issue 17's QoS 2 attack, measured: starts `broker-server/main.ts` of the tree it is run from (or of
 * ROOT) in a temp DATA_DIR, then one printer account sends COUNT × 60 KB QoS 2 PUBLISH packets on each of
 * CONNECTIONS connections and never sends PUBREL. Prints the server's resident memory (VmRSS) before and
 * after. `npx tsx bench/qos2-flood.ts` (CONNECTIONS=1 COUNT=1000 by default; Linux only: /proc).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqttPacket from 'mqtt-packet';
import { freePort } from '../test/support/ports';

const root = process.env.ROOT ?? path.resolve(import.meta.dirname, '..');
const connections = Number(process.env.CONNECTIONS ?? 1);
const count = Number(process.env.COUNT ?? 1000);
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-flood-'));

const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const [port, mqttPort] = [await freePort(), await freePort()];
  const server = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'broker-server/main.ts')], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      MQTT_PORT: String(mqttPort),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve) =>
      server.stdout!.on('data', (d: Buffer) => /mosquitto_sub|MQTT/.test(d.toString()) && resolve()),
    );
    await sleep(2000);
    const token = (
      JSON.parse(fs.readFileSync(path.join(dataDir, 'mqtt-tokens.json'), 'utf8')) as {
        printers: Record<string, string>;
      }
    ).printers['printer-1']!;
    const before = rss(server.pid!);
    const payload = Buffer.alloc(60 * 1024, 'x');
    let pubrecs = 0;
    let closed = 0;
    await Promise.all(
      Array.from(
        { length: connections },
        (_, c) =>
          new Promise<void>((resolve) => {
            const socket = net.connect(mqttPort, '127.0.0.1');
            const parser = mqttPacket.parser({ protocolVersion: 4 });
            parser.on('packet', (p) => p.cmd === 'pubrec' && pubrecs++);
            socket.on('data', (d) => parser.parse(d));
            socket.on('error', () => undefined);
            socket.on('close', () => {
              closed++;
              resolve();
            });
            socket.on('connect', () => {
              socket.write(
                mqttPacket.generate({
                  cmd: 'connect',
                  protocolId: 'MQTT',
                  protocolVersion: 4,
                  clean: true,
                  clientId: `flood-${c}`,
                  keepalive: 600,
                  username: 'printer-1',
                  password: Buffer.from(token),
                }),
              );
              for (let id = 1; id <= count; id++)
                socket.write(
                  mqttPacket.generate({
                    cmd: 'publish',
                    topic: 'printers/printer-1/acks',
                    payload,
                    qos: 2,
                    messageId: id,
                    retain: false,
                    dup: false,
                  }),
                );
              // Kept open, never a PUBREL; resolved after the broker has had time to read everything.
              setTimeout(resolve, 8000);
            });
          }),
      ),
    );
    await sleep(1000);
    const after = rss(server.pid!);
    console.log(
      JSON.stringify({
        root,
        connections,
        count,
        payloadKB: 60,
        rssBeforeMB: Math.round(before),
        rssAfterMB: Math.round(after),
        pubrecs,
        connectionsClosedByBroker: closed,
      }),
    );
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  process.exit(0);
}

void main();
