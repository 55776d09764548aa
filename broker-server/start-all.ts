/**
 * `npm start`: the server and one agent (printer-1) on the virtual printer, as two processes,
 * so the whole flow works with no printer attached.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { loadServerConfig } from '../config';
import { loadOrExit } from '../config';
import { loadTokens, TokenFileError } from './broker/tokens';

const root = path.resolve(import.meta.dirname, '..');
const server = loadOrExit('printhop', () => loadServerConfig());
// The tokens exist before either process starts, so the agent never races the server for them.
let agentPassword: string;
try {
  agentPassword = loadTokens(server).accounts.credentialsFor({
    kind: 'printer',
    printerId: server.defaultPrinterId,
  }).password;
} catch (err) {
  if (err instanceof TokenFileError) {
    console.error(`printhop: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
const printerFile = path.join(server.dataDir, `${server.defaultPrinterId}.prn`);
const agentEnv = {
  // glibc's malloc with 2 arenas instead of 8 per core: about 5 MB less under a burst (docs/deployment.md, "Run in production").
  MALLOC_ARENA_MAX: '2',
  // Blocks of 128 kB and more handed back to the system when freed (glibc otherwise raises that threshold as
  // big blocks come and go, and keeps them): about 3 MB less under a burst (docs/deployment.md).
  MALLOC_MMAP_THRESHOLD_: '131072',
  MQTT_URL: `ws://127.0.0.1:${server.port}/mqtt`,
  PRINTER_ID: server.defaultPrinterId,
  MQTT_USERNAME: server.defaultPrinterId,
  MQTT_PASSWORD: agentPassword,
  PRINTER: `file:${printerFile}`,
  AGENT_DATA_DIR: path.join(server.dataDir, `agent-${server.defaultPrinterId}`),
  ...process.env,
};

// Built (dist/start-all.mjs, what `npm start` runs): the built programs with plain node; from source: through tsx.
const built = import.meta.url.endsWith('.mjs');

function run(name: string, script: string, env: NodeJS.ProcessEnv): ChildProcess {
  // The agent with 1 MB young-generation semi-spaces: about 25 MB less under a burst of jobs (docs/deployment.md, "Run in production").
  const v8 = name === 'agent' ? ['--max-semi-space-size=1'] : [];
  const args = built
    ? [...v8, path.join(root, 'dist', `printhop-${name}.mjs`)]
    : ['--import', 'tsx', path.join(root, script)];
  const child = spawn(process.execPath, args, { cwd: process.cwd(), env, stdio: 'inherit' });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`printhop: the ${name} exited (${signal ?? code}); stopping`);
      stop(code ?? 1);
    }
  });
  return child;
}

let stopping = false;
const children: ChildProcess[] = [];
function stop(code: number): void {
  stopping = true;
  let left = children.filter((c) => c.exitCode === null && c.signalCode === null).length;
  if (!left) process.exit(code);
  for (const child of children) {
    child.once('exit', () => {
      if (--left === 0) process.exit(code);
    });
    child.kill('SIGTERM');
  }
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

children.push(run('server', 'broker-server/main.ts', process.env));
// The agent reconnects by itself, so it may start before the server listens.
children.push(run('agent', 'agent/main.ts', agentEnv));

const host = server.host === '0.0.0.0' ? 'localhost' : server.host;
console.log(`
  Printhop is starting.
  Web page:       http://${host}:${server.port}/
  MQTT:           mqtt://${host}:${server.mqttPort}  and  ws://${host}:${server.port}/mqtt
  Receipts go to: ${printerFile}  (virtual printer of ${server.defaultPrinterId})
  Watch traffic:  the server prints a ready-to-copy mosquitto_sub command once it is ready
  Stop with Ctrl+C.
`);
