// Paths of the repo's fixtures and the independent per-event counts that sit beside them.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repo root (tests run from dist/src/...). */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export function fixture(rel: string): string {
  return `${REPO}fixtures/${rel}`;
}

/** ../shared/traces beside the repo, when present (CI clones main with shared/ beside it). */
export const SHARED_TRACES = fileURLToPath(new URL('../shared/traces/', `file://${REPO}`));
export const haveSharedTraces = existsSync(SHARED_TRACES);

/**
 * Reads a `*.counts` file (count_events.py: "<n>\t<event>", a TOTAL line, maybe "(non-event lines)")
 * as event name → count, with the names mmu-trace uses: perf's `group:` prefix dropped, and
 * trace-cmd's `print` being the ftrace marker event `tracing_mark_write`.
 */
export function readCounts(path: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [n, name] = line.split('\t');
    if (!name || name === 'TOTAL' || name.startsWith('(')) continue;
    let event = name.includes(':') ? name.slice(name.indexOf(':') + 1) : name;
    if (event === 'print') event = 'tracing_mark_write';
    counts[event] = (counts[event] ?? 0) + Number(n);
  }
  return counts;
}
