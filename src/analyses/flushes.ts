// Flushes (finding 2): the TLB flushes the kernel issues per operation by its rules (x86 traces
// no flush event, §4.4), each judged needed / unneeded / avoidable, plus missing ones.
import { taskLabel, type FactListener, type ObservedFlush, type Op } from '../model/facts.js';
import { extraFlushes, WRITE_PROTECT_FLUSH_CALLERS } from '../model/flush-rules.js';
import { FindingsTable, columnIndex } from './findings-table.js';
import type { LockBreaksHandler } from './lock-breaks.js';
import type { OpZaps, ZapsData } from './zaps.js';

export type FlushVerdict = 'needed' | 'unneeded' | 'avoidable' | 'missing';

export const FLUSH_COLUMNS = [
  { name: 'op_id', kind: 'int', doc: 'operation id (zaps.op_id)' },
  { name: 'line', kind: 'int', doc: 'line of the event that started the operation' },
  { name: 'ts_ns', kind: 'int', doc: 'its time' },
  { name: 'vm', kind: 'str', doc: 'VM id' },
  { name: 'task', kind: 'str', doc: 'task (comm-pid)' },
  { name: 'op', kind: 'str', doc: 'operation kind (model/facts.ts OpKind): notifier-unmap, notifier-age, zap-all-fast, zap-pages, nx-recovery, fault, tdp-other, zap-collapsible, write-protect, ...' },
  { name: 'leaf_zaps', kind: 'int', doc: 'present leaves zapped' },
  { name: 'tables_zapped', kind: 'int', doc: 'page tables / shadow pages zapped' },
  { name: 'flushing_changes', kind: 'int', doc: 'leaf changes that need a flush by the kernel rule' },
  { name: 'ad_only_changes', kind: 'int', doc: 'changes that only cleared Accessed/Dirty' },
  { name: 'extra_flushes', kind: 'int', doc: 'flushes on top of the final one: before each observed mmu_lock break (TDP leaf zap walks, NX recovery), one per table (zap-collapsible)' },
  { name: 'observed_flushes', kind: 'int', doc: 'flushes the function tracer saw in the op (record --observe-flushes); null when the trace has no flush observation' },
  { name: 'observation', kind: 'str', doc: 'confirmed (observed = inferred), contradicted (fewer observed), unpredicted (more observed), by count (untraced write-protect passes: matched in total with the dirty-log flushes); null without observation' },
  { name: 'verdict', kind: 'str', doc: 'needed | unneeded (nothing a stale TLB entry could harm) | avoidable (all its zaps were redundant) | missing (W/D cleared, no flush)' },
  { name: 'evidence', kind: 'str', doc: 'inferred (x86 does not trace its remote TLB flushes), observed when the function tracer confirmed it' },
  { name: 'rule', kind: 'str', doc: 'kernel rule (file + function) the flush decision follows' },
] as const;

export interface FlushesData {
  table: FindingsTable;
  inferred: number;
  needed: number;
  unneeded: number;
  avoidable: number;
  missing: number;
  /** Flushes on top of each op's final one (flush-rules.ts extraFlushes), counted in inferred and needed. */
  extraFlushes: number;
  byOp: Record<string, Record<FlushVerdict, number>>;
  /** The inferred flushes checked against the function tracer's (record --observe-flushes); null without it. */
  observed: FlushObservation | null;
}

export interface FlushAgreement {
  /** Flushes the model infers (verdict needed / unneeded / avoidable, with extra flushes). */
  inferred: number;
  /** Function-traced flushes credited to these ops. */
  observed: number;
  /** Inferred and observed. */
  confirmed: number;
  /** Inferred, not observed: the model's rule says flush, the kernel did not. */
  contradicted: number;
  /** Observed, not inferred. */
  unpredicted: number;
}

export interface FlushObservation extends FlushAgreement {
  byOp: Record<string, FlushAgreement>;
  /** Observed flushes no op of the model accounts for, by the entry point's caller (e.g. paging64_invlpg, kvm_get_dirty_log_protect). */
  unpredictedByCaller: Record<string, number>;
}

const agreement = (): FlushAgreement => ({ inferred: 0, observed: 0, confirmed: 0, contradicted: 0, unpredicted: 0 });

function addAgreement(a: FlushAgreement, inferred: number, observed: number): void {
  a.inferred += inferred;
  a.observed += observed;
  a.confirmed += Math.min(inferred, observed);
  a.contradicted += Math.max(0, inferred - observed);
  a.unpredicted += Math.max(0, observed - inferred);
}

export class FlushesHandler implements FactListener {
  /** One row per op that flushed or should have, written as it ends; verdicts wait for data(). */
  private readonly table = new FindingsTable('flushes', FLUSH_COLUMNS);
  private readonly c = columnIndex(FLUSH_COLUMNS);
  /** The last row written, while its op's episode may still add flushes. */
  private lastRow = { opId: -1, row: -1 };
  /** Ops without a flush of their own that the tracer saw flushing (only with observed flushes). */
  private readonly observedOnly: { id: number; kind: string }[] = [];
  private observedRows = 0;
  /** Callers of observed flushes, per op id (for those the op did not predict) and for those no op took. */
  private readonly callersByOp = new Map<number, string[]>();
  private readonly unattributed: Record<string, number> = {};
  /** Observed flushes after dirty logging's write-protects, matched by count with the inferred passes. */
  private writeProtectFlushes = 0;

  /** `breaks`: receives each episode's end before this handler (FindingsRun orders them). */
  constructor(private readonly breaks: LockBreaksHandler) {}

  onOpEnd(op: Op): void {
    if (!op.flushIssued && op.unflushedWdClears === 0) {
      // kept only for the flushes the tracer saw in it: no flush inferred, none missing
      if (this.callersByOp.has(op.id)) this.observedOnly.push({ id: op.id, kind: op.kind });
      return;
    }
    const t = this.table;
    const c = this.c;
    const r = t.add();
    t.num(c.op_id, r, op.id);
    t.num(c.line, r, op.line);
    t.num(c.ts_ns, r, op.ts);
    t.str(c.vm, r, op.vm);
    t.str(c.task, r, taskLabel(op.task));
    t.str(c.op, r, op.kind);
    t.num(c.leaf_zaps, r, op.leafZaps);
    t.num(c.tables_zapped, r, op.tablesZapped);
    t.num(c.flushing_changes, r, op.flushingChanges);
    t.num(c.ad_only_changes, r, op.adOnlyChanges);
    t.num(c.extra_flushes, r, extraFlushes(op, 0));
    if (!op.flushIssued) t.str(c.verdict, r, 'missing');
    t.str(c.rule, r, op.flushRule);
    this.lastRow = { opId: op.id, row: r };
  }

  /** Each observed lock break of the op's episode flushed the SPTEs zapped since the last: needed. */
  onEpisodeEnd(op: Op): void {
    const e = this.breaks.lastEnded;
    if (this.lastRow.opId !== op.id || e.opId !== op.id) return;
    this.table.num(this.c.extra_flushes, this.lastRow.row, extraFlushes(op, e.observed));
  }

  onObservedFlush(f: ObservedFlush): void {
    this.observedRows++;
    if (f.op) {
      const callers = this.callersByOp.get(f.op.id);
      if (callers) callers.push(f.caller);
      else this.callersByOp.set(f.op.id, [f.caller]);
    } else if (WRITE_PROTECT_FLUSH_CALLERS.has(f.caller)) {
      this.writeProtectFlushes++;
    } else {
      this.unattributed[f.caller] = (this.unattributed[f.caller] ?? 0) + 1;
    }
  }

  /** Verdicts need the zaps' refault outcomes, so they are made at the end, in one pass over the rows. */
  data(zaps: ZapsData): FlushesData {
    const { table: t, c } = this;
    const obs: FlushObservation | null = this.observedRows > 0 ? { ...agreement(), byOp: {}, unpredictedByCaller: { ...this.unattributed } } : null;
    if (obs) for (const n of Object.values(this.unattributed)) addAgreement(obs, 0, n);
    const out: FlushesData = { table: t, inferred: 0, needed: 0, unneeded: 0, avoidable: 0, missing: 0, extraFlushes: 0, byOp: {}, observed: obs };
    if (obs) for (const op of this.observedOnly) observeOp(obs, op.kind, 0, this.callersByOp.get(op.id)!);
    let writeProtectInferred = 0;
    for (let r = 0; r < t.length; r++) {
      const id = t.getNum(c.op_id, r);
      const kind = t.getStr(c.op, r)!;
      const verdict: FlushVerdict = t.getStr(c.verdict, r) === 'missing' ? 'missing' : verdictOf({
        leafZaps: t.getNum(c.leaf_zaps, r), tablesZapped: t.getNum(c.tables_zapped, r),
        flushingChanges: t.getNum(c.flushing_changes, r), adOnlyChanges: t.getNum(c.ad_only_changes, r),
      }, zaps.perOp.get(id));
      t.str(c.verdict, r, verdict);
      const extra = t.getNum(c.extra_flushes, r);
      const inferred = verdict === 'missing' ? 0 : 1 + extra;
      const callers = this.callersByOp.get(id) ?? [];
      if (obs && kind === 'write-protect') {
        // untraced passes have no task: their flushes are matched by count below
        t.str(c.observation, r, 'by count');
        writeProtectInferred += inferred;
      } else if (obs) {
        t.num(c.observed_flushes, r, callers.length);
        t.str(c.observation, r, callers.length === inferred ? 'confirmed' : callers.length < inferred ? 'contradicted' : 'unpredicted');
        observeOp(obs, kind, inferred, callers);
      }
      t.str(c.evidence, r, obs && inferred > 0 && callers.length >= inferred ? 'observed' : 'inferred');
      if (verdict !== 'missing') out.inferred++;
      out[verdict]++;
      const byOp = (out.byOp[kind] ??= { needed: 0, unneeded: 0, avoidable: 0, missing: 0 });
      byOp[verdict]++;
      out.inferred += extra;
      out.needed += extra;
      out.extraFlushes += extra;
      byOp.needed += extra;
    }
    if (obs && writeProtectInferred + this.writeProtectFlushes > 0) {
      addAgreement(obs, writeProtectInferred, this.writeProtectFlushes);
      addAgreement((obs.byOp['write-protect'] ??= agreement()), writeProtectInferred, this.writeProtectFlushes);
    }
    return out;
  }
}

/** Agreement of one op's inferred flushes with those observed in it; the excess by caller. */
function observeOp(obs: FlushObservation, kind: string, inferred: number, callers: readonly string[]): void {
  addAgreement(obs, inferred, callers.length);
  addAgreement((obs.byOp[kind] ??= agreement()), inferred, callers.length);
  for (const caller of callers.slice(inferred)) obs.unpredictedByCaller[caller] = (obs.unpredictedByCaller[caller] ?? 0) + 1;
}

/** The verdict on an op that flushed. */
function verdictOf(op: Pick<Op, 'leafZaps' | 'tablesZapped' | 'flushingChanges' | 'adOnlyChanges'>, z: OpZaps | undefined): Exclude<FlushVerdict, 'missing'> {
  const harmful = op.leafZaps + op.tablesZapped + (op.flushingChanges - op.adOnlyChanges);
  if (harmful === 0) return 'unneeded';
  // every zap came back unchanged and nothing else needed the flush
  if (op.tablesZapped === 0 && op.flushingChanges === 0 && z && z.zaps > 0 && z.redundant === z.zaps) return 'avoidable';
  return 'needed';
}
