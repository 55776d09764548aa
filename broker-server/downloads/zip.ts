/**
 * A .zip of a few files, stored (not compressed: an executable barely compresses, and storing lets a 73 MB
 * file stream from disk without being held in memory). Sizes and CRC-32 are known before each entry, so
 * every header is complete (no data descriptors) and any unzip, Windows' Explorer included, reads it.
 * PKWARE APPNOTE 6.3.x, sections 4.3.7 (local header), 4.3.12 (central directory), 4.3.16 (end record).
 */
import fs from 'node:fs';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';

export interface ZipEntry {
  /** Its name in the archive (no folder). */
  name: string;
  /** In memory, or a file streamed from disk with its size and CRC-32 known. */
  data: Buffer | { file: string; bytes: number; crc32: number };
  modified: Date;
}

const STORED = 0;
/** Bit 11: names are UTF-8. */
const UTF8 = 0x0800;
const VERSION = 20;
const MAX = 0xffff_ffff;

/** MS-DOS time and date (2-second resolution, local time, as zip readers expect). */
function dosTime(d: Date): { time: number; date: number } {
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
    date: ((Math.max(d.getFullYear(), 1980) - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

interface Described {
  name: Buffer;
  size: number;
  crc: number;
  time: number;
  date: number;
  offset: number;
}

export function zipSize(entries: readonly ZipEntry[]): number {
  let size = 22;
  for (const e of entries) {
    const name = Buffer.byteLength(e.name);
    const bytes = Buffer.isBuffer(e.data) ? e.data.length : e.data.bytes;
    size += 30 + name + bytes + 46 + name;
  }
  return size;
}

/** Writes the archive to `out` (an HTTP response), streaming files from disk. */
export async function writeZip(out: Writable, entries: readonly ZipEntry[]): Promise<void> {
  if (zipSize(entries) >= MAX) throw new Error('a zip of 4 GB or more needs ZIP64');
  const written: Described[] = [];
  let offset = 0;
  const write = (chunk: Buffer) =>
    new Promise<void>((resolve, reject) => {
      offset += chunk.length;
      if (out.write(chunk)) resolve();
      else {
        out.once('drain', resolve);
        out.once('error', reject);
      }
    });
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const size = Buffer.isBuffer(entry.data) ? entry.data.length : entry.data.bytes;
    const crc = Buffer.isBuffer(entry.data) ? zlib.crc32(entry.data) : entry.data.crc32;
    const { time, date } = dosTime(entry.modified);
    const described = { name, size, crc, time, date, offset };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(VERSION, 4);
    local.writeUInt16LE(UTF8, 6);
    local.writeUInt16LE(STORED, 8);
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(size, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    await write(Buffer.concat([local, name]));
    if (Buffer.isBuffer(entry.data)) await write(entry.data);
    else {
      await pipeline(fs.createReadStream(entry.data.file), out, { end: false });
      offset += size;
    }
    written.push(described);
  }
  const directoryStart = offset;
  for (const e of written) {
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | VERSION, 4); // made by: Unix
    central.writeUInt16LE(VERSION, 6);
    central.writeUInt16LE(UTF8, 8);
    central.writeUInt16LE(STORED, 10);
    central.writeUInt16LE(e.time, 12);
    central.writeUInt16LE(e.date, 14);
    central.writeUInt32LE(e.crc >>> 0, 16);
    central.writeUInt32LE(e.size, 20);
    central.writeUInt32LE(e.size, 24);
    central.writeUInt16LE(e.name.length, 28);
    // extra, comment, disk, internal attributes: 0; external: rw-r--r-- (rwxr-xr-x is not needed on Windows)
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38);
    central.writeUInt32LE(e.offset, 42);
    await write(Buffer.concat([central, e.name]));
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(written.length, 8);
  end.writeUInt16LE(written.length, 10);
  end.writeUInt32LE(offset - directoryStart, 12);
  end.writeUInt32LE(directoryStart, 16);
  await write(end);
  out.end();
}
