/** Server-rendered HTML: the page and the fragments htmx swaps into it. Every user value is escaped. */
import { randomUUID } from 'node:crypto';
import {
  AGENT_FAULT_LABELS_FR,
  type AgentFaultCode,
  MAX_CONTENT_LENGTH,
  PRINTER_CONDITION_LABELS_FR,
  type PrinterCondition,
} from '../../../protocol/messages';
import { STATUS_LABELS_FR } from '../../../protocol/states';
import type { PrintJob } from '../../jobs/job-service';
import type { PrinterInfo } from '../../printers/printer-status-list';
import { html, type SafeHtml } from './html';
import { frenchNumber } from '../api/validation';
import { PRINT_KEY_FIELD, reprintKeyField, testKeyField } from '../api/idempotency';

/** How many jobs the page lists; the live updates keep the list at this length (public/app.js). */
export const PAGE_JOB_COUNT = 20;

const timeOfDay = new Intl.DateTimeFormat('fr-FR', { timeStyle: 'medium' });
const dayAndTime = new Intl.DateTimeFormat('fr-FR', { dateStyle: 'short', timeStyle: 'medium' });
const dayOf = new Intl.DateTimeFormat('fr-FR', { dateStyle: 'short' });

const isToday = (date: Date) => dayOf.format(date) === dayOf.format(new Date());

/** `14:03:07` today, `24/11/2026 14:03:07` on another day (in the server's time zone). */
function formatMoment(iso: string): string {
  const date = new Date(iso);
  return isToday(date) ? timeOfDay.format(date) : dayAndTime.format(date);
}

const moment = (iso: string) =>
  html`<time datetime="${iso}" title="${dayAndTime.format(new Date(iso))}">${formatMoment(iso)}</time>`;

export interface ReceiptPreview {
  lines: string[];
  columns: number;
  codePage: string;
  printerId: string;
}

export interface PageState {
  jobs: PrintJob[];
  printers: PrinterInfo[];
  defaultPrinterId: string;
  preview: ReceiptPreview;
  /** Confirmation shown after a plain (no JavaScript) form post. */
  sentJob?: PrintJob | null;
  error?: string | null;
  content?: string;
  printerId?: string;
  /** This view's form token (http/cross-site.ts): a hidden field in each form, and the header of htmx requests. */
  formToken?: string;
}

/** The form token as a hidden field, where the form is rendered for one page view. */
const tokenField = (token: string | undefined) =>
  token ? html`<input type="hidden" name="formToken" value="${token}">` : '';

// includeIndicatorCSS: false keeps htmx from adding a stylesheet of its own (style.css has the rules),
// so a strict Content-Security-Policy needs no exception; the extension list is a whitelist.
const HTMX_CONFIG = '{"includeIndicatorCSS": false, "extensions": "sse, upsert"}';

// The scripts sit at the end of <body>, not deferred: htmx then runs while the document is still loading
// and processes the page at DOMContentLoaded, once both extensions are registered. A deferred htmx
// starts on a timer that can fire before a slower extension file has arrived (the page then never goes live).
export function page(state: PageState): SafeHtml {
  return html`<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content="${HTMX_CONFIG}">
<meta name="color-scheme" content="light">
<title>Printhop — imprimer un message</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/style.css">
</head>
<body${state.formToken ? html` hx-headers:inherited="${JSON.stringify({ 'X-Form-Token': state.formToken })}"` : ''}>
<header class="top">
<div class="brand">
<img class="logo" src="/static/favicon.svg" alt="" width="40" height="40">
<div><h1>Printhop</h1><p class="tagline">Tapez un message : il sort sur l’imprimante à tickets, une seule fois.</p></div>
</div>
<p id="live" class="live" data-state="off" hx-sse:connect="/events"><span class="live-dot" aria-hidden="true"></span><span class="live-text">Actualisez la page pour voir l’avancement</span></p>
</header>
<main>
<div class="compose">
${printForm(state)}
<section class="card preview" aria-labelledby="preview-title">
<h2 id="preview-title">Aperçu du ticket</h2>
<div id="preview" hx-post="/fragments/preview" hx-include="#print-form" hx-trigger="input delay:250ms from:#print-form, change from:#print-form" hx-sync="replace">${receiptPreview(state.preview)}</div>
</section>
</div>
<div class="activity">
<section class="card printers-panel" aria-labelledby="printers-title">
<h2 id="printers-title">Imprimantes</h2>
<div id="printers">${printerList(state.printers, state.formToken)}</div>
</section>
<section class="card jobs-panel" aria-labelledby="jobs-title">
<h2 id="jobs-title">Derniers messages</h2>
<div id="jobs">${jobList(state.jobs, state.formToken)}</div>
</section>
</div>
</main>
<footer class="admin-link"><a href="/admin">Administration des imprimantes</a></footer>
<script src="/vendor/htmx.min.js"></script>
<script src="/vendor/hx-sse.min.js"></script>
<script src="/vendor/hx-upsert.min.js"></script>
<script src="/static/app.js"></script>
</body>
</html>`;
}

function printForm(state: PageState): SafeHtml {
  const content = state.content ?? '';
  return html`<section class="card" aria-labelledby="compose-title">
<h2 id="compose-title">Nouveau message</h2>
<form id="print-form" method="post" action="/print" hx-post="/print" hx-target="#result" hx-disable="find button">
${tokenField(state.formToken)}
<label for="content">Texte à imprimer</label>
<textarea id="content" name="content" rows="6" aria-required="true" aria-describedby="content-count result"${state.error ? html` aria-invalid="true"` : ''}
  placeholder="Par exemple : Bonjour l’équipe ! Le café est prêt.">${content}</textarea>
<p id="content-count" class="count" data-max="${MAX_CONTENT_LENGTH}">${characterCount([...content].length)}</p>
<div id="result" class="result" aria-live="polite">${state.error ? errorMessage(state.error) : state.sentJob ? confirmation(state.sentJob) : ''}</div>
<div class="actions">
${idempotencyField(PRINT_KEY_FIELD)}
${printerField(state.printers, state.printerId ?? state.defaultPrinterId)}
<button type="submit" class="primary">Envoyer</button>
</div>
</form>
</section>`;
}

function characterCount(length: number): SafeHtml {
  return html`${frenchNumber(length)} / ${frenchNumber(MAX_CONTENT_LENGTH)} caractères`;
}

/** Printers a job may be sent to: configured ones and any whose agent has been seen. */
const selectablePrinters = (printers: PrinterInfo[]) => printers.filter((p) => p.configured || p.state !== 'unknown');

/** A selector when there is a choice; otherwise the one printer as a hidden field. */
export function printerField(printers: PrinterInfo[], chosen: string): SafeHtml {
  const selectable = selectablePrinters(printers);
  if (selectable.length <= 1) {
    return html`<div id="printer-field" class="printer-field"><input type="hidden" name="printerId" value="${selectable[0]?.id ?? chosen}"></div>`;
  }
  return html`<div id="printer-field" class="printer-field">
<label for="printerId">Imprimante</label>
<select id="printerId" name="printerId">${selectable.map(
    (p) =>
      html`<option value="${p.id}"${p.id === chosen ? html` selected` : ''}>${p.id}${p.state === 'online' ? '' : ' (hors ligne)'}</option>`,
  )}</select>
</div>`;
}

export function receiptPreview(preview: ReceiptPreview): SafeHtml {
  return html`<div class="paper"><pre class="receipt" aria-label="${`Ticket de ${preview.columns} colonnes`}">${preview.lines.join('\n')}</pre></div>
<p class="receipt-note">${preview.printerId} · ${preview.columns} colonnes · ${preview.codePage}. Exactement le texte que l’agent imprimera ; la date sera celle de l’envoi.</p>`;
}

/**
 * A fresh Idempotency-Key for a form, each time it is rendered: the same form sent twice (a retry, a
 * second click, the back button) creates one job. After a send, the answer replaces it (freshKey).
 */
export function idempotencyField(id: string): SafeHtml {
  return html`<input type="hidden" id="${id}" name="idempotencyKey" value="${randomUUID()}">`;
}

/** For htmx: a new key in the form that was just sent, so that its next send is a new job. */
export function freshKey(id: string): SafeHtml {
  return html`<hx-partial hx-target="${`#${id}`}" hx-swap="outerHTML">${idempotencyField(id)}</hx-partial>`;
}

export function confirmation(job: PrintJob): SafeHtml {
  const what =
    job.kind === 'test'
      ? `Page de test envoyée à ${job.printerId}`
      : job.reprintOf
        ? 'Réimpression envoyée'
        : 'Message envoyé';
  return html`<p class="ok" data-job-id="${job.id}">${what} — tâche n°${job.id}</p>`;
}

export function errorMessage(message: string): SafeHtml {
  return html`<p class="error">${message}</p>`;
}

export function jobList(jobs: PrintJob[], formToken?: string): SafeHtml {
  // No whitespace inside the <ol>: `.jobs:empty` (style.css) shows the empty state until the first job arrives.
  return html`<ol id="job-list" class="jobs" data-limit="${PAGE_JOB_COUNT}">${jobs.map((job) => jobItem(job, formToken))}</ol>
<p class="empty">Aucun message pour l’instant : le premier envoyé apparaîtra ici.</p>`;
}

interface Step {
  label: string;
  at: string | null;
  reached: boolean;
}

function stepsOf(job: PrintJob): Step[] {
  const printed = job.status === 'printed';
  const final: Step =
    job.status === 'failed' || job.status === 'interrupted'
      ? { label: STATUS_LABELS_FR[job.status], at: job.finishedAt, reached: true }
      : { label: STATUS_LABELS_FR.printed, at: job.printedAt, reached: printed };
  // A step is done once it happened; a job acknowledged out of order may skip the time of one.
  return [
    { label: 'créé', at: job.createdAt, reached: true },
    {
      label: STATUS_LABELS_FR.sent,
      at: job.sentAt,
      reached: Boolean(job.sentAt) || job.status === 'received' || printed,
    },
    { label: STATUS_LABELS_FR.received, at: job.receivedAt, reached: Boolean(job.receivedAt) || printed },
    final,
  ];
}

const REPRINTABLE = new Set(['printed', 'failed', 'interrupted']);

export function jobItem(job: PrintJob, formToken?: string): SafeHtml {
  return html`<li id="job-${job.id}" class="job status-${job.status}" data-order="${job.id}" data-status="${job.status}">
<div class="job-head">
<span class="job-id">n°${job.id}</span>
<span class="badge">${STATUS_LABELS_FR[job.status]}</span>
<span class="job-printer">${job.printerId}${job.reprintOf ? html` · réimpression du n°${job.reprintOf}` : ''}</span>
${
  REPRINTABLE.has(job.status)
    ? html`<form class="reprint" method="post" action="/jobs/${job.id}/reprint" hx-post="/jobs/${job.id}/reprint" hx-target="#result" hx-disable="find button">${tokenField(formToken)}
${idempotencyField(reprintKeyField(job.id))}
<button type="submit" class="secondary" aria-label="${`Réimprimer le message n°${job.id}`}">Réimprimer</button>
</form>`
    : ''
}
</div>
<p class="job-content">${job.content}</p>
<ol class="steps" aria-label="Étapes">${stepsOf(job).map(
    (s) =>
      html`<li class="step${s.reached ? ' done' : ''}"><span class="step-label">${s.label}</span> ${s.at ? moment(s.at) : html`<span class="step-wait">—</span>`}</li>`,
  )}</ol>
${job.error ? html`<p class="job-error">${job.error}</p>` : ''}
</li>`;
}

const PRINTER_STATE_FR = { online: 'en ligne', offline: 'hors ligne', unknown: 'jamais vue' } as const;

export function printerList(printers: PrinterInfo[], formToken?: string): SafeHtml {
  if (printers.length === 0)
    return html`<ul id="printer-list" class="printers"></ul><p class="empty">Aucune imprimante connue.</p>`;
  return html`<ul id="printer-list" class="printers">${printers.map((p) => printerItem(p, formToken))}</ul>`;
}

function printerItem(p: PrinterInfo, formToken?: string): SafeHtml {
  const condition = p.state === 'online' && p.condition ? p.condition : null;
  const problem = p.state === 'online' && p.detail && p.detail !== 'ok' && p.detail !== p.condition ? p.detail : null;
  // An unreachable printer is already said by its condition; the agent's other faults are said here.
  const fault = p.fault && p.fault.code !== 'printer-unavailable' ? p.fault : null;
  return html`<li id="printer-${p.id}" class="printer state-${p.state}${problem || fault || p.stalled || (condition && condition !== 'ok') ? ' has-problem' : ''}" data-state="${p.state}">
<span class="dot" aria-hidden="true"></span>
<span class="printer-id">${p.id}</span>
<span class="printer-state">${PRINTER_STATE_FR[p.state]}</span>
<span class="printer-meta"><span>${p.lastSeenAt ? html`vue ${isToday(new Date(p.lastSeenAt)) ? 'à' : 'le'} ${moment(p.lastSeenAt)}` : 'agent jamais connecté'}</span>${
    p.columns || p.codepage
      ? html`<span>${[p.columns ? `${p.columns} colonnes` : '', p.codepage ?? ''].filter(Boolean).join(' · ')}</span>`
      : ''
  }</span>
${p.state === 'online' && p.agent ? agentFigures(p.agent) : ''}
${condition ? html`<span class="printer-condition condition-${condition}" data-condition="${condition}">${conditionLabel(condition)}</span>` : ''}
${problem ? html`<span class="printer-problem">${problem === 'unavailable' ? 'imprimante injoignable' : problem}</span>` : ''}
${p.session ? sessionNote(p.session) : ''}
${fault ? html`<span class="printer-problem printer-fault" data-fault="${fault.code}" title="${fault.detail}">${faultLabel(fault.code)} depuis ${moment(fault.since)}${fault.waiting ? ` · ${frenchNumber(fault.waiting)} tâche${fault.waiting > 1 ? 's' : ''} en attente` : ''}</span>` : ''}
${p.stalled ? stalledNote(p) : ''}
<form class="printer-test" method="post" action="/printers/${p.id}/test" hx-post="/printers/${p.id}/test" hx-target="#result">${tokenField(formToken)}
${idempotencyField(testKeyField(p.id))}
<button type="submit" class="secondary" aria-label="Imprimer une page de test sur ${p.id}">Page de test</button>
</form>
</li>`;
}

/** A second agent with this printer's id and token: who held the session, who tried, what happened. */
function sessionNote(event: NonNullable<PrinterInfo['session']>): SafeHtml {
  const when = html`${isToday(new Date(event.at)) ? 'à' : 'le'} ${moment(event.at)}`;
  return event.outcome === 'refused'
    ? html`<span class="printer-problem printer-session" data-session="refused">Un second agent pour ${event.printerId}, sur ${event.other.host}, a été refusé ${when} (${frenchNumber(event.attempts)} fois) : l’agent sur ${event.holder.host} tient la session. Arrêtez l’un des deux, ou démarrez le nouveau avec --takeover.</span>`
    : html`<span class="printer-problem printer-session" data-session="taken-over">L’agent sur ${event.other.host} a pris la session de ${event.printerId} à l’agent sur ${event.holder.host} ${when} (--takeover) ; les tâches en cours sont passées « interrompu »${event.attempts ? html`, et l’agent remplacé a été refusé ${frenchNumber(event.attempts)} fois depuis` : ''}.</span>`;
}

/** What the agent says of itself: version, since when it runs, its journal, its last job and how long it took. */
function agentFigures(agent: NonNullable<PrinterInfo['agent']>): SafeHtml {
  const started =
    agent.reportedAt && agent.uptimeS !== undefined
      ? new Date(Date.parse(agent.reportedAt) - agent.uptimeS * 1000).toISOString()
      : null;
  return html`<span class="printer-agent">${[
    agent.version ? html`<span>agent ${agent.version}${agent.host ? html` sur ${agent.host}` : ''}</span>` : '',
    started ? html`<span>démarré ${isToday(new Date(started)) ? 'à' : 'le'} ${moment(started)}</span>` : '',
    agent.journalSize !== undefined
      ? html`<span>journal : ${frenchNumber(agent.journalSize)} tâche${agent.journalSize > 1 ? 's' : ''}</span>`
      : '',
    agent.lastJob
      ? html`<span class="printer-last-job">dernière : n°${agent.lastJob.id} en ${frenchNumber(agent.lastJob.ms)} ms</span>`
      : '',
  ]}</span>`;
}

// ---- live updates (Server-Sent Events): each message is one or more partials, targeted by id ----

/** A job's new state: replaces its item, or inserts it in id order (hx-upsert). */
export function jobUpdate(job: PrintJob): SafeHtml {
  return html`<hx-upsert hx-target="#job-list" key="data-order" sort="desc">${jobItem(job)}</hx-upsert>`;
}

/** The printers panel and the form's printer field, morphed so that a chosen option and focus stay. */
export function printersUpdate(printers: PrinterInfo[], defaultPrinterId: string): SafeHtml {
  return html`<hx-partial hx-target="#printers" hx-swap="innerMorph">${printerList(printers)}</hx-partial>
<hx-partial hx-target="#printer-field" hx-swap="outerMorph">${printerField(printers, defaultPrinterId)}</hx-partial>`;
}

/** Sent first on every (re)connection: whatever happened while the page was not listening. */
export function snapshot(jobs: PrintJob[], printers: PrinterInfo[], defaultPrinterId: string): SafeHtml {
  return html`<hx-partial hx-target="#jobs" hx-swap="innerMorph">${jobList(jobs)}</hx-partial>
${printersUpdate(printers, defaultPrinterId)}`;
}

function faultLabel(code: string): string {
  return Object.hasOwn(AGENT_FAULT_LABELS_FR, code) ? AGENT_FAULT_LABELS_FR[code as AgentFaultCode] : code;
}

/** Jobs the watchdog sent again several times without progress: how many, since when, and why (as the agent says). */
function stalledNote(p: PrinterInfo): SafeHtml {
  const stalled = p.stalled!;
  const reason = p.fault
    ? faultLabel(p.fault.code)
    : p.condition && p.condition !== 'ok'
      ? conditionLabel(p.condition)
      : 'l’agent ne dit pas pourquoi';
  const jobs = stalled.count > 1 ? `${frenchNumber(stalled.count)} tâches en attente` : 'Une tâche en attente';
  return html`<span class="printer-problem printer-stalled" data-stalled="${stalled.count}">${jobs} (n°${stalled.firstJobId}) depuis ${moment(stalled.since)} : ${reason}</span>`;
}

function conditionLabel(condition: string): string {
  // An own-property check: an agent's `constructor` or `toString` is a word, not Object's function.
  return Object.hasOwn(PRINTER_CONDITION_LABELS_FR, condition)
    ? PRINTER_CONDITION_LABELS_FR[condition as PrinterCondition]
    : condition;
}
