// What a human-readable report says, once: the summary and one section per finding family, as
// titled blocks of prose and tables. text.ts and markdown.ts only lay them out (widths, colour).
import type { Anomaly } from '../ingest/ingest.js';
import type { RecordHeader } from '../ingest/record-header.js';
import type { FlushObservation } from '../analyses/flushes.js';
import { isBinaryFormat } from '../ingest/sniff.js';
import type { VmTaskReport } from '../analyses/vms.js';
import { taskLabel, type TaskAttribution } from '../model/facts.js';
import type { VmIdentification } from '../model/replay.js';
import type { UnattributedWhy } from '../model/vm-identity.js';
import type { AnalyzeReport } from './contract.js';
import { CAPTURE_HINT, type CoverageFamily, type CoverageRow } from '../analyses/coverage.js';

export interface TableBlock {
  kind: 'table';
  head: string[];
  rows: (string | number)[][];
  /** Right-aligned (numeric) columns. */
  numeric: boolean[];
}

export interface TextBlock {
  kind: 'text';
  text: string;
  /** How it should stand out where colour is available. */
  tone?: 'good' | 'warn' | 'bad';
}

export type Block = TableBlock | TextBlock;

export interface Section {
  title: string;
  blocks: Block[];
}

/** What a layout renders: a title, key/value summary lines, then the sections. */
export interface ReportDocument {
  title: string;
  summary: SummaryItem[];
  sections: Section[];
}

/** The analyze report as a document. */
export function analyzeDocument(r: AnalyzeReport): ReportDocument {
  return {
    title: `mmu-trace ${r.tool.version}: ${r.input.path}`,
    summary: summaryItems(r),
    sections: [...inputSections(r), ...findingSections(r), ...whatIfSections(r)],
  };
}

/** A key/value line of the summary; `tone` marks health figures. */
export interface SummaryItem {
  key: string;
  value: string;
  tone?: 'good' | 'warn' | 'bad';
}

const text = (t: string, tone?: TextBlock['tone']): TextBlock => (tone ? { kind: 'text', text: t, tone } : { kind: 'text', text: t });
const table = (head: string[], rows: (string | number)[][], numeric: boolean[]): TableBlock => ({ kind: 'table', head, rows, numeric });

function timeSpan(first: string | null, last: string | null, clock: string): string {
  if (first === null || last === null) return 'no events';
  if (clock === 'counter') return `${first} .. ${last} (counter clock, raw ticks)`;
  return `${first} .. ${last} s (${(Number(last) - Number(first)).toFixed(6)} s)`;
}

/** Inferred flushes against the function tracer's (record --observe-flushes), when the trace has them. */
function observedFlushBlocks(o: FlushObservation | null): Block[] {
  if (!o) return [];
  const callers = Object.entries(o.unpredictedByCaller).sort((a, b) => b[1] - a[1]);
  return [
    text(`observed (function tracer): ${o.observed} flushes; of ${o.inferred} inferred, ${o.confirmed} confirmed, ${o.contradicted} contradicted (the rule says flush, the kernel did not); ${o.unpredicted} observed flushes no rule predicted`, o.contradicted + o.unpredicted === 0 ? 'good' : 'warn'),
    table(['operation', 'inferred', 'observed', 'confirmed', 'contradicted', 'unpredicted'],
      Object.entries(o.byOp).filter(([, a]) => a.inferred + a.observed > 0).map(([k, a]) => [k, a.inferred, a.observed, a.confirmed, a.contradicted, a.unpredicted]),
      [false, true, true, true, true, true]),
    ...(callers.length ? [text(`unpredicted, by the flush's caller: ${callers.map(([c, n]) => `${c} ${n}`).join(', ')}`)] : []),
  ];
}

/** What `mmu-trace record` wrote about the capture: host, KVM MMU, command, how it stopped. */
function recordedItem(h: RecordHeader): Pick<SummaryItem, 'value' | 'tone'> {
  const kvm = h.modules.kvm;
  const mmu = kvm?.tdp_mmu !== undefined ? `tdp_mmu=${kvm.tdp_mmu}` : 'tdp_mmu not shown';
  const stopped = h.stopped ?? 'no trailer: the recording did not finish (killed?)';
  return { value: `by mmu-trace record on ${h.kernel ?? '?'}, ${mmu}; ${h.command === '-' ? 'no command' : `command: ${h.command}`}; stopped: ${stopped}`, tone: h.stopped ? undefined : 'warn' };
}

export function summaryItems(r: AnalyzeReport): SummaryItem[] {
  const i = r.input;
  const k = r.kernel;
  const out: SummaryItem[] = [
    { key: 'format', value: `${i.format} (${i.formatReason})${i.compressed ? ', gzip' : ''}` },
    {
      key: 'lines',
      // a binary trace has records, not lines: its events and lost-event marks
      value: isBinaryFormat(i.format) ? `${i.lines} records, ${i.events} events, ${i.lostMarkers} lost-event marks`
        : `${i.lines} lines, ${i.events} events, ${i.headerLines} header, ${i.stackFrames} stack frames`
          + `${i.blankLines ? `, ${i.blankLines} blank` : ''}${i.annotations ? `, ${i.annotations} annotations` : ''}`
          + `${i.grepSeparators ? `, ${i.grepSeparators} grep separators` : ''}`,
    },
    { key: 'skipped', value: `${i.skippedLines} lines`, tone: i.skippedLines === 0 ? 'good' : 'warn' },
    {
      key: 'lost', tone: i.lostEvents === 0 ? 'good' : 'bad',
      value: `${i.lostEvents} events${i.entries ? ` (entries-in-buffer/written ${i.entries.inBuffer}/${i.entries.written})` : ''}`
        + `${i.lostMarkers ? `, ${i.lostMarkers} LOST markers` : ''}`,
    },
  ];
  if (i.truncated) out.push({ key: 'truncated', value: i.truncated, tone: 'bad' });
  for (const what of i.suspectCounts) out.push({ key: 'suspect', value: `${what}: not counted as lost`, tone: 'warn' });
  for (const a of i.anomalies) {
    out.push({ key: 'anomaly', tone: 'warn', value: `${a.count} ${ANOMALY_NAME[a.kind]}, the first: ${a.message}` });
  }
  if (i.missingFromFile > 0) {
    out.push({ key: 'missing', tone: 'warn', value: `${i.missingFromFile} events: the header counts ${i.entries!.inBuffer} in the buffer, the file holds ${i.events} (cut or filtered)` });
  }
  if (i.recorded) out.push({ key: 'recorded', ...recordedItem(i.recorded) });
  out.push(
    { key: 'time', value: timeSpan(i.firstTs, i.lastTs, i.clock) },
    { key: 'cpus', value: `${i.cpus} (seen: ${i.cpusSeen.join(', ') || 'none'})` },
    { key: 'role', value: `layout ${k.roleLayout} (kernels ${k.roleLayoutKernels}; ${k.roleLayoutSource === 'default' ? 'assumed, use --role-layout to change' : `from ${k.roleLayoutSource}`})` },
  );
  for (const [name, h] of Object.entries(k.hints)) out.push({ key: 'hint', value: `${name}: ${h.value} (line ${h.line})` });
  out.push({ key: 'mmu', value: `${{ tdp: 'TDP MMU', shadow: 'shadow MMU', unknown: 'unknown' }[k.mmu]}: ${k.mmuEvidence}` });
  const limited = r.coverage.filter((c) => c.status !== 'supported');
  if (limited.length > 0) {
    out.push({ key: 'coverage', tone: 'warn', value: limited.map((c) => `${c.family} ${c.status === 'none' ? 'not supported' : 'partly'}${c.missing.length ? ` (no ${c.missing.join(', ')})` : ''}`).join('; ') });
  }
  if (r.model) out.push({ key: 'rules', value: `${r.model.rules.set}, SPTE layout ${r.model.rules.spteGen} (${r.model.spteFlavour}): ${r.model.rules.why}` });
  return out;
}

/** A duration given in µs, in the unit that suits it (ASCII: the md/lkml reports are plain ASCII). */
export function duration(us: number): string {
  if (us < 999.5) return `${Math.round(us)} us`;
  const ms = us / 1000;
  if (ms < 9.995) return `${ms.toFixed(2)} ms`;
  if (ms < 999.95) return `${ms.toFixed(1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

const ANOMALY_NAME: Record<Anomaly['kind'], string> = {
  'time-backwards': 'steps back in time', 'value-out-of-range': 'values too large for their column',
};

const IDENTIFIED_BY: Record<VmIdentification, string> = {
  tgid: 'by TGID', 'shared-page-tables': 'by shared shadow-page tables', 'own-mmu-work': "one task group's own MMU work",
};
const ATTRIBUTED_BY: Record<TaskAttribution, string> = {
  tgid: 'TGID', 'own-mmu-work': 'own MMU work', 'shared-page-tables': 'shared page tables', 'shadow-pages': 'zapped pages only this VM has',
  'tdp-spte': 'a TDP leaf only this VM held', 'tdp-only-live-vm': 'the only TDP VM alive (a guess)', memslot: 'memslot overlap', 'only-vm': 'only VM', 'vm-teardown': 'zapped every page of this VM (teardown)',
  'named-pid': 'named after its VMM pid',
};
const UNATTRIBUTED_WHY: Record<UnattributedWhy, string> = {
  'several-vms': 'its zapped pages are in several VMs', 'no-vm': 'no VM has its pages', 'no-mmu-work': 'no MMU work, no VM named',
};

/** Input problems, the event mix, tasks and VMs: what the trace is, before what the model found. */
export function inputSections(r: AnalyzeReport): Section[] {
  const i = r.input;
  const out: Section[] = [];
  if (i.skippedLines > 0) {
    out.push({
      title: 'skipped lines',
      blocks: [
        table(['reason', 'lines'], Object.entries(i.skippedByReason), [false, true]),
        ...i.skipExamples.slice(0, 5).map((ex) => text(`${i.path}:${ex.line}${ex.column !== null ? `:${ex.column}` : ''}: ${ex.reason}: ${ex.message}`)),
      ],
    });
  }
  const undecoded = Object.entries(i.undecodedEvents);
  if (undecoded.length > 0) out.push({ title: 'events kept with raw payload (no decoder variant matched)', blocks: [table(['event', 'count'], undecoded, [false, true])] });
  out.push({
    title: 'events',
    blocks: [table(['event', 'group', 'count'], Object.entries(r.events.byName).map(([n, v]) => [n, r.events.groupOf[n] ?? '', v]), [false, false, true])],
  });
  const tasks: Block[] = [table(['pid', 'tgid', 'comm', 'events', 'kvm events'],
    r.kvmTasks.slice(0, 20).map((t) => [t.pid, t.tgid ?? '-', t.comm, t.events, t.kvmEvents]), [true, true, false, true, true])];
  if (r.kvmTasks.length > 20) tasks.push(text(`... ${r.kvmTasks.length - 20} more`));
  out.push({ title: 'tasks with KVM events', blocks: tasks });
  const withHow = (t: VmTaskReport): string => `${taskLabel(t)}${t.attributedBy ? ` [${ATTRIBUTED_BY[t.attributedBy]}]` : ''}`;
  const vms: Block[] = r.vms.length === 0 ? [text(r.vmsNote ?? '')] : r.vms.map((vm) => text(
    `${vm.id}: ${vm.tasks.length} tasks${vm.identifiedBy ? `, ${IDENTIFIED_BY[vm.identifiedBy]}` : ''} (${vm.tasks.map(withHow).join(', ')})`));
  const u = r.unattributed;
  if (u) {
    const who = u.tasks.length > 0 ? u.tasks.map((t) => `${taskLabel(t)} (${UNATTRIBUTED_WHY[t.why]})`).join(', ') : 'no task';
    vms.push(text(`unattributed, not a VM: ${who}; ${u.mmuEvents} MMU events counted under VM id '${u.id}'`));
  }
  if (r.model) vms.push(text(`how: ${r.model.vmSplit}`));
  for (const vm of r.vms) {
    if (vm.memslots === 'inferred') vms.push(text(`${vm.id}: memslots inferred: hva = gfn*4096 + ${vm.inferredOffsets!.map((o) => `${o.delta} (${o.anchors} anchors)`).join(', ')}`));
    else if (vm.memslots === 'none') vms.push(text(`${vm.id}: no memslots (pass --memslots): notifier overlap unknown`));
  }
  out.push({ title: 'VMs', blocks: vms });
  out.push({
    title: 'coverage (what the events in this trace can support)',
    blocks: [
      ...r.coverage.map((c) => text(`${c.family}: ${c.status}: ${c.note}${c.missing.length ? ` (not in the trace: ${c.missing.join(', ')})` : ''}`,
        c.status === 'supported' ? undefined : 'warn')),
      ...(r.coverage.some((c) => c.status !== 'supported') ? [text(`to capture them: ${CAPTURE_HINT}`)] : []),
    ],
  });
  return out;
}

/** One section per finding family (issue 3 / design.md §5), each number with its evidence. */
export function findingSections(r: AnalyzeReport): Section[] {
  const f = r.findings;
  if (!f) return [];
  const support = (family: CoverageFamily): CoverageRow => r.coverage.find((c) => c.family === family)!;
  // no finding rests on nothing: a trace without any SPTE install or zap gets none (coverage says why)
  if (support('zaps and refaults').status === 'none') {
    return [{ title: 'findings', blocks: [text('none: the trace holds no SPTE install or zap of KVM (kvmmmu events), so the MMU model has nothing to replay; see coverage above', 'warn')] }];
  }
  const out: Section[] = [];
  const z = f.redundantZaps;
  const ev = (e: Record<string, number>): string => `observed ${e.observed}, inferred ${e.inferred}, suspected ${e.suspected}`;
  const zaps: Block[] = [
    table(['cause', 'identical', 'upgrade', 'downgrade', 'needed', 'unresolved'],
      Object.entries(z.byCause).map(([k, o]) => [k, o.identical, o.upgrade, o.downgrade, o.needed, o.unresolved]),
      [false, true, true, true, true, true]),
    text(`${z.count} redundant of ${z.zaps} zaps (redundant: ${ev(z.byEvidence)})`, z.count > 0 ? 'warn' : undefined),
  ];
  const causes = support('zap causes');
  if (causes.status === 'partial') zaps.push(text(`caution: ${causes.note} (not in the trace: ${causes.missing.join(', ')}); the causes and the suspected counts above rest on that`, 'warn'));
  const fastZaps = z.byCause['zap-all-fast'];
  const fastRedundant = fastZaps ? fastZaps.identical + fastZaps.upgrade + fastZaps.downgrade : 0;
  if (fastRedundant > 0) {
    zaps.push(text(`zap-all-fast: ${fastRedundant} of its zaps came back unchanged: the cost of zapping every memslot when one was deleted or moved (mmu.c kvm_mmu_zap_all_fast). At most that many were avoidable: the trace does not name the memslot that changed, and its zaps were needed even when it came back with the same pages.`));
  }
  if (z.refaultUs.median !== null) zaps.push(text(`refault latency of redundant zaps: median ${duration(z.refaultUs.median)}, p90 ${duration(z.refaultUs.p90!)}`));
  if (z.refaultUs.unknown > 0) zaps.push(text(`refault latency unknown for ${z.refaultUs.unknown} redundant zaps: untraced drops found only at the re-install`));
  if (z.hotRanges.length > 0) {
    zaps.push(text('hottest 2 MiB guest-frame ranges (line: its first zap):'), table(['vm', 'gfns', 'zaps', 'redundant', 'line'],
      z.hotRanges.slice(0, 5).map((h) => [h.vm, h.gfns, h.zaps, h.redundant, h.firstLine]), [false, false, true, true, true]));
  }
  if (z.examples.length > 0) {
    zaps.push(text('redundant zaps to look at (the zap line, and the line that re-installed the mapping):'), table(['line', 'gfn', 'cause', 'outcome', 'evidence', 'refault line'],
      z.examples.map((e) => [e.line, e.gfn, e.cause, e.outcome, e.evidence, e.refaultLine ?? '-']), [true, false, false, false, false, true]));
  }
  out.push({ title: 'zaps and refaults (refault: the next install that maps the same guest frame)', blocks: zaps });
  out.push({
    title: f.flushes.observed ? 'TLB flushes (inferred from kernel rules, checked against the function tracer\'s)' : 'TLB flushes (inferred from kernel rules; x86 traces none)',
    blocks: [table(['operation', 'needed', 'unneeded', 'avoidable', 'missing'],
      Object.entries(f.flushes.byOp).map(([k, v]) => [k, v.needed ?? 0, v.unneeded ?? 0, v.avoidable ?? 0, v.missing ?? 0]),
      [false, true, true, true, true]), ...observedFlushBlocks(f.flushes.observed)],
  });
  const wp = f.writeProtects;
  if (wp.restored > 0 || wp.protected > 0) {
    const untraced = wp.byCause['dirty-log'];
    const blocks: Block[] = [
      text(`${wp.protected} SPTEs were write-protected at a traced event (kvm_mmu_get_page ... new of a guest page table: account_shadowed; kvm_mmu_sync_page: mmu_sync_children; which SPTEs is inferred from the model); ${wp.restored} write-protected SPTEs were made writable again by a write fault (observed); these are no zaps.`),
      table(['cause', 'protected', 'restored', 'passes'],
        Object.entries(wp.byCause).filter(([, c]) => c.restored + c.protected > 0).map(([k, c]) => [k, c.protected, c.restored, c.passes]), [false, true, true, true]),
      text(`each pass flushes after write-protecting (kvm_flush_remote_tlbs_memslot / _gfn). Dirty logging's write-protects are untraced: only the faults that undo them show, so its ${untraced.passes} passes are the fewest that explain ${untraced.restored} restores, and SPTEs it protected that were never written again do not show at all.`),
    ];
    if (wp.byPhase.some((p) => p.line > 0)) {
      blocks.push(table(['line', 'phase (trace marker)', 'restored'], wp.byPhase.slice(0, PHASE_ROWS).map((p) => [p.line, p.marker, p.restored]), [true, false, true]));
    }
    out.push({ title: 'write-protects and the write faults that undid them (dirty logging, shadowed guest page tables)', blocks });
  }
  const lb = f.lockBreaks;
  out.push({
    title: `long zap episodes and mmu_lock breaks (suspected: gap >= ${lb.suspectGapUs} us)`,
    blocks: lb.list.length === 0 ? [text('none')] : [table(['line', 'kind', 'zapper', 'zapped', 'ms', 'observed', 'suspected', 'max'],
      lb.list.map((e) => [e.line, e.kind, e.zapper, e.zapped, e.durationMs.toFixed(2), e.breaksObserved, e.breaksSuspected, e.maxBreaks ?? '-']),
      [true, false, false, true, true, true, true, true])],
  });
  const n = f.notifications;
  const notes: Block[] = [table(['source', 'unmap', 'age', 'test_age', 'outside', 'no effect', 'sptes zapped'],
    Object.entries(n.byTask).map(([k, s]) => [k, s.unmap, s.age, s.testAge, s.outside, s.noEffect, s.sptesZapped]),
    [false, true, true, true, true, true, true])];
  const a = f.aging;
  if (a.ageCalls + a.testAgeCalls > 0) notes.push(text(`aging: ${a.ageCalls} age, ${a.testAgeCalls} test_age; young ${a.young} known, ${a.youngUnknown} unknown; flushes ${a.flushes}`));
  out.push({ title: `mmu notifications (${n.total}; ${n.outsideMemslots} outside memslots, ${n.noEffect} with no effect)`, blocks: notes });
  const ff = f.fastFaults;
  const hs = f.hugeSplits;
  const mm = f.mmio;
  const fast: Block[] = [];
  if (ff.fixed + ff.spurious + ff.fallback > 0) {
    fast.push(text(`fast page faults (lockless, no flush): ${ff.fixed} fixed, ${ff.spurious} spurious, ${ff.fallback} to the slow path;`
      + ` ${ff.afterUntracedChange} after an untraced change (inferred), ${ff.unplaced} on SPTEs no event showed`));
  }
  if (hs.split + hs.failed > 0) fast.push(text(`eager huge-page splits: ${hs.split} split (no flush), ${hs.failed} failed; ${hs.childrenInferred} smaller leaves inferred`));
  if (mm.marked + mm.emulated + mm.staleGeneration > 0) {
    fast.push(text(`MMIO SPTEs: ${mm.marked} created on ${mm.gfns} gfns, ${mm.emulated} accesses emulated from them, ${mm.staleGeneration} obsolete after a memslot update`));
  }
  if (fast.length > 0) out.push({ title: 'fast path, splits, MMIO', blocks: fast });
  return out;
}

/** Phases of the write-protect table shown (the JSON has all). */
const PHASE_ROWS = 16;

/** One section per --what-if policy: the kernel change, the assumption, the counts. */
export function whatIfSections(r: AnalyzeReport): Section[] {
  return (r.whatIf ?? []).map((w) => {
    const blocks: Block[] = [
      text(`change: ${w.change}`),
      text(`assumes: ${w.assumption}`),
      table(['figure', 'count'], Object.entries(w.figures), [false, true]),
    ];
    if (w.episodes?.length) {
      blocks.push(table(['line', 'zapped', 'observed', 'at 10', `at ${w.policy.slice('batch='.length)}`],
        w.episodes.map((e) => [e.line, e.zapped, e.observed, e.at10, e.atN]), [true, true, true, true, true]));
    }
    return { title: `what if: ${w.policy} (${w.evidence})`, blocks };
  });
}
