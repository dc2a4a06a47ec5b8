// trace.dat and perf.data read directly, on the fixtures of fixtures/binary/ (README.md there says how
// each was made): every decoded row equals the row of the same event's text, lost events and time
// extends as trace-cmd and an independent page walk (ring_pages.py) count them, and cut or damaged
// files end in a reported stop with the byte offset, never a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { REPO, fixture, readCounts } from '../../testing/fixtures.js';
import { analyzeTrace } from '../../pipeline/analyze.js';
import { ingest, InputError, type IngestResult } from '../ingest.js';

type Row = Record<string, unknown>;

const tmp = mkdtempSync(join(tmpdir(), 'mmu-trace-binary-'));
const TRACE_DATS = ['mprotect.v7.trace.dat', 'mprotect.v7-uncompressed.trace.dat.gz', 'mprotect.v6.trace.dat.gz'];
const bin = (name: string): string => fixture(`binary/${name}`);
const bytes = (name: string): Buffer => (name.endsWith('.gz') ? gunzipSync(readFileSync(bin(name))) : readFileSync(bin(name)));

function temp(name: string, content: Buffer): string {
  const p = join(tmp, name);
  writeFileSync(p, content);
  return p;
}

/** Every row of an ingest in order, without its null columns. */
async function rows(path: string): Promise<{ result: IngestResult; rows: Row[] }> {
  const out: Row[] = [];
  const result = await ingest(path, {
    onBatch: (b) => {
      for (let i = 0; i < b.numRows; i++) {
        out.push(Object.fromEntries(Object.entries(b.get(i)!.toJSON() as Row).filter(([, v]) => v !== null)));
      }
    },
  });
  return { result, rows: out };
}

const without = (r: Row, ...cols: string[]): Row => Object.fromEntries(Object.entries(r).filter(([k]) => !cols.includes(k)));

test('trace.dat v7 zstd, v7 uncompressed and v6: every row equals trace-cmd report -R plus the kernel text of the same buffer', async () => {
  // -R gives each field's raw value and exact ns times; the kernel's own `trace` text of the buffer,
  // read before trace-cmd extract, gives what the text decoders take from printed text (reason
  // names, permission letters, task states); -R cannot decode sched_switch's strings
  const raw = await rows(bin('mprotect.trace-cmd-R.txt.gz'));
  const kernel = await rows(bin('mprotect.ftrace.txt.gz'));
  assert.deepEqual(raw.result.undecodedEvents, { sched_switch: 33 });
  const expected: Row[] = [];
  let k = 0;
  for (const r of raw.rows) {
    if (r.event === 'lost_events') {
      expected.push(without(r, 'line'));
      continue;
    }
    const text = without(kernel.rows[k++]!, 'line', 'flags');
    expected.push(r.event === 'sched_switch' ? { ...text, ts_ns: r.ts_ns } : { ...text, ...without(r, 'line') });
  }
  assert.equal(k, kernel.rows.length);
  for (const name of TRACE_DATS) {
    const b = await rows(bin(name));
    assert.equal(b.rows.length, expected.length, name);
    for (let i = 0; i < expected.length; i++) assert.deepEqual(without(b.rows[i]!, 'line'), expected[i], `${name} row ${i + 1}`);
    // the line column is the record's ordinal
    assert.deepEqual(b.rows.map((r) => Number(r.line)), b.rows.map((_, i) => i + 1), name);
  }
});

test('trace.dat: counts, lost events and time extends as trace-cmd and ring_pages.py count them', async () => {
  // trace-cmd report -R: "CPU:1 [2631 EVENTS DROPPED]", "CPU:0 [3605 EVENTS DROPPED]" (report --stat: overrun 3605, 2631);
  // the kernel text's header: entries-in-buffer/entries-written: 4121/10357 (10357 - 4121 = 6236)
  const reR = readFileSync(bin('mprotect.trace-cmd-R.txt.gz'));
  const dropped = [...gunzipSync(reR).toString('utf8').matchAll(/CPU:\d+ \[(\d+) EVENTS DROPPED\]/g)].map((m) => Number(m[1]));
  assert.deepEqual(dropped, [2631, 3605]);
  for (const name of TRACE_DATS) {
    const r = await analyzeTrace(bin(name));
    assert.deepEqual(r.events.byName, readCounts(bin('mprotect.trace-cmd-R.txt.counts')), name);
    const i = r.input;
    assert.deepEqual([i.format, i.events, i.lostEvents, i.lostMarkers, i.cpus, i.truncated], ['trace.dat', 4121, 6236, 2, 2, null], name);
    // first and last event of trace-cmd report -t: 1307.887378450 (kvm_mmu_paging_element), 1308.402263683 (tlb_flush)
    assert.deepEqual([i.firstTs, i.lastTs], ['1307.887378450', '1308.402263683'], name);
    assert.match(i.formatReason, /file version (6|7), (zstd|uncompressed), buffer "mmutrace-fixture"/, name);
    // ring_pages.py mprotect.v6.trace.dat.gz 2: pages=34 events=4121 extends=2 stamps=0 paddings=0 missed_pages=2 missed=6236
    assert.equal(r.kernel.hints['trace.dat']?.value,
      '34 pages, 2 time extends, 0 absolute time stamps, 0 paddings, 2 pages with missed events; clock local', name);
    // trace-cmd dump --options: UNAME "Linux vm 6.18.44-fc-v1147 x86_64"
    assert.equal(r.kernel.hints.kernel?.value, '6.18.44-fc-v1147, as the file says (--kernel 6.18 applies its rules)', name);
  }
});

test('trace.dat: a page that flags lost events without their count gives a lost row of unknown size', async () => {
  const v6 = bytes('mprotect.v6.trace.dat.gz');
  // CPU 1's first page (0x202000, trace-cmd dump --flyrecord) has the flags; clear RB_MISSED_STORED
  // (commit bit 30), as when the count did not fit after the data
  const at = 0x202000 + 8;
  assert.equal(v6.readUInt32LE(at) >>> 30, 3);
  const edited = Buffer.from(v6);
  edited.writeUInt32LE((v6.readUInt32LE(at) & ~(1 << 30)) >>> 0, at);
  const { result, rows: rs } = await rows(temp('unstored.trace.dat', edited));
  assert.deepEqual([result.lostEvents, result.lostMarkers], [3605, 2]);
  assert.deepEqual(rs.filter((r) => r.event === 'lost_events').map((r) => [r.cpu, r.lost ?? null]), [[1, null], [0, 3605n]]);
});

test('trace.dat cut or damaged: a message naming the byte offset, the events of the data before it, no crash', async () => {
  const whole = await rows(bin('mprotect.v6.trace.dat.gz'));
  const v6 = bytes('mprotect.v6.trace.dat.gz');
  const events = (rs: Row[]): Row[] => rs.filter((r) => r.event !== 'lost_events').map((r) => without(r, 'line'));
  // the instance's CPU data (trace-cmd dump --flyrecord): CPU 0 at 0x1f1000, CPU 1 at 0x202000, 69632 bytes each.
  // Cut in CPU 1's tenth page, or in CPU 0's fourth (CPU 1 then has no data at all)
  for (const [cut, cpu] of [[0x202000 + 9 * 4096 + 100, 1], [0x1f1000 + 3 * 4096, 0]] as const) {
    const r = await rows(temp(`cut-${cut}.trace.dat`, v6.subarray(0, cut)));
    // the first CPU found cut is named (with CPU 0 cut, CPU 1's data is missing from the start)
    assert.match(r.result.truncated!, new RegExp(`^trace\\.dat is truncated: file ends inside CPU 1 data of buffer mmutrace-fixture.* at byte offset ${cut}$`));
    // the cut CPU's events end with its last whole page; the other CPUs' are all there
    const last = (events(r.rows).filter((x) => x.cpu === cpu).at(-1)?.ts_ns ?? -1n) as bigint;
    const kept = events(whole.rows).filter((x) => (cut < 0x202000 && x.cpu === 1 ? false : x.cpu !== cpu || (x.ts_ns as bigint) <= last));
    assert.deepEqual(events(r.rows), kept, String(cut));
    assert.ok(kept.length < 4121 && events(r.rows).some((x) => x.cpu === cpu), String(cut));
  }
  const v7 = bytes('mprotect.v7.trace.dat');
  // a byte of CPU 0's first compressed chunk (data at 0x20000; chunk header of 8 bytes after the count)
  const damaged = Buffer.from(v7);
  // the zstd frame magic of CPU 0's first compressed chunk (the data at 0x20000: u32 chunk count, u32 sizes, frame)
  damaged[0x20000 + 4 + 8] ^= 0xff;
  const d = await rows(temp('damaged.trace.dat', damaged));
  assert.match(d.result.truncated!, /^trace\.dat is corrupt: compressed chunk does not decompress .* at byte offset 131076$/);
  // CPU 1 is whole: ring_pages.py counts its events apart from CPU 0's as the -R text does (2056, report --stat "read events")
  assert.equal(events(d.rows).length, 2056);
  // headers that cannot be read are an InputError naming the file
  const unreadable: [Buffer, RegExp][] = [
    [v7.subarray(0, 100), /trace\.dat: file ends inside an options section at byte offset 100/],
    [Buffer.concat([v7.subarray(0, 10), Buffer.from('8'), v7.subarray(11)]), /trace\.dat file version "8"/],
    [gzipSync(v6.subarray(0, 5000)), /bad\.trace\.dat: trace\.dat: file ends inside the trace\.dat header at byte offset 5000/],
  ];
  for (const [content, message] of unreadable) {
    await assert.rejects(ingest(temp('bad.trace.dat', content)), (e: unknown) => e instanceof InputError && message.test(e.message));
  }
});

test('perf.data: every row equals perf script --ns -F comm,pid,tid,cpu,time,event,trace', async () => {
  const text = await rows(bin('mprotect.perf-script.txt.gz'));
  const b = await rows(bin('mprotect.perf.data.gz'));
  assert.equal(b.rows.length, text.rows.length);
  for (let i = 0; i < text.rows.length; i++) {
    const r = b.rows[i]!;
    // kvm_userspace_exit's errno field is a raw field the printed text ("reason KVM_EXIT_IO (2)") does not show
    const extra = r.event === 'kvm_userspace_exit' ? ['errno'] : [];
    assert.deepEqual(without(r, 'line', ...extra), without(text.rows[i]!, 'line'), `row ${i + 1}`);
    if (extra.length) assert.equal(r.errno, 0);
  }
  const report = await analyzeTrace(bin('mprotect.perf.data.gz'));
  assert.deepEqual(report.events.byName, readCounts(bin('mprotect.perf-script.txt.counts')));
  // perf report --header-only: "os release : 6.18.44-fc-v1147", "nrcpus online : 2"
  assert.deepEqual([report.input.format, report.input.events, report.input.lostEvents, report.input.truncated, report.input.cpus],
    ['perf.data', 5261, 0, null, 2]);
  assert.equal(report.kernel.hints.kernel?.value, '6.18.44-fc-v1147, as the file says (--kernel 6.18 applies its rules)');
});

test('perf.data that lost events: LOST records as lost rows where they happened, LOST_SAMPLES the same losses in all', async () => {
  // perf report --stats and -D of the file (touch-lost.perf-stats.txt)
  const stats = readFileSync(bin('touch-lost.perf-stats.txt'), 'utf8');
  const num = (re: RegExp): number => Number(re.exec(stats)![1]);
  const samples = num(/^ +SAMPLE events: +(\d+)/m);
  const lostRecords = num(/^PERF_RECORD_LOST records (\d+)/m);
  const lost = num(/^PERF_RECORD_LOST records \d+, lost (\d+)/m);
  assert.equal(num(/^PERF_RECORD_LOST_SAMPLES records \d+, lost (\d+)/m), lost);
  const { result, rows: rs } = await rows(bin('touch-lost.perf.data.gz'));
  assert.deepEqual([result.events, result.lostEvents, result.lostMarkers, result.lostFromHeader], [samples, lost, lostRecords, lost]);
  const marks = rs.filter((r) => r.event === 'lost_events');
  assert.equal(marks.reduce((n, r) => n + Number(r.lost), 0), lost);
  // each sits in time order among the samples
  const ts = rs.map((r) => r.ts_ns as bigint);
  assert.ok(ts.every((t, i) => i === 0 || t >= ts[i - 1]!));
  assert.deepEqual((await analyzeTrace(bin('touch-lost.perf.data.gz'))).events.byName, readCounts(bin('touch-lost.perf-script.txt.counts')));
});

test('perf.data: a cut file names the missing formats; a damaged record stops the ingest at its offset', async () => {
  const data = bytes('mprotect.perf.data.gz');
  // perf.data keeps the event formats after the data section: a cut file cannot be decoded at all
  await assert.rejects(ingest(temp('cut.perf.data', data.subarray(0, 200_000))),
    (e: unknown) => e instanceof InputError && /perf\.data: file ends before the feature sections .* at byte offset 200000/.test(e.message));
  await assert.rejects(ingest(temp('head.perf.data', data.subarray(0, 60))),
    (e: unknown) => e instanceof InputError && /perf\.data: file ends inside the perf\.data header at byte offset 60/.test(e.message));
  // walk 1000 records of the data section (perf_file_header.data at byte 40; perf_event_header: u32 type, u16 misc, u16 size)
  let at = Number(data.readBigUInt64LE(40));
  let samples = 0;
  for (let n = 0; n < 1000; n++) {
    if (data.readUInt32LE(at) === 9) samples++; // PERF_RECORD_SAMPLE
    at += data.readUInt16LE(at + 6);
  }
  const damaged = Buffer.from(data);
  damaged.writeUInt16LE(0, at + 6);
  const r = await rows(temp('damaged.perf.data', damaged));
  assert.equal(r.result.truncated, `perf.data is corrupt: perf record of size 0 at byte offset ${at}`);
  assert.equal(r.result.events, samples);
});

test('CLI: analyze on a cut trace.dat reports what was read and exits 3', () => {
  const cut = temp('cli-cut.trace.dat', bytes('mprotect.v6.trace.dat.gz').subarray(0, 0x202000 + 9 * 4096 + 100));
  const r = spawnSync(process.execPath, [join(REPO, 'dist/src/cli/main.js'), 'analyze', cut, '--format', 'json'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /trace\.dat is truncated: .* at byte offset 2142308/);
  const j = JSON.parse(r.stdout);
  assert.equal(j.input.format, 'trace.dat');
  assert.ok(j.input.events > 0 && j.input.events < 4121);
  const bad = spawnSync(process.execPath, [join(REPO, 'dist/src/cli/main.js'), 'analyze', temp('cli-bad.trace.dat', bytes('mprotect.v7.trace.dat').subarray(0, 100))], { encoding: 'utf8' });
  assert.equal(bad.status, 3);
  assert.match(bad.stderr, /cli-bad\.trace\.dat: trace\.dat: file ends inside an options section at byte offset 100/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
});

test('random damage (a fixed seed, 40 files per format): an InputError or a reported stop, never another error', async () => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * n);
  };
  const formats: [string, Buffer, [number, number][]][] = [
    // headers, the first CPU's pages and the options sections (v7), the pages (v6), header, attrs and the tracing data (perf)
    ['trace.dat', bytes('mprotect.v7.trace.dat'), [[0, 200], [0x20000, 0x27000], [126900, 127300]]],
    ['trace.dat', bytes('mprotect.v6.trace.dat.gz'), [[0, 4096], [0x1f1000, 0x213000]]],
    ['perf.data', bytes('mprotect.perf.data.gz'), [[0, 4096]]],
  ];
  for (const [kind, whole, regions] of formats) {
    regions.push([whole.length - 40_000, whole.length]);
    for (let n = 0; n < 40; n++) {
      const b = Buffer.from(whole);
      for (let k = 1 + rnd(4); k > 0; k--) {
        const [lo, hi] = regions[rnd(regions.length)]!;
        b[lo + rnd(hi - lo)] = rnd(256);
      }
      const r = await ingest(temp(`fuzz.${kind}`, b)).catch((e: unknown) => {
        if (e instanceof InputError) return null;
        throw e;
      });
      if (r?.truncated) assert.match(r.truncated, new RegExp(`^${kind.replace('.', '\\.')} is (truncated|corrupt): .* at byte offset \\d+$`));
    }
  }
});
