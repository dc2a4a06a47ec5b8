// Test helper: ingest a file and index its rows by source line, as plain objects.
import { ingest, type IngestOptions, type IngestResult } from '../ingest/ingest.js';

export type Row = Record<string, unknown>;

export async function rowsByLine(path: string, opts: IngestOptions = {}): Promise<{ result: IngestResult; rows: Map<number, Row> }> {
  const rows = new Map<number, Row>();
  const result = await ingest(path, {
    ...opts,
    onBatch: (b) => {
      for (let i = 0; i < b.numRows; i++) {
        const row = b.get(i)!.toJSON() as Row;
        rows.set(Number(row.line), row);
      }
    },
  });
  return { result, rows };
}

/** Only the non-null fields of a row, for readable deep-equality checks. */
export function present(row: Row | undefined): Row {
  return Object.fromEntries(Object.entries(row ?? {}).filter(([, v]) => v !== null));
}
