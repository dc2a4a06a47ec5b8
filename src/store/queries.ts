// The canned queries in queries/: names, one-line summaries, text. No DuckDB needed to list them.
import { readdirSync, readFileSync } from 'node:fs';

const QUERIES_DIR = new URL('../../../queries/', import.meta.url);

export interface QueryInfo {
  name: string;
  /** First comment line after the name. */
  summary: string;
}

export function listQueries(): QueryInfo[] {
  return readdirSync(QUERIES_DIR)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => {
      const first = readFileSync(new URL(f, QUERIES_DIR), 'utf8').split('\n')[0] ?? '';
      return { name: f.slice(0, -4), summary: first.replace(/^--\s*[\w-]+:\s*/, '') };
    });
}

export function queryText(name: string): string {
  return readFileSync(new URL(`${name}.sql`, QUERIES_DIR), 'utf8');
}
