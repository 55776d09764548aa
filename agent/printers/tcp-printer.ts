/** A network printer on raw TCP (port 9100, "JetDirect"). */
import net from 'node:net';
import { askStatus, isStatusByte, STATUS_ANSWER_TIMEOUT_MS, statusRequest } from './status';
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

  /**
   * Whether the printer answered the last status question (asked just before each job): then each receipt
   * ends with DLE EOT 1, and only its answer confirms it. The printer reads its input in order, so an answer
   * means it read every byte before the request; a printer that hung up first never answers. Closing its
   * side is no such proof: a printer that closed before the receipt's bytes arrived looks, to the system,
   * the same as one that closed after reading them (its reset comes after its FIN, and is not reported).
   */
  private answersStatus = false;

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
    /** The printer's FIN came before ours: it hung up, whatever it read (switched off, or its idle timeout). */
    let hungUp = false;
    let ending = false;
    /** The printer's FIN came after ours: it closed its side once it had read the receipt to its end. */
    let closedItsSide = false;
    socket.on('error', (err) => {
      failure = err;
    });
    socket.on('end', () => {
      if (ending) closedItsSide = true;
      else hungUp = true;
    });
    // Anything the printer says on a printing connection (automatic status back) is not ours to read,
    // but for the answer to the status request that ends a receipt (close()).
    socket.resume();
    const timeoutMs = this.timeoutMs;
    const description = this.description;
    const graceMs = Math.min(timeoutMs, this.closeGraceMs);
    const closesItsSide = () => this.closesItsSide;
    const sawClose = () => (this.closesItsSide = true);
    const answersStatus = () => this.answersStatus;
    const hungUpError = () => new Error(`${description} closed the connection before it confirmed the receipt`);
    return {
      write(bytes: Buffer) {
        return withTimeout(
          new Promise<void>((resolve, reject) => {
            if (failure) return reject(failure);
            if (hungUp || socket.closed) return reject(hungUpError());
            socket.write(bytes, (err) => (err ? reject(err) : resolve()));
          }),
          timeoutMs,
          `writing to ${description}`,
        );
      },
      // A printer that answers status requests is asked DLE EOT 1 after the receipt, and its answer is the
      // confirmation (answersStatus). Any other printer: our FIN goes out, then we wait for its answer: a
      // printer that took everything closes its side; one that lost power or gave up mid-receipt resets the
      // connection. A printer known to close its side that does not within the printer timeout may have
      // lost the bytes too (closesItsSide). Either way, a printer that hung up before our FIN confirmed nothing.
      async close() {
        // One turn of the event loop with a poll in it, so that a FIN already received is seen as such
        // (on loopback, a printer that hung up before our last write has its FIN here by now).
        await new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));
        return new Promise<void>((resolve, reject) => {
          if (failure) return reject(failure);
          if (hungUp || socket.closed) return reject(hungUpError());
          const asks = answersStatus();
          const known = closesItsSide();
          const wait = setTimeout(
            () =>
              asks
                ? reject(
                    new Error(
                      `${description} did not answer the status request after the receipt within ${timeoutMs} ms`,
                    ),
                  )
                : known
                  ? reject(
                      new Error(
                        `${description} did not confirm it took the receipt within ${timeoutMs} ms (it closes its side after each receipt, not this time)`,
                      ),
                    )
                  : resolve(),
            asks || known ? timeoutMs : graceMs,
          );
          if (asks)
            socket.on('data', (chunk: Buffer) => {
              if (!chunk.some((b) => isStatusByte(b))) return; // automatic status back, not the answer
              clearTimeout(wait);
              resolve();
            });
          socket.once('close', () => {
            clearTimeout(wait);
            if (failure) return reject(failure);
            if (asks) return reject(hungUpError());
            if (!closedItsSide) return; // our own destroy, once settled
            sawClose();
            resolve();
          });
          ending = true;
          if (asks) socket.end(statusRequest(1));
          else socket.end();
        }).finally(() => socket.destroy());
      },
    };
  }

  async queryStatus(): Promise<StatusReport> {
    let socket: net.Socket;
    try {
      socket = await this.connect();
    } catch (err) {
      this.answersStatus = false;
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
      const report = await askStatus(async (n) => {
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
      this.answersStatus = report.condition !== 'unknown';
      return report;
    } finally {
      socket.destroy();
    }
  }
}
