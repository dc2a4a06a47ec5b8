// `live` counts as the trace streams in, checked against `analyze` of the same real traces: the
// totals at the end equal the full analyses' (zaps, refault outcomes, inferred and observed
// flushes, lock breaks, notifications), whatever the interval.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createGunzip, gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { fixture, REPO } from '../testing/fixtures.js';
import { analyzeTrace } from './analyze.js';
import { runLive } from './live.js';
import { PendingRefaults } from '../analyses/zaps.js';
import { makeLarge } from '../testing/make-large.js';
import type { LiveCounts } from '../analyses/live.js';
import type { LeafInstall } from '../model/facts.js';

const sum = (m: Record<string, LiveCounts>, k: Exclude<keyof LiveCounts, 'notifications'>): number => Object.values(m).reduce((n, c) => n + c[k], 0);

for (const name of ['mprotect-roundtrip.ftrace.txt.gz', 'tdp-nested/tdp-aging-memcg.ftrace.txt.gz', 'tdp-nested/flush-shadow-mixed.ftrace.txt.gz', 'cuts/zap-all-fast.ftrace.txt']) {
  test(`live totals of ${name} equal analyze's findings`, async () => {
    const path = fixture(name);
    const r = await analyzeTrace(path);
    const f = r.findings!;
    const stream = name.endsWith('.gz') ? createReadStream(path).pipe(createGunzip()) : createReadStream(path);
    let ticks = 0;
    const live = await runLive({ name, stream, intervalS: 3600, onTick: () => void ticks++ });
    const t = live.final.total;
    assert.equal(live.events, r.input.events);
    assert.equal(sum(t, 'zaps'), f.redundantZaps.zaps);
    assert.equal(sum(t, 'redundant'), f.redundantZaps.count);
    assert.equal(sum(t, 'needed'), f.redundantZaps.byOutcome.needed);
    assert.equal(live.final.pending, f.redundantZaps.byOutcome.unresolved);
    assert.equal(sum(t, 'flushes'), f.flushes.inferred);
    assert.equal(sum(t, 'observedFlushes'), f.flushes.observed?.observed ?? 0);
    assert.equal(sum(t, 'lockBreaks'), f.lockBreaks.breaks);
    const notes = Object.values(t).reduce((n, c) => n + Object.values(c.notifications).reduce((a, b) => a + b, 0), 0);
    assert.equal(notes, f.notifications.total);
  });
}

test('live - (stdin) through the CLI: NDJSON, the last line the final totals; --vm keeps one VM', () => {
  const text = gunzipSync(readFileSync(fixture('mprotect-roundtrip.ftrace.txt.gz')));
  const run = (...args: string[]): Record<string, unknown>[] => {
    const p = spawnSync(process.execPath, [join(REPO, 'dist/src/cli/main.js'), 'live', '-', '--format', 'json', '--interval', '3600', ...args],
      { input: text, encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(p.status, 0, p.stderr);
    return p.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  const all = run();
  const last = all.at(-1)! as { final: boolean; total: Record<string, LiveCounts> };
  assert.equal(last.final, true);
  // analyze: 16387 zaps, 8192 redundant, 4101 inferred flushes (README), all in VM task:18861
  assert.deepEqual(Object.keys(last.total).sort(), ['no VM', 'task:18861']);
  assert.deepEqual([last.total['task:18861']!.zaps, last.total['task:18861']!.redundant, last.total['task:18861']!.flushes], [16387, 8192, 4101]);
  const one = run('--vm', '18861').at(-1)! as { total: Record<string, LiveCounts> };
  assert.deepEqual(Object.keys(one.total), ['task:18861']);
});

test('pending refaults stay bounded: the oldest go first, counted', () => {
  const p = new PendingRefaults<number>();
  for (let g = 0; g < 10; g++) p.add('vm', 0, g, g);
  p.add('vm', 0, 3, 33);
  assert.equal(p.size, 11);
  assert.equal(p.evict(4), 7);
  assert.equal(p.size, 4);
  const seen: number[] = [];
  const install = (gfn: number, level = 1): LeafInstall => ({ vm: 'vm', asId: 0, gfn, level, sptep: -1, hi: 0, lo: 0, line: 0, ts: 0, task: { pid: 1, comm: 'x' }, prefetch: false });
  // gfns 0-5 went (3 with its two zaps); a 2M leaf at gfn 0 maps 6-9 again
  p.resolve(install(3), (v) => seen.push(v));
  p.resolve(install(0, 2), (v) => seen.push(v));
  assert.deepEqual(seen, [6, 7, 8, 9]);
  assert.equal(p.size, 0);
});

test('the bounded paths under a 48 MB JS heap: convert and live over 6 copies of a real trace (754 k events)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-heap-'));
  try {
    const text = join(dir, 'one.txt');
    writeFileSync(text, gunzipSync(readFileSync(fixture('mprotect-roundtrip.ftrace.txt.gz'))));
    const big = join(dir, 'six.txt');
    assert.deepEqual((await makeLarge(text, big, 6 * statSync(text).size - 1)).copies, 6);
    const cli = (args: string[], input?: string): string => {
      const p = spawnSync(process.execPath, ['--max-old-space-size=48', join(REPO, 'dist/src/cli/main.js'), ...args],
        { encoding: 'utf8', maxBuffer: 16 << 20, ...(input ? { input: readFileSync(input) } : {}) });
      assert.equal(p.status, 0, p.stderr.slice(-2000));
      return p.stdout + p.stderr;
    };
    // 125662 events a copy (fixtures/mprotect-roundtrip.ftrace.txt.counts)
    assert.match(cli(['convert', big, '-o', join(dir, 'six.parquet')]), /wrote 753972 events/);
    const last = JSON.parse(cli(['live', '-', '--format', 'json', '--interval', '3600'], big).trim().split('\n').at(-1)!) as { final: boolean; total: Record<string, LiveCounts> };
    assert.equal(last.final, true);
    // the same totals as analyze of the file (with the default heap)
    const f = (await analyzeTrace(big)).findings!;
    assert.deepEqual([sum(last.total, 'zaps'), sum(last.total, 'redundant'), sum(last.total, 'flushes')],
      [f.redundantZaps.zaps, f.redundantZaps.count, f.flushes.inferred]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
