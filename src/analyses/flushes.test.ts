// The flush model against a real kernel's flushes: Debian 6.1 KVM under QEMU with the function
// tracer on kvm_flush_remote_tlbs, kvm_flush_remote_tlbs_with_address and
// kvm_arch_flush_remote_tlbs_memslot (fixtures/tdp-nested/README.md). Observed totals are
// independent counts: the ' <-' lines whose caller is not itself one of those functions (grep).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeTrace } from '../pipeline/analyze.js';
import { fixture } from '../testing/fixtures.js';
import { memslotsFromTruth } from '../testing/truth.js';
import type { FlushAgreement, FlushObservation } from './flushes.js';

async function observed(name: string): Promise<FlushObservation> {
  const r = await analyzeTrace(fixture(`tdp-nested/${name}.ftrace.txt.gz`));
  assert.equal(r.input.skippedLines, 0);
  return r.findings!.flushes.observed!;
}

const totals = (o: FlushAgreement): number[] => [o.inferred, o.observed, o.confirmed, o.contradicted, o.unpredicted];

test('TDP MMU (6.1), mixed scenario: every inferred flush observed, none unpredicted', async () => {
  const o = await observed('flush-mixed');
  // 409 lines, 3 of them kvm_flush_remote_tlbs <-kvm_arch_flush_remote_tlbs_memslot (inner calls)
  assert.deepEqual(totals(o), [406, 406, 406, 0, 0]);
  // 403 <-kvm_mmu_notifier_invalidate_range_start; the 3 dirty-log write-protects are traced
  // TDP changes of the VMM thread (tdp-other), flushed by their caller
  assert.deepEqual(totals(o.byOp['notifier-unmap']!), [403, 403, 403, 0, 0]);
  assert.deepEqual(totals(o.byOp['tdp-other']!), [3, 3, 3, 0, 0]);
  assert.deepEqual(o.unpredictedByCaller, {});
});

test('TDP MMU (6.1), dirty logging on THP: one flush per collapsible table, all observed', async () => {
  const o = await observed('flush-thp');
  // 22 lines, 11 inner (8 <-kvm_flush_remote_tlbs_with_address, 3 <-kvm_arch_flush_remote_tlbs_memslot)
  assert.deepEqual(totals(o), [11, 11, 11, 0, 0]);
  // 8 kvm_flush_remote_tlbs_with_address <-zap_collapsible_spte_range (tdp_mmu_zap_spte_atomic per table)
  assert.deepEqual(totals(o.byOp['zap-collapsible']!), [8, 8, 8, 0, 0]);
});

test('TDP MMU (6.1), memcg reclaim: aging and unmap flushes all observed; teardown flushes nothing', async () => {
  const o = await observed('tdp-aging-memcg');
  // 7351 <-kvm_mmu_notifier_clear_flush_young, 6444 <-kvm_mmu_notifier_invalidate_range_start; the
  // exit's root teardown after the last unmap (line 149306) is an op of its own (no flush)
  assert.deepEqual(totals(o), [13795, 13795, 13795, 0, 0]);
  assert.deepEqual(totals(o.byOp['notifier-unmap']!), [6444, 6444, 6444, 0, 0]);
});

test('shadow MMU (6.1, npt=0), mixed scenario: notifier, INVLPG, zap and sync flushes observed; the untraced ones named by caller', async () => {
  const o = await observed('flush-shadow-mixed');
  // 487 lines, 3 inner (<-kvm_arch_flush_remote_tlbs_memslot): 484 flushes
  assert.deepEqual(totals(o), [479, 484, 479, 0, 5]);
  // COW unmaps (each followed by change_pte on 6.1) zap the page the fault then maps
  assert.deepEqual(totals(o.byOp['notifier-unmap']!), [403, 403, 403, 0, 0]);
  // 64 <-paging64_invlpg: each guest INVLPG zapped a present unsync leaf, then prefetched its gpte
  assert.deepEqual(totals(o.byOp.invlpg!), [64, 64, 64, 0, 0]);
  assert.deepEqual(totals(o.byOp['zap-all-fast']!), [3, 3, 3, 0, 0]);
  // 3 passes of dirty logging, the model infers the fewest that explain the restores: 2
  assert.deepEqual(totals(o.byOp['write-protect']!), [2, 3, 2, 0, 1]);
  // mmu_sync_children flushes again after kvm_sync_page changed SPTEs (untraced; 6 lines, 3
  // predicted for its write-protects); one teardown zap_all commits twice (lines 55918, 55921)
  assert.deepEqual(o.unpredictedByCaller, { mmu_sync_children: 3, kvm_mmu_commit_zap_page: 1 });
});

test('shadow MMU (6.1) with --memslots from the truth lines, which list slot 1 twice (its dirty-log flags change): same agreement, no leaf zapped twice', async () => {
  const memslots = memslotsFromTruth(fixture('tdp-nested/flush-shadow-mixed.stdout'));
  assert.deepEqual(memslots.map((m) => m.slot), [0, 1, 2, 1]);
  const r = await analyzeTrace(fixture('tdp-nested/flush-shadow-mixed.ftrace.txt.gz'), { model: { memslots } });
  assert.deepEqual(totals(r.findings!.flushes.observed!), [479, 484, 479, 0, 5]);
});

test('shadow MMU (6.1, npt=0), zap_all_fast x3: the fast zaps and the notifier unmaps flush as inferred; teardown commits twice', async () => {
  const o = await observed('flush-shadow-zapall');
  // 31 lines: 23 <-kvm_mmu_notifier_invalidate_range_start, 8 <-kvm_mmu_commit_zap_page.part.0
  assert.deepEqual(totals(o), [30, 31, 30, 0, 1]);
  assert.deepEqual(totals(o.byOp['zap-all-fast']!), [3, 3, 3, 0, 0]);
  assert.deepEqual(o.unpredictedByCaller, { kvm_mmu_commit_zap_page: 1 });
});

test('shadow MMU (6.1, npt=0), memcg reclaim and aging: unmaps all observed with --memslots; aging of SPTEs whose Accessed bit the trace cannot show is not predicted', async () => {
  const path = fixture('tdp-nested/flush-shadow-aging.ftrace.txt.gz');
  const memslots = memslotsFromTruth(fixture('tdp-nested/flush-shadow-aging.stdout'));
  const r = await analyzeTrace(path, { model: { memslots } });
  const o = r.findings!.flushes.observed!;
  // 3182 lines: 1686 <-kvm_mmu_notifier_clear_flush_young, 1493 <-..._invalidate_range_start,
  // 2 <-kvm_mmu_commit_zap_page.part.0, 1 <-mmu_set_spte
  assert.deepEqual(totals(o), [2918, 3182, 2918, 0, 264]);
  assert.deepEqual(totals(o.byOp['notifier-unmap']!), [1493, 1493, 1493, 0, 0]);
  // kvm_age_rmap clears Accessed untraced and the guest sets it again untraced: of 3721 age calls
  // (grep -c) 1423 found a known-young SPTE, 1688 only SPTEs aged before (young unknown); the
  // kernel flushed for 263 of those
  const a = r.findings!.aging;
  assert.deepEqual([a.ageCalls, a.young, a.youngUnknown], [3721, 1423, 1688]);
  assert.deepEqual(totals(o.byOp['notifier-age']!), [1423, 1686, 1423, 0, 263]);
  // without --memslots the file slot's hva <-> gfn is never learned (MAP_SHARED: no copy-on-write
  // to anchor it): 15 unmaps zapped SPTEs the model did not place, and faults later flush in its view
  const guessed = await observed('flush-shadow-aging');
  assert.deepEqual(totals(guessed), [2901, 3182, 2893, 8, 289]);
  assert.deepEqual(totals(guessed.byOp['notifier-unmap']!), [1478, 1493, 1478, 0, 15]);
});
