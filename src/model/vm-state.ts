// Live MMU state of one VM: present leaf SPTEs (by SPTE address on the shadow MMU, by
// (as_id, gfn, level) on the TDP MMU), an index by gfn for notifier ranges, shadow pages, memslots.
import type { SptePlace } from './facts.js';
import { InferredMemslots, type Memslot } from './memslots.js';

export interface Leaf extends SptePlace {
  key: number;
  hi: number;
  lo: number;
  /** False once KVM cleared Accessed: the CPU may have set it again without a trace event. */
  accessedKnown: boolean;
  /** Next present leaf of the same gfn (aliases). */
  nextSameGfn: Leaf | null;
}

export interface ShadowPage {
  gen: number;
  gfn: number;
  role: string;
  level: number;
  /** Physical page of its SPTEs (sptep >> 12), learned from the first SPTE set in it, else -1. */
  page: number;
}

/** TDP leaves are keyed by (as_id, level, gfn) in a space disjoint from SPTE addresses. */
export function tdpKey(asId: number, gfn: number, level: number): number {
  return -(gfn * 64 + asId * 8 + level) - 1;
}

export class VmState {
  readonly leaves = new Map<number, Leaf>();
  private readonly byGfn = new Map<number, Leaf>();
  readonly shadowPages = new Map<string, ShadowPage>();
  readonly spOfPage = new Map<number, ShadowPage>();
  readonly inferred = new InferredMemslots();
  memslots: Memslot[] | null = null;
  /** kvm->arch.mmu_valid_gen (flipped by kvm_mmu_zap_all_fast). */
  validGen = 0;
  /** kvm_tdp_mmu_spte_changed seen: its zaps are traced, not inferred. */
  isTdp = false;
  readonly tasks = new Map<number, string>();

  constructor(readonly id: string, readonly tgid: number | null) {}

  setLeaf(key: number, asId: number, gfn: number, level: number, sptep: number, hi: number, lo: number): Leaf {
    let leaf = this.leaves.get(key);
    if (leaf && leaf.gfn !== gfn) {
      this.removeLeaf(leaf);
      leaf = undefined;
    }
    if (!leaf) {
      leaf = { key, asId, gfn, level, sptep, hi, lo, accessedKnown: true, nextSameGfn: this.byGfn.get(gfn) ?? null };
      this.leaves.set(key, leaf);
      this.byGfn.set(gfn, leaf);
    } else {
      leaf.hi = hi;
      leaf.lo = lo;
      leaf.level = level;
      leaf.accessedKnown = true;
    }
    return leaf;
  }

  removeLeaf(leaf: Leaf): void {
    this.leaves.delete(leaf.key);
    let head = this.byGfn.get(leaf.gfn) ?? null;
    if (head === leaf) {
      if (leaf.nextSameGfn) this.byGfn.set(leaf.gfn, leaf.nextSameGfn);
      else this.byGfn.delete(leaf.gfn);
      return;
    }
    while (head && head.nextSameGfn !== leaf) head = head.nextSameGfn;
    if (head) head.nextSameGfn = leaf.nextSameGfn;
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
      out.sort((a, b) => a.gfn - b.gfn || a.key - b.key);
    }
    return out;
  }

  /** Present leaves in the shadow page whose SPTEs live in physical page `page`. */
  leavesInPage(page: number): Leaf[] {
    const out: Leaf[] = [];
    for (let k = 0; k < 512; k++) {
      const l = this.leaves.get(page * 4096 + k * 8);
      if (l) out.push(l);
    }
    return out;
  }

  /** Moves another VM's state into this one (two task groups turned out to be one VM). */
  absorb(o: VmState): void {
    for (const l of o.leaves.values()) {
      const n = this.setLeaf(l.key, l.asId, l.gfn, l.level, l.sptep, l.hi, l.lo);
      n.accessedKnown = l.accessedKnown;
    }
    for (const [k, sp] of o.shadowPages) if (!this.shadowPages.has(k)) this.shadowPages.set(k, sp);
    for (const [p, sp] of o.spOfPage) this.spOfPage.set(p, sp);
    for (const [pid, comm] of o.tasks) this.tasks.set(pid, comm);
    this.inferred.absorb(o.inferred);
  }
}
