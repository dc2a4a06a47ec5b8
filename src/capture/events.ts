// The events `mmu-trace record` enables, in one place: `record`, `record --print-setup` and the
// README's Capture section (a test keeps it in step) all read these lists.

/** `group:name`, or `group:*` for every event of a group. */
export type EventSpec = `${string}:${string}`;

export interface EventPreset {
  readonly doc: string;
  readonly events: readonly EventSpec[];
}

/** What the model replays: SPTE changes, shadow pages, zaps, notifiers and aging. */
const MMU: readonly EventSpec[] = [
  'kvmmmu:*',
  'kvm:kvm_unmap_hva_range', 'kvm:kvm_age_hva', 'kvm:kvm_test_age_hva', 'kvm:kvm_set_spte_hva',
];

/** Who ran and why: vCPU exits and faults (lock-break proof), scheduling, host TLB flushes, THP and reclaim. */
const CONTEXT: readonly EventSpec[] = [
  'kvm:kvm_page_fault', 'kvm:kvm_exit', 'kvm:kvm_entry', 'kvm:kvm_userspace_exit',
  'sched:sched_switch', 'sched:sched_wakeup', 'tlb:tlb_flush',
  'huge_memory:mm_collapse_huge_page', 'huge_memory:mm_khugepaged_scan_pmd',
  'vmscan:mm_vmscan_memcg_reclaim_begin', 'vmscan:mm_vmscan_memcg_reclaim_end',
];

export const EVENT_PRESETS = {
  default: { doc: 'the MMU events and their context (exits, faults, scheduling, TLB flushes, THP, reclaim)', events: [...MMU, ...CONTEXT] },
  mmu: { doc: 'the MMU events only: smallest trace, but lock breaks and VM threads are inferred less well', events: MMU },
} as const satisfies Record<string, EventPreset>;

export type PresetName = keyof typeof EVENT_PRESETS;


export function splitSpec(spec: EventSpec): { group: string; name: string } {
  const i = spec.indexOf(':');
  return { group: spec.slice(0, i), name: spec.slice(i + 1) };
}
