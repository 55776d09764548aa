/**
 * Where a webhook may be sent (issue 20): not to this machine (loopback, `0.0.0.0`, `localhost`), not to a
 * link-local address (169.254.0.0/16, fe80::/10, which hold the cloud metadata service 169.254.169.254),
 * nor to the IPv6 metadata address fd00:ec2::254, unless WEBHOOK_ALLOW_PRIVATE=true: a webhook could
 * otherwise post to the server's own admin API or to a service that trusts local callers. Private ranges
 * (10/8, 172.16/12, 192.168/16, fc00::/7) are where a shop's own systems live: allowed. A host name is
 * resolved and each of its addresses checked, at `add` and again before every attempt.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import net from 'node:net';

const REFUSED = new net.BlockList();
REFUSED.addSubnet('127.0.0.0', 8, 'ipv4');
REFUSED.addSubnet('0.0.0.0', 8, 'ipv4');
REFUSED.addSubnet('169.254.0.0', 16, 'ipv4');
REFUSED.addAddress('::1', 'ipv6');
REFUSED.addAddress('::', 'ipv6');
REFUSED.addSubnet('fe80::', 10, 'ipv6');
REFUSED.addAddress('fd00:ec2::254', 'ipv6');

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) stands for, or null. */
function mappedIpv4(address: string): string | null {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (match) return match[1]!;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex) return null;
  const [a, b] = [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16)];
  return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
}

export function isRefusedAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return REFUSED.check(address, 'ipv4');
  if (family !== 6) return false;
  const v4 = mappedIpv4(address);
  return v4 !== null ? REFUSED.check(v4, 'ipv4') : REFUSED.check(address, 'ipv6');
}

export type Lookup = (host: string) => Promise<string[]>;
const systemLookup: Lookup = async (host) => (await dnsLookup(host, { all: true })).map((a) => a.address);

/**
 * Why `url` may not receive webhooks, or null. A name that does not resolve now is not refused here (the
 * request will fail and be retried, and checked again).
 */
export async function webhookTargetProblem(
  url: string,
  allowPrivate: boolean,
  lookup: Lookup = systemLookup,
): Promise<string | null> {
  if (allowPrivate || !URL.canParse(url)) return null;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const refused = (address: string) =>
    `the webhook URL points to ${address === host ? '' : `${host}, which is `}${address}: this machine, a link-local or the metadata address; set WEBHOOK_ALLOW_PRIVATE=true to allow it`;
  if (host === 'localhost' || host.endsWith('.localhost')) return refused(host);
  let addresses: string[];
  if (net.isIP(host)) addresses = [host];
  else {
    try {
      addresses = await lookup(host);
    } catch {
      return null;
    }
  }
  const bad = addresses.find(isRefusedAddress);
  return bad === undefined ? null : refused(bad);
}
