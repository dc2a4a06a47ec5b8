// A findings table built row by row (rows may be updated later, e.g. when a zap's refault shows
// up) in typed columns grown chunk by chunk; src/store/findings.ts registers it in DuckDB for SQL.

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

/** Rows per column chunk: columns grow by whole chunks, never copied. */
const CHUNK_BITS = 14;
const CHUNK = 1 << CHUNK_BITS;
const IN_CHUNK = CHUNK - 1;

type Store =
  | { kind: 'int' | 'float' | 'bool'; chunks: Float64Array[] }
  | { kind: 'u64'; chunks: Uint32Array[] }
  | { kind: 'str'; chunks: Int32Array[]; dict: Map<string, number>; values: string[]; last: string | null; lastId: number };

export class FindingsTable {
  length = 0;
  private readonly stores: Store[];
  private readonly index = new Map<string, number>();

  constructor(readonly name: string, readonly columns: readonly FindingColumn[]) {
    this.stores = columns.map((c, i) => {
      this.index.set(c.name, i);
      switch (c.kind) {
        case 'u64': return { kind: 'u64', chunks: [] };
        case 'str': return { kind: 'str', chunks: [], dict: new Map(), values: [], last: null, lastId: -1 };
        default: return { kind: c.kind, chunks: [] };
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
    if ((r & IN_CHUNK) === 0) {
      for (const s of this.stores) {
        if (s.kind === 'u64') s.chunks.push(new Uint32Array(2 * CHUNK));
        else if (s.kind === 'str') s.chunks.push(new Int32Array(CHUNK).fill(-1));
        else s.chunks.push(new Float64Array(CHUNK).fill(NaN));
      }
    }
    return r;
  }

  num(c: number, r: number, v: number | boolean | null): void {
    (this.stores[c]!.chunks[r >> CHUNK_BITS] as Float64Array)[r & IN_CHUNK] = v === null ? NaN : Number(v);
  }

  u64(c: number, r: number, hi: number, lo: number): void {
    const a = this.stores[c]!.chunks[r >> CHUNK_BITS] as Uint32Array;
    const k = 2 * (r & IN_CHUNK);
    a[k] = lo;
    a[k + 1] = hi;
  }

  str(c: number, r: number, v: string | null): void {
    const s = this.stores[c]! as Extract<Store, { kind: 'str' }>;
    const a = s.chunks[r >> CHUNK_BITS]!;
    if (v === null) {
      a[r & IN_CHUNK] = -1;
      return;
    }
    // rows come in runs of the same value (one op's zaps): skip the dictionary lookup then
    if (v === s.last) {
      a[r & IN_CHUNK] = s.lastId;
      return;
    }
    let id = s.dict.get(v);
    if (id === undefined) {
      id = s.values.length;
      s.values.push(v);
      s.dict.set(v, id);
    }
    s.last = v;
    s.lastId = id;
    a[r & IN_CHUNK] = id;
  }

  getNum(c: number, r: number): number {
    return (this.stores[c]!.chunks[r >> CHUNK_BITS] as Float64Array)[r & IN_CHUNK]!;
  }

  getStr(c: number, r: number): string | null {
    const s = this.stores[c]! as Extract<Store, { kind: 'str' }>;
    const id = s.chunks[r >> CHUNK_BITS]![r & IN_CHUNK]!;
    return id < 0 ? null : s.values[id]!;
  }

  /** The high / low 32 bits of a u64 cell. */
  getHi(c: number, r: number): number {
    return (this.stores[c]!.chunks[r >> CHUNK_BITS] as Uint32Array)[2 * (r & IN_CHUNK) + 1]!;
  }

  getLo(c: number, r: number): number {
    return (this.stores[c]!.chunks[r >> CHUNK_BITS] as Uint32Array)[2 * (r & IN_CHUNK)]!;
  }

  getU64(c: number, r: number): bigint {
    return (BigInt(this.getHi(c, r)) << 32n) | BigInt(this.getLo(c, r));
  }
}
