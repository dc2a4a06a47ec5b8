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

async function register(db: Database, t: FindingsTable): Promise<void> {
  const cols = t.columns.map((c) => `${quoteIdent(c.name)} ${SQL_TYPE[c.kind]}`).join(', ');
  await db.connection.run(`CREATE TABLE ${quoteIdent(t.name)} (${cols})`);
  const app = await db.connection.createAppender(t.name);
  const kinds = t.columns.map((c) => c.kind);
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
          if (Number.isNaN(n) || (kinds[c] === 'int' && !Number.isSafeInteger(n))) app.appendNull();
          else if (kinds[c] === 'int') app.appendBigInt(BigInt(n));
          else if (kinds[c] === 'bool') app.appendBoolean(n === 1);
          else app.appendDouble(n);
        }
      }
    }
    app.endRow();
  }
  app.closeSync();
}

export async function registerFindings(db: Database, f: FindingsData): Promise<void> {
  for (const t of tablesOf(f)) await register(db, t);
}
