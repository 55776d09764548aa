/** `npm run server`: the server alone, until SIGINT or SIGTERM. */
import pkg from '../package.json' with { type: 'json' };
import { loadServerConfig, serverDefaults } from '../config';
import { stopOnSignals } from '../runtime/process';
import { loadOrExit } from '../config';
import { createLogger } from '../runtime/logger';
import { accessBanner } from './access-banner';
import { downloadsBanner } from './downloads/agent-files';
import { startServer } from './server';

const HELP = `printhop-server ${pkg.version}: the web page, the HTTP API and the MQTT broker of Printhop.

Usage: printhop-server [--help | --version]   (from a clone: npm run server)

Settings (environment variables, with defaults):
${Object.entries(serverDefaults)
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
    process.stdout.write(`${pkg.version}\n`);
    return;
  }
  if (args.length) {
    console.error(`printhop server: unknown option ${args.join(' ')} (see --help)`);
    process.exit(2);
  }
  const config = loadOrExit('printhop server', () => loadServerConfig());
  const log = createLogger('printhop-server', config.logLevel);
  const server = await startServer(config, log);
  // Before the banner: whoever waits for it (a person, a supervisor, a test) may stop the server at once.
  stopOnSignals(log, 'shutting down', () => server.stop());
  process.stdout.write(
    accessBanner(config, server, server.accounts, (id, token) => server.registry.verify(id, token), server.admin) +
      '\n' +
      downloadsBanner(config, server) +
      '\n',
  );
}

main().catch((err: unknown) => {
  console.error('printhop server failed to start:', err);
  process.exit(1);
});
