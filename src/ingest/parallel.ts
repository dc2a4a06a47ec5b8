// Ingest on its own thread: the text is scanned and decoded in a worker (worker.ts) while this
// thread consumes the batches (statistics, MMU replay, DuckDB). Same batches, same order, same
// result as ingest(); used for big files on machines with more than one core.
import { Worker } from 'node:worker_threads';
import { tableFromIPC, type RecordBatch } from 'apache-arrow';
import { InputError, type IngestOptions, type IngestResult } from './ingest.js';

/** Batches the worker may run ahead of the consumer (memory: IN_FLIGHT × one batch). */
export const IN_FLIGHT = 4;

export interface WorkerInput {
  path: string;
  opts: Omit<IngestOptions, 'onBatch'>;
}

export type FromWorker =
  | { type: 'batch'; bytes: Uint8Array }
  | { type: 'done'; result: IngestResult }
  | { type: 'error'; message: string; input: { path: string; line?: number; column?: number } | null };

export function ingestInWorker(path: string, opts: IngestOptions = {}): Promise<IngestResult> {
  const { onBatch, ...rest } = opts;
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
    worker.on('message', (m: FromWorker) => {
      queue = queue.then(async () => {
        if (failed) return;
        if (m.type === 'batch') {
          const batch: RecordBatch = tableFromIPC(m.bytes).batches[0]!;
          await onBatch?.(batch);
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
