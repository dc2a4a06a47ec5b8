// What the replay tells the analyses: the facts the model derives from events, each with the
// evidence behind it (design.md §5). Analyses implement the parts of FactListener they need.
import type { ChangeKind } from './spte.js';

export type Evidence = 'observed' | 'inferred' | 'suspected';

/** The task an event came from. */
export interface Task {
  pid: number;
  comm: string;
}

/**
 * How a task was found to belong to its VM (model/vm-identity.ts): the TGID column; without it, a
 * task group of its own MMU work, SPTEs written into the same shadow-page tables as the VM's other
 * threads, a shadow page only that VM has, a TDP leaf only that VM holds, the only TDP VM alive (a guess), its notifications' memslot overlap, the
 * only VM (a guess), a VM kernel thread's teardown zaps, or the VM process a thread's name gives.
 */
export type TaskAttribution =
  | 'tgid' | 'own-mmu-work' | 'shared-page-tables' | 'shadow-pages' | 'tdp-spte' | 'tdp-only-live-vm' | 'memslot' | 'only-vm' | 'vm-teardown' | 'named-pid';

/** A task as the findings name it: `comm-pid` (an op no traced task did: its comm alone). */
export function taskLabel(task: Task): string {
  return task.pid < 0 ? task.comm : `${task.comm}-${task.pid}`;
}

/** What made the kernel change SPTEs: one mmu_lock hold / one flush decision (design.md §4). */
export type OpKind =
  | 'notifier-unmap' | 'notifier-age' | 'notifier-test-age' | 'notifier-change-pte'
  | 'zap-all-fast' | 'zap-pages' | 'zap-root' | 'fault' | 'fast-fault' | 'tdp-other' | 'sync'
  // an untraced write-protect pass (dirty logging, account_shadowed), inferred from the faults undoing it
  | 'write-protect'
  // a traced event's write-protect of a guest page table's gfn (mmu.c account_shadowed, mmu_sync_children)
  | 'account-shadowed' | 'sync-children'
  // the VMM's zap of 4K tables a huge page can replace when dirty logging stops (mmu.c kvm_mmu_zap_collapsible_sptes, TDP MMU)
  | 'zap-collapsible'
  // a guest INVLPG on the shadow MMU: the unsync leaf of the address zapped, its guest PTE prefetched (paging_tmpl.h FNAME(invlpg))
  | 'invlpg'
  // its 6.13+ successor: the tables are replaced by huge leaves in place (tdp_mmu.c recover_huge_pages_range)
  | 'recover-huge-pages'
  // a pass of the VM's NX huge page recovery thread: split huge pages' tables zapped (mmu.c kvm_recover_nx_lpages, 6.1)
  | 'nx-recovery';


export interface Op {
  id: number;
  kind: OpKind;
  vm: string;
  task: Task;
  line: number;
  ts: number;
  /** Present leaves the op zapped. */
  leafZaps: number;
  /** Non-leaf tables removed (unlink, shadow pages zapped). */
  tablesZapped: number;
  /** Second zaps of roots already zapped while in use: freed, nothing left to unlink (§5.2). */
  rootsFreed: number;
  /** Leaf changes that need a flush by the kernel's rule, and those that would not need one. */
  flushingChanges: number;
  adOnlyChanges: number;
  /** Present leaves overwritten with W or D cleared on a path that does not flush. */
  unflushedWdClears: number;
  /** The op's zaps are inferred from the trace (untraced shadow-MMU zaps) rather than observed. */
  zapEvidence: Evidence;
  /** Whether the kernel issues a flush for this op (inferred from its rule), and the rule. */
  flushIssued: boolean;
  flushRule: string;
  /** The op is a zap episode whose lock breaks are tracked (it ends when the op closes). */
  episode: boolean;
  /** It holds mmu_lock for read: vCPU faults run beside it, so another task's work is no lock break. */
  sharedLock: boolean;
}

/** Where an SPTE lives: (as_id, gfn, level), and its address when known (shadow MMU `at`), else -1. */
export interface SptePlace {
  asId: number;
  gfn: number;
  level: number;
  sptep: number;
}

export interface LeafZap extends SptePlace {
  vm: string;
  oldHi: number;
  oldLo: number;
  line: number;
  ts: number;
  op: Op;
  evidence: Evidence;
}

export interface LeafInstall extends SptePlace {
  vm: string;
  hi: number;
  lo: number;
  line: number;
  ts: number;
  task: Task;
  /** No fault requested it: a prefetched neighbour (shadow MMU pte_prefetch). */
  prefetch: boolean;
}

export interface SpteChange extends SptePlace {
  vm: string;
  kind: ChangeKind;
  oldHi: number;
  oldLo: number;
  newHi: number;
  newLo: number;
  line: number;
  ts: number;
  op: Op | null;
  evidence: Evidence;
}

export interface ShadowPageEvent {
  vm: string;
  gen: number;
  gfn: number;
  role: string;
  level: number;
  line: number;
  ts: number;
  task: Task;
  rootCount: number;
  /** The zap of a page already marked invalid: the normal second half of a root zap (§5.2). */
  invalidAlready: boolean;
  op: Op | null;
}

export type Overlap = 'inside' | 'partial' | 'outside' | 'unknown';

export interface Notification {
  kind: 'unmap' | 'age' | 'test-age' | 'change-pte';
  vm: string | null;
  /** How the VM was chosen: the task's TGID, memslot overlap, or the only VM. */
  vmBy: 'tgid' | 'task' | 'memslot' | 'only-vm' | 'none';
  task: Task;
  line: number;
  ts: number;
  hvaStart: number;
  hvaEnd: number;
  overlap: Overlap;
  /** 'file' (--memslots) or 'inferred' (hva↔gfn learned from the trace). */
  memslotSource: 'file' | 'inferred' | 'none';
  gfnStart: number;
  gfnEnd: number;
  /** Present leaves zapped (unmap), Accessed bits cleared (age), young found (test-age). */
  sptesZapped: number;
  young: number;
  /** Present leaves whose Accessed state is unknown (the CPU may have set A since KVM cleared it). */
  youngUnknown: number;
  /** Whether KVM takes mmu_lock for it (no memslot overlap ⇒ none since 5.13). */
  lockTaken: boolean | null;
  flush: boolean;
  evidence: Evidence;
}

/** A fast_page_fault: a vCPU's lockless fix-up attempt on a direct MMU (mmu.c fast_page_fault). */
export interface FastFault {
  vm: string;
  task: Task;
  line: number;
  ts: number;
  gfn: number;
  /** fixed: the SPTE was changed; spurious: it already allowed the access; fallback: the slow path runs. */
  outcome: 'fixed' | 'spurious' | 'fallback';
  /** The model knew the SPTE (placed by gfn and old value; `sptep` is a hashed pointer). */
  placed: boolean;
  /** The old value differs from the model's: an untraced change came first (e.g. a dirty-log write-protect). */
  untracedBefore: boolean;
}

/** MMIO SPTE events (mmu.c mark_mmio_spte, handle_mmio_page_fault, check_mmio_spte). */
export interface MmioEvent {
  vm: string;
  task: Task;
  line: number;
  gfn: number;
  /** mark: an MMIO SPTE written; fault: an access emulated from one; stale: its generation is obsolete. */
  kind: 'mark' | 'fault' | 'stale';
}

/** An eager huge-page split (kvm_mmu_split_huge_page), successful or not. */
export interface HugeSplit {
  vm: string;
  line: number;
  gfn: number;
  level: number;
  errno: number;
  /** Smaller leaves the model now holds for it (inferred: the kernel writes them untraced). */
  children: number;
}

/**
 * What write-protected an SPTE: dirty logging (untraced), a guest page table becoming shadowed
 * (kvm_mmu_get_page ... new of an indirect page: account_shadowed) or resynced (kvm_mmu_sync_page:
 * mmu_sync_children).
 */
export type WriteProtectCause = 'dirty-log' | 'shadowed-page-table' | 'sync-children';

/** SPTEs a traced event write-protected (the event observed, the SPTEs' change inferred from the model). */
export interface WriteProtect {
  vm: string;
  gfn: number;
  level: number;
  line: number;
  ts: number;
  cause: WriteProtectCause;
  /** The op it is counted in (account-shadowed or sync-children). */
  op: Op;
}

/**
 * A write fault that made a write-protected SPTE writable again: after a write-protect the model
 * made (WriteProtect), or one it infers because the fault found the SPTE present but read-only
 * (error code P|W) while the model held it writable.
 */
export interface WriteProtectRestore {
  vm: string;
  gfn: number;
  level: number;
  line: number;
  ts: number;
  task: Task;
  cause: WriteProtectCause;
  /** The write-protect pass it is counted in (an op of kind write-protect, account-shadowed or sync-children). */
  pass: Op;
}

/** A trace marker (tracing_mark_write): the user's phase labels. */
export interface Marker {
  text: string;
  line: number;
  ts: number;
}

export interface ZapEpisodeZap {
  vm: string;
  pid: number;
  line: number;
  ts: number;
}

/**
 * The analyses' side of the replay. LeafZap, LeafInstall and SpteChange objects are refilled for
 * every fact (millions per trace): valid only during the call, so copy what you keep. Ops and
 * notifications are the replay's own and may be kept.
 */
export interface FactListener {
  onOpEnd?(op: Op): void;
  onLeafZap?(z: LeafZap): void;
  onLeafInstall?(s: LeafInstall): void;
  onSpteChange?(c: SpteChange): void;
  onShadowPageCreated?(p: ShadowPageEvent): void;
  onShadowPageZapped?(p: ShadowPageEvent): void;
  onNotification?(n: Notification): void;
  /** A zap episode (an op that may drop mmu_lock while zapping) starts / zaps a page or leaf / ends. */
  onEpisodeStart?(op: Op, usedPages: number | null): void;
  onEpisodeZap?(z: ZapEpisodeZap): void;
  onEpisodeEnd?(op: Op): void;
  /** Work that holds the VM's mmu_lock (set_spte, get_page, spte_requested, zaps, sync). */
  onMmuLockWork?(vm: string, task: Task): void;
  onFastFault?(f: FastFault): void;
  onMmio?(m: MmioEvent): void;
  onHugeSplit?(s: HugeSplit): void;
  onWriteProtect?(w: WriteProtect): void;
  onWriteProtectRestore?(w: WriteProtectRestore): void;
  onMarker?(m: Marker): void;
  /** The task `prevPid` was switched out. */
  onSchedSwitch?(prevPid: number): void;
  /** A remote TLB flush the function tracer saw (record --observe-flushes), with the op it belongs to, if any. */
  onObservedFlush?(f: ObservedFlush): void;
}

export interface ObservedFlush {
  /** The op the flush is credited to: the task's open op, when the task's previous event was part of it. */
  op: Op | null;
  /** The flush entry point's caller (compiler suffixes like .part.0 dropped). */
  caller: string;
}
