/**
 * `npm run printers -- list | add ID | rotate ID | remove ID [--force]`: the printer registry from a shell,
 * through the running server's admin API (so the server applies each change at once: it closes the
 * connection of a rotated or removed printer and, with MQTT_DYNSEC, changes Mosquitto's accounts). It reads
 * the same settings as the server (PORT, HOST, DATA_DIR, ADMIN_PASSWORD) to find it and its admin password;
 * `--url http://host:port` points it at another server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadServerConfig } from '../config';
import { loadOrExit } from '../config';
import { ADMIN_PASSWORD_FILE } from './admin/admin-password';

const USAGE = `usage: npm run printers -- list | add ID | rotate ID | remove ID [--force] [--url http://host:port]
  list        the printers of the registry
  add ID      a new printer: prints its token (shown once) and the agent's command
  rotate ID   a new token: the old one is refused at once and the agent is disconnected
  remove ID   removes the printer; with unfinished jobs, --force fails them ("printer removed")`;

export interface CommandResult {
  code: number;
  out: string;
}

/** `env`: the settings (the process's environment when absent). */
export async function runPrintersCommand(
  args: string[],
  env?: Record<string, string | undefined>,
): Promise<CommandResult> {
  const force = args.includes('--force');
  const urlIndex = args.indexOf('--url');
  const urlArg = urlIndex >= 0 ? args[urlIndex + 1] : undefined;
  const rest = args.filter((a, i) => a !== '--force' && (urlIndex < 0 || (i !== urlIndex && i !== urlIndex + 1)));
  const [verb, id, ...extra] = rest;
  if (
    !verb ||
    extra.length ||
    (verb === 'list' ? id !== undefined : !['add', 'rotate', 'remove'].includes(verb) || !id)
  )
    return { code: 2, out: USAGE };

  const config = loadOrExit('printhop printers', () => loadServerConfig(env));
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const base = (urlArg ?? `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`).replace(/\/$/, '');
  let password = config.adminPassword;
  if (!password) {
    const file = path.join(config.dataDir, ADMIN_PASSWORD_FILE);
    try {
      password = fs.readFileSync(file, 'utf8').trim();
    } catch {
      return {
        code: 1,
        out: `no admin password: set ADMIN_PASSWORD, or run this with the server's DATA_DIR (${file} not readable)`,
      };
    }
  }
  const headers = { authorization: `Bearer ${password}`, 'content-type': 'application/json' };
  const route = `${base}/admin/api/printers`;
  let res: Response;
  try {
    if (verb === 'list') res = await fetch(route, { headers });
    else if (verb === 'add')
      res = await fetch(route, { method: 'POST', headers, body: JSON.stringify({ printerId: id }) });
    else if (verb === 'rotate')
      res = await fetch(`${route}/${encodeURIComponent(id!)}/rotate`, { method: 'POST', headers });
    else
      res = await fetch(`${route}/${encodeURIComponent(id!)}${force ? '?force=true' : ''}`, {
        method: 'DELETE',
        headers,
      });
  } catch (err) {
    return {
      code: 3,
      out: `the server does not answer at ${base} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}): start it, or give --url`,
    };
  }
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    const hint =
      res.status === 409 && Array.isArray(body.unfinishedJobs)
        ? ' (add --force to remove it anyway; those jobs end failed)'
        : '';
    return { code: 1, out: `refused (${res.status}): ${String(body.error ?? res.statusText)}${hint}` };
  }
  return answer(verb, id!, body);
}

/** What the command prints for the admin API's answer. */
function answer(verb: string, id: string, body: Record<string, unknown>): CommandResult {
  if (verb === 'list') {
    const rows = body as unknown as Array<{ printerId: string; createdAt: string; updatedAt: string }>;
    return {
      code: 0,
      out: rows.length
        ? rows.map((r) => `${r.printerId}\tadded ${r.createdAt}\ttoken changed ${r.updatedAt}`).join('\n')
        : '(no printer)',
    };
  }
  if (verb === 'remove') {
    const failed = (body.failedJobs as number[] | undefined) ?? [];
    return {
      code: 0,
      out: `printer ${id} removed; its agent was disconnected${failed.length ? `; jobs ${failed.join(', ')} ended failed` : ''}`,
    };
  }
  return {
    code: 0,
    out:
      `${verb === 'add' ? 'printer added' : 'new token; the old one is refused and the agent was disconnected'}: ${id}\n` +
      `token (shown once): ${String(body.token)}\nagent: ${String(body.agentCommand)}`,
  };
}
