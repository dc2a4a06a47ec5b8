// Builds the `events` table as Arrow record batches while streaming: fixed-capacity typed arrays
// per column, validity bitmaps, dictionaries shared by all batches of one ingest.
import {
  Bool, Data, Dictionary, Field, Int32, RecordBatch, Schema, Struct, Uint32, Uint64, Uint8, Utf8,
  makeData, vectorFromArray, type DataType, type Vector,
} from 'apache-arrow';
import { EVENT_COLUMNS, type ColumnKind } from './schema.js';
import type { RowWriter } from './row.js';

export const DEFAULT_BATCH_ROWS = 64 * 1024;

/**
 * Strings of one dictionary column, shared by every batch of an ingest. Each batch's dictionary
 * vector extends the previous one's chunks, so IPC writers emit delta dictionaries (the Arrow file
 * format allows no replacement dictionaries).
 */
class StringDictionary {
  readonly index = new Map<string, number>();
  readonly values: string[] = [];
  private vector: Vector<Utf8> | null = null;
  // values repeat from line to line (same task, same flags): the last two are compared in place
  // before a substring is made and hashed
  private last0 = '';
  private last0Id = -1;
  private last1 = '';
  private last1Id = -1;

  /** The dictionary vector covering every value so far. */
  toVector(): Vector<Utf8> {
    const have = this.vector?.length ?? 0;
    if (this.vector === null || have < this.values.length) {
      const added = vectorFromArray(this.values.slice(have), new Utf8());
      this.vector = this.vector === null ? added : this.vector.concat(added);
    }
    return this.vector;
  }

  id(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.values.length;
      // a copy: a substring would keep the whole chunk of trace text it was cut from alive
      const own = Buffer.from(s, 'utf8').toString('utf8');
      this.values.push(own);
      this.index.set(own, i);
    }
    return i;
  }

  /** Id of text[a..e) without making the substring when it is one of the last two values. */
  idOfSpan(text: string, a: number, e: number): number {
    if (this.last0Id >= 0 && sameSpan(this.last0, text, a, e)) return this.last0Id;
    const id = this.last1Id >= 0 && sameSpan(this.last1, text, a, e) ? this.last1Id : this.id(text.slice(a, e));
    this.last1 = this.last0;
    this.last1Id = this.last0Id;
    // the dictionary's own flat copy: comparing against a substring of a big chunk is slower
    this.last0 = this.values[id]!;
    this.last0Id = id;
    return id;
  }
}

function sameSpan(v: string, text: string, a: number, e: number): boolean {
  if (v.length !== e - a) return false;
  for (let k = 0; k < v.length; k++) if (v.charCodeAt(k) !== text.charCodeAt(a + k)) return false;
  return true;
}

function arrowType(kind: ColumnKind, dictId: number): DataType {
  switch (kind) {
    case 'u64': return new Uint64();
    case 'u32': return new Uint32();
    case 'i32': return new Int32();
    case 'u8': return new Uint8();
    case 'bool': return new Bool();
    case 'dict': return new Dictionary(new Utf8(), new Int32(), dictId);
    case 'utf8': return new Utf8();
  }
}

/** The Arrow schema of the `events` table. */
export function eventsSchema(metadata?: Map<string, string>): Schema {
  return new Schema(EVENT_COLUMNS.map((c, i) => new Field(c.name, arrowType(c.kind, i), true)), metadata);
}

type Values = Uint32Array | Int32Array | Uint8Array;

/** The values an int column holds (a typed array would wrap the others silently). */
const INT_RANGE: Partial<Record<ColumnKind, readonly [number, number]>> = {
  u32: [0, 2 ** 32 - 1], i32: [-(2 ** 31), 2 ** 31 - 1], u8: [0, 255],
};

/** A plain string column: most rows are null, so only the rows that have a value are kept. */
interface SparseStrings {
  rows: number[];
  texts: string[];
}

export class EventBatchBuilder implements RowWriter {
  readonly schema: Schema;
  /** Index of the row being written. */
  row = 0;
  private readonly kinds: ColumnKind[];
  private values: (Values | SparseStrings)[] = [];
  private validity: Uint8Array[] = [];
  private readonly dictionaries: (StringDictionary | null)[];
  private readonly structType: Struct;
  private readonly intMin: Float64Array;
  private readonly intMax: Float64Array;
  /** Values `int` refused (left null) because their column cannot hold them; the last of them. */
  outOfRange = 0;
  readonly lastOutOfRange = { col: -1, value: 0 };

  constructor(readonly capacity: number = DEFAULT_BATCH_ROWS) {
    this.kinds = EVENT_COLUMNS.map((c) => c.kind);
    this.intMin = Float64Array.from(this.kinds, (k) => INT_RANGE[k]?.[0] ?? -Infinity);
    this.intMax = Float64Array.from(this.kinds, (k) => INT_RANGE[k]?.[1] ?? Infinity);
    this.dictionaries = this.kinds.map((k) => (k === 'dict' ? new StringDictionary() : null));
    this.schema = eventsSchema();
    this.structType = new Struct(this.schema.fields);
    this.allocate();
  }

  private allocate(): void {
    const n = this.capacity;
    const bytes = (n + 7) >> 3;
    this.values = this.kinds.map((k) => {
      switch (k) {
        case 'u64': return new Uint32Array(2 * n);
        case 'u32': return new Uint32Array(n);
        case 'i32': case 'dict': return new Int32Array(n);
        case 'u8': return new Uint8Array(n);
        case 'bool': return new Uint8Array(bytes);
        case 'utf8': return { rows: [], texts: [] };
      }
    });
    this.validity = this.kinds.map(() => new Uint8Array(bytes));
    this.row = 0;
  }

  get full(): boolean {
    return this.row >= this.capacity;
  }

  private setValid(col: number): void {
    this.validity[col]![this.row >> 3]! |= 1 << (this.row & 7);
  }

  u64(col: number, hi: number, lo: number): void {
    const a = this.values[col] as Uint32Array;
    a[2 * this.row] = lo;
    a[2 * this.row + 1] = hi;
    this.setValid(col);
  }

  int(col: number, v: number): void {
    if (!(v >= this.intMin[col]! && v <= this.intMax[col]!)) {
      this.outOfRange++;
      this.lastOutOfRange.col = col;
      this.lastOutOfRange.value = v;
      return;
    }
    (this.values[col] as Values)[this.row] = v;
    this.setValid(col);
  }

  bool(col: number, v: boolean): void {
    const a = this.values[col] as Uint8Array;
    const bit = 1 << (this.row & 7);
    if (v) a[this.row >> 3]! |= bit;
    else a[this.row >> 3]! &= ~bit;
    this.setValid(col);
  }

  str(col: number, s: string): void {
    const dict = this.dictionaries[col];
    if (dict) (this.values[col] as Int32Array)[this.row] = dict.idOfSpan(s, 0, s.length);
    else {
      const v = this.values[col] as SparseStrings;
      if (v.rows.at(-1) === this.row) v.texts[v.texts.length - 1] = s;
      else {
        v.rows.push(this.row);
        v.texts.push(s);
      }
    }
    this.setValid(col);
  }

  strSpan(col: number, text: string, a: number, e: number): void {
    const dict = this.dictionaries[col];
    if (dict) {
      (this.values[col] as Int32Array)[this.row] = dict.idOfSpan(text, a, e);
      this.setValid(col);
    } else this.str(col, text.slice(a, e));
  }

  /** Forgets the values of columns `fromCol..` in the current row (a decoder gave up half way). */
  clearRow(fromCol = 0): void {
    const byte = this.row >> 3;
    const mask = ~(1 << (this.row & 7));
    for (let c = fromCol; c < this.kinds.length; c++) this.validity[c]![byte]! &= mask;
    for (let c = fromCol; c < this.kinds.length; c++) {
      if (this.kinds[c] !== 'utf8') continue;
      const v = this.values[c] as SparseStrings;
      if (v.rows.at(-1) === this.row) {
        v.rows.pop();
        v.texts.pop();
      }
    }
  }

  /** Moves to the next row; the caller flushes when `full`. */
  commitRow(): void {
    this.row++;
  }

  /** Returns the rows written so far as a record batch and starts a new one. */
  finish(): RecordBatch {
    const length = this.row;
    const children: Data[] = this.kinds.map((kind, c) => this.columnData(kind, c, length));
    const data = makeData({ type: this.structType, length, nullCount: 0, children });
    const batch = new RecordBatch(this.schema, data);
    this.allocate();
    return batch;
  }

  private columnData(kind: ColumnKind, c: number, length: number): Data {
    const type = this.schema.fields[c]!.type;
    const nullBitmap = this.validity[c]!.subarray(0, (length + 7) >> 3);
    const nullCount = length - popcount(nullBitmap, length);
    const v = this.values[c]!;
    switch (kind) {
      case 'u64':
        return makeData({ type, length, nullCount, nullBitmap, data: new BigUint64Array((v as Uint32Array).buffer, 0, length) });
      case 'u32': case 'i32': case 'u8':
        return makeData({ type, length, nullCount, nullBitmap, data: (v as Values).subarray(0, length) });
      case 'bool':
        return makeData({ type, length, nullCount, nullBitmap, data: (v as Uint8Array).subarray(0, (length + 7) >> 3) });
      case 'dict': {
        const dictionary = this.dictionaries[c]!.toVector();
        return makeData({ type, length, nullCount, nullBitmap, data: (v as Int32Array).subarray(0, length), dictionary });
      }
      case 'utf8':
        return utf8Data(type as Utf8, v as SparseStrings, length, nullBitmap, nullCount);
    }
  }
}

function utf8Data(type: Utf8, strings: SparseStrings, length: number, nullBitmap: Uint8Array, nullCount: number): Data {
  const { rows, texts } = strings;
  const valueOffsets = new Int32Array(length + 1);
  const lengths = texts.map((t) => Buffer.byteLength(t, 'utf8'));
  let bytes = 0;
  let k = 0;
  for (let i = 0; i < length; i++) {
    if (k < rows.length && rows[k] === i) bytes += lengths[k++]!;
    valueOffsets[i + 1] = bytes;
  }
  const data = Buffer.allocUnsafe(bytes);
  for (let j = 0; j < rows.length; j++) data.write(texts[j]!, valueOffsets[rows[j]!]!, 'utf8');
  return makeData({ type, length, nullCount, nullBitmap, valueOffsets, data: new Uint8Array(data.buffer, data.byteOffset, bytes) });
}

const POPCOUNT8 = new Uint8Array(256).map((_, i) => {
  let n = 0;
  for (let b = i; b; b >>= 1) n += b & 1;
  return n;
});

function popcount(bits: Uint8Array, length: number): number {
  let n = 0;
  const full = length >> 3;
  for (let i = 0; i < full; i++) n += POPCOUNT8[bits[i]!]!;
  if (length & 7) n += POPCOUNT8[bits[full]! & ((1 << (length & 7)) - 1)]!;
  return n;
}

