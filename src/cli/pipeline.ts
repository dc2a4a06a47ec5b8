// The analyze pipeline shared by the CLI verbs: ingest → handlers over batches → report.
import type { RecordBatch } from 'apache-arrow';
import { ingest, type IngestOptions } from '../ingest/ingest.js';
import { EventStatsHandler } from '../analyses/event-stats.js';
import { buildReport, type AnalyzeReport } from '../report/contract.js';

export interface PipelineOptions extends Pick<IngestOptions, 'format' | 'roleLayout' | 'chunkBytes' | 'batchRows'> {
  /** Also receives every batch (e.g. to load it into DuckDB or write it to a file). */
  onBatch?: (batch: RecordBatch) => void | Promise<void>;
}

export async function analyzeTrace(path: string, opts: PipelineOptions = {}): Promise<AnalyzeReport> {
  const stats = new EventStatsHandler();
  const ing = await ingest(path, {
    ...opts,
    onBatch: async (batch) => {
      stats.handleBatch(batch);
      await opts.onBatch?.(batch);
    },
  });
  return buildReport(ing, stats.data());
}
