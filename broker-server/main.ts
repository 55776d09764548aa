/** `npm run server`: the server alone, until SIGINT or SIGTERM. */
import { ConfigError, loadServerConfig } from '../config';
import { createLogger } from '../config/logger';
import { accessBanner } from './access-banner';
import { startServer } from './server';

async function main(): Promise<void> {
  let config;
  try {
    config = loadServerConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`printhop server: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger('printhop-server', config.logLevel);
  const server = await startServer(config, log);
  process.stdout.write(accessBanner(config, server, server.accounts) + '\n');
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error('printhop server failed to start:', err);
  process.exit(1);
});
