// Registers the model's finding tables (zaps, flushes, lock_breaks, notifications, spte_changes,
// shadow_pages) in DuckDB beside `events`, so `mmu-trace sql` can join them.
import type { FindingsData } from '../analyses/findings.js';
import type { FindingsTable, FindingColumnKind } from '../analyses/findings-table.js';
import { quoteIdent, type Database } from './duckdb.js';

const SQL_TYPE: Readonly<Record<FindingColumnKind, string>> = {
  int: 'BIGINT', u64: 'UBIGINT', float: 'DOUBLE', str: 'VARCHAR', bool: 'BOOLEAN',
};

export function tablesOf(f: FindingsData): FindingsTable[] {
  return [f.zaps.table, f.flushes.table, f.lockBreaks.table, f.notifications.table, f.spte.changes, f.spte.shadowPages];
}

/** Registers `t`; true when its ts_ns column had values beyond 2^53, left null for exactTimes. */
async function register(db: Database, t: FindingsTable): Promise<boolean> {
  const cols = t.columns.map((c) => `${quoteIdent(c.name)} ${SQL_TYPE[c.kind]}`).join(', ');
  await db.connection.run(`CREATE TABLE ${quoteIdent(t.name)} (${cols})`);
  const app = await db.connection.createAppender(t.name);
  const kinds = t.columns.map((c) => c.kind);
  const tsCol = t.columns.findIndex((c) => c.name === 'ts_ns');
  let inexactTimes = false;
  for (let r = 0; r < t.length; r++) {
    for (let c = 0; c < kinds.length; c++) {
      switch (kinds[c]) {
        case 'u64': app.appendUBigInt(t.getU64(c, r)); break;
        case 'str': {
          const s = t.getStr(c, r);
          if (s === null) app.appendNull();
          else app.appendVarchar(s);
          break;
        }
        default: {
          const n = t.getNum(c, r);
          // beyond 2^53 a number is not exact, and no x86 gfn, hva or physical address gets there
          // (52-bit physical, 57-bit virtual): such a value came from a damaged line, whose exact
          // value the events table keeps; here it is null
          if (Number.isNaN(n) || (kinds[c] === 'int' && !Number.isSafeInteger(n))) {
            if (c === tsCol && !Number.isNaN(n)) inexactTimes = true;
            app.appendNull();
          }
          else if (kinds[c] === 'int') app.appendBigInt(BigInt(n));
          else if (kinds[c] === 'bool') app.appendBoolean(n === 1);
          else app.appendDouble(n);
        }
      }
    }
    app.endRow();
  }
  app.closeSync();
  return inexactTimes;
}

/** Registers the finding tables; returns the names of those whose times exactTimes must set. */
export async function registerFindings(db: Database, f: FindingsData): Promise<string[]> {
  const inexact: string[] = [];
  for (const t of tablesOf(f)) if (await register(db, t)) inexact.push(t.name);
  return inexact;
}

/**
 * The model's times are numbers, exact below 2^53 ns only (104 days of uptime; 35 days of a 3 GHz
 * TSC): every finding row's ts_ns is that of its `line`'s event, so it is taken from `events`.
 */
export async function exactTimes(db: Database, tables: readonly string[]): Promise<void> {
  for (const name of tables) {
    const t = quoteIdent(name);
    await db.connection.run(`UPDATE ${t} SET ts_ns = e.ts_ns FROM events e WHERE e.line = ${t}.line AND ${t}.ts_ns IS NULL`);
  }
}
