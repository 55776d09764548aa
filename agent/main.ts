/** `npm run agent`: the agent next to the printer, until SIGINT or SIGTERM. */
// First: V8's settings, before any of the agent's code runs (agent/v8-flags.ts).
import './v8-flags';
import path from 'node:path';
import { readAgentConfig } from '../config/agent';
import { agentDefaults } from '../config/defaults';
import { AGENT_ENV_FILE, withEnvFile } from '../config/env-file';
import { loadOrExitAsync } from '../config/errors';
import { stopOnSignals } from '../runtime/process';
import { createLogger } from '../runtime/logger';
import { startAgent } from './agent';
import { readCredentials, withCredentials, withSavedPairing } from './credentials';
import { agentHome, isSingleExecutable } from './executable';
import { createTransport } from './printers';
import { AGENT_VERSION } from './print-agent';
// --check, pairing and the Windows task are loaded only when used: an agent that has its token runs without
// them (pairing's receipt is built with escpos, whose module graph a running agent does not need in memory).
// Nor does it evaluate zod: its settings are checked by hand (config/agent.ts), and zod's schema is loaded only
// to word a refused setting.

const HELP = `printhop-agent ${AGENT_VERSION}: prints the jobs of one printer, received over MQTT.

Usage: npm run agent [-- --check | --takeover | --help | --version]
       printhop-agent.exe [--install | --uninstall]

  --check      list the printers this machine sees, try the configured one and the broker,
               and say in plain words what is wrong (prints nothing on paper)
  --takeover   replace the agent that holds this printer's session (the server refuses a
               second agent otherwise); the jobs it had not finished end interrupted
  --install    Windows: start this agent with Windows (a scheduled task run as SYSTEM), and now
  --uninstall  Windows: remove that task

Pairing: with PRINTHOP_URL=http://host:3000 and no MQTT_PASSWORD, the agent prints a code on its
printer; approve it on the server's admin page. The printer id and token are then kept in
AGENT_DATA_DIR/credentials.json (delete it to pair again).

Settings: environment variables, or KEY=VALUE lines in ${AGENT_ENV_FILE} next to this program
(the environment wins). With defaults:
${Object.entries(agentDefaults)
  .map(([key, value]) => `  ${key.padEnd(24)} ${JSON.stringify(value)}`)
  .join('\n')}
`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  if (args.includes('--version') || args.includes('-v')) {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return;
  }
  if (args.includes('--install') || args.includes('--uninstall')) {
    process.exit((await startWithWindows(args.includes('--install'))) ? 0 : 1);
  }
  const unknown = args.filter((a) => a.startsWith('-') && a !== '--check' && a !== '--takeover');
  if (unknown.length) {
    console.error(`printhop agent: unknown option ${unknown.join(' ')} (see --help)`);
    process.exit(2);
  }
  // The executable's relative paths (AGENT_DATA_DIR, file:) are its folder's, not the start-up task's
  // working directory (C:\Windows\System32 for a task run at boot).
  if (isSingleExecutable()) process.chdir(agentHome());
  const envFile = path.join(agentHome(), AGENT_ENV_FILE);
  const config = await loadOrExitAsync('printhop agent', () =>
    readAgentConfig(withEnvFile(envFile, Object.keys(agentDefaults))),
  );
  if (args.includes('--check')) {
    const { runCheck } = await import('./check');
    const saved = config.mqttPassword ? null : readCredentials(config.dataDir);
    const ok = await runCheck(saved ? withCredentials(config, saved) : config, (line) =>
      process.stdout.write(line + '\n'),
    );
    process.exit(ok ? 0 : 1);
  }
  const log = createLogger('printhop-agent', config.logLevel);
  // With PRINTHOP_URL and no token yet: print a pairing code and wait for the admin (agent/pairing.ts).
  // A saved pairing is read without loading pairing (and zod, with which it reads the server's answers).
  const paired = config.mqttPassword
    ? config
    : (withSavedPairing(config, log) ??
      (await (
        await import('./pairing')
      ).resolveCredentials(config, {
        transport: createTransport(config.printer, config.printerTimeoutMs, { cupsServer: config.cupsServer }),
        log,
      })));
  const agent = await startAgent(paired, log, { takeover: args.includes('--takeover') });
  stopOnSignals(log, 'shutting down after the receipt in progress', () => agent.stop());
}

/** `--install` / `--uninstall`: the scheduled task that starts printhop-agent.exe with Windows (agent/windows-task.ts). */
async function startWithWindows(install: boolean): Promise<boolean> {
  const say = (line: string) => process.stdout.write(line + '\n');
  if (process.platform !== 'win32') {
    console.error(
      'printhop agent: --install and --uninstall are for Windows; on Linux, install with the server’s /agents/install.sh',
    );
    return false;
  }
  if (!isSingleExecutable()) {
    console.error(
      'printhop agent: --install registers printhop-agent.exe (npm run build:agents), not a script run by node',
    );
    return false;
  }
  const { installTask, uninstallTask } = await import('./windows-task');
  return install ? installTask(process.execPath, say) : uninstallTask(say);
}

main().catch((err: unknown) => {
  console.error('printhop agent failed:', err);
  process.exit(1);
});
