// Self-contained HTML report (`analyze --format html -o report.html`, or `report saved.json --format
// html`), built from the JSON report alone: the summary, then charts drawn in the page by Observable
// Plot (with d3), both inlined from node_modules so nothing loads from the network at view time.
// The page counts the marks each chart drew into data-marks (for tests).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { HOT_RANGES, type HotRange } from '../analyses/zaps.js';
import type { TimelineKind } from '../analyses/timeline.js';
import type { AnalyzeReport } from './contract.js';
import { summaryItems, type SummaryItem } from './sections.js';

export interface HtmlData {
  title: string;
  summary: SummaryItem[];
  binSeconds: number;
  /** Per VM and kind, events in each time bin (t: bin start, seconds after the first event); non-empty bins only. */
  timeline: { vm: string; kind: TimelineKind; t: number; n: number }[];
  episodes: { label: string; kind: string; vm: string; start: number; end: number; zapped: number; breaks: number }[];
  /** Refault latency of redundant zaps, log bins in µs; non-empty bins only. */
  latency: { fromUs: number; toUs: number; n: number }[];
  sources: { task: string; kind: string; n: number }[];
  hotRanges: HotRange[];
}

/** The rows the charts draw, laid out from the report alone (so a saved JSON report renders too). */
export function htmlData(r: AnalyzeReport): HtmlData {
  const f = r.findings;
  const first = r.input.firstTs === null ? 0 : Number(r.input.firstTs) * 1e9;
  const binSeconds = f?.timeline.binSeconds ?? 1;
  const timeline = (f?.timeline.series ?? []).flatMap((s) => s.counts.flatMap((n, b) => (n > 0 ? [{ vm: s.vm, kind: s.kind, t: b * binSeconds, n }] : [])))
    .sort((a, b) => (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : a.t - b.t || (a.kind < b.kind ? -1 : 1)));
  return {
    title: `mmu-trace ${r.tool.version}: ${r.input.path}`,
    summary: summaryItems(r),
    binSeconds,
    timeline,
    episodes: (f?.lockBreaks.list ?? []).map((e) => ({
      label: `#${e.id} ${e.kind} line ${e.line}`, kind: e.kind, vm: e.vm, start: (e.startNs - first) / 1e9,
      end: (e.startNs - first) / 1e9 + e.durationMs / 1000, zapped: e.zapped, breaks: e.breaksObserved,
    })),
    latency: f?.redundantZaps.refaultLatencyHistogram ?? [],
    sources: Object.entries(f?.notifications.byTask ?? {}).flatMap(([task, s]) =>
      ([['unmap', s.unmap], ['age', s.age], ['test_age', s.testAge]] as const).filter(([, v]) => v > 0).map(([kind, v]) => ({ task, kind, n: v }))),
    hotRanges: f?.redundantZaps.hotRanges ?? [],
  };
}

const require = createRequire(import.meta.url);

/** A package's browser bundle, from the "umd" entry of its package.json exports. */
function umdBundle(name: string): string {
  let dir = dirname(require.resolve(name));
  while (!existsSync(join(dir, 'package.json')) || (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string }).name !== name) dir = dirname(dir);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { exports: { umd: string } };
  return readFileSync(join(dir, pkg.exports.umd), 'utf8');
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
/** JSON inside <script>: nothing can close the element. */
const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c');

/** Draws the charts from #data; each section's data-marks counts the marks its chart drew. */
const PAGE_SCRIPT = `
const data = JSON.parse(document.getElementById('data').textContent);
function put(name, chart, markSelector) {
  const section = document.querySelector('[data-chart="' + name + '"]');
  section.querySelector('.chart').append(chart);
  section.dataset.marks = String(section.querySelectorAll(markSelector).length);
  // labels the SVG's box cuts off (a test reads this)
  const svg = section.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : null;
  const clipped = box ? [...svg.querySelectorAll('text')].filter((t) => {
    const r = t.getBoundingClientRect();
    return r.width > 0 && (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5);
  }).length : 0;
  section.dataset.clipped = String(clipped);
}
// a VM with nothing in any bin gets no panel
const vms = [...new Set(data.timeline.filter((d) => d.n > 0).map((d) => d.vm))];
put('timeline', Plot.plot({
  width: 960, height: 60 + 140 * Math.max(1, vms.length), marginLeft: 60, marginRight: 120,
  x: { label: 'seconds since the first event' }, y: { label: 'events per bin', grid: true }, fy: { label: null, domain: vms },
  color: { legend: true, domain: ['zap', 'refault', 'notification', 'flush'] },
  marks: [Plot.rectY(data.timeline, { x1: 't', x2: (d) => d.t + data.binSeconds, y: 'n', fill: 'kind', fy: 'vm', title: (d) => d.kind + ': ' + d.n })],
}), 'g[aria-label="rect"] rect');
put('episodes', Plot.plot({
  width: 960, height: 60 + 24 * Math.max(1, data.episodes.length), marginLeft: 260, marginRight: 170,
  // in the report's order (#1, #2, ... #10), not sorted as text
  x: { label: 'seconds since the first event' }, y: { label: null, domain: data.episodes.map((d) => d.label) },
  marks: [
    Plot.barX(data.episodes, { x1: 'start', x2: (d) => Math.max(d.end, d.start + data.binSeconds / 20), y: 'label', fill: 'kind', title: (d) => d.zapped + ' zapped, ' + d.breaks + ' observed breaks' }),
    Plot.text(data.episodes, { x: 'end', y: 'label', text: (d) => d.zapped + ' zapped, ' + d.breaks + ' breaks', textAnchor: 'start', dx: 4 }),
  ],
}), 'g[aria-label="bar"] rect');
put('latency', Plot.plot({
  width: 960, height: 260, x: { type: 'log', label: 'refault latency of redundant zaps (us)' }, y: { label: 'zaps', grid: true },
  marks: [Plot.rectY(data.latency, { x1: 'fromUs', x2: 'toUs', y: 'n', title: (d) => d.n + ' zaps' }), Plot.ruleY([0])],
}), 'g[aria-label="rect"] rect');
put('sources', Plot.plot({
  width: 960, height: 60 + 28 * Math.max(1, new Set(data.sources.map((d) => d.task)).size), marginLeft: 140,
  x: { label: 'notifications', grid: true }, y: { label: null }, color: { legend: true },
  marks: [Plot.barX(data.sources, { x: 'n', y: 'task', fill: 'kind', title: (d) => d.kind + ': ' + d.n })],
}), 'g[aria-label="bar"] rect');
const rows = document.querySelector('[data-chart="hot-ranges"] tbody');
for (const h of data.hotRanges) {
  const tr = document.createElement('tr');
  for (const v of [h.vm, h.gfns, h.zaps, h.redundant, h.firstLine]) {
    const td = document.createElement('td');
    td.textContent = String(v);
    tr.append(td);
  }
  rows.append(tr);
}
document.querySelector('[data-chart="hot-ranges"]').dataset.marks = String(rows.children.length);
document.body.dataset.rendered = 'true';
`;

export function renderHtml(r: AnalyzeReport): string {
  const d = htmlData(r);
  const section = (name: string, title: string, note: string, body = '<div class="chart"></div>'): string =>
    `<section data-chart="${name}"><h2>${esc(title)}</h2><p>${esc(note)}</p>${body}</section>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(d.title)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; max-width: 1000px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
dl { display: grid; grid-template-columns: 8em 1fr; gap: 2px 12px; } dt { font-weight: bold; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: left; }
p { color: #555; }
</style></head>
<body>
<h1>${esc(d.title)}</h1>
<dl>${d.summary.map((s) => `<dt>${esc(s.key)}</dt><dd>${esc(s.value)}</dd>`).join('')}</dl>
${section('timeline', 'timeline per VM', `zaps, refaults, notifications and inferred flushes per ${(d.binSeconds * 1000).toFixed(3)} ms`)}
${section('episodes', 'zap episodes and mmu_lock breaks', 'each long zap (zap_all_fast, shadow page zaps, TDP zap walks) with its zapped pages and observed breaks')}
${section('latency', 'refault latency', 'time from a redundant zap to the install that brought the same mapping back')}
${section('sources', 'notifications by source task', 'mmu-notifier calls per sending task and kind')}
${section('hot-ranges', 'hottest guest frame ranges', `the ${HOT_RANGES} 2 MiB ranges with the most zaps`,
    '<table><thead><tr><th>VM</th><th>gfns</th><th>zaps</th><th>redundant</th><th>first zap line</th></tr></thead><tbody></tbody></table>')}
${(r.whatIf ?? []).map((w) => `<section data-what-if="${esc(w.policy)}"><h2>what if: ${esc(w.policy)} (${esc(w.evidence)})</h2>
<p>change: ${esc(w.change)}</p><p>assumes: ${esc(w.assumption)}</p>
<table><tbody>${Object.entries(w.figures).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${v}</td></tr>`).join('')}</tbody></table></section>`).join('\n')}
<script type="application/json" id="data">${scriptJson(d)}</script>
<script>${umdBundle('d3')}</script>
<script>${umdBundle('@observablehq/plot')}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
