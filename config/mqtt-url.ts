/**
 * A broker URL as mqtt.js connection options, parsed here with Node's URL parser. Handed a URL string,
 * mqtt.js calls the legacy `url.parse`, whose deprecation warning (DEP0170) prints an unusual URL whole,
 * password included; given options, it never does. Credentials are percent-decoded (`%23` is `#`).
 */
import type { IClientOptions } from 'mqtt';

const DEFAULT_PORTS: Record<string, number> = { mqtt: 1883, tcp: 1883, mqtts: 8883, ssl: 8883, ws: 80, wss: 443 };

export function mqttConnectOptions(brokerUrl: string, options: IClientOptions = {}): IClientOptions {
  if (!URL.canParse(brokerUrl))
    throw new Error('the broker URL is not a valid URL (percent-encode reserved characters of the password, # as %23)');
  const url = new URL(brokerUrl);
  const protocol = url.protocol.replace(/:$/, '') as NonNullable<IClientOptions['protocol']>;
  const websocket = protocol === 'ws' || protocol === 'wss';
  const parsed: IClientOptions = {
    protocol,
    // TCP wants an IPv6 address bare; a WebSocket URL (rebuilt by mqtt.js) with its brackets.
    hostname: websocket ? url.hostname : url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : Object.hasOwn(DEFAULT_PORTS, protocol) ? DEFAULT_PORTS[protocol] : undefined,
    ...(websocket ? { path: `${url.pathname}${url.search}` } : {}),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
  // What the caller sets wins, except where it is left undefined.
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return { ...parsed, ...given };
}
