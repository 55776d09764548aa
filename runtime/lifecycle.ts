/**
 * One start/stop lifecycle for both programs (after Zigbee2MQTT's extension base): each part that owns a
 * resource implements `Part`; a composition root walks its list forwards to start and backwards to stop.
 */
import type { Logger } from './logger';

export interface Part {
  /** Says which part failed in logs ("database", "broker", "http"...). */
  readonly name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
}

/** A part made of two functions, for resources that need no class of their own. */
export function part(name: string, start: () => Promise<void> | void, stop: () => Promise<void> | void): Part {
  return { name, start, stop };
}

export class Lifecycle {
  private readonly started: Part[] = [];

  constructor(private readonly log: Logger) {}

  /**
   * Starts `parts` in order. If one fails, the parts already started are stopped in reverse and the
   * error is thrown: nothing is left open.
   */
  async start(parts: readonly Part[]): Promise<void> {
    for (const p of parts) {
      try {
        await p.start();
      } catch (err) {
        await this.stop();
        throw err;
      }
      this.started.push(p);
    }
  }

  /** Stops every started part in reverse order, each on its own so that one failure does not leave the rest open. */
  async stop(): Promise<void> {
    while (this.started.length) {
      const p = this.started.pop()!;
      try {
        await p.stop();
      } catch (err) {
        this.log.error({ err, part: p.name }, 'stop failed');
      }
    }
  }
}
