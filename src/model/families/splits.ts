// Eager huge-page splits (kvm_mmu_split_huge_page): dirty logging replaces a huge leaf with a table
// of smaller leaves of the same translation, written untraced. No zap, no flush.
import type { ModelContext, TaskState } from '../context.js';
import { NO_PAGE, splitTableKey, tdpGroup, type Leaf, type VmState } from '../vm-state.js';
import type { EventFamily } from './family.js';

export class SplitsFamily implements EventFamily {
  constructor(private readonly ctx: ModelContext) {}

  /**
   * tdp_mmu.c tdp_mmu_split_huge_page / mmu.c shadow_mmu_try_split_huge_page: the tracepoint
   * follows the split, errno ≠ 0 when nothing was split. No flush (same translation).
   */
  handleEvent(t: TaskState, i: number): void {
    const { view: v, ids, facts } = this.ctx;
    let vm = ids.lockWork(t);
    const gfn = v.gfn(i), level = v.level(i), errno = v.errno(i);
    let children = 0;
    const table = t.lastSp && t.lastSp.gfn === gfn && t.lastSp.level === level - 1 ? t.lastSp : null;
    t.newSp[level - 1] = null; // the page allocated for the split gets no traced SPTE
    if (errno === 0 && !vm.isTdp) {
      // the TDP MMU traced the huge leaf → table change just before (families/tdp.ts, kind split)
      const hi = v.spteHi(i), lo = v.spteLo(i);
      const isHuge = (l: Leaf | null): l is Leaf => l !== null && l.level === level && l.hi === hi && l.lo === lo;
      let huge = vm.leafMapping(gfn, hi, lo);
      if (!isHuge(huge) && !ids.sawTgid) {
        // without TGIDs: the task splitting another task group's huge SPTE (the VMM thread, in a
        // dirty-log ioctl) belongs to that group's VM
        const owner = [...this.ctx.vms.values()].find((o) => o !== vm && isHuge(o.leafMapping(gfn, hi, lo)));
        if (owner) {
          vm = ids.merge(owner, vm);
          t.vm = vm;
          huge = vm.leafMapping(gfn, hi, lo);
        }
      }
      if (isHuge(huge)) {
        // the new table's address (the new SPTE) is not in the trace
        facts.change(vm, t.op, huge.asId, gfn, level, huge.sptep, 'split', huge.hi, huge.lo, 0, 0, i, 'observed');
        vm.removeLeaf(huge);
      }
      if (table) {
        if (table.page === NO_PAGE) table.page = splitTableKey(gfn, level - 1);
        vm.spOfPage.set(table.page, table);
      }
      const group = table?.page ?? splitTableKey(gfn, level - 1);
      if (group < 0 && !vm.hasLeavesInPage(group)) vm.unplacedSplitTables++;
      children = splitChildren(vm, group, group >= 0, 0, gfn, level, hi, lo);
    } else if (errno === 0) {
      // the children families/tdp.ts inferred from the huge leaf → table change traced just before
      children = vm.leavesInPage(tdpGroup(0, gfn, level - 1)).length;
    }
    for (const l of this.ctx.on.all) l.onHugeSplit?.({ vm: vm.id, line: v.lineNo(i), gfn, level, errno, children });
  }
}

/**
 * The smaller leaves of a split huge leaf (spte.c make_huge_page_split_spte): the huge value with
 * the child's pfn offset, PS cleared at 4K. Where the NX-huge-page mitigation is on, 4K children
 * get X back; the trace does not show the module parameter, so X is left as the huge leaf had it.
 * Leaves the table already holds stay (mmu.c shadow_mmu_split_huge_page keeps present SPTEs).
 */
export function splitChildren(vm: VmState, group: number, physical: boolean, asId: number, gfn: number, level: number, hi: number, lo: number): number {
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
export function placeSplitTable(vm: VmState, page: number, slot: number, gfn: number, level: number): Leaf | undefined {
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
