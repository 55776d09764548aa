/**
 * Time a unit test moves itself (node:test's mocked timers): `setTimeout`, `setInterval` and `Date` stand
 * still until the test moves them, so a test of seconds of waiting (an idle dispatcher, a retry, a backoff,
 * a timeout) takes milliseconds, and the machine's load cannot make a timer late. `setImmediate` and promises
 * stay real: after each step of the clock, what the timers that fired started runs to its end before the
 * next step (the parts under such a test do no I/O: stores, links and printers in memory).
 *
 * The mocks are the test's own (`t.mock`): node:test restores the real timers after it, `t.after` hooks
 * included, so a part stopped in a hook must not need the clock to move (stop it in the test instead).
 */
import type { TestContext } from 'node:test';

/** Captured before any test mocks the timers (setImmediate is never mocked here, but stays the real one anyway). */
const realSetImmediate = setImmediate;
/** Turns of the event loop per settle: a part may hand work on through an immediate or two (a status published "soon"). */
const SETTLE_TURNS = 3;

export interface FakeTime {
  /** Lets what is under way (promise chains, immediates) run to its end, without moving the clock. */
  settle(): Promise<void>;
  /** Moves the clock `ms` forward, `stepMs` at a time, settling after each step: timers fire in order, each within `stepMs` of its time. */
  advance(ms: number, stepMs?: number): Promise<void>;
  /** Moves the clock until `check` holds, as waitFor does in real time; fails once `timeoutMs` of the test's clock have passed. */
  until<T>(what: string, check: () => T, timeoutMs?: number, stepMs?: number): Promise<NonNullable<T>>;
}

/**
 * From now on in this test, the clock stands at `now` (the real time by default) and moves only when told;
 * `until` gives up after `untilMs` of it by default (as waitFor's 10 s).
 */
export function fakeTime(t: TestContext, { now = Date.now(), untilMs = 10_000 } = {}): FakeTime {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now });
  const settle = async () => {
    for (let i = 0; i < SETTLE_TURNS; i++) await new Promise<void>((resolve) => realSetImmediate(resolve));
  };
  const advance = async (ms: number, stepMs = 1) => {
    await settle();
    for (let moved = 0; moved < ms; moved += stepMs) {
      t.mock.timers.tick(Math.min(stepMs, ms - moved));
      await settle();
    }
  };
  const until = async <T>(what: string, check: () => T, timeoutMs = untilMs, stepMs = 1) => {
    const deadline = Date.now() + timeoutMs;
    await settle();
    for (;;) {
      const value = check();
      if (value) return value as NonNullable<T>;
      if (Date.now() >= deadline) throw new Error(`not within ${timeoutMs} ms (of the test's clock): ${what}`);
      t.mock.timers.tick(stepMs);
      await settle();
    }
  };
  return { settle, advance, until };
}
