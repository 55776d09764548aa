/** A network printer on raw TCP (port 9100, "JetDirect"). */
import net from 'node:net';
import { askStatus, STATUS_ANSWER_TIMEOUT_MS, statusRequest } from './status';
import {
  type PrinterConnection,
  type PrinterTransport,
  PrinterUnavailableError,
  type StatusReport,
  withTimeout,
} from './transport';

/**
 * How long close() waits for a printer to close its side before it has been seen doing so: some printers
 * never do, and for them no news is good news.
 */
const CLOSE_GRACE_MS = 2000;

export class TcpPrinter implements PrinterTransport {
  readonly description: string;
  readonly format = 'escpos';

  /**
   * Whether this printer closes its side once it has read a receipt to its end (learned at each close). One
   * that does is waited for up to the printer timeout: a close that does not come then means the bytes the
   * system accepted may not have reached the printer (switched off, or too slow to say), so the job is not
   * `printed`. One never seen closing gets CLOSE_GRACE_MS, then is taken at its word.
   */
  private closesItsSide = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs: number,
    private readonly closeGraceMs = CLOSE_GRACE_MS,
  ) {
    this.description = `tcp://${host}:${port}`;
  }

  private async connect(): Promise<net.Socket> {
    const socket = net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
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
      throw new PrinterUnavailableError(`cannot reach the printer at ${this.description}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return socket;
  }

  async open(): Promise<PrinterConnection> {
    const socket = await this.connect();
    let failure: Error | null = null;
    socket.on('error', (err) => {
      failure = err;
    });
    // Anything the printer says on a printing connection (automatic status back) is not ours to read.
    socket.resume();
    const timeoutMs = this.timeoutMs;
    const description = this.description;
    const graceMs = Math.min(timeoutMs, this.closeGraceMs);
    const closesItsSide = () => this.closesItsSide;
    const sawClose = () => (this.closesItsSide = true);
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
      // sign that bytes the socket accepted did not all reach the paper. A printer known to close its side
      // that does not within the printer timeout may have lost them too (closesItsSide).
      close() {
        return new Promise<void>((resolve, reject) => {
          if (failure) return reject(failure);
          if (socket.closed) return resolve();
          const known = closesItsSide();
          const wait = setTimeout(
            () =>
              known
                ? reject(
                    new Error(
                      `${description} did not confirm it took the receipt within ${timeoutMs} ms (it closes its side after each receipt, not this time)`,
                    ),
                  )
                : resolve(),
            known ? timeoutMs : graceMs,
          );
          socket.once('close', () => {
            clearTimeout(wait);
            if (failure) return reject(failure);
            sawClose();
            resolve();
          });
          socket.end();
        }).finally(() => socket.destroy());
      },
    };
  }

  async queryStatus(): Promise<StatusReport> {
    let socket: net.Socket;
    try {
      socket = await this.connect();
    } catch (err) {
      return { condition: 'unavailable', detail: (err as Error).message };
    }
    socket.on('error', () => undefined);
    let received: number[] = [];
    let notify: (() => void) | null = null;
    socket.on('data', (chunk: Buffer) => {
      received.push(...chunk);
      notify?.();
    });
    try {
      return await askStatus(async (n) => {
        received = [];
        socket.write(statusRequest(n));
        const answered = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), STATUS_ANSWER_TIMEOUT_MS);
          notify = () => {
            clearTimeout(timer);
            resolve(true);
          };
          if (received.length) notify();
        });
        notify = null;
        return answered ? received[received.length - 1] : undefined;
      });
    } finally {
      socket.destroy();
    }
  }
}
