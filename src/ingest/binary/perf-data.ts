// perf.data (tools/perf/Documentation/perf.data-file-format.txt; record layouts from
// include/uapi/linux/perf_event.h): the header, the attrs with their sample_type and ids, the
// HEADER_TRACING_DATA feature (trace-cmd's metadata blocks with the event formats), and the data
// section's records in time order: PERF_RECORD_SAMPLE with PERF_SAMPLE_RAW (the tracepoint
// record), COMM and FORK for task names, LOST (where events were lost) and LOST_SAMPLES (perf
// record's per-event totals, written at the end: the same losses) counted.
import { BinaryFormatError, corrupt, Reader, truncated, type ByteSource } from './bytes.js';
import {
  Kallsyms, formatsById, parseCmdlines, readEventFormats, readFtraceFormats, readHeaderInfo, readSized32,
  type TracingMeta,
} from './tracing-meta.js';
import { BINARY_MAGIC } from '../sniff.js';
import type { BinaryItem } from './items.js';


/** perf_event_sample_format bits (perf_event.h). */
const S = {
  IP: 1n << 0n, TID: 1n << 1n, TIME: 1n << 2n, ADDR: 1n << 3n, READ: 1n << 4n, CALLCHAIN: 1n << 5n, ID: 1n << 6n,
  CPU: 1n << 7n, PERIOD: 1n << 8n, STREAM_ID: 1n << 9n, RAW: 1n << 10n, IDENTIFIER: 1n << 16n,
} as const;
/** perf_event_attr.read_format bits. */
const RF = { TOTAL_TIME_ENABLED: 1n, TOTAL_TIME_RUNNING: 2n, ID: 4n, GROUP: 8n, LOST: 16n } as const;
/** perf_event_type. */
const REC = { LOST: 2, COMM: 3, FORK: 7, SAMPLE: 9, LOST_SAMPLES: 13, COMPRESSED: 81 } as const;
/** HEADER_TRACING_DATA: feature bit 1 of the header's flags (perf.data-file-format.txt). */
const HEADER_TRACING_DATA = 1;
/** HEADER_OSRELEASE (a perf_header_string) and HEADER_NRCPUS: feature bits 4 and 7. */
const HEADER_OSRELEASE = 4;
const HEADER_NRCPUS = 7;
/** perf_event_attr: sample_id_all is bit 18 of the flags word at offset 40. */
const SAMPLE_ID_ALL = 1n << 18n;

interface Attr {
  sampleType: bigint;
  readFormat: bigint;
  sampleIdAll: boolean;
}

export interface PerfStats {
  records: number;
  samples: number;
  /** Samples without PERF_SAMPLE_RAW or of an attr that is not a tracepoint. */
  samplesWithoutRaw: number;
  lostRecords: number;
  /** LOST_SAMPLES records and their counts: perf record's totals per event at the end, the same losses LOST records report where they happened. */
  lostSamplesRecords: number;
  lostSamples: number;
}

export interface PerfData extends TracingMeta {
  cpuCount: number | null;
  /** HEADER_OSRELEASE: uname -r of the traced machine. */
  osRelease: string | null;
  stats: PerfStats;
  /** Items in time order (stable for equal times); a record that cannot be read stops the list with `error`. */
  items(): Generator<BinaryItem>;
}

/** Bytes of the sample_id trailer of a non-sample record (sample_id_all). */
function sampleIdSize(t: bigint): number {
  let n = 0;
  for (const b of [S.TID, S.TIME, S.ID, S.STREAM_ID, S.CPU, S.IDENTIFIER]) if (t & b) n += 8;
  return n;
}

/** The time in a non-sample record's sample_id trailer, or null. */
function trailerTime(buf: Buffer, end: number, a: Attr): bigint | null {
  if (!a.sampleIdAll || !(a.sampleType & S.TIME)) return null;
  const at = end - sampleIdSize(a.sampleType) + (a.sampleType & S.TID ? 8 : 0);
  return at >= 0 && at + 8 <= end ? buf.readBigUInt64LE(at) : null;
}

export function openPerfData(src: ByteSource): PerfData {
  const h = new Reader(src.read(0, Math.min(src.size, 104), 'the perf.data header'), 0, true, 'the perf.data header');
  if (!h.bytes(8).equals(BINARY_MAGIC['perf.data'])) throw corrupt(0, 'not a perf.data (magic PERFILE2; a byte-swapped file is not read)');
  const headerSize = h.u64n();
  const attrSize = h.u64n();
  const attrs = { offset: h.u64n(), size: h.u64n() };
  const data = { offset: h.u64n(), size: h.u64n() };
  h.u64n();
  h.u64n(); // event_types (unused since perf 3.x)
  const flags = h.u64();
  if (headerSize < 104 || attrSize < 80) throw corrupt(8, `header size ${headerSize}, attr size ${attrSize}`);
  if (data.size === 0 && data.offset === 0) throw corrupt(40, 'perf.data without a data section (pipe-mode output is not read)');

  // attrs: attr_size bytes each, a perf_event_attr and the perf_file_section of its ids ("Event types")
  const entry = attrSize;
  const ar = new Reader(src.read(attrs.offset, attrs.size, 'the attrs section'), attrs.offset, true, 'the attrs section');
  const byId = new Map<bigint, Attr>();
  const list: Attr[] = [];
  for (let i = 0; i + entry <= attrs.size; i += entry) {
    ar.pos = i;
    ar.u32(); // type
    ar.u32(); // size
    ar.u64(); // config: the tracepoint id, which the RAW data repeats as common_type
    ar.u64(); // sample_period
    const sampleType = ar.u64();
    const readFormat = ar.u64();
    const bits = ar.u64();
    const a: Attr = { sampleType, readFormat, sampleIdAll: (bits & SAMPLE_ID_ALL) !== 0n };
    list.push(a);
    ar.pos = i + attrSize - 16;
    const ids = { offset: ar.u64n(), size: ar.u64n() };
    const ir = new Reader(src.read(ids.offset, ids.size, 'the ids of an attr'), ids.offset);
    while (ir.remaining >= 8) byId.set(ir.u64(), a);
  }
  if (list.length === 0) throw corrupt(attrs.offset, 'perf.data has no event attrs');

  // feature sections follow the data section, one perf_file_section per set bit in order
  const featuresAt = data.offset + data.size;
  if (featuresAt >= src.size) {
    // perf.data keeps the event formats (HEADER_TRACING_DATA) after the data: a cut file has none
    throw new BinaryFormatError(src.size, 'truncated', `file ends before the feature sections that hold the event formats (after the data, at ${featuresAt}), so no sample can be decoded,`);
  }
  const tracing = featureSection(src, featuresAt, flags, HEADER_TRACING_DATA);
  if (tracing === null) throw corrupt(48, 'perf.data has no tracing data (HEADER_TRACING_DATA): record tracepoints, e.g. -e kvmmmu:*');
  const meta = readTracingData(src, tracing.offset, tracing.size);
  const nr = featureSection(src, featuresAt, flags, HEADER_NRCPUS);
  // nr_cpus { available, online }: the online ones, as ftrace's #P:
  const cpuCount = nr ? new Reader(src.read(nr.offset, 8, 'HEADER_NRCPUS'), nr.offset).buf.readUInt32LE(4) : null;
  const os = featureSection(src, featuresAt, flags, HEADER_OSRELEASE);
  // perf_header_string: u32 len, then len bytes NUL-padded
  const osRelease = os ? new Reader(src.read(os.offset, os.size, 'HEADER_OSRELEASE'), os.offset).bytes(os.size).subarray(4).toString('latin1').replace(/\0.*$/s, '') : null;
  const stats: PerfStats = { records: 0, samples: 0, samplesWithoutRaw: 0, lostRecords: 0, lostSamplesRecords: 0, lostSamples: 0 };
  const first = list[0]!;
  const attrOf = (buf: Buffer, start: number, end: number, isSample: boolean): Attr => {
    if (list.length === 1) return first;
    const t = first.sampleType;
    let idAt = -1;
    if (t & S.IDENTIFIER) idAt = isSample ? start : end - 8;
    else if (t & S.ID) {
      if (isSample) {
        idAt = start;
        for (const b of [S.IP, S.TID, S.TIME, S.ADDR]) if (t & b) idAt += 8;
      } else idAt = end - sampleIdSize(t) + (t & S.TID ? 8 : 0) + (t & S.TIME ? 8 : 0);
    }
    return idAt >= start && idAt + 8 <= end ? (byId.get(buf.readBigUInt64LE(idAt)) ?? first) : first;
  };

  function* items(): Generator<BinaryItem> {
    const buf = src.read(data.offset, Math.min(data.size, Math.max(0, src.size - data.offset)), 'the data section');
    const cut = buf.length < data.size;
    // index every record we use, with its time; then replay them in time order
    const offs: number[] = [];
    const times: bigint[] = [];
    let pos = 0;
    let stop: Error | null = null;
    let last = 0n;
    while (pos + 8 <= buf.length) {
      const type = buf.readUInt32LE(pos);
      const size = buf.readUInt16LE(pos + 6);
      if (size < 8) {
        stop = corrupt(data.offset + pos, `perf record of size ${size}`);
        break;
      }
      if (pos + size > buf.length) break;
      stats.records++;
      if (type === REC.COMPRESSED) {
        stop = corrupt(data.offset + pos, 'PERF_RECORD_COMPRESSED (perf record -z) is not read; record without -z');
        break;
      }
      if (type === REC.SAMPLE || type === REC.COMM || type === REC.FORK || type === REC.LOST || type === REC.LOST_SAMPLES) {
        const a = attrOf(buf, pos + 8, pos + size, type === REC.SAMPLE);
        let ts: bigint | null;
        if (type === REC.SAMPLE) {
          ts = null;
          if (a.sampleType & S.TIME) {
            let at = pos + 8;
            for (const b of [S.IDENTIFIER, S.IP, S.TID]) if (a.sampleType & b) at += 8;
            ts = at + 8 <= pos + size ? buf.readBigUInt64LE(at) : null;
          }
        } else ts = trailerTime(buf, pos + size, a);
        // a record without a time stays where it is among its neighbours
        if (ts === null || (type === REC.COMM && ts === 0n && offs.length > 0)) ts = last;
        last = ts;
        offs.push(pos);
        times.push(ts);
      }
      pos += size;
    }
    if (stop === null && (cut || pos < buf.length)) stop = truncated(data.offset + pos, 'the perf.data data section');
    const order = Array.from(offs.keys()).sort((x, y) => (times[x]! < times[y]! ? -1 : times[x]! > times[y]! ? 1 : x - y));
    // perf's thread table: COMM names a task, FORK hands the parent's name to the child
    const comms = new Map<number, string>([[0, 'swapper']]);
    for (const k of order) {
      const p = offs[k]!;
      const type = buf.readUInt32LE(p);
      const size = buf.readUInt16LE(p + 6);
      const r = new Reader(buf.subarray(p + 8, p + size), data.offset + p + 8, true, 'a perf record');
      if (type === REC.COMM) {
        r.u32();
        const tid = r.u32();
        comms.set(tid, r.cstring());
      } else if (type === REC.FORK) {
        r.u32();
        const ppid = r.u32();
        const tid = r.u32();
        const ptid = r.u32();
        const parent = comms.get(ptid) ?? comms.get(ppid);
        if (parent !== undefined) comms.set(tid, parent);
      } else if (type === REC.LOST) {
        r.u64(); // id
        const n = Number(r.u64());
        stats.lostRecords++;
        const a = attrOf(buf, p + 8, p + size, false);
        yield { kind: 'lost', cpu: trailerCpu(buf, p + size, a), count: n };
      } else if (type === REC.LOST_SAMPLES) {
        stats.lostSamplesRecords++;
        stats.lostSamples += Number(r.u64());
      } else {
        const a = attrOf(buf, p + 8, p + size, true);
        stats.samples++;
        const s = parseSample(r, a);
        if (s.raw === null) {
          stats.samplesWithoutRaw++;
          continue;
        }
        yield {
          kind: 'event', ts: times[k]!, cpu: s.cpu, data: s.raw, pid: s.tid, tgid: s.pid,
          comm: comms.get(s.tid) ?? `:${s.tid}`,
        };
      }
    }
    if (stop) throw stop;
  }

  return { ...meta, cpuCount, osRelease, stats, items };
}

/** The CPU in a non-sample record's sample_id trailer, or -1. */
function trailerCpu(buf: Buffer, end: number, a: Attr): number {
  if (!a.sampleIdAll || !(a.sampleType & S.CPU)) return -1;
  let at = end - sampleIdSize(a.sampleType);
  for (const b of [S.TID, S.TIME, S.ID, S.STREAM_ID]) if (a.sampleType & b) at += 8;
  return at >= 0 && at + 4 <= end ? buf.readUInt32LE(at) : -1;
}

/** PERF_RECORD_SAMPLE's fields in perf_event.h order, up to PERF_SAMPLE_RAW. */
function parseSample(r: Reader, a: Attr): { pid: number; tid: number; cpu: number; raw: Buffer | null } {
  const t = a.sampleType;
  let pid = -1;
  let tid = -1;
  let cpu = -1;
  if (t & S.IDENTIFIER) r.u64();
  if (t & S.IP) r.u64();
  if (t & S.TID) {
    pid = r.u32() | 0;
    tid = r.u32() | 0;
  }
  for (const b of [S.TIME, S.ADDR, S.ID, S.STREAM_ID]) if (t & b) r.u64();
  if (t & S.CPU) {
    cpu = r.u32();
    r.u32();
  }
  if (t & S.PERIOD) r.u64();
  if (t & S.READ) {
    const f = a.readFormat;
    const n = f & RF.GROUP ? Number(r.u64()) : 1;
    if (f & RF.TOTAL_TIME_ENABLED) r.u64();
    if (f & RF.TOTAL_TIME_RUNNING) r.u64();
    const per = 1 + (f & RF.ID ? 1 : 0) + (f & RF.LOST ? 1 : 0);
    r.bytes(8 * n * per);
  }
  if (t & S.CALLCHAIN) r.bytes(8 * Number(r.u64()));
  if (!(t & S.RAW)) return { pid, tid, cpu, raw: null };
  return { pid, tid, cpu, raw: r.bytes(r.u32()) };
}

/**
 * HEADER_TRACING_DATA: trace-cmd's metadata blocks after its own initial format (magic, version
 * "0.5"/"0.6", endianness, long size, page size); 0.6 adds the saved cmdlines.
 */
function readTracingData(src: ByteSource, at: number, size: number): TracingMeta {
  const r = new Reader(src.read(at, size, 'the tracing data'), at, true, 'the tracing data');
  // the tracing data starts as a trace.dat does
  if (!r.bytes(10).equals(BINARY_MAGIC['trace.dat'])) throw corrupt(at, 'tracing data without its magic');
  const version = r.cstring();
  if (r.u8() !== 0) throw corrupt(r.offset - 1, 'big-endian tracing data is not read');
  r.u8();
  r.u32();
  const page = readHeaderInfo(r);
  const formats = formatsById([...readFtraceFormats(r), ...readEventFormats(r)]);
  const kallsyms = new Kallsyms(readSized32(r));
  readSized32(r);
  const cmdlines = version >= '0.6' && r.remaining >= 8 ? parseCmdlines(r.bytes(r.u64n()).toString('latin1')) : new Map<number, string>();
  return { page, formats, kallsyms, cmdlines };
}

/** The section of feature `bit`: the sections after the data section are one per set bit, in bit order. */
function featureSection(src: ByteSource, featuresAt: number, flags: bigint, bit: number): { offset: number; size: number } | null {
  if ((flags & (1n << BigInt(bit))) === 0n) return null;
  let index = 0;
  for (let b = 0; b < bit; b++) if (flags & (1n << BigInt(b))) index++;
  const f = new Reader(src.read(featuresAt + 16 * index, 16, 'the feature sections'), featuresAt + 16 * index, true, 'the feature sections');
  return { offset: f.u64n(), size: f.u64n() };
}
