// The JSON report contract (design.md §6): stable keys, schemaVersion 1. Keys may be added,
// never renamed. Built from the ingest result and the analyses' data; nothing here computes.
import type { IngestResult, KernelInfo, SkipExample } from '../ingest/ingest.js';
import type { EventStatsData, TaskStats } from '../analyses/event-stats.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';

export interface InputReport {
  path: string;
  format: string;
  formatReason: string;
  compressed: boolean;
  bytes: number;
  lines: number;
  events: number;
  skippedLines: number;
  skippedByReason: Record<string, number>;
  skipExamples: SkipExample[];
  lostEvents: number;
  lostFromHeader: number | null;
  lostMarkers: number;
  entries: { inBuffer: number; written: number } | null;
  firstTs: string | null;
  lastTs: string | null;
  clock: 'ns' | 'counter';
  cpus: number;
  cpusSeen: number[];
  headerLines: number;
  annotations: number;
  stackFrames: number;
  crlfLines: number;
  truncated: string | null;
  undecodedEvents: Record<string, number>;
}

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
  kernel: KernelInfo;
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

export function buildReport(ing: IngestResult, stats: EventStatsData): AnalyzeReport {
  const kvmTasks = stats.tasks.filter((t) => t.kvmEvents > 0);
  const vms = vmsByTgid(kvmTasks);
  const report: AnalyzeReport = {
    schemaVersion: 1,
    tool: { name: TOOL_NAME, version: TOOL_VERSION },
    input: {
      path: ing.path,
      format: ing.format,
      formatReason: ing.formatReason,
      compressed: ing.source.compressed,
      bytes: ing.source.bytesText,
      lines: ing.lines,
      events: ing.events,
      skippedLines: ing.skippedLines,
      skippedByReason: ing.skippedByReason,
      skipExamples: ing.skipExamples,
      lostEvents: ing.lostEvents,
      lostFromHeader: ing.lostFromHeader,
      lostMarkers: ing.lostMarkers,
      entries: ing.entries,
      firstTs: ing.firstTs,
      lastTs: ing.lastTs,
      clock: ing.clock,
      cpus: ing.headerCpus ?? stats.cpus.length,
      cpusSeen: stats.cpus,
      headerLines: ing.headerLines,
      annotations: ing.annotations,
      stackFrames: ing.stackFrames,
      crlfLines: ing.crlfLines,
      truncated: ing.truncated,
      undecodedEvents: ing.undecoded,
    },
    kernel: ing.kernel,
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
