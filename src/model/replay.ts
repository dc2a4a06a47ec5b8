// The replay: `events` batches in trace order through a model of KVM's MMU (shadow and TDP). It
// keeps live state per VM, groups events into operations (one mmu_lock hold / flush decision) and
// tells the analyses what happened (facts.ts), with the evidence for each fact.
import type { RecordBatch } from 'apache-arrow';
import { Ev, EventView } from './event-view.js';
import type { Evidence, FactListener, FastFault, LeafInstall, LeafZap, MmioEvent, Notification, Op, OpKind, SpteChange, Task } from './facts.js';
import { DEFAULT_RULES, agingFlushes, notifierLockElided, type KernelRules, type RuleSet } from './kernel-rules.js';
import { hitsOf, type Memslot, type SlotHit } from './memslots.js';
import {
  classifyChange, isAccessed, isFrozen, isLeaf, isPresent, leafUpdateNeedsFlush, staleEntryHarmful, writeOrDirtyCleared,
  clearAccessed, type ChangeKind, type SpteLayout,
} from './spte.js';
import { NO_PAGE, VmState, shadowGroup, shadowSlot, splitTableKey, tdpGroup, tdpSlot, type Leaf, type ShadowPage } from './vm-state.js';

export interface ReplayOptions {
  memslots?: Memslot[] | null;
  rules?: KernelRules;
}

/** Host kernel threads that send notifications for other processes' memory (design.md §4). */
const KERNEL_THREAD = /^(khugepaged|ksmd|kswapd|kcompactd|kdamond|kworker|oom_reaper)/;

interface Episode {
  gen: number;
  op: Op;
  /** Without TGIDs and with several VMs, whose zap_all_fast it is shows only at its first page zap. */
  vmUnknown: boolean;
}

interface TaskState {
  task: Task;
  vm: VmState | null;
  kernelThread: boolean;
  op: Op | null;
  note: Notification | null;
  /** gfn of the fault in progress (kvm_mmu_spte_requested), else -1. */
  faultGfn: number;
  /** hva of a single-page unmap this task just caused (copy-on-write in its fault), else -1. */
  cowHva: number;
  /** Shadow pages this task just created, by level, waiting for their first SPTE (its page). */
  newSp: (ShadowPage | null)[];
  /** The shadow page of this task's last kvm_mmu_get_page. */
  lastSp: ShadowPage | null;
  /** The VM a notification was given to only because it was the only one (no TGID): a guess. */
  guessedVm: VmState | null;
  episode: Episode | null;
}

export interface ReplayData {
  rules: KernelRules;
  spteFlavour: 'ept' | 'x86' | 'unknown';
  vms: { id: string; tgid: number | null; tasks: Task[]; memslots: 'file' | 'inferred' | 'none'; inferredOffsets: { delta: number; anchors: number }[] }[];
  vmSplit: string;
  ops: number;
}

const PAGE = 4096;
/** Leaf changes that map a frame afresh: they resolve pending zaps of it (analyses/zaps.ts). */
const MAPS_ANEW: ReadonlySet<ChangeKind> = new Set(['install', 'collapse', 'pfn-change', 'upgrade', 'downgrade', 'write-protect']);
/** Entries of a root page table (4- or 5-level paging): only root teardown removes them. */
const ROOT_ENTRY_LEVEL = 4;
/** TDP ops a removed table's prepare_zap belongs to: the walk (fault, zap, NX recovery) that unlinked it. */
const TDP_WALK: ReadonlySet<OpKind> = new Set(['fault', 'tdp-other', 'zap-root']);

export class Replay {
  private readonly view = new EventView();
  private readonly tasks = new Map<number, TaskState>();
  private readonly vms = new Map<string, VmState>();
  /** Task-group VMs merged into another (no TGID): id → surviving VM. */
  private readonly mergedInto = new Map<string, VmState>();
  private readonly pageOwner = new Map<number, VmState>();
  private readonly layout: SpteLayout;
  private rules: KernelRules;
  private eptKnown = false;
  private sawTgid = false;
  private nextOp = 1;
  private readonly untraced = new Map<string, Op>();
  /** Listeners by hook, for the per-SPTE hot paths. */
  private readonly on: { leafZap: FactListener[]; leafInstall: FactListener[]; spteChange: FactListener[]; mmuLockWork: FactListener[] };
  // one fact object per kind, refilled for every fact (facts.ts: valid only during the call)
  private readonly zapFact: LeafZap;
  private readonly installFact: LeafInstall;
  private readonly changeFact: SpteChange;

  constructor(private readonly listeners: FactListener[], private readonly opts: ReplayOptions = {}) {
    this.rules = opts.rules ?? DEFAULT_RULES;
    this.layout = { ept: false, set: this.rules.set };
    this.on = {
      leafZap: listeners.filter((l) => l.onLeafZap), leafInstall: listeners.filter((l) => l.onLeafInstall),
      spteChange: listeners.filter((l) => l.onSpteChange), mmuLockWork: listeners.filter((l) => l.onMmuLockWork),
    };
    const task: Task = { pid: -1, comm: '' };
    const op = blankOp(0, 'sync', '', task, 0, 0);
    this.zapFact = { vm: '', asId: 0, gfn: 0, level: 0, sptep: -1, oldHi: 0, oldLo: 0, line: 0, ts: 0, op, evidence: 'observed' };
    this.installFact = { vm: '', asId: 0, gfn: 0, level: 0, sptep: -1, hi: 0, lo: 0, line: 0, ts: 0, task, prefetch: false };
    this.changeFact = {
      vm: '', asId: 0, gfn: 0, level: 0, sptep: -1, kind: 'install', oldHi: 0, oldLo: 0, newHi: 0, newLo: 0, line: 0, ts: 0, op: null, evidence: 'observed',
    };
  }

  /** How SPTE bits are read now (the flavour and version may be learned from the trace). */
  get spteLayout(): SpteLayout {
    return this.layout;
  }

  handleBatch(batch: RecordBatch): void {
    const v = this.view;
    v.load(batch);
    for (let i = 0; i < v.length; i++) {
      const k = v.kind(i);
      if (k === Ev.SchedSwitch) {
        for (const l of this.listeners) l.onSchedSwitch?.(v.prevPid(i));
        continue;
      }
      if (k === Ev.Other && !v.isKvm(i)) continue;
      const pid = v.pid(i);
      if (pid < 0) continue;
      const t = this.taskOf(i, pid);
      if (t.episode && !(k === Ev.PrepareZap && v.spGen(i) === t.episode.gen) && k !== Ev.SyncPage) this.endEpisode(t);
      switch (k) {
        case Ev.SetSpte: this.setSpte(t, i); break;
        case Ev.SpteRequested: this.spteRequested(t, i); break;
        case Ev.GetPage: this.getPage(t, i); break;
        case Ev.PrepareZap: this.prepareZap(t, i); break;
        case Ev.SyncPage:
        case Ev.UnsyncPage: this.lockWork(t); break;
        case Ev.ZapAllFast: this.zapAllFast(t, i); break;
        case Ev.TdpChanged: this.tdpChanged(t, i); break;
        case Ev.UnmapHva: this.notifier(t, i, 'unmap'); break;
        case Ev.AgeHva: this.notifier(t, i, 'age'); break;
        case Ev.TestAgeHva: this.notifier(t, i, 'test-age'); break;
        case Ev.SetSpteHva: this.notifier(t, i, 'change-pte'); break;
        case Ev.FastPageFault: this.fastPageFault(t, i); break;
        case Ev.SplitHugePage: this.splitHugePage(t, i); break;
        case Ev.MarkMmio: this.mmio(t, i, 'mark'); break;
        case Ev.HandleMmio: this.mmio(t, i, 'fault'); break;
        case Ev.CheckMmio: if (!v.valid(i)) this.mmio(t, i, 'stale'); break;
        default: break;
      }
    }
  }

  finish(): ReplayData {
    for (const t of this.tasks.values()) {
      if (t.episode) this.endEpisode(t);
      this.closeOp(t);
    }
    const vms = [...this.vms.values()].sort((a, b) => (a.tgid ?? 0) - (b.tgid ?? 0) || (a.id < b.id ? -1 : 1));
    return {
      rules: this.rules,
      spteFlavour: this.eptKnown ? (this.layout.ept ? 'ept' : 'x86') : 'unknown',
      vms: vms.map((vm) => ({
        id: vm.id,
        tgid: vm.tgid,
        tasks: [...vm.tasks].map(([pid, comm]) => ({ pid, comm })).sort((a, b) => a.pid - b.pid),
        memslots: vm.memslots ? 'file' : vm.inferred.anchors > 0 ? 'inferred' : 'none',
        inferredOffsets: vm.memslots ? [] : vm.inferred.offsets(),
      })),
      vmSplit: this.sawTgid
        ? 'by TGID; kernel threads by memslot overlap'
        : 'no TGID: threads writing SPTEs into the same shadow-page tables are one VM; other tasks by memslot overlap, or the only VM',
      ops: this.nextOp - 1,
    };
  }

  // ---- tasks, VMs, operations ------------------------------------------------------------

  private taskOf(i: number, pid: number): TaskState {
    const v = this.view;
    let t = this.tasks.get(pid);
    const comm = v.comm(i);
    if (!t || t.task.comm !== comm) {
      const prev = t;
      t = {
        task: { pid, comm }, vm: prev?.vm ?? null, kernelThread: KERNEL_THREAD.test(comm), op: null, note: null,
        faultGfn: -1, cowHva: -1, newSp: [], lastSp: null, guessedVm: null, episode: null,
      };
      if (prev) this.closeOp(prev);
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
      vm.memslots = this.opts.memslots ? this.opts.memslots.filter((s) => s.vm === undefined || s.vm === tgid) : null;
      this.vms.set(id, vm);
    }
    return vm;
  }

  private live(vm: VmState): VmState {
    let cur = vm;
    for (let m = this.mergedInto.get(cur.id); m; m = this.mergedInto.get(cur.id)) cur = m;
    return cur;
  }

  /** The VM of a task doing MMU work itself: its TGID, else a task-group VM (no TGID). */
  private ownVm(t: TaskState): VmState {
    if (t.vm) return t.vm;
    // TDP MMU changes carry no SPTE address: a trace with one TDP VM is taken as one VM
    this.joinVmHaving(t, (vm) => vm.isTdp);
    if (t.vm) return t.vm;
    const vm = this.vmById(`task:${t.task.pid}`, null);
    vm.tasks.set(t.task.pid, t.task.comm);
    t.vm = vm;
    return vm;
  }

  /** Without TGIDs: SPTEs written into one page table prove two task groups are one VM. */
  private notePage(vm: VmState, page: number): VmState {
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

  /** Two task groups turned out to be one VM: keep the older, move the newer one's state into it. */
  private merge(a: VmState, b: VmState): VmState {
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
  private claimPage(vm: VmState, t: TaskState, page: number, i: number): void {
    const owner = this.pageOwner.get(page);
    if (!owner) return;
    const o = this.live(owner);
    if (o === vm) return;
    for (const leaf of o.leavesInPage(page)) this.zapLeaf(o, leaf, this.untracedOp(o, t, i), 'inferred', this.view.lineNo(i), this.view.tsNs(i));
    this.pageOwner.delete(page);
  }

  /** An op of `vm`, or of a VM not known yet (id ''; set when its events show it). */
  private startOp(t: TaskState, kind: OpKind, vm: VmState | null, i: number): Op {
    this.closeOp(t);
    const op = this.newOp(kind, vm?.id ?? '', t.task, this.view.lineNo(i), this.view.tsNs(i));
    t.op = op;
    return op;
  }

  private newOp(kind: OpKind, vm: string, task: Task, line: number, ts: number): Op {
    return blankOp(this.nextOp++, kind, vm, task, line, ts);
  }

  private closeOp(t: TaskState): void {
    const op = t.op;
    if (!op) return;
    t.op = null;
    decideFlush(op, this.rules.set);
    const note = t.note;
    t.note = null;
    if (note) {
      note.sptesZapped = op.leafZaps;
      note.flush = op.flushIssued;
      for (const l of this.listeners) l.onNotification?.(note);
    }
    for (const l of this.listeners) l.onOpEnd?.(op);
    if (op.episode) for (const l of this.listeners) l.onEpisodeEnd?.(op);
  }

  private startEpisode(op: Op, usedPages: number | null): void {
    op.episode = true;
    for (const l of this.listeners) l.onEpisodeStart?.(op, usedPages);
  }

  /** One page or leaf zapped by a zap op (not a fault, which never drops mmu_lock mid-way). */
  private episodeZap(op: Op, i: number): void {
    if (op.kind === 'fault') return;
    if (!op.episode) this.startEpisode(op, null);
    for (const l of this.listeners) l.onEpisodeZap?.({ vm: op.vm, pid: op.task.pid, line: this.view.lineNo(i), ts: this.view.tsNs(i) });
  }

  /** An op for SPTE changes the trace cannot show the cause of (sync_page, lost events, ...). */
  private untracedOp(vm: VmState, t: TaskState, i: number): Op {
    let op = this.untraced.get(vm.id);
    if (!op) {
      op = this.newOp('sync', vm.id, t.task, this.view.lineNo(i), this.view.tsNs(i));
      op.flushRule = 'untraced changes (sync_page / invlpg / lost events): no flush decision is modelled';
      this.untraced.set(vm.id, op);
    }
    return op;
  }

  private lockWork(t: TaskState): VmState {
    const vm = this.ownVm(t);
    for (const l of this.on.mmuLockWork) l.onMmuLockWork!(vm.id, t.task);
    return vm;
  }

  // ---- leaf zaps and installs ----------------------------------------------------------

  private zapLeaf(vm: VmState, leaf: Leaf, op: Op, evidence: Evidence, line: number, ts: number): void {
    vm.removeLeaf(leaf);
    op.leafZaps++;
    if (evidence !== 'observed') op.zapEvidence = evidence;
    const z = this.zapFact;
    z.vm = vm.id;
    z.asId = leaf.asId;
    z.gfn = leaf.gfn;
    z.level = leaf.level;
    z.sptep = leaf.sptep;
    z.oldHi = leaf.hi;
    z.oldLo = leaf.lo;
    z.line = line;
    z.ts = ts;
    z.op = op;
    z.evidence = evidence;
    for (const l of this.on.leafZap) l.onLeafZap!(z);
    this.emitChange(vm, op, leaf.asId, leaf.gfn, leaf.level, leaf.sptep, 'zap', leaf.hi, leaf.lo, 0, 0, line, ts, evidence);
  }

  private install(vm: VmState, t: TaskState, asId: number, gfn: number, level: number, sptep: number, hi: number, lo: number, i: number): void {
    const s = this.installFact;
    s.vm = vm.id;
    s.asId = asId;
    s.gfn = gfn;
    s.level = level;
    s.sptep = sptep;
    s.hi = hi;
    s.lo = lo;
    s.line = this.view.lineNo(i);
    s.ts = this.view.tsNs(i);
    s.task = t.task;
    s.prefetch = t.faultGfn !== gfn;
    for (const l of this.on.leafInstall) l.onLeafInstall!(s);
  }

  private change(vm: VmState, op: Op | null, asId: number, gfn: number, level: number, sptep: number, kind: ChangeKind,
    oHi: number, oLo: number, nHi: number, nLo: number, i: number, evidence: Evidence): void {
    this.emitChange(vm, op, asId, gfn, level, sptep, kind, oHi, oLo, nHi, nLo, this.view.lineNo(i), this.view.tsNs(i), evidence);
  }

  private emitChange(vm: VmState, op: Op | null, asId: number, gfn: number, level: number, sptep: number, kind: ChangeKind,
    oHi: number, oLo: number, nHi: number, nLo: number, line: number, ts: number, evidence: Evidence): void {
    const c = this.changeFact;
    c.vm = vm.id;
    c.asId = asId;
    c.gfn = gfn;
    c.level = level;
    c.sptep = sptep;
    c.kind = kind;
    c.oldHi = oHi;
    c.oldLo = oLo;
    c.newHi = nHi;
    c.newLo = nLo;
    c.line = line;
    c.ts = ts;
    c.op = op;
    c.evidence = evidence;
    for (const l of this.on.spteChange) l.onSpteChange!(c);
  }

  // ---- shadow MMU ------------------------------------------------------------------------

  private spteRequested(t: TaskState, i: number): void {
    const v = this.view;
    let vm = this.lockWork(t);
    const gfn = v.gfn(i);
    if (t.cowHva >= 0) {
      // hva_to_pfn broke copy-on-write for this fault: hva ↔ gfn (memslots.ts InferredMemslots)
      vm.inferred.add(gfn, t.cowHva);
      if (!vm.memslots && t.op?.kind === 'notifier-unmap' && !vm.isTdp) {
        for (const leaf of vm.leavesInRange(null, gfn, gfn + 1)) this.zapLeaf(vm, leaf, t.op, 'inferred', t.op.line, t.op.ts);
        if (t.note) Object.assign(t.note, { overlap: 'inside', memslotSource: 'inferred', gfnStart: gfn, gfnEnd: gfn + 1, lockTaken: true });
      }
      t.cowHva = -1;
    }
    vm = this.live(vm);
    if (t.op?.kind !== 'fault' || t.faultGfn !== gfn) this.startOp(t, 'fault', vm, i);
    t.faultGfn = gfn;
  }

  private setSpte(t: TaskState, i: number): void {
    const v = this.view;
    let vm = this.lockWork(t);
    // on the TDP MMU the change was already traced by kvm_tdp_mmu_spte_changed just before and
    // `at` is no shadow-page slot; it is the fault's last event (tdp_mmu.c tdp_mmu_map_handle_target_level)
    if (vm.isTdp) {
      if (t.op?.kind === 'fault') this.closeOp(t);
      return;
    }
    const sptep = v.sptep(i);
    const page = shadowGroup(sptep);
    const level = v.level(i);
    const sp = t.newSp[level];
    if (sp) this.claimPage(vm, t, page, i);
    vm = this.notePage(vm, page);
    t.vm = vm;
    if (sp) {
      // the first SPTE a task sets at a level right after creating a page there is in that page
      sp.page = page;
      vm.spOfPage.set(page, sp);
      t.newSp[level] = null;
    }
    const gfn = v.gfn(i);
    const hi = v.spteHi(i);
    const lo = v.spteLo(i);
    const op = t.op?.kind === 'fault' ? t.op : this.startOp(t, 'fault', vm, i);
    this.detectFlavour(level, hi, lo);
    if (!isPresent(this.layout, hi, lo)) return;
    const slot = shadowSlot(sptep);
    let old = vm.getLeaf(page, slot);
    if (!old && vm.unplacedSplitTables > 0 && !vm.spOfPage.has(page)) old = this.placeSplitTable(vm, page, slot, gfn, level);
    if (old && old.gfn === gfn) {
      const kind = classifyChange(this.layout, level, old.hi, old.lo, hi, lo);
      if (kind === 'same') {
        // re-installing the value a present slot already holds: something untraced changed it
        // in between (a notifier zap outside known memslots, sync_page, ...)
        this.zapLeaf(vm, old, this.untracedOp(vm, t, i), 'suspected', v.lineNo(i), v.tsNs(i));
      } else {
        // mmu.c mmu_set_spte(): a new pfn drops the old SPTE with a flush; else mmu_spte_update()
        if (kind === 'pfn-change' || leafUpdateNeedsFlush(this.layout, old.hi, old.lo, hi, lo)) {
          op.flushingChanges++;
          if (!staleEntryHarmful(this.layout, old.hi, old.lo, hi, lo)) op.adOnlyChanges++;
        }
        this.change(vm, op, 0, gfn, level, sptep, kind, old.hi, old.lo, hi, lo, i, 'inferred');
        old.hi = hi;
        old.lo = lo;
        old.level = level;
        old.accessedKnown = true;
        this.install(vm, t, 0, gfn, level, sptep, hi, lo, i);
        return;
      }
    } else if (old) {
      // a different gfn in the same slot: the guest PTE changed and the SPTE was dropped untraced
      this.zapLeaf(vm, old, this.untracedOp(vm, t, i), 'inferred', v.lineNo(i), v.tsNs(i));
    }
    vm.setLeaf(page, slot, 0, gfn, level, sptep, hi, lo);
    this.change(vm, op, 0, gfn, level, sptep, 'install', 0, 0, hi, lo, i, 'observed');
    this.install(vm, t, 0, gfn, level, sptep, hi, lo, i);
  }

  private getPage(t: TaskState, i: number): void {
    const v = this.view;
    const vm = this.lockWork(t);
    const key = `${v.spGen(i)}|${v.gfn(i)}|${v.roleKey(i)}`;
    let sp = vm.shadowPages.get(key);
    if (!sp || v.created(i)) {
      sp = { gen: v.spGen(i), gfn: v.gfn(i), role: v.roleKey(i), level: v.level(i), page: NO_PAGE };
      vm.shadowPages.set(key, sp);
      if (v.created(i)) {
        t.newSp[sp.level] = sp;
        for (const l of this.listeners) {
          l.onShadowPageCreated?.({ vm: vm.id, gen: sp.gen, gfn: sp.gfn, role: sp.role, level: sp.level, line: v.lineNo(i), ts: v.tsNs(i), task: t.task, rootCount: v.rootCount(i), invalidAlready: false, op: null });
        }
      }
    }
    t.lastSp = sp;
  }

  /**
   * Without TGIDs, a task that changes a shadow page or SPTE someone else created (the VMM thread
   * zapping for a notifier or a memslot change, the NX recovery thread) joins the one VM that has it.
   */
  private joinVmHaving(t: TaskState, has: (vm: VmState) => boolean): void {
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

  private prepareZap(t: TaskState, i: number): void {
    const v = this.view;
    const key = `${v.spGen(i)}|${v.gfn(i)}|${v.roleKey(i)}`;
    this.joinVmHaving(t, (vm) => vm.shadowPages.has(key));
    const e = t.episode;
    if (e?.vmUnknown) {
      if (!t.vm) {
        // a page no VM has (or several have): still not known whose zap_all_fast this is
        e.op.tablesZapped++;
        this.episodeZap(e.op, i);
        return;
      }
      // the first known obsolete page names the VM (mmu_lock is held since the zap_all_fast: no
      // vCPU has installed anything of the new generation yet)
      e.vmUnknown = false;
      this.obsoleteAll(t, t.vm, e.gen, e.op);
    }
    const vm = this.lockWork(t);
    const sp = vm.shadowPages.get(key);
    const secondHalf = v.invalid(i);
    let op: Op;
    if (t.episode) {
      op = t.episode.op;
    } else if (vm.isTdp) {
      // the walk that unlinks a TDP table traces its prepare_zap (tdp_mmu.c handle_removed_pt), before
      // or after the unlink by kernel version; the unlink is what counts (tdpChanged)
      op = t.op && TDP_WALK.has(t.op.kind) ? t.op : this.startOp(t, 'tdp-other', vm, i);
    } else {
      op = t.op?.kind === 'zap-pages' ? t.op : this.startOp(t, 'zap-pages', vm, i);
    }
    if (secondHalf) op.rootsFreed++;
    else {
      if (!vm.isTdp) op.tablesZapped++;
      this.episodeZap(op, i);
    }
    // mmu.c __kvm_mmu_prepare_zap_page → kvm_mmu_page_unlink_children: the page's leaves are dropped
    if (sp && sp.page !== NO_PAGE && !secondHalf) {
      for (const leaf of vm.leavesInPage(sp.page)) this.zapLeaf(vm, leaf, op, 'inferred', v.lineNo(i), v.tsNs(i));
    }
    // a root still referenced stays alive (invalid) until its second zap (§5.2)
    if (sp && (v.rootCount(i) === 0 || secondHalf)) {
      vm.shadowPages.delete(key);
      if (sp.page !== NO_PAGE) {
        vm.spOfPage.delete(sp.page);
        this.pageOwner.delete(sp.page); // freed: another VM may get the page next
      }
    }
    for (const l of this.listeners) {
      l.onShadowPageZapped?.({
        vm: vm.id, gen: v.spGen(i), gfn: v.gfn(i), role: v.roleKey(i), level: v.level(i), line: v.lineNo(i), ts: v.tsNs(i),
        task: t.task, rootCount: v.rootCount(i), invalidAlready: secondHalf, op,
      });
    }
  }

  private zapAllFast(t: TaskState, i: number): void {
    const v = this.view;
    const gen = v.validGen(i);
    const vm = t.vm ?? this.onlyVm() ?? (this.sawTgid || this.vms.size === 0 ? this.ownVm(t) : null);
    const op = this.startOp(t, 'zap-all-fast', vm, i);
    t.episode = { gen, op, vmUnknown: vm === null };
    if (vm) this.obsoleteAll(t, vm, gen, op);
    this.startEpisode(op, v.usedPages(i));
  }

  /**
   * mmu.c kvm_mmu_zap_all_fast: the trace prints the generation being made obsolete, then flips it;
   * every shadow page of the old generation is obsolete, vCPUs reload roots and kvm_zap_obsolete_pages
   * drops them all, their leaves with them (inferred: untraced).
   */
  private obsoleteAll(t: TaskState, vm: VmState, gen: number, op: Op): void {
    t.vm = vm;
    vm.tasks.set(t.task.pid, t.task.comm);
    vm.validGen = gen ^ 1;
    op.vm = vm.id;
    if (!vm.isTdp) for (const leaf of vm.allLeaves()) this.zapLeaf(vm, leaf, op, 'inferred', op.line, op.ts);
  }

  /** The zapper did something other than zapping obsolete pages: its zap_all_fast is over. */
  private endEpisode(t: TaskState): void {
    const e = t.episode!;
    t.episode = null;
    if (t.op === e.op) this.closeOp(t);
  }

  private onlyVm(): VmState | null {
    if (this.vms.size !== 1) return null;
    return this.vms.values().next().value ?? null;
  }

  // ---- TDP MMU ---------------------------------------------------------------------------

  private tdpChanged(t: TaskState, i: number): void {
    const v = this.view;
    const asId = v.asId(i);
    const level = v.level(i);
    const gfn = v.gfn(i);
    const group = tdpGroup(asId, gfn, level), slot = tdpSlot(gfn, level);
    const vm = this.lockWork(t);
    if (!vm.isTdp && t.op?.kind === 'zap-pages') {
      // the VM shows only now that it runs the TDP MMU: this walk's tables came first (7.x post-order)
      t.op.kind = 'tdp-other';
      t.op.tablesZapped = 0;
    }
    vm.isTdp = true;
    const oHi = v.oldHi(i), oLo = v.oldLo(i), nHi = v.newHi(i), nLo = v.newLo(i);
    this.detectFlavour(level, oHi, oLo);
    this.detectFlavour(level, nHi, nLo);
    this.detectVersion(nHi, nLo);
    const kind = classifyChange(this.layout, level, oHi, oLo, nHi, nLo);
    const op = t.op ?? this.startOp(t, 'tdp-other', vm, i);
    if (op.vm === '') {
      // a notification that came before any VM was known: its traced zaps say whose it is
      op.vm = vm.id;
      if (t.note) t.note.vm = vm.id;
    }
    const line = v.lineNo(i), ts = v.tsNs(i);
    const oldLeaf = isPresent(this.layout, oHi, oLo) && isLeaf(level, oLo);
    const newLeaf = isPresent(this.layout, nHi, nLo) && isLeaf(level, nLo);
    if (kind === 'unlink' && level >= ROOT_ENTRY_LEVEL && op.kind === 'tdp-other') {
      // tdp_mmu.c tdp_mmu_zap_root: only root teardown removes root entries, and neither invalidated
      // roots nor VM teardown flush (kvm_tdp_mmu_zap_invalidated_roots, kvm_tdp_mmu_zap_all)
      op.kind = 'zap-root';
    }
    if (kind === 'split') {
      // tdp_mmu.c tdp_mmu_split_huge_page: a table of 512 leaves with the huge leaf's translation
      // replaces it (eager splitting; the fault path zaps a huge leaf first): no zap, no flush
      const had = vm.getLeaf(group, slot);
      if (had) vm.removeLeaf(had);
      this.change(vm, op, asId, gfn, level, -1, kind, oHi, oLo, nHi, nLo, i, 'observed');
      this.splitChildren(vm, tdpGroup(asId, gfn, level - 1), false, asId, gfn, level, oHi, oLo);
      return;
    }
    if (oldLeaf && !newLeaf) {
      // tdp_mmu.c tdp_mmu_iter_cond_resched: zap walks may drop mmu_lock between SPTEs
      this.episodeZap(op, i);
      const leaf = vm.getLeaf(group, slot) ?? vm.setLeaf(group, slot, asId, gfn, level, -1, oHi, oLo);
      leaf.hi = oHi;
      leaf.lo = oLo;
      this.zapLeaf(vm, leaf, op, 'observed', line, ts);
      return;
    }
    if (kind === 'unlink') op.tablesZapped++;
    if (kind === 'collapse') op.flushingChanges++;
    if (oldLeaf && newLeaf && kind !== 'same') {
      const wdClear = writeOrDirtyCleared(this.layout, oHi, oLo, nHi, nLo);
      if (op.kind === 'fault') {
        // tdp_mmu.c tdp_mmu_map_handle_target_level: ≤6.12 flushes only when a non-leaf was replaced;
        // later also when leaf_spte_change_needs_tlb_flush (the 2024 make_spte W/D fix)
        if (this.rules.set === 'v6.13+' && leafUpdateNeedsFlush(this.layout, oHi, oLo, nHi, nLo)) op.flushingChanges++;
        else if (wdClear) op.unflushedWdClears++;
      } else if (staleEntryHarmful(this.layout, oHi, oLo, nHi, nLo) || wdClear) {
        op.flushingChanges++;
      } else if (isAccessed(this.layout, oLo) && !isAccessed(this.layout, nLo)) {
        op.flushingChanges++;
        op.adOnlyChanges++;
        if (t.note) t.note.young++;
      }
    }
    const had = vm.getLeaf(group, slot);
    if (newLeaf) vm.setLeaf(group, slot, asId, gfn, level, -1, nHi, nLo);
    else if (had) vm.removeLeaf(had);
    this.change(vm, op, asId, gfn, level, -1, kind, oHi, oLo, nHi, nLo, i, 'observed');
    if (newLeaf && MAPS_ANEW.has(kind)) {
      this.install(vm, t, asId, gfn, level, -1, nHi, nLo, i);
    }
  }

  // ---- lockless fast path, eager splits, MMIO ---------------------------------------------

  /**
   * mmu.c fast_page_fault: a vCPU fixes a present leaf of a direct MMU without mmu_lock (a dirty-log
   * write-protect or access tracking undone by cmpxchg); it only adds permissions, so it never flushes.
   * The event is the only trace of the change (reference §1.1); its sptep is a hashed pointer, so the
   * leaf is found by frame (cr2_or_gpa is a gpa on direct MMUs) and old value.
   */
  private fastPageFault(t: TaskState, i: number): void {
    const v = this.view;
    const vm = this.ownVm(t);
    this.closeOp(t);
    const gfn = Math.floor(v.addr(i) / PAGE);
    const oHi = v.oldHi(i), oLo = v.oldLo(i), nHi = v.newHi(i), nLo = v.newLo(i);
    const outcome = v.fixed(i) ? 'fixed' : v.spurious(i) ? 'spurious' : 'fallback';
    const fact: FastFault = { vm: vm.id, task: t.task, line: v.lineNo(i), ts: v.tsNs(i), gfn, outcome, placed: false, untracedBefore: false };
    // a non-present old value is the last SPTE of a walk that stopped above the leaf: nothing to place
    const leaf = isPresent(this.layout, oHi, oLo) ? vm.leafMapping(gfn, oHi, oLo) : null;
    if (leaf) {
      fact.placed = true;
      if (leaf.hi !== oHi || leaf.lo !== oLo) {
        // the walk read a value no traced event wrote (shadow MMU dirty-log write-protect, sync_page)
        fact.untracedBefore = true;
        const kind = classifyChange(this.layout, leaf.level, leaf.hi, leaf.lo, oHi, oLo);
        this.change(vm, this.untracedOp(vm, t, i), leaf.asId, leaf.gfn, leaf.level, leaf.sptep, kind, leaf.hi, leaf.lo, oHi, oLo, i, 'inferred');
        leaf.hi = oHi;
        leaf.lo = oLo;
      }
    }
    if (outcome === 'fixed') {
      const op = this.startOp(t, 'fast-fault', vm, i);
      const level = leaf?.level ?? 0;
      const kind = classifyChange(this.layout, leaf?.level ?? 1, oHi, oLo, nHi, nLo);
      this.change(vm, op, leaf?.asId ?? 0, leaf?.gfn ?? gfn, level, leaf?.sptep ?? -1, kind, oHi, oLo, nHi, nLo, i, 'observed');
      if (leaf) {
        leaf.hi = nHi;
        leaf.lo = nLo;
      }
      this.closeOp(t);
    }
    for (const l of this.listeners) l.onFastFault?.(fact);
  }

  /**
   * tdp_mmu.c tdp_mmu_split_huge_page / mmu.c shadow_mmu_try_split_huge_page: eager splitting (dirty
   * logging) replaces a huge leaf with a table of smaller leaves of the same translation, written
   * untraced; the tracepoint follows, errno ≠ 0 when nothing was split. No flush (same translation).
   */
  private splitHugePage(t: TaskState, i: number): void {
    const v = this.view;
    let vm = this.lockWork(t);
    const gfn = v.gfn(i), level = v.level(i), errno = v.errno(i);
    let children = 0;
    const table = t.lastSp && t.lastSp.gfn === gfn && t.lastSp.level === level - 1 ? t.lastSp : null;
    t.newSp[level - 1] = null; // the page allocated for the split gets no traced SPTE
    if (errno === 0 && !vm.isTdp) {
      // the TDP MMU traced the huge leaf → table change just before (tdpChanged, kind split)
      const hi = v.spteHi(i), lo = v.spteLo(i);
      const isHuge = (l: Leaf | null): l is Leaf => l !== null && l.level === level && l.hi === hi && l.lo === lo;
      let huge = vm.leafMapping(gfn, hi, lo);
      if (!isHuge(huge) && !this.sawTgid) {
        // without TGIDs: the task splitting another task group's huge SPTE (the VMM thread, in a
        // dirty-log ioctl) belongs to that group's VM
        const owner = [...this.vms.values()].find((o) => o !== vm && isHuge(o.leafMapping(gfn, hi, lo)));
        if (owner) {
          vm = this.merge(owner, vm);
          t.vm = vm;
          huge = vm.leafMapping(gfn, hi, lo);
        }
      }
      if (isHuge(huge)) {
        // the new table's address (the new SPTE) is not in the trace
        this.change(vm, t.op, huge.asId, gfn, level, huge.sptep, 'split', huge.hi, huge.lo, 0, 0, i, 'observed');
        vm.removeLeaf(huge);
      }
      if (table) {
        if (table.page === NO_PAGE) table.page = splitTableKey(gfn, level - 1);
        vm.spOfPage.set(table.page, table);
      }
      const group = table?.page ?? splitTableKey(gfn, level - 1);
      if (group < 0 && !vm.hasLeavesInPage(group)) vm.unplacedSplitTables++;
      children = this.splitChildren(vm, group, group >= 0, 0, gfn, level, hi, lo);
    } else if (errno === 0) {
      // the children tdpChanged inferred from the huge leaf → table change traced just before
      children = vm.leavesInPage(tdpGroup(0, gfn, level - 1)).length;
    }
    for (const l of this.listeners) l.onHugeSplit?.({ vm: vm.id, line: v.lineNo(i), gfn, level, errno, children });
  }

  /**
   * The smaller leaves of a split huge leaf (spte.c make_huge_page_split_spte): the huge value with
   * the child's pfn offset, PS cleared at 4K. Where the NX-huge-page mitigation is on, 4K children
   * get X back; the trace does not show the module parameter, so X is left as the huge leaf had it.
   * Leaves the table already holds stay (mmu.c shadow_mmu_split_huge_page keeps present SPTEs).
   */
  private splitChildren(vm: VmState, group: number, physical: boolean, asId: number, gfn: number, level: number, hi: number, lo: number): number {
    const child = level - 1;
    const frames = 512 ** (child - 1);
    const cLo = child === 1 ? (lo & ~0x80) >>> 0 : lo;
    let added = 0;
    for (let slot = 0; slot < 512; slot++) {
      if (vm.getLeaf(group, slot)) continue;
      const off = slot * frames;
      // the huge pfn is aligned, so OR-ing in the child's pfn offset is an add at bit 12
      const sum = cLo + off * 4096;
      const nHi = (hi + Math.floor(sum / 0x100000000)) >>> 0;
      vm.setLeaf(group, slot, asId, gfn + off, child, physical ? group * 4096 + slot * 8 : -1, nHi, sum >>> 0);
      added++;
    }
    return added;
  }

  /** A set_spte into a table an eager split filled: its address is now known (shadow MMU). */
  private placeSplitTable(vm: VmState, page: number, slot: number, gfn: number, level: number): Leaf | undefined {
    const key = splitTableKey(gfn, level);
    const sp = vm.spOfPage.get(key);
    if (!sp && !vm.hasLeavesInPage(key)) return undefined;
    if (vm.moveGroup(key, page, (s) => page * 4096 + s * 8)) vm.unplacedSplitTables--;
    if (sp) {
      vm.spOfPage.delete(sp.page);
      sp.page = page;
      vm.spOfPage.set(page, sp);
    }
    return vm.getLeaf(page, slot);
  }

  /**
   * MMIO SPTEs (reference §3; mmu.c mark_mmio_spte, handle_mmio_page_fault, check_mmio_spte):
   * mark_mmio_spte under mmu_lock ends a fault on a gfn without memslot; handle_mmio_page_fault
   * (lockless) emulates an access from a cached MMIO SPTE; check_mmio_spte with valid 0 found an
   * obsolete generation (a memslot update), so the fault path re-creates it.
   */
  private mmio(t: TaskState, i: number, kind: MmioEvent['kind']): void {
    const v = this.view;
    const vm = kind === 'mark' ? this.lockWork(t) : this.ownVm(t);
    if (kind === 'mark' && t.op?.kind === 'fault') this.closeOp(t);
    const fact: MmioEvent = { vm: vm.id, task: t.task, line: v.lineNo(i), gfn: kind === 'stale' ? -1 : v.gfn(i), kind };
    for (const l of this.listeners) l.onMmio?.(fact);
  }

  /** EPT leaves carry a memory type (bits 3–5 = WB 110b); x86 PTEs have PWT/PCD clear there. */
  private detectFlavour(level: number, hi: number, lo: number): void {
    if (this.eptKnown || !isPresent(this.layout, hi, lo) || !isLeaf(level, lo)) return;
    this.layout.ept = (lo & 0x38) === 0x30;
    this.eptKnown = true;
  }

  /** Frozen and non-present values differ per kernel (spte.h v6.1 / v6.12 / v7.2). */
  private detectVersion(hi: number, lo: number): void {
    if (this.rules.source === 'option') return;
    let set: RuleSet | null = null;
    if (isFrozen(hi, lo)) set = lo === 0x1a0 ? 'v6.13+' : hi === 0 ? 'v6.1' : 'v6.12';
    if (set && set !== this.rules.set) {
      this.rules = { set, source: 'trace', why: `frozen SPTE value ${hi ? (hi >>> 0).toString(16).padStart(8, '0') : ''}${lo.toString(16)} (spte.h FROZEN_SPTE/REMOVED_SPTE)` };
      this.layout.set = set;
    }
  }

  // ---- notifiers -------------------------------------------------------------------------

  private notifier(t: TaskState, i: number, kind: Notification['kind']): void {
    const v = this.view;
    const hvaStart = v.hvaStart(i);
    const hvaEnd = v.hvaEnd(i);
    const { vm, by } = this.notifierVm(t, hvaStart, hvaEnd);
    // the VMM's own threads (ioctl thread: mprotect, madvise, memslot changes) belong to its VM; a
    // guess while it was the only VM gives way to memslot evidence
    if (vm && !t.kernelThread && (by === 'only-vm' || (by === 'memslot' && t.guessedVm))) {
      if (t.guessedVm && t.guessedVm !== vm) t.guessedVm.tasks.delete(t.task.pid);
      vm.tasks.set(t.task.pid, t.task.comm);
      t.guessedVm = by === 'only-vm' ? vm : null;
    }
    const opKind: OpKind = kind === 'unmap' ? 'notifier-unmap' : kind === 'age' ? 'notifier-age' : kind === 'test-age' ? 'notifier-test-age' : 'notifier-change-pte';
    const note: Notification = {
      kind, vm: vm?.id ?? null, vmBy: by, task: t.task, line: v.lineNo(i), ts: v.tsNs(i), hvaStart, hvaEnd,
      overlap: 'unknown', memslotSource: 'none', gfnStart: -1, gfnEnd: -1, sptesZapped: 0, young: 0, youngUnknown: 0,
      lockTaken: null, flush: false, evidence: 'inferred',
    };
    t.cowHva = kind === 'unmap' && hvaEnd - hvaStart === PAGE && !t.kernelThread ? hvaStart : -1;
    if (!vm) {
      if (this.opts.memslots) this.overlapOnly(this.opts.memslots.filter((s) => s.vm === undefined), note);
    }
    const op = this.startOp(t, opKind, vm, i);
    t.note = note;
    if (!vm) return;
    const leaves = this.rangeLeaves(vm, hvaStart, hvaEnd, note);
    if (note.overlap !== 'unknown') note.lockTaken = note.overlap !== 'outside' || !notifierLockElided(this.rules.set);
    if (kind === 'change-pte' || vm.isTdp) return; // change_pte never finds anything (§6.1); TDP changes are traced
    for (const leaf of leaves) {
      if (kind === 'unmap') {
        // kvm_unmap_gfn_range drops every SPTE of the range (rmap walk; untraced on the shadow MMU)
        this.zapLeaf(vm, leaf, op, 'inferred', note.line, note.ts);
      } else if (leaf.accessedKnown && isAccessed(this.layout, leaf.lo)) {
        note.young++;
        if (kind === 'age') {
          // kvm_age_rmap clears Accessed; the CPU may set it again without an event
          const lo = clearAccessed(this.layout, leaf.lo);
          this.change(vm, op, leaf.asId, leaf.gfn, leaf.level, leaf.sptep, 'accessed-clear', leaf.hi, leaf.lo, leaf.hi, lo, i, 'inferred');
          leaf.lo = lo;
          leaf.accessedKnown = false;
          op.flushingChanges++;
          op.adOnlyChanges++;
        }
      } else {
        note.youngUnknown++;
      }
    }
  }

  /** The VM a notification is for: the sender's own VM, else by memslot overlap, else the only VM. */
  private notifierVm(t: TaskState, hvaStart: number, hvaEnd: number): { vm: VmState | null; by: Notification['vmBy'] } {
    if (t.vm) return { vm: t.vm, by: this.sawTgid ? 'tgid' : 'task' };
    const hit: VmState[] = [];
    for (const vm of this.vms.values()) {
      if (vm.memslots ? hitsOf(vm.memslots, hvaStart, hvaEnd).hits.length > 0 : this.inferredLeaves(vm, hvaStart, hvaEnd).length > 0) hit.push(vm);
    }
    if (hit.length === 1) return { vm: hit[0]!, by: 'memslot' };
    const only = this.onlyVm();
    return only ? { vm: only, by: 'only-vm' } : { vm: null, by: 'none' };
  }

  private inferredLeaves(vm: VmState, hvaStart: number, hvaEnd: number): Leaf[] {
    const out: Leaf[] = [];
    for (const r of vm.inferred.candidateRanges(hvaStart, hvaEnd)) {
      out.push(...vm.leavesInRange(null, r.gfnStart, r.gfnEnd, (g) => vm.inferred.owns(g, r.delta)));
    }
    return out;
  }

  /** Memslot overlap of a notification from --memslots (kvm_main.c __kvm_handle_hva_range). */
  private overlapOnly(slots: Memslot[], note: Notification): SlotHit[] {
    const { hits, coveredBytes } = hitsOf(slots, note.hvaStart, note.hvaEnd);
    note.memslotSource = 'file';
    note.overlap = hits.length === 0 ? 'outside' : coveredBytes >= note.hvaEnd - note.hvaStart ? 'inside' : 'partial';
    note.lockTaken = note.overlap !== 'outside' || !notifierLockElided(this.rules.set);
    if (hits.length > 0) {
      note.gfnStart = Math.min(...hits.map((h) => h.gfnStart));
      note.gfnEnd = Math.max(...hits.map((h) => h.gfnEnd));
    }
    return hits;
  }

  /** Present leaves a notifier range covers, and its memslot overlap. */
  private rangeLeaves(vm: VmState, hvaStart: number, hvaEnd: number, note: Notification): Leaf[] {
    if (vm.memslots) return this.overlapOnly(vm.memslots, note).flatMap((h) => vm.leavesInRange(h.asId, h.gfnStart, h.gfnEnd));
    if (vm.inferred.anchors === 0) return [];
    note.memslotSource = 'inferred';
    const leaves = this.inferredLeaves(vm, hvaStart, hvaEnd);
    // without memslots only guest frames that have SPTEs prove an overlap
    note.overlap = leaves.length > 0 ? 'inside' : 'outside';
    note.evidence = leaves.length > 0 ? 'inferred' : 'suspected';
    if (leaves.length > 0) {
      note.gfnStart = Math.min(...leaves.map((l) => l.gfn));
      note.gfnEnd = Math.max(...leaves.map((l) => l.gfn)) + 1;
    }
    return leaves;
  }
}

function blankOp(id: number, kind: OpKind, vm: string, task: Task, line: number, ts: number): Op {
  return {
    id, kind, vm, task, line, ts, leafZaps: 0, tablesZapped: 0, rootsFreed: 0, flushingChanges: 0,
    adOnlyChanges: 0, unflushedWdClears: 0, zapEvidence: 'observed', flushIssued: false, flushRule: '', episode: false,
  };
}

/**
 * Whether the kernel flushes at the end of an op, by its rule (kvm-mmu-reference.md §4.3).
 */
export function decideFlush(op: Op, set: RuleSet): void {
  switch (op.kind) {
    case 'notifier-unmap':
      op.flushIssued = op.leafZaps + op.tablesZapped > 0;
      op.flushRule = 'kvm_main.c __kvm_handle_hva_range: flush_on_ret and the unmap handler zapped something';
      break;
    case 'notifier-age':
      op.flushIssued = agingFlushes(set) && op.adOnlyChanges > 0;
      op.flushRule = agingFlushes(set)
        ? 'kvm_main.c kvm_mmu_notifier_clear_flush_young: flush when young (<=6.12)'
        : 'KVM_ELIDE_TLB_FLUSH_IF_YOUNG (x86, 6.13+): aging never flushes';
      break;
    case 'notifier-test-age':
    case 'notifier-change-pte':
      op.flushIssued = false;
      op.flushRule = 'test_young / change_pte never flush';
      break;
    case 'zap-all-fast':
    case 'zap-pages':
      op.flushIssued = op.tablesZapped + op.leafZaps + op.rootsFreed > 0;
      op.flushRule = 'mmu.c kvm_mmu_commit_zap_page: one flush per non-empty invalid_list';
      break;
    case 'fast-fault':
      op.flushIssued = false;
      op.flushRule = 'mmu.c fast_page_fault: a lockless cmpxchg that only adds permissions never flushes';
      break;
    case 'zap-root':
      op.flushIssued = false;
      op.flushRule = 'tdp_mmu.c tdp_mmu_zap_root: invalidated roots and VM teardown need no flush';
      break;
    case 'fault':
      op.flushIssued = op.flushingChanges > 0;
      op.flushRule = 'mmu.c mmu_set_spte / tdp_mmu.c tdp_mmu_map_handle_target_level';
      break;
    default:
      op.flushIssued = op.flushingChanges > 0 || op.leafZaps > 0 || op.tablesZapped > 0;
      op.flushRule = 'caller flushes after zapping or write-protecting (tdp_mmu.c tdp_mmu_zap_leafs, wrprot_gfn_range callers)';
  }
}

