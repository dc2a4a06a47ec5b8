// The TDP MMU (tdp_mmu.c): every SPTE change is traced (kvm_tdp_mmu_spte_changed, from
// handle_changed_spte), with its (as_id, gfn, level) and no SPTE address.
import type { ModelContext, TaskState } from '../context.js';
import { tdpNxRecoveryShared } from '../kernel-version.js';
import { classifyChange, isAccessed, isLeaf, isPresent, leafUpdateNeedsFlush, pfnOf, staleEntryHarmful, writeOrDirtyCleared, type ChangeKind } from '../spte.js';
import { tdpGroup, tdpSlot } from '../vm-state.js';
import type { EventFamily } from './family.js';
import { splitChildren } from './splits.js';

/** Leaf changes that map a frame afresh: they resolve pending zaps of it (analyses/zaps.ts). */
const MAPS_ANEW: ReadonlySet<ChangeKind> = new Set(['install', 'collapse', 'pfn-change', 'upgrade', 'downgrade', 'write-protect']);
/** Entries of a root page table (4- or 5-level paging): only root teardown removes them. */
const ROOT_ENTRY_LEVEL = 4;

/**
 * The VMM starting a walk by unlinking a table a huge page could replace (levels 2-3,
 * KVM_MAX_HUGEPAGE_LEVEL): dirty logging turned off zaps collapsible SPTEs (x86.c
 * kvm_mmu_slot_apply_flags → tdp_mmu.c zap_collapsible_spte_range, 6.1-6.12). Its other walks
 * start otherwise: notifier and leaf zaps at leaves, root teardown at the root, a fast zap's
 * invalidated roots after the zap_all_fast event; NX recovery is a kernel thread.
 */
function collapsibleZap(t: TaskState, kind: ChangeKind, level: number): boolean {
  return kind === 'unlink' && hugeCapableVmmWalk(t, level);
}

/** A walk of the VMM's own (no kernel thread, no fast zap's aftermath) at a level a huge page can map. */
function hugeCapableVmmWalk(t: TaskState, level: number): boolean {
  return (level === 2 || level === 3) && !t.kernelThread && !t.vmThread && t.lastOpKind !== 'zap-all-fast';
}

export class TdpFamily implements EventFamily {
  constructor(private readonly ctx: ModelContext) {}

  handleEvent(t: TaskState, i: number): void {
    const { view: v, ids, ops, facts, kernel } = this.ctx;
    const asId = v.asId(i);
    const level = v.level(i);
    const gfn = v.gfn(i);
    const group = tdpGroup(asId, gfn, level), slot = tdpSlot(gfn, level);
    const oHi = v.oldHi(i), oLo = v.oldLo(i), nHi = v.newHi(i), nLo = v.newLo(i);
    if (!ids.sawTgid && (oHi !== 0 || oLo !== 0)) {
      ids.tdpOwnerOfOld(t, (o) => {
        const l = o.getLeaf(group, slot);
        return l !== undefined && l.hi === oHi && l.lo === oLo;
      });
    }
    const vm = ids.lockWork(t);
    if (!vm.isTdp && (t.op?.kind === 'zap-pages' || t.op?.kind === 'nx-recovery')) {
      // the VM shows only now that it runs the TDP MMU: this walk's tables came first (7.x post-order)
      if (t.op.kind === 'zap-pages') t.op.kind = 'tdp-other';
      t.op.tablesZapped = 0;
    }
    vm.isTdp = true;
    kernel.detectFlavour(level, oHi, oLo);
    kernel.detectFlavour(level, nHi, nLo);
    kernel.detectVersion(oHi, oLo);
    kernel.detectVersion(nHi, nLo);
    const layout = kernel.layout;
    const kind = classifyChange(layout, level, oHi, oLo, nHi, nLo);
    if (kind === 'unlink' && t.nxRecovery) this.ctx.nx.beforeTableZap(t, gfn, level);
    let op = t.op;
    const oldLeafPresent = isPresent(layout, oHi, oLo) && isLeaf(level, oLo);
    if (op?.kind === 'notifier-unmap' && oldLeafPresent && isPresent(layout, nHi, nLo)) {
      // tdp_mmu.c kvm_tdp_mmu_unmap_gfn_range only zaps: a present leaf changed in place is the task's
      // next op, e.g. dirty logging's kvm_tdp_mmu_wrprot_slot / clear_dirty_gfn_range from the VMM
      op = ops.start(t, 'tdp-other', vm, i);
    } else if (op?.kind === 'notifier-unmap' && kind === 'unlink') {
      // kvm_tdp_mmu_unmap_gfn_range zaps leaves only (tdp_mmu.c tdp_mmu_zap_leafs, 6.1, 6.12): a
      // table removed now is the task's next op, e.g. the VM teardown's kvm_mmu_zap_all at exit
      op = ops.start(t, 'tdp-other', vm, i);
    }
    if (!op) {
      op = ops.start(t, t.nxRecovery ? 'nx-recovery' : collapsibleZap(t, kind, level) ? 'zap-collapsible' : 'tdp-other', vm, i);
      // tdp_mmu.c kvm_tdp_mmu_zap_invalidated_roots: after a fast zap the invalidated roots are
      // zapped under mmu_lock for read (checked on 6.12); so are collapsible tables (mmu.c
      // kvm_mmu_zap_collapsible_sptes, 6.1, 6.12)
      op.sharedLock = t.lastOpKind === 'zap-all-fast' || op.kind === 'zap-collapsible';
    }
    if (op.kind === 'nx-recovery' && !op.sharedLock && tdpNxRecoveryShared(kernel.rules.set)) {
      // mmu.c kvm_recover_nx_huge_pages: the TDP MMU's NX recovery holds mmu_lock for read (6.18+)
      op.sharedLock = true;
    }
    if (op.vm === '') {
      // a notification that came before any VM was known: its traced zaps say whose it is
      op.vm = vm.id;
      if (t.note) t.note.vm = vm.id;
    }
    const line = v.lineNo(i), ts = v.tsNs(i);
    const oldLeaf = oldLeafPresent;
    const newLeaf = isPresent(layout, nHi, nLo) && isLeaf(level, nLo);
    if (kind === 'unlink' && level >= ROOT_ENTRY_LEVEL && (op.kind === 'tdp-other' || op.kind === 'zap-collapsible' || op.kind === 'nx-recovery')) {
      // tdp_mmu.c tdp_mmu_zap_root: only root teardown removes root entries, and neither invalidated
      // roots nor VM teardown flush (kvm_tdp_mmu_zap_invalidated_roots, kvm_tdp_mmu_zap_all)
      op.kind = 'zap-root';
    }
    if (kind === 'split') {
      // tdp_mmu.c tdp_mmu_split_huge_page: a table of 512 leaves with the huge leaf's translation
      // replaces it (eager splitting; the fault path zaps a huge leaf first): no zap, no flush
      const had = vm.getLeaf(group, slot);
      if (had) vm.removeLeaf(had);
      facts.change(vm, op, asId, gfn, level, -1, kind, oHi, oLo, nHi, nLo, i, 'observed');
      splitChildren(vm, tdpGroup(asId, gfn, level - 1), false, asId, gfn, level, oHi, oLo);
      return;
    }
    if (oldLeaf && !newLeaf) {
      // tdp_mmu.c tdp_mmu_iter_cond_resched: zap walks may drop mmu_lock between SPTEs
      ops.episodeZap(op, i);
      const leaf = vm.getLeaf(group, slot) ?? vm.setLeaf(group, slot, asId, gfn, level, -1, oHi, oLo);
      leaf.hi = oHi;
      leaf.lo = oLo;
      facts.zapLeaf(vm, leaf, op, 'observed', line, ts);
      return;
    }
    if (kind === 'unlink') {
      op.tablesZapped++;
      this.ctx.nx.tableZapped(op, gfn, level);
      // the removed table's page is free for another VM (tdp_mmu.c handle_removed_pt)
      ids.pageFreed(pfnOf(oHi, oLo));
    }
    if (kind === 'collapse') {
      op.flushingChanges++;
      if (op.kind === 'tdp-other' && hugeCapableVmmWalk(t, level)) {
        // 6.13+: dirty logging turned off replaces the 4K tables by huge leaves in place, under
        // mmu_lock for read (mmu.c kvm_mmu_recover_huge_pages; from the 6.13 series' patches, not
        // checked on a release); before or after the removed table's children by kernel version
        op.kind = 'recover-huge-pages';
        op.sharedLock = true;
      }
    }
    if (oldLeaf && newLeaf && kind !== 'same') {
      const wdClear = writeOrDirtyCleared(layout, oHi, oLo, nHi, nLo);
      if (op.kind === 'fault') {
        // tdp_mmu.c tdp_mmu_map_handle_target_level: ≤6.12 flushes only when a non-leaf was replaced;
        // later also when leaf_spte_change_needs_tlb_flush (the 2024 make_spte W/D fix)
        if (layout.leafFlush613 && leafUpdateNeedsFlush(layout, oHi, oLo, nHi, nLo)) op.flushingChanges++;
        else if (wdClear) op.unflushedWdClears++;
      } else if (staleEntryHarmful(layout, oHi, oLo, nHi, nLo) || wdClear) {
        op.flushingChanges++;
      } else if (isAccessed(layout, oLo) && !isAccessed(layout, nLo)) {
        op.flushingChanges++;
        op.adOnlyChanges++;
        if (t.note) t.note.young++;
      }
    }
    const had = vm.getLeaf(group, slot);
    if (newLeaf) vm.setLeaf(group, slot, asId, gfn, level, -1, nHi, nLo);
    else if (had) vm.removeLeaf(had);
    facts.change(vm, op, asId, gfn, level, -1, kind, oHi, oLo, nHi, nLo, i, 'observed');
    if (kind === 'install') vm.tdpInstalled = true;
    if (newLeaf && MAPS_ANEW.has(kind)) {
      facts.install(vm, t, asId, gfn, level, -1, nHi, nLo, i);
    }
  }
}
