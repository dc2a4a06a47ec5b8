// The findings section of the text report: what the model found, each number with its evidence.
import type { Colors } from 'picocolors/types.js';
import type { AnalyzeReport } from './contract.js';
import { renderTable } from './table.js';

export function renderFindings(r: AnalyzeReport, c: Colors): string[] {
  const f = r.findings;
  const m = r.model;
  if (!f || !m) return [];
  const out: string[] = [];
  out.push('', c.bold('model'));
  out.push(`  kernel rules ${m.rules.set}, SPTE flavour ${m.spteFlavour}`, `    ${m.rules.why}`.slice(0, 100));
  out.push(`  VMs ${m.vmSplit}`.slice(0, 100));
  for (const vm of r.vms) {
    if (vm.memslots === 'inferred') {
      out.push(`  ${vm.id}: memslots inferred: hva = gfn*4096 + ${vm.inferredOffsets!.map((o) => `${o.delta} (${o.anchors} anchors)`).join(', ')}`.slice(0, 100));
    } else if (vm.memslots === 'none') out.push(`  ${vm.id}: no memslots (pass --memslots): notifier overlap unknown`.slice(0, 100));
  }
  const z = f.redundantZaps;
  out.push('', c.bold('zaps and refaults') + ` (refault: the next install that maps the same guest frame)`);
  out.push(renderTable(['cause', 'identical', 'upgrade', 'downgrade', 'needed', 'unresolved'],
    Object.entries(z.byCause).map(([k, o]) => [k, o.identical, o.upgrade, o.downgrade, o.needed, o.unresolved]),
    [false, true, true, true, true, true]));
  const ev = (e: Record<string, number>): string => `observed ${e.observed}, inferred ${e.inferred}, suspected ${e.suspected}`;
  out.push(`  ${c.yellow(`${z.count} redundant`)} of ${z.zaps} zaps (redundant: ${ev(z.byEvidence)})`);
  if (z.refaultUs.median !== null) out.push(`  refault latency of redundant zaps: median ${z.refaultUs.median} us, p90 ${z.refaultUs.p90} us`);
  const fl = f.flushes;
  out.push('', c.bold('TLB flushes (inferred from kernel rules; x86 traces none)'));
  out.push(renderTable(['operation', 'needed', 'unneeded', 'avoidable', 'missing'],
    Object.entries(fl.byOp).map(([k, v]) => [k, v.needed ?? 0, v.unneeded ?? 0, v.avoidable ?? 0, v.missing ?? 0]),
    [false, true, true, true, true]));
  const lb = f.lockBreaks;
  out.push('', c.bold('long zap episodes and mmu_lock breaks') + ` (suspected: gap >= ${lb.suspectGapUs} us)`);
  if (lb.list.length === 0) out.push('  none');
  else {
    out.push(renderTable(['line', 'kind', 'zapper', 'zapped', 'ms', 'observed', 'suspected', 'max'],
      lb.list.map((e) => [e.line, e.kind, e.zapper, e.zapped, e.durationMs.toFixed(2), e.breaksObserved, e.breaksSuspected, e.maxBreaks ?? '-']),
      [true, false, false, true, true, true, true, true]));
  }
  const n = f.notifications;
  out.push('', c.bold('mmu notifications') + ` (${n.total}; ${n.outsideMemslots} outside memslots, ${n.noEffect} with no effect)`);
  out.push(renderTable(['source', 'unmap', 'age', 'test_age', 'outside', 'no effect', 'sptes zapped'],
    Object.entries(n.byTask).map(([k, s]) => [k, s.unmap, s.age, s.testAge, s.outside, s.noEffect, s.sptesZapped]),
    [false, true, true, true, true, true, true]));
  const a = f.aging;
  if (a.ageCalls + a.testAgeCalls > 0) {
    out.push(`  aging: ${a.ageCalls} age, ${a.testAgeCalls} test_age; young ${a.young} known, ${a.youngUnknown} unknown; flushes ${a.flushes}`);
  }
  const ff = f.fastFaults;
  const hs = f.hugeSplits;
  const mm = f.mmio;
  if (ff.fixed + ff.spurious + ff.fallback + hs.split + hs.failed + mm.marked + mm.emulated + mm.staleGeneration > 0) out.push('', c.bold('fast path, splits, MMIO'));
  if (ff.fixed + ff.spurious + ff.fallback > 0) {
    out.push(`  fast page faults (lockless, no flush): ${ff.fixed} fixed, ${ff.spurious} spurious, ${ff.fallback} to the slow path`,
      `    ${ff.afterUntracedChange} after an untraced change (inferred), ${ff.unplaced} on SPTEs no event showed`);
  }
  if (hs.split + hs.failed > 0) out.push(`  eager huge-page splits: ${hs.split} split (no flush), ${hs.failed} failed; ${hs.childrenInferred} smaller leaves inferred`);
  if (mm.marked + mm.emulated + mm.staleGeneration > 0) {
    out.push(`  MMIO SPTEs: ${mm.marked} created on ${mm.gfns} gfns, ${mm.emulated} accesses emulated from them, ${mm.staleGeneration} obsolete after a memslot update`);
  }
  return out;
}
