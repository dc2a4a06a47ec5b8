// The one place that decides what a trace is, from its content alone: renaming a file never changes how it is read.
import { LineHead, SCANNERS, type Dialect } from './head.js';

export type TextFormat = 'ftrace' | 'trace_pipe' | 'trace-cmd' | 'perf';
/** Files read as records by their own format (src/ingest/binary/), not as lines: no text dialect. */
export type BinaryFormat = 'trace.dat' | 'perf.data';
export type Format = TextFormat | BinaryFormat;

export function isBinaryFormat(f: Format): f is BinaryFormat {
  return f === 'trace.dat' || f === 'perf.data';
}

/** trace-cmd.dat.v6(5)/v7(5): 0x17 0x08 0x44 "tracing"; perf.data-file-format.txt: "PERFILE2". */
export const BINARY_MAGIC: Readonly<Record<BinaryFormat, Buffer>> = {
  'trace.dat': Buffer.from([0x17, 0x08, 0x44, ...Buffer.from('tracing')]),
  'perf.data': Buffer.from('PERFILE2'),
};

/** The binary format whose magic the (decompressed) input starts with, if any. */
export function sniffBinary(head: Buffer): BinaryFormat | undefined {
  return (Object.keys(BINARY_MAGIC) as BinaryFormat[]).find((f) => head.subarray(0, BINARY_MAGIC[f].length).equals(BINARY_MAGIC[f]));
}

/** The line dialect of each text format. */
export const FORMAT_DIALECT: Readonly<Record<TextFormat, Dialect>> = {
  ftrace: 'ftrace',
  trace_pipe: 'ftrace',
  'trace-cmd': 'trace-cmd',
  perf: 'perf',
};

export type SniffResult =
  | { ok: true; format: TextFormat; reason: string }
  | { ok: false; message: string };

const SAMPLE_LINES = 200;

/** A NUL this early is a binary file; later ones are damaged lines, skipped and counted (ingest.ts). */
const BINARY_PREFIX = 256;

/** Decides the format from the first lines of the (decompressed) text. */
export function sniffFormat(head: string): SniffResult {
  const nul = head.indexOf('\0');
  const firstLineEnd = head.indexOf('\n');
  if (nul >= 0 && (nul < BINARY_PREFIX || firstLineEnd < 0 || nul < firstLineEnd)) {
    return { ok: false, message: `binary data, not trace text (NUL byte at offset ${nul})` };
  }
  const lines = head.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const first = lines.find((l) => l.trim() !== '') ?? '';
  if (first.startsWith('# tracer:')) {
    if (lines.some((l) => /^# \w+ latency trace v/.test(l))) {
      return { ok: false, message: 'latency-format trace (options/latency-format): its timestamps are relative and task names cut to 8 characters; capture again with latency-format off' };
    }
    return { ok: true, format: 'ftrace', reason: "'# tracer:' header" };
  }
  if (/^cpus=\d+$/.test(first)) return { ok: true, format: 'trace-cmd', reason: "'cpus=N' header" };
  const h = new LineHead();
  const hits: Record<Dialect, number> = { ftrace: 0, 'trace-cmd': 0, perf: 0 };
  let sampled = 0;
  // ftrace prints an irq-flags column unless irq-info is off; trace-cmd report pads event names
  let flagged = 0, padded = 0;
  for (const line of lines) {
    if (sampled >= SAMPLE_LINES) break;
    if (line.trim() === '' || line.startsWith('#')) continue;
    sampled++;
    for (const d of Object.keys(hits) as Dialect[]) {
      if (!SCANNERS[d](line, 0, line.length, h)) continue;
      hits[d]++;
      if (d !== 'ftrace') continue;
      if (h.flagsStart >= 0) flagged++;
      if (line.startsWith(':  ', h.eventEnd)) padded++;
    }
  }
  // trace-cmd lines also scan as ftrace lines; prefer the dialect that explains the most lines,
  // and perf over ftrace only when perf's group:event form matched
  const best = (Object.keys(hits) as Dialect[]).sort((a, b) => hits[b] - hits[a])[0]!;
  if (hits[best] === 0) {
    const nonText = [...head.slice(0, 4096)].filter((ch) => {
      const c = ch.charCodeAt(0);
      return (c < 32 && c !== 9 && c !== 10 && c !== 13) || c === 0xfffd;
    }).length;
    if (nonText > 0) return { ok: false, message: `binary data, not trace text (${nonText} control or invalid bytes in the first 4 KiB)` };
    if (sampled === 0) {
      const comments = lines.filter((l) => l.startsWith('#')).length;
      return { ok: false, message: comments > 0 ? `no trace lines, only ${comments} comment line(s)` : 'empty input' };
    }
    return { ok: false, message: `no line in the first ${sampled} looks like ftrace, trace-cmd report or perf script text` };
  }
  const tied = (Object.keys(hits) as Dialect[]).filter((d) => hits[d] === hits[best]);
  if (tied.includes('ftrace') && tied.includes('trace-cmd') && flagged === 0 && padded > 0) {
    // a trace-cmd report excerpt without its cpus= line (pasted from a mail)
    return { ok: true, format: 'trace-cmd', reason: `${hits[best]} of ${sampled} sampled lines fit; no irq-flags column and padded event names: trace-cmd report` };
  }
  const format: TextFormat = best === 'ftrace' ? 'trace_pipe' : best;
  return { ok: true, format, reason: `${hits[best]} of ${sampled} sampled lines are ${best} lines` };
}
