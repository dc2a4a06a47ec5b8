// `mmu-trace convert`: the events table as an Arrow IPC file (streamed batch by batch) or as
// Parquet (through DuckDB's built-in writer; UBIGINT columns stay unsigned 64-bit). The trace is
// ingested only: no MMU replay, no finding tables (they are not written).
import { closeSync, openSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { scratchDir } from '../analyses/spill.js';
import { RecordBatchFileWriter } from 'apache-arrow';
import { ingestTrace, type IngestTraceOptions } from '../pipeline/analyze.js';
import { EventBatchBuilder } from '../ingest/batch.js';
import { openDatabase, quoteString } from './duckdb.js';
import { loadEvents } from './sources.js';
import type { IngestResult } from '../ingest/ingest.js';

/** What `convert` wrote: the events, and the rows marking lost events (`event = 'lost_events'`) beside them. */
export interface ConvertResult {
  events: number;
  lostMarks: number;
  /** Lines of the input read. */
  lines: number;
  /** Why the input ended early (a cut .gz, an unreadable run), else null: what was read is written. */
  truncated: string | null;
}

const resultOf = (ing: IngestResult | null): ConvertResult =>
  ({ events: ing?.events ?? 0, lostMarks: ing?.lostMarkers ?? 0, lines: ing?.lines ?? 0, truncated: ing?.truncated ?? null });

/** `-o` names a file that cannot be written (exit 2, as a usage error). */
export class OutputError extends Error {
  override readonly name = 'OutputError';
}

/**
 * Writes the events of `trace` to `out`: into a scratch directory beside it, renamed over `out`
 * only when complete, so an existing file is never truncated before the input is read and a
 * failure or Ctrl-C leaves no partial file (analyses/spill.ts removes the directory). A symlink at
 * `out` is replaced, not written through.
 */
export async function convertTrace(trace: string, out: string, opts: IngestTraceOptions = {}): Promise<ConvertResult> {
  let scratch;
  try {
    scratch = scratchDir('.mmu-trace-out-', dirname(resolve(out)));
  } catch (e) {
    throw new OutputError(`-o ${out}: cannot write there (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const tmp = join(scratch.path, basename(out));
    const r = /\.parquet$/i.test(out) ? await writeParquet(trace, tmp, opts) : await writeArrow(trace, tmp, opts);
    renameSync(tmp, out);
    return r;
  } finally {
    scratch.remove();
  }
}

async function writeParquet(trace: string, out: string, opts: IngestTraceOptions): Promise<ConvertResult> {
  // a database file that spills: a 10 M-event trace held in memory took 11 GB
  const db = await openDatabase({ spill: true });
  try {
    const ing = await loadEvents(db, trace, opts);
    await db.connection.run(`COPY events TO ${quoteString(out)} (FORMAT parquet, COMPRESSION zstd)`);
    return resultOf(ing);
  } finally {
    db.close();
  }
}

async function writeArrow(trace: string, out: string, opts: IngestTraceOptions): Promise<ConvertResult> {
  const writer = new RecordBatchFileWriter();
  const fd = openSync(out, 'w');
  try {
    // drain the writer as it goes, so the file grows batch by batch instead of in memory
    const drained = (async () => {
      for await (const bytes of writer) writeSync(fd, bytes);
    })();
    let batches = 0;
    const ing = await ingestTrace(trace, {
      ...opts,
      onBatch: async (b) => {
        writer.write(b);
        batches++;
        await new Promise((r) => setImmediate(r));
      },
    });
    // a trace without events still gets a valid file: the schema and one empty batch
    if (batches === 0) writer.write(new EventBatchBuilder(1).finish());
    writer.finish();
    await drained;
    return resultOf(ing);
  } finally {
    closeSync(fd);
  }
}
