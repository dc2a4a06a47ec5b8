// Input bytes: a file or stdin ('-'), gunzipped when its first bytes are the gzip magic (the file
// name does not matter), cut into text lines without ever holding the whole input in one string.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

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
  const text: AsyncIterable<Buffer> = info.compressed
    ? Readable.from(counted).pipe(createGunzip({ chunkSize: Math.max(64, chunkBytes) }))
    : counted;
  for await (const b of text) {
    info.bytesText += b.length;
    // a stream may hand over more than asked for; keep chunks bounded for the small-chunk test
    for (let i = 0; i < b.length; i += chunkBytes) yield b.subarray(i, Math.min(b.length, i + chunkBytes));
  }
}

export type LineSink = (text: string, start: number, end: number) => void;

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
 * one chunk. A last line without a newline is delivered too; the return value says whether there
 * was one. A line that grows past MAX_LINE_BYTES across chunks is dropped as it comes (memory stays
 * bounded) and reported to `onOverlong` with its length once it ends.
 */
export async function forEachLine(
  chunks: AsyncIterable<Buffer>,
  onLine: LineSink,
  afterChunk?: () => Promise<void>,
  onOverlong?: (bytes: number) => void,
): Promise<{ lastLineUnterminated: boolean }> {
  let carry: Buffer[] = [];
  let carryBytes = 0;
  /** Bytes of the overlong line being dropped; 0 when none. */
  let dropping = 0;
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
  if (dropping > 0) {
    onOverlong?.(dropping);
    return { lastLineUnterminated: true };
  }
  if (carryBytes > 0) {
    const text = Buffer.concat(carry).toString('utf8');
    onLine(text, 0, text.length);
    return { lastLineUnterminated: true };
  }
  return { lastLineUnterminated: false };
}
