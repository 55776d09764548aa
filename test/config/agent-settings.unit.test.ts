/**
 * Issue 22: the agent reads its settings with a hand-written check (config/agent.ts), without evaluating zod;
 * zod's schema (config/agent-schema.ts, what it stands in for) words a refusal. On many generated settings,
 * valid and not, both accept the same ones and give the same value, key for key and in the same order; a
 * refused setting is reported by readAgentConfig as loadAgentConfig reports it. A saved pairing is likewise
 * read by hand (agent/credentials.ts), compared with the zod schema it replaced.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { z } from 'zod';
import { checkCredentials, readCredentials } from '../../agent/credentials';
import { ConfigError, loadAgentConfig } from '../../config';
import { checkAgentSettings, readAgentConfig } from '../../config/agent';
import { agentSchema } from '../../config/agent-schema';
import { agentDefaults } from '../../config/defaults';
import { rawSettings } from '../../config/errors';
import { PRINTER_ID_PATTERN } from '../../protocol/topics';
import { propertyRuns } from '../support/property-runs';

const RUNS = propertyRuns({ full: 5_000, quick: 1_000 });

/** Numbers as a setting may be written: edges, signs, exponents, hex, spaces, garbage. */
const numberText = fc.oneof(
  fc.integer({ min: -5, max: 300 }).map(String),
  fc.constantFrom('0', '-0', '1', '16', '15', '255', '256', '20', '19', '100000', '100001', '1.5', '-1', '1e3'),
  fc.constantFrom(
    ' 48 ',
    '0x30',
    '0b1',
    'Infinity',
    '-Infinity',
    'NaN',
    '1e400',
    '9007199254740991',
    '9007199254740992',
  ),
  fc.constantFrom('', ' ', 'abc', '48px', '+5', '.5', '5.', '1_000'),
  fc.double({ noNaN: true }).map(String),
  fc.string({ maxLength: 4 }),
);
const urls = fc.oneof(
  fc.constantFrom(
    'ws://localhost:3000/mqtt',
    'mqtt://10.0.0.5:1883',
    'mqtts://h',
    'wss://h/mqtt',
    'tcp://h:1',
    'ssl://h',
  ),
  fc.constantFrom(
    'http://h',
    'localhost',
    'mqtt://',
    'mqtt://:1',
    'mqtt://u:p#w@h',
    'mqtt://u:p%23w@h',
    'mqtt:// h',
    '',
  ),
  fc.webUrl().map((u) => u.replace(/^https?/, 'ws')),
  fc.string({ maxLength: 12 }),
);
const printhopUrls = fc.oneof(
  fc.constantFrom('', 'http://h:3000', 'https://h/', 'http://h///', 'ftp://h', 'http://', 'http:// x', 'https://a b'),
  fc.webUrl(),
  fc.string({ maxLength: 8 }),
);
const printers = fc.oneof(
  fc.constantFrom('usb', 'usb:04b8:0202', 'usb:04b8', 'usb:xyz:1', 'tcp://10.0.0.5:9100', 'tcp://h/', 'tcp://h:x'),
  fc.constantFrom('cups:Q', 'cups:a b', 'cups-raw:Q', 'cups:', 'windows:', 'windows:EPSON TM', 'windows:\u0007'),
  fc.constantFrom('file:/tmp/p', 'file:', '/dev/usb/lp0', 'lpt1', '', ' /dev/x'),
  fc.string({ maxLength: 10 }),
);
const ids = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/),
  fc.constantFrom('debug', 'printhop-server', 'a'.repeat(64), 'a'.repeat(65), 'a b', 'é', '__proto__'),
  fc.string({ maxLength: 6 }),
);
const settings: Record<keyof typeof agentDefaults, fc.Arbitrary<string>> = {
  PRINTHOP_URL: printhopUrls,
  MQTT_URL: urls,
  MQTT_USERNAME: fc.string({ maxLength: 6 }),
  MQTT_PASSWORD: fc.string({ maxLength: 6 }),
  PRINTER_ID: ids,
  PRINTER: printers,
  CUPS_SERVER: fc.string({ maxLength: 6 }),
  PAPER_COLUMNS: fc.oneof(fc.constantFrom('58mm', '80mm', '80mm-42', '80MM', '58', 'toString'), numberText),
  CODEPAGE: fc.oneof(
    fc.constantFrom('PC858', 'pc850', 'Pc437', 'wpc1252', 'PC860', 'pc863', 'UTF8', 'PC 858'),
    fc.string(),
  ),
  AGENT_DATA_DIR: fc.oneof(fc.constantFrom('./data/agent', ' ', '/x'), fc.string({ maxLength: 4 })),
  PRINTER_TIMEOUT_MS: numberText,
  PRINTER_STATUS_INTERVAL_MS: numberText,
  PRINTER_RETRY_LIMIT_MS: numberText,
  PRINTER_RETRY_MIN_MS: numberText,
  PRINTER_RETRY_MAX_MS: numberText,
  RECONNECT_MIN_MS: numberText,
  RECONNECT_MAX_MS: numberText,
  JOURNAL_RETENTION_DAYS: numberText,
  TZ: fc.constantFrom('', 'UTC', 'Europe/Paris', 'America/Argentina/Buenos_Aires', 'Nowhere/X', 'utc', '+01:00', 'EST'),
  LOG_LEVEL: fc.oneof(fc.constantFrom('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent', 'INFO', 'verbose')),
  RECEIPT_MAX_LINES: numberText,
};
const keys = Object.keys(settings) as Array<keyof typeof agentDefaults>;

/** Mostly the defaults with a few settings off them (so that most runs are accepted or refused by one rule), or anything. */
const environments = fc.oneof(
  fc
    .subarray(keys, { maxLength: 3 })
    .chain((picked) =>
      fc.record(Object.fromEntries(picked.map((k) => [k, settings[k]])) as Record<string, fc.Arbitrary<string>>),
    ),
  fc.record(settings, { requiredKeys: [] }),
);

test('the hand-written check and the zod schema accept the same agent settings and give the same value', () => {
  const counts = { accepted: 0, refused: 0 };
  fc.assert(
    fc.property(environments, (env) => {
      const raw = rawSettings(agentDefaults, env);
      const fast = checkAgentSettings(raw);
      const schema = agentSchema.safeParse(raw);
      assert.equal(fast !== null, schema.success, JSON.stringify({ raw, issues: schema.error?.issues }));
      if (fast) {
        assert.deepEqual(fast, schema.data);
        assert.equal(JSON.stringify(fast), JSON.stringify(schema.data));
        // -0 is a value of its own (deepEqual takes it for 0).
        for (const key of keys) assert.ok(Object.is(fast[key], schema.data![key]), key);
      }
      counts[fast ? 'accepted' : 'refused']++;
    }),
    { numRuns: RUNS },
  );
  assert.ok(counts.accepted > RUNS / 10 && counts.refused > RUNS / 10, JSON.stringify(counts));
});

test('readAgentConfig gives loadAgentConfig’s config, and refuses with the same words, every refused setting named', async () => {
  const env = {
    PAPER_COLUMNS: '58mm',
    CODEPAGE: 'wpc1252',
    PRINTER: 'tcp://10.0.0.5:9100',
    PRINTHOP_URL: 'http://h:3000//',
  };
  assert.deepEqual(await readAgentConfig(env), loadAgentConfig(env));
  assert.equal((await readAgentConfig(env)).printhopUrl, 'http://h:3000');
  await fc.assert(
    fc.asyncProperty(environments, async (env) => {
      let expected: unknown;
      try {
        expected = loadAgentConfig(env);
      } catch (err) {
        expected = err;
      }
      if (expected instanceof ConfigError) {
        await assert.rejects(readAgentConfig(env), (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.deepEqual(err.problems, expected.problems);
          return true;
        });
      } else assert.deepEqual(await readAgentConfig(env), expected);
    }),
    { numRuns: Math.round(RUNS / 5) },
  );
  await assert.rejects(readAgentConfig({ PAPER_COLUMNS: '5', MQTT_PASSWORD: 'secret-pass', MQTT_URL: 'x://u:pw@h' }), {
    message: /MQTT_URL="x:\/\/\*\*\*:\*\*\*@h": must be a mqtt.*\n.*PAPER_COLUMNS="5": must be at least 16/s,
  });
});

/** What agent/pairing.ts read credentials.json with before (zod). */
const SavedCredentialsSchema = z.object({
  printerId: z.string().regex(PRINTER_ID_PATTERN),
  token: z.string().min(1),
  mqttUrl: z.string().min(1),
  server: z.string(),
  pairedAt: z.string(),
});

test('a saved pairing is read by hand as the zod schema read it', () => {
  const field = fc.oneof(
    fc.string({ maxLength: 6 }),
    fc.constant(''),
    fc.integer(),
    fc.constant(null),
    fc.stringMatching(/^[a-z0-9-]{1,8}$/),
  );
  const credentials = fc.oneof(
    fc.record(
      { printerId: field, token: field, mqttUrl: field, server: field, pairedAt: field, extra: field },
      { requiredKeys: [] },
    ),
    fc.record({
      printerId: fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/),
      token: fc.string({ minLength: 1, maxLength: 6 }),
      mqttUrl: fc.string({ minLength: 1, maxLength: 6 }),
      server: fc.string({ maxLength: 6 }),
      pairedAt: fc.string({ maxLength: 6 }),
    }),
    fc.anything(),
  );
  const counts = { accepted: 0, refused: 0 };
  fc.assert(
    fc.property(credentials, (json) => {
      const schema = SavedCredentialsSchema.safeParse(json);
      const fast = checkCredentials(json);
      assert.equal(fast !== null, schema.success);
      if (fast) assert.equal(JSON.stringify(fast), JSON.stringify(schema.data));
      counts[fast ? 'accepted' : 'refused']++;
    }),
    { numRuns: RUNS },
  );
  assert.ok(counts.accepted > RUNS / 10 && counts.refused > RUNS / 10, JSON.stringify(counts));

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-credentials-'));
  try {
    assert.equal(readCredentials(dir), null);
    const file = path.join(dir, 'credentials.json');
    const saved = {
      printerId: 'p-1',
      token: 't'.repeat(20),
      mqttUrl: 'ws://h/mqtt',
      server: 'http://h',
      pairedAt: 'x',
    };
    fs.writeFileSync(file, JSON.stringify({ ...saved, extra: 1 }), { mode: 0o644 });
    assert.deepEqual(readCredentials(dir), saved);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'made private again');
    fs.writeFileSync(file, '{not json');
    assert.equal(readCredentials(dir), null);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
