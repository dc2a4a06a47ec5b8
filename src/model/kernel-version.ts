// What the trace shows about its kernel, in one place: the flush/lock rule set, the SPTE layout
// (EPT or x86, and which bits mean what) and the shadow-page role layout. The trace rarely says
// its kernel version, so each comes from --kernel, else from version-specific values the trace
// shows, else the newest rules (and the report says it assumed them).
import type { RoleLayoutName } from '../ingest/role.js';
import { isFrozen, isLeaf, isPresent, type SpteLayout } from './spte.js';

/**
 * Flush and locking rules, by the kernel range they hold for: notifier lock elision outside
 * memslots (5.13, the 2021 notifier series), no flush for aging and leaf_spte_change_needs_tlb_flush
 * ("KVM x86 MMU changes for 6.13"), lockless aging ("KVM x86/mmu changes for 6.15"), TDP NX huge page
 * recovery under the read lock ("KVM x86 MMU changes for 6.18").
 */
export type RuleSet = '<=5.12' | '5.13-6.12' | '6.13-6.14' | '6.15-6.17' | '>=6.18';
const RULE_SET_ORDER: readonly RuleSet[] = ['<=5.12', '5.13-6.12', '6.13-6.14', '6.15-6.17', '>=6.18'];
/** The rule set holds for kernels from those of `first` on. */
const since = (set: RuleSet, first: RuleSet): boolean => RULE_SET_ORDER.indexOf(set) >= RULE_SET_ORDER.indexOf(first);

/**
 * SPTE layouts (spte.h; kvm-mmu-reference.md §3): present = non-zero (<=6.0) or bit 11; frozen
 * placeholder 0x5a0 (6.1), bit63|0x5a0 (SHADOW_NONPRESENT_VALUE, 6.10-6.18), bit63|0x1a0 with EPT
 * MMU-writable at bit 55 instead of 58 (7.x; first release unverified: after 6.18, by 7.2).
 */
export type SpteGen = '<=6.0' | '6.1-6.9' | '6.10-6.18' | '>=7.0';

export interface KernelRules {
  readonly set: RuleSet;
  /** How SPTE bits are laid out (a separate axis: 6.10-6.18 share one layout across the 6.13 rule change). */
  readonly spteGen: SpteGen;
  /** option: --kernel; recording: the release `mmu-trace record` wrote in the trace's header. */
  readonly source: 'option' | 'recording' | 'trace' | 'default';
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

const RULE_SETS = [[5013, '<=5.12'], [6013, '5.13-6.12'], [6015, '6.13-6.14'], [6018, '6.15-6.17']] as const;
const SPTE_GENS = [[6001, '<=6.0'], [6010, '6.1-6.9'], [7000, '6.10-6.18']] as const;
/** kvm_mmu_page_role layouts (ingest/role.ts ROLE_LAYOUTS). */
const ROLE_LAYOUT_RANGES = [[5001, 'v4'], [5017, 'v5.1'], [7002, 'v5.17']] as const;

/** Rule set of a kernel version string. */
export function ruleSetOfVersion(version: string): RuleSet {
  return byVersion<RuleSet>(RULE_SETS, '>=6.18', version);
}

/** SPTE layout of a kernel version string. */
export function spteGenOfVersion(version: string): SpteGen {
  return byVersion<SpteGen>(SPTE_GENS, '>=7.0', version);
}

/** kvm_mmu_page_role layout of a kernel version. */
export function roleLayoutOfVersion(version: string): RoleLayoutName {
  return byVersion<RoleLayoutName>(ROLE_LAYOUT_RANGES, 'v7.2', version);
}

export const DEFAULT_RULES: KernelRules = {
  set: '>=6.18',
  spteGen: '>=7.0',
  source: 'default',
  why: 'no version in the trace: newest rules assumed (v7.2/v7.3 sources; pass --kernel to choose)',
};

export function rulesFromOption(version: string): KernelRules {
  return { set: ruleSetOfVersion(version), spteGen: spteGenOfVersion(version), source: 'option', why: `--kernel ${version}` };
}

/** The rules of the kernel a recording names (its header's `kernel:` line, uname -r); null if unparsable. */
export function rulesFromRecording(release: string): KernelRules | null {
  if (!/^\d+\.\d+/.test(release)) return null;
  return { set: ruleSetOfVersion(release), spteGen: spteGenOfVersion(release), source: 'recording', why: `recorded on ${release} (mmu-trace record header)` };
}

/**
 * Events only old kernels have, and their last kernel (kvm-mmu-reference.md §1): mmu.c's per-gfn
 * kvm_age_page went with the generic notifier tracepoints of 5.13, mmutrace.h's
 * kvm_mmu_invalidate_zap_all_pages became kvm_mmu_zap_all_fast in 5.1.
 */
const OLD_KERNEL_EVENTS: Readonly<Record<string, string>> = { kvm_age_page: '5.12', kvm_mmu_invalidate_zap_all_pages: '5.0' };

/** Ingest hints of text only kernels up to 5.12 print (decoders/shadow-page.ts, mmu.ts, notifier.ts), oldest first. */
const OLD_KERNEL_HINTS: readonly { key: string; value: RegExp; until: string }[] = [
  { key: 'sp-text', value: /2\.6\.3x/, until: '2.6.33' },
  { key: 'sp-text', value: /v4\.19|v4\.x/, until: '5.0' },
  { key: 'zap-all', value: /./, until: OLD_KERNEL_EVENTS.kvm_mmu_invalidate_zap_all_pages! },
  { key: 'sp-text', value: /v5\.1-5\.3/, until: '5.3' },
  { key: 'kvm_age_page', value: /./, until: OLD_KERNEL_EVENTS.kvm_age_page! },
];

/**
 * The <=5.12 rules when the text of the trace's head is one only old kernels print (read before
 * the replay, so the rules hold from the first event); null when it shows nothing of the kind.
 */
export function rulesFromHints(hints: Readonly<Record<string, { value: string; line: number }>>): KernelRules | null {
  for (const { key, value, until } of OLD_KERNEL_HINTS) {
    const h = hints[key];
    if (!h || !value.test(h.value)) continue;
    return { set: '<=5.12', spteGen: '<=6.0', source: 'trace', why: `${h.value} (line ${h.line}; kernels up to ${until}): <=5.12 rules and the <=6.0 SPTE layout assumed (pass --kernel to choose)` };
  }
  return null;
}

/**
 * clear_flush_young flushes when something was young (kvm_main.c kvm_mmu_notifier_clear_flush_young,
 * ≤6.12); x86 selects KVM_ELIDE_TLB_FLUSH_IF_YOUNG later (v7.3 arch/x86/kvm/Kconfig).
 */
export function agingFlushes(set: RuleSet): boolean {
  return !since(set, '6.13-6.14');
}

/** Aging takes no mmu_lock (KVM_MMU_LOCKLESS_AGING, x86 from 6.15). */
export function agingLockless(set: RuleSet): boolean {
  return since(set, '6.15-6.17');
}

/** TDP NX huge page recovery holds mmu_lock for read (mmu.c kvm_recover_nx_huge_pages, 6.18+). */
export function tdpNxRecoveryShared(set: RuleSet): boolean {
  return set === '>=6.18';
}

/**
 * Overwriting a present leaf flushes only when it clears MMU-writable (spte.h
 * leaf_spte_change_needs_tlb_flush, 6.13+); before, mmu.c mmu_spte_update's older rule.
 */
export function leafFlushRuleOf613(set: RuleSet): boolean {
  return since(set, '6.13-6.14');
}

/**
 * Notifier callbacks take mmu_lock only when the range hits a memslot (kvm_main.c
 * __kvm_handle_hva_range, since the 2021 notifier series, 5.13); v5.10 always took it.
 */
export function notifierLockElided(set: RuleSet): boolean {
  return set !== '<=5.12';
}

/** The kernel as the replay learns it: rules and SPTE layout, refined by values the trace shows. */
export class KernelView {
  rules: KernelRules;
  readonly layout: SpteLayout;
  private eptKnown = false;

  private genFromTrace = false;
  private zeroNonPresent = false;
  private changePte = false;

  constructor(rules: KernelRules = DEFAULT_RULES) {
    this.rules = rules;
    this.layout = { ept: false, gen: rules.spteGen, leafFlush613: leafFlushRuleOf613(rules.set) };
  }

  /** The version was given or recorded: nothing in the trace overrides it. */
  private get known(): boolean {
    return this.rules.source === 'option' || this.rules.source === 'recording';
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

  /**
   * The frozen placeholder's value names the SPTE layout; the rules follow where the layout pins
   * them down. bit63|0x5a0 is printed by 6.10 to 6.18, across the 6.13 rule change: the rules stay
   * as they were (--kernel, else the default) and the report says the trace cannot tell.
   */
  detectVersion(hi: number, lo: number): void {
    if (hi === 0 && lo === 0) {
      this.detectZeroNonPresent();
      return;
    }
    if (this.genFromTrace || this.known || !isFrozen(hi, lo)) return;
    this.genFromTrace = true;
    const gen: SpteGen = lo === 0x1a0 ? '>=7.0' : hi === 0 ? '6.1-6.9' : '6.10-6.18';
    const value = `${hi ? (hi >>> 0).toString(16).padStart(8, '0') : ''}${lo.toString(16)}`;
    const why = `frozen SPTE value ${value} (spte.h FROZEN_SPTE/REMOVED_SPTE): SPTE layout ${gen}`;
    const set = gen === '>=7.0' ? '>=6.18' : gen === '6.1-6.9' ? '5.13-6.12' : null;
    this.adopt(set
      ? { set, spteGen: gen, source: 'trace', why }
      : { ...this.rules, spteGen: gen, why: `${why}, which 6.12 and 6.13+ share: ${this.rules.set} rules assumed; pass --kernel to choose` });
  }

  /**
   * A TDP SPTE that is 0 when not present: SHADOW_NONPRESENT_VALUE is bit 63 from 6.10 (spte.h,
   * x86_64), so the kernel is 6.9 or older. It shows at a VM's first fault, long before a frozen
   * SPTE would, and every flush decided until then would follow the newest rules.
   */
  private detectZeroNonPresent(): void {
    if (this.genFromTrace || this.zeroNonPresent || this.known) return;
    this.zeroNonPresent = true;
    const why = 'non-present TDP SPTEs are 0 (spte.h SHADOW_NONPRESENT_VALUE is bit 63 from 6.10): 6.9 or older, 5.13-6.12 rules assumed (5.12 and older not told apart; pass --kernel to choose)';
    this.adopt({ set: '5.13-6.12', spteGen: '6.1-6.9', source: 'trace', why });
  }

  /**
   * A kvm_set_spte_hva event: the change_pte notifier, present in 6.1 and gone by 6.12
   * (kvm-mmu-reference.md §1: removed in 6.9 or 6.10), so the kernel predates the 6.13 rules.
   * A later frozen or zero SPTE still names the layout.
   */
  detectChangePte(): void {
    if (this.genFromTrace || this.zeroNonPresent || this.changePte || this.known) return;
    this.changePte = true;
    this.adopt({ set: '5.13-6.12', spteGen: '6.1-6.9', source: 'trace', why: 'kvm_set_spte_hva events (change_pte, gone by 6.12): 5.13-6.12 rules and the 6.1-6.9 SPTE layout assumed (5.12 and older not told apart; pass --kernel to choose)' });
  }

  /**
   * An event only kernels up to 5.12 have: kvm_age_page (x86 rmap aging, before the generic
   * notifier tracepoints of 5.13) or kvm_mmu_invalidate_zap_all_pages (<=5.0). The <=5.12 rules
   * hold from here on; a frozen SPTE seen before still names the layout.
   */
  detectOldKernel(event: string): void {
    if (this.known || this.rules.set === '<=5.12') return;
    const until = OLD_KERNEL_EVENTS[event];
    this.adopt({
      set: '<=5.12', spteGen: this.genFromTrace ? this.rules.spteGen : '<=6.0', source: 'trace',
      why: `${event} events (kernels up to ${until} only): <=5.12 rules${this.genFromTrace ? '' : ' and the <=6.0 SPTE layout'} assumed (pass --kernel to choose)`,
    });
  }

  private adopt(rules: KernelRules): void {
    this.rules = rules;
    this.layout.gen = rules.spteGen;
    this.layout.leafFlush613 = leafFlushRuleOf613(rules.set);
  }
}
