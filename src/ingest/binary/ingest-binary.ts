// trace.dat / perf.data → `events` record batches: the reader's items in time order, each event's
// header columns (time stamp, CPU, task, comm) and its record decoded by its format. The `line`
// column is the item's ordinal (1-based): records have no lines, and a lost-events mark counts as
// one item as in the text. A file that ends early or stops making sense sets `truncated`, naming
// the byte offset; every event read before the stop stays (in a trace.dat, those of the CPUs whose
// data goes on, too).
import type { RecordBatch } from 'apache-arrow';
import { EventBatchBuilder, DEFAULT_BATCH_ROWS } from '../batch.js';
import { C } from '../schema.js';
import { DecodeContext } from '../context.js';
import { formatSeconds } from '../numbers.js';
import { ROLE_LAYOUTS } from '../role.js';
import type { IngestOptions, IngestResult } from '../ingest.js';
import type { BinaryFormat } from '../sniff.js';
import type { SourceInfo } from '../source.js';
import { BinaryFormatError, halves, type ByteSource } from './bytes.js';
import type { BinaryItem } from './items.js';
import { openPerfData } from './perf-data.js';
import { RecordDecoder } from './record.js';
import { newRingStats } from './ring-buffer.js';
import { openTraceDat, traceDatItems } from './trace-dat.js';
import type { TracingMeta } from './tracing-meta.js';

/** trace_clock values whose stamps are counter ticks, not nanoseconds (trace.c trace_clocks). */
const COUNTER_CLOCKS = new Set(['counter', 'x86-tsc']);

interface Opened {
  meta: TracingMeta;
  reason: string;
  clock: 'ns' | 'counter';
  cpus: number | null;
  items: Generator<BinaryItem>;
  /** Events the file says were lost in all, apart from its lost marks (perf's LOST_SAMPLES), once read; null if it does not say. */
  lostTotal(): number | null;
  /** What the file held besides events, for the report's kernel hints. */
  describe(): string;
  /** The traced kernel's release as the file names it. */
  kernel: string | null;
}

/** Reads the file's headers; an unreadable header throws BinaryFormatError. */
function open(src: ByteSource, format: BinaryFormat): Opened {
  if (format === 'trace.dat') {
    const td = openTraceDat(src);
    const stats = newRingStats();
    const clocks = [...new Set(td.buffers.filter((b) => b.cpus.length > 0).map((b) => b.clock))];
    const named = td.buffers.filter((b) => b.name !== '').map((b) => `"${b.name}"`);
    return {
      meta: td,
      reason: `trace.dat magic, file version ${td.version}, ${td.compression ?? 'uncompressed'}${named.length ? `, buffer ${named.join(', ')}` : ''}`,
      clock: clocks.some((c) => COUNTER_CLOCKS.has(c)) ? 'counter' : 'ns',
      cpus: td.cpuCount,
      items: traceDatItems(td, stats),
      lostTotal: () => null,
      // "sysname nodename release machine"
      kernel: td.uname?.split(' ')[2] ?? td.uname,
      describe: () => `${stats.pages} pages, ${stats.timeExtends} time extends, ${stats.timeStamps} absolute time stamps, ${stats.paddings} paddings, ${stats.missedPages} pages with missed events; clock ${clocks.join(', ') || 'none'}`,
    };
  }
  const pd = openPerfData(src);
  return {
    meta: pd,
    reason: 'perf.data magic (PERFILE2)',
    clock: 'ns',
    cpus: pd.cpuCount,
    items: pd.items(),
    lostTotal: () => (pd.stats.lostSamplesRecords > 0 ? pd.stats.lostSamples : null),
    kernel: pd.osRelease,
    describe: () => `${pd.stats.records} records, ${pd.stats.samples} samples (${pd.stats.samplesWithoutRaw} without raw data), ${pd.stats.lostRecords} LOST records, ${pd.stats.lostSamplesRecords} LOST_SAMPLES records`,
  };
}

export async function ingestBinary(path: string, src: ByteSource, format: BinaryFormat, source: SourceInfo,
  opts: IngestOptions): Promise<IngestResult> {
  const o = open(src, format);
  const ctx = opts.roleLayout ? new DecodeContext(ROLE_LAYOUTS[opts.roleLayout], 'option') : new DecodeContext();
  // the model picks its rules from the events; the file's own word on the kernel is a hint
  const version = /^\d+\.\d+/.exec(o.kernel ?? '')?.[0];
  if (o.kernel) ctx.hint('kernel', `${o.kernel}, as the file says${version ? ` (--kernel ${version} applies its rules)` : ''}`);
  const decoder = new RecordDecoder(o.meta.formats, o.meta.kallsyms, ctx);
  const b = new EventBatchBuilder(opts.batchRows ?? DEFAULT_BATCH_ROWS);
  const ready: RecordBatch[] = [];
  const flush = async (): Promise<void> => {
    for (const batch of ready.splice(0)) await opts.onBatch?.(batch);
    opts.onProgress?.(src.progress() ?? source.bytesIn);
  };
  const commit = (): void => {
    b.commitRow();
    if (b.full) ready.push(b.finish());
  };
  let items = 0;
  let events = 0;
  let lostMarkers = 0;
  let lost = 0;
  let first: bigint | null = null;
  let last = 0n;
  let truncated: string | null = null;
  const undecoded: Record<string, number> = {};
  for (;;) {
    let it: IteratorResult<BinaryItem>;
    try {
      it = o.items.next();
    } catch (e) {
      if (!(e instanceof BinaryFormatError)) throw e;
      truncated = `${format} ${e.kind === 'truncated' ? 'is truncated' : 'is corrupt'}: ${e.message}`;
      break;
    }
    if (it.done) break;
    const item = it.value;
    items++;
    ctx.line = items;
    b.u64(C.line, Math.floor(items / 2 ** 32), items >>> 0);
    if (item.kind === 'lost') {
      // as in the text: no time stamp of its own, it sits after the last event
      const t = halves(last);
      lostMarkers++;
      b.u64(C.ts_ns, t.hi, t.lo);
      if (item.cpu >= 0) b.int(C.cpu, item.cpu);
      b.str(C.grp, 'ftrace');
      b.str(C.event, 'lost_events');
      if (item.count !== null) {
        lost += item.count;
        const n = halves(BigInt(item.count));
        b.u64(C.lost, n.hi, n.lo);
      }
    } else {
      events++;
      first ??= item.ts;
      last = item.ts;
      const t = halves(item.ts);
      b.u64(C.ts_ns, t.hi, t.lo);
      b.int(C.cpu, item.cpu);
      const pid = item.pid ?? decoder.pid(item.data);
      b.int(C.pid, pid);
      if (item.tgid !== null) b.int(C.tgid, item.tgid);
      b.str(C.comm, item.comm ?? o.meta.cmdlines.get(pid) ?? (pid === 0 ? '<idle>' : '<...>'));
      const r = decoder.write(item.data, b);
      if (r.outcome !== 'decoded') undecoded[r.name] = (undecoded[r.name] ?? 0) + 1;
    }
    commit();
    if (ready.length > 0) await flush();
  }
  if (b.row > 0) ready.push(b.finish());
  await flush();
  src.close();
  ctx.hint(format, o.describe());
  const fmt = (v: bigint | null): string | null => (v === null ? null : o.clock === 'counter' ? v.toString() : formatSeconds(v, 9));
  return {
    path, format, formatReason: o.reason, source,
    lines: items, events, headerLines: 0, blankLines: 0, annotations: 0, grepSeparators: 0, stackFrames: 0, suspectCounts: [], missingFromFile: 0,
    skippedLines: 0, skippedByReason: {}, skipExamples: [], anomalies: [],
    // as for text: the tracer's own total where it gives one, else the sum of the marks
    lostEvents: Math.max(lost, o.lostTotal() ?? 0), lostFromHeader: o.lostTotal(), lostMarkers, entries: null,
    headerCpus: o.cpus, clock: o.clock, firstTs: fmt(first), lastTs: fmt(first === null ? null : last),
    undecodedEvents: undecoded, crlfLines: 0, truncated,
    // what `mmu-trace record` writes around its text; a binary trace is never one
    recorded: null,
    kernel: {
      roleLayout: ctx.layout.name, roleLayoutKernels: ctx.layout.kernels, roleLayoutSource: ctx.layoutSource,
      hints: Object.fromEntries(ctx.hints),
    },
  };
}
