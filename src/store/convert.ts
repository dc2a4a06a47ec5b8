// `mmu-trace convert`: the events table as an Arrow IPC file (streamed batch by batch) or as
// Parquet (through DuckDB's built-in writer; UBIGINT columns stay unsigned 64-bit). The trace is
// ingested only: no MMU replay, no finding tables (they are not written).
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { RecordBatchFileWriter } from 'apache-arrow';
import { ingestTrace, type IngestTraceOptions } from '../pipeline/analyze.js';
import { EventBatchBuilder } from '../ingest/batch.js';
import { openDatabase, quoteString } from './duckdb.js';
import { loadEvents } from './sources.js';

/** What `convert` wrote: the events, and the rows marking lost events (`event = 'lost_events'`) beside them. */
export interface ConvertResult {
  events: number;
  lostMarks: number;
}

/** Writes the events of `trace` to `out`. */
export async function convertTrace(trace: string, out: string, opts: IngestTraceOptions = {}): Promise<ConvertResult> {
  if (/\.parquet$/i.test(out)) {
    // a database file that spills: a 10 M-event trace held in memory took 11 GB
    const db = await openDatabase({ spill: true });
    try {
      const ing = await loadEvents(db, trace, opts);
      await db.connection.run(`COPY events TO ${quoteString(out)} (FORMAT parquet, COMPRESSION zstd)`);
      return { events: ing?.events ?? 0, lostMarks: ing?.lostMarkers ?? 0 };
    } finally {
      db.close();
    }
  }
  const writer = new RecordBatchFileWriter();
  const fd = openSync(out, 'w');
  let complete = false;
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
    complete = true;
    return { events: ing.events, lostMarks: ing.lostMarkers };
  } finally {
    closeSync(fd);
    // no half-written file is left behind to be read as a trace's events
    if (!complete) rmSync(out, { force: true });
  }
}
