// Where a pass of a VM's NX huge page recovery thread ends. No event marks it: the thread zaps
// the split huge pages' tables at every recovery period (mmu.c kvm_nx_lpage_recovery_worker →
// kvm_recover_nx_lpages, 6.1) and sleeps in between, so the pass ends at the first sign that
// it let go of mmu_lock or went to sleep.
import type { EventView } from './event-view.js';
import type { TaskState } from './context.js';
import type { Op } from './facts.js';
import type { Operations } from './operations.js';
import type { VmState } from './vm-state.js';

/**
 * mmu.c calc_nx_huge_pages_recovery_period: the period derived from the ratio is never below one
 * second (nx_huge_pages_recovery_period_ms can set a shorter one; then only the other signs show).
 */
export const NX_RECOVERY_MIN_PERIOD_NS = 1e9;

export class NxRecoveryPasses {
  /** Time of each recovery thread's last MMU event. */
  private readonly lastNs = new Map<TaskState, number>();
  /** The tables (`gfn/level`) each pass has zapped. */
  private readonly tables = new WeakMap<Op, Set<string>>();

  constructor(private readonly view: EventView, private readonly ops: Operations) {}

  /** An MMU event of a recovery thread: a gap of a whole period before it starts a new pass. */
  threadEvent(t: TaskState, i: number): void {
    const ts = this.view.tsNs(i);
    if (t.op?.kind === 'nx-recovery' && ts - (this.lastNs.get(t) ?? ts) >= NX_RECOVERY_MIN_PERIOD_NS) this.ops.close(t);
    this.lastNs.set(t, ts);
  }

  /** Before task `t` zaps the table at `gfn`/`level`: is it its pass's second zap of that table? */
  beforeTableZap(t: TaskState, gfn: number, level: number): void {
    // kvm_recover_nx_lpages fixes to_zap at the pass start and a page split again meanwhile joins
    // the list's tail, so a pass never zaps one table twice: the second zap is the next pass
    if (t.op?.kind === 'nx-recovery' && this.tables.get(t.op)?.has(`${gfn}/${level}`)) this.ops.close(t);
  }

  /** `op` zapped the table at `gfn`/`level`. */
  tableZapped(op: Op, gfn: number, level: number): void {
    if (op.kind !== 'nx-recovery') return;
    let seen = this.tables.get(op);
    if (!seen) this.tables.set(op, (seen = new Set()));
    seen.add(`${gfn}/${level}`);
  }

  /** `t` (any task) switched out at sched_switch `i`. */
  switchedOut(t: TaskState, i: number): void {
    // between passes the thread sleeps (schedule_timeout, TASK_INTERRUPTIBLE); a break's
    // cond_resched leaves it runnable ('R', 'R+')
    if (t.op?.kind === 'nx-recovery' && !this.view.prevState(i).startsWith('R')) this.ops.close(t);
  }

  /** `t` did mmu_lock work in `vm` (vm-identity.ts lockWork). */
  lockWork(vm: VmState, t: TaskState): void {
    if (t.nxRecovery) {
      vm.nxRecovery = t;
      return;
    }
    const holder = vm.nxRecovery;
    // a pass holds mmu_lock for write (until TDP NX recovery takes it for read, 6.18): another
    // task's mmu_lock work ends it as far as the trace can tell; a break inside the pass looks the
    // same, and flushes the same (kvm_mmu_remote_flush_or_zap)
    if (holder?.op?.kind === 'nx-recovery' && !holder.op.sharedLock) this.ops.close(holder);
  }
}
