/**
 * What every area's builder is given (after Zigbee2MQTT's controller, which builds each extension from one
 * context): the settings, the logger, and this process's id. Each builder returns its parts (for the
 * lifecycle, started in the order server.ts lists them) and what it offers the areas built after it.
 */
import type { ServerConfig } from '../../config';
import type { Part } from '../../runtime/lifecycle';
import type { Logger } from '../../runtime/logger';
import type { EventBus } from '../event-bus';
import type { JobServiceEvents } from '../jobs/job-service';
import type { PrinterRegistryEvents } from '../printers/printer-registry';
import type { PrinterStatusListEvents } from '../printers/printer-status-list';

/** Every event of the server's one bus: each emitter's own, which it declares beside itself. */
export type ServerEvents = JobServiceEvents & PrinterStatusListEvents & PrinterRegistryEvents;

export interface ServerContext {
  readonly config: ServerConfig;
  readonly log: Logger;
  /** This process, in logs and in its printer claims. */
  readonly instanceId: string;
  /** The one event bus of this process (event-bus.ts). */
  readonly events: EventBus<ServerEvents>;
}

/**
 * A secret read from a file of DATA_DIR (or from its setting) when its part starts, not when the server is
 * built: a file loosened to others is tightened to 0600 then, with a warning. Read `value` only once started.
 */
export class KeyFile<T> implements Part {
  private loaded: { value: T } | null = null;

  constructor(
    readonly name: string,
    private readonly file: string,
    private readonly load: () => { value: T; modeFixed: boolean },
    private readonly log: Logger,
  ) {}

  start(): void {
    const { value, modeFixed } = this.load();
    if (modeFixed)
      this.log.warn(
        { module: 'server', file: this.file },
        `the ${this.name} was readable by others; its mode is now 0600`,
      );
    this.loaded = { value };
  }

  stop(): void {}

  get value(): T {
    if (!this.loaded) throw new Error(`the ${this.name} is read before its part started`);
    return this.loaded.value;
  }
}
