/** `npm run server`: the server alone, until SIGINT or SIGTERM. */
import { loadServerConfig } from '../config';
import { loadOrExit, stopOnSignals } from '../config/process';
import { createLogger } from '../config/logger';
import { accessBanner } from './access-banner';
import { startServer } from './server';

async function main(): Promise<void> {
  const config = loadOrExit('printhop server', () => loadServerConfig());
  const log = createLogger('printhop-server', config.logLevel);
  const server = await startServer(config, log);
  process.stdout.write(accessBanner(config, server, server.accounts, (id, token) => server.registry.verify(id, token), server.admin) + '\n');
  stopOnSignals(log, 'shutting down', () => server.stop());
}

main().catch((err: unknown) => {
  console.error('printhop server failed to start:', err);
  process.exit(1);
});
