/** CPU time of processes and threads from /proc (Linux), for the bench's per-job figures. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** The kernel's clock ticks a second (`getconf CLK_TCK`; 100 where it cannot be asked). */
export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU time (user + system) a process has used so far, in ms, all its threads or its main thread alone
 * (`mainThread`); NaN once it is gone.
 */
export function cpuMs(pid: number | undefined, mainThread = false): number {
  if (!pid) return NaN;
  try {
    const stat = fs.readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}
