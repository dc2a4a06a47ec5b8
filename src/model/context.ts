// The replay's shared state, passed explicitly to every event family (families/*.ts): the batch
// view, the tasks and VMs, the kernel the trace came from, and the listeners. The services that
// act on it (VM identity, operations, facts) live in their own files and are reached from here.
import { EventView, type Ev } from './event-view.js';
import type { FactListener, Notification, Op, OpKind, Task } from './facts.js';
import type { FactEmitter } from './fact-emitter.js';
import type { KernelView } from './kernel-version.js';
import type { Memslot } from './memslots.js';
import type { NxRecoveryPasses } from './nx-recovery.js';
import type { Operations } from './operations.js';
import type { VmIdentity } from './vm-identity.js';
import type { ShadowPage, VmState } from './vm-state.js';

/** A zap_all_fast in progress: its obsolete generation and op (families/obsolete.ts). */
export interface Episode {
  gen: number;
  op: Op;
  /** Without TGIDs and with several VMs, whose zap_all_fast it is shows only at its first page zap. */
  vmUnknown: boolean;
}

/** What the replay knows about one task (pid) between its events. */
export interface TaskState {
  task: Task;
  vm: VmState | null;
  kernelThread: boolean;
  /** One of a VM's own kernel threads (NX recovery, PIT): never a VM of its own (vm-identity.ts). */
  vmThread: boolean;
  /** A VM's NX huge page recovery thread (kvm-nx-lpage-recovery): its zaps are nx-recovery ops. */
  nxRecovery: boolean;
  /** The VMM pid a kvm-pit/<pid> thread is named after, else -1. */
  namedPid: number;
  op: Op | null;
  /** Kind of the task's last event the model handled (Ev.Other: none, or one no op takes part in). */
  lastEvent: Ev;
  /** Kind of the task's last op that ended, else null. */
  lastOpKind: OpKind | null;
  note: Notification | null;
  /** gfn of the fault in progress (kvm_mmu_spte_requested), else -1. */
  faultGfn: number;
  /** Error code of the task's last guest walk (kvm_mmu_pagetable_walk, kvm_page_fault), else -1. */
  walkPferr: number;
  /** Error code of the fault in progress (its walk's), else -1. */
  faultPferr: number;
  /** gfn of the guest page table this fault just unsynced (kvm_mmu_unsync_page), else -1. */
  unsyncGfn: number;
  /** hva of a single-page unmap this task just caused (copy-on-write in its fault), else -1. */
  cowHva: number;
  /** Shadow pages this task just created, by level, waiting for their first SPTE (its page). */
  newSp: (ShadowPage | null)[];
  /** Key of the shadow page this task last zapped (prepare_zap), else ''. */
  lastZapKey: string;
  /** The shadow page of this task's last kvm_mmu_get_page. */
  lastSp: ShadowPage | null;
  /** The VM a notification was given to only because it was the only one (no TGID): a guess. */
  guessedVm: VmState | null;
  episode: Episode | null;
}

/** Listeners by hook, for the per-SPTE hot paths. */
export interface ListenerHooks {
  all: FactListener[];
  leafZap: FactListener[];
  leafInstall: FactListener[];
  spteChange: FactListener[];
  mmuLockWork: FactListener[];
  marker: FactListener[];
}

export function hooksOf(listeners: FactListener[]): ListenerHooks {
  return {
    all: listeners,
    leafZap: listeners.filter((l) => l.onLeafZap),
    leafInstall: listeners.filter((l) => l.onLeafInstall),
    spteChange: listeners.filter((l) => l.onSpteChange),
    mmuLockWork: listeners.filter((l) => l.onMmuLockWork),
    marker: listeners.filter((l) => l.onMarker),
  };
}

export interface ModelContext {
  readonly view: EventView;
  readonly on: ListenerHooks;
  readonly tasks: Map<number, TaskState>;
  readonly vms: Map<string, VmState>;
  /** --memslots, when given. */
  readonly memslots: Memslot[] | null;
  readonly kernel: KernelView;
  readonly ids: VmIdentity;
  readonly ops: Operations;
  readonly nx: NxRecoveryPasses;
  readonly facts: FactEmitter;
}
