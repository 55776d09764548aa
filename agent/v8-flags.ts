/**
 * V8's settings of the agent, set before any of its code runs (agent/main.ts imports this first): here rather
 * than on node's command line, which NODE_OPTIONS cannot carry (V8 refuses most of its flags there) and which
 * the single executables (Node 20 SEA) do not take, so that every way the agent is deployed gets them.
 *
 * `--max-inlined-bytecode-size-cumulative=200` (V8's default: 920): the optimising compiler (TurboFan, kept on)
 * inlines less into each function it optimises, so it makes less code and uses less memory while it compiles:
 * about 2–4 MB less under a burst of jobs, the CPU per job within the run-to-run spread, in a 10,000-job catch-up
 * too (issue 22, docs/performance.md "Agent memory (stop 29)"). A value given on node's command line wins.
 */
import v8 from 'node:v8';

export const AGENT_V8_FLAGS = ['--max-inlined-bytecode-size-cumulative=200'];

const given = new Set(process.execArgv.map((arg) => arg.split('=')[0]!.replaceAll('_', '-')));
for (const flag of AGENT_V8_FLAGS) if (!given.has(flag.split('=')[0]!)) v8.setFlagsFromString(flag);
