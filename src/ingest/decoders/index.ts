// The catalog: every event mmu-trace decodes, its group (ftrace text does not print groups), and
// its payload decoder. Events not listed here are kept with their raw payload.
import type { Cursor } from '../cursor.js';
import type { RowWriter } from '../row.js';
import type { DecodeContext } from '../context.js';
import { shadowPageDecoder } from './shadow-page.js';
import {
  decodeCheckMmioSpte, decodeFastPageFault, decodeGpa, decodeHandleMmioPageFault, decodeMarkMmioSpte,
  decodePagetableWalk, decodePagingElement, decodeSetSpte, decodeSplitHugePage, decodeSpteRequested,
  decodeTdpSpteChanged, decodeWalkerError, zapAllDecoder,
} from './mmu.js';
import { decodeAgeHva, decodeAgePage, decodeSetSpteHva, decodeTestAgeHva, decodeUnmapHvaRange } from './notifier.js';
import { decodeKvmEntry, decodeKvmExit, decodeKvmPageFault, decodeUserspaceExit } from './vcpu.js';
import { decodeFunction, decodeMarker, decodeSchedSwitch, decodeSchedWakeup, decodeTlbFlush } from './host.js';

export type Decoder = (c: Cursor, w: RowWriter, ctx: DecodeContext) => boolean;

export interface EventSpec {
  readonly grp: string;
  readonly decode: Decoder;
}

const spec = (grp: string, decode: Decoder): EventSpec => ({ grp, decode });

export const EVENT_CATALOG: ReadonlyMap<string, EventSpec> = new Map<string, EventSpec>([
  ['kvm_mmu_get_page', spec('kvmmmu', shadowPageDecoder(true))],
  ['kvm_mmu_prepare_zap_page', spec('kvmmmu', shadowPageDecoder(false))],
  ['kvm_mmu_sync_page', spec('kvmmmu', shadowPageDecoder(false))],
  ['kvm_mmu_unsync_page', spec('kvmmmu', shadowPageDecoder(false))],
  ['kvm_mmu_set_spte', spec('kvmmmu', decodeSetSpte)],
  ['kvm_mmu_spte_requested', spec('kvmmmu', decodeSpteRequested)],
  ['kvm_tdp_mmu_spte_changed', spec('kvmmmu', decodeTdpSpteChanged)],
  ['fast_page_fault', spec('kvmmmu', decodeFastPageFault)],
  ['kvm_mmu_split_huge_page', spec('kvmmmu', decodeSplitHugePage)],
  ['mark_mmio_spte', spec('kvmmmu', decodeMarkMmioSpte)],
  ['handle_mmio_page_fault', spec('kvmmmu', decodeHandleMmioPageFault)],
  ['check_mmio_spte', spec('kvmmmu', decodeCheckMmioSpte)],
  ['kvm_mmu_zap_all_fast', spec('kvmmmu', zapAllDecoder(10))],
  ['kvm_mmu_invalidate_zap_all_pages', spec('kvmmmu', zapAllDecoder(16))],
  ['kvm_mmu_pagetable_walk', spec('kvmmmu', decodePagetableWalk)],
  ['kvm_mmu_paging_element', spec('kvmmmu', decodePagingElement)],
  ['kvm_mmu_set_accessed_bit', spec('kvmmmu', decodeGpa)],
  ['kvm_mmu_set_dirty_bit', spec('kvmmmu', decodeGpa)],
  ['kvm_mmu_walker_error', spec('kvmmmu', decodeWalkerError)],
  ['kvm_unmap_hva_range', spec('kvm', decodeUnmapHvaRange)],
  ['kvm_age_hva', spec('kvm', decodeAgeHva)],
  ['kvm_test_age_hva', spec('kvm', decodeTestAgeHva)],
  ['kvm_set_spte_hva', spec('kvm', decodeSetSpteHva)],
  ['kvm_age_page', spec('kvm', decodeAgePage)],
  ['kvm_exit', spec('kvm', decodeKvmExit)],
  ['kvm_entry', spec('kvm', decodeKvmEntry)],
  ['kvm_page_fault', spec('kvm', decodeKvmPageFault)],
  ['kvm_userspace_exit', spec('kvm', decodeUserspaceExit)],
  ['tlb_flush', spec('tlb', decodeTlbFlush)],
  ['sched_switch', spec('sched', decodeSchedSwitch)],
  ['sched_wakeup', spec('sched', decodeSchedWakeup)],
  ['tracing_mark_write', spec('ftrace', decodeMarker)],
  ['function', spec('ftrace', decodeFunction)],
]);
