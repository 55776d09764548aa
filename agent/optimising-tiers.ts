/**
 * The agent's JavaScript runs in V8's interpreter and its baseline compiler (Sparkplug), never in TurboFan
 * (issue 22). The agent spends a job's CPU in system calls, streams and small functions, not in hot loops:
 * measured on this project's bench, TurboFan changed its CPU per job by less than the noise, but its code pages
 * (about 4 MB of node's binary) and its compiler's memory (about 4 MB more) made most of the agent's growth
 * under load (72 MB instead of 64). Imported first by main.ts, so that it holds before any job arrives; a
 * `--max-opt` given to node itself (command line or NODE_OPTIONS) wins.
 */
import v8 from 'node:v8';

/** V8's highest tier for the agent: 1 = Sparkplug (0 interpreter, 2 Maglev, 3 TurboFan). */
export const AGENT_MAX_OPT = 1;

/** True when node was already told which tiers to use. */
export const maxOptGiven = (execArgv: readonly string[], nodeOptions = ''): boolean =>
  [...execArgv, ...nodeOptions.split(/\s+/)].some((arg) => /^--(max-opt|max_opt|jitless)\b/.test(arg));

/** Sets V8's highest tier for the rest of the process unless node was told otherwise; true when it did. */
export function limitOptimisingTiers(
  execArgv: readonly string[] = process.execArgv,
  // eslint-disable-next-line no-restricted-syntax -- node's own options, not a Printhop setting
  nodeOptions = process.env.NODE_OPTIONS,
): boolean {
  if (maxOptGiven(execArgv, nodeOptions)) return false;
  v8.setFlagsFromString(`--max-opt=${AGENT_MAX_OPT}`);
  return true;
}

limitOptimisingTiers();
