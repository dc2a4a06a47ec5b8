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
  /** Which MMU the events show: kvm_tdp_mmu_spte_changed only comes from the TDP MMU. */
  mmu: 'tdp' | 'shadow' | 'unknown';
}

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
      mmu: mmuOf(byName),
    };
  }
}

function mmuOf(byName: Record<string, number>): 'tdp' | 'shadow' | 'unknown' {
  if ((byName.kvm_tdp_mmu_spte_changed ?? 0) > 0) return 'tdp';
  // shadow pages and SPTEs without a single TDP SPTE change: shadow paging (tdp_mmu=N or no EPT/NPT)
  if ((byName.kvm_mmu_set_spte ?? 0) + (byName.kvm_mmu_get_page ?? 0) > 0) return 'shadow';
  return 'unknown';
}
