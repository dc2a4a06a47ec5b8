// The LKML-ready report on a real trace: within 80 columns, plain ASCII, the findings' numbers in
// tables that survive being pasted (checked against the independent count of mprotect-roundtrip).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeTrace } from '../pipeline/analyze.js';
import { fixture } from '../testing/fixtures.js';
import { MD_WIDTH, renderMarkdown } from './markdown.js';

test('md report of mprotect-roundtrip: <= 80 ASCII columns, redundant zaps per cause as the truth has them', async () => {
  const md = renderMarkdown(await analyzeTrace(fixture('mprotect-roundtrip.ftrace.txt.gz')));
  const lines = md.split('\n');
  assert.deepEqual(lines.filter((l) => l.length > MD_WIDTH), []);
  assert.match(md, /^[\x20-\x7e\n]*$/);
  // setext headings, tables as indented code blocks under a dashed rule
  assert.equal(lines[1], '='.repeat(lines[0]!.length));
  const zaps = lines.indexOf('zaps and refaults (refault: the next install that maps the same guest frame)');
  assert.ok(zaps > 0);
  assert.match(lines[zaps + 1]!, /^-+$/);
  assert.match(lines[zaps + 3]!, /^ {4}cause +identical +upgrade +downgrade +needed +unresolved$/);
  assert.match(lines[zaps + 4]!, /^ {4}-+( +-+){5}$/);
  // the per-round truth numbers of analyses/findings.test.ts (mprotect-roundtrip truth lines)
  assert.match(lines[zaps + 5]!, /^ {4}notifier-unmap +4096 +2048 +2048 +4096 +0$/);
  assert.ok(lines.includes('8192 redundant of 16387 zaps (redundant: observed 0, inferred 8192, suspected'));
});

test('latencies switch units (us, ms, s) in text and md; the refault line of a real trace', async () => {
  const { duration } = await import('./sections.js');
  assert.deepEqual([0, 999, 1000, 1350, 12345, 999999, 2.5e6].map(duration), ['0 us', '999 us', '1.00 ms', '1.35 ms', '12.3 ms', '1.00 s', '2.50 s']);
  const { analyzeTrace } = await import('../pipeline/analyze.js');
  const r = await analyzeTrace(fixture('mprotect-roundtrip.ftrace.txt.gz'));
  const { median, p90 } = r.findings!.redundantZaps.refaultUs;
  assert.ok(median !== null && median >= 1000, `median ${median} us`);
  assert.match(renderMarkdown(r), new RegExp(`median ${(median / 1000).toFixed(2)} ms, p90 ${(p90! / 1000).toFixed(2)} ms`));
});
