// Zaps and refaults (finding 1): every leaf zap classified by what the guest mapping of the same
// guest frame — (VM, address space, the zapped leaf's gfn) — looked like when it came back, at
// any level: 4K leaves zapped for a THP collapse come back inside one 2M leaf.
import { taskLabel, type Evidence, type FactListener, type LeafInstall, type LeafZap, type Op, type OpKind } from '../model/facts.js';
import { pfnOf, permChange, permsOf, permString, type SpteLayout } from '../model/spte.js';
import { FindingsTable, columnIndex } from './findings-table.js';

export type ZapOutcome = 'identical' | 'upgrade' | 'downgrade' | 'needed' | 'unresolved';
export const REDUNDANT: ReadonlySet<ZapOutcome> = new Set(['identical', 'upgrade', 'downgrade']);

export const ZAP_COLUMNS = [
  { name: 'line', kind: 'int', doc: 'line of the event that caused the zap (notifier, zap_all_fast, prepare_zap, spte_changed)' },
  { name: 'ts_ns', kind: 'int', doc: 'time of that event' },
  { name: 'vm', kind: 'str', doc: 'VM id (tgid:N, or task:N for a task group without TGIDs)' },
  { name: 'as_id', kind: 'int', doc: 'address space' },
  { name: 'gfn', kind: 'int', doc: 'guest frame' },
  { name: 'level', kind: 'int', doc: 'SPTE level (1 = 4K)' },
  { name: 'sptep', kind: 'int', doc: 'SPTE address (shadow MMU), null on the TDP MMU' },
  { name: 'old_spte', kind: 'u64', doc: 'the value zapped' },
  { name: 'old_pfn', kind: 'int', doc: 'its pfn' },
  { name: 'old_perm', kind: 'str', doc: 'its permissions (rwxu)' },
  { name: 'cause', kind: 'str', doc: 'operation: notifier-unmap, zap-all-fast, zap-pages, nx-recovery, fault, tdp-other, sync (untraced)' },
  { name: 'op_id', kind: 'int', doc: 'operation id (flushes.op_id)' },
  { name: 'cause_task', kind: 'str', doc: 'task that caused it (comm-pid)' },
  { name: 'evidence', kind: 'str', doc: 'observed (traced zap), inferred (untraced zap derived by a kernel rule), suspected' },
  { name: 'outcome', kind: 'str', doc: 'identical | upgrade | downgrade (same pfn: redundant) | needed (pfn changed) | unresolved' },
  { name: 'refault_line', kind: 'int', doc: 'line of the SPTE install that brought the mapping back' },
  { name: 'refault_ns', kind: 'int', doc: 'refault latency: install time minus zap time; null when the zap has no time of its own (an untraced drop found at the re-install)' },
  { name: 'new_spte', kind: 'u64', doc: 'the value re-installed' },
  { name: 'new_perm', kind: 'str', doc: 'its permissions' },
  { name: 'refault_prefetch', kind: 'bool', doc: 'the re-install was a prefetch, not a fault' },
] as const;

export interface ZapsData {
  table: FindingsTable;
  count: number;
  byOutcome: Record<ZapOutcome, number>;
  byEvidence: Record<Evidence, number>;
  byCause: Record<string, Record<ZapOutcome, number>>;
  redundant: number;
  redundantByEvidence: Record<Evidence, number>;
  /** Per op id: zaps and redundant zaps (for avoidable flushes). */
  perOp: OpZapsTable;
  /** Refault latency of the redundant zaps, in µs (two decimals). */
  /** Median and p90 of the redundant zaps whose zap time is known; `unknown`: those without one. */
  refaultUs: { median: number | null; p90: number | null; unknown: number };
  /** The first redundant zaps of the trace, with their lines. */
  examples: ZapExample[];
  /** The 2 MiB guest-frame ranges with the most zaps, most first. */
  hotRanges: HotRange[];
  /** Refault latency of the redundant zaps, in log bins of µs; non-empty bins only, shortest first. */
  refaultLatencyHistogram: LatencyBin[];
}

export interface ZapExample {
  line: number;
  gfn: string;
  level: number;
  cause: string;
  causeTask: string;
  outcome: ZapOutcome;
  evidence: Evidence;
  refaultLine: number | null;
  refaultUs: number | null;
}

/** Zaps whose refault latency was at least `fromUs` and less than `toUs`. */
export interface LatencyBin {
  fromUs: number;
  toUs: number;
  n: number;
}

export interface HotRange {
  vm: string;
  /** First and last gfn of the range, hex. */
  gfns: string;
  zaps: number;
  redundant: number;
  /** Line of its first zap: where to look in the trace. */
  firstLine: number;
}

/** Guest frames per hot range (one 2 MiB region), and how many ranges are kept. */
export const RANGE_FRAMES = 512;
export const HOT_RANGES = 20;
/** Redundant zaps kept as examples. */
export const ZAP_EXAMPLES = 5;
/** Refault-latency histogram bins per decade of microseconds. */
export const LATENCY_BINS_PER_DECADE = 4;

/** ns → µs with two decimals, as the report prints latencies. */
const usOf = (ns: number): number => Math.round(ns / 10) / 100;

function emptyOutcomes(): Record<ZapOutcome, number> {
  return { identical: 0, upgrade: 0, downgrade: 0, needed: 0, unresolved: 0 };
}

/** Frames per leaf of a level: 1, 512, 512² (KVM_PAGES_PER_HPAGE). */
const framesAt = (level: number): number => 2 ** (9 * (level - 1));
/** (as_id, gfn) as one number. */
const placeKey = (asId: number, gfn: number): number => gfn * 2 + asId;

/**
 * Zaps waiting for their guest frame to be mapped again, by VM and (as_id, gfn), each with a value
 * of the caller's (a table row, a zapped SPTE); a huge leaf maps every frame it covers again.
 * One zap is kept bare, several as an array (so `T` is never an array itself).
 */
export class PendingRefaults<T extends number | object> {
  private readonly byVm = new Map<string, Map<number, T | T[]>>();
  size = 0;

  add(vm: string, asId: number, gfn: number, v: T): void {
    let m = this.byVm.get(vm);
    if (!m) this.byVm.set(vm, (m = new Map()));
    const key = placeKey(asId, gfn);
    const prev = m.get(key);
    m.set(key, prev === undefined ? v : Array.isArray(prev) ? (prev.push(v), prev) : [prev, v]);
    this.size++;
  }

  /** Hands every pending zap the install maps again to `resolve` (with the zapped gfn) and forgets it. */
  resolve(s: LeafInstall, resolve: (v: T, gfn: number) => void): void {
    const m = this.byVm.get(s.vm);
    if (!m) return;
    const frames = framesAt(s.level);
    const at = (key: number): void => {
      const vs = m.get(key);
      if (vs === undefined) return;
      m.delete(key);
      const gfn = (key - s.asId) / 2;
      if (Array.isArray(vs)) for (const v of vs) resolve(v, gfn);
      else resolve(vs, gfn);
      this.size -= Array.isArray(vs) ? vs.length : 1;
    };
    if (frames === 1) return at(placeKey(s.asId, s.gfn));
    const first = placeKey(s.asId, s.gfn), end = placeKey(s.asId, s.gfn + frames);
    if (frames <= m.size) for (let k = first; k < end; k += 2) at(k);
    else for (const k of [...m.keys()]) if (k % 2 === s.asId && k >= first && k < end) at(k);
  }

  /** Forgets the oldest pending zaps until at most `max` are left (bounded memory); returns how many went. */
  evict(max: number): number {
    let gone = 0;
    for (const m of this.byVm.values()) {
      for (const [key, vs] of m) {
        if (this.size <= max) return gone;
        m.delete(key);
        const n = Array.isArray(vs) ? vs.length : 1;
        this.size -= n;
        gone += n;
      }
    }
    return gone;
  }
}

export interface OpZaps {
  zaps: number;
  redundant: number;
  unresolved: number;
}

const OP_ZAP_COLUMNS = [
  { name: 'zaps', kind: 'int', doc: 'leaf zaps of the op' },
  { name: 'redundant', kind: 'int', doc: 'of them redundant' },
  { name: 'unresolved', kind: 'int', doc: 'of them never mapped again' },
  { name: 'first_row', kind: 'int', doc: "the op's first zap row" },
  { name: 'cause', kind: 'str', doc: "the cause its rows hold (the op's kind when they were written)" },
] as const;

/** Zap counts per op, one row per op id (ids are dense: model/operations.ts), paged like the findings. */
export class OpZapsTable {
  private readonly t = new FindingsTable('op_zaps', OP_ZAP_COLUMNS);
  readonly c = columnIndex(OP_ZAP_COLUMNS);

  /** The op's row, made with its first zap. */
  row(id: number, firstRow: number, cause: OpKind): number {
    const t = this.t;
    while (t.length <= id) t.add();
    if (Number.isNaN(t.getNum(this.c.zaps, id))) {
      for (const c of [this.c.zaps, this.c.redundant, this.c.unresolved]) t.num(c, id, 0);
      t.num(this.c.first_row, id, firstRow);
      t.str(this.c.cause, id, cause);
    }
    return id;
  }

  has(id: number): boolean {
    return id < this.t.length && !Number.isNaN(this.t.getNum(this.c.zaps, id));
  }

  count(c: number, id: number): number {
    return this.t.getNum(c, id);
  }

  bump(c: number, id: number): void {
    this.t.num(c, id, this.t.getNum(c, id) + 1);
  }

  cause(id: number): string | null {
    return this.t.getStr(this.c.cause, id);
  }

  setCause(id: number, kind: OpKind): void {
    this.t.str(this.c.cause, id, kind);
  }

  get(id: number): OpZaps | undefined {
    if (!this.has(id)) return undefined;
    const c = this.c;
    return { zaps: this.count(c.zaps, id), redundant: this.count(c.redundant, id), unresolved: this.count(c.unresolved, id) };
  }
}

/**
 * Same pfn: compare permissions; a lost one makes it a downgrade (a write-protect would have done).
 * `offset` is the zapped gfn's distance from the new leaf's base gfn (a huge leaf maps pfn + offset).
 */
export function refaultOutcome(l: SpteLayout, oHi: number, oLo: number, nHi: number, nLo: number, offset = 0): ZapOutcome {
  if (pfnOf(oHi, oLo) !== pfnOf(nHi, nLo) + offset) return 'needed';
  const p = permChange(l, oHi, oLo, nHi, nLo);
  return p === 'same' ? 'identical' : p;
}

export class ZapsHandler implements FactListener {
  readonly table = new FindingsTable('zaps', ZAP_COLUMNS);
  /** Unresolved zap rows. */
  private readonly pending = new PendingRefaults<number>();
  private readonly perOp = new OpZapsTable();
  /** The op of the previous zap (zaps come in runs of one op), with its task's label. */
  private lastOp = { id: -1, task: '' };
  private readonly c = columnIndex(ZAP_COLUMNS);

  constructor(private readonly layout: () => SpteLayout) {}

  onLeafZap(z: LeafZap): void {
    const t = this.table;
    const c = this.c;
    const r = t.add();
    t.num(c.line, r, z.line);
    t.num(c.ts_ns, r, z.ts);
    t.str(c.vm, r, z.vm);
    t.num(c.as_id, r, z.asId);
    t.num(c.gfn, r, z.gfn);
    t.num(c.level, r, z.level);
    t.num(c.sptep, r, z.sptep >= 0 ? z.sptep : null);
    t.u64(c.old_spte, r, z.oldHi, z.oldLo);
    t.num(c.old_pfn, r, pfnOf(z.oldHi, z.oldLo));
    t.str(c.old_perm, r, permString(permsOf(this.layout(), z.oldHi, z.oldLo)));
    t.str(c.cause, r, z.op.kind satisfies OpKind);
    t.num(c.op_id, r, z.op.id);
    if (this.lastOp.id !== z.op.id) this.lastOp = { id: this.perOp.row(z.op.id, r, z.op.kind), task: taskLabel(z.op.task) };
    this.perOp.bump(this.perOp.c.zaps, z.op.id);
    t.str(c.cause_task, r, this.lastOp.task);
    t.str(c.evidence, r, z.evidence);
    t.str(c.outcome, r, 'unresolved');
    this.pending.add(z.vm, z.asId, z.gfn, r);
  }

  /**
   * An op's kind can change after its first zaps (a TDP walk turns out to be root teardown, or a
   * shadow zap a TDP walk): its rows take the kind it ended with, whatever the event order.
   */
  onOpEnd(op: Op): void {
    const ops = this.perOp;
    if (!ops.has(op.id) || ops.cause(op.id) === op.kind) return;
    const t = this.table;
    for (let r = ops.count(ops.c.first_row, op.id); r < t.length; r++) if (t.getNum(this.c.op_id, r) === op.id) t.str(this.c.cause, r, op.kind);
    ops.setCause(op.id, op.kind);
  }

  onLeafInstall(s: LeafInstall): void {
    this.pending.resolve(s, (r, gfn) => this.resolveRow(r, s, gfn));
  }

  private resolveRow(r: number, s: LeafInstall, gfn: number): void {
    const t = this.table;
    const c = this.c;
    const l = this.layout();
    t.str(c.outcome, r, refaultOutcome(l, t.getHi(c.old_spte, r), t.getLo(c.old_spte, r), s.hi, s.lo, gfn - s.gfn));
    t.num(c.refault_line, r, s.line);
    // a zap found only at the re-install that shows it (an untraced drop) has no time of its own
    t.num(c.refault_ns, r, t.getNum(c.line, r) === s.line ? null : s.ts - t.getNum(c.ts_ns, r));
    t.u64(c.new_spte, r, s.hi, s.lo);
    t.str(c.new_perm, r, permString(permsOf(l, s.hi, s.lo)));
    t.num(c.refault_prefetch, r, s.prefetch);
  }

  data(): ZapsData {
    const t = this.table;
    const c = this.c;
    const byOutcome = emptyOutcomes();
    const byEvidence: Record<Evidence, number> = { observed: 0, inferred: 0, suspected: 0 };
    const redundantByEvidence: Record<Evidence, number> = { observed: 0, inferred: 0, suspected: 0 };
    const byCause: Record<string, Record<ZapOutcome, number>> = {};
    const lat = new LatencyQuantiles();
    type Range = { vm: string; range: number; zaps: number; redundant: number; firstLine: number };
    const ranges = new Map<string, Map<number, Range>>();
    // zaps come in runs of neighbouring frames: remember the last range
    let h: Range | undefined;
    const examples: ZapExample[] = [];
    for (let r = 0; r < t.length; r++) {
      const o = t.getStr(c.outcome, r) as ZapOutcome;
      const vm = t.getStr(c.vm, r)!;
      const range = Math.floor(t.getNum(c.gfn, r) / RANGE_FRAMES);
      if (h?.vm !== vm || h.range !== range) {
        let byRange = ranges.get(vm);
        if (!byRange) ranges.set(vm, (byRange = new Map()));
        h = byRange.get(range);
        if (!h) byRange.set(range, (h = { vm, range, zaps: 0, redundant: 0, firstLine: t.getNum(c.line, r) }));
      }
      h.zaps++;
      const e = t.getStr(c.evidence, r) as Evidence;
      const cause = t.getStr(c.cause, r)!;
      byOutcome[o]++;
      byEvidence[e]++;
      (byCause[cause] ??= emptyOutcomes())[o]++;
      const op = t.getNum(c.op_id, r);
      if (REDUNDANT.has(o)) {
        h.redundant++;
        redundantByEvidence[e]++;
        this.perOp.bump(this.perOp.c.redundant, op);
        const ns = t.getNum(c.refault_ns, r);
        if (!Number.isNaN(ns)) lat.count(ns);
        if (examples.length < ZAP_EXAMPLES) examples.push(this.example(r, o, e));
      } else if (o === 'unresolved') this.perOp.bump(this.perOp.c.unresolved, op);
    }
    const [median, p90] = lat.quantiles([0.5, 0.9], (take) => {
      for (let r = 0; r < t.length; r++) {
        if (!REDUNDANT.has(t.getStr(c.outcome, r) as ZapOutcome)) continue;
        const ns = t.getNum(c.refault_ns, r);
        if (!Number.isNaN(ns)) take(ns);
      }
    });
    const redundant = byOutcome.identical + byOutcome.upgrade + byOutcome.downgrade;
    return {
      table: t, count: t.length, byOutcome, byEvidence, byCause, redundant,
      redundantByEvidence, perOp: this.perOp, refaultUs: { median: median === null ? null : usOf(median), p90: p90 === null ? null : usOf(p90), unknown: redundant - lat.n }, examples,
      hotRanges: [...ranges.values()].flatMap((m) => [...m.values()]).sort((a, b) => b.zaps - a.zaps || a.firstLine - b.firstLine).slice(0, HOT_RANGES).map((h) => ({
        vm: h.vm, gfns: `0x${(h.range * RANGE_FRAMES).toString(16)}-0x${((h.range + 1) * RANGE_FRAMES - 1).toString(16)}`,
        zaps: h.zaps, redundant: h.redundant, firstLine: h.firstLine,
      })),
      refaultLatencyHistogram: lat.histogram(),
    };
  }

  private example(r: number, outcome: ZapOutcome, evidence: Evidence): ZapExample {
    const t = this.table;
    const c = this.c;
    const ns = t.getNum(c.refault_ns, r);
    return {
      line: t.getNum(c.line, r), gfn: `0x${t.getNum(c.gfn, r).toString(16)}`, level: t.getNum(c.level, r),
      cause: t.getStr(c.cause, r)!, causeTask: t.getStr(c.cause_task, r)!, outcome, evidence,
      refaultLine: t.getNum(c.refault_line, r), refaultUs: Number.isNaN(ns) ? null : usOf(ns),
    };
  }
}

/** Fine bins for exact quantiles: 2^(1/256) wide, so a second pass keeps only the few values of one bin. */
const fineBin = (ns: number): number => (ns <= 1 ? -1 : Math.floor(Math.log2(ns) * 256));

/**
 * Refault latencies counted in bins, without keeping them: the report's log bins of µs
 * (LATENCY_BINS_PER_DECADE), and exact quantiles from fine bins plus a second pass over the values.
 */
export class LatencyQuantiles {
  n = 0;
  private readonly fine = new Map<number, number>();
  private readonly coarse = new Map<number, number>();

  count(ns: number): void {
    this.n++;
    const f = fineBin(ns);
    this.fine.set(f, (this.fine.get(f) ?? 0) + 1);
    const b = Math.floor(Math.log10(Math.max(ns, 1) / 1000) * LATENCY_BINS_PER_DECADE);
    this.coarse.set(b, (this.coarse.get(b) ?? 0) + 1);
  }

  /** The values at rank floor(p·n) of the sorted latencies; `scan` hands every counted value to `take` again. */
  quantiles(ps: readonly number[], scan: (take: (ns: number) => void) => void): (number | null)[] {
    if (this.n === 0) return ps.map(() => null);
    const bins = [...this.fine].sort(([a], [b]) => a - b);
    // per quantile: its fine bin and its rank among that bin's values
    const wanted = ps.map((p) => {
      let rank = Math.min(this.n - 1, Math.floor(p * this.n));
      for (const [bin, n] of bins) {
        if (rank < n) return { bin, rank };
        rank -= n;
      }
      throw new Error('latency quantile beyond the count');
    });
    const values = new Map<number, number[]>(wanted.map((w) => [w.bin, []]));
    scan((ns) => values.get(fineBin(ns))?.push(ns));
    return wanted.map((w) => values.get(w.bin)!.sort((a, b) => a - b)[w.rank]!);
  }

  /** Non-empty bins, shortest first. */
  histogram(): LatencyBin[] {
    return [...this.coarse].sort(([a], [b]) => a - b).map(([b, n]) => ({
      fromUs: 10 ** (b / LATENCY_BINS_PER_DECADE), toUs: 10 ** ((b + 1) / LATENCY_BINS_PER_DECADE), n,
    }));
  }
}
