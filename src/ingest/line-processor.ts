// The per-line state machine of a text ingest: each line goes to exactly one bucket (event, header,
// annotation, grep separator, stack frame, blank, lost-event mark, or a skip with its reason), and
// the values that cannot be right (time steps back, numbers too big for their column) are counted.
import type { RecordBatch } from 'apache-arrow';
import { EventBatchBuilder, DEFAULT_BATCH_ROWS } from './batch.js';
import { C, EVENT_COLUMNS } from './schema.js';
import { DecodeContext } from './context.js';
import { EventRowWriter } from './event-row.js';
import { LineHead, SCANNERS, type Dialect } from './head.js';
import { MAX_LINE_BYTES, type SourceInfo } from './source.js';
import { afterGrepPrefix, FORMAT_DIALECT, type GrepPrefix, type TextFormat } from './sniff.js';
import { formatSeconds } from './numbers.js';
import { parseLineSlow, writeRecord } from './slow-path.js';
import { ROLE_LAYOUTS } from './role.js';
import { emptyRecordHeader, readRecordLine, RECORD_PREFIX, type RecordHeader } from './record-header.js';
import type { Anomaly, IngestOptions, IngestResult, SkipExample } from './ingest-result.js';

const MAX_SKIP_EXAMPLES = 20;

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

/** Per-line state machine of one ingest. */
export class LineProcessor {
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
