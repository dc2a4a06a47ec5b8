// What-if policies (issue 4): counterfactual counts from one replay's findings, each naming the
// kernel change it models and the assumption behind the number (kvm-mmu-reference.md §4–§6).
// Insights in the DevTools sense: computed from the handlers' data, no second replay.
import type { Evidence } from '../model/facts.js';
import { agingFlushes, notifierLockElided, type RuleSet } from '../model/kernel-version.js';
import type { FindingsData } from './findings.js';
import { columnIndex } from './findings-table.js';
import { FLUSH_COLUMNS } from './flushes.js';
import { BATCH_ZAP_PAGES, LOCK_BREAK_COLUMNS } from './lock-breaks.js';
import { NOTIFICATION_COLUMNS } from './notifications.js';
import { ZAP_COLUMNS } from './zaps.js';

export type WhatIfPolicy = { name: 'skip-unchanged' | 'no-age-flush' | 'memslot-elision' } | { name: 'batch'; n: number };

export interface WhatIfEpisode {
  line: number;
  zapped: number;
  observed: number;
  /** Breaks the same simulation gives with BATCH_ZAP_PAGES = 10 and with N. */
  at10: number;
  atN: number;
}

export interface WhatIfResult {
  policy: string;
  /** What the kernel would do differently. */
  change: string;
  /** What the numbers take for granted. */
  assumption: string;
  evidence: Evidence;
  figures: Record<string, number>;
  episodes?: WhatIfEpisode[];
}

const POLICY_NAMES = ['skip-unchanged', 'no-age-flush', 'memslot-elision'] as const;

/** "skip-unchanged,batch=20" → policies; throws with the accepted forms on anything else. */
export function parseWhatIf(spec: string): WhatIfPolicy[] {
  return spec.split(',').map((p) => p.trim()).filter(Boolean).map((p) => {
    const batch = /^batch=(\d+)$/.exec(p);
    if (batch && Number(batch[1]) > 0) return { name: 'batch', n: Number(batch[1]) };
    if ((POLICY_NAMES as readonly string[]).includes(p)) return { name: p as (typeof POLICY_NAMES)[number] };
    throw new Error(`--what-if ${p}: expected ${POLICY_NAMES.join(', ')} or batch=N (N > 0)`);
  });
}

/** Invalidations that would have been re-installed identically are not zapped at all. */
function skipUnchanged(f: FindingsData): WhatIfResult {
  const z = f.zaps.table;
  const zc = columnIndex(ZAP_COLUMNS);
  const identicalByOp = new Map<number, number>();
  let zaps = 0;
  for (let r = 0; r < z.length; r++) {
    if (z.getStr(zc.cause, r) !== 'notifier-unmap' || z.getStr(zc.outcome, r) !== 'identical') continue;
    zaps++;
    const op = z.getNum(zc.op_id, r);
    identicalByOp.set(op, (identicalByOp.get(op) ?? 0) + 1);
  }
  const t = f.flushes.table;
  const c = columnIndex(FLUSH_COLUMNS);
  let flushes = 0;
  for (let r = 0; r < t.length; r++) {
    if (t.getStr(c.op, r) !== 'notifier-unmap' || t.getStr(c.verdict, r) === 'missing') continue;
    // the flush goes only if every zap of the invalidation is skipped and nothing else needed it
    const op = t.getNum(c.op_id, r);
    if (t.getNum(c.tables_zapped, r) === 0 && t.getNum(c.flushing_changes, r) === 0 && identicalByOp.get(op) === t.getNum(c.leaf_zaps, r)) flushes++;
  }
  return {
    policy: 'skip-unchanged',
    change: 'the invalidation compares the current SPTE with the new host mapping and leaves an unchanged one in place',
    assumption: 'a zap is skippable when its refault re-installed the same pfn and permissions (outcome identical); a notifier flush goes when all its zaps do (kvm_main.c __kvm_handle_hva_range flushes only if something was zapped). An upper bound: KVM does not see why the primary MMU invalidates (mmu_notifier_range event), so a real patch can skip only the causes it can tell apart',
    evidence: 'inferred',
    figures: { zapsAvoided: zaps, refaultsAvoided: zaps, flushesAvoided: flushes },
  };
}

/** Aging never flushes TLBs (KVM_ELIDE_TLB_FLUSH_IF_YOUNG, x86 7.x). */
function noAgeFlush(f: FindingsData, set: RuleSet): WhatIfResult {
  const t = f.flushes.table;
  const c = columnIndex(FLUSH_COLUMNS);
  let flushes = 0;
  for (let r = 0; r < t.length; r++) if (t.getStr(c.op, r) === 'notifier-age' && t.getStr(c.verdict, r) !== 'missing') flushes++;
  return {
    policy: 'no-age-flush',
    change: 'clear_flush_young does not flush (kvm_main.c kvm_mmu_notifier_clear_flush_young with KVM_ELIDE_TLB_FLUSH_IF_YOUNG)',
    assumption: agingFlushes(set)
      ? `rules ${set}: every kvm_age_hva that cleared a young SPTE flushed, except DAMON's (clear_young); MGLRU and page_idle also age through clear_young, which never flushes, and are not told apart by task, so this is an upper bound`
      : `rules ${set} already never flush for aging: nothing to save`,
    evidence: 'suspected',
    figures: { flushesAvoided: flushes },
  };
}

/** Notifications outside every memslot take no mmu_lock (the 2021 notifier series, 5.13). */
function memslotElision(f: FindingsData, set: RuleSet): WhatIfResult {
  const t = f.notifications.table;
  const c = columnIndex(NOTIFICATION_COLUMNS);
  let outside = 0;
  let locked = 0;
  for (let r = 0; r < t.length; r++) {
    if (t.getStr(c.overlap, r) !== 'outside') continue;
    outside++;
    if (t.getNum(c.lock_taken, r) === 1) locked++;
  }
  return {
    policy: 'memslot-elision',
    change: 'a notifier callback takes mmu_lock only when its range overlaps a memslot (kvm_main.c __kvm_handle_hva_range)',
    assumption: `one mmu_lock acquisition per notification outside every memslot (range_start side); rules ${set} ${notifierLockElided(set) ? 'already elide them' : 'take the lock for each'}; overlap ${f.notifications.byOverlap.unknown ? 'unknown for some notifications (no memslots)' : 'known for all'}`,
    evidence: 'inferred',
    figures: { lockAcquisitionsAvoided: locked, notificationsOutside: outside },
  };
}

/**
 * Lock breaks of each zap_all_fast episode with BATCH_ZAP_PAGES = n. A waiter seen at a break is
 * taken to have arrived there; the zapper checks for waiters every n zaps after its last break
 * (mmu.c kvm_zap_obsolete_pages, cond_resched_rwlock_write) and one break serves every waiter so far.
 */
export function breaksWithBatch(waiters: number[], zapped: number, n: number): number {
  let last = 0;
  let breaks = 0;
  for (let i = 0; i < waiters.length;) {
    const check = last + n * Math.ceil((waiters[i]! - last) / n);
    if (check > zapped) break;
    breaks++;
    last = check;
    while (i < waiters.length && waiters[i]! <= check) i++;
  }
  return breaks;
}

function batch(f: FindingsData, n: number): WhatIfResult {
  const t = f.lockBreaks.table;
  const c = columnIndex(LOCK_BREAK_COLUMNS);
  const waiters = new Map<number, number[]>();
  for (let r = 0; r < t.length; r++) {
    if (t.getStr(c.evidence, r) !== 'observed') continue;
    const id = t.getNum(c.episode, r);
    let w = waiters.get(id);
    if (!w) waiters.set(id, (w = []));
    w.push(t.getNum(c.after_zap, r));
  }
  const episodes: WhatIfEpisode[] = f.lockBreaks.episodes.filter((e) => e.kind === 'zap-all-fast').map((e) => {
    const w = (waiters.get(e.id) ?? []).sort((a, b) => a - b);
    return { line: e.line, zapped: e.zapped, observed: e.breaksObserved, at10: breaksWithBatch(w, e.zapped, BATCH_ZAP_PAGES), atN: breaksWithBatch(w, e.zapped, n) };
  });
  const sum = (k: 'observed' | 'at10' | 'atN'): number => episodes.reduce((a, e) => a + e[k], 0);
  return {
    policy: `batch=${n}`,
    change: `kvm_zap_obsolete_pages checks for mmu_lock waiters every ${n} zapped pages instead of BATCH_ZAP_PAGES = 10`,
    assumption: 'the contention the trace shows: each observed break had a waiter that arrived at that zap; breaks only where a check finds a waiter. Where the preemption model is none or voluntary, rwlock_needbreak is 0 (include/linux/spinlock.h, 6.12), so kvm_zap_obsolete_pages breaks on need_resched (the scheduler tick), not on waiters, and these numbers do not apply',
    evidence: 'suspected',
    figures: { episodes: episodes.length, breaksObserved: sum('observed'), breaksAt10: sum('at10'), breaksAtN: sum('atN') },
    episodes,
  };
}

export function whatIf(policies: WhatIfPolicy[], f: FindingsData): WhatIfResult[] {
  const set = f.model.rules.set;
  return policies.map((p) => {
    switch (p.name) {
      case 'skip-unchanged': return skipUnchanged(f);
      case 'no-age-flush': return noAgeFlush(f, set);
      case 'memslot-elision': return memslotElision(f, set);
      case 'batch': return batch(f, p.n);
    }
  });
}
