/**
 * The jobs area, in two steps: the job service and the event log's reader (wanted by the printers and
 * the broker's session rules), then, once the broker and the printers exist, the dispatcher, the stall
 * watchdog and the intake that the routes call.
 */
import { part, type Part } from '../../runtime/lifecycle';
import type { MessageBus } from '../broker/message-bus';
import { Dispatcher } from '../jobs/dispatcher';
import { JobChangeLog } from '../jobs/job-change-log';
import { JobIntake } from '../jobs/job-intake';
import { JobService } from '../jobs/job-service';
import { JobRetention } from '../jobs/retention';
import { StallWatchdog } from '../jobs/stall-watchdog';
import type { PrinterStatusList } from '../printers/printer-status-list';
import type { ServerContext } from './context';
import type { StorageArea } from './storage';

export interface JobsArea {
  service: JobService;
  /** The one reader of the event log: the page, GET /jobs/events and webhooks follow it. */
  changes: JobChangeLog;
  parts: { changes: Part; retention: Part };
}

export function buildJobs({ config, log, events }: ServerContext, storage: StorageArea): JobsArea {
  const service = new JobService(storage.store, log, events);
  events.on('job-stored', () => storage.health.succeeded());
  const changes = new JobChangeLog(storage.store, log, storage.notices);
  return {
    service,
    changes,
    parts: { changes, retention: new JobRetention(service, config.jobRetentionMs, log, config.eventReplayMs) },
  };
}

export interface DeliveryArea {
  dispatcher: Dispatcher;
  watchdog: StallWatchdog;
  intake: JobIntake;
  parts: { dispatcher: Part; watchdog: Part };
}

export function buildDelivery(
  { config, log }: ServerContext,
  needs: { storage: StorageArea; jobs: JobsArea; bus: MessageBus; printers: PrinterStatusList },
): DeliveryArea {
  const { jobs, bus, printers } = needs;
  const dispatcher = new Dispatcher(bus, jobs.service, printers, log, { claims: needs.storage.claims });
  const watchdog = new StallWatchdog(jobs.service, printers, dispatcher, log, { stallAfterMs: config.stallAfterMs });
  const intake = new JobIntake(jobs.service, dispatcher, printers, {
    defaultPrinterId: config.defaultPrinterId,
    paperColumns: config.paperColumns,
    receiptMaxLines: config.receiptMaxLines,
  });
  return {
    dispatcher,
    watchdog,
    intake,
    parts: {
      // Stopped even if its start fails half-way: publications it began must finish before the database closes.
      dispatcher: part(
        'dispatcher',
        () =>
          dispatcher.start().catch(async (err: unknown) => {
            await dispatcher.stop();
            throw err;
          }),
        () => dispatcher.stop(),
      ),
      watchdog,
    },
  };
}
