// What the trace can support: per finding family, whether the events it needs are present, which
// are missing, and how to capture them. A family without its evidence is marked, never shown as a
// plain number (the report's sections read this).

export type CoverageStatus = 'supported' | 'partial' | 'none';

export type CoverageFamily = 'zaps and refaults' | 'zap causes' | 'flushes' | 'lock breaks' | 'notifications' | 'aging';

export interface CoverageRow {
  family: CoverageFamily;
  status: CoverageStatus;
  /** Events (group:name) whose absence limits the family. */
  missing: string[];
  /** What the family can and cannot say from this trace. */
  note: string;
}

/** How to add missing events, for the report's coverage block. */
export const CAPTURE_HINT = "mmu-trace record (its default preset has them all), or trace-cmd record -e 'kvmmmu:*' -e kvm:kvm_unmap_hva_range -e kvm:kvm_age_hva -e kvm:kvm_test_age_hva -e sched:sched_switch -e kvm:kvm_exit";

const has = (byName: Readonly<Record<string, number>>, ...names: string[]): boolean => names.some((n) => (byName[n] ?? 0) > 0);

/**
 * The families the events support. SPTE installs come from kvm_mmu_set_spte (shadow MMU, and the
 * TDP MMU's faults) or kvm_tdp_mmu_spte_changed; zaps from kvm_mmu_prepare_zap_page (shadow pages)
 * or kvm_tdp_mmu_spte_changed; a notifier's zaps carry their cause only with kvm_unmap_hva_range;
 * an mmu_lock break is observed through other tasks' MMU work or the zapper's sched_switch
 * (analyses/lock-breaks.ts); a flush is checked against the function tracer's rows of KVM's flush
 * entry points (record --observe-flushes).
 */
export function coverageOf(byName: Readonly<Record<string, number>>): CoverageRow[] {
  const installs = has(byName, 'kvm_mmu_set_spte', 'kvm_tdp_mmu_spte_changed');
  const zaps = has(byName, 'kvm_mmu_prepare_zap_page', 'kvm_tdp_mmu_spte_changed', 'kvm_mmu_zap_all_fast', 'kvm_mmu_invalidate_zap_all_pages');
  const unmaps = has(byName, 'kvm_unmap_hva_range');
  const aging = has(byName, 'kvm_age_hva', 'kvm_test_age_hva', 'kvm_age_page');
  const mmu = installs || zaps;
  const rows: CoverageRow[] = [];
  const row = (family: CoverageFamily, status: CoverageStatus, missing: string[], note: string): void => void rows.push({ family, status, missing, note });

  if (installs && zaps) row('zaps and refaults', 'supported', [], 'zaps and the installs that refault them are traced');
  else if (installs || zaps) {
    row('zaps and refaults', 'partial', installs ? ['kvmmmu:kvm_mmu_prepare_zap_page'] : ['kvmmmu:kvm_mmu_set_spte'],
      installs ? 'installs without shadow-page zaps: only notifier and TDP zaps are seen' : 'zaps without installs: no refault, so no zap can be called redundant');
  } else row('zaps and refaults', 'none', ['kvmmmu:*'], 'no SPTE install or zap in the trace: nothing to replay');

  if (!mmu) row('zap causes', 'none', ['kvmmmu:*'], 'no zaps');
  else if (unmaps) row('zap causes', 'supported', [], 'notifier zaps carry their notifier call');
  else {
    row('zap causes', 'partial', ['kvm:kvm_unmap_hva_range'],
      'no notifier events: zaps a notifier caused show without their cause (as untraced or suspected), and no notification can be irrelevant');
  }

  const functionRows = has(byName, 'function');
  if (!mmu) row('flushes', 'none', ['kvmmmu:*'], 'no MMU operations to infer flushes from');
  else if (functionRows) row('flushes', 'supported', [], 'inferred flushes checked against the function tracer\'s flush calls');
  else row('flushes', 'partial', ['function tracer on kvm_flush_remote_tlbs*'], 'flushes are inferred from the kernel\'s rules only (mmu-trace record --observe-flushes checks them)');

  const sched = has(byName, 'sched_switch');
  if (!zaps) row('lock breaks', 'none', ['kvmmmu:kvm_mmu_prepare_zap_page'], 'no zaps, no long zap episodes');
  else if (sched) row('lock breaks', 'supported', [], 'breaks observed from other tasks\' MMU work and the zapper\'s sched_switch');
  else row('lock breaks', 'partial', ['sched:sched_switch'], 'breaks observed only from other tasks\' MMU work; a switched-out zapper shows as a suspected gap');

  if (unmaps || aging) row('notifications', unmaps ? 'supported' : 'partial', unmaps ? [] : ['kvm:kvm_unmap_hva_range'], unmaps ? 'unmap notifications traced' : 'aging notifications only');
  else row('notifications', 'none', ['kvm:kvm_unmap_hva_range', 'kvm:kvm_age_hva', 'kvm:kvm_test_age_hva'], 'no mmu-notifier events');

  if (aging) row('aging', 'supported', [], 'aging notifications traced');
  else row('aging', 'none', ['kvm:kvm_age_hva', 'kvm:kvm_test_age_hva'], 'no aging notifications (or none happened)');
  return rows;
}
