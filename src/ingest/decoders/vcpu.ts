// x86 kvm-group vCPU events (arch/x86/kvm/trace.h; kvm-mmu-reference.md §1.3).
import { C } from '../schema.js';
import type { Cursor } from '../cursor.js';
import type { RowWriter } from '../row.js';
import type { DecodeContext } from '../context.js';

/**
 * kvm_exit: "[vcpu %u ]reason %s%s%s rip 0x%lx info1 0x%016llx info2 0x%016llx intr_info 0x%08x
 * error_code 0x%08x[ requests 0x%016llx]"; the trace-cmd kvm plugin and old kernels print
 * "reason %s rip 0x%lx info %llx %llx".
 */
export function decodeKvmExit(c: Cursor, w: RowWriter, ctx: DecodeContext): boolean {
  if (c.lit('vcpu ') && !(c.decTo(w, C.vcpu) && c.lit(' '))) return false;
  if (!c.lit('reason ')) return false;
  const rip = c.find(' rip ');
  if (rip < 0) return false;
  c.strTo(w, C.exit_reason, rip);
  if (!c.lit(' rip ') || !c.hex64(w, C.rip)) return false;
  if (c.lit(' info ')) return c.hex64(w, C.info1) && c.lit(' ') && c.hex64(w, C.info2) && c.done;
  if (!c.lit(' info1 ') || !c.hex64(w, C.info1) || !c.lit(' info2 ') || !c.hex64(w, C.info2)) return false;
  if (!c.lit(' intr_info ') || !c.hexTo(w, C.intr_info) || !c.lit(' error_code ') || !c.hex64(w, C.error_code)) return false;
  if (c.lit(' requests ')) {
    ctx.hint('kvm_exit.requests', 'kvm_exit prints vcpu->requests');
    if (!c.hex64(w, C.requests)) return false;
  }
  return c.done;
}

/**
 * kvm_entry: "vcpu %u[, rip 0x%lx[ intr_info 0x%08x error_code 0x%08x][immediate exit]]" (6.1 prints
 * "[immediate exit]" right after rip; later kernels after error_code)
 */
export function decodeKvmEntry(c: Cursor, w: RowWriter): boolean {
  if (!c.lit('vcpu ') || !c.decTo(w, C.vcpu)) return false;
  if (c.done) return true;
  if (!c.lit(', rip ') || !c.hex64(w, C.rip)) return false;
  if (c.lit('[immediate exit]')) return c.done;
  if (c.done) return true;
  if (!c.lit(' intr_info ') || !c.hexTo(w, C.intr_info) || !c.lit(' error_code ') || !c.hex64(w, C.error_code)) return false;
  c.lit('[immediate exit]');
  return c.done;
}

/** kvm_page_fault: "vcpu %u rip 0x%lx address 0x%016llx error_code 0x%llx" (6.x); "address %lx error_code %x" (≤5.x) */
export function decodeKvmPageFault(c: Cursor, w: RowWriter): boolean {
  if (c.lit('vcpu ')) {
    if (!c.decTo(w, C.vcpu) || !c.lit(' rip ') || !c.hex64(w, C.rip) || !c.lit(' ')) return false;
  }
  return c.lit('address ') && c.hex64(w, C.addr) && c.lit(' error_code ') && c.hex64(w, C.error_code) && c.done;
}

/** kvm_userspace_exit: "reason %s (%d)" */
export function decodeUserspaceExit(c: Cursor, w: RowWriter): boolean {
  if (!c.lit('reason ')) return false;
  const open = c.s.lastIndexOf(' (', c.end);
  if (open < c.i) return false;
  c.strTo(w, C.exit_reason, open);
  return c.lit(' (') && c.decTo(w, C.reason_code) && c.lit(')') && c.done;
}
