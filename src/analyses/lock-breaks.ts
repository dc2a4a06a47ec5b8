// Lock breaks (finding 3): per long zap episode, where the zapper must have dropped mmu_lock.
// The kernel emits no event for it (mmu.c kvm_zap_obsolete_pages → cond_resched_rwlock_write), so
// a break is observed when, between two of the zapper's zaps, another task of the same VM did
// mmu_lock work or the zapper was switched out (a task holding a rwlock cannot be preempted).
import type { FactListener, Task, ZapEpisodeZap } from '../model/facts.js';
import { FindingsTable } from './findings-table.js';

/** A gap this long between two zaps without other evidence is a suspected break. */
export const SUSPECT_GAP_NS = 1_000_000;
/** mmu.c BATCH_ZAP_PAGES: kvm_zap_obsolete_pages may yield only after this many zaps. */
export const BATCH_ZAP_PAGES = 10;
/** zap-pages ops shorter than this are not long zap episodes. */
const MIN_EPISODE_ZAPS = BATCH_ZAP_PAGES;

export const LOCK_BREAK_COLUMNS = [
  { name: 'episode', kind: 'int', doc: 'episode number (lock_break episodes in the JSON report)' },
  { name: 'vm', kind: 'str', doc: 'VM id' },
  { name: 'zapper', kind: 'str', doc: 'zapping task (comm-pid)' },
  { name: 'after_zap', kind: 'int', doc: 'the break came after this many zaps of the episode' },
  { name: 'line', kind: 'int', doc: 'line of the zap after the break' },
  { name: 'gap_ns', kind: 'int', doc: 'time between the two zaps around the break' },
  { name: 'evidence', kind: 'str', doc: 'observed (other task mmu_lock work or zapper sched_switch in between) | suspected (gap only)' },
  { name: 'reason', kind: 'str', doc: 'other-task-mmu-work, zapper-switched-out, both, or gap' },
  { name: 'contenders', kind: 'str', doc: 'tasks that did mmu_lock work in the gap' },
] as const;

export interface EpisodeSummary {
  id: number;
  kind: 'zap-all-fast' | 'zap-pages' | 'tdp-zap';
  vm: string;
  zapper: string;
  line: number;
  startNs: number;
  durationMs: number;
  usedPages: number | null;
  zapped: number;
  breaksObserved: number;
  breaksSuspected: number;
  /** kvm_zap_obsolete_pages restarts its walk after every real lock break (inferred). */
  restarts: number;
  /** Kernel invariant for zap-all-fast: breaks ≤ ⌊zapped / BATCH_ZAP_PAGES⌋. */
  maxBreaks: number;
  contenders: string[];
}

export interface LockBreaksData {
  table: FindingsTable;
  episodes: EpisodeSummary[];
  breaks: number;
  byEvidence: { observed: number; suspected: number };
  suspectGapNs: number;
}

interface Live {
  s: EpisodeSummary;
  pid: number;
  sharedLock: boolean;
  lastZapTs: number;
  other: Set<string>;
  switched: boolean;
  contenders: Set<string>;
}

export class LockBreaksHandler implements FactListener {
  private readonly table = new FindingsTable('lock_breaks', LOCK_BREAK_COLUMNS);
  private readonly c = Object.fromEntries(LOCK_BREAK_COLUMNS.map((col, i) => [col.name, i])) as Record<(typeof LOCK_BREAK_COLUMNS)[number]['name'], number>;
  private readonly live = new Map<number, Live>();
  private readonly done: EpisodeSummary[] = [];
  private readonly rows: { ep: Live; r: number }[] = [];
  private nextId = 1;

  onEpisodeStart(vm: string, kind: EpisodeSummary['kind'], task: Task, line: number, ts: number, usedPages: number | null, sharedLock: boolean): void {
    this.live.set(task.pid, {
      s: {
        id: this.nextId++, kind, vm, zapper: `${task.comm}-${task.pid}`, line, startNs: ts, durationMs: 0, usedPages,
        zapped: 0, breaksObserved: 0, breaksSuspected: 0, restarts: 0, maxBreaks: 0, contenders: [],
      },
      pid: task.pid, sharedLock, lastZapTs: -1, other: new Set(), switched: false, contenders: new Set(),
    });
  }

  onEpisodeZap(z: ZapEpisodeZap): void {
    const e = this.live.get(z.pid);
    if (!e) return;
    if (e.s.zapped > 0) {
      const gap = z.ts - e.lastZapTs;
      const other = e.other.size > 0 && !e.sharedLock;
      let reason: string | null = null;
      if (other || e.switched) reason = other && e.switched ? 'both' : other ? 'other-task-mmu-work' : 'zapper-switched-out';
      else if (gap >= SUSPECT_GAP_NS) reason = 'gap';
      if (reason) {
        const t = this.table;
        const c = this.c;
        const r = t.add();
        t.num(c.episode, r, e.s.id);
        t.str(c.vm, r, e.s.vm);
        t.str(c.zapper, r, e.s.zapper);
        t.num(c.after_zap, r, e.s.zapped);
        t.num(c.line, r, z.line);
        t.num(c.gap_ns, r, gap);
        t.str(c.evidence, r, reason === 'gap' ? 'suspected' : 'observed');
        t.str(c.reason, r, reason);
        t.str(c.contenders, r, [...e.other].sort().join(' ') || null);
        if (reason === 'gap') e.s.breaksSuspected++;
        else e.s.breaksObserved++;
        this.rows.push({ ep: e, r });
      }
    }
    e.s.zapped++;
    e.lastZapTs = z.ts;
    e.other.clear();
    e.switched = false;
    e.s.durationMs = (z.ts - e.s.startNs) / 1e6;
  }

  onMmuLockWork(vm: string, task: Task, _line: number, _ts: number): void {
    for (const e of this.live.values()) {
      if (e.s.vm !== vm || e.pid === task.pid || e.s.zapped === 0) continue;
      const name = `${task.comm}-${task.pid}`;
      e.other.add(name);
      e.contenders.add(name);
    }
  }

  onSchedSwitch(prevPid: number): void {
    const e = this.live.get(prevPid);
    if (e && e.s.zapped > 0) e.switched = true;
  }

  onEpisodeEnd(_vm: string, pid: number): void {
    const e = this.live.get(pid);
    if (!e) return;
    this.live.delete(pid);
    e.s.restarts = e.s.breaksObserved;
    e.s.maxBreaks = Math.floor(e.s.zapped / BATCH_ZAP_PAGES);
    e.s.contenders = [...e.contenders].sort();
    if (e.s.kind === 'zap-all-fast' || e.s.zapped >= MIN_EPISODE_ZAPS) this.done.push(e.s);
  }

  data(): LockBreaksData {
    for (const pid of [...this.live.keys()]) this.onEpisodeEnd('', pid);
    const kept = new Set(this.done.map((s) => s.id));
    // breaks of short zap-pages ops are not episodes: keep only rows of reported episodes
    const table = new FindingsTable('lock_breaks', LOCK_BREAK_COLUMNS);
    const c = this.c;
    let observed = 0;
    let suspected = 0;
    for (const { ep, r } of this.rows) {
      if (!kept.has(ep.s.id)) continue;
      const n = table.add();
      for (const col of LOCK_BREAK_COLUMNS) {
        const i = c[col.name];
        if (col.kind === 'str') table.str(i, n, this.table.getStr(i, r));
        else table.num(i, n, this.table.getNum(i, r));
      }
      if (this.table.getStr(c.evidence, r) === 'observed') observed++;
      else suspected++;
    }
    const episodes = [...this.done].sort((a, b) => a.id - b.id);
    return { table, episodes, breaks: observed, byEvidence: { observed, suspected }, suspectGapNs: SUSPECT_GAP_NS };
  }
}
