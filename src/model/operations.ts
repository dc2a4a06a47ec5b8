// The operation lifecycle: what the kernel did under one mmu_lock hold / one flush decision
// (design.md §4), from its first event to the event that ends it; and the zap episodes (ops that
// may drop mmu_lock while zapping) whose lock breaks are tracked (analyses/lock-breaks.ts).
import type { EventView } from './event-view.js';
import type { ListenerHooks, TaskState } from './context.js';
import type { Notification, Op, OpKind, Task, WriteProtectCause } from './facts.js';
import { decideFlush } from './flush-rules.js';
import type { KernelView } from './kernel-version.js';
import type { VmState } from './vm-state.js';

export function blankOp(id: number, kind: OpKind, vm: string, task: Task, line: number, ts: number): Op {
  return {
    id, kind, vm, task, line, ts, leafZaps: 0, tablesZapped: 0, rootsFreed: 0, flushingChanges: 0,
    adOnlyChanges: 0, unflushedWdClears: 0, zapEvidence: 'observed', flushIssued: false, flushRule: '', episode: false, sharedLock: false,
  };
}

/** The task of an op no traced event shows (an untraced write-protect pass). */
export const UNTRACED_TASK: Task = { pid: -1, comm: 'untraced' };

/** A write-protect pass being filled: it happened before `firstRestoreTs`, its first undoing fault. */
interface WriteProtectPass {
  op: Op;
  firstRestoreTs: number;
}

export class Operations {
  private nextId = 1;
  /** Per VM, the op that collects SPTE changes whose cause the trace does not show. */
  private readonly untraced = new Map<string, Op>();
  /** Per VM and cause, the write-protect pass restores are counted in. */
  private readonly passes = new Map<string, WriteProtectPass>();

  constructor(private readonly view: EventView, private readonly on: ListenerHooks, private readonly kernel: KernelView) {}

  /** Ops started so far. */
  get count(): number {
    return this.nextId - 1;
  }

  /** An op of `vm`, or of a VM not known yet (id ''; set when its events show it). */
  start(t: TaskState, kind: OpKind, vm: VmState | null, i: number): Op {
    this.close(t);
    const op = this.create(kind, vm?.id ?? '', t.task, this.view.lineNo(i), this.view.tsNs(i));
    t.op = op;
    return op;
  }

  private create(kind: OpKind, vm: string, task: Task, line: number, ts: number): Op {
    return blankOp(this.nextId++, kind, vm, task, line, ts);
  }

  /** The task's op is over: its flush is decided, its notification and episode told. */
  close(t: TaskState): void {
    const op = t.op;
    if (!op) return;
    t.op = null;
    const note = t.note;
    t.note = null;
    t.lastOpKind = op.kind;
    this.end(op, note);
  }

  private end(op: Op, note: Notification | null): void {
    decideFlush(op, this.kernel.rules.set);
    if (note) {
      note.sptesZapped = op.leafZaps;
      note.flush = op.flushIssued;
      for (const l of this.on.all) l.onNotification?.(note);
    }
    for (const l of this.on.all) l.onOpEnd?.(op);
    if (op.episode) for (const l of this.on.all) l.onEpisodeEnd?.(op);
  }

  startEpisode(op: Op, usedPages: number | null): void {
    op.episode = true;
    for (const l of this.on.all) l.onEpisodeStart?.(op, usedPages);
  }

  /** One page or leaf zapped by a zap op (not a fault, which never drops mmu_lock mid-way). */
  episodeZap(op: Op, i: number): void {
    if (op.kind === 'fault') return;
    if (!op.episode) this.startEpisode(op, null);
    for (const l of this.on.all) l.onEpisodeZap?.({ vm: op.vm, pid: op.task.pid, line: this.view.lineNo(i), ts: this.view.tsNs(i) });
  }

  /** The zapper did something other than zapping obsolete pages: its zap_all_fast is over. */
  endEpisode(t: TaskState): void {
    const e = t.episode!;
    t.episode = null;
    if (t.op === e.op) this.close(t);
  }

  /**
   * The write-protect pass that explains a restore at event `i` of an SPTE last written at
   * `leafTs`. Passes are untraced, so they are counted as few as the restores allow: a restore joins
   * the open pass when its SPTE was written before that pass's first restore (one moment before
   * both fits), else a new pass starts (greedy interval stabbing: the minimum number of passes).
   */
  writeProtectPass(vm: VmState, cause: WriteProtectCause, leafTs: number, i: number): Op {
    const key = `${vm.id}|${cause}`;
    const ts = this.view.tsNs(i);
    const open = this.passes.get(key);
    if (open && leafTs < open.firstRestoreTs) return open.op;
    if (open) this.end(open.op, null);
    const op = this.create('write-protect', vm.id, UNTRACED_TASK, this.view.lineNo(i), ts);
    this.passes.set(key, { op, firstRestoreTs: ts });
    return op;
  }

  /** The end of the trace: the open write-protect passes are over. */
  finish(): void {
    for (const p of this.passes.values()) this.end(p.op, null);
    this.passes.clear();
  }

  /** An op for SPTE changes the trace cannot show the cause of (sync_page, lost events, ...). */
  untracedOp(vm: VmState, t: TaskState, i: number): Op {
    let op = this.untraced.get(vm.id);
    if (!op) {
      op = this.create('sync', vm.id, t.task, this.view.lineNo(i), this.view.tsNs(i));
      op.flushRule = 'untraced changes (sync_page / invlpg / lost events): no flush decision is modelled';
      this.untraced.set(vm.id, op);
    }
    return op;
  }
}
