/**
 * Issue 17's live-stream flood, measured: starts `broker-server/main.ts` of this tree (or ROOT) with 20
 * jobs in its list, opens STREAMS (2,000) GET /events from one address at once, and prints the server's
 * resident memory before and after, the streams admitted, and the slowest GET /health answered meanwhile.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../test/support/ports';

const root = process.env.ROOT ?? path.resolve(import.meta.dirname, '..');
const streams = Number(process.env.STREAMS ?? 2000);
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-sse-'));
const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'broker-server/main.ts')], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      MQTT_PORT: '-1',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'error',
      PRINT_RATE_PER_MINUTE: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const requests: http.ClientRequest[] = [];
  try {
    await new Promise<void>((resolve) =>
      server.stdout!.on('data', (d: Buffer) => /mosquitto_sub|MQTT/.test(d.toString()) && resolve()),
    );
    for (let i = 0; i < 20; i++)
      await fetch(base + '/print', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ content: `message ${i} `.repeat(40) }),
      });
    await sleep(1000);
    const before = rss(server.pid!);
    const statuses = new Map<number, number>();
    let answered = 0;
    for (let i = 0; i < streams; i++) {
      const req = http.get({ host: '127.0.0.1', port, path: '/events', agent }, (res) => {
        statuses.set(res.statusCode ?? 0, (statuses.get(res.statusCode ?? 0) ?? 0) + 1);
        answered++;
        res.resume();
      });
      req.on('error', () => answered++);
      requests.push(req);
    }
    let worst = 0;
    const deadline = Date.now() + 30_000;
    while (answered < streams && Date.now() < deadline) {
      const started = performance.now();
      await fetch(base + '/health');
      worst = Math.max(worst, performance.now() - started);
    }
    await sleep(1000);
    const after = rss(server.pid!);
    console.log(
      JSON.stringify({
        root,
        streams,
        statuses: Object.fromEntries(statuses),
        rssBeforeMB: Math.round(before),
        rssAfterMB: Math.round(after),
        slowestHealthMs: Math.round(worst),
      }),
    );
  } finally {
    requests.forEach((r) => r.destroy());
    agent.destroy();
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  process.exit(0);
}

void main();
