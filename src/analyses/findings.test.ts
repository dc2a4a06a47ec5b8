// Acceptance of the findings against real ground truth: the bundled mprotect-roundtrip fixture, and
// ../shared/traces (MANIFEST.md truth lines). Every number here was also produced by
// fixtures/truth/independent_count.py (written separately, results in fixtures/truth/results/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeTrace } from '../pipeline/analyze.js';
import { fixture, readCounts, SHARED_TRACES, haveSharedTraces } from '../testing/fixtures.js';
import { memslotsFromTruth } from '../testing/truth.js';
import type { FindingsData } from './findings.js';
import { renderText } from '../report/text.js';
import { FLUSH_COLUMNS } from './flushes.js';

const skip = haveSharedTraces ? false : `no corpus at ${SHARED_TRACES}`;
const shared = (rel: string): string => join(SHARED_TRACES, rel);

/** Zap outcomes of notifier zaps between two trace lines. */
function outcomesBetween(f: FindingsData, from: number, to: number): Record<string, number> {
  const t = f.zaps.table;
  const out: Record<string, number> = {};
  for (let r = 0; r < t.length; r++) {
    const line = t.getNum(t.col('line'), r);
    if (line < from || line >= to || t.getStr(t.col('cause'), r) !== 'notifier-unmap') continue;
    const o = t.getStr(t.col('outcome'), r)!;
    out[o] = (out[o] ?? 0) + 1;
  }
  return out;
}

test('mprotect-roundtrip: every in-range zap refaults to the same pfn, per round as the truth lines say', async () => {
  let f: FindingsData | undefined;
  const r = await analyzeTrace(fixture('mprotect-roundtrip.ftrace.txt.gz'), { onFindings: (x) => void (f = x) });
  assert.deepEqual(r.findings!.redundantZaps.byCause['notifier-unmap'], { identical: 4096, upgrade: 2048, downgrade: 2048, needed: 4096, unresolved: 0 });
  // first marker line of each round and the scenario end (zcat | grep -n 'phase=round\|mprotect end'):
  // round0 99754, round1 103390, round2 121408, end 125090
  assert.deepEqual(outcomesBetween(f!, 99754, 103390), { identical: 2048 });
  assert.deepEqual(outcomesBetween(f!, 103390, 121408), { downgrade: 2048, upgrade: 2048 });
  assert.deepEqual(outcomesBetween(f!, 121408, 125090), { identical: 2048 });
  // truth: 2/2/4 invalidations per round; independent_count.py: 1/0/3 of them zapped nothing, so 4
  // zapped, and all their zaps came back with the same pfn: 4 avoidable flushes
  assert.equal(r.findings!.flushes.avoidable, 4);
  // independent_count.py: unmaps that zapped nothing = 4 inside + 7 outside the memslots
  assert.equal(r.findings!.notifications.noEffect, 11);
  // without --memslots: the 4 inside ones re-unmap a range already zapped (nothing mapped now, but
  // its frames were): inside, not outside; of the 7 outside, 3 come before any VM is known
  assert.deepEqual(r.findings!.notifications.byOverlap, { inside: 4104, outside: 4, unknown: 3 });
});

test('analyze JSON is byte-identical across two runs', async () => {
  const a = JSON.stringify(await analyzeTrace(fixture('mprotect-roundtrip.ftrace.txt.gz')));
  const b = JSON.stringify(await analyzeTrace(fixture('mprotect-roundtrip.ftrace.txt.gz')));
  assert.equal(a, b);
});

test('dontneed: every zap in a MADV_DONTNEED range refaults to a new pfn (0 redundant)', { skip }, async () => {
  const r = await analyzeTrace(shared('dontneed/dontneed.ftrace.txt.gz'));
  assert.deepEqual(r.findings!.redundantZaps.byCause['notifier-unmap'], { identical: 0, upgrade: 0, downgrade: 0, needed: 15359, unresolved: 0 });
});

test('zap-all-fast: 6 episodes, zapped = used_pages, observed breaks <= floor(zapped/10)', { skip }, async () => {
  const r = await analyzeTrace(shared('zap-all-fast/zap-all-fast.ftrace.txt.gz'));
  const eps = r.findings!.lockBreaks.list.filter((e) => e.kind === 'zap-all-fast');
  assert.deepEqual(eps.map((e) => e.zapped), [8212, 8212, 1425, 8212, 8212, 2505]);
  assert.deepEqual(eps.map((e) => e.usedPages), [8212, 8212, 1425, 8212, 8212, 2505]);
  assert.deepEqual(eps.map((e) => e.breaksObserved), [11, 16, 9, 79, 17, 3]);
  assert.deepEqual(eps.map((e) => e.durationMs.toFixed(2)), ['76.94', '76.53', '10.88', '77.34', '75.29', '24.11']);
  for (const e of eps) assert.ok(e.breaksObserved <= e.maxBreaks!);
  assert.deepEqual(r.findings!.redundantZaps.byCause['notifier-unmap']!.needed, 26620);
  // the fast zap's unchanged refaults are the cost of zapping every slot for slot 4's change, an
  // upper bound of the avoidable ones: the report says so, with the byCause number
  const fast = r.findings!.redundantZaps.byCause['zap-all-fast']!;
  assert.match(renderText(r, { color: false }), new RegExp(`zap-all-fast: ${fast.identical + fast.upgrade + fast.downgrade} of its zaps came back unchanged: the cost of zapping every memslot`));
});

test('multi-vm (TGID): two VMs, each matching its own truth (vmA mprotect redundant, vmB dontneed needed)', { skip }, async () => {
  let f: FindingsData | undefined;
  const r = await analyzeTrace(shared('multi-vm/multi-vm.tgid.ftrace-tgid.txt.gz'), { onFindings: (x) => void (f = x) });
  assert.deepEqual(r.vms.map((v) => v.id), ['tgid:19258', 'tgid:19259']);
  const t = f!.zaps.table;
  const per: Record<string, Record<string, number>> = {};
  for (let i = 0; i < t.length; i++) {
    if (t.getStr(t.col('cause'), i) !== 'notifier-unmap') continue;
    const o = (per[t.getStr(t.col('vm'), i)!] ??= {});
    const k = t.getStr(t.col('outcome'), i)!;
    o[k] = (o[k] ?? 0) + 1;
  }
  assert.deepEqual(per, { 'tgid:19258': { needed: 4096, identical: 8192, downgrade: 4096, upgrade: 4096 }, 'tgid:19259': { needed: 23552 } });
});

test('thp-ksm: collapses and merges change pfns (needed); sources include khugepaged and ksmd', { skip }, async () => {
  const r = await analyzeTrace(shared('thp-ksm/thp-ksm.ftrace.txt.gz'));
  const f = r.findings!;
  assert.deepEqual(f.redundantZaps.byCause['notifier-unmap'], { identical: 0, upgrade: 0, downgrade: 16, needed: 40944, unresolved: 0 });
  assert.equal(f.notifications.byTask.khugepaged!.unmap, 16);
  assert.equal(f.notifications.byTask.khugepaged!.sptesZapped, 8192);
  assert.equal(f.notifications.byTask.ksmd!.sptesZapped, 4096);
});

test('outside-memslot: with --memslots from the truth lines, ranges missing every memslot are outside', { skip }, async () => {
  const memslots = memslotsFromTruth(shared('outside-memslot/outside-memslot.stdout'));
  const r = await analyzeTrace(shared('outside-memslot/outside-memslot.ftrace.txt.gz'), { model: { memslots } });
  const n = r.findings!.notifications;
  // outside: the 7 outside_op notifications (ops 2-6, 8, 10), 3 before the scenario, 4 thread-exit
  // stacks; op 9 straddles the end of slot 1: partial
  assert.deepEqual(n.byOverlap, { inside: 2064, outside: 14, partial: 1 });
  assert.deepEqual(r.findings!.redundantZaps.byCause['notifier-unmap'], { identical: 0, upgrade: 0, downgrade: 0, needed: 2064, unresolved: 16 });
  // without memslots: the 7 outside_op and 4 thread-exit notifications have no known guest mapping
  // (suspected outside); the 3 before the first vCPU fault have no VM yet (unknown)
  const inferred = await analyzeTrace(shared('outside-memslot/outside-memslot.ftrace.txt.gz'));
  // the straddle counts as inside: it covers 16 gfns with SPTEs
  assert.deepEqual(inferred.findings!.notifications.byOverlap, { inside: 2065, outside: 11, unknown: 3 });
});

test('aging: age / test_age calls and young SPTEs per source task as the independent count has them', { skip }, async () => {
  const r = await analyzeTrace(shared('aging/aging.ftrace.txt.gz'), { model: { memslots: memslotsFromTruth(shared('aging/aging.stdout')) } });
  const f = r.findings!;
  assert.deepEqual(f.aging.byTask, {
    'kdamond.0': { age: 52259, testAge: 1941, young: 49930 },
    'kvm-workload': { age: 196096, testAge: 0, young: 71068 },
  });
  // outside every memslot: 217 age + 190 test_age + 12 unmap calls
  assert.equal(f.notifications.outsideMemslots, 419);
  assert.deepEqual(f.redundantZaps.byCause['notifier-unmap'], { identical: 256, upgrade: 0, downgrade: 0, needed: 163072, unresolved: 65536 });
});

/** big's analysis, run once for the tests below (2.17 M events). */
let bigRun: Promise<{ r: Awaited<ReturnType<typeof analyzeTrace>>; f: FindingsData }> | null = null;
function big(): NonNullable<typeof bigRun> {
  return (bigRun ??= (async () => {
    let f: FindingsData | undefined;
    const r = await analyzeTrace(shared('big/big.ftrace.txt.gz'), { onFindings: (x) => void (f = x) });
    return { r, f: f! };
  })());
}
/** The pid and vCPU tids of a VM of big, from its truth lines. */
function bigMembers(vm: string): number[] {
  const truth = readFileSync(shared('big/big.stdout'), 'utf8');
  return [...truth.matchAll(new RegExp(`^truth: ${vm} (?:pid|vcpu_stats vcpu=\\d+ tid)=(\\d+)`, 'gm'))].map((m) => Number(m[1])).sort();
}

test('big (two VMs, no TGID): the model tells them apart as the truth lines have them; every zap_all_fast is bigA\'s', { skip }, async () => {
  const [bigA, bigB] = [bigMembers('bigA'), bigMembers('bigB')];
  assert.deepEqual([bigA, bigB], [[19341, 19343, 19344], [19342, 19346, 19347]]);
  const { r } = await big();
  const vmOf = (pid: number): string[] => r.vms.filter((v) => v.tasks.some((t) => t.pid === pid)).map((v) => v.id);
  // each main thread and vCPU thread in exactly one VM, shared with its own VM's threads only
  for (const group of [bigA, bigB]) for (const pid of group) assert.deepEqual(vmOf(pid), vmOf(group[0]!), `pid ${pid}`);
  assert.notDeepEqual(vmOf(bigA[0]!), vmOf(bigB[0]!));
  const episodes = r.findings!.lockBreaks.list.filter((e) => e.kind === 'zap-all-fast');
  assert.equal(episodes.length, 36);
  for (const e of episodes) {
    assert.deepEqual([e.vm, e.zapper], [vmOf(19341)[0], 'kvm-workload-19341']);
    // bigA's vCPUs and NX-recovery thread contend; bigB's threads hold another mmu_lock
    for (const c of e.contenders) assert.deepEqual(vmOf(Number(c.split('-').pop())), vmOf(19341), `contender ${c}`);
  }
});

test('big (no TGID): each VM\'s NX recovery thread is in its VM, none a VM of its own; bigB\'s teardown zaps its SPTEs', { skip }, async () => {
  const { r, f } = await big();
  const vmOf = (pid: number): string[] => r.vms.filter((v) => v.tasks.some((t) => t.pid === pid)).map((v) => v.id);
  const byOf = (pid: number): string | undefined => r.vms.flatMap((v) => v.tasks).find((t) => t.pid === pid)?.attributedBy;
  assert.equal(r.vms.length, 2);
  assert.equal(r.unattributed, undefined);
  // kvm-nx-lpage-re-19348 zaps 22 pages at 1746.854 (zcat | grep -c): gfn 140-14f l1, 100 l1, 4 and 3 l2,
  // 2 l3, 1 l4 (root 2), then 1 l4 again when freed. bigA has every one of those keys then too, but they
  // are all 21 pages bigB ever had: its threads create 21 (grep 'kvm-workload-1934[267] .*get_page.* new$'
  // | wc -l, all distinct) and zap none: bigB's teardown
  assert.deepEqual([vmOf(19348), byOf(19348)], [vmOf(19342), 'vm-teardown']);
  // kvm-nx-lpage-re-19345 zaps 1543 pages at the end of the trace (zcat | grep -c); the first, gfn 190 l1,
  // is a guest page-table page only bigA has (bigB's are 140-14f: 8192 pages / 512)
  assert.deepEqual([vmOf(19345), byOf(19345)], [vmOf(19341), 'shadow-pages']);
  // bigB's vCPUs wrote 8211 distinct SPTE addresses and its threads zap no shadow page before
  // (zcat | grep 'kvm-workload-1934[67] .*set_spte' | awk '{print $NF}' | sort -u | wc -l; grep -c prepare_zap = 0):
  // all 8211 go at its teardown (before: dropped untraced when bigA reused their pages, 8211 unresolved sync zaps)
  const t = f.zaps.table;
  let teardown = 0;
  for (let i = 0; i < t.length; i++) if (t.getStr(t.col('cause_task'), i) === 'kvm-nx-lpage-re-19348' && t.getStr(t.col('vm'), i) === vmOf(19342)[0]) teardown++;
  assert.equal(teardown, 8211);
  assert.equal(r.findings!.redundantZaps.byCause.sync!.unresolved, 0);
});

test('mprotect-roundtrip: the hottest 2 MiB ranges are the mprotected ones, 2048 redundant zaps each (3 rounds x 512 pages, round 1 twice)', async () => {
  const r = await analyzeTrace(fixture('mprotect-roundtrip.ftrace.txt.gz'));
  const hot = r.findings!.redundantZaps.hotRanges;
  // truth lines: every round mprotects gfn 40400-40bff, whose 2048 pages refault to the same pfn
  assert.deepEqual(hot.slice(0, 4).map((h) => [h.gfns, h.redundant]).sort(), [
    ['0x40400-0x405ff', 2048], ['0x40600-0x407ff', 2048], ['0x40800-0x409ff', 2048], ['0x40a00-0x40bff', 2048],
  ]);
  assert.equal(hot.slice(4).reduce((a, h) => a + h.redundant, 0), 0);
});

test('dirty-log: write faults on write-protected SPTEs are restores, not zaps; 4096 per iteration as the truth lines say', { skip }, async () => {
  const r = await analyzeTrace(shared('dirty-log/dirty-log.ftrace.txt.gz'));
  const f = r.findings!;
  // before: 32762 "suspected" redundant zaps of cause sync, each re-installed at its own line
  assert.equal(f.redundantZaps.count, 0);
  assert.equal(f.redundantZaps.byCause.sync, undefined);
  // truth: dirty_iter0..7 guest_pages_written=4096; awk over the trace: 32770 set_spte of the
  // faulting gfn after a walk with pferr P|W, 2 of them upgrades of read-only SPTEs
  assert.equal(f.writeProtects.restored, 32768);
  assert.deepEqual(f.writeProtects.byCause['dirty-log'], { protected: 0, restored: 32768, passes: 2 });
  // marker lines: zcat | grep -n 'guest_write begin'
  assert.deepEqual(f.writeProtects.byPhase.map((p) => [p.line, p.restored]),
    [410195, 438912, 467629, 496348, 525066, 553784, 582502, 611222].map((line) => [line, 4096]));
  // the fewest passes that explain the restores: one before iter0 (pages last written while
  // warming up), one before iter4 (pages restored in iter0..3); each flushes
  assert.deepEqual(f.flushes.byOp['write-protect'], { needed: 2, unneeded: 0, avoidable: 0, missing: 0 });
});

test('touch: writes to shadowed guest page tables restore write-protected SPTEs (unsync), no zap', { skip }, async () => {
  const r = await analyzeTrace(shared('touch/touch.ftrace.txt.gz'));
  const f = r.findings!;
  // before: 16 "suspected" redundant zaps of cause sync (pte_set_w phase, line 199883 on)
  assert.equal(f.redundantZaps.count, 0);
  // awk: 32 kvm_mmu_sync_page (grep -c), each of a gfn whose last set_spte was writable (rw):
  // mmu_sync_children write-protected each; two runs of 16 (lines 199753-199787 by 16782,
  // 200191- by 16783), one flush each. 32 set_spte of the faulting gfn after kvm_mmu_unsync_page
  // of it and a walk with pferr P|W; 16 re-install the value the set_spte before the first run
  // wrote (restores of the first run's protects), 16 upgrade read-only installs
  assert.deepEqual(f.writeProtects.byCause['sync-children'], { protected: 32, restored: 16, passes: 2 });
  assert.deepEqual(f.flushes.byOp['sync-children'], { needed: 2, unneeded: 0, avoidable: 0, missing: 0 });
  // no indirect page was created over a gfn a writable SPTE mapped (awk: 0 of 21 get_page new)
  assert.equal(f.writeProtects.byCause['shadowed-page-table'].protected, 0);
  assert.equal(f.writeProtects.byCause['dirty-log'].restored, 0);
});

test('dirty-log-guest-huge: an identical re-install after a fault on a non-present SPTE is a zap (inferred)', { skip }, async () => {
  const r = await analyzeTrace(shared('dirty-log/dirty-log-guest-huge.ftrace.txt.gz'));
  const f = r.findings!;
  // turning dirty logging off and on again drops the 4K SPTEs of huge-capable ranges untraced
  // (x86.c kvm_mmu_slot_apply_flags → kvm_mmu_zap_collapsible_sptes; the walks show pferr 6 W|U: P clear),
  // and the faults re-install them unchanged: redundant, and proven by the error code
  assert.deepEqual(f.redundantZaps.byEvidence, { observed: 0, inferred: 16384, suspected: 0 });
  assert.equal(f.writeProtects.restored, 0);
  // the drops are untraced and found only at the re-install: their latency is unknown, not 0 µs
  assert.deepEqual(f.redundantZaps.refaultUs, { median: null, p90: null, unknown: 16384 });
  // the first write under dirty logging links a 4K table where each 2 MiB leaf was (mmu.c
  // __link_shadow_page → drop_large_spte, one flush each): awk, 32 kvm_mmu_get_page ... direct new
  // of a gfn a level-2 set_spte mapped, each after a walk with P set; splits, not zaps (before: the
  // 32 huge leaves stayed live and were "zapped" at teardown)
  assert.equal(f.spteChanges.split, 32);
  assert.equal(f.redundantZaps.zaps, 32771);
  assert.deepEqual(f.flushes.byOp.fault, { needed: 64, unneeded: 0, avoidable: 0, missing: 0 });
});

test('tdp-mixed (real TDP MMU, 6.1, no TGID): one VM; dontneed and mprotect rounds as the truth lines say', { skip }, async () => {
  const memslots = memslotsFromTruth(shared('tdp-nested/tdp-mixed.stdout'));
  let f: FindingsData | undefined;
  const r = await analyzeTrace(shared('tdp-nested/tdp-mixed.ftrace.txt.gz'), { model: { memslots }, onFindings: (x) => void (f = x) });
  // truth: pid=273 and its vCPU threads 279, 280 (vcpu_stats): one VM. Its vCPUs write into the same
  // TDP tables (set_spte `at`), the VMM thread zaps leaves only that VM holds
  assert.deepEqual(r.vms.map((v) => v.tasks.map((t) => t.pid)), [[273, 279, 280]]);
  assert.deepEqual([r.model!.rules.set, r.model!.rules.spteGen], ['5.13-6.12', '6.1-6.9']);
  // dontneed rounds (zcat | grep -n 'unmap range: 0x007fbbcc[45]80000'): the VMM's notifiers at lines
  // 116518 and 120469 zap 128 and 192 SPTEs (traced, up to the madvise end marker 116743 / the
  // vCPU's next COW notifier 120775), all refault to new pfns (truth zaps_needed=128, 192)
  assert.deepEqual(outcomesBetween(f!, 116518, 116743), { needed: 128 });
  assert.deepEqual(outcomesBetween(f!, 120469, 120775), { needed: 192 });
  // fixtures/truth/tdp_zap_outcomes.py (no model code) gives the same counts for these windows
  // (its other-perm = downgrade and upgrade here).
  // mprotect: the kernel invalidates whole 2 MiB ranges (0x7fbbcc400000-600000 and -800000), 1024
  // pages, of which 512 were mprotected. Round 0 (RO, RW, then rw touch): all 1024 refault unchanged.
  // Round 1 (RO, guest reads, RW, guest writes): the 512 mprotected refault read-only (downgrade),
  // the other 512 unchanged; RW zaps the 512 read-only ones, which refault writable (upgrade)
  assert.deepEqual(outcomesBetween(f!, 135117, 136146), { identical: 1024 });
  assert.deepEqual(outcomesBetween(f!, 142306, 143335), { identical: 512, downgrade: 512 });
  assert.deepEqual(outcomesBetween(f!, 149491, 150007), { upgrade: 512 });
  // 3 zap_all_fast as the truth expects (expected_kvm_mmu_zap_all_fast_total=3)
  const eps = r.findings!.lockBreaks.list;
  assert.equal(eps.filter((e) => e.kind === 'zap-all-fast').length, 3);
  // each is followed by the zap of its invalidated roots under the read lock (tdp_mmu.c
  // kvm_tdp_mmu_zap_invalidated_roots): the vCPU faults beside it are no lock break (1 each before)
  const after = eps.filter((e) => [168731, 192699, 212853].includes(e.line));
  assert.deepEqual(after.map((e) => e.breaksObserved), [0, 0, 0]);
  // zapped = the VMM's leaf zaps + its prepare_zaps up to the next fast zap (awk over the trace:
  // 1101 + 36, 89 + 36)
  assert.deepEqual(after.slice(0, 2).map((e) => e.zapped), [1137, 125]);
  // dirty logging under the TDP MMU is traced: the VMM's write-protects (tdp_mmu.c
  // kvm_tdp_mmu_wrprot_slot, clear_dirty_gfn_range) come after its markers, one ioctl each, and
  // each flushes (x86.c kvm_mmu_slot_apply_flags, kvm_main.c kvm_get/clear_dirty_log_protect):
  // truth dirty_enable (the 1024 touched pages present), iter0..2 guest_pages_written=256; awk:
  // write-protects of kvm-workload-273 between the markers at lines 159195, 161259, 162555, 163851
  const wp = f!.flushes.table;
  const col = (n: string): number => FLUSH_COLUMNS.findIndex((c) => c.name === n);
  const dirtyOps: [number, number][] = [];
  for (let i = 0; i < wp.length; i++) {
    const line = wp.getNum(col('line'), i);
    if (line > 159195 && line < 164200 && wp.getStr(col('op'), i) === 'tdp-other') dirtyOps.push([line, wp.getNum(col('flushing_changes'), i)]);
  }
  assert.deepEqual(dirtyOps, [[159197, 1024], [161260, 256], [162557, 256], [163853, 256]]);
});

test('tdp-thp (real TDP MMU, two VMs in turn, no TGID): two VMs, not one', { skip }, async () => {
  let f: FindingsData | undefined;
  const r = await analyzeTrace(shared('tdp-nested/tdp-thp.ftrace.txt.gz'), { onFindings: (x) => void (f = x) });
  // truth: dirtythp pid=328 (vCPUs 330, 331), then thpksm pid=332 (vCPUs 335, 336); ksmd and
  // khugepaged changed thpksm's SPTEs (TDP leaves only it held)
  const members = r.vms.map((v) => v.tasks.filter((t) => t.comm === 'kvm-workload').map((t) => t.pid));
  assert.deepEqual(members, [[328, 330, 331], [332, 335, 336]]);
  assert.deepEqual(r.findings!.hugeSplits, { split: 16, failed: 0, childrenInferred: 8192 });
  // the VMM's 4K zaps between the markers 'iter0 get_dirty_log' (line 19532) and 're-enable dirty
  // logging' (27761): dirty logging turned off zaps the 4K tables of the huge-capable ranges
  // (x86.c kvm_mmu_slot_apply_flags → kvm_mmu_zap_collapsible_sptes; awk: 16 level-2 entries and
  // 8192 read-only level-1 leaves of kvm-workload-328 there); logging is on again at once, so 4096
  // come back 4K and writable (upgrade: the toggle's cost) and 4096 never do
  const t = f!.zaps.table;
  const inWindow: Record<string, number> = {};
  for (let i = 0; i < t.length; i++) {
    const line = t.getNum(t.col('line'), i);
    if (line < 19532 || line >= 27761) continue;
    const k = `${t.getStr(t.col('cause'), i)} ${t.getStr(t.col('outcome'), i)}`;
    inWindow[k] = (inWindow[k] ?? 0) + 1;
  }
  assert.deepEqual(inWindow, { 'zap-collapsible unresolved': 4096, 'zap-collapsible upgrade': 4096 });
  // that walk and the one after the marker 'disable_dirty_logging' (line 56531; awk: 16 level-2
  // tables of kvm-workload-328 there too) flush once per table (tdp_mmu.c tdp_mmu_zap_spte_atomic)
  assert.deepEqual(f!.flushes.byOp['zap-collapsible'], { needed: 32, unneeded: 0, avoidable: 0, missing: 0 });
  const walks = r.findings!.lockBreaks.list.filter((e) => e.line === 19535 || e.line === 56532);
  // under mmu_lock for read: the vCPU faults beside them are no lock break
  assert.deepEqual(walks.map((e) => [e.zapped, e.breaksObserved]), [[8208, 0], [4112, 0]]);
});

test('tdp-aging-memcg (real TDP MMU, 6.1, memcg reclaim): aging flushes that only cleared Accessed, zaps as the truth lines say', async () => {
  let f: FindingsData | undefined;
  const path = fixture('tdp-nested/tdp-aging-memcg.ftrace.txt.gz');
  const r = await analyzeTrace(path, { onFindings: (x) => void (f = x) });
  // count_events.py files the function tracer's lines under "(non-event lines)": zcat | grep -c ' <-' = 13795
  assert.deepEqual(r.events.byName, { ...readCounts(`${path.replace(/\.gz$/, '')}.counts`), function: 13795 });
  // the VM's first install over a 0 SPTE (line 791) gives 6.1-6.12 rules from then on; the first
  // frozen 0x5a0 comes only at teardown (line 149309): without the former every aging flush below is 0
  assert.deepEqual([r.model!.rules.set, r.model!.rules.source], ['5.13-6.12', 'trace']);
  // the VMM thread's memcg reclaim ages (clear_flush_young): grep -c kvm_age_hva: 13934; 7351 of
  // them are followed by a traced Accessed clear on the same task (awk, fixtures/tdp-nested/README.md),
  // each flushed on 6.1 (kvm_main.c kvm_mmu_notifier_clear_flush_young), none needed: only Accessed
  // was cleared. The function tracer saw exactly those 7351 (grep -c '<-kvm_mmu_notifier_clear_flush_young').
  const a = f!.notifications.aging;
  assert.deepEqual([a.ageCalls, a.young, a.flushes], [13934, 7351, 7351]);
  assert.deepEqual(f!.flushes.byOp['notifier-age'], { needed: 0, unneeded: 7351, avoidable: 0, missing: 0 });
  assert.deepEqual(f!.flushes.observed!.byOp['notifier-age'], { inferred: 7351, observed: 7351, confirmed: 7351, contradicted: 0, unpredicted: 0 });
  // zap outcomes between the markers, as fixtures/truth/tdp_zap_outcomes.py (no model code) counts
  // them: limit shrink (lines 59224-79206): truth says 2 file-slot pages that vanished came back
  // with the same pfn (identical) and 1270 with another (needed, with 14 system pages), 512
  // swapped-out anon pages never refault; force_empty (86964-120266): truth changed_pfn=4096 for
  // the file slot, plus 18 system pages needed, 1 unresolved
  assert.deepEqual(outcomesBetween(f!, 59224, 79206), { identical: 2, needed: 1284, unresolved: 512 });
  assert.deepEqual(outcomesBetween(f!, 86964, 120266), { needed: 4114, unresolved: 1 });
});
