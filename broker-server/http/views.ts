/** Server-rendered HTML: the page and the fragments htmx swaps into it. Every user value is escaped. */
import { MAX_CONTENT_LENGTH, PRINTER_CONDITION_LABELS_FR, type PrinterCondition } from '../../protocol/messages';
import { STATUS_LABELS_FR } from '../../protocol/states';
import type { PrinterInfo, PrintJob } from '../jobs/job-service';
import { html, type SafeHtml } from './html';

const timeFormat = new Intl.DateTimeFormat('fr-FR', { dateStyle: 'short', timeStyle: 'medium' });
const formatTime = (iso: string | null) => (iso ? timeFormat.format(new Date(iso)) : '');

export interface PageState {
  jobs: PrintJob[];
  printers: PrinterInfo[];
  defaultPrinterId: string;
  /** Confirmation shown after a plain (no JavaScript) form post. */
  sentJob?: PrintJob | null;
  error?: string | null;
  content?: string;
  printerId?: string;
}

export function page(state: PageState): SafeHtml {
  return html`<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Printhop — imprimer un message</title>
<link rel="stylesheet" href="/static/style.css">
<script src="/vendor/htmx.min.js" defer></script>
<script src="/static/app.js" defer></script>
</head>
<body>
<main>
<header><h1>Printhop</h1><p class="tagline">Tapez un message : il sort sur l’imprimante à tickets.</p></header>
${printForm(state)}
<section aria-labelledby="printers-title">
<h2 id="printers-title">Imprimantes</h2>
<div id="printers" hx-get="/fragments/printers" hx-trigger="every 2s">${printerList(state.printers)}</div>
</section>
<section aria-labelledby="jobs-title">
<h2 id="jobs-title">Derniers messages</h2>
<div id="jobs" hx-get="/fragments/jobs" hx-trigger="every 1s">${jobList(state.jobs)}</div>
</section>
</main>
</body>
</html>`;
}

function printForm(state: PageState): SafeHtml {
  const selectable = state.printers.filter((p) => p.configured || p.state !== 'unknown');
  const chosen = state.printerId ?? state.defaultPrinterId;
  return html`<form id="print-form" method="post" action="/print" hx-post="/print" hx-target="#result" hx-swap="innerHTML">
<label for="content">Texte à imprimer</label>
<textarea id="content" name="content" rows="5" maxlength="${MAX_CONTENT_LENGTH}" required
  aria-describedby="content-count result">${state.content ?? ''}</textarea>
<div class="form-row">
<span id="content-count" class="count">${[...(state.content ?? '')].length} / ${MAX_CONTENT_LENGTH}</span>
${
  selectable.length > 1
    ? html`<label for="printerId">Imprimante</label>
<select id="printerId" name="printerId">${selectable.map((p) => html`<option value="${p.id}"${p.id === chosen ? html` selected` : ''}>${p.id}</option>`)}</select>`
    : html`<input type="hidden" name="printerId" value="${selectable[0]?.id ?? chosen}">`
}
<button type="submit">Envoyer</button>
</div>
<div id="result" role="status" aria-live="polite">${state.error ? errorMessage(state.error) : state.sentJob ? confirmation(state.sentJob) : ''}</div>
</form>`;
}

export function confirmation(job: PrintJob): SafeHtml {
  const what = job.kind === 'test' ? `Page de test envoyée à ${job.printerId}` : 'Message envoyé';
  return html`<p class="ok" data-job-id="${job.id}">${what} — tâche n°${job.id}</p>`;
}

export function errorMessage(message: string): SafeHtml {
  return html`<p class="error" role="alert">${message}</p>`;
}

export function jobList(jobs: PrintJob[]): SafeHtml {
  if (jobs.length === 0) return html`<p class="empty">Aucun message pour l’instant.</p>`;
  return html`<ol class="jobs">${jobs.map(jobItem)}</ol>`;
}

export function jobItem(job: PrintJob): SafeHtml {
  const when = job.printedAt ?? job.finishedAt ?? job.receivedAt ?? job.sentAt ?? job.createdAt;
  return html`<li id="job-${job.id}" class="job status-${job.status}" data-status="${job.status}">
<span class="job-id">n°${job.id}</span>
<span class="job-status">${STATUS_LABELS_FR[job.status]}</span>
<span class="job-printer">${job.printerId}</span>
<time datetime="${when}">${formatTime(when)}</time>
<p class="job-content">${job.content}</p>
${job.error ? html`<p class="job-error">${job.error}</p>` : ''}
</li>`;
}

export function printerList(printers: PrinterInfo[]): SafeHtml {
  return html`<ul class="printers">${printers.map(
    (p) => html`<li id="printer-${p.id}" class="printer state-${p.state}" data-state="${p.state}">
<span class="printer-id">${p.id}</span>
<span class="printer-state">${p.state === 'online' ? 'en ligne' : p.state === 'offline' ? 'hors ligne' : 'jamais vue'}</span>
${p.lastSeenAt ? html`<span class="printer-seen">vue le ${formatTime(p.lastSeenAt)}</span>` : ''}
${p.condition ? html`<span class="printer-condition condition-${p.condition}" data-condition="${p.condition}">${conditionLabel(p.condition)}</span>` : ''}
${p.detail ? html`<span class="printer-detail">${p.detail}</span>` : ''}
<form class="printer-test" method="post" action="/printers/${p.id}/test" hx-post="/printers/${p.id}/test" hx-target="#result" hx-swap="innerHTML">
<button type="submit" class="secondary" aria-label="Imprimer une page de test sur ${p.id}">Page de test</button>
</form>
</li>`,
  )}</ul>`;
}

function conditionLabel(condition: string): string {
  return condition in PRINTER_CONDITION_LABELS_FR ? PRINTER_CONDITION_LABELS_FR[condition as PrinterCondition] : condition;
}
