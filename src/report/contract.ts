// The JSON report contract (design.md §6): stable keys, schemaVersion 1. Keys may be added,
// never renamed. Built from the ingest result and the analyses' data; nothing here computes.
import type { IngestResult, KernelInfo } from '../ingest/ingest.js';
import type { EventStatsData, TaskStats } from '../analyses/event-stats.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';

/** The input section: the ingest's own accounting, plus what the batches showed (CPUs). */
export type InputReport = Omit<IngestResult, 'source' | 'kernel' | 'headerCpus' | 'blankLines'> & {
  compressed: boolean;
  /** Bytes of text (after decompression). */
  bytes: number;
  /** #P: or cpus= from the header, else the number of CPUs seen. */
  cpus: number;
  cpusSeen: number[];
};

export interface VmReport {
  id: string;
  /** How the VM was told apart from others. */
  evidence: 'tgid';
  tgid: number;
  tasks: { pid: number; comm: string; events: number; kvmEvents: number }[];
}

export interface AnalyzeReport {
  schemaVersion: 1;
  tool: { name: string; version: string };
  input: InputReport;
  kernel: KernelInfo & {
    /** Which MMU the events show: kvm_tdp_mmu_spte_changed only comes from the TDP MMU. */
    mmu: 'tdp' | 'shadow' | 'unknown';
  };
  events: { byName: Record<string, number>; byGroup: Record<string, number>; groupOf: Record<string, string> };
  /** Tasks that emitted kvm / kvmmmu events (notifier sources and vCPU threads alike). */
  kvmTasks: TaskStats[];
  vms: VmReport[];
  /** Why `vms` is empty, when it is. */
  vmsNote?: string;
}

/** VMs by TGID: every process whose threads emitted KVM events. */
function vmsByTgid(tasks: TaskStats[]): VmReport[] {
  const byTgid = new Map<number, VmReport>();
  for (const t of tasks) {
    if (t.tgid === null || t.kvmEvents === 0) continue;
    let vm = byTgid.get(t.tgid);
    if (!vm) {
      vm = { id: `tgid:${t.tgid}`, evidence: 'tgid', tgid: t.tgid, tasks: [] };
      byTgid.set(t.tgid, vm);
    }
    vm.tasks.push({ pid: t.pid, comm: t.comm, events: t.events, kvmEvents: t.kvmEvents });
  }
  return [...byTgid.values()].sort((a, b) => a.tgid - b.tgid);
}

function mmuOf(byName: Record<string, number>): 'tdp' | 'shadow' | 'unknown' {
  if ((byName.kvm_tdp_mmu_spte_changed ?? 0) > 0) return 'tdp';
  // shadow pages and SPTEs without a single TDP SPTE change: shadow paging (tdp_mmu=N or no EPT/NPT)
  if ((byName.kvm_mmu_set_spte ?? 0) + (byName.kvm_mmu_get_page ?? 0) > 0) return 'shadow';
  return 'unknown';
}

export function buildReport(ing: IngestResult, stats: EventStatsData): AnalyzeReport {
  const { source, kernel: _kernel, headerCpus, blankLines: _blank, ...input } = ing;
  const kvmTasks = stats.tasks.filter((t) => t.kvmEvents > 0);
  const vms = vmsByTgid(kvmTasks);
  const report: AnalyzeReport = {
    schemaVersion: 1,
    tool: { name: TOOL_NAME, version: TOOL_VERSION },
    input: {
      ...input,
      compressed: source.compressed,
      bytes: source.bytesText,
      cpus: headerCpus ?? stats.cpus.length,
      cpusSeen: stats.cpus,
    },
    kernel: { ...ing.kernel, mmu: mmuOf(stats.byName) },
    events: { byName: stats.byName, byGroup: stats.byGroup, groupOf: stats.groupOf },
    kvmTasks,
    vms,
  };
  if (vms.length === 0) {
    report.vmsNote = kvmTasks.some((t) => t.tgid === null)
      ? 'the trace has no TGIDs; telling VMs apart without them needs the MMU model'
      : 'no task emitted KVM events';
  }
  return report;
}
