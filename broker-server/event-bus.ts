/**
 * The server's one typed event bus (after Zigbee2MQTT's eventBus): what happened in this process, for
 * whoever follows it here (metrics, the storage health, the live streams, the registry's announcements).
 * Changes of jobs for other readers and other instances travel through the event log, not through this.
 * Each emitter is given the bus and says which events it emits (`EventSink<Its events>`); the composition
 * root makes one bus for all of them (areas/context.ts `ServerEvents`).
 */
import { EventEmitter } from 'node:events';

export type EventMap = Record<string, unknown[]>;

export interface EventSink<E extends EventMap> {
  emit<K extends keyof E & string>(event: K, ...args: E[K]): void;
}

export interface EventSource<E extends EventMap> {
  /** Returns the function that stops listening. */
  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): () => void;
}

export class EventBus<E extends EventMap> implements EventSink<E>, EventSource<E> {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0); // one listener per open event stream
  }

  emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    this.emitter.emit(event, ...args);
  }

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): () => void {
    const handler = listener as (...args: unknown[]) => void;
    this.emitter.on(event, handler);
    return () => void this.emitter.off(event, handler);
  }
}

/** Both sides of a bus, for a part that emits on it and lets its users listen. */
export type EventChannel<E extends EventMap> = EventSink<E> & EventSource<E>;
