/**
 * The agent's reconnection to the broker (agent/link.ts): its own backoff through mqtt.js's public
 * reconnect(), against a real socket that drops every connection as a broker going away does.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import pino from 'pino';
import { BrokerLink } from '../../agent/link';
import { loadAgentConfig } from '../../config';

test('each failed attempt waits longer (doubling with jitter, capped), and stop() ends the attempts', async (t) => {
  const attempts: number[] = [];
  const server = net.createServer((socket) => {
    attempts.push(Date.now());
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as net.AddressInfo).port;
  const config = loadAgentConfig({}, { mqttUrl: `mqtt://127.0.0.1:${port}`, reconnectMinMs: 50, reconnectMaxMs: 400 });
  const link = new BrokerLink(config, pino({ level: 'silent' }));
  link.start(() => Promise.resolve(), { state: 'online' });
  const deadline = Date.now() + 10_000;
  while (attempts.length < 7 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await link.stop();
  const count = attempts.length;
  assert.ok(count >= 7, `${count} attempts`);
  const gaps = attempts.slice(1).map((at, i) => at - attempts[i]!);
  // Attempt n waits in [base/2, base], base = min(400, 50 * 2^n): 25-50, 50-100, 100-200, 200-400, then 200-400 (never below 50).
  const bounds: Array<[number, number]> = [
    [50, 50],
    [50, 100],
    [100, 200],
    [200, 400],
    [200, 400],
    [200, 400],
  ];
  gaps.slice(0, bounds.length).forEach((gap, i) => {
    const [low, high] = bounds[i]!;
    assert.ok(
      gap >= low - 10 && gap <= high + 150,
      `attempt ${i + 2} came ${gap} ms after the one before (expected ${low}-${high})`,
    );
  });
  await new Promise((resolve) => setTimeout(resolve, 600));
  assert.equal(attempts.length, count, 'no attempt after stop()');
});
