// SPTE values: what a raw u64 means for each MMU flavour and kernel range, and how a change from
// one value to another is classified (kvm-mmu-reference.md §3, §4.1). Values are handled as two
// u32 halves (hi, lo) so bit 63 and 52-bit pfns stay exact without BigInt.
import type { SpteGen } from './kernel-version.js';

/** How to read SPTE bits: EPT or not (shadow paging and NPT share the x86 PTE layout), which layout. */
export interface SpteLayout {
  ept: boolean;
  gen: SpteGen;
  /** Which rule says whether overwriting a present leaf flushes (kernel-version.ts leafFlushRuleOf613). */
  leafFlush613: boolean;
}

/** Permission bits of a present SPTE, as the model compares them. */
export const PERM_R = 1;
export const PERM_W = 2;
export const PERM_X = 4;
export const PERM_U = 8;

const BIT11 = 0x800;
const PS = 0x80;

/** FROZEN_SPTE / REMOVED_SPTE placeholders (spte.h: v6.1 0x5a0, v6.12 bit63|0x5a0, v7.2 bit63|0x1a0). */
export function isFrozen(hi: number, lo: number): boolean {
  return (lo === 0x5a0 || lo === 0x1a0) && (hi === 0 || hi === 0x80000000);
}

/** MMIO SPTE (spte.h is_mmio_spte): EPT misconfig 110b in RWX; non-EPT reserved bit 51 with P. */
export function isMmio(l: SpteLayout, hi: number, lo: number): boolean {
  if (l.ept) return (lo & 7) === 6 && (lo & BIT11) === 0;
  return (hi & 0x80000) !== 0 && (lo & 1) !== 0 && (lo & BIT11) === 0;
}

/** is_shadow_present_pte: bit 11 since 6.1; before, any non-zero non-MMIO value (spte.h v5.10). */
export function isPresent(l: SpteLayout, hi: number, lo: number): boolean {
  if (l.gen !== '<=6.0') return (lo & BIT11) !== 0;
  return (hi !== 0 || lo !== 0) && !isMmio(l, hi, lo) && !isFrozen(hi, lo);
}

/** is_last_spte: level 1, or the PS bit. */
export function isLeaf(level: number, lo: number): boolean {
  return level === 1 || (lo & PS) !== 0;
}

/** SPTE_BASE_ADDR_MASK bits 12–51 shifted down. */
export function pfnOf(hi: number, lo: number): number {
  return (hi & 0xfffff) * 0x100000 + (lo >>> 12);
}

export function isWritable(lo: number): boolean {
  return (lo & 2) !== 0;
}

/** SPTE_MMU_WRITEABLE: v5.10 bit 11; non-EPT bit 10 since 6.1; EPT bit 58 (6.1–6.18), bit 55 (7.x). */
export function isMmuWritable(l: SpteLayout, hi: number, lo: number): boolean {
  const m = mmuWritableMask(l);
  return ((hi & m.hi) | (lo & m.lo)) !== 0;
}

interface Halves { readonly hi: number; readonly lo: number }
const NO_BITS: Halves = { hi: 0, lo: 0 };
const MMU_W_V510: Halves = { hi: 0, lo: BIT11 };
const MMU_W_X86: Halves = { hi: 0, lo: 0x400 };
const MMU_W_EPT_V6: Halves = { hi: 1 << 26, lo: 0 };
const MMU_W_EPT_V7: Halves = { hi: 1 << 23, lo: 0 };

/** SPTE_MMU_WRITEABLE as a mask of the (hi, lo) halves (see isMmuWritable). */
function mmuWritableMask(l: SpteLayout): Halves {
  if (l.gen === '<=6.0') return MMU_W_V510;
  if (!l.ept) return MMU_W_X86;
  return l.gen === '>=7.0' ? MMU_W_EPT_V7 : MMU_W_EPT_V6;
}

/**
 * The value mmu.c spte_write_protect leaves: W cleared, and MMU-writable too when a guest page
 * table is protected (pt_protect: account_shadowed); dirty logging keeps MMU-writable.
 */
export function writeProtected(l: SpteLayout, hi: number, lo: number, ptProtect: boolean): Halves {
  const m = ptProtect ? mmuWritableMask(l) : NO_BITS;
  return { hi: (hi & ~m.hi) >>> 0, lo: (lo & ~(m.lo | 2)) >>> 0 };
}

/** Accessed: bit 5 (x86 PTE) or bit 8 (EPT), with A/D bits enabled. */
export function isAccessed(l: SpteLayout, lo: number): boolean {
  return (lo & (l.ept ? 0x100 : 0x20)) !== 0;
}

/** The value with Accessed cleared (what kvm_age_rmap / clear_young leave behind). */
export function clearAccessed(l: SpteLayout, lo: number): number {
  return (lo & ~(l.ept ? 0x100 : 0x20)) >>> 0;
}

/** Dirty: bit 6 (x86 PTE) or bit 9 (EPT). */
export function isDirty(l: SpteLayout, lo: number): boolean {
  return (lo & (l.ept ? 0x200 : 0x40)) !== 0;
}

/** R/W/X/U of a present SPTE: x86 PTE W=1 U=2 NX=63; EPT R=0 W=1 X=2, user-exec 10 (7.x). */
export function permsOf(l: SpteLayout, hi: number, lo: number): number {
  if (l.ept) return (lo & 1 ? PERM_R : 0) | (lo & 2 ? PERM_W : 0) | (lo & 4 ? PERM_X : 0);
  return PERM_R | (lo & 2 ? PERM_W : 0) | (lo & 4 ? PERM_U : 0) | ((hi & 0x80000000) === 0 ? PERM_X : 0);
}

const PERM_STRINGS = Array.from({ length: 16 }, (_, p) =>
  (p & PERM_R ? 'r' : '-') + (p & PERM_W ? 'w' : '-') + (p & PERM_X ? 'x' : '-') + (p & PERM_U ? 'u' : '-'));

/** Letters of a permission mask, e.g. "rw-u". */
export function permString(p: number): string {
  return PERM_STRINGS[p & 15]!;
}

/** What one SPTE change did. Every change the model sees is classified once, here. */
export type ChangeKind =
  | 'install' // non-present → present leaf
  | 'link' // non-present → present non-leaf (a page table linked in)
  | 'zap' // present leaf → non-present (or frozen)
  | 'unlink' // present non-leaf → non-present (a page table removed)
  | 'collapse' // present non-leaf → huge leaf
  | 'split' // huge leaf → non-leaf
  | 'pfn-change' // present leaf → present leaf with another pfn
  | 'write-protect' // same pfn, W or MMU-writable cleared
  | 'downgrade' // same pfn, another permission lost
  | 'upgrade' // same pfn, permissions gained
  | 'dirty-clear' // same pfn and permissions, D cleared
  | 'accessed-clear' // same pfn and permissions, only A cleared
  | 'ad-set' // same pfn and permissions, A or D set
  | 'same' // identical value re-written
  | 'mmio' // an MMIO SPTE written
  | 'freeze' // non-present → frozen placeholder (TDP, transient)
  | 'nonpresent'; // non-present → non-present

export function classifyChange(
  l: SpteLayout, level: number, oHi: number, oLo: number, nHi: number, nLo: number,
): ChangeKind {
  const oP = isPresent(l, oHi, oLo);
  const nP = isPresent(l, nHi, nLo);
  if (!oP) {
    if (nP) return isLeaf(level, nLo) ? 'install' : 'link';
    if (isMmio(l, nHi, nLo)) return 'mmio';
    return isFrozen(nHi, nLo) && !isFrozen(oHi, oLo) ? 'freeze' : 'nonpresent';
  }
  const oLeaf = isLeaf(level, oLo);
  if (!nP) return oLeaf ? 'zap' : 'unlink';
  const nLeaf = isLeaf(level, nLo);
  if (!oLeaf) return nLeaf ? 'collapse' : 'same';
  if (!nLeaf) return 'split';
  if (pfnOf(oHi, oLo) !== pfnOf(nHi, nLo)) return 'pfn-change';
  if (oHi === nHi && oLo === nLo) return 'same';
  const perm = permChange(l, oHi, oLo, nHi, nLo);
  if (perm === 'downgrade' && (permsOf(l, oHi, oLo) & ~permsOf(l, nHi, nLo) & PERM_W) !== 0) return 'write-protect';
  if (isMmuWritable(l, oHi, oLo) && !isMmuWritable(l, nHi, nLo)) return 'write-protect';
  if (perm !== 'same') return perm;
  if (isDirty(l, oLo) && !isDirty(l, nLo)) return 'dirty-clear';
  if (isAccessed(l, oLo) && !isAccessed(l, nLo)) return 'accessed-clear';
  return 'ad-set';
}

/** Permissions of two present values of one mapping: any lost makes it a downgrade. */
export function permChange(l: SpteLayout, oHi: number, oLo: number, nHi: number, nLo: number): 'same' | 'upgrade' | 'downgrade' {
  const o = permsOf(l, oHi, oLo);
  const n = permsOf(l, nHi, nLo);
  if (o === n) return 'same';
  return (o & ~n) !== 0 ? 'downgrade' : 'upgrade';
}

/**
 * Whether overwriting a present leaf needs a TLB flush. v6.13+: only clearing MMU-writable
 * (spte.h leaf_spte_change_needs_tlb_flush, v7.2); ≤6.12 mmu.c mmu_spte_update(): also clearing
 * W from an MMU-writable SPTE, or clearing Accessed or Dirty; v5.10 needs host- and MMU-writable.
 */
export function leafUpdateNeedsFlush(l: SpteLayout, oHi: number, oLo: number, nHi: number, nLo: number): boolean {
  const mmuW = isMmuWritable(l, oHi, oLo);
  if (l.leafFlush613) return mmuW && !isMmuWritable(l, nHi, nLo);
  const wClear = mmuW && !isWritable(nLo);
  return wClear || (isAccessed(l, oLo) && !isAccessed(l, nLo)) || (isDirty(l, oLo) && !isDirty(l, nLo));
}

/**
 * Whether a stale TLB entry of the old value would be harmful: W or MMU-writable cleared, or the
 * pfn changed. Clearing only A (aging tolerates false negatives) or D (dirty logging flushes from
 * the bitmap) needs none (v7.2 spte.h comment above leaf_spte_change_needs_tlb_flush).
 */
export function staleEntryHarmful(l: SpteLayout, oHi: number, oLo: number, nHi: number, nLo: number): boolean {
  if (!isPresent(l, nHi, nLo)) return true;
  if (pfnOf(oHi, oLo) !== pfnOf(nHi, nLo)) return true;
  return writeCleared(l, oHi, oLo, nHi, nLo);
}

function writeCleared(l: SpteLayout, oHi: number, oLo: number, nHi: number, nLo: number): boolean {
  return (isMmuWritable(l, oHi, oLo) && !isMmuWritable(l, nHi, nLo)) || (isWritable(oLo) && !isWritable(nLo));
}

/**
 * W, MMU-writable or D cleared on a present leaf: a stale writable or dirty TLB entry lets writes
 * skip the fault or the D update, so a flush is required (the 2024 make_spte fix after v6.12, §4.2).
 */
export function writeOrDirtyCleared(l: SpteLayout, oHi: number, oLo: number, nHi: number, nLo: number): boolean {
  return writeCleared(l, oHi, oLo, nHi, nLo) || (isDirty(l, oLo) && !isDirty(l, nLo));
}
