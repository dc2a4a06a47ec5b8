// compare on two real traces: the deltas a hand count confirms (the *.counts files of
// count_events.py and the truth-checked redundant-zap numbers), normalisation, --fail-on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyzeTrace } from '../pipeline/analyze.js';
import { fixture, readCounts, SHARED_TRACES, haveSharedTraces } from '../testing/fixtures.js';
import { compareDocument, compareReports, evaluateFailOn } from './compare.js';
import { layoutMarkdown, MD_WIDTH } from './markdown.js';

const skip = haveSharedTraces ? false : `no corpus at ${SHARED_TRACES}`;

test('compare mprotect-roundtrip -> dontneed: events, faults, notifications and redundant zaps as counted by hand', { skip }, async () => {
  const before = await analyzeTrace(fixture('mprotect-roundtrip.ftrace.txt.gz'));
  const afterPath = join(SHARED_TRACES, 'dontneed/dontneed.ftrace.txt.gz');
  const after = await analyzeTrace(afterPath);
  const c = compareReports(before, after);
  const fig = (k: string): [number, number, number] => {
    const f = c.figures.find((x) => x.key === k)!;
    return [f.before, f.after, f.change];
  };
  // count_events.py: mprotect 125662 events, 11014 spte_requested, 4111 unmaps;
  // dontneed 361711, 23556, 11786 (fixtures/*.counts, dontneed.ftrace.txt.counts)
  const b = readCounts(fixture('mprotect-roundtrip.ftrace.txt.counts'));
  const a = readCounts(`${afterPath.replace(/\.gz$/, '')}.counts`);
  assert.deepEqual([b.kvm_mmu_spte_requested, a.kvm_mmu_spte_requested, b.kvm_unmap_hva_range, a.kvm_unmap_hva_range], [11014, 23556, 4111, 11786]);
  assert.deepEqual(fig('input.events'), [125662, 361711, 236049]);
  assert.deepEqual(fig('faults'), [11014, 23556, 12542]);
  assert.deepEqual(fig('notifications.total'), [4111, 11786, 7675]);
  // truth-checked in analyses/findings.test.ts: 8192 redundant (rounds 0-2), dontneed none
  assert.deepEqual(fig('redundantZaps.count'), [8192, 0, -8192]);
  const red = c.figures.find((x) => x.key === 'redundantZaps.count')!;
  assert.equal(red.relative, -1);
  assert.equal(red.perFault.before, 8192 / 11014);
  assert.equal(red.perFault.after, 0);
  // spans from the traces' first and last timestamps
  assert.equal(c.before.seconds!.toFixed(6), '0.117515');
  const md = layoutMarkdown(compareDocument(c));
  assert.deepEqual(md.split('\n').filter((l) => l.length > MD_WIDTH), []);
});

test('--fail-on: after value, delta and relative change; unknown figures and bad syntax are usage errors', async () => {
  const r = await analyzeTrace(fixture('mprotect-roundtrip.ftrace.txt.gz'));
  const c = compareReports(r, r);
  assert.deepEqual(evaluateFailOn(c, 'redundantZaps.count>0, delta.redundantZaps.count!=0, relative.flushes.inferred>=0.1'), [
    { expr: 'redundantZaps.count>0', value: 8192, failed: true },
    { expr: 'delta.redundantZaps.count!=0', value: 0, failed: false },
    { expr: 'relative.flushes.inferred>=0.1', value: 0, failed: false },
  ]);
  assert.throws(() => evaluateFailOn(c, 'zaps>0'), /unknown figure zaps; figures: input.events, faults/);
  assert.throws(() => evaluateFailOn(c, 'redundantZaps.count'), /expected \[delta\.\|relative\.\]KEY OP NUMBER/);
});
