// `mmu-trace compare <before> <after>`: the headline figures of two analyze reports side by side,
// with absolute and relative change, normalised per second of trace and per guest fault so traces
// of different length compare; `--fail-on` turns figures into an exit code for patch testing.
import type { AnalyzeReport } from './contract.js';
import type { ReportDocument, Section, SummaryItem } from './sections.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';

export interface Side {
  path: string;
  /** Trace span in seconds; null for counter clocks or empty traces. */
  seconds: number | null;
  /** Guest faults: kvm_mmu_spte_requested (one per slow-path fault) + fast-path fixes and spurious faults. */
  faults: number;
}

export interface Figure {
  key: string;
  before: number;
  after: number;
  change: number;
  /** change / before; null when before is 0. */
  relative: number | null;
  perSecond: { before: number | null; after: number | null };
  perFault: { before: number | null; after: number | null };
}

export interface FailOnResult {
  expr: string;
  value: number | null;
  failed: boolean;
}

export interface CompareReport {
  schemaVersion: 1;
  tool: { name: string; version: string };
  before: Side;
  after: Side;
  figures: Figure[];
  failOn?: FailOnResult[];
}

/** Headline figures of one report, by the JSON path of the analyze report they come from. */
export function headlineFigures(r: AnalyzeReport): Record<string, number> {
  const out: Record<string, number> = { 'input.events': r.input.events, faults: faultsOf(r) };
  const f = r.findings;
  if (f) {
    Object.assign(out, {
      'redundantZaps.zaps': f.redundantZaps.zaps,
      'redundantZaps.count': f.redundantZaps.count,
      'flushes.inferred': f.flushes.inferred,
      'flushes.unneeded': f.flushes.unneeded,
      'flushes.avoidable': f.flushes.avoidable,
      'flushes.missing': f.flushes.missing,
      'lockBreaks.episodes': f.lockBreaks.episodes,
      'lockBreaks.breaks': f.lockBreaks.breaks,
      'notifications.total': f.notifications.total,
      'notifications.outsideMemslots': f.notifications.outsideMemslots,
      'notifications.noEffect': f.notifications.noEffect,
      'aging.flushes': f.aging.flushes,
      'fastFaults.fixed': f.fastFaults.fixed,
    });
  }
  for (const w of r.whatIf ?? []) for (const [k, v] of Object.entries(w.figures)) out[`whatIf.${w.policy}.${k}`] = v;
  return out;
}

function faultsOf(r: AnalyzeReport): number {
  const ff = r.findings?.fastFaults;
  return (r.events.byName.kvm_mmu_spte_requested ?? 0) + (ff ? ff.fixed + ff.spurious : 0);
}

function sideOf(r: AnalyzeReport): Side {
  const { firstTs, lastTs, clock } = r.input;
  const seconds = clock === 'counter' || firstTs === null || lastTs === null ? null : Number(lastTs) - Number(firstTs);
  return { path: r.input.path, seconds: seconds && seconds > 0 ? seconds : null, faults: faultsOf(r) };
}

export function compareReports(before: AnalyzeReport, after: AnalyzeReport): CompareReport {
  const b = headlineFigures(before);
  const a = headlineFigures(after);
  const sb = sideOf(before);
  const sa = sideOf(after);
  const per = (v: number, d: number | null): number | null => (d ? v / d : null);
  // figures both reports have, in the order of the before report
  const figures = Object.keys(b).filter((k) => k in a).map((key): Figure => {
    const x = b[key]!;
    const y = a[key]!;
    return {
      key, before: x, after: y, change: y - x, relative: x === 0 ? null : (y - x) / x,
      perSecond: { before: per(x, sb.seconds), after: per(y, sa.seconds) },
      perFault: { before: per(x, sb.faults), after: per(y, sa.faults) },
    };
  });
  return { schemaVersion: 1, tool: { name: TOOL_NAME, version: TOOL_VERSION }, before: sb, after: sa, figures };
}

const FAIL_ON = /^\s*(?:(delta|relative)\.)?([\w.=-]+?)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$/;

/**
 * `--fail-on` expressions, comma-separated: `KEY OP NUMBER` on the after value, `delta.KEY` on the
 * change, `relative.KEY` on the relative change (e.g. `redundantZaps.count>0`, `delta.flushes.inferred>0`).
 */
export function evaluateFailOn(c: CompareReport, spec: string): FailOnResult[] {
  return spec.split(',').filter((s) => s.trim()).map((expr) => {
    const m = FAIL_ON.exec(expr);
    if (!m) throw new Error(`--fail-on ${expr}: expected [delta.|relative.]KEY OP NUMBER, e.g. redundantZaps.count>0`);
    const [, mode, key, op, num] = m;
    const fig = c.figures.find((f) => f.key === key);
    if (!fig) throw new Error(`--fail-on ${expr}: unknown figure ${key}; figures: ${c.figures.map((f) => f.key).join(', ')}`);
    const value = mode === 'delta' ? fig.change : mode === 'relative' ? fig.relative : fig.after;
    const n = Number(num);
    const failed = value !== null && { '>': value > n, '<': value < n, '>=': value >= n, '<=': value <= n, '==': value === n, '!=': value !== n }[op!]!;
    return { expr: expr.trim(), value, failed };
  });
}

/** Integers as they are, fractions to `digits` places. */
const fmt = (v: number | null, digits: number): string => (v === null ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(digits));
const pct = (v: number | null): string => (v === null ? '-' : `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%`);
const signed = (v: number): string => `${v > 0 ? '+' : ''}${v}`;

export function compareDocument(c: CompareReport): ReportDocument {
  const side = (label: string, s: Side): SummaryItem => ({
    key: label, value: `${s.path}: ${s.seconds === null ? 'span unknown' : `${s.seconds.toFixed(6)} s`}, ${s.faults} guest faults`,
  });
  const sections: Section[] = [
    {
      title: 'headline figures',
      blocks: [{
        kind: 'table', head: ['figure', 'before', 'after', 'change', '%'],
        rows: c.figures.map((f) => [f.key, f.before, f.after, signed(f.change), pct(f.relative)]), numeric: [false, true, true, true, true],
      }],
    },
    {
      title: 'normalised (per second of trace, per guest fault)',
      blocks: [{
        kind: 'table', head: ['figure', 'before/s', 'after/s', 'before/fault', 'after/fault'],
        rows: c.figures.filter((f) => f.key !== 'faults').map((f) => [f.key, fmt(f.perSecond.before, 1), fmt(f.perSecond.after, 1), fmt(f.perFault.before, 3), fmt(f.perFault.after, 3)]),
        numeric: [false, true, true, true, true],
      }],
    },
  ];
  if (c.failOn) {
    sections.push({
      title: 'fail-on',
      blocks: c.failOn.map((r) => ({ kind: 'text', text: `${r.expr}: ${fmt(r.value, 3)} -> ${r.failed ? 'FAIL' : 'ok'}`, ...(r.failed ? { tone: 'bad' as const } : {}) })),
    });
  }
  return { title: `mmu-trace ${c.tool.version}: compare`, summary: [side('before', c.before), side('after', c.after)], sections };
}
