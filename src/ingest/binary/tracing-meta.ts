// The metadata blocks trace-cmd stores (trace-cmd.dat.v6(5) "HEADER INFO FORMAT" .. "PROCESS
// INFORMATION"; the same blocks are v7's sections and perf.data's HEADER_TRACING_DATA): the ring
// buffer's page and event headers, the event format files, kallsyms and the saved cmdlines.
import { corrupt, Reader } from './bytes.js';
import { parseFieldLines, parseFormat, type EventFormat } from './format-file.js';

/** Where a ring-buffer page keeps its time stamp, commit word and data (events/header_page). */
export interface PageLayout {
  readonly tsOffset: number;
  readonly commitOffset: number;
  /** The commit word is a kernel `local_t`: its size is the kernel's long. */
  readonly commitSize: number;
  readonly dataOffset: number;
}

/** Parses events/header_page: `u64 timestamp`, `local_t commit`, `char data`. */
function parseHeaderPage(text: string, at: number): PageLayout {
  const fields = parseFieldLines(text);
  const ts = fields.find((f) => f.name === 'timestamp');
  const commit = fields.find((f) => f.name === 'commit');
  const data = fields.find((f) => f.name === 'data');
  if (!ts || ts.size !== 8 || !commit || (commit.size !== 4 && commit.size !== 8) || !data) {
    throw corrupt(at, `unexpected ring-buffer page header (events/header_page): ${JSON.stringify(text.slice(0, 120))}`);
  }
  return { tsOffset: ts.offset, commitOffset: commit.offset, commitSize: commit.size, dataOffset: data.offset };
}

/**
 * Checks events/header_event describes the ring-buffer event header this reader decodes: a 5-bit
 * type_len, a 27-bit time_delta, padding 29, time_extend 30, time_stamp 31, data up to 28.
 */
function checkHeaderEvent(text: string, at: number): void {
  const need = [/type_len\s*:\s*5 bits/, /time_delta\s*:\s*27 bits/, /padding\s*:\s*type == 29/, /time_extend\s*:\s*type == 30/,
    /time_stamp\s*:\s*type == 31/, /data max type_len\s*==\s*28/];
  if (!need.every((re) => re.test(text))) throw corrupt(at, `unexpected ring-buffer event header (events/header_event): ${JSON.stringify(text.slice(0, 120))}`);
}

/** header_page and header_event, each as `name\0`, a u64 size and the file's text. */
export function readHeaderInfo(r: Reader): PageLayout {
  const block = (name: string): { text: string; at: number } => {
    const at = r.offset;
    if (r.cstring() !== name) throw corrupt(at, `expected "${name}"`);
    const size = r.u64n();
    return { text: r.bytes(size).toString('latin1'), at };
  };
  const page = block('header_page');
  const event = block('header_event');
  checkHeaderEvent(event.text, event.at);
  return parseHeaderPage(page.text, page.at);
}

function readFormatFile(r: Reader, system: string): EventFormat {
  const size = r.u64n();
  const at = r.offset;
  return parseFormat(r.bytes(size).toString('latin1'), system, at);
}

/** "FTRACE EVENT FORMATS": a u32 count of (u64 size, format) of the ftrace system. */
export function readFtraceFormats(r: Reader): EventFormat[] {
  const n = r.u32();
  return Array.from({ length: n }, () => readFormatFile(r, 'ftrace'));
}

/** "EVENT FORMATS": a u32 count of systems, each `name\0`, a u32 count of (u64 size, format). */
export function readEventFormats(r: Reader): EventFormat[] {
  const out: EventFormat[] = [];
  const systems = r.u32();
  for (let s = 0; s < systems; s++) {
    const system = r.cstring();
    const n = r.u32();
    for (let i = 0; i < n; i++) out.push(readFormatFile(r, system));
  }
  return out;
}

/** A block of a u32 size and text (KALLSYMS, TRACE_PRINTK). */
export function readSized32(r: Reader): string {
  return r.bytes(r.u32()).toString('latin1');
}

/** "SAVED COMMAND LINES": a u64 size and saved_cmdlines text, `PID COMM` per line. */
export function readCmdlines(r: Reader): Map<number, string> {
  return parseCmdlines(r.bytes(r.u64n()).toString('latin1'));
}

export function parseCmdlines(text: string): Map<number, string> {
  const m = new Map<number, string>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) m.set(Number(line.slice(0, sp)), line.slice(sp + 1));
  }
  return m;
}

/** /proc/kallsyms text, sorted once on first use, for naming the ftrace print event's `ip`. */
export class Kallsyms {
  private addrs: bigint[] | null = null;
  private names: string[] = [];

  constructor(private readonly text: string) {}

  /** The function containing `addr`: the symbol with the greatest address not above it. */
  lookup(addr: bigint): string | undefined {
    if (this.addrs === null) {
      const syms: [bigint, string][] = [];
      for (const line of this.text.split('\n')) {
        const m = /^([0-9a-f]+) \S (\S+)/i.exec(line);
        if (m) syms.push([BigInt(`0x${m[1]}`), m[2]!]);
      }
      syms.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      this.addrs = syms.map((s) => s[0]);
      this.names = syms.map((s) => s[1]);
    }
    let lo = 0;
    let hi = this.addrs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.addrs[mid]! <= addr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 && addr !== 0n ? this.names[found] : undefined;
  }
}

/** What a trace file says about its events, shared by the trace.dat and perf.data readers. */
export interface TracingMeta {
  page: PageLayout;
  /** By event id. */
  formats: Map<number, EventFormat>;
  kallsyms: Kallsyms;
  cmdlines: Map<number, string>;
}

export function formatsById(list: EventFormat[]): Map<number, EventFormat> {
  return new Map(list.map((f) => [f.id, f]));
}
