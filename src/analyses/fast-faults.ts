// Lockless fast page faults (mmu.c fast_page_fault): how many a vCPU fixed itself, found spurious, or
// handed to the slow path, per task. Their SPTE changes are `spte_changes` rows of op `fast-fault`.
import type { FactListener, FastFault } from '../model/facts.js';

export interface FastFaultCounts {
  fixed: number;
  spurious: number;
  fallback: number;
}

export interface FastFaultsData extends FastFaultCounts {
  /** Faults whose SPTE the model did not know (no earlier event placed it). */
  unplaced: number;
  /** Faults that read a value no traced event wrote: an untraced change came first (inferred). */
  afterUntracedChange: number;
  byTask: Record<string, FastFaultCounts>;
}

export class FastFaultsHandler implements FactListener {
  private readonly out: FastFaultsData = { fixed: 0, spurious: 0, fallback: 0, unplaced: 0, afterUntracedChange: 0, byTask: {} };

  onFastFault(f: FastFault): void {
    const o = this.out;
    o[f.outcome]++;
    (o.byTask[f.task.comm] ??= { fixed: 0, spurious: 0, fallback: 0 })[f.outcome]++;
    // a fallback may have stopped above the leaf: only fixed and spurious faults name a leaf
    if (!f.placed && f.outcome !== 'fallback') o.unplaced++;
    if (f.untracedBefore) o.afterUntracedChange++;
  }

  data(): FastFaultsData {
    return { ...this.out, byTask: Object.fromEntries(Object.entries(this.out.byTask).sort(([a], [b]) => (a < b ? -1 : 1))) };
  }
}
