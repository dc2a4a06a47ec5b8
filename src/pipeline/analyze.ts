// The one place that wires the stages together: ingest → model (replay) → analyses → report. The CLI
// verbs and the store call these; nothing below src/pipeline imports from here or from src/cli.
import type { RecordBatch } from 'apache-arrow';
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ingest, peekHints, type IngestOptions, type IngestResult } from '../ingest/ingest.js';
import { ingestInWorker } from '../ingest/parallel.js';
import { EventStatsHandler } from '../analyses/event-stats.js';
import { buildReport, type AnalyzeReport } from '../report/contract.js';
import { FindingsRun, type FindingsData } from '../analyses/findings.js';
import type { ReplayOptions } from '../model/replay.js';
import { vmsOf } from '../analyses/vms.js';
import { whatIf, type WhatIfPolicy } from '../analyses/what-if.js';
import { peekRecordHeader } from '../ingest/record-header.js';
import { rulesFromHints, rulesFromRecording } from '../model/kernel-version.js';

/** How to read a trace, and who else receives its batches: the ingest alone, no model. */
export interface IngestTraceOptions extends Pick<IngestOptions, 'format' | 'roleLayout' | 'chunkBytes' | 'batchRows'> {
  /** Also receives every batch (e.g. to load it into DuckDB or write it to a file). */
  onBatch?: (batch: RecordBatch) => void | Promise<void>;
  /** Scan the text on a worker thread while this one consumes the batches (default: files of PARALLEL_MIN_BYTES+ on 2+ cores). */
  parallel?: boolean;
  /** Input bytes read so far, as the batches are consumed (for a progress bar). */
  onProgress?: (bytesIn: number) => void;
}

export interface PipelineOptions extends IngestTraceOptions {
  /** Replay options (memslots, kernel rules); `false` skips the model. */
  model?: ReplayOptions | false;
  /** Receives the findings (e.g. to register their tables for SQL). */
  onFindings?: (f: FindingsData) => void | Promise<void>;
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

/** Ingest only: the batches go to `onBatch`, nothing is replayed or analysed (`convert`). */
export async function ingestTrace(path: string, opts: IngestTraceOptions = {}): Promise<IngestResult> {
  const ingestWith = (opts.parallel ?? parallelByDefault(path)) ? ingestInWorker : ingest;
  const { format, roleLayout, chunkBytes, batchRows, onBatch, onProgress } = opts;
  return ingestWith(path, { format, roleLayout, chunkBytes, batchRows, onBatch, onProgress });
}

/** Ingest, event statistics, the model's findings (unless `model: false`), what-ifs, and the report. */
export async function analyzeTrace(path: string, opts: PipelineOptions = {}): Promise<AnalyzeReport> {
  const stats = new EventStatsHandler();
  // a recording names its kernel: its rules hold from the first event on, unless --kernel says otherwise
  const release = (await peekRecordHeader(path))?.kernel;
  const recorded = release ? rulesFromRecording(release) : null;
  // text only old kernels print, in the head: their rules from the first event on
  const early = opts.model === false || opts.model?.rules || recorded ? null : rulesFromHints(await peekHints(path));
  const model = opts.model === false ? false : { ...opts.model, rules: opts.model?.rules ?? recorded ?? early ?? undefined };
  const run = model === false ? null : new FindingsRun(model);
  const ing = await ingestTrace(path, {
    ...opts,
    onBatch: async (batch) => {
      stats.handleBatch(batch);
      run?.handleBatch(batch);
      await opts.onBatch?.(batch);
    },
  });
  const findings = run?.finish({ firstTs: ing.firstTs, lastTs: ing.lastTs });
  if (findings) await opts.onFindings?.(findings);
  const whatIfs = findings && opts.whatIf?.length ? whatIf(opts.whatIf, findings) : undefined;
  const eventStats = stats.data();
  return buildReport({ ingest: ing, stats: eventStats, vms: vmsOf(eventStats, findings?.model), findings, whatIf: whatIfs });
}
