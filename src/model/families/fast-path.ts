// The lockless fast path (mmu.c fast_page_fault): a vCPU fixes a present leaf of a direct MMU by
// cmpxchg, without mmu_lock (a dirty-log write-protect or access tracking undone).
import type { ModelContext, TaskState } from '../context.js';
import type { FastFault } from '../facts.js';
import { PAGE } from '../memslots.js';
import { classifyChange, isPresent } from '../spte.js';
import type { EventFamily } from './family.js';

export class FastPathFamily implements EventFamily {
  constructor(private readonly ctx: ModelContext) {}

  /**
   * It only adds permissions, so it never flushes and never breaks mmu_lock. The event is the only
   * trace of the change (reference §1.1); its sptep is a hashed pointer, so the leaf is found by
   * frame (cr2_or_gpa is a gpa on direct MMUs) and old value.
   */
  handleEvent(t: TaskState, i: number): void {
    const { view: v, ids, ops, facts, kernel } = this.ctx;
    const layout = kernel.layout;
    const gfn = Math.floor(v.addr(i) / PAGE);
    const oHi = v.oldHi(i), oLo = v.oldLo(i), nHi = v.newHi(i), nLo = v.newLo(i);
    const own = ids.ownVm(t);
    const vm = isPresent(layout, oHi, oLo) ? ids.noteFastSptep(own, v.sptep(i), gfn, oHi, oLo) : own;
    if (vm !== own) t.vm = vm;
    ops.close(t);
    const outcome = v.fixed(i) ? 'fixed' : v.spurious(i) ? 'spurious' : 'fallback';
    const fact: FastFault = { vm: vm.id, task: t.task, line: v.lineNo(i), ts: v.tsNs(i), gfn, outcome, placed: false, untracedBefore: false };
    // a non-present old value is the last SPTE of a walk that stopped above the leaf: nothing to place
    const leaf = isPresent(layout, oHi, oLo) ? vm.leafMapping(gfn, oHi, oLo) : null;
    if (leaf) {
      fact.placed = true;
      if (leaf.hi !== oHi || leaf.lo !== oLo) {
        // the walk read a value no traced event wrote (shadow MMU dirty-log write-protect, sync_page)
        fact.untracedBefore = true;
        const kind = classifyChange(layout, leaf.level, leaf.hi, leaf.lo, oHi, oLo);
        facts.change(vm, ops.untracedOp(vm, t, i), leaf.asId, leaf.gfn, leaf.level, leaf.sptep, kind, leaf.hi, leaf.lo, oHi, oLo, i, 'inferred');
        leaf.hi = oHi;
        leaf.lo = oLo;
      }
    }
    if (outcome === 'fixed') {
      const op = ops.start(t, 'fast-fault', vm, i);
      const level = leaf?.level ?? 0;
      const kind = classifyChange(layout, leaf?.level ?? 1, oHi, oLo, nHi, nLo);
      facts.change(vm, op, leaf?.asId ?? 0, leaf?.gfn ?? gfn, level, leaf?.sptep ?? -1, kind, oHi, oLo, nHi, nLo, i, 'observed');
      if (leaf) {
        leaf.hi = nHi;
        leaf.lo = nLo;
      }
      ops.close(t);
    }
    for (const l of this.ctx.on.all) l.onFastFault?.(fact);
  }
}
