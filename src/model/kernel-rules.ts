// Which kernel's MMU rules the model applies. The trace rarely says its kernel version, so the rule
// set comes from --kernel, else from version-specific values the trace shows, else the newest rules
// (and the report says it assumed them).

/** Kernel ranges whose flush and SPTE rules differ (kvm-mmu-reference.md §3, §4, §9 q3). */
export type RuleSet = 'v5.10' | 'v6.1' | 'v6.12' | 'v6.13+';

export interface KernelRules {
  readonly set: RuleSet;
  readonly source: 'option' | 'trace' | 'default';
  /** Why this set: the option, the SPTE value that showed it, or the default assumption. */
  readonly why: string;
}

/** Rule set of a kernel version string such as "6.12.117" or "7.2". */
export function ruleSetOfVersion(version: string): RuleSet {
  const m = /^(\d+)\.(\d+)/.exec(version.trim());
  if (!m) throw new Error(`--kernel: expected a version like 6.12 or 7.2, got '${version}'`);
  const v = Number(m[1]) * 1000 + Number(m[2]);
  if (v < 6001) return 'v5.10';
  if (v < 6010) return 'v6.1';
  // SHADOW_NONPRESENT_VALUE (≈6.10) through 6.12.y; the A/D flush-rule change and lockless aging
  // are absent in 6.12.117 and present in 7.2, expected from 6.13 (reference §9 q3)
  if (v < 6013) return 'v6.12';
  return 'v6.13+';
}

export const DEFAULT_RULES: KernelRules = {
  set: 'v6.13+',
  source: 'default',
  why: 'no version in the trace: newest rules assumed (v7.2/v7.3 sources; pass --kernel to choose)',
};

export function rulesFromOption(version: string): KernelRules {
  return { set: ruleSetOfVersion(version), source: 'option', why: `--kernel ${version}` };
}

/**
 * clear_flush_young flushes when something was young (kvm_main.c kvm_mmu_notifier_clear_flush_young,
 * ≤6.12); x86 selects KVM_ELIDE_TLB_FLUSH_IF_YOUNG later (v7.3 arch/x86/kvm/Kconfig).
 */
export function agingFlushes(set: RuleSet): boolean {
  return set !== 'v6.13+';
}

/**
 * Notifier callbacks take mmu_lock only when the range hits a memslot (kvm_main.c
 * __kvm_handle_hva_range, since the 2021 notifier series, 5.13); v5.10 always took it.
 */
export function notifierLockElided(set: RuleSet): boolean {
  return set !== 'v5.10';
}
