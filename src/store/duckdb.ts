// DuckDB through @duckdb/node-api, loaded only by the verbs that need it. Arrow batches go in by
// copying their buffers straight into DuckDB data chunks (@duckdb/node-bindings, the same version
// as node-api): DuckDB cannot scan Arrow memory from Node, and value-by-value appending is ~5x slower.
import bindings from '@duckdb/node-bindings';
import { DuckDBDataChunk, DuckDBInstance, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import type { Data, RecordBatch, Vector } from 'apache-arrow';
import { join } from 'node:path';
import { scratchDir } from '../analyses/spill.js';
import { EVENT_COLUMNS, type ColumnKind } from '../ingest/schema.js';

export interface Database {
  connection: DuckDBConnection;
  /** The events table is a view over the staged codes (one copy of the data, not two). */
  readonly eventsAsView: boolean;
  close(): void;
}

/**
 * Memory DuckDB may use before it spills to its temp directory (a spilling database only): with the
 * ingest's ~300 MB, convert stays near analyze's bound; 128 MB made convert 35 % slower.
 */
export const SPILL_MEMORY_LIMIT = '160MB';

/**
 * A database that never downloads an extension (parquet and json are built in): in memory, or with
 * `spill` a file in a fresh temp directory that DuckDB spills to beyond SPILL_MEMORY_LIMIT, so
 * memory stays flat however big the trace (`convert`); the directory goes on close, on exit and on SIGINT/SIGTERM (analyses/spill.ts).
 */
export async function openDatabase(opts: { spill?: boolean } = {}): Promise<Database> {
  const scratch = opts.spill ? scratchDir('mmu-trace-db-') : null;
  const dir = scratch?.path ?? null;
  const instance = await DuckDBInstance.create(dir ? join(dir, 'events.duckdb') : ':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    // one thread (a second one cost memory and no time); its allocator gives memory back early
    ...(dir ? {
      memory_limit: SPILL_MEMORY_LIMIT, temp_directory: dir, preserve_insertion_order: 'false', threads: '1',
      allocator_flush_threshold: '16MB', allocator_bulk_deallocation_flush_threshold: '16MB',
    } : {}),
  });
  const connection = await instance.connect();
  return {
    connection,
    eventsAsView: dir !== null,
    close(): void {
      connection.closeSync();
      instance.closeSync();
      scratch?.remove();
    },
  };
}

/**
 * `sql --safe`: from here on the connection reads no file but `readable` (a .parquet source's view
 * reads its file lazily) and writes none, downloads nothing, and the setting cannot be undone by the
 * user's SQL (DuckDB enable_external_access, allowed_paths, lock_configuration).
 */
export async function forbidFileAccess(db: Database, readable: readonly string[]): Promise<void> {
  if (readable.length) await db.connection.run(`SET allowed_paths = [${readable.map(quoteString).join(', ')}]`);
  await db.connection.run('SET enable_external_access = false');
  await db.connection.run('SET lock_configuration = true');
}

export const quoteIdent = (id: string): string => `"${id.replaceAll('"', '""')}"`;
export const quoteString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/** SQL type of each kind; dictionary columns are staged as their codes and resolved at the end. */
const STAGED_TYPE: Readonly<Record<ColumnKind, string>> = {
  u64: 'UBIGINT', u32: 'UINTEGER', i32: 'INTEGER', u8: 'UTINYINT', bool: 'BOOLEAN', dict: 'INTEGER', utf8: 'VARCHAR',
};

const STAGING = 'events_staging';

/**
 * Streams `events` batches into a table: each batch is appended to a staging table with dictionary
 * codes, and `finish()` turns the codes into strings with the final dictionaries (codes are stable
 * across the batches of one ingest, so the last batch's dictionaries cover them all).
 */
export class EventsTableLoader {
  private readonly lastDictionaries: (Vector | null)[] = EVENT_COLUMNS.map(() => null);
  private readonly vectorSize = bindings.vector_size();
  private readonly bools = new Uint8Array(bindings.vector_size());
  private readonly bits = new Uint8Array(bindings.vector_size() >> 3);

  private constructor(private readonly db: Database, private readonly appender: DuckDBAppender, private readonly table: string) {}

  static async create(db: Database, table = 'events'): Promise<EventsTableLoader> {
    const cols = EVENT_COLUMNS.map((c) => `${quoteIdent(c.name)} ${STAGED_TYPE[c.kind]}`).join(', ');
    await db.connection.run(`CREATE OR REPLACE TABLE ${STAGING} (${cols})`);
    return new EventsTableLoader(db, await db.connection.createAppender(STAGING), table);
  }

  /** One data chunk for every batch: each new one is native memory V8 does not count, freed only by a late GC. */
  private chunk: DuckDBDataChunk | null = null;
  private vectors: bindings.Vector[] = [];

  append(batch: RecordBatch): void {
    if (this.chunk === null) {
      this.chunk = DuckDBDataChunk.create(EVENT_COLUMNS.map((_, c) => this.appender.columnType(c)));
      this.vectors = EVENT_COLUMNS.map((_, c) => bindings.data_chunk_get_vector(this.chunk!.chunk, c));
    }
    const { chunk, vectors } = this;
    const data = EVENT_COLUMNS.map((_, c) => batch.getChildAt(c)!.data[0]! as Data);
    data.forEach((d, c) => {
      if (d.dictionary) this.lastDictionaries[c] = d.dictionary;
    });
    for (let off = 0; off < batch.numRows; off += this.vectorSize) {
      const len = Math.min(this.vectorSize, batch.numRows - off);
      chunk.reset();
      bindings.data_chunk_set_size(chunk.chunk, len);
      for (let c = 0; c < data.length; c++) this.copyColumn(EVENT_COLUMNS[c]!.kind, data[c]!, vectors[c]!, off, len);
      this.appender.appendDataChunk(chunk);
    }
  }

  private copyColumn(kind: ColumnKind, d: Data, vec: bindings.Vector, off: number, len: number): void {
    if (d.nullCount === d.length) {
      // an all-null column: only the validity matters
      bindings.vector_ensure_validity_writable(vec);
      this.bits.fill(0);
      bindings.copy_data_to_vector_validity(vec, 0, this.bits.buffer, 0, (len + 7) >> 3);
      return;
    }
    const bitStart = d.offset + off;
    if (kind === 'bool') {
      const packed = d.values as Uint8Array;
      for (let i = 0; i < len; i++) this.bools[i] = (packed[(bitStart + i) >> 3]! >> ((bitStart + i) & 7)) & 1;
      bindings.copy_data_to_vector(vec, 0, this.bools.buffer, 0, len);
    } else if (kind === 'utf8') {
      const offsets = d.valueOffsets as Int32Array;
      const bytes = d.values as Uint8Array;
      for (let i = 0; i < len; i++) {
        if (d.getValid(off + i)) bindings.vector_assign_string_element_len(vec, i, bytes.subarray(offsets[off + i]!, offsets[off + i + 1]!));
      }
    } else {
      // fixed width (and dictionary codes): the same bytes in both layouts
      const v = d.values as ArrayBufferView & { BYTES_PER_ELEMENT: number };
      const w = v.BYTES_PER_ELEMENT;
      bindings.copy_data_to_vector(vec, 0, v.buffer as ArrayBuffer, v.byteOffset + off * w, len * w);
    }
    if (d.nullCount > 0) this.copyValidity(d, vec, bitStart, len);
  }

  /** DuckDB's validity mask has Arrow's bit layout (LSB first, 1 = valid). */
  private copyValidity(d: Data, vec: bindings.Vector, bitStart: number, len: number): void {
    bindings.vector_ensure_validity_writable(vec);
    const bitmap = d.nullBitmap!;
    const nbytes = (len + 7) >> 3;
    if ((bitStart & 7) === 0) {
      bindings.copy_data_to_vector_validity(vec, 0, bitmap.buffer as ArrayBuffer, bitmap.byteOffset + (bitStart >> 3), nbytes);
      return;
    }
    this.bits.fill(0);
    for (let i = 0; i < len; i++) {
      const b = bitStart + i;
      if ((bitmap[b >> 3]! >> (b & 7)) & 1) this.bits[i >> 3]! |= 1 << (i & 7);
    }
    bindings.copy_data_to_vector_validity(vec, 0, this.bits.buffer, 0, nbytes);
  }

  /**
   * Resolves dictionary codes into strings and creates the final table. The strings come from the
   * trace (task names are anyone's choice), so they never enter SQL text: each dictionary is
   * appended as one list value to a table of its own and indexed by the codes.
   */
  async finish(): Promise<void> {
    this.appender.flushSync();
    this.appender.closeSync();
    const conn = this.db.connection;
    const select: string[] = [];
    const dictTables: string[] = [];
    for (const [i, c] of EVENT_COLUMNS.entries()) {
      const name = quoteIdent(c.name);
      const dict = this.lastDictionaries[i];
      if (c.kind !== 'dict') select.push(name);
      // an empty dictionary means the column is null in every row
      else if (!dict || dict.length === 0) select.push(`CAST(NULL AS VARCHAR) AS ${name}`);
      else {
        const table = quoteIdent(`${STAGING}_dict_${c.name}`);
        await conn.run(`CREATE OR REPLACE TABLE ${table} (v VARCHAR[])`);
        dictTables.push(table);
        const appender = await conn.createAppender(`${STAGING}_dict_${c.name}`);
        appender.appendList(Array.from({ length: dict.length }, (_, k) => String(dict.get(k))));
        appender.endRow();
        appender.flushSync();
        appender.closeSync();
        select.push(`(SELECT v FROM ${table})[${name} + 1] AS ${name}`);
      }
    }
    if (this.db.eventsAsView) {
      await conn.run(`CREATE OR REPLACE VIEW ${quoteIdent(this.table)} AS SELECT ${select.join(', ')} FROM ${STAGING}`);
      return;
    }
    await conn.run(`CREATE OR REPLACE TABLE ${quoteIdent(this.table)} AS SELECT ${select.join(', ')} FROM ${STAGING}`);
    await conn.run(`DROP TABLE ${STAGING}`);
    for (const t of dictTables) await conn.run(`DROP TABLE ${t}`);
  }
}
