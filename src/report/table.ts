// Plain aligned tables for terminal and text reports (cli-table3 without borders).
import Table from 'cli-table3';

export interface TableLayout {
  /** Spaces before each line (default 2). */
  indent?: number;
  /** A dashed rule under the header (plain-text / Markdown code-block tables). */
  rule?: boolean;
  /** Longest line allowed: the widest text columns are cut (marked `~`) until it fits. */
  maxWidth?: number;
}

const MIN_CUT_WIDTH = 6;

/** Renders rows under a header; numeric columns are right-aligned. */
export function renderTable(head: string[], rows: (string | number)[][], numeric: boolean[] = [], layout: TableLayout = {}): string {
  const indent = layout.indent ?? 2;
  let cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  if (layout.maxWidth !== undefined) {
    const total = (): number => indent + widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
    while (total() > layout.maxWidth) {
      let widest = -1;
      for (let c = 0; c < widths.length; c++) if (!numeric[c] && widths[c]! > MIN_CUT_WIDTH && (widest < 0 || widths[c]! > widths[widest]!)) widest = c;
      if (widest < 0) break;
      widths[widest]!--;
    }
    cells = cells.map((r) => r.map((v, c) => (v.length > widths[c]! ? `${v.slice(0, widths[c]! - 1)}~` : v)));
  }
  const t = new Table({
    head: cells[0]!,
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
      bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: ' '.repeat(indent), 'left-mid': '', mid: '', 'mid-mid': '',
      right: '', 'right-mid': '', middle: '  ',
    },
    style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [] },
    colAligns: head.map((_, i) => (numeric[i] ? 'right' : 'left')),
  });
  if (layout.rule) t.push(widths.map((w) => '-'.repeat(w)));
  for (const r of cells.slice(1)) t.push(r);
  return t.toString().split('\n').map((l) => l.trimEnd()).join('\n');
}
