// One scanned line → one event row: header columns from the LineHead, then the payload through
// the event's decoder, falling back to raw `name=value` fields, then to the raw payload text.
// Shared by the streaming ingest (writing Arrow) and the tests (writing plain records).
import { C, EVENT_COLUMNS } from './schema.js';
import { Cursor } from './cursor.js';
import { DecodeContext } from './context.js';
import { EVENT_CATALOG } from './decoders/index.js';
import { decodeRawFields, looksLikeRawFields, rawU64Hex } from './decoders/raw-fields.js';
import { LineHead, SCANNERS, type Dialect } from './head.js';
import type { RowRecord, RowWriter } from './row.js';

export interface RowSink extends RowWriter {
  /** Forgets the values of columns `fromCol..` in the current row. */
  clearRow(fromCol: number): void;
}

/** How the payload was read. */
export type PayloadOutcome = 'decoded' | 'raw-fields' | 'undecoded' | 'no-decoder' | 'stack';

export class EventRowWriter {
  private readonly cursor = new Cursor();
  /** Recently seen event names, compared in place to avoid a substring per line. */
  private readonly names: string[] = [];

  constructor(readonly dialect: Dialect, readonly ctx: DecodeContext) {}

  private eventName(s: string, a: number, e: number): string {
    const len = e - a;
    const names = this.names;
    outer: for (let k = 0; k < names.length; k++) {
      const n = names[k]!;
      if (n.length !== len) continue;
      // compare from the end: event names share long prefixes (kvm_mmu_...)
      for (let j = len - 1; j >= 0; j--) if (n.charCodeAt(j) !== s.charCodeAt(a + j)) continue outer;
      return n;
    }
    const name = s.slice(a, e);
    if (names.length < 32) names.push(name);
    return name;
  }

  /**
   * Writes the row of the line whose head `h` describes (s[..e) is the line). A `stack` outcome
   * leaves the row open: its frames follow on the next lines and go into `payload`.
   */
  write(h: LineHead, s: string, e: number, line: number, w: RowSink): { name: string; outcome: PayloadOutcome } {
    this.ctx.line = line;
    w.u64(C.line, Math.floor(line / 2 ** 32), line >>> 0);
    w.u64(C.ts_ns, h.ts.hi, h.ts.lo);
    w.int(C.cpu, h.cpu);
    w.int(C.pid, h.pid);
    if (h.tgid >= 0) w.int(C.tgid, h.tgid);
    w.strSpan(C.comm, s, h.commStart, h.commEnd);
    if (h.flagsStart >= 0) w.strSpan(C.flags, s, h.flagsStart, h.flagsEnd);
    if (h.kind === 'stack') {
      w.str(C.grp, 'ftrace');
      w.str(C.event, 'kernel_stack');
      return { name: 'kernel_stack', outcome: 'stack' };
    }
    if (h.kind === 'unknown-type') {
      // ftrace prints "UNKNOWN TYPE n" for events it has no output function for
      w.str(C.event, 'unknown');
      w.str(C.payload, s.slice(h.payloadStart, e));
      return { name: 'unknown', outcome: 'no-decoder' };
    }
    let name = h.kind === 'function' ? 'function' : this.eventName(s, h.eventStart, h.eventEnd);
    let payloadStart = h.payloadStart;
    if (name === 'print' && this.dialect === 'trace-cmd') {
      // trace-cmd prints the ftrace print event as "print: <ip symbol>: <text>" (-R: "print: ip=<symbol> buf=<text>"),
      // ftrace as "<ip symbol>: <text>"
      const raw = s.startsWith('ip=', payloadStart);
      const sep = s.indexOf(raw ? ' buf=' : ': ', payloadStart);
      if (sep > 0 && sep < e) {
        name = s.slice(payloadStart + (raw ? 3 : 0), sep);
        payloadStart = sep + (raw ? 5 : 2);
      }
    }
    const spec = EVENT_CATALOG.get(name);
    if (h.grpStart >= 0) w.strSpan(C.grp, s, h.grpStart, h.grpEnd);
    else if (spec !== undefined) w.str(C.grp, spec.grp);
    w.str(C.event, name);
    const c = this.cursor.reset(s, payloadStart, e);
    if (spec === undefined) {
      w.str(C.payload, c.rest());
      return { name, outcome: 'no-decoder' };
    }
    if (spec.decode(c, w, this.ctx)) return { name, outcome: 'decoded' };
    w.clearRow(C.sp_gen);
    // trace-cmd report -R prints most 64-bit fields as bare hex; perf and the ftrace fields option do not
    const u64Hex = this.dialect === 'trace-cmd' && rawU64Hex(name);
    if (looksLikeRawFields(s, payloadStart, e) && decodeRawFields(name, c.reset(s, payloadStart, e), w, this.ctx, u64Hex)) {
      return { name, outcome: 'raw-fields' };
    }
    w.clearRow(C.sp_gen);
    w.str(C.payload, s.slice(payloadStart, e));
    return { name, outcome: 'undecoded' };
  }
}

/** A RowSink that collects one row as a plain record (u64 as bigint), for tests and the slow path. */
export class RecordWriter implements RowSink {
  record: RowRecord = {};

  u64(col: number, hi: number, lo: number): void {
    this.record[EVENT_COLUMNS[col]!.name] = (BigInt(hi) << 32n) | BigInt(lo);
  }

  int(col: number, v: number): void {
    this.record[EVENT_COLUMNS[col]!.name] = v;
  }

  bool(col: number, v: boolean): void {
    this.record[EVENT_COLUMNS[col]!.name] = v;
  }

  str(col: number, s: string): void {
    this.record[EVENT_COLUMNS[col]!.name] = s;
  }

  strSpan(col: number, text: string, a: number, e: number): void {
    this.str(col, text.slice(a, e));
  }

  clearRow(fromCol: number): void {
    for (let c = fromCol; c < EVENT_COLUMNS.length; c++) delete this.record[EVENT_COLUMNS[c]!.name];
  }
}

/**
 * The fast path on one line as a record, or null if the head scanner rejects it. Stack frames are
 * not part of the line, so a `<stack trace>` record has no payload.
 */
export function fastParseLine(dialect: Dialect, line: string, ctx = new DecodeContext()): RowRecord | null {
  const h = new LineHead();
  if (!SCANNERS[dialect](line, 0, line.length, h)) return null;
  const w = new RecordWriter();
  new EventRowWriter(dialect, ctx).write(h, line, line.length, 1, w);
  return w.record;
}
