// A findings table built row by row (rows may be updated later, e.g. when a zap's refault shows
// up) in growable typed columns; src/store/findings.ts registers it in DuckDB for SQL.

export type FindingColumnKind = 'int' | 'u64' | 'float' | 'str' | 'bool';

export interface FindingColumn {
  readonly name: string;
  readonly kind: FindingColumnKind;
  readonly doc: string;
}

/** Column name → index, for the handlers' hot paths. */
export function columnIndex<T extends readonly FindingColumn[]>(cols: T): Record<T[number]['name'], number> {
  return Object.fromEntries(cols.map((c, i) => [c.name, i])) as Record<T[number]['name'], number>;
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


}
