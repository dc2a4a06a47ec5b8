// Acceptance over the whole real corpus in ../shared/traces (CI has it beside the clone): every
// text trace, in every dialect, gives the per-event counts of the independent *.counts file beside
// it, with no line skipped and no event lost; the zap_all_fast query reproduces MANIFEST.md's
// zap-interleave.py numbers; every report format renders it (text, md within their widths, html,
// JSON valid against schema/). Skipped, with the reason, where the corpus is absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { join } from 'node:path';
import { SHARED_TRACES, haveSharedTraces, readCounts } from '../testing/fixtures.js';
import { analyzeTrace } from '../pipeline/analyze.js';
import { runNamedQuery } from '../store/sql.js';
import { renderMarkdown, MD_WIDTH } from '../report/markdown.js';
import { renderText, TEXT_WIDTH } from '../report/text.js';
import { renderHtml } from '../report/html.js';

const skip = haveSharedTraces ? false : `no corpus at ${SHARED_TRACES}`;
const validateReport = new Ajv({ allErrors: true }).compile(
  JSON.parse(readFileSync(fileURLToPath(new URL('../../../schema/analyze-report.schema.json', import.meta.url)), 'utf8')) as object);

function corpusTraces(): { trace: string; counts: string }[] {
  if (!haveSharedTraces) return [];
  const out: { trace: string; counts: string }[] = [];
  for (const dir of readdirSync(SHARED_TRACES, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    for (const f of readdirSync(join(SHARED_TRACES, dir.name))) {
      if (!f.endsWith('.txt.counts')) continue;
      const base = join(SHARED_TRACES, dir.name, f.replace(/\.counts$/, ''));
      const trace = existsSync(base) ? base : `${base}.gz`;
      if (existsSync(trace)) out.push({ trace, counts: join(SHARED_TRACES, dir.name, f) });
    }
  }
  return out.sort((a, b) => (a.trace < b.trace ? -1 : 1));
}

for (const { trace, counts } of corpusTraces()) {
  test(`corpus ${trace.slice(SHARED_TRACES.length)}: counts, no skips, no losses`, async () => {
    const r = await analyzeTrace(trace);
    assert.deepEqual(r.events.byName, readCounts(counts));
    assert.equal(r.input.skippedLines, 0);
    assert.equal(r.input.lostEvents, 0);
    assert.deepEqual(r.input.undecodedEvents, {});
    // the MMU model ran over all of it: every notifier event became a notification, every zap
    // has one outcome, and no zap_all_fast broke the lock more often than the kernel can
    const f = r.findings!;
    const notifierEvents = ['kvm_unmap_hva_range', 'kvm_age_hva', 'kvm_test_age_hva', 'kvm_set_spte_hva']
      .reduce((n, e) => n + (r.events.byName[e] ?? 0), 0);
    assert.equal(f.notifications.total, notifierEvents);
    assert.equal(Object.values(f.redundantZaps.byOutcome).reduce((a, b) => a + b, 0), f.redundantZaps.zaps);
    for (const e of f.lockBreaks.list) if (e.maxBreaks !== null) assert.ok(e.breaksObserved <= e.maxBreaks, `episode at line ${e.line}`);
    // every report format renders it within its width (md: plain ASCII for mail)
    const tooWide = (text: string, width: number): string[] => text.split('\n').filter((l) => l.length > width);
    assert.deepEqual(tooWide(renderText(r, { color: false }), TEXT_WIDTH), []);
    const md = renderMarkdown(r);
    assert.deepEqual(tooWide(md, MD_WIDTH), []);
    assert.match(md, /^[\x20-\x7e\n]*$/);
    assert.match(renderHtml(r), /<section data-chart="timeline">/);
    assert.ok(validateReport(JSON.parse(JSON.stringify(r))), JSON.stringify(validateReport.errors?.slice(0, 3)));
  });
}

test('corpus zap-all-fast: per zap_all_fast, zapped pages and span as zap-interleave.py counted them', { skip }, async () => {
  const rows = JSON.parse(await runNamedQuery('zap_all_fast', join(SHARED_TRACES, 'zap-all-fast/zap-all-fast.ftrace.txt.gz'), { output: 'json' }));
  // MANIFEST.md: prepare_zap_by_same_thread=8212/8212/1425/8212/8212/2505, span_ms=76.94/76.53/10.88/77.34/75.29/24.11,
  // used_pages 2014/2014/591/2014/2014/9c9 (hex)
  assert.deepEqual(rows.map((r: Record<string, string>) => [Number(r.used_pages), Number(r.zapped), Number(r.span_ms).toFixed(2)]), [
    [0x2014, 8212, '76.94'], [0x2014, 8212, '76.53'], [0x591, 1425, '10.88'],
    [0x2014, 8212, '77.34'], [0x2014, 8212, '75.29'], [0x9c9, 2505, '24.11'],
  ]);
});
