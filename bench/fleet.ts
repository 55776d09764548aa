/**
 * Many real agents in one process, for the benchmark's fleet scenario: 1,000 agent processes would not fit
 * on the benchmark machine, but each agent here is the same code (journal, link, printer) as `npm run agent`.
 * Env: FLEET_PREFIX, FLEET_COUNT, FLEET_DIR, MQTT_URL, and the usual agent settings.
 */
import path from 'node:path';
import pino from 'pino';
import { loadAgentConfig } from '../config';
import { startAgent, type RunningAgent } from '../agent/agent';
import { readTokens } from '../broker-server/broker/tokens';

const prefix = process.env.FLEET_PREFIX ?? 'fleet';
const count = Number(process.env.FLEET_COUNT ?? '10');
const dir = process.env.FLEET_DIR ?? '/tmp/printhop-fleet';
const tokens = process.env.FLEET_TOKENS_DIR ? readTokens(process.env.FLEET_TOKENS_DIR) : null;
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });

const agents: RunningAgent[] = [];
for (let i = 0; i < count; i++) {
  const printerId = `${prefix}-${i}`;
  const config = loadAgentConfig(process.env, {
    printerId,
    mqttUsername: printerId,
    mqttPassword: tokens?.credentialsFor({ kind: 'printer', printerId }).password ?? '',
    printer: `file:${path.join(dir, `${printerId}.prn`)}`,
    dataDir: path.join(dir, `journal-${printerId}`),
  });
  agents.push(await startAgent(config, log));
}
process.send?.({ started: count });

const stop = async () => {
  await Promise.allSettled(agents.map((a) => a.stop()));
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
