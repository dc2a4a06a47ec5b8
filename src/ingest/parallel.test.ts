// The worker-thread ingest (parallel.ts) against the in-thread one: the same report, byte for byte,
// on real fixtures of every dialect (and binary format) and on the findings, with small batches so many cross the
// thread boundary; and the same errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeTrace } from '../pipeline/analyze.js';
import { fixture } from '../testing/fixtures.js';
import { InputError } from './ingest.js';

const FILES = ['mprotect-roundtrip.ftrace.txt.gz', 'cuts/zap-all-fast.ftrace.txt', 'cuts/touch.perf.txt', 'cuts/touch.tracecmd.txt', 'variants/lost.trace_pipe.txt',
  'binary/mprotect.v7.trace.dat', 'binary/mprotect.perf.data.gz'];

for (const f of FILES) {
  test(`parallel ingest of ${f}: same report as in-thread`, async () => {
    const a = await analyzeTrace(fixture(f), { parallel: false, batchRows: 128 });
    const b = await analyzeTrace(fixture(f), { parallel: true, batchRows: 128 });
    assert.ok(b.input.events > 2 * 128, 'several batches');
    assert.equal(JSON.stringify(b), JSON.stringify(a));
  });
}

test('parallel ingest: input errors arrive as InputError with the same message', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-par-'));
  const empty = join(dir, 'empty.txt');
  writeFileSync(empty, '');
  for (const path of [empty, join(dir, 'missing.txt')]) {
    const seq = await analyzeTrace(path, { parallel: false }).then(() => null, (e: Error) => e);
    const par = await analyzeTrace(path, { parallel: true }).then(() => null, (e: Error) => e);
    assert.ok(seq instanceof InputError && par instanceof InputError);
    assert.equal(par.message, seq.message);
  }
});
