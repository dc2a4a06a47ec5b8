// The shadow MMU (mmu.c, paging_tmpl.h): faults (spte_requested → set_spte), shadow pages
// (get_page, prepare_zap_page), sync/unsync. Its zaps are untraced: a zapped page's leaves are
// dropped with it (inferred), and an SPTE re-installed unchanged shows an untraced change.
import { PFERR_BITS } from '../../ingest/decoders/mmu.js';
import { Ev, type EventView } from '../event-view.js';
import type { ModelContext, TaskState } from '../context.js';
import type { Op, OpKind, WriteProtectCause } from '../facts.js';
import { classifyChange, isPresent, isWritable, leafUpdateNeedsFlush, staleEntryHarmful, writeProtected } from '../spte.js';
import { NO_PAGE, rmapLeaves, shadowGroup, shadowSlot, type Leaf, type ShadowPage, type VmState } from '../vm-state.js';
import type { HeldZap, ZapOf } from '../vm-identity.js';
import type { EventFamily } from './family.js';
import type { ObsoleteFamily } from './obsolete.js';
import { placeSplitTable } from './splits.js';

const PFERR_PRESENT = 1 << PFERR_BITS.P!;
const PFERR_WRITE = 1 << PFERR_BITS.W!;

/** A write that faulted on a present SPTE: it was not writable (arch/x86/include/asm/kvm_host.h PFERR_*). */
function writeFaultOnPresent(pferr: number): boolean {
  return pferr >= 0 && (pferr & (PFERR_PRESENT | PFERR_WRITE)) === (PFERR_PRESENT | PFERR_WRITE);
}

/** A shadow page is named by its generation, gfn and role (mmu.c kvm_mmu_find_shadow_page). */
function shadowPageKey(v: EventView, i: number): string {
  return `${v.spGen(i)}|${v.gfn(i)}|${v.roleKey(i)}`;
}

function faultOnNonPresent(pferr: number): boolean {
  return pferr >= 0 && (pferr & PFERR_PRESENT) === 0;
}

/** TDP ops a removed table's prepare_zap belongs to: the walk (fault, zap, NX recovery) that unlinked it. */
const TDP_WALK: ReadonlySet<OpKind> = new Set(['fault', 'tdp-other', 'zap-root', 'zap-collapsible', 'recover-huge-pages', 'nx-recovery']);


/** kvm_exit reasons of a guest INVLPG: SVM's exit name, VMX's (trace.h kvm_exit's __print_symbolic tables). */
const INVLPG_EXITS: ReadonlySet<string> = new Set(['invlpg', 'INVLPG']);
export class ShadowFamily implements EventFamily {
  constructor(private readonly ctx: ModelContext, private readonly obsolete: ObsoleteFamily) {}

  handleEvent(t: TaskState, i: number, kind: Ev): void {
    switch (kind) {
      case Ev.SetSpte: this.setSpte(t, i); break;
      case Ev.KvmExit: this.exit(t, i); break;
      case Ev.SpteRequested: this.spteRequested(t, i); break;
      case Ev.GetPage: this.getPage(t, i); break;
      case Ev.PrepareZap: this.prepareZap(t, i); break;
      case Ev.PagetableWalk:
      case Ev.PageFault: t.walkPferr = this.ctx.view.errorCodeLo(i); break;
      case Ev.UnsyncPage:
        // mmu.c mmu_try_to_unsync_pages: a write to a write-protected guest page table
        t.unsyncGfn = this.ctx.view.gfn(i);
        this.ctx.ids.lockWork(t);
        break;
      default: this.syncPage(t, i);
    }
  }

  /**
   * kvm_mmu_sync_page is traced by kvm_unlink_unsync_page: in mmu_sync_children, whose batch first
   * write-protected every unsync page's gfn (kvm_vcpu_write_protect_gfn, one flush if any was), or
   * in __kvm_mmu_prepare_zap_page right after the page's prepare_zap (no write-protect; 6.1, 6.12).
   */
  private syncPage(t: TaskState, i: number): void {
    const vm = this.ctx.ids.lockWork(t);
    const key = shadowPageKey(this.ctx.view, i);
    if (t.lastZapKey === key) {
      t.lastZapKey = '';
      return;
    }
    this.protectGfn(t, vm, 'sync-children', i);
  }

  /**
   * mmu.c kvm_mmu_slot_gfn_write_protect(gfn, PG_LEVEL_4K): every SPTE mapping the gfn at any level
   * loses W (and MMU-writable: pt_protect) by spte_write_protect; the op flushes if an update needed
   * it (mmu_spte_update). Consecutive sync_page events of a task are one op: mmu_sync_children
   * batches up to 16 pages per flush, so its flushes are a lower bound past 16 pages.
   */
  private protectGfn(t: TaskState, vm: VmState, cause: 'shadowed-page-table' | 'sync-children', i: number): void {
    const { view: v, ops, facts, kernel } = this.ctx;
    const layout = kernel.layout;
    const gfn = v.gfn(i);
    const kind: OpKind = cause === 'sync-children' ? 'sync-children' : 'account-shadowed';
    let op = t.op?.kind === kind && kind === 'sync-children' ? t.op : null;
    for (const leaf of rmapLeaves(vm, () => vm.leavesTouching(null, gfn, gfn + 1))) {
      const wp = writeProtected(layout, leaf.hi, leaf.lo, true);
      if (wp.hi === leaf.hi && wp.lo === leaf.lo) continue;
      op ??= ops.start(t, kind, vm, i);
      if (leafUpdateNeedsFlush(layout, leaf.hi, leaf.lo, wp.hi, wp.lo)) op.flushingChanges++;
      facts.change(vm, op, 0, leaf.gfn, leaf.level, leaf.sptep, 'write-protect', leaf.hi, leaf.lo, wp.hi, wp.lo, i, 'inferred');
      leaf.hi = wp.hi;
      leaf.lo = wp.lo;
      leaf.protectedBy = op;
      for (const l of this.ctx.on.all) l.onWriteProtect?.({ vm: vm.id, gfn: leaf.gfn, level: leaf.level, line: v.lineNo(i), ts: v.tsNs(i), cause, op });
    }
    // account_shadowed's flush follows at once; on a TDP VM after the TDP MMU's traced write-protect of
    // the gfn (mmu.c kvm_mmu_slot_gfn_write_protect → kvm_tdp_mmu_write_protect_gfn), whose changes join
    // the op; mmu_sync_children's when the batch is over
    if (kind === 'account-shadowed' && vm.isTdp) op ??= ops.start(t, kind, vm, i);
    else if (op && kind === 'account-shadowed') ops.close(t);
  }

  private spteRequested(t: TaskState, i: number): void {
    const { view: v, ids, ops, facts } = this.ctx;
    let vm = ids.lockWork(t);
    const gfn = v.gfn(i);
    if (t.cowHva >= 0) {
      // hva_to_pfn broke copy-on-write for this fault: hva ↔ gfn (memslots.ts InferredMemslots)
      vm.inferred.add(gfn, t.cowHva);
      if (!vm.memslots && t.op?.kind === 'notifier-unmap') {
        for (const leaf of rmapLeaves(vm, () => vm.leavesInRange(null, gfn, gfn + 1))) facts.zapLeaf(vm, leaf, t.op, 'inferred', t.op.line, t.op.ts);
        if (t.note) Object.assign(t.note, { overlap: 'inside', memslotSource: 'inferred', gfnStart: gfn, gfnEnd: gfn + 1, lockTaken: true });
      }
      t.cowHva = -1;
    }
    vm = ids.live(vm);
    if (t.op?.kind !== 'fault' || t.faultGfn !== gfn) ops.start(t, 'fault', vm, i);
    t.faultGfn = gfn;
    // paging_tmpl.h FNAME(page_fault): the guest walk just traced is this fault's
    t.faultPferr = t.walkPferr;
    t.walkPferr = -1;
    t.unsyncGfn = -1;
  }

  /** A vCPU exit: the guest's INVLPG is an op of its own on the shadow MMU; other exits end nothing, take part in no op. */
  private exit(t: TaskState, i: number): void {
    const vm = t.vm;
    if (vm && !vm.isTdp && INVLPG_EXITS.has(this.ctx.view.exitReason(i))) this.ctx.ops.start(t, 'invlpg', vm, i);
    else t.lastEvent = Ev.Other;
  }

  private setSpte(t: TaskState, i: number): void {
    const { view: v, ids, ops, facts, kernel } = this.ctx;
    let vm = ids.lockWork(t);
    const sptep = v.sptep(i);
    const page = shadowGroup(sptep);
    const level = v.level(i);
    const sp = t.newSp[level];
    // on the TDP MMU the change was already traced by kvm_tdp_mmu_spte_changed just before and
    // `at` is no shadow-page slot; it is the fault's last event (tdp_mmu.c tdp_mmu_map_handle_target_level).
    // A TDP VM's nested guest runs on shadow pages (mmu.c kvm_mmu_get_page, not direct): an SPTE set
    // in one is the shadow MMU's
    const inNestedPage = vm.hasIndirectPages && (sp ? !sp.direct : vm.spOfPage.get(page)?.direct === false);
    if (vm.isTdp && !inNestedPage) {
      t.vm = ids.notePage(vm, page, true);
      if (t.op?.kind === 'fault') ops.close(t);
      return;
    }
    if (sp) ids.claimPage(vm, t, page, i);
    vm = ids.notePage(vm, page);
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
    const invlpg = t.op?.kind === 'invlpg' ? t.op : null;
    const op = invlpg ?? (t.op?.kind === 'fault' ? t.op : ops.start(t, 'fault', vm, i));
    kernel.detectFlavour(level, hi, lo);
    const layout = kernel.layout;
    if (!isPresent(layout, hi, lo)) return;
    const slot = shadowSlot(sptep);
    let old = vm.getLeaf(page, slot);
    if (invlpg && old) {
      // paging_tmpl.h FNAME(invlpg): the leaf was zapped (untraced, a flush as it was present) before
      // FNAME(prefetch_gpte) set this one
      facts.zapLeaf(vm, old, invlpg, 'inferred', v.lineNo(i), v.tsNs(i));
      old = undefined;
    }
    if (!old && vm.unplacedSplitTables > 0 && !vm.spOfPage.has(page)) old = placeSplitTable(vm, page, slot, gfn, level);
    if (old && old.gfn === gfn) {
      const kind = classifyChange(layout, level, old.hi, old.lo, hi, lo);
      if ((kind === 'same' || kind === 'ad-set') && isWritable(old.lo) && gfn === t.faultGfn && writeFaultOnPresent(t.faultPferr)) {
        // the write fault found the SPTE present but read-only while the model holds it writable
        // (at most A/D differ: aging cleared A untraced too): an untraced write-protect came in
        // between, and this fault undid it
        this.restoreWrite(t, vm, old, op, level, sptep, hi, lo, i);
        return;
      }
      if (kind === 'same') {
        // re-installing the value a present slot already holds: something untraced changed it
        // in between (a notifier zap outside known memslots, zap_collapsible_sptes, sync_page, ...);
        // a zap when the fault's error code says the SPTE was not present
        const evidence = gfn === t.faultGfn && faultOnNonPresent(t.faultPferr) ? 'inferred' : 'suspected';
        facts.zapLeaf(vm, old, ops.untracedOp(vm, t, i), evidence, v.lineNo(i), v.tsNs(i));
      } else {
        // mmu.c mmu_set_spte(): a new pfn drops the old SPTE with a flush; else mmu_spte_update()
        if (kind === 'pfn-change' || leafUpdateNeedsFlush(layout, old.hi, old.lo, hi, lo)) {
          op.flushingChanges++;
          if (!staleEntryHarmful(layout, old.hi, old.lo, hi, lo)) op.adOnlyChanges++;
        }
        facts.change(vm, op, 0, gfn, level, sptep, kind, old.hi, old.lo, hi, lo, i, 'inferred');
        const by = old.protectedBy;
        if (by && isWritable(lo) && !isWritable(old.lo)) this.tellRestore(t, vm, by, by.kind === 'sync-children' ? 'sync-children' : 'shadowed-page-table', old, i);
        old.protectedBy = null;
        old.hi = hi;
        old.lo = lo;
        old.level = level;
        old.accessedKnown = true;
        old.ts = v.tsNs(i);
        facts.install(vm, t, 0, gfn, level, sptep, hi, lo, i);
        return;
      }
    } else if (old) {
      // a different gfn in the same slot: the guest PTE changed and the SPTE was dropped untraced
      facts.zapLeaf(vm, old, ops.untracedOp(vm, t, i), 'inferred', v.lineNo(i), v.tsNs(i));
    }
    vm.setLeaf(page, slot, 0, gfn, level, sptep, hi, lo).ts = v.tsNs(i);
    if (!old && level > 1 && this.dropParentPte(vm, op, gfn, level)) {
      facts.change(vm, op, 0, gfn, level, sptep, 'collapse', 0, 0, hi, lo, i, 'inferred');
    } else {
      facts.change(vm, op, 0, gfn, level, sptep, 'install', 0, 0, hi, lo, i, 'observed');
    }
    facts.install(vm, t, 0, gfn, level, sptep, hi, lo, i);
  }

  /**
   * An untraced write-protect (inferred) and the write fault that undid it (observed). A fault that
   * unsynced the guest page table at this gfn shows account_shadowed's protection (pt_protect);
   * else it was dirty logging (kvm_mmu_slot_remove_write_access, GET/CLEAR_DIRTY_LOG) or another
   * untraced write-protect the trace cannot tell apart.
   */
  private restoreWrite(t: TaskState, vm: VmState, leaf: Leaf, op: Op, level: number, sptep: number, hi: number, lo: number, i: number): void {
    const { view: v, ops, facts, kernel } = this.ctx;
    const layout = kernel.layout;
    const gfn = leaf.gfn;
    const cause: WriteProtectCause = t.unsyncGfn === gfn ? 'shadowed-page-table' : 'dirty-log';
    const pass = ops.writeProtectPass(vm, cause, leaf.ts, i);
    const wp = writeProtected(layout, leaf.hi, leaf.lo, cause === 'shadowed-page-table');
    facts.change(vm, pass, 0, gfn, level, sptep, 'write-protect', leaf.hi, leaf.lo, wp.hi, wp.lo, i, 'inferred');
    pass.flushingChanges++;
    // mmu.c mmu_set_spte → mmu_spte_update: making an SPTE writable needs no flush
    facts.change(vm, op, 0, gfn, level, sptep, classifyChange(layout, level, wp.hi, wp.lo, hi, lo), wp.hi, wp.lo, hi, lo, i, 'observed');
    leaf.accessedKnown = true;
    leaf.ts = v.tsNs(i);
    facts.install(vm, t, 0, gfn, level, sptep, hi, lo, i);
    this.tellRestore(t, vm, pass, cause, leaf, i);
  }

  /** A write fault made `leaf` writable again after the write-protect `pass` (inferred or modelled: protectGfn). */
  private tellRestore(t: TaskState, vm: VmState, pass: Op, cause: WriteProtectCause, leaf: Leaf, i: number): void {
    const v = this.ctx.view;
    for (const l of this.ctx.on.all) l.onWriteProtectRestore?.({ vm: vm.id, gfn: leaf.gfn, level: leaf.level, line: v.lineNo(i), ts: v.tsNs(i), task: t.task, cause, pass });
  }

  private getPage(t: TaskState, i: number): void {
    const v = this.ctx.view;
    const vm = this.ctx.ids.lockWork(t);
    const key = shadowPageKey(v, i);
    t.lastZapKey = '';
    let sp = vm.shadowPages.get(key);
    if (!sp || v.created(i)) {
      sp = { gen: v.spGen(i), gfn: v.gfn(i), role: v.roleKey(i), level: v.level(i), direct: v.direct(i), page: NO_PAGE };
      vm.shadowPages.set(key, sp);
      if (v.created(i)) {
        t.newSp[sp.level] = sp;
        // mmu.c kvm_mmu_alloc_shadow_page → account_shadowed: a page shadowing a guest page table
        // write-protects its gfn (sp_has_gptes: not direct; passthrough pages are not told apart, rare)
        if (!v.direct(i)) {
          vm.hasIndirectPages = true;
          this.protectGfn(t, vm, 'shadowed-page-table', i);
        } else if (!vm.isTdp) {
          this.dropLargeSpte(t, vm, sp, i);
          vm.directTables.set(`${sp.gfn}/${sp.level}`, sp);
        }
        for (const l of this.ctx.on.all) {
          l.onShadowPageCreated?.({ vm: vm.id, gen: sp.gen, gfn: sp.gfn, role: sp.role, level: sp.level, line: v.lineNo(i), ts: v.tsNs(i), task: t.task, rootCount: v.rootCount(i), invalidAlready: false, op: null });
        }
      }
    }
    t.lastSp = sp;
  }

  /**
   * mmu.c __link_shadow_page → drop_large_spte: a table linked where a huge leaf was replaces that
   * leaf and flushes (kvm_flush_remote_tlbs_sptep; 6.1, 6.12): a split on demand, its 4K leaves
   * faulted in later, not a zap. A direct page's gfn is the huge leaf's. The fault's error code tells
   * whether its walk met a present SPTE (the huge leaf): P clear, it did not; no walk traced, the
   * split is suspected; several huge leaves of the gfn (aliases), none is split.
   */
  private dropLargeSpte(t: TaskState, vm: VmState, sp: ShadowPage, i: number): void {
    const { ops, facts } = this.ctx;
    if (faultOnNonPresent(t.faultPferr)) return;
    const huge = vm.leavesInRange(null, sp.gfn, sp.gfn + 1).filter((l) => l.level === sp.level + 1);
    if (huge.length !== 1) return;
    const op = t.op?.kind === 'fault' ? t.op : ops.start(t, 'fault', vm, i);
    const leaf = huge[0]!;
    op.flushingChanges++;
    facts.change(vm, op, leaf.asId, leaf.gfn, leaf.level, leaf.sptep, 'split', leaf.hi, leaf.lo, 0, 0, i, t.faultPferr < 0 ? 'suspected' : 'inferred');
    vm.removeLeaf(leaf);
  }

  /**
   * mmu.c mmu_set_spte: a huge leaf written over a page-table pointer unlinks that table
   * (drop_parent_pte) and flushes (6.1, 6.12). The shadow MMU traces no link, so the table is the
   * live direct page of the current generation one level down at this gfn that had SPTEs set (it was
   * linked to set them); its leaves stay, unreachable, until it is zapped (rmaps still hold them).
   */
  private dropParentPte(vm: VmState, op: Op, gfn: number, level: number): boolean {
    const key = `${gfn}/${level - 1}`;
    const child = vm.directTables.get(key);
    if (!child || child.page === NO_PAGE || child.gen !== vm.validGen) return false;
    vm.directTables.delete(key);
    op.flushingChanges++;
    return true;
  }

  /** kvm_mmu_prepare_zap_page: shadow pages, and on the TDP MMU the tables its walks remove. */
  private prepareZap(t: TaskState, i: number): void {
    const { view: v, ids } = this.ctx;
    const key = shadowPageKey(v, i);
    t.lastZapKey = key;
    if (t.vmThread && !t.vm) {
      // a VM kernel thread (NX recovery, VM teardown) joins the VM its pages name; several: held
      if (ids.placeVmThreadZap(t, key) === 'hold') {
        this.holdZap(t, i, key);
        return;
      }
      if (t.vm) this.applyHeld(t.vm, t, ids.takeHeld(t));
    } else {
      ids.joinVmHaving(t, (vm) => vm.shadowPages.has(key));
    }
    if (this.obsolete.zapOfUnknownVm(t, i)) return;
    const vm = ids.lockWork(t);
    const z = this.zapOf(i, key);
    this.dropZapped(vm, t, this.zapOp(t, vm, z.secondHalf, i), z, vm.shadowPages.get(key));
  }

  private zapOf(i: number, key: string): ZapOf {
    const v = this.ctx.view;
    return { key, gen: v.spGen(i), gfn: v.gfn(i), role: v.roleKey(i), level: v.level(i), line: v.lineNo(i), ts: v.tsNs(i), rootCount: v.rootCount(i), secondHalf: v.invalid(i) };
  }

  /** The op prepare_zap `i` belongs to (of a VM not known yet when `vm` is null), its page counted. */
  private zapOp(t: TaskState, vm: VmState | null, secondHalf: boolean, i: number): Op {
    const { ops, nx, view: v } = this.ctx;
    const nxTable = t.nxRecovery && v.hasGfn(i);
    if (nxTable) nx.beforeTableZap(t, v.gfn(i), v.level(i));
    let op: Op;
    if (t.episode) {
      op = t.episode.op;
    } else if (vm?.isTdp && v.direct(i)) {
      // the walk that unlinks a TDP table traces its prepare_zap (tdp_mmu.c handle_removed_pt), before
      // or after the unlink by kernel version; the unlink is what counts (families/tdp.ts)
      op = t.op && TDP_WALK.has(t.op.kind) ? t.op : ops.start(t, t.nxRecovery ? 'nx-recovery' : 'tdp-other', vm, i);
    } else {
      op = t.op?.kind === 'zap-pages' || t.op?.kind === 'nx-recovery' ? t.op : ops.start(t, t.nxRecovery ? 'nx-recovery' : 'zap-pages', vm, i);
      // a root is never on possible_nx_huge_pages (mmu.c account_nx_huge_page: pages that replaced a
      // huge page): the thread is tearing the VM down (big, 6.18: roots last, then it exits)
      if (op.kind === 'nx-recovery' && (v.rootCount(i) > 0 || secondHalf)) op.kind = 'zap-pages';
    }
    if (nxTable) nx.tableZapped(op, v.gfn(i), v.level(i));
    if (secondHalf) op.rootsFreed++;
    else {
      if (!vm?.isTdp || !v.direct(i)) op.tablesZapped++;
      ops.episodeZap(op, i);
    }
    return op;
  }

  /** `sp`, the page `vm` has under the zapped key, is zapped: its leaves dropped, freed unless a root in use. */
  private dropZapped(vm: VmState, t: TaskState, op: Op, z: ZapOf, sp: ShadowPage | undefined): void {
    const { ids, facts } = this.ctx;
    // mmu.c __kvm_mmu_prepare_zap_page → kvm_mmu_page_unlink_children: the page's leaves are dropped
    if (sp && sp.page !== NO_PAGE && !z.secondHalf) {
      for (const leaf of vm.leavesInPage(sp.page)) facts.zapLeaf(vm, leaf, op, 'inferred', z.line, z.ts);
    }
    // a root still referenced stays alive (invalid) until its second zap (§5.2)
    if (sp && (z.rootCount === 0 || z.secondHalf)) {
      vm.shadowPages.delete(z.key);
      const dk = `${sp.gfn}/${sp.level}`;
      if (vm.directTables.get(dk) === sp) vm.directTables.delete(dk);
      if (sp.page !== NO_PAGE) {
        vm.spOfPage.delete(sp.page);
        ids.pageFreed(sp.page);
      }
    }
    for (const l of this.ctx.on.all) {
      l.onShadowPageZapped?.({
        vm: vm.id, gen: z.gen, gfn: z.gfn, role: z.role, level: z.level, line: z.line, ts: z.ts,
        task: t.task, rootCount: z.rootCount, invalidAlready: z.secondHalf, op,
      });
    }
  }

  /** A VM kernel thread's zap of a page several VMs have: counted in its op now, applied when its VM shows. */
  private holdZap(t: TaskState, i: number, key: string): void {
    const ids = this.ctx.ids;
    const z = this.zapOf(i, key);
    const op = this.zapOp(t, null, z.secondHalf, i);
    const pages: [VmState, ShadowPage][] = [];
    for (const vm of ids.heldCandidates(t)) {
      const sp = ids.live(vm).shadowPages.get(key);
      if (sp) pages.push([ids.live(vm), sp]);
    }
    const vm = ids.addHeld(t, { ...z, op, pages });
    if (vm) this.applyHeld(vm, t, ids.takeHeld(t));
  }

  /**
   * Held zaps, in trace order, as `vm`'s: a page goes only if the VM still has the one it had at the
   * zap (its vCPUs may have built it anew since). Their op's flush was decided if it ended meanwhile.
   */
  private applyHeld(vm: VmState, t: TaskState, zaps: HeldZap[]): void {
    const ids = this.ctx.ids;
    for (const h of zaps) {
      if (h.op.vm === '') h.op.vm = vm.id;
      const had = h.pages.find(([c]) => ids.live(c) === vm)?.[1];
      this.dropZapped(vm, t, h.op, h, had && vm.shadowPages.get(h.key) === had ? had : undefined);
    }
  }

  /** The end of the trace: zaps still held (several VMs had their pages) are unattributed. */
  finish(): void {
    const ids = this.ctx.ids;
    for (const [t, zaps] of ids.takeAllHeld()) this.applyHeld(ids.unattributed, t, zaps);
  }
}
