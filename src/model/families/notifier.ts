// mmu-notifier callbacks (kvm_main.c __kvm_handle_hva_range): unmap, age, test-age, change-pte.
// Which VM a notification is for, its memslot overlap, and on the shadow MMU the untraced zaps and
// Accessed-bit clears it makes (x86 kvm_unmap_gfn_range, kvm_age_gfn, kvm_test_age_gfn).
import type { ModelContext, TaskState } from '../context.js';
import { Ev } from '../event-view.js';
import type { Notification, OpKind } from '../facts.js';
import { agingLockless, notifierLockElided } from '../kernel-version.js';
import { PAGE, hitsOf, type Memslot, type SlotHit } from '../memslots.js';
import { clearAccessed, isAccessed } from '../spte.js';
import { rmapLeaves, type Leaf, type VmState } from '../vm-state.js';
import type { EventFamily } from './family.js';

const KIND_OF_EVENT: Partial<Record<Ev, Notification['kind']>> = {
  [Ev.UnmapHva]: 'unmap', [Ev.AgeHva]: 'age', [Ev.TestAgeHva]: 'test-age', [Ev.SetSpteHva]: 'change-pte',
};
const OP_OF_KIND: Readonly<Record<Notification['kind'], OpKind>> = {
  unmap: 'notifier-unmap', age: 'notifier-age', 'test-age': 'notifier-test-age', 'change-pte': 'notifier-change-pte',
};

export class NotifierFamily implements EventFamily {
  constructor(private readonly ctx: ModelContext) {}

  handleEvent(t: TaskState, i: number, ev: Ev): void {
    const { view: v, ops, facts, kernel } = this.ctx;
    const kind = KIND_OF_EVENT[ev]!;
    if (kind === 'change-pte') kernel.detectChangePte();
    const hvaStart = v.hvaStart(i);
    const hvaEnd = v.hvaEnd(i);
    const { vm, by } = this.notifierVm(t, hvaStart, hvaEnd);
    // the VMM's own threads (ioctl thread: mprotect, madvise, memslot changes) belong to its VM; a
    // guess while it was the only VM gives way to memslot evidence
    if (vm && !t.kernelThread && (by === 'only-vm' || (by === 'memslot' && t.guessedVm))) {
      const pid = t.task.pid;
      if (t.guessedVm && t.guessedVm !== vm) {
        t.guessedVm.tasks.delete(pid);
        t.guessedVm.taskBy.delete(pid);
      }
      vm.tasks.set(pid, t.task.comm);
      // memslot evidence replaces a guess; an earlier reason stays
      const had = vm.taskBy.get(pid);
      if (!had || had === 'only-vm') vm.taskBy.set(pid, by === 'only-vm' ? 'only-vm' : 'memslot');
      t.guessedVm = by === 'only-vm' ? vm : null;
    }
    const note: Notification = {
      kind, vm: vm?.id ?? null, vmBy: by, task: t.task, line: v.lineNo(i), ts: v.tsNs(i), hvaStart, hvaEnd,
      overlap: 'unknown', memslotSource: 'none', gfnStart: -1, gfnEnd: -1, sptesZapped: 0, young: 0, youngUnknown: 0,
      lockTaken: null, flush: false, evidence: 'inferred',
    };
    // copy-on-write before 6.9 sends change_pte for the page it just unmapped (mm/memory.c
    // wp_page_copy: set_pte_at_notify inside the invalidation): still the same COW, whose zap the
    // fault's spte_requested places in the open unmap op (shadow.ts spteRequested)
    const cowChangePte = kind === 'change-pte' && t.cowHva === hvaStart && t.op?.kind === 'notifier-unmap';
    if (!cowChangePte) t.cowHva = kind === 'unmap' && hvaEnd - hvaStart === PAGE && !t.kernelThread ? hvaStart : -1;
    if (!vm && this.ctx.memslots) this.overlapOnly(this.ctx.memslots.filter((s) => s.vm === undefined), note);
    if (cowChangePte) {
      // change_pte never finds anything (§6.1): told now, the unmap op stays open
      if (vm) this.rangeLeaves(vm, hvaStart, hvaEnd, note);
      for (const l of this.ctx.on.all) l.onNotification?.(note);
      return;
    }
    const op = ops.start(t, OP_OF_KIND[kind], vm, i);
    t.note = note;
    if (!vm) return;
    const leaves = this.rangeLeaves(vm, hvaStart, hvaEnd, note);
    if (note.overlap !== 'unknown') note.lockTaken = this.lockTaken(note);
    if (kind === 'change-pte') return; // change_pte never finds anything (§6.1)
    const layout = kernel.layout;
    // the TDP MMU's zaps and Accessed clears are traced (families/tdp.ts); the rmap walk's are not
    for (const leaf of rmapLeaves(vm, () => leaves)) {
      if (kind === 'unmap') {
        // kvm_unmap_gfn_range drops every SPTE of the range (rmap walk; untraced on the shadow MMU)
        facts.zapLeaf(vm, leaf, op, 'inferred', note.line, note.ts);
      } else if (leaf.accessedKnown && isAccessed(layout, leaf.lo)) {
        note.young++;
        if (kind === 'age') {
          // kvm_age_rmap clears Accessed; the CPU may set it again without an event
          const lo = clearAccessed(layout, leaf.lo);
          facts.change(vm, op, leaf.asId, leaf.gfn, leaf.level, leaf.sptep, 'accessed-clear', leaf.hi, leaf.lo, leaf.hi, lo, i, 'inferred');
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
    const ids = this.ctx.ids;
    if (t.vm) return { vm: t.vm, by: ids.sawTgid ? 'tgid' : 'task' };
    const hit: VmState[] = [];
    for (const vm of this.ctx.vms.values()) {
      if (vm.memslots ? hitsOf(vm.memslots, hvaStart, hvaEnd).hits.length > 0 : inferredLeaves(vm, hvaStart, hvaEnd).length > 0) hit.push(vm);
    }
    if (hit.length === 1) return { vm: hit[0]!, by: 'memslot' };
    const only = ids.onlyVm();
    return only ? { vm: only, by: 'only-vm' } : { vm: null, by: 'none' };
  }

  /**
   * kvm_main.c __kvm_handle_hva_range takes mmu_lock only for a range that hits a memslot (5.13+),
   * and aging takes none at all where KVM_MMU_LOCKLESS_AGING is selected (x86, 6.15+).
   */
  private lockTaken(note: Notification): boolean {
    const set = this.ctx.kernel.rules.set;
    if ((note.kind === 'age' || note.kind === 'test-age') && agingLockless(set)) return false;
    return note.overlap !== 'outside' || !notifierLockElided(set);
  }

  /** Memslot overlap of a notification from --memslots (kvm_main.c __kvm_handle_hva_range). */
  private overlapOnly(slots: Memslot[], note: Notification): SlotHit[] {
    const { hits, coveredBytes } = hitsOf(slots, note.hvaStart, note.hvaEnd);
    note.memslotSource = 'file';
    note.overlap = hits.length === 0 ? 'outside' : coveredBytes >= note.hvaEnd - note.hvaStart ? 'inside' : 'partial';
    note.lockTaken = this.lockTaken(note);
    if (hits.length > 0) {
      note.gfnStart = Math.min(...hits.map((h) => h.gfnStart));
      note.gfnEnd = Math.max(...hits.map((h) => h.gfnEnd));
    }
    return hits;
  }

  /** Present leaves a notifier range covers, and its memslot overlap. */
  private rangeLeaves(vm: VmState, hvaStart: number, hvaEnd: number, note: Notification): Leaf[] {
    // one leaf once, also when memslots overlap (a --memslots file listing a slot again after a flags change)
    if (vm.memslots) return [...new Set(this.overlapOnly(vm.memslots, note).flatMap((h) => vm.leavesTouching(h.asId, h.gfnStart, h.gfnEnd)))];
    if (vm.inferred.anchors === 0) return [];
    note.memslotSource = 'inferred';
    const leaves = inferredLeaves(vm, hvaStart, hvaEnd);
    // without memslots, a guest frame ever mapped proves an overlap (the kernel decides it from
    // the memslot tree, not from what is mapped now: inside, it takes mmu_lock and may find
    // nothing); a range no mapped frame falls in is only suspected to be outside
    const inside = leaves.length > 0 || everMappedIn(vm, hvaStart, hvaEnd);
    note.overlap = inside ? 'inside' : 'outside';
    note.evidence = inside ? 'inferred' : 'suspected';
    if (leaves.length > 0) {
      note.gfnStart = Math.min(...leaves.map((l) => l.gfn));
      note.gfnEnd = Math.max(...leaves.map((l) => l.gfn)) + 1;
    }
    return leaves;
  }
}

/** Whether the VM ever mapped a guest frame whose hva (by the learned offsets) is in the range. */
function everMappedIn(vm: VmState, hvaStart: number, hvaEnd: number): boolean {
  return vm.inferred.candidateRanges(hvaStart, hvaEnd).some((r) => vm.everMappedIn(r.gfnStart, r.gfnEnd, (g) => vm.inferred.owns(g, r.delta)));
}

/** Present leaves of the VM in an hva range, through the hva↔gfn offsets learned from the trace. */
function inferredLeaves(vm: VmState, hvaStart: number, hvaEnd: number): Leaf[] {
  const out: Leaf[] = [];
  for (const r of vm.inferred.candidateRanges(hvaStart, hvaEnd)) {
    out.push(...vm.leavesTouching(null, r.gfnStart, r.gfnEnd, (g) => vm.inferred.owns(g, r.delta)));
  }
  return out;
}
