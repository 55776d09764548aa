/**
 * DNS rebinding: a page on another site can point its own host name at this server's address and then
 * read the answers as its own. The server answers only for the names it is known by: IP literals,
 * `localhost`, this machine's host name (and `<hostname>.local`), and ALLOWED_HOSTS; anything else is 421.
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import type { NextFunction, Request, Response } from 'express';

/** The host name of a `Host` header value: lower case, without port or IPv6 brackets. */
export function hostNameOf(host: string): string {
  const value = host.trim().toLowerCase();
  if (value.startsWith('[')) return value.slice(1, value.indexOf(']') > 0 ? value.indexOf(']') : undefined);
  const colon = value.lastIndexOf(':');
  return (colon >= 0 && value.indexOf(':') === colon ? value.slice(0, colon) : value).replace(/\.$/, '');
}

export class HostCheck {
  private readonly names: Set<string>;

  constructor(allowedHosts: readonly string[], hostname: string = os.hostname()) {
    const own = hostname.toLowerCase();
    this.names = new Set(['localhost', own, `${own}.local`, own.split('.')[0]!, ...allowedHosts.map(hostNameOf)]);
  }

  allows(host: string | undefined): boolean {
    if (!host) return false;
    const name = hostNameOf(host);
    return net.isIP(name) !== 0 || this.names.has(name) || name.endsWith('.localhost');
  }

  static readonly MESSAGE =
    'this server does not answer for that host name; add it to ALLOWED_HOSTS (comma separated) if it is one of its own';

  /** Express middleware: `req.host` follows X-Forwarded-Host only when TRUST_PROXY trusts the sender. */
  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    if (this.allows(req.host)) return next();
    res.status(421).type('text').send(`421 Misdirected Request: ${HostCheck.MESSAGE}.\n`);
  };

  /** For upgrade requests (MQTT over WebSocket), which never reach Express: true if it answered (refused). */
  refuseUpgrade(req: IncomingMessage, socket: { write(s: string): unknown; destroy(): unknown }): boolean {
    if (this.allows(req.headers.host)) return false;
    const body = `${HostCheck.MESSAGE}.\n`;
    socket.write(
      `HTTP/1.1 421 Misdirected Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    socket.destroy();
    return true;
  }
}
