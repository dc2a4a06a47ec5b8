// What the trace shows about its kernel, in one place: the flush/lock rule set, the SPTE layout
// (EPT or x86, and which bits mean what) and the shadow-page role layout. The trace rarely says
// its kernel version, so each comes from --kernel, else from version-specific values the trace
// shows, else the newest rules (and the report says it assumed them).
import type { RoleLayoutName } from '../ingest/role.js';
import { isFrozen, isLeaf, isPresent, type SpteLayout } from './spte.js';

/** Kernel ranges whose flush and SPTE rules differ (kvm-mmu-reference.md §3, §4, §9 q3). */
export type RuleSet = 'v5.10' | 'v6.1' | 'v6.12' | 'v6.13+';

export interface KernelRules {
  readonly set: RuleSet;
  readonly source: 'option' | 'trace' | 'default';
  /** Why this set: the option, the SPTE value that showed it, or the default assumption. */
  readonly why: string;
}

/** A version string such as "6.12.117" or "7.2" as major·1000 + minor. */
function versionNumber(version: string): number {
  const m = /^(\d+)\.(\d+)/.exec(version.trim());
  if (!m) throw new Error(`--kernel: expected a version like 6.12 or 7.2, got '${version}'`);
  return Number(m[1]) * 1000 + Number(m[2]);
}

/** The value of the first range whose upper bound (exclusive, major·1000 + minor) is above `v`. */
function byVersion<T>(ranges: readonly (readonly [number, T])[], last: T, version: string): T {
  const v = versionNumber(version);
  return ranges.find(([below]) => v < below)?.[1] ?? last;
}

// SHADOW_NONPRESENT_VALUE (≈6.10) through 6.12.y; the A/D flush-rule change and lockless aging
// are absent in 6.12.117 and present in 7.2, expected from 6.13 (reference §9 q3)
const RULE_SETS = [[6001, 'v5.10'], [6010, 'v6.1'], [6013, 'v6.12']] as const;
/** kvm_mmu_page_role layouts (ingest/role.ts ROLE_LAYOUTS). */
const ROLE_LAYOUT_RANGES = [[5001, 'v4'], [5017, 'v5.1'], [7002, 'v5.17']] as const;

/** Rule set of a kernel version string. */
export function ruleSetOfVersion(version: string): RuleSet {
  return byVersion<RuleSet>(RULE_SETS, 'v6.13+', version);
}

/** kvm_mmu_page_role layout of a kernel version. */
export function roleLayoutOfVersion(version: string): RoleLayoutName {
  return byVersion<RoleLayoutName>(ROLE_LAYOUT_RANGES, 'v7.2', version);
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

/** The kernel as the replay learns it: rules and SPTE layout, refined by values the trace shows. */
export class KernelView {
  rules: KernelRules;
  readonly layout: SpteLayout;
  private eptKnown = false;

  constructor(rules: KernelRules = DEFAULT_RULES) {
    this.rules = rules;
    this.layout = { ept: false, set: rules.set };
  }

  get spteFlavour(): 'ept' | 'x86' | 'unknown' {
    return this.eptKnown ? (this.layout.ept ? 'ept' : 'x86') : 'unknown';
  }

  /** EPT leaves carry a memory type (bits 3–5 = WB 110b); x86 PTEs have PWT/PCD clear there. */
  detectFlavour(level: number, hi: number, lo: number): void {
    if (this.eptKnown || !isPresent(this.layout, hi, lo) || !isLeaf(level, lo)) return;
    this.layout.ept = (lo & 0x38) === 0x30;
    this.eptKnown = true;
  }

  /** Frozen and non-present values differ per kernel (spte.h v6.1 / v6.12 / v7.2). */
  detectVersion(hi: number, lo: number): void {
    if (this.rules.source === 'option') return;
    let set: RuleSet | null = null;
    if (isFrozen(hi, lo)) set = lo === 0x1a0 ? 'v6.13+' : hi === 0 ? 'v6.1' : 'v6.12';
    if (set && set !== this.rules.set) {
      this.rules = { set, source: 'trace', why: `frozen SPTE value ${hi ? (hi >>> 0).toString(16).padStart(8, '0') : ''}${lo.toString(16)} (spte.h FROZEN_SPTE/REMOVED_SPTE)` };
      this.layout.set = set;
    }
  }
}
