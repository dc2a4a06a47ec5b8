// kvm_mmu_page_role layouts per kernel range and the access strings the kernel prints
// (kvm-mmu-reference.md §2; arch/x86/include/asm/kvm_host.h `union kvm_mmu_page_role`,
// arch/x86/kvm/mmu/mmutrace.h `KVM_MMU_PAGE_PRINTK`).
import { C } from './schema.js';
import type { RowWriter } from './row.js';

export type RoleLayoutName = 'v4' | 'v5.1' | 'v5.17' | 'v7.2';

export interface RoleLayout {
  readonly name: RoleLayoutName;
  readonly kernels: string;
  /** Bit 4 set means 8-byte guest PTEs (cr4_pae / gpte_is_8_bytes) rather than 4-byte (has_4_byte_gpte). */
  readonly bit4Means8Byte: boolean;
  readonly accessBits: 3 | 4;
  readonly invalidBit: number;
  readonly nxBit: number;
  readonly wpBit: number;
}

export const ROLE_LAYOUTS: Readonly<Record<RoleLayoutName, RoleLayout>> = {
  // ≤5.0 (4.19): bit 4 cr4_pae
  v4: { name: 'v4', kernels: '<=5.0', bit4Means8Byte: true, accessBits: 3, invalidBit: 11, nxBit: 12, wpBit: 13 },
  // 5.1–5.16: bit 4 gpte_is_8_bytes
  'v5.1': { name: 'v5.1', kernels: '5.1-5.16', bit4Means8Byte: true, accessBits: 3, invalidBit: 11, nxBit: 12, wpBit: 13 },
  // 5.17–7.1: bit 4 has_4_byte_gpte (inverted), passthrough 18, is_mirror 19
  'v5.17': { name: 'v5.17', kernels: '5.17-7.1', bit4Means8Byte: false, accessBits: 3, invalidBit: 11, nxBit: 12, wpBit: 13 },
  // 7.2+: 4-bit access (MBEC) at 8-11 pushes invalid/efer_nx/cr0_wp up by one
  'v7.2': { name: 'v7.2', kernels: '>=7.2', bit4Means8Byte: false, accessBits: 4, invalidBit: 12, nxBit: 13, wpBit: 14 },
};

/** access_str[] of mmutrace.h: index bit0=x, bit1=w, bit2=u (≤7.1). */
export function accessString3(access: number): string {
  return (access & 2 ? 'w' : '-') + (access & 4 ? 'u' : '-') + (access & 1 ? 'x' : '-');
}

/** access_str[] of mmutrace.h v7.2+: index bit0=r, bit1=w, bit2=u, bit3=x. */
export function accessString4(access: number): string {
  return (access & 1 ? 'r' : '-') + (access & 2 ? 'w' : '-') + (access & 4 ? 'u' : '-') + (access & 8 ? 'x' : '-');
}

const AD_DISABLED_BIT = 16;

/**
 * Writes role, role_mask and the role fields that `mask` covers, decoded with `layout`.
 * Fields whose bits the mask does not cover stay null.
 */
export function writeRole(w: RowWriter, word: number, mask: number, layout: RoleLayout): void {
  const has = (bit: number): boolean => ((mask >>> bit) & 1) === 1;
  const bit = (b: number): boolean => ((word >>> b) & 1) === 1;
  w.int(C.role, word >>> 0);
  w.int(C.role_mask, mask >>> 0);
  if ((mask & 0xf) === 0xf) w.int(C.level, word & 0xf);
  if (has(4)) w.int(C.gpte_bytes, bit(4) === layout.bit4Means8Byte ? 8 : 4);
  if (has(5) && has(6)) w.int(C.quadrant, (word >>> 5) & 3);
  if (has(7)) w.bool(C.direct, bit(7));
  const accessMask = layout.accessBits === 4 ? 0xf00 : 0x700;
  if ((mask & accessMask) === accessMask) {
    const access = (word >>> 8) & (layout.accessBits === 4 ? 0xf : 0x7);
    w.str(C.access, layout.accessBits === 4 ? accessString4(access) : accessString3(access));
  }
  if (has(layout.invalidBit)) w.bool(C.invalid, bit(layout.invalidBit));
  if (has(layout.nxBit)) w.bool(C.nxe, bit(layout.nxBit));
  if (has(layout.wpBit)) w.bool(C.cr0_wp, bit(layout.wpBit));
  if (has(AD_DISABLED_BIT)) w.bool(C.ad, !bit(AD_DISABLED_BIT));
  if ((mask >>> 24) === 0xff) w.int(C.as_id, word >>> 24);
}
