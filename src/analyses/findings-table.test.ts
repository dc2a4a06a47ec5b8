// Finding rows beyond the memory budget spill to disk and come back unchanged: a table against a
// plain-array model under a budget of one page, real traces analysed with every page but the newest
// spilled (the same report and the same rows; each fills more than one page), and the spill directory gone after a SIGINT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FindingsTable, setFindingsMemory } from './findings-table.js';
import { LatencyQuantiles } from './zaps.js';
import type { FindingsData } from './findings.js';
import { analyzeTrace } from '../pipeline/analyze.js';
import { tablesOf } from '../store/findings.js';
import { fixture, REPO } from '../testing/fixtures.js';

const COLUMNS = [
  { name: 'n', kind: 'int', doc: '' },
  { name: 's', kind: 'str', doc: '' },
  { name: 'u', kind: 'u64', doc: '' },
  { name: 'b', kind: 'bool', doc: '' },
] as const;

/** A deterministic stream of pseudo-random numbers (xorshift32). */
function numbers(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Every cell of every table, as the one thing compared. */
function cells(t: FindingsTable): unknown[][] {
  const rows: unknown[][] = [];
  for (let r = 0; r < t.length; r++) {
    rows.push(t.columns.map((c, i) => (c.kind === 'str' ? t.getStr(i, r) : c.kind === 'u64' ? t.getU64(i, r) : t.getNum(i, r))));
  }
  return rows;
}

test('findings table: two tables under a one-page budget, old rows updated after they spilled, read back as written', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mmu-trace-test-'));
  const savedTmp = process.env['TMPDIR'];
  process.env['TMPDIR'] = tmp;
  setFindingsMemory(0);
  try {
    const next = numbers(12345);
    const tables = [new FindingsTable('a', COLUMNS), new FindingsTable('b', COLUMNS)];
    const model: { n: number; s: string | null; hi: number; lo: number; b: number }[][] = [[], []];
    const set = (k: number, r: number): void => {
      const t = tables[k]!;
      const v = { n: next() % 1000, s: next() % 5 === 0 ? null : `s${next() % 7}`, hi: next(), lo: next(), b: next() % 2 };
      t.num(0, r, v.n);
      t.str(1, r, v.s);
      t.u64(2, r, v.hi, v.lo);
      t.num(3, r, v.b === 1);
      model[k]![r] = v;
    };
    // 5 pages of rows each (4096 a page), interleaved; a third of the time an older row changes
    for (let i = 0; i < 5 * 4096; i++) {
      for (let k = 0; k < 2; k++) {
        set(k, tables[k]!.add());
        if (next() % 3 === 0) set(k, next() % tables[k]!.length);
      }
    }
    // the spilled pages are on disk, a directory per table
    const dirs = readdirSync(tmp);
    assert.equal(dirs.length, 2);
    for (const d of dirs) assert.deepEqual([d.startsWith('mmu-trace-findings-'), readdirSync(join(tmp, d))], [true, ['pages']]);
    for (let k = 0; k < 2; k++) {
      assert.equal(tables[k]!.length, 5 * 4096);
      assert.deepEqual(cells(tables[k]!), model[k]!.map((v) => [v.n, v.s, (BigInt(v.hi) << 32n) | BigInt(v.lo), v.b]));
    }
  } finally {
    setFindingsMemory(96 * 1024 * 1024);
    if (savedTmp === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = savedTmp;
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('findings table: real traces analysed with every finding page but the newest spilled give the same report and rows', async () => {
  for (const name of ['mprotect-roundtrip.ftrace.txt.gz', 'tdp-nested/flush-mixed.ftrace.txt.gz']) {
    const run = async (budget: number): Promise<{ report: unknown; rows: unknown[][][] }> => {
      setFindingsMemory(budget);
      let f: FindingsData | undefined;
      const report = await analyzeTrace(fixture(name), { onFindings: (x) => void (f = x) });
      return { report, rows: tablesOf(f!).map(cells) };
    };
    const inMemory = await run(1 << 30);
    const spilled = await run(0);
    setFindingsMemory(96 * 1024 * 1024);
    assert.deepEqual(spilled.report, inMemory.report, name);
    assert.deepEqual(spilled.rows, inMemory.rows, name);
    // the zaps fill pages enough to spill (findings.test.ts: mprotect-roundtrip's 12288 notifier zaps)
    const zaps = (inMemory.report as { findings: { redundantZaps: { zaps: number } } }).findings.redundantZaps.zaps;
    assert.equal(inMemory.rows[0]!.length, zaps);
    if (name.startsWith('mprotect')) assert.ok(zaps > 3 * 4096);
    // something left memory: a table of more than one page
    assert.ok(Math.max(...inMemory.rows.map((t) => t.length)) > 4096, `${name}: no table beyond one page`);
  }
});

test('findings table: SIGINT during analyze removes the spill directory and ends the process by the signal', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mmu-trace-test-'));
  try {
    const p = spawn(process.execPath, [join(REPO, 'dist/src/cli/main.js'), 'analyze', '-'], {
      env: { ...process.env, TMPDIR: tmp, MMU_TRACE_FINDINGS_MEMORY: '0' }, stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (b: Buffer) => void (stderr += b.toString()));
    // the input still being written when the signal ends the process
    p.stdin.on('error', () => {});
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => p.on('exit', (code, sig) => resolve(sig ?? code)));
    // two copies: at least three full batches of 64 Ki rows reach the model while stdin stays open
    const text = gunzipSync(readFileSync(fixture('mprotect-roundtrip.ftrace.txt.gz')));
    p.stdin.write(text);
    p.stdin.write(text);
    const spillFiles = (): number => readdirSync(tmp).filter((d) => d.startsWith('mmu-trace-findings-')).reduce((n, d) => n + readdirSync(join(tmp, d)).length, 0);
    while (spillFiles() === 0) {
      assert.equal(p.exitCode, null, `analyze ended before it spilled: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    p.kill('SIGINT');
    assert.equal(await exited, 'SIGINT', stderr);
    assert.deepEqual(readdirSync(tmp), []);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('refault latency quantiles: the value at rank floor(p·n) of a plain sort, ties and bin edges included', () => {
  const next = numbers(777);
  const values = Array.from({ length: 20000 }, (_, i) => (i % 50 === 0 ? 0 : i % 7 === 0 ? 1024 : next() % 5_000_000));
  const q = new LatencyQuantiles();
  for (const v of values) q.count(v);
  const sorted = [...values].sort((a, b) => a - b);
  const ps = [0, 0.5, 0.9, 0.999];
  assert.deepEqual(q.quantiles(ps, (take) => values.forEach(take)), ps.map((p) => sorted[Math.floor(p * values.length)]));
});
