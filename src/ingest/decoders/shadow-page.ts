// kvm_mmu_get_page / kvm_mmu_prepare_zap_page / kvm_mmu_sync_page / kvm_mmu_unsync_page.
// Kernel text (KVM_MMU_PAGE_PRINTK, kvm-mmu-reference.md §1.1) in every released variant, and the
// libtraceevent kvm plugin's rewrite that trace-cmd prints (§7.3).
import { C } from '../schema.js';
import { accessString3, writeRole, type RoleLayoutName } from '../role.js';
import type { Cursor } from '../cursor.js';
import type { RowWriter } from '../row.js';
import type { DecodeContext } from '../context.js';

/** Text variants of the shadow-page print, named after the kernels that print them. */
export type SpTextVariant = 'v5.4+' | 'v5.1-5.3' | 'v4.x' | 'v4.19';

/** Reads `%snxe %sad root %u %s` (+ ` new|existing`) — the tail every kernel variant shares. */
function spTail(c: Cursor, w: RowWriter, withAd: boolean, created: boolean): boolean {
  if (!c.lit(' ')) return false;
  w.bool(C.nxe, !c.lit('!'));
  if (!c.lit('nxe')) return false;
  if (withAd) {
    if (!c.lit(' ')) return false;
    w.bool(C.ad, !c.lit('!'));
    if (!c.lit('ad')) return false;
  }
  if (!c.lit(' root ') || !c.decTo(w, C.root_count) || !c.lit(' ')) return false;
  if (c.lit('unsync')) w.bool(C.unsync, true);
  else if (c.lit('sync')) w.bool(C.unsync, false);
  else return false;
  if (created) {
    if (c.lit(' new')) w.bool(C.created, true);
    else if (c.lit(' existing')) w.bool(C.created, false);
    else return false;
  }
  return c.done;
}

/** Role layout a shadow-page text variant proves (kvm-mmu-reference.md §1.1, §2); v5.4+ text fits 5.4-7.1. */
export const SP_TEXT_LAYOUT: Readonly<Record<SpTextVariant, RoleLayoutName | null>> = {
  'v5.4+': null, 'v5.1-5.3': 'v5.1', 'v4.x': 'v4', 'v4.19': 'v4',
};

/** A 4-letter access string is the 16-entry access_str of v7.2+ (mmutrace.h), so its role layout. */
export function noteAccessString(ctx: DecodeContext, access: string): void {
  if (access.length === 4) ctx.layoutSeen('v7.2');
  ctx.hint('access-string', access.length === 4 ? '4 letters rwux (v7.2+ role layout)' : '3 letters wux (<=7.1)');
}

/** The kvm plugin's role fields, as it prints them. */
export interface PluginRole {
  level: number; quadrant: number; direct: boolean; access: string; invalid: boolean;
  pae: boolean; nxe: boolean; wp: boolean; smep: boolean; smap: boolean; smm: boolean;
}

/**
 * The plugin decodes the role with the 4.x union (plugin_kvm.c), so what it prints is bits 0-15 of
 * the real word; without " smm" the smm byte is known to be 0, with it only that it is non-zero.
 * Returns false for values the union cannot hold.
 */
export function writePluginRole(w: RowWriter, r: PluginRole, ctx: DecodeContext): boolean {
  const access = PLUGIN_ACCESS.indexOf(r.access);
  if (r.level > 15 || r.quadrant > 3 || access < 0) return false;
  const word = r.level | (r.pae ? 1 << 4 : 0) | (r.quadrant << 5) | (r.direct ? 1 << 7 : 0) | (access << 8)
    | (r.invalid ? 1 << 11 : 0) | (r.nxe ? 1 << 12 : 0) | (r.wp ? 1 << 13 : 0) | (r.smep ? 1 << 14 : 0)
    | (r.smap ? 1 << 15 : 0);
  writeRole(w, word, r.smm ? 0xffff : 0xff00ffff, ctx.layout);
  return true;
}

const PLUGIN_ACCESS = Array.from({ length: 8 }, (_, i) => accessString3(i));

/** ` q%u%s %s%s`: quadrant, direct, access string, invalid. */
function spQuadrantAccess(c: Cursor, w: RowWriter, ctx: DecodeContext): boolean {
  if (!c.lit(' q') || !c.decTo(w, C.quadrant)) return false;
  w.bool(C.direct, c.lit(' direct'));
  if (!c.lit(' ')) return false;
  const access = c.word();
  if (access.length !== 3 && access.length !== 4) return false;
  noteAccessString(ctx, access);
  w.str(C.access, access);
  w.bool(C.invalid, c.lit(' invalid'));
  return true;
}

function decodeSpText(c: Cursor, w: RowWriter, ctx: DecodeContext, created: boolean): boolean {
  if (!c.lit('sp ')) return false;
  let genStart = -1;
  let genEnd = -1;
  if (c.lit('gen ')) {
    genStart = c.i;
    c.word();
    genEnd = c.i;
    if (!c.lit(' ')) return false;
  }
  if (!c.lit('gfn ') || !c.hex64(w, C.gfn) || !c.lit(' ')) return false;
  if (genStart < 0 && isGlevelsRole(c)) return glevelsRole(c, w, ctx, created);
  let variant: SpTextVariant;
  let withAd = true;
  if (c.lit('l')) {
    if (!c.decTo(w, C.level)) return false;
    if (c.lit(' 8-byte')) { w.int(C.gpte_bytes, 8); variant = genStart >= 0 ? 'v5.4+' : 'v5.1-5.3'; }
    else if (c.lit(' 4-byte')) { w.int(C.gpte_bytes, 4); variant = genStart >= 0 ? 'v5.4+' : 'v5.1-5.3'; }
    else { w.int(C.gpte_bytes, c.lit(' pae') ? 8 : 4); variant = 'v4.x'; }
  } else {
    // v4.19: "%u%s" = level, cr4_pae ? " pae" : "" ; no "%sad"
    if (!c.decTo(w, C.level)) return false;
    w.int(C.gpte_bytes, c.lit(' pae') ? 8 : 4);
    variant = 'v4.19';
    withAd = false;
  }
  if (genStart >= 0) {
    // the generation is %u from 5.4 on, %lx before
    const gen = Number.parseInt(c.s.slice(genStart, genEnd), variant === 'v5.4+' ? 10 : 16);
    if (!Number.isFinite(gen)) return false;
    w.int(C.sp_gen, gen);
  } else if (variant !== 'v5.1-5.3') return false;
  const layout = SP_TEXT_LAYOUT[variant];
  if (layout !== null) ctx.layoutSeen(layout);
  ctx.hint('sp-text', `shadow-page text variant ${variant}`);
  if (!spQuadrantAccess(c, w, ctx)) return false;
  return spTail(c, w, withAd, created);
}

/** `%u/` ahead: 2.6.3x's level/glevels. */
function isGlevelsRole(c: Cursor): boolean {
  let j = c.i;
  while (j < c.end && c.s.charCodeAt(j) >= 48 && c.s.charCodeAt(j) <= 57) j++;
  return j > c.i && c.s.charCodeAt(j) === 47;
}

/**
 * 2.6.3x text, `%u/%u q%u%s %s%s %spge %snxe root %u %s`: level/glevels, quadrant, direct, access,
 * invalid, cr4_pge, nxe, root count, sync (role.glevels, which cr4_pae replaced in 2.6.34: kernel
 * history, not checked against a tree here). trace-cmd's kvm plugin of then printed roles this way
 * too. The role word of those kernels is none of role.ts's layouts, so only the fields are kept.
 */
function glevelsRole(c: Cursor, w: RowWriter, ctx: DecodeContext, created: boolean): boolean {
  if (!c.decTo(w, C.level) || !c.lit('/')) return false;
  // guest paging levels: 2 (32-bit, 4-byte PTEs), 3 (PAE) or 4 (long mode)
  const glevels = c.i < c.end ? c.s.charCodeAt(c.i) - 48 : 0;
  if (glevels < 2 || glevels > 4) return false;
  c.i++;
  w.int(C.gpte_bytes, glevels === 2 ? 4 : 8);
  if (!spQuadrantAccess(c, w, ctx) || !c.lit(' ')) return false;
  c.lit('!');
  if (!c.lit('pge')) return false;
  ctx.hint('sp-text', 'shadow-page text of 2.6.3x (level/glevels, pge): kernels before 2.6.34');
  return spTail(c, w, false, created);
}

/**
 * The kvm plugin of libtraceevent: `[new|existing sp gfn %llx ]%u q%u%s %s%s %spae %snxe %swp%s%s%s root %u %s`.
 * It decodes the role with the 4.x union, so its words are bits 0–15 of the real role word; the
 * meaning of those bits comes from the kernel's layout (plugin_kvm.c, kvm-mmu-reference.md §7.3).
 */
function decodePluginText(c: Cursor, w: RowWriter, ctx: DecodeContext, created: boolean): boolean {
  if (created) {
    if (c.lit('new ')) w.bool(C.created, true);
    else if (c.lit('existing ')) w.bool(C.created, false);
    else return false;
    if (!c.lit('sp gfn ') || !c.hex64(w, C.gfn) || !c.lit(' ')) return false;
  }
  if (isGlevelsRole(c)) return glevelsRole(c, w, ctx, false);
  const level = c.decInt();
  if (Number.isNaN(level) || !c.lit(' q')) return false;
  const quadrant = c.decInt();
  if (Number.isNaN(quadrant)) return false;
  const direct = c.lit(' direct');
  if (!c.lit(' ')) return false;
  const access = c.word();
  const invalid = c.lit(' invalid');
  if (!c.lit(' ')) return false;
  const pae = !c.lit('!');
  if (!c.lit('pae ')) return false;
  const nxe = !c.lit('!');
  if (!c.lit('nxe ')) return false;
  const wp = !c.lit('!');
  if (!c.lit('wp')) return false;
  const smep = c.lit(' smep');
  const smap = c.lit(' smap');
  const smm = c.lit(' smm');
  if (!writePluginRole(w, { level, quadrant, direct, access, invalid, pae, nxe, wp, smep, smap, smm }, ctx)) return false;
  if (!c.lit(' root ') || !c.decTo(w, C.root_count) || !c.lit(' ')) return false;
  if (c.lit('unsync')) w.bool(C.unsync, true);
  else if (c.lit('sync')) w.bool(C.unsync, false);
  else return false;
  ctx.hint('sp-text', 'libtraceevent kvm plugin text (trace-cmd): role bits 0-15 only, gfn lost except in get_page');
  return c.done;
}

/** Decoder for one shadow-page event: kernel text, or the kvm plugin's rewrite (trace-cmd). */
export function shadowPageDecoder(created: boolean) {
  return (c: Cursor, w: RowWriter, ctx: DecodeContext): boolean =>
    c.s.startsWith('sp ', c.i) ? decodeSpText(c, w, ctx, created) : decodePluginText(c, w, ctx, created);
}
