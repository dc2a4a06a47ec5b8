// Rolling counts per VM for `mmu-trace live`: zaps and their refault outcomes, inferred (and, with
// the function tracer, observed) flushes, mmu_lock breaks, notifications by source task. Only
// counters and the zaps still waiting for a refault are kept (at most MAX_PENDING), so memory stays
// bounded however long it runs; the full analyses (tables of every zap) are analyze's.
import type { FactListener, LeafInstall, LeafZap, Notification, ObservedFlush, Op } from '../model/facts.js';
import { extraFlushes } from '../model/flush-rules.js';
import type { SpteLayout } from '../model/spte.js';
import type { LockBreaksHandler } from './lock-breaks.js';
import { PendingRefaults, REDUNDANT, refaultOutcome } from './zaps.js';

/** Zaps waiting for a refault beyond this are forgotten, oldest first (counted as `forgotten`). */
export const MAX_PENDING = 1 << 20;

export interface LiveCounts {
  zaps: number;
  /** Zaps whose frame came back with the same pfn (identical, upgrade, downgrade) / another pfn. */
  redundant: number;
  needed: number;
  /** Flushes the kernel's rules say it issued (1 per flushing op, plus per-table and pre-break ones). */
  flushes: number;
  /** Flushes the function tracer saw (record --observe-flushes lines); 0 without them. */
  observedFlushes: number;
  lockBreaks: number;
  /** Notifications by source task (comm). */
  notifications: Record<string, number>;
}

export interface LiveSnapshot {
  /** Counts since the previous snapshot, and since the start, per VM id. */
  interval: Record<string, LiveCounts>;
  total: Record<string, LiveCounts>;
  /** Zaps waiting for a refault now, and those forgotten to keep memory bounded. */
  pending: number;
  forgotten: number;
}

const zero = (): LiveCounts => ({ zaps: 0, redundant: 0, needed: 0, flushes: 0, observedFlushes: 0, lockBreaks: 0, notifications: {} });

function add(into: LiveCounts, c: LiveCounts): void {
  into.zaps += c.zaps;
  into.redundant += c.redundant;
  into.needed += c.needed;
  into.flushes += c.flushes;
  into.observedFlushes += c.observedFlushes;
  into.lockBreaks += c.lockBreaks;
  for (const [k, n] of Object.entries(c.notifications)) into.notifications[k] = (into.notifications[k] ?? 0) + n;
}

interface ZappedSpte {
  hi: number;
  lo: number;
}

export class LiveCounters implements FactListener {
  private interval = new Map<string, LiveCounts>();
  private readonly total = new Map<string, LiveCounts>();
  private readonly pending = new PendingRefaults<ZappedSpte>();
  private forgotten = 0;

  /** `lockBreaks` (made with keep = false) must be a listener of the same replay before this one: its episode ends come first. */
  constructor(private readonly layout: () => SpteLayout, private readonly lockBreaks: LockBreaksHandler) {}

  private of(vm: string): LiveCounts {
    let c = this.interval.get(vm);
    if (!c) this.interval.set(vm, (c = zero()));
    return c;
  }

  onLeafZap(z: LeafZap): void {
    this.of(z.vm).zaps++;
    this.pending.add(z.vm, z.asId, z.gfn, { hi: z.oldHi, lo: z.oldLo });
  }

  onLeafInstall(s: LeafInstall): void {
    this.pending.resolve(s, (old, gfn) => {
      const c = this.of(s.vm);
      if (REDUNDANT.has(refaultOutcome(this.layout(), old.hi, old.lo, s.hi, s.lo, gfn - s.gfn))) c.redundant++;
      else c.needed++;
    });
  }

  onOpEnd(op: Op): void {
    if (op.flushIssued) this.of(op.vm).flushes += 1 + extraFlushes(op, 0);
  }

  onEpisodeEnd(op: Op): void {
    const e = this.lockBreaks.lastEnded;
    if (e.opId !== op.id) return;
    const c = this.of(op.vm);
    c.lockBreaks += e.reported;
    // the flushes before each break (flush-rules.ts extraFlushes), known only now
    if (op.flushIssued) c.flushes += extraFlushes(op, e.observed) - extraFlushes(op, 0);
  }

  onNotification(n: Notification): void {
    const c = this.of(n.vm ?? 'no VM');
    c.notifications[n.task.comm] = (c.notifications[n.task.comm] ?? 0) + 1;
  }

  onObservedFlush(f: ObservedFlush): void {
    this.of(f.op?.vm ?? 'no VM').observedFlushes++;
  }

  /** After each batch: keeps the pending zaps bounded. */
  bound(): void {
    if (this.pending.size > MAX_PENDING) this.forgotten += this.pending.evict(MAX_PENDING);
  }

  /** The counts since the last snapshot (then reset) and since the start. */
  take(): LiveSnapshot {
    const interval: Record<string, LiveCounts> = {};
    for (const [vm, c] of this.interval) {
      if (vm === '') continue;
      interval[vm] = c;
      let t = this.total.get(vm);
      if (!t) this.total.set(vm, (t = zero()));
      add(t, c);
    }
    this.interval = new Map();
    return { interval, total: Object.fromEntries(this.total), pending: this.pending.size, forgotten: this.forgotten };
  }
}
