// npm run bench: analyze throughput and peak memory on the big real trace, against a one-line awk
// count over the same file (yardstick: ratio <= 2.0), and the cost of the MMU replay against ingest
// alone (yardstick: <= 1.5x). Memory: the replay keeps live MMU state only, so its peak RSS over the
// first half of the trace and over all of it should stay close. Not a test: numbers depend on the machine.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const gz = process.env.MMU_TRACE_BENCH_INPUT ?? resolve(repo, '../shared/traces/big/big.ftrace.txt.gz');
const workDir = process.env.MMU_TRACE_BENCH_DIR ?? '/tmp/mmu-trace-bench';
const runs = Number(process.env.MMU_TRACE_BENCH_RUNS ?? 3);

function decompressed(): string {
  if (!gz.endsWith('.gz')) return gz;
  mkdirSync(workDir, { recursive: true });
  const out = join(workDir, gz.split('/').pop()!.replace(/\.gz$/, ''));
  if (!existsSync(out)) execFileSync('sh', ['-c', `gzip -dc '${gz}' > '${out}'`]);
  return out;
}

function best<T extends { seconds: number }>(xs: T[]): T {
  return xs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
}

function timeAwk(file: string): { seconds: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('mawk', ['{n[$5]++} END {for (k in n) c++; print c}', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mawk failed: ${r.stderr}`);
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

interface AnalyzeRun { seconds: number; events: number; bytes: number; skipped: number; maxRssKiB: number }

function timeAnalyze(file: string, ingestOnly = false): AnalyzeRun {
  const args = [join(here, 'run-analyze.js'), file, ...(ingestOnly ? ['--ingest-only'] : [])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`analyze failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as AnalyzeRun;
}

/** The first half of the trace's lines (header included), for the memory comparison. */
function firstHalf(file: string): string {
  const out = file.replace(/\.txt$/, '') + '.half.txt';
  if (!existsSync(out)) execFileSync('sh', ['-c', `n=$(wc -l < '${file}'); head -n $((n / 2)) '${file}' > '${out}'`]);
  return out;
}

const file = decompressed();
const mb = statSync(file).size / 1e6;
console.log(`input: ${file} (${mb.toFixed(1)} MB), best of ${runs} runs each`);
const awk = best(Array.from({ length: runs }, () => timeAwk(file)));
const ingest = best(Array.from({ length: runs }, () => timeAnalyze(file, true)));
const analyze = best(Array.from({ length: runs }, () => timeAnalyze(file)));
const half = timeAnalyze(firstHalf(file));
const row = (k: string, v: string): void => console.log(`  ${k.padEnd(22)} ${v}`);
row('analyze', `${analyze.seconds.toFixed(2)} s`);
row('  events', `${analyze.events} (${(analyze.events / analyze.seconds / 1e6).toFixed(2)} M events/s)`);
row('  throughput', `${(mb / analyze.seconds).toFixed(1)} MB/s`);
row('  peak RSS', `${(analyze.maxRssKiB / 1024).toFixed(0)} MiB`);
row('  skipped lines', String(analyze.skipped));
row("mawk '{n[$5]++}'", `${awk.seconds.toFixed(2)} s (${(mb / awk.seconds).toFixed(1)} MB/s)`);
row('ratio analyze/mawk', `${(analyze.seconds / awk.seconds).toFixed(2)} (target <= 2.0)`);
row('ingest only (no model)', `${ingest.seconds.toFixed(2)} s, peak RSS ${(ingest.maxRssKiB / 1024).toFixed(0)} MiB`);
row('ratio analyze/ingest', `${(analyze.seconds / ingest.seconds).toFixed(2)} (target <= 1.5: cost of the MMU replay)`);
row('first half: analyze', `${half.events} events, peak RSS ${(half.maxRssKiB / 1024).toFixed(0)} MiB (all: ${(analyze.maxRssKiB / 1024).toFixed(0)} MiB)`);
