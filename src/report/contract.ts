// The JSON report contract (design.md §6): stable keys, schemaVersion 1. Keys may be added,
// never renamed. Built from the ingest result and the analyses' data: this file only shapes (picks,
// renames, nests); every number and choice is made in src/analyses.
import { coverageOf, type CoverageRow } from '../analyses/coverage.js';
import type { IngestResult, KernelInfo } from '../ingest/ingest.js';
import type { EventStatsData, TaskStats } from '../analyses/event-stats.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';
import type { FindingsData } from '../analyses/findings.js';
import type { FlushObservation } from '../analyses/flushes.js';
import type { EpisodeSummary } from '../analyses/lock-breaks.js';
import type { SourceTotals } from '../analyses/notifications.js';
import type { HotRange, LatencyBin, ZapExample, ZapOutcome } from '../analyses/zaps.js';
import type { Evidence } from '../model/facts.js';
import type { Timeline } from '../analyses/timeline.js';
import type { UnattributedReport, VmReport, VmsData } from '../analyses/vms.js';
import type { FastFaultsData } from '../analyses/fast-faults.js';
import type { MmioData } from '../analyses/mmio.js';
import type { WriteProtectsData } from '../analyses/write-protects.js';
import type { WhatIfResult } from '../analyses/what-if.js';

/** The input section: the ingest's own accounting, plus what the batches showed (CPUs). */
export type InputReport = Omit<IngestResult, 'source' | 'kernel' | 'headerCpus'> & {
  compressed: boolean;
  /** Bytes of text (after decompression). */
  bytes: number;
  /** #P: or cpus= from the header, else the number of CPUs seen. */
  cpus: number;
  cpusSeen: number[];
};

export interface FindingsReport {
  redundantZaps: {
    count: number;
    zaps: number;
    byEvidence: Record<Evidence, number>;
    byOutcome: Record<ZapOutcome, number>;
    zapsByEvidence: Record<Evidence, number>;
    byCause: Record<string, Record<ZapOutcome, number>>;
    refaultUs: { median: number | null; p90: number | null; unknown: number };
    examples: ZapExample[];
    hotRanges: HotRange[];
    /** Refault latency of the redundant zaps, in log bins of µs (4 per decade); non-empty bins only. */
    refaultLatencyHistogram: LatencyBin[];
  };
  flushes: {
    inferred: number; needed: number; unneeded: number; avoidable: number; missing: number; extraFlushes: number; byOp: Record<string, Record<string, number>>;
    /** The inferred flushes checked against function-traced ones (record --observe-flushes); null when the trace has none. */
    observed: FlushObservation | null;
  };
  lockBreaks: { episodes: number; breaks: number; byEvidence: { observed: number; suspected: number }; suspectGapUs: number; list: EpisodeSummary[] };
  notifications: { total: number; noEffect: number; outsideMemslots: number; byOverlap: Record<string, number>; byTask: Record<string, SourceTotals> };
  aging: { ageCalls: number; testAgeCalls: number; young: number; youngUnknown: number; flushes: number; byTask: Record<string, { age: number; testAge: number; young: number }> };
  spteChanges: Record<string, number>;
  shadowPages: { created: number; zapped: number; zappedInUse: number; freedRoots: number };
  hugeSplits: { split: number; failed: number; childrenInferred: number };
  fastFaults: FastFaultsData;
  mmio: MmioData;
  /** SPTEs an untraced write-protect made read-only and write faults restored (dirty logging, shadowed guest page tables). */
  writeProtects: WriteProtectsData;
  /** Zaps, refaults, notifications and issued flushes per VM over time, in equal bins of the trace's span. */
  timeline: Timeline;
}

export interface ModelReport {
  rules: { set: string; spteGen: string; source: string; why: string };
  spteFlavour: string;
  vmSplit: string;
  operations: number;
}

export interface AnalyzeReport {
  schemaVersion: 1;
  tool: { name: string; version: string };
  input: InputReport;
  kernel: KernelInfo & {
    /** Which MMU the events show (event-stats.ts mmuOf), and on what evidence. */
    mmu: 'tdp' | 'shadow' | 'unknown';
    mmuEvidence: string;
  };
  events: { byName: Record<string, number>; byGroup: Record<string, number>; groupOf: Record<string, string> };
  /** Tasks that emitted kvm / kvmmmu events (notifier sources and vCPU threads alike). */
  kvmTasks: TaskStats[];
  /** Per finding family: whether the events it needs are in the trace (analyses/coverage.ts). */
  coverage: CoverageRow[];
  vms: VmReport[];
  /** Why `vms` is empty, when it is. */
  vmsNote?: string;
  /** VM kernel threads no evidence gives to one VM, not a VM: their work carries the VM id `unattributed.id` in the findings. */
  unattributed?: UnattributedReport;
  model?: ModelReport;
  findings?: FindingsReport;
  /** Counterfactual counts of the --what-if policies, each with its assumption. */
  whatIf?: WhatIfResult[];
}

function findingsReport(f: FindingsData): FindingsReport {
  return {
    redundantZaps: {
      count: f.zaps.redundant, zaps: f.zaps.count, byEvidence: f.zaps.redundantByEvidence, byOutcome: f.zaps.byOutcome,
      zapsByEvidence: f.zaps.byEvidence, byCause: f.zaps.byCause, refaultUs: f.zaps.refaultUs, examples: f.zaps.examples,
      hotRanges: f.zaps.hotRanges, refaultLatencyHistogram: f.zaps.refaultLatencyHistogram,
    },
    flushes: { inferred: f.flushes.inferred, needed: f.flushes.needed, unneeded: f.flushes.unneeded, avoidable: f.flushes.avoidable, missing: f.flushes.missing, extraFlushes: f.flushes.extraFlushes, byOp: f.flushes.byOp, observed: f.flushes.observed },
    lockBreaks: {
      episodes: f.lockBreaks.episodes.length, breaks: f.lockBreaks.breaks, byEvidence: f.lockBreaks.byEvidence,
      suspectGapUs: f.lockBreaks.suspectGapUs, list: f.lockBreaks.episodes,
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
    writeProtects: f.writeProtects,
    timeline: f.timeline,
  };
}

/** What the report is built from: the pipeline's stages' results (src/pipeline/analyze.ts). */
export interface ReportInputs {
  ingest: IngestResult;
  stats: EventStatsData;
  vms: VmsData;
  findings?: FindingsData | undefined;
  whatIf?: WhatIfResult[] | undefined;
}

export function buildReport({ ingest, stats, vms, findings, whatIf }: ReportInputs): AnalyzeReport {
  const { source, kernel, headerCpus, ...input } = ingest;
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
    kernel: { ...kernel, mmu: stats.mmu, mmuEvidence: stats.mmuEvidence },
    events: { byName: stats.byName, byGroup: stats.byGroup, groupOf: stats.groupOf },
    kvmTasks: stats.kvmTasks,
    coverage: coverageOf(stats.byName),
    vms: vms.vms,
  };
  if (findings) {
    const m = findings.model;
    report.model = { rules: { ...m.rules }, spteFlavour: m.spteFlavour, vmSplit: m.vmSplit, operations: m.ops };
    report.findings = findingsReport(findings);
    if (whatIf) report.whatIf = whatIf;
  }
  if (vms.note !== undefined) report.vmsNote = vms.note;
  if (vms.unattributed) report.unattributed = vms.unattributed;
  return report;
}
