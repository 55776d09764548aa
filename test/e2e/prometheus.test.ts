/**
 * GET /metrics scraped by a real Prometheus (Debian's `prometheus`), started by the test on a loopback port
 * with a scrape configuration pointing at the test server (METRICS_TOKEN as its bearer token); real jobs are
 * printed by a real agent, then the figures are read back through Prometheus' HTTP API.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { defer, getJson, postJson, startPrinting, tempDir, waitFor } from '../support/harness';
import { freePort } from '../support/ports';

const PROMETHEUS = ['/usr/bin/prometheus', '/usr/sbin/prometheus'].find((p) => fs.existsSync(p));
const skip =
  !PROMETHEUS && process.env.PRINTHOP_REQUIRE_SERVICES !== '1'
    ? 'prometheus is not installed here (apt-get install prometheus)'
    : false;
const TOKEN = 'metrics-token-for-the-prometheus-test';
const JOBS = 40;

async function query(
  base: string,
  expr: string,
): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as {
    status: string;
    data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    error?: string;
  };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data!.result;
}

test(
  'Prometheus scrapes /metrics: printed jobs, their rate and the POST→printed quantile read back',
  { skip, timeout: 120_000 },
  async (t) => {
    const { server, addAgent } = await startPrinting(t, { metricsToken: TOKEN });
    await addAgent({ printerId: 'printer-1' });
    await waitFor(
      'printer-1 online',
      async () => (await getJson<Array<{ state: string }>>(server.baseUrl, '/printers')).json[0]?.state === 'online',
    );

    const dir = tempDir(t, 'printhop-prometheus-');
    const port = await freePort();
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: printhop
    authorization:
      credentials: ${TOKEN}
    static_configs:
      - targets: ['127.0.0.1:${server.httpPort}']
`,
    );
    const child = spawn(
      PROMETHEUS!,
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    defer(t, async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      'prometheus scraping printhop',
      async () => (await query(base, 'up{job="printhop"}'))[0]?.value[1] === '1',
      30_000,
      250,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${stderr}`);
    });

    // Jobs posted over a few seconds, so that the rate has several samples to work on.
    const ids: number[] = [];
    for (let i = 0; i < JOBS; i++) {
      ids.push(((await postJson(server.baseUrl, '/print', { content: `Mesure ${i}` })).json as { id: number }).id);
      await new Promise((r) => setTimeout(r, 75));
    }
    await waitFor(
      'every job printed',
      async () => {
        for (const id of ids)
          if ((await getJson<{ status: string }>(server.baseUrl, `/jobs/${id}`)).json.status !== 'printed')
            return false;
        return true;
      },
      30_000,
    );

    const printed = await waitFor(
      'Prometheus has every printed job',
      async () => {
        const r = await query(base, 'printhop_jobs_finished_total{status="printed",printer="printer-1"}');
        return Number(r[0]?.value[1]) === JOBS ? r : null;
      },
      20_000,
      250,
    );
    assert.equal(Number(printed[0]!.value[1]), JOBS);
    assert.equal(Number((await query(base, 'printhop_jobs_created_total{printer="printer-1"}'))[0]!.value[1]), JOBS);

    const rate = Number(
      (await query(base, 'sum(rate(printhop_jobs_finished_total{status="printed"}[30s]))'))[0]!.value[1],
    );
    // 40 jobs over about 3 s (75 ms apart, plus the POST), within a 30 s window: a rate above zero and at most 40 / 1 s.
    assert.ok(rate > 0 && rate <= JOBS, `printed rate ${rate}/s`);

    const p50 = Number(
      (await query(base, 'histogram_quantile(0.5, sum by (le) (rate(printhop_job_print_seconds_bucket[1m])))'))[0]!
        .value[1],
    );
    const p99 = Number(
      (await query(base, 'histogram_quantile(0.99, sum by (le) (rate(printhop_job_print_seconds_bucket[1m])))'))[0]!
        .value[1],
    );
    // POST → printed on one machine: milliseconds to a few hundred; never zero, never seconds on an idle agent.
    assert.ok(p50 > 0 && p50 < 2, `p50 POST→printed ${p50} s`);
    assert.ok(p99 >= p50 && p99 < 10, `p99 POST→printed ${p99} s`);
    const acks = await query(base, 'sum by (result) (printhop_acks_total)');
    const applied = Number(acks.find((a) => a.metric.result === 'applied')?.value[1]);
    assert.ok(applied >= JOBS * 2, `received + printed acks applied: ${applied}`);
    const commits = Number((await query(base, 'sum(printhop_db_commit_seconds_count)'))[0]!.value[1]);
    assert.ok(commits > 0, 'database commits measured');
    assert.equal(Number((await query(base, 'printhop_printer_online{printer="printer-1"}'))[0]!.value[1]), 1);
    assert.equal(Number((await query(base, 'printhop_jobs_unfinished{printer="printer-1"}'))[0]!.value[1]), 0);
    assert.equal(
      Number((await query(base, 'printhop_printer_condition{printer="printer-1",condition="ok"}'))[0]!.value[1]),
      1,
    );
    assert.ok(Number((await query(base, 'printhop_broker_clients'))[0]!.value[1]) >= 1);
    // Node's default metrics under their standard names, as off-the-shelf Node.js dashboards query them.
    assert.ok(Number((await query(base, 'process_resident_memory_bytes'))[0]!.value[1]) > 10e6);
    assert.ok((await query(base, 'nodejs_eventloop_lag_seconds')).length === 1);
    assert.deepEqual(await query(base, 'printhop_process_resident_memory_bytes'), []);
    t.diagnostic(
      `measured: ${JOBS} printed, rate ${rate.toFixed(2)}/s over 30 s, p50 ${(p50 * 1000).toFixed(1)} ms, p99 ${(p99 * 1000).toFixed(1)} ms, ${commits} commits, ${applied} acks applied`,
    );
  },
);
