// One measured analyze run, in its own process so its peak RSS is its own; prints JSON.
// `--ingest-only` skips the MMU replay: ingest + event statistics on one thread, the fastest way to
// do them alone (the yardstick for the replay's cost).
import { analyzeTrace } from '../src/pipeline/analyze.js';

const path = process.argv[2]!;
const ingestOnly = process.argv[3] === '--ingest-only';
const t0 = process.hrtime.bigint();
const report = await analyzeTrace(path, ingestOnly ? { model: false, parallel: false } : {});
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
process.stdout.write(JSON.stringify({
  seconds,
  events: report.input.events,
  bytes: report.input.bytes,
  skipped: report.input.skippedLines,
  maxRssKiB: process.resourceUsage().maxRSS,
}));
