// kvmmmu events other than the shadow-page family (formats: kvm-mmu-reference.md §1.1,
// arch/x86/kvm/mmu/mmutrace.h per version).
import { C } from '../schema.js';
import type { Cursor } from '../cursor.js';
import type { RowWriter } from '../row.js';
import type { DecodeContext } from '../context.js';

/** __print_flags names of the page-fault error code (arch/x86/include/asm/kvm_host.h PFERR_*). */
export const PFERR_BITS: Readonly<Record<string, number>> = { P: 0, W: 1, U: 2, RSVD: 3, F: 4, PK: 5, SS: 6, SGX: 15 };

/** The bits of a __print_flags(...) word such as `P|W|U` (possibly empty); NaN if a name is unknown. */
export function pferrBits(text: string): number {
  let bits = 0;
  if (text === '') return 0;
  for (const name of text.split('|')) {
    const b = PFERR_BITS[name];
    // __print_flags prints leftover bits as one hex number
    const rest = b === undefined && name.startsWith('0x') ? Number(name) : NaN;
    if (b !== undefined) bits += 2 ** b;
    else if (!Number.isNaN(rest)) bits += rest;
    else return NaN;
  }
  return bits;
}

/** "gfn %llx spte %llx (%s%s%s%s) level %d at %llx" */
export function decodeSetSpte(c: Cursor, w: RowWriter): boolean {
  if (!c.lit('gfn ') || !c.hex64(w, C.gfn) || !c.lit(' spte ') || !c.hex64(w, C.spte) || !c.lit(' (')) return false;
  const close = c.find(')');
  if (close < 0) return false;
  w.strSpan(C.perm, c.s, c.i, close);
  c.i = close;
  return c.lit(') level ') && c.decTo(w, C.level) && c.lit(' at ') && c.hex64(w, C.sptep) && c.done;
}

/** "gfn %llx pfn %llx level %d" (+ " access %x" in v7.2+) */
export function decodeSpteRequested(c: Cursor, w: RowWriter, ctx: DecodeContext): boolean {
  if (!c.lit('gfn ') || !c.hex64(w, C.gfn) || !c.lit(' pfn ') || !c.hex64(w, C.pfn) || !c.lit(' level ') || !c.decTo(w, C.level)) return false;
  if (c.lit(' access ')) {
    ctx.hint('spte_requested.access', 'kvm_mmu_spte_requested prints access (v7.2+)');
    if (!c.hexTo(w, C.access_bits)) return false;
  }
  return c.done;
}

/** "as id %d gfn %llx level %d old_spte %llx new_spte %llx" */
export function decodeTdpSpteChanged(c: Cursor, w: RowWriter, ctx: DecodeContext): boolean {
  if (!(c.lit('as id ') && c.decTo(w, C.as_id) && c.lit(' gfn ') && c.hex64(w, C.gfn) && c.lit(' level ')
    && c.decTo(w, C.level) && c.lit(' old_spte ') && c.hex64(w, C.old_spte) && c.lit(' new_spte ')
    && c.hex64(w, C.new_spte) && c.done)) return false;
  const marker = tdpMarker(c.last.hi, c.last.lo);
  if (marker !== null) ctx.hint(`tdp-${marker.name}`, marker.text);
  return true;
}

/** Non-present and frozen SPTE values, which differ by kernel (spte.h; kvm-mmu-reference.md §3). */
function tdpMarker(hi: number, lo: number): { name: string; text: string } | null {
  if (hi === 0 && lo === 0x5a0) return { name: 'frozen', text: 'REMOVED_SPTE 0x5a0 (6.1-6.9, non-present SPTEs are 0)' };
  if (hi !== 0x80000000) return null;
  if (lo === 0x5a0) return { name: 'frozen', text: 'FROZEN_SPTE bit63|0x5a0 (6.10-7.1)' };
  if (lo === 0x1a0) return { name: 'frozen', text: 'FROZEN_SPTE bit63|0x1a0 (7.2+)' };
  if (lo === 0) return { name: 'nonpresent', text: 'SHADOW_NONPRESENT_VALUE bit 63 (6.10+)' };
  return null;
}

/** "vcpu %d gva %llx error_code %s sptep %p old %#llx new %llx spurious %d fixed %d" */
export function decodeFastPageFault(c: Cursor, w: RowWriter): boolean {
  if (!c.lit('vcpu ') || !c.decTo(w, C.vcpu) || !c.lit(' gva ') || !c.hex64(w, C.addr) || !c.lit(' error_code ')) return false;
  const pferr = pferrBits(c.word());
  if (Number.isNaN(pferr)) return false;
  w.u64(C.error_code, Math.floor(pferr / 2 ** 32), pferr >>> 0);
  if (!c.lit(' sptep ') || !c.hex64(w, C.sptep) || !c.lit(' old ') || !c.hex64(w, C.old_spte)) return false;
  if (!c.lit(' new ') || !c.hex64(w, C.new_spte) || !c.lit(' spurious ')) return false;
  const spurious = c.decInt();
  if (Number.isNaN(spurious) || !c.lit(' fixed ')) return false;
  const fixed = c.decInt();
  if (Number.isNaN(fixed)) return false;
  w.bool(C.spurious, spurious !== 0);
  w.bool(C.fixed, fixed !== 0);
  return c.done;
}

/** "gfn %llx spte %llx level %d errno %d" */
export function decodeSplitHugePage(c: Cursor, w: RowWriter): boolean {
  return c.lit('gfn ') && c.hex64(w, C.gfn) && c.lit(' spte ') && c.hex64(w, C.spte) && c.lit(' level ')
    && c.decTo(w, C.level) && c.lit(' errno ') && c.decTo(w, C.errno) && c.done;
}

/** "sptep:%p gfn %llx access %x gen %x" */
export function decodeMarkMmioSpte(c: Cursor, w: RowWriter): boolean {
  return c.lit('sptep:') && c.hex64(w, C.sptep) && c.lit(' gfn ') && c.hex64(w, C.gfn) && c.lit(' access ')
    && c.hexTo(w, C.access_bits) && c.lit(' gen ') && c.hexTo(w, C.mmio_gen) && c.done;
}

/** "addr:%llx gfn %llx access %x" */
export function decodeHandleMmioPageFault(c: Cursor, w: RowWriter): boolean {
  return c.lit('addr:') && c.hex64(w, C.addr) && c.lit(' gfn ') && c.hex64(w, C.gfn) && c.lit(' access ')
    && c.hexTo(w, C.access_bits) && c.done;
}

/** "spte %llx kvm_gen %x spte-gen %x valid %d" */
export function decodeCheckMmioSpte(c: Cursor, w: RowWriter): boolean {
  if (!c.lit('spte ') || !c.hex64(w, C.spte) || !c.lit(' kvm_gen ') || !c.hexTo(w, C.kvm_gen)) return false;
  if (!c.lit(' spte-gen ') || !c.hexTo(w, C.mmio_gen) || !c.lit(' valid ')) return false;
  const valid = c.decInt();
  if (Number.isNaN(valid)) return false;
  w.bool(C.valid, valid !== 0);
  return c.done;
}

/** "kvm-mmu-valid-gen %u used_pages %x"; ≤5.0 kvm_mmu_invalidate_zap_all_pages prints the gen with %lx. */
export function zapAllDecoder(genRadix: 10 | 16) {
  return (c: Cursor, w: RowWriter, ctx: DecodeContext): boolean => {
    if (!c.lit('kvm-mmu-valid-gen ')) return false;
    if (genRadix === 16) ctx.hint('zap-all', 'kvm_mmu_invalidate_zap_all_pages (<=5.0)');
    const gen = genRadix === 10 ? c.decInt() : c.hexInt();
    if (Number.isNaN(gen)) return false;
    w.int(C.valid_gen, gen);
    return c.lit(' used_pages ') && c.hexTo(w, C.used_pages) && c.done;
  };
}

/** "addr %llx pferr %x %s" */
export function decodePagetableWalk(c: Cursor, w: RowWriter): boolean {
  if (!c.lit('addr ') || !c.hex64(w, C.addr) || !c.lit(' pferr ') || !c.hex64(w, C.error_code)) return false;
  // the flag names repeat the number; a walk with no flag set ends in a bare space
  return c.lit(' ') && c.skipWord() && c.done;
}

/** "pferr %x %s" */
export function decodeWalkerError(c: Cursor, w: RowWriter): boolean {
  return c.lit('pferr ') && c.hex64(w, C.error_code) && c.lit(' ') && c.skipWord() && c.done;
}

/** "pte %llx level %u" */
export function decodePagingElement(c: Cursor, w: RowWriter): boolean {
  return c.lit('pte ') && c.hex64(w, C.gpte) && c.lit(' level ') && c.decTo(w, C.level) && c.done;
}

/** "gpa %llx" (kvm_mmu_set_accessed_bit, kvm_mmu_set_dirty_bit) */
export function decodeGpa(c: Cursor, w: RowWriter): boolean {
  return c.lit('gpa ') && c.hex64(w, C.addr) && c.done;
}
