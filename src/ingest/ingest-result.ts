// What one ingest reports (its line accounting, losses, anomalies, kernel hints): the `input`
// section of the report. ingest.ts fills it from a text trace, binary/ingest-binary.ts from a binary one.
import type { RecordBatch } from 'apache-arrow';
import type { Format } from './sniff.js';
import type { RoleLayoutName } from './role.js';
import type { SourceInfo } from './source.js';
import type { RecordHeader } from './record-header.js';

export interface IngestOptions {
  chunkBytes?: number;
  batchRows?: number;
  /** Skip sniffing. */
  format?: Format;
  /** Role layout to decode raw role words with, instead of inferring it. */
  roleLayout?: RoleLayoutName;
  /** Called with each full batch, in order. */
  onBatch?: (batch: RecordBatch) => void | Promise<void>;
  /** Read from this stream instead of the file `path` names (live tracing); `path` names it in messages. */
  stream?: AsyncIterable<Buffer>;
  /** Hand over the rows of every chunk at once, not only full batches (live: findings as events arrive). */
  batchEachChunk?: boolean;
  /** Called after each chunk with the input bytes read so far (the compressed size of a .gz). */
  onProgress?: (bytesIn: number) => void;
}

export interface SkipExample {
  line: number;
  /** 1-based column where the grammar stopped matching, when known. */
  column: number | null;
  reason: string;
  message: string;
}

/** Values the trace holds that cannot be right as they stand: counted, located, never silent. */
export interface Anomaly {
  /** `time-backwards`: an event stamped before the one above it; `value-out-of-range`: a number its column cannot hold (kept null). */
  kind: 'time-backwards' | 'value-out-of-range';
  count: number;
  firstLine: number;
  /** The first case, with its values. */
  message: string;
}

export interface KernelInfo {
  roleLayout: RoleLayoutName;
  roleLayoutKernels: string;
  roleLayoutSource: 'option' | 'text' | 'default';
  hints: Record<string, { value: string; line: number }>;
}

export interface IngestResult {
  path: string;
  format: Format;
  formatReason: string;
  source: SourceInfo;
  lines: number;
  events: number;
  headerLines: number;
  blankLines: number;
  annotations: number;
  /** grep's `--` lines between context groups. */
  grepSeparators: number;
  stackFrames: number;
  skippedLines: number;
  /** Loss counts the trace states that cannot be true (damage): shown, never added to lostEvents. */
  suspectCounts: string[];
  /** Events the header's entries-in-buffer counts that the file does not hold (cut or filtered), else 0. */
  missingFromFile: number;
  skippedByReason: Record<string, number>;
  skipExamples: SkipExample[];
  anomalies: Anomaly[];
  /** Events the tracer says it lost: header B−A plus LOST/DROPPED markers. */
  lostEvents: number;
  lostFromHeader: number | null;
  lostMarkers: number;
  /** entries-in-buffer / entries-written, when the header has them. */
  entries: { inBuffer: number; written: number } | null;
  /** #P: (ftrace) or cpus= (trace-cmd). */
  headerCpus: number | null;
  clock: 'ns' | 'counter';
  firstTs: string | null;
  lastTs: string | null;
  /** Events whose payload no decoder variant matched (kept with their raw payload), by name. */
  undecodedEvents: Record<string, number>;
  crlfLines: number;
  /** Set when the input ended early (e.g. a truncated .gz): the message says how. */
  truncated: string | null;
  kernel: KernelInfo;
  /** What `mmu-trace record` wrote around the trace (command, kernel, KVM parameters), when it made it. */
  recorded: RecordHeader | null;
}
