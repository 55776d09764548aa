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

/** How long close() waits for the printer to close its side; some printers never do, and then no news is good news. */
const CLOSE_GRACE_MS = 2000;

export class TcpPrinter implements PrinterTransport {
  readonly description: string;
  readonly format = 'escpos';

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs: number,
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
