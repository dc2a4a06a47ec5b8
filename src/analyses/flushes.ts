// Flushes (finding 2): the TLB flushes the kernel issues per operation by its rules (x86 traces
// no flush event, §4.4), each judged needed / unneeded / avoidable, plus missing ones.
import { taskLabel, type FactListener, type Op } from '../model/facts.js';
import { extraFlushes } from '../model/flush-rules.js';
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
  { name: 'verdict', kind: 'str', doc: 'needed | unneeded (nothing a stale TLB entry could harm) | avoidable (all its zaps were redundant) | missing (W/D cleared, no flush)' },
  { name: 'evidence', kind: 'str', doc: 'always inferred: x86 does not trace its remote TLB flushes' },
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
}

export class FlushesHandler implements FactListener {
  private readonly ops: Op[] = [];

  onOpEnd(op: Op): void {
    if (op.flushIssued || op.unflushedWdClears > 0) this.ops.push(op);
  }

  /** Verdicts need the zaps' refault outcomes and the lock breaks, so they are made at the end. */
  data(zaps: ZapsData, breaks: LockBreaksData): FlushesData {
    const table = new FindingsTable('flushes', FLUSH_COLUMNS);
    const c = columnIndex(FLUSH_COLUMNS);
    const out: FlushesData = { table, inferred: 0, needed: 0, unneeded: 0, avoidable: 0, missing: 0, extraFlushes: 0, byOp: {} };
    for (const op of this.ops) {
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
      table.str(c.evidence, r, 'inferred');
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
    return out;
  }
}

function verdictOf(op: Op, z: { zaps: number; redundant: number; unresolved: number } | undefined): FlushVerdict {
  if (!op.flushIssued) return 'missing';
  const harmful = op.leafZaps + op.tablesZapped + (op.flushingChanges - op.adOnlyChanges);
  if (harmful === 0) return 'unneeded';
  // every zap came back unchanged and nothing else needed the flush
  if (op.tablesZapped === 0 && op.flushingChanges === 0 && z && z.zaps > 0 && z.redundant === z.zaps) return 'avoidable';
  return 'needed';
}
