/**
 * `/agents/`: the agents this server was built with, for a machine that has nothing yet. Open to anyone who
 * reaches the server (the agents hold no secret: a new one only gets a token through pairing), and so
 * mounted before the API keys. Each file comes with its SHA-256 (the index, `SHA256SUMS`, and a
 * `Repr-Digest` header); `install.sh` is the Linux installer, written for the address it was fetched from.
 */
import fs from 'node:fs';
import path from 'node:path';
import express, { type Request, type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Logger } from '../../runtime/logger';
import { HttpError } from '../http/guards/errors';
import { type ApiOperation, errorResponse } from '../http/api/openapi';
import { AGENT_DEPLOY_DIR, type AgentFiles, BUILD_HINT } from './agent-files';
import { installScript } from './install-script';
import { writeZip, type ZipEntry, zipSize } from './zip';

export const WINDOWS_ZIP = 'printhop-agent-windows.zip';

/** printhop-agent.env for the .zip: the server's address filled in, Notepad's line ends. */
export function windowsEnvFile(server: string): string {
  return [
    '# Printhop agent settings, read by printhop-agent.exe from its own folder: KEY=VALUE, one a line.',
    '# Every setting: printhop-agent.exe --help. To start it with Windows: printhop-agent.exe --install',
    '# The server: with no token yet, the agent prints a pairing code to type on the admin page.',
    `PRINTHOP_URL=${server}`,
    '# The printer: windows: is the default printer; windows:NAME one by name (printhop-agent.exe --check lists them).',
    'PRINTER=windows:',
    '# 80mm (48 columns), 80mm-42, 58mm (32 columns) or a number.',
    'PAPER_COLUMNS=80mm',
    '',
  ].join('\r\n');
}

export interface DownloadRouteOptions {
  files: AgentFiles;
  /** agent/deploy/ (the systemd unit and the udev rule). */
  deployDir?: string;
  log: Logger;
}

/** The server as the client reached it: `http://host:3000` (behind TRUST_PROXY, the proxy's scheme). */
export function serverUrlOf(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost:3000'}`;
}

export function downloadRoutes(options: DownloadRouteOptions): Router {
  const router = express.Router();
  const log = options.log.child({ module: 'downloads' });
  const deployDir = options.deployDir ?? AGENT_DEPLOY_DIR;

  router.get('/agents', async (req, res) => {
    const { available, missing } = await options.files.list();
    const server = serverUrlOf(req);
    res.set('Cache-Control', 'no-cache').json({
      agents: available.map((a) => ({
        file: a.name,
        platform: a.platform,
        bytes: a.bytes,
        sha256: a.sha256,
        url: `/agents/${a.name}`,
      })),
      missing: missing.map((m) => m.name),
      ...(missing.length ? { build: `on the server: ${BUILD_HINT} (executables) and npm run build (the .mjs)` } : {}),
      install: { linux: `curl -fsSL ${server}/agents/install.sh | sudo sh` },
    });
  });

  router.get('/agents/install.sh', async (req, res) => {
    const { available } = await options.files.list();
    const [unit, udevRule] = await Promise.all([
      fs.promises.readFile(path.join(deployDir, 'printhop-agent.service'), 'utf8'),
      fs.promises.readFile(path.join(deployDir, '99-printhop.rules'), 'utf8'),
    ]);
    res
      .set('Cache-Control', 'no-cache')
      .type('text/x-shellscript; charset=utf-8')
      .send(installScript({ server: serverUrlOf(req), agents: available, unit, udevRule }));
  });

  router.get('/agents/SHA256SUMS', async (_req, res) => {
    const { available } = await options.files.list();
    res
      .set('Cache-Control', 'no-cache')
      .type('text/plain; charset=utf-8')
      .send(available.map((a) => `${a.sha256}  ${a.name}\n`).join(''));
  });

  router.get(`/agents/${WINDOWS_ZIP}`, windowsZip(options.files, log));

  router.get('/agents/:file', async (req, res, next) => {
    const known = options.files.known(req.params.file);
    const agent = known ? await options.files.describe(known) : null;
    if (!agent) {
      next(
        new HttpError(
          404,
          known
            ? `${known.name} is not built on this server: ${known.platform === 'node' ? 'npm run build' : BUILD_HINT}`
            : `no agent named ${req.params.file.slice(0, 80)}`,
        ),
      );
      return;
    }
    log.info({ file: agent.name, address: req.ip }, 'agent downloaded');
    res
      .set('Cache-Control', 'no-cache')
      .set('Repr-Digest', `sha-256=:${Buffer.from(agent.sha256, 'hex').toString('base64')}:`)
      .set('Content-Disposition', `attachment; filename="${agent.name}"`)
      .type('application/octet-stream')
      .sendFile(agent.path, { dotfiles: 'deny', lastModified: true, headers: {} }, (err) => {
        if (err && !res.headersSent) next(err);
      });
  });

  return router;
}

const downloads = { tags: ['agents'], auth: 'none' } as const;

const AgentIndex = z
  .object({
    agents: z.array(
      z.object({
        file: z.string(),
        platform: z.enum(['linux-x64', 'linux-arm64', 'win-x64', 'node']),
        bytes: z.number().int(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        url: z.string(),
      }),
    ),
    missing: z.array(z.string()).meta({ description: 'Agents not built on this server' }),
    build: z.string().optional().meta({ description: 'How to build the missing ones, on the server' }),
    install: z.object({ linux: z.string() }),
  })
  .meta({ id: 'AgentIndex' });

export const downloadOperations: ApiOperation[] = [
  {
    ...downloads,
    method: 'get',
    path: '/agents',
    operationId: 'listAgents',
    summary: 'The agents this server hands out, with their size and SHA-256, and how to install one',
    responses: { 200: { description: 'The index', json: AgentIndex } },
  },
  {
    ...downloads,
    method: 'get',
    path: '/agents/install.sh',
    operationId: 'agentInstallScript',
    summary: 'The Linux installer: `curl -fsSL http://host:3000/agents/install.sh | sudo sh`',
    responses: { 200: { description: 'A POSIX shell script, for this server', text: 'text/x-shellscript' } },
  },
  {
    ...downloads,
    method: 'get',
    path: '/agents/SHA256SUMS',
    operationId: 'agentChecksums',
    summary: 'The SHA-256 of every built agent, for `sha256sum -c`',
    responses: { 200: { description: 'One `<sha256>  <file>` line per agent', text: 'text/plain' } },
  },
  {
    ...downloads,
    method: 'get',
    path: `/agents/${WINDOWS_ZIP}`,
    operationId: 'downloadWindowsAgent',
    summary: 'Windows: printhop-agent.exe and its printhop-agent.env with this server’s address, in one .zip',
    responses: {
      200: { description: 'The archive', text: 'application/zip' },
      404: errorResponse('The Windows agent is not built on this server (the message says how)'),
    },
  },
  {
    ...downloads,
    method: 'get',
    path: '/agents/:file',
    operationId: 'downloadAgent',
    summary: 'One agent: an executable, or the one-file agent for Node ≥ 20',
    params: z.object({
      file: z.string().meta({
        description:
          '`printhop-agent-linux-x64`, `printhop-agent-linux-arm64`, `printhop-agent-win-x64.exe` or `printhop-agent.mjs`',
      }),
    }),
    responses: {
      200: {
        description: 'The file',
        text: 'application/octet-stream',
        headers: { 'Repr-Digest': { description: 'Its SHA-256 (RFC 9530): `sha-256=:<base64>:`' } },
      },
      404: errorResponse('No such agent, or not built on this server (the message says how to build it)'),
    },
  },
];

/** The Windows agent and its settings file in one .zip, streamed (the agent is not read into memory). */
function windowsZip(files: AgentFiles, log: Logger): RequestHandler {
  return async (req, res, next) => {
    const exe = files.known('printhop-agent-win-x64.exe')!;
    const agent = await files.describe(exe);
    if (!agent) {
      next(new HttpError(404, `the Windows agent is not built on this server: ${BUILD_HINT} -- win-x64`));
      return;
    }
    const entries: ZipEntry[] = [
      {
        name: 'printhop-agent.exe',
        data: { file: agent.path, bytes: agent.bytes, crc32: agent.crc32 },
        modified: new Date(),
      },
      { name: 'printhop-agent.env', data: Buffer.from(windowsEnvFile(serverUrlOf(req))), modified: new Date() },
    ];
    log.info({ file: WINDOWS_ZIP, address: req.ip }, 'agent downloaded');
    res
      .status(200)
      .set('Cache-Control', 'no-store')
      .set('Content-Type', 'application/zip')
      .set('Content-Length', String(zipSize(entries)))
      .set('Content-Disposition', `attachment; filename="${WINDOWS_ZIP}"`);
    try {
      await writeZip(res, entries);
    } catch (err) {
      log.warn({ err }, 'the Windows zip was not sent whole');
      res.destroy();
    }
  };
}
