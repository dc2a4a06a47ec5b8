// Human-readable analyze report (≤ 100 columns; colour only when asked for).
import pc from 'picocolors';
import type { AnalyzeReport } from './contract.js';
import { renderTable } from './table.js';
import { renderFindings } from './findings-text.js';

export interface TextOptions {
  color: boolean;
}

function seconds(first: string | null, last: string | null, clock: string): string {
  if (first === null || last === null) return 'no events';
  if (clock === 'counter') return `${first} .. ${last} (counter clock, raw ticks)`;
  const span = Number(last) - Number(first);
  return `${first} .. ${last} s (${span.toFixed(6)} s)`;
}

export function renderText(r: AnalyzeReport, opts: TextOptions): string {
  const c = pc.createColors(opts.color);
  const out: string[] = [];
  const kv = (k: string, v: string): void => void out.push(`${c.bold(k.padEnd(10))}${v}`);
  const i = r.input;
  out.push(c.bold(`mmu-trace ${r.tool.version} — ${i.path}`), '');
  kv('format', `${i.format} (${i.formatReason})${i.compressed ? ', gzip' : ''}`);
  kv('lines', `${i.lines} lines, ${i.events} events, ${i.headerLines} header, ${i.stackFrames} stack frames`);
  const skipped = i.skippedLines === 0 ? c.green('0 skipped') : c.yellow(`${i.skippedLines} skipped`);
  const lost = i.lostEvents === 0 ? c.green('0 lost') : c.red(`${i.lostEvents} lost`);
  kv('health', `${skipped}, ${lost}${i.entries ? ` (entries-in-buffer/written ${i.entries.inBuffer}/${i.entries.written})` : ''}`
    + `${i.lostMarkers ? `, ${i.lostMarkers} LOST markers` : ''}`);
  if (i.truncated) kv('truncated', c.red(i.truncated));
  kv('time', seconds(i.firstTs, i.lastTs, i.clock));
  kv('cpus', `${i.cpus} (seen: ${i.cpusSeen.join(', ') || 'none'})`);
  const k = r.kernel;
  kv('role', `layout ${k.roleLayout} (kernels ${k.roleLayoutKernels}; ${k.roleLayoutSource === 'default' ? 'assumed, use --role-layout to change' : `from ${k.roleLayoutSource}`})`);
  for (const [name, h] of Object.entries(k.hints)) kv('hint', `${name}: ${h.value} (line ${h.line})`);
  kv('mmu', { tdp: 'TDP MMU (kvm_tdp_mmu_spte_changed events)', shadow: 'shadow MMU (SPTE events, no kvm_tdp_mmu_spte_changed)', unknown: 'no SPTE events' }[k.mmu]);
  if (i.skippedLines > 0) {
    out.push('', c.bold('skipped lines'));
    out.push(renderTable(['reason', 'lines'], Object.entries(i.skippedByReason), [false, true]));
    for (const ex of i.skipExamples.slice(0, 5)) {
      out.push(`  ${i.path}:${ex.line}${ex.column !== null ? `:${ex.column}` : ''}: ${ex.reason}: ${ex.message}`.slice(0, 100));
    }
  }
  const undecoded = Object.entries(i.undecodedEvents);
  if (undecoded.length > 0) {
    out.push('', c.bold('events kept with raw payload (no decoder variant matched)'));
    out.push(renderTable(['event', 'count'], undecoded, [false, true]));
  }
  out.push('', c.bold('events'));
  out.push(renderTable(['event', 'group', 'count'],
    Object.entries(r.events.byName).map(([n, v]) => [n, r.events.groupOf[n] ?? '', v]), [false, false, true]));
  out.push('', c.bold('tasks with KVM events'));
  out.push(renderTable(['pid', 'tgid', 'comm', 'events', 'kvm events'],
    r.kvmTasks.slice(0, 20).map((t) => [t.pid, t.tgid ?? '-', t.comm, t.events, t.kvmEvents]), [true, true, false, true, true]));
  if (r.kvmTasks.length > 20) out.push(`  ... ${r.kvmTasks.length - 20} more`);
  out.push('', c.bold('VMs'));
  if (r.vms.length === 0) out.push(`  ${r.vmsNote ?? ''}`);
  for (const vm of r.vms) out.push(`  ${vm.id}: ${vm.tasks.length} tasks (${vm.tasks.map((t) => `${t.comm}-${t.pid}`).join(', ')})`.slice(0, 100));
  out.push(...renderFindings(r, c));
  return out.join('\n') + '\n';
}
