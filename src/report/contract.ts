// The JSON report contract (design.md §6): stable keys, schemaVersion 1. Keys may be added,
// never renamed. Built from the ingest result and the analyses' data; nothing here computes.
import type { IngestResult, KernelInfo } from '../ingest/ingest.js';
import type { EventStatsData, TaskStats } from '../analyses/event-stats.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';
import type { FindingsData } from '../analyses/findings.js';
import type { EpisodeSummary } from '../analyses/lock-breaks.js';
import type { SourceTotals } from '../analyses/notifications.js';
import type { HotRange, ZapOutcome } from '../analyses/zaps.js';
import type { Evidence } from '../model/facts.js';
import type { FastFaultsData } from '../analyses/fast-faults.js';
import type { MmioData } from '../analyses/mmio.js';
import type { WhatIfResult } from '../analyses/what-if.js';

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
  evidence: 'tgid' | 'shared-page-tables';
  tgid: number | null;
  tasks: { pid: number; comm: string; events: number; kvmEvents: number }[];
  /** Where its memslots came from, and the hva−gfn·4096 offsets learned when inferred. */
  memslots?: 'file' | 'inferred' | 'none';
  inferredOffsets?: { delta: string; anchors: number }[];
}

export interface ZapExample {
  line: number;
  gfn: string;
  level: number;
  cause: string;
  causeTask: string;
  outcome: ZapOutcome;
  evidence: Evidence;
  refaultLine: number | null;
  refaultUs: number | null;
}

export interface FindingsReport {
  redundantZaps: {
    count: number;
    zaps: number;
    byEvidence: Record<Evidence, number>;
    byOutcome: Record<ZapOutcome, number>;
    zapsByEvidence: Record<Evidence, number>;
    byCause: Record<string, Record<ZapOutcome, number>>;
    refaultUs: { median: number | null; p90: number | null };
    examples: ZapExample[];
    hotRanges: HotRange[];
  };
  flushes: { inferred: number; needed: number; unneeded: number; avoidable: number; missing: number; byOp: Record<string, Record<string, number>> };
  lockBreaks: { episodes: number; breaks: number; byEvidence: { observed: number; suspected: number }; suspectGapUs: number; list: EpisodeSummary[] };
  notifications: { total: number; noEffect: number; outsideMemslots: number; byOverlap: Record<string, number>; byTask: Record<string, SourceTotals> };
  aging: { ageCalls: number; testAgeCalls: number; young: number; youngUnknown: number; flushes: number; byTask: Record<string, { age: number; testAge: number; young: number }> };
  spteChanges: Record<string, number>;
  shadowPages: { created: number; zapped: number; zappedInUse: number; freedRoots: number };
  hugeSplits: { split: number; failed: number; childrenInferred: number };
  fastFaults: FastFaultsData;
  mmio: MmioData;
}

export interface ModelReport {
  rules: { set: string; source: string; why: string };
  spteFlavour: string;
  vmSplit: string;
  operations: number;
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
  model?: ModelReport;
  findings?: FindingsReport;
  /** Counterfactual counts of the --what-if policies, each with its assumption. */
  whatIf?: WhatIfResult[];
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
  return [...byTgid.values()].sort((a, b) => (a.tgid ?? 0) - (b.tgid ?? 0));
}

function mmuOf(byName: Record<string, number>): 'tdp' | 'shadow' | 'unknown' {
  if ((byName.kvm_tdp_mmu_spte_changed ?? 0) > 0) return 'tdp';
  // shadow pages and SPTEs without a single TDP SPTE change: shadow paging (tdp_mmu=N or no EPT/NPT)
  if ((byName.kvm_mmu_set_spte ?? 0) + (byName.kvm_mmu_get_page ?? 0) > 0) return 'shadow';
  return 'unknown';
}

const hex = (n: number): string => `0x${n.toString(16)}`;

function zapExamples(f: FindingsData): ZapExample[] {
  const t = f.zaps.table;
  const col = (n: string): number => t.col(n);
  const out: ZapExample[] = [];
  for (let r = 0; r < t.length && out.length < 5; r++) {
    const outcome = t.getStr(col('outcome'), r) as ZapOutcome;
    if (outcome === 'needed' || outcome === 'unresolved') continue;
    const ns = t.getNum(col('refault_ns'), r);
    out.push({
      line: t.getNum(col('line'), r), gfn: hex(t.getNum(col('gfn'), r)), level: t.getNum(col('level'), r),
      cause: t.getStr(col('cause'), r)!, causeTask: t.getStr(col('cause_task'), r)!, outcome,
      evidence: t.getStr(col('evidence'), r) as Evidence, refaultLine: t.getNum(col('refault_line'), r),
      refaultUs: Number.isNaN(ns) ? null : Math.round(ns / 10) / 100,
    });
  }
  return out;
}

function findingsReport(f: FindingsData): FindingsReport {
  const us = (ns: number | null): number | null => (ns === null ? null : Math.round(ns / 10) / 100);
  return {
    redundantZaps: {
      count: f.zaps.redundant, zaps: f.zaps.count, byEvidence: f.zaps.redundantByEvidence, byOutcome: f.zaps.byOutcome,
      zapsByEvidence: f.zaps.byEvidence, byCause: f.zaps.byCause,
      refaultUs: { median: us(f.zaps.refaultNs.median), p90: us(f.zaps.refaultNs.p90) }, examples: zapExamples(f),
      hotRanges: f.zaps.hotRanges,
    },
    flushes: { inferred: f.flushes.inferred, needed: f.flushes.needed, unneeded: f.flushes.unneeded, avoidable: f.flushes.avoidable, missing: f.flushes.missing, byOp: f.flushes.byOp },
    lockBreaks: {
      episodes: f.lockBreaks.episodes.length, breaks: f.lockBreaks.breaks, byEvidence: f.lockBreaks.byEvidence,
      suspectGapUs: f.lockBreaks.suspectGapNs / 1000, list: f.lockBreaks.episodes,
    },
    notifications: {
      total: f.notifications.total, noEffect: f.notifications.noEffect, outsideMemslots: f.notifications.outsideMemslots,
      byOverlap: f.notifications.byOverlap, byTask: f.notifications.byTask,
    },
    aging: f.notifications.aging,
    spteChanges: f.spte.byKind,
    shadowPages: f.spte.shadowPageCounts,
    hugeSplits: f.spte.hugeSplits,
    fastFaults: f.fastFaults,
    mmio: f.mmio,
  };
}

/** VMs as the model told them apart, with the tasks' event counts. */
function vmsOfModel(f: FindingsData, tasks: TaskStats[]): VmReport[] {
  const stats = new Map(tasks.map((t) => [t.pid, t]));
  return f.model.vms.map((vm) => ({
    id: vm.id,
    evidence: vm.tgid !== null ? 'tgid' : 'shared-page-tables',
    tgid: vm.tgid,
    tasks: vm.tasks.map((t) => ({ pid: t.pid, comm: t.comm, events: stats.get(t.pid)?.events ?? 0, kvmEvents: stats.get(t.pid)?.kvmEvents ?? 0 })),
    memslots: vm.memslots,
    inferredOffsets: vm.inferredOffsets.map((o) => ({ delta: hex(o.delta), anchors: o.anchors })),
  }));
}

export function buildReport(ing: IngestResult, stats: EventStatsData, findings?: FindingsData, whatIf?: WhatIfResult[]): AnalyzeReport {
  const { source, kernel: _kernel, headerCpus, blankLines: _blank, ...input } = ing;
  const kvmTasks = stats.tasks.filter((t) => t.kvmEvents > 0);
  const vms = findings ? vmsOfModel(findings, stats.tasks) : vmsByTgid(kvmTasks);
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
  if (findings) {
    const m = findings.model;
    report.model = { rules: { ...m.rules }, spteFlavour: m.spteFlavour, vmSplit: m.vmSplit, operations: m.ops };
    report.findings = findingsReport(findings);
    if (whatIf) report.whatIf = whatIf;
  }
  if (vms.length === 0) {
    report.vmsNote = kvmTasks.some((t) => t.tgid === null)
      ? 'the trace has no TGIDs; telling VMs apart without them needs the MMU model'
      : 'no task emitted KVM events';
  }
  return report;
}
