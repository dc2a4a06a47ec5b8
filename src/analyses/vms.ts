// The VMs of a trace: as the model told them apart (with each task's event counts), or, without the
// model, by TGID: every process whose threads emitted KVM events. And why there are none, if so.
import type { ReplayData } from '../model/replay.js';
import type { EventStatsData, TaskStats } from './event-stats.js';

export interface VmReport {
  id: string;
  /** How the VM was told apart from others. */
  evidence: 'tgid' | 'shared-page-tables';
  tgid: number | null;
  tasks: { pid: number; comm: string; events: number; kvmEvents: number }[];
  /** Where its memslots came from, and the hva−gfn·4096 offsets learned when inferred. */
  memslots?: 'file' | 'inferred' | 'none';
  inferredOffsets?: { delta: string; anchors: number }[];
}

export interface VmsData {
  vms: VmReport[];
  /** Why `vms` is empty, when it is. */
  note?: string;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** VMs by TGID: every process whose threads emitted KVM events. */
function vmsByTgid(kvmTasks: TaskStats[]): VmReport[] {
  const byTgid = new Map<number, VmReport>();
  for (const t of kvmTasks) {
    if (t.tgid === null || t.kvmEvents === 0) continue;
    let vm = byTgid.get(t.tgid);
    if (!vm) {
      vm = { id: `tgid:${t.tgid}`, evidence: 'tgid', tgid: t.tgid, tasks: [] };
      byTgid.set(t.tgid, vm);
    }
    vm.tasks.push({ pid: t.pid, comm: t.comm, events: t.events, kvmEvents: t.kvmEvents });
  }
  return [...byTgid.values()].sort((a, b) => (a.tgid ?? 0) - (b.tgid ?? 0));
}

/** VMs as the model told them apart, with the tasks' event counts. */
function vmsOfModel(model: ReplayData, tasks: TaskStats[]): VmReport[] {
  const stats = new Map(tasks.map((t) => [t.pid, t]));
  return model.vms.map((vm) => ({
    id: vm.id,
    evidence: vm.tgid !== null ? 'tgid' : 'shared-page-tables',
    tgid: vm.tgid,
    tasks: vm.tasks.map((t) => ({ pid: t.pid, comm: t.comm, events: stats.get(t.pid)?.events ?? 0, kvmEvents: stats.get(t.pid)?.kvmEvents ?? 0 })),
    memslots: vm.memslots,
    inferredOffsets: vm.inferredOffsets.map((o) => ({ delta: hex(o.delta), anchors: o.anchors })),
  }));
}

/** The model's VMs when it ran, else the TGID split of the event statistics. */
export function vmsOf(stats: EventStatsData, model?: ReplayData): VmsData {
  const vms = model ? vmsOfModel(model, stats.tasks) : vmsByTgid(stats.kvmTasks);
  if (vms.length > 0) return { vms };
  return {
    vms,
    note: stats.kvmTasks.some((t) => t.tgid === null)
      ? 'the trace has no TGIDs; telling VMs apart without them needs the MMU model'
      : 'no task emitted KVM events',
  };
}
