/** The bench's one HTTP client call (bench/run.ts, bench/http-cost.ts): `node:http` on a keep-alive agent, loopback. */
import http from 'node:http';

/** `method route` with `body` as JSON, on `agent`; resolves with the status and the body's text. */
export function request(
  agent: http.Agent,
  port: number,
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: route,
        agent,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
