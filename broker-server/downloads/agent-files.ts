/**
 * The agents this server hands out at /agents/: the one-file executables `npm run build:agents` made
 * (dist/agents/) and the one-file agent `npm run build` made (dist/printhop-agent.mjs, for any Node ≥ 20),
 * each with its SHA-256, computed once per file version (size and time of change) without blocking the
 * event loop. Only these names are ever served: a request names a file of this list, never a path.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export interface AgentFile {
  /** What is downloaded: `printhop-agent-linux-x64`. */
  name: string;
  /** `linux-x64`, `linux-arm64`, `win-x64`, or `node` (the .mjs, any system with Node ≥ 20). */
  platform: string;
  /** Where it is built from. */
  path: string;
}

export interface AvailableAgent extends AgentFile {
  bytes: number;
  sha256: string;
  /** For the Windows .zip's headers. */
  crc32: number;
}

/** The folder `npm run build` writes: the agents are found there whether the server runs from dist/ or from sources. */
export const DIST_DIR = path.resolve(import.meta.dirname, '../../dist');
/** The systemd unit and udev rule install.sh puts in place (the container image carries them too). */
export const AGENT_DEPLOY_DIR = path.resolve(import.meta.dirname, '../../agent/deploy');

export const BUILD_HINT = 'npm run build:agents';

export function agentFilesIn(distDir: string): AgentFile[] {
  const agents = path.join(distDir, 'agents');
  return [
    { name: 'printhop-agent-linux-x64', platform: 'linux-x64', path: path.join(agents, 'printhop-agent-linux-x64') },
    {
      name: 'printhop-agent-linux-arm64',
      platform: 'linux-arm64',
      path: path.join(agents, 'printhop-agent-linux-arm64'),
    },
    { name: 'printhop-agent-win-x64.exe', platform: 'win-x64', path: path.join(agents, 'printhop-agent-win-x64.exe') },
    { name: 'printhop-agent.mjs', platform: 'node', path: path.join(distDir, 'printhop-agent.mjs') },
  ];
}

export class AgentFiles {
  private readonly files: AgentFile[];
  private readonly digests = new Map<string, { version: string; sums: Promise<{ sha256: string; crc32: number }> }>();

  constructor(distDir: string = DIST_DIR) {
    this.files = agentFilesIn(distDir);
  }

  /** The file of that name, if it is one of the agents (whether built or not). */
  known(name: string): AgentFile | undefined {
    return this.files.find((f) => f.name === name);
  }

  /** The agents that are built, with their size and SHA-256; and the names of those that are not. */
  async list(): Promise<{ available: AvailableAgent[]; missing: AgentFile[] }> {
    const available: AvailableAgent[] = [];
    const missing: AgentFile[] = [];
    for (const file of this.files) {
      const found = await this.describe(file);
      if (found) available.push(found);
      else missing.push(file);
    }
    return { available, missing };
  }

  /** Size and SHA-256 of a built agent; null when it is not built. */
  async describe(file: AgentFile): Promise<AvailableAgent | null> {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(file.path);
    } catch {
      return null;
    }
    if (!stat.isFile()) return null;
    const version = `${stat.size}:${stat.mtimeMs}`;
    let digest = this.digests.get(file.name);
    if (digest?.version !== version) {
      digest = { version, sums: checksumsOf(file.path) };
      this.digests.set(file.name, digest);
      digest.sums.catch(() => this.digests.delete(file.name));
    }
    return { ...file, bytes: stat.size, ...(await digest.sums) };
  }

  /** Which agents are built, for the start-up banner (no hashing). */
  builtNames(): { built: string[]; missing: string[] } {
    const built = this.files.filter((f) => fs.existsSync(f.path)).map((f) => f.name);
    return { built, missing: this.files.map((f) => f.name).filter((n) => !built.includes(n)) };
  }
}

/** SHA-256 and CRC-32 in one read. */
function checksumsOf(file: string): Promise<{ sha256: string; crc32: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let crc = 0;
    fs.createReadStream(file)
      .on('data', (chunk) => {
        hash.update(chunk);
        crc = zlib.crc32(chunk as Buffer, crc);
      })
      .on('error', reject)
      .on('end', () => resolve({ sha256: hash.digest('hex'), crc32: crc }));
  });
}

/** What `npm start` and the server say at start-up about /agents/: where, and how to build what is missing. */
export function downloadsBanner(
  config: { host: string },
  server: { httpPort: number; agentFiles: AgentFiles },
): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const base = `http://${host}:${server.httpPort}`;
  const { built, missing } = server.agentFiles.builtNames();
  const lines = [`  Add a printer: ${base}/admin (pairing), agents at ${base}/agents/`];
  if (built.length) lines.push(`  Linux or Raspberry Pi: curl -fsSL ${base}/agents/install.sh | sudo sh`);
  if (missing.length)
    lines.push(
      `  Not built, so not served: ${missing.join(', ')}: run ${missing.some((m) => m !== 'printhop-agent.mjs') ? BUILD_HINT : 'npm run build'} on this server`,
    );
  return lines.join('\n') + '\n';
}
