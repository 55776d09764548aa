/** The agent's composition root: journal, then printer, then broker link; stopped in reverse. */
import type { AgentConfig } from '../config';
import { type Logger, urlForLog } from '../config/logger';
import { Journal } from './journal';
import { BrokerLink } from './link';
import { PrintAgent } from './print-agent';
import { createTransport } from './printers';

export interface RunningAgent {
  readonly journal: Journal;
  readonly link: BrokerLink;
  stop(): Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export async function startAgent(config: AgentConfig, log: Logger): Promise<RunningAgent> {
  const journal = new Journal(config.dataDir, config.journalRetentionDays * DAY_MS, log.child({ module: 'journal' }));
  await journal.start();
  const transport = createTransport(config.printer, config.printerTimeoutMs, { cupsServer: config.cupsServer });
  const link = new BrokerLink(config, log);
  const agent = new PrintAgent(config, journal, transport, link, log);
  await agent.start();
  log.info({ module: 'agent', printerId: config.printerId, printer: transport.description, broker: urlForLog(config.mqttUrl), journal: journal.path }, 'agent started');

  return {
    journal,
    link,
    async stop() {
      for (const [name, stop] of [
        ['printing', () => agent.stop()],
        ['link', () => link.stop()],
        ['journal', () => journal.stop()],
      ] as const) {
        try {
          await stop();
        } catch (err) {
          log.error({ err, part: name }, 'stop failed');
        }
      }
    },
  };
}
