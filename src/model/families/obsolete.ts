// Fast zaps (mmu.c kvm_mmu_zap_all_fast, ≤5.0 kvm_mmu_invalidate_zap_all_pages): a memslot change
// makes every shadow page of the current generation obsolete, and kvm_zap_obsolete_pages drops them
// page by page, breaking mmu_lock on the way: one zap episode (analyses/lock-breaks.ts).
import { Ev } from '../event-view.js';
import type { ModelContext, TaskState } from '../context.js';
import type { Op } from '../facts.js';
import { rmapLeaves, type VmState } from '../vm-state.js';
import type { EventFamily } from './family.js';

export class ObsoleteFamily implements EventFamily {
  constructor(private readonly ctx: ModelContext) {}

  /** kvm_mmu_zap_all_fast: the episode starts, with the VM's pages made obsolete. */
  handleEvent(t: TaskState, i: number): void {
    const { view: v, ids, ops } = this.ctx;
    const gen = v.validGen(i);
    const vm = t.vm ?? ids.onlyVm() ?? (ids.sawTgid || this.ctx.vms.size === 0 ? ids.ownVm(t) : null);
    const op = ops.start(t, 'zap-all-fast', vm, i);
    t.episode = { gen, op, vmUnknown: vm === null };
    if (vm) this.obsoleteAll(t, vm, gen, op);
    ops.startEpisode(op, v.usedPages(i));
  }

  /** Task `t` is in a zap_all_fast and event `i` is not one of its obsolete pages (or a sync): it is over. */
  endsEpisode(t: TaskState, i: number, kind: Ev): boolean {
    const e = t.episode;
    return e !== null && !(kind === Ev.PrepareZap && this.ctx.view.spGen(i) === e.gen) && kind !== Ev.SyncPage;
  }

  /**
   * A prepare_zap of the task's zap_all_fast whose VM is not known yet (no TGID, several VMs): the
   * first page a VM has names it. True when the zap was taken here (its page no VM has, or several).
   */
  zapOfUnknownVm(t: TaskState, i: number): boolean {
    const e = t.episode;
    if (!e?.vmUnknown) return false;
    if (!t.vm) {
      e.op.tablesZapped++;
      this.ctx.ops.episodeZap(e.op, i);
      return true;
    }
    // mmu_lock is held since the zap_all_fast: no vCPU has installed anything of the new generation yet
    e.vmUnknown = false;
    this.obsoleteAll(t, t.vm, e.gen, e.op);
    return false;
  }

  /**
   * mmu.c kvm_mmu_zap_all_fast: the trace prints the generation being made obsolete, then flips it;
   * every shadow page of the old generation is obsolete, vCPUs reload roots and kvm_zap_obsolete_pages
   * drops them all, their leaves with them (inferred: untraced).
   */
  private obsoleteAll(t: TaskState, vm: VmState, gen: number, op: Op): void {
    // its VM's already, or the only VM's (handleEvent)
    this.ctx.ids.join(t, vm, 'only-vm');
    vm.validGen = gen ^ 1;
    op.vm = vm.id;
    // the TDP MMU's invalidated roots are zapped with traced changes; shadow pages (a TDP VM's nested guest's) untraced
    for (const leaf of rmapLeaves(vm, () => vm.allLeaves())) this.ctx.facts.zapLeaf(vm, leaf, op, 'inferred', op.line, op.ts);
  }
}
