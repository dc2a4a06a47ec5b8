// The HTML report in a real headless Chromium (Debian `chromium`; .ci/run installs it), built from
// a saved JSON report alone: the page loads with no network, draws every chart, and each chart
// holds the marks its data asks for. The data's totals are checked against the report's own totals
// and independent counts of the fixture. A screenshot is kept in test-artifacts/ for a human.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeTrace } from '../pipeline/analyze.js';
import { fixture, readCounts } from '../testing/fixtures.js';
import { htmlData, renderHtml } from './html.js';
import { parseWhatIf } from '../analyses/what-if.js';
import type { AnalyzeReport } from './contract.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CHROMIUM = ['chromium', 'chromium-browser'].find((c) => spawnSync('which', [c]).status === 0);
const skip = CHROMIUM ? false : 'no chromium on PATH (.ci/run installs the Debian package)';
const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-html-'));

function chromium(args: string[]): string {
  const r = spawnSync(CHROMIUM!, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** The report of mprotect-roundtrip as `analyze --format json` saves it, read back from the file. */
async function savedReport(whatIf?: string): Promise<AnalyzeReport> {
  const r = await analyzeTrace(fixture('mprotect-roundtrip.ftrace.txt.gz'), whatIf ? { whatIf: parseWhatIf(whatIf) } : {});
  const file = join(dir, 'report.json');
  writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
  return JSON.parse(readFileSync(file, 'utf8')) as AnalyzeReport;
}

const sum = (ns: number[]): number => ns.reduce((a, n) => a + n, 0);

test('html report of mprotect-roundtrip from the saved JSON: the data totals match the report and independent counts', async () => {
  const r = await savedReport();
  const d = htmlData(r);
  const f = r.findings!;
  const total = (kind: string): number => sum(d.timeline.filter((t) => t.kind === kind).map((t) => t.n));
  // count_events.py: 4111 kvm_unmap_hva_range; every zap, refault (zap not unresolved) and issued
  // flush of the findings lands in one bin
  assert.equal(total('notification'), readCounts(fixture('mprotect-roundtrip.ftrace.txt.counts')).kvm_unmap_hva_range);
  const z = f.redundantZaps;
  assert.deepEqual([total('zap'), total('refault'), total('notification'), total('flush')],
    [z.zaps, z.zaps - z.byOutcome.unresolved, f.notifications.total, f.flushes.inferred]);
  // the timeline's bins cover the span: TIMELINE_BINS of them
  assert.ok(f.timeline.series.every((s) => s.counts.length === f.timeline.bins));
  assert.ok(Math.abs(f.timeline.bins * f.timeline.binSeconds - (Number(r.input.lastTs) - Number(r.input.firstTs))) < 1e-9);
  // 8192 redundant zaps (truth-checked in analyses/findings.test.ts), each with its refault latency
  assert.equal(sum(d.latency.map((b) => b.n)), z.count);
  assert.equal(z.count, 8192);
  // the workload touched gfn 40000-40fff: 8 ranges of 512 frames; and 3 zaps in the sys region
  assert.deepEqual(d.hotRanges.map((h) => h.gfns).sort(), [
    '0x0-0x1ff', '0x40000-0x401ff', '0x40200-0x403ff', '0x40400-0x405ff', '0x40600-0x407ff',
    '0x40800-0x409ff', '0x40a00-0x40bff', '0x40c00-0x40dff', '0x40e00-0x40fff',
  ]);
  assert.deepEqual(d.sources, [{ task: 'kvm-workload', kind: 'unmap', n: 4111 }]);
});

test('html report in headless Chromium, from the saved JSON: every chart drawn with one mark per data row, offline', { skip }, async () => {
  const r = await savedReport('skip-unchanged');
  const html = renderHtml(r);
  assert.match(html, /<section data-what-if="skip-unchanged">.*<tr><td>zapsAvoided<\/td><td>4096<\/td><\/tr>/s);
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\/cdn/i);
  const page = join(dir, 'report.html');
  writeFileSync(page, html);
  const dom = chromium(['--dump-dom', `file://${page}`]);
  assert.match(dom, /<body[^>]*data-rendered="true"/);
  const marks = Object.fromEntries([...dom.matchAll(/data-chart="([a-z-]+)"[^>]*data-marks="(\d+)"/g)].map((m) => [m[1], Number(m[2])]));
  // one mark per non-empty bin, episode, latency bin, (source, kind) with calls, hot range of the report
  const f = r.findings!;
  const sources = Object.values(f.notifications.byTask).reduce((n, s) => n + [s.unmap, s.age, s.testAge].filter((v) => v > 0).length, 0);
  assert.deepEqual(marks, {
    timeline: sum(f.timeline.series.map((s) => s.counts.filter((n) => n > 0).length)), episodes: f.lockBreaks.list.length,
    latency: f.redundantZaps.refaultLatencyHistogram.length, sources, 'hot-ranges': f.redundantZaps.hotRanges.length,
  });
  assert.deepEqual([sources, f.redundantZaps.hotRanges.length], [1, 9]);
  mkdirSync(join(REPO, 'test-artifacts'), { recursive: true });
  chromium(['--window-size=1100,2200', `--screenshot=${join(REPO, 'test-artifacts', 'html-report.png')}`, `file://${page}`]);
});

test('html charts in headless Chromium: zap episodes in the report\'s order (#1, #2 ... #13, not as text), no label cut off by its SVG box, no empty VM panel', { skip }, async () => {
  // flush-mixed (real 6.1 TDP capture): 13 zap episodes, so a text sort would put #10 after #1
  for (const name of ['tdp-nested/flush-mixed.ftrace.txt.gz', 'mprotect-roundtrip.ftrace.txt.gz']) {
    const r = await analyzeTrace(fixture(name));
    const page = join(dir, 'charts.html');
    writeFileSync(page, renderHtml(r));
    const dom = chromium(['--dump-dom', `file://${page}`]);
    const clipped = Object.fromEntries([...dom.matchAll(/data-chart="([a-z-]+)"[^>]*data-clipped="(\d+)"/g)].map((m) => [m[1], Number(m[2])]));
    assert.deepEqual(Object.keys(clipped).sort(), ['episodes', 'latency', 'sources', 'timeline'], name);
    assert.deepEqual(Object.values(clipped), [0, 0, 0, 0], `${name}: ${JSON.stringify(clipped)}`);
    const episodes = dom.slice(dom.indexOf('data-chart="episodes"'), dom.indexOf('data-chart="latency"'));
    const ticks = [...episodes.matchAll(/>#(\d+) [a-z-]+ line \d+</g)].map((m) => Number(m[1]));
    const ids = r.findings!.lockBreaks.list.map((e) => e.id);
    assert.deepEqual(ticks, ids, name);
    if (name.startsWith('tdp')) assert.equal(ids.length, 13);
    // one panel per VM that has events in a bin, named by its fy tick label
    const withEvents = [...new Set(r.findings!.timeline.series.filter((s) => s.counts.some((n) => n > 0)).map((s) => s.vm))];
    const timeline = dom.slice(dom.indexOf('data-chart="timeline"'), dom.indexOf('data-chart="episodes"'));
    const fy = timeline.slice(timeline.indexOf('aria-label="fy-axis tick label"'), timeline.indexOf('aria-label="y-grid"'));
    assert.deepEqual([...fy.matchAll(/<text[^>]*>([^<]+)<\/text>/g)].map((m) => m[1]), withEvents, name);
  }
});
