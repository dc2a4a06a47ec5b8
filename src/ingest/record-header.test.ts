// A real `mmu-trace record` output (fixtures/recorded/README.md): its header and trailer are read,
// the replay takes the recorded kernel's rules, and the trailer's ring-buffer losses are reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, readCounts } from '../testing/fixtures.js';
import { analyzeTrace } from '../pipeline/analyze.js';
import { rulesFromOption } from '../model/kernel-version.js';
import { renderText } from '../report/text.js';

const RECORDED = fixture('recorded/touch.record.txt.gz');

test('recorded trace: header and trailer read, events as counted, the rules of the recorded kernel from the first event', async () => {
  const r = await analyzeTrace(RECORDED);
  assert.deepEqual(r.events.byName, readCounts(fixture('recorded/touch.record.txt.counts')));
  assert.equal(r.input.skippedLines, 0);
  // 9 header lines + 2 trailer lines (zcat | grep -c '^# mmu-trace: ')
  assert.equal(r.input.headerLines, 11);
  const h = r.input.recorded!;
  assert.equal(h.kernel, '6.18.44-fc-v1147');
  assert.equal(h.modules.kvm?.tdp_mmu, 'N');
  assert.equal(h.modules.kvm_pvm?.pvm_native, 'Y');
  assert.deepEqual(h.missingEvents, ['kvm:kvm_set_spte_hva']);
  assert.ok(h.events.includes('kvmmmu') && h.events.includes('sched:sched_switch'));
  assert.deepEqual(h.flushFunctions, []);
  assert.equal(h.stopped, 'command exited with status 0');
  assert.equal(h.lost, 0);
  assert.deepEqual([r.model!.rules.set, r.model!.rules.source], ['>=6.18', 'recording']);
  assert.match(renderText(r, { color: false }), /^recorded +by mmu-trace record on 6\.18\.44-fc-v1147, tdp_mmu=N;/m);
  // --kernel still wins
  const given = await analyzeTrace(RECORDED, { model: { rules: rulesFromOption('6.1') } });
  assert.deepEqual([given.model!.rules.set, given.model!.rules.source], ['5.13-6.12', 'option']);
});

test('recorded trace: the trailer\'s overrun/dropped counts are lost events; a missing trailer is said', async () => {
  // variants of the real recording, made here: the trailer's counts changed, or the trailer cut
  const text = gunzipSync(readFileSync(RECORDED)).toString('utf8');
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-recorded-'));
  try {
    const lossy = join(dir, 'lossy.txt');
    writeFileSync(lossy, text.replace(/^# mmu-trace: lost: .*$/m, '# mmu-trace: lost: cpu0 overrun=5 dropped=2, cpu1 overrun=0 dropped=1'));
    assert.equal((await analyzeTrace(lossy)).input.lostEvents, 8);
    const cut = join(dir, 'cut.txt');
    writeFileSync(cut, text.replace(/^# mmu-trace: (stopped|lost): .*\n/gm, ''));
    const r = await analyzeTrace(cut);
    assert.equal(r.input.recorded!.stopped, null);
    assert.match(renderText(r, { color: false }), /stopped: no trailer: the recording did not\s+finish/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
