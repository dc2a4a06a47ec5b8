// The replay: `events` batches in trace order through a model of KVM's MMU (shadow and TDP). This
// file only dispatches: each event goes to the family that owns it (families/*.ts, map in
// README.md), with the shared state (context.ts) passed in; the families tell the analyses what
// happened (facts.ts), with the evidence for each fact.
import type { RecordBatch } from 'apache-arrow';
import { hooksOf, type ModelContext, type TaskState } from './context.js';
import { Ev, EventView } from './event-view.js';
import { FactEmitter } from './fact-emitter.js';
import type { FactListener, Task, TaskAttribution } from './facts.js';
import { FastPathFamily } from './families/fast-path.js';
import type { EventFamily } from './families/family.js';
import { MmioFamily } from './families/mmio.js';
import { NotifierFamily } from './families/notifier.js';
import { ObsoleteFamily } from './families/obsolete.js';
import { ObservedFlushes } from './families/observed-flushes.js';
import { ShadowFamily } from './families/shadow.js';
import { SplitsFamily } from './families/splits.js';
import { TdpFamily } from './families/tdp.js';
import { KernelView, type KernelRules } from './kernel-version.js';
import type { Memslot } from './memslots.js';
import { Operations } from './operations.js';
import { NxRecoveryPasses } from './nx-recovery.js';
import type { SpteLayout } from './spte.js';
import { UNATTRIBUTED, VmIdentity, type UnattributedWhy } from './vm-identity.js';
import type { VmState } from './vm-state.js';

export interface ReplayOptions {
  memslots?: Memslot[] | null;
  rules?: KernelRules;
}

export interface ReplayData {
  rules: KernelRules;
  spteFlavour: 'ept' | 'x86' | 'unknown';
  vms: {
    id: string; tgid: number | null;
    identifiedBy: VmIdentification;
    tasks: (Task & { by: TaskAttribution })[]; memslots: 'file' | 'inferred' | 'none'; inferredOffsets: { delta: number; anchors: number }[];
  }[];
  /** VM kernel threads no VM got, and the MMU events counted under the UNATTRIBUTED id; null when none. */
  unattributed: { id: typeof UNATTRIBUTED; tasks: (Task & { why: UnattributedWhy })[]; mmuEvents: number } | null;
  vmSplit: string;
  ops: number;
}

/** How a VM was told apart: its TGID; else several task groups' SPTEs in the same page tables; else one task group's own MMU work. */
export type VmIdentification = 'tgid' | 'shared-page-tables' | 'own-mmu-work';

export class Replay {
  private readonly ctx: ModelContext;
  private readonly obsolete: ObsoleteFamily;
  private readonly shadow: ShadowFamily;
  private readonly nx: NxRecoveryPasses;
  private readonly observedFlushes: ObservedFlushes;
  /** The family that owns each event kind (Ev); none for the kinds the model only attributes. */
  private readonly familyOf: (EventFamily | undefined)[] = [];

  constructor(listeners: FactListener[], opts: ReplayOptions = {}) {
    const view = new EventView();
    const on = hooksOf(listeners);
    const kernel = new KernelView(opts.rules);
    const tasks = new Map<number, TaskState>();
    const vms = new Map<string, VmState>();
    const memslots = opts.memslots ?? null;
    const facts = new FactEmitter(view, on);
    const ops = new Operations(view, on, kernel);
    const nx = (this.nx = new NxRecoveryPasses(view, ops));
    const ids = new VmIdentity(view, on, tasks, vms, memslots, facts, ops, nx);
    this.ctx = { view, on, tasks, vms, memslots, kernel, ids, ops, nx, facts };
    this.obsolete = new ObsoleteFamily(this.ctx);
    const shadow = (this.shadow = new ShadowFamily(this.ctx, this.obsolete));
    const notifier = new NotifierFamily(this.ctx);
    const mmio = new MmioFamily(this.ctx);
    this.observedFlushes = new ObservedFlushes(this.ctx);
    const own = (f: EventFamily, ...kinds: Ev[]): void => kinds.forEach((k) => (this.familyOf[k] = f));
    own(shadow, Ev.SetSpte, Ev.SpteRequested, Ev.GetPage, Ev.PrepareZap, Ev.SyncPage, Ev.UnsyncPage, Ev.PagetableWalk, Ev.PageFault, Ev.KvmExit);
    own(this.obsolete, Ev.ZapAllFast, Ev.OldKernelZapAll);
    own(new TdpFamily(this.ctx), Ev.TdpChanged);
    own(notifier, Ev.UnmapHva, Ev.AgeHva, Ev.TestAgeHva, Ev.SetSpteHva);
    own(new FastPathFamily(this.ctx), Ev.FastPageFault);
    own(new SplitsFamily(this.ctx), Ev.SplitHugePage);
    own(mmio, Ev.MarkMmio, Ev.HandleMmio, Ev.CheckMmio);
  }

  /** How SPTE bits are read now (the flavour and version may be learned from the trace). */
  get spteLayout(): SpteLayout {
    return this.ctx.kernel.layout;
  }

  handleBatch(batch: RecordBatch): void {
    const { view: v, ids, ops, on } = this.ctx;
    v.load(batch);
    for (let i = 0; i < v.length; i++) {
      const k = v.kind(i);
      if (k === Ev.SchedSwitch) {
        const t = this.ctx.tasks.get(v.prevPid(i));
        if (t?.nxRecovery) this.nx.switchedOut(t, i);
        for (const l of on.all) l.onSchedSwitch?.(v.prevPid(i));
        continue;
      }
      if (k === Ev.Function) {
        this.observedFlushes.handleFunction(i);
        continue;
      }
      if (k === Ev.Marker) {
        // a marker is the task's write(2) to trace_marker: whatever KVM ioctl it made is over
        const t = this.ctx.tasks.get(v.pid(i));
        if (t?.episode) ops.endEpisode(t);
        else if (t?.op) ops.close(t);
        for (const l of on.marker) l.onMarker!({ text: v.payload(i), line: v.lineNo(i), ts: v.tsNs(i) });
        continue;
      }
      if (k === Ev.OldKernelAge || k === Ev.OldKernelZapAll) {
        this.ctx.kernel.detectOldKernel(k === Ev.OldKernelAge ? 'kvm_age_page' : 'kvm_mmu_invalidate_zap_all_pages');
      }
      if (k === Ev.Other && !v.isKvm(i)) continue;
      const pid = v.pid(i);
      if (pid < 0) continue;
      // other KVM events only attribute their task (its TGID names its VM)
      const t = ids.taskOf(i, pid);
      if (t.nxRecovery) this.nx.threadEvent(t, i);
      if (this.obsolete.endsEpisode(t, i, k)) ops.endEpisode(t);
      t.lastEvent = k;
      this.familyOf[k]?.handleEvent(t, i, k);
    }
  }

  finish(): ReplayData {
    const { ops, ids, kernel } = this.ctx;
    this.shadow.finish();
    for (const t of this.ctx.tasks.values()) {
      if (t.episode) ops.endEpisode(t);
      ops.close(t);
    }
    ops.finish();
    const unattributed = ids.unattributedTasks();
    const vms = [...this.ctx.vms.values()].sort((a, b) => (a.tgid ?? 0) - (b.tgid ?? 0) || (a.id < b.id ? -1 : 1));
    return {
      rules: kernel.rules,
      spteFlavour: kernel.spteFlavour,
      vms: vms.map((vm) => {
        const tasks = [...vm.tasks].map(([pid, comm]) => ({ pid, comm, by: ids.attributionOf(vm, pid) })).sort((a, b) => a.pid - b.pid);
        const identifiedBy: VmIdentification = vm.tgid !== null ? 'tgid' : tasks.some((t) => t.by === 'shared-page-tables') ? 'shared-page-tables' : 'own-mmu-work';
        return {
          id: vm.id,
          tgid: vm.tgid,
          identifiedBy,
          tasks,
          memslots: vm.memslots ? 'file' : vm.inferred.anchors > 0 ? 'inferred' : 'none',
          inferredOffsets: vm.memslots ? [] : vm.inferred.offsets(),
        };
      }),
      unattributed: unattributed.length > 0 || ids.unattributedEvents > 0 ? { id: UNATTRIBUTED, tasks: unattributed, mmuEvents: ids.unattributedEvents } : null,
      vmSplit: ids.vmSplit,
      ops: ops.count,
    };
  }
}
