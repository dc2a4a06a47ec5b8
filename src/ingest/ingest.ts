// Text → `events` record batches, streaming: the input read (gzip, stdin), its format sniffed, then
// every line through the LineProcessor (line-processor.ts: fast path, the ohm grammar for the lines
// it rejects, and the line accounting); a trace.dat or perf.data goes to binary/.
import { InputError } from './errors.js';
import { DEFAULT_CHUNK_BYTES, forEachLine, readText, type SourceInfo } from './source.js';
import { isBinaryFormat, sniffBinary, sniffFormat, type BinaryFormat, type GrepPrefix, type TextFormat } from './sniff.js';
import { ingestBinary } from './binary/ingest-binary.js';
import { BinaryFormatError, FileSource, MemorySource, type ByteSource } from './binary/bytes.js';
import { LineProcessor } from './line-processor.js';
import type { IngestOptions, IngestResult, KernelInfo } from './ingest-result.js';

export type { Anomaly, IngestOptions, IngestResult, KernelInfo, SkipExample } from './ingest-result.js';
export { InputError };

const SNIFF_BYTES = 64 * 1024;

/** A copy of `b` with every CR turned into LF. */
function crToLf(b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let i = out.indexOf(13); i >= 0; i = out.indexOf(13, i + 1)) out[i] = 10;
  return out;
}

/** Ingests one trace; batches go to `opts.onBatch` as they fill. */
export async function ingest(path: string, opts: IngestOptions = {}): Promise<IngestResult> {
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const source: SourceInfo = { compressed: false, bytesIn: 0, bytesText: 0 };
  const chunks = readText(path, chunkBytes, source, opts.stream);

  // sniff from the first 64 KiB of text, then replay those chunks into the line splitter
  const buffered: Buffer[] = [];
  let bufferedBytes = 0;
  let readError: Error | null = null;
  try {
    // a given format needs no sniffing: one chunk (a live stream must not wait for 64 KiB)
    const sniffBytes = opts.format ? 1 : SNIFF_BYTES;
    while (bufferedBytes < sniffBytes) {
      const r = await chunks.next();
      if (r.done) break;
      buffered.push(r.value);
      bufferedBytes += r.value.length;
    }
  } catch (err) {
    readError = err as Error;
  }
  if (readError && bufferedBytes === 0) throw new InputError(path, describeReadError(readError));
  const binary = opts.format ? (isBinaryFormat(opts.format) ? opts.format : undefined) : sniffBinary(Buffer.concat(buffered));
  if (binary) return readBinary(path, binary, source, buffered, readError, chunks, opts);
  let format: TextFormat;
  let formatReason: string;
  let grep: GrepPrefix | null = null;
  // text pasted with CR-only line ends (classic Mac): every CR ends a line
  const head = Buffer.concat(buffered);
  const crOnly = head.includes(13) && !head.includes(10);
  if (crOnly) buffered.splice(0, buffered.length, ...buffered.map(crToLf));
  if (opts.format) {
    format = opts.format as TextFormat;
    formatReason = 'given with --input-format';
  } else {
    const sniff = sniffFormat(Buffer.concat(buffered).toString('utf8'));
    if (!sniff.ok) throw new InputError(path, bufferedBytes === 0 ? 'empty input (0 bytes)' : sniff.message);
    format = sniff.format;
    formatReason = sniff.reason;
    grep = sniff.grep;
  }

  const r = new LineProcessor(format, opts, grep);
  let truncated: string | null = null;
  if (crOnly) r.ctx.hint('line-ends', 'CR-only line ends: each CR ends a line');
  async function* all(): AsyncGenerator<Buffer> {
    yield* buffered;
    if (readError) throw readError;
    if (!crOnly) yield* chunks;
    else for await (const c of chunks) yield crToLf(c);
  }
  try {
    await forEachLine(all(), r.onLine, async () => {
      if (opts.batchEachChunk) r.cut();
      for (const b of r.drain()) await opts.onBatch?.(b);
      opts.onProgress?.(source.bytesIn);
    }, r.onOverlong);
  } catch (err) {
    truncated = describeReadError(err as Error);
  }
  r.finish();
  for (const b of r.drain()) await opts.onBatch?.(b);
  return r.result(path, formatReason, source, truncated);
}

/**
 * The kernel hints of the first 64 KiB of a text trace, for what must be known before the replay
 * starts; none for stdin, binary or unreadable input (the ingest itself reports those).
 */
export async function peekHints(path: string): Promise<KernelInfo['hints']> {
  if (path === '-') return {};
  const parts: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of readText(path, SNIFF_BYTES, { compressed: false, bytesIn: 0, bytesText: 0 })) {
      parts.push(chunk);
      bytes += chunk.length;
      if (bytes >= SNIFF_BYTES) break;
    }
    const head = Buffer.concat(parts);
    if (sniffBinary(head)) return {};
    const whole = head.subarray(0, head.lastIndexOf(10) + 1);
    // small batches: a full one allocates its 64 Ki rows of every column for 64 KiB of text
    return (await ingest(path, { stream: (async function* () { yield whole; })(), batchRows: 1024 })).kernel.hints;
  } catch {
    return {};
  }
}

/**
 * A trace.dat or perf.data: a plain file is read by offset, stdin or a .gz is decompressed into
 * memory first (its records are read by offset). A .gz that ends early is read as far as it goes.
 */
async function readBinary(path: string, format: BinaryFormat, source: SourceInfo, buffered: Buffer[], readError: Error | null,
  chunks: AsyncGenerator<Buffer>, opts: IngestOptions): Promise<IngestResult> {
  let src: ByteSource;
  let cut: string | null = readError ? describeReadError(readError) : null;
  if (!source.compressed && path !== '-') {
    await chunks.return(undefined);
    src = new FileSource(path);
    source.bytesIn = source.bytesText = src.size;
  } else {
    const all = [...buffered];
    try {
      if (!readError) for await (const b of chunks) all.push(b);
    } catch (err) {
      cut = describeReadError(err as Error);
    }
    src = new MemorySource(Buffer.concat(all));
  }
  try {
    const r = await ingestBinary(path, src, format, source, opts);
    if (cut !== null) r.truncated = r.truncated ? `${cut}; ${r.truncated}` : cut;
    return r;
  } catch (err) {
    src.close();
    if (err instanceof BinaryFormatError) throw new InputError(path, `${format}: ${cut ? `${cut}; ` : ''}${err.message}`);
    throw err;
  }
}

function describeReadError(err: Error & { code?: string }): string {
  if (err.code === 'ENOENT') return 'no such file';
  if (err.code === 'EISDIR') return 'is a directory';
  if (err.code === 'EACCES') return 'permission denied';
  if (err.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(err.message)) return 'gzip data is truncated (unexpected end of file)';
  if (err.code?.startsWith('Z_')) return `gzip data is corrupt (${err.message})`;
  return err.message;
}
