// The model's findings: one replay feeding the finding handlers, then the insights computed from
// their data (design.md §5) and the tables registered for SQL.
import type { RecordBatch } from 'apache-arrow';
import { Replay, type ReplayData, type ReplayOptions } from '../model/replay.js';
import { FastFaultsHandler, type FastFaultsData } from './fast-faults.js';
import { FlushesHandler, type FlushesData } from './flushes.js';
import { LockBreaksHandler, type LockBreaksData } from './lock-breaks.js';
import { MmioHandler, type MmioData } from './mmio.js';
import { NotificationsHandler, type NotificationsData } from './notifications.js';
import { SpteChangesHandler, type SpteChangesData } from './spte-changes.js';
import { timelineOf, type Timeline, type TimeSpan } from './timeline.js';
import { WriteProtectsHandler, type WriteProtectsData } from './write-protects.js';
import { ZapsHandler, type ZapsData } from './zaps.js';

export interface FindingsData {
  model: ReplayData;
  zaps: ZapsData;
  flushes: FlushesData;
  lockBreaks: LockBreaksData;
  notifications: NotificationsData;
  spte: SpteChangesData;
  fastFaults: FastFaultsData;
  mmio: MmioData;
  writeProtects: WriteProtectsData;
  timeline: Timeline;
}

export class FindingsRun {
  private readonly zaps: ZapsHandler;
  private readonly lockBreaks = new LockBreaksHandler();
  private readonly flushes = new FlushesHandler(this.lockBreaks);
  private readonly notifications = new NotificationsHandler();
  private readonly spte = new SpteChangesHandler();
  private readonly fastFaults = new FastFaultsHandler();
  private readonly mmio = new MmioHandler();
  private readonly writeProtects = new WriteProtectsHandler();
  private readonly replay: Replay;

  constructor(opts: ReplayOptions = {}) {
    this.zaps = new ZapsHandler(() => this.replay.spteLayout);
    // lock breaks before flushes: an episode's breaks add to its op's flushes (FlushesHandler.onEpisodeEnd)
    this.replay = new Replay([this.zaps, this.lockBreaks, this.flushes, this.notifications, this.spte, this.fastFaults, this.mmio, this.writeProtects], opts);
  }

  handleBatch(batch: RecordBatch): void {
    this.replay.handleBatch(batch);
  }

  /** `span`: the input's first and last timestamps, for the timeline's bins. */
  finish(span: TimeSpan): FindingsData {
    const model = this.replay.finish();
    const zaps = this.zaps.data();
    const lockBreaks = this.lockBreaks.data();
    const flushes = this.flushes.data(zaps);
    const notifications = this.notifications.data();
    return {
      model, zaps, flushes, lockBreaks, notifications, spte: this.spte.data(),
      fastFaults: this.fastFaults.data(), mmio: this.mmio.data(), writeProtects: this.writeProtects.data(), timeline: timelineOf(span, zaps, notifications, flushes),
    };
  }
}
