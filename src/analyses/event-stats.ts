// Input-level statistics computed from the `events` batches: events per name and group, CPUs,
// tasks and (when the trace has TGIDs) the processes that did KVM MMU work, and which MMU it shows.
import type { RecordBatch, Vector } from 'apache-arrow';
import { eventColumn } from '../ingest/schema.js';

export interface TaskStats {
  pid: number;
  tgid: number | null;
  comm: string;
  events: number;
  /** Events of the kvmmmu / kvm groups. */
  kvmEvents: number;
}

export interface EventStatsData {
  byName: Record<string, number>;
  byGroup: Record<string, number>;
  /** Group of each event name (as printed by perf, else from the catalog). */
  groupOf: Record<string, string>;
  cpus: number[];
  tasks: TaskStats[];
  /** The tasks that emitted kvm / kvmmmu events, in the order of `tasks`. */
  kvmTasks: TaskStats[];
  /** Which MMU the events show, and the evidence (mmuOf). */
  mmu: 'tdp' | 'shadow' | 'unknown';
  mmuEvidence: string;
}

/** Functions of arch/x86/kvm/mmu/tdp_mmu.c (kvm_tdp_mmu_map, tdp_mmu_zap_leafs, ...): TDP MMU code ran. */
const TDP_FUNCTION = /(?:^|[^\w])(?:kvm_)?tdp_mmu_\w+/;

const KVM_GROUPS = new Set(['kvmmmu', 'kvm']);
/** Rows the ingest adds that are not trace events. */
const NOT_EVENTS = new Set(['lost_events']);

/** Dictionary indices and values of a dictionary column of one batch. */
function dictionaryOf(v: Vector): { indices: Int32Array; values: (string | null)[]; valid: (i: number) => boolean } {
  const data = v.data[0]!;
  const dict = data.dictionary!;
  const values: (string | null)[] = [];
  for (let i = 0; i < dict.length; i++) values.push(dict.get(i) as string | null);
  return { indices: data.values as Int32Array, values, valid: (i) => v.isValid(i) };
}

export class EventStatsHandler {
  private byName = new Map<string, number>();
  private byGroup = new Map<string, number>();
  private groupOf = new Map<string, string>();
  private cpus = new Set<number>();
  private tasks = new Map<number, TaskStats>();
  /** The first stack frame or traced function of the TDP MMU, if any. */
  private tdpFrame: string | null = null;

  handleBatch(batch: RecordBatch): void {
    const event = dictionaryOf(eventColumn(batch, 'event'));
    const grp = dictionaryOf(eventColumn(batch, 'grp'));
    const comm = dictionaryOf(eventColumn(batch, 'comm'));
    const cpu = eventColumn(batch, 'cpu').data[0]!.values as Uint32Array;
    const pidV = eventColumn(batch, 'pid');
    const pid = pidV.data[0]!.values as Int32Array;
    const tgidV = eventColumn(batch, 'tgid');
    const tgid = tgidV.data[0]!.values as Int32Array;
    // count by dictionary index first; strings only once per distinct value
    const perEvent = new Float64Array(event.values.length);
    const perGroup = new Float64Array(grp.values.length);
    const groupOfEvent = new Int32Array(event.values.length).fill(-1);
    const isKvm = grp.values.map((v) => v !== null && KVM_GROUPS.has(v));
    let lastCpu = -1;
    let lastKey = -1;
    let lastTask: TaskStats | undefined;
    for (let i = 0; i < batch.numRows; i++) {
      const e = event.indices[i]!;
      perEvent[e]!++;
      const g = grp.valid(i) ? grp.indices[i]! : -1;
      if (g >= 0) {
        perGroup[g]!++;
        groupOfEvent[e] = g;
      }
      if (cpu[i] !== lastCpu) {
        lastCpu = cpu[i]!;
        this.cpus.add(lastCpu);
      }
      if (!pidV.isValid(i)) continue;
      // comm indices are stable across batches (one dictionary per ingest)
      const key = pid[i]! * 0x100000 + comm.indices[i]!;
      let task = key === lastKey ? lastTask : this.tasks.get(key);
      if (!task) {
        task = { pid: pid[i]!, tgid: tgidV.isValid(i) ? tgid[i]! : null, comm: comm.values[comm.indices[i]!]!, events: 0, kvmEvents: 0 };
        this.tasks.set(key, task);
      }
      lastKey = key;
      lastTask = task;
      task.events++;
      if (g >= 0 && isKvm[g]) task.kvmEvents++;
    }
    if (this.tdpFrame === null) this.findTdpFrame(batch, event);
    perEvent.forEach((n, e) => {
      const name = event.values[e]!;
      if (n === 0 || NOT_EVENTS.has(name)) return;
      this.byName.set(name, (this.byName.get(name) ?? 0) + n);
      const g = groupOfEvent[e]!;
      if (g >= 0 && !this.groupOf.has(name)) this.groupOf.set(name, grp.values[g]!);
    });
    perGroup.forEach((n, g) => {
      if (n > 0) this.byGroup.set(grp.values[g]!, (this.byGroup.get(grp.values[g]!) ?? 0) + n);
    });
  }

  /** kernel_stack frames and function tracer rows naming TDP MMU code. */
  private findTdpFrame(batch: RecordBatch, event: ReturnType<typeof dictionaryOf>): void {
    const stack = event.values.indexOf('kernel_stack');
    const fn = event.values.indexOf('function');
    if (stack < 0 && fn < 0) return;
    const payload = eventColumn(batch, 'payload');
    const func = eventColumn(batch, 'func');
    const caller = eventColumn(batch, 'caller');
    for (let i = 0; i < batch.numRows && this.tdpFrame === null; i++) {
      const e = event.indices[i];
      const texts = e === stack ? [payload.get(i)] : e === fn ? [func.get(i), caller.get(i)] : [];
      for (const t of texts) {
        const m = typeof t === 'string' ? TDP_FUNCTION.exec(t) : null;
        if (m) this.tdpFrame = m[0].replace(/^\W/, '');
      }
    }
  }

  data(): EventStatsData {
    const sorted = <T>(m: Map<string, T>): Record<string, T> =>
      Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const byName = sorted(this.byName);
    const tasks = [...this.tasks.values()].sort((a, b) => b.events - a.events || a.pid - b.pid || (a.comm < b.comm ? -1 : 1));
    return {
      byName,
      byGroup: sorted(this.byGroup),
      groupOf: sorted(this.groupOf),
      cpus: [...this.cpus].sort((a, b) => a - b),
      tasks,
      kvmTasks: tasks.filter((t) => t.kvmEvents > 0),
      ...mmuOf(byName, this.tdpFrame),
    };
  }
}

/**
 * The TDP MMU traces every SPTE change (tdp_mmu.c handle_changed_spte → kvm_tdp_mmu_spte_changed),
 * and its code shows in stack frames. Shadow pages prove nothing (a TDP VM shadows its nested
 * guests' tables), and kvm_mmu_set_spte comes from both MMUs (tdp_mmu_map_handle_target_level):
 * installs with no TDP event anywhere are the shadow MMU's only if kvm_tdp_mmu_spte_changed was
 * enabled, which the text cannot show — so that verdict says what it assumes.
 */
function mmuOf(byName: Record<string, number>, tdpFrame: string | null): Pick<EventStatsData, 'mmu' | 'mmuEvidence'> {
  const changed = byName.kvm_tdp_mmu_spte_changed ?? 0;
  if (changed > 0) return { mmu: 'tdp', mmuEvidence: `${changed} kvm_tdp_mmu_spte_changed events` };
  if (tdpFrame !== null) return { mmu: 'tdp', mmuEvidence: `TDP MMU code in a stack trace or function row (${tdpFrame})` };
  const installs = byName.kvm_mmu_set_spte ?? 0;
  if (installs > 0) {
    return { mmu: 'shadow', mmuEvidence: `${installs} kvm_mmu_set_spte installs and no TDP event or frame (the TDP MMU's would come with kvm_tdp_mmu_spte_changed, if that event was enabled)` };
  }
  return { mmu: 'unknown', mmuEvidence: (byName.kvm_mmu_get_page ?? 0) > 0 ? 'shadow pages only (a TDP VM has them too, for nested guests), no SPTE event' : 'no SPTE event' };
}
