// Ingest on its own thread: the text is scanned and decoded in a worker (worker.ts) while this
// thread consumes the batches (statistics, MMU replay, DuckDB). Same batches, same order, same
// result as ingest(); used for big files on machines with more than one core.
import { Worker } from 'node:worker_threads';
import { RecordBatch, Struct, Utf8, makeData, vectorFromArray, type Data, type Schema, type Vector } from 'apache-arrow';
import { InputError, type IngestOptions, type IngestResult } from './ingest.js';
import { eventsSchema } from './batch.js';

/** Batches the worker may run ahead of the consumer (memory: IN_FLIGHT × one batch; 4 cost 30 MB more and no time). */
export const IN_FLIGHT = 2;

export interface WorkerInput {
  path: string;
  opts: Omit<IngestOptions, 'onBatch' | 'onProgress'>;
}

/** One column of a batch as its buffers; a dictionary column carries its dictionary's strings. */
interface WireColumn {
  nullCount: number;
  nullBitmap: Uint8Array | undefined;
  values: ArrayBufferView;
  valueOffsets: Int32Array | undefined;
  dictionary: (string | null)[] | undefined;
}

export interface WireBatch {
  length: number;
  columns: WireColumn[];
}

export type FromWorker =
  | { type: 'batch'; batch: WireBatch; bytesIn: number }
  | { type: 'done'; result: IngestResult }
  | { type: 'error'; message: string; input: { path: string; line?: number; column?: number } | null };

/**
 * A batch as its column buffers, for postMessage: buffers the batch owns whole are moved (transfer
 * list), others copied (a partial last batch; small strings in Node's shared Buffer pool).
 */
export function batchToWire(batch: RecordBatch): { wire: WireBatch; transfer: ArrayBuffer[] } {
  const transfer = new Set<ArrayBuffer>();
  const movable = (a: ArrayBufferView | undefined | null): void => {
    if (a && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer) transfer.add(a.buffer);
  };
  const columns = batch.data.children.map((d: Data): WireColumn => {
    movable(d.nullBitmap);
    movable(d.values);
    movable(d.valueOffsets);
    return {
      nullCount: d.nullCount, nullBitmap: d.nullBitmap ?? undefined, values: d.values, valueOffsets: d.valueOffsets ?? undefined,
      dictionary: d.dictionary ? Array.from(d.dictionary as Vector<Utf8>) : undefined,
    };
  });
  return { wire: { length: batch.numRows, columns }, transfer: [...transfer] };
}

/**
 * Rebuilds batches from their buffers. A dictionary that grew keeps its earlier chunks and gains
 * one for the new strings (codes are stable: the worker only appends), so an Arrow IPC file writer
 * sees a delta, not a replacement (which the file format cannot hold).
 */
export class WireReader {
  private readonly schema: Schema = eventsSchema();
  private readonly dictionaries: (Vector<Utf8> | null)[] = this.schema.fields.map(() => null);

  read(w: WireBatch): RecordBatch {
    const children = this.schema.fields.map((f, c) => {
      const col = w.columns[c]!;
      let dictionary: Vector<Utf8> | undefined;
      if (col.dictionary) {
        const have = this.dictionaries[c];
        if (!have) dictionary = vectorFromArray(col.dictionary, new Utf8());
        else if (have.length === col.dictionary.length) dictionary = have;
        else dictionary = have.concat(vectorFromArray(col.dictionary.slice(have.length), new Utf8()));
        this.dictionaries[c] = dictionary;
      }
      return makeData({
        type: f.type, length: w.length, nullCount: col.nullCount, nullBitmap: col.nullBitmap, data: col.values as never,
        valueOffsets: col.valueOffsets, dictionary,
      } as never);
    });
    return new RecordBatch(this.schema, makeData({ type: new Struct(this.schema.fields), length: w.length, nullCount: 0, children }));
  }
}

export function ingestInWorker(path: string, opts: IngestOptions = {}): Promise<IngestResult> {
  const { onBatch, onProgress, ...rest } = opts;
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { path, opts: rest } satisfies WorkerInput });
  return new Promise((resolve, reject) => {
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      void worker.terminate();
      reject(err);
    };
    // batches are consumed one after another, in the order they were posted
    let queue = Promise.resolve();
    const reader = new WireReader();
    worker.on('message', (m: FromWorker) => {
      queue = queue.then(async () => {
        if (failed) return;
        if (m.type === 'batch') {
          await onBatch?.(reader.read(m.batch));
          onProgress?.(m.bytesIn);
          worker.postMessage('ack');
        } else if (m.type === 'done') {
          resolve(m.result);
        } else {
          fail(m.input ? new InputError(m.input.path, m.message, m.input.line, m.input.column) : new Error(m.message));
        }
      }).catch(fail);
    });
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (code !== 0) queue = queue.then(() => fail(new Error(`ingest worker exited with code ${code}`)));
    });
  });
}
