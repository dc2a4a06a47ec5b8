// Input bytes: a file or stdin ('-'), gunzipped when its first bytes are the gzip magic (the file
// name does not matter), cut into text lines without ever holding the whole input in one string.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGunzip, createInflateRaw } from 'node:zlib';

export const DEFAULT_CHUNK_BYTES = 1 << 20;

export interface SourceInfo {
  compressed: boolean;
  /** Bytes read from the file or stdin (compressed size for .gz). */
  bytesIn: number;
  /** Bytes of text after decompression. */
  bytesText: number;
}

async function* prepend(first: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield first;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}

/** Decompressed pieces ahead of the consumer before gunzip is paused. */
const GUNZIP_AHEAD = 64;
/**
 * zlib's output piece: when gzip data fails its check (a bad CRC, trailing garbage), node drops the
 * piece being filled, so this bounds what a stream that cannot be read again (stdin) loses.
 */
const GUNZIP_CHUNK = 16 * 1024;

/** Length of the gzip member header at the start of `b` (RFC 1952 §2.3), or -1. */
function gzipHeaderLength(b: Buffer): number {
  if (b.length < 10 || b[0] !== 0x1f || b[1] !== 0x8b || b[2] !== 8) return -1;
  const flags = b[3]!;
  let i = 10;
  if (flags & 4) i = i + 2 <= b.length ? i + 2 + b.readUInt16LE(i) : Infinity; // FEXTRA
  for (const bit of [8, 16]) { // FNAME, FCOMMENT: zero-terminated
    if (!(flags & bit)) continue;
    const z = b.indexOf(0, i);
    i = z < 0 ? Infinity : z + 1;
  }
  if (flags & 2) i += 2; // FHCRC
  return i <= b.length ? i : -1;
}

/**
 * After a zlib error (a bad CRC, garbage after the member, a cut file): the file's first member
 * inflated again as raw deflate, which checks no CRC and takes what a cut stream holds, past the
 * `skip` bytes already read — what node's gunzip drops at the error (its last output piece) and
 * zcat keeps. Nothing for a later member (its bytes were read already).
 */
async function* recoverFirstMember(reopen: (start: number) => AsyncIterable<Buffer>, skip: number, chunkSize: number): AsyncGenerator<Buffer> {
  let head = Buffer.alloc(0);
  for await (const b of reopen(0)) {
    head = Buffer.concat([head, b]);
    if (head.length >= 64 * 1024) break;
  }
  const start = gzipHeaderLength(head);
  if (start < 0) return;
  const inflate = createInflateRaw({ chunkSize, finishFlush: constants.Z_SYNC_FLUSH });
  const out = pipeline(Readable.from(reopen(start)), inflate).catch(() => {});
  let seen = 0;
  try {
    for await (const b of inflate as AsyncIterable<Buffer>) {
      const from = Math.max(0, skip - seen);
      seen += b.length;
      if (from < b.length) yield b.subarray(from);
    }
  } catch {
    // as far as it goes
  }
  await out;
}

/**
 * The decompressed bytes of `input`. A stream's iterator drops what it decompressed ahead of a slow
 * consumer when it fails (a bad CRC, trailing garbage: up to the last MiB of good text zcat
 * recovers); here every byte decompressed before the error is yielded, then (a file, which can be
 * read again: `reopen`) what the first member holds beyond them, then the error is thrown.
 */
async function* gunzip(input: AsyncIterable<Buffer>, chunkSize: number, reopen?: (start: number) => AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const gz = createGunzip({ chunkSize });
  const queue: Buffer[] = [];
  let failure: Error | null = null;
  let ended = false;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  gz.on('data', (b: Buffer) => {
    queue.push(b);
    if (queue.length >= GUNZIP_AHEAD) gz.pause();
    notify();
  });
  gz.on('error', (e: Error) => {
    failure = e;
    notify();
  });
  gz.on('end', () => {
    ended = true;
    notify();
  });
  // its errors come through gz's 'error' (a read error of the input too)
  pipeline(Readable.from(input), gz).catch((e: Error) => {
    failure ??= e;
    notify();
  });
  let delivered = 0;
  try {
    for (;;) {
      if (queue.length > 0) {
        // the small pieces go on joined, as the consumer's chunks
        const b = Buffer.concat(queue.splice(0));
        gz.resume();
        delivered += b.length;
        yield b;
      } else if (failure) break;
      else if (ended) return;
      else await new Promise<void>((r) => (wake = r));
    }
  } finally {
    gz.destroy();
  }
  const err: Error & { code?: string } = failure!;
  if (reopen && err.code?.startsWith('Z_')) yield* recoverFirstMember(reopen, delivered, chunkSize);
  throw err;
}

/** Yields the input's text bytes in chunks of at most `chunkBytes`. */
export async function* readText(path: string, chunkBytes: number, info: SourceInfo, stream?: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const raw: AsyncIterable<Buffer> = stream ?? (path === '-' ? process.stdin : createReadStream(path, { highWaterMark: chunkBytes }));
  const it = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let first = await it.next();
  if (first.done) return;
  // a 64-byte chunk can end before the 2-byte magic is complete only for stdin; read on
  let head: Buffer = first.value;
  while (head.length < 2) {
    first = await it.next();
    if (first.done) break;
    head = Buffer.concat([head, first.value]);
  }
  info.compressed = head[0] === 0x1f && head[1] === 0x8b;
  const counted = (async function* () {
    for await (const b of prepend(head, it)) {
      info.bytesIn += b.length;
      yield b;
    }
  })();
  const reopen = stream === undefined && path !== '-' ? (start: number) => createReadStream(path, { start, highWaterMark: chunkBytes }) : undefined;
  const text: AsyncIterable<Buffer> = info.compressed ? gunzip(counted, Math.max(64, Math.min(chunkBytes, GUNZIP_CHUNK)), reopen) : counted;
  for await (const b of text) {
    info.bytesText += b.length;
    // a stream may hand over more than asked for; keep chunks bounded for the small-chunk test
    for (let i = 0; i < b.length; i += chunkBytes) yield b.subarray(i, Math.min(b.length, i + chunkBytes));
  }
}

/** `unterminated`: the input ends inside this line (no newline after it: cut, or a paste without one). */
export type LineSink = (text: string, start: number, end: number, unterminated?: boolean) => void;

/** A kernel trace line is < 4 KiB; a longer one than this is damage, skipped without being held. */
export const MAX_LINE_BYTES = 64 * 1024;
/** So many bytes without a line end (a zeroed tail, a gzip bomb) end the read: nothing after is trace text. */
export const MAX_UNREADABLE_BYTES = 256 * 1024 * 1024;

/** The input stopped at a run of bytes with no line end (InputError's truncated read). */
export class UnreadableRunError extends Error {
  constructor(bytes: number) {
    super(`${bytes} bytes without a line end (more than ${MAX_UNREADABLE_BYTES}): stopped reading there`);
  }
}

/**
 * Calls `onLine` for every line of the chunks (without its '\n'); `text` is shared by the lines of
 * one chunk. A last line without a newline is delivered too, marked unterminated, also when the
 * input fails there (a cut .gz; the error is rethrown after it). A line that grows past
 * MAX_LINE_BYTES across chunks is dropped as it comes (memory stays bounded) and reported to
 * `onOverlong` with its length once it ends.
 */
export async function forEachLine(
  chunks: AsyncIterable<Buffer>,
  onLine: LineSink,
  afterChunk?: () => Promise<void>,
  onOverlong?: (bytes: number) => void,
): Promise<void> {
  let carry: Buffer[] = [];
  let carryBytes = 0;
  /** Bytes of the overlong line being dropped; 0 when none. */
  let dropping = 0;
  const lastLine = (): void => {
    if (dropping > 0) onOverlong?.(dropping);
    else if (carryBytes > 0) {
      const text = Buffer.concat(carry).toString('utf8');
      onLine(text, 0, text.length, true);
    }
  };
  try {
    await splitChunks();
  } catch (err) {
    if (!(err instanceof UnreadableRunError)) lastLine();
    throw err;
  }
  lastLine();

  async function splitChunks(): Promise<void> {
    for await (const chunk of chunks) {
      let start = 0;
      if (dropping > 0) {
        const end = chunk.indexOf(10);
        if (end < 0) {
          dropping += chunk.length;
          if (dropping > MAX_UNREADABLE_BYTES) {
            onOverlong?.(dropping);
            throw new UnreadableRunError(dropping);
          }
          continue;
        }
        onOverlong?.(dropping + end);
        dropping = 0;
        start = end + 1;
      }
      const nl = chunk.lastIndexOf(10);
      if (nl < start) {
        if (start < chunk.length) {
          carry.push(Buffer.from(chunk.subarray(start)));
          carryBytes += chunk.length - start;
        }
        if (carryBytes > MAX_LINE_BYTES) {
          dropping = carryBytes;
          carry = [];
          carryBytes = 0;
        }
        continue;
      }
      const head = chunk.subarray(start, nl + 1);
      const body: Buffer = carryBytes > 0 ? Buffer.concat([...carry, head]) : head;
      carry = nl + 1 < chunk.length ? [Buffer.from(chunk.subarray(nl + 1))] : [];
      carryBytes = chunk.length - nl - 1;
      const text = body.toString('utf8');
      let a = 0;
      for (;;) {
        const e = text.indexOf('\n', a);
        if (e < 0) break;
        onLine(text, a, e);
        a = e + 1;
      }
      if (afterChunk) await afterChunk();
    }
  }
}
