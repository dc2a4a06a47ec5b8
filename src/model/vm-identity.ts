// Which VM each task's events belong to (design.md §4): by TGID when the trace has it; without it,
// threads writing SPTEs into the same shadow-page tables are one VM, and other tasks (the VMM
// thread, kernel threads) join the VM whose pages, SPTEs or memslots their events touch. A VM's own
// kernel threads never make a VM of their own: evidence that names no single VM leaves their work
// under UNATTRIBUTED, which the report lists apart from the VMs.
import { Ev, type EventView } from './event-view.js';
import type { ListenerHooks, TaskState } from './context.js';
import type { FactEmitter } from './fact-emitter.js';
import type { Op, ShadowPageEvent, Task, TaskAttribution } from './facts.js';
import type { Memslot } from './memslots.js';
import type { NxRecoveryPasses } from './nx-recovery.js';
import type { Operations } from './operations.js';
import { VmState, type ShadowPage } from './vm-state.js';

/** Host kernel threads that send notifications for other processes' memory (design.md §4). */
const KERNEL_THREAD = /^(khugepaged|ksmd|kswapd|kcompactd|kdamond|kworker|oom_reaper)/;
// mmu.c kvm_nx_huge_page_recovery_worker: one per VM (kvm_vm_create_worker_thread "kvm-nx-lpage-recovery", a vhost_task of the VMM's thread group since 6.13/6.12.y; comm truncated to 15 chars)
export const NX_RECOVERY = /^kvm-nx-lpage-re/;
// arch/x86/kvm/i8254.c kvm_create_pit: the per-VM PIT worker, a kthread named "kvm-pit/%d" after the VMM's TGID
const PIT = /^kvm-pit\/(\d+)$/;

/** The VM id of work whose VM the trace does not tell: listed by the report, not as a VM. */
export const UNATTRIBUTED = 'unattributed';

/** Why a VM kernel thread stayed unattributed. */
export type UnattributedWhy = 'several-vms' | 'no-vm' | 'no-mmu-work';

/** A prepare_zap's fields (families/shadow.ts). */
export type ZapOf = Pick<ShadowPageEvent, 'gen' | 'gfn' | 'role' | 'level' | 'line' | 'ts' | 'rootCount'> & {
  key: string;
  /** The second zap of a root zapped while in use (`invalid` in the event). */
  secondHalf: boolean;
};

/** A VM kernel thread's zap of a page several VMs have, held until its VM shows. */
export interface HeldZap extends ZapOf {
  op: Op;
  /** The shadow page each candidate VM had under the key at the zap. */
  pages: [VmState, ShadowPage][];
}

interface Hold {
  /** The VMs that had every page zapped so far that any VM had. */
  candidates: VmState[];
  zaps: HeldZap[];
  keys: Set<string>;
  /** A zapped root or upper-level page: no NX recovery (it zaps only pages that replaced a huge page), so VM teardown. */
  teardown: boolean;
}

export class VmIdentity {
  /** The trace has a TGID column: VMs are told apart by it. */
  sawTgid = false;
  /** Task-group VMs merged into another (no TGID): id → surviving VM. */
  private readonly mergedInto = new Map<string, VmState>();
  /** The VM whose SPTEs a shadow page table (its physical page) holds (no TGID). */
  private readonly pageOwner = new Map<number, VmState>();
  /** Without TGIDs: the VM and the host frame of the SPTE each hashed fast_page_fault sptep last held. */
  private readonly fastSpteps = new Map<number, { vm: VmState; gfn: number; pfnHi: number; pfnLo: number }>();
  /** VM kernel threads seen, and why each one's work went unattributed (if it did). */
  private readonly vmThreads = new Map<TaskState, UnattributedWhy | null>();
  private readonly holds = new Map<TaskState, Hold>();
  private unattributedVm: VmState | null = null;
  /** MMU events counted under UNATTRIBUTED. */
  unattributedEvents = 0;

  constructor(
    private readonly view: EventView,
    private readonly on: ListenerHooks,
    private readonly tasks: Map<number, TaskState>,
    private readonly vms: Map<string, VmState>,
    private readonly memslots: Memslot[] | null,
    private readonly facts: FactEmitter,
    private readonly ops: Operations,
    private readonly nx: NxRecoveryPasses,
  ) {}

  /** How VMs were told apart, for the report. */
  get vmSplit(): string {
    const vmThreads = 'VM kernel threads (kvm-nx-lpage-re*, kvm-pit/<pid>) by the VM whose shadow pages they zap (every page of one VM at its teardown) or that their name gives, else unattributed';
    return this.sawTgid
      ? `by TGID; kernel threads by memslot overlap; ${vmThreads}`
      : `no TGID: threads writing SPTEs into the same shadow-page tables are one VM; other tasks by the shadow pages they zap, memslot overlap, or the only VM; ${vmThreads}`;
  }

  /** The VM of work no evidence gives to one VM (not in `vms`: never merged, joined or listed as a VM). */
  get unattributed(): VmState {
    return (this.unattributedVm ??= new VmState(UNATTRIBUTED, null));
  }

  /** The state of the task of event `i`: a new one when the pid shows another comm (pid reuse, exec). */
  taskOf(i: number, pid: number): TaskState {
    const v = this.view;
    let t = this.tasks.get(pid);
    const comm = v.comm(i);
    if (!t || t.task.comm !== comm) {
      const prev = t;
      const pit = PIT.exec(comm);
      const nx = NX_RECOVERY.test(comm);
      t = {
        task: { pid, comm }, vm: prev?.vm ?? null, kernelThread: KERNEL_THREAD.test(comm), vmThread: pit !== null || nx, nxRecovery: nx,
        namedPid: pit ? Number(pit[1]) : -1, op: null, lastEvent: Ev.Other, lastOpKind: null, note: null,
        faultGfn: -1, walkPferr: -1, faultPferr: -1, unsyncGfn: -1, cowHva: -1, newSp: [], lastZapKey: '', lastSp: null, guessedVm: null, episode: null,
      };
      if (t.vmThread) this.vmThreads.set(t, null);
      if (prev) this.ops.close(prev);
      this.tasks.set(pid, t);
    }
    if (t.vm === null && !t.kernelThread) {
      const tgid = v.tgid(i);
      if (tgid >= 0) this.sawTgid = true;
      if (t.vmThread) this.placeVmThread(t, tgid);
      else if (tgid >= 0) this.join(t, this.vmById(`tgid:${tgid}`, tgid), 'tgid');
    }
    if (t.vm) t.vm = this.live(t.vm);
    return t;
  }

  /**
   * A VM kernel thread by what its task shows: the VMM's TGID (the vhost_task is a thread of the VMM;
   * a kthread is its own thread group, TGID = pid), else the VMM pid kvm-pit/<pid> is named after.
   */
  private placeVmThread(t: TaskState, tgid: number): void {
    if (tgid >= 0 && tgid !== t.task.pid) {
      this.join(t, this.vmById(`tgid:${tgid}`, tgid), 'tgid');
      return;
    }
    const n = t.namedPid;
    if (n < 0) return;
    if (this.sawTgid) {
      this.join(t, this.vmById(`tgid:${n}`, n), 'named-pid');
      return;
    }
    for (const vm of this.vms.values()) {
      if (vm.tasks.has(n)) {
        this.join(t, vm, 'named-pid');
        return;
      }
    }
  }

  private vmById(id: string, tgid: number | null): VmState {
    let vm = this.vms.get(id);
    if (!vm) {
      vm = new VmState(id, tgid);
      vm.memslots = this.memslots ? this.memslots.filter((s) => s.vm === undefined || s.vm === tgid) : null;
      this.vms.set(id, vm);
    }
    return vm;
  }

  /** Task `t` is `vm`'s, for the reason `by` (a task already listed keeps its first reason, unless that was a guess). */
  join(t: TaskState, vm: VmState, by: TaskAttribution): void {
    t.vm = vm;
    vm.tasks.set(t.task.pid, t.task.comm);
    const had = vm.taskBy.get(t.task.pid);
    if (!had || had === 'only-vm') vm.taskBy.set(t.task.pid, by);
  }

  /** The VM that `vm` was merged into, if it was. */
  live(vm: VmState): VmState {
    let cur = vm;
    for (let m = this.mergedInto.get(cur.id); m; m = this.mergedInto.get(cur.id)) cur = m;
    return cur;
  }

  /**
   * The VM of a task doing MMU work itself: its TGID, else a task-group VM (no TGID). A VM kernel
   * thread's is the only TDP VM or the only VM; else its work is unattributed.
   */
  ownVm(t: TaskState): VmState {
    if (t.vm) return t.vm;
    if (t.vmThread) {
      const only = this.onlyVm();
      if (only) {
        this.join(t, only, 'only-vm');
        return only;
      }
      if (!this.vmThreads.get(t)) this.vmThreads.set(t, 'no-vm');
      this.unattributedEvents++;
      return this.unattributed;
    }
    // TDP changes name no table, so a task's first fault cannot show its VM: it joins the one TDP
    // VM alive now (present leaves, or only zaps so far: a VMM whose vCPUs had not shown yet), a
    // guess the report names; a VM torn down (no leaves left) is no candidate (tdp-thp: two VMs in turn)
    if (!this.sawTgid) this.joinVmHaving(t, (vm) => vm.isTdp && (vm.hasLeaves || !vm.tdpInstalled), 'tdp-only-live-vm');
    if (t.vm) return t.vm;
    this.join(t, this.vmById(`task:${t.task.pid}`, null), 'own-mmu-work');
    return t.vm!;
  }

  /** Work under the VM's mmu_lock (set_spte, get_page, spte_requested, zaps, sync): told, and its VM. */
  lockWork(t: TaskState): VmState {
    const vm = this.ownVm(t);
    if (t.nxRecovery || vm.nxRecovery) this.nx.lockWork(vm, t);
    for (const l of this.on.mmuLockWork) l.onMmuLockWork!(vm.id, t.task);
    return vm;
  }

  /**
   * Without TGIDs: SPTEs written into one page table prove two task groups are one VM. A shadow
   * page that holds none of its owner's SPTEs any more was freed and reused by another VM; on the
   * TDP MMU (`tdp`) a set_spte's `at` is the SPTE's physical address in the VM's TDP table
   * (mmutrace.h kvm_mmu_set_spte: virt_to_phys(sptep)), and a table is freed only when unlinked
   * (families/tdp.ts), so a page owned now is never reused.
   */
  notePage(vm: VmState, page: number, tdp = false): VmState {
    if (this.sawTgid || vm === this.unattributedVm) return vm;
    const owner = this.pageOwner.get(page);
    const o = owner ? this.live(owner) : null;
    if (o === vm) return vm;
    if (!o || (!tdp && !o.hasLeavesInPage(page))) {
      this.pageOwner.set(page, vm);
      return vm;
    }
    const keep = this.merge(o, vm);
    this.pageOwner.set(page, keep);
    return keep;
  }

  /**
   * TDP MMU without TGIDs: a change whose old value is a leaf exactly one VM holds at that place
   * (traced zaps leave no stale leaves) is that VM's: the task joins it, or its own VM merges in.
   */
  tdpOwnerOfOld(t: TaskState, holds: (vm: VmState) => boolean): void {
    if (this.sawTgid || t.vmThread) return;
    if (t.kernelThread) {
      // host kernel threads (ksmd, khugepaged, ...) work for any VM: this event's, never a merge
      const holder = this.uniqueVm((vm) => vm.isTdp && holds(vm));
      if (holder) this.join(t, holder, 'tdp-spte');
      return;
    }
    if (!t.vm) {
      this.joinVmHaving(t, (vm) => vm.isTdp && holds(vm), 'tdp-spte');
      return;
    }
    const mine = this.live(t.vm);
    if (holds(mine)) return;
    const other = this.uniqueVm((vm) => vm !== mine && vm.isTdp && holds(vm));
    if (other) t.vm = this.merge(other, mine);
  }

  /**
   * Without TGIDs: fast_page_fault names its SPTE by a hashed pointer (mmu.c fast_page_fault,
   * mmutrace.h %p). Another VM's vCPU fixing the SPTE at the same pointer for the same frame, with
   * the same host page in it (bits 12-51), fixes the same SPTE: the two task groups are one VM.
   */
  noteFastSptep(vm: VmState, sptep: number, gfn: number, hi: number, lo: number): VmState {
    if (this.sawTgid || vm === this.unattributedVm) return vm;
    const pfnHi = hi & 0xfffff, pfnLo = (lo & 0xfffff000) >>> 0;
    const seen = this.fastSpteps.get(sptep);
    let keep = vm;
    if (seen) {
      const other = this.live(seen.vm);
      if (other !== vm && seen.gfn === gfn && seen.pfnHi === pfnHi && seen.pfnLo === pfnLo) keep = this.merge(other, vm);
    }
    this.fastSpteps.set(sptep, { vm: keep, gfn, pfnHi, pfnLo });
    return keep;
  }

  /** A shadow page table was freed: another VM may get its page next. */
  pageFreed(page: number): void {
    this.pageOwner.delete(page);
  }

  /** Two task groups turned out to be one VM: keep the older, move the newer one's state into it. */
  merge(a: VmState, b: VmState): VmState {
    const [keep, gone] = a.id < b.id ? [a, b] : [b, a];
    keep.absorb(gone);
    this.vms.delete(gone.id);
    this.mergedInto.set(gone.id, keep);
    return keep;
  }

  /**
   * A page just allocated for a new shadow page (mmu.c kvm_mmu_alloc_shadow_page) holds no SPTE of
   * any other VM: what the model still has there was dropped untraced when the page was freed.
   */
  claimPage(vm: VmState, t: TaskState, page: number, i: number): void {
    if (vm === this.unattributedVm) return;
    const owner = this.pageOwner.get(page);
    if (!owner) return;
    const o = this.live(owner);
    if (o === vm) return;
    for (const leaf of o.leavesInPage(page)) this.facts.zapLeaf(o, leaf, this.ops.untracedOp(o, t, i), 'inferred', this.view.lineNo(i), this.view.tsNs(i));
    this.pageOwner.delete(page);
  }

  /**
   * Without TGIDs, a task that changes a shadow page or SPTE someone else created (the VMM thread
   * zapping for a notifier or a memslot change) joins the one VM that has it.
   */
  joinVmHaving(t: TaskState, has: (vm: VmState) => boolean, by: TaskAttribution = 'shadow-pages'): void {
    if (t.vm || (this.sawTgid && !t.vmThread)) return;
    const found = this.uniqueVm(has);
    if (found) this.join(t, found, by);
  }

  /** The one VM that `has` holds for, else null (none or several). */
  private uniqueVm(has: (vm: VmState) => boolean): VmState | null {
    let found: VmState | null = null;
    for (const vm of this.vms.values()) {
      if (!has(vm)) continue;
      if (found) return null;
      found = vm;
    }
    return found;
  }

  /**
   * The prepare_zap of shadow page `key` by a VM kernel thread with no VM yet: it joins the one VM
   * that has the page (of those that had its earlier zaps' pages), or the only VM; 'hold' when
   * several have it (the caller holds the zap: addHeld). 'go' without a VM: its work is unattributed.
   */
  placeVmThreadZap(t: TaskState, key: string): 'hold' | 'go' {
    const having: VmState[] = [];
    for (const vm of this.vms.values()) if (vm.shadowPages.has(key)) having.push(vm);
    const hold = this.holds.get(t);
    let cands = having;
    if (hold) {
      const prev = [...new Set(hold.candidates.map((vm) => this.live(vm)))];
      cands = prev.filter((vm) => having.includes(vm));
      // a page no candidate has says nothing
      if (cands.length === 0) cands = prev;
    }
    if (cands.length === 1) {
      this.join(t, cands[0]!, 'shadow-pages');
      return 'go';
    }
    if (cands.length > 1) {
      if (hold) hold.candidates = cands;
      else this.holds.set(t, { candidates: cands, zaps: [], keys: new Set(), teardown: false });
      return 'hold';
    }
    const only = this.onlyVm();
    if (only) this.join(t, only, 'only-vm');
    return 'go';
  }

  /** The VMs a held zap of `t` may be for. */
  heldCandidates(t: TaskState): VmState[] {
    return this.holds.get(t)?.candidates ?? [];
  }

  /**
   * Holds a zap. At VM teardown (kvm_arch_flush_shadow_all → kvm_mmu_zap_all, after the VM's last
   * reference, which the NX recovery thread of a dying VMM drops) the thread zaps every shadow page
   * of its VM: when its zaps, a root or upper-level page among them, took all of exactly one
   * candidate's pages, that is its VM (returned; the caller applies takeHeld).
   */
  addHeld(t: TaskState, z: HeldZap): VmState | null {
    const hold = this.holds.get(t)!;
    hold.zaps.push(z);
    hold.keys.add(z.key);
    if (z.rootCount > 0 || z.level >= 3) hold.teardown = true;
    if (!hold.teardown) return null;
    let all: VmState | null = null;
    for (const vm of hold.candidates) {
      const sps = this.live(vm).shadowPages;
      if (sps.size === 0 || sps.size > hold.keys.size || ![...sps.keys()].every((k) => hold.keys.has(k))) continue;
      if (all) return null;
      all = this.live(vm);
    }
    if (all) this.join(t, all, 'vm-teardown');
    return all;
  }

  /** The zaps held for `t`, now that its VM is known (or never will be). */
  takeHeld(t: TaskState): HeldZap[] {
    const hold = this.holds.get(t);
    if (!hold) return [];
    this.holds.delete(t);
    return hold.zaps;
  }

  /** The end of the trace: the zaps still held are unattributed. */
  takeAllHeld(): [TaskState, HeldZap[]][] {
    const out: [TaskState, HeldZap[]][] = [];
    for (const t of [...this.holds.keys()]) {
      this.vmThreads.set(t, 'several-vms');
      const zaps = this.takeHeld(t);
      this.unattributedEvents += zaps.length;
      out.push([t, zaps]);
    }
    return out;
  }

  /** VM kernel threads no VM got, and why. */
  unattributedTasks(): (Task & { why: UnattributedWhy })[] {
    const out: (Task & { why: UnattributedWhy })[] = [];
    for (const [t, why] of this.vmThreads) if (!t.vm) out.push({ ...t.task, why: why ?? 'no-mmu-work' });
    return out.sort((a, b) => a.pid - b.pid);
  }

  /** How task `pid` came to be `vm`'s (join, or families/notifier.ts). */
  attributionOf(vm: VmState, pid: number): TaskAttribution {
    return vm.taskBy.get(pid)!;
  }

  onlyVm(): VmState | null {
    if (this.vms.size !== 1) return null;
    return this.vms.values().next().value ?? null;
  }
}
