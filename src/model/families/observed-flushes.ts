// Function-tracer rows of KVM's remote-flush entry points (record --observe-flushes): the only
// flushes a trace can show on x86. Each is credited to the op its task was in, so the flush
// analysis can confirm or contradict the flushes the model infers from the kernel's rules.
import type { ModelContext } from '../context.js';
import { Ev } from '../event-view.js';
import { FLUSH_FUNCTIONS } from '../flush-rules.js';
import type { ObservedFlush } from '../facts.js';

const FLUSH_ENTRY_POINTS: ReadonlySet<string> = new Set(FLUSH_FUNCTIONS);

/** `mmu_sync_children.part.0` → `mmu_sync_children`: gcc's clones keep their origin's name first. */
function functionBase(name: string): string {
  const dot = name.indexOf('.');
  const plus = name.indexOf('+');
  const end = Math.min(dot < 0 ? name.length : dot, plus < 0 ? name.length : plus);
  return name.slice(0, end);
}

export class ObservedFlushes {
  private readonly fact: ObservedFlush = { op: null, caller: '' };

  constructor(private readonly ctx: ModelContext) {}

  /** A `function` row at `i`: one flush when it is a flush entry point called from outside them. */
  handleFunction(i: number): void {
    const v = this.ctx.view;
    if (!FLUSH_ENTRY_POINTS.has(functionBase(v.func(i)))) return;
    const caller = functionBase(v.caller(i));
    // kvm_flush_remote_tlbs <-kvm_flush_remote_tlbs_with_address: the inner call of a flush counted already
    if (FLUSH_ENTRY_POINTS.has(caller)) return;
    const t = this.ctx.tasks.get(v.pid(i));
    // the kernel flushes inside the call that changed the SPTEs: nothing else of the task comes between
    const op = t?.op && t.lastEvent !== Ev.Other ? t.op : null;
    const f = this.fact;
    f.op = op;
    f.caller = caller;
    for (const l of this.ctx.on.all) l.onObservedFlush?.(f);
  }
}
