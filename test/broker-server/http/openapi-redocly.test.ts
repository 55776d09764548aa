/**
 * For integrators (issue 23): /openapi.json, as fetched from a running server, passes Redocly CLI's lint with
 * its default (recommended) rules with no error. The real `redocly lint` (devDependency @redocly/cli: one
 * bundled package of 15 MB, no dependencies, lighter than @redocly/openapi-core and its 20 dependencies), run
 * offline (telemetry and the update check off) in a folder without a Redocly config.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { startTestServer, tempDir } from '../../support/harness';

const REDOCLY = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')),
  'bin/cli.js',
);

interface LintReport {
  totals: { errors: number; warnings: number };
  problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }>;
}

test('/openapi.json from a running server passes redocly lint (recommended rules) with no error', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1, adminPassword: 'admin-password-for-redocly' });
  const dir = tempDir(t, 'printhop-redocly-');
  const file = path.join(dir, 'openapi.json');
  fs.writeFileSync(file, await (await fetch(`${server.baseUrl}/openapi.json`)).text());
  const run = await promisify(execFile)(process.execPath, [REDOCLY, 'lint', file, '--format=json'], {
    cwd: dir,
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: { stdout?: string; code?: number }) => err);
  const report = JSON.parse(String(run.stdout)) as LintReport;
  const errors = report.problems.filter((p) => p.severity === 'error');
  assert.deepEqual(
    errors.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`),
    [],
    'no error',
  );
  assert.equal(report.totals.errors, 0);
  t.diagnostic(
    `redocly lint: ${report.totals.warnings} warning(s): ${report.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer}`).join('; ')}`,
  );
});
