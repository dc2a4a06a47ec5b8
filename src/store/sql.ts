// `mmu-trace sql` and `mmu-trace query`: SQL over the events table, printed as a table, JSON or CSV.
import type { PipelineOptions } from '../pipeline/analyze.js';
import { renderTable } from '../report/table.js';
import { listQueries, queryText } from './queries.js';
import { resolve } from 'node:path';
import { forbidFileAccess, openDatabase } from './duckdb.js';
import { loadEventsAndFindings, sourceKind } from './sources.js';

export type SqlOutput = 'table' | 'json' | 'csv';

export interface SqlOptions extends PipelineOptions {
  output: SqlOutput;
  /** The SQL may read only the source and write nothing (for traces and queries from others). */
  safe?: boolean;
  /** Table and CSV output: the columns the kernel prints in hex (gfn, spte, hva, ...) in hex. */
  hex?: boolean;
  /** The trace ended early (a cut .gz): the tables hold what was read. */
  onInputCut?: (why: string, lines: number) => void;
}

/** Raised for a query name that has no file, or SQL DuckDB rejects (a usage problem, not a crash). */
export class QueryError extends Error {
  override readonly name = 'QueryError';
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** `events` columns the kernel prints in hex (mmutrace.h, trace/events/kvm.h), for --hex. */
const HEX_COLUMNS = new Set(['gfn', 'spte', 'old_spte', 'new_spte', 'sptep', 'pfn', 'gpte', 'addr', 'hva_start', 'hva_end', 'rip', 'info1', 'info2', 'requests', 'error_code']);

const INTEGER_TYPE = /^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|UHUGEINT)$/;

/**
 * A JSON cell: an integer as a JSON number while it is exact there (|v| <= 2^53), beyond that as
 * its decimal string; DuckDB hands every 64-bit integer over as a string.
 */
function jsonCell(v: unknown, integer: boolean): unknown {
  if (!integer || typeof v !== 'string') return v;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

function cell(v: unknown): string {
  return v === null || v === undefined ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export async function runSql(source: string, sql: string, opts: SqlOptions): Promise<string> {
  const db = await openDatabase();
  try {
    const read = await loadEventsAndFindings(db, source, opts);
    if (read?.truncated) opts.onInputCut?.(read.truncated, read.lines);
    if (opts.safe) await forbidFileAccess(db, sourceKind(source) === 'parquet' ? [source, resolve(source)] : []);
    let reader;
    try {
      reader = await db.connection.runAndReadAll(sql);
    } catch (err) {
      throw new QueryError((err as Error).message);
    }
    const names = reader.columnNames();
    const types = reader.columnTypes().map(String);
    const integer = types.map((t) => INTEGER_TYPE.test(t));
    // JSON-safe values: 64-bit integers come back as strings, exactly
    const rows = reader.getRowObjectsJson();
    if (opts.output === 'json') {
      const typed = rows.map((r) => Object.fromEntries(names.map((n, c) => [n, jsonCell(r[n], integer[c]!)])));
      return `${JSON.stringify(typed, null, 2)}\n`;
    }
    if (opts.hex) {
      for (const r of rows) {
        names.forEach((n, c) => {
          const v = r[n];
          if (integer[c] && HEX_COLUMNS.has(n) && (typeof v === 'string' || typeof v === 'number')) r[n] = `0x${BigInt(v).toString(16)}`;
        });
      }
    }
    if (opts.output === 'csv') {
      return [names.map(csvCell).join(','), ...rows.map((r) => names.map((n) => csvCell(r[n])).join(','))].join('\n') + '\n';
    }
    const numeric = types.map((t) => /INT|DOUBLE|FLOAT|DECIMAL|HUGEINT/.test(t));
    return `${renderTable(names, rows.map((r) => names.map((n) => cell(r[n]))), numeric)}\n(${rows.length} row${rows.length === 1 ? '' : 's'})\n`;
  } finally {
    db.close();
  }
}

export async function runNamedQuery(name: string, source: string, opts: SqlOptions): Promise<string> {
  if (!/^[\w-]+$/.test(name) || !listQueries().some((q) => q.name === name)) {
    throw new QueryError(`no query named '${name}'; known: ${listQueries().map((q) => q.name).join(', ')}`);
  }
  return runSql(source, queryText(name), opts);
}
