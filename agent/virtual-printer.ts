/**
 * A network receipt printer for development and tests: listens like a TCP 9100 printer, decodes each
 * receipt with the ESC/POS decoder, shows it as text, and answers DLE EOT status requests with a
 * condition that can be set (`paper-out`, `cover-open`, ...; `silent` answers nothing). For the fault
 * tests it can also be switched off and on (`stop()`, then `start()` on the same port) and lose power
 * mid-receipt (`failing`).
 */
import net from 'node:net';
import { VIRTUAL_CONDITIONS, type VirtualCondition } from '../config';
import { type DecodedReceipt, decodeEscPos } from './printers/escpos-decoder';
import { statusAnswers } from './printers/status';

export { VIRTUAL_CONDITIONS, type VirtualCondition };

export function isVirtualCondition(value: unknown): value is VirtualCondition {
  return typeof value === 'string' && (VIRTUAL_CONDITIONS as readonly string[]).includes(value);
}

export interface VirtualPrinterOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  condition?: VirtualCondition;
  /** Where receipts and events are shown, line by line (the console for people; nothing in tests). */
  show?: (text: string) => void;
}

const DLE = 0x10;
const EOT = 0x04;
const GS = 0x1d;

export class VirtualPrinter {
  condition: VirtualCondition;
  readonly receipts: DecodedReceipt[] = [];
  /** Every status request answered (or, when silent, ignored) so far. */
  statusRequests = 0;
  /** Receipt connections (1-based, in order) that take `failAfterBytes` bytes, then reset: power lost mid-receipt. */
  readonly failing = new Set<number>();
  failAfterBytes = 40;
  /** How many receipt connections failed that way. */
  failed = 0;
  /** Connections that sent receipt bytes (a status request on a connection of its own is not one). */
  receiptConnections = 0;
  private readonly paperBytes: Buffer[] = [];
  private server: net.Server | null = null;
  private boundPort: number | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly show: (text: string) => void;

  constructor(private readonly options: VirtualPrinterOptions = {}) {
    this.condition = options.condition ?? 'ok';
    this.show = options.show ?? (() => undefined);
  }

  /** The port it listens on (or listened on, while switched off). */
  get port(): number {
    if (this.boundPort === null) throw new Error('virtual printer is not listening');
    return this.boundPort;
  }

  /** Every byte that reached the paper, status requests left out, in the order they came. */
  paper(): Buffer {
    return Buffer.concat(this.paperBytes);
  }

  get url(): string {
    return `tcp://${this.options.host ?? '127.0.0.1'}:${this.port}`;
  }

  setCondition(condition: VirtualCondition): void {
    this.condition = condition;
    this.show(`[virtual printer] condition: ${condition}`);
  }

  /** Starts listening; started again after `stop()`, on the same port: a printer switched on again. */
  async start(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((socket) => this.serve(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort ?? this.options.port ?? 9100, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (server.address() as net.AddressInfo).port;
  }

  /** Stops listening and drops every connection: a printer switched off (connections are refused). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    let receipt = Buffer.alloc(0);
    let carry = Buffer.alloc(0);
    let connection = 0;
    let received = 0;
    socket.on('error', () => undefined);
    // Bytes are taken in the order they came: a status request is answered once every byte before it
    // reached the paper, and not at all after the power went mid-receipt (an answer confirms a receipt).
    const takeBytes = (kept: number[]): void => {
      if (!kept.length || socket.destroyed) return;
      if (!connection) connection = ++this.receiptConnections;
      let bytes = Buffer.from(kept);
      received += bytes.length;
      if (this.failing.has(connection) && received >= this.failAfterBytes) {
        bytes = bytes.subarray(0, Math.max(0, bytes.length - (received - this.failAfterBytes)));
        this.failed++;
        socket.resetAndDestroy();
      }
      this.paperBytes.push(bytes);
      receipt = Buffer.concat([receipt, bytes]);
      for (let end = cutEnd(receipt); end > 0; end = cutEnd(receipt)) {
        this.take(receipt.subarray(0, end));
        receipt = receipt.subarray(end);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      const data = Buffer.concat([carry, chunk]);
      carry = Buffer.alloc(0);
      let kept: number[] = [];
      for (let i = 0; i < data.length; i++) {
        if (data[i] === DLE && (i + 1 >= data.length || data[i + 1] === EOT)) {
          if (i + 2 >= data.length) {
            carry = data.subarray(i); // a request split across packets
            break;
          }
          takeBytes(kept);
          kept = [];
          if (socket.destroyed) return;
          this.answer(socket, data[i + 2]!);
          i += 2;
          continue;
        }
        kept.push(data[i]!);
      }
      takeBytes(kept);
    });
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (receipt.some((b) => b >= 0x20)) this.take(receipt); // a receipt without its cut: the connection broke
    });
  }

  private answer(socket: net.Socket, n: number): void {
    this.statusRequests++;
    if ((n === 1 || n === 2 || n === 4) && this.condition !== 'silent')
      socket.write(Buffer.from([statusAnswers(this.condition)[n]]));
  }

  private take(bytes: Buffer): void {
    const decoded = decodeEscPos(bytes);
    for (const receipt of decoded.receipts) {
      if (!receipt.lines.length && !receipt.cut) continue;
      this.receipts.push(receipt);
      const width = Math.max(0, ...receipt.lines.map((l) => [...l].length));
      this.show(
        [
          `┌── receipt ${this.receipts.length} (${receipt.codePage ?? 'no code page'}, ${width} columns${receipt.cut ? ', cut' : ', NOT cut'}) ──`,
          ...receipt.lines.map((l) => `│ ${l}`),
          `└──${decoded.unexpected.length ? ` unexpected bytes: ${decoded.unexpected.join(', ')}` : ''}`,
        ].join('\n'),
      );
    }
  }
}

/** Where the first complete cut (GS V 0/1/48/49, or GS V 65/66 n) ends, or 0. */
function cutEnd(bytes: Buffer): number {
  for (let i = bytes.indexOf(GS); i >= 0 && i + 2 < bytes.length; i = bytes.indexOf(GS, i + 1)) {
    if (bytes[i + 1] !== 0x56) continue;
    const m = bytes[i + 2]!;
    if (m === 65 || m === 66) return i + 3 < bytes.length ? i + 4 : 0;
    return i + 3;
  }
  return 0;
}
