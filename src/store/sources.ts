// Puts the `events` table of any source into DuckDB: a trace (ingested and streamed in), an
// mmu-trace .parquet (a view over the file), or an mmu-trace .arrow file (streamed in).
import { createReadStream } from 'node:fs';
import { RecordBatchReader } from 'apache-arrow';
import { analyzeTrace, type PipelineOptions } from '../cli/pipeline.js';
import type { AnalyzeReport } from '../report/contract.js';
import { EventsTableLoader, quoteString, type Database } from './duckdb.js';
import { registerFindings } from './findings.js';

export type SourceKind = 'parquet' | 'arrow' | 'trace';

export function sourceKind(path: string): SourceKind {
  if (/\.parquet$/i.test(path)) return 'parquet';
  if (/\.(arrow|feather|ipc)$/i.test(path)) return 'arrow';
  return 'trace';
}

/** Registers `events` (and, for a trace, the model's finding tables); returns the analyze report when the source was a trace. */
export async function loadEvents(db: Database, path: string, opts: PipelineOptions = {}): Promise<AnalyzeReport | null> {
  const kind = sourceKind(path);
  if (kind === 'parquet') {
    await db.connection.run(`CREATE VIEW events AS SELECT * FROM read_parquet(${quoteString(path)})`);
    return null;
  }
  const loader = await EventsTableLoader.create(db);
  if (kind === 'arrow') {
    const reader = await RecordBatchReader.from(createReadStream(path));
    for await (const batch of reader) loader.append(batch);
    await loader.finish();
    return null;
  }
  const report = await analyzeTrace(path, { ...opts, onBatch: (b) => loader.append(b), onFindings: (f) => registerFindings(db, f) });
  await loader.finish();
  return report;
}
