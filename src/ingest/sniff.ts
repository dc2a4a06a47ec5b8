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

/**
 * Lines as grep printed them: `FILE:` before a matching line and `FILE-` before a context line
 * (grep -H, or grep over several files), then `N:` / `N-` with -n. The `--` lines between context
 * groups are counted whether or not there is a prefix.
 */
export interface GrepPrefix {
  file: string | null;
  numbered: boolean;
}

export type SniffResult =
  | { ok: true; format: TextFormat; reason: string; grep: GrepPrefix | null }
  | { ok: false; message: string };

/** grep's line between context groups (-A, -B, -C): never a trace line. */
export const GREP_SEPARATOR = '--';

const isGrepSep = (c: number): boolean => c === 58 || c === 45; // ':' '-'

/** Where the trace line starts in s[a..e) after grep's prefix `g`; `a` when the line has none. */
export function afterGrepPrefix(g: GrepPrefix, s: string, a: number, e: number): number {
  let i = a;
  if (g.file !== null) {
    if (!s.startsWith(g.file, i) || !isGrepSep(s.charCodeAt(i + g.file.length))) return a;
    i += g.file.length + 1;
  }
  if (g.numbered) {
    let j = i;
    while (j < e && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) j++;
    if (j === i || !isGrepSep(s.charCodeAt(j))) return a;
    i = j + 1;
  }
  return i;
}

/** The line number grep -n put before the line (after the file), else -1. */
function grepNumber(g: GrepPrefix, line: string): number {
  const start = g.file === null ? 0 : g.file.length + 1;
  const end = afterGrepPrefix(g, line, 0, line.length);
  return end === 0 ? -1 : Number(line.slice(start, end - 1));
}

/**
 * grep's prefix, when the sampled lines carry one: every candidate prefix of the first line (a file
 * name without blanks, a line number, both) that at least 90 % of the lines carry and whose rest is
 * a trace line, blank-padded as the kernel prints it. Shape alone cannot tell `FILE:` from trace-cmd's own `instance: ` prefix, so a file
 * prefix needs grep's other marks (a `-` context line, a `--` separator) or a rest that is not
 * trace-cmd text (irq flags, perf's form); line numbers need to increase.
 */
function sniffGrep(lines: readonly string[], h: LineHead): GrepPrefix | null {
  const sample = lines.filter((l) => l.trim() !== '' && l !== GREP_SEPARATOR).slice(0, SAMPLE_LINES);
  const first = sample[0];
  if (first === undefined) return null;
  const candidates: GrepPrefix[] = [{ file: null, numbered: true }];
  for (let p = 0; p < first.length && !/\s/.test(first[p]!); p++) {
    if (!isGrepSep(first.charCodeAt(p)) || p === 0) continue;
    candidates.push({ file: first.slice(0, p), numbered: false }, { file: first.slice(0, p), numbered: true });
  }
  const separators = lines.some((l) => l === GREP_SEPARATOR);
  for (const g of candidates) {
    let fit = 0, contextLines = 0, notTraceCmd = 0, last = -1, increasing = true;
    for (const l of sample) {
      const at = afterGrepPrefix(g, l, 0, l.length);
      // the kernel pads the task column (comm is at most 15 of its 16 characters): a trace line
      // starts with a blank, so a prefix without one after it is the line's own text
      if (at === 0 || (l.charCodeAt(at) !== 32 && l.charCodeAt(at) !== 9)) continue;
      // trace-cmd report has no irq flags (and may have an instance prefix); ftrace and perf text do
      if (SCANNERS.perf(l, at, l.length, h) || (SCANNERS.ftrace(l, at, l.length, h) && h.flagsStart >= 0)) notTraceCmd++;
      else if (!SCANNERS['trace-cmd'](l, at, l.length, h) && !SCANNERS.ftrace(l, at, l.length, h)) continue;
      fit++;
      if (l.charCodeAt(at - 1) === 45) contextLines++;
      if (g.numbered) {
        const n = grepNumber(g, l);
        if (n <= last) increasing = false;
        last = n;
      }
    }
    if (fit < 0.9 * sample.length) continue;
    if (g.numbered ? increasing : separators || contextLines > 0 || notTraceCmd > 0) return g;
  }
  return null;
}

const SAMPLE_LINES = 200;

/** A NUL this early is a binary file; later ones are damaged lines, skipped and counted (line-processor.ts). */
const BINARY_PREFIX = 256;

/** Decides the format from the first lines of the (decompressed) text. */
export function sniffFormat(head: string): SniffResult {
  const nul = head.indexOf('\0');
  const firstLineEnd = head.indexOf('\n');
  if (nul >= 0 && (nul < BINARY_PREFIX || firstLineEnd < 0 || nul < firstLineEnd)) {
    return { ok: false, message: `binary data, not trace text (NUL byte at offset ${nul})` };
  }
  const h = new LineHead();
  const raw = head.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const grep = sniffGrep(raw, h);
  const lines = grep ? raw.map((l) => l.slice(afterGrepPrefix(grep, l, 0, l.length))) : raw;
  const first = lines.find((l) => l.trim() !== '') ?? '';
  if (first.startsWith('# tracer:')) {
    if (lines.some((l) => /^# \w+ latency trace v/.test(l))) {
      return { ok: false, message: 'latency-format trace (options/latency-format): its timestamps are relative and task names cut to 8 characters; capture again with latency-format off' };
    }
    return { ok: true, format: 'ftrace', reason: "'# tracer:' header", grep };
  }
  if (/^cpus=\d+$/.test(first)) return { ok: true, format: 'trace-cmd', reason: "'cpus=N' header", grep };
  const hits: Record<Dialect, number> = { ftrace: 0, 'trace-cmd': 0, perf: 0 };
  let sampled = 0;
  // ftrace prints an irq-flags column unless irq-info is off; trace-cmd report pads event names
  let flagged = 0, padded = 0;
  for (const line of lines) {
    if (sampled >= SAMPLE_LINES) break;
    if (line.trim() === '' || line.startsWith('#') || line === GREP_SEPARATOR) continue;
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
    return { ok: true, format: 'trace-cmd', reason: `${hits[best]} of ${sampled} sampled lines fit; no irq-flags column and padded event names: trace-cmd report`, grep };
  }
  const format: TextFormat = best === 'ftrace' ? 'trace_pipe' : best;
  return { ok: true, format, reason: `${hits[best]} of ${sampled} sampled lines are ${best} lines`, grep };
}
