// SQL over real fixtures, and the two export formats read back exactly (64-bit values included).
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { fixture, readCounts } from '../testing/fixtures.js';
import { runNamedQuery, runSql } from './sql.js';
import { convertTrace } from './convert.js';
import { openDatabase } from './duckdb.js';
import { loadEvents, loadEventsAndFindings } from './sources.js';
import { Replay } from '../model/replay.js';
import { PARALLEL_MIN_BYTES } from '../pipeline/analyze.js';
import { makeLarge } from '../testing/make-large.js';

const tmp = mkdtempSync(join(tmpdir(), 'mmu-trace-store-'));

async function json(source: string, sql: string): Promise<Record<string, string | number | null>[]> {
  return JSON.parse(await runSql(source, sql, { output: 'json' }));
}

test('sql: events per name over a trace equal the independent count', async () => {
  for (const name of ['cuts/touch.perf.txt', 'cuts/touch.tracecmd.txt']) {
    const rows = await json(fixture(name), "SELECT event, count(*) AS n FROM events WHERE event <> 'lost_events' GROUP BY event");
    const byName = Object.fromEntries(rows.map((r) => [r.event, Number(r.n)]));
    assert.deepEqual(byName, readCounts(fixture(`${name}.counts`)), name);
  }
});

test('sql: typed columns — hex SPTEs exact as UBIGINT, dictionary strings, nulls', async () => {
  // line 73: kvm_mmu_set_spte: gfn 80 spte 111b6ca25 (r-xu) level 1 at 1c6bea400
  const [r] = await json(fixture('cuts/touch.ftrace.txt'),
    "SELECT printf('%x', spte) AS spte, typeof(spte) AS t, gfn, comm, perm, hva_start FROM events WHERE line = 73");
  assert.deepEqual(r, { spte: '111b6ca25', t: 'UBIGINT', gfn: 128, comm: 'kvm-workload', perm: 'r-xu', hva_start: null });
});

test('canned queries run on a real trace; summary matches the counts', async () => {
  const out = JSON.parse(await runNamedQuery('summary', fixture('cuts/touch.ftrace.txt'), { output: 'json' }));
  const counts = readCounts(fixture('cuts/touch.ftrace.txt.counts'));
  assert.deepEqual(Object.fromEntries(out.map((r: { event: string; events: string }) => [r.event, Number(r.events)])), counts);
  // the other three, against the cuts' independent counts (count_events.py, the .counts files)
  type Rows = Record<string, string | null>[];
  const zapCut = fixture('cuts/zap-all-fast.ftrace.txt');
  const zapCounts = readCounts(`${zapCut}.counts`);
  const tasks: Rows = JSON.parse(await runNamedQuery('events_by_task', zapCut, { output: 'json' }));
  const sum = (rows: Rows, col: string): number => rows.reduce((n, r) => n + Number(r[col]), 0);
  assert.deepEqual([sum(tasks, 'zaps'), sum(tasks, 'faults'), sum(tasks, 'zap_all_fast')],
    [zapCounts.kvm_mmu_prepare_zap_page, zapCounts.kvm_mmu_spte_requested, zapCounts.kvm_mmu_zap_all_fast]);
  // line 54: kvm_mmu_zap_all_fast: kvm-mmu-valid-gen 0 used_pages 2014
  const fast: Rows = JSON.parse(await runNamedQuery('zap_all_fast', zapCut, { output: 'json' }));
  assert.deepEqual([fast.length, Number(fast[0]!.line), Number(fast[0]!.used_pages)], [zapCounts.kvm_mmu_zap_all_fast, 54, 0x2014]);
  const agingCut = fixture('cuts/aging.ftrace.txt');
  const aging = readCounts(`${agingCut}.counts`);
  const ranges: Rows = JSON.parse(await runNamedQuery('notifier_ranges', agingCut, { output: 'json' }));
  const calls = (event: string): number => sum(ranges.filter((r) => r.event === event), 'calls');
  assert.deepEqual([calls('kvm_age_hva'), calls('kvm_test_age_hva'), calls('kvm_unmap_hva_range')],
    [aging.kvm_age_hva, aging.kvm_test_age_hva, aging.kvm_unmap_hva_range]);
});

// Made by hand for this test: the TDP line is the real 6.x line quoted in kvm-mmu-reference.md §8
// (bit 63 set in both values), wrapped in an ftrace line head; no trace on this host has TDP events.
const SYNTHETIC = [
  '# tracer: nop',
  '           vcpu0-100     [000] ...1.   100.000001: kvm_tdp_mmu_spte_changed: as id 0 gfn ffc00 level 2 old_spte 800000010bc97907 new_spte 80000000000005a0',
  '           vcpu0-100     [000] ...1.   100.000002: kvm_mmu_set_spte: gfn 80 spte ffffffffffffffff (rwxu) level 1 at 1c6bea400',
  '',
].join('\n');

test('convert: Parquet and Arrow IPC keep unsigned 64-bit values exact', async () => {
  const trace = join(tmp, 'synthetic.txt');
  writeFileSync(trace, SYNTHETIC);
  const pq = join(tmp, 'out.parquet');
  assert.deepEqual(await convertTrace(trace, pq), { events: 2, lostMarks: 0, lines: 3, truncated: null });
  const rows = await json(pq, 'SELECT old_spte, new_spte, spte, typeof(old_spte) AS t FROM events ORDER BY line');
  assert.deepEqual(rows, [
    { old_spte: (0x800000010bc97907n).toString(), new_spte: (0x80000000000005a0n).toString(), spte: null, t: 'UBIGINT' },
    { old_spte: null, new_spte: null, spte: '18446744073709551615', t: 'UBIGINT' },
  ]);
  const arrow = join(tmp, 'out.arrow');
  assert.equal((await convertTrace(fixture('cuts/touch.perf.txt'), arrow, { batchRows: 100 })).events, 1070);
  const table = tableFromIPC(readFileSync(arrow));
  assert.equal(table.numRows, 1070);
  assert.equal(table.batches.length, 11);
  // dictionaries grow across batches (delta dictionaries); the last rows still decode
  assert.equal(table.get(1069)!.toJSON().comm, readFileSync(fixture('cuts/touch.perf.txt'), 'utf8').split('\n')[1069]!.trim().split(/\s+/)[0]);
  const back = await json(arrow, "SELECT count(*) AS n, count(DISTINCT event) AS e FROM events");
  assert.deepEqual(back, [{ n: 1070, e: 13 }]);
});

test('convert only ingests: no MMU replay, no finding tables (sql has both)', async () => {
  const trace = fixture('cuts/touch.ftrace.txt');
  const tables = async (load: typeof loadEvents | typeof loadEventsAndFindings): Promise<string[]> => {
    const db = await openDatabase();
    try {
      await load(db, trace);
      return (await db.connection.runAndReadAll('SELECT table_name FROM information_schema.tables ORDER BY ALL')).getRows().map((r) => String(r[0]));
    } finally {
      db.close();
    }
  };
  const replayed = mock.method(Replay.prototype, 'handleBatch');
  try {
    await convertTrace(trace, join(tmp, 'ingest-only.arrow'));
    await convertTrace(trace, join(tmp, 'ingest-only.parquet'));
    assert.deepEqual(await tables(loadEvents), ['events']);
    assert.equal(replayed.mock.callCount(), 0);
    // the spy does see a replay: sql's loader runs one, and registers the finding tables
    assert.deepEqual(await tables(loadEventsAndFindings), ['events', 'flushes', 'lock_breaks', 'notifications', 'shadow_pages', 'spte_changes', 'zaps']);
    assert.ok(replayed.mock.callCount() > 0);
  } finally {
    replayed.mock.restore();
  }
});

test('convert to Parquet stages the events in a spilling database file whose temp directory is gone afterwards; the same rows as sql over the trace', async () => {
  const ours = (): string[] => readdirSync(tmpdir()).filter((d) => d.startsWith('mmu-trace-db-')).sort();
  const before = ours();
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-convert-'));
  const out = join(dir, 'cut.parquet');
  const trace = fixture('cuts/zap-all-fast.ftrace.txt');
  assert.equal((await convertTrace(trace, out)).events, Object.values(readCounts(`${trace}.counts`)).reduce((a, b) => a + b, 0));
  assert.deepEqual(ours(), before);
  const q = 'SELECT event, count(*) AS n, sum(gfn) AS gfns FROM events GROUP BY event ORDER BY event';
  assert.equal(await runSql(out, q, { output: 'json' }), await runSql(trace, q, { output: 'json', model: false }));
});

test('strings from the trace never reach SQL text: hostile task names convert and query as they are, and write nothing else', async () => {
  // lines 13-30 of a real trace with the comm of every third line replaced (a fuzzed or crafted capture)
  const pwn = join(tmp, 'pwn.csv');
  const hostile = ["it's", 'nul\0byte', `x');COPY events TO '${pwn}';--`, 'bad\ufffdutf8'];
  const lines = readFileSync(fixture('cuts/touch.ftrace.txt'), 'utf8').split('\n');
  const body = lines.slice(12, 30).map((l, k) => (k % 3 === 0 ? l.replace('kvm-workload', hostile[(k / 3) % hostile.length]!) : l));
  const trace = join(tmp, 'hostile.txt');
  writeFileSync(trace, [...lines.slice(0, 12), ...body, ''].join('\n'));
  // the NUL and U+FFFD lines (2 + 1 of the 6 replaced) are damaged lines, skipped (ingest.test.ts)
  const expected = ["it's", 'kvm-workload', hostile[2]!].sort();
  const comms = async (source: string): Promise<string[]> =>
    (await json(source, 'SELECT DISTINCT comm FROM events ORDER BY comm')).map((r) => String(r.comm)).sort();
  assert.deepEqual(await comms(trace), expected);
  const pq = join(tmp, 'hostile.parquet');
  assert.equal((await convertTrace(trace, pq)).events, 15);
  assert.deepEqual(await comms(pq), expected);
  assert.throws(() => readFileSync(pwn), /ENOENT/);
});

test('u64 extremes (0, 2^63-1, 2^63, 2^64-1) in gfn, spte and hva: exact in events through sql and Parquet; the finding tables load', async () => {
  const X = [0n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];
  const hex = (v: bigint): string => v.toString(16);
  const ts = (k: number): string => `100.00000${k + 1}`;
  const trace = join(tmp, 'extremes.txt');
  writeFileSync(trace, ['# tracer: nop',
    ...X.map((v, k) => `           vcpu0-100     [000] ...1.   ${ts(k)}: kvm_mmu_set_spte: gfn ${hex(v)} spte ${hex(v)} (rwxu) level 1 at 1c6bea400`),
    ...X.map((v, k) => `    kvm-workload-99      [000] .....   ${ts(k + 4)}: kvm_unmap_hva_range: mmu notifier unmap range: 0x${hex(v).padStart(14, '0')} -- 0x${hex(v).padStart(14, '0')}`),
    ''].join('\n'));
  // JSON numbers where exact (0), decimal strings beyond 2^53
  const want = X.map((v) => ({ v: v <= 2n ** 53n ? Number(v) : v.toString() }));
  const pq = join(tmp, 'extremes.parquet');
  await convertTrace(trace, pq);
  for (const source of [trace, pq]) {
    assert.deepEqual(await json(source, "SELECT gfn AS v FROM events WHERE event = 'kvm_mmu_set_spte' ORDER BY line"), want, source);
    assert.deepEqual(await json(source, "SELECT spte AS v FROM events WHERE event = 'kvm_mmu_set_spte' ORDER BY line"), want, source);
    assert.deepEqual(await json(source, "SELECT hva_start AS v FROM events WHERE event = 'kvm_unmap_hva_range' ORDER BY line"), want, source);
  }
  // the model's numbers are exact below 2^53 only: larger hvas are null in its tables (this failed
  // with 'bigint out of int64 range' before)
  assert.deepEqual(await json(trace, 'SELECT count(*) AS n, count(hva_start) AS exact FROM notifications'), [{ n: 4, exact: 1 }]);
});

test('convert -o X.arrow above the parallel threshold: the worker\'s growing dictionaries are deltas (the file format has no replacements); a failed convert leaves no file', async () => {
  const big = join(tmp, 'over-threshold.txt');
  const text = join(tmp, 'mprotect.txt');
  writeFileSync(text, gunzipSync(readFileSync(fixture('mprotect-roundtrip.ftrace.txt.gz'))));
  await makeLarge(text, big, PARALLEL_MIN_BYTES + statSync(text).size);
  assert.ok(statSync(big).size >= PARALLEL_MIN_BYTES);
  const arrow = join(tmp, 'over-threshold.arrow');
  const { events } = await convertTrace(big, arrow);
  const count = "SELECT count(*) AS n, count(DISTINCT comm) AS c, max(line) AS l FROM events";
  assert.deepEqual(await json(arrow, count), await json(big, count));
  assert.equal(String((await json(arrow, count))[0]!.n), String(events));
  // an input error gives no output file (the file is opened before the input is read)
  const binary = join(tmp, 'binary.txt');
  writeFileSync(binary, Buffer.from([0, 1, 2, 3]));
  const failed = join(tmp, 'binary.arrow');
  await assert.rejects(convertTrace(binary, failed), /binary data/);
  assert.equal(existsSync(failed), false);
});

test('convert counts the lost-event mark rows beside the events (the file holds both)', async () => {
  // variants/lost.trace_pipe.txt: 747 events and 3 LOST marks (ingest.test.ts)
  const pq = join(tmp, 'lost.parquet');
  assert.deepEqual(await convertTrace(fixture('variants/lost.trace_pipe.txt'), pq), { events: 747, lostMarks: 3, lines: 750, truncated: null });
  assert.deepEqual(await json(pq, "SELECT count(*) AS n, count(*) FILTER (WHERE event = 'lost_events') AS marks FROM events"), [{ n: 750, marks: 3 }]);
});

test('sql --safe: the source is queried (a trace, a Parquet view), and no other file is read or written, nothing installed, the setting not undone', async () => {
  const trace = fixture('cuts/touch.ftrace.txt');
  const pq = join(tmp, 'safe.parquet');
  await convertTrace(trace, pq);
  const out = join(tmp, 'safe-out.csv');
  const count = 'SELECT count(*) AS n FROM events';
  for (const source of [trace, pq]) {
    const safe = { output: 'json' as const, safe: true, model: false as const };
    assert.deepEqual(JSON.parse(await runSql(source, count, safe)), JSON.parse(await runSql(source, count, { output: 'json', model: false })));
    for (const sql of [`COPY events TO '${out}'`, `SELECT * FROM read_text('${trace}')`, 'INSTALL httpfs',
      'SET enable_external_access = true', `ATTACH '${join(tmp, 'x.duckdb')}'`]) {
      await assert.rejects(runSql(source, sql, safe), /disabled by configuration|configuration has been locked/, sql);
    }
    // without --safe the same COPY writes the file (the option is what stops it)
    if (source === pq) {
      await runSql(source, `COPY (SELECT 1) TO '${out}'`, { output: 'json', model: false });
      assert.equal(existsSync(out), true);
    }
  }
});

test('finding tables\' times are exact beyond 2^53 (a TSC clock after 35 days): each row\'s ts_ns is its line\'s event\'s', async () => {
  // variants/counter-clock.ftrace.txt (x86-tsc) with 2^53 + 1 added to every stamp
  const text = readFileSync(fixture('variants/counter-clock.ftrace.txt'), 'utf8')
    .replace(/ (\d{12}): /g, (_, ts: string) => ` ${BigInt(ts) + 2n ** 53n + 1n}: `);
  const trace = join(tmp, 'tsc-2-53.txt');
  writeFileSync(trace, text);
  for (const t of ['zaps', 'notifications', 'flushes', 'spte_changes']) {
    const [r] = await json(trace, `SELECT count(*) AS n, count(*) FILTER (WHERE t.ts_ns = e.ts_ns) AS exact, min(t.ts_ns) > 9007199254740992 AS beyond
      FROM ${t} t JOIN events e USING (line)`);
    // as many rows as the unshifted trace has (the shift changes no finding), every one exact
    const [{ n }] = await json(fixture('variants/counter-clock.ftrace.txt'), `SELECT count(*) AS n FROM ${t}`) as [{ n: number }];
    assert.ok(n > 0, t);
    assert.deepEqual(r, { n, exact: n, beyond: true }, t);
  }
});

test('sql output: JSON integers are numbers where exact and strings beyond 2^53; --hex prints the kernel\'s hex columns in hex (table, CSV)', async () => {
  // line 73: kvm_mmu_set_spte: gfn 80 spte 111b6ca25 (r-xu) level 1 at 1c6bea400
  const q = 'SELECT line, gfn, spte, sptep, level, 18446744073709551615::UBIGINT AS big FROM events WHERE line = 73';
  assert.deepEqual(JSON.parse(await runSql(fixture('cuts/touch.ftrace.txt'), q, { output: 'json' })),
    [{ line: 73, gfn: 0x80, spte: 0x111b6ca25, sptep: 0x1c6bea400, level: 1, big: '18446744073709551615' }]);
  const csv = await runSql(fixture('cuts/touch.ftrace.txt'), q, { output: 'csv', hex: true });
  // line, level and the computed column are no kernel hex fields: decimal
  assert.equal(csv, 'line,gfn,spte,sptep,level,big\n73,0x80,0x111b6ca25,0x1c6bea400,1,18446744073709551615\n');
  assert.match(await runSql(fixture('cuts/touch.ftrace.txt'), q, { output: 'table', hex: true }), /\n +73 +0x80 +0x111b6ca25 +0x1c6bea400 +1 +18446744073709551615\n/);
});
