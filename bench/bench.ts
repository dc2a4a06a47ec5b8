// npm run bench: speed and memory against issue 13's targets, as one table (figure, value, target,
// ratio, peak RSS). On the big real trace: analyze and ingest alone against a one-line awk count
// over the same file (mawk and ours alternate, median of the pairs), the cost of the replay, and
// `--help`. With MMU_TRACE_BENCH_LARGE=1 also 1 GB and 4 GB traces made from big (make-large.ts:
// peak RSS must not grow with the file) and a group-by over a 10 M-event Parquet from `convert`.
// Not a test: the numbers depend on the machine.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { renderTable } from '../src/report/table.js';
import { makeLarge } from '../src/testing/make-large.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const cli = join(repo, 'dist/src/cli/main.js');
const gz = process.env.MMU_TRACE_BENCH_INPUT ?? resolve(repo, '../shared/traces/big/big.ftrace.txt.gz');
const workDir = process.env.MMU_TRACE_BENCH_DIR ?? '/tmp/mmu-trace-bench';
const runs = Number(process.env.MMU_TRACE_BENCH_RUNS ?? 3);
const large = process.env.MMU_TRACE_BENCH_LARGE === '1';

function decompressed(): string {
  if (!gz.endsWith('.gz')) return gz;
  mkdirSync(workDir, { recursive: true });
  const out = join(workDir, gz.split('/').pop()!.replace(/\.gz$/, ''));
  if (!existsSync(out)) execFileSync('sh', ['-c', `gzip -dc '${gz}' > '${out}'`]);
  return out;
}

interface Run { seconds: number; maxRssKiB: number; events?: number }

/** Wall time and peak RSS of one process (GNU time's %M is the child's peak RSS). */
function timed(cmd: string, args: string[]): Run {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const [s, kib] = r.stderr.trim().split('\n').at(-1)!.split(' ');
  return { seconds: Number(s), maxRssKiB: Number(kib) };
}

const awk = (file: string): Run => timed('mawk', ['{n[$5]++} END {for (k in n) c++; print c}', file]);

function analyze(file: string, ingestOnly = false): Run {
  const args = [join(here, 'run-analyze.js'), file, ...(ingestOnly ? ['--ingest-only'] : [])];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`analyze failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { events: number; maxRssKiB: number };
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, maxRssKiB: out.maxRssKiB, events: out.events };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** `ours` and mawk alternately, `n` pairs: the medians and the median of the per-pair ratios. */
function pairs(file: string, ours: () => Run, n = runs): { ours: Run; awk: Run; ratio: number } {
  const o: Run[] = [];
  const a: Run[] = [];
  for (let i = 0; i < n; i++) {
    a.push(awk(file));
    o.push(ours());
  }
  const mid = (rs: Run[]): Run => ({ seconds: median(rs.map((r) => r.seconds)), maxRssKiB: Math.max(...rs.map((r) => r.maxRssKiB)), events: rs[0]!.events });
  return { ours: mid(o), awk: mid(a), ratio: median(o.map((r, i) => r.seconds / a[i]!.seconds)) };
}

const rows: (string | number)[][] = [];
const mib = (r: Run): string => `${(r.maxRssKiB / 1024).toFixed(0)} MiB`;
const add = (figure: string, value: string, target: string, ratio: string, rss: string): void => void rows.push([figure, value, target, ratio, rss]);

const big = decompressed();
const mb = (f: string): string => `${(statSync(f).size / 1e6).toFixed(0)} MB`;
console.log(`input: ${big} (${mb(big)}); ${runs} alternating runs each, medians`);
const full = pairs(big, () => analyze(big));
const ingestOnly = pairs(big, () => analyze(big, true));
add('big: mawk \'{n[$5]++}\'', `${full.awk.seconds.toFixed(2)} s`, '', '', mib(full.awk));
add('big: analyze', `${full.ours.seconds.toFixed(2)} s, ${((full.ours.events ?? 0) / full.ours.seconds / 1e6).toFixed(2)} M events/s`, '<= 2.0x mawk', `${full.ratio.toFixed(2)}x`, mib(full.ours));
add('big: ingest alone', `${ingestOnly.ours.seconds.toFixed(2)} s`, '<= 1.5x mawk', `${ingestOnly.ratio.toFixed(2)}x`, mib(ingestOnly.ours));
add('big: replay cost', 'analyze / ingest alone', '', `${(full.ours.seconds / ingestOnly.ours.seconds).toFixed(2)}x`, '');
const help = median(Array.from({ length: 5 }, () => timed(process.execPath, [cli, '--help']).seconds));
add('--help', `${help.toFixed(2)} s`, '< 0.3 s', '', '');

if (large) {
  for (const [name, bytes] of [['1 GB', 1e9], ['4 GB', 4e9]] as const) {
    const file = join(workDir, `big-${name.replace(' ', '')}.ftrace.txt`);
    if (!existsSync(file)) await makeLarge(big, file, bytes);
    const p = pairs(file, () => analyze(file), 1);
    add(`${name}: analyze`, `${p.ours.seconds.toFixed(1)} s (${mb(file)}, ${p.ours.events} events)`, '<= 2.0x mawk, <= 600 MiB', `${p.ratio.toFixed(2)}x`, mib(p.ours));
  }
  const src = join(workDir, 'big-10M.ftrace.txt');
  if (!existsSync(src)) await makeLarge(big, src, 5 * statSync(big).size);
  const parquet = join(workDir, 'big-10M.parquet');
  const conv = timed(process.execPath, [cli, 'convert', src, '-o', parquet]);
  add('convert 10 M events', `${conv.seconds.toFixed(1)} s (${mb(src)})`, 'ingest speed, flat memory', '', mib(conv));
  const q = timed(process.execPath, [cli, 'sql', parquet, 'SELECT event, count(*) FROM events GROUP BY event']);
  add('sql group-by, 10 M Parquet', `${q.seconds.toFixed(2)} s (process; the query itself is less)`, '< 1 s', '', mib(q));
}

console.log(renderTable(['figure', 'value', 'target', 'ratio', 'peak RSS'], rows, [false, false, false, true, true]));
