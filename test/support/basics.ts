/**
 * What fast tests and real-process tests both use, with nothing heavy behind it: a logger, temp
 * directories, clean-up in reverse order, waiting for a condition. Unit tests import this, never
 * harness.ts (which starts servers, databases and brokers).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import pino from 'pino';
import type { Logger } from '../../runtime/logger';

/** TEST_LOG_LEVEL=debug shows the logs of the parts under test. */
export function testLogger(): Logger {
  return pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}

const cleanups = new WeakMap<TestContext, Array<() => unknown>>();

/**
 * Runs `fn` after the test, in reverse order of registration: what was started last stops first (an
 * agent before the server it talks to, a directory removed after what used it). node:test runs
 * `t.after` hooks in registration order, which would stop the server under its agents.
 */
export function defer(t: TestContext, fn: () => unknown): void {
  let stack = cleanups.get(t);
  if (!stack) {
    const fns: Array<() => unknown> = [];
    cleanups.set(t, (stack = fns));
    t.after(async () => {
      let first: unknown = null;
      while (fns.length) {
        try {
          await fns.pop()!();
        } catch (err) {
          first ??= err; // the rest still runs
        }
      }
      if (first) throw first;
    });
  }
  stack.push(fn);
}

export function tempDir(t: TestContext, prefix = 'printhop-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  defer(t, () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A logger that keeps every line, to check what the parts log (and what they must never log). */
export function captureLogger(level = 'debug'): {
  log: Logger;
  text: () => string;
  entries: () => Array<Record<string, unknown>>;
} {
  const lines: string[] = [];
  const log = pino({ level }, { write: (line: string) => void lines.push(line) });
  return { log, text: () => lines.join(''), entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
