/** A network printer on raw TCP (port 9100, "JetDirect"). */
import net from 'node:net';
import { type PrinterConnection, type PrinterTransport, PrinterUnavailableError, withTimeout } from './transport';

/** How long close() waits for the printer to close its side; some printers never do, and then no news is good news. */
const CLOSE_GRACE_MS = 2000;

export class TcpPrinter implements PrinterTransport {
  readonly description: string;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs: number,
  ) {
    this.description = `tcp://${host}:${port}`;
  }

  async open(): Promise<PrinterConnection> {
    const socket = net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    let failure: Error | null = null;
    socket.on('error', (err) => {
      failure = err;
    });
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        }),
        this.timeoutMs,
        `connecting to ${this.description}`,
      );
    } catch (err) {
      socket.destroy();
      throw new PrinterUnavailableError(`cannot reach the printer at ${this.description}: ${(err as Error).message}`, { cause: err });
    }
    const timeoutMs = this.timeoutMs;
    const description = this.description;
    return {
      write(bytes: Buffer) {
        return withTimeout(
          new Promise<void>((resolve, reject) => {
            if (failure) return reject(failure);
            socket.write(bytes, (err) => (err ? reject(err) : resolve()));
          }),
          timeoutMs,
          `writing to ${description}`,
        );
      },
      // Our FIN goes out, then we wait for the printer's answer: a printer that took everything closes
      // its side; one that lost power or gave up mid-receipt resets the connection, which is the only
      // sign that bytes the socket accepted did not all reach the paper.
      close() {
        return new Promise<void>((resolve, reject) => {
          if (failure) return reject(failure);
          if (socket.closed) return resolve();
          const grace = setTimeout(() => resolve(), Math.min(timeoutMs, CLOSE_GRACE_MS));
          socket.once('close', () => {
            clearTimeout(grace);
            if (failure) reject(failure);
            else resolve();
          });
          socket.end();
        }).finally(() => socket.destroy());
      },
    };
  }
}
