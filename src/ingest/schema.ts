// The `events` table: one row per trace event, typed columns, nullable where an event lacks a
// field (design.md §3). Every column is declared here once; builders, the store, the model's
// EventView and the event statistics read this list, and name columns by `ColumnName` only.
import type { RecordBatch, Vector } from 'apache-arrow';

export type ColumnKind = 'u64' | 'u32' | 'i32' | 'u8' | 'bool' | 'dict' | 'utf8';

export interface ColumnSpec {
  readonly name: string;
  readonly kind: ColumnKind;
  /** What the column holds, for README/--help and SQL users. */
  readonly doc: string;
}

function col<N extends string>(name: N, kind: ColumnKind, doc: string): ColumnSpec & { readonly name: N } {
  return { name, kind, doc };
}

export const EVENT_COLUMNS = [
  // common header
  col('line', 'u64', 'source line number (1-based, in the decompressed text); for trace.dat and perf.data the record ordinal'),
  col('ts_ns', 'u64', 'timestamp in ns, exact (raw counter value for counter clocks, see input.clock)'),
  col('cpu', 'u32', 'CPU the event was recorded on'),
  col('pid', 'i32', 'task id (ftrace TASK-PID, perf tid)'),
  col('tgid', 'i32', 'thread-group id when the trace has it (ftrace record-tgid, perf pid/tid)'),
  col('comm', 'dict', 'task name'),
  col('flags', 'dict', 'ftrace irq-info flags (e.g. ...1.), null when the trace has none'),
  col('grp', 'dict', 'event group (kvmmmu, kvm, sched, ...), from the text or the known catalog'),
  col('event', 'dict', 'event name without group'),
  // shadow pages (kvm_mmu_get_page / prepare_zap_page / sync_page / unsync_page)
  col('sp_gen', 'u32', 'sp->mmu_valid_gen'),
  col('gfn', 'u64', 'guest frame number'),
  col('role', 'u32', 'kvm_mmu_page_role word, where the trace prints it (perf raw fields, trace-cmd plugin)'),
  col('role_mask', 'u32', 'bits of `role` the trace actually shows (0xffffffff raw; 0xffff trace-cmd kvm plugin)'),
  col('level', 'u8', 'page-table level (1 = 4K)'),
  col('gpte_bytes', 'u8', 'guest PTE size of a shadow page: 4 or 8'),
  col('quadrant', 'u8', 'role.quadrant'),
  col('direct', 'bool', 'role.direct'),
  col('access', 'dict', "role.access as the kernel prints it ('wux', 'rwux', ...)"),
  col('invalid', 'bool', 'role.invalid'),
  col('nxe', 'bool', 'role.efer_nx'),
  col('ad', 'bool', 'A/D bits enabled for the page (role.ad_disabled = 0)'),
  col('cr0_wp', 'bool', 'role.cr0_wp (only where the trace shows it)'),
  col('as_id', 'u8', 'address space id (role.smm; TDP "as id")'),
  col('root_count', 'u32', 'sp->root_count'),
  col('unsync', 'bool', 'sp->unsync'),
  col('created', 'bool', 'kvm_mmu_get_page: page newly created'),
  // SPTEs
  col('spte', 'u64', 'SPTE value (kvm_mmu_set_spte, split_huge_page, check_mmio_spte)'),
  col('old_spte', 'u64', 'previous SPTE value (kvm_tdp_mmu_spte_changed, fast_page_fault)'),
  col('new_spte', 'u64', 'new SPTE value (kvm_tdp_mmu_spte_changed, fast_page_fault)'),
  col('sptep', 'u64', 'SPTE address: physical for kvm_mmu_set_spte "at"; hashed %p for fast_page_fault / mark_mmio_spte'),
  col('pfn', 'u64', 'host page frame number (kvm_mmu_spte_requested)'),
  col('gpte', 'u64', 'guest PTE (kvm_mmu_paging_element)'),
  col('perm', 'dict', 'kvm_mmu_set_spte permission letters as printed (rwxu)'),
  col('access_bits', 'u32', 'numeric access (mark_mmio_spte, handle_mmio_page_fault, spte_requested v7.2+)'),
  col('mmio_gen', 'u32', 'MMIO generation (mark_mmio_spte gen, check_mmio_spte spte-gen)'),
  col('kvm_gen', 'u32', 'check_mmio_spte kvm_gen'),
  col('valid', 'bool', 'check_mmio_spte valid'),
  col('spurious', 'bool', 'fast_page_fault spurious'),
  col('fixed', 'bool', 'fast_page_fault fixed'),
  col('errno', 'i32', 'kvm_mmu_split_huge_page errno'),
  col('young', 'bool', 'kvm_age_page: referenced (YOUNG)'),
  // zap-all / generations
  col('valid_gen', 'u32', 'kvm_mmu_zap_all_fast kvm-mmu-valid-gen (the generation made obsolete)'),
  col('used_pages', 'u32', 'kvm_mmu_zap_all_fast used_pages (printed in hex)'),
  // notifiers
  col('hva_start', 'u64', 'host virtual address (range start, or the single hva)'),
  col('hva_end', 'u64', 'host virtual address range end (exclusive)'),
  // faults, walks, exits
  col('vcpu', 'i32', 'vCPU id'),
  col('addr', 'u64', 'guest address: walk addr, fault gva/gpa, accessed/dirty-bit gpa, mmio addr'),
  col('error_code', 'u64', 'page-fault error code / pferr'),
  col('rip', 'u64', 'guest rip (kvm_exit, kvm_entry, kvm_page_fault)'),
  col('exit_reason', 'dict', 'kvm_exit / kvm_userspace_exit reason'),
  col('reason_code', 'i32', 'numeric reason (kvm_userspace_exit, tlb_flush)'),
  col('info1', 'u64', 'kvm_exit info1'),
  col('info2', 'u64', 'kvm_exit info2'),
  col('intr_info', 'u32', 'kvm_exit intr_info'),
  col('requests', 'u64', 'kvm_exit vcpu->requests (v7.2+)'),
  col('pages', 'i32', 'tlb_flush pages (-1 = all)'),
  col('flush_reason', 'dict', 'tlb_flush reason text'),
  // scheduler
  col('prev_comm', 'dict', 'sched_switch prev_comm'),
  col('prev_pid', 'i32', 'sched_switch prev_pid'),
  col('prev_prio', 'i32', 'sched_switch prev_prio'),
  col('prev_state', 'dict', 'sched_switch prev_state'),
  col('next_comm', 'dict', 'sched_switch next_comm; sched_wakeup: the woken task'),
  col('next_pid', 'i32', 'sched_switch next_pid; sched_wakeup: the woken task'),
  col('next_prio', 'i32', 'sched_switch next_prio; sched_wakeup: the woken task'),
  col('target_cpu', 'u32', 'sched_wakeup target_cpu'),
  // the function tracer
  col('func', 'dict', 'function rows (function tracer): the traced function'),
  col('caller', 'dict', 'function rows: the function that called it (print-parent)'),
  // everything else
  col('lost', 'u64', 'lost_events rows: events the tracer reported lost at this point (null if not counted)'),
  col('payload', 'utf8', 'raw payload text of events without a decoder (or whose text no variant matched), marker text, stack frames'),
] as const satisfies readonly ColumnSpec[];

/** The name of an `events` column: renaming one in EVENT_COLUMNS breaks every use of the old name. */
export type ColumnName = (typeof EVENT_COLUMNS)[number]['name'];

/** Column index by name, built once. */
export const COLUMN_INDEX: ReadonlyMap<string, number> = new Map(EVENT_COLUMNS.map((c, i) => [c.name, i]));

function idx(name: ColumnName): number {
  const i = COLUMN_INDEX.get(name);
  if (i === undefined) throw new Error(`unknown column ${name}`);
  return i;
}

/** A column of an `events` batch, by its typed name (once per batch, never per row). */
export function eventColumn(batch: RecordBatch, name: ColumnName): Vector {
  return batch.getChild(name)!;
}

/** Column indices for the decoders' hot path. */
export const C = {
  line: idx('line'), ts_ns: idx('ts_ns'), cpu: idx('cpu'), pid: idx('pid'), tgid: idx('tgid'),
  comm: idx('comm'), flags: idx('flags'), grp: idx('grp'), event: idx('event'),
  sp_gen: idx('sp_gen'), gfn: idx('gfn'), role: idx('role'), role_mask: idx('role_mask'),
  level: idx('level'), gpte_bytes: idx('gpte_bytes'), quadrant: idx('quadrant'), direct: idx('direct'),
  access: idx('access'), invalid: idx('invalid'), nxe: idx('nxe'), ad: idx('ad'), cr0_wp: idx('cr0_wp'),
  as_id: idx('as_id'), root_count: idx('root_count'), unsync: idx('unsync'), created: idx('created'),
  spte: idx('spte'), old_spte: idx('old_spte'), new_spte: idx('new_spte'), sptep: idx('sptep'),
  pfn: idx('pfn'), gpte: idx('gpte'), perm: idx('perm'), access_bits: idx('access_bits'),
  mmio_gen: idx('mmio_gen'), kvm_gen: idx('kvm_gen'), valid: idx('valid'), spurious: idx('spurious'),
  fixed: idx('fixed'), errno: idx('errno'), young: idx('young'), valid_gen: idx('valid_gen'),
  used_pages: idx('used_pages'), hva_start: idx('hva_start'), hva_end: idx('hva_end'), vcpu: idx('vcpu'),
  addr: idx('addr'), error_code: idx('error_code'), rip: idx('rip'), exit_reason: idx('exit_reason'),
  reason_code: idx('reason_code'), info1: idx('info1'), info2: idx('info2'), intr_info: idx('intr_info'),
  requests: idx('requests'), pages: idx('pages'), flush_reason: idx('flush_reason'),
  prev_comm: idx('prev_comm'), prev_pid: idx('prev_pid'), prev_prio: idx('prev_prio'),
  prev_state: idx('prev_state'), next_comm: idx('next_comm'), next_pid: idx('next_pid'),
  next_prio: idx('next_prio'), target_cpu: idx('target_cpu'), func: idx('func'), caller: idx('caller'), lost: idx('lost'),
  payload: idx('payload'),
} as const;
