// The slow path: lines the fast scanners (head.ts) reject are matched against the ohm grammars
// grammar/trace-line.ohm and grammar/payloads.ohm, the specification of the syntax. A line the
// grammar rejects gets ohm's message (what was expected, at which column). A line it accepts is
// one the fast path should have taken — differential.test.ts holds the two to the same lines —
// and its record is the one the fast path builds: the same columns, values read with the same
// helpers (numbers.ts, role.ts, the event catalog, raw-fields.ts's field table).
import { readFileSync } from 'node:fs';
import * as ohm from 'ohm-js';
import { C, COLUMN_INDEX, EVENT_COLUMNS } from './schema.js';
import { Cursor } from './cursor.js';
import { DecodeContext } from './context.js';
import { EVENT_CATALOG } from './decoders/index.js';
import { FAILED_TO_PARSE, decodeRawFields, rawFieldTarget, rawU64Hex } from './decoders/raw-fields.js';
import { pferrBits } from './decoders/mmu.js';
import { RecordWriter } from './event-row.js';
import { Timestamp, U64, parseDec64, parseHex64, parseHexSmall, parseInt32At, parseTimestamp } from './numbers.js';
import { SP_TEXT_LAYOUT, noteAccessString, writePluginRole, type SpTextVariant } from './decoders/shadow-page.js';
import type { Dialect } from './head.js';
import type { RowRecord, RowWriter } from './row.js';

export type SlowResult = { ok: true; record: RowRecord } | { ok: false; message: string; column?: number };

const LINE_RULE: Readonly<Record<Dialect, string>> = { ftrace: 'ftraceLine', 'trace-cmd': 'traceCmdLine', perf: 'perfLine' };

/** What the semantic actions of one line share. */
interface Run {
  readonly dialect: Dialect;
  readonly ctx: DecodeContext;
  readonly w: RecordWriter;
  /** The event whose payload is read (raw fields map to columns by event). */
  event: string;
  /** perf's `group:` text, which takes precedence over the catalog's group. */
  grp?: string;
}

/** A token the grammar matched whose value the decoders would not take (out of range). */
class Mismatch extends Error {
  readonly column: number;

  constructor(node: ohm.Node, expected: string) {
    super(`Expected ${expected}`);
    this.column = node.source.startIdx + 1;
  }
}

/** Guest PTE bytes by the text that shows them: a byte width, cr4_pae, or 2.6.3x's glevels (2, 3, 4). */
const GPTE_BYTES: Readonly<Record<string, number>> = { ' 8-byte': 8, ' 4-byte': 4, ' pae': 8, '': 4, 2: 4, 3: 8, 4: 8 };
/** The grammar's shadow-page text rules, by the variant names of shadow-page.ts. */
const SP_RULE_VARIANT: Readonly<Record<string, SpTextVariant>> = {
  sp_v5_4: 'v5.4+', sp_v5_1: 'v5.1-5.3', sp_v4_x: 'v4.x', sp_v4_19: 'v4.19',
};

let loaded: { g: ohm.Grammar; sem: ohm.Semantics } | undefined;

/** The grammars, read once from the repo's grammar/ folder (this file runs from dist/src/ingest/). */
function grammar(): { g: ohm.Grammar; sem: ohm.Semantics } {
  if (loaded) return loaded;
  const read = (name: string): string => readFileSync(new URL(`../../../grammar/${name}`, import.meta.url), 'utf8');
  const g = ohm.grammars(read('payloads.ohm'), ohm.grammars(read('trace-line.ohm'))).Payloads!;
  for (const event of EVENT_CATALOG.keys()) {
    if (!(event in g.rules)) throw new Error(`grammar/payloads.ohm has no rule for ${event}, which the catalog decodes`);
  }
  loaded = { g, sem: semantics(g) };
  return loaded;
}

function u64(node: ohm.Node, parse: (s: string, i: number, out: U64) => boolean, expected: string): U64 {
  const v = new U64();
  if (!parse(node.sourceString, 0, v)) throw new Mismatch(node, expected);
  return v;
}

function small(node: ohm.Node, parse: (s: string, i: number, scan: { end: number }) => number, expected: string): number {
  const v = parse(node.sourceString, 0, { end: 0 });
  if (Number.isNaN(v)) throw new Mismatch(node, expected);
  return v;
}

/** Digits as head.ts reads pids, tgids and CPUs. */
function decimal(digits: string): number {
  let v = 0;
  for (const ch of digits) v = v * 10 + (ch.charCodeAt(0) - 48);
  return v;
}

/** The shadow-page generation word, read as far as it is a number (Number.parseInt), as shadow-page.ts does. */
function generation(node: ohm.Node, radix: 10 | 16): number {
  const v = Number.parseInt(node.sourceString, radix);
  if (!Number.isFinite(v)) throw new Mismatch(node, radix === 10 ? 'a decimal generation' : 'a hex generation');
  return v;
}

/** Writes a column rule's value by the column's kind; bool rules are `_yes`/`_no` cases or a number. */
function writeColumn(node: ohm.Node, col: number, w: RecordWriter): void {
  const kind = EVENT_COLUMNS[col]!.kind;
  if (kind === 'dict' || kind === 'utf8') return w.str(col, node.sourceString);
  const child = node.child(0);
  if (kind === 'bool') {
    const yes = `${node.ctorName}_yes`;
    w.bool(col, child.ctorName === yes || (child.ctorName !== `${node.ctorName}_no` && child.value() !== 0));
    return;
  }
  const v: number | U64 = child.value();
  if (kind !== 'u64') w.int(col, v as number);
  else if (typeof v === 'number') w.u64(col, Math.floor(v / 2 ** 32), v >>> 0);
  else w.u64(col, v.hi, v.lo);
}

/** Event name, group and payload columns, as EventRowWriter.write does after the head. */
function decodeEvent(name: string, text: string, run: Run): void {
  const spec = EVENT_CATALOG.get(name);
  const grp = run.grp ?? spec?.grp;
  if (grp !== undefined) run.w.str(C.grp, grp);
  run.w.str(C.event, name);
  run.event = name;
  if (spec === undefined || !(decodePayload(name, text, run) || decodePayload('rawFields', text, run))) {
    run.w.str(C.payload, text);
  }
}

/** Matches the payload with one rule; its columns go into the row only if every value is in range. */
function decodePayload(rule: string, text: string, run: Run): boolean {
  const { g, sem } = grammar();
  const m = g.match(text, rule);
  if (m.failed()) return false;
  const part: Run = { ...run, w: new RecordWriter() };
  try {
    sem(m).fill(part);
  } catch (err) {
    if (err instanceof Mismatch) return false;
    throw err;
  }
  Object.assign(run.w.record, part.w.record);
  return true;
}

/** Whether raw-fields.ts maps `field` of `event` to a u64 column. */
function isU64Field(event: string, field: string): boolean {
  return rawFieldTarget(event, field)?.kind === 'u64';
}

/** The value of one `name=value` field (rawField node) as raw-fields.ts reads it. */
function rawValue(field: ohm.Node, run: Run, u64Hex: boolean): bigint {
  const value = field.child(2);
  const form = value.child(0);
  let v: U64 | number;
  if (u64Hex && form.ctorName !== 'rawValue_hex' && isU64Field(run.event, field.child(0).sourceString)) {
    if (grammar().g.match(value.sourceString, 'bareHex').failed()) throw new Mismatch(value, 'a bare hex value');
    v = u64(value, parseHex64, 'a hex number of at most 16 significant digits');
  } else if (form.ctorName === 'rawValue_bareHex') {
    throw new Mismatch(value, 'a decimal value');
  } else {
    v = form.value();
  }
  return typeof v === 'number' ? BigInt(v) : (BigInt(v.hi) << 32n) | BigInt(v.lo);
}

function semantics(g: ohm.Grammar): ohm.Semantics {
  const sem = g.createSemantics();

  // number tokens, read with the decoders' own parsers so values and limits are theirs
  sem.addOperation<number | U64>('value', {
    digits(_d) {
      return decimal(this.sourceString);
    },
    int(_sign, _d) {
      return small(this, parseInt32At, 'a decimal number of at most 15 digits');
    },
    xint(_h) {
      return small(this, parseHexSmall, 'a hex number of at most 13 digits');
    },
    hex(_h) {
      return u64(this, parseHex64, 'a hex number of at most 16 significant digits');
    },
    dec(_d) {
      return u64(this, parseDec64, 'a decimal number below 2^64');
    },
    genDec(_w) {
      return generation(this, 10);
    },
    genHex(_w) {
      return generation(this, 16);
    },
    pferrFlags(_list) {
      return pferrBits(this.sourceString);
    },
    rawValue_hex(_0x, _digits, _echo, _end) {
      return u64(this, parseHex64, 'a hex number of at most 16 significant digits');
    },
    rawValue_dec(_quote, num, _end) {
      return num.value();
    },
    parenNum(_open, num, _close) {
      return num.value();
    },
    rawNum_neg(_minus, int) {
      // a negative signed value: its 64-bit two's complement
      const v: number = int.value();
      if (v > 0xffffffff) throw new Mismatch(this, 'a negative number that fits 32 bits');
      const out = new U64();
      out.hi = v === 0 ? 0 : 0xffffffff;
      out.lo = -v >>> 0;
      return out;
    },
  });

  // writes the columns of the matched text into run.w
  sem.addOperation<void>('fill(run)', {
    _nonterminal(...children) {
      const run: Run = this.args.run;
      const col = COLUMN_INDEX.get(this.ctorName);
      if (col !== undefined) return writeColumn(this, col, run.w);
      const variant = SP_RULE_VARIANT[this.ctorName];
      const layout = variant === undefined ? null : SP_TEXT_LAYOUT[variant];
      if (layout !== null) run.ctx.layoutSeen(layout);
      for (const child of children) child.fill(run);
    },
    _iter(...children) {
      for (const child of children) child.fill(this.args.run);
    },
    _terminal() {},
    timestamp(_sec, _dot, _frac) {
      const ts = new Timestamp();
      if (!parseTimestamp(this.sourceString, 0, ts, new U64())) {
        throw new Mismatch(this, 'a timestamp: seconds below 2^32 with 1-9 decimals, or a counter below 2^64');
      }
      this.args.run.w.u64(C.ts_ns, ts.hi, ts.lo);
    },
    unattributed(_minus, _zeros, _first, _rest) {
      this.args.run.w.int(C.pid, -decimal(this.sourceString.slice(1)));
    },
    group(_text) {
      this.args.run.grp = this.sourceString;
    },
    stackTrace(_text, _end) {
      this.args.run.w.str(C.grp, 'ftrace');
      this.args.run.w.str(C.event, 'kernel_stack');
    },
    unknownType(_text, _rest) {
      // ftrace prints "UNKNOWN TYPE n" for events it has no output function for
      this.args.run.w.str(C.event, 'unknown');
      this.args.run.w.str(C.payload, this.sourceString);
    },
    functionCall(_func, _arrow, _caller, _end) {
      decodeEvent('function', this.sourceString, this.args.run);
    },
    namedEvent(name, _colon, _next, _space, _pad, text) {
      decodeEvent(name.sourceString, text.sourceString, this.args.run);
    },
    printEvent(_print, _spaces, symbol, text) {
      const name = symbol.child(0).children.find((c) => c.ctorName === 'printName')!;
      decodeEvent(name.sourceString, text.sourceString, this.args.run);
    },
    access(_a, _b, _c, _d) {
      const run: Run = this.args.run;
      run.w.str(C.access, this.sourceString);
      noteAccessString(run.ctx, this.sourceString);
    },
    gpte_bytes(_text) {
      this.args.run.w.int(C.gpte_bytes, GPTE_BYTES[this.sourceString]!);
    },
    pluginRole(level, _q, quadrant, direct, _s1, access, invalid, _s2, notPae, _pae, notNx, _nxe, notWp, _wp, smep, smap, smm,
      _root, rootCount, _s3, unsync, _end) {
      const run: Run = this.args.run;
      const on = (n: ohm.Node): boolean => n.numChildren > 0;
      const role = {
        level: level.value() as number, quadrant: quadrant.value() as number, direct: on(direct),
        access: access.sourceString, invalid: on(invalid), pae: !on(notPae), nxe: !on(notNx), wp: !on(notWp),
        smep: on(smep), smap: on(smap), smm: on(smm),
      };
      if (!writePluginRole(run.w, role, run.ctx)) throw new Mismatch(this, 'a role the 4.x union can hold (level <= 15, quadrant <= 3)');
      rootCount.fill(run);
      unsync.fill(run);
    },
    rawFields(_start, prefix, fields, _ends, _end) {
      const run: Run = this.args.run;
      // trace-cmd report -R prints most 64-bit fields as bare hex; [FAILED TO PARSE] and the other dialects do not
      const u64Hex = run.dialect === 'trace-cmd' && prefix.numChildren === 0 && rawU64Hex(run.event);
      // the field → column table is raw-fields.ts's: hand it the values as plain decimals
      const text = FAILED_TO_PARSE + fields.children.map((f) => `${f.child(0).sourceString}=${rawValue(f, run, u64Hex)}`).join(' ');
      decodeRawFields(run.event, new Cursor().reset(text, 0, text.length), run.w, run.ctx);
      // fields without a column keep the payload text, as printed
      if (run.w.record.payload !== undefined) run.w.str(C.payload, this.sourceString);
    },
  });
  return sem;
}

/**
 * Parses one line with the grammar: the record the fast path would build for it (with `line: 1n`),
 * or why the line is not one — ohm's expected-text message and the 1-based column.
 */
export function parseLineSlow(dialect: Dialect, text: string, ctx = new DecodeContext()): SlowResult {
  const { g, sem } = grammar();
  const m = g.match(text, LINE_RULE[dialect]);
  if (m.failed()) return { ok: false, message: `Expected ${m.getExpectedText()}`, column: m.getRightmostFailurePosition() + 1 };
  const w = new RecordWriter();
  w.u64(C.line, 0, 1);
  try {
    sem(m).fill({ dialect, ctx, w, event: '' } satisfies Run);
  } catch (err) {
    if (err instanceof Mismatch) return { ok: false, message: err.message, column: err.column };
    throw err;
  }
  return { ok: true, record: w.record };
}

/** Writes a slow-path record into a row, by column kind; `line` replaces the record's line. */
export function writeRecord(w: RowWriter, record: RowRecord, line: number): void {
  for (const [name, v] of Object.entries(record)) {
    const col = COLUMN_INDEX.get(name)!;
    const kind = EVENT_COLUMNS[col]!.kind;
    if (kind === 'u64') w.u64(col, Number(BigInt(v) >> 32n), Number(BigInt(v) & 0xffffffffn));
    else if (kind === 'bool') w.bool(col, v as boolean);
    else if (kind === 'dict' || kind === 'utf8') w.str(col, v as string);
    else w.int(col, v as number);
  }
  w.u64(C.line, Math.floor(line / 2 ** 32), line >>> 0);
}
