/**
 * The server's MQTT side of a job, alone (issue 22): the embedded broker as the server builds it (access
 * hooks, connection limits, bounded persistent sessions) in this process, a stand-in agent (mqtt.js,
 * clean=false, QoS 1, Nagle off, as agent/link.ts) in a child process. Per job: the job published QoS 1;
 * the agent answers its `received` ack in the next turn and its `printed` ack 1 ms later (two packets, as
 * the real agent's journal syncs make them); the next job goes when `printed` comes (`window` 1: one job at
 * a time), or `window` jobs are kept in flight. No HTTP, no database: what is measured is the broker's
 * side, CPU per job of this process (all threads) and its wake-ups (voluntary context switches).
 *
 *   npx tsx bench/mqtt-path.ts [ws|tcp] [jobs] [window] [tree]
 *
 * `tree` (default: this one) is the checkout whose broker code is measured, so that a "before" tree
 * without this file is measured by the same script.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [transport = 'ws', jobsArg = '3000', windowArg = '1', treeArg] = process.argv.slice(2);
const tree = treeArg ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOKEN = 'token-printer-1-0123456789abcdef0123';
const from = (file: string) => import(pathToFileURL(path.join(tree, file)).href) as Promise<Record<string, never>>;

/* eslint-disable @typescript-eslint/no-explicit-any -- the measured tree's modules, loaded by path */

async function agent(url: string): Promise<void> {
  const { default: mqtt } = (await import('mqtt')) as any;
  const client = mqtt.connect(url, {
    clientId: 'printhop-agent-printer-1',
    clean: false,
    protocolVersion: 4,
    keepalive: 30,
    reconnectPeriod: 0,
    username: 'printer-1',
    password: TOKEN,
  });
  client.on('connect', () => {
    client.stream?.setNoDelay?.(true);
    client.subscribe('printers/printer-1/jobs', { qos: 1 }, () => process.send!('ready'));
  });
  client.on('message', (_topic: string, payload: Buffer) => {
    const job = JSON.parse(payload.toString()) as { id: number; uid: string };
    const ack = (status: string) => JSON.stringify({ id: job.id, uid: job.uid, status, at: new Date().toISOString() });
    setImmediate(() => {
      client.publish('printers/printer-1/acks', ack('received'), { qos: 1 });
      setTimeout(() => client.publish('printers/printer-1/acks', ack('printed'), { qos: 1 }), 1);
    });
  });
  client.on('error', (err: Error) => {
    console.error('agent:', err.message);
    process.exit(1);
  });
}

function wakeUps(): number {
  let voluntary = 0;
  for (const task of fs.readdirSync('/proc/self/task')) {
    const status = fs.readFileSync(`/proc/self/task/${task}/status`, 'utf8');
    voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)![1]);
  }
  return voluntary;
}

async function brokerSide(): Promise<void> {
  const { EmbeddedBroker } = (await from('broker-server/broker/embedded-broker.ts')) as any;
  const { createAccessHooks } = (await from('broker-server/broker/access.ts')) as any;
  const { MqttAccounts } = (await from('broker-server/broker/tokens.ts')) as any;
  const { PersistentSessions } = (await from('broker-server/broker/session-limits.ts')) as any;
  const { ConnectionLimits } = (await from('broker-server/broker/limits.ts')) as any;
  const { default: pino } = (await import('pino')) as any;
  const log = pino({ level: 'warn' });
  const tokens = { debug: `d${TOKEN}`, server: `s${TOKEN}`, printers: { 'printer-1': TOKEN } };
  // MqttAccounts.of since the accounts are loaded at the start (older trees: the constructor took the tokens).
  const accounts = MqttAccounts.of ? MqttAccounts.of(tokens, '/nonexistent') : new MqttAccounts(tokens, '/nonexistent');
  const persistent = new PersistentSessions({ maxPerAccount: 10, expiryMs: 86_400_000, maxQueued: 1000 });
  const connections = new ConnectionLimits(10);
  const hooks = createAccessHooks(accounts, { debugCanPublish: false }, log, { connections, persistent });
  const broker = new EmbeddedBroker(
    {
      host: '127.0.0.1',
      tcpPort: 0,
      hooks,
      maxInflight: 20,
      sessions: persistent,
      onClientGone: (client: unknown) => connections.release(client),
    },
    log,
  );
  await broker.start();
  const web = http.createServer();
  web.on('upgrade', (req, socket, head) => broker.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  const url =
    transport === 'ws'
      ? `ws://127.0.0.1:${(web.address() as { port: number }).port}/mqtt`
      : `mqtt://127.0.0.1:${broker.tcpPort}`;

  const window = Number(windowArg);
  let next = 1;
  let printed = 0;
  let target = 0;
  let phaseDone: () => void = () => undefined;
  const publishJob = () => {
    const id = next++;
    const job = { id, uid: '0b6f81c2-0000-4000-8000-000000000000', content: `job ${id}`, createdAt: new Date() };
    void broker.publish('printers/printer-1/jobs', JSON.stringify(job), { qos: 1 });
  };
  await broker.subscribe('printers/+/acks', async (_topic: string, payload: Buffer) => {
    if ((JSON.parse(payload.toString()) as { status: string }).status !== 'printed') return;
    if (++printed >= target) phaseDone();
    else if (next <= target) publishJob();
  });
  await broker.subscribe('printers/+/status', async () => undefined);
  const child = fork(fileURLToPath(import.meta.url), process.argv.slice(2), {
    env: { ...process.env, MQTT_PATH_AGENT: url },
    execArgv: ['--import', 'tsx'],
  });
  await new Promise((resolve) => child.once('message', resolve));
  const run = (count: number) =>
    new Promise<void>((resolve) => {
      target = printed + count;
      phaseDone = resolve;
      for (let i = 0; i < window && next <= target; i++) publishJob();
    });

  await run(500); // warm-up
  const jobs = Number(jobsArg);
  const [cpu0, wake0, t0] = [process.cpuUsage(), wakeUps(), performance.now()];
  await run(jobs);
  const [cpu, wake, ms] = [process.cpuUsage(cpu0), wakeUps() - wake0, performance.now() - t0];
  console.log(
    JSON.stringify({
      tree,
      transport,
      window,
      jobs,
      cpuUsPerJob: Math.round((cpu.user + cpu.system) / jobs),
      wakeUpsPerJob: +(wake / jobs).toFixed(2),
      msPerJob: +(ms / jobs).toFixed(3),
      load: +os.loadavg()[0]!.toFixed(1),
    }),
  );
  child.kill();
  await broker.stop();
  web.close();
}

if (process.env.MQTT_PATH_AGENT) await agent(process.env.MQTT_PATH_AGENT);
else await brokerSide();
