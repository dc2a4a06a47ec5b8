// Ingest on real fixtures: per-event counts against independent counts (count_events.py / grep -c,
// see fixtures/cuts/make-cuts.sh and fixtures/variants/README.md), decoded values checked by hand
// against the printed text, and the tracer's own loss and skip accounting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip, gunzipSync } from 'node:zlib';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fixture, readCounts } from '../testing/fixtures.js';
import { present, rowsByLine, type Row } from '../testing/rows.js';
import { analyzeTrace } from '../pipeline/analyze.js';
import { ingest } from './ingest.js';
import { MAX_UNREADABLE_BYTES } from './source.js';

const CUTS = readdirSync(fixture('cuts')).filter((f) => f.endsWith('.txt'));

for (const name of [...CUTS.map((f) => `cuts/${f}`), 'mprotect-roundtrip.ftrace.txt.gz']) {
  test(`${name}: events per name equal the independent count, nothing skipped or lost`, async () => {
    const path = fixture(name);
    const report = await analyzeTrace(path);
    assert.deepEqual(report.events.byName, readCounts(`${path.replace(/\.gz$/, '')}.counts`));
    assert.equal(report.input.skippedLines, 0);
    assert.equal(report.input.lostEvents, 0);
    assert.deepEqual(report.input.undecodedEvents, {});
  });
}

test('reading in 64-byte chunks gives the same rows as 1 MiB chunks', async () => {
  for (const name of ['cuts/touch.tracecmd.txt', 'cuts/touch.perf.txt', 'mprotect-roundtrip.ftrace.txt.gz', 'variants/stacktrace.ftrace.txt']) {
    const big = await rowsByLine(fixture(name));
    const small = await rowsByLine(fixture(name), { chunkBytes: 64, batchRows: 1000 });
    assert.equal(small.rows.size, big.rows.size, name);
    assert.deepEqual([...small.rows.entries()], [...big.rows.entries()], name);
    assert.deepEqual({ ...small.result, source: null }, { ...big.result, source: null }, name);
  }
});

async function row(name: string, line: number): Promise<Row> {
  return present((await rowsByLine(fixture(name))).rows.get(line));
}

test('ftrace: set_spte, get_page, unmap range and an invalid root zap decoded as printed', async () => {
  const { rows } = await rowsByLine(fixture('cuts/touch.ftrace.txt'));
  // kvm-workload-16782 [001] ...1. 1383.613551: kvm_mmu_set_spte: gfn 80 spte 111b6ca25 (r-xu) level 1 at 1c6bea400
  assert.deepEqual(present(rows.get(73)), {
    line: 73n, ts_ns: 1383613551000n, cpu: 1, pid: 16782, comm: 'kvm-workload', flags: '...1.', grp: 'kvmmmu',
    event: 'kvm_mmu_set_spte', gfn: 0x80n, spte: 0x111b6ca25n, perm: 'r-xu', level: 1, sptep: 0x1c6bea400n,
  });
  // kvm_mmu_get_page: sp gen 0 gfn 1 l4 8-byte q0 wux nxe ad root 0 sync new
  const { line: _l, ts_ns: _t, cpu: _c, pid: _p, comm: _m, flags: _f, ...sp } = present(rows.get(53));
  assert.deepEqual(sp, {
    grp: 'kvmmmu', event: 'kvm_mmu_get_page', sp_gen: 0, gfn: 1n, level: 4, gpte_bytes: 8, quadrant: 0, direct: false,
    access: 'wux', invalid: false, nxe: true, ad: true, root_count: 0, unsync: false, created: true,
  });
  // kvm_unmap_hva_range: mmu notifier unmap range: 0x007f6d89c00000 -- 0x007f6d8a400000
  assert.equal(rows.get(48)!.hva_start, 0x7f6d89c00000n);
  assert.equal(rows.get(48)!.hva_end, 0x7f6d8a400000n);
  // kvm-nx-lpage-re-16784 ... kvm_mmu_prepare_zap_page: sp gen 0 gfn 1 l4 8-byte q0 wux invalid nxe ad root 0 sync
  assert.equal(rows.get(1043)!.comm, 'kvm-nx-lpage-re');
  assert.equal(rows.get(1043)!.pid, 16784);
  assert.equal(rows.get(1043)!.invalid, true);
});

test('ftrace with TGID column', async () => {
  // kvm-workload-16854   (  16854) [001] .....  1385.395131: kvm_unmap_hva_range: ... 0x007faf04200000 -- 0x007faf04a00000
  const r = await row('cuts/touch.tgid.txt', 48);
  assert.equal(r.pid, 16854);
  assert.equal(r.tgid, 16854);
  assert.equal(r.hva_start, 0x7faf04200000n);
  assert.equal(r.ts_ns, 1385395131000n);
});

test('trace-cmd report: kvm plugin role text rebuilt into role bits 0-15, gfn only where printed, markers', async () => {
  const { rows } = await rowsByLine(fixture('cuts/touch.tracecmd.txt'));
  // corpus: kvm-workload-16928 [001] 1387.163630: kvm_mmu_get_page: new sp gfn 1 4 q0 wux !pae nxe wp root 0 sync
  // level 4 | access wux 7<<8 | nxe 1<<12 | wp 1<<13 = 0x3704 = 14084, the word perf prints for this root
  const gp = present(rows.get(42));
  assert.equal(gp.role, 0x3704);
  assert.equal(gp.role_mask, 0xff00ffff);
  assert.equal(gp.gfn, 1n);
  assert.equal(gp.created, true);
  assert.equal(gp.cr0_wp, true);
  assert.equal(gp.gpte_bytes, 8);
  assert.equal(gp.sp_gen, undefined);
  assert.equal(gp.ad, undefined);
  // kvm-nx-lpage-re-16930 [000] 1387.349509: kvm_mmu_prepare_zap_page: 1 q0 wux !pae nxe wp root 0 sync
  const zap = present(rows.get(1008));
  assert.equal(zap.role, 0x3701);
  assert.equal(zap.level, 1);
  assert.equal(zap.gfn, undefined);
  // print: tracing_mark_write: kvm-workload touch phase=boot
  assert.deepEqual([rows.get(40)!.event, rows.get(40)!.payload, rows.get(40)!.grp], ['tracing_mark_write', 'kvm-workload touch phase=boot', 'ftrace']);
});

test('perf script: [FAILED TO PARSE] raw fields, decimal gfn, role word decoded', async () => {
  const { rows } = await rowsByLine(fixture('cuts/touch.perf.txt'));
  // kvm-workload 17009 [000] 1389.523872: kvmmmu:kvm_mmu_get_page: [FAILED TO PARSE] mmu_valid_gen=0 gfn=1 role=14084 root_count=0 unsync=0 created=1
  assert.deepEqual(present(rows.get(41)), {
    line: 41n, ts_ns: 1389523872000n, cpu: 0, pid: 17009, comm: 'kvm-workload', grp: 'kvmmmu', event: 'kvm_mmu_get_page',
    sp_gen: 0, gfn: 1n, role: 14084, role_mask: 0xffffffff, level: 4, gpte_bytes: 8, quadrant: 0, direct: false,
    access: 'wux', invalid: false, nxe: true, cr0_wp: true, ad: true, as_id: 0, root_count: 0, unsync: false, created: true,
  });
  // kvm_mmu_unsync_page: [FAILED TO PARSE] ... gfn=320 role=14081: decimal 320 = 0x140, the first guest PT page
  assert.equal(rows.get(543)!.gfn, 0x140n);
  assert.equal(rows.get(543)!.level, 1);
  // kvmmmu:kvm_mmu_set_spte: gfn 80 spte 16b2cda25 (r-xu) level 1 at 23cfd7400
  assert.equal(rows.get(55)!.spte, 0x16b2cda25n);
  assert.equal(rows.get(55)!.sptep, 0x23cfd7400n);
});

test('zap_all_fast used_pages is hex; sched_switch fields', async () => {
  const { rows } = await rowsByLine(fixture('cuts/zap-all-fast.ftrace.txt'));
  // kvm_mmu_zap_all_fast: kvm-mmu-valid-gen 0 used_pages 2014
  assert.equal(rows.get(54)!.valid_gen, 0);
  assert.equal(rows.get(54)!.used_pages, 0x2014);
  // <idle>-0 [000] d..2. 1408.885792: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=capture.sh next_pid=17521 next_prio=120
  const sw = present(rows.get(18));
  assert.deepEqual([sw.comm, sw.pid, sw.flags, sw.prev_comm, sw.prev_pid, sw.prev_prio, sw.prev_state, sw.next_comm, sw.next_pid, sw.next_prio],
    ['<idle>', 0, 'd..2.', 'swapper/0', 0, 120, 'R', 'capture.sh', 17521, 120]);
});

test('aging: test_age single hva', async () => {
  // kdamond.0-77 [001] ...1. 1453.685307: kvm_test_age_hva: mmu notifier test age hva: 0x007fab84813000
  const r = await row('cuts/aging.ftrace.txt', 94);
  assert.deepEqual([r.comm, r.pid, r.hva_start, r.hva_end], ['kdamond.0', 77, 0x7fab84813000n, undefined]);
});

test('stack traces: one kernel_stack event per <stack trace>, frames kept', async () => {
  const { result, rows } = await rowsByLine(fixture('variants/stacktrace.ftrace.txt'));
  // grep -c '<stack trace>' = 84, grep -c '^ => ' = 1640 (fixtures/variants/README.md)
  const stacks = [...rows.values()].filter((r) => r.event === 'kernel_stack');
  assert.equal(stacks.length, 84);
  assert.equal(result.stackFrames, 1640);
  assert.equal(stacks.reduce((n, r) => n + String(r.payload).split('\n').length, 0), 1640);
  assert.equal(String(stacks[0]!.payload).split('\n')[0], 'trace_event_raw_event_kvm_unmap_hva_range');
  assert.equal(result.skippedLines, 0);
});

test('lost events: header B-A of an overrun buffer, LOST markers of trace_pipe', async () => {
  const over = await ingest(fixture('variants/overrun.ftrace.txt'));
  // entries-in-buffer/entries-written: 347/11752
  assert.deepEqual([over.lostEvents, over.lostFromHeader, over.events, over.annotations], [11405, 11405, 347, 1]);
  const pipe = await rowsByLine(fixture('variants/lost.trace_pipe.txt'));
  // CPU:1 [LOST 1125 EVENTS], CPU:0 [LOST 1143 EVENTS], CPU:1 [LOST 113 EVENTS]
  assert.deepEqual([pipe.result.format, pipe.result.lostMarkers, pipe.result.lostEvents, pipe.result.events], ['trace_pipe', 3, 2381, 747]);
  assert.deepEqual([pipe.rows.get(93)!.event, pipe.rows.get(93)!.cpu, pipe.rows.get(93)!.lost], ['lost_events', 1, 1125n]);
});

test('trace_pipe cut mid-line: the partial first line is a counted skip', async () => {
  const r = await ingest(fixture('variants/partial.trace_pipe.txt'));
  assert.equal(r.events, 434);
  assert.deepEqual(r.skippedByReason, { 'partial first line (trace_pipe read started mid-line)': 1 });
});

test('ftrace options: no irq-info, counter clock, fields', async () => {
  const noirq = await rowsByLine(fixture('variants/noirqinfo.ftrace.txt'));
  assert.equal(noirq.result.events, 435);
  assert.ok([...noirq.rows.values()].every((r) => r.flags === null));
  const tsc = await ingest(fixture('variants/counter-clock.ftrace.txt'));
  assert.deepEqual([tsc.clock, tsc.firstTs, tsc.lastTs], ['counter', '375199946511', '375224338671']);
  const fields = await analyzeTrace(fixture('variants/fields.ftrace.txt'));
  // set_spte 133, unmap 71, get_page 7, prepare_zap 7, markers print as "UNKNOWN TYPE 5" (10)
  assert.deepEqual(fields.events.byName, { kvm_mmu_get_page: 7, kvm_mmu_prepare_zap_page: 7, kvm_mmu_set_spte: 133, kvm_unmap_hva_range: 71, unknown: 10 });
  assert.deepEqual(fields.input.undecodedEvents, {});
});

test('fields option values: 0xHEX (DEC) and (DEC) forms', async () => {
  const { rows } = await rowsByLine(fixture('variants/fields.ftrace.txt'));
  const gp = [...rows.values()].find((r) => r.event === 'kvm_mmu_get_page')!;
  // kvm_mmu_get_page: mmu_valid_gen=(0) gfn=0x1 (1) role=0x3704 (14084) root_count=0x0 (0) unsync=(0) created=(1)
  assert.deepEqual([gp.sp_gen, gp.gfn, gp.role, gp.level, gp.created], [0, 1n, 0x3704, 4, true]);
  const set = [...rows.values()].find((r) => r.event === 'kvm_mmu_set_spte')!;
  // kvm_mmu_set_spte: gfn=0x80 (128) spte=0x10e4c5a25 (4534852133) sptep=0x1404eb400 (5373867008) level=(1) r=(1) x=(1) u=(1)
  assert.deepEqual([set.gfn, set.spte, set.sptep, set.level], [0x80n, 0x10e4c5a25n, 0x1404eb400n, 1]);
});

test('perf script --ns and pid/tid forms', async () => {
  const ns = await rowsByLine(fixture('variants/perf-ns.perf-script.txt'));
  // kvm-workload  4194 [000]   165.443494590: kvm:kvm_unmap_hva_range: ...
  assert.equal(ns.rows.get(1)!.ts_ns, 165443494590n);
  assert.equal(ns.result.firstTs, '165.443494590');
  const tid = await rowsByLine(fixture('variants/perf-tid.perf-script.txt'));
  // kvm-workload  4194/4194  [000]   165.443494: ...
  assert.deepEqual([tid.rows.get(1)!.tgid, tid.rows.get(1)!.pid], [4194, 4194]);
});

test('task names with spaces and slashes (QEMU vCPU threads)', async () => {
  const r = await analyzeTrace(fixture('variants/spaces-in-comm.ftrace.txt'));
  // grep -oP '^\s*\K.*?-\d+(?=\s+\[)' | sort | uniq -c: CPU 0/KVM-4094 298, CPU 1/KVM-4095 229
  const t = (comm: string) => r.kvmTasks.find((x) => x.comm === comm);
  assert.deepEqual([t('CPU 0/KVM')?.pid, t('CPU 0/KVM')?.events], [4094, 298]);
  assert.deepEqual([t('CPU 1/KVM')?.pid, t('CPU 1/KVM')?.events], [4095, 229]);
});

test('trace-cmd report variants: -N raw fields, -R bare-hex fields, --raw-ts integer timestamps', async () => {
  for (const v of ['N', 'R', 'plain', 'rawts']) {
    const r = await analyzeTrace(fixture(`variants/tracecmd-${v}.report.txt`));
    assert.deepEqual(r.events.byName, { kvm_mmu_get_page: 7, kvm_mmu_prepare_zap_page: 7, kvm_mmu_set_spte: 133, kvm_unmap_hva_range: 71, tracing_mark_write: 10 }, v);
    assert.deepEqual([r.input.skippedLines, r.input.undecodedEvents], [0, {}], v);
  }
  const raw = await rowsByLine(fixture('variants/tracecmd-R.report.txt'));
  const set = [...raw.rows.values()].find((r) => r.event === 'kvm_mmu_set_spte')!;
  // fx: kvm-workload-4651 [000] 206.202664: kvm_mmu_set_spte: gfn=80 spte=14e3a2a25 sptep=15d87a400 level=1 r=1 x=1 u=1
  assert.deepEqual([set.gfn, set.spte, set.sptep, set.level], [0x80n, 0x14e3a2a25n, 0x15d87a400n, 1]);
});

test('trace-cmd report: an instance prefix before a DROPPED mark, and a mark without a count', async () => {
  // fixtures/binary's -R text has "mmutrace-fixture: CPU:1 [2631 EVENTS DROPPED]"; trace-cmd prints
  // "[EVENTS DROPPED]" when the page did not store the count
  const text = gunzipSync(readFileSync(fixture('binary/mprotect.trace-cmd-R.txt.gz'))).toString('utf8')
    .replace('CPU:1 [2631 EVENTS DROPPED]', 'CPU:1 [EVENTS DROPPED]');
  const path = join(mkdtempSync(join(tmpdir(), 'mmu-trace-ingest-')), 'dropped.report.txt');
  writeFileSync(path, text);
  const { result, rows } = await rowsByLine(path);
  assert.deepEqual([result.skippedLines, result.lostMarkers, result.lostEvents], [0, 2, 3605]);
  const marks = [...rows.values()].filter((r) => r.event === 'lost_events').map((r) => [r.cpu, r.lost]);
  assert.deepEqual(marks, [[1, null], [0, 3605n]]);
});

test('damaged bytes after the start: their lines are counted skips, every other line is read', async () => {
  const text = readFileSync(fixture('cuts/touch.ftrace.txt'));
  const whole = await ingest(fixture('cuts/touch.ftrace.txt'));
  const lineStart = (n: number): number => {
    let at = 0;
    for (let k = 1; k < n; k++) at = text.indexOf(10, at) + 1;
    return at;
  };
  const bytes = Buffer.from(text);
  bytes[lineStart(20) + 30] = 0; // a NUL in event line 20
  bytes[lineStart(40) + 10] = 0xff; // invalid UTF-8 in event line 40
  bytes.fill(0, lineStart(61) - 20, lineStart(61) + 20); // a zeroed hole across the end of line 60
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-damaged-'));
  const path = join(dir, 'damaged.txt');
  writeFileSync(path, bytes);
  const r = await ingest(path);
  // lines 60 and 61 became one line: 4 events lost in 3 damaged lines
  assert.deepEqual([r.lines, r.events, r.skippedByReason], [whole.lines - 1, whole.events - 4, { 'binary bytes in line': 3 }]);
  // a NUL at the very start is a binary file, as before
  writeFileSync(path, Buffer.concat([Buffer.from([0]), text]));
  await assert.rejects(ingest(path), /binary data, not trace text \(NUL byte at offset 0\)/);
});

test('overlong lines (a 20 MB one, a 100 KB one, and a cut last one) are counted skips; the rest is read under a 40 MB heap', async () => {
  const lines = readFileSync(fixture('cuts/touch.ftrace.txt'), 'utf8').split('\n');
  const whole = await ingest(fixture('cuts/touch.ftrace.txt'));
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-overlong-'));
  const path = join(dir, 'overlong.txt');
  // lines.at(-1) is '' (the file ends in a newline): the cut last line replaces it
  writeFileSync(path, [...lines.slice(0, 100), 'x'.repeat(20 << 20), ...lines.slice(100, 200), 'y'.repeat(100 << 10), ...lines.slice(200, -1), 'z'.repeat(1 << 20)].join('\n'));
  const p = spawnSync(process.execPath, ['--max-old-space-size=40', join(import.meta.dirname, '../cli/main.js'), 'analyze', path, '--format', 'json'],
    { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(p.status, 0, p.stderr.slice(-2000));
  const input = (JSON.parse(p.stdout) as { input: { lines: number; events: number; skippedByReason: Record<string, number> } }).input;
  assert.deepEqual([input.lines, input.events, input.skippedByReason],
    [whole.lines + 3, whole.events, { 'overlong line': 3 }]);
});

test('a gzip bomb (a real head, then zeros with no line end): reading stops past MAX_UNREADABLE_BYTES with a message; the head is reported', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-bomb-'));
  const path = join(dir, 'bomb.txt.gz');
  const head = readFileSync(fixture('cuts/touch.ftrace.txt'));
  const zeros = Buffer.alloc(1 << 20);
  await pipeline(Readable.from((function* () {
    yield head;
    for (let n = 0; n <= MAX_UNREADABLE_BYTES; n += zeros.length) yield zeros;
    yield zeros;
  })()), createGzip({ level: 1 }), createWriteStream(path));
  const whole = await ingest(fixture('cuts/touch.ftrace.txt'));
  const r = await ingest(path);
  assert.deepEqual([r.events, r.skippedByReason], [whole.events, { 'overlong line': 1 }]);
  assert.match(r.truncated ?? '', /bytes without a line end \(more than 268435456\): stopped reading there/);
});

test('every line lands in one bucket: events, header, annotation, stack frame, blank, lost-event mark or a skip', async () => {
  const variants = readdirSync(fixture('variants')).filter((f) => f.endsWith('.txt')).map((f) => `variants/${f}`);
  for (const name of [...CUTS.map((f) => `cuts/${f}`), ...variants, 'mprotect-roundtrip.ftrace.txt.gz']) {
    const r = await ingest(fixture(name)).catch(() => null);
    if (!r) continue; // refused inputs (latency format) have no line accounting
    assert.equal(r.events + r.headerLines + r.annotations + r.grepSeparators + r.stackFrames + r.blankLines + r.lostMarkers + r.skippedLines, r.lines, name);
  }
  // a real head, then 100000 newlines: all blank, none lost from the budget
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-blank-'));
  const path = join(dir, 'blank.txt');
  writeFileSync(path, readFileSync(fixture('cuts/touch.ftrace.txt'), 'utf8') + '\n'.repeat(100000));
  const whole = await ingest(fixture('cuts/touch.ftrace.txt'));
  const r = await ingest(path);
  assert.deepEqual([r.lines - whole.lines, r.blankLines - whole.blankLines, r.events], [100000, 100000, whole.events]);
});

test('loss counts that cannot be true are suspect, not lost events: entries-written of 9x10^20, LOST beyond 2^32', async () => {
  const lines = readFileSync(fixture('cuts/touch.ftrace.txt'), 'utf8').split('\n');
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-suspect-'));
  const path = join(dir, 'suspect.txt');
  const header = lines[2]!.replace(/entries-written: \d+\/\d+/, 'entries-written: 201112/900000000000000000000');
  writeFileSync(path, [...lines.slice(0, 2), header, ...lines.slice(3, 40), 'CPU:1 [LOST 99999999999 EVENTS]', 'CPU:0 [LOST 7 EVENTS]', ...lines.slice(40)].join('\n'));
  const r = await ingest(path);
  assert.deepEqual([r.lostEvents, r.lostFromHeader, r.lostMarkers], [7, null, 2]);
  assert.deepEqual(r.suspectCounts, [
    'header entries-in-buffer/entries-written 201112/900000000000000000000 (line 3): more events than a ring buffer ever writes',
    'CPU:1 [LOST 99999999999 EVENTS] (line 41): more than 2^32 at once',
  ]);
});

test('a .gz failing its CRC, followed by garbage or cut keeps every byte zcat recovers (was all but the last 16 KiB, before that 1 MiB), then says so', async () => {
  const gz = readFileSync(fixture('mprotect-roundtrip.ftrace.txt.gz'));
  const whole = await ingest(fixture('mprotect-roundtrip.ftrace.txt.gz'));
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-crc-'));
  const crc = Buffer.from(gz);
  crc[crc.length - 6]! ^= 0xff; // the stored CRC32 (the last 8 bytes are CRC32, ISIZE)
  const cut = gz.subarray(0, gz.length - 5000);
  const cases: [Buffer, RegExp][] = [[crc, /incorrect data check/], [Buffer.concat([gz, Buffer.from('trailing garbage')]), /incorrect header check/], [cut, /truncated/]];
  for (const [bytes, why] of cases) {
    const path = join(dir, 'damaged.gz');
    writeFileSync(path, bytes);
    const r = await ingest(path);
    assert.match(r.truncated ?? '', why);
    // the independent count: what gzip -d writes out before it complains
    const text = gunzipPartial(bytes);
    assert.equal(r.source.bytesText, Buffer.byteLength(text), String(why));
    const complete = text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => /^\s+\S.*\[\d{3}\]/.test(l)).length;
    assert.equal(r.events, complete, String(why));
  }
  assert.equal(gunzipPartial(crc).length, whole.source.bytesText);
});

test('a file holding fewer events than its header counts says how many are missing (cuts/touch: the first 1071 of 201112)', async () => {
  const cut = await ingest(fixture('cuts/touch.ftrace.txt'));
  assert.deepEqual([cut.entries!.inBuffer, cut.events, cut.missingFromFile, cut.lostEvents], [201112, 1071, 200041, 0]);
  const whole = await ingest(fixture('mprotect-roundtrip.ftrace.txt.gz'));
  assert.equal(whole.missingFromFile, 0);
});

test('CR-only line ends (text pasted from an old Mac editor): every CR ends a line, the same events as the LF file', async () => {
  const text = readFileSync(fixture('cuts/touch.ftrace.txt'), 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-cr-'));
  const path = join(dir, 'cr.txt');
  writeFileSync(path, text.replaceAll('\n', '\r'));
  const [cr, lf] = [await ingest(path), await ingest(fixture('cuts/touch.ftrace.txt'))];
  assert.deepEqual([cr.lines, cr.events, cr.skippedLines], [lf.lines, lf.events, 0]);
  assert.equal(cr.kernel.hints['line-ends']?.value, 'CR-only line ends: each CR ends a line');
});

test('the file name never changes the result; a trace-cmd report excerpt without its cpus= line is trace-cmd (no irq flags, padded event names)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-names-'));
  // a mail excerpt: lines 2-400 of a real trace-cmd report, the "corpus: " instance prefix cut off too
  const report = readFileSync(fixture('cuts/touch.tracecmd.txt'), 'utf8').split('\n');
  const excerpt = report.slice(1, 400).map((l) => l.replace(/^corpus: /, '')).join('\n') + '\n';
  const pipe = readFileSync(fixture('variants/clean.trace_pipe.txt'), 'utf8');
  for (const [text, format] of [[excerpt, 'trace-cmd'], [pipe, 'trace_pipe']] as const) {
    const results = [];
    for (const name of ['trace.txt', 'x.perf.txt', 'report-pipe.txt']) {
      const path = join(dir, name);
      writeFileSync(path, text);
      const r = await ingest(path);
      results.push([r.format, r.events, r.skippedLines, r.undecodedEvents]);
    }
    assert.equal(results[0]![0], format);
    assert.deepEqual(results[1], results[0]);
    assert.deepEqual(results[2], results[0]);
  }
  // the excerpt's kvm events decode with trace-cmd's padded fields: nothing undecoded, nothing skipped
  writeFileSync(join(dir, 'trace.txt'), excerpt);
  const r = await ingest(join(dir, 'trace.txt'));
  assert.deepEqual([r.skippedLines, r.undecodedEvents], [0, {}]);
});

test('a last line cut mid-number is a counted skip, not an event with a cut value; also where a .gz ends early', async () => {
  const text = readFileSync(fixture('cuts/touch.ftrace.txt'), 'utf8');
  const whole = await ingest(fixture('cuts/touch.ftrace.txt'));
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-cutnum-'));
  // cut after "spte 111b6" of line 73's "spte 111b6ca25": read as it stands, a spte of 0x111b6
  const at = text.indexOf('spte 111b6ca25') + 'spte 111b6'.length;
  const path = join(dir, 'cut.txt');
  writeFileSync(path, text.slice(0, at));
  const r = await ingest(path);
  const before = text.slice(0, at).split('\n').slice(0, -1).filter((l) => /^\s+\S.*\[\d{3}\]/.test(l)).length;
  assert.deepEqual([r.lines, r.events, r.skippedByReason], [73, before, { 'truncated last line (no newline)': 1 }]);
  assert.equal(r.skipExamples[0]!.line, 73);
  // the same text gzipped and cut inside its compressed data: the line it stops in is a skip too
  const gz = join(dir, 'cut.txt.gz');
  await pipeline(Readable.from([text]), createGzip(), createWriteStream(gz));
  const bytes = readFileSync(gz);
  writeFileSync(gz, bytes.subarray(0, bytes.length - 2000));
  const g = await ingest(gz);
  assert.match(g.truncated ?? '', /truncated/);
  const read = gunzipPartial(bytes.subarray(0, bytes.length - 2000));
  assert.equal(g.lines, read.split('\n').length);
  assert.equal(g.skippedByReason['truncated last line (no newline)'], read.endsWith('\n') ? undefined : 1);
  assert.ok(g.events < whole.events);
});

/** What zlib yields from a cut gzip before it fails (the independent count of the test above). */
function gunzipPartial(b: Buffer): string {
  const r = spawnSync('sh', ['-c', 'gzip -dc 2>/dev/null; true'], { input: b, maxBuffer: 1 << 26 });
  return r.stdout.toString('utf8');
}

test('timestamps that step back (two excerpts concatenated, one stamp edited) are a counted anomaly with the first place', async () => {
  const lines = readFileSync(fixture('cuts/touch.ftrace.txt'), 'utf8').split('\n');
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-back-'));
  const path = join(dir, 'back.txt');
  // lines 13-30 twice (line 31 of the file is the second copy's first line), and line 50's stamp set before line 49's
  const body = lines.slice(12, 50);
  body[37] = body[37]!.replace(/ 1383\.\d{6}:/, ' 1383.000001:');
  writeFileSync(path, [...lines.slice(0, 12), ...lines.slice(12, 30), ...body, ''].join('\n'));
  const r = await ingest(path);
  assert.deepEqual(r.anomalies, [{
    kind: 'time-backwards', count: 2, firstLine: 31,
    message: 'line 31 is stamped 1383.612336, before the 1383.612342 above it: the span and the latencies around it are not a duration',
  }]);
  assert.equal((await ingest(fixture('cuts/touch.ftrace.txt'))).anomalies.length, 0);
});

test('cpu, pid and level values their columns cannot hold are null and a counted anomaly (they wrapped silently)', async () => {
  const lines = readFileSync(fixture('cuts/touch.ftrace.txt'), 'utf8').split('\n');
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-wrap-'));
  const path = join(dir, 'wrap.txt');
  const edit = [...lines];
  edit[12] = edit[12]!.replace('-16781 ', '-99999999999 '); // pid beyond 2^31
  edit[13] = edit[13]!.replace('[001]', '[4294967297]'); // cpu beyond 2^32
  edit[72] = edit[72]!.replace('level 1 at', 'level 257 at'); // level beyond u8
  writeFileSync(path, edit.join('\n'));
  const { result: r, rows } = await rowsByLine(path);
  assert.deepEqual([rows.get(13)!.pid, rows.get(14)!.cpu, rows.get(73)!.level, rows.get(73)!.gfn], [null, null, null, 0x80n]);
  assert.deepEqual(r.anomalies, [{ kind: 'value-out-of-range', count: 3, firstLine: 13, message: 'line 13: pid 99999999999 does not fit its column (i32): kept as null' }]);
  assert.equal(r.events, (await ingest(fixture('cuts/touch.ftrace.txt'))).events);
});

test('grep output (-H file names, -n line numbers, -A/-B context lines and their -- separators) reads as the trace it was cut from', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-grep-'));
  const trace = join(dir, 'touch.txt');
  writeFileSync(trace, readFileSync(fixture('cuts/touch.ftrace.txt')));
  const { rows: original } = await rowsByLine(trace);
  const key = (r: Row): string => [r.ts_ns, r.cpu, r.pid, r.comm, r.event, r.gfn, r.spte].join(' ');
  const originalKeys = new Set([...original.values()].map(key));
  for (const args of [['-H', '-A1'], ['-n', '-B1'], ['-Hn'], ['-C2']]) {
    const out = spawnSync('grep', [...args, 'kvm_mmu_set_spte', 'touch.txt'], { cwd: dir, encoding: 'utf8' }).stdout;
    const path = join(dir, 'grep.txt');
    writeFileSync(path, out);
    const { result: r, rows } = await rowsByLine(path);
    const lines = out.split('\n').slice(0, -1);
    const separators = lines.filter((l) => l === '--').length;
    const what = args.join(' ');
    // every line grep printed is an event line of the trace (the cut has no header lines past 11)
    assert.deepEqual([r.lines, r.events, r.grepSeparators, r.skippedLines], [lines.length, lines.length - separators, separators, 0], what);
    assert.ok(separators > 0 || !args.some((a) => /[ABC]/.test(a)), what);
    // the same events as in the trace: same task, time, values (no file name in comm)
    for (const row of rows.values()) assert.ok(originalKeys.has(key(row)), `${what}: ${key(row)}`);
    assert.equal(r.kernel.hints['grep'] !== undefined, args.some((a) => /[Hn]/.test(a)), what);
  }
  // trace-cmd's own instance prefix ("corpus:") is not grep's
  assert.equal((await ingest(fixture('cuts/touch.tracecmd.txt'))).kernel.hints['grep'], undefined);
});

test("trace-cmd report's 'CPU N is empty' and 'cpus=N' lines are header lines wherever they are (two reports concatenated, an excerpt), not skips", async () => {
  const report = readFileSync(fixture('cuts/touch.tracecmd.txt'), 'utf8').split('\n');
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-tcheader-'));
  const path = join(dir, 'two.txt');
  writeFileSync(path, ['cpus=4', 'CPU 0 is empty', 'CPU 2 is empty', ...report.slice(1, 20), 'cpus=4', 'CPU 3 is empty', ...report.slice(20, 30), ''].join('\n'));
  const r = await ingest(path);
  assert.deepEqual([r.format, r.headerLines, r.skippedLines, r.events, r.headerCpus], ['trace-cmd', 5, 0, 29, 4]);
});
