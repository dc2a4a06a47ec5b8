// The ingest thread of a parallel ingest (parallel.ts): runs ingest() on the file it is given and
// posts each batch as its column buffers, at most IN_FLIGHT ahead of the consumer's acks.
import { parentPort, workerData } from 'node:worker_threads';
import { ingest, InputError } from './ingest.js';
import { IN_FLIGHT, batchToWire, type FromWorker, type WorkerInput } from './parallel.js';

const port = parentPort!;
const { path, opts } = workerData as WorkerInput;
let credits = IN_FLIGHT;
let bytesIn = 0;
let wake: (() => void) | null = null;
port.on('message', () => {
  credits++;
  wake?.();
  wake = null;
});

const post = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

try {
  const result = await ingest(path, {
    ...opts,
    onProgress: (n) => void (bytesIn = n),
    onBatch: async (batch) => {
      while (credits === 0) await new Promise<void>((r) => (wake = r));
      credits--;
      const { wire, transfer } = batchToWire(batch);
      post({ type: 'batch', batch: wire, bytesIn }, transfer);
    },
  });
  post({ type: 'done', result });
} catch (err) {
  const e = err as Error;
  post({
    type: 'error', message: e instanceof InputError ? e.detail : String(e.stack ?? e.message),
    input: e instanceof InputError ? { path: e.path, line: e.line, column: e.column } : null,
  });
}
port.close();
