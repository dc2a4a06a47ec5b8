// What-if policies on traces whose savings can be derived by hand (issue 4 acceptance).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyzeTrace } from '../pipeline/analyze.js';
import { fixture, SHARED_TRACES, haveSharedTraces } from '../testing/fixtures.js';
import { memslotsFromTruth } from '../testing/truth.js';
import { zapAllFastTrace } from '../testing/tiny-trace.js';
import { loadMemslotsFile } from '../model/memslots.js';
import { rulesFromOption } from '../model/kernel-version.js';
import { breaksWithBatch, parseWhatIf } from './what-if.js';

const skip = haveSharedTraces ? false : `no corpus at ${SHARED_TRACES}`;
const shared = (rel: string): string => join(SHARED_TRACES, rel);

test('skip-unchanged on mprotect-roundtrip: the identical refaults of rounds 0 and 2 vanish, with their two invalidations\' flushes', async () => {
  // truth lines: round0 (ro_rw_then_touch) and round2 (double_roundtrip) each re-touch 2048 pages
  // with the same pfn and permissions after one zapping mprotect; round1's refaults change
  // permissions (downgrade, then upgrade), so its zaps stay
  const r = await analyzeTrace(fixture('mprotect-roundtrip.ftrace.txt.gz'), { whatIf: parseWhatIf('skip-unchanged') });
  assert.deepEqual(r.whatIf!.map((w) => [w.policy, w.figures]), [
    ['skip-unchanged', { zapsAvoided: 4096, refaultsAvoided: 4096, flushesAvoided: 2 }],
  ]);
});

test('skip-unchanged on dontneed: every refault has a new pfn, nothing to skip', { skip }, async () => {
  const r = await analyzeTrace(shared('dontneed/dontneed.ftrace.txt.gz'), { whatIf: parseWhatIf('skip-unchanged') });
  assert.deepEqual(r.whatIf![0]!.figures, { zapsAvoided: 0, refaultsAvoided: 0, flushesAvoided: 0 });
});

test('no-age-flush: the one aging call that cleared young SPTEs flushed on <=6.12; 7.x rules save nothing', async () => {
  const memslots = loadMemslotsFile(fixture('tdp/memslots.json'));
  const trace = fixture('tdp/tdp-age.v7.2.ftrace.txt');
  const old = await analyzeTrace(trace, { model: { memslots, rules: rulesFromOption('6.12') }, whatIf: parseWhatIf('no-age-flush') });
  assert.deepEqual(old.whatIf![0]!.figures, { flushesAvoided: 1 });
  const now = await analyzeTrace(trace, { model: { memslots }, whatIf: parseWhatIf('no-age-flush') });
  assert.deepEqual(now.whatIf![0]!.figures, { flushesAvoided: 0 });
});

test('memslot-elision on outside-memslot: the 14 notifications outside every memslot take the lock only before 5.13', { skip }, async () => {
  const memslots = memslotsFromTruth(shared('outside-memslot/outside-memslot.stdout'));
  const trace = shared('outside-memslot/outside-memslot.ftrace.txt.gz');
  // 7 outside_op notifications (ops 2-6, 8, 10), 3 before the scenario, 4 at thread exit
  const old = await analyzeTrace(trace, { model: { memslots, rules: rulesFromOption('5.10') }, whatIf: parseWhatIf('memslot-elision') });
  assert.deepEqual(old.whatIf![0]!.figures, { lockAcquisitionsAvoided: 14, notificationsOutside: 14 });
  const now = await analyzeTrace(trace, { model: { memslots }, whatIf: parseWhatIf('memslot-elision') });
  assert.deepEqual(now.whatIf![0]!.figures, { lockAcquisitionsAvoided: 0, notificationsOutside: 14 });
});

test('batch=N: waiters at zaps 10 and 20 of 25 give 2 breaks with 5 or 10, 1 with 20, none with 30', async () => {
  assert.deepEqual([5, 10, 20, 30].map((n) => breaksWithBatch([10, 20], 25, n)), [2, 2, 1, 0]);
  const r = await analyzeTrace(zapAllFastTrace(), { whatIf: parseWhatIf('batch=20') });
  const w = r.whatIf![0]!;
  assert.deepEqual(w.figures, { episodes: 1, breaksObserved: 2, breaksAt10: 2, breaksAtN: 1 });
  assert.equal(w.evidence, 'suspected');
});

test('--what-if accepts the four policies and rejects anything else with the accepted forms', () => {
  assert.deepEqual(parseWhatIf('skip-unchanged, batch=4'), [{ name: 'skip-unchanged' }, { name: 'batch', n: 4 }]);
  assert.throws(() => parseWhatIf('batch=0'), /expected skip-unchanged, no-age-flush, memslot-elision or batch=N/);
  assert.throws(() => parseWhatIf('skip'), /--what-if skip/);
});
