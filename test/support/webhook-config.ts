import type { WebhookConfig } from '../../config';

/**
 * Webhook settings for tests: receivers on 127.0.0.1 allowed, no secret key, one delivery at a time, and the
 * automatic retry a minute away (so that within a test a second attempt comes only from "retry now", unless
 * the test asks for shorter waits).
 */
export function testWebhookConfig(over: Partial<WebhookConfig> = {}): WebhookConfig {
  return {
    secretKey: null,
    timeoutMs: 2_000,
    retryWindowMs: 3_600_000,
    retryMinMs: 60_000,
    retryMaxMs: 60_000,
    concurrency: 1,
    pollMs: 1_000,
    allowPrivate: true,
    payloadMs: 3 * 86_400_000,
    ...over,
  };
}
