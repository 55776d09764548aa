/** The webhook section of the admin page: endpoints (add, remove, the secret shown once), deliveries (retry now) and the attempts log. */
import { urlForLog } from '../../../runtime/logger';
import { WEBHOOK_EVENT_TYPES } from '../../webhooks/webhook-events';
import type { DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint } from '../../store/webhook-store';
import { html, type SafeHtml } from '../page/html';

export interface WebhookPageState {
  endpoints: WebhookEndpoint[];
  /** The newest deliveries and attempts. */
  deliveries: WebhookDelivery[];
  attempts: WebhookAttempt[];
}

/** A webhook just added: its signing secret, shown this once. */
export interface IssuedWebhook {
  id: number;
  url: string;
  secret: string;
}

const STATUS_FR: Record<DeliveryStatus, string> = {
  pending: 'en attente',
  delivering: 'en cours',
  delivered: 'livrée',
  failed: 'échec',
};

/** `2026-12-06 12:34:56` (UTC). */
const when = (iso: string | null) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : '—');
const result = (statusCode: number | null, error: string | null) =>
  statusCode !== null
    ? `HTTP ${statusCode}${error && !error.startsWith('the receiver answered') ? ` (${error})` : ''}`
    : (error ?? '—');

export function webhookSection(state: WebhookPageState, issued: IssuedWebhook | null, hidden: SafeHtml): SafeHtml {
  const active = new Set(state.endpoints.map((e) => e.id));
  return html`<section class="card" aria-labelledby="webhooks-title">
<h2 id="webhooks-title">Webhooks</h2>
<div id="webhook-secret-region" aria-live="polite" aria-atomic="true">${issued ? issuedSecret(issued) : ''}</div>
${endpointTable(state.endpoints, hidden)}
${addForm(hidden)}
<h3 id="deliveries-title">Journal des livraisons</h3>
${deliveryTable(state.deliveries, active, hidden)}
${attemptTable(state.attempts)}
</section>`;
}

function issuedSecret(issued: IssuedWebhook): SafeHtml {
  return html`<div class="issued"><p>Webhook ${issued.id} ajouté (${urlForLog(issued.url)}). Son secret de signature ne sera plus affiché : copiez-le maintenant, votre récepteur vérifie les signatures (<code>webhook-signature</code>) avec lui.</p><pre id="issued-webhook-secret" class="command">${issued.secret}</pre></div>`;
}

function endpointTable(endpoints: WebhookEndpoint[], hidden: SafeHtml): SafeHtml {
  return html`<table id="admin-webhooks" class="admin-fleet">
<caption>Webhooks actifs (heures UTC)</caption>
<thead><tr><th scope="col">N°</th><th scope="col">Adresse</th><th scope="col">Événements</th><th scope="col">Ajouté le</th><th scope="col">Action</th></tr></thead>
<tbody>${
    endpoints.length
      ? endpoints.map(
          (e) =>
            html`<tr id="webhook-${e.id}"><th scope="row">${e.id}</th><td class="webhook-url">${urlForLog(e.url)}</td><td>${e.events === '*' ? 'tous' : e.events.split(',').join(', ')}</td><td>${when(e.createdAt)}</td><td><form class="admin-remove-webhook" method="post" action="/admin/webhooks/${e.id}/remove">${hidden}<button type="submit" class="secondary" aria-label="Supprimer le webhook ${e.id}">Supprimer</button></form></td></tr>`,
        )
      : html`<tr><td colspan="5">Aucun webhook.</td></tr>`
  }</tbody>
</table>`;
}

function addForm(hidden: SafeHtml): SafeHtml {
  return html`<form id="admin-add-webhook" method="post" action="/admin/webhooks">
${hidden}
<label for="webhook-url">Adresse du récepteur (http:// ou https://)</label>
<input id="webhook-url" name="url" type="url" required maxlength="2000" placeholder="https://exemple.fr/hooks/printhop">
<fieldset aria-describedby="webhook-events-hint">
<legend>Événements envoyés</legend>
${WEBHOOK_EVENT_TYPES.map(
  (type) =>
    html`<label class="checkbox"><input type="checkbox" name="events" value="${type}"> <code>${type}</code></label>`,
)}
<p class="hint" id="webhook-events-hint">Aucune case cochée : tous les événements.</p>
</fieldset>
<div class="actions"><button type="submit" class="primary">Ajouter le webhook</button></div>
</form>`;
}

function deliveryTable(deliveries: WebhookDelivery[], active: Set<number>, hidden: SafeHtml): SafeHtml {
  return html`<table id="admin-webhook-deliveries" class="admin-fleet">
<caption>Livraisons, les plus récentes d’abord (heures UTC)</caption>
<thead><tr><th scope="col">Livraison</th><th scope="col">Webhook</th><th scope="col">Événement</th><th scope="col">État</th><th scope="col">Essais</th><th scope="col">Dernier résultat</th><th scope="col">Prochain essai</th><th scope="col">Action</th></tr></thead>
<tbody>${
    deliveries.length
      ? deliveries.map(
          (d) =>
            html`<tr id="delivery-${d.id}"><th scope="row">${d.id}</th><td>${d.endpointId}</td><td>${d.type} (tâche ${d.jobId})</td><td class="delivery-status">${STATUS_FR[d.status]}</td><td>${d.attempts}</td><td>${result(d.lastStatusCode, d.lastError)}</td><td>${when(d.nextAttemptAt)}</td><td>${
              (d.status === 'pending' || d.status === 'failed') && active.has(d.endpointId)
                ? html`<form class="admin-retry-delivery" method="post" action="/admin/webhooks/deliveries/${d.id}/retry">${hidden}<button type="submit" class="secondary" aria-label="Réessayer maintenant la livraison ${d.id}">Réessayer maintenant</button></form>`
                : '—'
            }</td></tr>`,
        )
      : html`<tr><td colspan="8">Aucune livraison.</td></tr>`
  }</tbody>
</table>`;
}

const OUTCOME_FR = { delivered: 'livrée', retry: 'nouvel essai prévu', failed: 'abandonnée' } as const;

function attemptTable(attempts: WebhookAttempt[]): SafeHtml {
  return html`<table id="admin-webhook-attempts" class="admin-fleet">
<caption>Tentatives d’envoi, les plus récentes d’abord (heures UTC)</caption>
<thead><tr><th scope="col">Heure</th><th scope="col">Livraison</th><th scope="col">Essai</th><th scope="col">Résultat</th><th scope="col">Durée</th><th scope="col">Suite</th><th scope="col">Prochain essai</th></tr></thead>
<tbody>${
    attempts.length
      ? attempts.map(
          (a) =>
            html`<tr class="webhook-attempt"><th scope="row">${when(a.at)}</th><td>${a.deliveryId}</td><td>${a.attempt}</td><td class="attempt-result">${result(a.statusCode, a.error)}</td><td>${a.durationMs} ms</td><td class="attempt-outcome">${OUTCOME_FR[a.outcome]}</td><td>${when(a.nextAttemptAt)}</td></tr>`,
        )
      : html`<tr><td colspan="7">Aucune tentative.</td></tr>`
  }</tbody>
</table>`;
}
