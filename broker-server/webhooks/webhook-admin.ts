/**
 * What an admin does to webhooks, whichever door (`npm run webhooks`, the admin page, the admin API): add an
 * endpoint (its signing secret made here and returned this once, only its sealed form kept), list, remove,
 * read the deliveries and their attempts, and "retry now". Refusals are WebhookAdminError: an HTTP status,
 * the English for the API and the command, the French for the page.
 */
import { parseEventFilter, WEBHOOK_EVENT_TYPES } from './webhook-events';
import { newWebhookSecret, type SecretBox } from './webhook-secrets';
import { type Lookup, webhookTargetProblem } from './webhook-targets';
import type {
  RetryRefusal,
  WebhookAttempt,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookStore,
} from '../store/webhook-store';

export class WebhookAdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly messageFr: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'WebhookAdminError';
  }
}

/** An http(s) URL as stored, or why not. */
export function checkWebhookUrl(text: string): { ok: true; url: string } | { ok: false; error: string } {
  if (!URL.canParse(text))
    return { ok: false, error: `${JSON.stringify(text)} is not a URL (e.g. https://example.com/hooks/printhop)` };
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { ok: false, error: `a webhook URL must be http:// or https://, not ${url.protocol}//` };
  if (!url.hostname) return { ok: false, error: 'the webhook URL has no host' };
  // It would be shown by `list`, kept in the database in clear, and put by fetch in its error messages.
  if (url.username || url.password)
    return {
      ok: false,
      error:
        'a webhook URL must not carry a user name or password (user:password@); the receiver checks the signature (webhook-signature) instead',
    };
  return { ok: true, url: url.toString() };
}

const REFUSALS: Record<RetryRefusal, [number, string, string]> = {
  missing: [404, 'no such delivery', 'Aucune livraison de ce numéro.'],
  delivered: [409, 'the delivery was delivered already', 'Cette livraison a déjà abouti.'],
  delivering: [409, 'the delivery is being tried right now', 'Cette livraison est en cours d’envoi.'],
  'payload-dropped': [
    409,
    'the delivery’s payload was dropped (WEBHOOK_PAYLOAD_DAYS): nothing left to send',
    'Le contenu de cette livraison a été effacé (WEBHOOK_PAYLOAD_DAYS) : plus rien à envoyer.',
  ],
  'endpoint-removed': [409, 'the delivery’s endpoint was removed', 'Le webhook de cette livraison a été supprimé.'],
};

export interface WebhookAdminOptions {
  /** WEBHOOK_ALLOW_PRIVATE, and how host names are resolved (DNS; tests give their own). */
  allowPrivate: boolean;
  lookup?: Lookup;
  /** Tells the dispatcher to look again now (an endpoint added or removed, a delivery to retry); absent: nobody to tell (the command). */
  wake?: () => void;
  now?: () => number;
}

export class WebhookAdmin {
  constructor(
    private readonly store: WebhookStore,
    private readonly secrets: SecretBox,
    private readonly options: WebhookAdminOptions,
  ) {}

  /** A new endpoint and its signing secret, to be shown this once. `events`: the filter as typed, or a list of types; absent: all. */
  async add(urlText: unknown, events: unknown): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    if (typeof urlText !== 'string' || !urlText.trim())
      throw new WebhookAdminError(400, '"url" is required', 'Indiquez l’adresse (URL) du webhook.', 'url');
    const url = checkWebhookUrl(urlText.trim());
    if (!url.ok) throw new WebhookAdminError(400, url.error, `Adresse refusée : ${url.error}`, 'url');
    const filterText = Array.isArray(events) ? events.map(String).join(',') : events;
    if (filterText !== undefined && typeof filterText !== 'string')
      throw new WebhookAdminError(
        400,
        `"events" must be a list of event types (${WEBHOOK_EVENT_TYPES.join(', ')}) or "*"`,
        'Types d’événements invalides.',
        'events',
      );
    const filter = parseEventFilter(filterText);
    if (!filter.ok)
      throw new WebhookAdminError(400, filter.error, `Types d’événements refusés : ${filter.error}`, 'events');
    const target = await webhookTargetProblem(url.url, this.options.allowPrivate, this.options.lookup);
    if (target) throw new WebhookAdminError(400, target, `Adresse refusée : ${target}`, 'url');
    const secret = newWebhookSecret();
    const endpoint = await this.store.addEndpoint(url.url, filter.value, this.secrets.seal(secret), this.at());
    this.options.wake?.();
    return { endpoint, secret };
  }

  endpoints(includeRemoved = false): Promise<WebhookEndpoint[]> {
    return this.store.endpoints(includeRemoved);
  }

  async remove(id: number): Promise<void> {
    if (!(await this.store.removeEndpoint(id, this.at())))
      throw new WebhookAdminError(404, `no active webhook endpoint ${id}`, `Aucun webhook actif numéro ${id}.`, 'id');
    this.options.wake?.();
  }

  deliveries(filter: Parameters<WebhookStore['deliveries']>[0]): Promise<WebhookDelivery[]> {
    return this.store.deliveries(filter);
  }

  attempts(filter: Parameters<WebhookStore['attempts']>[0]): Promise<WebhookAttempt[]> {
    return this.store.attempts(filter);
  }

  /** A pending or failed delivery is tried again now. */
  async retryNow(deliveryId: number): Promise<void> {
    const refused = await this.store.retryNow(deliveryId, this.now());
    if (refused) {
      const [status, message, messageFr] = REFUSALS[refused];
      throw new WebhookAdminError(status, `${message} (${deliveryId})`, messageFr, 'id');
    }
    this.options.wake?.();
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private at(): Date {
    return new Date(this.now());
  }
}
