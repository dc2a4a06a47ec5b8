// Memslots: where guest frames live in the VMM's address space. No tracepoint reports them
// (kvm-mmu-reference.md §6.3), so they come from --memslots FILE or are inferred from the trace.
import { readFileSync } from 'node:fs';

export interface Memslot {
  slot: number;
  as_id: number;
  base_gfn: number;
  npages: number;
  userspace_addr: number;
  /** Only for multi-VM traces: the VM's TGID. */
  vm?: number;
}

export const PAGE = 4096;

/** Reads the --memslots JSON array; errors name the entry and field. */
export function loadMemslotsFile(path: string): Memslot[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`--memslots ${path}: ${(e as Error).message}`);
  }
  if (!Array.isArray(data)) throw new Error(`--memslots ${path}: expected a JSON array of memslots`);
  return data.map((m: Record<string, unknown>, i) => {
    const num = (k: string, optional = false): number | undefined => {
      const v = m[k];
      if (v === undefined && optional) return undefined;
      const n = typeof v === 'string' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
        throw new Error(`--memslots ${path}: entry ${i}: '${k}' must be a non-negative integer (number or "0x.." string)`);
      }
      return n;
    };
    const slot: Memslot = {
      slot: num('slot')!, as_id: num('as_id', true) ?? 0, base_gfn: num('base_gfn')!,
      npages: num('npages')!, userspace_addr: num('userspace_addr')!,
    };
    const vm = num('vm', true);
    if (vm !== undefined) slot.vm = vm;
    return slot;
  });
}

/** One hva range's intersection with the memslots: gfn ranges per address space. */
export interface SlotHit {
  asId: number;
  gfnStart: number;
  gfnEnd: number;
}

/**
 * Memslots of one VM from --memslots: hva ranges → gfn ranges the way kvm_main.c
 * __kvm_handle_hva_range does (hva_to_gfn_memslot of the clipped range, end rounded up a page).
 */
export function hitsOf(slots: readonly Memslot[], hvaStart: number, hvaEnd: number): { hits: SlotHit[]; coveredBytes: number } {
  const hits: SlotHit[] = [];
  let coveredBytes = 0;
  for (const s of slots) {
    const sEnd = s.userspace_addr + s.npages * PAGE;
    const a = Math.max(hvaStart, s.userspace_addr);
    const e = Math.min(hvaEnd, sEnd);
    if (a >= e) continue;
    coveredBytes += e - a;
    hits.push({
      asId: s.as_id,
      gfnStart: s.base_gfn + Math.floor((a - s.userspace_addr) / PAGE),
      gfnEnd: s.base_gfn + Math.floor((e - s.userspace_addr + PAGE - 1) / PAGE),
    });
  }
  return { hits, coveredBytes };
}

/** Anchors an hva−gfn offset needs before the model uses it. */
const MIN_ANCHORS = 2;

/**
 * hva↔gfn learned from the trace: a vCPU's single-page kvm_unmap_hva_range (copy-on-write of the
 * page it is faulting in, hva_to_pfn → GUP) followed by its kvm_mmu_spte_requested for gfn g gives
 * hva = g·4096 + delta. Each gfn uses the delta of its nearest anchor (memslots are linear).
 */
export class InferredMemslots {
  /** Anchors sorted by gfn: (gfn, delta). */
  private gfns: number[] = [];
  private deltas: number[] = [];
  private readonly deltaSet = new Map<number, number>();

  get anchors(): number {
    return this.gfns.length;
  }

  /** Distinct hva−gfn·4096 offsets seen, with their anchor counts. */
  offsets(): { delta: number; anchors: number }[] {
    return [...this.deltaSet].map(([delta, anchors]) => ({ delta, anchors })).sort((a, b) => a.delta - b.delta);
  }

  /** Index of the first anchor with gfn >= the given one. */
  private lowerBound(gfn: number): number {
    let lo = 0;
    let hi = this.gfns.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.gfns[mid]! < gfn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(gfn: number, hva: number): void {
    const delta = hva - gfn * PAGE;
    const lo = this.lowerBound(gfn);
    if (this.gfns[lo] === gfn) {
      this.deltas[lo] = delta;
    } else {
      this.gfns.splice(lo, 0, gfn);
      this.deltas.splice(lo, 0, delta);
    }
    this.deltaSet.set(delta, (this.deltaSet.get(delta) ?? 0) + 1);
  }

  /** An offset seen once may be a non-COW single-page unmap: it needs a second anchor. */
  private strong(k: number): boolean {
    return (this.deltaSet.get(this.deltas[k]!) ?? 0) >= MIN_ANCHORS;
  }

  /** Delta of the strong anchor nearest to gfn, or null. */
  private deltaNear(gfn: number): number | null {
    const lo = this.lowerBound(gfn);
    let left = lo - 1;
    while (left >= 0 && !this.strong(left)) left--;
    let right = lo;
    while (right < this.gfns.length && !this.strong(right)) right++;
    if (left < 0 && right >= this.gfns.length) return null;
    if (left < 0) return this.deltas[right]!;
    if (right >= this.gfns.length) return this.deltas[left]!;
    return gfn - this.gfns[left]! <= this.gfns[right]! - gfn ? this.deltas[left]! : this.deltas[right]!;
  }

  /** gfn ranges the hva range maps to under each learned offset; filter gfns with `owns`. */
  candidateRanges(hvaStart: number, hvaEnd: number): { delta: number; gfnStart: number; gfnEnd: number }[] {
    const out: { delta: number; gfnStart: number; gfnEnd: number }[] = [];
    for (const [delta, n] of this.deltaSet) {
      if (n < MIN_ANCHORS) continue;
      const a = hvaStart - delta;
      const e = hvaEnd - delta;
      if (e <= 0) continue;
      out.push({ delta, gfnStart: Math.max(0, Math.floor(a / PAGE)), gfnEnd: Math.floor((e + PAGE - 1) / PAGE) });
    }
    return out;
  }

  /** Takes over another VM's anchors (two task groups turned out to be one VM). */
  absorb(o: InferredMemslots): void {
    for (let i = 0; i < o.gfns.length; i++) this.add(o.gfns[i]!, o.gfns[i]! * PAGE + o.deltas[i]!);
  }

  /** Whether gfn maps through this offset (its nearest anchor has it). */
  owns(gfn: number, delta: number): boolean {
    return this.gfns.length > 0 && this.deltaNear(gfn) === delta;
  }
}
