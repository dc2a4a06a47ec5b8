// Puts the `events` table of any source into DuckDB: a trace (ingested and streamed in), an
// mmu-trace .parquet (a view over the file), or an mmu-trace .arrow file (streamed in). For `sql`,
// a trace also gets the model's finding tables; `convert` loads the events alone.
import { createReadStream, statSync } from 'node:fs';
import { InputError, type IngestResult } from '../ingest/ingest.js';
import { RecordBatchReader, type RecordBatch } from 'apache-arrow';
import { analyzeTrace, ingestTrace, type IngestTraceOptions, type PipelineOptions } from '../pipeline/analyze.js';
import { EventsTableLoader, quoteString, type Database } from './duckdb.js';
import { exactTimes, registerFindings } from './findings.js';

export type SourceKind = 'parquet' | 'arrow' | 'trace';

export function sourceKind(path: string): SourceKind {
  if (/\.parquet$/i.test(path)) return 'parquet';
  if (/\.(arrow|feather|ipc)$/i.test(path)) return 'arrow';
  return 'trace';
}

/**
 * Registers `events` from `path`. A trace goes through `readTrace` (which streams its batches to
 * the loader); a .parquet or .arrow file is read as it is. Returns readTrace's result, or null.
 */
async function load<T>(db: Database, path: string, readTrace: (onBatch: (b: RecordBatch) => void) => Promise<T>): Promise<T | null> {
  const kind = sourceKind(path);
  if (kind !== 'trace') {
    try {
      statSync(path);
    } catch (e) {
      throw new InputError(path, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message);
    }
  }
  // a damaged file is the input's fault: an input error (exit 3), not an internal one
  const readable = async (what: string, read: () => Promise<void>): Promise<void> => {
    try {
      await read();
    } catch (e) {
      throw new InputError(path, `not a readable ${what} file (${(e as Error).message.split('\n')[0]})`);
    }
  };
  if (kind === 'parquet') {
    await readable('Parquet', async () => {
      await db.connection.run(`CREATE VIEW events AS SELECT * FROM read_parquet(${quoteString(path)})`);
    });
    return null;
  }
  const loader = await EventsTableLoader.create(db);
  if (kind === 'arrow') {
    await readable('Arrow IPC', async () => {
      const reader = await RecordBatchReader.from(createReadStream(path));
      for await (const batch of reader) loader.append(batch);
    });
    await loader.finish();
    return null;
  }
  const result = await readTrace((b) => loader.append(b));
  await loader.finish();
  return result;
}

/** Registers `events` only (a trace is ingested, never replayed); returns a trace's ingest result, else null. */
export async function loadEvents(db: Database, path: string, opts: IngestTraceOptions = {}): Promise<IngestResult | null> {
  return load(db, path, (onBatch) => ingestTrace(path, { ...opts, onBatch }));
}

/** Registers `events` and, for a trace, the model's finding tables beside it (`sql`, `query`); returns a trace's input report. */
export async function loadEventsAndFindings(db: Database, path: string, opts: PipelineOptions = {}): Promise<Pick<IngestResult, 'truncated' | 'lines'> | null> {
  const inexact: string[] = [];
  const r = await load(db, path, (onBatch) => analyzeTrace(path, {
    ...opts, onBatch, onFindings: async (f) => void inexact.push(...await registerFindings(db, f)),
  }));
  await exactTimes(db, inexact);
  return r?.input ?? null;
}
