// A seeded fuzz run over real fixtures (issue 14): each mutation class goes through analyze,
// convert and sql in process, and a few through the CLI. Nothing may crash; where the damage is
// one a reader can see in the line (a NUL, an invalid UTF-8 byte, garbage text, an overlong line),
// exactly the damaged lines are skipped and every other event is read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture } from '../testing/fixtures.js';
import { analyzeTrace } from './analyze.js';
import { InputError } from '../ingest/ingest.js';
import { convertTrace } from '../store/convert.js';
import { runSql } from '../store/sql.js';

const SEED = 20261204;
const ROUNDS = 4;
const BASES = ['cuts/touch.ftrace.txt', 'cuts/touch.tracecmd.txt', 'cuts/touch.perf.txt'];
const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-fuzz-'));
const CLI = join(import.meta.dirname, '../cli/main.js');

/** mulberry32: a small seeded generator, so a failure reproduces from the seed and round. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface Base {
  name: string;
  lines: Buffer[];
  /** Lines that are events (not header lines), by index. */
  isEvent: boolean[];
  /** Indices of the event lines past the first 256 bytes (a damaged line there would make the file binary). */
  eventLines: number[];
  events: number;
}

async function loadBase(name: string): Promise<Base> {
  const text = readFileSync(fixture(name));
  const lines: Buffer[] = [];
  for (let a = 0, e = text.indexOf(10); e >= 0; a = e + 1, e = text.indexOf(10, a)) lines.push(text.subarray(a, e));
  const { input } = await analyzeTrace(fixture(name), { model: false });
  // these cuts hold events and header lines only (their .counts files sum to the events)
  const isEvent = lines.map((l) => l.length > 0 && !/^(#|cpus=)/.test(l.toString()));
  assert.equal(isEvent.filter(Boolean).length, input.events, name);
  let offset = 0;
  const eventLines: number[] = [];
  lines.forEach((l, k) => {
    if (offset > 256 && isEvent[k]) eventLines.push(k);
    offset += l.length + 1;
  });
  return { name, lines, isEvent, eventLines, events: input.events };
}

const join1 = (lines: readonly Buffer[]): Buffer => Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));

/** `k` distinct picks of `from`. */
function pick<T>(rnd: () => number, from: readonly T[], k: number): T[] {
  const pool = [...from];
  const out: T[] = [];
  while (out.length < k && pool.length) out.push(pool.splice(Math.floor(rnd() * pool.length), 1)[0]!);
  return out;
}

interface Case {
  what: string;
  bytes: Buffer;
  /** Exact expectations where the damage is visible in the line. */
  skipped?: number;
  events?: number;
}

function cases(rnd: () => number, b: Base): Case[] {
  const out: Case[] = [];
  // damaged bytes: a NUL, 0xff or a cut UTF-8 sequence somewhere in k event lines
  const hit = pick(rnd, b.eventLines, 1 + Math.floor(rnd() * 8));
  const damaged = b.lines.map((l, k) => {
    if (!hit.includes(k)) return l;
    const c = Buffer.from(l);
    c[Math.floor(rnd() * c.length)] = [0x00, 0xff, 0xc3][Math.floor(rnd() * 3)]!;
    return c;
  });
  out.push({ what: `${hit.length} damaged lines`, bytes: join1(damaged), skipped: hit.length, events: b.events - hit.length });
  // garbage text lines inserted (printable, no trace shape)
  const garbage = pick(rnd, b.eventLines, 1 + Math.floor(rnd() * 5));
  const withGarbage = b.lines.flatMap((l, k) => (garbage.includes(k) ? [Buffer.from(`@@ ${Math.floor(rnd() * 1e9).toString(36)} garbage`), l] : [l]));
  out.push({ what: `${garbage.length} garbage lines`, bytes: join1(withGarbage), skipped: garbage.length, events: b.events });
  // an overlong line (100 KiB) in the middle
  const at = b.eventLines[Math.floor(rnd() * b.eventLines.length)]!;
  out.push({ what: 'an overlong line', bytes: join1([...b.lines.slice(0, at), Buffer.alloc(100 << 10, 0x61), ...b.lines.slice(at)]), skipped: 1, events: b.events });
  // cut at a random byte: every complete line before it is read, a partial last line is a skip
  const whole = join1(b.lines);
  const cut = 300 + Math.floor(rnd() * (whole.length - 300));
  const kept = whole.subarray(0, cut);
  const complete = kept.subarray(0, kept.lastIndexOf(10) + 1);
  const completeLines = complete.toString('latin1').split('\n').length - 1;
  const completeEvents = b.isEvent.slice(0, completeLines).filter(Boolean).length;
  out.push({ what: `cut at byte ${cut}`, bytes: kept, skipped: kept.length > complete.length ? 1 : 0, events: completeEvents });
  // two copies concatenated (time steps back once), then u64 extremes in hex fields
  out.push({ what: 'concatenated', bytes: Buffer.concat([whole, whole]) });
  out.push({ what: 'u64 extremes', bytes: Buffer.from(whole.toString('latin1').replace(/\b(gfn|spte) [0-9a-f]+/g, (_, f: string) => `${f} ffffffffffffffff`), 'latin1') });
  // random byte flips anywhere (newlines too): no exact count, only no crash
  const flipped = Buffer.from(whole);
  for (let n = 0; n < 20; n++) flipped[300 + Math.floor(rnd() * (flipped.length - 300))] = Math.floor(rnd() * 256);
  out.push({ what: '20 random byte flips', bytes: flipped });
  // a gzip cut short
  const gz = gzipSync(whole);
  out.push({ what: 'a cut gzip', bytes: gz.subarray(0, 20 + Math.floor(rnd() * (gz.length - 20))) });
  return out;
}

test(`fuzz (seed ${SEED}, ${ROUNDS} rounds over ${BASES.length} real cuts): analyze, convert and sql never crash; visible damage is skipped line for line`, async () => {
  const bases = await Promise.all(BASES.map(loadBase));
  const rnd = random(SEED);
  let n = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const b of bases) {
      for (const c of cases(rnd, b)) {
        const what = `seed ${SEED} round ${round} ${b.name}: ${c.what}`;
        const path = join(dir, `case-${n++}.txt`);
        writeFileSync(path, c.bytes);
        let report;
        try {
          report = await analyzeTrace(path);
        } catch (e) {
          // refusing an input is allowed (binary, empty); nothing else may escape
          assert.ok(e instanceof InputError, `${what}: ${(e as Error).stack}`);
          continue;
        }
        if (c.skipped !== undefined) assert.equal(report.input.skippedLines, c.skipped, `${what}: skipped ${JSON.stringify(report.input.skippedByReason)}`);
        if (c.events !== undefined) assert.equal(report.input.events, c.events, what);
        const pq = join(dir, `case-${n}.parquet`);
        const converted = await convertTrace(path, pq);
        assert.equal(converted.events, report.input.events, what);
        const [rows] = JSON.parse(await runSql(pq, 'SELECT count(*) AS n FROM events', { output: 'json' })) as { n: string }[];
        assert.equal(Number(rows!.n), converted.events + converted.lostMarks, what);
      }
    }
  }
});

test('fuzz through the CLI: exit codes are 0 or 3, never 1, and no stack trace reaches stderr', () => {
  const rnd = random(SEED + 1);
  const text = readFileSync(fixture('cuts/touch.ftrace.txt'));
  const inputs: [string, Buffer][] = [
    ["flipped", Buffer.from(Buffer.from(text).map((v, k) => (k > 300 && rnd() < 0.01 ? Math.floor(rnd() * 256) : v)))],
    ['cut gzip', gzipSync(text).subarray(0, 500)],
    ['binary', Buffer.from([0, 1, 2, 3, 255, 254])],
    ['empty', Buffer.alloc(0)],
  ];
  for (const [what, bytes] of inputs) {
    const path = join(dir, `cli-${what.replace(' ', '-')}`);
    writeFileSync(path, bytes);
    for (const args of [['analyze', path, '--format', 'json'], ['convert', path, '-o', `${path}.parquet`], ['sql', path, 'SELECT count(*) FROM events']]) {
      const p = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
      assert.ok(p.status === 0 || p.status === 3, `${what} ${args[0]}: exit ${p.status}: ${p.stderr.slice(-500)}`);
      assert.doesNotMatch(p.stderr, /\n\s+at .+:\d+:\d+\)?\n/, `${what} ${args[0]}`);
    }
  }
});
