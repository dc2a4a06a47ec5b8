// Typed, allocation-free access to one `events` record batch for the replay: the raw typed arrays
// behind each column the model reads, u64 columns as (hi, lo) u32 halves, dictionaries as strings.
// Columns are named by ingest/schema.ts's ColumnName, once per batch (load), never per row.
import type { Data, RecordBatch, Vector } from 'apache-arrow';
import { eventColumn, type ColumnName } from '../ingest/schema.js';

/** Event families the model handles; everything else is `Other`. */
export const enum Ev {
  Other, SetSpte, SpteRequested, GetPage, PrepareZap, SyncPage, UnsyncPage, ZapAllFast, TdpChanged,
  UnmapHva, AgeHva, TestAgeHva, SetSpteHva, SchedSwitch, FastPageFault, SplitHugePage, MarkMmio, HandleMmio, CheckMmio,
  PagetableWalk, PageFault, Marker, Function, KvmExit,
  /** kvm_age_page (<=5.12) and kvm_mmu_invalidate_zap_all_pages (<=5.0): events only old kernels have. */
  OldKernelAge, OldKernelZapAll,
  /** A step of a guest page-table walk: part of the op in progress, owned by no family. */
  WalkStep,
}

const EVENT_KIND: Readonly<Record<string, Ev>> = {
  kvm_mmu_set_spte: Ev.SetSpte,
  kvm_mmu_spte_requested: Ev.SpteRequested,
  kvm_mmu_get_page: Ev.GetPage,
  kvm_mmu_prepare_zap_page: Ev.PrepareZap,
  kvm_mmu_sync_page: Ev.SyncPage,
  kvm_mmu_unsync_page: Ev.UnsyncPage,
  kvm_mmu_zap_all_fast: Ev.ZapAllFast,
  kvm_mmu_invalidate_zap_all_pages: Ev.OldKernelZapAll,
  kvm_tdp_mmu_spte_changed: Ev.TdpChanged,
  kvm_unmap_hva_range: Ev.UnmapHva,
  kvm_age_hva: Ev.AgeHva,
  kvm_age_page: Ev.OldKernelAge,
  kvm_test_age_hva: Ev.TestAgeHva,
  kvm_set_spte_hva: Ev.SetSpteHva,
  sched_switch: Ev.SchedSwitch,
  fast_page_fault: Ev.FastPageFault,
  kvm_mmu_split_huge_page: Ev.SplitHugePage,
  mark_mmio_spte: Ev.MarkMmio,
  handle_mmio_page_fault: Ev.HandleMmio,
  check_mmio_spte: Ev.CheckMmio,
  kvm_mmu_pagetable_walk: Ev.PagetableWalk,
  kvm_page_fault: Ev.PageFault,
  tracing_mark_write: Ev.Marker,
  function: Ev.Function,
  kvm_exit: Ev.KvmExit,
  kvm_mmu_paging_element: Ev.WalkStep,
  kvm_mmu_set_accessed_bit: Ev.WalkStep,
  kvm_mmu_set_dirty_bit: Ev.WalkStep,
  kvm_mmu_walker_error: Ev.WalkStep,
};

type U32Col = { v: Uint32Array; valid: Uint8Array | null };
/** The boolean columns the model reads, as bitmaps. */
type BitColumn = Extract<ColumnName, 'invalid' | 'direct' | 'nxe' | 'ad' | 'created' | 'unsync' | 'spurious' | 'fixed' | 'valid'>;

function validity(d: Data): Uint8Array | null {
  return d.nullCount > 0 ? (d.nullBitmap as Uint8Array) : null;
}

/** The one Data of a column of a batch (the ingest builds each column of a batch as one chunk). */
function data(batch: RecordBatch, name: ColumnName): Data {
  return eventColumn(batch, name).data[0]!;
}

function u64(batch: RecordBatch, name: ColumnName): U32Col {
  const d = data(batch, name);
  const big = d.values as BigUint64Array;
  return { v: new Uint32Array(big.buffer, big.byteOffset, d.length * 2), valid: validity(d) };
}

function raw<T>(batch: RecordBatch, name: ColumnName): { v: T; valid: Uint8Array | null } {
  const d = data(batch, name);
  return { v: d.values as T, valid: validity(d) };
}

function bit(bits: Uint8Array, i: number): boolean {
  return (bits[i >> 3]! & (1 << (i & 7))) !== 0;
}

/** Strings of a dictionary column, shared by all batches of one ingest (the dictionary only grows). */
class DictionaryStrings {
  private values: string[] = [];
  /** Syncs with the batch's column `name` and returns its dictionary indices. */
  load(batch: RecordBatch, name: ColumnName): Int32Array {
    const d = data(batch, name);
    this.sync(d);
    return d.values as Int32Array;
  }
  sync(d: Data): void {
    const dict = d.dictionary!;
    for (let i = this.values.length; i < dict.length; i++) this.values.push((dict.get(i) as string | null) ?? '');
  }
  get(i: number): string {
    return this.values[i]!;
  }
  get size(): number {
    return this.values.length;
  }
}

/** One batch at a time; `i` is the row. Create once per ingest and `load()` each batch. */
export class EventView {
  length = 0;
  private readonly comms = new DictionaryStrings();
  private readonly names = new DictionaryStrings();
  private readonly accessStrings = new DictionaryStrings();
  private readonly groups = new DictionaryStrings();
  private readonly funcs = new DictionaryStrings();
  private readonly callers = new DictionaryStrings();
  private readonly exitReasons = new DictionaryStrings();
  private readonly prevStates = new DictionaryStrings();
  private exitReasonIdx!: Int32Array;
  private prevStateIdx!: Int32Array;
  private funcIdx!: Int32Array;
  private callerIdx!: Int32Array;
  private kindOfName: Ev[] = [];
  private kvmGroup: boolean[] = [];
  private grpIdx!: Int32Array;
  private grpValid!: Uint8Array | null;
  private event!: Int32Array;
  private commIdx!: Int32Array;
  private accessIdx!: Int32Array;
  private line!: U32Col;
  private ts!: U32Col;
  private pidC!: { v: Int32Array; valid: Uint8Array | null };
  private tgidC!: { v: Int32Array; valid: Uint8Array | null };
  private gfnC!: U32Col;
  private spteC!: U32Col;
  private oldC!: U32Col;
  private newC!: U32Col;
  private sptepC!: U32Col;
  private pfnC!: U32Col;
  private hvaS!: U32Col;
  private hvaE!: U32Col;
  private addrC!: U32Col;
  private errorCodeC!: U32Col;
  private payloadC!: Vector;
  private errnoC!: Int32Array;
  private mmioGenC!: Uint32Array;
  private kvmGenC!: Uint32Array;
  private levelC!: Uint8Array;
  private asIdC!: { v: Uint8Array; valid: Uint8Array | null };
  private genC!: Uint32Array;
  private rootC!: Uint32Array;
  private validGenC!: Uint32Array;
  private usedC!: Uint32Array;
  private prevPidC!: Int32Array;
  private quadC!: Uint8Array;
  private gpteBytesC!: Uint8Array;
  private bits!: Record<BitColumn, Uint8Array>;

  load(batch: RecordBatch): void {
    this.length = batch.numRows;
    const ev = data(batch, 'event');
    this.names.sync(ev);
    for (let i = this.kindOfName.length; i < this.names.size; i++) this.kindOfName.push(EVENT_KIND[this.names.get(i)] ?? Ev.Other);
    this.event = ev.values as Int32Array;
    const grp = data(batch, 'grp');
    this.groups.sync(grp);
    for (let i = this.kvmGroup.length; i < this.groups.size; i++) this.kvmGroup.push(this.groups.get(i) === 'kvm' || this.groups.get(i) === 'kvmmmu');
    this.grpIdx = grp.values as Int32Array;
    this.grpValid = validity(grp);
    this.commIdx = this.comms.load(batch, 'comm');
    this.funcIdx = this.funcs.load(batch, 'func');
    this.callerIdx = this.callers.load(batch, 'caller');
    this.exitReasonIdx = this.exitReasons.load(batch, 'exit_reason');
    this.prevStateIdx = this.prevStates.load(batch, 'prev_state');
    this.accessIdx = this.accessStrings.load(batch, 'access');
    this.line = u64(batch, 'line');
    this.ts = u64(batch, 'ts_ns');
    this.pidC = raw<Int32Array>(batch, 'pid');
    this.tgidC = raw<Int32Array>(batch, 'tgid');
    this.gfnC = u64(batch, 'gfn');
    this.spteC = u64(batch, 'spte');
    this.oldC = u64(batch, 'old_spte');
    this.newC = u64(batch, 'new_spte');
    this.sptepC = u64(batch, 'sptep');
    this.pfnC = u64(batch, 'pfn');
    this.hvaS = u64(batch, 'hva_start');
    this.hvaE = u64(batch, 'hva_end');
    this.addrC = u64(batch, 'addr');
    this.errorCodeC = u64(batch, 'error_code');
    this.payloadC = eventColumn(batch, 'payload');
    this.errnoC = raw<Int32Array>(batch, 'errno').v;
    this.mmioGenC = raw<Uint32Array>(batch, 'mmio_gen').v;
    this.kvmGenC = raw<Uint32Array>(batch, 'kvm_gen').v;
    this.levelC = raw<Uint8Array>(batch, 'level').v;
    this.asIdC = raw<Uint8Array>(batch, 'as_id');
    this.genC = raw<Uint32Array>(batch, 'sp_gen').v;
    this.rootC = raw<Uint32Array>(batch, 'root_count').v;
    this.validGenC = raw<Uint32Array>(batch, 'valid_gen').v;
    this.usedC = raw<Uint32Array>(batch, 'used_pages').v;
    this.prevPidC = raw<Int32Array>(batch, 'prev_pid').v;
    this.quadC = raw<Uint8Array>(batch, 'quadrant').v;
    this.gpteBytesC = raw<Uint8Array>(batch, 'gpte_bytes').v;
    const b = (n: BitColumn): Uint8Array => raw<Uint8Array>(batch, n).v;
    this.bits = { invalid: b('invalid'), direct: b('direct'), nxe: b('nxe'), ad: b('ad'), created: b('created'), unsync: b('unsync'),
      spurious: b('spurious'), fixed: b('fixed'), valid: b('valid'),
    };
  }

  kind(i: number): Ev {
    return this.kindOfName[this.event[i]!]!;
  }
  /** Event of the kvm or kvmmmu group. */
  isKvm(i: number): boolean {
    return (this.grpValid === null || bit(this.grpValid, i)) && this.kvmGroup[this.grpIdx[i]!]!;
  }
  /** u64 column value as a number (exact below 2^53: lines, ns, gfns, hvas, physical addresses). */
  private num(c: U32Col, i: number): number {
    return c.v[2 * i + 1]! * 0x100000000 + c.v[2 * i]!;
  }
  lineNo(i: number): number { return this.num(this.line, i); }
  tsNs(i: number): number { return this.num(this.ts, i); }
  pid(i: number): number {
    return this.pidC.valid && !bit(this.pidC.valid, i) ? -1 : this.pidC.v[i]!;
  }
  /** -1 when the trace has no TGID for the row. */
  tgid(i: number): number {
    return this.tgidC.valid && !bit(this.tgidC.valid, i) ? -1 : this.tgidC.v[i]!;
  }
  comm(i: number): string { return this.comms.get(this.commIdx[i]!); }
  gfn(i: number): number { return this.num(this.gfnC, i); }
  /** False where the text lacks the gfn (trace-cmd's kvm plugin prints the shadow-page events without it). */
  hasGfn(i: number): boolean { return this.gfnC.valid === null || bit(this.gfnC.valid, i); }
  sptep(i: number): number { return this.num(this.sptepC, i); }
  pfn(i: number): number { return this.num(this.pfnC, i); }
  hvaStart(i: number): number { return this.num(this.hvaS, i); }
  /** Range end; single-address events (test_age) get start + 1 page. */
  hvaEnd(i: number): number {
    return this.hvaE.valid && !bit(this.hvaE.valid, i) ? this.hvaStart(i) + 4096 : this.num(this.hvaE, i);
  }
  spteHi(i: number): number { return this.spteC.v[2 * i + 1]!; }
  spteLo(i: number): number { return this.spteC.v[2 * i]!; }
  oldHi(i: number): number { return this.oldC.v[2 * i + 1]!; }
  oldLo(i: number): number { return this.oldC.v[2 * i]!; }
  newHi(i: number): number { return this.newC.v[2 * i + 1]!; }
  newLo(i: number): number { return this.newC.v[2 * i]!; }
  level(i: number): number { return this.levelC[i]!; }
  asId(i: number): number {
    return this.asIdC.valid && !bit(this.asIdC.valid, i) ? 0 : this.asIdC.v[i]!;
  }
  spGen(i: number): number { return this.genC[i]!; }
  rootCount(i: number): number { return this.rootC[i]!; }
  validGen(i: number): number { return this.validGenC[i]!; }
  usedPages(i: number): number { return this.usedC[i]!; }
  prevPid(i: number): number { return this.prevPidC[i]!; }
  invalid(i: number): boolean { return bit(this.bits.invalid, i); }
  created(i: number): boolean { return bit(this.bits.created, i); }
  unsync(i: number): boolean { return bit(this.bits.unsync, i); }
  direct(i: number): boolean { return bit(this.bits.direct, i); }
  /** fast_page_fault: gva/gpa (cr2_or_gpa); handle_mmio_page_fault: addr (0 on direct MMUs). */
  addr(i: number): number { return this.num(this.addrC, i); }
  /** Low 32 bits of the page-fault error code (the PFERR_* bits). */
  errorCodeLo(i: number): number { return this.errorCodeC.v[2 * i]!; }
  /** kvm_exit rows: the exit reason as printed (SVM 'invlpg', VMX 'INVLPG', ...). */
  exitReason(i: number): string { return this.exitReasons.get(this.exitReasonIdx[i]!); }
  /** sched_switch rows: the state the previous task left in ('R', 'R+', 'S', 'D', ...). */
  prevState(i: number): string { return this.prevStates.get(this.prevStateIdx[i]!); }
  /** function rows: the traced function and its caller. */
  func(i: number): string { return this.funcs.get(this.funcIdx[i]!); }
  caller(i: number): string { return this.callers.get(this.callerIdx[i]!); }
  /** Marker text (tracing_mark_write): rare, read as a string. */
  payload(i: number): string { return (this.payloadC.get(i) as string | null) ?? ''; }
  spurious(i: number): boolean { return bit(this.bits.spurious, i); }
  fixed(i: number): boolean { return bit(this.bits.fixed, i); }
  errno(i: number): number { return this.errnoC[i]!; }
  mmioGen(i: number): number { return this.mmioGenC[i]!; }
  kvmGen(i: number): number { return this.kvmGenC[i]!; }
  /** check_mmio_spte: the SPTE's generation matches the VM's. */
  valid(i: number): boolean { return bit(this.bits.valid, i); }
  /**
   * The shadow page's identity besides gen and gfn: every decoded role field except `invalid`
   * (which flips when the page is zapped) and root_count/unsync (state, not role).
   */
  roleKey(i: number): string {
    return `${this.levelC[i]}/${this.gpteBytesC[i]}/${this.quadC[i]}/${bit(this.bits.direct, i) ? 'd' : ''}/` +
      `${this.accessStrings.get(this.accessIdx[i]!)}/${bit(this.bits.nxe, i) ? 'nx' : ''}/${bit(this.bits.ad, i) ? 'ad' : ''}/${this.asId(i)}`;
  }
}
