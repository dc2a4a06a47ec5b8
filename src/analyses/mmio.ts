// MMIO SPTEs (kvm-mmu-reference.md §3): the faults on gfns without a memslot that KVM caches as MMIO
// SPTEs, the accesses emulated from them, and the ones a memslot update made obsolete (generation).
import type { FactListener, MmioEvent } from '../model/facts.js';

export interface MmioData {
  /** mark_mmio_spte: MMIO SPTEs written (a first fault, or a re-creation after a generation change). */
  marked: number;
  /** handle_mmio_page_fault: accesses emulated straight from a cached MMIO SPTE. */
  emulated: number;
  /** check_mmio_spte valid 0: MMIO SPTEs found with an obsolete generation. */
  staleGeneration: number;
  /** Distinct gfns marked. */
  gfns: number;
}

export class MmioHandler implements FactListener {
  private readonly out: MmioData = { marked: 0, emulated: 0, staleGeneration: 0, gfns: 0 };
  private readonly gfns = new Set<string>();

  onMmio(m: MmioEvent): void {
    if (m.kind === 'mark') {
      this.out.marked++;
      this.gfns.add(`${m.vm}|${m.gfn}`);
    } else if (m.kind === 'fault') this.out.emulated++;
    else this.out.staleGeneration++;
  }

  data(): MmioData {
    return { ...this.out, gfns: this.gfns.size };
  }
}
