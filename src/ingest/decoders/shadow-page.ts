// kvm_mmu_get_page / kvm_mmu_prepare_zap_page / kvm_mmu_sync_page / kvm_mmu_unsync_page.
// Kernel text (KVM_MMU_PAGE_PRINTK, kvm-mmu-reference.md §1.1) in every released variant, and the
// libtraceevent kvm plugin's rewrite that trace-cmd prints (§7.3).
import { C } from '../schema.js';
import { writeRole } from '../role.js';
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

/** ` q%u%s %s%s`: quadrant, direct, access string, invalid. */
function spQuadrantAccess(c: Cursor, w: RowWriter, ctx: DecodeContext): boolean {
  if (!c.lit(' q') || !c.decTo(w, C.quadrant)) return false;
  w.bool(C.direct, c.lit(' direct'));
  if (!c.lit(' ')) return false;
  const access = c.word();
  if (access.length !== 3 && access.length !== 4) return false;
  if (access.length === 4) ctx.layoutSeen('v7.2');
  ctx.hint('access-string', access.length === 4 ? '4 letters rwux (v7.2+ role layout)' : '3 letters wux (<=7.1)');
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
  if (variant === 'v4.x' || variant === 'v4.19') ctx.layoutSeen('v4');
  else if (variant === 'v5.1-5.3') ctx.layoutSeen('v5.1');
  ctx.hint('sp-text', `shadow-page text variant ${variant}`);
  if (!spQuadrantAccess(c, w, ctx)) return false;
  return spTail(c, w, withAd, created);
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
  const level = c.decInt();
  if (Number.isNaN(level) || level > 15 || !c.lit(' q')) return false;
  const quadrant = c.decInt();
  if (Number.isNaN(quadrant) || quadrant > 3) return false;
  const direct = c.lit(' direct');
  if (!c.lit(' ')) return false;
  const access = ['---', '--x', 'w--', 'w-x', '-u-', '-ux', 'wu-', 'wux'].indexOf(c.word());
  if (access < 0) return false;
  const invalid = c.lit(' invalid');
  if (!c.lit(' ')) return false;
  const notPae = c.lit('!');
  if (!c.lit('pae ')) return false;
  const notNx = c.lit('!');
  if (!c.lit('nxe ')) return false;
  const notWp = c.lit('!');
  if (!c.lit('wp')) return false;
  const smep = c.lit(' smep');
  const smap = c.lit(' smap');
  const smm = c.lit(' smm');
  const word = level | (notPae ? 0 : 1 << 4) | (quadrant << 5) | (direct ? 1 << 7 : 0) | (access << 8)
    | (invalid ? 1 << 11 : 0) | (notNx ? 0 : 1 << 12) | (notWp ? 0 : 1 << 13) | (smep ? 1 << 14 : 0)
    | (smap ? 1 << 15 : 0);
  // without " smm" the smm byte is known to be 0; with it, only that it is non-zero
  writeRole(w, word, smm ? 0xffff : 0xff00ffff, ctx.layout);
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
