/**
 * Wine for the Windows executable's tests: a prefix of its own set to Windows 10, and the executable run
 * with its output in a file. Facts measured on Debian 12 with Wine 8.0 (see test/agent/windows-agent.test.ts):
 * a prefix needs `wineboot -i` and Windows 10 (Node 20 refuses Wine's default Windows 7), and node.exe dies
 * with EBADF when its stdout is a pipe.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import type { TestContext } from 'node:test';
import { defer, tempDir } from './harness';

function which(command: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export const wine = which('wine');

/** Skipped where Wine is missing, unless PRINTHOP_REQUIRE_SERVICES=1 (CI): then the test fails. */
export const wineMissing: string | false =
  !wine && process.env.PRINTHOP_REQUIRE_SERVICES !== '1'
    ? 'Wine is not installed here (apt-get install --no-install-recommends wine64 wine)'
    : false;

/** What Wine needs and nothing of this machine's settings: no display, no debug output, this prefix. */
export function wineEnv(prefix: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    WINEPREFIX: prefix,
    WINEDEBUG: '-all',
    // No Mono or Gecko installer at wineboot: nothing here needs .NET or a browser engine.
    WINEDLLOVERRIDES: 'mscoree,mshtml=',
    ...extra,
  };
}

/** A Wine prefix set to Windows 10, made for this test, its wineserver stopped after it. */
export function makeWinePrefix(t: TestContext): string {
  if (!wine) throw new Error('Wine is not installed (apt-get install --no-install-recommends wine64 wine)');
  const prefix = tempDir(t, 'printhop-wine-');
  fs.rmSync(prefix, { recursive: true }); // wineboot wants to create it
  const env = wineEnv(prefix);
  execFileSync(wine, ['wineboot', '-i'], { env, stdio: 'ignore', timeout: 180_000 });
  execFileSync(wine, ['winecfg', '-v', 'win10'], { env, stdio: 'ignore', timeout: 60_000 });
  defer(t, () => {
    try {
      execFileSync('wineserver', ['-k'], { env, stdio: 'ignore', timeout: 30_000 });
    } catch {
      /* already gone */
    }
  });
  return prefix;
}

export interface WineProgram {
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
}

/** `wine EXE ARGS`, its output appended to `logFile`, killed after the test if still running. */
export function runUnderWine(
  t: TestContext,
  exe: string,
  args: string[],
  options: { prefix: string; cwd: string; logFile: string; env?: Record<string, string> },
): WineProgram {
  const out = fs.openSync(options.logFile, 'a');
  const child = spawn(wine!, [exe, ...args], {
    cwd: options.cwd,
    env: wineEnv(options.prefix, options.env),
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  defer(t, async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, exited, output: () => fs.readFileSync(options.logFile, 'utf8') };
}
