// Terminal layout of a report document (sections.ts): ≤ 100 columns, colour only when asked for.
import pc from 'picocolors';
import wrapAnsi from 'wrap-ansi';
import type { AnalyzeReport } from './contract.js';
import { analyzeDocument, type ReportDocument, type TextBlock } from './sections.js';
import { renderTable } from './table.js';

export interface TextOptions {
  color: boolean;
}

export const TEXT_WIDTH = 100;

/** Prose indented by `indent`, continuation lines 2 deeper, within the width. */
export function wrapIndented(text: string, indent: number, width: number): string[] {
  const lines = wrapAnsi(text, width - indent - 2, { hard: true, trim: true }).split('\n');
  return lines.map((l, i) => `${' '.repeat(i === 0 ? indent : indent + 2)}${l}`);
}

/** Lays a document out for a terminal. */
export function layoutText(doc: ReportDocument, opts: TextOptions): string {
  const c = pc.createColors(opts.color);
  const tone = (t: TextBlock['tone'], s: string): string => (t === 'good' ? c.green(s) : t === 'warn' ? c.yellow(s) : t === 'bad' ? c.red(s) : s);
  const out: string[] = [...wrapIndented(doc.title, 0, TEXT_WIDTH).map((l) => c.bold(l)), ''];
  for (const item of doc.summary) {
    const [first, ...rest] = wrapIndented(item.value, 10, TEXT_WIDTH);
    out.push(`${c.bold(item.key.padEnd(10))}${tone(item.tone, first!.trimStart())}`, ...rest);
  }
  for (const s of doc.sections) {
    out.push('', ...wrapIndented(s.title, 0, TEXT_WIDTH).map((l) => c.bold(l)));
    for (const b of s.blocks) {
      if (b.kind === 'table') out.push(renderTable(b.head, b.rows, b.numeric, { maxWidth: TEXT_WIDTH }));
      else out.push(...wrapIndented(b.text, 2, TEXT_WIDTH).map((l) => tone(b.tone, l)));
    }
  }
  return out.join('\n') + '\n';
}

export function renderText(r: AnalyzeReport, opts: TextOptions): string {
  return layoutText(analyzeDocument(r), opts);
}
