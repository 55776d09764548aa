/**
 * The server's figures in Prometheus format (prom-client), for GET /metrics: jobs created and finished,
 * the time from POST /print to `printed`, unfinished jobs and printers (read at scrape time), live
 * clients, broker clients, acks and database commit time, plus Node's default process metrics.
 * Counters count this instance's own commits, so that Prometheus can sum instances without counting twice.
 */
import client from 'prom-client';
import { FINAL_STATUSES } from '../protocol/states';
import type { JobService, PrintJob } from './jobs/job-service';
import type { PrinterStatusList } from './printers/printer-status-list';
import type { StallWatchdog } from './jobs/stall-watchdog';

export interface MetricSources {
  jobs: JobService;
  printers: PrinterStatusList;
  live: { clientCount: number; jsonClientCount: number; replaysWaiting: number };
  /** Clients of the embedded broker; null with an external broker. */
  brokerClients: () => number | null;
  observeCommits?: (observer: (seconds: number) => void) => void;
  /** The stall watchdog (jobs/stall-watchdog.ts). */
  stalls?: Pick<StallWatchdog, 'on' | 'stalledCounts'>;
}

export class ServerMetrics {
  readonly registry = new client.Registry();

  constructor(sources: MetricSources) {
    const r = this.registry;
    // Node's own figures under Prometheus' standard names (process_resident_memory_bytes,
    // nodejs_eventloop_lag_seconds, …), which off-the-shelf Node.js dashboards read; Printhop's are printhop_*.
    // The event-loop lag histogram samples every 100 ms, not prom-client's default 10 ms: a 10 ms timer woke an
    // idle server 100 times a second (docs/performance.md, the cost ledger's idle column).
    client.collectDefaultMetrics({ register: r, eventLoopMonitoringPrecision: 100 });
    this.followJobs(sources);
    this.printerGauges(sources);
    this.streamGauges(sources);
  }

  /** Counted as jobs change, acks come in, commits end and the watchdog publishes again. */
  private followJobs(sources: MetricSources): void {
    const r = this.registry;
    const created = new client.Counter({
      name: 'printhop_jobs_created_total',
      help: 'Jobs created (POST /print, reprints, test prints) by this instance',
      labelNames: ['printer'],
      registers: [r],
    });
    const finished = new client.Counter({
      name: 'printhop_jobs_finished_total',
      help: 'Jobs that reached a final status, by status and printer',
      labelNames: ['printer', 'status'],
      registers: [r],
    });
    const printSeconds = new client.Histogram({
      name: 'printhop_job_print_seconds',
      help: 'Time from the job being committed (POST /print) to its printed ack being applied',
      labelNames: ['printer'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [r],
    });
    const acks = new client.Counter({
      name: 'printhop_acks_total',
      help: 'Agent acks, applied or ignored (duplicates, unknown or foreign jobs)',
      labelNames: ['result'],
      registers: [r],
    });
    const commits = new client.Histogram({
      name: 'printhop_db_commit_seconds',
      help: 'Time of each group commit of job writes (one transaction)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [r],
    });
    const stalled = new client.Counter({
      name: 'printhop_jobs_stalled_total',
      help: 'Jobs published again by the stall watchdog because they had not moved for STALL_AFTER_S (each try)',
      labelNames: ['printer'],
      registers: [r],
    });
    sources.jobs.events.on('job-stored', (job: PrintJob) => {
      if (job.status === 'pending') created.inc({ printer: job.printerId });
      if (FINAL_STATUSES.has(job.status)) finished.inc({ printer: job.printerId, status: job.status });
      if (job.status === 'printed') {
        const seconds = (Date.parse(job.updatedAt) - Date.parse(job.createdAt)) / 1000;
        if (Number.isFinite(seconds) && seconds >= 0) printSeconds.observe({ printer: job.printerId }, seconds);
      }
    });
    sources.jobs.events.on('ack', ({ applied }) => acks.inc({ result: applied ? 'applied' : 'ignored' }));
    sources.observeCommits?.((seconds) => commits.observe(seconds));
    sources.stalls?.on('stalled', ({ printerId }) => stalled.inc({ printer: printerId }));
  }

  /** Read from the database and the printers' list when Prometheus asks. */
  private printerGauges(sources: MetricSources): void {
    const r = this.registry;
    new client.Gauge({
      name: 'printhop_jobs_unfinished',
      help: 'Jobs not yet printed, failed or interrupted, by printer (from the database)',
      labelNames: ['printer'],
      registers: [r],
      async collect() {
        this.reset();
        const counts = await sources.jobs.queries.unfinishedCounts();
        for (const p of await sources.printers.list()) counts.set(p.id, counts.get(p.id) ?? 0);
        for (const [printer, n] of counts) this.set({ printer }, n);
      },
    });
    new client.Gauge({
      name: 'printhop_printer_online',
      help: "1 when the printer's agent is online, else 0",
      labelNames: ['printer'],
      registers: [r],
      async collect() {
        this.reset();
        for (const p of await sources.printers.list()) this.set({ printer: p.id }, p.state === 'online' ? 1 : 0);
      },
    });
    new client.Gauge({
      name: 'printhop_printer_condition',
      help: 'What an online printer says of itself (ok, paper-out, cover-open...): 1 for its current condition',
      labelNames: ['printer', 'condition'],
      registers: [r],
      async collect() {
        this.reset();
        for (const p of await sources.printers.list())
          if (p.state === 'online' && p.condition) this.set({ printer: p.id, condition: p.condition }, 1);
      },
    });
    new client.Gauge({
      name: 'printhop_printer_degraded',
      help: "What keeps an online printer's agent from moving jobs (disk-full, printer-stalled...): 1 for its current fault",
      labelNames: ['printer', 'fault'],
      registers: [r],
      async collect() {
        this.reset();
        for (const p of await sources.printers.list())
          if (p.health === 'degraded') this.set({ printer: p.id, fault: p.fault?.code ?? 'unknown' }, 1);
      },
    });
    new client.Gauge({
      name: 'printhop_jobs_stalled',
      help: 'Jobs of an online printer the stall watchdog has published again and that have not moved since',
      labelNames: ['printer'],
      registers: [r],
      collect() {
        this.reset();
        for (const [printer, n] of sources.stalls?.stalledCounts() ?? []) this.set({ printer }, n);
      },
    });
  }

  /** The live streams and the embedded broker's clients. */
  private streamGauges(sources: MetricSources): void {
    const r = this.registry;
    new client.Gauge({
      name: 'printhop_live_clients',
      help: 'Open live streams: the page (GET /events) and the JSON event stream (GET /jobs/events)',
      labelNames: ['stream'],
      registers: [r],
      collect() {
        this.set({ stream: 'page' }, sources.live.clientCount);
        this.set({ stream: 'json' }, sources.live.jsonClientCount);
      },
    });
    new client.Gauge({
      name: 'printhop_event_replays_waiting',
      help: 'GET /jobs/events replays held back until their client takes what they sent (EVENT_REPLAY_BUFFER_BYTES)',
      registers: [r],
      collect() {
        this.set(sources.live.replaysWaiting);
      },
    });
    new client.Gauge({
      name: 'printhop_broker_clients',
      help: 'MQTT clients connected to the embedded broker (absent with an external broker)',
      registers: [r],
      collect() {
        const n = sources.brokerClients();
        if (n !== null) this.set(n);
      },
    });
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
