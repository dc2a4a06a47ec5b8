// The VMs of a trace: as the model told them apart (with each task's event counts), or, without the
// model, by TGID: every process whose threads emitted KVM events. And why there are none, if so.
// VM kernel threads the model could give to no VM are listed apart (`unattributed`), not as a VM.
import type { TaskAttribution } from '../model/facts.js';
import type { ReplayData, VmIdentification } from '../model/replay.js';
import type { UnattributedWhy } from '../model/vm-identity.js';
import type { EventStatsData, TaskStats } from './event-stats.js';

export interface VmTaskReport {
  pid: number;
  comm: string;
  events: number;
  kvmEvents: number;
  /**
   * How the task was found to be this VM's: the TGID column; without it, its own MMU work (the VM's
   * first task), SPTEs written into the same shadow-page tables as the VM's other threads, a shadow
   * page only this VM has, the only TDP VM, its notifications' memslot overlap, the only VM (a
   * guess), a VM kernel thread's zaps taking every shadow page of this VM (teardown), or the VMM pid
   * a kvm-pit/<pid> thread is named after.
   */
  attributedBy?: TaskAttribution;
}

export interface VmReport {
  id: string;
  /** How the VM was told apart from others. */
  evidence: 'tgid' | 'shared-page-tables';
  /** The same, finer: one task group's own MMU work when no other task group shared its page tables. */
  identifiedBy?: VmIdentification;
  tgid: number | null;
  tasks: VmTaskReport[];
  /** Where its memslots came from, and the hva−gfn·4096 offsets learned when inferred. */
  memslots?: 'file' | 'inferred' | 'none';
  inferredOffsets?: { delta: string; anchors: number }[];
}

/** VM kernel threads (NX recovery, PIT) whose VM the trace does not tell, and the work counted under `id`. */
export interface UnattributedReport {
  /** The VM id their work carries in the findings (not a VM). */
  id: 'unattributed';
  /** `several-vms`: the shadow pages it zapped are in several VMs; `no-vm`: in none (and not one VM only); `no-mmu-work`: only other KVM events. */
  tasks: { pid: number; comm: string; events: number; kvmEvents: number; why: UnattributedWhy }[];
  /** MMU events (shadow-page zaps and other mmu_lock work) counted under `id`. */
  mmuEvents: number;
}

export interface VmsData {
  vms: VmReport[];
  /** Why `vms` is empty, when it is. */
  note?: string;
  unattributed?: UnattributedReport;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** VMs by TGID: every process whose threads emitted KVM events. */
function vmsByTgid(kvmTasks: TaskStats[]): VmReport[] {
  const byTgid = new Map<number, VmReport>();
  for (const t of kvmTasks) {
    if (t.tgid === null || t.kvmEvents === 0) continue;
    let vm = byTgid.get(t.tgid);
    if (!vm) {
      vm = { id: `tgid:${t.tgid}`, evidence: 'tgid', identifiedBy: 'tgid', tgid: t.tgid, tasks: [] };
      byTgid.set(t.tgid, vm);
    }
    vm.tasks.push({ pid: t.pid, comm: t.comm, events: t.events, kvmEvents: t.kvmEvents, attributedBy: 'tgid' });
  }
  return [...byTgid.values()].sort((a, b) => (a.tgid ?? 0) - (b.tgid ?? 0));
}

/** VMs as the model told them apart, with the tasks' event counts. */
function vmsOfModel(model: ReplayData, tasks: TaskStats[]): VmReport[] {
  const stats = new Map(tasks.map((t) => [t.pid, t]));
  return model.vms.map((vm) => ({
    id: vm.id,
    evidence: vm.tgid !== null ? 'tgid' : 'shared-page-tables',
    identifiedBy: vm.identifiedBy,
    tgid: vm.tgid,
    tasks: vm.tasks.map((t) => ({
      pid: t.pid, comm: t.comm, events: stats.get(t.pid)?.events ?? 0, kvmEvents: stats.get(t.pid)?.kvmEvents ?? 0, attributedBy: t.by,
    })),
    memslots: vm.memslots,
    inferredOffsets: vm.inferredOffsets.map((o) => ({ delta: hex(o.delta), anchors: o.anchors })),
  }));
}

function unattributedOf(model: ReplayData, tasks: TaskStats[]): UnattributedReport | undefined {
  const u = model.unattributed;
  if (!u) return undefined;
  const stats = new Map(tasks.map((t) => [t.pid, t]));
  return {
    id: u.id,
    tasks: u.tasks.map((t) => ({ pid: t.pid, comm: t.comm, events: stats.get(t.pid)?.events ?? 0, kvmEvents: stats.get(t.pid)?.kvmEvents ?? 0, why: t.why })),
    mmuEvents: u.mmuEvents,
  };
}

/** The model's VMs when it ran, else the TGID split of the event statistics. */
export function vmsOf(stats: EventStatsData, model?: ReplayData): VmsData {
  const vms = model ? vmsOfModel(model, stats.tasks) : vmsByTgid(stats.kvmTasks);
  const unattributed = model ? unattributedOf(model, stats.tasks) : undefined;
  const out: VmsData = unattributed ? { vms, unattributed } : { vms };
  if (vms.length > 0) return out;
  out.note = stats.kvmTasks.some((t) => t.tgid === null)
    ? 'the trace has no TGIDs; telling VMs apart without them needs the MMU model'
    : 'no task emitted KVM events';
  return out;
}
