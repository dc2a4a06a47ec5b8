// `mmu-trace live`: a stream of trace text (a tracefs session's trace_pipe, or stdin) through the
// ingest and the MMU replay as it arrives, with the rolling counts (analyses/live.ts) handed out
// every interval and once more, with the open operations closed, at the end.
import { ingest, type IngestResult } from '../ingest/ingest.js';
import type { Format } from '../ingest/sniff.js';
import type { RoleLayoutName } from '../ingest/role.js';
import { LiveCounters, type LiveSnapshot } from '../analyses/live.js';
import { LockBreaksHandler } from '../analyses/lock-breaks.js';
import { Replay, type ReplayOptions } from '../model/replay.js';
import type { SpteLayout } from '../model/spte.js';

/** Rows per batch: small, so counts follow the events closely. */
const LIVE_BATCH_ROWS = 4096;

export interface LiveOptions {
  /** A name for messages ('-' for stdin). */
  name: string;
  /** The bytes to read; stdin when absent. */
  stream?: AsyncIterable<Buffer>;
  format?: Format;
  roleLayout?: RoleLayoutName;
  intervalS: number;
  model?: ReplayOptions;
  /** Each interval's snapshot, with the events read in it. */
  onTick: (s: LiveSnapshot, events: number) => void;
}

export interface LiveResult {
  final: LiveSnapshot;
  ingest: IngestResult;
  events: number;
}

export async function runLive(opts: LiveOptions): Promise<LiveResult> {
  const lockBreaks = new LockBreaksHandler(false);
  const counters: LiveCounters = new LiveCounters((): SpteLayout => replay.spteLayout, lockBreaks);
  const replay: Replay = new Replay([lockBreaks, counters], opts.model ?? {});
  let events = 0;
  let eventsThisTick = 0;
  let lastTick = Date.now();
  const tick = (): void => {
    lastTick = Date.now();
    opts.onTick(counters.take(), eventsThisTick);
    eventsThisTick = 0;
  };
  // the timer for quiet times; under load the batches come back to back and timers starve
  const timer = setInterval(() => {
    if (Date.now() - lastTick >= opts.intervalS * 1000) tick();
  }, Math.min(1000, opts.intervalS * 1000) / 4);
  try {
    const r = await ingest(opts.name, {
      ...(opts.stream ? { stream: opts.stream } : {}),
      ...(opts.format ? { format: opts.format } : {}),
      ...(opts.roleLayout ? { roleLayout: opts.roleLayout } : {}),
      batchRows: LIVE_BATCH_ROWS,
      batchEachChunk: true,
      onBatch: (b) => {
        replay.handleBatch(b);
        counters.bound();
        events += b.numRows;
        eventsThisTick += b.numRows;
        if (Date.now() - lastTick >= opts.intervalS * 1000) tick();
      },
    });
    replay.finish();
    return { final: counters.take(), ingest: r, events };
  } finally {
    clearInterval(timer);
  }
}
