// Flushes (finding 2): the TLB flushes the kernel issues per operation by its rules (x86 traces
// no flush event, §4.4), each judged needed / unneeded / avoidable, plus missing ones.
import { taskLabel, type FactListener, type ObservedFlush, type Op } from '../model/facts.js';
import { extraFlushes, WRITE_PROTECT_FLUSH_CALLERS } from '../model/flush-rules.js';
import { FindingsTable, columnIndex } from './findings-table.js';
import type { LockBreaksData } from './lock-breaks.js';
import type { ZapsData } from './zaps.js';

export type FlushVerdict = 'needed' | 'unneeded' | 'avoidable' | 'missing';

export const FLUSH_COLUMNS = [
  { name: 'op_id', kind: 'int', doc: 'operation id (zaps.op_id)' },
  { name: 'line', kind: 'int', doc: 'line of the event that started the operation' },
  { name: 'ts_ns', kind: 'int', doc: 'its time' },
  { name: 'vm', kind: 'str', doc: 'VM id' },
  { name: 'task', kind: 'str', doc: 'task (comm-pid)' },
  { name: 'op', kind: 'str', doc: 'operation kind (model/facts.ts OpKind): notifier-unmap, notifier-age, zap-all-fast, zap-pages, fault, tdp-other, zap-collapsible, write-protect, ...' },
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
  private readonly ops: Op[] = [];
  private observedRows = 0;
  /** Callers of observed flushes, per op id (for those the op did not predict) and for those no op took. */
  private readonly callersByOp = new Map<number, string[]>();
  private readonly unattributed: Record<string, number> = {};
  /** Observed flushes after dirty logging's write-protects, matched by count with the inferred passes. */
  private writeProtectFlushes = 0;

  /** `observing`: the recording says the flush entry points were traced, even if none fired. */
  constructor(private readonly observing = false) {}

  onOpEnd(op: Op): void {
    if (op.flushIssued || op.unflushedWdClears > 0 || this.callersByOp.has(op.id)) this.ops.push(op);
  }

  private observe(obs: FlushObservation, op: Op, inferred: number): void {
    observeOp(obs, op, inferred, this.callersByOp.get(op.id) ?? []);
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

  /** Verdicts need the zaps' refault outcomes and the lock breaks, so they are made at the end. */
  data(zaps: ZapsData, breaks: LockBreaksData): FlushesData {
    const table = new FindingsTable('flushes', FLUSH_COLUMNS);
    const c = columnIndex(FLUSH_COLUMNS);
    const observing = this.observing || this.observedRows > 0;
    const obs: FlushObservation | null = observing ? { ...agreement(), byOp: {}, unpredictedByCaller: { ...this.unattributed } } : null;
    if (obs) for (const n of Object.values(this.unattributed)) addAgreement(obs, 0, n);
    const out: FlushesData = { table, inferred: 0, needed: 0, unneeded: 0, avoidable: 0, missing: 0, extraFlushes: 0, byOp: {}, observed: obs };
    let writeProtectInferred = 0;
    for (const op of this.ops) {
      if (!op.flushIssued && op.unflushedWdClears === 0) {
        // kept only for the flushes the tracer saw in it: no flush inferred, none missing
        if (obs) this.observe(obs, op, 0);
        continue;
      }
      const verdict = verdictOf(op, zaps.perOp.get(op.id));
      // each one flushes the SPTEs zapped since the last: needed
      const extra = extraFlushes(op, breaks.observedByOp.get(op.id) ?? 0);
      const r = table.add();
      table.num(c.op_id, r, op.id);
      table.num(c.line, r, op.line);
      table.num(c.ts_ns, r, op.ts);
      table.str(c.vm, r, op.vm);
      table.str(c.task, r, taskLabel(op.task));
      table.str(c.op, r, op.kind);
      table.num(c.leaf_zaps, r, op.leafZaps);
      table.num(c.tables_zapped, r, op.tablesZapped);
      table.num(c.flushing_changes, r, op.flushingChanges);
      table.num(c.ad_only_changes, r, op.adOnlyChanges);
      table.num(c.extra_flushes, r, extra);
      table.str(c.verdict, r, verdict);
      const inferred = verdict === 'missing' ? 0 : 1 + extra;
      const seen = this.callersByOp.get(op.id)?.length ?? 0;
      if (obs && op.kind === 'write-protect') {
        // untraced passes have no task: their flushes are matched by count below
        table.str(c.observation, r, 'by count');
        writeProtectInferred += inferred;
      } else if (obs) {
        table.num(c.observed_flushes, r, seen);
        table.str(c.observation, r, seen === inferred ? 'confirmed' : seen < inferred ? 'contradicted' : 'unpredicted');
        this.observe(obs, op, inferred);
      }
      table.str(c.evidence, r, obs && inferred > 0 && seen >= inferred ? 'observed' : 'inferred');
      table.str(c.rule, r, op.flushRule);
      if (verdict !== 'missing') out.inferred++;
      out[verdict]++;
      const byOp = (out.byOp[op.kind] ??= { needed: 0, unneeded: 0, avoidable: 0, missing: 0 });
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
function observeOp(obs: FlushObservation, op: Op, inferred: number, callers: readonly string[]): void {
  addAgreement(obs, inferred, callers.length);
  addAgreement((obs.byOp[op.kind] ??= agreement()), inferred, callers.length);
  for (const caller of callers.slice(inferred)) obs.unpredictedByCaller[caller] = (obs.unpredictedByCaller[caller] ?? 0) + 1;
}

function verdictOf(op: Op, z: { zaps: number; redundant: number; unresolved: number } | undefined): FlushVerdict {
  if (!op.flushIssued) return 'missing';
  const harmful = op.leafZaps + op.tablesZapped + (op.flushingChanges - op.adOnlyChanges);
  if (harmful === 0) return 'unneeded';
  // every zap came back unchanged and nothing else needed the flush
  if (op.tablesZapped === 0 && op.flushingChanges === 0 && z && z.zaps > 0 && z.redundant === z.zaps) return 'avoidable';
  return 'needed';
}
