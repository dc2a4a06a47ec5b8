// LKML-ready report (`--format md`, `--format lkml`): plain ASCII within 80 columns, so it pastes
// unchanged into a cover letter or commit message and still reads as Markdown (setext headings,
// tables as indented code blocks).
import type { AnalyzeReport } from './contract.js';
import { analyzeDocument, type ReportDocument } from './sections.js';
import { renderTable } from './table.js';
import { wrapIndented } from './text.js';

export const MD_WIDTH = 80;

function heading(title: string, underline: '=' | '-'): string[] {
  const lines = wrapIndented(title, 0, MD_WIDTH).map((l) => l.trim());
  return [...lines, underline.repeat(Math.max(...lines.map((l) => l.length)))];
}

/** Only printable ASCII: the text of a trace may hold anything (task names, paths). */
function ascii(s: string): string {
  return s.replace(/[^\x20-\x7e\n]/g, '?');
}

/** Lays a document out as LKML-ready Markdown. */
export function layoutMarkdown(doc: ReportDocument): string {
  const out: string[] = [...heading(doc.title, '='), ''];
  for (const item of doc.summary) out.push(...wrapIndented(`- ${item.key}: ${item.value}`, 0, MD_WIDTH));
  for (const s of doc.sections) {
    out.push('', ...heading(s.title, '-'));
    for (const b of s.blocks) {
      out.push('');
      if (b.kind === 'table') out.push(renderTable(b.head, b.rows, b.numeric, { indent: 4, rule: true, maxWidth: MD_WIDTH }));
      else out.push(...wrapIndented(b.text, 0, MD_WIDTH).map((l) => l.replace(/^ {2}/, '')));
    }
  }
  return ascii(`${out.join('\n')}\n`);
}

export function renderMarkdown(r: AnalyzeReport): string {
  return layoutMarkdown(analyzeDocument(r));
}
