/** What both programs do around their composition root: stop cleanly on a signal. */
import type { Logger } from './logger';

/** On the first SIGINT or SIGTERM, runs `stop` once, then exits 0 (or 1 if stopping failed). */
export function stopOnSignals(log: Logger, message: string, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, message);
    stop().then(
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
