// Bytes of a binary trace: a source that reads any range (a file by positional reads, or memory
// for stdin and .gz input), and a bounds-checked cursor that names the file offset where data ends
// or makes no sense.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Data that ends early or does not hold what the format says, at a file offset. */
export class BinaryFormatError extends Error {
  constructor(readonly offset: number, readonly kind: 'truncated' | 'corrupt', detail: string) {
    super(`${detail} at byte offset ${offset}`);
  }
}

export function truncated(offset: number, what: string): BinaryFormatError {
  return new BinaryFormatError(offset, 'truncated', `file ends inside ${what}`);
}

export function corrupt(offset: number, what: string): BinaryFormatError {
  return new BinaryFormatError(offset, 'corrupt', what);
}

export interface ByteSource {
  readonly size: number;
  /** `length` bytes at `offset`; a range past the end is a truncated error naming `what`. */
  read(offset: number, length: number, what: string): Buffer;
  /** Bytes read from the file so far (for a progress bar), or null when it was read whole beforehand. */
  progress(): number | null;
  close(): void;
}

export class MemorySource implements ByteSource {
  constructor(private readonly buf: Buffer) {}

  get size(): number {
    return this.buf.length;
  }

  read(offset: number, length: number, what: string): Buffer {
    if (offset < 0 || length < 0 || offset + length > this.buf.length) throw truncated(Math.min(Math.max(offset, 0), this.buf.length), what);
    return this.buf.subarray(offset, offset + length);
  }

  progress(): null {
    return null;
  }

  close(): void {}
}

/** A file read by offset, so a big trace is never held whole. */
export class FileSource implements ByteSource {
  private readonly fd: number;
  readonly size: number;
  private bytesRead = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }

  read(offset: number, length: number, what: string): Buffer {
    if (offset < 0 || length < 0 || offset + length > this.size) throw truncated(Math.min(Math.max(offset, 0), this.size), what);
    const b = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, b, got, length - got, offset + got);
      if (n === 0) throw truncated(offset + got, what);
      got += n;
    }
    this.bytesRead += length;
    return b;
  }

  progress(): number {
    return Math.min(this.bytesRead, this.size);
  }

  close(): void {
    closeSync(this.fd);
  }
}


/** A cursor over a buffer that sits at file offset `base`. */
export class Reader {
  pos = 0;

  constructor(readonly buf: Buffer, readonly base: number, public little = true, readonly what = 'the file header') {}

  get offset(): number {
    return this.base + this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw truncated(this.base + this.buf.length, this.what);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.little ? this.buf.readUInt16LE(this.pos) : this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.little ? this.buf.readUInt32LE(this.pos) : this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    this.need(8);
    const v = this.little ? this.buf.readBigUInt64LE(this.pos) : this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A 64-bit size or offset, which must fit a JS number. */
  u64n(): number {
    const at = this.offset;
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(at, `size or offset ${v} out of range`);
    return Number(v);
  }

  bytes(n: number): Buffer {
    if (n < 0) throw corrupt(this.offset, `negative length ${n}`);
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** A NUL-terminated string. */
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw truncated(this.base + this.buf.length, this.what);
    const s = this.buf.toString('latin1', this.pos, end);
    this.pos = end + 1;
    return s;
  }
}

/** Reads an unsigned or sign-extended integer of 1, 2, 4 or 8 bytes as a bigint. */
export function readInt(buf: Buffer, at: number, size: number, signed: boolean, little: boolean): bigint {
  switch (size) {
    case 1: return BigInt(signed ? buf.readInt8(at) : buf[at]!);
    case 2: return BigInt(signed ? (little ? buf.readInt16LE(at) : buf.readInt16BE(at)) : (little ? buf.readUInt16LE(at) : buf.readUInt16BE(at)));
    case 4: return BigInt(signed ? (little ? buf.readInt32LE(at) : buf.readInt32BE(at)) : (little ? buf.readUInt32LE(at) : buf.readUInt32BE(at)));
    case 8: return signed ? (little ? buf.readBigInt64LE(at) : buf.readBigInt64BE(at)) : (little ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at));
    default: throw new RangeError(`integer of ${size} bytes`);
  }
}

/** The two 32-bit halves of a value's 64-bit two's complement, for RowWriter.u64. */
export function halves(v: bigint): { hi: number; lo: number } {
  const u = BigInt.asUintN(64, v);
  return { hi: Number(u >> 32n), lo: Number(u & 0xffffffffn) };
}
