// The findings over time: per VM, the zaps, refaults, notifications and issued flushes in each of
// TIMELINE_BINS equal bins of the trace's span (first to last event); the html report draws them.
import { columnIndex } from './findings-table.js';
import { FLUSH_COLUMNS, type FlushesData } from './flushes.js';
import { NOTIFICATION_COLUMNS, type NotificationsData } from './notifications.js';
import { ZAP_COLUMNS, type ZapsData } from './zaps.js';

export const TIMELINE_BINS = 120;

export type TimelineKind = 'zap' | 'refault' | 'notification' | 'flush';

export interface Timeline {
  /** Bins over the span (TIMELINE_BINS). */
  bins: number;
  /** Width of one bin (1 s when the trace has no span); bin b starts b × binSeconds after the first event. */
  binSeconds: number;
  /** Per VM and kind with any event: the events in each bin (a refault at its install time). Sorted by VM, then kind. */
  series: { vm: string; kind: TimelineKind; counts: number[] }[];
}

/** The time span of the input, as the report prints it (seconds, or null without events). */
export interface TimeSpan {
  firstTs: string | null;
  lastTs: string | null;
}

export function timelineOf(span: TimeSpan, zaps: ZapsData, notifications: NotificationsData, flushes: FlushesData): Timeline {
  const first = span.firstTs === null ? 0 : Number(span.firstTs) * 1e9;
  const width = span.firstTs === null || span.lastTs === null ? 0 : (Number(span.lastTs) - Number(span.firstTs)) * 1e9;
  const binNs = width > 0 ? width / TIMELINE_BINS : 1e9;
  const series = new Map<string, { vm: string; kind: TimelineKind; counts: number[] }>();
  const count = (vm: string, kind: TimelineKind, ts: number): void => {
    const b = Math.min(TIMELINE_BINS - 1, Math.max(0, Math.floor((ts - first) / binNs)));
    const k = `${vm}\u0000${kind}`;
    let s = series.get(k);
    if (!s) series.set(k, (s = { vm, kind, counts: new Array<number>(TIMELINE_BINS).fill(0) }));
    s.counts[b]!++;
  };
  const z = zaps.table;
  const zc = columnIndex(ZAP_COLUMNS);
  for (let i = 0; i < z.length; i++) {
    const vm = z.getStr(zc.vm, i) ?? '';
    const ts = z.getNum(zc.ts_ns, i);
    count(vm, 'zap', ts);
    const refault = z.getNum(zc.refault_ns, i);
    if (!Number.isNaN(refault)) count(vm, 'refault', ts + refault);
  }
  const n = notifications.table;
  const nc = columnIndex(NOTIFICATION_COLUMNS);
  for (let i = 0; i < n.length; i++) count(n.getStr(nc.vm, i) ?? 'unknown', 'notification', n.getNum(nc.ts_ns, i));
  const fl = flushes.table;
  const fc = columnIndex(FLUSH_COLUMNS);
  for (let i = 0; i < fl.length; i++) if (fl.getStr(fc.verdict, i) !== 'missing') count(fl.getStr(fc.vm, i) ?? '', 'flush', fl.getNum(fc.ts_ns, i));
  const byKey = (a: { vm: string; kind: string }, b: { vm: string; kind: string }): number =>
    a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0;
  return { bins: TIMELINE_BINS, binSeconds: binNs / 1e9, series: [...series.values()].sort(byKey) };
}
