// The analyze pipeline shared by the CLI verbs: ingest → handlers over batches → report.
import type { RecordBatch } from 'apache-arrow';
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ingest, type IngestOptions } from '../ingest/ingest.js';
import { ingestInWorker } from '../ingest/parallel.js';
import { EventStatsHandler } from '../analyses/event-stats.js';
import { buildReport, type AnalyzeReport } from '../report/contract.js';
import { FindingsRun, type FindingsData } from '../analyses/findings.js';
import type { ReplayOptions } from '../model/replay.js';
import { whatIf, type WhatIfPolicy } from '../analyses/what-if.js';

export interface PipelineOptions extends Pick<IngestOptions, 'format' | 'roleLayout' | 'chunkBytes' | 'batchRows'> {
  /** Also receives every batch (e.g. to load it into DuckDB or write it to a file). */
  onBatch?: (batch: RecordBatch) => void | Promise<void>;
  /** Replay options (memslots, kernel rules); `false` skips the model. */
  model?: ReplayOptions | false;
  /** Receives the findings (e.g. to register their tables for SQL). */
  onFindings?: (f: FindingsData) => void | Promise<void>;
  /** Scan the text on a worker thread while this one consumes the batches (default: files of PARALLEL_MIN_BYTES+ on 2+ cores). */
  parallel?: boolean;
  /** Input bytes read so far, as the batches are consumed (for a progress bar). */
  onProgress?: (bytesIn: number) => void;
  /** What-if policies to evaluate on the findings (analyses/what-if.ts). */
  whatIf?: WhatIfPolicy[];
}

/** Below this a worker's start-up (module loading, ~0.1 s) costs more than it saves. */
export const PARALLEL_MIN_BYTES = 16 * 1024 * 1024;

function parallelByDefault(path: string): boolean {
  if (path === '-' || availableParallelism() < 2) return false;
  try {
    return statSync(path).size >= PARALLEL_MIN_BYTES;
  } catch {
    return false; // ingest reports the unreadable path
  }
}

export async function analyzeTrace(path: string, opts: PipelineOptions = {}): Promise<AnalyzeReport> {
  const stats = new EventStatsHandler();
  const run = opts.model === false ? null : new FindingsRun(opts.model ?? {});
  const ingestWith = (opts.parallel ?? parallelByDefault(path)) ? ingestInWorker : ingest;
  const { format, roleLayout, chunkBytes, batchRows } = opts;
  const ing = await ingestWith(path, {
    format, roleLayout, chunkBytes, batchRows, onProgress: opts.onProgress,
    onBatch: async (batch) => {
      stats.handleBatch(batch);
      run?.handleBatch(batch);
      await opts.onBatch?.(batch);
    },
  });
  const findings = run?.finish();
  if (findings) await opts.onFindings?.(findings);
  const whatIfs = findings && opts.whatIf?.length ? whatIf(opts.whatIf, findings) : undefined;
  return buildReport(ing, stats.data(), findings, whatIfs);
}
