/**
 * Whether this agent runs as a single executable (a Node SEA, see scripts/build-agents.ts), and its
 * embedded assets. `node:sea` exists from Node 20.12; before that, or run by `node`, it is not one.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

interface SeaModule {
  isSea(): boolean;
  getAsset(key: string): ArrayBuffer;
}

let sea: SeaModule | null | undefined;

function seaModule(): SeaModule | null {
  if (sea === undefined) {
    try {
      // Through require: a static import of node:sea would fail on Node 20 before 20.12.
      sea = createRequire(import.meta.url)('node:sea') as SeaModule;
    } catch {
      sea = null;
    }
  }
  return sea;
}

export const isSingleExecutable = (): boolean => seaModule()?.isSea() ?? false;

/** An asset embedded in the executable (sea-config.json's `assets`). */
export function executableAsset(key: string): Buffer {
  const module = seaModule();
  if (!module?.isSea()) throw new Error(`not a single executable: no asset ${key}`);
  return Buffer.from(module.getAsset(key));
}

/**
 * The agent's own folder: the executable's, or the one-file agent's (or agent/ under `npm run agent`).
 * `printhop-agent.env` is read from there.
 */
export function agentHome(): string {
  return isSingleExecutable() ? path.dirname(process.execPath) : path.dirname(path.resolve(process.argv[1] ?? '.'));
}
