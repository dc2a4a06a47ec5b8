// MMIO SPTEs (reference §3; mmu.c mark_mmio_spte, handle_mmio_page_fault, check_mmio_spte).
import type { ModelContext, TaskState } from '../context.js';
import { Ev } from '../event-view.js';
import type { MmioEvent } from '../facts.js';
import type { EventFamily } from './family.js';

export class MmioFamily implements EventFamily {
  constructor(private readonly ctx: ModelContext) {}

  /**
   * mark_mmio_spte under mmu_lock ends a fault on a gfn without memslot; handle_mmio_page_fault
   * (lockless) emulates an access from a cached MMIO SPTE; check_mmio_spte with valid 0 found an
   * obsolete generation (a memslot update), so the fault path re-creates it.
   */
  handleEvent(t: TaskState, i: number, ev: Ev): void {
    const { view: v, ids, ops } = this.ctx;
    if (ev === Ev.CheckMmio && v.valid(i)) return;
    const kind: MmioEvent['kind'] = ev === Ev.MarkMmio ? 'mark' : ev === Ev.HandleMmio ? 'fault' : 'stale';
    const vm = kind === 'mark' ? ids.lockWork(t) : ids.ownVm(t);
    if (kind === 'mark' && t.op?.kind === 'fault') ops.close(t);
    const fact: MmioEvent = { vm: vm.id, task: t.task, line: v.lineNo(i), gfn: kind === 'stale' ? -1 : v.gfn(i), kind };
    for (const l of this.ctx.on.all) l.onMmio?.(fact);
  }
}
