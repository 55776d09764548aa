/**
 * An independent client, written the way a user of `npm start` would measure Printhop: nothing from the
 * project is imported, only `fetch` (keep-alive, as Node's default) and one `GET /jobs/events` stream.
 *
 *   node bench/user-client.ts latency URL[,URL2…] [N]  one job at a time: POST, then wait for its `printed` event;
 *                                                      several URLs: jobs alternate between them (paired samples
 *                                                      under the same machine load), one result line each;
 *                                                      a URL written `node:http://…` is driven with node:http
 *                                                      (keep-alive agent, as bench/run.ts) instead of fetch
 *   node bench/user-client.ts load URL [N] [CLIENTS]   CLIENTS concurrent posters; accepted and printed rates
 *
 * (run it with `npx tsx` or Node ≥ 22.6 `--experimental-strip-types`). URL is the server's base URL; the
 * printer is the default one (`npm start`'s printer-1) unless PRINTER_ID is set. Prints one JSON line.
 */
import http from 'node:http';

const [mode = 'latency', base = 'http://127.0.0.1:8080', countArg, clientsArg] = process.argv.slice(2);
const count = Number(countArg ?? (mode === 'latency' ? 500 : 5000));
const clients = Number(clientsArg ?? 16);
const printerId = process.env.PRINTER_ID;
const nodeAgent = new http.Agent({ keepAlive: true });

/** node:http, as bench/run.ts drives the server. */
function nodeRequest(url: string, method: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent: nodeAgent,
        headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** One server: its event stream and, per job id, when its `printed` event arrived (performance.now()). */
class Target {
  readonly printedAt = new Map<number, number>();
  private readonly waiters = new Map<number, (t: number) => void>();
  private readonly controller = new AbortController();
  readonly base: string;
  private readonly viaNode: boolean;
  private eventsReq: http.ClientRequest | null = null;
  constructor(readonly spec: string) {
    this.viaNode = spec.startsWith('node:');
    this.base = this.viaNode ? spec.slice('node:'.length) : spec;
  }

  /** One server-sent event: its `id:`, `event:` and `data:` lines in any order (the server sends `id:` first). */
  private onBlock(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
    }
    if (event !== 'job' || !data.length) return;
    const job = JSON.parse(data.join('\n')) as { id: number; status: string };
    if (job.status !== 'printed' || this.printedAt.has(job.id)) return;
    const now = performance.now();
    this.printedAt.set(job.id, now);
    this.waiters.get(job.id)?.(now);
    this.waiters.delete(job.id);
  }

  async watchEvents(): Promise<void> {
    if (this.viaNode) {
      await new Promise<void>((resolve) => {
        this.eventsReq = http.get(`${this.base}/jobs/events`, (res) => {
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            let end: number;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              this.onBlock(buffer.slice(0, end));
              buffer = buffer.slice(end + 2);
            }
          });
          resolve();
        });
        this.eventsReq.on('error', () => undefined);
      });
      return;
    }
    const res = await fetch(`${this.base}/jobs/events`, { signal: this.controller.signal });
    if (!res.ok || !res.body) throw new Error(`GET /jobs/events answered ${res.status}`);
    const decoder = new TextDecoder();
    let buffer = '';
    void (async () => {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            this.onBlock(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch {
        // aborted at the end
      }
    })();
  }

  printed(id: number): Promise<number> {
    const at = this.printedAt.get(id);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`job ${id}: no printed event from ${this.base} within 60 s`)),
        60_000,
      );
      this.waiters.set(id, (t) => {
        clearTimeout(timer);
        resolve(t);
      });
    });
  }

  async post(n: number): Promise<number> {
    const body = JSON.stringify({ content: `user-client ${mode} #${n}`, ...(printerId ? { printerId } : {}) });
    if (this.viaNode) {
      const res = await nodeRequest(`${this.base}/print`, 'POST', body);
      if (res.status !== 201) throw new Error(`POST /print answered ${res.status}: ${res.text}`);
      return (JSON.parse(res.text) as { id: number }).id;
    }
    const res = await fetch(`${this.base}/print`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`POST /print answered ${res.status}: ${text}`);
    return (JSON.parse(text) as { id: number }).id;
  }

  close(): void {
    this.controller.abort();
    this.eventsReq?.destroy();
  }
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const round = (x: number) => Math.round(x * 100) / 100;

const cpu0 = process.cpuUsage();
const clientCpuMsPerJob = (jobs: number) => round(((c) => c.user + c.system)(process.cpuUsage(cpu0)) / 1000 / jobs);
const targets = base.split(',').map((url) => new Target(url));
for (const t of targets) await t.watchEvents();
if (mode === 'latency') {
  const times = targets.map(() => [] as number[]);
  for (let i = 0; i < count * targets.length; i++) {
    const k = i % targets.length;
    const t0 = performance.now();
    const id = await targets[k]!.post(i);
    times[k]!.push((await targets[k]!.printed(id)) - t0);
  }
  for (const [k, t] of targets.entries()) {
    const sorted = times[k]!.sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        mode,
        url: t.spec,
        count,
        p50: round(pct(sorted, 50)),
        p90: round(pct(sorted, 90)),
        p99: round(pct(sorted, 99)),
        unit: 'ms',
        clientCpuMsPerJob: clientCpuMsPerJob(count * targets.length),
      }),
    );
  }
} else {
  const target = targets[0]!;
  const ids: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) ids.push(await target.post(next++));
    }),
  );
  const acceptedMs = performance.now() - t0;
  const done = await Promise.all(ids.map((id) => target.printed(id)));
  const printedMs = Math.max(...done) - t0;
  console.log(
    JSON.stringify({
      mode,
      url: target.spec,
      count,
      clients,
      acceptedPerS: round((count / acceptedMs) * 1000),
      printedPerS: round((count / printedMs) * 1000),
      clientCpuMsPerJob: clientCpuMsPerJob(count),
    }),
  );
}
for (const t of targets) t.close();
process.exit(0);
