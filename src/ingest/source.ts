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

/**
 * Calls `onLine` for every line of the chunks (without its '\n'); `text` is shared by the lines of
 * one chunk. A last line without a newline is delivered too; the return value says whether there was one.
 */
export async function forEachLine(
  chunks: AsyncIterable<Buffer>,
  onLine: LineSink,
  afterChunk?: () => Promise<void>,
): Promise<{ lastLineUnterminated: boolean }> {
  let carry: Buffer | null = null;
  for await (const chunk of chunks) {
    const nl = chunk.lastIndexOf(10);
    if (nl < 0) {
      carry = carry ? Buffer.concat([carry, chunk]) : Buffer.from(chunk);
      continue;
    }
    const body: Buffer = carry ? Buffer.concat([carry, chunk.subarray(0, nl + 1)]) : chunk.subarray(0, nl + 1);
    carry = nl + 1 < chunk.length ? Buffer.from(chunk.subarray(nl + 1)) : null;
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
  if (carry && carry.length > 0) {
    const text = carry.toString('utf8');
    onLine(text, 0, text.length);
    return { lastLineUnterminated: true };
  }
  return { lastLineUnterminated: false };
}
