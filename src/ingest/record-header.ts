// The comment lines `mmu-trace record` writes around the trace text: what was run, on which kernel,
// with which KVM module parameters and events, and what the ring buffer lost. Written and read
// here only, so `analyze` of a recording picks its kernel rules without --kernel.
import { readText, type SourceInfo } from './source.js';

export const RECORD_PREFIX = '# mmu-trace: ';

export interface RecordHeader {
  /** mmu-trace version that recorded. */
  recordedBy: string | null;
  command: string | null;
  /** `uname -r` of the recording host. */
  kernel: string | null;
  /** /sys/module/<module>/parameters, per KVM module that was loaded. */
  modules: Record<string, Record<string, string>>;
  events: string[];
  missingEvents: string[];
  /** Function-traced flush entry points (--observe-flushes), empty when not asked for. */
  flushFunctions: string[];
  /** How the recording stopped (trailer), null when the trailer is missing (killed, cut). */
  stopped: string | null;
  /** Events overwritten or dropped in the ring buffer, from the trailer's per-CPU stats. */
  lost: number | null;
}

export function emptyRecordHeader(): RecordHeader {
  return { recordedBy: null, command: null, kernel: null, modules: {}, events: [], missingEvents: [], flushFunctions: [], stopped: null, lost: null };
}

/** One header line: `# mmu-trace: KEY: VALUE`. */
export function recordLine(key: string, value: string): string {
  return `${RECORD_PREFIX}${key}: ${value.replace(/\n/g, ' ')}\n`;
}

/** `name=value ...` (module parameters; values have no spaces) */
export function paramsText(params: Record<string, string>): string {
  return Object.entries(params).map(([k, v]) => `${k}=${v.replace(/\s+/g, '_')}`).join(' ');
}

const LINE_RE = /^# mmu-trace: ([\w -]+?): (.*)$/;

/** Reads one line into `h`; false when it is not a record header line. */
export function readRecordLine(text: string, h: RecordHeader): boolean {
  const m = LINE_RE.exec(text);
  if (!m) return false;
  const [, key, value] = m as unknown as [string, string, string];
  const list = (): string[] => value.split(' ').filter((s) => s !== '' && s !== '-');
  if (key === 'recorded by') h.recordedBy = value;
  else if (key === 'command') h.command = value;
  else if (key === 'kernel') h.kernel = value;
  else if (key.startsWith('module ')) {
    h.modules[key.slice(7)] = Object.fromEntries(list().map((p) => {
      const eq = p.indexOf('=');
      return eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)];
    }));
  } else if (key === 'events') h.events = list();
  else if (key === 'missing events') h.missingEvents = list();
  else if (key === 'flush functions') h.flushFunctions = list();
  else if (key === 'stopped') h.stopped = value;
  else if (key === 'lost') h.lost = [...value.matchAll(/(?:overrun|dropped)=(\d+)/g)].reduce((n, x) => n + Number(x[1]), 0);
  else return false;
  return true;
}

const PEEK_BYTES = 64 * 1024;

/**
 * The header of a recording, read from the file's first 64 KiB (gzip too), before the ingest
 * starts: the replay needs the kernel rules from the first event on. Null for stdin or a trace
 * that mmu-trace did not record.
 */
export async function peekRecordHeader(path: string): Promise<RecordHeader | null> {
  if (path === '-') return null;
  const info: SourceInfo = { compressed: false, bytesIn: 0, bytesText: 0 };
  let head = '';
  try {
    for await (const chunk of readText(path, PEEK_BYTES, info)) {
      head += chunk.toString('utf8');
      if (head.length >= PEEK_BYTES) break;
    }
  } catch {
    return null; // the ingest reports an unreadable file
  }
  if (!head.startsWith(RECORD_PREFIX)) return null;
  const h = emptyRecordHeader();
  for (const line of head.split('\n')) {
    if (!line.startsWith('#')) break;
    readRecordLine(line, h);
  }
  return h;
}
