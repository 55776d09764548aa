/**
 * The webhooks area: the endpoints' store (which the admin and GET /webhooks/deliveries read) and the
 * dispatcher that follows the event log and sends. The key that seals the endpoints' secrets
 * (WEBHOOK_SECRET_KEY or DATA_DIR/webhook.key) is read when the part starts.
 */
import { part, type Part } from '../../runtime/lifecycle';
import { WebhookDispatcher } from '../webhooks/webhook-dispatcher';
import { loadWebhookKey, type SecretBox } from '../webhooks/webhook-secrets';
import type { SqlWebhookStore } from '../store/webhook-store';
import { webhookTargetProblem } from '../webhooks/webhook-targets';
import { type ServerContext, KeyFile } from './context';
import type { JobsArea } from './jobs';
import type { StorageArea } from './storage';

export interface WebhooksArea {
  store: SqlWebhookStore;
  /** The key that seals the endpoints' secrets: read once its part has started (before HTTP's). */
  key: KeyFile<SecretBox>;
  /** The dispatcher, made when its part starts; null before. */
  dispatcher(): WebhookDispatcher | null;
  parts: { key: Part; dispatcher: Part };
}

export function buildWebhooks(
  { config, log }: ServerContext,
  needs: { storage: StorageArea; jobs: JobsArea },
): WebhooksArea {
  const { webhooks } = config;
  const store = needs.storage.db.createWebhookStore();
  const key = new KeyFile(
    'webhook key file',
    'webhook.key',
    () => {
      const { key: value, modeFixed } = loadWebhookKey(webhooks.secretKey, config.dataDir);
      return { value, modeFixed };
    },
    log,
  );
  let dispatcher: WebhookDispatcher | null = null;
  const start = () => {
    dispatcher = new WebhookDispatcher(
      store,
      needs.jobs.changes,
      key.value,
      {
        timeoutMs: webhooks.timeoutMs,
        retry: { minMs: webhooks.retryMinMs, maxMs: webhooks.retryMaxMs, windowMs: webhooks.retryWindowMs },
        concurrency: webhooks.concurrency,
        pollMs: webhooks.pollMs,
        checkTarget: (url) => webhookTargetProblem(url, webhooks.allowPrivate),
        keepMs: config.jobRetentionMs,
        payloadMs: webhooks.payloadMs,
        keyWarning:
          config.databaseUrl && !webhooks.secretKey
            ? 'WEBHOOK_SECRET_KEY is not set: webhook secrets are sealed with DATA_DIR/webhook.key; every instance sharing this database needs the same key (set WEBHOOK_SECRET_KEY on each) to sign'
            : undefined,
      },
      log,
    );
    dispatcher.start();
  };
  return {
    store,
    key,
    dispatcher: () => dispatcher,
    parts: { key, dispatcher: part('webhooks', start, async () => dispatcher?.stop()) },
  };
}
