declare module 'escpos' {
  export interface Adapter {
    open(callback?: (error?: Error | null) => void): unknown;
    write(data: Buffer, callback?: (error?: Error | null) => void): unknown;
    close(callback?: (error?: Error | null) => void): unknown;
  }
  export class Printer {
    constructor(adapter: Adapter, options?: { encoding?: string });
    hardware(kind: 'init' | 'select' | 'reset'): this;
    print(content: Buffer | string): this;
    pureText(content: string, encoding?: string): this;
    text(content: string, encoding?: string): this;
    feed(lines?: number): this;
    cut(partial?: boolean, feed?: number): this;
    flush(callback?: (error?: Error | null) => void): this;
  }
  const escpos: { Printer: typeof Printer };
  export default escpos;
}
declare module 'escpos-usb' {
  import type { Adapter } from 'escpos';
  class USB implements Adapter {
    constructor(vid?: number, pid?: number);
    static findPrinter(): Array<{ deviceDescriptor: { idVendor: number; idProduct: number } }>;
    open(callback?: (error?: Error | null) => void): unknown;
    write(data: Buffer, callback?: (error?: Error | null) => void): unknown;
    close(callback?: (error?: Error | null) => void): unknown;
  }
  export default USB;
}
