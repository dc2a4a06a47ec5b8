// NX huge page recovery passes on a real 6.1 TDP capture (fixtures/tdp-nested/tdp-nx-recovery:
// nx-guest.c with kvm.nx_huge_pages=Y, recovery ratio 1, period 200 ms; README there), and on
// traces cut from it where one sign of a pass end is left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { analyzeTrace } from '../pipeline/analyze.js';
import { fixture, readCounts } from '../testing/fixtures.js';
import type { FindingsData } from '../analyses/findings.js';
import { rulesFromOption } from './kernel-version.js';

const PATH = fixture('tdp-nested/tdp-nx-recovery.ftrace.txt.gz');
const LINES = gunzipSync(readFileSync(PATH)).toString('utf8').split('\n');

async function findingsOf(text: string, kernel?: string): Promise<FindingsData> {
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-nx-'));
  try {
    const file = join(dir, 'trace.txt');
    writeFileSync(file, text);
    let f: FindingsData | undefined;
    await analyzeTrace(file, { model: kernel ? { rules: rulesFromOption(kernel) } : {}, onFindings: (x) => void (f = x) });
    return f!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Ops of `kind` in the flushes table (one row per op), and their inferred flushes. */
function passes(f: FindingsData, kind = 'nx-recovery'): { ops: number; flushes: number } {
  const t = f.flushes.table;
  let ops = 0, flushes = 0;
  for (let r = 0; r < t.length; r++) {
    if (t.getStr(t.col('op'), r) !== kind) continue;
    ops++;
    flushes += t.getNum(t.col('extra_flushes'), r) + (t.getStr(t.col('verdict'), r) !== 'missing' ? 1 : 0);
  }
  return { ops, flushes };
}

test('tdp-nx-recovery (real TDP MMU, 6.1): 15 recovery passes, each one table and 3 leaves zapped, refaulted identically, one flush each', async () => {
  let f: FindingsData | undefined;
  const r = await analyzeTrace(PATH, { onFindings: (x) => void (f = x) });
  // count_events.py files the 15 function-tracer lines under "(non-event lines)"
  assert.deepEqual(r.events.byName, { ...readCounts(PATH.replace(/\.gz$/, '.counts')), function: 15 });
  assert.equal(r.model!.rules.set, '5.13-6.12');
  // zcat | grep kvm-nx-lpage-re | grep -c 'spte_changed.*level 2' = 15 tables, '... level 1' = 45 leaves;
  // awk: every leaf the thread zapped is installed again by nx-guest with the same value (45 of 45):
  // the guest still executes from the page, so the huge page stays disallowed (README there)
  assert.deepEqual(r.findings!.redundantZaps.byCause['nx-recovery'], { identical: 45, upgrade: 0, downgrade: 0, needed: 0, unresolved: 0 });
  // grep -c '<-kvm_nx_lpage_recovery_worker' = 15: one kvm_mmu_remote_flush_or_zap per pass
  assert.deepEqual(f!.flushes.byOp['nx-recovery'], { needed: 15, unneeded: 0, avoidable: 0, missing: 0 });
  assert.deepEqual(f!.flushes.observed!.byOp['nx-recovery'], { inferred: 15, observed: 15, confirmed: 15, contradicted: 0, unpredicted: 0 });
  // the passes were once one 2.9 s episode with 14 "observed" lock breaks (the guest's refaults between them)
  assert.deepEqual(f!.lockBreaks.episodes, []);
  assert.equal(f!.lockBreaks.breaks, 0);
});

test('tdp-nx-recovery: the same passes without the function tracer, and under 6.18 rules (read lock: the refaults between passes are no sign)', async () => {
  const noFunctions = LINES.filter((l) => !l.includes(' <-')).join('\n');
  assert.deepEqual(passes(await findingsOf(noFunctions)), { ops: 15, flushes: 15 });
  // each pass zaps the table at gfn 0 level 2 again: a pass never zaps a table twice
  assert.deepEqual(passes(await findingsOf(noFunctions, '6.18')), { ops: 15, flushes: 15 });
});

/**
 * The trace up to the first pass's last zap (line 698) without the function tracer's lines, then the second pass's 5 lines
 * of the recovery thread (lines 823-827) with their gfns moved to the next 2 MiB (0x200 + gfn) and
 * their times to `secondAt`, `between` in between; none of the guest's refaults.
 */
function twoPasses(between: string[], secondAt: string): string {
  const second = LINES.slice(822, 827);
  assert.ok(second.every((l) => l.includes('kvm-nx-lpage-re-284')), 'lines 823-827 are the second pass');
  const moved = second.map((l) => l
    .replace(/ \d+\.\d+: /, ` ${secondAt}: `)
    .replace(/ gfn (\d+) /, (_m, g: string) => ` gfn ${(0x200 + parseInt(g, 16)).toString(16)} `));
  return [...LINES.slice(0, 698).filter((l) => !l.includes(' <-')), ...between, ...moved, ''].join('\n');
}

test('NX recovery passes end where the thread sleeps or a whole period passes, not at a break', async () => {
  const sw = (state: string): string =>
    ` kvm-nx-lpage-re-284     [000] d..2.     8.200000: sched_switch: prev_comm=kvm-nx-lpage-re prev_pid=284 prev_prio=120 prev_state=${state} ==> next_comm=swapper/0 next_pid=0 next_prio=120`;
  // nothing between the two tables: one pass (the 200 ms gap is a suspected break, the period unknown)
  assert.deepEqual(passes(await findingsOf(twoPasses([], '8.367517'))), { ops: 1, flushes: 1 });
  // the thread went to sleep (schedule_timeout in kvm_nx_lpage_recovery_worker): two passes
  assert.deepEqual(passes(await findingsOf(twoPasses([sw('S')], '8.367517'))), { ops: 2, flushes: 2 });
  // switched out runnable (cond_resched at a break): one pass, flushed before the break too
  assert.deepEqual(passes(await findingsOf(twoPasses([sw('R+')], '8.367517'))), { ops: 1, flushes: 2 });
  // a whole second after the first pass's last zap (8.164767), the shortest derived recovery period: two passes
  assert.deepEqual(passes(await findingsOf(twoPasses([], '9.164767'))), { ops: 2, flushes: 2 });
});
