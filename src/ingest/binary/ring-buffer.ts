// One CPU's ftrace ring-buffer pages, as trace-cmd copies them into trace.dat (and perf stores
// nothing of them): the page header (time stamp, commit word with the missed-events flags) and the
// compressed event headers of events/header_event (kernel/trace/ring_buffer.c).
import { corrupt, truncated, type ByteSource } from './bytes.js';
import type { PageLayout } from './tracing-meta.js';

/** header_event: types above 28 are not data. */
const TYPE_PADDING = 29;
const TYPE_TIME_EXTEND = 30;
const TYPE_TIME_STAMP = 31;
/** ring_buffer.c TS_SHIFT: time_delta is 27 bits, extends and stamps carry the rest in array[0]. */
const TS_SHIFT = 27n;
/** ring_buffer.c: commit word flags. RB_MISSED_EVENTS: events were lost before this page; RB_MISSED_STORED: their count follows the data. */
const RB_MISSED_EVENTS = 0x80000000;
const RB_MISSED_STORED = 0x40000000;
/** ring_buffer.c TS_MSB: an absolute time stamp lacks the top 5 bits, taken from the page stamp (rb_fix_abs_ts). */
const TS_MSB = 0xf8n << 56n;

/** Counts of what the pages held besides events. */
export interface RingStats {
  pages: number;
  timeExtends: number;
  timeStamps: number;
  paddings: number;
  /** Pages flagged RB_MISSED_EVENTS, and the events they say were lost where the count was stored. */
  missedPages: number;
  missedCounted: number;
}

export function newRingStats(): RingStats {
  return { pages: 0, timeExtends: 0, timeStamps: 0, paddings: 0, missedPages: 0, missedCounted: 0 };
}

/** One page of a CPU's data and its file offset (of the compressed chunk, for compressed data). */
export interface Page {
  buf: Buffer;
  offset: number;
}

export interface PageSource {
  /** The next page, or null after the last. */
  next(): Page | null;
}

/** Pages stored one after the other (uncompressed trace data), read a block at a time. */
export class PlainPages implements PageSource {
  private block: Buffer | null = null;
  private blockAt = 0;
  private pos = 0;

  constructor(private readonly src: ByteSource, private readonly offset: number, private readonly size: number,
    private readonly pageSize: number, private readonly what: string) {}

  next(): Page | null {
    if (this.pos >= this.size) return null;
    if (this.block === null || this.pos >= this.blockAt + this.block.length) {
      // a file cut inside the data still yields the whole pages before the cut
      const len = Math.min(this.size - this.pos, this.pageSize * 64, this.src.size - this.offset - this.pos);
      if (len <= 0) throw truncated(Math.min(this.src.size, this.offset + this.pos), this.what);
      this.block = this.src.read(this.offset + this.pos, len, this.what);
      this.blockAt = this.pos;
    }
    const start = this.pos - this.blockAt;
    if (start + this.pageSize > this.block.length) throw truncated(Math.min(this.src.size, this.offset + this.size), `${this.what} (a partial page)`);
    this.pos += this.pageSize;
    return { buf: this.block.subarray(start, start + this.pageSize), offset: this.offset + this.pos - this.pageSize };
  }
}

/** A decoded data event of the ring buffer. */
export interface RingEvent {
  ts: bigint;
  data: Buffer;
  /** File offset of the page the event is on. */
  pageOffset: number;
}

/**
 * Walks one CPU's pages event by event. `lostBefore` is set on the first event of a page flagged
 * RB_MISSED_EVENTS: the count when stored, else -1 (lost, count unknown).
 */
export class CpuStream {
  current: RingEvent | null = null;
  lostBefore: number | null = null;
  private page: Page | null = null;
  private pos = 0;
  private end = 0;
  private ts = 0n;
  private pageLost: number | null = null;

  constructor(readonly cpu: number, private readonly pages: PageSource, private readonly layout: PageLayout,
    private readonly little: boolean, private readonly stats: RingStats) {}

  private u32(at: number): number {
    return this.little ? this.page!.buf.readUInt32LE(at) : this.page!.buf.readUInt32BE(at);
  }

  private openPage(): boolean {
    for (;;) {
      this.page = this.pages.next();
      if (this.page === null) return false;
      const { buf, offset } = this.page;
      const L = this.layout;
      this.stats.pages++;
      this.ts = this.little ? buf.readBigUInt64LE(L.tsOffset) : buf.readBigUInt64BE(L.tsOffset);
      // the flags sit in the low 32 bits of the commit word, whatever the kernel's long size
      const commitLo = this.little ? buf.readUInt32LE(L.commitOffset) : buf.readUInt32BE(L.commitOffset + L.commitSize - 4);
      const size = commitLo & ~(RB_MISSED_EVENTS | RB_MISSED_STORED);
      this.pos = L.dataOffset;
      this.end = L.dataOffset + size;
      if (this.end > buf.length) throw corrupt(offset + L.commitOffset, `ring-buffer page commit ${size} beyond the page size ${buf.length}`);
      if (commitLo & RB_MISSED_EVENTS) {
        this.stats.missedPages++;
        let lost = -1;
        if (commitLo & RB_MISSED_STORED) {
          // the count is an unsigned long right after the data (ring_buffer_read_page)
          if (this.end + L.commitSize > buf.length) throw corrupt(offset + L.commitOffset, 'missed-events count beyond the page');
          const n = L.commitSize === 8
            ? (this.little ? buf.readBigUInt64LE(this.end) : buf.readBigUInt64BE(this.end))
            : BigInt(this.u32(this.end));
          lost = Number(n);
          this.stats.missedCounted += lost;
        }
        // a flagged page without events hands its loss on to the next page
        this.pageLost = this.pageLost === null ? lost : lost < 0 ? this.pageLost : this.pageLost < 0 ? lost : this.pageLost + lost;
      }
      if (size > 0) return true;
    }
  }

  /** Moves to the next data event; false at the end of the CPU's data. */
  next(): boolean {
    this.lostBefore = null;
    for (;;) {
      if (this.page === null || this.pos >= this.end) {
        if (!this.openPage()) {
          this.current = null;
          return false;
        }
        continue;
      }
      const buf = this.page.buf;
      const at = this.pos;
      if (at + 4 > this.end) throw corrupt(this.page.offset + at, 'ring-buffer event header cut by the page commit');
      const head = this.u32(at);
      const type = head & 0x1f;
      const delta = BigInt(head >>> 5);
      if (type === TYPE_PADDING) {
        this.stats.paddings++;
        // a null padding (delta 0) fills the rest of the page; a discarded event keeps its length in array[0]
        if (delta === 0n) {
          this.pos = this.end;
          continue;
        }
        this.pos = at + 4 + this.word(at + 4);
        continue;
      }
      if (type === TYPE_TIME_EXTEND || type === TYPE_TIME_STAMP) {
        const v = (BigInt(this.word(at + 4)) << TS_SHIFT) + delta;
        if (type === TYPE_TIME_EXTEND) {
          this.stats.timeExtends++;
          this.ts += v;
        } else {
          this.stats.timeStamps++;
          this.ts = fixAbsTs(v, this.ts);
        }
        this.pos = at + 8;
        continue;
      }
      let dataAt: number;
      let len: number;
      if (type === 0) {
        // array[0] holds the length, counting itself; the data follows it
        const n = this.word(at + 4);
        if (n < 4) throw corrupt(this.page.offset + at, `ring-buffer event length ${n}`);
        dataAt = at + 8;
        len = n - 4;
      } else {
        dataAt = at + 4;
        len = type * 4;
      }
      if (dataAt + len > this.end) throw corrupt(this.page.offset + at, 'ring-buffer event beyond the page commit');
      this.pos = dataAt + len;
      this.ts += delta;
      this.current = { ts: this.ts, data: buf.subarray(dataAt, dataAt + len), pageOffset: this.page.offset };
      if (this.pageLost !== null) {
        this.lostBefore = this.pageLost;
        this.pageLost = null;
      }
      return true;
    }
  }

  /** Lost events flagged on a page with no event left: reported at the end of the stream. */
  takeTrailingLost(): number | null {
    const n = this.pageLost;
    this.pageLost = null;
    return n;
  }

  private word(at: number): number {
    if (at + 4 > this.end) throw corrupt(this.page!.offset + at, 'ring-buffer event cut by the page commit');
    return this.u32(at);
  }
}

/** rb_fix_abs_ts: an absolute stamp gets the top bits of the last full time stamp. */
function fixAbsTs(abs: bigint, last: bigint): bigint {
  if ((last & TS_MSB) === 0n) return abs;
  let v = abs | (last & TS_MSB);
  if (v < last) v += 1n << 59n;
  return v;
}
