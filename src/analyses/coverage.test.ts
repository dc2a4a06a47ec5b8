// What a trace can support, on real captures and on cuts of them that lack an event family
// (the event counts behind each expectation: the fixtures' .counts files).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture } from '../testing/fixtures.js';
import { analyzeTrace } from '../pipeline/analyze.js';
import { renderText } from '../report/text.js';

const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-coverage-'));
const lines = (name: string): string[] => gunzipSync(readFileSync(fixture(name))).toString('utf8').split('\n');

async function statuses(path: string): Promise<Record<string, string>> {
  return Object.fromEntries((await analyzeTrace(path)).coverage.map((c) => [c.family, c.status]));
}

test('coverage of real captures: mprotect-roundtrip (kvmmmu + unmaps, no function tracer, no sched_switch), tdp-aging-memcg (all but sched_switch)', async () => {
  assert.deepEqual(await statuses(fixture('mprotect-roundtrip.ftrace.txt.gz')), {
    'zaps and refaults': 'supported', 'zap causes': 'supported', flushes: 'partial', 'lock breaks': 'partial', notifications: 'supported', aging: 'none',
  });
  assert.deepEqual(await statuses(fixture('tdp-nested/tdp-aging-memcg.ftrace.txt.gz')), {
    'zaps and refaults': 'supported', 'zap causes': 'supported', flushes: 'supported', 'lock breaks': 'partial', notifications: 'supported', aging: 'supported',
  });
});

test('a trace without kvm_unmap_hva_range (only kvmmmu:* enabled): zap causes partial, and the zaps section says its suspected counts rest on that', async () => {
  const path = join(dir, 'no-unmap.txt');
  writeFileSync(path, lines('mprotect-roundtrip.ftrace.txt.gz').filter((l) => !l.includes('kvm_unmap_hva_range:')).join('\n'));
  const r = await analyzeTrace(path);
  const causes = r.coverage.find((c) => c.family === 'zap causes')!;
  assert.deepEqual([causes.status, causes.missing], ['partial', ['kvm:kvm_unmap_hva_range']]);
  assert.ok(r.findings!.redundantZaps.byEvidence.suspected > 0);
  const text = renderText(r, { color: false });
  assert.match(text, /^coverage +.*zap causes partly \(no kvm:kvm_unmap_hva_range\)/m);
  assert.match(text, /redundant of \d+ zaps.*\n {2}caution: no notifier events: zaps a notifier caused show without their cause/);
});

test('a trace with no KVM MMU event: every family unsupported, the findings withheld (was "0 redundant of 0 zaps")', async () => {
  const path = join(dir, 'no-kvm.txt');
  writeFileSync(path, readFileSync(fixture('cuts/touch.ftrace.txt'), 'utf8').split('\n').filter((l) => !/kvmmmu|kvm_/.test(l)).join('\n'));
  const r = await analyzeTrace(path);
  assert.ok(r.input.events > 0);
  assert.deepEqual(Object.values(await statuses(path)), ['none', 'none', 'none', 'none', 'none', 'none']);
  const text = renderText(r, { color: false });
  assert.match(text, /\nfindings\n {2}none: the trace holds no SPTE install or zap of KVM/);
  assert.doesNotMatch(text, /redundant of 0 zaps/);
});
