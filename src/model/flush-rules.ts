// Whether the kernel flushes remote TLBs at the end of an operation: one table of rules by op
// kind, each row citing the kernel function and the kernels it holds for (kvm-mmu-reference.md §4.3).
import type { Op, OpKind } from './facts.js';
import { agingFlushes, type RuleSet } from './kernel-version.js';

interface FlushRule {
  /** Kernels the row holds for (rule sets of kernel-version.ts). */
  kernels: string;
  flushes(op: Op, set: RuleSet): boolean;
  rule(set: RuleSet): string;
}

/** Tasks that age through mmu_notifier_clear_young only (mm/damon/ops-common.c, vaddr.c): never a flush. */
const CLEAR_YOUNG_ONLY = /^kdamond/;

const zappedAnything = (op: Op): boolean => op.tablesZapped + op.leafZaps + op.rootsFreed > 0;
const never = (): boolean => false;

const NOTIFIER_UNMAP: FlushRule = {
  kernels: 'all',
  flushes: (op) => op.leafZaps + op.tablesZapped > 0,
  rule: () => 'kvm_main.c __kvm_handle_hva_range: flush_on_ret and the unmap handler zapped something',
};
const NO_FLUSH_NOTIFIER: FlushRule = { kernels: 'all', flushes: never, rule: () => 'test_young / change_pte never flush' };
const COMMIT_ZAP: FlushRule = {
  kernels: 'all',
  flushes: zappedAnything,
  rule: () => 'mmu.c kvm_mmu_commit_zap_page: one flush per non-empty invalid_list',
};
const CALLER_FLUSHES: FlushRule = {
  kernels: 'all',
  flushes: (op) => op.flushingChanges > 0 || op.leafZaps > 0 || op.tablesZapped > 0,
  rule: () => 'caller flushes after zapping or write-protecting (tdp_mmu.c tdp_mmu_zap_leafs, wrprot_gfn_range callers)',
};

/** A flush when the op made a leaf change that needs one (spte.ts leafUpdateNeedsFlush). */
function whenChanged(kernels: string, rule: string): FlushRule {
  return { kernels, flushes: (op) => op.flushingChanges > 0, rule: () => rule };
}

const FLUSH_RULES: Readonly<Record<OpKind, FlushRule>> = {
  'notifier-unmap': NOTIFIER_UNMAP,
  'notifier-age': {
    kernels: '<=6.12 flush when young (clear_flush_young only); 6.13+ never',
    flushes: (op, set) => agingFlushes(set) && op.adOnlyChanges > 0 && !CLEAR_YOUNG_ONLY.test(op.task.comm),
    rule: (set) => agingFlushes(set)
      ? 'kvm_main.c kvm_mmu_notifier_clear_flush_young: flush when young (<=6.12); kvm_age_hva also prints for clear_young, which never flushes: DAMON (kdamond) always, MGLRU and page_idle too (not told apart by task)'
      : 'KVM_ELIDE_TLB_FLUSH_IF_YOUNG (x86, 6.13+): aging never flushes',
  },
  'notifier-test-age': NO_FLUSH_NOTIFIER,
  'notifier-change-pte': NO_FLUSH_NOTIFIER,
  'zap-all-fast': {
    kernels: 'all (checked on 6.12)',
    flushes: zappedAnything,
    rule: () => 'mmu.c kvm_zap_obsolete_pages: obsolete pages are in no vCPU\'s use (all loaded a new root), so no TLB entry is stale; the remote flush at kvm_mmu_commit_zap_page only kicks vCPUs out of lockless walks before the pages are freed',
  },
  'zap-pages': COMMIT_ZAP,
  'fast-fault': {
    kernels: 'all',
    flushes: never,
    rule: () => 'mmu.c fast_page_fault: a lockless cmpxchg that only adds permissions never flushes',
  },
  'zap-root': {
    kernels: 'all',
    flushes: never,
    rule: () => 'tdp_mmu.c tdp_mmu_zap_root: invalidated roots and VM teardown need no flush',
  },
  fault: whenChanged('all', 'mmu.c mmu_set_spte / tdp_mmu.c tdp_mmu_map_handle_target_level'),
  'write-protect': whenChanged('all (checked on 6.12)',
    'flush after write-protecting: x86.c kvm_mmu_slot_apply_flags and kvm_main.c kvm_get/clear_dirty_log_protect (kvm_flush_remote_tlbs_memslot), mmu.c account_shadowed (kvm_flush_remote_tlbs_gfn)'),
  'account-shadowed': whenChanged('all (checked on 6.1, 6.12)',
    'mmu.c account_shadowed: kvm_mmu_slot_gfn_write_protect of the shadowed gfn, then kvm_flush_remote_tlbs_gfn (a level-1 page) or kvm_flush_remote_tlbs (page_track.c __kvm_write_track_add_gfn, upper levels) when it protected something'),
  'sync-children': whenChanged('all (checked on 6.1, 6.12)',
    'mmu.c mmu_sync_children: kvm_vcpu_write_protect_gfn of each unsync page of a batch (up to 16), one kvm_mmu_remote_flush_or_zap when any was protected; a run of sync_page events is counted as one batch (a lower bound)'),
  'tdp-other': CALLER_FLUSHES,
  'recover-huge-pages': whenChanged('6.13+ (from the 6.13 series\' patches; not checked on a release)',
    'tdp_mmu.c recover_huge_pages_range: one kvm_flush_remote_tlbs_memslot after replacing tables by huge leaves, and one before each yield (tdp_mmu_iter_cond_resched(flush))'),
  'zap-collapsible': {
    kernels: '6.1-6.12 (checked on 6.1, 6.12); 6.13+ recovers huge pages in place instead',
    flushes: (op) => op.tablesZapped > 0,
    rule: () => 'tdp_mmu.c zap_collapsible_spte_range: each tdp_mmu_zap_spte_atomic of a table flushes remote TLBs (one flush per table), under mmu_lock for read',
  },
  'nx-recovery': {
    kernels: 'all (checked on 6.1)',
    flushes: zappedAnything,
    rule: () => 'mmu.c kvm_recover_nx_lpages (6.1; kvm_recover_nx_huge_pages later): kvm_mmu_remote_flush_or_zap after the pass and before each break: the invalid list committed (shadow MMU) or a flush when a TDP table was zapped (kvm_tdp_mmu_zap_sp)',
  },
  invlpg: {
    kernels: '<=6.3-ish with FNAME(invlpg) (checked on 6.1); 6.12 syncs the SPTE in place, untraced (__kvm_mmu_invalidate_addr): no prediction',
    flushes: (op) => op.leafZaps > 0,
    rule: () => 'paging_tmpl.h FNAME(invlpg): mmu_page_zap_pte of the unsync leaf, kvm_flush_remote_tlbs_with_address when it was present, then FNAME(prefetch_gpte) (the kvm_mmu_set_spte that names the place)',
  },
  // the untraced-changes op is never closed: its rule text is set where it is made (operations.ts)
  sync: CALLER_FLUSHES,
};

/**
 * Flushes the op issues on top of its final one, given its observed mmu_lock breaks (found by
 * analyses/lock-breaks.ts): one per table a zap_collapsible walk zaps (tdp_mmu.c
 * tdp_mmu_zap_spte_atomic; it yields without flushing), one before each break of TDP leaf zap walks
 * (tdp_mmu.c tdp_mmu_zap_leafs → tdp_mmu_iter_cond_resched(flush)) and of NX recovery (mmu.c
 * kvm_recover_nx_huge_pages → kvm_mmu_remote_flush_or_zap at each break); checked on 6.12.
 * kvm_zap_obsolete_pages, root teardown and the shadow MMU's other page zaps yield without flushing.
 */
export function extraFlushes(op: Op, observedBreaks: number): number {
  if (op.kind === 'zap-collapsible') return Math.max(0, op.tablesZapped - 1);
  return flushesOnYield(op) ? observedBreaks : 0;
}

function flushesOnYield(op: Op): boolean {
  if (!op.episode) return false;
  // a TDP walk's leaf zaps are its episode zaps (families/tdp.ts); shadow notifier zaps are untraced
  return op.kind === 'tdp-other' || op.kind === 'notifier-unmap' || op.kind === 'recover-huge-pages' || op.kind === 'nx-recovery';
}

/** Decides the op's flush by its kind's rule, and records the rule applied. */
export function decideFlush(op: Op, set: RuleSet): void {
  const r = FLUSH_RULES[op.kind];
  op.flushIssued = r.flushes(op, set);
  op.flushRule = r.rule(set);
}

/**
 * KVM's remote-flush entry points (kvm_main.c kvm_flush_remote_tlbs, _range and _memslot; 6.1's
 * x86 mmu.c kvm_flush_remote_tlbs_with_address and kvm_arch_flush_remote_tlbs_memslot), function-traced by `--observe-flushes` where they exist.
 */
export const FLUSH_FUNCTIONS: readonly string[] = [
  'kvm_flush_remote_tlbs', 'kvm_flush_remote_tlbs_range', 'kvm_flush_remote_tlbs_memslot',
  'kvm_flush_remote_tlbs_with_address', 'kvm_arch_flush_remote_tlbs_memslot',
];

/**
 * Callers of the flush after dirty logging's write-protects, which no event traces (x86.c
 * kvm_mmu_slot_apply_flags, inlined into kvm_set_memslot / kvm_commit_memory_region on 6.1;
 * kvm_main.c kvm_get_dirty_log_protect, kvm_clear_dirty_log_protect; checked on 6.1, 6.12): their
 * flushes are matched, by count, with the write-protect passes the model infers from the faults
 * that undo them.
 */
export const WRITE_PROTECT_FLUSH_CALLERS: ReadonlySet<string> = new Set([
  'kvm_mmu_slot_apply_flags', 'kvm_set_memslot', 'kvm_commit_memory_region', 'kvm_arch_commit_memory_region',
  'kvm_get_dirty_log_protect', 'kvm_clear_dirty_log_protect',
]);
