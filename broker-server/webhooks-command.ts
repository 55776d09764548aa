/**
 * `npm run webhooks -- add URL [--events job.printed,job.failed] | list | remove ID | deliveries [--status S]
 * [--endpoint ID] [--limit N] | attempts DELIVERY [--limit N] | retry DELIVERY`: manages webhook endpoints in the
 * server's database (the same settings as the server: DATA_DIR or DATABASE_URL, and WEBHOOK_SECRET_KEY), while the
 * server runs: it reads the endpoints anew on every round. `add` prints the signing secret once; only its
 * encrypted form is kept. The same WebhookAdmin as the admin page and API does each change.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadServerConfig } from '../config';
import { loadOrExit } from '../config';
import { createLogger, urlForLog } from '../runtime/logger';
import { Database } from './store/database';
import { WebhookAdmin, WebhookAdminError } from './webhooks/webhook-admin';
import { loadWebhookKey, type SecretBox } from './webhooks/webhook-secrets';
import type { Lookup } from './webhooks/webhook-targets';
import { DELIVERY_STATUSES, type DeliveryStatus, type WebhookStore } from './store/webhook-store';

const USAGE =
  'usage: npm run webhooks -- add URL [--events TYPE,TYPE...] | list | remove ID | deliveries [--status STATUS] [--endpoint ID] [--limit N] | attempts DELIVERY_ID [--limit N] | retry DELIVERY_ID';

type Options = Record<string, string>;

/** Positional arguments and `--name value` options; null when an option has no value or is not one of `known`. */
function parseArgs(args: string[], known: string[]): { positional: string[]; options: Options } | { error: string } {
  const positional: string[] = [];
  const options: Options = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq > 0 ? eq : undefined);
    if (!known.includes(name))
      return {
        error: `unknown option --${name}${known.length ? ` (known: ${known.map((k) => `--${k}`).join(', ')})` : ''}`,
      };
    const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined) return { error: `--${name} needs a value` };
    options[name] = value;
  }
  return { positional, options };
}

export { checkWebhookUrl } from './webhooks/webhook-admin';

const positiveId = (text: string | undefined): number | null =>
  text !== undefined && /^[1-9]\d{0,14}$/.test(text) ? Number(text) : null;

/** Runs one command; returns the exit code (0, 1 not found, 2 usage). `out` gets what the user reads, `err` the errors. */
export async function webhooksCommand(
  args: string[],
  store: WebhookStore,
  secrets: SecretBox,
  out: (line: string) => void,
  err: (line: string) => void,
  /** WEBHOOK_ALLOW_PRIVATE, and how host names are resolved (DNS; tests give their own). */
  targets: { allowPrivate: boolean; lookup?: Lookup } = { allowPrivate: false },
): Promise<number> {
  const [command, ...rest] = args;
  const usage = (message?: string) => {
    err(message ? `${message}\n${USAGE}` : USAGE);
    return 2;
  };
  switch (command) {
    case 'add': {
      const parsed = parseArgs(rest, ['events']);
      if ('error' in parsed) return usage(parsed.error);
      if (parsed.positional.length !== 1) return usage('add takes one URL');
      let added: Awaited<ReturnType<WebhookAdmin['add']>>;
      try {
        added = await new WebhookAdmin(store, secrets, targets).add(parsed.positional[0]!, parsed.options.events);
      } catch (e) {
        if (e instanceof WebhookAdminError) return usage(e.message);
        throw e;
      }
      const { endpoint, secret } = added;
      out(`webhook endpoint ${endpoint.id} added: ${urlForLog(endpoint.url)} (events: ${endpoint.events})`);
      out('Its signing secret is shown only this once: keep it now (your receiver verifies signatures with it).');
      out(secret);
      return 0;
    }
    case 'list': {
      if (rest.length) return usage();
      const endpoints = await store.endpoints(true);
      if (!endpoints.length) out('no webhook endpoints');
      for (const e of endpoints)
        out(
          `${e.id}\t${urlForLog(e.url)}\tevents ${e.events}\tadded ${e.createdAt}\t${e.removedAt ? `removed ${e.removedAt}` : 'active'}`,
        );
      return 0;
    }
    case 'remove': {
      if (rest.length !== 1) return usage('remove takes one endpoint id');
      const id = positiveId(rest[0]);
      if (id === null)
        return usage(
          `an endpoint id is a whole number (npm run webhooks -- list shows them), not ${JSON.stringify(rest[0])}`,
        );
      if (!(await store.removeEndpoint(id, new Date()))) {
        err(`no active webhook endpoint ${id} (npm run webhooks -- list shows them)`);
        return 1;
      }
      out(`webhook endpoint ${id} removed; its waiting deliveries are marked failed`);
      return 0;
    }
    case 'deliveries':
      return listDeliveries(rest, store, out, usage);
    case 'attempts':
      return listAttempts(rest, store, out, usage);
    case 'retry':
      return retryDelivery(rest, new WebhookAdmin(store, secrets, targets), out, err, usage);
    default:
      return usage(command ? `unknown command "${command}"` : undefined);
  }
}

/** `deliveries [--status S] [--endpoint N] [--limit N]`: the latest deliveries, newest first. */
async function listDeliveries(
  rest: string[],
  store: WebhookStore,
  out: (line: string) => void,
  usage: (message?: string) => number,
): Promise<number> {
  const parsed = parseArgs(rest, ['status', 'endpoint', 'limit']);
  if ('error' in parsed) return usage(parsed.error);
  if (parsed.positional.length) return usage();
  const { status, endpoint, limit } = parsed.options;
  if (status !== undefined && !(DELIVERY_STATUSES as readonly string[]).includes(status))
    return usage(`--status must be one of ${DELIVERY_STATUSES.join(', ')}`);
  const endpointId = endpoint === undefined ? undefined : positiveId(endpoint);
  if (endpointId === null) return usage('--endpoint must be an endpoint id (a whole number)');
  const max = limit === undefined ? 50 : positiveId(limit);
  if (max === null || max > 500) return usage('--limit must be a whole number from 1 to 500');
  const rows = await store.deliveries({ status: status as DeliveryStatus | undefined, endpointId, limit: max });
  if (!rows.length) out('no webhook deliveries');
  for (const d of rows)
    out(
      [
        d.id,
        `endpoint ${d.endpointId}`,
        d.webhookId,
        d.type,
        `job ${d.jobId}`,
        d.status,
        `attempts ${d.attempts}`,
        d.lastStatusCode === null ? '' : `last status ${d.lastStatusCode}`,
        d.lastError ?? '',
        d.nextAttemptAt ? `next ${d.nextAttemptAt}` : '',
        d.deliveredAt ? `delivered ${d.deliveredAt}` : '',
      ]
        .filter((f) => f !== '')
        .join('\t'),
    );
  return 0;
}

/** What `attempts` and `retry` say of a delivery id that is not one. */
const notADeliveryId = (text: string | undefined): string =>
  `a delivery id is a whole number (npm run webhooks -- deliveries shows them), not ${JSON.stringify(text)}`;

/** `attempts DELIVERY [--limit N]`: the attempts of one delivery, newest first, as the admin page shows them. */
async function listAttempts(
  rest: string[],
  store: WebhookStore,
  out: (line: string) => void,
  usage: (message?: string) => number,
): Promise<number> {
  const parsed = parseArgs(rest, ['limit']);
  if ('error' in parsed) return usage(parsed.error);
  if (parsed.positional.length !== 1) return usage('attempts takes one delivery id');
  const deliveryId = positiveId(parsed.positional[0]);
  if (deliveryId === null) return usage(notADeliveryId(parsed.positional[0]));
  const max = parsed.options.limit === undefined ? 50 : positiveId(parsed.options.limit);
  if (max === null || max > 500) return usage('--limit must be a whole number from 1 to 500');
  const rows = await store.attempts({ deliveryId, limit: max });
  if (!rows.length) out(`no attempts of delivery ${deliveryId}`);
  for (const a of rows)
    out(
      [
        `attempt ${a.attempt}`,
        a.at,
        a.statusCode === null ? (a.error ?? 'no answer') : `status ${a.statusCode}`,
        `${a.durationMs} ms`,
        a.outcome,
        a.nextAttemptAt ? `next ${a.nextAttemptAt}` : '',
      ]
        .filter((f) => f !== '')
        .join('\t'),
    );
  return 0;
}

/** `retry DELIVERY`: a waiting or failed delivery is due now; a running server sends it at its next round. */
async function retryDelivery(
  rest: string[],
  admin: WebhookAdmin,
  out: (line: string) => void,
  err: (line: string) => void,
  usage: (message?: string) => number,
): Promise<number> {
  if (rest.length !== 1) return usage('retry takes one delivery id');
  const deliveryId = positiveId(rest[0]);
  if (deliveryId === null) return usage(notADeliveryId(rest[0]));
  try {
    await admin.retryNow(deliveryId);
  } catch (e) {
    if (!(e instanceof WebhookAdminError)) throw e;
    err(e.message);
    return 1;
  }
  out(
    `delivery ${deliveryId} is due now: a running server sends it at its next round (with the next job change, or within 5 minutes)`,
  );
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  // Not api-keys-command's withServerDatabase: in a bundle, that module's own entry-point check would run it too.
  const program = 'printhop webhooks';
  const config = loadOrExit(program, () => loadServerConfig());
  const db = new Database({ dataDir: config.dataDir, databaseUrl: config.databaseUrl }, createLogger(program, 'warn'));
  await db.start();
  let code: number;
  try {
    code = await webhooksCommand(
      process.argv.slice(2),
      db.createWebhookStore(),
      loadWebhookKey(config.webhooks.secretKey, config.dataDir).key,
      (line) => console.log(line),
      (line) => console.error(line),
      { allowPrivate: config.webhooks.allowPrivate },
    );
  } finally {
    await db.stop();
  }
  process.exit(code);
}
