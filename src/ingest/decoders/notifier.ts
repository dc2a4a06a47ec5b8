// mmu-notifier and aging events of the generic kvm group (include/trace/events/kvm.h;
// kvm-mmu-reference.md §1.2). hvas print as %#016lx, e.g. 0x007fdedf3ff000.
import { C } from '../schema.js';
import type { Cursor } from '../cursor.js';
import type { RowWriter } from '../row.js';
import type { DecodeContext } from '../context.js';

function hvaRange(prefix: string) {
  return (c: Cursor, w: RowWriter): boolean =>
    c.lit(prefix) && c.hex64(w, C.hva_start) && c.lit(' -- ') && c.hex64(w, C.hva_end) && c.done;
}

function singleHva(prefix: string) {
  return (c: Cursor, w: RowWriter): boolean => c.lit(prefix) && c.hex64(w, C.hva_start) && c.done;
}

const decodeSetSpteHvaText = singleHva('mmu notifier set pte hva: ');

/** "mmu notifier set pte hva: %#016lx" (.change_pte, ≤6.9; always a no-op for KVM since 2012) */
export function decodeSetSpteHva(c: Cursor, w: RowWriter, ctx: DecodeContext): boolean {
  ctx.hint('kvm_set_spte_hva', 'kvm_set_spte_hva present (.change_pte notifier, removed in 6.10)');
  return decodeSetSpteHvaText(c, w);
}

/** "mmu notifier unmap range: %#016lx -- %#016lx" */
export const decodeUnmapHvaRange = hvaRange('mmu notifier unmap range: ');
/** "mmu notifier age hva: %#016lx -- %#016lx" */
export const decodeAgeHva = hvaRange('mmu notifier age hva: ');
/** "mmu notifier test age hva: %#016lx" */
export const decodeTestAgeHva = singleHva('mmu notifier test age hva: ');

/** kvm_age_page (≤5.12): "hva %llx gfn %llx level %u %s" with YOUNG/OLD */
export function decodeAgePage(c: Cursor, w: RowWriter, ctx: DecodeContext): boolean {
  ctx.hint('kvm_age_page', 'per-gfn kvm_age_page events (<=5.12: x86 rmap aging, before generic notifier tracepoints)');
  if (!c.lit('hva ') || !c.hex64(w, C.hva_start) || !c.lit(' gfn ') || !c.hex64(w, C.gfn)) return false;
  if (!c.lit(' level ') || !c.decTo(w, C.level) || !c.lit(' ')) return false;
  if (c.lit('YOUNG')) w.bool(C.young, true);
  else if (c.lit('OLD')) w.bool(C.young, false);
  else return false;
  return c.done;
}
