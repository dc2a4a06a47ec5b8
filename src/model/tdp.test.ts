// TDP MMU rules on the hand-made traces of fixtures/tdp/ (no real TDP trace exists on this host;
// fixtures/tdp/README.md says how each was made and derives the expected numbers from the
// reference's rules, independently of the model).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeTrace } from '../pipeline/analyze.js';
import { fixture } from '../testing/fixtures.js';
import { loadMemslotsFile } from './memslots.js';
import type { FindingsData } from '../analyses/findings.js';
import { columnIndex } from '../analyses/findings-table.js';
import { LOCK_BREAK_COLUMNS } from '../analyses/lock-breaks.js';
import { SPTE_CHANGE_COLUMNS } from '../analyses/spte-changes.js';
import { ZAP_COLUMNS } from '../analyses/zaps.js';

const memslots = loadMemslotsFile(fixture('tdp/memslots.json'));

/** [file, SPTE changes by kind, flushes needed/unneeded/missing] from fixtures/tdp/README.md. */
const EXPECTED: [string, Record<string, number>, [number, number, number]][] = [
  ['tdp-install.v6.12', { install: 5, link: 4 }, [0, 0, 0]],
  ['tdp-zap.v6.1', { install: 5, unlink: 1, zap: 9 }, [2, 0, 0]],
  ['tdp-zap.v6.12', { install: 5, unlink: 1, zap: 9 }, [2, 0, 0]],
  ['tdp-age.v7.2', { 'accessed-clear': 4, install: 1 }, [0, 0, 0]],
  ['tdp-wrprot.v6.12', { install: 1, 'write-protect': 5 }, [1, 0, 0]],
  ['tdp-clear-dirty.v6.12', { 'dirty-clear': 4, install: 2 }, [1, 0, 0]],
  ['tdp-clear-dirty.v7.2', { 'dirty-clear': 4, install: 2 }, [1, 0, 0]],
  // the 2024 make_spte bug: a fault path clears D on <=6.12 and does not flush
  ['tdp-dirty-race.v6.12', { 'dirty-clear': 1, install: 1 }, [0, 0, 1]],
  // the collapse's removed table is part of the fault, in either event order
  ['tdp-collapse.v6.12', { collapse: 1, freeze: 512, zap: 4 }, [2, 0, 0]],
  ['tdp-collapse.v7.2', { collapse: 1, freeze: 512, zap: 4 }, [2, 0, 0]],
  // root teardown never flushes, whether the root entry comes first (<=6.12) or last (7.x)
  ['tdp-root-zap.v6.1', { unlink: 4, zap: 4 }, [0, 0, 0]],
  ['tdp-root-zap.v7.2', { unlink: 4, zap: 4 }, [0, 0, 0]],
  // the notifier's leaf zap walk flushes before each of its 2 observed breaks, then once at its end
  // (tdp_mmu.c tdp_mmu_zap_leafs → tdp_mmu_iter_cond_resched(flush)); the suspected break is a gap only
  ['tdp-zap-walk.v6.12', { install: 1, zap: 64 }, [3, 0, 0]],
  // fast_page_fault fixes are upgrades and never flush; the CoW fallback's zap does
  ['tdp-fast-pf.v6.12', { install: 4, 'write-protect': 2, upgrade: 2, zap: 1 }, [2, 0, 0]],
  // an eager split is no zap and no flush; the dirty-log write-protect after it is
  ['tdp-split.v6.12', { install: 2, split: 1, 'write-protect': 2, upgrade: 1 }, [1, 0, 0]],
  ['tdp-mmio.v6.12', { install: 1, link: 1, mmio: 2 }, [0, 0, 0]],
  // the shadow MMU's dirty-log write-protect is untraced: inferred from the fast faults' old values
  ['legacy-fast-pf.v6.12', { install: 2, 'write-protect': 2, upgrade: 2 }, [0, 0, 0]],
  ['legacy-split.v6.12', { install: 3, split: 1, 'write-protect': 1, upgrade: 1, zap: 513 }, [2, 0, 0]],
];

for (const [name, kinds, flushes] of EXPECTED) {
  test(`TDP ${name}: SPTE changes by kind and flushes`, async () => {
    const r = await analyzeTrace(fixture(`tdp/${name}.ftrace.txt`), { model: { memslots } });
    const f = r.findings!;
    assert.equal(r.model!.spteFlavour, 'ept');
    assert.deepEqual(f.spteChanges, kinds);
    assert.deepEqual([f.flushes.needed + f.flushes.avoidable, f.flushes.unneeded, f.flushes.missing], flushes);
  });
}

test('TDP zap: notifier zaps refault identical x2, upgrade, downgrade, needed; table removal leaves 4 unresolved', async () => {
  for (const v of ['v6.1', 'v6.12']) {
    const r = await analyzeTrace(fixture(`tdp/tdp-zap.${v}.ftrace.txt`), { model: { memslots } });
    assert.deepEqual(r.findings!.redundantZaps.byOutcome, { identical: 2, upgrade: 1, downgrade: 1, needed: 1, unresolved: 4 });
    // the frozen value names the SPTE layout; 6.1's pins the rules, bit63|0x5a0 is printed by 6.10
    // through 6.18, across the 6.13 rule change: the newest rules stay assumed, and the report says so
    const { set, spteGen, source, why } = r.model!.rules;
    if (v === 'v6.1') assert.deepEqual([set, spteGen, source], ['5.13-6.12', '6.1-6.9', 'trace']);
    else {
      assert.deepEqual([set, spteGen, source], ['>=6.18', '6.10-6.18', 'default']);
      assert.match(why, /6\.12 and 6\.13\+ share: >=6\.18 rules assumed; pass --kernel/);
    }
  }
});

test('TDP root zap: <=6.12 and 7.x event orders give the same zaps and flushes', async () => {
  const a = await analyzeTrace(fixture('tdp/tdp-root-zap.v6.1.ftrace.txt'), { model: { memslots } });
  const b = await analyzeTrace(fixture('tdp/tdp-root-zap.v7.2.ftrace.txt'), { model: { memslots } });
  assert.deepEqual(a.findings!.redundantZaps.byOutcome, b.findings!.redundantZaps.byOutcome);
  assert.equal(a.findings!.flushes.needed, b.findings!.flushes.needed);
  // the 7.x post-order shows the root entry last: the 4 leaf zaps written before it take the cause
  // the walk ended with (it was 'tdp-other' by event order)
  for (const r of [a, b]) assert.deepEqual(Object.keys(r.findings!.redundantZaps.byCause), ['zap-root']);
});

test('TDP collapse: 4K leaves zapped for a THP come back inside the 2M leaf with new pfns (needed)', async () => {
  for (const v of ['v6.12', 'v7.2']) {
    const r = await analyzeTrace(fixture(`tdp/tdp-collapse.${v}.ftrace.txt`), { model: { memslots } });
    assert.deepEqual(r.findings!.redundantZaps.byOutcome, { identical: 0, upgrade: 0, downgrade: 0, needed: 4, unresolved: 0 });
  }
});

test('TDP zap walk: one episode of 64 zaps, breaks observed after 20 (vCPU fault) and 40 (switched out), suspected after 50; the lockless fast fault after 30 is none', async () => {
  let f: FindingsData | undefined;
  const r = await analyzeTrace(fixture('tdp/tdp-zap-walk.v6.12.ftrace.txt'), { model: { memslots }, onFindings: (x) => void (f = x) });
  const [e, ...rest] = r.findings!.lockBreaks.list;
  assert.equal(rest.length, 0);
  assert.deepEqual([e!.kind, e!.zapper, e!.zapped, e!.breaksObserved, e!.breaksSuspected, e!.maxBreaks, e!.contenders],
    ['tdp-zap', 'qemu-system-x86-4240', 64, 2, 1, null, ['CPU 1/KVM-4243']]);
  const t = f!.lockBreaks.table;
  const c = columnIndex(LOCK_BREAK_COLUMNS);
  const rows = Array.from({ length: t.length }, (_, i) => [t.getNum(c.after_zap, i), t.getStr(c.reason, i)]);
  assert.deepEqual(rows, [[20, 'other-task-mmu-work'], [40, 'zapper-switched-out'], [50, 'gap']]);
});

type Row = (string | number | null)[];
/** spte_changes rows other than installs: [kind, op, evidence, gfn, level, sptep]. */
function changeRows(f: FindingsData): Row[] {
  const t = f.spte.changes;
  const c = columnIndex(SPTE_CHANGE_COLUMNS);
  return Array.from({ length: t.length }, (_, r) => [t.getStr(c.kind, r), t.getStr(c.op, r), t.getStr(c.evidence, r),
    t.getNum(c.gfn, r).toString(16), t.getNum(c.level, r), Number.isNaN(t.getNum(c.sptep, r)) ? null : t.getNum(c.sptep, r).toString(16)]);
}

async function run(name: string): Promise<FindingsData> {
  let f: FindingsData | undefined;
  await analyzeTrace(fixture(`tdp/${name}.ftrace.txt`), { model: { memslots }, onFindings: (x) => void (f = x) });
  return f!;
}

test('fast_page_fault on the TDP MMU: 2 fixed (W set back), 1 spurious, 1 handed to the slow path; placed by gfn and old value', async () => {
  const f = await run('tdp-fast-pf.v6.12');
  const { byTask: _, ...counts } = f.fastFaults;
  assert.deepEqual(counts, { fixed: 2, spurious: 1, fallback: 1, unplaced: 0, afterUntracedChange: 0 });
  assert.deepEqual(changeRows(f).filter((r) => r[1] === 'fast-fault'), [
    ['upgrade', 'fast-fault', 'observed', '40000', 1, null],
    ['upgrade', 'fast-fault', 'observed', '40001', 1, null],
  ]);
  assert.deepEqual(f.zaps.byOutcome, { identical: 0, upgrade: 0, downgrade: 0, needed: 1, unresolved: 0 });
});

test('fast_page_fault on the shadow MMU: the untraced dirty-log write-protects are inferred from the old values', async () => {
  const f = await run('legacy-fast-pf.v6.12');
  const { byTask: _, ...counts } = f.fastFaults;
  assert.deepEqual(counts, { fixed: 2, spurious: 1, fallback: 0, unplaced: 1, afterUntracedChange: 2 });
  // the hashed sptep says nothing: the model's own leaves give the SPTE addresses
  assert.deepEqual(changeRows(f), [
    ['write-protect', 'sync', 'inferred', '40000', 1, '1b2c40000'],
    ['upgrade', 'fast-fault', 'observed', '40000', 1, '1b2c40000'],
    ['write-protect', 'sync', 'inferred', '40001', 1, '1b2c40008'],
    ['upgrade', 'fast-fault', 'observed', '40001', 1, '1b2c40008'],
  ]);
});

test('eager split on the TDP MMU: 512 children inferred with the kernel values (a later fault finds them unchanged); a failed split changes nothing', async () => {
  const f = await run('tdp-split.v6.12');
  assert.deepEqual(f.spte.hugeSplits, { split: 1, failed: 1, childrenInferred: 512 });
  const { byTask: _, ...counts } = f.fastFaults;
  assert.deepEqual(counts, { fixed: 1, spurious: 1, fallback: 0, unplaced: 0, afterUntracedChange: 0 });
  assert.equal(f.zaps.count, 0);
});

test('eager split on the shadow MMU: the split table is placed by the first SPTE set in it, and its zap drops all 512 leaves', async () => {
  const f = await run('legacy-split.v6.12');
  assert.deepEqual(f.spte.hugeSplits, { split: 1, failed: 1, childrenInferred: 512 });
  const { byTask: _, ...counts } = f.fastFaults;
  assert.deepEqual(counts, { fixed: 1, spurious: 0, fallback: 0, unplaced: 0, afterUntracedChange: 1 });
  // the NUMA-style protection change zapped 40403 for nothing: same pfn and permissions came back
  assert.deepEqual(f.zaps.byCause, {
    'notifier-unmap': { identical: 1, upgrade: 0, downgrade: 0, needed: 0, unresolved: 0 },
    'zap-pages': { identical: 0, upgrade: 0, downgrade: 0, needed: 0, unresolved: 512 },
  });
  assert.deepEqual([f.flushes.needed, f.flushes.avoidable], [1, 1]);
  const t = f.zaps.table;
  const c = columnIndex(ZAP_COLUMNS);
  const slots = new Set<number>();
  for (let r = 0; r < t.length; r++) {
    if (t.getStr(c.cause, r) !== 'zap-pages') continue;
    const sptep = t.getNum(c.sptep, r);
    assert.equal(Math.floor(sptep / 4096), 0x1b2c44, `zap row ${r}: sptep ${sptep.toString(16)}`);
    slots.add(sptep % 4096);
  }
  assert.equal(slots.size, 512);
});

test('MMIO SPTEs: 2 created on one gfn, 3 accesses emulated from them, 1 found with an obsolete generation', async () => {
  const f = await run('tdp-mmio.v6.12');
  assert.deepEqual(f.mmio, { marked: 2, emulated: 3, staleGeneration: 1, gfns: 1 });
});
