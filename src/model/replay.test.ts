// Rule tests for the replay, each on a tiny trace in the real ftrace text format (lines and SPTE
// values taken from the corpus: mprotect-roundtrip, zap-all-fast, aging), with exact expectations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { analyzeTrace } from '../pipeline/analyze.js';
import { tinyTrace, ev, zapAllFastTrace } from '../testing/tiny-trace.js';
import { rulesFromOption } from './kernel-version.js';
import { loadMemslotsFile, type Memslot } from './memslots.js';

const VCPU = 'kvm-workload-101';
const VMM = 'kvm-workload-100';
const HVA0 = 0x7f4c59600000;
const hva = (gfnOff: number): string => `0x${(HVA0 + gfnOff * 4096).toString(16).padStart(14, '0')}`;

/** A vCPU's first write to fresh memory: zero page read, COW notifier, new pfn (MANIFEST obs. 6). */
function cowTouch(off: number, pfn: string, t: number): string[] {
  const gfn = (0x40000 + off).toString(16);
  const ts = (s: number): string => (1721.9 + (t + s) / 1e6).toFixed(6);
  return [
    ev(VCPU, 0, ts(0), 'kvm_mmu_spte_requested', `gfn ${gfn} pfn 3b34 level 1`),
    ev(VCPU, 0, ts(1), 'kvm_mmu_set_spte', `gfn ${gfn} spte 3b34825 (r-xu) level 1 at ${(0x1c3522000 + off * 8).toString(16)}`),
    ev(VCPU, 0, ts(2), 'kvm_unmap_hva_range', `mmu notifier unmap range: ${hva(off)} -- ${hva(off + 1)}`, '.....'),
    ev(VCPU, 0, ts(3), 'kvm_mmu_spte_requested', `gfn ${gfn} pfn ${pfn} level 1`),
    ev(VCPU, 0, ts(4), 'kvm_mmu_set_spte', `gfn ${gfn} spte ${pfn}e67 (rwxu) level 1 at ${(0x1c3522000 + off * 8).toString(16)}`),
  ];
}

const mprotectTrace = (): string => tinyTrace([
  ev(VCPU, 0, '1721.899000', 'kvm_mmu_get_page', 'sp gen 0 gfn 140 l1 8-byte q0 wux nxe ad root 0 sync new'),
  ...cowTouch(0, '15059f', 100),
  ...cowTouch(1, '15059e', 200),
  // mprotect(PROT_READ) of both pages from the VMM thread
  ev(VMM, 1, '1721.972375', 'kvm_unmap_hva_range', `mmu notifier unmap range: ${hva(0)} -- ${hva(2)}`, '.....'),
  // read refault of page 0 (read-only, same pfn) and write refault of page 1 (same value)
  ev(VCPU, 0, '1721.972500', 'kvm_mmu_spte_requested', 'gfn 40000 pfn 15059f level 1'),
  ev(VCPU, 0, '1721.972501', 'kvm_mmu_set_spte', 'gfn 40000 spte 15059fa25 (r-xu) level 1 at 1c3522000'),
  ev(VCPU, 0, '1721.972600', 'kvm_mmu_spte_requested', 'gfn 40001 pfn 15059e level 1'),
  ev(VCPU, 0, '1721.972601', 'kvm_mmu_set_spte', 'gfn 40001 spte 15059ee67 (rwxu) level 1 at 1c3522008'),
]);

test('shadow MMU: COW faults teach hva<->gfn; a notifier zaps the present SPTEs it covers; refaults classify them', async () => {
  const r = await analyzeTrace(mprotectTrace());
  const f = r.findings!;
  assert.deepEqual(r.vms.map((v) => [v.id, v.memslots, v.inferredOffsets]), [['task:101', 'inferred', [{ delta: '0x7f4c19600000', anchors: 2 }]]]);
  // 2 COW zaps (zero page → new pfn: needed), the mprotect's 2 zaps (same pfn: redundant)
  assert.deepEqual(f.redundantZaps.byOutcome, { identical: 1, upgrade: 0, downgrade: 1, needed: 2, unresolved: 0 });
  assert.deepEqual(f.redundantZaps.byEvidence, { observed: 0, inferred: 2, suspected: 0 });
  assert.equal(f.redundantZaps.examples[0]!.refaultUs, 126);
  // one flush per notifier that zapped; the mprotect's is avoidable: both its zaps came back unchanged
  assert.deepEqual(f.flushes.byOp['notifier-unmap'], { needed: 2, unneeded: 0, avoidable: 1, missing: 0 });
  assert.deepEqual(f.notifications.byTask[VMM.replace(/-\d+$/, '')], { notifications: 3, unmap: 3, age: 0, testAge: 0, outside: 0, noEffect: 0, sptesZapped: 4 });
});

test('shadow MMU: a --memslots file gives the overlap; outside a memslot KVM takes no mmu_lock (>=5.13)', async () => {
  const slots: Memslot[] = [{ slot: 1, as_id: 0, base_gfn: 0x40000, npages: 2, userspace_addr: HVA0 }];
  const file = tinyTrace([]).replace(/\.txt$/, '.json');
  writeFileSync(file, JSON.stringify(slots));
  const trace = tinyTrace([
    ev(VMM, 1, '1.000001', 'kvm_unmap_hva_range', `mmu notifier unmap range: ${hva(2)} -- ${hva(4)}`, '.....'),
    ev(VMM, 1, '1.000002', 'kvm_unmap_hva_range', `mmu notifier unmap range: ${hva(1)} -- ${hva(3)}`, '.....'),
  ]);
  const now = await analyzeTrace(trace, { model: { memslots: loadMemslotsFile(file) } });
  assert.deepEqual(now.findings!.notifications.byOverlap, { outside: 1, partial: 1 });
  const old = await analyzeTrace(trace, { model: { memslots: loadMemslotsFile(file), rules: rulesFromOption('5.10') } });
  assert.equal(old.findings!.notifications.outsideMemslots, 1);
});

test('zap_all_fast: obsolete pages zapped by the memslot thread; other vCPU work or its sched_switch between zaps is a lock break', async () => {
  const r = await analyzeTrace(zapAllFastTrace());
  const lb = r.findings!.lockBreaks;
  assert.equal(lb.list.length, 1);
  const e = lb.list[0]!;
  assert.deepEqual([e.kind, e.zapper, e.usedPages, e.zapped, e.breaksObserved, e.breaksSuspected, e.maxBreaks], ['zap-all-fast', 'kvm-workload-100', 0x19, 25, 2, 0, 2]);
  assert.deepEqual(e.contenders, ['kvm-workload-101']);
  assert.deepEqual(r.findings!.flushes.byOp['zap-all-fast'], { needed: 1, unneeded: 0, avoidable: 0, missing: 0 });
});

test('a root zapped while in use is zapped again when freed: the second zap is not redundant, its flush is unneeded', async () => {
  const r = await analyzeTrace(tinyTrace([
    ev(VCPU, 0, '1.000001', 'kvm_mmu_get_page', 'sp gen 0 gfn 1 l4 8-byte q0 wux nxe ad root 0 sync new'),
    ev(VMM, 1, '1.000002', 'kvm_mmu_prepare_zap_page', 'sp gen 0 gfn 1 l4 8-byte q0 wux nxe ad root 3 sync'),
    ev(VMM, 1, '1.000003', 'kvm_userspace_exit', 'reason KVM_EXIT_IO (2)', '.....'),
    ev(VCPU, 0, '1.000004', 'kvm_mmu_prepare_zap_page', 'sp gen 0 gfn 1 l4 8-byte q0 wux invalid nxe ad root 0 sync'),
  ]));
  assert.deepEqual(r.findings!.shadowPages, { created: 1, zapped: 0, zappedInUse: 1, freedRoots: 1 });
  assert.deepEqual(r.findings!.flushes.byOp['zap-pages'], { needed: 1, unneeded: 1, avoidable: 0, missing: 0 });
});

test('aging: Accessed known set is young and cleared; afterwards unknown; only clear_flush_young flushes, and only on <=6.12', async () => {
  const slots: Memslot[] = [{ slot: 1, as_id: 0, base_gfn: 0x40000, npages: 16, userspace_addr: HVA0 }];
  const trace = (ager: string): string => tinyTrace([
    ev(VCPU, 0, '1.000001', 'kvm_mmu_spte_requested', 'gfn 40000 pfn 15059f level 1'),
    ev(VCPU, 0, '1.000002', 'kvm_mmu_set_spte', 'gfn 40000 spte 15059fe67 (rwxu) level 1 at 1c3522000'),
    ev(ager, 1, '1.000003', 'kvm_age_hva', `mmu notifier age hva: ${hva(0)} -- ${hva(1)}`),
    ev(ager, 1, '1.000004', 'kvm_test_age_hva', `mmu notifier test age hva: ${hva(0)}`),
    ev(ager, 1, '1.000005', 'kvm_age_hva', `mmu notifier age hva: ${hva(0)} -- ${hva(1)}`),
  ]);
  const now = await analyzeTrace(trace('kdamond.0-77'), { model: { memslots: slots } });
  assert.deepEqual([now.findings!.aging.ageCalls, now.findings!.aging.testAgeCalls, now.findings!.aging.young, now.findings!.aging.youngUnknown, now.findings!.aging.flushes], [2, 1, 1, 2, 0]);
  assert.equal(now.findings!.notifications.byTask['kdamond.0']!.outside, 0);
  // DAMON ages through mmu_notifier_clear_young (mm/damon/ops-common.c): no flush on 6.12 either
  const damon612 = await analyzeTrace(trace('kdamond.0-77'), { model: { memslots: slots, rules: rulesFromOption('6.12') } });
  assert.equal(damon612.findings!.aging.flushes, 0);
  // classic reclaim (mm/rmap.c folio_referenced_one → clear_flush_young): one flush for the young SPTE on 6.12
  const reclaim612 = await analyzeTrace(trace('kswapd0-55'), { model: { memslots: slots, rules: rulesFromOption('6.12') } });
  assert.equal(reclaim612.findings!.aging.flushes, 1);
  assert.deepEqual(reclaim612.findings!.flushes.byOp['notifier-age'], { needed: 0, unneeded: 1, avoidable: 0, missing: 0 });
  const reclaim613 = await analyzeTrace(trace('kswapd0-55'), { model: { memslots: slots, rules: rulesFromOption('6.13') } });
  assert.equal(reclaim613.findings!.aging.flushes, 0);
});

test('shadow MMU: overwriting a present writable SPTE read-only needs a flush; re-setting an identical value is a suspected untraced zap', async () => {
  const r = await analyzeTrace(tinyTrace([
    ev(VCPU, 0, '1.000001', 'kvm_mmu_spte_requested', 'gfn 40000 pfn 15059f level 1'),
    ev(VCPU, 0, '1.000002', 'kvm_mmu_set_spte', 'gfn 40000 spte 15059fe67 (rwxu) level 1 at 1c3522000'),
    ev(VCPU, 0, '1.000003', 'kvm_mmu_spte_requested', 'gfn 40000 pfn 15059f level 1'),
    ev(VCPU, 0, '1.000004', 'kvm_mmu_set_spte', 'gfn 40000 spte 15059fa25 (r-xu) level 1 at 1c3522000'),
    ev(VCPU, 0, '1.000005', 'kvm_mmu_spte_requested', 'gfn 40000 pfn 15059f level 1'),
    ev(VCPU, 0, '1.000006', 'kvm_mmu_set_spte', 'gfn 40000 spte 15059fa25 (r-xu) level 1 at 1c3522000'),
  ]));
  const f = r.findings!;
  assert.deepEqual(f.spteChanges, { install: 2, 'write-protect': 1, zap: 1 });
  assert.deepEqual(f.redundantZaps.byEvidence, { observed: 0, inferred: 0, suspected: 1 });
  assert.deepEqual(f.flushes.byOp.fault, { needed: 1, unneeded: 0, avoidable: 0, missing: 0 });
});

test('shadow MMU: a notifier range inside a huge leaf zaps it (mmu.c rmap_walk_init_level starts at the huge page containing the start)', async () => {
  const slots: Memslot[] = [{ slot: 1, as_id: 0, base_gfn: 0x40000, npages: 1024, userspace_addr: HVA0 }];
  // the 2 MiB leaf (PS bit 0x80 set) from dirty-log-guest-huge line 712, then a 2-page unmap in its middle
  const trace = tinyTrace([
    ev(VCPU, 0, '1.000001', 'kvm_mmu_spte_requested', 'gfn 40000 pfn 203600 level 2'),
    ev(VCPU, 0, '1.000002', 'kvm_mmu_set_spte', 'gfn 40000 spte 203600ee7 (rwxu) level 2 at 1c459f000'),
    ev(VMM, 1, '1.000010', 'kvm_unmap_hva_range', `mmu notifier unmap range: ${hva(0x10)} -- ${hva(0x12)}`, '.....'),
  ]);
  const r = await analyzeTrace(trace, { model: { memslots: slots } });
  const f = r.findings!;
  assert.equal(f.redundantZaps.zaps, 1);
  assert.deepEqual(f.flushes.byOp['notifier-unmap'], { needed: 1, unneeded: 0, avoidable: 0, missing: 0 });
  assert.equal(f.notifications.noEffect, 0);
});

/**
 * Two VMs without TGID whose shadow pages have the same keys (as in multi-vm and big, MANIFEST obs. 3):
 * VM A (vCPU kvm-workload-101) has gfn 1 l4, gfn 140 l1 and gfn 141 l1, VM B (kvm-workload-201) gfn 1 l4
 * and gfn 140 l1; each writes one SPTE into its own l1 page (physical pages 1c3522, 2d4633: no merge).
 * Then `nx` (lines from big's kvm-nx-lpage-re-19348) zaps.
 */
function twoVmsThen(nx: string[]): string {
  const A = 'kvm-workload-101', B = 'kvm-workload-201';
  const page = (vcpu: string, ts: string, key: string): string => ev(vcpu, 0, ts, 'kvm_mmu_get_page', `sp gen 0 ${key} 8-byte q0 wux nxe ad root 0 sync new`);
  return tinyTrace([
    page(A, '1.000001', 'gfn 1 l4'), page(A, '1.000002', 'gfn 140 l1'),
    ev(A, 0, '1.000003', 'kvm_mmu_spte_requested', 'gfn 40000 pfn 15059f level 1'),
    ev(A, 0, '1.000004', 'kvm_mmu_set_spte', 'gfn 40000 spte 15059fe67 (rwxu) level 1 at 1c3522000'),
    page(A, '1.000005', 'gfn 141 l1'),
    page(B, '1.000011', 'gfn 1 l4'), page(B, '1.000012', 'gfn 140 l1'),
    ev(B, 1, '1.000013', 'kvm_mmu_spte_requested', 'gfn 40000 pfn 16059f level 1'),
    ev(B, 1, '1.000014', 'kvm_mmu_set_spte', 'gfn 40000 spte 16059fe67 (rwxu) level 1 at 2d4633000'),
    ...nx,
  ]);
}
const NX = 'kvm-nx-lpage-re-300';
const nxZap = (ts: string, key: string, root = 0): string => ev(NX, 0, ts, 'kvm_mmu_prepare_zap_page', `sp gen 0 ${key} 8-byte q0 wux nxe ad root ${root} sync`);

test('no TGID: an NX recovery thread zapping a page two VMs have, or none has, is unattributed, never a VM of its own', async () => {
  for (const [key, why] of [['gfn 140 l1', 'several-vms'], ['gfn 999 l1', 'no-vm']] as const) {
    const r = await analyzeTrace(twoVmsThen([nxZap('1.000100', key)]));
    assert.deepEqual(r.vms.map((v) => [v.id, v.identifiedBy, v.tasks.map((t) => [t.pid, t.attributedBy])]),
      [['task:101', 'own-mmu-work', [[101, 'own-mmu-work']]], ['task:201', 'own-mmu-work', [[201, 'own-mmu-work']]]], key);
    assert.deepEqual(r.unattributed, { id: 'unattributed', tasks: [{ pid: 300, comm: 'kvm-nx-lpage-re', events: 1, kvmEvents: 1, why }], mmuEvents: 1 }, key);
    // the zap is counted (under 'unattributed'), and no VM lost its SPTE for it
    assert.equal(r.findings!.shadowPages.zapped, 1, key);
    assert.equal(r.findings!.redundantZaps.zaps, 0, key);
  }
});

test('no TGID: an NX recovery thread whose zaps, a root among them, take every page of one VM is that VM tearing down', async () => {
  // both VMs have gfn 140 l1 and the root gfn 1 l4: held; with the root zapped, B has no page left
  // and A still has gfn 141 l1 (kvm_mmu_zap_all zaps all of its own VM)
  const r = await analyzeTrace(twoVmsThen([nxZap('1.000100', 'gfn 140 l1'), nxZap('1.000101', 'gfn 1 l4', 1)]));
  assert.deepEqual(r.vms.map((v) => [v.id, v.tasks.map((t) => [t.pid, t.attributedBy])]),
    [['task:101', [[101, 'own-mmu-work']]], ['task:201', [[201, 'own-mmu-work'], [300, 'vm-teardown']]]]);
  assert.equal(r.unattributed, undefined);
  // B's one SPTE goes with its l1 page (inferred); its root stays until freed (zapped in use)
  assert.deepEqual(r.findings!.redundantZaps.zapsByEvidence, { observed: 0, inferred: 1, suspected: 0 });
  assert.deepEqual([r.findings!.shadowPages.zapped, r.findings!.shadowPages.zappedInUse], [1, 1]);
  // a page only A has names A at once
  const a = await analyzeTrace(twoVmsThen([nxZap('1.000100', 'gfn 141 l1')]));
  assert.deepEqual(a.vms.map((v) => v.tasks.map((t) => [t.pid, t.attributedBy])), [[[101, 'own-mmu-work'], [300, 'shadow-pages']], [[201, 'own-mmu-work']]]);
});

test('shadow MMU: a guest page table that becomes shadowed is write-protected (account_shadowed, one flush); a write fault restores it; a sync_page of a page being zapped protects nothing', async () => {
  // how made: the ftrace format of touch.ftrace.txt.gz; gfn 140 is first mapped writable (a guest
  // data page), then the guest uses it as a page table: kvm_mmu_get_page ... new of an indirect page
  const r = await analyzeTrace(tinyTrace([
    ev(VCPU, 0, '1.000001', 'kvm_mmu_spte_requested', 'gfn 140 pfn 1c0fca level 1'),
    ev(VCPU, 0, '1.000002', 'kvm_mmu_set_spte', 'gfn 140 spte 1c0fcae67 (rwxu) level 1 at 1c6beaa00'),
    ev(VCPU, 0, '1.000003', 'kvm_mmu_get_page', 'sp gen 0 gfn 140 l1 8-byte q0 wux nxe ad root 0 sync new'),
    // mmu.c account_shadowed → kvm_mmu_slot_gfn_write_protect: rwxu → r-xu (W and MMU-writable bit 10 cleared)
    ev(VCPU, 0, '1.000004', 'kvm_mmu_spte_requested', 'gfn 141 pfn 1c0fcb level 1'),
    ev(VCPU, 0, '1.000005', 'kvm_mmu_set_spte', 'gfn 141 spte 1c0fcbe67 (rwxu) level 1 at 1c6beaa08'),
    // the guest writes its page table: unsync, and the SPTE writable again
    ev(VCPU, 0, '1.000006', 'kvm_mmu_spte_requested', 'gfn 140 pfn 1c0fca level 1'),
    ev(VCPU, 0, '1.000007', 'kvm_mmu_unsync_page', 'sp gen 0 gfn 140 l1 8-byte q0 wux nxe ad root 0 sync', '...2.'),
    ev(VCPU, 0, '1.000008', 'kvm_mmu_set_spte', 'gfn 140 spte 1c0fcae67 (rwxu) level 1 at 1c6beaa00'),
    // the page is zapped while unsync: __kvm_mmu_prepare_zap_page traces sync_page (kvm_unlink_unsync_page)
    ev(VMM, 1, '1.000009', 'kvm_mmu_prepare_zap_page', 'sp gen 0 gfn 140 l1 8-byte q0 wux nxe ad root 0 unsync'),
    ev(VMM, 1, '1.000010', 'kvm_mmu_sync_page', 'sp gen 0 gfn 140 l1 8-byte q0 wux nxe ad root 0 unsync'),
  ]));
  const f = r.findings!;
  assert.deepEqual(f.writeProtects.byCause['shadowed-page-table'], { protected: 1, restored: 1, passes: 1 });
  assert.equal(f.writeProtects.byCause['sync-children'].protected, 0);
  assert.deepEqual(f.flushes.byOp['account-shadowed'], { needed: 1, unneeded: 0, avoidable: 0, missing: 0 });
  assert.equal(f.redundantZaps.count, 0);
});

test('shadow MMU: a table linked where a huge leaf was splits it (drop_large_spte, a flush); a huge leaf written over a table collapses it (drop_parent_pte, a flush); neither is a zap', async () => {
  // how made: the lines of dirty-log-guest-huge.ftrace.txt.gz 689-712 and 1431-1437 (2 MiB guest
  // page at gfn 40000, split when dirty logging starts), then a huge re-install over the table
  // when dirty logging stops (a hand-made line in the same format: no shared trace shows it)
  const r = await analyzeTrace(tinyTrace([
    ev(VCPU, 0, '1449.838971', 'kvm_mmu_spte_requested', 'gfn 40000 pfn 203600 level 2'),
    ev(VCPU, 0, '1449.838972', 'kvm_mmu_set_spte', 'gfn 40000 spte 203600ee7 (rwxu) level 2 at 1c459f000'),
    ev(VCPU, 0, '1449.928690', 'kvm_mmu_pagetable_walk', 'addr 40000000 pferr 7 P|W|U', '.....'),
    ev(VCPU, 0, '1449.928694', 'kvm_mmu_spte_requested', 'gfn 40000 pfn 203600 level 1'),
    ev(VCPU, 0, '1449.928696', 'kvm_mmu_get_page', 'sp gen 0 gfn 40000 l1 8-byte q0 direct wux nxe ad root 0 sync new'),
    ev(VCPU, 0, '1449.928715', 'kvm_mmu_set_spte', 'gfn 40000 spte 203600e67 (rwxu) level 1 at 15af3e000'),
    ev(VCPU, 0, '1449.928800', 'kvm_mmu_spte_requested', 'gfn 80000 pfn 203800 level 1'),
    ev(VCPU, 0, '1449.928801', 'kvm_mmu_set_spte', 'gfn 80000 spte 203800e67 (rwxu) level 1 at 15af40000'),
    ev(VCPU, 0, '1450.100000', 'kvm_mmu_spte_requested', 'gfn 40000 pfn 203600 level 2'),
    ev(VCPU, 0, '1450.100001', 'kvm_mmu_set_spte', 'gfn 40000 spte 203600ee7 (rwxu) level 2 at 1c459f000'),
  ]));
  const f = r.findings!;
  assert.deepEqual(f.spteChanges, { install: 3, split: 1, collapse: 1 });
  assert.equal(f.redundantZaps.zaps, 0);
  // four faults: two install, the split and the collapse each flush
  assert.deepEqual(f.flushes.byOp.fault, { needed: 2, unneeded: 0, avoidable: 0, missing: 0 });
});

test('TDP VM running a nested guest: its shadow pages (not direct) hold rmap SPTEs the model keeps; their zaps are untraced, the TDP MMU\'s traced', async () => {
  // Made by hand in 6.1's format (NPT SPTE values as in tdp-nested/tdp-mixed): L1's vCPU maps gfn
  // 40000 (L2's RAM) and 1234 (L1's nested page table) through the TDP MMU; L2's first fault
  // shadows that table (kvm_mmu_get_page without `direct`: account_shadowed write-protects gfn 1234,
  // traced as the TDP MMU's change) and sets a shadow SPTE for 40000 in the new page; the VMM
  // unmaps 40000's page (the TDP zap traced, the rmap zap not); both refault unchanged; then the
  // shadow page is zapped (its leaf with it, untraced)
  const nhva = (gfn: number): string => `0x${(HVA0 + (gfn - 0x40000) * 4096).toString(16).padStart(14, '0')}`;
  const slots: Memslot[] = [{ slot: 1, as_id: 0, base_gfn: 0x40000, npages: 16, userspace_addr: HVA0 }];
  const tdpFault = (t: number, gfn: string, pfn: string, old: string, spte: string, at: string): string[] => [
    ev(VCPU, 0, `1.${String(t).padStart(6, '0')}`, 'kvm_mmu_spte_requested', `gfn ${gfn} pfn ${pfn} level 1`),
    ev(VCPU, 0, `1.${String(t + 1).padStart(6, '0')}`, 'kvm_tdp_mmu_spte_changed', `as id 0 gfn ${gfn} level 1 old_spte ${old} new_spte ${spte}`, '...2.'),
    ev(VCPU, 0, `1.${String(t + 2).padStart(6, '0')}`, 'kvm_mmu_set_spte', `gfn ${gfn} spte ${spte} (rwxu) level 1 at ${at}`),
  ];
  const nestedFault = (t: number): string[] => [
    ev(VCPU, 0, `1.${String(t).padStart(6, '0')}`, 'kvm_mmu_spte_requested', 'gfn 40000 pfn 15059f level 1'),
    ev(VCPU, 0, `1.${String(t + 1).padStart(6, '0')}`, 'kvm_mmu_set_spte', 'gfn 40000 spte 15059fe67 (rwxu) level 1 at 2d4633000'),
  ];
  const trace = tinyTrace([
    ...tdpFault(1, '40000', '15059f', '0', '15059fe67', '10b91e000'),
    ...tdpFault(4, '1234', '1a2b3', '0', '1a2b3e67', '10b91f1a0'),
    ev(VCPU, 0, '1.000010', 'kvm_mmu_get_page', 'sp gen 0 gfn 1234 l1 8-byte q0 wux nxe ad root 0 sync new'),
    // spte.c: write-protecting clears W and MMU-writable (bit 10 on NPT)
    ev(VCPU, 0, '1.000011', 'kvm_tdp_mmu_spte_changed', 'as id 0 gfn 1234 level 1 old_spte 1a2b3e67 new_spte 1a2b3a65', '...2.'),
    ...nestedFault(12),
    ev(VMM, 1, '1.000020', 'kvm_unmap_hva_range', `mmu notifier unmap range: ${nhva(0x40000)} -- ${nhva(0x40001)}`, '.....'),
    ev(VMM, 1, '1.000021', 'kvm_tdp_mmu_spte_changed', 'as id 0 gfn 40000 level 1 old_spte 15059fe67 new_spte 0', '...2.'),
    ...tdpFault(30, '40000', '15059f', '0', '15059fe67', '10b91e000'),
    ...nestedFault(33),
    ev(VCPU, 0, '1.000040', 'kvm_mmu_prepare_zap_page', 'sp gen 0 gfn 1234 l1 8-byte q0 wux nxe ad root 0 sync'),
  ]);
  const f = (await analyzeTrace(trace, { model: { memslots: slots } })).findings!;
  // the TDP zap (observed) and the rmap zap (inferred) came back unchanged; the shadow page's zap
  // drops its leaf, which nothing refaults (before: the nested SPTE was dropped: 1 zap in all)
  assert.deepEqual(f.redundantZaps.byOutcome, { identical: 2, upgrade: 0, downgrade: 0, needed: 0, unresolved: 1 });
  assert.deepEqual(f.redundantZaps.byEvidence, { observed: 1, inferred: 1, suspected: 0 });
  // account_shadowed flushes after the TDP write-protect (needed: W cleared); the notifier flushes
  // for its two zaps (avoidable: both came back unchanged); the page zap commits with a flush
  assert.deepEqual(f.flushes.byOp, {
    'account-shadowed': { needed: 1, unneeded: 0, avoidable: 0, missing: 0 },
    'notifier-unmap': { needed: 0, unneeded: 0, avoidable: 1, missing: 0 },
    'zap-pages': { needed: 1, unneeded: 0, avoidable: 0, missing: 0 },
  });
  assert.equal(f.notifications.byTask['kvm-workload']!.sptesZapped, 2);
});

/**
 * A TDP walk by `walker` over the 4K table of gfn 40200-4020b (made by hand in 6.12's format, EPT
 * values as fixtures/tdp/tdp-collapse.v6.12; 6.13-6.18 print the same): a vCPU maps the 12 pages
 * (pfn 123600-12360b), then the walk changes their level-2 entry to `parentNew` and freezes the
 * table's 12 present children; halfway a vCPU fault on gfn 50000 runs beside it.
 */
function tableWalkTrace(walker: string, parentNew: string): string {
  const at = (n: number): string => `1.${String(n).padStart(6, '0')}`;
  const hex = (n: number): string => n.toString(16);
  const lines: string[] = [];
  const fault = (n: number, gfn: number, pfn: number): void => {
    lines.push(ev(VCPU, 0, at(n), 'kvm_mmu_spte_requested', `gfn ${hex(gfn)} pfn ${hex(pfn)} level 1`));
    lines.push(ev(VCPU, 0, at(n + 1), 'kvm_tdp_mmu_spte_changed', `as id 0 gfn ${hex(gfn)} level 1 old_spte 8000000000000000 new_spte 8600000${hex(pfn)}b77`));
    lines.push(ev(VCPU, 0, at(n + 2), 'kvm_mmu_set_spte', `gfn ${hex(gfn)} spte 8600000${hex(pfn)}b77 (rwxu) level 1 at ${hex(0x1b2c41000 + (gfn - 0x40200) * 8)}`));
  };
  for (let k = 0; k < 12; k++) fault(10 + k * 3, 0x40200 + k, 0x123600 + k);
  const freeze = (n: number, k: number): string => ev(walker, 1, at(n), 'kvm_tdp_mmu_spte_changed', `as id 0 gfn ${hex(0x40200 + k)} level 1 old_spte 8600000${hex(0x123600 + k)}b77 new_spte 80000000000005a0`);
  lines.push(ev(walker, 1, at(100), 'kvm_tdp_mmu_spte_changed', `as id 0 gfn 40200 level 2 old_spte 80000001b2c41907 new_spte ${parentNew}`));
  lines.push(ev(walker, 1, at(101), 'kvm_mmu_prepare_zap_page', 'sp gen 0 gfn 40200 l1 8-byte q0 direct wux nxe ad root 0 sync'));
  for (let k = 0; k < 6; k++) lines.push(freeze(102 + k, k));
  fault(110, 0x50000, 0x155000);
  for (let k = 6; k < 12; k++) lines.push(freeze(114 + k, k));
  return tinyTrace(lines);
}

/** The walk's episode (the first starts at line 37 of tableWalkTrace): zapped, observed breaks. */
async function walkBreaks(trace: string, kernel: string): Promise<[number | undefined, number | undefined, Record<string, Record<string, number>>]> {
  const f = (await analyzeTrace(trace, { model: { rules: rulesFromOption(kernel) } })).findings!;
  const e = f.lockBreaks.list.find((x) => x.line > 36);
  return [e?.zapped, e?.breaksObserved, f.flushes.byOp];
}

test('TDP MMU, 6.13+: the VMM replacing 4K tables by huge leaves (dirty logging off) holds mmu_lock for read: a vCPU fault beside it is no lock break; one flush', async () => {
  // recover_huge_pages_range: the 2M leaf maps pfn 123600 in place of the table
  const [zapped, breaks, byOp] = await walkBreaks(tableWalkTrace(VMM, '8600000123600bf7'), '6.13');
  // one flush at the end (kvm_flush_remote_tlbs_memslot), needed: the 4K translations changed level
  assert.deepEqual(byOp['recover-huge-pages'], { needed: 1, unneeded: 0, avoidable: 0, missing: 0 });
  // the episode: its 12 frozen children and the table's prepare_zap; the vCPU's fault ran beside
  // it, not in a break (a write-lock walk would show 1 observed break there)
  assert.deepEqual([zapped, breaks], [13, 0]);
});

test('TDP MMU NX recovery: a vCPU fault between its zaps ends the pass up to 6.17 (write lock), and runs beside it from 6.18 (read lock)', async () => {
  const trace = tableWalkTrace('kvm-nx-lpage-re-102', '80000000000005a0');
  // up to 6.17 the fault shows the lock was let go (nx-recovery.ts): the pass as the trace shows it
  // ends there (the prepare_zap and 6 children: too few for a long episode) and 6 children follow; one flush each
  const [zapped617, , byOp617] = await walkBreaks(trace, '6.17');
  assert.equal(zapped617, undefined);
  assert.deepEqual(byOp617['nx-recovery'], { needed: 2, unneeded: 0, avoidable: 0, missing: 0 });
  const [zapped618, breaks618, byOp618] = await walkBreaks(trace, '6.18');
  assert.deepEqual([zapped618, breaks618], [13, 0]);
  assert.deepEqual(byOp618['nx-recovery'], { needed: 1, unneeded: 0, avoidable: 0, missing: 0 });
});
