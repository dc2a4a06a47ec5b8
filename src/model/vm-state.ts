// Live MMU state of one VM: present leaf SPTEs (by SPTE address on the shadow MMU, by
// (as_id, gfn, level) on the TDP MMU), an index by gfn for notifier ranges, shadow pages, memslots.
import type { Op, SptePlace, TaskAttribution } from './facts.js';
import type { TaskState } from './context.js';
import { InferredMemslots, type Memslot } from './memslots.js';

export interface Leaf extends SptePlace {
  /** Its page table (leafGroup*) and index in it. */
  group: number;
  slot: number;
  hi: number;
  lo: number;
  /** False once KVM cleared Accessed: the CPU may have set it again without a trace event. */
  accessedKnown: boolean;
  /** Time of the last traced write of its value (shadow MMU set_spte), else 0. */
  ts: number;
  /** Next present leaf of the same gfn (aliases). */
  nextSameGfn: Leaf | null;
  /** The op that write-protected it since its last traced write (a traced cause), else null. */
  protectedBy: Op | null;
}

export interface ShadowPage {
  gen: number;
  gfn: number;
  role: string;
  level: number;
  /** role.direct: false for a page shadowing a guest page table (on a TDP VM: a nested guest's). */
  direct: boolean;
  /**
   * Leaf group of its SPTEs: the physical page (sptep >> 12) learned from the first SPTE set in it;
   * for a table an eager split filled untraced, a tdpGroup key until an SPTE shows its address;
   * else NO_PAGE.
   */
  page: number;
}

/**
 * The leaves of `leavesOf()` that the shadow MMU keeps in rmaps, whose changes and zaps are untraced:
 * all of a shadow-paging VM's; on a TDP VM only a nested guest's (mmu.c kvm_memslots_have_rmaps),
 * told by their SPTE address: the TDP MMU's changes are traced and carry none. A TDP VM with no
 * indirect shadow page has none, and its leaves are not even listed.
 */
export function rmapLeaves(vm: VmState, leavesOf: () => Leaf[]): Leaf[] {
  if (!vm.isTdp) return leavesOf();
  return vm.hasIndirectPages ? leavesOf().filter((l) => l.sptep >= 0) : [];
}

/** A shadow page whose SPTEs' address is not known yet (tdpGroup keys are ≤ -2). */
export const NO_PAGE = -1;

// Leaves live in groups of 512 slots, one per page table, keyed by small integers (V8 hashes
// those fast; SPTE addresses and gfn-derived keys above 2^31 are slow Map keys):
/** Shadow MMU: the page holding the SPTE (`at` >> 12), and the SPTE's index in it. */
export const shadowGroup = (sptep: number): number => Math.floor(sptep / 4096);
export const shadowSlot = (sptep: number): number => (sptep % 4096) / 8;
/** TDP MMU: the table of a level-`level` SPTE, as (as_id, level, table gfn) below zero, and its index. */
export const tdpGroup = (asId: number, gfn: number, level: number): number =>
  -1 - ((Math.floor(gfn / 512 ** level) * 2 + asId) * 8 + level);
export const tdpSlot = (gfn: number, level: number): number => Math.floor(gfn / 512 ** (level - 1)) % 512;
/**
 * Shadow MMU: the provisional key of a direct table an eager split filled untraced, until a
 * kvm_mmu_set_spte shows its address. A direct table's entries are laid out like a TDP table's.
 */
export const splitTableKey = (gfn: number, level: number): number => tdpGroup(0, gfn, level);

interface LeafGroup {
  live: number;
  slots: (Leaf | undefined)[];
}

/**
 * Removed leaves and emptied groups are kept for reuse: SPTEs are zapped and refilled all the time,
 * and recycling them spares the garbage collector (a removed leaf is never read after the next set).
 */
const GROUP_POOL_MAX = 4096;
const LEAF_POOL_MAX = 65536;

export class VmState {
  private readonly groups = new Map<number, LeafGroup>();
  private readonly groupPool: LeafGroup[] = [];
  private readonly leafPool: Leaf[] = [];
  private readonly byGfn = new Map<number, Leaf>();
  /** Guest frames ever mapped, by 2 MiB region (a 512-bit map each): frames known to be in a memslot. */
  private readonly everMapped = new Map<number, Uint32Array>();
  readonly shadowPages = new Map<string, ShadowPage>();
  readonly spOfPage = new Map<number, ShadowPage>();
  /** Live direct shadow pages of the shadow MMU by `${gfn}/${level}`: the tables a huge leaf can replace. */
  readonly directTables = new Map<string, ShadowPage>();
  readonly inferred = new InferredMemslots();
  memslots: Memslot[] | null = null;
  /** kvm->arch.mmu_valid_gen (flipped by kvm_mmu_zap_all_fast). */
  validGen = 0;
  /** Tables an eager split filled that no SPTE address has placed yet (Replay.placeSplitTable). */
  unplacedSplitTables = 0;
  /** kvm_tdp_mmu_spte_changed seen: its zaps are traced, not inferred. */
  isTdp = false;
  /** A shadow page not direct was created (kvm_mmu_get_page): on a TDP VM, a nested guest's. */
  hasIndirectPages = false;
  /** A TDP leaf was installed (families/tdp.ts): the VM's vCPUs have shown. */
  tdpInstalled = false;
  /** The VM's NX huge page recovery thread, once it has done mmu_lock work (vm-identity.ts lockWork). */
  nxRecovery: TaskState | null = null;
  readonly tasks = new Map<number, string>();
  /** How each task was found to be this VM's (vm-identity.ts); a task `tasks` has and this lacks joined by its notifications. */
  readonly taskBy = new Map<number, TaskAttribution>();

  constructor(readonly id: string, readonly tgid: number | null) {}

  getLeaf(group: number, slot: number): Leaf | undefined {
    return this.groups.get(group)?.slots[slot];
  }

  setLeaf(group: number, slot: number, asId: number, gfn: number, level: number, sptep: number, hi: number, lo: number): Leaf {
    let leaf = this.getLeaf(group, slot);
    if (leaf && leaf.gfn !== gfn) {
      this.removeLeaf(leaf);
      leaf = undefined;
    }
    if (!leaf) {
      const next = this.byGfn.get(gfn) ?? null;
      leaf = this.leafPool.pop();
      if (leaf) {
        leaf.group = group;
        leaf.slot = slot;
        leaf.asId = asId;
        leaf.gfn = gfn;
        leaf.level = level;
        leaf.sptep = sptep;
        leaf.hi = hi;
        leaf.lo = lo;
        leaf.accessedKnown = true;
        leaf.ts = 0;
        leaf.nextSameGfn = next;
        leaf.protectedBy = null;
      } else {
        leaf = { group, slot, asId, gfn, level, sptep, hi, lo, accessedKnown: true, ts: 0, nextSameGfn: next, protectedBy: null };
      }
      let g = this.groups.get(group);
      if (!g) this.groups.set(group, (g = this.groupPool.pop() ?? { live: 0, slots: new Array<Leaf | undefined>(512).fill(undefined) }));
      g.slots[slot] = leaf;
      g.live++;
      this.byGfn.set(gfn, leaf);
      this.noteMapped(gfn);
    } else {
      leaf.hi = hi;
      leaf.lo = lo;
      leaf.level = level;
      leaf.accessedKnown = true;
      leaf.protectedBy = null;
    }
    return leaf;
  }

  removeLeaf(leaf: Leaf): void {
    const g = this.groups.get(leaf.group)!;
    g.slots[leaf.slot] = undefined;
    if (--g.live === 0) {
      this.groups.delete(leaf.group);
      if (this.groupPool.length < GROUP_POOL_MAX) this.groupPool.push(g);
    }
    let head = this.byGfn.get(leaf.gfn) ?? null;
    if (head === leaf) {
      if (leaf.nextSameGfn) this.byGfn.set(leaf.gfn, leaf.nextSameGfn);
      else this.byGfn.delete(leaf.gfn);
    } else {
      while (head && head.nextSameGfn !== leaf) head = head.nextSameGfn;
      if (head) head.nextSameGfn = leaf.nextSameGfn;
    }
    if (this.leafPool.length < LEAF_POOL_MAX) this.leafPool.push(leaf);
  }

  private noteMapped(gfn: number): void {
    const region = Math.floor(gfn / 512);
    let bits = this.everMapped.get(region);
    if (!bits) this.everMapped.set(region, (bits = new Uint32Array(16)));
    const i = gfn % 512;
    bits[i >> 5]! |= 1 << (i & 31);
  }

  /** Whether a frame in [gfnStart, gfnEnd) was ever mapped (and passes `owns`). */
  everMappedIn(gfnStart: number, gfnEnd: number, owns: (gfn: number) => boolean): boolean {
    if (gfnEnd <= gfnStart) return false;
    const first = Math.floor(gfnStart / 512), last = Math.floor((gfnEnd - 1) / 512);
    const hit = (region: number, bits: Uint32Array): boolean => {
      const lo = Math.max(gfnStart, region * 512), hi = Math.min(gfnEnd, region * 512 + 512);
      for (let g = lo; g < hi; g++) {
        const i = g % 512;
        if ((bits[i >> 5]! & (1 << (i & 31))) !== 0 && owns(g)) return true;
      }
      return false;
    };
    if (last - first + 1 <= this.everMapped.size) {
      for (let r = first; r <= last; r++) {
        const bits = this.everMapped.get(r);
        if (bits && hit(r, bits)) return true;
      }
      return false;
    }
    for (const [r, bits] of this.everMapped) if (r >= first && r <= last && hit(r, bits)) return true;
    return false;
  }

  /** Present leaves with gfn in [gfnStart, gfnEnd) of one address space (null: any). */
  leavesInRange(asId: number | null, gfnStart: number, gfnEnd: number, owns?: (gfn: number) => boolean): Leaf[] {
    const out: Leaf[] = [];
    const take = (l: Leaf | null): void => {
      for (; l; l = l.nextSameGfn) if (asId === null || l.asId === asId) out.push(l);
    };
    if (gfnEnd - gfnStart <= this.byGfn.size) {
      for (let g = gfnStart; g < gfnEnd; g++) {
        const l = this.byGfn.get(g);
        if (l && (!owns || owns(g))) take(l);
      }
    } else {
      for (const [g, l] of this.byGfn) if (g >= gfnStart && g < gfnEnd && (!owns || owns(g))) take(l);
      out.sort((a, b) => a.gfn - b.gfn || a.group - b.group || a.slot - b.slot);
    }
    return out;
  }

  /**
   * Present leaves a gfn-range walk reaches: those in [gfnStart, gfnEnd), and a huge leaf that maps
   * gfnStart from below it (mmu.c rmap_walk_init_level starts at the huge page containing the
   * start; a huge leaf at the end has its base inside the range).
   */
  leavesTouching(asId: number | null, gfnStart: number, gfnEnd: number, owns?: (gfn: number) => boolean): Leaf[] {
    const out = this.leavesInRange(asId, gfnStart, gfnEnd, owns);
    if (gfnEnd <= gfnStart) return out;
    for (let level = 2; level <= 3; level++) {
      const base = gfnStart - (gfnStart % 512 ** (level - 1));
      if (base === gfnStart || (owns && !owns(base))) continue;
      for (let l = this.byGfn.get(base) ?? null; l; l = l.nextSameGfn) {
        if (l.level === level && (asId === null || l.asId === asId)) out.unshift(l);
      }
    }
    return out;
  }

  /**
   * The present leaf that maps `gfn` at any level (4K, 2M, 1G), preferring one that holds (hi, lo):
   * for events that name a frame but no SPTE address (fast_page_fault's sptep is a hashed pointer).
   */
  leafMapping(gfn: number, hi: number, lo: number): Leaf | null {
    let any: Leaf | null = null;
    for (let level = 1; level <= 3; level++) {
      const base = gfn - (gfn % 512 ** (level - 1));
      for (let l = this.byGfn.get(base) ?? null; l; l = l.nextSameGfn) {
        if (l.level !== level) continue;
        if (l.hi === hi && l.lo === lo) return l;
        any ??= l;
      }
    }
    return any;
  }

  /** Moves a page table's leaves to another group key (a table whose address became known). */
  moveGroup(from: number, to: number, sptepOf: (slot: number) => number): boolean {
    const g = this.groups.get(from);
    if (!g || this.groups.has(to)) return false;
    this.groups.delete(from);
    this.groups.set(to, g);
    for (const l of g.slots) {
      if (!l) continue;
      l.group = to;
      l.sptep = sptepOf(l.slot);
    }
    return true;
  }

  /** Present leaves in the shadow page whose SPTEs live in physical page `page`. */
  leavesInPage(page: number): Leaf[] {
    const g = this.groups.get(page);
    return g ? g.slots.filter((l): l is Leaf => l !== undefined) : [];
  }

  /** Whether the VM holds any present leaf. */
  get hasLeaves(): boolean {
    return this.groups.size > 0;
  }

  hasLeavesInPage(page: number): boolean {
    return this.groups.has(page);
  }

  /** Every present leaf, table by table. */
  allLeaves(): Leaf[] {
    const out: Leaf[] = [];
    for (const g of this.groups.values()) for (const l of g.slots) if (l) out.push(l);
    return out;
  }

  /** Moves another VM's state into this one (two task groups turned out to be one VM). */
  absorb(o: VmState): void {
    this.tdpInstalled ||= o.tdpInstalled;
    this.hasIndirectPages ||= o.hasIndirectPages;
    for (const [r, bits] of o.everMapped) {
      const mine = this.everMapped.get(r);
      if (!mine) this.everMapped.set(r, bits.slice());
      else for (let k = 0; k < 16; k++) mine[k]! |= bits[k]!;
    }
    for (const l of o.allLeaves()) {
      const n = this.setLeaf(l.group, l.slot, l.asId, l.gfn, l.level, l.sptep, l.hi, l.lo);
      n.accessedKnown = l.accessedKnown;
      n.ts = l.ts;
    }
    for (const [k, sp] of o.shadowPages) if (!this.shadowPages.has(k)) this.shadowPages.set(k, sp);
    for (const [p, sp] of o.spOfPage) this.spOfPage.set(p, sp);
    for (const [k, sp] of o.directTables) if (!this.directTables.has(k)) this.directTables.set(k, sp);
    for (const [pid, comm] of o.tasks) this.tasks.set(pid, comm);
    // the two task groups wrote SPTEs into the same page tables: that, not their own MMU work, makes them one VM
    for (const m of [this.taskBy, o.taskBy]) for (const [pid, by] of m) if (by === 'own-mmu-work') m.set(pid, 'shared-page-tables');
    for (const [pid, by] of o.taskBy) {
      const had = this.taskBy.get(pid);
      if (!had || had === 'only-vm') this.taskBy.set(pid, by); // evidence wins over a guess
    }
    this.unplacedSplitTables += o.unplacedSplitTables;
    this.inferred.absorb(o.inferred);
  }
}
