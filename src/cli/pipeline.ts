// The analyze pipeline shared by the CLI verbs: ingest → handlers over batches → report.
import type { RecordBatch } from 'apache-arrow';
import { ingest, type IngestOptions } from '../ingest/ingest.js';
import { EventStatsHandler } from '../analyses/event-stats.js';
import { buildReport, type AnalyzeReport } from '../report/contract.js';
import { FindingsRun, type FindingsData } from '../analyses/findings.js';
import type { ReplayOptions } from '../model/replay.js';

export interface PipelineOptions extends Pick<IngestOptions, 'format' | 'roleLayout' | 'chunkBytes' | 'batchRows'> {
  /** Also receives every batch (e.g. to load it into DuckDB or write it to a file). */
  onBatch?: (batch: RecordBatch) => void | Promise<void>;
  /** Replay options (memslots, kernel rules); `false` skips the model. */
  model?: ReplayOptions | false;
  /** Receives the findings (e.g. to register their tables for SQL). */
  onFindings?: (f: FindingsData) => void | Promise<void>;
}

export async function analyzeTrace(path: string, opts: PipelineOptions = {}): Promise<AnalyzeReport> {
  const stats = new EventStatsHandler();
  const run = opts.model === false ? null : new FindingsRun(opts.model ?? {});
  const ing = await ingest(path, {
    ...opts,
    onBatch: async (batch) => {
      stats.handleBatch(batch);
      run?.handleBatch(batch);
      await opts.onBatch?.(batch);
    },
  });
  const findings = run?.finish();
  if (findings) await opts.onFindings?.(findings);
  return buildReport(ing, stats.data(), findings);
}
