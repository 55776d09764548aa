/** The admin section's pages (French, plain forms that work without JavaScript; no inline script or style). */
import type { PendingPairing } from '../../pairing/pairing-service';
import { formatPairingCode } from '../../../protocol/pairing';
import type { PrinterAccountInfo } from '../../printers/printer-registry';
import type { ApiKeyRecord } from '../../store/api-key-store';
import type { PrinterInfo } from '../../printers/printer-status-list';
import { html, type SafeHtml } from '../page/html';
import { type IssuedWebhook, webhookSection, type WebhookPageState } from './webhook-views';

function layout(title: string, body: SafeHtml): SafeHtml {
  return html`<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<meta name="referrer" content="no-referrer">
<title>${title} — Printhop</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/style.css">
</head>
<body class="admin">
<header class="top">
<div class="brand">
<img class="logo" src="/static/favicon.svg" alt="" width="40" height="40">
<div><h1>Printhop — administration</h1><p class="tagline"><a href="/">Retour à la page des messages</a></p></div>
</div>
</header>
<main class="admin-main">
${body}
</main>
</body>
</html>`;
}

const formTokenField = (token: string) => html`<input type="hidden" name="formToken" value="${token}">`;

export function loginPage(message: string | null = null, formToken = ''): SafeHtml {
  return layout(
    'Connexion',
    html`<section class="card" aria-labelledby="login-title">
<h2 id="login-title">Connexion administrateur</h2>
${message ? html`<p class="error" role="alert">${message}</p>` : ''}
<form id="admin-login" method="post" action="/admin/login">
${formToken ? formTokenField(formToken) : ''}
<label for="password">Mot de passe administrateur</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<p class="hint">Affiché au démarrage du serveur ; conservé dans <code>DATA_DIR/admin-password</code> (ou <code>ADMIN_PASSWORD</code>).</p>
<div class="actions"><button type="submit" class="primary">Se connecter</button></div>
</form>
</section>`,
  );
}

export interface AdminPageState {
  csrfToken: string;
  /** The page's per-view form token (http/cross-site.ts), in every form beside the CSRF token. */
  formToken: string;
  accounts: PrinterAccountInfo[];
  printers: PrinterInfo[];
  /** Agents waiting with a code; `pairingEnabled` false: PAIRING=false. */
  pairings: PendingPairing[];
  pairingEnabled: boolean;
  /** This server as the admin reached it (`http://host:3000`), for the install command. */
  serverUrl: string;
  /** API keys, active and revoked; `issuedApiKey`: one just created, shown this once. */
  apiKeys?: ApiKeyRecord[];
  issuedApiKey?: { name: string; key: string } | null;
  /** Webhook endpoints, deliveries and attempts; absent: no webhook section. `issuedWebhook`: one just added, its secret shown this once. */
  webhooks?: WebhookPageState;
  issuedWebhook?: IssuedWebhook | null;
  /** Unfinished jobs per printer (pending, sent, received). */
  unfinished?: Map<string, number>;
  /** A result to show at the top: a token (shown once), a message, or an error. */
  notice?: { kind: 'ok' | 'error'; text: string } | null;
  issued?: { printerId: string; token: string; command: string } | null;
  /** A removal that needs confirming (the printer has unfinished jobs). */
  confirmRemove?: { printerId: string; unfinished: number } | null;
}

const csrfField = (token: string) => html`<input type="hidden" name="csrf" value="${token}">`;

export function adminPage(state: AdminPageState): SafeHtml {
  const byId = new Map(state.printers.map((p) => [p.id, p]));
  const csrf = (token: string) => html`${csrfField(token)}${formTokenField(state.formToken)}`;
  return layout(
    'Imprimantes',
    html`${state.notice ? html`<p class="${state.notice.kind === 'ok' ? 'ok' : 'error'}" role="${state.notice.kind === 'ok' ? 'status' : 'alert'}">${state.notice.text}</p>` : ''}
${state.issued ? issuedToken(state.issued) : ''}
${state.confirmRemove ? confirmRemoval(state.confirmRemove, html`${csrfField(state.csrfToken)}${formTokenField(state.formToken)}`) : ''}
${pairingSection(state, csrf(state.csrfToken))}
<section class="card" aria-labelledby="add-title">
<h2 id="add-title">Ajouter une imprimante</h2>
<form id="admin-add" method="post" action="/admin/printers">
${csrf(state.csrfToken)}
<label for="printerId">Identifiant (1 à 64 caractères : lettres, chiffres, _ et -)</label>
<input id="printerId" name="printerId" required maxlength="64" pattern="[A-Za-z0-9_\\-]{1,64}">
<div class="actions"><button type="submit" class="primary">Ajouter</button></div>
</form>
</section>
<section class="card" aria-labelledby="registry-title">
<h2 id="registry-title">Registre des imprimantes</h2>
<table id="admin-printers" class="admin-fleet">
<caption>Imprimantes du registre, leur agent et leurs tâches en attente (heures UTC)</caption>
<thead><tr><th scope="col">Imprimante</th><th scope="col">État</th><th scope="col">Papier</th><th scope="col">Agent</th><th scope="col">Système</th><th scope="col">Vu à</th><th scope="col">En attente</th><th scope="col">Actions</th></tr></thead>
<tbody>${state.accounts.map((a) => {
      const live = byId.get(a.printerId);
      const pending = state.unfinished?.get(a.printerId) ?? 0;
      return html`<tr id="admin-printer-${a.printerId}" class="admin-printer">
<th scope="row" class="printer-id">${a.printerId}</th>
<td class="printer-state">${live?.state === 'online' ? 'en ligne' : live?.state === 'offline' ? 'hors ligne' : 'agent jamais connecté'}</td>
<td class="printer-condition">${live?.state === 'online' ? (live.condition ?? '—') : '—'}</td>
<td class="printer-version">${live?.agent?.version ?? '—'}</td>
<td class="printer-platform">${live?.agent?.platform ?? '—'}</td>
<td class="printer-seen">${live?.lastSeenAt ? `${live.lastSeenAt.slice(0, 10)} ${live.lastSeenAt.slice(11, 16)}` : '—'}</td>
<td class="printer-pending">${pending}</td>
<td class="printer-actions">
<form class="admin-rotate" method="post" action="/admin/printers/${a.printerId}/rotate">${csrf(state.csrfToken)}<button type="submit" class="secondary" aria-label="Nouveau jeton pour ${a.printerId}">Nouveau jeton</button></form>
<form class="admin-remove" method="post" action="/admin/printers/${a.printerId}/remove">${csrf(state.csrfToken)}<button type="submit" class="secondary" aria-label="Supprimer ${a.printerId}">Supprimer</button></form>
</td>
</tr>`;
    })}</tbody>
</table>
</section>
${apiKeySection(state, csrf(state.csrfToken))}
${state.webhooks ? webhookSection(state.webhooks, state.issuedWebhook ?? null, csrf(state.csrfToken)) : ''}
<section class="card">
<form id="admin-logout" method="post" action="/admin/logout">${csrf(state.csrfToken)}<button type="submit" class="secondary">Se déconnecter</button></form>
</section>`,
  );
}

const timeOfDay = (iso: string) => iso.slice(11, 16);

function pairingSection(state: AdminPageState, hidden: SafeHtml): SafeHtml {
  if (!state.pairingEnabled)
    return html`<section class="card" aria-labelledby="pair-title">
<h2 id="pair-title">Appairer une imprimante</h2>
<p>L’appairage est désactivé sur ce serveur (<code>PAIRING=false</code>).</p>
</section>`;
  return html`<section class="card" aria-labelledby="pair-title">
<h2 id="pair-title">Appairer une imprimante</h2>
<p>Un agent démarré avec la seule adresse de ce serveur (<code>PRINTHOP_URL</code>) imprime un code sur son imprimante. Tapez ce code et choisissez l’identifiant de l’imprimante : un nouveau, ou un existant pour remplacer son agent.</p>
<ul class="agent-downloads">
<li>Linux ou Raspberry Pi, sur la machine de l’imprimante : <code id="install-command">curl -fsSL ${state.serverUrl}/agents/install.sh | sudo sh</code></li>
<li>Windows : <a id="windows-zip" href="/agents/printhop-agent-windows.zip" download>télécharger l’agent (.zip)</a>, le décompresser dans un dossier, lancer <code>printhop-agent.exe</code> (<code>printhop-agent.exe --install</code> le démarre avec Windows).</li>
<li><a href="/agents">Tous les agents et leur empreinte SHA-256</a></li>
</ul>
<table id="admin-pairings" class="admin-pairings">
<caption>Imprimantes en attente d’appairage (UTC)</caption>
<thead><tr><th scope="col">Code</th><th scope="col">Machine</th><th scope="col">Système</th><th scope="col">Imprimante</th><th scope="col">Demandé à</th><th scope="col">Expire à</th></tr></thead>
<tbody>${
    state.pairings.length
      ? state.pairings.map(
          (p) =>
            html`<tr><td class="pairing-code">${formatPairingCode(p.code)}</td><td>${p.machine}</td><td>${p.platform}</td><td>${p.printer}</td><td>${timeOfDay(p.requestedAt)}</td><td>${timeOfDay(p.expiresAt)}</td></tr>`,
        )
      : html`<tr><td colspan="6">Aucune imprimante n’attend.</td></tr>`
  }</tbody>
</table>
<form id="admin-pair" method="post" action="/admin/pairings">
${hidden}
<label for="pair-code">Code imprimé (6 chiffres)</label>
<input id="pair-code" name="code" required inputmode="numeric" autocomplete="off" maxlength="7" pattern="[0-9]{3}[\\- ]?[0-9]{3}" aria-describedby="pair-code-hint">
<p class="hint" id="pair-code-hint">Par exemple 482-913, tel qu’imprimé.</p>
<label for="pair-printer">Identifiant de l’imprimante (nouveau ou existant)</label>
<input id="pair-printer" name="printerId" required maxlength="64" pattern="[A-Za-z0-9_\\-]{1,64}" list="known-printers">
<datalist id="known-printers">${state.accounts.map((a) => html`<option value="${a.printerId}"></option>`)}</datalist>
<div class="actions"><button type="submit" class="primary">Appairer</button></div>
</form>
</section>`;
}

function apiKeySection(state: AdminPageState, hidden: SafeHtml): SafeHtml {
  const keys = state.apiKeys ?? [];
  return html`<section class="card" aria-labelledby="keys-title">
<h2 id="keys-title">Clés API</h2>
${
  state.issuedApiKey
    ? html`<div class="issued" role="status"><p>Clé <strong>${state.issuedApiKey.name}</strong> : copiez-la maintenant, elle ne sera plus affichée. Elle s’envoie en <code>Authorization: Bearer …</code>.</p><pre id="issued-api-key" class="command">${state.issuedApiKey.key}</pre></div>`
    : ''
}
<table id="admin-api-keys" class="admin-fleet">
<caption>Clés API (heures UTC)</caption>
<thead><tr><th scope="col">Nom</th><th scope="col">Créée le</th><th scope="col">État</th><th scope="col">Action</th></tr></thead>
<tbody>${
    keys.length
      ? keys.map(
          (k) =>
            html`<tr id="api-key-${k.name}"><th scope="row">${k.name}</th><td>${k.createdAt.slice(0, 16).replace('T', ' ')}</td><td>${k.revokedAt ? `révoquée le ${k.revokedAt.slice(0, 16).replace('T', ' ')}` : 'active'}</td><td>${
              k.revokedAt
                ? '—'
                : html`<form class="admin-revoke-key" method="post" action="/admin/api-keys/${encodeURIComponent(k.name)}/revoke">${hidden}<button type="submit" class="secondary" aria-label="Révoquer la clé ${k.name}">Révoquer</button></form>`
            }</td></tr>`,
        )
      : html`<tr><td colspan="4">Aucune clé.</td></tr>`
  }</tbody>
</table>
<form id="admin-add-key" method="post" action="/admin/api-keys">
${hidden}
<label for="api-key-name">Nom de la nouvelle clé (1 à 64 caractères : lettres, chiffres, _ . -)</label>
<input id="api-key-name" name="name" required maxlength="64" pattern="[A-Za-z0-9_.\\-]{1,64}">
<div class="actions"><button type="submit" class="primary">Créer la clé</button></div>
</form>
</section>`;
}

function issuedToken(issued: { printerId: string; token: string; command: string }): SafeHtml {
  return html`<section class="card issued" aria-labelledby="issued-title">
<h2 id="issued-title">Jeton de ${issued.printerId}</h2>
<p>Copiez-le maintenant : il ne sera plus affiché. Sur la machine de l’imprimante, lancez l’agent ainsi :</p>
<pre id="agent-command" class="command">${issued.command}</pre>
<p class="hint">Jeton seul : <code id="issued-token">${issued.token}</code></p>
</section>`;
}

function confirmRemoval(c: { printerId: string; unfinished: number }, hidden: SafeHtml): SafeHtml {
  return html`<section class="card" aria-labelledby="confirm-title">
<h2 id="confirm-title">Supprimer ${c.printerId} ?</h2>
<p>${c.unfinished} tâche(s) de cette imprimante ne sont pas encore imprimées : elles passeront en échec.</p>
<form id="admin-confirm-remove" method="post" action="/admin/printers/${c.printerId}/remove">${hidden}<input type="hidden" name="force" value="true"><button type="submit" class="primary">Supprimer quand même</button></form>
</section>`;
}

/** An admin page refused before the session is known (no session, expired, forged form). */
export function adminRefusal(message: string): SafeHtml {
  return layout(
    'Refusé',
    html`<section class="card"><p class="error" role="alert">${message}</p><p><a href="/admin">Revenir à l’administration</a></p></section>`,
  );
}
