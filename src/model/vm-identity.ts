// Which VM each task's events belong to (design.md §4): by TGID when the trace has it; without it,
// threads writing SPTEs into the same shadow-page tables are one VM, and other tasks (the VMM
// thread, kernel threads) join the VM whose pages, SPTEs or memslots their events touch.
import type { EventView } from './event-view.js';
import type { ListenerHooks, TaskState } from './context.js';
import type { FactEmitter } from './fact-emitter.js';
import type { Memslot } from './memslots.js';
import type { Operations } from './operations.js';
import { VmState } from './vm-state.js';

/** Host kernel threads that send notifications for other processes' memory (design.md §4). */
const KERNEL_THREAD = /^(khugepaged|ksmd|kswapd|kcompactd|kdamond|kworker|oom_reaper)/;

export class VmIdentity {
  /** The trace has a TGID column: VMs are told apart by it. */
  sawTgid = false;
  /** Task-group VMs merged into another (no TGID): id → surviving VM. */
  private readonly mergedInto = new Map<string, VmState>();
  /** The VM whose SPTEs a shadow page table (its physical page) holds (no TGID). */
  private readonly pageOwner = new Map<number, VmState>();

  constructor(
    private readonly view: EventView,
    private readonly on: ListenerHooks,
    private readonly tasks: Map<number, TaskState>,
    private readonly vms: Map<string, VmState>,
    private readonly memslots: Memslot[] | null,
    private readonly facts: FactEmitter,
    private readonly ops: Operations,
  ) {}

  /** How VMs were told apart, for the report. */
  get vmSplit(): string {
    return this.sawTgid
      ? 'by TGID; kernel threads by memslot overlap'
      : 'no TGID: threads writing SPTEs into the same shadow-page tables are one VM; other tasks by memslot overlap, or the only VM';
  }

  /** The state of the task of event `i`: a new one when the pid shows another comm (pid reuse, exec). */
  taskOf(i: number, pid: number): TaskState {
    const v = this.view;
    let t = this.tasks.get(pid);
    const comm = v.comm(i);
    if (!t || t.task.comm !== comm) {
      const prev = t;
      t = {
        task: { pid, comm }, vm: prev?.vm ?? null, kernelThread: KERNEL_THREAD.test(comm), op: null, note: null,
        faultGfn: -1, walkPferr: -1, faultPferr: -1, unsyncGfn: -1, cowHva: -1, newSp: [], lastSp: null, guessedVm: null, episode: null,
      };
      if (prev) this.ops.close(prev);
      this.tasks.set(pid, t);
    }
    if (t.vm === null && !t.kernelThread) {
      const tgid = v.tgid(i);
      if (tgid >= 0) {
        this.sawTgid = true;
        t.vm = this.vmById(`tgid:${tgid}`, tgid);
        t.vm.tasks.set(pid, comm);
      }
    }
    if (t.vm) t.vm = this.live(t.vm);
    return t;
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

  /** The VM that `vm` was merged into, if it was. */
  live(vm: VmState): VmState {
    let cur = vm;
    for (let m = this.mergedInto.get(cur.id); m; m = this.mergedInto.get(cur.id)) cur = m;
    return cur;
  }

  /** The VM of a task doing MMU work itself: its TGID, else a task-group VM (no TGID). */
  ownVm(t: TaskState): VmState {
    if (t.vm) return t.vm;
    // TDP MMU changes carry no SPTE address: a trace with one TDP VM is taken as one VM
    this.joinVmHaving(t, (vm) => vm.isTdp);
    if (t.vm) return t.vm;
    const vm = this.vmById(`task:${t.task.pid}`, null);
    vm.tasks.set(t.task.pid, t.task.comm);
    t.vm = vm;
    return vm;
  }

  /** Work under the VM's mmu_lock (set_spte, get_page, spte_requested, zaps, sync): told, and its VM. */
  lockWork(t: TaskState): VmState {
    const vm = this.ownVm(t);
    for (const l of this.on.mmuLockWork) l.onMmuLockWork!(vm.id, t.task);
    return vm;
  }

  /** Without TGIDs: SPTEs written into one page table prove two task groups are one VM. */
  notePage(vm: VmState, page: number): VmState {
    if (this.sawTgid) return vm;
    const owner = this.pageOwner.get(page);
    if (!owner) {
      this.pageOwner.set(page, vm);
      return vm;
    }
    const o = this.live(owner);
    if (o === vm) return vm;
    if (!o.hasLeavesInPage(page)) {
      // the page holds none of its owner's SPTEs any more: freed and reused by another VM
      this.pageOwner.set(page, vm);
      return vm;
    }
    const keep = this.merge(o, vm);
    this.pageOwner.set(page, keep);
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
    const owner = this.pageOwner.get(page);
    if (!owner) return;
    const o = this.live(owner);
    if (o === vm) return;
    for (const leaf of o.leavesInPage(page)) this.facts.zapLeaf(o, leaf, this.ops.untracedOp(o, t, i), 'inferred', this.view.lineNo(i), this.view.tsNs(i));
    this.pageOwner.delete(page);
  }

  /**
   * Without TGIDs, a task that changes a shadow page or SPTE someone else created (the VMM thread
   * zapping for a notifier or a memslot change, the NX recovery thread) joins the one VM that has it.
   */
  joinVmHaving(t: TaskState, has: (vm: VmState) => boolean): void {
    if (t.vm || this.sawTgid) return;
    let found: VmState | null = null;
    for (const vm of this.vms.values()) {
      if (!has(vm)) continue;
      if (found) return;
      found = vm;
    }
    t.vm = found;
    found?.tasks.set(t.task.pid, t.task.comm);
  }

  onlyVm(): VmState | null {
    if (this.vms.size !== 1) return null;
    return this.vms.values().next().value ?? null;
  }
}
