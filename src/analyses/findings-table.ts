// A findings table built row by row (rows may be updated later, e.g. when a zap's refault shows
// up) in growable typed columns, turned into an Arrow table at the end for SQL and reports.
import {
  Bool, Dictionary, Field, Float64, Int32, Int64, Schema, Table, Uint64, Utf8, makeData, RecordBatch, Struct,
  vectorFromArray, type Data,
} from 'apache-arrow';

export type FindingColumnKind = 'int' | 'u64' | 'float' | 'str' | 'bool';

export interface FindingColumn {
  readonly name: string;
  readonly kind: FindingColumnKind;
  readonly doc: string;
}

class Growable<T extends Float64Array | Uint32Array | Int32Array | Uint8Array> {
  constructor(public a: T, private readonly make: (n: number) => T) {}
  ensure(n: number): void {
    if (n <= this.a.length) return;
    const b = this.make(Math.max(n, this.a.length * 2));
    b.set(this.a as never);
    this.a = b;
  }
}

type Store =
  | { kind: 'int' | 'float' | 'bool'; v: Growable<Float64Array> }
  | { kind: 'u64'; v: Growable<Uint32Array> }
  | { kind: 'str'; v: Growable<Int32Array>; dict: Map<string, number>; values: string[] };

export class FindingsTable {
  length = 0;
  private readonly stores: Store[];
  private readonly index = new Map<string, number>();

  constructor(readonly name: string, readonly columns: readonly FindingColumn[]) {
    this.stores = columns.map((c, i) => {
      this.index.set(c.name, i);
      const f64 = (): Growable<Float64Array> => new Growable(new Float64Array(1024).fill(NaN), (n) => new Float64Array(n).fill(NaN));
      switch (c.kind) {
        case 'u64': return { kind: 'u64', v: new Growable(new Uint32Array(2048), (n) => new Uint32Array(n)) };
        case 'str': return { kind: 'str', v: new Growable(new Int32Array(1024).fill(-1), (n) => new Int32Array(n).fill(-1)), dict: new Map(), values: [] };
        default: return { kind: c.kind, v: f64() };
      }
    });
  }

  col(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`${this.name}: no column ${name}`);
    return i;
  }

  /** A new row with every value null; returns its index. */
  add(): number {
    const r = this.length++;
    for (const s of this.stores) s.v.ensure(s.kind === 'u64' ? 2 * this.length : this.length);
    return r;
  }

  num(c: number, r: number, v: number | boolean | null): void {
    (this.stores[c]!.v.a as Float64Array)[r] = v === null ? NaN : Number(v);
  }

  u64(c: number, r: number, hi: number, lo: number): void {
    const a = this.stores[c]!.v.a as Uint32Array;
    a[2 * r] = lo;
    a[2 * r + 1] = hi;
  }

  str(c: number, r: number, v: string | null): void {
    const s = this.stores[c]! as Extract<Store, { kind: 'str' }>;
    if (v === null) {
      s.v.a[r] = -1;
      return;
    }
    let id = s.dict.get(v);
    if (id === undefined) {
      id = s.values.length;
      s.values.push(v);
      s.dict.set(v, id);
    }
    s.v.a[r] = id;
  }

  getNum(c: number, r: number): number {
    return (this.stores[c]!.v.a as Float64Array)[r]!;
  }

  getStr(c: number, r: number): string | null {
    const s = this.stores[c]! as Extract<Store, { kind: 'str' }>;
    const id = s.v.a[r]!;
    return id < 0 ? null : s.values[id]!;
  }

  getU64(c: number, r: number): bigint {
    const a = this.stores[c]!.v.a as Uint32Array;
    return (BigInt(a[2 * r + 1]!) << 32n) | BigInt(a[2 * r]!);
  }

  getU64Hex(c: number, r: number): string {
    const a = this.stores[c]!.v.a as Uint32Array;
    const hi = a[2 * r + 1]!;
    return hi ? hi.toString(16) + a[2 * r]!.toString(16).padStart(8, '0') : a[2 * r]!.toString(16);
  }

  toArrow(): Table {
    const n = this.length;
    const fields: Field[] = [];
    const children: Data[] = [];
    this.columns.forEach((c, i) => {
      const s = this.stores[i]!;
      let data: Data;
      if (s.kind === 'u64') {
        data = makeData({ type: new Uint64(), length: n, data: new BigUint64Array(s.v.a.slice(0, 2 * n).buffer) });
      } else if (s.kind === 'str') {
        const codes = s.v.a.slice(0, n);
        const valid = new Uint8Array((n + 7) >> 3);
        let nulls = 0;
        for (let r = 0; r < n; r++) {
          if (codes[r]! >= 0) valid[r >> 3]! |= 1 << (r & 7);
          else {
            codes[r] = 0;
            nulls++;
          }
        }
        const dictionary = vectorFromArray(s.values, new Utf8());
        data = makeData({ type: new Dictionary(new Utf8(), new Int32()), length: n, nullCount: nulls, nullBitmap: valid, data: codes, dictionary });
      } else {
        const f = (s.v.a as Float64Array).subarray(0, n);
        const valid = new Uint8Array((n + 7) >> 3);
        let nulls = 0;
        for (let r = 0; r < n; r++) {
          if (Number.isNaN(f[r]!)) nulls++;
          else valid[r >> 3]! |= 1 << (r & 7);
        }
        if (s.kind === 'bool') {
          const bits = new Uint8Array((n + 7) >> 3);
          for (let r = 0; r < n; r++) if (f[r] === 1) bits[r >> 3]! |= 1 << (r & 7);
          data = makeData({ type: new Bool(), length: n, nullCount: nulls, nullBitmap: valid, data: bits });
        } else if (s.kind === 'int') {
          const big = new BigInt64Array(n);
          for (let r = 0; r < n; r++) if (!Number.isNaN(f[r]!)) big[r] = BigInt(f[r]!);
          data = makeData({ type: new Int64(), length: n, nullCount: nulls, nullBitmap: valid, data: big });
        } else {
          data = makeData({ type: new Float64(), length: n, nullCount: nulls, nullBitmap: valid, data: f.slice() });
        }
      }
      fields.push(new Field(c.name, data.type, true));
      children.push(data);
    });
    const schema = new Schema(fields);
    const struct = makeData({ type: new Struct(fields), length: n, nullCount: 0, children });
    return new Table(schema, [new RecordBatch(schema, struct)]);
  }
}
