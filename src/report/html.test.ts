// The HTML report in a real headless Chromium (Debian `chromium`; .ci/run installs it): the page
// loads with no network, draws every chart, and each chart holds the marks its data asks for. The
// data's totals are checked against independent counts of the fixture. A screenshot is kept in
// test-artifacts/ for a human to look at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeTrace } from '../cli/pipeline.js';
import { fixture, readCounts } from '../testing/fixtures.js';
import type { FindingsData } from '../analyses/findings.js';
import { htmlData, renderHtml } from './html.js';
import { parseWhatIf } from '../analyses/what-if.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CHROMIUM = ['chromium', 'chromium-browser'].find((c) => spawnSync('which', [c]).status === 0);
const skip = CHROMIUM ? false : 'no chromium on PATH (.ci/run installs the Debian package)';

function chromium(args: string[]): string {
  const r = spawnSync(CHROMIUM!, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('html report of mprotect-roundtrip: the data totals match independent counts', async () => {
  let f: FindingsData | undefined;
  const r = await analyzeTrace(fixture('mprotect-roundtrip.ftrace.txt.gz'), { onFindings: (x) => void (f = x) });
  const d = htmlData(r, f!);
  const total = (kind: string): number => d.timeline.filter((t) => t.kind === kind).reduce((a, t) => a + t.n, 0);
  // count_events.py: 4111 kvm_unmap_hva_range; every zap, refault (zap not unresolved) and issued
  // flush of the findings lands in one bin
  assert.equal(total('notification'), readCounts(fixture('mprotect-roundtrip.ftrace.txt.counts')).kvm_unmap_hva_range);
  const z = r.findings!.redundantZaps;
  assert.deepEqual([total('zap'), total('refault'), total('flush')], [z.zaps, z.zaps - z.byOutcome.unresolved, r.findings!.flushes.inferred]);
  // 8192 redundant zaps (truth-checked in analyses/findings.test.ts), each with its refault latency
  assert.equal(d.latency.reduce((a, b) => a + b.n, 0), 8192);
  // the workload touched gfn 40000-40fff: 8 ranges of 512 frames; and 3 zaps in the sys region
  assert.deepEqual(d.hotRanges.map((h) => h.gfns).sort(), [
    '0x0-0x1ff', '0x40000-0x401ff', '0x40200-0x403ff', '0x40400-0x405ff', '0x40600-0x407ff',
    '0x40800-0x409ff', '0x40a00-0x40bff', '0x40c00-0x40dff', '0x40e00-0x40fff',
  ]);
  assert.deepEqual(d.sources, [{ task: 'kvm-workload', kind: 'unmap', n: 4111 }]);
});

test('html report in headless Chromium: every chart drawn with one mark per data row, offline', { skip }, async () => {
  let f: FindingsData | undefined;
  const r = await analyzeTrace(fixture('mprotect-roundtrip.ftrace.txt.gz'), { onFindings: (x) => void (f = x), whatIf: parseWhatIf('skip-unchanged') });
  const html = renderHtml(r, f!);
  assert.match(html, /<section data-what-if="skip-unchanged">.*<tr><td>zapsAvoided<\/td><td>4096<\/td><\/tr>/s);
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\/cdn/i);
  const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-html-'));
  const page = join(dir, 'report.html');
  writeFileSync(page, html);
  const dom = chromium(['--dump-dom', `file://${page}`]);
  assert.match(dom, /<body[^>]*data-rendered="true"/);
  const marks = Object.fromEntries([...dom.matchAll(/data-chart="([a-z-]+)"[^>]*data-marks="(\d+)"/g)].map((m) => [m[1], Number(m[2])]));
  const d = htmlData(r, f!);
  assert.deepEqual(marks, {
    timeline: d.timeline.length, episodes: r.findings!.lockBreaks.list.length, latency: d.latency.length, sources: 1, 'hot-ranges': 9,
  });
  mkdirSync(join(REPO, 'test-artifacts'), { recursive: true });
  chromium(['--window-size=1100,2200', `--screenshot=${join(REPO, 'test-artifacts', 'html-report.png')}`, `file://${page}`]);
});
