// The command line as a user meets it: exit codes of design.md §7, clear messages for bad input,
// the JSON contract's keys, and DuckDB loaded only by the verbs that use it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPO, fixture, readCounts } from '../testing/fixtures.js';

const CLI = join(REPO, 'dist/src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'mmu-trace-cli-'));

function run(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...(env.NODE_IMPORT ? ['--import', env.NODE_IMPORT] : []), CLI, ...args], {
    encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, maxBuffer: 64 << 20,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function file(name: string, content: string | Buffer): string {
  const p = join(tmp, name);
  writeFileSync(p, content);
  return p;
}

test('analyze --format json: the contract keys and counts of a real trace', () => {
  const r = run(['analyze', fixture('mprotect-roundtrip.ftrace.txt.gz'), '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.schemaVersion, 1);
  assert.equal(j.tool.name, 'mmu-trace');
  for (const k of ['path', 'format', 'lines', 'events', 'skippedLines', 'skippedByReason', 'lostEvents', 'firstTs', 'lastTs', 'cpus']) {
    assert.ok(k in j.input, k);
  }
  assert.deepEqual(j.events.byName, readCounts(fixture('mprotect-roundtrip.ftrace.txt.counts')));
  // header: entries-in-buffer/entries-written: 125662/125662   #P:2
  assert.deepEqual([j.input.format, j.input.events, j.input.lostEvents, j.input.cpus], ['ftrace', 125662, 0, 2]);
  // this host runs shadow paging (tdp_mmu=N): no kvm_tdp_mmu_spte_changed at all
  assert.equal(j.kernel.mmu, 'shadow');
});

test('analyze text report fits 100 columns', () => {
  const r = run(['analyze', fixture('cuts/touch.perf.txt')]);
  assert.equal(r.code, 0, r.stderr);
  const long = r.stdout.split('\n').filter((l) => l.length > 100);
  assert.deepEqual(long, []);
  assert.match(r.stdout, /perf/);
});

test('stdin input (-), gzip sniffed from content whatever the name', () => {
  const gz = file('trace.bin', gzipSync(readFileSync(fixture('cuts/touch.ftrace.txt'))));
  const viaFile = run(['analyze', gz, '--format', 'json']);
  assert.equal(viaFile.code, 0, viaFile.stderr);
  const r = spawnSync(process.execPath, [CLI, 'analyze', '-', '--format', 'json'], { input: readFileSync(gz), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).events, JSON.parse(viaFile.stdout).events);
  assert.equal(JSON.parse(r.stdout).input.compressed, true);
});

test('bad input: clear messages and exit code 3, never a stack trace', () => {
  const cases: [string, string | Buffer, RegExp][] = [
    ['empty.txt', '', /empty input \(0 bytes\)/],
    ['garbage.bin', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256)), /binary data/],
    ['comments.txt', '# just\n# comments\n', /no trace lines, only 2 comment line/],
    ['prose.txt', 'hello world\nthis is not a trace\n', /no line in the first 2 looks like/],
  ];
  for (const [name, content, message] of cases) {
    const r = run(['analyze', file(name, content)]);
    assert.equal(r.code, 3, name);
    assert.match(r.stderr, message, name);
    assert.doesNotMatch(r.stderr, /\n\s+at /, name);
  }
  const missing = run(['analyze', join(tmp, 'nope.txt')]);
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /nope\.txt: no such file/);
});

test('a truncated .gz: report of what was read, a message, exit code 3', () => {
  const whole = readFileSync(fixture('mprotect-roundtrip.ftrace.txt.gz'));
  const r = run(['analyze', file('cut.gz', whole.subarray(0, 200_000)), '--format', 'json']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /gzip data is truncated/);
  const j = JSON.parse(r.stdout);
  assert.match(j.input.truncated, /truncated/);
  assert.ok(j.input.events > 10000 && j.input.events < 125662);
});

test('CRLF line ends, an unknown event, and a line cut in the middle are handled and counted', () => {
  const lines = readFileSync(fixture('cuts/touch.ftrace.txt'), 'utf8').split('\n');
  const crlf = run(['analyze', file('crlf.txt', lines.join('\r\n')), '--format', 'json']);
  assert.equal(crlf.code, 0, crlf.stderr);
  const j = JSON.parse(crlf.stdout);
  assert.deepEqual(j.events.byName, readCounts(fixture('cuts/touch.ftrace.txt.counts')));
  assert.equal(j.input.crlfLines, lines.length - 1);

  const unknown = '    kvm-workload-16782   [001] ...1.  1383.613551: my_new_event: foo=1 bar=baz';
  const cut = lines[72]!.slice(0, 40);
  const edited = [...lines.slice(0, 60), unknown, cut, ...lines.slice(60)].join('\n');
  const r = run(['analyze', file('edited.txt', edited), '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout);
  assert.equal(e.events.byName.my_new_event, 1);
  assert.equal(e.input.skippedLines, 1);
  assert.deepEqual(e.input.skippedByReason, { 'unparseable line': 1 });
  assert.equal(e.input.skipExamples[0].line, 62);
  // the cut line ends inside the timestamp: the grammar says where and what it expected
  assert.deepEqual([e.input.skipExamples[0].column, e.input.skipExamples[0].message], [41, 'Expected ": "']);
});

test('usage errors exit 2', () => {
  assert.equal(run([]).code, 2);
  assert.equal(run(['analyze']).code, 2);
  assert.equal(run(['analyze', fixture('cuts/touch.perf.txt'), '--format', 'xml']).code, 2);
  const q = run(['query', 'no_such_query', fixture('cuts/touch.perf.txt')]);
  assert.equal(q.code, 2);
  assert.match(q.stderr, /no query named 'no_such_query'/);
});

test('--help, analyze and queries never load DuckDB; sql does', () => {
  const hook = file('hook.mjs', `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent("import { appendFileSync } from 'node:fs'; export async function resolve(s, c, n) { if (s.includes('duckdb')) appendFileSync(process.env.DUCK_LOG, s + '\\\\n'); return n(s, c); }"));
`);
  const loaded = (args: string[]): string => {
    const log = join(tmp, `duck-${args[0]}.log`);
    writeFileSync(log, '');
    const r = run(args, { NODE_IMPORT: hook, DUCK_LOG: log });
    assert.equal(r.code, 0, r.stderr);
    return readFileSync(log, 'utf8');
  };
  assert.equal(loaded(['--help']), '');
  assert.equal(loaded(['analyze', fixture('cuts/touch.perf.txt')]), '');
  assert.equal(loaded(['queries']), '');
  assert.match(loaded(['sql', fixture('cuts/touch.perf.txt'), 'select 1']), /@duckdb\/node-api/);
});

test('compare --fail-on sets exit code 4 when a figure crosses its bound, 0 otherwise; --format lkml is md', () => {
  const t = fixture('cuts/touch.ftrace.txt');
  const ok = run(['compare', t, t, '--fail-on', 'delta.input.events!=0', '--format', 'json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout).failOn, [{ expr: 'delta.input.events!=0', value: 0, failed: false }]);
  const fail = run(['compare', t, t, '--fail-on', 'input.events>0']);
  assert.equal(fail.code, 4, fail.stderr);
  assert.match(fail.stdout, /input\.events>0: \d+ -> FAIL/);
  assert.equal(run(['compare', t, t, '--fail-on', 'nope>0']).code, 2);
  assert.equal(run(['analyze', t, '--format', 'lkml']).stdout, run(['analyze', t, '--format', 'md']).stdout);
});

test('report: a saved JSON report renders as analyze renders it (html, text, md); anything else is refused with exit 3', () => {
  const t = fixture('mprotect-roundtrip.ftrace.txt.gz');
  const saved = join(tmp, 'saved.json');
  assert.equal(run(['analyze', t, '--format', 'json', '--what-if', 'skip-unchanged', '-o', saved]).code, 0);
  const html = join(tmp, 'from-saved.html');
  const r = run(['report', saved, '--format', 'html', '-o', html]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(html, 'utf8'), run(['analyze', t, '--what-if', 'skip-unchanged', '--format', 'html']).stdout);
  for (const format of ['text', 'md', 'json']) {
    assert.equal(run(['report', saved, '--format', format]).stdout, run(['analyze', t, '--what-if', 'skip-unchanged', '--format', format]).stdout, format);
  }
  const notReport = run(['report', file('other.json', '{"a": 1}'), '--format', 'html']);
  assert.equal(notReport.code, 3);
  assert.match(notReport.stderr, /not an mmu-trace JSON report/);
  assert.equal(run(['report', file('broken.json', '{'), '--format', 'html']).code, 3);
});

test('--kernel sets the rule set, the SPTE layout and the role layout; --role-layout still wins', () => {
  const cases: [string[], string, string, string][] = [
    [['--kernel', '7.2'], '>=6.18', '>=7.0', 'v7.2'],
    [['--kernel', '4.19'], '<=5.12', '<=6.0', 'v4'],
    [['--kernel', '5.15'], '5.13-6.12', '<=6.0', 'v5.1'],
    [['--kernel', '6.12.117'], '5.13-6.12', '6.10-6.18', 'v5.17'],
    [['--kernel', '6.13'], '6.13-6.14', '6.10-6.18', 'v5.17'],
    [['--kernel', '6.18'], '>=6.18', '6.10-6.18', 'v5.17'],
    [['--kernel', '7.2', '--role-layout', 'v5.1'], '>=6.18', '>=7.0', 'v5.1'],
  ];
  for (const [args, set, gen, layout] of cases) {
    const r = run(['analyze', fixture('cuts/touch.perf.txt'), '--format', 'json', ...args]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual([j.model.rules.set, j.model.rules.spteGen, j.kernel.roleLayout], [set, gen, layout], args.join(' '));
  }
});

test('convert output files: renamed into place when complete; a failed input leaves an existing file whole; a bad -o is a usage error; a cut .gz writes what was read and exits 3', () => {
  const out = join(tmp, 'keep.parquet');
  assert.equal(run(['convert', fixture('cuts/touch.ftrace.txt'), '-o', out]).code, 0);
  const before = readFileSync(out);
  const bad = run(['convert', file('nul.txt', Buffer.from([0, 1, 2])), '-o', out]);
  assert.equal(bad.code, 3, bad.stderr);
  assert.deepEqual(readFileSync(out), before);
  // nothing of the scratch directory stays beside the target
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('.mmu-trace-out-')), []);
  const noDir = run(['convert', fixture('cuts/touch.ftrace.txt'), '-o', join(tmp, 'missing', 'x.arrow')]);
  assert.deepEqual([noDir.code, /-o .*missing\/x\.arrow: cannot write there \(ENOENT\)/.test(noDir.stderr)], [2, true], noDir.stderr);
  const whole = readFileSync(fixture('mprotect-roundtrip.ftrace.txt.gz'));
  const cut = run(['convert', file('cut-convert.gz', whole.subarray(0, 200_000)), '-o', join(tmp, 'cut.arrow')]);
  assert.equal(cut.code, 3);
  assert.match(cut.stderr, /gzip data is truncated \(unexpected end of file\); .*cut\.arrow holds the first \d+ lines/);
  assert.ok(statSync(join(tmp, 'cut.arrow')).size > 0);
});

test('sql over a missing or damaged .arrow / .parquet: an input error (exit 3) naming the file, not 0 rows or an internal error', () => {
  const arrow = join(tmp, 'good.arrow');
  assert.equal(run(['convert', fixture('cuts/touch.ftrace.txt'), '-o', arrow]).code, 0);
  const cases: [string, RegExp][] = [
    [join(tmp, 'missing.arrow'), /missing\.arrow: no such file/],
    [join(tmp, 'missing.parquet'), /missing\.parquet: no such file/],
    [file('cut.arrow', readFileSync(arrow).subarray(0, 1000)), /cut\.arrow: not a readable Arrow IPC file/],
    [file('junk.parquet', 'garbage\n'), /junk\.parquet: not a readable Parquet file/],
  ];
  for (const [path, message] of cases) {
    const r = run(['sql', path, 'SELECT count(*) FROM events']);
    assert.deepEqual([r.code, message.test(r.stderr)], [3, true], r.stderr);
  }
});

test('a cut .gz under sql, query and compare: the result of what was read, a message, exit code 3', () => {
  const cut = file('cut-sql.gz', readFileSync(fixture('mprotect-roundtrip.ftrace.txt.gz')).subarray(0, 200_000));
  for (const args of [['sql', cut, 'SELECT count(*) AS n FROM events'], ['query', 'summary', cut], ['compare', cut, fixture('mprotect-roundtrip.ftrace.txt.gz')]]) {
    const r = run(args);
    assert.equal(r.code, 3, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /cut-sql\.gz: gzip data is truncated \(unexpected end of file\); the result covers the first \d+ lines/, args[0]);
    assert.ok(r.stdout.length > 0, args[0]);
  }
});

test('-h is --help; the bare command lists every verb and is a usage error; --memslots says it takes a file', () => {
  const verbs = ['analyze', 'report', 'compare', 'convert', 'sql', 'query', 'queries', 'record', 'live'];
  const h = run(['-h']);
  assert.equal(h.code, 0, h.stderr);
  for (const v of verbs) assert.match(h.stdout, new RegExp(`mmu-trace ${v}\\b`), v);
  const bare = run([]);
  assert.equal(bare.code, 2);
  for (const v of verbs) assert.match(bare.stderr, new RegExp(`mmu-trace ${v}\\b`), v);
  assert.match(run(['analyze', '--help']).stdout, /--memslots\s+a JSON file/);
});

test('-o with .html, .json or .md and no --format writes that format; --format still wins', () => {
  const trace = fixture('cuts/touch.ftrace.txt');
  const out = (name: string, ...extra: string[]): string => {
    const path = join(tmp, name);
    const r = run(['analyze', trace, '-o', path, ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return readFileSync(path, 'utf8');
  };
  assert.match(out('r.html'), /^<!doctype html>/);
  assert.equal(JSON.parse(out('r.json')).schemaVersion, 1);
  assert.match(out('r.md'), /^mmu-trace .*\n=+\n/);
  assert.match(out('r.txt'), /^mmu-trace 0\.\d+\.\d+: /);
  assert.equal(JSON.parse(out('other.html', '--format', 'json')).schemaVersion, 1);
});

test('a report of which every line was skipped (a wrong --input-format) exits 3 and says so; the report is still written', () => {
  const r = run(['analyze', '--input-format', 'perf', fixture('cuts/touch.ftrace.txt'), '--format', 'json']);
  assert.equal(r.code, 3);
  // 1083 lines: 12 header lines, 1071 event lines that are not perf script text
  assert.match(r.stderr, /no line read as perf text \(1071 skipped, most: .*\); check --input-format/);
  assert.equal(JSON.parse(r.stdout).input.skippedLines, 1071);
  assert.equal(run(['analyze', fixture('cuts/touch.ftrace.txt'), '--format', 'json']).code, 0);
});
