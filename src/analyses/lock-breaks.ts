// Lock breaks (finding 3): per long zap episode, where the zapper must have dropped mmu_lock.
// The kernel emits no event for it (mmu.c kvm_zap_obsolete_pages → cond_resched_rwlock_write;
// tdp_mmu.c tdp_mmu_iter_cond_resched), so
// a break is observed when, between two of the zapper's zaps, another task of the same VM did
// mmu_lock work or the zapper was switched out (a task holding a rwlock cannot be preempted).
import { taskLabel, type FactListener, type Op, type Task, type ZapEpisodeZap } from '../model/facts.js';
import { FindingsTable, columnIndex } from './findings-table.js';

/** A gap this long between two zaps without other evidence is a suspected break. */
export const SUSPECT_GAP_NS = 1_000_000;
/** mmu.c BATCH_ZAP_PAGES: kvm_zap_obsolete_pages may yield only after this many zaps. */
export const BATCH_ZAP_PAGES = 10;
/** Other zaps (shadow pages freed at once, TDP zap walks) shorter than this are not long episodes. */
export const LONG_EPISODE_ZAPS = 10;

export const LOCK_BREAK_COLUMNS = [
  { name: 'episode', kind: 'int', doc: 'episode number (lockBreaks.list in the JSON report)' },
  { name: 'vm', kind: 'str', doc: 'VM id' },
  { name: 'zapper', kind: 'str', doc: 'zapping task (comm-pid)' },
  { name: 'after_zap', kind: 'int', doc: 'the break came after this many zaps of the episode' },
  { name: 'line', kind: 'int', doc: 'line of the zap after the break' },
  { name: 'gap_ns', kind: 'int', doc: 'time between the two zaps around the break' },
  { name: 'evidence', kind: 'str', doc: 'observed (other task mmu_lock work or zapper sched_switch in between) | suspected (gap only)' },
  { name: 'reason', kind: 'str', doc: 'other-task-mmu-work, zapper-switched-out, both, or gap' },
  { name: 'contenders', kind: 'str', doc: 'tasks that did mmu_lock work in the gap' },
] as const;

/** Long zaps whose mmu_lock breaks are tracked: zap_all_fast, shadow page zaps, NX recovery passes, TDP zap walks. */
export type EpisodeKind = 'zap-all-fast' | 'zap-pages' | 'nx-recovery' | 'tdp-zap';

const episodeKind = (op: Op): EpisodeKind =>
  (op.kind === 'zap-all-fast' || op.kind === 'zap-pages' || op.kind === 'nx-recovery' ? op.kind : 'tdp-zap');

export interface EpisodeSummary {
  id: number;
  kind: EpisodeKind;
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
  /** Kernel invariant for zap-all-fast: breaks ≤ ⌊zapped / BATCH_ZAP_PAGES⌋; null for other episodes. */
  maxBreaks: number | null;
  contenders: string[];
}

export interface LockBreaksData {
  table: FindingsTable;
  episodes: EpisodeSummary[];
  breaks: number;
  byEvidence: { observed: number; suspected: number };
  /** SUSPECT_GAP_NS in µs. */
  suspectGapUs: number;
}

interface Break {
  afterZap: number;
  line: number;
  gapNs: number;
  reason: 'other-task-mmu-work' | 'zapper-switched-out' | 'both' | 'gap';
  contenders: string;
}

interface Live {
  s: EpisodeSummary;
  op: Op;
  lastZapTs: number;
  /** Tasks that did mmu_lock work since the zapper's last zap. */
  other: Set<string>;
  switched: boolean;
  contenders: Set<string>;
  breaks: Break[];
}

export class LockBreaksHandler implements FactListener {
  private readonly table = new FindingsTable('lock_breaks', LOCK_BREAK_COLUMNS);
  private readonly c = columnIndex(LOCK_BREAK_COLUMNS);
  private readonly live = new Map<number, Live>();
  private readonly done: EpisodeSummary[] = [];
  private observed = 0;
  private suspected = 0;
  private nextId = 1;
  /** The episode that ended last: its op, observed breaks (every episode's), and those a long episode reports. */
  readonly lastEnded = { opId: -1, observed: 0, reported: 0 };

  /** `keep`: keep every long episode and break for data() (analyze); live keeps only counts. */
  constructor(private readonly keep = true) {}

  onEpisodeStart(op: Op, usedPages: number | null): void {
    const task = op.task;
    this.live.set(task.pid, {
      s: {
        id: this.nextId++, kind: episodeKind(op), vm: op.vm, zapper: taskLabel(task), line: op.line, startNs: op.ts,
        durationMs: 0, usedPages, zapped: 0, breaksObserved: 0, breaksSuspected: 0, restarts: 0, maxBreaks: 0, contenders: [],
      },
      op, lastZapTs: -1, other: new Set(), switched: false, contenders: new Set(), breaks: [],
    });
  }

  onEpisodeZap(z: ZapEpisodeZap): void {
    const e = this.live.get(z.pid);
    if (!e) return;
    if (e.s.zapped > 0) {
      const gap = z.ts - e.lastZapTs;
      const other = e.other.size > 0;
      const reason = other && e.switched ? 'both' : other ? 'other-task-mmu-work' : e.switched ? 'zapper-switched-out'
        : gap >= SUSPECT_GAP_NS ? 'gap' : null;
      if (reason) e.breaks.push({ afterZap: e.s.zapped, line: z.line, gapNs: gap, reason, contenders: [...e.other].sort().join(' ') });
    }
    e.s.zapped++;
    e.lastZapTs = z.ts;
    e.other.clear();
    e.switched = false;
    e.s.durationMs = (z.ts - e.s.startNs) / 1e6;
  }

  onMmuLockWork(vm: string, task: Task): void {
    for (const e of this.live.values()) {
      // a walk under the read lock runs beside vCPU faults: their work shows no break
      if (e.op.vm !== vm || e.op.task.pid === task.pid || e.s.zapped === 0 || e.op.sharedLock) continue;
      const name = taskLabel(task);
      e.other.add(name);
      e.contenders.add(name);
    }
  }

  onSchedSwitch(prevPid: number): void {
    const e = this.live.get(prevPid);
    if (e && e.s.zapped > 0) e.switched = true;
  }

  onEpisodeEnd(op: Op): void {
    const e = this.live.get(op.task.pid);
    if (e?.op !== op) return;
    this.live.delete(op.task.pid);
    // a TDP walk may be recognised only after it started (its VM's first TDP change)
    e.s.kind = episodeKind(op);
    e.s.vm = op.vm;
    const observed = e.breaks.filter((b) => b.reason !== 'gap').length;
    const long = e.s.kind === 'zap-all-fast' || e.s.zapped >= LONG_EPISODE_ZAPS;
    Object.assign(this.lastEnded, { opId: op.id, observed, reported: long ? observed : 0 });
    if (!this.keep) return;
    if (!long) return;
    const t = this.table;
    const c = this.c;
    for (const b of e.breaks) {
      const r = t.add();
      t.num(c.episode, r, e.s.id);
      t.str(c.vm, r, e.s.vm);
      t.str(c.zapper, r, e.s.zapper);
      t.num(c.after_zap, r, b.afterZap);
      t.num(c.line, r, b.line);
      t.num(c.gap_ns, r, b.gapNs);
      t.str(c.evidence, r, b.reason === 'gap' ? 'suspected' : 'observed');
      t.str(c.reason, r, b.reason);
      t.str(c.contenders, r, b.contenders || null);
    }
    e.s.breaksSuspected = e.breaks.filter((b) => b.reason === 'gap').length;
    e.s.breaksObserved = e.breaks.length - e.s.breaksSuspected;
    e.s.restarts = e.s.breaksObserved;
    e.s.maxBreaks = e.s.kind === 'zap-all-fast' ? Math.floor(e.s.zapped / BATCH_ZAP_PAGES) : null;
    e.s.contenders = [...e.contenders].sort();
    this.observed += e.s.breaksObserved;
    this.suspected += e.s.breaksSuspected;
    this.done.push(e.s);
  }

  data(): LockBreaksData {
    for (const e of [...this.live.values()]) this.onEpisodeEnd(e.op);
    return {
      table: this.table, episodes: [...this.done].sort((a, b) => a.id - b.id), breaks: this.observed,
      byEvidence: { observed: this.observed, suspected: this.suspected }, suspectGapUs: SUSPECT_GAP_NS / 1000,
    };
  }
}
