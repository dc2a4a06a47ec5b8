// Text → `events` record batches, streaming. Fast path: the per-dialect head scanner and the
// payload decoders; lines it rejects go to the ohm grammar (slow path), which parses them or
// explains why not. Every line ends up counted: as an event, a header/annotation line, a stack
// frame, a lost-events marker, or a skip with its reason.
import type { RecordBatch } from 'apache-arrow';
import { InputError } from './errors.js';
import { EventBatchBuilder, DEFAULT_BATCH_ROWS } from './batch.js';
import { C, EVENT_COLUMNS } from './schema.js';
import { DecodeContext } from './context.js';
import { EventRowWriter } from './event-row.js';
import { LineHead, SCANNERS, type Dialect } from './head.js';
import { DEFAULT_CHUNK_BYTES, forEachLine, MAX_LINE_BYTES, readText, type SourceInfo } from './source.js';
import { afterGrepPrefix, FORMAT_DIALECT, isBinaryFormat, sniffBinary, sniffFormat, type BinaryFormat, type Format, type GrepPrefix, type TextFormat } from './sniff.js';
import { ingestBinary } from './binary/ingest-binary.js';
import { BinaryFormatError, FileSource, MemorySource, type ByteSource } from './binary/bytes.js';
import { formatSeconds } from './numbers.js';
import { parseLineSlow, writeRecord } from './slow-path.js';
import { ROLE_LAYOUTS, type RoleLayoutName } from './role.js';
import { emptyRecordHeader, readRecordLine, RECORD_PREFIX, type RecordHeader } from './record-header.js';

export interface IngestOptions {
  chunkBytes?: number;
  batchRows?: number;
  /** Skip sniffing. */
  format?: Format;
  /** Role layout to decode raw role words with, instead of inferring it. */
  roleLayout?: RoleLayoutName;
  /** Called with each full batch, in order. */
  onBatch?: (batch: RecordBatch) => void | Promise<void>;
  /** Read from this stream instead of the file `path` names (live tracing); `path` names it in messages. */
  stream?: AsyncIterable<Buffer>;
  /** Hand over the rows of every chunk at once, not only full batches (live: findings as events arrive). */
  batchEachChunk?: boolean;
  /** Called after each chunk with the input bytes read so far (the compressed size of a .gz). */
  onProgress?: (bytesIn: number) => void;
}

export interface SkipExample {
  line: number;
  /** 1-based column where the grammar stopped matching, when known. */
  column: number | null;
  reason: string;
  message: string;
}

/** Values the trace holds that cannot be right as they stand: counted, located, never silent. */
export interface Anomaly {
  /** `time-backwards`: an event stamped before the one above it; `value-out-of-range`: a number its column cannot hold (kept null). */
  kind: 'time-backwards' | 'value-out-of-range';
  count: number;
  firstLine: number;
  /** The first case, with its values. */
  message: string;
}

export interface KernelInfo {
  roleLayout: RoleLayoutName;
  roleLayoutKernels: string;
  roleLayoutSource: 'option' | 'text' | 'default';
  hints: Record<string, { value: string; line: number }>;
}

export interface IngestResult {
  path: string;
  format: Format;
  formatReason: string;
  source: SourceInfo;
  lines: number;
  events: number;
  headerLines: number;
  blankLines: number;
  annotations: number;
  /** grep's `--` lines between context groups. */
  grepSeparators: number;
  stackFrames: number;
  skippedLines: number;
  /** Loss counts the trace states that cannot be true (damage): shown, never added to lostEvents. */
  suspectCounts: string[];
  /** Events the header's entries-in-buffer counts that the file does not hold (cut or filtered), else 0. */
  missingFromFile: number;
  skippedByReason: Record<string, number>;
  skipExamples: SkipExample[];
  anomalies: Anomaly[];
  /** Events the tracer says it lost: header B−A plus LOST/DROPPED markers. */
  lostEvents: number;
  lostFromHeader: number | null;
  lostMarkers: number;
  /** entries-in-buffer / entries-written, when the header has them. */
  entries: { inBuffer: number; written: number } | null;
  /** #P: (ftrace) or cpus= (trace-cmd). */
  headerCpus: number | null;
  clock: 'ns' | 'counter';
  firstTs: string | null;
  lastTs: string | null;
  /** Events whose payload no decoder variant matched (kept with their raw payload), by name. */
  undecodedEvents: Record<string, number>;
  crlfLines: number;
  /** Set when the input ended early (e.g. a truncated .gz): the message says how. */
  truncated: string | null;
  kernel: KernelInfo;
  /** What `mmu-trace record` wrote around the trace (command, kernel, KVM parameters), when it made it. */
  recorded: RecordHeader | null;
}

export { InputError };

const MAX_SKIP_EXAMPLES = 20;
const SNIFF_BYTES = 64 * 1024;

const ENTRIES_RE = /^# entries-in-buffer\/entries-written: (\d+)\/(\d+)\s+#P:(\d+)/;
// trace-cmd prefixes an instance's lines with its name and prints "[EVENTS DROPPED]" when the count was not stored
const LOST_RE = /^(?:[^\s:]+: )?CPU:(\d+) \[(?:LOST (\d+) EVENTS|LOST EVENTS|(\d+) EVENTS DROPPED|EVENTS DROPPED)\]$/;
/** 2^48 events: more than any ring buffer writes in a trace's life (a header saying more is damaged). */
const MAX_PLAUSIBLE_COUNT = 2 ** 48;
/** One LOST mark counts one overrun of one CPU's buffer: beyond 2^32 it is a damaged line. */
const MAX_PLAUSIBLE_LOST = 2 ** 32;
const ANNOTATION_RE = /^##### CPU \d+ buffer started ####$/;

/** Offset of the first NUL or U+FFFD (an invalid UTF-8 sequence, decoded) in `s` from `from`; Infinity if none. */
function firstBadChar(s: string, from: number): number {
  const nul = s.indexOf('\0', from);
  const bad = s.indexOf('\ufffd', from);
  return nul < 0 ? (bad < 0 ? Infinity : bad) : bad < 0 ? nul : Math.min(nul, bad);
}

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
    return (await ingest(path, { stream: (async function* () { yield whole; })() })).kernel.hints;
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

/** Per-line state machine of one ingest. */
class LineProcessor {
  readonly builder: EventBatchBuilder;
  readonly ctx: DecodeContext;
  private readonly dialect: Dialect;
  private readonly scan: (s: string, a: number, e: number, h: LineHead) => boolean;
  private readonly head = new LineHead();
  private readonly rows: EventRowWriter;
  private flagsHinted = false;
  private readonly ready: RecordBatch[] = [];
  private line = 0;
  private events = 0;
  private headerLines = 0;
  private blankLines = 0;
  private annotations = 0;
  private grepSeparators = 0;
  private stackFrames = 0;
  private skipped = 0;
  private readonly skippedByReason: Record<string, number> = {};
  private readonly skipExamples: SkipExample[] = [];
  private readonly suspects: string[] = [];
  private readonly anomalies = new Map<Anomaly['kind'], Anomaly>();
  /** builder.outOfRange as of the last row checked. */
  private outOfRangeSeen = 0;
  private lostMarkers = 0;
  private lostFromMarkers = 0;
  private entries: { inBuffer: number; written: number } | null = null;
  private headerCpus: number | null = null;
  private clock: 'ns' | 'counter' = 'ns';
  private tsDigits = 6;
  private first: bigint | null = null;
  private lastHi = 0;
  private lastLo = 0;
  private readonly undecoded: Record<string, number> = {};
  private crlf = 0;
  private recorded: RecordHeader | null = null;
  /** Frames of a `<stack trace>` row still being collected. */
  private stack: string[] | null = null;
  /** The chunk text `nextBad` indexes: the offset of its next NUL or U+FFFD (Infinity: none). */
  private badIn = '';
  private nextBad = Infinity;

  constructor(readonly format: TextFormat, opts: IngestOptions, private readonly grep: GrepPrefix | null) {
    this.builder = new EventBatchBuilder(opts.batchRows ?? DEFAULT_BATCH_ROWS);
    this.ctx = opts.roleLayout ? new DecodeContext(ROLE_LAYOUTS[opts.roleLayout], 'option') : new DecodeContext();
    this.dialect = FORMAT_DIALECT[format];
    this.scan = SCANNERS[this.dialect];
    this.rows = new EventRowWriter(this.dialect, this.ctx);
    if (grep) {
      const what = [grep.file !== null ? `the file name '${grep.file}'` : '', grep.numbered ? 'the line number' : ''].filter(Boolean).join(' and ');
      this.ctx.hint('grep', `grep output: ${what} grep put before each line set aside (the line column counts this file's lines)`);
    }
  }

  readonly onLine = (s: string, a: number, e: number, unterminated = false): void => {
    this.line++;
    if (e > a && s.charCodeAt(e - 1) === 13) {
      e--;
      this.crlf++;
    }
    if (e - a > MAX_LINE_BYTES) {
      this.overlong(e - a);
      return;
    }
    if (s !== this.badIn) {
      this.badIn = s;
      this.nextBad = firstBadChar(s, 0);
    }
    if (this.nextBad < e) {
      // a NUL or an invalid UTF-8 sequence (decoded as U+FFFD): a damaged line, not a trace line
      this.nextBad = firstBadChar(s, e);
      if (this.stack !== null) this.closeStack();
      this.skip('binary bytes in line', 'NUL or invalid UTF-8 bytes in the line');
      return;
    }
    if (this.grep !== null) a = afterGrepPrefix(this.grep, s, a, e);
    const c0 = s.charCodeAt(a);
    if (this.stack !== null) {
      if (c0 === 32 && s.startsWith(' => ', a)) {
        this.stack.push(s.slice(a + 4, e));
        this.stackFrames++;
        return;
      }
      this.closeStack();
    }
    if (a === e) {
      this.blankLines++;
      return;
    }
    if (c0 === 35) {
      this.headerLine(s.slice(a, e));
      return;
    }
    if (c0 === 45 && e - a === 2 && s.charCodeAt(a + 1) === 45) {
      this.grepSeparators++;
      return;
    }
    if (unterminated) {
      // a kernel trace ends every line: the input was cut in this one, maybe mid-number (gfn 1c6 of 1c6be)
      this.skip('truncated last line (no newline)', 'the input ends inside this line: its values may be cut, so it is not read');
      return;
    }
    if (this.scan(s, a, e, this.head)) {
      this.event(s, e);
      return;
    }
    const text = s.slice(a, e);
    if ((c0 === 67 || this.dialect === 'trace-cmd') && this.lostLine(text)) return;
    // trace-cmd report's header lines, wherever an excerpt or a concatenation puts them
    if (/^cpus=\d+$/.test(text)) {
      this.headerCpus ??= Number(text.slice(5));
      this.headerLines++;
      return;
    }
    if (/^CPU \d+ is empty$/.test(text)) {
      this.headerLines++;
      return;
    }
    if (this.line === 1 && /^version = \d+$/.test(text)) {
      this.headerLines++;
      return;
    }
    this.slowLine(text);
  };

  /** A line longer than MAX_LINE_BYTES (forEachLine drops those it would have to hold whole). */
  readonly onOverlong = (bytes: number): void => {
    this.line++;
    this.overlong(bytes);
  };

  private overlong(bytes: number): void {
    if (this.stack !== null) this.closeStack();
    this.skip('overlong line', `a line of ${bytes} bytes (more than ${MAX_LINE_BYTES}): not a kernel trace line`);
  }

  private headerLine(text: string): void {
    if (ANNOTATION_RE.test(text)) {
      this.annotations++;
      return;
    }
    this.headerLines++;
    if (text.startsWith(RECORD_PREFIX)) {
      readRecordLine(text, (this.recorded ??= emptyRecordHeader()));
      return;
    }
    const m = ENTRIES_RE.exec(text);
    if (m) {
      this.entries = { inBuffer: Number(m[1]), written: Number(m[2]) };
      this.headerCpus = Number(m[3]);
      const { inBuffer, written } = this.entries;
      if (written > MAX_PLAUSIBLE_COUNT || written < inBuffer) {
        this.suspect(`header entries-in-buffer/entries-written ${m[1]}/${m[2]} (line ${this.line}): ${written < inBuffer ? 'fewer written than kept' : 'more events than a ring buffer ever writes'}`);
      }
    }
  }

  /** `CPU:N [LOST M EVENTS]`, `CPU:N [LOST EVENTS]` (ftrace), `[inst: ]CPU:N [[M ]EVENTS DROPPED]` (trace-cmd). */
  private lostLine(text: string): boolean {
    const m = LOST_RE.exec(text);
    if (!m) return false;
    const b = this.builder;
    this.lostMarkers++;
    b.u64(C.line, Math.floor(this.line / 2 ** 32), this.line >>> 0);
    // no timestamp of its own: it sits between the events around it
    b.u64(C.ts_ns, this.lastHi, this.lastLo);
    b.int(C.cpu, Number(m[1]));
    b.str(C.grp, 'ftrace');
    b.str(C.event, 'lost_events');
    const count = m[2] ?? m[3];
    if (count !== undefined && Number(count) > MAX_PLAUSIBLE_LOST) {
      this.suspect(`${text} (line ${this.line}): more than 2^32 at once`);
    } else if (count !== undefined) {
      this.lostFromMarkers += Number(count);
      b.u64(C.lost, Math.floor(Number(count) / 2 ** 32), Number(count) >>> 0);
    }
    this.commit();
    return true;
  }

  private event(s: string, e: number): void {
    const h = this.head;
    this.events++;
    if (this.first === null) {
      this.first = (BigInt(h.ts.hi) << 32n) | BigInt(h.ts.lo);
      this.clock = h.ts.isCounter ? 'counter' : 'ns';
      this.tsDigits = h.ts.fracDigits;
    }
    this.stepTime(h.ts.hi, h.ts.lo);
    if (h.flagsStart >= 0 && !this.flagsHinted) {
      const n = h.flagsEnd - h.flagsStart;
      this.ctx.line = this.line;
      this.ctx.hint('irq-flags', `${n}-character irq-info flags (${n >= 5 ? 'v6.1+: with migrate-disable' : '<=5.x: no migrate-disable'})`);
      this.flagsHinted = true;
    }
    const { name, outcome } = this.rows.write(h, s, e, this.line, this.builder);
    if (outcome === 'stack') {
      this.stack = [];
      return;
    }
    if (outcome === 'undecoded') this.undecoded[name] = (this.undecoded[name] ?? 0) + 1;
    this.commit();
  }

  /** Moves the last timestamp to hi:lo, noting a step backwards (a concatenation, a clock jump). */
  private stepTime(hi: number, lo: number): void {
    if (hi < this.lastHi || (hi === this.lastHi && lo < this.lastLo)) {
      const ts = (h: number, l: number): string => this.formatTs((BigInt(h) << 32n) | BigInt(l));
      this.anomaly('time-backwards', `line ${this.line} is stamped ${ts(hi, lo)}, before the ${ts(this.lastHi, this.lastLo)} above it: the span and the latencies around it are not a duration`);
    }
    this.lastHi = hi;
    this.lastLo = lo;
  }

  private formatTs(v: bigint): string {
    return this.clock === 'counter' ? v.toString() : formatSeconds(v, this.tsDigits);
  }

  private anomaly(kind: Anomaly['kind'], message: string): void {
    const a = this.anomalies.get(kind);
    if (a) a.count++;
    else this.anomalies.set(kind, { kind, count: 1, firstLine: this.line, message });
  }

  private closeStack(): void {
    const frames = this.stack!;
    this.stack = null;
    this.builder.str(C.payload, frames.join('\n'));
    this.commit();
  }

  private commit(): void {
    const b = this.builder;
    if (b.outOfRange !== this.outOfRangeSeen) {
      this.outOfRangeSeen = b.outOfRange;
      const { col, value } = b.lastOutOfRange;
      this.anomaly('value-out-of-range', `line ${this.line}: ${EVENT_COLUMNS[col]!.name} ${value} does not fit its column (${EVENT_COLUMNS[col]!.kind}): kept as null`);
    }
    this.builder.commitRow();
    if (this.builder.full) this.ready.push(this.builder.finish());
  }

  /** A line the fast path rejected: the grammar either parses it or says why not. */
  private slowLine(text: string): void {
    const r = parseLineSlow(this.dialect, text, this.ctx);
    if (r.ok) {
      this.events++;
      const ts = r.record.ts_ns;
      if (typeof ts === 'bigint') this.stepTime(Number(ts >> 32n), Number(ts & 0xffffffffn));
      writeRecord(this.builder, r.record, this.line);
      this.commit();
      return;
    }
    let reason = 'unparseable line';
    if (this.line === 1 && this.format === 'trace_pipe') reason = 'partial first line (trace_pipe read started mid-line)';
    else if (this.otherDialect(text)) reason = 'line of another trace format';
    this.skip(reason, r.message, r.column);
  }

  private otherDialect(text: string): boolean {
    return (Object.keys(SCANNERS) as Dialect[]).some((d) => d !== this.dialect && SCANNERS[d](text, 0, text.length, this.head));
  }

  private suspect(what: string): void {
    if (this.suspects.length < MAX_SKIP_EXAMPLES) this.suspects.push(what);
  }

  private skip(reason: string, message: string, column?: number): void {
    this.skipped++;
    this.skippedByReason[reason] = (this.skippedByReason[reason] ?? 0) + 1;
    if (this.skipExamples.length < MAX_SKIP_EXAMPLES) {
      this.skipExamples.push({ line: this.line, column: column ?? null, reason, message });
    }
  }

  finish(): void {
    if (this.stack !== null) this.closeStack();
    if (this.builder.row > 0) this.ready.push(this.builder.finish());
  }

  /** Ends the batch being filled here (not inside a stack trace's rows, which go on in the next chunk). */
  cut(): void {
    if (this.stack === null && this.builder.row > 0) this.ready.push(this.builder.finish());
  }

  /** Batches completed since the last call. */
  drain(): RecordBatch[] {
    return this.ready.splice(0);
  }

  result(path: string, formatReason: string, source: SourceInfo, truncated: string | null): IngestResult {
    const last = this.first !== null ? (BigInt(this.lastHi) << 32n) | BigInt(this.lastLo) : null;
    const fmt = (v: bigint | null): string | null => (v === null ? null : this.formatTs(v));
    const e = this.entries;
    const lostFromHeader = e && e.written <= MAX_PLAUSIBLE_COUNT && e.written >= e.inBuffer ? e.written - e.inBuffer : null;
    return {
      path,
      format: this.format,
      formatReason,
      source,
      lines: this.line,
      events: this.events,
      headerLines: this.headerLines,
      blankLines: this.blankLines,
      annotations: this.annotations,
      grepSeparators: this.grepSeparators,
      stackFrames: this.stackFrames,
      skippedLines: this.skipped,
      suspectCounts: this.suspects,
      // entries-in-buffer counts every entry the file was made from, stack traces and function lines too
      missingFromFile: e && lostFromHeader !== null ? Math.max(0, e.inBuffer - this.events) : 0,
      skippedByReason: this.skippedByReason,
      skipExamples: this.skipExamples,
      anomalies: [...this.anomalies.values()],
      // a trace file states its losses in the header, a recording in its trailer; trace_pipe and
      // trace-cmd only in markers
      lostEvents: Math.max(lostFromHeader ?? 0, this.recorded?.lost ?? 0, this.lostFromMarkers),
      lostFromHeader,
      lostMarkers: this.lostMarkers,
      entries: this.entries,
      headerCpus: this.headerCpus,
      clock: this.clock,
      firstTs: fmt(this.first),
      lastTs: fmt(last),
      undecodedEvents: this.undecoded,
      crlfLines: this.crlf,
      truncated,
      kernel: {
        roleLayout: this.ctx.layout.name,
        roleLayoutKernels: this.ctx.layout.kernels,
        roleLayoutSource: this.ctx.layoutSource,
        hints: Object.fromEntries(this.ctx.hints),
      },
      recorded: this.recorded,
    };
  }
}
