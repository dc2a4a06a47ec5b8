// A findings table built row by row (rows may be updated later, e.g. when a zap's refault shows
// up) in typed columns, page by page; pages beyond a process-wide memory budget spill to a scratch
// file and come back when a row of theirs is read or updated, so memory stays flat however long the
// trace. src/store/findings.ts registers the tables in DuckDB for SQL.
import { PageFile } from './spill.js';

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

/** Rows per page: a zap row is 132 bytes, so a page of zaps is 528 KiB. */
const PAGE_BITS = 12;
const PAGE_ROWS = 1 << PAGE_BITS;
const IN_PAGE = PAGE_ROWS - 1;

type ColumnArray = Float64Array | Uint32Array | Int32Array;

interface Page {
  readonly table: FindingsTable;
  readonly index: number;
  readonly buf: ArrayBuffer;
  readonly cols: ColumnArray[];
  /** Changed since it was last written to the spill file. */
  dirty: boolean;
}

/** Resident pages of every table, least recently used first; beyond the budget the oldest spill. */
const resident = new Set<Page>();
let residentBytes = 0;
let budgetBytes = budgetFromEnv(process.env['MMU_TRACE_FINDINGS_MEMORY']);

/** MMU_TRACE_FINDINGS_MEMORY (bytes) or 96 MiB. */
function budgetFromEnv(v: string | undefined): number {
  const n = Number(v);
  if (v !== undefined && v !== '' && Number.isFinite(n) && n >= 0) return n;
  if (v) process.emitWarning(`MMU_TRACE_FINDINGS_MEMORY=${v} is not a byte count: using 96 MiB`);
  return 96 * 1024 * 1024;
}

/** Memory the finding pages of the process may take before they spill (tests make it tiny). */
export function setFindingsMemory(bytes: number): void {
  budgetBytes = bytes;
}

function admit(p: Page): void {
  resident.add(p);
  residentBytes += p.buf.byteLength;
  for (const old of resident) {
    if (residentBytes <= budgetBytes) break;
    if (old !== p) old.table.evict(old);
  }
}

type Store = { kind: FindingColumnKind; bytes: number; offset: number; dict?: Map<string, number>; values?: string[] };

export class FindingsTable {
  length = 0;
  private readonly stores: Store[];
  private readonly index = new Map<string, number>();
  private readonly pageBytes: number;
  private readonly pages: (Page | undefined)[] = [];
  /** Pages with a copy in the spill file. */
  private readonly spilled: boolean[] = [];
  private file: PageFile | null = null;
  /** The page last used: rows are mostly touched in runs within one page. */
  private cur: Page | null = null;
  private curIndex = -1;
  /** The last string looked up per column: rows come in runs of one value (one op's zaps). */
  private readonly lastStr: (string | null)[];
  private readonly lastId: number[];

  constructor(readonly name: string, readonly columns: readonly FindingColumn[]) {
    // 8-byte columns first keep every column of a page aligned
    const bytesOf = (k: FindingColumnKind): number => (k === 'str' ? 4 : 8);
    let offset = 0;
    this.stores = columns.map((c) => ({ kind: c.kind, bytes: bytesOf(c.kind), offset: 0 }));
    for (const size of [8, 4]) {
      for (const s of this.stores) {
        if (s.bytes !== size) continue;
        s.offset = offset;
        offset += size * PAGE_ROWS;
      }
    }
    this.pageBytes = offset;
    this.stores.forEach((s, i) => {
      this.index.set(columns[i]!.name, i);
      if (s.kind === 'str') {
        s.dict = new Map();
        s.values = [];
      }
    });
    this.lastStr = columns.map(() => null);
    this.lastId = columns.map(() => -1);
  }

  col(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`${this.name}: no column ${name}`);
    return i;
  }

  private newPage(index: number): Page {
    const buf = new ArrayBuffer(this.pageBytes);
    const cols = this.stores.map((s): ColumnArray => {
      if (s.kind === 'u64') return new Uint32Array(buf, s.offset, 2 * PAGE_ROWS);
      if (s.kind === 'str') return new Int32Array(buf, s.offset, PAGE_ROWS);
      return new Float64Array(buf, s.offset, PAGE_ROWS);
    });
    const p: Page = { table: this, index, buf, cols, dirty: true };
    this.pages[index] = p;
    return p;
  }

  /** Writes a resident page to the spill file (when changed) and lets it go. */
  evict(p: Page): void {
    if (p.dirty) {
      this.file ??= new PageFile(this.pageBytes);
      this.file.write(p.index, p.buf);
      this.spilled[p.index] = true;
    }
    this.pages[p.index] = undefined;
    if (this.cur === p) {
      this.cur = null;
      this.curIndex = -1;
    }
    resident.delete(p);
    residentBytes -= p.buf.byteLength;
  }

  private page(r: number): Page {
    const i = r >>> PAGE_BITS;
    if (i === this.curIndex) return this.cur!;
    let p = this.pages[i];
    if (p) {
      // most recently used: last in the pool's order
      resident.delete(p);
      resident.add(p);
    } else {
      if (!this.spilled[i]) throw new Error(`${this.name}: row ${r} of ${this.length} has no page`);
      p = this.newPage(i);
      this.file!.read(i, p.buf);
      p.dirty = false;
      admit(p);
    }
    this.cur = p;
    this.curIndex = i;
    return p;
  }

  /** A new row with every value null; returns its index. */
  add(): number {
    const r = this.length++;
    if ((r & IN_PAGE) === 0) {
      const p = this.newPage(r >>> PAGE_BITS);
      this.stores.forEach((s, c) => {
        if (s.kind === 'str') (p.cols[c] as Int32Array).fill(-1);
        else if (s.kind !== 'u64') (p.cols[c] as Float64Array).fill(NaN);
      });
      admit(p);
      this.cur = p;
      this.curIndex = p.index;
    }
    return r;
  }

  num(c: number, r: number, v: number | boolean | null): void {
    const p = this.page(r);
    p.dirty = true;
    (p.cols[c] as Float64Array)[r & IN_PAGE] = v === null ? NaN : Number(v);
  }

  u64(c: number, r: number, hi: number, lo: number): void {
    const p = this.page(r);
    p.dirty = true;
    const a = p.cols[c] as Uint32Array;
    const k = 2 * (r & IN_PAGE);
    a[k] = lo;
    a[k + 1] = hi;
  }

  str(c: number, r: number, v: string | null): void {
    const p = this.page(r);
    p.dirty = true;
    const a = p.cols[c] as Int32Array;
    if (v === null) {
      a[r & IN_PAGE] = -1;
      return;
    }
    if (v === this.lastStr[c]) {
      a[r & IN_PAGE] = this.lastId[c]!;
      return;
    }
    const s = this.stores[c]!;
    let id = s.dict!.get(v);
    if (id === undefined) {
      id = s.values!.length;
      s.values!.push(v);
      s.dict!.set(v, id);
    }
    this.lastStr[c] = v;
    this.lastId[c] = id;
    a[r & IN_PAGE] = id;
  }

  getNum(c: number, r: number): number {
    return (this.page(r).cols[c] as Float64Array)[r & IN_PAGE]!;
  }

  getStr(c: number, r: number): string | null {
    const id = (this.page(r).cols[c] as Int32Array)[r & IN_PAGE]!;
    return id < 0 ? null : this.stores[c]!.values![id]!;
  }

  /** The high / low 32 bits of a u64 cell. */
  getHi(c: number, r: number): number {
    return (this.page(r).cols[c] as Uint32Array)[2 * (r & IN_PAGE) + 1]!;
  }

  getLo(c: number, r: number): number {
    return (this.page(r).cols[c] as Uint32Array)[2 * (r & IN_PAGE)]!;
  }

  getU64(c: number, r: number): bigint {
    return (BigInt(this.getHi(c, r)) << 32n) | BigInt(this.getLo(c, r));
  }
}
