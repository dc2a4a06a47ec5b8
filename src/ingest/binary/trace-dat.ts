// trace-cmd's trace.dat, file versions 6 and 7 (trace-cmd.dat.v6(5), trace-cmd.dat.v7(5)): the
// initial format, the metadata (inline in v6, sections found through the OPTIONS sections in v7,
// maybe compressed), the saved cmdlines, and every buffer instance's per-CPU ring-buffer pages.
import { inflateSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { BinaryFormatError, corrupt, Reader, truncated, type ByteSource } from './bytes.js';
import { CpuStream, PlainPages, type Page, type PageSource, type RingStats } from './ring-buffer.js';
import type { BinaryItem } from './items.js';
import { BINARY_MAGIC } from '../sniff.js';
import {
  Kallsyms, formatsById, readCmdlines, readEventFormats, readFtraceFormats, readHeaderInfo, readSized32,
  type PageLayout, type TracingMeta,
} from './tracing-meta.js';

const TRACE_DAT_MAGIC = BINARY_MAGIC['trace.dat'];

export interface CpuData {
  cpu: number;
  pages: PageSource;
  /** Bytes of this CPU's data in the file (compressed size when compressed). */
  size: number;
}

export interface TraceBuffer {
  /** Instance name; '' for the top-level buffer. */
  name: string;
  clock: string;
  cpus: CpuData[];
}

export interface TraceDat extends TracingMeta {
  version: number;
  little: boolean;
  pageSize: number;
  compression: string | null;
  /** CPUs of the traced machine (v6 header, v7 CPUCOUNT option). */
  cpuCount: number | null;
  /** uname of the traced machine (UNAME option), e.g. "Linux vm 6.18.44 x86_64". */
  uname: string | null;
  buffers: TraceBuffer[];
}

/** v7 option ids (trace-cmd.dat.v7(5) OPTIONS SECTION); v6 uses the same numbers for its options. */
const OPT = {
  DONE: 0, BUFFER: 3, TRACECLOCK: 4, UNAME: 5, CPUCOUNT: 8, HEADER_INFO: 16, FTRACE_EVENTS: 17, EVENT_FORMATS: 18,
  KALLSYMS: 19, CMDLINES: 21,
} as const;

type Decompress = (data: Buffer, size: number) => Buffer;

/** More than any section or chunk trace-cmd writes (chunks are a few pages): a larger size is damage, not data. */
const MAX_UNCOMPRESSED = 1 << 28;

function decompressor(name: string, at: number): Decompress {
  const checked = (f: Decompress): Decompress => (data, size) => {
    if (size > MAX_UNCOMPRESSED) throw new RangeError(`uncompressed size ${size} is implausible`);
    return f(data, size);
  };
  if (name === 'zstd') return checked((data, size) => Buffer.from(zstdDecompress(data, new Uint8Array(size))));
  if (name === 'zlib') return checked((data) => inflateSync(data, { maxOutputLength: MAX_UNCOMPRESSED }));
  throw corrupt(at, `unsupported trace.dat compression "${name}" (zstd and zlib are read)`);
}

/** The selected clock of a trace_clock text: `[local] global counter ...` → local. */
function selectedClock(text: string): string {
  return /\[(\S+)\]/.exec(text)?.[1] ?? text.trim();
}

/** Reads the header and metadata of a trace.dat; the pages are read later, as they are consumed. */
export function openTraceDat(src: ByteSource): TraceDat {
  const head = src.read(0, Math.min(src.size, 64), 'the trace.dat header');
  if (!head.subarray(0, 10).equals(TRACE_DAT_MAGIC)) throw corrupt(0, 'not a trace.dat (magic)');
  const r = new Reader(head, 0, true, 'the trace.dat header');
  r.pos = 10;
  const versionText = r.cstring();
  const version = Number(versionText);
  if (version !== 6 && version !== 7) throw corrupt(10, `trace.dat file version "${versionText}" (6 and 7 are read)`);
  const endian = r.u8();
  if (endian !== 0) throw corrupt(r.offset - 1, 'big-endian trace.dat (only little-endian files are read)');
  r.u8(); // bytes per long of the traced user space; the ring buffer's long size is header_page's commit
  const pageSize = r.u32();
  if (pageSize < 64 || pageSize > 1 << 24) throw corrupt(r.offset - 4, `page size ${pageSize}`);
  return version === 6 ? openV6(src, r.offset, pageSize) : openV7(src, r, pageSize);
}

/** v6: everything inline after the initial format ("HEADER INFO FORMAT" .. "REST OF TRACE-CMD HEADER"). */
function openV6(src: ByteSource, start: number, pageSize: number): TraceDat {
  // the metadata is small next to the data; read up to the first page-aligned data at most
  const r = new Reader(src.read(start, Math.min(src.size - start, 64 << 20), 'the trace.dat header'), start, true, 'the trace.dat header');
  const page = readHeaderInfo(r);
  const formats = formatsById([...readFtraceFormats(r), ...readEventFormats(r)]);
  const kallsyms = new Kallsyms(readSized32(r));
  readSized32(r); // trace_printk formats
  const cmdlines = readCmdlines(r);
  const cpuCount = r.u32();
  let kind = r.bytes(10).toString('latin1');
  const instances: { name: string; offset: number }[] = [];
  let uname: string | null = null;
  if (kind === 'options  \0') {
    for (;;) {
      const id = r.u16();
      if (id === OPT.DONE) break;
      const data = new Reader(r.bytes(r.u32()), r.offset, true, 'a trace.dat option');
      // BUFFER: u64 offset of the instance's flyrecord block, then its name
      if (id === OPT.BUFFER) instances.push({ offset: data.u64n(), name: data.cstring() });
      else if (id === OPT.UNAME) uname = data.cstring();
    }
    kind = r.bytes(10).toString('latin1');
  }
  if (kind === 'latency  \0') throw corrupt(r.offset - 10, 'latency-format trace.dat (text of the latency tracer, not ring-buffer data)');
  if (kind !== 'flyrecord\0') throw corrupt(r.offset - 10, `expected "flyrecord", found ${JSON.stringify(kind)}`);
  const flyrecord = (fr: Reader, name: string): TraceBuffer => {
    const table = Array.from({ length: cpuCount }, () => ({ offset: fr.u64n(), size: fr.u64n() }));
    // trace-cmd 3 follows the table with the trace_clock file (u64 size, text)
    let clock = 'local';
    if (fr.remaining >= 8) {
      const n = fr.u64n();
      if (n > 0 && n <= fr.remaining) clock = selectedClock(fr.bytes(n).toString('latin1'));
    }
    return { name, clock, cpus: cpuTable(src, table, pageSize, null, name) };
  };
  const buffers = [flyrecord(r, '')];
  for (const inst of instances) {
    const fr = new Reader(src.read(inst.offset, Math.min(src.size - inst.offset, 10 + 16 * cpuCount + 4096), `the flyrecord of buffer ${inst.name}`), inst.offset);
    if (fr.bytes(10).toString('latin1') !== 'flyrecord\0') throw corrupt(inst.offset, `buffer "${inst.name}" has no flyrecord block`);
    buffers.push(flyrecord(fr, inst.name));
  }
  return { version: 6, little: true, pageSize, compression: null, cpuCount, uname, buffers, page, formats, kallsyms, cmdlines };
}

/** Per-CPU data: a table of (cpu, offset, size); CPUs with no data are left out. */
function cpuTable(src: ByteSource, table: { cpu?: number; offset: number; size: number }[], pageSize: number,
  unzip: Decompress | null, buffer: string): CpuData[] {
  return table.map((t, i) => ({ ...t, cpu: t.cpu ?? i }))
    .filter((t) => t.size > 0)
    .map((t) => {
      const what = `CPU ${t.cpu} data${buffer ? ` of buffer ${buffer}` : ''}`;
      // data cut short by the end of the file is read as far as it goes, then reported
      const pages = unzip ? new ChunkedPages(src, t.offset, t.size, pageSize, unzip, what) : new PlainPages(src, t.offset, t.size, pageSize, what);
      return { cpu: t.cpu, size: t.size, pages };
    });
}

/**
 * Compressed trace data (trace-cmd.dat.v7(5) "COMPRESSION FORMAT OF THE TRACE DATA"): a u32 chunk
 * count, then chunks of (u32 compressed size, u32 uncompressed size, data), each a run of pages.
 */
class ChunkedPages implements PageSource {
  private chunks = -1;
  private chunk = 0;
  private pos = 0;
  private pages: Buffer | null = null;
  private pagePos = 0;
  private chunkAt = 0;

  constructor(private readonly src: ByteSource, private readonly offset: number, private size: number,
    private readonly pageSize: number, private readonly unzip: Decompress, private readonly what: string) {}

  next(): Page | null {
    if (this.chunks < 0) {
      this.chunks = new Reader(this.src.read(this.offset, 4, this.what), this.offset, true, this.what).u32();
      this.pos = 4;
      // the CPU's size counts the chunks, not the count word before them (trace-cmd 3.1 files)
      this.size += 4;
    }
    while (this.pages === null || this.pagePos >= this.pages.length) {
      if (this.chunk >= this.chunks) return null;
      this.chunkAt = this.offset + this.pos;
      if (this.pos + 8 > this.size) throw truncated(this.offset + this.size, `${this.what} (chunk ${this.chunk} of ${this.chunks})`);
      const h = new Reader(this.src.read(this.chunkAt, 8, this.what), this.chunkAt, true, this.what);
      const csize = h.u32();
      const usize = h.u32();
      if (this.pos + 8 + csize > this.size) throw corrupt(this.chunkAt, `compressed chunk of ${csize} bytes beyond the CPU data`);
      if (usize % this.pageSize !== 0) throw corrupt(this.chunkAt, `chunk of ${usize} bytes is not whole pages`);
      const data = this.src.read(this.chunkAt + 8, csize, this.what);
      try {
        this.pages = this.unzip(data, usize);
      } catch (e) {
        throw corrupt(this.chunkAt, `compressed chunk does not decompress (${(e as Error).message})`);
      }
      if (this.pages.length !== usize) throw corrupt(this.chunkAt, `chunk decompressed to ${this.pages.length} bytes, not ${usize}`);
      this.pos += 8 + csize;
      this.chunk++;
      this.pagePos = 0;
    }
    const buf = this.pages.subarray(this.pagePos, this.pagePos + this.pageSize);
    this.pagePos += this.pageSize;
    return { buf, offset: this.chunkAt };
  }
}

interface Section {
  id: number;
  data: Reader;
}

/** A v7 section: u16 id, u16 flags (1 = compressed), u32 description string id, u64 size, data. */
function readSection(src: ByteSource, at: number, unzip: Decompress | null, what: string): Section {
  const h = new Reader(src.read(at, 16, what), at, true, what);
  const id = h.u16();
  const flags = h.u16();
  h.u32();
  const size = h.u64n();
  const body = src.read(at + 16, size, what);
  if ((flags & 1) === 0) return { id, data: new Reader(body, at + 16, true, what) };
  if (unzip === null) throw corrupt(at, `${what} is compressed but the file names no compression`);
  const c = new Reader(body, at + 16, true, what);
  const csize = c.u32();
  const usize = c.u32();
  try {
    return { id, data: new Reader(unzip(c.bytes(csize), usize), at + 16, true, `${what} (decompressed)`) };
  } catch (e) {
    if (e instanceof BinaryFormatError) throw e;
    throw corrupt(at, `${what} does not decompress (${(e as Error).message})`);
  }
}

function openV7(src: ByteSource, r: Reader, pageSize: number): TraceDat {
  const name = r.cstring();
  r.cstring(); // compression version
  const compression = name === 'none' ? null : name;
  const unzip = compression === null ? null : decompressor(compression, r.offset);
  let next = r.u64n();
  const sectionAt = new Map<number, number>();
  const buffers: { offset: number; name: string; clock: string; pageSize: number; table: { cpu: number; offset: number; size: number }[] }[] = [];
  let cpuCount: number | null = null;
  let uname: string | null = null;
  const seen = new Set<number>();
  while (next !== 0) {
    if (seen.has(next)) throw corrupt(next, 'options sections form a loop');
    seen.add(next);
    const s = readSection(src, next, unzip, 'an options section');
    if (s.id !== 0) throw corrupt(next, `expected an options section, found section id ${s.id}`);
    next = 0;
    const o = s.data;
    while (o.remaining > 0) {
      const id = o.u16();
      const d = new Reader(o.bytes(o.u32()), o.offset, true, 'a trace.dat option');
      if (id === OPT.DONE) {
        next = d.u64n();
        break;
      }
      if (id === OPT.BUFFER) {
        const b = { offset: d.u64n(), name: d.cstring(), clock: d.cstring(), pageSize: d.u32(), table: [] as { cpu: number; offset: number; size: number }[] };
        const n = d.u32();
        for (let i = 0; i < n; i++) b.table.push({ cpu: d.u32(), offset: d.u64n(), size: d.u64n() });
        buffers.push(b);
      } else if (id === OPT.CPUCOUNT) cpuCount = d.u32();
      else if (id === OPT.UNAME) uname = d.cstring();
      else if (id >= OPT.HEADER_INFO && id <= OPT.CMDLINES) sectionAt.set(id, d.u64n());
    }
  }
  const section = (id: number, what: string): Reader => {
    const at = sectionAt.get(id);
    if (at === undefined) throw corrupt(r.offset, `trace.dat has no ${what} section`);
    return readSection(src, at, unzip, `the ${what} section`).data;
  };
  const page: PageLayout = readHeaderInfo(section(OPT.HEADER_INFO, 'header info'));
  const formats = formatsById([...readFtraceFormats(section(OPT.FTRACE_EVENTS, 'ftrace event formats')),
    ...readEventFormats(section(OPT.EVENT_FORMATS, 'event formats'))]);
  const kallsyms = new Kallsyms(sectionAt.has(OPT.KALLSYMS) ? readSized32(section(OPT.KALLSYMS, 'kallsyms')) : '');
  const cmdlines = sectionAt.has(OPT.CMDLINES) ? readCmdlines(section(OPT.CMDLINES, 'saved command lines')) : new Map<number, string>();
  const out: TraceBuffer[] = buffers.map((b) => {
    // the BUFFER FLYRECORD section's header says whether its CPU data is compressed
    const h = new Reader(src.read(b.offset, 16, `the flyrecord section of buffer "${b.name}"`), b.offset);
    h.u16();
    const compressed = (h.u16() & 1) === 1;
    if (compressed && unzip === null) throw corrupt(b.offset, `buffer "${b.name}" is compressed but the file names no compression`);
    return { name: b.name, clock: b.clock, cpus: cpuTable(src, b.table, b.pageSize || pageSize, compressed ? unzip : null, b.name) };
  });
  return { version: 7, little: true, pageSize, compression, cpuCount, uname, buffers: out, page, formats, kallsyms, cmdlines };
}

/**
 * The events of every buffer and CPU merged by time stamp, as trace-cmd report orders them (equal
 * stamps: the earlier buffer, then the lower CPU). A page flagged with missed events puts a lost
 * mark before its first event. A CPU whose data is cut or damaged ends there while the others go
 * on; the first such error is thrown after the last event.
 */
export function* traceDatItems(td: TraceDat, stats: RingStats): Generator<BinaryItem> {
  let failure: BinaryFormatError | null = null;
  const advance = (s: CpuStream): boolean => {
    try {
      return s.next();
    } catch (e) {
      if (!(e instanceof BinaryFormatError)) throw e;
      failure ??= e;
      return false;
    }
  };
  const live: CpuStream[] = [];
  for (const b of td.buffers) {
    for (const c of b.cpus) {
      const s = new CpuStream(c.cpu, c.pages, td.page, td.little, stats);
      if (advance(s)) live.push(s);
    }
  }
  while (live.length > 0) {
    let k = 0;
    for (let j = 1; j < live.length; j++) if (live[j]!.current!.ts < live[k]!.current!.ts) k = j;
    const s = live[k]!;
    const e = s.current!;
    if (s.lostBefore !== null) yield { kind: 'lost', cpu: s.cpu, count: s.lostBefore < 0 ? null : s.lostBefore };
    yield { kind: 'event', ts: e.ts, cpu: s.cpu, data: e.data, pid: null, tgid: null, comm: null };
    if (!advance(s)) {
      live.splice(k, 1);
      const n = s.takeTrailingLost();
      if (n !== null) yield { kind: 'lost', cpu: s.cpu, count: n < 0 ? null : n };
    }
  }
  if (failure) throw failure;
}
