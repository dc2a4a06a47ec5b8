// Every trace.dat of the real corpus in ../shared/traces (CI has it beside the clone): analyzed
// directly, it gives the independent per-event counts of its trace-cmd report text (*.counts) and
// the findings of that text, except where the text lacks data: trace-cmd's kvm plugin prints no gfn
// for the shadow pages that kvm_mmu_prepare_zap_page zaps (README "Inputs"), so only the binary
// record places those zaps. Skipped, with the reason, where the corpus is absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SHARED_TRACES, haveSharedTraces, readCounts } from '../../testing/fixtures.js';
import { analyzeTrace } from '../../pipeline/analyze.js';
import type { AnalyzeReport } from '../../report/contract.js';

function traceDats(): { dat: string; text: string; counts: string }[] {
  if (!haveSharedTraces) return [];
  const out: { dat: string; text: string; counts: string }[] = [];
  for (const dir of readdirSync(SHARED_TRACES, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    for (const f of readdirSync(join(SHARED_TRACES, dir.name))) {
      if (!f.endsWith('.trace.dat')) continue;
      const base = join(SHARED_TRACES, dir.name, f.replace(/\.trace\.dat$/, '.trace-cmd-report.txt'));
      out.push({ dat: join(SHARED_TRACES, dir.name, f), text: existsSync(base) ? base : `${base}.gz`, counts: `${base}.counts` });
    }
  }
  return out.sort((a, b) => (a.dat < b.dat ? -1 : 1));
}

/** The figures that do not depend on the line numbers, the µs rounding of the text, or the shadow pages' gfns. */
function comparable(r: AnalyzeReport) {
  const f = r.findings!;
  return {
    notifications: f.notifications,
    aging: f.aging,
    notifierZaps: f.redundantZaps.byCause['notifier-unmap'],
    redundant: f.redundantZaps.count,
    lockBreaks: [f.lockBreaks.episodes, f.lockBreaks.breaks, f.lockBreaks.byEvidence,
      f.lockBreaks.list.map((e) => [e.kind, e.zapper, e.zapped, e.breaksObserved, e.breaksSuspected])],
    vms: r.vms.map((v) => [v.id, v.tasks.map((t) => [t.pid, t.comm, t.events, t.kvmEvents])]),
  };
}

const all = traceDats();
test('corpus trace.dat files are present', { skip: haveSharedTraces ? false : `no corpus at ${SHARED_TRACES}` }, () => {
  assert.ok(all.length >= 2, all.map((t) => t.dat).join(', '));
});

for (const { dat, text, counts } of all) {
  test(`corpus ${dat.slice(SHARED_TRACES.length)}: counts and findings of its trace-cmd report text`, async () => {
    const b = await analyzeTrace(dat);
    const t = await analyzeTrace(text);
    assert.deepEqual(b.events.byName, readCounts(counts));
    assert.deepEqual([b.input.format, b.input.events, b.input.lostEvents, b.input.truncated, b.input.cpus], ['trace.dat', t.input.events, 0, null, 2]);
    assert.deepEqual(comparable(b), comparable(t));
    // the zaps the text cannot place: the binary's zap-pages zaps, every one of them unresolved
    // at the end of the trace (the VM's teardown), on top of the text's
    const pages = b.findings!.redundantZaps.byCause['zap-pages']!;
    assert.equal(t.findings!.redundantZaps.byCause['zap-pages'], undefined);
    assert.ok(pages.unresolved > 0);
    assert.equal(b.findings!.redundantZaps.zaps, t.findings!.redundantZaps.zaps + pages.unresolved);
    assert.deepEqual([pages.identical, pages.upgrade, pages.downgrade, pages.needed], [0, 0, 0, 0]);
  });
}
