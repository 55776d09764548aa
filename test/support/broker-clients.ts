/**
 * Clients of the test server's broker that the broker's access and hardening tests share: a CONNECT whose
 * refusal code is wanted, and mosquitto_pub run to its end.
 */
import type { TestContext } from 'node:test';
import mqtt from 'mqtt';
import { runToEnd } from './child-programs';
import { mqttCredentials, type MqttIdentity, type TestServer } from './harness';

/** Who mosquitto_pub connects as: a test account, credentials given as they are, or nobody. */
export type MosquittoAs = MqttIdentity | { username: string; password: string } | null;

/** Host, port and credentials of `as` for mosquitto_sub or mosquitto_pub, to add the rest to. */
export function mosquittoArgs(server: TestServer, as: MosquittoAs): string[] {
  const args = ['-h', '127.0.0.1', '-p', String(server.mqttPort)];
  if (as) {
    const { username, password } = typeof as === 'object' && 'username' in as ? as : mqttCredentials(server, as);
    args.push('-u', username, '-P', password);
  }
  return args;
}

/** `mosquitto_pub -q <qos, 1 unless said> [-r] -t topic -m message` as `as` on `server`, run to its end. */
export function mosquittoPub(
  t: TestContext,
  server: TestServer,
  as: MosquittoAs,
  topic: string,
  message: string,
  options: { retain?: boolean; qos?: 0 | 1 | 2 } = {},
) {
  return runToEnd(t, 'mosquitto_pub', [
    ...mosquittoArgs(server, as),
    '-q',
    String(options.qos ?? 1),
    ...(options.retain ? ['-r'] : []),
    '-t',
    topic,
    '-m',
    message,
  ]);
}

/** The CONNACK return code of a refused CONNECT (mqtt.js rejects with it), or undefined when accepted (then ended). */
export async function connackRefusal(server: TestServer, options: mqtt.IClientOptions): Promise<number | undefined> {
  const client = mqtt.connect(server.tcpUrl, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    return undefined;
  } catch (err) {
    return (err as { code?: number }).code;
  } finally {
    await client.endAsync(true);
  }
}
