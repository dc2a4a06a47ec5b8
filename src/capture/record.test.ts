// `mmu-trace record` on this machine, for real: root, /dev/kvm and tracefs with kvmmmu events
// (skipped, with the reason, elsewhere). The shared kvm-workload is built with its Makefile into a
// temp dir and recorded; after every run — a clean exit, a failing command, SIGINT, SIGTERM, a
// second Ctrl-C — no mmu-trace instance is left and every top-level enable file reads as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../testing/fixtures.js';
import { analyzeTrace } from '../pipeline/analyze.js';
import { EVENT_PRESETS } from './events.js';

const TRACEFS = '/sys/kernel/tracing';
const CLI = join(REPO, 'dist/src/cli/main.js');
const WORKLOAD_SRC = join(REPO, '../shared/tools/kvm-workload');

function whyNot(): string | false {
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync('/dev/kvm')) return 'no /dev/kvm';
  if (!existsSync(join(TRACEFS, 'events/kvmmmu'))) return `no kvmmmu events under ${TRACEFS} (mount -t tracefs nodev ${TRACEFS})`;
  if (!existsSync(join(WORKLOAD_SRC, 'Makefile'))) return `no ${WORKLOAD_SRC}`;
  if (spawnSync('make', ['--version']).status !== 0 || spawnSync('gcc', ['--version']).status !== 0) return 'no make/gcc';
  return false;
}
const skip = whyNot();

/** Every enable file of the top-level buffer, the tracer, and the instances: what a run must leave as it found. */
function tracefsState(): { instances: string[]; enables: Record<string, string>; tracer: string } {
  const enables: Record<string, string> = {};
  const walk = (dir: string, depth: number): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory() && depth < 2) walk(p, depth + 1);
      else if (e.name === 'enable') enables[p] = readFileSync(p, 'utf8');
    }
  };
  walk(join(TRACEFS, 'events'), 0);
  return { instances: readdirSync(join(TRACEFS, 'instances')).sort(), enables, tracer: readFileSync(join(TRACEFS, 'current_tracer'), 'utf8') };
}

let workload = '';
let work = '';
let before: ReturnType<typeof tracefsState>;

function setUp(): void {
  if (workload) return;
  work = mkdtempSync(join(tmpdir(), 'mmu-trace-record-'));
  for (const f of ['Makefile', 'workload.c', 'guest.S']) copyFileSync(join(WORKLOAD_SRC, f), join(work, f));
  execFileSync('make', ['-s', '-C', work, 'kvm-workload'], { stdio: 'pipe' });
  workload = join(work, 'kvm-workload');
  before = tracefsState();
}

function assertRestored(): void {
  const after = tracefsState();
  assert.deepEqual(after.instances.filter((i) => i.startsWith('mmu-trace-')), []);
  assert.deepEqual(after, before);
}

/** Runs the CLI; resolves with its exit status once it has exited. */
function runCli(args: string[], signals: { after: (out: string) => boolean; send: NodeJS.Signals[] } | null = null): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
    if (signals) {
      const out = args[args.indexOf('-o') + 1]!;
      const poll = setInterval(() => {
        if (!existsSync(out) || !signals.after(readFileSync(out, 'utf8'))) return;
        clearInterval(poll);
        signals.send.forEach((s, i) => setTimeout(() => p.kill(s), 300 * i));
      }, 50);
      p.on('exit', () => clearInterval(poll));
    }
    p.on('exit', (status) => resolve({ status, stderr }));
  });
}

const trailer = (path: string, key: string): string | undefined =>
  new RegExp(`^# mmu-trace: ${key}: (.*)$`, 'm').exec(readFileSync(path, 'utf8'))?.[1];

/** An independent count: event name per trace line (the word after the timestamp's colon). */
function countEvents(path: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^\s*.+?-\d+\s+\(\s*[\d-]+\)\s+\[\d+\] \S+\s+\d+\.\d+: (\w+):/.exec(line);
    if (m) counts[m[1]!] = (counts[m[1]!] ?? 0) + 1;
  }
  return counts;
}

test('record kvm-workload: the trace has its events, header and trailer; analyze takes the kernel rules from it; tracefs restored', { skip }, async () => {
  setUp();
  const out = join(work, 'touch.txt');
  const r = await runCli(['record', '-o', out, '--', 'sh', '-c', `${workload} --scenario touch --vcpus 2 --mem-mb 64 --pages 512 --marker "$MMU_TRACE_MARKER" > /dev/null`]);
  assert.equal(r.status, 0, r.stderr);
  assertRestored();
  assert.equal(trailer(out, 'stopped'), 'command exited with status 0');
  assert.match(trailer(out, 'lost')!, /^cpu0 overrun=0 dropped=0/);
  const report = await analyzeTrace(out);
  assert.deepEqual(report.events.byName, countEvents(out));
  assert.equal(report.input.skippedLines, 0);
  assert.equal(report.input.lostEvents, 0);
  // kvm-workload writes its phase markers to the instance's trace_marker it was given
  assert.ok((report.events.byName.tracing_mark_write ?? 0) > 0);
  assert.ok((report.events.byName.kvm_mmu_set_spte ?? 0) >= 512);
  assert.equal(report.input.recorded?.kernel, release());
  assert.equal(report.input.recorded?.modules.kvm?.tdp_mmu, readFileSync('/sys/module/kvm/parameters/tdp_mmu', 'utf8').trim());
  assert.equal(report.model!.rules.source, 'recording');
  // record-tgid: the VM is identified by its TGID
  assert.deepEqual(report.vms.map((v) => v.identifiedBy), ['tgid']);
});

test('record: a failing command is recorded, its exit status passed on, tracefs restored', { skip }, async () => {
  setUp();
  const out = join(work, 'fail.txt');
  const r = await runCli(['record', '-o', out, '--', 'sh', '-c', 'exit 3']);
  assert.equal(r.status, 3);
  assertRestored();
  assert.equal(trailer(out, 'stopped'), 'command exited with status 3');
  const missing = await runCli(['record', '-o', join(work, 'missing.txt'), '--', join(work, 'no-such-command')]);
  assert.equal(missing.status, 127);
  assert.match(missing.stderr, /cannot run .*no-such-command: ENOENT/);
  assertRestored();
});

test('record: SIGINT and SIGTERM stop the command and the recording; a second SIGINT stops at once; tracefs restored each time', { skip }, async () => {
  setUp();
  const started = (text: string): boolean => /^# mmu-trace: buffer: /m.test(text);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const out = join(work, `${sig}.txt`);
    const r = await runCli(['record', '-o', out, '--', 'sleep', '30'], { after: started, send: [sig] });
    // the signal was passed to the command, which died of it
    assert.equal(r.status, sig === 'SIGINT' ? 130 : 143, r.stderr);
    assert.equal(trailer(out, 'stopped'), sig);
    assertRestored();
  }
  // a command that ignores SIGINT: the second one ends the recording without a trailer. The first
  // is sent once the shell ignores it (its ready file exists): sent earlier, on a busy machine, it
  // killed the shell before its trap ran
  const out = join(work, 'twice.txt');
  const ready = join(work, 'twice.ready');
  const r = await runCli(['record', '-o', out, '--', 'sh', '-c', `trap "" INT; : > ${ready}; sleep 3`], { after: () => existsSync(ready), send: ['SIGINT', 'SIGINT'] });
  assert.equal(r.status, 130);
  assert.equal(trailer(out, 'stopped'), undefined);
  assertRestored();
  const report = await analyzeTrace(out);
  assert.match(report.input.recorded!.kernel!, /^\d+\.\d+/);
  assert.equal(report.input.recorded!.stopped, null);
  // without a command, --duration ends it
  const timed = join(work, 'timed.txt');
  assert.equal((await runCli(['record', '-o', timed, '--duration', '0.3'])).status, 0);
  assert.equal(trailer(timed, 'stopped'), '--duration 0.3 s');
  assertRestored();
});

test('record --observe-flushes: function-traces the flush entry points where the kernel allows it, else refuses with the reason (exit 5)', { skip }, async () => {
  setUp();
  const out = join(work, 'flushes.txt');
  const r = await runCli(['record', '--observe-flushes', '-o', out, '--', 'sh', '-c', `${workload} --scenario touch --vcpus 1 --mem-mb 16 --pages 64 > /dev/null`]);
  let readable = true;
  try {
    readFileSync(join(TRACEFS, 'available_filter_functions'));
  } catch {
    readable = false;
  }
  if (readable) {
    assert.equal(r.status, 0, r.stderr);
    assert.match(trailer(out, 'flush functions')!, /kvm_flush_remote_tlbs/);
  } else {
    // e.g. this host: kernel lockdown makes available_filter_functions EPERM even for root
    assert.equal(r.status, 5);
    assert.match(r.stderr, /--observe-flushes: the function tracer cannot be used here/);
    assert.equal(existsSync(out), false);
  }
  assertRestored();
});

test('record without root: a clear message and exit 5, nothing touched', { skip }, async () => {
  setUp();
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'record', '-o', '/tmp/never.txt', '--', 'true'], { encoding: 'utf8' });
  assert.equal(r.status, 5, r.stderr);
  assert.match(r.stderr, /record and live need root/);
  assertRestored();
});

test('live on this machine: rolling NDJSON while kvm-workload runs; Ctrl-C prints the totals (the workload VM zapped) and restores tracefs', { skip }, async () => {
  setUp();
  const p = spawn(process.execPath, [CLI, 'live', '--format', 'json', '--interval', '0.2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => void (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => void (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => p.on('exit', resolve));
  const instance = join(TRACEFS, 'instances', `mmu-trace-${p.pid}`);
  // a new instance starts with tracing on, before the session has enabled its events: wait for
  // both (the session turns tracing off first and on again only when it streams)
  const read = (f: string): string => (existsSync(join(instance, f)) ? readFileSync(join(instance, f), 'utf8').trim() : '');
  while (read('events/kvmmmu/enable') !== '1' || read('tracing_on') !== '1') await new Promise((r) => setTimeout(r, 50));
  const w = spawnSync(workload, ['--scenario', 'touch', '--vcpus', '2', '--mem-mb', '16', '--pages', '256'], { stdio: 'ignore' });
  assert.equal(w.status, 0);
  p.kill('SIGINT');
  assert.equal(await exited, 0, err);
  assertRestored();
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { final?: boolean; total: Record<string, { zaps: number }> });
  const last = lines.at(-1)!;
  assert.equal(last.final, true);
  // record-tgid: the workload's VM is named by its pid
  assert.ok((last.total[`tgid:${w.pid}`]?.zaps ?? 0) > 0, JSON.stringify(last));
});

test('record --print-setup: trace-cmd, perf and tracefs commands with every preset event this kernel has', () => {
  const r = spawnSync(process.execPath, [CLI, 'record', '--print-setup', '--buffer-kb', '4096', '--', './my-test', 'a b'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const traceCmd = lines.find((l) => l.startsWith('trace-cmd record'))!;
  const perf = lines.find((l) => l.startsWith('perf record'))!;
  assert.match(traceCmd, /-b 4096 -O record-tgid .* -- \.\/my-test 'a b'$/);
  const missing = /without the \d+ this kernel lacks(?: \((.*)\))?/.exec(lines[0]!)?.[1]?.split(' ') ?? [];
  for (const e of EVENT_PRESETS.default.events) {
    const listed = traceCmd.includes(` -e ${e.includes('*') ? `'${e}'` : e} `);
    assert.equal(listed, !missing.includes(e), e);
    assert.equal(perf.includes(` -e ${e.includes('*') ? `'${e}'` : e} `), listed, e);
  }
});

test('README Capture section names every event of every preset', () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const capture = readme.slice(readme.indexOf('## Capture'), readme.indexOf('\n## ', readme.indexOf('## Capture') + 1));
  for (const [name, p] of Object.entries(EVENT_PRESETS)) {
    assert.ok(capture.includes(`\`${name}\``), name);
    for (const e of p.events) assert.ok(capture.includes(e), `${name}: ${e}`);
  }
});

test.after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});
