// How `mmu-trace live` shows its rolling counts: a redrawn table on a terminal, one line per VM
// and interval otherwise, NDJSON with --format json; the final totals the same way.
import type { LiveCounts, LiveSnapshot } from '../analyses/live.js';
import { layoutText } from './text.js';
import type { ReportDocument } from './sections.js';

export type LiveFormat = 'table' | 'lines' | 'json';

/** Only the VM of one VMM process (--vm PID), when asked. */
export function vmFilter(pid: number | undefined): (vm: string) => boolean {
  return pid === undefined ? () => true : (vm) => vm === `tgid:${pid}` || vm === `task:${pid}`;
}

const sources = (c: LiveCounts): string =>
  Object.entries(c.notifications).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ') || '-';

const row = (vm: string, c: LiveCounts): (string | number)[] =>
  [vm, c.zaps, c.redundant, c.needed, c.flushes, c.observedFlushes, c.lockBreaks, sources(c)];

const HEAD = ['vm', 'zaps', 'redundant', 'needed', 'flushes', 'observed', 'lock breaks', 'notifications by source'];

export interface LiveView {
  source: string;
  intervalS: number;
  events: number;
  keep: (vm: string) => boolean;
  /** The last snapshot of a run: totals only. */
  final: boolean;
}

export function renderLive(s: LiveSnapshot, v: LiveView, format: LiveFormat, color = false): string {
  const pick = (m: Record<string, LiveCounts>): [string, LiveCounts][] => Object.entries(m).filter(([vm]) => v.keep(vm)).sort(([a], [b]) => (a < b ? -1 : 1));
  const time = new Date().toISOString().slice(11, 19);
  if (format === 'json') {
    const o = (m: Record<string, LiveCounts>): Record<string, LiveCounts> => Object.fromEntries(pick(m));
    return `${JSON.stringify(v.final ? { final: true, time, total: o(s.total), pending: s.pending, forgotten: s.forgotten }
      : { time, events: v.events, interval: o(s.interval), total: o(s.total), pending: s.pending, forgotten: s.forgotten })}\n`;
  }
  if (format === 'lines') {
    const rows = pick(v.final ? s.total : s.interval);
    const prefix = v.final ? `${time} total` : time;
    if (!rows.length) return `${prefix} ${v.events} events, no MMU work\n`;
    return rows.map(([vm, c]) => `${prefix} ${vm} zaps=${c.zaps} redundant=${c.redundant} needed=${c.needed} flushes=${c.flushes}`
      + `${c.observedFlushes ? ` observed=${c.observedFlushes}` : ''} breaks=${c.lockBreaks} notifications=${sources(c).replace(/, /g, ',').replace(/ /g, ':')}\n`).join('');
  }
  const doc: ReportDocument = {
    title: `mmu-trace live: ${v.source}${v.final ? ' (final)' : ''}`,
    summary: [
      { key: 'time', value: v.final ? `${time}, totals since the start` : `${time}, every ${v.intervalS} s; ${v.events} events in the last interval` },
      { key: 'pending', value: `${s.pending} zaps waiting for a refault${s.forgotten ? `, ${s.forgotten} forgotten (memory bound)` : ''}` },
    ],
    sections: [
      ...(v.final ? [] : [{ title: 'last interval', blocks: [{ kind: 'table' as const, head: HEAD, rows: pick(s.interval).map(([vm, c]) => row(vm, c)), numeric: HEAD.map((_, i) => i > 0 && i < 7) }] }]),
      { title: 'since the start (redundant: same pfn when the frame came back; flushes: inferred from the kernel rules)', blocks: [{ kind: 'table' as const, head: HEAD, rows: pick(s.total).map(([vm, c]) => row(vm, c)), numeric: HEAD.map((_, i) => i > 0 && i < 7) }] },
    ],
  };
  return layoutText(doc, { color });
}
