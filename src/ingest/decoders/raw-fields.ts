// `name=value` payloads: what perf script and trace-cmd print when libtraceevent cannot parse an
// event's print fmt (`[FAILED TO PARSE] mmu_valid_gen=0 gfn=262144 role=6018 ...`: unsigned as
// decimal, long/pointer as 0x%llx), trace-cmd report -R, and the ftrace `fields` option
// (`gfn=0x40000 (262144)`, 1-byte `unsync=(0)`) (kvm-mmu-reference.md §7.1, §7.4).
import { C } from '../schema.js';
import { writeRole } from '../role.js';
import type { Cursor } from '../cursor.js';
import type { RowWriter } from '../row.js';
import type { DecodeContext } from '../context.js';

type FieldKind = 'u64' | 'int' | 'bool' | 'role' | 'skip';

export interface FieldTarget {
  readonly col: number;
  readonly kind: FieldKind;
}

const t = (col: number, kind: FieldKind): FieldTarget => ({ col, kind });
const SKIP = t(-1, 'skip');

/** Raw field name (as in the tracepoint's format file) → column, for every event. */
const FIELDS: Readonly<Record<string, FieldTarget>> = {
  gfn: t(C.gfn, 'u64'), spte: t(C.spte, 'u64'), sptep: t(C.sptep, 'u64'), level: t(C.level, 'int'),
  old_spte: t(C.old_spte, 'u64'), new_spte: t(C.new_spte, 'u64'), pfn: t(C.pfn, 'u64'), as_id: t(C.as_id, 'int'),
  role: t(C.role, 'role'), root_count: t(C.root_count, 'int'), unsync: t(C.unsync, 'bool'),
  created: t(C.created, 'bool'), addr: t(C.addr, 'u64'), gpa: t(C.addr, 'u64'), pte: t(C.gpte, 'u64'),
  pferr: t(C.error_code, 'u64'), vcpu_id: t(C.vcpu, 'int'), cr2_or_gpa: t(C.addr, 'u64'),
  error_code: t(C.error_code, 'u64'), start: t(C.hva_start, 'u64'), end: t(C.hva_end, 'u64'),
  hva: t(C.hva_start, 'u64'), kvm_gen: t(C.kvm_gen, 'int'), spte_gen: t(C.mmio_gen, 'int'),
  gen: t(C.mmio_gen, 'int'), access: t(C.access_bits, 'int'), errno: t(C.errno, 'int'),
  mmu_used_pages: t(C.used_pages, 'int'), guest_rip: t(C.rip, 'u64'), rip: t(C.rip, 'u64'),
  fault_address: t(C.addr, 'u64'), info1: t(C.info1, 'u64'), info2: t(C.info2, 'u64'),
  intr_info: t(C.intr_info, 'int'), requests: t(C.requests, 'u64'), pages: t(C.pages, 'int'),
  target_cpu: t(C.target_cpu, 'int'), referenced: t(C.young, 'bool'), prev_pid: t(C.prev_pid, 'int'),
  prev_prio: t(C.prev_prio, 'int'), next_pid: t(C.next_pid, 'int'), next_prio: t(C.next_prio, 'int'),
  // derivable from other fields (kvm_mmu_set_spte r/x/u from the SPTE; fast_page_fault ret → spurious/fixed)
  r: SKIP, x: SKIP, u: SKIP, ret: SKIP, isa: SKIP, immediate_exit: SKIP,
};

/** The column a raw field goes to (some fields' meaning depends on the event); undefined if none. */
export function rawFieldTarget(event: string, field: string): FieldTarget | undefined {
  if (field === 'mmu_valid_gen') return event === 'kvm_mmu_zap_all_fast' ? t(C.valid_gen, 'int') : t(C.sp_gen, 'int');
  if (field === 'reason' || field === 'exit_reason') return t(C.reason_code, 'int');
  if (field === 'pid' && event === 'sched_wakeup') return t(C.next_pid, 'int');
  if (field === 'prio' && event === 'sched_wakeup') return t(C.next_prio, 'int');
  return FIELDS[field];
}

export const FAILED_TO_PARSE = '[FAILED TO PARSE] ';

/**
 * Events whose print fmt libtraceevent cannot parse (a statement expression decodes the role), so
 * trace-cmd report -R prints their fields in decimal, as `[FAILED TO PARSE]` does; it prints the
 * 64-bit fields of the others as their print fmt does (`%llx`: bare hex). Checked against the
 * records of fixtures/binary/ (a prepare_zap_page `gfn=320` is gfn 320).
 */
const RAW_DECIMAL_EVENTS: ReadonlySet<string> = new Set(['kvm_mmu_get_page', 'kvm_mmu_prepare_zap_page', 'kvm_mmu_sync_page', 'kvm_mmu_unsync_page']);

/** Whether trace-cmd report -R prints this event's 64-bit fields as bare hex. */
export function rawU64Hex(event: string): boolean {
  return !RAW_DECIMAL_EVENTS.has(event);
}

/** True if the payload looks like `name=value ...` (or starts with `[FAILED TO PARSE]`). */
export function looksLikeRawFields(s: string, i: number, end: number): boolean {
  if (s.startsWith(FAILED_TO_PARSE, i)) return true;
  let j = i;
  while (j < end) {
    const ch = s.charCodeAt(j);
    if (ch === 61) return j > i;
    if (!((ch >= 97 && ch <= 122) || (ch >= 48 && ch <= 57) || ch === 95)) return false;
    j++;
  }
  return false;
}

/**
 * One value: `0xHEX[ (DEC)]`, `(DEC)`, `'c'(DEC)` or `[-]DEC` — or bare hex where `bareHex`
 * (64-bit fields in trace-cmd report -R); leaves the number in c.last.
 */
function readValue(c: Cursor, bareHex: boolean): boolean {
  if (bareHex) return c.hexValue();
  if (c.s.startsWith('0x', c.i)) {
    if (!c.hexValue()) return false;
    if (c.s.startsWith(' (', c.i)) {
      const close = c.find(')');
      if (close < 0) return false;
      c.i = close + 1;
    }
    return true;
  }
  if (c.lit("'")) {
    const q = c.find("'");
    if (q < 0) return false;
    c.i = q + 1;
  }
  const paren = c.lit('(');
  if (c.lit('-')) {
    // a negative signed value: keep its 64-bit two's complement
    const v = c.decInt();
    if (Number.isNaN(v) || v > 0xffffffff) return false;
    c.last.hi = v === 0 ? 0 : 0xffffffff;
    c.last.lo = -v >>> 0;
  } else if (!c.decValue()) return false;
  return !paren || c.lit(')');
}

/**
 * Decodes `name=value` fields into their columns. `u64Hex`: 64-bit fields print as bare hex (trace-cmd
 * report -R, e.g. `kvm_mmu_set_spte: gfn=80 spte=14e3a2a25`), not as decimal (`[FAILED TO PARSE]`).
 */
export function decodeRawFields(event: string, c: Cursor, w: RowWriter, ctx: DecodeContext, u64Hex = false): boolean {
  const start = c.i;
  if (c.lit(FAILED_TO_PARSE)) u64Hex = false;
  let unmapped = false;
  while (!c.done) {
    const eq = c.find('=');
    if (eq < 0) return false;
    const field = c.take(eq);
    c.i++;
    const tg = rawFieldTarget(event, field);
    if (!readValue(c, u64Hex && tg?.kind === 'u64' && !c.s.startsWith('0x', c.i))) return false;
    if (tg === undefined) unmapped = true;
    else if (tg.kind === 'u64') w.u64(tg.col, c.last.hi, c.last.lo);
    else if (tg.kind === 'int') w.int(tg.col, c.last.lo | 0);
    else if (tg.kind === 'bool') w.bool(tg.col, c.last.lo !== 0);
    else if (tg.kind === 'role') writeRole(w, c.last.lo, 0xffffffff, ctx.layout);
    if (!c.done && !c.lit(' ')) return false;
  }
  // keep the text of fields that have no column, so nothing is lost
  if (unmapped) w.str(C.payload, c.s.slice(start, c.end));
  return true;
}
