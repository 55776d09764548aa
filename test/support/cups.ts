/**
 * A private, real CUPS scheduler for a test: its own cupsd (Debian cups-daemon) on a socket in a temp
 * directory, with a test backend that appends each job to a file, and queues made with lpadmin.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { defer, tempDir, waitFor } from './harness';

export interface TestCups {
  /** For `lp -h` / the agent's CUPS_SERVER. */
  socket: string;
  /** Adds a raw queue (no driver: bytes reach the backend as sent) whose "paper" is a file; returns the file. */
  addQueue(name: string): string;
  stop(): Promise<void>;
}

export async function startTestCups(t: TestContext): Promise<TestCups> {
  const dir = tempDir(t, 'printhop-cups-');
  fs.chmodSync(dir, 0o755); // cupsd refuses a ServerRoot others cannot read, and lp must reach the socket
  for (const sub of ['spool', 'tmp', 'cache', 'state', 'log', 'bin/backend'])
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
  fs.symlinkSync('/usr/lib/cups/daemon', path.join(dir, 'bin/daemon'));
  const backend = path.join(dir, 'bin/backend/testpaper');
  fs.writeFileSync(
    backend,
    // The job's bytes, as they came (a raw queue has no filter), appended to the queue's paper file; its
    // title (the document name) as a line of PAPER.titles.
    '#!/bin/sh\n[ $# -eq 0 ] && { echo \'direct testpaper "Unknown" "Printhop test paper"\'; exit 0; }\nif [ -n "$6" ]; then cat "$6"; else cat; fi >> "${DEVICE_URI#testpaper:}"\nprintf \'%s\\n\' "$3" >> "${DEVICE_URI#testpaper:}.titles"\n',
  );
  fs.chmodSync(backend, 0o700); // 0700: cupsd runs it as root, so it may write in the test's directory
  const socket = path.join(dir, 'cups.sock');
  fs.writeFileSync(
    path.join(dir, 'cupsd.conf'),
    `Listen ${socket}\nLogLevel warn\nDefaultAuthType None\nWebInterface No\n<Location />\n  Order allow,deny\n  Allow all\n</Location>\n<Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n`,
  );
  fs.writeFileSync(
    path.join(dir, 'cups-files.conf'),
    [
      `ServerRoot ${dir}`,
      `RequestRoot ${dir}/spool`,
      `TempDir ${dir}/tmp`,
      `CacheDir ${dir}/cache`,
      `StateDir ${dir}/state`,
      `ErrorLog ${dir}/log/error_log`,
      `AccessLog ${dir}/log/access_log`,
      `PageLog ${dir}/log/page_log`,
      `ServerBin ${dir}/bin`,
      'DataDir /usr/share/cups',
      'User lp',
      'Group lp',
      'SystemGroup root',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    'cupsd',
    ['-f', '-c', path.join(dir, 'cupsd.conf'), '-s', path.join(dir, 'cups-files.conf')],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let spawnError: Error | null = null;
  child.once('error', (err) => (spawnError = err));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null || spawnError) return;
    child.kill('SIGTERM');
    await exited;
  };
  defer(t, stop);
  await waitFor('cupsd listening', () => {
    if (spawnError)
      throw new Error(`cannot start cupsd (apt-get install cups-daemon cups-client): ${String(spawnError)}`);
    return fs.existsSync(socket);
  });
  return {
    socket,
    stop,
    addQueue(name) {
      const paper = path.join(dir, `${name}.paper`);
      execFileSync('lpadmin', ['-h', socket, '-p', name, '-E', '-v', `testpaper:${paper}`]);
      return paper;
    },
  };
}
